"""CS DescribeClusterUserKubeconfig: a temporary kubeconfig for a running cluster's Kubernetes API.

The token expires after TemporaryDurationMinutes of cloud time (15 to 4320), scaled like every other delay;
`expiration` reports the matching wall-clock time. Without the parameter the credential lasts three years.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from ack_compute.sandbox import kubeconfig
from ack_compute.sandbox.cs_clusters import find_cluster
from ack_compute.sandbox.errors import cluster_state_error, cs_invalid
from ack_compute.sandbox.kube_bridge import UNREACHABLE_SERVER
from ack_compute.sandbox.products import Product
from ack_compute.sandbox.router import ApiRequest, Route
from ack_compute.sandbox.state import SandboxState

DURATION_MINUTES = (15, 4320)
DEFAULT_DURATION_MINUTES = 3 * 365 * 24 * 60
KUBECONFIG_USER = "ack-sandbox-user"
# Tokens live at least a real second, so a huge time scale cannot make them expire in flight.
MIN_TOKEN_SECONDS = 1.0


def describe_cluster_user_kubeconfig(request: ApiRequest, state: SandboxState) -> dict[str, Any]:
    minutes = _duration(request.query.get("TemporaryDurationMinutes"))
    world = state.world
    with world.lock:
        cluster = find_cluster(state, request.path_params["cluster_id"])
        if cluster.state != "running":
            raise cluster_state_error(cluster.cluster_id, cluster.state)
        cluster_id, role = cluster.cluster_id, cluster.kubeconfig_role
    ttl = max(world.clock.scaled(minutes * 60), MIN_TOKEN_SECONDS)
    token = state.kube.issue_token(cluster_id, role, ttl, KUBECONFIG_USER) or secrets.token_urlsafe(32)
    config = kubeconfig.render(
        cluster_id,
        state.kube.server_url(cluster_id) or UNREACHABLE_SERVER,
        KUBECONFIG_USER,
        token,
        state.kube.certificate_authority(cluster_id),
    )
    expiration = world.clock.now() + timedelta(seconds=ttl)
    return {"config": config, "expiration": expiration.strftime("%Y-%m-%dT%H:%M:%SZ")}


def _duration(text: str | None) -> int:
    if not text:
        return DEFAULT_DURATION_MINUTES
    low, high = DURATION_MINUTES
    try:
        minutes = int(text)
    except ValueError:
        minutes = 0
    if not low <= minutes <= high:
        raise cs_invalid(f"TemporaryDurationMinutes must be an integer in [{low}, {high}]")
    return minutes


ROUTES = [
    Route(
        Product.CS,
        "DescribeClusterUserKubeconfig",
        describe_cluster_user_kubeconfig,
        method="GET",
        path="/k8s/{cluster_id}/user_config",
    )
]
