"""CS (ACK) error codes, raised by the cs models and routes; the base ApiError renders them as ROA bodies.

The CS gateway answers ROA bodies; codes follow its `Error...` naming.
"""

from __future__ import annotations

from ack_compute.sandbox.errors import ApiError


def cs_invalid(message: str) -> ApiError:
    """A CS request that breaks a documented rule (name pattern, ranges, CIDRs, references)."""
    return ApiError(400, "InvalidParameter", message)


def cluster_not_found(cluster_id: str) -> ApiError:
    return ApiError(404, "ErrorClusterNotFound", f"cluster {cluster_id} not found")


def cluster_state_error(cluster_id: str, state: str) -> ApiError:
    return ApiError(400, "ErrorClusterState", f"cluster {cluster_id} is in state {state}, the operation is not allowed")


def task_not_found(task_id: str) -> ApiError:
    return ApiError(404, "ErrorTaskNotFound", f"task {task_id} not found")


def deletion_protected(cluster_id: str) -> ApiError:
    return ApiError(
        400,
        "ErrorClusterDeletionProtection",
        f"cluster {cluster_id} has deletion protection enabled, disable it before deleting the cluster",
    )


def addon_not_found(cluster_id: str, name: str) -> ApiError:
    """The code the real API answers for an add-on the cluster does not have (seen in the Terraform provider)."""
    return ApiError(404, "AddonNotFound", f"addon {name} is not installed in cluster {cluster_id}")


def nodepool_not_found(cluster_id: str, nodepool_id: str) -> ApiError:
    """The code Terraform's alicloud_cs_kubernetes_node_pool takes as "gone" after DescribeClusterNodePoolDetail."""
    return ApiError(404, "ErrorNodePoolNotFound", f"node pool {nodepool_id} not found in cluster {cluster_id}")


def nodepool_busy(nodepool_id: str, state: str) -> ApiError:
    """A change to a pool while another runs. No public page names the code; TaskConflict is the conflict code
    the product already retries (documented_errors.json lists it as pending a source)."""
    return ApiError(400, "TaskConflict", f"node pool {nodepool_id} is {state}; wait for its current task to finish")
