"""The ECS routes (RPC, API version 2014-05-26) the sandbox serves, in one list the router takes."""

from __future__ import annotations

from ack_compute.sandbox.ecs.responses import price, resources, security_groups
from ack_compute.sandbox.products import Product
from ack_compute.sandbox.router import Route

ROUTES = [
    Route(Product.ECS, "DescribePrice", price.describe_price),
    Route(Product.ECS, "DescribeAvailableResource", resources.describe_available_resource),
    Route(Product.ECS, "DescribeInstanceTypes", resources.describe_instance_types),
    Route(Product.ECS, "CreateSecurityGroup", security_groups.create_security_group),
    Route(Product.ECS, "DescribeSecurityGroups", security_groups.describe_security_groups),
    Route(Product.ECS, "DeleteSecurityGroup", security_groups.delete_security_group),
]
