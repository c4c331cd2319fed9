"""core/v1 ConfigMaps: key and size validation and the `immutable` lock, with the 1.20 apiserver's messages."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ack_compute.sandbox.kube.context import WriteContext
from ack_compute.sandbox.kube.registry import Kind, Strategy
from ack_compute.sandbox.kube.status import FieldError, bad_request, forbidden, invalid
from ack_compute.sandbox.kube.validation import (
    DNS1123_SUBDOMAIN_MAX,
    max_len_error,
    name_is_dns_subdomain,
    validate_object_meta,
    validate_object_meta_update,
)

CONFIG_KEY_FMT = "[-._a-zA-Z0-9]+"
_CONFIG_KEY_RE = re.compile(CONFIG_KEY_FMT)
# core.MaxSecretSize: data plus binaryData, in bytes.
MAX_CONFIG_MAP_SIZE = 1024 * 1024
_IMMUTABLE = "field is immutable when `immutable` is set"
_BASE64 = re.compile(r"[A-Za-z0-9+/]")


def config_key_errors(key: str) -> list[str]:
    """validation.IsConfigMapKey (shared with Secrets): length, charset and no '.'/'..' path tricks."""
    errors: list[str] = []
    if len(key) > DNS1123_SUBDOMAIN_MAX:
        errors.append(max_len_error(DNS1123_SUBDOMAIN_MAX))
    if not _CONFIG_KEY_RE.fullmatch(key):
        errors.append(
            "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or "
            f"'KEY_NAME',  or 'key-name', regex used for validation is '{CONFIG_KEY_FMT}')"
        )
    if key == ".":
        errors.append("must not be '.'")
    elif key == "..":
        errors.append("must not be '..'")
    elif key.startswith(".."):
        errors.append("must not start with '..'")
    return errors


def _base64_error(value: str) -> int | None:
    """The input byte Go's base64.StdEncoding reports for a value it cannot decode (None: it decodes)."""
    body = value.rstrip("=")
    for index, char in enumerate(body):
        if not _BASE64.fullmatch(char):
            return index
    padding = len(value) - len(body)
    if len(value) % 4 or padding > 2 or (padding and len(body) % 4 in (0, 1)):
        return len(body) if len(value) % 4 == 0 else len(value) - len(value) % 4
    return None


def _decoded_size(value: str) -> int:
    body = value.rstrip("=")
    return len(body) * 3 // 4


def _validate(obj: Mapping[str, Any]) -> list[FieldError]:
    """ValidateConfigMap."""
    errors = validate_object_meta(obj["metadata"], namespaced=True, name_fn=name_is_dns_subdomain)
    data = obj.get("data") or {}
    binary = obj.get("binaryData") or {}
    total = 0
    for key, value in data.items():
        errors.extend(invalid(f"data[{key}]", key, message) for message in config_key_errors(key))
        if key in binary:
            errors.append(invalid(f"data[{key}]", key, "duplicate of key present in binaryData"))
        total += len(str(value).encode())
    for key, value in binary.items():
        errors.extend(invalid(f"binaryData[{key}]", key, message) for message in config_key_errors(key))
        total += _decoded_size(str(value))
    if total > MAX_CONFIG_MAP_SIZE:
        # The error names the whole object, whose path prints as "[]".
        errors.append(FieldError("FieldValueTooLong", "[]", detail=f"must have at most {MAX_CONFIG_MAP_SIZE} bytes"))
    return errors


class ConfigMapStrategy(Strategy):
    def default(self, obj: dict[str, Any], ctx: WriteContext) -> None:
        """Decoding binaryData already fails on bad base64, before any validation (a 400, not a 422)."""
        for value in (obj.get("binaryData") or {}).values():
            at = _base64_error(value) if isinstance(value, str) else 0
            if at is not None:
                raise bad_request(
                    'ConfigMap in version "v1" cannot be handled as a ConfigMap: v1.ConfigMap.BinaryData: '
                    f"decode base64: illegal base64 data at input byte {at}"
                )

    def validate(self, obj: dict[str, Any], ctx: WriteContext) -> list[FieldError]:
        return _validate(obj)

    def validate_update(self, new: dict[str, Any], old: dict[str, Any], ctx: WriteContext) -> list[FieldError]:
        """ValidateConfigMapUpdate: once `immutable` is true, it and the data may never change again."""
        errors = validate_object_meta_update(new["metadata"], old["metadata"])
        if old.get("immutable") is True:
            if new.get("immutable") is not True:
                errors.append(forbidden("immutable", _IMMUTABLE))
            if (new.get("data") or None) != (old.get("data") or None):
                errors.append(forbidden("data", _IMMUTABLE))
            if (new.get("binaryData") or None) != (old.get("binaryData") or None):
                errors.append(forbidden("binaryData", _IMMUTABLE))
        errors.extend(_validate(new))
        return errors


CONFIG_MAP = Kind(
    group="",
    version="v1",
    resource="configmaps",
    kind="ConfigMap",
    namespaced=True,
    strategy=ConfigMapStrategy(),
    short_names=("cm",),
    storage_version_hash="qFsyl6wFWjQ=",
)

KINDS: tuple[Kind, ...] = (CONFIG_MAP,)
