"""CS DescribeClusterUserKubeconfig and RevokeK8sClusterKubeConfig: ACK's client-certificate kubeconfigs.

A kubeconfig's user is an x509 client certificate signed by the cluster's CA (`client-certificate-data`,
`client-key-data`), as ACK issues them. It expires after TemporaryDurationMinutes of cloud time (15 to 4320),
scaled like every other delay; `expiration` reports the matching wall-clock time. Without the parameter the
credential lasts three years. RevokeK8sClusterKubeConfig (`DELETE /k8s/{ClusterId}/certs`, answer `{}`)
revokes the calling user's kubeconfigs of that cluster: certificates issued before it get 401
(https://www.alibabacloud.com/help/en/ack/ack-managed-and-ack-dedicated/developer-reference/
api-cs-2015-12-15-revokek8sclusterkubeconfig).

Subject: CN is the caller's account id. ACK grants a RAM user's rights through RBAC bindings on that name; the
sandbox's RBAC is group based, so O carries `system:users` plus the group of the cluster's kubeconfig role
(`system:masters` for admin, the limited group otherwise). A public kubeconfig (PrivateIpAddress=false) of a
cluster without a public API endpoint names a server nobody answers at, which is what a client outside the
VPC would find.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from ack_compute.sandbox import kubeconfig
from ack_compute.sandbox.cs.exceptions import cluster_state_error, cs_invalid
from ack_compute.sandbox.cs.models.clusters import find_cluster
from ack_compute.sandbox.cs.responses.clusters import TRUE_VALUES
from ack_compute.sandbox.kube.auth import LIMITED_GROUP, MASTERS_GROUP
from ack_compute.sandbox.kube.pki import ClusterAuthority
from ack_compute.sandbox.kube_bridge import UNREACHABLE_SERVER
from ack_compute.sandbox.router import ApiRequest
from ack_compute.sandbox.state import SandboxState

DURATION_MINUTES = (15, 4320)
DEFAULT_DURATION_MINUTES = 3 * 365 * 24 * 60
# The sandbox has one caller: its account (ACK puts the caller's uid in the certificate's CN).
ACCOUNT_ID = "1234567890123456"
USERS_GROUP = "system:users"
# Credentials live at least a real second, so a huge time scale cannot make them expire in flight.
MIN_CREDENTIAL_SECONDS = 1.0


def describe_cluster_user_kubeconfig(request: ApiRequest, state: SandboxState) -> dict[str, Any]:
    minutes = _duration(request.query.get("TemporaryDurationMinutes"))
    private = (request.query.get("PrivateIpAddress") or "").lower() in TRUE_VALUES
    world = state.world
    with world.lock:
        cluster = find_cluster(state, request.path_params["cluster_id"])
        if cluster.state != "running":
            raise cluster_state_error(cluster.cluster_id, cluster.state)
        cluster_id, role, public = cluster.cluster_id, cluster.kubeconfig_role, cluster.endpoint_public_access
    ttl = max(world.clock.scaled(minutes * 60), MIN_CREDENTIAL_SECONDS)
    groups = (USERS_GROUP, MASTERS_GROUP if role == "admin" else LIMITED_GROUP)
    issued = state.kube.issue_client_certificate(cluster_id, ACCOUNT_ID, groups, ttl)
    if issued is None:  # no cluster API to check it: a certificate from a CA nothing trusts
        issued = ClusterAuthority(cluster_id).issue_client(ACCOUNT_ID, groups, ttl)
    server = state.kube.server_url(cluster_id) if private or public else None
    config = kubeconfig.render(
        cluster_id,
        server or UNREACHABLE_SERVER,
        ACCOUNT_ID,
        {"client-certificate-data": issued.certificate_data, "client-key-data": issued.key_data},
        state.kube.certificate_authority(cluster_id),
        state.kube.tls_server_name(cluster_id),
    )
    expiration = world.clock.now() + timedelta(seconds=ttl)
    return {"config": config, "expiration": expiration.strftime("%Y-%m-%dT%H:%M:%SZ")}


def revoke_k8s_cluster_kube_config(request: ApiRequest, state: SandboxState) -> dict[str, Any]:
    with state.world.lock:
        cluster_id = find_cluster(state, request.path_params["cluster_id"]).cluster_id
    state.kube.revoke_client_certificates(cluster_id, ACCOUNT_ID)
    return {}


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
