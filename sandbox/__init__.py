"""The embedded cloud: a loopback emulator of the Alibaba Cloud OpenAPI that the real SDKs talk to unchanged.

Layout (moto's, one package per product): cs/, ecs/, vpc/, eci/ each hold models/ (rules over the shared
world, no HTTP), responses/ (handlers and wire shapes) and urls.py (routes). The modules at this level are the
shared core: app and router, signature, params, errors, state and world, lifecycle, clock, faults, ids, catalog.
kube/ and kubelet/ are the per-cluster Kubernetes API and simulated kubelet.
"""

from ack_compute.sandbox.cloud import SandboxCloud
from ack_compute.sandbox.faults import Fault

__all__ = ["Fault", "SandboxCloud"]
