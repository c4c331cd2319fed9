"""A Kubernetes API emulator for the sandbox's clusters: one loopback hub, one path prefix per cluster.

    with KubeHub(tls=True) as hub:
        cluster = hub.add_cluster("c-1")
        issued = cluster.issue_client_certificate(user="1234", groups=("system:masters",), ttl_seconds=3600)
        # kubeconfig: server=cluster.server_url, certificate-authority-data=cluster.certificate_authority_data,
        # tls-server-name=cluster.tls_server_name, client-certificate-data/client-key-data from `issued`
        # (the sandbox's own kubelets authenticate with `cluster.issue_token(...)`; a hub without TLS only has tokens)

It is held to a real kube-apiserver by the contract tests in tests/contract.
"""

from ack_compute.sandbox.kube.cluster import KubeCluster
from ack_compute.sandbox.kube.hub import KubeHub

__all__ = ["KubeCluster", "KubeHub"]
