"""The spend meter: what each resource this server bought has accrued at the price the person accepted, per caller,
per UTC day and month, and what live leases still commit. One definition, read by list_resources, the ledger's spend
resource and the budget check at estimate and redemption.

Accrued = the quoted hourly price x the hours it ran: from its creation until now, until it was seen gone, until its
Job finished, or until its lease ended and it was deleted. It is what the person agreed to pay, an estimate of the
bill, not the bill.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from pydantic import BaseModel

from ack_compute.tools.budgets import Spend
from ack_compute.tools.leases import Lease
from ack_compute.tools.ledger import Db, Ledger, Row
from ack_compute.tools.ownership import OwnedResource, _row

CENT = Decimal("0.01")
# Networks and Services ride on the quote of the cluster or Deployment they serve; a node pool's growth purchase is
# metered in its pool's segments (its size over time).
UNPRICED_KINDS = ("vpc", "vswitch", "security_group", "service")
Segment = tuple[float, Decimal]  # from this time on, this hourly rate (until the next segment or the end)


def cents(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def day_start(now: float) -> float:
    """The start of `now`'s UTC day."""
    return float(int(now // 86400) * 86400)


def month_start(now: float) -> float:
    """The start of `now`'s UTC calendar month."""
    at = datetime.fromtimestamp(now, UTC)
    return at.replace(day=1, hour=0, minute=0, second=0, microsecond=0).timestamp()


def accrued(segments: list[Segment], until: float, since: float = 0.0) -> Decimal:
    """Each rate x the hours it applied, within [since, until]."""
    total = Decimal(0)
    for i, (start, hourly) in enumerate(segments):
        end = segments[i + 1][0] if i + 1 < len(segments) else until
        lo, hi = max(start, since), min(end, until)
        if hi > lo:
            total += hourly * Decimal(str((hi - lo) / 3600))
    return total


def ran_until(row: OwnedResource, now: float, lease: Lease | None = None, gone: bool = False) -> float:
    """When it stopped costing: deleted or seen gone (the row's last update), its Job finished, or its lease ended
    (the reaper deleted it, or it went away); else it still runs."""
    stops = [now]
    if gone or row.state in ("deleted", "abandoned"):
        stops.append(row.updated_at.timestamp())
    finished = row.details.get("finished_at")
    if isinstance(finished, int | float):
        stops.append(float(finished))
    if lease is not None and lease.state in ("ended", "released") and lease.ended_at is not None:
        stops.append(lease.ended_at)
    return min(stops)


class Metered(BaseModel):
    """One priced row as the meter sees it."""

    resource_id: int
    owner: str
    currency: str
    hourly: Decimal  # what it costs per hour (while it runs)
    segments: list[Segment]
    start: float
    end: float
    lease: Lease | None = None

    @property
    def hours(self) -> float:
        return max(0.0, self.end - self.start) / 3600

    def accrued(self, since: float = 0.0, until: float | None = None) -> Decimal:
        return accrued(self.segments, self.end if until is None else min(until, self.end), since)


def metered(
    row: OwnedResource,
    price: tuple[Decimal, str] | None,
    now: float,
    lease: Lease | None = None,
    *,
    gone: bool = False,
    nodes: int | None = None,
) -> Metered | None:
    """A row priced by its quote (`price`: hourly, currency), or None when nothing of it is paid for here. A node
    pool is priced per node (its row keeps the quoted node price and its sizes over time); `nodes` is its size now."""
    if row.origin != "created" or row.kind in UNPRICED_KINDS or row.details.get("growth_of"):
        return None
    end = ran_until(row, now, lease, gone)
    if row.kind == "node_pool":
        if not row.details.get("node_hourly"):
            return None
        node_hourly = Decimal(row.details["node_hourly"])
        segments = [(float(at), node_hourly * int(size)) for at, size in row.details.get("segments", [])]
        count = int(nodes if nodes is not None else row.details.get("nodes") or 0)
        hourly, currency = node_hourly * count, str(row.details.get("currency", ""))
    elif price is None:
        return None
    else:
        hourly, currency = price
        segments = [(row.created_at.timestamp(), hourly)]
    start = segments[0][0] if segments else row.created_at.timestamp()
    return Metered(
        resource_id=row.resource_id,
        owner=row.owner,
        currency=currency,
        hourly=hourly,
        segments=segments,
        start=start,
        end=end,
        lease=lease,
    )


class Meter:
    """The meter over the ledger alone (no cloud call): fast enough to run inside a redemption's transaction."""

    def __init__(self, ledger: Ledger, clock: Callable[[], float] = time.time) -> None:
        self._ledger = ledger
        self._clock = clock

    def read(self, owner: str | None = None, db: Db | None = None) -> Reading:
        """Every priced row (one caller's, or everyone's) and the leases of rows still running."""
        sql = (
            "SELECT r.*, q.hourly AS q_hourly, q.currency AS q_currency FROM resources r LEFT JOIN quotes q"
            " ON q.quote_id = COALESCE(r.quote_id, (SELECT quote_id FROM operations o"
            " WHERE o.operation_id = r.operation_id)) WHERE r.origin = 'created'"
        )
        params: dict[str, Any] = {}
        if owner is not None:
            sql += " AND r.owner = :owner"
            params = {"owner": owner}

        def run(sql: str) -> list[Row]:
            return db.execute(sql, params).fetchall() if db is not None else self._ledger.query(sql, params)

        rows = run(sql + " ORDER BY r.resource_id")
        where = " WHERE owner = :owner" if owner is not None else ""
        leases = {r["resource_id"]: Lease.model_validate(dict(r)) for r in run("SELECT * FROM leases" + where)}
        now = self._clock()
        reading = Reading()
        for raw in rows:
            row = _row(raw)
            if row.state == "failed" and not row.cloud_id:
                continue  # never made: nothing ran
            lease = leases.get(row.resource_id)
            if lease is not None and ran_until(row, now, lease) >= now:
                reading.live_leases.append(lease)  # a lease on what stopped commits nothing more
            price = (Decimal(raw["q_hourly"]), str(raw["q_currency"])) if raw["q_hourly"] is not None else None
            item = metered(row, price, now, lease)
            if item is not None:
                reading.items.append(item)
        return reading

    def spend(self, owner: str, db: Db | None = None, *, replacing: int | None = None) -> dict[str, Spend]:
        """One caller's spend per currency. `replacing`: a row whose price this purchase replaces (its lease's
        commitment is the new quote's to make)."""
        return self.read(owner, db).totals(self._clock(), replacing=replacing).get(owner, {})

    def history(self, owner: str, days: int = 31, months: int = 12) -> dict[str, Any]:
        """One caller's accrued per UTC day (the last `days`) and per month (the last `months`), oldest first; days
        and months with nothing accrued are left out."""
        now = self._clock()
        reading = self.read(owner)
        items = reading.items
        by_day: list[dict[str, Any]] = []
        start = day_start(now) - (days - 1) * 86400
        for n in range(days):
            lo = start + n * 86400
            by_day += _period(datetime.fromtimestamp(lo, UTC).strftime("%Y-%m-%d"), items, lo, lo + 86400)
        by_month: list[dict[str, Any]] = []
        first = datetime.fromtimestamp(month_start(now), UTC)
        for back in range(months - 1, -1, -1):
            year, month = divmod(first.year * 12 + first.month - 1 - back, 12)
            lo_dt = datetime(year, month + 1, 1, tzinfo=UTC)
            ny, nm = divmod(year * 12 + month + 1, 12)
            hi = datetime(ny, nm + 1, 1, tzinfo=UTC).timestamp()
            by_month += _period(lo_dt.strftime("%Y-%m"), items, lo_dt.timestamp(), hi)
        spend = reading.totals(now).get(owner, {})
        return {
            "days": by_day,
            "months": by_month,
            "committed": [{"currency": c, "committed": str(cents(s.committed))} for c, s in spend.items()],
        }


def _period(label: str, items: Iterable[Metered], lo: float, hi: float) -> list[dict[str, Any]]:
    sums: dict[str, Decimal] = {}
    for item in items:
        sums[item.currency] = sums.get(item.currency, Decimal(0)) + item.accrued(since=lo, until=hi)
    return [{"period": label, "currency": c, "accrued": str(cents(v))} for c, v in sums.items() if cents(v) > 0]


class Reading(BaseModel):
    items: list[Metered] = []
    live_leases: list[Lease] = []

    def totals(self, now: float, *, replacing: int | None = None) -> dict[str, dict[str, Spend]]:
        """Spend per caller per currency: accrued today and this month, and what live leases commit."""
        today, month = day_start(now), month_start(now)
        out: dict[str, dict[str, Spend]] = {}

        def of(owner: str, currency: str) -> Spend:
            return out.setdefault(owner, {}).setdefault(currency, Spend(currency=currency))

        for item in self.items:
            spend = of(item.owner, item.currency)
            spend.today += item.accrued(since=today)
            spend.month += item.accrued(since=month)
        for lease in self.live_leases:
            if lease.resource_id != replacing:
                of(lease.owner, lease.currency).committed += lease.committed(now)
        return out
