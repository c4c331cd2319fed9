"""What an operation records to resume from (its params_json in the ledger), one model per kind, validated every time
the operation runs: at its start and when a restarted server resumes it. A row this version cannot read fails at once
with the field that is wrong, instead of a KeyError halfway through a create.

Only ensure_cluster's kinds are here so far; run_job, deploy_acs and cleanup still read their params as dicts.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from ack_compute.tools.plans import AnyClusterPlan


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
