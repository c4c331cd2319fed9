"""ECI handlers: read the request, apply the models' rules, answer in the API's own casing."""
