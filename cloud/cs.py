"""Container Service (ACK) calls: regions, clusters, tasks, temporary kubeconfigs.

Kubeconfigs are credentials: they are returned as SecretStr and never logged.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from ack_compute.cloud.clients import OpenApiClients

PAGE_SIZE = 100  # a large page: fewer round trips for big accounts


class RegionInfo(BaseModel):
    region_id: str
    name: str = ""


class ClusterInfo(BaseModel):
    cluster_id: str
    name: str
    state: str
    region_id: str = ""
    zone_id: str = ""
    cluster_type: str = ""
    cluster_spec: str = ""
    profile: str = ""
    vpc_id: str = ""
    vswitch_ids: list[str] = []
    size: int = 0
    current_version: str = ""
    deletion_protection: bool = False
    tags: dict[str, str] = {}
    container_cidr: str = ""
    service_cidr: str = ""
    # master_url (a JSON string): "" where the API server has no such endpoint (no EIP: no public one). Keys as
    # aliyun/terraform-provider-alicloud reads them (alicloud/resource_alicloud_cs_kubernetes.go, connections).
    api_server_endpoint: str = ""
    intranet_api_server_endpoint: str = ""

    @classmethod
    def from_api(cls, raw: dict[str, Any]) -> ClusterInfo:
        tags = {t.get("key", ""): t.get("value", "") for t in raw.get("tags") or [] if isinstance(t, dict)}
        vswitches = raw.get("vswitch_ids") or ([raw["vswitch_id"]] if raw.get("vswitch_id") else [])
        return cls(
            cluster_id=raw["cluster_id"],
            name=raw.get("name", ""),
            state=raw.get("state", ""),
            region_id=raw.get("region_id", ""),
            zone_id=raw.get("zone_id", ""),
            cluster_type=raw.get("cluster_type", ""),
            cluster_spec=raw.get("cluster_spec", ""),
            profile=raw.get("profile", ""),
            vpc_id=raw.get("vpc_id", ""),
            vswitch_ids=[v for v in (vswitches if isinstance(vswitches, list) else str(vswitches).split(",")) if v],
            size=int(raw.get("size") or 0),
            current_version=raw.get("current_version", ""),
            deletion_protection=bool(raw.get("deletion_protection")),
            tags=tags,
            container_cidr=raw.get("container_cidr") or "",
            service_cidr=raw.get("service_cidr") or "",
            **_master_url(raw.get("master_url")),
        )


def _master_url(text: Any) -> dict[str, str]:
    try:
        endpoints = json.loads(text) if isinstance(text, str) and text else {}
    except ValueError:
        endpoints = {}
    if not isinstance(endpoints, dict):
        return {}
    keys = ("api_server_endpoint", "intranet_api_server_endpoint")
    return {key: str(endpoints.get(key) or "") for key in keys}


class TaskInfo(BaseModel):
    task_id: str
    state: str  # running | success | fail (and a few transitional ones)
    current_stage: str = ""
    error_code: str = ""
    error_message: str = ""


class Kubeconfig(BaseModel):
    config: SecretStr
    expiration: datetime | None = None


class AddonInfo(BaseModel):
    name: str
    version: str = ""
    state: str = ""


class AvailableAddon(BaseModel):
    """An add-on ListAddons offers for a cluster, at the version an install gets now."""

    name: str
    version: str = ""


# ------------------------------------------------------------------------------------------ CreateCluster spec
# Field names and shapes are the SDK's (alibabacloud_cs20151215 7.2.3 CreateClusterRequest, Nodepool*); none is
# one it marks `**[Deprecated]**`, and Alibaba's "Announcement on ACK API parameter changes and deprecation"
# (2026) makes deprecated ones invalid or a 400. The replacements the product needs:
# - `zone_id` -> `zone_ids`, which like zone_id only matters when vpcid/vswitch_ids are absent ("This parameter
#   is ignored when `vpc_id` and `vswitch_ids` are specified", SDK doc; Terraform's alicloud_cs_managed_kubernetes
#   takes exactly one of worker_vswitch_ids, vswitch_ids, zone_ids). We always give vswitch_ids: neither is sent.
# - worker_* / num_of_nodes / login_password / taints / worker_data_disks -> `nodepools[].scaling_group`
#   (desired_size, instance_types, system_disk_*, data_disks, login_password) and `kubernetes_config` (SDK marks).
# - `service_discovery_types` (Serverless CoreDNS) -> the `coredns` add-on in `addons` (SDK mark; Terraform's
#   serverless resource moved logging_type to add-ons the same way).
# - Not deprecated, sent as they are: vpcid, vswitch_ids, container_cidr, service_cidr, snat_entry,
#   endpoint_public_access, security_group_id, is_enterprise_security_group, client_token, tags, cluster_spec,
#   profile, region_id, name, cluster_type.


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataDiskSpec(_Spec):
    category: str
    size: int
    performance_level: str | None = None


class ScalingGroupSpec(_Spec):
    """Nodepool.scaling_group: where and what the worker nodes are."""

    vswitch_ids: list[str] = Field(min_length=1)
    instance_types: list[str] = Field(min_length=1)
    desired_size: int = Field(ge=0)
    system_disk_category: str
    system_disk_size: int
    system_disk_performance_level: str | None = None
    data_disks: list[DataDiskSpec] = []
    login_password: SecretStr | None = None


class NodePoolSpec(_Spec):
    name: str
    scaling_group: ScalingGroupSpec

    def wire(self) -> dict[str, Any]:
        return {"nodepool_info": {"name": self.name}, "scaling_group": _wire(self.scaling_group)}


class AddonSpec(_Spec):
    name: str
    config: str | None = None
    disabled: bool | None = None


class ClusterSpec(_Spec):
    """CreateCluster for an ACK managed cluster (profile Default, with node pools) or ACK Serverless."""

    name: str
    region_id: str
    cluster_type: Literal["ManagedKubernetes"] = "ManagedKubernetes"
    cluster_spec: Literal["ack.standard", "ack.pro.small"]
    profile: Literal["Default", "Serverless"] | None = None
    vpcid: str
    vswitch_ids: list[str] = Field(min_length=1, max_length=3)
    container_cidr: str | None = None
    service_cidr: str
    snat_entry: bool
    endpoint_public_access: bool
    security_group_id: str | None = None
    is_enterprise_security_group: bool | None = None
    client_token: str
    tags: dict[str, str] = {}
    nodepools: list[NodePoolSpec] = []
    addons: list[AddonSpec] = []

    def wire_body(self) -> dict[str, Any]:
        """The JSON body: the API's snake_case keys, with nothing empty or unset (absent stays absent)."""
        body = _wire(self, exclude={"nodepools", "tags"})
        body["tags"] = [{"key": k, "value": v} for k, v in self.tags.items()]
        body["nodepools"] = [pool.wire() for pool in self.nodepools]
        return pruned(body)


def _wire(model: BaseModel, exclude: set[str] | None = None) -> dict[str, Any]:
    data = model.model_dump(exclude_none=True, exclude=exclude)
    for key, value in list(data.items()):
        if isinstance(value, SecretStr):
            data[key] = value.get_secret_value()
    return pruned(data)


def pruned(value: Any) -> Any:
    """Drop None, empty lists and empty objects at every depth; False and 0 are values and stay."""
    if isinstance(value, dict):
        kept = {k: pruned(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v is not None and v != [] and v != {}}
    if isinstance(value, list):
        return [pruned(v) for v in value]
    return value


def _sdk_request(body: dict[str, Any]) -> Any:
    return verbatim_request("CreateClusterRequest", body)


def verbatim_request(model: str, body: dict[str, Any]) -> Any:
    """The SDK request model `model` (CreateClusterRequest, CreateClusterNodePoolRequest, ...) with exactly
    `body` on the wire.

    `CreateClusterRequest().from_map(d)` fills every list field absent from `d` with `[]`, and the nested
    models' to_map always emits their list fields, so the wire would carry `taints: []`, `addons: []`,
    `worker_data_disks: []` and empty lists inside node pools. Setting the top-level fields by keyword (an
    unknown one is a TypeError) and passing nested objects verbatim keeps what is absent absent.
    """
    from alibabacloud_cs20151215 import models as m
    from darabonba.model import DaraModel

    class Verbatim(DaraModel):
        def __init__(self, data: dict[str, Any]) -> None:
            self._data = data

        def validate(self) -> None:
            return None

        def to_map(self) -> dict[str, Any]:
            return self._data

    def wrap(value: Any) -> Any:
        if isinstance(value, dict):
            return Verbatim(value)
        if isinstance(value, list):
            return [wrap(v) for v in value]
        return value

    return getattr(m, model)(**{key: wrap(value) for key, value in body.items()})


class ContainerService:
    def __init__(self, clients: OpenApiClients) -> None:
        self._clients = clients

    def _cs(self, region: str | None = None) -> Any:
        """The CS client for `region`'s own endpoint (cs.{region}.aliyuncs.com), the default region's without one.

        Alibaba's "Announcement on ACK OpenAPI underlying architecture upgrade" (help center, ACK product
        overview, 2024-11-18): a cluster API called on an endpoint that does not match the cluster's region
        still works but is slower; use the endpoint of the cluster's region.
        """
        return self._clients.client("cs", region)

    def describe_regions(self) -> list[RegionInfo]:
        from alibabacloud_cs20151215 import models as m

        body = self._clients.call(
            "DescribeRegions", lambda: self._cs().describe_regions(m.DescribeRegionsRequest()).body.to_map()
        )
        # This API answers in camelCase, unlike most CS APIs (see the SDK's DescribeRegionsResponseBody).
        return [
            RegionInfo(region_id=r["regionId"], name=r.get("localName") or "")
            for r in body.get("regions", [])
            if r.get("regionId")
        ]

    def list_clusters(
        self, *, name: str | None = None, region: str | None = None, profile: str | None = None
    ) -> list[ClusterInfo]:
        """Every cluster of one region, across all pages, from that region's endpoint.

        DescribeClustersForRegion (`GET /regions/{region_id}/clusters`) replaces DescribeClustersV1, which
        Alibaba's "Announcement on ACK API parameter changes and deprecation" decommissions (all regions by
        2026-09-30). Its `name` filter is a fuzzy match (SDK DescribeClustersForRegionRequest doc), so callers
        still compare names exactly; its items carry `vswitch_ids` and no `zone_id`.
        """
        from alibabacloud_cs20151215 import models as m

        region = region or self._clients.config.region
        found: list[ClusterInfo] = []
        page = 1
        while True:
            request = m.DescribeClustersForRegionRequest(
                name=name or None,
                profile=profile,
                page_number=page,
                page_size=PAGE_SIZE,
            )
            body = self._clients.call(
                "DescribeClustersForRegion",
                lambda r=request: self._cs(region).describe_clusters_for_region(region, r).body.to_map(),
            )
            batch = body.get("clusters") or []
            found.extend(ClusterInfo.from_api({"region_id": region, **c}) for c in batch)
            total = int((body.get("page_info") or {}).get("total_count") or 0)
            if not batch or len(found) >= total:
                return found
            page += 1

    def describe_cluster(self, cluster_id: str, region: str | None = None) -> ClusterInfo:
        """DescribeClusterDetail (`GET /clusters/{id}`) on the cluster's region endpoint when the caller knows
        the region, else on the default region's: the path names no region, and the architecture-upgrade
        announcement says a mismatched endpoint still answers (only slower)."""
        body = self._clients.call(
            "DescribeClusterDetail", lambda: self._cs(region).describe_cluster_detail(cluster_id).body.to_map()
        )
        return ClusterInfo.from_api(body)

    def create_cluster(self, spec: ClusterSpec) -> tuple[str, str]:
        """POST /clusters on the cluster region's endpoint; returns (cluster_id, task_id).

        Not retried on network errors: the call may have reached the cloud, and the caller reconciles
        by name and tags instead of blindly creating a second cluster. Retried on the cloud's transient answers
        only when the body carries its `client_token`, so a repeat lands on the same cluster.
        """
        request = _sdk_request(spec.wire_body())
        body = self._clients.call(
            "CreateCluster",
            lambda: self._cs(spec.region_id).create_cluster(request).body.to_map(),
            idempotent=False,
            client_token=bool(spec.client_token),
        )
        return body["cluster_id"], body.get("task_id", "")

    def describe_task(self, task_id: str, region: str | None = None) -> TaskInfo:
        body = self._clients.call(
            "DescribeTaskInfo", lambda: self._cs(region).describe_task_info(task_id).body.to_map()
        )
        error = body.get("error") or {}
        return TaskInfo(
            task_id=body.get("task_id", task_id),
            state=body.get("state", ""),
            current_stage=body.get("current_stage") or "",
            error_code=str(error.get("code") or ""),
            error_message=str(error.get("message") or ""),
        )

    def user_kubeconfig(self, cluster_id: str, *, private: bool, minutes: int, region: str | None = None) -> Kubeconfig:
        from alibabacloud_cs20151215 import models as m

        request = m.DescribeClusterUserKubeconfigRequest(private_ip_address=private, temporary_duration_minutes=minutes)
        body = self._clients.call(
            "DescribeClusterUserKubeconfig",
            lambda: self._cs(region).describe_cluster_user_kubeconfig(cluster_id, request).body.to_map(),
        )
        expiration = body.get("expiration")
        return Kubeconfig(
            config=SecretStr(body["config"]),
            expiration=datetime.fromisoformat(expiration.replace("Z", "+00:00")) if expiration else None,
        )

    def list_addons(self, cluster_id: str, region: str | None = None) -> list[AddonInfo]:
        """ListClusterAddonInstances: the add-ons installed on a cluster (name, version, state)."""
        body = self._clients.call(
            "ListClusterAddonInstances", lambda: self._cs(region).list_cluster_addon_instances(cluster_id).body.to_map()
        )
        return [
            AddonInfo(name=a.get("name", ""), version=a.get("version") or "", state=a.get("state") or "")
            for a in body.get("addons") or []
            if a.get("name")
        ]

    def available_addons(self, cluster_id: str, region: str | None = None) -> list[AvailableAddon]:
        """ListAddons (`GET /addons?cluster_id=`): the add-ons this cluster may install and their current versions.

        InstallClusterAddons requires `version` ("This parameter is required. You can call the ListAddons operation
        to query ... component names and versions", SDK InstallClusterAddonsRequestBody doc), and Terraform's
        alicloud_cs_kubernetes_addon takes an add-on's installable version from ListAddons by cluster_id
        (alicloud/service_alicloud_cs.go, ListAddons / DescribeCsKubernetesAllAvailableAddons).
        DescribeClusterAddonsVersion would also say it, but Alibaba's API page marks it deprecated in favour of
        ListClusterAddonInstances, which lists only what is installed.
        """
        from alibabacloud_cs20151215 import models as m

        request = m.ListAddonsRequest(cluster_id=cluster_id)
        body = self._clients.call("ListAddons", lambda: self._cs(region).list_addons(request).body.to_map())
        return [
            AvailableAddon(name=a["name"], version=a.get("version") or "")
            for a in body.get("addons") or []
            if a.get("name")
        ]

    def install_addon(self, cluster_id: str, name: str, version: str, region: str | None = None) -> str:
        """InstallClusterAddons (`POST /clusters/{id}/components/install`) for one add-on; returns its task id.
        Not retried on network errors: the caller looks at the cluster's add-ons before installing again."""
        from alibabacloud_cs20151215 import models as m

        request = m.InstallClusterAddonsRequest(body=[m.InstallClusterAddonsRequestBody(name=name, version=version)])
        body = self._clients.call(
            "InstallClusterAddons",
            lambda: self._cs(region).install_cluster_addons(cluster_id, request).body.to_map(),
            idempotent=False,
        )
        return str(body.get("task_id") or "")

    def upgrade_addon(
        self, cluster_id: str, name: str, version: str, next_version: str, region: str | None = None
    ) -> str:
        """UpgradeClusterAddons (`POST /clusters/{id}/components/upgrade`) from `version` to `next_version`, with the
        `overwrite` policy Terraform's upgradeAddon sends (alicloud/service_alicloud_cs.go); returns its task id."""
        from alibabacloud_cs20151215 import models as m

        item = m.UpgradeClusterAddonsRequestBody(
            component_name=name, version=version, next_version=next_version, policy="overwrite"
        )
        request = m.UpgradeClusterAddonsRequest(body=[item])
        body = self._clients.call(
            "UpgradeClusterAddons",
            lambda: self._cs(region).upgrade_cluster_addons(cluster_id, request).body.to_map(),
            idempotent=False,
        )
        return str(body.get("task_id") or "")

    def delete_cluster(self, cluster_id: str, region: str | None = None) -> str:
        """DeleteCluster; returns the delete task id. Repeating it on a cluster being deleted returns that task."""
        from alibabacloud_cs20151215 import models as m

        body = self._clients.call(
            "DeleteCluster",
            lambda: self._cs(region).delete_cluster(cluster_id, m.DeleteClusterRequest()).body.to_map(),
        )
        return str(body.get("task_id") or "")
