"""What an operation records to resume from (its params_json in the ledger), one model per kind, validated every time
the operation runs: at its start and when a restarted server resumes it. A row this version cannot read fails at once
with the field that is wrong, instead of a KeyError halfway through a create.

Rows written by earlier versions must keep loading: a field added later has a default (what the missing key meant
then), and keys a model does not name are ignored. Node pools still read their params as dicts; cleanup's model
stands next to its request in tools/cleanup.py (that module imports this one).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from ack_compute.tools.deploy_spec import DeployPlan, DeployRequest
from ack_compute.tools.plans import AnyClusterPlan
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
