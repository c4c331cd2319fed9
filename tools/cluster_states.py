"""What each ACK cluster state means to this product: the one table every place that reads a cluster's state uses.

Sources: the 15 values of DescribeClusterDetail `state` (alibabacloud_cs20151215
models/_describe_cluster_detail_response_body.py); Alibaba's "ACK cluster lifecycle and abnormal states"
(help/en/ack/ack-managed-and-ack-dedicated/user-guide/cluster-abnormal-states): draining, removing, updating and
upgrading are operation-and-maintenance phases of a running cluster that return to running; inactive means
"temporarily unavailable due to abnormal conditions" (overdue payment: the API server cannot be reached; KMS
suspended; no node or pod for 30 days), restored by fixing the cause or a ticket; unavailable means the cluster's
underlying cloud resources are abnormal; `deleted` is "invisible to users". `waiting` ("waiting for access") and
`disconnected` belong to registered clusters, whose agent in the external cluster must connect; nothing ACK does
by itself makes them run. Terraform (aliyun/terraform-provider-alicloud, resource_alicloud_cs_managed_kubernetes.go)
waits initial -> running on create, updating -> running on updates, and on delete waits out running/deleting
until the cluster is not found.

Rule of the product: a name is taken by every cluster that is not `deleted`, in any state, known or not; a state
this table does not know is treated as "exists, not usable", never as absent.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class Disposition(StrEnum):
    USABLE = "usable"  # run work on it
    WAIT = "wait"  # being set up or changed by ACK; it returns to running by itself
    UNUSABLE = "unusable"  # exists, but needs someone to act before it can run anything
    BROKEN = "broken"  # a create or delete that failed: only deleting it helps
    GOING = "going"  # being deleted
    GONE = "gone"  # deleted: the name is free


class CleanupAction(StrEnum):
    DELETE = "delete"  # call DeleteCluster and wait for it to be gone
    AWAIT = "await"  # already being deleted: wait for it (DeleteCluster returns the running task)
    GONE = "gone"  # nothing left to delete
    DEFER = "defer"  # ACK is changing it: leave it for a later cleanup


class ClusterState(BaseModel):
    model_config = ConfigDict(frozen=True)

    state: str
    disposition: Disposition
    meaning: str  # plain words, completes "The cluster ..."
    what_to_do: str  # for a person who meets it where a usable cluster was wanted
    cleanup: CleanupAction


_CLEAN_IT = "Run cleanup to delete it if this server created it (or delete it in the ACK console), or choose another "
_CLEAN_IT += "name."

_WAITS = "; ensure_cluster with its name waits for it."
D, C = Disposition, CleanupAction

# state, disposition, cleanup, meaning, what to do
_ROWS: tuple[tuple[str, Disposition, CleanupAction, str, str], ...] = (
    ("running", D.USABLE, C.DELETE, "is running", "Use it."),
    ("initial", D.WAIT, C.DELETE, "is being created", "Wait for it to run (creation takes 5-15 minutes)" + _WAITS),
    (
        "updating",
        D.WAIT,
        C.DEFER,
        "is having its configuration updated by ACK",
        "Wait a few minutes until it is running again" + _WAITS,
    ),
    (
        "upgrading",
        D.WAIT,
        C.DEFER,
        "is being upgraded by ACK",
        "Wait until the upgrade ends and it is running again" + _WAITS,
    ),
    (
        "scaling",
        D.WAIT,
        C.DEFER,
        "is adding or removing nodes",
        "Wait until scaling ends and it is running again" + _WAITS,
    ),
    (
        "removing",
        D.WAIT,
        C.DEFER,
        "is having nodes removed",
        "Wait until the nodes are removed and it is running again" + _WAITS,
    ),
    (
        "draining",
        D.WAIT,
        C.DEFER,
        "is draining a node (its pods are being moved to other nodes)",
        "Wait until draining ends and it is running again" + _WAITS,
    ),
    (
        "inactive",
        D.UNUSABLE,
        C.DELETE,
        "is inactive: ACK suspended it (an overdue payment, a suspended KMS key, or no node or pod for 30 days), "
        "and its API server cannot be used",
        "Settle the cause in the Alibaba Cloud console (pay the overdue bill, resume KMS) or open an ACK ticket to "
        "restore it, or choose another name. " + _CLEAN_IT,
    ),
    (
        "unavailable",
        D.UNUSABLE,
        C.DELETE,
        "is unavailable: the cloud resources under it are abnormal",
        "Check the cluster in the ACK console (its cause and how to restore it are shown there). " + _CLEAN_IT,
    ),
    (
        "waiting",
        D.UNUSABLE,
        C.DELETE,
        "is a registered cluster waiting for its external cluster to connect",
        "Install the ACK One agent in the external cluster so it connects, or choose another name.",
    ),
    (
        "disconnected",
        D.UNUSABLE,
        C.DELETE,
        "is a registered cluster that lost the connection to its external cluster",
        "Check the ACK One agent in the external cluster and its network, or choose another name.",
    ),
    ("failed", D.BROKEN, C.DELETE, "failed to be created", _CLEAN_IT),
    (
        "delete_failed",
        D.BROKEN,
        C.DELETE,
        "failed to be deleted",
        "Look at it in the ACK console (often a resource it cannot release), then run cleanup again, "
        "or choose another name.",
    ),
    (
        "deleting",
        D.GOING,
        C.AWAIT,
        "is being deleted",
        "Wait a few minutes until it is gone, then try again, or choose another name.",
    ),
    ("deleted", D.GONE, C.GONE, "has been deleted", "Create a new cluster."),
)

STATES: dict[str, ClusterState] = {
    state: ClusterState(state=state, disposition=disp, meaning=meaning, what_to_do=todo, cleanup=cleanup)
    for state, disp, cleanup, meaning, todo in _ROWS
}


def describe(state: str) -> ClusterState:
    """The table's entry; an unknown state means "exists, not usable" and is never deleted blindly."""
    known = STATES.get(state)
    if known is not None:
        return known
    return ClusterState(
        state=state,
        disposition=Disposition.UNUSABLE,
        meaning=f"is in state {state!r}, which this server does not know",
        what_to_do="Check the cluster in the ACK console, or choose another name.",
        cleanup=CleanupAction.DEFER,
    )


def disposition(state: str) -> Disposition:
    return describe(state).disposition


def is_usable(state: str) -> bool:
    return disposition(state) is Disposition.USABLE


def is_transitional(state: str) -> bool:
    return disposition(state) is Disposition.WAIT


def exists(state: str) -> bool:
    """Whether a cluster in this state still holds its name (everything but `deleted`)."""
    return disposition(state) is not Disposition.GONE


def sentence(name: str, cluster_id: str, state: str) -> str:
    """`Cluster NAME (ID) is inactive: ...`, for messages."""
    return f"Cluster {name} ({cluster_id}) {describe(state).meaning}"
