"""Kubeconfig documents as DescribeClusterUserKubeconfig returns them: YAML with one cluster, user and context."""

from __future__ import annotations

from typing import Any

import yaml


def render(
    cluster_id: str,
    server: str,
    user: str,
    credential: dict[str, str],
    ca_data: str | None = None,
    tls_server_name: str | None = None,
) -> str:
    """A kubeconfig whose user is `credential` (ACK's: `client-certificate-data` and `client-key-data`).

    TLS is verified when the CA is known. `tls-server-name` makes the client ask the sandbox's shared
    listener for this cluster's own serving certificate; a real ACK endpoint needs none."""
    cluster: dict[str, Any] = {"server": server}
    if ca_data:
        cluster["certificate-authority-data"] = ca_data
    elif server.startswith("https://"):
        cluster["insecure-skip-tls-verify"] = True
    if tls_server_name:
        cluster["tls-server-name"] = tls_server_name
    context = f"{user}-{cluster_id}"
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "kubernetes", "cluster": cluster}],
        "contexts": [{"name": context, "context": {"cluster": "kubernetes", "user": user}}],
        "current-context": context,
        "preferences": {},
        "users": [{"name": user, "user": dict(credential)}],
    }
    return yaml.safe_dump(document, sort_keys=False)
