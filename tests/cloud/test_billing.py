"""cloud/billing.py against the sandbox through the real BssOpenApi SDK: every page read, amounts summed per
instance id, a denying account reported as unavailable, throttling retried."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from ack_compute.cloud.billing import Billing, BillsUnavailable, billing_cycles
from ack_compute.cloud.clients import OpenApiClients
from ack_compute.cloud.config import CloudConfig, RetryPolicy, StaticCredentials
from ack_compute.sandbox import SandboxCloud
from ack_compute.sandbox.faults import Fault


@pytest.fixture
def fast(cloud: SandboxCloud) -> Iterator[SandboxCloud]:
    before = cloud.time_scale
    cloud.time_scale, cloud.bill_lag_seconds = 3600.0, 0
    yield cloud
    cloud.time_scale, cloud.bill_lag_seconds = before, 24 * 3600
    cloud.deny_bills(False)


def clients(cloud: SandboxCloud) -> OpenApiClients:
    return OpenApiClients(
        CloudConfig(
            region="cn-hangzhou",
            endpoint_override=cloud.endpoint,
            protocol="http",
            retry=RetryPolicy(base_delay_s=0.01, max_delay_s=0.05),
            credentials=StaticCredentials(access_key_id=cloud.access_key_id, access_key_secret=cloud.access_key_secret),
        )
    )


def test_every_page_is_read_and_amounts_are_per_instance_id(fast: SandboxCloud) -> None:
    cluster_id = fast.plant_cluster("billing-adapter", cluster_spec="ack.pro.small", nodes=3)
    ids = {cluster_id, *(n.instance_id for n in fast.cluster(cluster_id).nodes)}
    time.sleep(0.5)
    now = datetime.now(UTC)
    whole = Billing(clients(fast)).billed(now - timedelta(hours=1), now, ids)
    fast.reset_counts()
    paged = Billing(clients(fast), page_size=1).billed(now - timedelta(hours=1), now, ids)
    assert set(whole) == ids and all(b.amount > 0 for b in whole.values())
    assert {i: b.product_code for i, b in whole.items()} == {i: "csk" if i == cluster_id else "ecs" for i in ids}
    assert set(paged) == ids, "one line per page, all of them found"
    assert fast.counts()["DescribeInstanceBill"] >= len(ids)
    # Amounts only grow on a running clock: the second reading is at least the first, for every id.
    assert all(paged[i].amount >= whole[i].amount for i in ids)


def test_a_denying_account_is_unavailable_not_an_error(fast: SandboxCloud) -> None:
    fast.deny_bills()
    now = datetime.now(UTC)
    with pytest.raises(BillsUnavailable) as raised:
        Billing(clients(fast)).billed(now, now)
    assert raised.value.code == "NoPermission"


def test_throttling_is_retried(fast: SandboxCloud) -> None:
    fast.inject("DescribeInstanceBill", Fault.throttle(retry_after_ms=20), times=2)
    now = datetime.now(UTC)
    assert isinstance(Billing(clients(fast)).billed(now, now), dict)


def test_cycles_cover_the_range_from_a_day_before() -> None:
    assert billing_cycles(datetime(2026, 11, 30, 23, tzinfo=UTC), datetime(2026, 11, 30, 23, tzinfo=UTC)) == ["2026-11"]
    assert billing_cycles(datetime(2026, 12, 1, 1, tzinfo=UTC), datetime(2027, 1, 2, tzinfo=UTC)) == [
        "2026-11",
        "2026-12",
        "2027-01",
    ]
