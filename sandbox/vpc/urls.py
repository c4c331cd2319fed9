"""The VPC routes (RPC, API version 2016-04-28) the sandbox serves, in one list the router takes."""

from __future__ import annotations

from ack_compute.sandbox.products import Product
from ack_compute.sandbox.router import Route
from ack_compute.sandbox.vpc.responses import networks

ROUTES = [
    Route(Product.VPC, "CreateVpc", networks.create_vpc),
    Route(Product.VPC, "DescribeVpcs", networks.describe_vpcs),
    Route(Product.VPC, "CreateVSwitch", networks.create_vswitch),
    Route(Product.VPC, "DescribeVSwitches", networks.describe_vswitches),
    Route(Product.VPC, "DeleteVSwitch", networks.delete_vswitch),
    Route(Product.VPC, "DeleteVpc", networks.delete_vpc),
]
