"""A node pool as this server makes it: the outcome an agent reads, the CreateClusterNodePool config for a plan (its
ownership tags, its labels, a taint for GPU pools), which nodes a shrink removes, and what a pool has cost.

How ensure_node_pool decides, buys and waits lives in tools/node_pools.py; the SDK calls in cloud/node_pools.py.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr

from ack_compute.cloud.cs import DataDiskSpec
from ack_compute.cloud.node_pools import NodePoolConfig, NodePoolInfo, PoolNode, TaintSpec
from ack_compute.tools.cluster_spec import login_password
from ack_compute.tools.ownership import POOL_OPERATION_TAG, OwnedResource, is_ours, mark
from ack_compute.tools.plans import NodePoolPlan
from ack_compute.tools.pricing import Money, money

OPERATION_KIND = "ensure_node_pool"
# The label every node of a pool this server makes carries, and what run_job's node_pool selects on.
POOL_LABEL = "ack-compute/pool"
# A Kubernetes pool name is also a label value: lower-case DNS label, short enough for ACK's 63-character names.
POOL_NAME = r"^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$"
# ACK node pool states (DescribeClusterNodePoolDetail status.state). aliyun/terraform-provider-alicloud's node pool
# resource (alicloud/resource_alicloud_cs_kubernetes_node_pool.go) waits from "initial"/"scaling" (create) or
# "removing" (remove nodes) to "active", failing on "deleting"/"failed" (CsKubernetesNodePoolStateRefreshFunc).
POOL_READY = "active"
POOL_FAILED = "failed"


class PoolNodeView(BaseModel):
    node: str
    instance_id: str
    state: str = ""


class NodePoolOutcome(BaseModel):
    status: Literal["created", "creating", "resized", "resizing", "unchanged", "exists", "quote_required", "declined"]
    cluster: str
    cluster_id: str | None = None
    name: str
    nodepool_id: str | None = None
    pool_state: str | None = Field(None, description="The pool's own state in ACK (active, scaling, ...).")
    nodes: int | None = Field(None, description="The pool's desired node count.")
    ready_nodes: int | None = None
    removed: list[PoolNodeView] = Field([], description="The nodes a shrink removes (drained, then released).")
    hourly: Money | None = Field(None, description="What the pool's nodes cost per hour, from its quotes.")
    currency: str = ""
    origin: Literal["created", "not_ours"] | None = None
    operation_id: str | None = None
    plan_to_quote: NodePoolPlan | None = Field(None, description="Estimate this plan to get the quote it needs.")
    lease_ends_at: str | None = None
    message: str
    next_step: str


def ledger_name(cluster_id: str, name: str) -> str:
    """How the ledger names a pool: its cluster and its name (pool names are unique per cluster)."""
    return f"{cluster_id}/{name}"


def pool_taint(name: str) -> TaintSpec:
    """The taint a GPU pool carries so that only work sent there (run_job node_pool=<name>) lands there."""
    return TaintSpec(key=POOL_LABEL, value=name, effect="NoSchedule")


def pool_config(
    name: str, plan: NodePoolPlan, vswitch_ids: list[str], operation_id: str, *, gpu: bool
) -> NodePoolConfig:
    """CreateClusterNodePool for a plan: this server's tags (what cleanup checks before it deletes), its label on
    every node, the plan's labels, and for a GPU pool its taint."""
    return NodePoolConfig(
        name=name,
        instance_types=list(plan.instance_types),
        desired_size=plan.node_count,
        vswitch_ids=vswitch_ids,
        system_disk_category=plan.system_disk.category,
        system_disk_size=plan.system_disk.size_gib,
        data_disks=[
            DataDiskSpec(category=d.category, size=d.size_gib, performance_level=d.performance_level)
            for d in plan.data_disks
        ],
        spot_strategy=plan.spot_strategy or "NoSpot",
        labels={**plan.labels, **mark(), POOL_LABEL: name},
        taints=[pool_taint(name)] if gpu else [],
        tags={**mark(), POOL_OPERATION_TAG: operation_id},
        # The nodes' logon: scaling_group.login_password or key_pair (CreateClusterNodePool, help.aliyun.com/en/ack/
        # ack-managed-and-ack-dedicated/developer-reference/api-cs-2015-12-15-createclusternodepool; the sandbox
        # refuses a pool with neither). A random one, never stored, returned or logged, like the cluster's.
        login_password=SecretStr(login_password()),
    )


def made_by(pool: NodePoolInfo, operation_id: str) -> bool:
    """Whether the cloud's own tags say this server's operation made the pool (labels alone prove nothing)."""
    return is_ours(pool.tags) and pool.tags.get(POOL_OPERATION_TAG) == operation_id


def placement(pool: NodePoolInfo) -> dict[str, Any]:
    """The pod spec fields that send a pod to this pool and only there: its label as the node selector, and a
    toleration for each of its taints (exactly, key, value and effect)."""
    return {
        "nodeSelector": {POOL_LABEL: pool.labels[POOL_LABEL]},
        "tolerations": [{"key": t.key, "operator": "Equal", "value": t.value, "effect": t.effect} for t in pool.taints],
    }


def nodes_to_remove(nodes: list[PoolNode], count: int) -> list[PoolNode]:
    """Which nodes a shrink by `count` removes: those not Ready first (they serve nothing), then the newest (the
    last listed; DescribeClusterNodes lists in creation order), so the answer names exactly what goes."""
    ranked = sorted(enumerate(nodes), key=lambda p: (p[1].node_status == "Ready", -p[0]))
    return [n for _, n in ranked[:count]]


def details(plan: NodePoolPlan, cluster_id: str, name: str, node_hourly: Decimal, currency: str, now: float) -> dict:
    """What the pool's ledger row keeps: where it is, what it was bought as, and its size over time."""
    return {
        "cluster": cluster_id,
        "pool": name,
        "plan": plan.model_dump(mode="json"),
        "node_hourly": str(node_hourly),
        "currency": currency,
        "nodes": plan.node_count,
        "segments": [[now, plan.node_count]],
    }


def answer(
    status: str,
    base: dict[str, Any],
    pool: NodePoolInfo,
    row: OwnedResource | None,
    *,
    origin: str,
) -> NodePoolOutcome:
    """The pool as the cloud shows it, with its hourly cost from its quotes when this server bought it."""
    hourly = currency = None
    if row is not None and row.details.get("node_hourly"):
        hourly = money(Decimal(row.details["node_hourly"]) * pool.desired_size)
        currency = row.details.get("currency", "")
    where = f"node pool {pool.name} ({pool.nodepool_id}) on cluster {base['cluster']}"
    ready = f"{pool.healthy_nodes} of {pool.desired_size} nodes healthy"
    if origin == "not_ours":
        message = f"Found {where}, {pool.state}, {ready}; it was not created by this server for you."
        step = "It is never resized or deleted by this server. " + (
            f"Send work there with run_job node_pool={pool.name}."
            if pool.labels.get(POOL_LABEL) == pool.name
            else "Its nodes carry no ack-compute/pool label, so run_job cannot target it."
        )
    else:
        verb = {"created": "Created", "resized": "Resized", "unchanged": "Unchanged:"}.get(status, "")
        message = f"{verb} {where}: {pool.state}, {ready}."
        step = (
            f"Send work there with run_job node_pool={pool.name}; ensure_node_pool with another node_count "
            "resizes it (growth needs a quote), cleanup deletes it."
        )
    return NodePoolOutcome(
        status=status,  # type: ignore[arg-type]
        nodepool_id=pool.nodepool_id,
        pool_state=pool.state,
        nodes=pool.desired_size,
        ready_nodes=pool.healthy_nodes,
        hourly=hourly,
        currency=currency or "",
        origin=origin,  # type: ignore[arg-type]
        message=message,
        next_step=step,
        **base,
    )
