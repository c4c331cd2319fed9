"""BssOpenApi (API 2017-12-14, RPC) in the sandbox: the account's bills, from the sandbox's own metering.

models/ meters what the world ran (no HTTP); responses/ renders DescribeInstanceBill; urls.py lists the routes.
"""
