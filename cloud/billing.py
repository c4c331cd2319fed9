"""What the account was billed, per instance id: BssOpenApi DescribeInstanceBill (version 2017-12-14).

One MONTHLY query per billing cycle the range touches, pay-as-you-go items only, paged 300 at a time with
NextToken (SDK DescribeInstanceBillRequest: MaxResults default 20, max 300). The cloud updates bills about 24 h
behind usage (Alibaba's DescribeInstanceBill page), so "billed so far" trails what ran; the caller compares it with
its own estimate, it never replaces it.

An identity the account does not allow to read bills, or a site without the API, raises `BillsUnavailable`: bills
are optional, so callers turn it into "estimated" rather than a failure. Responses are read through `to_map()`, so no
SDK type leaves this module.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from ack_compute.cloud.clients import OpenApiClients
from ack_compute.cloud.errors import CloudError

ACTION = "DescribeInstanceBill"
PAGE_SIZE = 300  # the API's maximum MaxResults
MAX_PAGES = 1000  # a runaway NextToken chain stops here rather than looping
# How the gateways and RAM refuse an identity or a site: RAM's Forbidden.RAM / NotAuthorized, BSS's NoPermission, an
# account (reseller, international) the API does not apply to, and a gateway without the API at all.
UNAVAILABLE_PREFIXES = ("Forbidden", "NoPermission", "NotAuthorized", "Unauthorized", "NotApplicable")
UNAVAILABLE_CODES = frozenset({"InvalidAction.NotFound", "InvalidApi.NotFound"})


class BilledAmount(BaseModel):
    """What one instance id was billed (payable, before tax: PretaxAmount) over the cycles queried."""

    instance_id: str
    product_code: str
    currency: str
    amount: Decimal


class BillsUnavailable(Exception):
    """The account does not let this identity read its bills, or the site has no bill API: not a failure."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(f"bills unavailable: {code}: {message}")


def is_unavailable(exc: CloudError) -> bool:
    return exc.code.startswith(UNAVAILABLE_PREFIXES) or exc.code in UNAVAILABLE_CODES


def billing_cycles(since: datetime, until: datetime) -> list[str]:
    """The YYYY-MM cycles from a day before `since` to `until`: bill dates follow the site's own time zone, so usage
    just after midnight UTC on the 1st may sit in the previous cycle. Never past `until`'s: a future cycle has no
    bill and may be refused."""
    start = (since - timedelta(days=1)).astimezone(UTC)
    end = until.astimezone(UTC)
    cycles = []
    year, month = start.year, start.month
    while (year, month) <= (end.year, end.month):
        cycles.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return cycles


def _dec(value: Any) -> Decimal:
    return Decimal(str(value if value not in (None, "") else 0))


class Billing:
    def __init__(self, clients: OpenApiClients, page_size: int = PAGE_SIZE) -> None:
        self._clients = clients
        self._page_size = page_size

    def billed(
        self, since: datetime, until: datetime, instance_ids: Collection[str] | None = None
    ) -> dict[str, BilledAmount]:
        """Pay-as-you-go amounts per instance id billed in the cycles from `since` to `until` (only `instance_ids`
        when given). Raises BillsUnavailable when the account denies bills, CloudError for other failures."""
        wanted = set(instance_ids) if instance_ids is not None else None
        found: dict[str, BilledAmount] = {}
        for cycle in billing_cycles(since, until):
            for item in self._items(cycle):
                instance_id = str(item.get("InstanceID") or "")
                if not instance_id or (wanted is not None and instance_id not in wanted):
                    continue
                amount = _dec(item.get("PretaxAmount"))
                seen = found.get(instance_id)
                if seen is None:
                    found[instance_id] = BilledAmount(
                        instance_id=instance_id,
                        product_code=str(item.get("ProductCode") or ""),
                        currency=str(item.get("Currency") or ""),
                        amount=amount,
                    )
                else:
                    seen.amount += amount
        return found

    def probe(self) -> None:
        """One one-item page of this month's bill: whether this identity may read bills (doctor)."""
        self._page(datetime.now(UTC).strftime("%Y-%m"), None, max_results=1)

    def _items(self, cycle: str) -> Iterator[dict[str, Any]]:
        token: str | None = None
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            data = self._page(cycle, token)
            yield from data.get("Items") or []
            token = data.get("NextToken") or None
            if token is None or token in seen:
                return
            seen.add(token)

    def _page(self, cycle: str, token: str | None, max_results: int | None = None) -> dict[str, Any]:
        from alibabacloud_bssopenapi20171214 import models as m

        request = m.DescribeInstanceBillRequest(
            billing_cycle=cycle,
            granularity="MONTHLY",
            subscription_type="PayAsYouGo",
            is_hide_zero_charge=True,
            max_results=max_results or self._page_size,
            next_token=token,
        )
        client = self._clients.client("bss")
        try:
            body = self._clients.call(
                "DescribeInstanceBill", lambda: client.describe_instance_bill(request).body.to_map()
            )
        except CloudError as exc:
            if is_unavailable(exc):
                raise BillsUnavailable(exc.code, exc.message) from None
            raise
        # BSS answers carry their own verdict; a body that says it failed is a failure whatever the HTTP status.
        if body.get("Success") is False:
            code, message = str(body.get("Code") or "UnknownError"), str(body.get("Message") or "")
            if code.startswith(UNAVAILABLE_PREFIXES):
                raise BillsUnavailable(code, message)
            raise CloudError(ACTION, code, message, request_id=body.get("RequestId"))
        return body.get("Data") or {}
