"""What ECS sells where: the destinations and charge types DescribeAvailableResource knows, and zone offers."""

from __future__ import annotations

from ack_compute.sandbox.catalog import Catalog, Zone

DESTINATIONS = ("Zone", "InstanceType", "SystemDisk", "DataDisk")
CHARGE_TYPES = ("PostPaid", "PrePaid")
MAX_FILTER_TYPES = 10


def sells(catalog: Catalog, zone: Zone, type_id: str) -> bool:
    return type_id in catalog.instance_types and zone.offers(type_id)
