"""Every tool parameter declared once: its type, bounds, one-line description and the rule in plain words.

The published schema leaves the regexes out (server/results.py slims it): a model reads the rule in the description,
the server still enforces the pattern, and a refusal quotes the same rule (server/errors.py reads RULES).
"""

# No `from __future__ import annotations`: these aliases are evaluated where the SDK builds tool schemas.
from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from ack_compute.tools.ensure_cluster import CLUSTER_NAME
from ack_compute.tools.job_spec import DNS_LABEL, IMAGE_PATTERN
from ack_compute.tools.quotes import QUOTE_ID
from ack_compute.tools.targets import CLUSTER_REF_PATTERN

MAX_WAIT = 50  # hosts cancel calls at about 60 s

# What each pattern means, by parameter (or plan field) name: the description says it, a refusal repeats it.
RULES = {
    "name": "letters, digits and hyphens, up to 63 characters, not starting with a hyphen",
    "cluster": "a cluster id or name (letters, digits, hyphens), or context:<kubeconfig context>",
    "image": "an image reference such as registry/repo:tag (lower-case)",
    "namespace": "lower-case letters, digits and hyphens, up to 63 characters",
    "quote_id": "the q-... id estimate_cost returned",
    "security_group_id": "a security group id such as sg-abc123",
    "region": "a region id such as cn-hangzhou",
    "zone": "a zone id such as cn-hangzhou-h",
    "instance_types": "ECS instance types such as ecs.g7.xlarge",
    "use_specs": "specs such as 4-8Gi or ecs.c6.xlarge",
    "node_pool": "lower-case letters, digits and hyphens, up to 40 characters, a letter or digit at each end",
}
# Where one tool's field of a shared name follows another rule: a Deployment's name and a pool's are DNS labels.
TOOL_RULES = {
    "deploy_acs": {
        "name": "lower-case letters, digits and hyphens, up to 50 characters, a letter or digit at each end"
    },
    "ensure_node_pool": {"name": RULES["node_pool"]},
}


def _tidy_id(value: Any) -> Any:
    """An id as models copy it: with spaces, quotes or backticks around it, or upper-cased. Ours are lower-case
    hex, so nothing else is read differently; what is still wrong after this is refused as before."""
    if isinstance(value, str):
        return value.strip().strip("\"'`").strip().lower()
    return value


TidyId = BeforeValidator(_tidy_id)
QuoteId = Annotated[
    str,
    TidyId,
    Field("", pattern=f"^({QUOTE_ID.pattern})?$", description="The quote to pay with (q-... from estimate_cost)."),
]
QuoteToken = Annotated[str, Field("", description="Deprecated: the old signed quote token; use quote_id.")]
QuotedPlan = Annotated[
    dict[str, Any] | None,
    Field(description="Optional with quote_id (the quote holds the plan); if given it must equal the quoted plan."),
]
ClusterRef = Annotated[str, Field(pattern=CLUSTER_REF_PATTERN, description=f"Cluster: {RULES['cluster']}.")]
ClusterName = Annotated[
    str, Field(pattern=CLUSTER_NAME, description="Cluster name (acf- prefix allows reuse_any); " + RULES["name"] + ".")
]
WorkloadName = Annotated[
    str,
    Field(pattern=DNS_LABEL, max_length=50, description=f"Deployment name: {TOOL_RULES['deploy_acs']['name']}."),
]
Image = Annotated[str, Field(pattern=IMAGE_PATTERN, description="Container image, e.g. registry/repo:tag.")]
Namespace = Annotated[str, Field(pattern=DNS_LABEL, description="Kubernetes namespace.")]
Env = Annotated[dict[str, str], Field(description="Environment variables.")]
WaitSeconds = Annotated[
    int, Field(ge=0, le=MAX_WAIT, description=f"Wait up to this long (0..{MAX_WAIT} s), then return an operation_id.")
]
OperationId = Annotated[str, TidyId, Field(description="The operation id (op-...) another tool returned.")]
