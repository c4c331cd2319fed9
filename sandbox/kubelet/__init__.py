"""A simulated kubelet for the sandbox's clusters, speaking only the Kubernetes API (emulated or real).

    kubelet = Kubelet(api_client_or_kubeconfig, images=ImageRegistry(), log_server=LogServer())
    kubelet.start()
    kubelet.register_node("cn-hangzhou.192.168.0.10", ready=True, labels={...}, capacity={"cpu": "4"})
    kubelet.register_node("virtual-kubelet-cn-hangzhou-k", virtual=True)
    ...
    kubelet.stop()

Pods bound to its nodes run their commands as local processes (a temporary working directory, a scrubbed
environment, the pod's deadline), unless `run_containers=False`.
"""

from ack_compute.sandbox.kubelet.api import ApiEndpoint, ApiError
from ack_compute.sandbox.kubelet.images import ImageRegistry
from ack_compute.sandbox.kubelet.kubelet import Kubelet
from ack_compute.sandbox.kubelet.logs import LogServer
from ack_compute.sandbox.kubelet.virtual import VIRTUAL_NODE_PREFIX, virtual_node_labels

__all__ = [
    "VIRTUAL_NODE_PREFIX",
    "ApiEndpoint",
    "ApiError",
    "ImageRegistry",
    "Kubelet",
    "LogServer",
    "virtual_node_labels",
]
