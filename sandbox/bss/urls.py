"""The BssOpenApi routes (RPC, API version 2017-12-14) the sandbox serves, in one list the router takes."""

from __future__ import annotations

from ack_compute.sandbox.bss.responses import bills
from ack_compute.sandbox.products import Product
from ack_compute.sandbox.router import Route

ROUTES = [
    Route(Product.BSS, "DescribeInstanceBill", bills.describe_instance_bill),
]
