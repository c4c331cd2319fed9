"""What an operation records to resume from (its params_json in the ledger), one model per kind, validated every time
the operation runs: at its start and when a restarted server resumes it. A row this version cannot read fails at once
with the field that is wrong, instead of a KeyError halfway through a create.

Rows written by earlier versions must keep loading: a field added later has a default (what the missing key meant
then), and keys a model does not name are ignored. Cleanup's model stands next to its request in tools/cleanup.py
(that module imports this one).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from ack_compute.tools.deploy_spec import DeployPlan, DeployRequest
from ack_compute.tools.node_pool_spec import PoolNodeView
from ack_compute.tools.plans import AnyClusterPlan, NodePoolPlan
from ack_compute.tools.targets import ClusterTarget


class ClusterCreateParams(BaseModel):
    """ensure_cluster buying a new cluster: the intent row it claimed and the plan it was paid for."""

    model_config = ConfigDict(frozen=True)

    mode: Literal["create"]
    resource_id: int  # the ownership row written before the create call
    name: str
    region: str
    zone: str
    plan: AnyClusterPlan
    min_nodes: int = 0  # a Serverless cluster has no workers; its virtual nodes are waited for instead
    serverless: bool = False
    security_group_id: str | None = None


class ClusterWaitParams(BaseModel):
    """ensure_cluster waiting for an existing cluster (reused, still being created by someone) to become usable."""

    model_config = ConfigDict(frozen=True)

    mode: Literal["wait"]
    cluster_id: str
    name: str
    region: str
    min_nodes: int = 1
    serverless: bool = False


EnsureClusterParams = Annotated[ClusterCreateParams | ClusterWaitParams, Field(discriminator="mode")]
ENSURE_CLUSTER_PARAMS: TypeAdapter[ClusterCreateParams | ClusterWaitParams] = TypeAdapter(EnsureClusterParams)


class RunJobParams(BaseModel):
    """run_job watching its Job: where it runs, what it created, and how much log to return. Also read by
    cancel_operation (to delete the Job) and get_operation (to follow its log)."""

    model_config = ConfigDict(frozen=True)

    resource_id: int  # the job's ownership row
    target: ClusterTarget
    namespace: str
    job: str
    config_map: str  # the script's ConfigMap
    image: str
    compute: Literal["nodes", "acs"]
    retries: int
    timeout_seconds: int
    log_lines: int
    log_bytes: int
    cleanup_after: bool = False  # added after the first run_job rows: they had no cleanup_after
    notes: list[str] = []
    started_at: float  # epoch seconds: the deadline counts from here, also after a restart


class DeployParams(BaseModel):
    """deploy_acs preparing the cluster (add-on, virtual nodes) before it buys the Deployment."""

    model_config = ConfigDict(frozen=True)

    request: DeployRequest
    target: ClusterTarget
    plan: DeployPlan
    notes: list[str] = []
    requested_by: str = ""  # added later: the first rows had none


class NodePoolParams(BaseModel):
    """ensure_node_pool making, growing or shrinking a pool: its ledger row, where it is, and the size it ends at."""

    model_config = ConfigDict(frozen=True)

    mode: Literal["create", "grow", "shrink"]
    resource_id: int  # the pool's ownership row
    cluster: str  # the cluster as the caller named it
    cluster_id: str
    region: str
    name: str
    nodes: int  # the pool's size when the operation is done
    plan: NodePoolPlan | None = None  # create: what was paid for
    gpu: bool = False  # create: tainted so only work sent with node_pool lands there
    vswitch_ids: list[str] = []  # create
    nodepool_id: str | None = None  # grow and shrink
    growth_row: int | None = None  # grow: the row of the nodes this operation bought
    removed: list[PoolNodeView] = []  # shrink: the nodes drained and released

    @model_validator(mode="after")
    def _create_names_its_plan(self) -> NodePoolParams:
        if self.mode == "create" and self.plan is None:
            raise ValueError("a node pool create records the plan it was paid for")
        if self.mode != "create" and not self.nodepool_id:
            raise ValueError(f"a node pool {self.mode} names the pool (nodepool_id)")
        return self
