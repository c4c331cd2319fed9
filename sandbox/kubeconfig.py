"""Kubeconfig documents as DescribeClusterUserKubeconfig returns them: YAML with one cluster, user and context."""

from __future__ import annotations

from typing import Any

import yaml


def render(cluster_id: str, server: str, user: str, token: str, ca_data: str | None = None) -> str:
    """A kubeconfig whose user authenticates with a bearer token; TLS is verified when the CA is known."""
    cluster: dict[str, Any] = {"server": server}
    if ca_data:
        cluster["certificate-authority-data"] = ca_data
    elif server.startswith("https://"):
        cluster["insecure-skip-tls-verify"] = True
    context = f"{user}-{cluster_id}"
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "kubernetes", "cluster": cluster}],
        "contexts": [{"name": context, "context": {"cluster": "kubernetes", "user": user}}],
        "current-context": context,
        "preferences": {},
        "users": [{"name": user, "user": {"token": token}}],
    }
    return yaml.safe_dump(document, sort_keys=False)
