"""Discovery documents (/api, /apis, /api/v1, /apis/{group}/{version}, /version) built from the registry."""

from __future__ import annotations

from typing import Any

from ack_compute.sandbox.kube.context import KubeVersion
from ack_compute.sandbox.kube.registry import Kind, Registry

BUILD_DATE = "2024-09-11T09:09:13Z"
GO_VERSIONS = {20: "go1.15.5", 26: "go1.20.10", 28: "go1.20.13", 30: "go1.22.2", 31: "go1.22.6"}


def version_info(version: KubeVersion, git_version: str) -> dict[str, Any]:
    return {
        "major": str(version.major),
        "minor": str(version.minor),
        "gitVersion": git_version,
        "gitCommit": "0" * 40,
        "gitTreeState": "clean",
        "buildDate": BUILD_DATE,
        "goVersion": GO_VERSIONS.get(version.minor, "go1.22.6"),
        "compiler": "gc",
        "platform": "linux/amd64",
    }


def api_versions(server_address: str) -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


def _group_entry(group: str, versions: list[str]) -> dict[str, Any]:
    return {
        "name": group,
        "versions": [{"groupVersion": f"{group}/{v}", "version": v} for v in versions],
        "preferredVersion": {"groupVersion": f"{group}/{versions[0]}", "version": versions[0]},
    }


def api_group_list(registry: Registry) -> dict[str, Any]:
    groups = [_group_entry(g, v) for g, v in registry.group_versions().items() if g]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(registry: Registry, group: str) -> dict[str, Any] | None:
    versions = registry.group_versions().get(group)
    if not versions or not group:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group_entry(group, versions)}


def _resources(kind: Kind) -> list[dict[str, Any]]:
    main: dict[str, Any] = {
        "name": kind.resource,
        "singularName": "",
        "namespaced": kind.namespaced,
        "kind": kind.kind,
        "verbs": sorted(kind.verbs),
    }
    if kind.short_names:
        main["shortNames"] = list(kind.short_names)
    if kind.categories:
        main["categories"] = list(kind.categories)
    if kind.storage_version_hash:
        main["storageVersionHash"] = kind.storage_version_hash
    out = [main]
    for name, sub_kind, verbs, *_ in kind.subresources:
        out.append(
            {
                "name": f"{kind.resource}/{name}",
                "singularName": "",
                "namespaced": kind.namespaced,
                "kind": sub_kind,
                "verbs": list(verbs),
            }
        )
    return out


def api_resource_list(registry: Registry, group: str, version: str) -> dict[str, Any] | None:
    kinds = registry.kinds_in(group, version)
    if not kinds:
        return None
    resources = [entry for kind in sorted(kinds, key=lambda k: k.resource) for entry in _resources(kind)]
    body: dict[str, Any] = {"kind": "APIResourceList", "groupVersion": f"{group}/{version}" if group else version}
    if group:
        body["apiVersion"] = "v1"
    body["resources"] = resources
    return body


def root_paths(registry: Registry) -> dict[str, Any]:
    paths = ["/api", "/api/v1", "/apis", "/apis/"]
    for group, versions in registry.group_versions().items():
        if group:
            paths.append(f"/apis/{group}")
            paths.extend(f"/apis/{group}/{v}" for v in versions)
    paths += ["/healthz", "/livez", "/readyz", "/version"]
    return {"paths": sorted(paths)}
