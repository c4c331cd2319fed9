"""CS request bodies parsed leniently at the boundary: unknown fields ignored, wrong types named in InvalidParameter."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from ack_compute.sandbox.cs.exceptions import cs_invalid

_M = TypeVar("_M", bound=BaseModel)


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class TagIn(_Body):
    key: str | None = None
    value: str | None = None


class TaintIn(_Body):
    key: str
    value: str | None = None
    effect: str | None = None


class DataDiskIn(_Body):
    category: str | None = None
    size: int | None = None
    performance_level: str | None = None


class SpotPriceLimitIn(_Body):
    instance_type: str | None = None
    price_limit: str | None = None


class ScalingGroupIn(_Body):
    vswitch_ids: list[str] = []
    instance_types: list[str] = []
    desired_size: int | None = None
    system_disk_category: str | None = None
    system_disk_size: int | None = None
    system_disk_performance_level: str | None = None
    data_disks: list[DataDiskIn] = []
    instance_charge_type: str | None = None
    image_type: str | None = None
    login_password: str | None = None
    key_pair: str | None = None
    security_group_id: str | None = None
    security_group_ids: list[str] = []
    spot_strategy: str | None = None
    spot_price_limit: list[SpotPriceLimitIn] = []
    tags: list[TagIn] = []


class NodepoolInfoIn(_Body):
    name: str | None = None
    type: str | None = None


class KubernetesConfigIn(_Body):
    labels: list[TagIn] = []
    taints: list[TaintIn] = []


class AddonIn(_Body):
    """An entry of CreateCluster's `addons` or of InstallClusterAddons' body."""

    name: str | None = None
    version: str | None = None
    config: str | None = None
    disabled: bool | None = None


class AddonUpgradeIn(_Body):
    """An entry of UpgradeClusterAddons' body."""

    component_name: str | None = None
    version: str | None = None
    next_version: str | None = None
    config: str | None = None
    policy: str | None = None


class NodepoolIn(_Body):
    nodepool_info: NodepoolInfoIn | None = None
    scaling_group: ScalingGroupIn | None = None
    kubernetes_config: KubernetesConfigIn | None = None
    count: int | None = None


class ScalingGroupChangeIn(_Body):
    """ModifyClusterNodePool's scaling_group: only desired_size is acted on; other changes are not emulated."""

    desired_size: int | None = None


class ModifyNodepoolIn(_Body):
    scaling_group: ScalingGroupChangeIn | None = None


class CreateClusterIn(_Body):
    client_token: str | None = None
    name: str | None = None
    region_id: str | None = None
    zone_id: str | None = None
    zoneid: str | None = None
    cluster_type: str | None = None
    cluster_spec: str | None = None
    profile: str | None = None
    kubernetes_version: str | None = None
    vpcid: str | None = None
    vswitch_ids: list[str] = []
    worker_vswitch_ids: list[str] = []
    pod_vswitch_ids: list[str] = []
    container_cidr: str | None = None
    service_cidr: str | None = None
    security_group_id: str | None = None
    is_enterprise_security_group: bool | None = None
    snat_entry: bool = False
    endpoint_public_access: bool = False
    deletion_protection: bool = False
    login_password: str | None = None
    key_pair: str | None = None
    tags: list[TagIn] = []
    nodepools: list[NodepoolIn] = []
    num_of_nodes: int | None = None
    worker_instance_types: list[str] = []
    worker_system_disk_category: str | None = None
    worker_system_disk_size: int | None = None
    worker_system_disk_performance_level: str | None = None
    worker_data_disks: list[DataDiskIn] = []
    worker_instance_charge_type: str | None = None
    image_type: str | None = None
    taints: list[TaintIn] = []
    addons: list[AddonIn] = []
    service_discovery_types: list[str] = []
    logging_type: str | None = None
    private_zone: bool | None = None


def parse_body(model: type[_M], body: bytes) -> _M:
    """The JSON body as `model`, or InvalidParameter naming the first field that does not fit."""
    try:
        data: Any = json.loads(body or b"{}")
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise cs_invalid("the request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise cs_invalid("the request body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "body"
        raise cs_invalid(f"{field} is not valid: {first['msg']}") from None


def parse_list(model: type[_M], body: bytes) -> list[_M]:
    """A JSON array body (InstallClusterAddons, UpgradeClusterAddons) as a list of `model`."""
    try:
        data: Any = json.loads(body or b"[]")
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise cs_invalid("the request body is not valid JSON") from None
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise cs_invalid("the request body must be a JSON array of objects")
    try:
        return [model.model_validate(item) for item in data]
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "body"
        raise cs_invalid(f"{field} is not valid: {first['msg']}") from None


def positive_query(text: str | None, default: int, field: str) -> int:
    """A positive integer query parameter (page numbers and sizes); `default` when absent or empty."""
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise cs_invalid(f"{field} must be a positive integer") from None
    if value < 1:
        raise cs_invalid(f"{field} must be a positive integer")
    return value
