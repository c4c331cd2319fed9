"""The ECI routes (RPC, API version 2018-08-08) the sandbox serves, in one list the router takes."""

from __future__ import annotations

from ack_compute.sandbox.eci.responses import price
from ack_compute.sandbox.products import Product
from ack_compute.sandbox.router import Route

ROUTES = [
    Route(Product.ECI, "DescribeContainerGroupPrice", price.describe_container_group_price),
]
