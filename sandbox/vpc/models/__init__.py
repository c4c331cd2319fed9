"""VPC rules and state: what a request may ask and what it does to the world, without HTTP."""
