"""CreateCluster and CreateClusterNodePool bodies: parsed leniently at the boundary, then checked by the API's rules.

The rules come from the CreateCluster reference: name 1-63 of digits, letters, CJK or '-' not starting with '-';
node counts in [0, 100]; system disks in [40, 500] GiB; pod and service CIDRs private and overlapping neither
each other, the VPC nor other clusters in it; 1-3 vSwitches of that VPC; a login password of 8-30 characters
with three character classes, or a key pair; instance types the catalog knows. Serverless clusters (profile
`Serverless`) take no worker fields and get virtual nodes instead. Add-ons come from a small catalog of the real
names and current versions; the request's `addons` add to, configure or disable a profile's defaults.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ack_compute.sandbox import cidr, ids
from ack_compute.sandbox.cs.exceptions import cs_invalid
from ack_compute.sandbox.cs.models.addons import network_addon, plan_cluster_addons
from ack_compute.sandbox.cs.models.bodies import CreateClusterIn
from ack_compute.sandbox.cs.models.network import check_region, check_vswitch, cluster_cidrs
from ack_compute.sandbox.cs.models.nodepools import cluster_nodepools, validate_tags
from ack_compute.sandbox.world import (
    Cluster,
    World,
)

NAME_PATTERN = re.compile(r"[0-9A-Za-z\u4e00-\u9fff][0-9A-Za-z\u4e00-\u9fff-]{0,62}")
CLUSTER_SPECS = ("ack.standard", "ack.pro.small")
PROFILES = ("Default", "Serverless")
KUBERNETES_VERSIONS = ("1.33.3-aliyun.1", "1.32.7-aliyun.1", "1.31.9-aliyun.1")
MAX_VSWITCHES = 3
SERVICE_DISCOVERY_TYPES = ("CoreDNS", "PrivateZone")
LOGGING_TYPES = ("SLS",)


@dataclass(frozen=True)
class ClusterPlan:
    """A validated CreateCluster: the cluster record to register and whether ACK must make its security group."""

    cluster: Cluster
    create_security_group: bool
    enterprise_security_group: bool


def plan_cluster(body: CreateClusterIn, world: World) -> ClusterPlan:
    """Every CreateCluster rule, in the order a caller most usefully learns about them; call under the world lock."""
    name = _cluster_name(body.name)
    if body.cluster_type != "ManagedKubernetes":
        raise cs_invalid(f"cluster_type {body.cluster_type!r} is not supported, use ManagedKubernetes")
    region_id = check_region(body.region_id, world)
    cluster_spec = body.cluster_spec or "ack.standard"
    if cluster_spec not in CLUSTER_SPECS:
        raise cs_invalid(f"cluster_spec {cluster_spec!r} is not valid, use one of {', '.join(CLUSTER_SPECS)}")
    profile = body.profile or "Default"
    if profile not in PROFILES:
        raise cs_invalid(f"profile {profile!r} is not valid, use one of {', '.join(PROFILES)}")
    version = kubernetes_version(body.kubernetes_version)
    zones = world.catalog.regions[region_id].zones
    zone_id = body.zone_id or body.zoneid
    if zone_id is not None and zone_id not in zones:
        raise cs_invalid(f"zone_id {zone_id} is not a zone of region {region_id}")
    if profile == "Serverless":
        _serverless_fields(body)
    if body.vpcid is None:
        raise cs_invalid("vpcid is required")
    vpc = world.live_vpc(body.vpcid)
    if vpc is None or vpc.region_id != region_id:
        raise cs_invalid(f"vpc {body.vpcid} does not exist in region {region_id}")
    if vpc.status != "Available":
        raise cs_invalid(f"vpc {body.vpcid} is {vpc.status}, wait until it is Available")
    if not 1 <= len(body.vswitch_ids) <= MAX_VSWITCHES:
        raise cs_invalid(f"vswitch_ids must list 1 to {MAX_VSWITCHES} vSwitches")
    vswitches = [check_vswitch(world, vswitch_id, vpc.vpc_id, "vswitch_ids") for vswitch_id in body.vswitch_ids]
    for vswitch_id in body.pod_vswitch_ids:
        check_vswitch(world, vswitch_id, vpc.vpc_id, "pod_vswitch_ids")
    network = network_addon(body, profile)
    terway = network is not None and network.startswith("terway")
    vpc_block = cidr.IPv4Network(vpc.cidr_block)
    container, service = cluster_cidrs(body, profile, terway, vpc.vpc_id, vpc_block, world)
    security_group_id = body.security_group_id
    if security_group_id is not None:
        group = world.live_security_group(security_group_id)
        if group is None or group.vpc_id != vpc.vpc_id:
            raise cs_invalid(f"security_group_id {security_group_id} does not exist in vpc {vpc.vpc_id}")
    tags = validate_tags(body.tags, "tags")
    now = world.clock.now()
    cluster = Cluster(
        cluster_id=ids.cluster_id(),
        name=name,
        region_id=region_id,
        zone_id=zone_id or vswitches[0].zone_id,
        cluster_spec=cluster_spec,
        profile=profile,
        kubernetes_version=version,
        vpc_id=vpc.vpc_id,
        vswitch_ids=list(body.vswitch_ids),
        # pod_vswitch_ids is deprecated (SDK mark, refused in cs/models/clusters.py) and names no replacement; a Terway
        # cluster asked for through `addons` gives its pods IPs from the cluster's own vSwitches here.
        pod_vswitch_ids=list(body.pod_vswitch_ids or (body.vswitch_ids if terway else [])),
        container_cidr=container,
        service_cidr=service,
        security_group_id=security_group_id,
        deletion_protection=body.deletion_protection,
        endpoint_public_access=body.endpoint_public_access,
        snat_entry=body.snat_entry,
        resource_group_id=ids.resource_group_id(),
        tags=tags,
        created=now,
        updated=now,
    )
    if profile == "Default":
        cluster.nodepools = cluster_nodepools(body, cluster, world)
    cluster.addons = plan_cluster_addons(body.addons, cluster, network, body.service_discovery_types)
    enterprise = body.is_enterprise_security_group is not False
    return ClusterPlan(cluster, security_group_id is None, enterprise)


def kubernetes_version(requested: str | None) -> str:
    """A supported ACK version; `1.31`, `1.31.9` and `1.31.9-aliyun.1` all name the same one."""
    if requested is None:
        return KUBERNETES_VERSIONS[0]
    for version in KUBERNETES_VERSIONS:
        bare = version.split("-", 1)[0]
        if requested in (version, bare, bare.rsplit(".", 1)[0]):
            return version
    raise cs_invalid(f"kubernetes_version {requested} is not supported, use one of {', '.join(KUBERNETES_VERSIONS)}")


def _cluster_name(name: str | None) -> str:
    if not name:
        raise cs_invalid("name is required")
    if NAME_PATTERN.fullmatch(name) is None:
        raise cs_invalid(
            f"name {name!r} is not valid: use 1-63 digits, letters, Chinese characters or hyphens, "
            "not starting with a hyphen"
        )
    return name


def _serverless_fields(body: CreateClusterIn) -> None:
    """Serverless clusters run pods on virtual nodes: no worker fields; discovery and logging from short lists."""
    if body.nodepools or (body.num_of_nodes or 0) > 0 or body.worker_instance_types:
        raise cs_invalid(
            "Serverless clusters have no worker nodes: leave nodepools, num_of_nodes and worker_instance_types out"
        )
    for kind in body.service_discovery_types:
        if kind not in SERVICE_DISCOVERY_TYPES:
            raise cs_invalid(
                f"service_discovery_types: {kind!r} is not valid, use {' or '.join(SERVICE_DISCOVERY_TYPES)}"
            )
    if body.logging_type and body.logging_type not in LOGGING_TYPES:
        raise cs_invalid(f"logging_type {body.logging_type!r} is not valid, use SLS")
