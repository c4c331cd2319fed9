"""ClientToken idempotency: a create retried with the same token returns what the first call made,
which is what lets a crashed creator resume without creating twice."""

from __future__ import annotations

import uuid

from alibabacloud_cs20151215 import models as cs_models
from alibabacloud_vpc20160428 import models as vpc_models

from ack_compute.sandbox import SandboxCloud


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
