"""apps/v1 Deployments and ReplicaSets, and the deployment and replicaset controllers of kube-controller-manager.

The controllers are ports of the 1.20 ones (context.EMULATED_VERSION; pkg/controller/deployment and replicaset),
so that what a client observes matches a real cluster: the ReplicaSet is named `<deployment>-<pod-template-hash>`
with the same hash (Go's spew dump of the pod template, FNV-32a, the safe alphabet), the revision and replica
annotations, the rolling update's surge/unavailable arithmetic, and the status counters and conditions with their
reasons and messages. Pods are Ready only when someone (a kubelet, or a test) writes that into their status.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ack_compute.sandbox.kube.apps_kinds import DEPLOYMENT, REPLICA_SET
from ack_compute.sandbox.kube.deployment_controller import DeploymentController
from ack_compute.sandbox.kube.registry import Kind
from ack_compute.sandbox.kube.replicaset_controller import ReplicaSetController

if TYPE_CHECKING:
    from ack_compute.sandbox.kube.cluster import KubeCluster

KINDS: tuple[Kind, ...] = (DEPLOYMENT, REPLICA_SET)


def install(cluster: KubeCluster) -> None:
    """Register the deployment and replicaset controllers on the cluster, in that order (one pass runs both)."""
    cluster.controllers.register(DeploymentController(cluster).step)
    cluster.controllers.register(ReplicaSetController(cluster).step)
