"""Resources planted as if someone else had created them, so tests can check that foreign things stay untouched."""

from __future__ import annotations

from collections.abc import Mapping

from ack_compute.sandbox import cidr, ids
from ack_compute.sandbox.cs.models.addons import default_addon_version, plan_cluster_addons
from ack_compute.sandbox.cs.models.cluster_body import kubernetes_version
from ack_compute.sandbox.lifecycle import MAINTENANCE_SECONDS
from ack_compute.sandbox.state import SandboxState
from ack_compute.sandbox.world import (
    AddonInstance,
    Cluster,
    ClusterState,
    LifecycleFault,
    NodePool,
    Tag,
    Vpc,
    VSwitch,
)

PlantedState = ClusterState
_CONTAINER_CANDIDATES = [cidr.IPv4Network(f"10.{second}.0.0/16") for second in range(100, 200)]
_SERVICE_CANDIDATES = list(cidr.IPv4Network("172.16.0.0/12").subnets(new_prefix=20))


def _tags(tags: Mapping[str, str] | None) -> list[Tag]:
    return [Tag(key=key, value=value) for key, value in (tags or {}).items()]


def _planted_network(state: SandboxState, name: str, tags: Mapping[str, str] | None) -> dict[str, object]:
    """What a planted VPC or vSwitch carries beyond its place: ready, tagged, made now, and marked planted."""
    return {
        "name": name,
        "status": "Available",
        "tags": _tags(tags),
        "created": state.world.clock.now(),
        "planted": True,
    }


def plant_vpc(
    state: SandboxState,
    name: str = "",
    *,
    cidr_block: str = "192.168.0.0/16",
    region_id: str = "cn-hangzhou",
    tags: Mapping[str, str] | None = None,
) -> str:
    world = state.world
    block = cidr.parse(cidr_block)
    if block is None or region_id not in state.catalog.regions:
        raise ValueError(f"cannot plant a VPC {cidr_block!r} in {region_id!r}")
    with world.lock:
        vpc = Vpc(
            vpc_id=ids.vpc_id(region_id),
            region_id=region_id,
            cidr_block=str(block),
            vrouter_id=ids.vrouter_id(region_id),
            route_table_id=ids.route_table_id(region_id),
            resource_group_id=ids.resource_group_id(),
            **_planted_network(state, name, tags),
        )
        world.vpcs[vpc.vpc_id] = vpc
        return vpc.vpc_id


def plant_vswitch(
    state: SandboxState,
    vpc_id: str,
    *,
    zone_id: str | None = None,
    cidr_block: str | None = None,
    name: str = "",
    tags: Mapping[str, str] | None = None,
) -> str:
    """A vSwitch in the VPC's first zone (or `zone_id`) on the first free /24 (or `cidr_block`)."""
    world = state.world
    with world.lock:
        vpc = world.live_vpc(vpc_id)
        if vpc is None:
            raise KeyError(vpc_id)
        siblings = [v for v in world.vswitches.values() if v.vpc_id == vpc_id and v.deleted is None]
        taken = [cidr.IPv4Network(v.cidr_block) for v in siblings]
        block = cidr.parse(cidr_block) if cidr_block else cidr.free_subnet(cidr.IPv4Network(vpc.cidr_block), 24, taken)
        if block is None:
            raise ValueError(f"no room for a vSwitch in {vpc_id}")
        vswitch = VSwitch(
            vswitch_id=ids.vswitch_id(vpc.region_id),
            vpc_id=vpc_id,
            region_id=vpc.region_id,
            zone_id=zone_id or next(iter(state.catalog.regions[vpc.region_id].zones)),
            cidr_block=str(block),
            **_planted_network(state, name, tags),
        )
        world.vswitches[vswitch.vswitch_id] = vswitch
        return vswitch.vswitch_id


def plant_cluster(
    state: SandboxState,
    name: str,
    *,
    cluster_state: PlantedState = "running",
    nodes: int = 2,
    nodes_ready: bool = True,
    tags: Mapping[str, str] | None = None,
    cluster_spec: str = "ack.standard",
    profile: str = "Default",
    limited_rbac: bool = False,
    unresponsive: bool = False,
    region_id: str = "cn-hangzhou",
    vswitch_id: str | None = None,
    instance_type: str = "ecs.g7.xlarge",
    deletion_protection: bool = False,
    addons: Mapping[str, str | None] | None = None,
    public_endpoint: bool = True,
) -> str:
    """A cluster someone else made: its own VPC and vSwitch unless `vswitch_id` is given, a default node pool
    of `nodes` nodes (none for Serverless), an ACK-made security group, and the profile's default add-ons plus
    `addons` (name -> version, None for the current one; any version, so tests can plant outdated ones).
    `initial` clusters go on to run like created ones; any other of the 15 states is reached from running (see
    Lifecycle.set_state); `public_endpoint=False` gives the API server no EIP."""
    world, lifecycle = state.world, state.lifecycle
    if vswitch_id is None:
        vswitch_id = plant_vswitch(state, plant_vpc(state, f"{name}-vpc", region_id=region_id))
    with world.lock:
        vswitch = world.live_vswitch(vswitch_id)
        if vswitch is None:
            raise KeyError(vswitch_id)
        vpc = world.vpcs[vswitch.vpc_id]
        container, service = _free_cidrs(state, vpc)
        now = world.clock.now()
        cluster = Cluster(
            cluster_id=ids.cluster_id(),
            name=name,
            region_id=vpc.region_id,
            zone_id=vswitch.zone_id,
            cluster_spec=cluster_spec,
            profile=profile,
            kubernetes_version=kubernetes_version(None),
            vpc_id=vpc.vpc_id,
            vswitch_ids=[vswitch_id],
            container_cidr=container,
            service_cidr=service,
            deletion_protection=deletion_protection,
            resource_group_id=ids.resource_group_id(),
            tags=_tags(tags),
            kubeconfig_role="limited" if limited_rbac else "admin",
            endpoint_public_access=public_endpoint,
            unresponsive=unresponsive,
            planted=True,
            created=now,
            updated=now,
        )
        cluster.addons = _planted_addons(cluster, addons or {})
        if profile == "Default":
            cluster.nodepools = [
                NodePool(
                    nodepool_id=ids.nodepool_id(),
                    cluster_id=cluster.cluster_id,
                    region_id=cluster.region_id,
                    name="default-nodepool",
                    is_default=True,
                    instance_types=[instance_type],
                    vswitch_ids=[vswitch_id],
                    desired_size=nodes,
                    has_password=True,
                    tags=_tags(tags),
                    created=now,
                    updated=now,
                )
            ]
        group = lifecycle.create_cluster_security_group(cluster, enterprise=True)
        group.planted = True
        cluster.security_group_id = group.security_group_id
    if cluster_state == "initial":
        cluster.nodes_never_ready = not nodes_ready
        lifecycle.start_creation(cluster)
    elif cluster_state == "failed":
        lifecycle.register_failed(cluster, LifecycleFault(code="ErrorCreateCluster", message="planted failed cluster"))
    else:  # every other state is reached from running, as ACK reaches it (a maintenance phase ends by itself)
        lifecycle.register_running(cluster, nodes_ready=nodes_ready)
        if cluster_state != "running":
            lifecycle.set_state(cluster.cluster_id, cluster_state, back_to_running_after=MAINTENANCE_SECONDS)
    return cluster.cluster_id


def _planted_addons(cluster: Cluster, wanted: Mapping[str, str | None]) -> list[AddonInstance]:
    """The profile's defaults (flannel networking for Default clusters), then `wanted` added or re-versioned."""
    network = "flannel" if cluster.profile == "Default" else None
    addons = {addon.name: addon for addon in plan_cluster_addons([], cluster, network, [])}
    for name, version in wanted.items():
        addons[name] = AddonInstance(
            name=name,
            version=version or default_addon_version(name, cluster.kubernetes_version),
            state="initial",
            created=cluster.created,
            updated=cluster.created,
        )
    return list(addons.values())


def _free_cidrs(state: SandboxState, vpc: Vpc) -> tuple[str, str]:
    """A pod /16 and a service /20 clear of the VPC and of every other cluster in it."""
    taken = [cidr.IPv4Network(vpc.cidr_block)] + [
        block
        for other in state.world.active_clusters()
        if other.vpc_id == vpc.vpc_id
        for text in (other.container_cidr, other.service_cidr)
        if (block := cidr.parse(text)) is not None
    ]
    container = next(block for block in _CONTAINER_CANDIDATES if not cidr.overlaps_any(block, taken))
    service = next(block for block in _SERVICE_CANDIDATES if not cidr.overlaps_any(block, [*taken, container]))
    return str(container), str(service)
