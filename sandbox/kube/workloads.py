"""The workload kinds every emulated cluster serves beyond the core (ConfigMaps, Jobs, Deployments, ReplicaSets,
Services) and the controllers that act on them, gathered in one place so `cluster.py` stays small."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ack_compute.sandbox.kube import apps, configmaps, job_controller, jobs, services
from ack_compute.sandbox.kube.registry import Kind

if TYPE_CHECKING:
    from ack_compute.sandbox.kube.cluster import KubeCluster


def workload_kinds() -> tuple[Kind, ...]:
    return (*configmaps.KINDS, *services.KINDS, *jobs.KINDS, *apps.KINDS)


def install_controllers(cluster: KubeCluster) -> None:
    """Register the job, ttl-after-finished, deployment and replicaset controllers on the cluster."""
    job_controller.install(cluster)
    apps.install(cluster)
