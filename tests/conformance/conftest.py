"""The product's main flows, run once through a recording proxy to a sandbox of their own.

Every OpenAPI request the product sends on the way (create a cluster, reuse it by name, create an ACK Serverless
cluster, run a Job by cluster name, clean up) is recorded as it went on the wire, with the sandbox's answer.
The conformance tests hold those requests and answers to the installed SDKs and Alibaba's documentation.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from ack_compute.cloud.config import StaticCredentials
from ack_compute.sandbox import SandboxCloud
from ack_compute.server.runtime import Runtime
from ack_compute.server.settings import Settings
from ack_compute.tools.cleanup import CleanupReport, CleanupRequest
from ack_compute.tools.deploy_acs import DeployOutcome, DeployRequest
from ack_compute.tools.estimate_cost import estimate_cost
from ack_compute.tools.job_spec import JobOutcome, JobRequest
from ack_compute.tools.plans import AcsPlan, ClusterPlan, ServerlessPlan
from tests.conformance.recording_proxy import RecordingProxy
from tests.helpers.waiting import eventually, settle

PLAN = ClusterPlan(edition="pro", instance_types=["ecs.g7.xlarge"], node_count=1, zone="cn-hangzhou-h", hours=1)
SERVERLESS = ServerlessPlan(edition="pro", hours=1)
PODS = AcsPlan(replicas=1, vcpu=1, memory_gib=2, hours=1)
NAME = "acf-conformance"


@dataclass
class Flows:
    """The recorded exchanges, and which flow sent each (flow name -> [start, end) into `exchanges`)."""

    exchanges: list = field(default_factory=list)
    spans: dict[str, tuple[int, int]] = field(default_factory=dict)

    def of(self, flow: str) -> list:
        start, end = self.spans[flow]
        return self.exchanges[start:end]


def _finish(runtime: Runtime, operation_id: str, timeout: float = 120) -> dict:
    status = settle(runtime, operation_id, timeout)
    assert status.state == "succeeded", (status.stage, status.error)
    return status.result or {}


def _quote(runtime: Runtime, plan: ClusterPlan | ServerlessPlan | AcsPlan) -> str:
    token = estimate_cost(plan, default_region="cn-hangzhou", pricer=runtime.pricer, quotes=runtime.quotes).quote_token
    assert token
    return token


@pytest.fixture(scope="session")
def flow_cloud() -> Iterator[SandboxCloud]:
    with SandboxCloud(time_scale=600) as cloud:
        yield cloud


@pytest.fixture(scope="session")
def proxy(flow_cloud: SandboxCloud) -> Iterator[RecordingProxy]:
    running = RecordingProxy(flow_cloud.endpoint).start()
    yield running
    running.stop()


@pytest.fixture(scope="session")
def flows(flow_cloud: SandboxCloud, proxy: RecordingProxy, tmp_path_factory: pytest.TempPathFactory) -> Flows:
    settings = Settings(
        region="cn-hangzhou", state_dir=tmp_path_factory.mktemp("state"), endpoint=proxy.endpoint, protocol="http"
    )
    keys = StaticCredentials(access_key_id=flow_cloud.access_key_id, access_key_secret=flow_cloud.access_key_secret)
    runtime = Runtime.build(settings, keys)
    recorded = Flows()

    def span(name: str, start: int) -> None:
        recorded.spans[name] = (start, len(proxy.exchanges))

    start = len(proxy.exchanges)
    outcome = runtime.clusters.ensure(NAME, plan=PLAN, quote_token=_quote(runtime, PLAN))
    created = _finish(runtime, outcome.operation_id or "")
    assert created["status"] == "created", created
    span("create a cluster", start)

    start = len(proxy.exchanges)
    again = runtime.clusters.ensure(NAME)
    assert again.status == "reused" and again.cluster_id == created["cluster_id"], again
    span("reuse by name", start)

    start = len(proxy.exchanges)
    outcome = runtime.clusters.ensure(f"{NAME}-sls", plan=SERVERLESS, quote_token=_quote(runtime, SERVERLESS))
    assert _finish(runtime, outcome.operation_id or "")["status"] == "created"
    span("create an ACK Serverless cluster", start)

    start = len(proxy.exchanges)
    started = runtime.jobs.start(JobRequest(cluster=NAME, script="echo conformance"))
    job = JobOutcome.model_validate(_finish(runtime, started.operation_id or ""))
    assert job.status == "succeeded" and "conformance" in job.log, job
    span("run_job by cluster name", start)

    start = len(proxy.exchanges)
    request = DeployRequest(cluster=NAME, name="web", image="nginx:1.27", plan=PODS, quote_token=_quote(runtime, PODS))
    preparing = runtime.deployer.deploy(request)
    assert preparing.status == "preparing", preparing  # the new Pro cluster has no ack-virtual-node: installed first
    deployed = DeployOutcome.model_validate(_finish(runtime, preparing.operation_id or ""))
    assert deployed.status == "deployed", deployed
    span("deploy_acs installing ack-virtual-node first", start)

    start = len(proxy.exchanges)
    report = runtime.cleaner.start(CleanupRequest(dry_run=False))
    if report.operation_id:
        report = CleanupReport.model_validate(_finish(runtime, report.operation_id, timeout=300))
    assert {c.state for c in flow_cloud.clusters()} == {"deleted"}, report
    span("cleanup", start)

    recorded.exchanges = list(proxy.exchanges)
    return recorded


def _sdk_config(cloud: SandboxCloud, endpoint: str):  # type: ignore[no-untyped-def]
    from alibabacloud_credentials.client import Client as CredClient
    from alibabacloud_credentials.models import Config as CredConfig
    from alibabacloud_tea_openapi.models import Config

    credential = CredClient(
        CredConfig(type="access_key", access_key_id=cloud.access_key_id, access_key_secret=cloud.access_key_secret)
    )
    return Config(credential=credential, endpoint=endpoint, protocol="http", region_id="cn-hangzhou")


@pytest.fixture(scope="session")
def driven(flows: Flows, flow_cloud: SandboxCloud, proxy: RecordingProxy) -> list:
    """Through the same proxy, every route the flows did not reach, and each error the sandbox gives for a
    cluster, task, add-on, VPC, vSwitch, zone or price that is wrong: answers to hold to the documentation."""
    from alibabacloud_bssopenapi20171214 import models as bss_m
    from alibabacloud_bssopenapi20171214.client import Client as BssClient
    from alibabacloud_cs20151215 import models as cs_m
    from alibabacloud_cs20151215.client import Client as CsClient
    from alibabacloud_eci20180808 import models as eci_m
    from alibabacloud_eci20180808.client import Client as EciClient
    from alibabacloud_ecs20140526 import models as ecs_m
    from alibabacloud_ecs20140526.client import Client as EcsClient
    from alibabacloud_vpc20160428 import models as vpc_m
    from alibabacloud_vpc20160428.client import Client as VpcClient
    from Tea.exceptions import TeaException

    config = _sdk_config(flow_cloud, proxy.endpoint)
    cs, ecs, vpc, eci = CsClient(config), EcsClient(config), VpcClient(config), EciClient(config)
    bss = BssClient(config)
    start = len(proxy.exchanges)
    vpc_id = flow_cloud.plant_vpc("conformance-driven", cidr_block="192.168.0.0/16")
    vswitch_id = flow_cloud.plant_vswitch(vpc_id, zone_id="cn-hangzhou-h", cidr_block="192.168.1.0/24")
    cluster_id = flow_cloud.plant_cluster("conformance-driven", nodes=1, vswitch_id=vswitch_id)
    protected = flow_cloud.plant_cluster("conformance-protected", nodes=0, deletion_protection=True)

    def ok(call):  # type: ignore[no-untyped-def]
        return call()

    def fails(call) -> str:  # type: ignore[no-untyped-def]
        try:
            call()
        except TeaException as error:
            return str(error.code)
        raise AssertionError("the call was expected to fail")

    ok(lambda: cs.describe_regions(cs_m.DescribeRegionsRequest()))
    ok(lambda: cs.describe_cluster_node_pools(cluster_id, cs_m.DescribeClusterNodePoolsRequest()))
    scaling = cs_m.CreateClusterNodePoolRequestScalingGroup(
        vswitch_ids=[vswitch_id], instance_types=["ecs.g7.xlarge"], desired_size=1, key_pair="conformance"
    )
    pool = cs_m.CreateClusterNodePoolRequest(
        nodepool_info=cs_m.CreateClusterNodePoolRequestNodepoolInfo(name="extra"), scaling_group=scaling
    )
    pool_id = ok(lambda: cs.create_cluster_node_pool(cluster_id, pool)).body.nodepool_id

    def pool_settles() -> None:  # a pool settles in well under a second on the 600x clock
        eventually(
            lambda: cs.describe_cluster_node_pool_detail(cluster_id, pool_id).body.status.state == "active",
            interval=0.05,
            what="the node pool to become active",
        )

    pool_settles()
    resize = cs_m.ModifyClusterNodePoolRequest(
        scaling_group=cs_m.ModifyClusterNodePoolRequestScalingGroup(desired_size=2)
    )
    ok(lambda: cs.modify_cluster_node_pool(cluster_id, pool_id, resize))
    pool_settles()
    nodes = ok(
        lambda: cs.describe_cluster_nodes(cluster_id, cs_m.DescribeClusterNodesRequest(nodepool_id=pool_id))
    ).body.nodes
    remove = cs_m.RemoveNodePoolNodesRequest(instance_ids=[nodes[0].instance_id], drain_node=True, release_node=True)
    ok(lambda: cs.remove_node_pool_nodes(cluster_id, pool_id, remove))
    pool_settles()
    ok(lambda: cs.delete_cluster_nodepool(cluster_id, pool_id, cs_m.DeleteClusterNodepoolRequest(force=True)))
    ok(lambda: cs.get_cluster_addon_instance(cluster_id, "coredns"))
    ok(lambda: cs.list_cluster_addon_instances(cluster_id))
    ok(lambda: cs.revoke_k8s_cluster_kube_config(cluster_id))
    install = cs_m.InstallClusterAddonsRequest(
        body=[cs_m.InstallClusterAddonsRequestBody(name="arms-prometheus", version="1.1.31")]
    )
    task = ok(lambda: cs.install_cluster_addons(cluster_id, install)).body.task_id
    ok(lambda: cs.describe_task_info(task))
    eventually(  # the add-on goes active on the 600x clock
        lambda: cs.get_cluster_addon_instance(cluster_id, "arms-prometheus").body.state == "active",
        what="arms-prometheus to become active",
    )
    upgrade = cs_m.UpgradeClusterAddonsRequest(
        body=[
            cs_m.UpgradeClusterAddonsRequestBody(
                component_name="arms-prometheus", version="1.1.31", next_version="1.1.32"
            )
        ]
    )
    ok(lambda: cs.upgrade_cluster_addons(cluster_id, upgrade))
    ok(lambda: ecs.describe_instance_types(ecs_m.DescribeInstanceTypesRequest(instance_types=["ecs.g7.xlarge"])))
    group = ok(
        lambda: ecs.create_security_group(
            ecs_m.CreateSecurityGroupRequest(region_id="cn-hangzhou", vpc_id=vpc_id, security_group_name="conformance")
        )
    ).body.security_group_id
    ok(lambda: ecs.describe_security_groups(ecs_m.DescribeSecurityGroupsRequest(region_id="cn-hangzhou")))
    ok(
        lambda: ecs.delete_security_group(
            ecs_m.DeleteSecurityGroupRequest(region_id="cn-hangzhou", security_group_id=group)
        )
    )
    ok(
        lambda: eci.describe_container_group_price(
            eci_m.DescribeContainerGroupPriceRequest(region_id="cn-hangzhou", cpu=2.0, memory=4.0)
        )
    )
    cycle = datetime.now(UTC).strftime("%Y-%m")
    flow_cloud.bill_lag_seconds = 0  # so the bill has lines to check against the response model
    ok(lambda: bss.describe_instance_bill(bss_m.DescribeInstanceBillRequest(billing_cycle=cycle, max_results=300)))
    flow_cloud.deny_bills()
    denied = fails(lambda: bss.describe_instance_bill(bss_m.DescribeInstanceBillRequest(billing_cycle=cycle)))
    flow_cloud.deny_bills(False)
    assert denied == "NoPermission"

    codes = {
        "ErrorClusterNotFound": fails(lambda: cs.describe_cluster_detail("c0000000000000000000000000000000")),
        "ErrorTaskNotFound": fails(lambda: cs.describe_task_info("T-doesnotexist")),
        "AddonNotFound": fails(lambda: cs.get_cluster_addon_instance(cluster_id, "not-installed")),
        "ErrorNodePoolNotFound": fails(lambda: cs.describe_cluster_node_pool_detail(cluster_id, "np-missing")),
        "ErrorClusterDeletionProtection": fails(lambda: cs.delete_cluster(protected, cs_m.DeleteClusterRequest())),
        "InvalidParameter": fails(lambda: cs.create_cluster(cs_m.CreateClusterRequest(name="x", zone_id="z"))),
        "InvalidAction.NotFound": fails(lambda: cs.describe_clusters_v1(cs_m.DescribeClustersV1Request())),
        "InvalidVpcId.NotFound": fails(lambda: vpc.delete_vpc(vpc_m.DeleteVpcRequest(vpc_id="vpc-doesnotexist"))),
        "InvalidVSwitchId.NotFound": fails(
            lambda: vpc.delete_vswitch(vpc_m.DeleteVSwitchRequest(v_switch_id="vsw-doesnotexist"))
        ),
        "InvalidZoneId.NotFound": fails(
            lambda: vpc.create_vswitch(
                vpc_m.CreateVSwitchRequest(
                    region_id="cn-hangzhou", vpc_id=vpc_id, cidr_block="192.168.9.0/24", zone_id="cn-beijing-h"
                )
            )
        ),
        "DependencyViolation.VSwitch": fails(lambda: vpc.delete_vpc(vpc_m.DeleteVpcRequest(vpc_id=vpc_id))),
        "InvalidPriceUnit.ValueNotSupported": fails(
            lambda: ecs.describe_price(
                ecs_m.DescribePriceRequest(region_id="cn-hangzhou", instance_type="ecs.g7.xlarge", price_unit="Decade")
            )
        ),
        "Invalid.DestinationResource": fails(
            lambda: ecs.describe_available_resource(
                ecs_m.DescribeAvailableResourceRequest(region_id="cn-hangzhou", destination_resource="Nothing")
            )
        ),
    }
    assert {want: got for want, got in codes.items() if want != got} == {}
    return list(proxy.exchanges[start:])
