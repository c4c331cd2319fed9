"""What a container's process is given: volumes written into the pod's directory, and its environment.

The kubelet resolves these as a real one does (ConfigMap and Secret sources, the downward API, `$(VAR)`
expansion), with the real error texts: a missing ConfigMap behind a volume leaves the pod ContainerCreating
(FailedMount), one behind an env var makes the container CreateContainerConfigError.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ack_compute.sandbox.kube.quantity import parse_quantity

_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
_EXPANSION = re.compile(r"\$\$|\$\(([^)]*)\)")
_FIELD_LABEL = re.compile(r"^metadata\.(labels|annotations)\['(.+)'\]$")

# Fetches a ConfigMap or Secret by namespace and name: its object, or None when it does not exist.
Fetch = Callable[[str, str], dict[str, Any] | None]


class ConfigError(Exception):
    """The container cannot be configured (CreateContainerConfigError)."""


class MountError(Exception):
    """A volume cannot be set up (FailedMount): the pod stays ContainerCreating."""


@dataclass(frozen=True)
class Sources:
    config_map: Fetch
    secret: Fetch


@dataclass(frozen=True)
class Mount:
    mount_path: str
    host_path: Path


def expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes' `$(VAR)` expansion: known names are replaced, `$$` escapes, unknown references stay."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        return env[name] if name in env else match.group(0)

    return _EXPANSION.sub(replace, text)


def field_value(pod: Mapping[str, Any], path: str) -> str:
    """The downward API's pod fields."""
    metadata = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    match = _FIELD_LABEL.match(path)
    if match:
        return str((metadata.get(match.group(1)) or {}).get(match.group(2), ""))
    simple = {
        "metadata.name": metadata.get("name"),
        "metadata.namespace": metadata.get("namespace"),
        "metadata.uid": metadata.get("uid"),
        "spec.nodeName": spec.get("nodeName"),
        "spec.serviceAccountName": spec.get("serviceAccountName"),
        "status.hostIP": status.get("hostIP"),
        "status.podIP": status.get("podIP"),
        "status.podIPs": ",".join(entry.get("ip", "") for entry in status.get("podIPs") or []),
    }
    if path in ("metadata.labels", "metadata.annotations"):
        values = metadata.get(path.split(".")[1]) or {}
        return "\n".join(f'{key}="{value}"' for key, value in sorted(values.items()))
    return str(simple.get(path) or "")


def resource_value(container: Mapping[str, Any], ref: Mapping[str, Any], allocatable: Mapping[str, str]) -> str:
    """A resourceFieldRef: the container's limit (the node's allocatable when unset) or request, divided up."""
    kind, _, resource = str(ref.get("resource") or "").partition(".")
    resources = container.get("resources") or {}
    quantity = (resources.get(kind) or {}).get(resource)
    if quantity is None and kind == "limits":
        quantity = allocatable.get(resource)
    value = parse_quantity(quantity or 0)
    divisor = parse_quantity(ref.get("divisor") or "1") or parse_quantity("1")
    return str(math.ceil(value / divisor))


def _data(obj: Mapping[str, Any], decode: bool) -> dict[str, bytes]:
    out = {key: str(value).encode() for key, value in (obj.get("stringData") or {}).items()}
    for key, value in (obj.get("data") or {}).items():
        out[key] = base64.b64decode(value or "") if decode else str(value).encode()
    for key, value in (obj.get("binaryData") or {}).items():
        out[key] = base64.b64decode(value or "")
    return out


def container_env(
    pod: Mapping[str, Any], container: Mapping[str, Any], sources: Sources, allocatable: Mapping[str, str]
) -> dict[str, str]:
    """The container's own environment, in the kubelet's order: envFrom, then env with `$(VAR)` expansion."""
    namespace = (pod.get("metadata") or {}).get("namespace") or "default"
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        prefix = source.get("prefix") or ""
        for field, fetch, label in (
            ("configMapRef", sources.config_map, "configmap"),
            ("secretRef", sources.secret, "secret"),
        ):
            ref = source.get(field)
            if not ref:
                continue
            obj = fetch(namespace, ref.get("name") or "")
            if obj is None:
                if ref.get("optional"):
                    continue
                raise ConfigError(f'{label} "{ref.get("name") or ""}" not found')
            for key, value in _data(obj, decode=field == "secretRef").items():
                if _ENV_NAME.match(prefix + key):
                    env[prefix + key] = value.decode(errors="replace")
    for var in container.get("env") or []:
        name = var.get("name") or ""
        source = var.get("valueFrom")
        if not source:
            env[name] = expand(str(var.get("value") or ""), env)
            continue
        if source.get("fieldRef"):
            env[name] = field_value(pod, source["fieldRef"].get("fieldPath") or "")
        elif source.get("resourceFieldRef"):
            env[name] = resource_value(container, source["resourceFieldRef"], allocatable)
        else:
            value = _key_ref(namespace, source, sources)
            if value is not None:
                env[name] = value
    return env


def _key_ref(namespace: str, source: Mapping[str, Any], sources: Sources) -> str | None:
    for field, fetch, label, kind in (
        ("configMapKeyRef", sources.config_map, "configmap", "ConfigMap"),
        ("secretKeyRef", sources.secret, "secret", "Secret"),
    ):
        ref = source.get(field)
        if not ref:
            continue
        name, key, optional = ref.get("name") or "", ref.get("key") or "", bool(ref.get("optional"))
        obj = fetch(namespace, name)
        if obj is None:
            if optional:
                return None
            raise ConfigError(f'{label} "{name}" not found')
        data = _data(obj, decode=field == "secretKeyRef")
        if key not in data:
            if optional:
                return None
            raise ConfigError(f"couldn't find key {key} in {kind} {namespace}/{name}")
        return data[key].decode(errors="replace")
    return None


def materialise_volumes(pod: Mapping[str, Any], root: Path, sources: Sources) -> dict[str, Path]:
    """Write every volume of the pod under `root/volumes`; returns each volume's directory."""
    namespace = (pod.get("metadata") or {}).get("namespace") or "default"
    out: dict[str, Path] = {}
    for volume in (pod.get("spec") or {}).get("volumes") or []:
        name = volume.get("name") or ""
        target = root / "volumes" / name
        target.mkdir(parents=True, exist_ok=True)
        try:
            files = _volume_files(namespace, pod, volume, sources)
        except MountError as error:
            raise MountError(f'MountVolume.SetUp failed for volume "{name}" : {error}') from None
        for relative, (content, mode) in files.items():
            path = target / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
            path.chmod(mode)
        out[name] = target
    return out


def _volume_files(
    namespace: str, pod: Mapping[str, Any], volume: Mapping[str, Any], sources: Sources
) -> dict[str, tuple[bytes, int]]:
    if volume.get("configMap") is not None:
        ref = volume["configMap"]
        return _keyed_files(sources.config_map, "configmap", namespace, ref.get("name") or "", ref, False)
    if volume.get("secret") is not None:
        ref = volume["secret"]
        return _keyed_files(sources.secret, "secret", namespace, ref.get("secretName") or "", ref, True)
    if volume.get("downwardAPI") is not None:
        return _downward_files(pod, volume["downwardAPI"])
    if volume.get("projected") is not None:
        projected = volume["projected"]
        files: dict[str, tuple[bytes, int]] = {}
        for source in projected.get("sources") or []:
            default_mode = projected.get("defaultMode", 0o644)
            if source.get("configMap") is not None:
                ref = {"defaultMode": default_mode, **source["configMap"]}
                files |= _keyed_files(sources.config_map, "configmap", namespace, ref.get("name") or "", ref, False)
            elif source.get("secret") is not None:
                ref = {"defaultMode": default_mode, **source["secret"]}
                files |= _keyed_files(sources.secret, "secret", namespace, ref.get("name") or "", ref, True)
            elif source.get("downwardAPI") is not None:
                files |= _downward_files(pod, {"defaultMode": default_mode, **source["downwardAPI"]})
        return files
    return {}  # emptyDir, and anything else, is an empty directory here


def _keyed_files(
    fetch: Fetch, label: str, namespace: str, name: str, ref: Mapping[str, Any], decode: bool
) -> dict[str, tuple[bytes, int]]:
    obj = fetch(namespace, name)
    if obj is None:
        if ref.get("optional"):
            return {}
        raise MountError(f'{label} "{name}" not found')
    data = _data(obj, decode)
    mode = int(ref.get("defaultMode", 0o644))
    items = ref.get("items")
    if not items:
        return {key: (value, mode) for key, value in data.items()}
    out: dict[str, tuple[bytes, int]] = {}
    for item in items:
        key = item.get("key") or ""
        if key not in data:
            if ref.get("optional"):
                continue
            raise MountError(f"{label} references non-existent config key: {key}")
        out[item.get("path") or key] = (data[key], int(item.get("mode", mode)))
    return out


def _downward_files(pod: Mapping[str, Any], ref: Mapping[str, Any]) -> dict[str, tuple[bytes, int]]:
    mode = int(ref.get("defaultMode", 0o644))
    out: dict[str, tuple[bytes, int]] = {}
    for item in ref.get("items") or []:
        field_ref = item.get("fieldRef") or {}
        if field_ref.get("fieldPath"):
            out[item.get("path") or ""] = (
                field_value(pod, field_ref["fieldPath"]).encode(),
                int(item.get("mode", mode)),
            )
    return out


def container_mounts(container: Mapping[str, Any], volumes: Mapping[str, Path]) -> list[Mount]:
    """Each mount's path in the container and where its content sits on this machine, longest path first."""
    mounts = []
    for entry in container.get("volumeMounts") or []:
        source = volumes.get(entry.get("name") or "")
        mount_path = str(entry.get("mountPath") or "").rstrip("/")
        if source is None or not mount_path:
            continue
        host = source / entry["subPath"] if entry.get("subPath") else source
        mounts.append(Mount(mount_path, host))
    return sorted(mounts, key=lambda m: len(m.mount_path), reverse=True)


def rewrite_paths(text: str, mounts: list[Mount]) -> str:
    """Point paths under a mount at the materialised copy: `/scripts/run.py` -> `<pod dir>/volumes/s/run.py`."""
    if not mounts:
        return text
    hosts = {mount.mount_path: str(mount.host_path) for mount in mounts}
    alternatives = "|".join(re.escape(mount.mount_path) for mount in mounts)  # longest first, one pass
    pattern = re.compile(r"(?<![\w./-])(" + alternatives + r")(?![\w.-])")
    return pattern.sub(lambda match: hosts[match.group(1)], text)
