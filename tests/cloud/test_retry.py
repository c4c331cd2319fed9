"""The retry policy against the sandbox through the real SDKs: the cloud's transient codes are waited out within
the budget; a create is repeated on them only when it carries its ClientToken, and never after a network error."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from alibabacloud_cs20151215 import models as cs_models

from ack_compute.cloud.clients import OpenApiClients
from ack_compute.cloud.config import CloudConfig, RetryPolicy, StaticCredentials
from ack_compute.cloud.cs import ClusterSpec, ContainerService
from ack_compute.cloud.errors import CloudError
from ack_compute.cloud.retry import TRANSIENT_CODES
from ack_compute.cloud.vpc import VpcNetworks
from ack_compute.sandbox import Fault, SandboxCloud
from ack_compute.sandbox.faults import TRANSIENT_ERRORS

FAST = RetryPolicy(max_attempts=4, base_delay_s=0.01, max_delay_s=0.05, max_total_wait_s=5)


def clients(cloud: SandboxCloud, **config: Any) -> OpenApiClients:
    credentials = StaticCredentials(access_key_id=cloud.access_key_id, access_key_secret=cloud.access_key_secret)
    return OpenApiClients(
        CloudConfig(
            region="cn-hangzhou",
            endpoint_override=cloud.endpoint,
            protocol="http",
            credentials=credentials,
            retry=FAST,
            **config,
        )
    )


def cluster_spec(cloud: SandboxCloud, name: str) -> ClusterSpec:
    """A CreateCluster the way the product sends it: typed, always with its ClientToken."""
    vpc_id = cloud.plant_vpc(f"{name}-vpc")
    vswitch_id = cloud.plant_vswitch(vpc_id, zone_id="cn-hangzhou-h")
    return ClusterSpec(
        name=name,
        region_id="cn-hangzhou",
        cluster_spec="ack.standard",
        profile="Serverless",
        vpcid=vpc_id,
        vswitch_ids=[vswitch_id],
        service_cidr="172.21.0.0/20",
        snat_entry=False,
        endpoint_public_access=True,
        client_token=uuid.uuid4().hex,
    )


def create_without_token(cloud: SandboxCloud, name: str) -> Any:
    """A CreateCluster with no ClientToken, as an older caller could send it: the retry layer must not repeat it
    on a conflict (the product itself always sends its token)."""
    spec = cluster_spec(cloud, name)
    body = {k: v for k, v in spec.wire_body().items() if k != "client_token"}
    api = clients(cloud)
    return api.call(
        "CreateCluster",
        lambda: api.client("cs").create_cluster(cs_models.CreateClusterRequest(**body)).body.to_map(),
        idempotent=False,
        client_token=False,
    )


def test_the_product_retries_exactly_the_codes_the_sandbox_can_inject() -> None:
    assert set(TRANSIENT_ERRORS) == TRANSIENT_CODES


@pytest.mark.parametrize("code", sorted(TRANSIENT_CODES))
def test_each_transient_code_on_create_vswitch_is_waited_out(cloud: SandboxCloud, code: str) -> None:
    vpc_id = cloud.plant_vpc("retry-vpc", cidr_block="10.20.0.0/16")
    cloud.inject("CreateVSwitch", Fault.transient(code), times=2)
    vswitch_id = VpcNetworks(clients(cloud)).create_vswitch(
        "cn-hangzhou",
        vpc_id=vpc_id,
        zone="cn-hangzhou-h",
        cidr_block="10.20.1.0/24",
        name="retry",
        tags={},
        client_token=uuid.uuid4().hex,
    )
    assert cloud.counts()["CreateVSwitch"] == 3
    assert [s.vswitch_id for s in cloud.vswitches() if s.vpc_id == vpc_id] == [vswitch_id]


def test_a_create_cluster_with_its_token_is_repeated_on_a_conflict_and_lands_once(cloud: SandboxCloud) -> None:
    spec = cluster_spec(cloud, "retry-token")
    cloud.inject("CreateCluster", Fault.transient("OperationConflict"))
    cloud.inject("CreateCluster", Fault.transient("InternalError"))
    cluster_id, _task = ContainerService(clients(cloud)).create_cluster(spec)
    assert cloud.counts()["CreateCluster"] == 3
    assert [c.cluster_id for c in cloud.clusters() if c.name == "retry-token"] == [cluster_id]


def test_a_create_cluster_without_a_token_is_not_repeated_on_a_conflict(cloud: SandboxCloud) -> None:
    cloud.inject("CreateCluster", Fault.transient("OperationConflict"))
    with pytest.raises(CloudError) as raised:
        create_without_token(cloud, "retry-notoken")
    assert (raised.value.code, raised.value.attempts) == ("OperationConflict", 1)
    assert cloud.counts()["CreateCluster"] == 1 and not [c for c in cloud.clusters() if c.name == "retry-notoken"]


def test_a_create_cluster_without_a_token_is_still_repeated_when_throttled(cloud: SandboxCloud) -> None:
    cloud.inject("CreateCluster", Fault.throttle(retry_after_ms=50))
    create_without_token(cloud, "retry-throttled")
    assert cloud.counts()["CreateCluster"] == 2
    assert len([c for c in cloud.clusters() if c.name == "retry-throttled"]) == 1


def test_a_create_cluster_is_never_repeated_after_a_network_error(cloud: SandboxCloud) -> None:
    spec = cluster_spec(cloud, "retry-timeout")
    cloud.inject("CreateCluster", Fault.delay(1.5))
    with pytest.raises(CloudError) as raised:
        ContainerService(clients(cloud, read_timeout_ms=500)).create_cluster(spec)
    assert (raised.value.code, raised.value.attempts) == ("NetworkError", 1)
    assert cloud.counts()["CreateCluster"] == 1


def test_a_read_is_repeated_on_system_busy_until_the_budget_ends(cloud: SandboxCloud) -> None:
    cluster_id = cloud.plant_cluster("retry-read", nodes=0)
    cs = ContainerService(clients(cloud))
    cloud.inject("DescribeClusterDetail", Fault.transient("SystemBusy"), times=3)
    assert cs.describe_cluster(cluster_id).state == "running"
    cloud.inject("DescribeClusterDetail", Fault.transient("SystemBusy"), times=4)
    with pytest.raises(CloudError) as raised:
        cs.describe_cluster(cluster_id)
    assert (raised.value.code, raised.value.attempts, raised.value.retryable) == ("SystemBusy", 4, True)
