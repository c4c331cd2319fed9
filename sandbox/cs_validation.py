"""CreateCluster and CreateClusterNodePool bodies: parsed leniently at the boundary, then checked by the API's rules.

The rules come from the CreateCluster reference: name 1-63 of digits, letters, CJK or '-' not starting with '-';
node counts in [0, 100]; system disks in [40, 500] GiB; pod and service CIDRs private and overlapping neither
each other, the VPC nor other clusters in it; 1-3 vSwitches of that VPC; a login password of 8-30 characters
with three character classes, or a key pair; instance types the catalog knows. Serverless clusters (profile
`Serverless`) take no worker fields and get virtual nodes instead. Add-ons come from a small catalog of the real
names and current versions; the request's `addons` add to, configure or disable a profile's defaults.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from ack_compute.sandbox import cidr, ids
from ack_compute.sandbox.errors import ApiError, cs_invalid
from ack_compute.sandbox.world import (
    AddonInstance,
    AddonState,
    Cluster,
    DataDisk,
    NodePool,
    Tag,
    Taint,
    VSwitch,
    World,
)

NAME_PATTERN = re.compile(r"[0-9A-Za-z\u4e00-\u9fff][0-9A-Za-z\u4e00-\u9fff-]{0,62}")
NODEPOOL_NAME_PATTERN = re.compile(r"[0-9A-Za-z\u4e00-\u9fff][0-9A-Za-z\u4e00-\u9fff_.-]{0,62}")
CLUSTER_SPECS = ("ack.standard", "ack.pro.small")
PROFILES = ("Default", "Serverless")
KUBERNETES_VERSIONS = ("1.33.3-aliyun.1", "1.32.7-aliyun.1", "1.31.9-aliyun.1")
MAX_NODES = 100
SYSTEM_DISK_GIB = (40, 500)
DATA_DISK_GIB = (40, 32768)
MAX_VSWITCHES = 3
MAX_TAGS = 20
PASSWORD_LENGTH = (8, 30)
PASSWORD_SPECIALS = set("()`~!@#$%^&*-_+=|{}[]:;'<>,.?/")
CONTAINER_CIDR_PREFIX = (8, 24)
SERVICE_CIDR_PREFIX = (16, 24)
DEFAULT_SERVICE_CIDR = "172.21.0.0/20"
DEFAULT_SYSTEM_DISK = ("cloud_essd", 120)
ESSD_LEVELS = ("PL0", "PL1", "PL2", "PL3")
EXTRA_DISK_CATEGORIES = ("cloud_auto", "cloud_essd_entry")
SERVICE_DISCOVERY_TYPES = ("CoreDNS", "PrivateZone")
LOGGING_TYPES = ("SLS",)

VIRTUAL_NODE_ADDON = "ack-virtual-node"
NETWORK_ADDONS = ("flannel", "terway-eni", "terway-eniip")
KUBE_PROXY_ADDON = "kube-proxy-worker"
# The add-ons the sandbox offers and the version each installs by default (what ListAddons would call current).
# kube-proxy follows the cluster's Kubernetes version; coredns matches the pod the Kubernetes API is seeded with.
ADDON_VERSIONS: dict[str, str] = {
    "coredns": "v1.11.3.2-f57ea7ed6-aliyun",
    "metrics-server": "v0.3.9.7-4ca6ed1-aliyun",
    KUBE_PROXY_ADDON: "",
    "csi-plugin": "v1.33.1-67e8986-aliyun",
    "csi-provisioner": "v1.33.1-67e8986-aliyun",
    "managed-csiprovisioner": "v1.33.1-67e8986-aliyun",
    "storage-operator": "v1.33.1-67e8986-aliyun",
    "flannel": "v0.15.1.22-20a397e6-aliyun",
    "terway-eni": "v1.13.4",
    "terway-eniip": "v1.13.4",
    "ack-node-problem-detector": "1.2.24",
    "nginx-ingress-controller": "v1.12.1-aliyun.1",
    "logtail-ds": "v1.8.8.0-aliyun",
    "loongcollector": "v3.0.12.0-aliyun",
    "arms-prometheus": "1.1.31",
    VIRTUAL_NODE_ADDON: "v2.15.8",
}
# What a new cluster gets without asking, besides its network plugin; Serverless clusters have virtual nodes built in.
DEFAULT_ADDONS = (
    "coredns",
    "metrics-server",
    KUBE_PROXY_ADDON,
    "csi-plugin",
    "managed-csiprovisioner",
    "ack-node-problem-detector",
)
SERVERLESS_ADDONS = ("coredns", "metrics-server", VIRTUAL_NODE_ADDON)
# Add-ons that need a minimum version from some Kubernetes version on: ack-virtual-node v2.13.0 for 1.26 and later.
ADDON_MINIMUMS: dict[str, tuple[tuple[int, ...], str]] = {VIRTUAL_NODE_ADDON: ((1, 26), "v2.13.0")}
ADDON_VERSION_PATTERN = re.compile(r"v?\d+(\.\d+){1,3}([.-][0-9A-Za-z.-]+)?")

_M = TypeVar("_M", bound=BaseModel)


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class TagIn(_Body):
    key: str | None = None
    value: str | None = None


class TaintIn(_Body):
    key: str
    value: str | None = None
    effect: str | None = None


class DataDiskIn(_Body):
    category: str | None = None
    size: int | None = None
    performance_level: str | None = None


class ScalingGroupIn(_Body):
    vswitch_ids: list[str] = []
    instance_types: list[str] = []
    desired_size: int | None = None
    system_disk_category: str | None = None
    system_disk_size: int | None = None
    system_disk_performance_level: str | None = None
    data_disks: list[DataDiskIn] = []
    instance_charge_type: str | None = None
    image_type: str | None = None
    login_password: str | None = None
    key_pair: str | None = None
    security_group_id: str | None = None
    tags: list[TagIn] = []


class NodepoolInfoIn(_Body):
    name: str | None = None
    type: str | None = None


class KubernetesConfigIn(_Body):
    labels: list[TagIn] = []
    taints: list[TaintIn] = []


class AddonIn(_Body):
    """An entry of CreateCluster's `addons` or of InstallClusterAddons' body."""

    name: str | None = None
    version: str | None = None
    config: str | None = None
    disabled: bool | None = None


class AddonUpgradeIn(_Body):
    """An entry of UpgradeClusterAddons' body."""

    component_name: str | None = None
    version: str | None = None
    next_version: str | None = None
    config: str | None = None
    policy: str | None = None


class NodepoolIn(_Body):
    nodepool_info: NodepoolInfoIn | None = None
    scaling_group: ScalingGroupIn | None = None
    kubernetes_config: KubernetesConfigIn | None = None
    count: int | None = None


class CreateClusterIn(_Body):
    client_token: str | None = None
    name: str | None = None
    region_id: str | None = None
    zone_id: str | None = None
    zoneid: str | None = None
    cluster_type: str | None = None
    cluster_spec: str | None = None
    profile: str | None = None
    kubernetes_version: str | None = None
    vpcid: str | None = None
    vswitch_ids: list[str] = []
    worker_vswitch_ids: list[str] = []
    pod_vswitch_ids: list[str] = []
    container_cidr: str | None = None
    service_cidr: str | None = None
    security_group_id: str | None = None
    is_enterprise_security_group: bool | None = None
    snat_entry: bool = False
    endpoint_public_access: bool = False
    deletion_protection: bool = False
    login_password: str | None = None
    key_pair: str | None = None
    tags: list[TagIn] = []
    nodepools: list[NodepoolIn] = []
    num_of_nodes: int | None = None
    worker_instance_types: list[str] = []
    worker_system_disk_category: str | None = None
    worker_system_disk_size: int | None = None
    worker_system_disk_performance_level: str | None = None
    worker_data_disks: list[DataDiskIn] = []
    worker_instance_charge_type: str | None = None
    image_type: str | None = None
    taints: list[TaintIn] = []
    addons: list[AddonIn] = []
    service_discovery_types: list[str] = []
    logging_type: str | None = None
    private_zone: bool | None = None


def parse_body(model: type[_M], body: bytes) -> _M:
    """The JSON body as `model`, or InvalidParameter naming the first field that does not fit."""
    try:
        data: Any = json.loads(body or b"{}")
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise cs_invalid("the request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise cs_invalid("the request body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "body"
        raise cs_invalid(f"{field} is not valid: {first['msg']}") from None


def parse_list(model: type[_M], body: bytes) -> list[_M]:
    """A JSON array body (InstallClusterAddons, UpgradeClusterAddons) as a list of `model`."""
    try:
        data: Any = json.loads(body or b"[]")
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise cs_invalid("the request body is not valid JSON") from None
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise cs_invalid("the request body must be a JSON array of objects")
    try:
        return [model.model_validate(item) for item in data]
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "body"
        raise cs_invalid(f"{field} is not valid: {first['msg']}") from None


@dataclass(frozen=True)
class ClusterPlan:
    """A validated CreateCluster: the cluster record to register and whether ACK must make its security group."""

    cluster: Cluster
    create_security_group: bool
    enterprise_security_group: bool


@dataclass(frozen=True)
class _Credentials:
    password: str | None
    key_pair: str | None


def plan_cluster(body: CreateClusterIn, world: World) -> ClusterPlan:
    """Every CreateCluster rule, in the order a caller most usefully learns about them; call under the world lock."""
    name = _cluster_name(body.name)
    if body.cluster_type != "ManagedKubernetes":
        raise cs_invalid(f"cluster_type {body.cluster_type!r} is not supported, use ManagedKubernetes")
    region_id = _region(body.region_id, world)
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
    vswitches = [_vswitch(world, vswitch_id, vpc.vpc_id, "vswitch_ids") for vswitch_id in body.vswitch_ids]
    for vswitch_id in body.pod_vswitch_ids:
        _vswitch(world, vswitch_id, vpc.vpc_id, "pod_vswitch_ids")
    network = _network_addon(body, profile)
    terway = network is not None and network.startswith("terway")
    vpc_block = cidr.IPv4Network(vpc.cidr_block)
    container, service = _cluster_cidrs(body, profile, terway, vpc.vpc_id, vpc_block, world)
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
        # pod_vswitch_ids is deprecated (SDK mark, refused in cs_clusters.py) and names no replacement; a Terway
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
        cluster.nodepools = _cluster_nodepools(body, cluster, world)
    cluster.addons = plan_cluster_addons(body.addons, cluster, network, body.service_discovery_types)
    enterprise = body.is_enterprise_security_group is not False
    return ClusterPlan(cluster, security_group_id is None, enterprise)


def plan_nodepool(body: NodepoolIn, cluster: Cluster, world: World, *, is_default: bool = False) -> NodePool:
    """A node pool added to a running cluster; its vSwitches must belong to the cluster's VPC."""
    return _nodepool(body, cluster, world, is_default=is_default, fallback=_Credentials(None, None))


def kubernetes_version(requested: str | None) -> str:
    """A supported ACK version; `1.31`, `1.31.9` and `1.31.9-aliyun.1` all name the same one."""
    if requested is None:
        return KUBERNETES_VERSIONS[0]
    for version in KUBERNETES_VERSIONS:
        bare = version.split("-", 1)[0]
        if requested in (version, bare, bare.rsplit(".", 1)[0]):
            return version
    raise cs_invalid(f"kubernetes_version {requested} is not supported, use one of {', '.join(KUBERNETES_VERSIONS)}")


def validate_tags(tags: list[TagIn], field: str) -> list[Tag]:
    if len(tags) > MAX_TAGS:
        raise cs_invalid(f"{field} can hold at most {MAX_TAGS} tags")
    seen: set[str] = set()
    checked = []
    for tag in tags:
        key, value = tag.key or "", tag.value or ""
        if not key or len(key) > 128 or len(value) > 128:
            raise cs_invalid(f"{field}: tag keys must be 1-128 characters and values at most 128")
        if key.startswith(("aliyun", "acs:")):
            raise cs_invalid(f"{field}: tag key {key} must not start with aliyun or acs:")
        if key in seen:
            raise cs_invalid(f"{field}: tag key {key} is repeated")
        seen.add(key)
        checked.append(Tag(key=key, value=value))
    return checked


def plan_cluster_addons(
    requested: list[AddonIn], cluster: Cluster, network: str | None, discovery: list[str]
) -> list[AddonInstance]:
    """The add-ons a new cluster starts with (state `initial` until it runs): the profile's defaults and network
    plugin, then the request's `addons`, which may add catalog add-ons, pick versions and configs, or disable."""
    serverless = cluster.profile == "Serverless"
    names = list(SERVERLESS_ADDONS if serverless else DEFAULT_ADDONS)
    if serverless and discovery and "CoreDNS" not in discovery:
        names.remove("coredns")
    if network is not None:
        names.append(network)
    chosen: dict[str, AddonIn] = {name: AddonIn(name=name) for name in names}
    seen: set[str] = set()
    for item in requested:
        name = _addon_name(item.name, "addons", seen)
        if serverless and (name in NETWORK_ADDONS or name == KUBE_PROXY_ADDON):
            raise cs_invalid(f"addons: {name} does not apply to Serverless clusters")
        if item.disabled and name == network:
            raise cs_invalid(f"addons: the network plugin {name} cannot be disabled, a cluster needs one")
        if item.disabled:
            chosen.pop(name, None)
        else:
            chosen[name] = item
    return [
        _addon_instance(item, cluster, f"addons: {name}", state="initial", now=cluster.created)
        for name, item in chosen.items()
    ]


def plan_addon_install(items: list[AddonIn], cluster: Cluster, now: datetime) -> list[AddonInstance]:
    """InstallClusterAddons: catalog add-ons with a version each, none installed yet; call under the world lock."""
    if not items:
        raise cs_invalid("the request body must list at least one addon to install")
    seen: set[str] = set()
    planned = []
    for item in items:
        name = _addon_name(item.name, "body", seen)
        if not item.version:
            raise cs_invalid(f"version is required for addon {name}")
        installed = cluster.addon(name)
        if installed is not None:
            raise cs_invalid(
                f"addon {name} is already installed in cluster {cluster.cluster_id} at version {installed.version}, "
                "upgrade it with UpgradeClusterAddons"
            )
        if cluster.profile == "Serverless" and (name in NETWORK_ADDONS or name == KUBE_PROXY_ADDON):
            raise cs_invalid(f"addon {name} does not apply to Serverless clusters")
        if name in NETWORK_ADDONS and any(cluster.addon(other) for other in NETWORK_ADDONS):
            raise cs_invalid(f"cluster {cluster.cluster_id} already has a network plugin, {name} cannot be added")
        planned.append(_addon_instance(item, cluster, f"addon {name}", state="initial", now=now))
    return planned


def plan_addon_upgrade(items: list[AddonUpgradeIn], cluster: Cluster) -> list[tuple[str, str, str | None]]:
    """UpgradeClusterAddons: (name, next version, new config or None) for installed, idle add-ons moving forward."""
    if not items:
        raise cs_invalid("the request body must list at least one addon to upgrade")
    seen: set[str] = set()
    planned = []
    for item in items:
        name = item.component_name or ""
        if not name:
            raise cs_invalid("component_name is required for every addon")
        if name in seen:
            raise cs_invalid(f"addon {name} is listed more than once")
        seen.add(name)
        installed = cluster.addon(name)
        if installed is None:
            raise addon_not_found(cluster.cluster_id, name)
        if installed.state != "active":
            raise cs_invalid(f"addon {name} is {installed.state}, wait until it is active")
        if item.version and item.version != installed.version:
            raise cs_invalid(f"version {item.version} is not the installed version {installed.version} of {name}")
        if not item.next_version:
            raise cs_invalid(f"next_version is required for addon {name}")
        target = _addon_version(item.next_version, f"addon {name} next_version")
        if version_key(target) <= version_key(installed.version):
            raise cs_invalid(f"next_version {target} of {name} is not newer than the installed {installed.version}")
        _addon_minimum(name, target, cluster.kubernetes_version)
        config = _addon_config(item.config, f"addon {name} config") if item.config is not None else None
        planned.append((name, target, config))
    return planned


def addon_not_found(cluster_id: str, name: str) -> ApiError:
    """The code the real API answers for an add-on the cluster does not have (seen in the Terraform provider)."""
    return ApiError(404, "AddonNotFound", f"addon {name} is not installed in cluster {cluster_id}")


def default_addon_version(name: str, cluster_version: str) -> str:
    """The version an add-on installs when none is asked for; kube-proxy follows the cluster."""
    return ADDON_VERSIONS.get(name) or f"v{cluster_version}"


def version_key(version: str) -> tuple[int, ...]:
    """`v2.13.0` and `1.33.3-aliyun.1` compare by their leading numbers: (2, 13, 0) and (1, 33, 3)."""
    match = re.match(r"v?(\d+(?:\.\d+)*)", version)
    return tuple(int(part) for part in match.group(1).split(".")) if match else ()


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


def _network_addon(body: CreateClusterIn, profile: str) -> str | None:
    """Flannel or Terway, from `addons` or else from pod_vswitch_ids; Serverless clusters have none to choose."""
    asked = [item.name for item in body.addons if item.name in NETWORK_ADDONS and not item.disabled]
    if profile == "Serverless":
        return None
    if len(asked) > 1:
        raise cs_invalid(f"addons: choose one network plugin, not {' and '.join(str(name) for name in asked)}")
    if not asked:
        return "terway-eniip" if body.pod_vswitch_ids else "flannel"
    network = str(asked[0])
    if network == "flannel" and body.pod_vswitch_ids:
        raise cs_invalid("pod_vswitch_ids applies to Terway clusters only, not flannel")
    return network


def _addon_name(name: str | None, field: str, seen: set[str]) -> str:
    if not name:
        raise cs_invalid(f"{field}: every addon needs a name")
    if name not in ADDON_VERSIONS:
        raise cs_invalid(f"{field}: addon {name} is not available, use one of {', '.join(sorted(ADDON_VERSIONS))}")
    if name in seen:
        raise cs_invalid(f"{field}: addon {name} is listed more than once")
    seen.add(name)
    return name


def _addon_instance(item: AddonIn, cluster: Cluster, field: str, *, state: AddonState, now: datetime) -> AddonInstance:
    name = item.name or ""
    version = _addon_version(item.version, f"{field} version") if item.version else None
    version = version or default_addon_version(name, cluster.kubernetes_version)
    _addon_minimum(name, version, cluster.kubernetes_version)
    config = _addon_config(item.config, f"{field} config")
    return AddonInstance(name=name, version=version, state=state, config=config, created=now, updated=now)


def _addon_version(version: str, field: str) -> str:
    if ADDON_VERSION_PATTERN.fullmatch(version) is None:
        raise cs_invalid(f"{field} {version!r} is not a valid version, for example v2.13.0")
    return version


def _addon_minimum(name: str, version: str, cluster_version: str) -> None:
    """Seed 003: on Kubernetes 1.26 and later, ack-virtual-node must be v2.13.0 or later."""
    rule = ADDON_MINIMUMS.get(name)
    if rule is None:
        return
    from_kubernetes, minimum = rule
    if version_key(cluster_version)[:2] >= from_kubernetes and version_key(version) < version_key(minimum):
        raise cs_invalid(
            f"{name} {version} does not support Kubernetes {cluster_version.split('-', 1)[0]}, use {minimum} or later"
        )


def _addon_config(config: str | None, field: str) -> str:
    """Add-on configs are JSON objects sent as strings; empty means the defaults."""
    if not config:
        return ""
    try:
        parsed = json.loads(config)
    except json.JSONDecodeError:
        parsed = None
    if not isinstance(parsed, dict):
        raise cs_invalid(f"{field} must be a JSON object encoded as a string")
    return config


def _region(region_id: str | None, world: World) -> str:
    if not region_id:
        raise cs_invalid("region_id is required")
    if region_id not in world.catalog.regions:
        raise cs_invalid(f"region_id {region_id} is not a region ACK serves")
    return region_id


def _vswitch(world: World, vswitch_id: str, vpc_id: str, field: str) -> VSwitch:
    vswitch = world.live_vswitch(vswitch_id)
    if vswitch is None or vswitch.vpc_id != vpc_id:
        raise cs_invalid(f"{field}: vswitch {vswitch_id} does not exist in vpc {vpc_id}")
    if vswitch.status != "Available":
        raise cs_invalid(f"{field}: vswitch {vswitch_id} is {vswitch.status}, wait until it is Available")
    return vswitch


def _cluster_cidrs(
    body: CreateClusterIn, profile: str, terway: bool, vpc_id: str, vpc_block: cidr.IPv4Network, world: World
) -> tuple[str | None, str]:
    """Pod and service CIDRs: private, apart from each other, the VPC and every other cluster in the VPC."""
    neighbours = [
        block
        for other in world.active_clusters()
        if other.vpc_id == vpc_id
        for text in (other.container_cidr, other.service_cidr)
        if (block := cidr.parse(text)) is not None
    ]
    container = None
    if body.container_cidr is not None or (profile == "Default" and not terway):
        if body.container_cidr is None:
            raise cs_invalid("container_cidr is required for Flannel clusters (no pod_vswitch_ids)")
        container = cidr.parse(body.container_cidr)
        if container is None or not cidr.private(container, *CONTAINER_CIDR_PREFIX):
            raise cs_invalid(
                f"container_cidr {body.container_cidr} must be a private block (10.0.0.0/8, 172.16.0.0/12, "
                f"192.168.0.0/16 or a subnet) with a mask of /{CONTAINER_CIDR_PREFIX[0]} to /{CONTAINER_CIDR_PREFIX[1]}"
            )
    if body.service_cidr is None and profile == "Default":
        raise cs_invalid("service_cidr is required")
    service_text = body.service_cidr or DEFAULT_SERVICE_CIDR
    service = cidr.parse(service_text)
    if service is None or not cidr.private(service, *SERVICE_CIDR_PREFIX):
        raise cs_invalid(
            f"service_cidr {service_text} must be a private block with a mask of "
            f"/{SERVICE_CIDR_PREFIX[0]} to /{SERVICE_CIDR_PREFIX[1]}"
        )
    if container is not None:
        if container.overlaps(vpc_block):
            raise cs_invalid(f"container_cidr {container} overlaps the VPC CIDR block {vpc_block}")
        if container.overlaps(service):
            raise cs_invalid(f"container_cidr {container} overlaps service_cidr {service}")
        if cidr.overlaps_any(container, neighbours):
            raise cs_invalid(f"container_cidr {container} overlaps the CIDR of another cluster in the VPC")
    if service.overlaps(vpc_block):
        raise cs_invalid(f"service_cidr {service} overlaps the VPC CIDR block {vpc_block}")
    if cidr.overlaps_any(service, neighbours):
        raise cs_invalid(f"service_cidr {service} overlaps the CIDR of another cluster in the VPC")
    return (str(container) if container is not None else None), str(service)


def _cluster_nodepools(body: CreateClusterIn, cluster: Cluster, world: World) -> list[NodePool]:
    """The node pools to create: `nodepools[]`, or one default pool from the older worker_* fields."""
    if body.login_password is not None and body.key_pair is not None:
        raise cs_invalid("login_password and key_pair are mutually exclusive, give one")
    fallback = _Credentials(_password(body.login_password, "login_password"), body.key_pair)
    if body.nodepools:
        return [
            _nodepool(pool, cluster, world, is_default=index == 0, fallback=fallback)
            for index, pool in enumerate(body.nodepools)
        ]
    count = body.num_of_nodes or 0
    if not 0 <= count <= MAX_NODES:
        raise cs_invalid(f"num_of_nodes {count} is out of range [0, {MAX_NODES}]")
    if count == 0 and not body.worker_instance_types:
        return []
    legacy = NodepoolIn(
        nodepool_info=NodepoolInfoIn(name="default-nodepool"),
        scaling_group=ScalingGroupIn(
            vswitch_ids=body.worker_vswitch_ids or body.vswitch_ids,
            instance_types=body.worker_instance_types,
            desired_size=count,
            system_disk_category=body.worker_system_disk_category,
            system_disk_size=body.worker_system_disk_size,
            system_disk_performance_level=body.worker_system_disk_performance_level,
            data_disks=body.worker_data_disks,
            instance_charge_type=body.worker_instance_charge_type,
            image_type=body.image_type,
        ),
        kubernetes_config=KubernetesConfigIn(taints=body.taints),
    )
    return [_nodepool(legacy, cluster, world, is_default=True, fallback=fallback)]


def _nodepool(
    body: NodepoolIn, cluster: Cluster, world: World, *, is_default: bool, fallback: _Credentials
) -> NodePool:
    group = body.scaling_group or ScalingGroupIn()
    info = body.nodepool_info or NodepoolInfoIn()
    name = info.name or ("default-nodepool" if is_default else "")
    if NODEPOOL_NAME_PATTERN.fullmatch(name) is None:
        raise cs_invalid(f"nodepool_info.name {name!r} is not valid: use 1-63 letters, digits, '-', '_' or '.'")
    size = group.desired_size if group.desired_size is not None else (body.count or 0)
    if not 0 <= size <= MAX_NODES:
        raise cs_invalid(f"scaling_group.desired_size {size} is out of range [0, {MAX_NODES}]")
    if not group.instance_types:
        raise cs_invalid("scaling_group.instance_types must name at least one instance type")
    for type_id in group.instance_types:
        if type_id not in world.catalog.instance_types:
            raise cs_invalid(f"instance type {type_id} is not supported in region {cluster.region_id}")
    vswitch_ids = group.vswitch_ids or cluster.vswitch_ids
    for vswitch_id in vswitch_ids:
        _vswitch(world, vswitch_id, cluster.vpc_id, "scaling_group.vswitch_ids")
    category = group.system_disk_category or DEFAULT_SYSTEM_DISK[0]
    _disk_category(category, world, "system_disk_category")
    disk_size = group.system_disk_size if group.system_disk_size is not None else DEFAULT_SYSTEM_DISK[1]
    if not SYSTEM_DISK_GIB[0] <= disk_size <= SYSTEM_DISK_GIB[1]:
        low, high = SYSTEM_DISK_GIB
        raise cs_invalid(f"system_disk_size {disk_size} is out of range [{low}, {high}] GiB")
    level = group.system_disk_performance_level
    if level is not None and (category != "cloud_essd" or level not in ESSD_LEVELS):
        raise cs_invalid(f"system_disk_performance_level {level} is not valid for {category}")
    data_disks = [_data_disk(disk, world) for disk in group.data_disks]
    if group.login_password is not None and group.key_pair is not None:
        raise cs_invalid("scaling_group.login_password and scaling_group.key_pair are mutually exclusive")
    password = _password(group.login_password, "scaling_group.login_password") or fallback.password
    key_pair = group.key_pair or fallback.key_pair
    if size > 0 and password is None and key_pair is None:
        raise cs_invalid("login_password or key_pair is required to log on to the nodes")
    if group.security_group_id is not None:
        security_group = world.live_security_group(group.security_group_id)
        if security_group is None or security_group.vpc_id != cluster.vpc_id:
            raise cs_invalid(f"scaling_group.security_group_id {group.security_group_id} does not exist")
    config = body.kubernetes_config or KubernetesConfigIn()
    now = world.clock.now()
    return NodePool(
        nodepool_id=ids.nodepool_id(),
        cluster_id=cluster.cluster_id,
        region_id=cluster.region_id,
        name=name,
        is_default=is_default,
        instance_types=list(group.instance_types),
        vswitch_ids=list(vswitch_ids),
        desired_size=size,
        system_disk_category=category,
        system_disk_size=disk_size,
        system_disk_performance_level=level,
        data_disks=data_disks,
        instance_charge_type=group.instance_charge_type or "PostPaid",
        image_type=group.image_type or "AliyunLinux3",
        key_pair=key_pair,
        has_password=password is not None,
        security_group_id=group.security_group_id,
        labels=[Tag(key=label.key or "", value=label.value or "") for label in config.labels if label.key],
        taints=[Taint(key=t.key, value=t.value or "", effect=t.effect or "NoSchedule") for t in config.taints],
        tags=validate_tags(group.tags, "scaling_group.tags") + [tag.model_copy() for tag in cluster.tags],
        created=now,
        updated=now,
    )


def _disk_category(category: str, world: World, field: str) -> None:
    known = {disk.category for disk in world.catalog.disks} | set(EXTRA_DISK_CATEGORIES)
    if category not in known:
        raise cs_invalid(f"{field} {category} is not valid, use one of {', '.join(sorted(known))}")


def _data_disk(disk: DataDiskIn, world: World) -> DataDisk:
    category = disk.category or "cloud_efficiency"
    _disk_category(category, world, "data_disks.category")
    size = disk.size if disk.size is not None else DATA_DISK_GIB[0]
    if not DATA_DISK_GIB[0] <= size <= DATA_DISK_GIB[1]:
        raise cs_invalid(f"data disk size {size} is out of range [{DATA_DISK_GIB[0]}, {DATA_DISK_GIB[1]}] GiB")
    return DataDisk(category=category, size=size, performance_level=disk.performance_level)


def _password(password: str | None, field: str) -> str | None:
    """8-30 characters from letters, digits and the allowed specials, with at least three of the four classes."""
    if password is None:
        return None
    classes = [
        any(c.isascii() and c.isupper() for c in password),
        any(c.isascii() and c.islower() for c in password),
        any(c.isascii() and c.isdigit() for c in password),
        any(c in PASSWORD_SPECIALS for c in password),
    ]
    allowed = all((c.isascii() and c.isalnum()) or c in PASSWORD_SPECIALS for c in password)
    if not PASSWORD_LENGTH[0] <= len(password) <= PASSWORD_LENGTH[1] or not allowed or sum(classes) < 3:
        raise cs_invalid(
            f"{field} must be {PASSWORD_LENGTH[0]}-{PASSWORD_LENGTH[1]} characters and contain at least three of: "
            "upper-case letters, lower-case letters, digits and special characters"
        )
    return password
