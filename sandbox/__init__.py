"""The embedded cloud: a loopback emulator of the Alibaba Cloud OpenAPI that the real SDKs talk to unchanged."""

from ack_compute.sandbox.cloud import SandboxCloud
from ack_compute.sandbox.faults import Fault

__all__ = ["Fault", "SandboxCloud"]
