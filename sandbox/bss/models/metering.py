"""The sandbox's own metering: every billable thing it runs accrues from its creation to its deletion, on the
sandbox calendar, at the sandbox's prices; a bill shows what accrued up to `lag` ago.

Billable here: the ACK Pro management fee of an `ack.pro.small` cluster (against the cluster id, data/bss_prices.json)
and every worker ECS node, default pool and added pools alike (against its instance id, the ECS catalog's instance and
disk prices x the region's multiplier, as DescribePrice quotes them). ACS/ECI pods are not metered: the simulated
kubelet keeps no per-pod billing record, and the server never learns a pod's bill id either.

The clock: sandbox time runs `time_scale` times faster than real time from the moment the sandbox starts (and from
each change of the scale on), so an hour of sandbox time at scale 3600 is one real second: amounts accrue by sandbox
hours. Bill dates and cycles stay real (UTC) dates, so a client asking for this month's bill by the real calendar
gets everything that ran this month, however fast the clock ran.

Real bills trail usage by about 24 h: the lag is the state's `billing.lag_seconds` (sandbox seconds; see state.py).
"""

from __future__ import annotations

import functools
from datetime import datetime, timedelta

from pydantic import BaseModel, Field

from ack_compute.sandbox.catalog import PriceTable, load_table
from ack_compute.sandbox.scheduler import Calendar
from ack_compute.sandbox.world import Cluster, Node, World


class BssPrices(PriceTable):
    ack_pro_fee_per_hour: float = Field(gt=0)


@functools.cache
def load_prices() -> BssPrices:
    return load_table(BssPrices, "bss_prices.json")


class Charge(BaseModel):
    """One billable thing: what it is, what it costs per sandbox hour, and when (sandbox time) it ran."""

    instance_id: str
    product_code: str
    product_name: str
    region: str
    zone: str
    spec: str
    hourly: float
    start: datetime  # real instants, as the world records them
    end: datetime | None


class Meter:
    """Charges from the world, on the calendar; `lag_seconds` (sandbox seconds) of usage not yet billed."""

    def __init__(self, world: World, calendar: Calendar, lag_seconds: float) -> None:
        self.world = world
        self.calendar = calendar
        self.lag_seconds = lag_seconds

    def billed(self, charge: Charge, since: datetime, until: datetime) -> float:
        """What `charge` accrued between two real instants (a cycle, a day), by sandbox hours, as far as bills show:
        up to `lag_seconds` of sandbox time before now."""
        start = max(charge.start, since)
        end = min(charge.end or until, until)
        if end <= start:
            return 0.0
        cutoff = self.calendar.now() - timedelta(seconds=self.lag_seconds)
        seconds = (min(self.calendar.at(end), cutoff) - self.calendar.at(start)).total_seconds()
        return charge.hourly * max(0.0, seconds) / 3600

    def charges(self) -> list[Charge]:
        prices = load_prices()
        found: list[Charge] = []
        with self.world.lock:
            for cluster in self.world.clusters.values():
                start, end = cluster.created, cluster.deleted
                if cluster.cluster_spec == "ack.pro.small":
                    found.append(
                        Charge(
                            instance_id=cluster.cluster_id,
                            product_code="csk",
                            product_name="Container Service for Kubernetes (ACK Pro management fee)",
                            region=cluster.region_id,
                            zone=cluster.zone_id,
                            spec=cluster.cluster_spec,
                            hourly=prices.ack_pro_fee_per_hour,
                            start=start,
                            end=end,
                        )
                    )
                found += [self._node(cluster, node) for node in cluster.nodes]
        return found

    def _node(self, cluster: Cluster, node: Node) -> Charge:
        catalog = self.world.catalog
        region = catalog.regions.get(cluster.region_id)
        multiplier = region.price_multiplier if region is not None else 1.0
        instance_type = catalog.instance_types.get(node.instance_type)
        hourly = instance_type.hourly_price if instance_type is not None else 0.0
        pool = cluster.nodepool(node.nodepool_id)
        if pool is not None:
            disk = catalog.disk(pool.system_disk_category, pool.system_disk_performance_level)
            hourly += disk.hourly_price_per_gib * pool.system_disk_size if disk else 0
            for data in pool.data_disks:
                priced = catalog.disk(data.category, data.performance_level)
                hourly += priced.hourly_price_per_gib * data.size if priced else 0
        return Charge(
            instance_id=node.instance_id,
            product_code="ecs",
            product_name="Elastic Compute Service",
            region=cluster.region_id,
            zone=node.zone_id,
            spec=node.instance_type,
            hourly=hourly * multiplier,
            start=node.created,
            end=node.deleted,
        )
