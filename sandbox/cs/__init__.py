"""CS (ACK, API 2015-12-15, ROA) in the sandbox, laid out the way moto lays out a service.

models/ holds the product's rules over the shared world (no HTTP, no wire shapes); responses/ turns requests
into calls on them and renders CS's snake_case views and its errors (ROA bodies); urls.py is the Route list
the router takes.
"""
