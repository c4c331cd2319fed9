"""Add-on rules: the small catalog of real add-on names and versions, and what installs and upgrades may ask."""

from __future__ import annotations

import json
import re
from datetime import datetime

from ack_compute.sandbox.cs.exceptions import addon_not_found, cs_invalid
from ack_compute.sandbox.cs.models.bodies import AddonIn, AddonUpgradeIn, CreateClusterIn
from ack_compute.sandbox.world import (
    AddonInstance,
    AddonState,
    Cluster,
)

VIRTUAL_NODE_ADDON = "ack-virtual-node"
NETWORK_ADDONS = ("flannel", "terway-eni", "terway-eniip")
KUBE_PROXY_ADDON = "kube-proxy-worker"
# The add-ons the sandbox offers and the version each installs by default (what ListAddons would call current).
# kube-proxy follows the cluster's Kubernetes version; coredns matches the pod the Kubernetes API is seeded with.
ADDON_VERSIONS: dict[str, str] = {
    "coredns": "v1.11.3.2-f57ea7ed6-aliyun",
    "metrics-server": "v0.3.9.7-4ca6ed1-aliyun",
    KUBE_PROXY_ADDON: "",
    "csi-plugin": "v1.33.1-67e8986-aliyun",
    "csi-provisioner": "v1.33.1-67e8986-aliyun",
    "managed-csiprovisioner": "v1.33.1-67e8986-aliyun",
    "storage-operator": "v1.33.1-67e8986-aliyun",
    "flannel": "v0.15.1.22-20a397e6-aliyun",
    "terway-eni": "v1.13.4",
    "terway-eniip": "v1.13.4",
    "ack-node-problem-detector": "1.2.24",
    "nginx-ingress-controller": "v1.12.1-aliyun.1",
    "logtail-ds": "v1.8.8.0-aliyun",
    "loongcollector": "v3.0.12.0-aliyun",
    "arms-prometheus": "1.1.31",
    VIRTUAL_NODE_ADDON: "v2.15.8",
}
# What a new cluster gets without asking, besides its network plugin; Serverless clusters have virtual nodes built in.
DEFAULT_ADDONS = (
    "coredns",
    "metrics-server",
    KUBE_PROXY_ADDON,
    "csi-plugin",
    "managed-csiprovisioner",
    "ack-node-problem-detector",
)
SERVERLESS_ADDONS = ("coredns", "metrics-server", VIRTUAL_NODE_ADDON)
# Add-ons that need a minimum version from some Kubernetes version on: ack-virtual-node v2.13.0 for 1.26 and later.
ADDON_MINIMUMS: dict[str, tuple[tuple[int, ...], str]] = {VIRTUAL_NODE_ADDON: ((1, 26), "v2.13.0")}
ADDON_VERSION_PATTERN = re.compile(r"v?\d+(\.\d+){1,3}([.-][0-9A-Za-z.-]+)?")


# ListAddons' categories (SDK ListAddonsResponseBodyAddons: core, network, security, storage, monitor, application).
ADDON_CATEGORIES: dict[str, str] = {
    "coredns": "core",
    KUBE_PROXY_ADDON: "core",
    "metrics-server": "monitor",
    "csi-plugin": "storage",
    "csi-provisioner": "storage",
    "managed-csiprovisioner": "storage",
    "storage-operator": "storage",
    "flannel": "network",
    "terway-eni": "network",
    "terway-eniip": "network",
    "ack-node-problem-detector": "monitor",
    "nginx-ingress-controller": "network",
    "logtail-ds": "monitor",
    "loongcollector": "monitor",
    "arms-prometheus": "monitor",
    VIRTUAL_NODE_ADDON: "application",
}
MANAGED_ADDONS = ("managed-csiprovisioner", "arms-prometheus")


def available_addons(cluster: Cluster) -> list[dict[str, object]]:
    """ListAddons for one cluster: what it may install, each at the version an install gets now (Terraform's
    alicloud_cs_kubernetes_addon reads an add-on's installable version from here). Serverless clusters get no
    network plugin and no kube-proxy."""
    serverless = cluster.profile == "Serverless"
    defaults = SERVERLESS_ADDONS if serverless else DEFAULT_ADDONS
    found = []
    for name in ADDON_VERSIONS:
        if serverless and (name in NETWORK_ADDONS or name == KUBE_PROXY_ADDON):
            continue
        found.append(
            {
                "name": name,
                "version": default_addon_version(name, cluster.kubernetes_version),
                "category": ADDON_CATEGORIES.get(name, ""),
                "install_by_default": name in defaults,
                "managed": name in MANAGED_ADDONS,
                "architecture": ["amd64", "arm64"],
                "supported_actions": ["Install", "Upgrade", "Modify", "Uninstall"],
                "config_schema": "",
            }
        )
    return found


def plan_cluster_addons(
    requested: list[AddonIn], cluster: Cluster, network: str | None, discovery: list[str]
) -> list[AddonInstance]:
    """The add-ons a new cluster starts with (state `initial` until it runs): the profile's defaults and network
    plugin, then the request's `addons`, which may add catalog add-ons, pick versions and configs, or disable."""
    serverless = cluster.profile == "Serverless"
    names = list(SERVERLESS_ADDONS if serverless else DEFAULT_ADDONS)
    if serverless and discovery and "CoreDNS" not in discovery:
        names.remove("coredns")
    if network is not None:
        names.append(network)
    chosen: dict[str, AddonIn] = {name: AddonIn(name=name) for name in names}
    seen: set[str] = set()
    for item in requested:
        name = _addon_name(item.name, "addons", seen)
        if serverless and (name in NETWORK_ADDONS or name == KUBE_PROXY_ADDON):
            raise cs_invalid(f"addons: {name} does not apply to Serverless clusters")
        if item.disabled and name == network:
            raise cs_invalid(f"addons: the network plugin {name} cannot be disabled, a cluster needs one")
        if item.disabled:
            chosen.pop(name, None)
        else:
            chosen[name] = item
    return [
        _addon_instance(item, cluster, f"addons: {name}", state="initial", now=cluster.created)
        for name, item in chosen.items()
    ]


def plan_addon_install(items: list[AddonIn], cluster: Cluster, now: datetime) -> list[AddonInstance]:
    """InstallClusterAddons: catalog add-ons with a version each, none installed yet; call under the world lock."""
    if not items:
        raise cs_invalid("the request body must list at least one addon to install")
    seen: set[str] = set()
    planned = []
    for item in items:
        name = _addon_name(item.name, "body", seen)
        if not item.version:
            raise cs_invalid(f"version is required for addon {name}")
        installed = cluster.addon(name)
        if installed is not None:
            raise cs_invalid(
                f"addon {name} is already installed in cluster {cluster.cluster_id} at version {installed.version}, "
                "upgrade it with UpgradeClusterAddons"
            )
        if cluster.profile == "Serverless" and (name in NETWORK_ADDONS or name == KUBE_PROXY_ADDON):
            raise cs_invalid(f"addon {name} does not apply to Serverless clusters")
        if name in NETWORK_ADDONS and any(cluster.addon(other) for other in NETWORK_ADDONS):
            raise cs_invalid(f"cluster {cluster.cluster_id} already has a network plugin, {name} cannot be added")
        planned.append(_addon_instance(item, cluster, f"addon {name}", state="initial", now=now))
    return planned


def plan_addon_upgrade(items: list[AddonUpgradeIn], cluster: Cluster) -> list[tuple[str, str, str | None]]:
    """UpgradeClusterAddons: (name, next version, new config or None) for installed, idle add-ons moving forward."""
    if not items:
        raise cs_invalid("the request body must list at least one addon to upgrade")
    seen: set[str] = set()
    planned = []
    for item in items:
        name = item.component_name or ""
        if not name:
            raise cs_invalid("component_name is required for every addon")
        if name in seen:
            raise cs_invalid(f"addon {name} is listed more than once")
        seen.add(name)
        installed = cluster.addon(name)
        if installed is None:
            raise addon_not_found(cluster.cluster_id, name)
        if installed.state != "active":
            raise cs_invalid(f"addon {name} is {installed.state}, wait until it is active")
        if item.version and item.version != installed.version:
            raise cs_invalid(f"version {item.version} is not the installed version {installed.version} of {name}")
        if not item.next_version:
            raise cs_invalid(f"next_version is required for addon {name}")
        target = _addon_version(item.next_version, f"addon {name} next_version")
        if version_key(target) <= version_key(installed.version):
            raise cs_invalid(f"next_version {target} of {name} is not newer than the installed {installed.version}")
        _addon_minimum(name, target, cluster.kubernetes_version)
        config = _addon_config(item.config, f"addon {name} config") if item.config is not None else None
        planned.append((name, target, config))
    return planned


def default_addon_version(name: str, cluster_version: str) -> str:
    """The version an add-on installs when none is asked for; kube-proxy follows the cluster."""
    return ADDON_VERSIONS.get(name) or f"v{cluster_version}"


def version_key(version: str) -> tuple[int, ...]:
    """`v2.13.0` and `1.33.3-aliyun.1` compare by their leading numbers: (2, 13, 0) and (1, 33, 3)."""
    match = re.match(r"v?(\d+(?:\.\d+)*)", version)
    return tuple(int(part) for part in match.group(1).split(".")) if match else ()


def network_addon(body: CreateClusterIn, profile: str) -> str | None:
    """Flannel or Terway, from `addons` or else from pod_vswitch_ids; Serverless clusters have none to choose."""
    asked = [item.name for item in body.addons if item.name in NETWORK_ADDONS and not item.disabled]
    if profile == "Serverless":
        return None
    if len(asked) > 1:
        raise cs_invalid(f"addons: choose one network plugin, not {' and '.join(str(name) for name in asked)}")
    if not asked:
        return "terway-eniip" if body.pod_vswitch_ids else "flannel"
    network = str(asked[0])
    if network == "flannel" and body.pod_vswitch_ids:
        raise cs_invalid("pod_vswitch_ids applies to Terway clusters only, not flannel")
    return network


def _addon_name(name: str | None, field: str, seen: set[str]) -> str:
    if not name:
        raise cs_invalid(f"{field}: every addon needs a name")
    if name not in ADDON_VERSIONS:
        raise cs_invalid(f"{field}: addon {name} is not available, use one of {', '.join(sorted(ADDON_VERSIONS))}")
    if name in seen:
        raise cs_invalid(f"{field}: addon {name} is listed more than once")
    seen.add(name)
    return name


def _addon_instance(item: AddonIn, cluster: Cluster, field: str, *, state: AddonState, now: datetime) -> AddonInstance:
    name = item.name or ""
    version = _addon_version(item.version, f"{field} version") if item.version else None
    version = version or default_addon_version(name, cluster.kubernetes_version)
    _addon_minimum(name, version, cluster.kubernetes_version)
    config = _addon_config(item.config, f"{field} config")
    return AddonInstance(name=name, version=version, state=state, config=config, created=now, updated=now)


def _addon_version(version: str, field: str) -> str:
    if ADDON_VERSION_PATTERN.fullmatch(version) is None:
        raise cs_invalid(f"{field} {version!r} is not a valid version, for example v2.13.0")
    return version


def _addon_minimum(name: str, version: str, cluster_version: str) -> None:
    """Seed 003: on Kubernetes 1.26 and later, ack-virtual-node must be v2.13.0 or later."""
    rule = ADDON_MINIMUMS.get(name)
    if rule is None:
        return
    from_kubernetes, minimum = rule
    if version_key(cluster_version)[:2] >= from_kubernetes and version_key(version) < version_key(minimum):
        raise cs_invalid(
            f"{name} {version} does not support Kubernetes {cluster_version.split('-', 1)[0]}, use {minimum} or later"
        )


def _addon_config(config: str | None, field: str) -> str:
    """Add-on configs are JSON objects sent as strings; empty means the defaults."""
    if not config:
        return ""
    try:
        parsed = json.loads(config)
    except json.JSONDecodeError:
        parsed = None
    if not isinstance(parsed, dict):
        raise cs_invalid(f"{field} must be a JSON object encoded as a string")
    return config
