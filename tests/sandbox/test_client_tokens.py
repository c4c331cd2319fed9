"""ClientToken idempotency: a create retried with the same token returns what the first call made,
which is what lets a crashed creator resume without creating twice."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from alibabacloud_cs20151215 import models as cs_models
from alibabacloud_tea_openapi.exceptions import ClientException
from alibabacloud_vpc20160428 import models as vpc_models

from ack_compute.sandbox import Fault, SandboxCloud


def test_create_vpc_and_vswitch_replay_by_token(clients, cloud: SandboxCloud) -> None:  # type: ignore[no-untyped-def]
    vpc = clients.vpc()
    token = uuid.uuid4().hex
    request = vpc_models.CreateVpcRequest(region_id="cn-hangzhou", cidr_block="10.0.0.0/16", client_token=token)
    first = vpc.create_vpc(request).body.vpc_id
    again = vpc.create_vpc(request).body.vpc_id
    other = vpc.create_vpc(
        vpc_models.CreateVpcRequest(region_id="cn-hangzhou", cidr_block="10.0.0.0/16", client_token=uuid.uuid4().hex)
    ).body.vpc_id
    assert first == again != other
    assert len([v for v in cloud.vpcs() if v.vpc_id in (first, other)]) == 2


def test_create_cluster_replays_by_token(clients, cloud: SandboxCloud) -> None:  # type: ignore[no-untyped-def]
    vpc_id = cloud.plant_vpc("tok-vpc")
    vswitch_id = cloud.plant_vswitch(vpc_id, zone_id="cn-hangzhou-h")
    body = {
        "name": "tok-cluster",
        "cluster_type": "ManagedKubernetes",
        "region_id": "cn-hangzhou",
        "vpcid": vpc_id,
        "vswitch_ids": [vswitch_id],
        "container_cidr": "172.20.0.0/16",
        "service_cidr": "172.21.0.0/20",
        "client_token": uuid.uuid4().hex,
    }
    cs = clients.cs()
    # By keyword: from_map would add deprecated empty lists (`taints: []`), which CreateCluster refuses.
    first = cs.create_cluster(cs_models.CreateClusterRequest(**body)).body
    again = cs.create_cluster(cs_models.CreateClusterRequest(**body)).body
    assert (first.cluster_id, first.task_id) == (again.cluster_id, again.task_id)
    assert len([c for c in cloud.clusters() if c.name == "tok-cluster"]) == 1


def test_a_repeat_while_the_first_create_is_processing_is_told_so_then_gets_the_same_vswitch(
    clients,  # type: ignore[no-untyped-def]
    cloud: SandboxCloud,
) -> None:
    """The first CreateVSwitch is slow (held 1 s); a repeat with its token meanwhile answers
    OperationFailed.IdempotentTokenProcessing, and once the first has answered the repeat returns its vSwitch."""
    vpc_id = cloud.plant_vpc("inflight-vpc", cidr_block="10.8.0.0/16")
    request = vpc_models.CreateVSwitchRequest(
        region_id="cn-hangzhou",
        vpc_id=vpc_id,
        zone_id="cn-hangzhou-h",
        cidr_block="10.8.1.0/24",
        client_token=uuid.uuid4().hex,
    )
    cloud.inject("CreateVSwitch", Fault.delay(1.0))
    first: list[str] = []
    slow = threading.Thread(target=lambda: first.append(clients.vpc().create_vswitch(request).body.v_switch_id))
    slow.start()
    time.sleep(0.3)
    with pytest.raises(ClientException) as raised:
        clients.vpc().create_vswitch(request)
    assert (raised.value.status_code, raised.value.code) == (400, "OperationFailed.IdempotentTokenProcessing")
    slow.join(10)
    again = clients.vpc().create_vswitch(request).body.v_switch_id
    assert first == [again]
    assert [s.vswitch_id for s in cloud.vswitches() if s.vpc_id == vpc_id] == [again]


def test_a_repeated_create_vpc_while_processing_answers_last_token_processing(
    clients,  # type: ignore[no-untyped-def]
    cloud: SandboxCloud,
) -> None:
    request = vpc_models.CreateVpcRequest(region_id="cn-hangzhou", cidr_block="10.9.0.0/16", client_token="t" * 32)
    cloud.inject("CreateVpc", Fault.delay(1.0))
    slow = threading.Thread(target=lambda: clients.vpc().create_vpc(request))
    slow.start()
    time.sleep(0.3)
    with pytest.raises(ClientException) as raised:
        clients.vpc().create_vpc(request)
    slow.join(10)
    assert raised.value.code == "LastTokenProcessing"
    assert len([v for v in cloud.vpcs() if v.cidr_block == "10.9.0.0/16"]) == 1
