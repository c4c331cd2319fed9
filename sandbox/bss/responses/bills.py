"""BssOpenApi DescribeInstanceBill, from the sandbox's metering.

The request is held to the installed SDK's DescribeInstanceBillRequest (read as text by sdk_marks): a parameter the
model does not define is refused, never ignored, and each value is checked as the SDK doc describes it: BillingCycle
YYYY-MM within the last 18 cycles, Granularity MONTHLY | DAILY (DAILY needs BillingDate in that cycle), MaxResults
1..300 (default 20), NextToken empty or the one the previous page returned, SubscriptionType Subscription |
PayAsYouGo. The sandbox is stricter than the doc where the doc lets a bad value through silently (a BillingDate in
another month): it refuses rather than guess.
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, date, datetime, timedelta
from typing import Any

from ack_compute.sandbox import sdk_marks
from ack_compute.sandbox.bss.models.metering import Charge, Meter, load_prices
from ack_compute.sandbox.errors import ApiError, invalid_parameter, missing_parameter
from ack_compute.sandbox.router import ApiRequest
from ack_compute.sandbox.state import SandboxState

PACKAGE = "alibabacloud_bssopenapi20171214"
DEFAULT_PAGE, MAX_PAGE = 20, 300
CYCLES_KEPT = 18
_CYCLE = re.compile(r"^(\d{4})-(\d{2})$")
_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_BOOLEANS = {"true": True, "false": False}
DENIED_MESSAGE = "You are not authorized to perform this operation."
ACCOUNT_ID = "1234567890123456"  # the sandbox account


def _known_parameters() -> set[str]:
    return set(sdk_marks.models(PACKAGE)["DescribeInstanceBillRequest"])


def _cycle(text: str, today: date) -> date:
    match = _CYCLE.match(text)
    if match is None or not 1 <= int(match.group(2)) <= 12:
        raise invalid_parameter("BillingCycle")
    first = date(int(match.group(1)), int(match.group(2)), 1)
    months_back = (today.year - first.year) * 12 + today.month - first.month
    if not 0 <= months_back < CYCLES_KEPT:
        raise invalid_parameter("BillingCycle")
    return first


def _day(text: str, cycle: date) -> date:
    match = _DATE.match(text)
    try:
        day = date(int(match.group(1)), int(match.group(2)), int(match.group(3))) if match else None
    except ValueError:
        day = None
    if day is None or (day.year, day.month) != (cycle.year, cycle.month):
        raise invalid_parameter("BillingDate")
    return day


def _boolean(request: ApiRequest, name: str) -> bool:
    text = request.params.text(name)
    if text is None:
        return False
    if text.lower() not in _BOOLEANS:
        raise invalid_parameter(name)
    return _BOOLEANS[text.lower()]


def _next_month(first: date) -> date:
    return date(first.year + (first.month == 12), first.month % 12 + 1, 1)


def _instant(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def describe_instance_bill(request: ApiRequest, state: SandboxState) -> dict[str, Any]:
    meter = Meter(state.world, state.calendar, state.billing.lag_seconds)
    if state.billing.denied:
        raise ApiError(403, "NoPermission", DENIED_MESSAGE)
    unknown = sorted(request.params.names() - _known_parameters())
    if unknown:
        raise invalid_parameter(unknown[0])
    params = request.params
    now = datetime.now(UTC)
    cycle_text = params.text("BillingCycle")
    if cycle_text is None:
        raise missing_parameter("BillingCycle")
    cycle = _cycle(cycle_text, now.date())
    granularity = params.text("Granularity", "MONTHLY")
    if granularity not in ("MONTHLY", "DAILY"):
        raise invalid_parameter("Granularity")
    day: date | None = None
    if granularity == "DAILY":
        day_text = params.text("BillingDate")
        if day_text is None:
            raise missing_parameter("BillingDate")
        day = _day(day_text, cycle)
    subscription = params.text("SubscriptionType")
    if subscription not in (None, "Subscription", "PayAsYouGo"):
        raise invalid_parameter("SubscriptionType")
    size = params.integer("MaxResults", DEFAULT_PAGE, invalid_parameter("MaxResults"))
    if not 1 <= size <= MAX_PAGE:
        raise invalid_parameter("MaxResults")
    hide_zero = _boolean(request, "IsHideZeroCharge")
    _boolean(request, "IsBillingItem")
    if day is not None:
        start, end = _instant(day), _instant(day) + timedelta(days=1)
    else:
        start, end = _instant(cycle), _instant(_next_month(cycle))

    rows = []
    for charge in sorted(meter.charges(), key=lambda c: (c.start, c.instance_id)):
        if not _matches(charge, params.text("InstanceID"), params.text("ProductCode"), params.text("ProductType")):
            continue
        if subscription == "Subscription" or charge.start >= end or (charge.end is not None and charge.end <= start):
            continue
        amount = round(meter.billed(charge, start, end), 2)
        if hide_zero and amount == 0:
            continue
        rows.append(_item(charge, amount, cycle_text, day))

    query = tuple(sorted((k, v) for k, v in params.items() if k not in ("NextToken", "MaxResults")))
    offset = 0
    token = params.text("NextToken")
    if token is not None:
        issued = state.billing.page_tokens.get(token)
        if issued is None or issued[0] != query:
            raise invalid_parameter("NextToken")
        offset = issued[1]
    page = rows[offset : offset + size]
    next_token = ""
    if offset + size < len(rows):
        next_token = secrets.token_hex(16)
        state.billing.page_tokens[next_token] = (query, offset + size)
    return {
        "Success": True,
        "Code": "Success",
        "Message": "Successful!",
        "Data": {
            "AccountID": ACCOUNT_ID,
            "AccountName": "sandbox",
            "BillingCycle": cycle_text,
            "MaxResults": size,
            "NextToken": next_token,
            "TotalCount": len(rows),
            "Items": page,
        },
    }


def _matches(charge: Charge, instance_id: str | None, product_code: str | None, product_type: str | None) -> bool:
    return (
        (instance_id is None or charge.instance_id == instance_id)
        and (product_code is None or charge.product_code == product_code)
        and (product_type is None or charge.product_code == product_type)
    )


def _item(charge: Charge, amount: float, cycle: str, day: date | None) -> dict[str, Any]:
    item: dict[str, Any] = {
        "BillAccountID": ACCOUNT_ID,
        "BillAccountName": "sandbox",
        "OwnerID": ACCOUNT_ID,
        "InstanceID": charge.instance_id,
        "ProductCode": charge.product_code,
        "PipCode": charge.product_code,
        "ProductType": charge.product_code,
        "ProductName": charge.product_name,
        "ProductDetail": charge.product_name,
        "CommodityCode": charge.product_code,
        "SubscriptionType": "PayAsYouGo",
        "Item": "PayAsYouGoBill",
        "BillingType": "Normal",
        "Currency": load_prices().currency,
        "PretaxGrossAmount": amount,
        "PretaxAmount": amount,
        "PaymentAmount": amount,
        "AfterDiscountAmount": amount,
        "InvoiceDiscount": 0.0,
        "DeductedByCoupons": 0.0,
        "DeductedByCashCoupons": 0.0,
        "DeductedByPrepaidCard": 0.0,
        "OutstandingAmount": 0.0,
        "AdjustAmount": 0.0,
        "Region": charge.region,
        "Zone": charge.zone,
        "InstanceSpec": charge.spec,
        "InstanceConfig": "",
        "ResourceGroup": "",
        "Tag": "",
        "CostUnit": "",
        "NickName": "",
        "InternetIP": "",
        "IntranetIP": "",
        "ServicePeriod": "",
        "ServicePeriodUnit": "",
    }
    if day is not None:
        item["BillingDate"] = day.isoformat()
    return item
