"""ECS (API 2014-05-26, RPC) in the sandbox, laid out the way moto lays out a service.

models/ holds the product's rules over the shared world (no HTTP, no wire shapes); responses/ turns requests
into calls on them and renders PascalCase answers; urls.py is the Route list the router takes.
"""
