"""A Kubernetes API emulator for the sandbox's clusters: one loopback hub, one path prefix per cluster.

    with KubeHub() as hub:
        cluster = hub.add_cluster("c-1")
        token = cluster.issue_token(role="admin", ttl_seconds=3600)
        # kubeconfig: server=cluster.server_url, user.token=token

It is held to a real kube-apiserver by the contract tests in tests/contract.
"""

from ack_compute.sandbox.kube.cluster import KubeCluster
from ack_compute.sandbox.kube.hub import KubeHub

__all__ = ["KubeCluster", "KubeHub"]
