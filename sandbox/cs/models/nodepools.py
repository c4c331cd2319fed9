"""Node pool rules: counts, disks, instance types, vSwitches, taints, tags and login credentials."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ack_compute.sandbox import ids
from ack_compute.sandbox.cs.exceptions import cs_invalid
from ack_compute.sandbox.cs.models.bodies import (
    CreateClusterIn,
    DataDiskIn,
    KubernetesConfigIn,
    NodepoolIn,
    NodepoolInfoIn,
    ScalingGroupIn,
    TagIn,
)
from ack_compute.sandbox.cs.models.network import check_vswitch
from ack_compute.sandbox.world import (
    Cluster,
    DataDisk,
    NodePool,
    Tag,
    Taint,
    World,
)

NODEPOOL_NAME_PATTERN = re.compile(r"[0-9A-Za-z\u4e00-\u9fff][0-9A-Za-z\u4e00-\u9fff_.-]{0,62}")
MAX_NODES = 100
SYSTEM_DISK_GIB = (40, 500)
DATA_DISK_GIB = (40, 32768)
MAX_TAGS = 20
PASSWORD_LENGTH = (8, 30)
PASSWORD_SPECIALS = set("()`~!@#$%^&*-_+=|{}[]:;'<>,.?/")
DEFAULT_SYSTEM_DISK = ("cloud_essd", 120)
ESSD_LEVELS = ("PL0", "PL1", "PL2", "PL3")
EXTRA_DISK_CATEGORIES = ("cloud_auto", "cloud_essd_entry")
# scaling_group.spot_strategy values (SDK CreateClusterNodePoolRequestScalingGroup doc).
SPOT_STRATEGIES = ("NoSpot", "SpotWithPriceLimit", "SpotAsPriceGo")


@dataclass(frozen=True)
class _Credentials:
    password: str | None
    key_pair: str | None


def plan_nodepool(body: NodepoolIn, cluster: Cluster, world: World, *, is_default: bool = False) -> NodePool:
    """A node pool added to a running cluster; its vSwitches must belong to the cluster's VPC."""
    return _nodepool(body, cluster, world, is_default=is_default, fallback=_Credentials(None, None))


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


def cluster_nodepools(body: CreateClusterIn, cluster: Cluster, world: World) -> list[NodePool]:
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
        check_vswitch(world, vswitch_id, cluster.vpc_id, "scaling_group.vswitch_ids")
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
    security_group_id = group.security_group_id or next(iter(group.security_group_ids), None)
    for wanted in filter(None, [group.security_group_id, *group.security_group_ids]):
        security_group = world.live_security_group(wanted)
        if security_group is None or security_group.vpc_id != cluster.vpc_id:
            raise cs_invalid(f"scaling_group security group {wanted} does not exist in the cluster's VPC")
    spot_strategy = group.spot_strategy or "NoSpot"
    if spot_strategy not in SPOT_STRATEGIES:
        choices = ", ".join(SPOT_STRATEGIES)
        raise cs_invalid(f"scaling_group.spot_strategy {spot_strategy} is not valid, use one of {choices}")
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
        security_group_id=security_group_id,
        spot_strategy=spot_strategy,
        labels=[Tag(key=label.key or "", value=label.value or "") for label in config.labels if label.key],
        taints=[Taint(key=t.key, value=t.value or "", effect=t.effect or "NoSchedule") for t in config.taints],
        tags=_with_cluster_tags(validate_tags(group.tags, "scaling_group.tags"), cluster),
        created=now,
        updated=now,
    )


def _with_cluster_tags(own: list[Tag], cluster: Cluster) -> list[Tag]:
    """The pool's own tags, then the cluster's for keys the pool does not set: one value per key, the pool's first."""
    keys = {tag.key for tag in own}
    return own + [tag.model_copy() for tag in cluster.tags if tag.key not in keys]


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
