"""Billed so far, per ledger row: the account's bills (cloud/billing.py) set beside the meter's estimate.

The meter calls `Bills.__call__(rows)` and gets `{resource_id: billed so far}`, or None when the account does not let
this server read bills (the meter then says "estimated" and nothing fails). A row maps to the ids its bill names:
- a cluster: its cluster id (the ACK Pro management fee bills against it) and the instance ids of its nodes, except
  nodes of pools that have their own ledger row;
- a node pool: the instance ids of its nodes;
- everything else is left out: reused resources (this server does not pay for them); networks, billed within
  their cluster's quote; and ACS/ECI pods, which bill per pod or container group id that the server never records,
  so no bill line can be tied to a Job or Deployment.
Instance ids are remembered once seen, so a node released by a scale-in, or a deleted cluster's nodes, still count.

Bills change at most hourly and trail usage by about a day, so the account's bill is fetched at most once per
`ttl_seconds` (an hour), and a refusal is remembered as long.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

from ack_compute.cloud.billing import BilledAmount, Billing, BillsUnavailable
from ack_compute.cloud.errors import CloudError
from ack_compute.cloud.node_pools import NodePoolService
from ack_compute.tools.ownership import OwnedResource

log = logging.getLogger("ack_compute.tools")
HOUR = 3600.0
BILLED_KINDS = ("cluster", "node_pool")
NOT_RECONCILED = (
    "ACS/ECI pods (Jobs and Deployments on ACS) bill per pod, under ids this server never records: they show the "
    "estimate only; networks are billed inside their cluster's quote."
)


class Bills:
    def __init__(
        self,
        billing: Billing,
        pools: NodePoolService,
        *,
        ttl_seconds: float = HOUR,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._billing = billing
        self._pools = pools
        self._ttl = ttl_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._ids: dict[int, set[str]] = {}  # resource_id -> every bill id seen for it
        self._ids_at: dict[int, float] = {}
        self._fetched: tuple[float, dict[str, BilledAmount] | None] | None = None

    def __call__(self, rows: list[OwnedResource]) -> dict[int, Decimal] | None:
        """Billed so far per row this can reconcile; None when the account's bills cannot be read."""
        billable = [
            r
            for r in rows
            if r.kind in BILLED_KINDS and r.origin == "created" and r.cloud_id and not r.details.get("growth_of")
        ]
        if not billable:
            return {}
        amounts = self._amounts(min(r.created_at for r in billable))
        if amounts is None:
            return None
        own_pools = {r.cloud_id for r in billable if r.kind == "node_pool"}
        billed: dict[int, Decimal] = {}
        for row in billable:
            ids = self._bill_ids(row, own_pools)
            billed[row.resource_id] = sum((amounts[i].amount for i in ids if i in amounts), Decimal(0))
        return billed

    def _amounts(self, since: datetime) -> dict[str, BilledAmount] | None:
        """The account's pay-as-you-go bill per instance id since `since`, at most once per ttl."""
        now = self._clock()
        with self._lock:
            if self._fetched is not None and now - self._fetched[0] < self._ttl:
                return self._fetched[1]
        try:
            found: dict[str, BilledAmount] | None = self._billing.billed(since, datetime.fromtimestamp(now, UTC))
        except BillsUnavailable as exc:
            log.info("bills unavailable (%s): the meter shows estimates", exc.code)
            found = None
        except CloudError as exc:  # a bill that cannot be read now is no reason to fail a listing
            log.warning("bills not read: %s; the meter shows estimates", exc)
            return None  # not cached: the next listing tries again
        with self._lock:
            self._fetched = (now, found)
        return found

    def _bill_ids(self, row: OwnedResource, own_pools: set[str | None]) -> set[str]:
        """The ids this row's bill lines carry: remembered ones plus what the cloud lists now (at most once per
        ttl per row; a failed listing keeps what was seen)."""
        now = self._clock()
        with self._lock:
            seen = self._ids.setdefault(row.resource_id, set())
            fresh = now - self._ids_at.get(row.resource_id, float("-inf")) < self._ttl
        if fresh:
            return set(seen)
        ids: set[str] = set()
        try:
            if row.kind == "cluster":
                cluster_id = str(row.cloud_id)
                ids.add(cluster_id)
                for pool in self._pools.list(cluster_id, row.region):
                    if pool.nodepool_id not in own_pools:
                        ids |= {n.instance_id for n in self._pools.nodes(cluster_id, pool.nodepool_id, row.region)}
            else:
                cluster_id = str(row.details.get("cluster") or "")
                ids |= {n.instance_id for n in self._pools.nodes(cluster_id, str(row.cloud_id), row.region)}
        except CloudError as exc:
            if not exc.is_not_found:
                log.info("bill ids of %s %s not listed: %s", row.kind, row.cloud_id, exc)
            if row.kind == "cluster":
                ids.add(str(row.cloud_id))
        with self._lock:
            seen |= {i for i in ids if i}
            self._ids_at[row.resource_id] = now
            return set(seen)
