"""DescribeInstanceBill through the real BssOpenApi SDK: amounts follow the sandbox's own metering on its clock,
requests are held to the SDK's model, and an identity without the permission is told NoPermission."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
from alibabacloud_bssopenapi20171214 import models as bss_models
from alibabacloud_bssopenapi20171214.client import Client as BssClient
from alibabacloud_tea_openapi.exceptions import ClientException

from ack_compute.sandbox import SandboxCloud
from ack_compute.sandbox.bss.models.metering import load_prices
from ack_compute.sandbox.catalog import load_catalog

SCALE = 3600.0  # one real second is one sandbox hour
CATALOG = load_catalog()


@pytest.fixture
def fast(cloud: SandboxCloud) -> Iterator[SandboxCloud]:
    before = cloud.time_scale
    cloud.time_scale, cloud.bill_lag_seconds = SCALE, 0
    yield cloud
    cloud.time_scale, cloud.bill_lag_seconds = before, 24 * 3600
    cloud.deny_bills(False)


@pytest.fixture
def bss(clients) -> BssClient:  # type: ignore[no-untyped-def]
    return BssClient(clients.config())


def this_cycle() -> str:
    return datetime.now(UTC).strftime("%Y-%m")


def bill(bss: BssClient, **fields: object) -> dict:
    request = bss_models.DescribeInstanceBillRequest(**({"billing_cycle": this_cycle()} | fields))
    return bss.describe_instance_bill(request).body.to_map()


def node_hourly(instance_type: str) -> float:
    """A planted node: its type's price plus the default pool's 120 GiB cloud_essd system disk, in cn-hangzhou."""
    disk = CATALOG.disk("cloud_essd", None)
    multiplier = CATALOG.regions["cn-hangzhou"].price_multiplier
    return (CATALOG.instance_types[instance_type].hourly_price + disk.hourly_price_per_gib * 120) * multiplier


def test_a_pro_cluster_bills_its_fee_and_its_nodes_by_sandbox_hours(fast: SandboxCloud, bss: BssClient) -> None:
    started = time.time()
    cluster_id = fast.plant_cluster("bills-pro", cluster_spec="ack.pro.small", nodes=2)
    time.sleep(1.0)
    data = bill(bss)["Data"]
    ended = time.time()
    cluster = fast.cluster(cluster_id)
    items = {i["InstanceID"]: i for i in data["Items"]}
    # Sandbox hours it ran when billed: at least the second slept, at most the whole test so far.
    low, high = 1.0 * SCALE / 3600, (ended - started) * SCALE / 3600
    fee = items[cluster_id]
    assert (fee["ProductCode"], fee["SubscriptionType"], fee["Item"], fee["Currency"]) == (
        "csk",
        "PayAsYouGo",
        "PayAsYouGoBill",
        load_prices().currency,
    )
    assert (
        load_prices().ack_pro_fee_per_hour * low - 0.01
        <= fee["PretaxAmount"]
        <= (load_prices().ack_pro_fee_per_hour * high + 0.01)
    )
    for node in cluster.nodes:
        line = items[node.instance_id]
        hourly = node_hourly(node.instance_type)
        assert line["ProductCode"] == "ecs" and line["InstanceSpec"] == node.instance_type
        assert hourly * low - 0.01 <= line["PretaxAmount"] <= hourly * high + 0.01, (line, hourly, low, high)
    assert data["BillingCycle"] == this_cycle() and data["TotalCount"] == len(data["Items"])


def test_usage_shows_only_after_the_bill_lag(fast: SandboxCloud, bss: BssClient) -> None:
    fast.bill_lag_seconds = 24 * 3600  # a day of sandbox time: 24 real seconds at this scale
    cluster_id = fast.plant_cluster("bills-lag", cluster_spec="ack.pro.small", nodes=1)
    time.sleep(0.3)
    shown = {i["InstanceID"]: i["PretaxAmount"] for i in bill(bss)["Data"]["Items"]}
    assert shown.get(cluster_id) == 0.0, "a running cluster is listed, but nothing of it is billed yet"
    hidden = {i["InstanceID"] for i in bill(bss, is_hide_zero_charge=True)["Data"]["Items"]}
    assert cluster_id not in hidden


def test_pages_follow_next_token_and_cover_every_line_once(fast: SandboxCloud, bss: BssClient) -> None:
    fast.plant_cluster("bills-pages", cluster_spec="ack.pro.small", nodes=3)
    time.sleep(0.2)
    everything = [i["InstanceID"] for i in bill(bss, max_results=300)["Data"]["Items"]]
    paged, token = [], None
    while True:
        data = bill(bss, max_results=2, next_token=token)["Data"]
        assert len(data["Items"]) <= 2 and data["MaxResults"] == 2
        paged += [i["InstanceID"] for i in data["Items"]]
        token = data["NextToken"] or None
        if token is None:
            break
    assert paged == everything and len(set(paged)) == len(paged) >= 4


def test_one_instance_and_one_day(fast: SandboxCloud, bss: BssClient) -> None:
    cluster_id = fast.plant_cluster("bills-one", cluster_spec="ack.pro.small", nodes=1)
    time.sleep(0.2)
    (line,) = bill(bss, instance_id=cluster_id)["Data"]["Items"]
    assert line["InstanceID"] == cluster_id and "BillingDate" not in line
    today = date.today().isoformat()
    (daily,) = bill(bss, instance_id=cluster_id, granularity="DAILY", billing_date=today)["Data"]["Items"]
    assert daily["BillingDate"] == today


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"billing_cycle": "2026-13"}, "InvalidParameter"),
        ({"billing_cycle": "2020-01"}, "InvalidParameter"),  # older than the last 18 cycles
        ({"granularity": "HOURLY"}, "InvalidParameter"),
        ({"granularity": "DAILY"}, "MissingParameter"),  # DAILY needs BillingDate
        ({"granularity": "DAILY", "billing_date": "2020-01-01"}, "InvalidParameter"),  # not in BillingCycle
        ({"max_results": 301}, "InvalidParameter"),
        ({"max_results": 0}, "InvalidParameter"),
        ({"next_token": "not-one-we-gave"}, "InvalidParameter"),
        ({"subscription_type": "Monthly"}, "InvalidParameter"),
    ],
)
def test_invalid_requests_are_refused(fast: SandboxCloud, bss: BssClient, fields: dict, code: str) -> None:
    with pytest.raises(ClientException) as raised:
        bill(bss, **fields)
    assert raised.value.code == code


def test_a_parameter_the_sdk_model_lacks_is_refused(fast: SandboxCloud, signer) -> None:  # type: ignore[no-untyped-def]
    query = {"BillingCycle": this_cycle(), "Granularity": "MONTHLY", "InstanceIds": "i-1"}
    answer = signer.send(query, signer.headers("DescribeInstanceBill", query, version="2017-12-14"))
    assert (answer.status_code, answer.json()["Code"]) == (400, "InvalidParameter")
    assert "InstanceIds" in answer.json()["Message"]


def test_denied_bills_answer_no_permission(fast: SandboxCloud, bss: BssClient) -> None:
    fast.deny_bills()
    with pytest.raises(ClientException) as raised:
        bill(bss)
    assert (raised.value.code, raised.value.status_code) == ("NoPermission", 403)
    fast.deny_bills(False)
    assert bill(bss)["Success"] is True
