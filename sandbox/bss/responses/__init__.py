"""BSS handlers: check the request against the SDK's model, query the meter, answer in the API's casing."""
