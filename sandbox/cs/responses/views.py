"""CS (ROA) renderings of clusters, node pools, add-ons and tasks: snake_case JSON the SDK's from_map fills in."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

from ack_compute.sandbox.world import AddonInstance, Cluster, Node, NodePool, Tag, Task

# The CS API reports times in the region's zone; the sandbox's regions are all UTC+8.
_REGION_ZONE = timezone(timedelta(hours=8))


def cs_time(moment: datetime | None) -> str | None:
    """`2020-08-20T10:51:29+08:00`, the CS API's time format."""
    return moment.astimezone(_REGION_ZONE).isoformat(timespec="seconds") if moment is not None else None


def tags_view(tags: list[Tag]) -> list[dict[str, str]]:
    return [{"key": tag.key, "value": tag.value} for tag in tags]


def cluster_view(cluster: Cluster, server_url: str | None) -> dict[str, Any]:
    """DescribeClusterDetail's fields (without `parameters`); none the SDK marks deprecated (`vswitch_id` is: the
    2026 announcement says DescribeClusterDetail no longer returns deprecated fields)."""
    intranet = server_url or ""
    master_url = {
        "api_server_endpoint": intranet if cluster.endpoint_public_access else "",
        "intranet_api_server_endpoint": intranet,
    }
    addons = [{"name": addon.name, "config": addon.config, "disabled": False} for addon in cluster.addons]
    meta = {
        "Addons": addons,
        "KubernetesVersion": cluster.kubernetes_version,
        "VpcId": cluster.vpc_id,
    }
    return {
        "cluster_id": cluster.cluster_id,
        "name": cluster.name,
        "region_id": cluster.region_id,
        "zone_id": cluster.zone_id,
        "cluster_type": cluster.cluster_type,
        "cluster_spec": cluster.cluster_spec,
        "profile": cluster.profile,
        "state": cluster.state,
        "size": len(cluster.live_nodes()),
        "current_version": cluster.kubernetes_version,
        "init_version": cluster.kubernetes_version,
        "next_version": "",
        "vpc_id": cluster.vpc_id,
        "vswitch_ids": list(cluster.vswitch_ids),
        "container_cidr": cluster.container_cidr or "",
        "subnet_cidr": cluster.container_cidr or "",
        "service_cidr": cluster.service_cidr,
        "security_group_id": cluster.security_group_id or "",
        "network_mode": "vpc",
        "proxy_mode": "ipvs",
        "deletion_protection": cluster.deletion_protection,
        "resource_group_id": cluster.resource_group_id,
        "private_zone": False,
        "ip_stack": "ipv4",
        "timezone": "Asia/Shanghai",
        "cluster_domain": "cluster.local",
        "docker_version": "",
        "external_loadbalancer_id": "",
        "master_url": json.dumps(master_url),
        "meta_data": json.dumps(meta),
        "worker_ram_role_name": f"KubernetesWorkerRole-{cluster.cluster_id[1:9]}",
        "maintenance_window": {"enable": False},
        "tags": tags_view(cluster.tags),
        "created": cs_time(cluster.created),
        "updated": cs_time(cluster.updated),
    }


# The item fields of DescribeClustersForRegion (SDK 7.2.3 DescribeClustersForRegionResponseBodyClusters): no
# zone_id, vswitch_id, master_url or meta_data, unlike the decommissioned DescribeClustersV1.
LIST_ITEM_FIELDS = (
    "cluster_domain",
    "cluster_id",
    "cluster_spec",
    "cluster_type",
    "container_cidr",
    "created",
    "current_version",
    "deletion_protection",
    "init_version",
    "ip_stack",
    "name",
    "next_version",
    "profile",
    "proxy_mode",
    "region_id",
    "resource_group_id",
    "security_group_id",
    "service_cidr",
    "size",
    "state",
    "tags",
    "timezone",
    "updated",
    "vpc_id",
    "vswitch_ids",
)


def cluster_list_view(cluster: Cluster) -> dict[str, Any]:
    """An item of DescribeClustersForRegion."""
    full = cluster_view(cluster, None)
    return {key: full[key] for key in LIST_ITEM_FIELDS}


def cluster_detail_view(cluster: Cluster, server_url: str | None) -> dict[str, Any]:
    parameters = {
        "ClusterId": cluster.cluster_id,
        "KubernetesVersion": cluster.kubernetes_version,
        "VpcId": cluster.vpc_id,
        "ContainerCIDR": cluster.container_cidr or "",
        "ServiceCIDR": cluster.service_cidr,
        "SNatEntry": str(cluster.snat_entry),
        "Eip": str(cluster.endpoint_public_access),
    }
    return cluster_view(cluster, server_url) | {"parameters": parameters}


def nodepool_view(cluster: Cluster, pool: NodePool) -> dict[str, Any]:
    nodes = [node for node in cluster.live_nodes() if node.nodepool_id == pool.nodepool_id]
    removing = sum(node.removing for node in nodes)
    healthy = sum(node.ready and not node.removing for node in nodes)
    return {
        "nodepool_info": {
            "nodepool_id": pool.nodepool_id,
            "name": pool.name,
            "is_default": pool.is_default,
            "type": "ess",
            "region_id": pool.region_id,
            "resource_group_id": cluster.resource_group_id,
            "created": cs_time(pool.created),
            "updated": cs_time(pool.updated),
        },
        "scaling_group": {
            "scaling_group_id": f"asg-{pool.nodepool_id[2:22]}",
            "vswitch_ids": list(pool.vswitch_ids),
            "instance_types": list(pool.instance_types),
            "desired_size": pool.desired_size,
            "instance_charge_type": pool.instance_charge_type,
            "spot_strategy": pool.spot_strategy,
            "image_type": pool.image_type,
            "system_disk_category": pool.system_disk_category,
            "system_disk_size": pool.system_disk_size,
            "system_disk_performance_level": pool.system_disk_performance_level or "",
            "data_disks": [disk.model_dump(exclude_none=True) for disk in pool.data_disks],
            "key_pair": pool.key_pair or "",
            "login_password": "",
            # scaling_group.security_group_id is deprecated in the SDK's response model: only the list is sent.
            "security_group_ids": [pool.security_group_id or cluster.security_group_id or ""],
            "multi_az_policy": "BALANCE",
            "tags": tags_view(pool.tags),
        },
        "kubernetes_config": {
            "labels": tags_view(pool.labels),
            "taints": [taint.model_dump() for taint in pool.taints],
            "runtime": "containerd",
            "runtime_version": "1.6.36",
            "cpu_policy": "none",
            "cms_enabled": False,
            "unschedulable": False,
        },
        "management": {"enable": False},
        "status": {
            "state": pool.state,
            "total_nodes": len(nodes),
            "healthy_nodes": healthy,
            "serving_nodes": healthy,
            "initial_nodes": sum(not node.ready and not node.removing for node in nodes),
            "failed_nodes": 0,
            "offline_nodes": 0,
            "removing_nodes": removing,
        },
    }


def node_view(cluster: Cluster, node: Node) -> dict[str, Any]:
    """An item of DescribeClusterNodes (SDK DescribeClusterNodesResponseBodyNodes): `state` as its request filter
    names them (running, removing, initial), `node_status` Ready or NotReady."""
    family = node.instance_type.rsplit(".", 1)[0] if node.instance_type.count(".") >= 2 else node.instance_type
    pool = cluster.nodepool(node.nodepool_id)
    return {
        "instance_id": node.instance_id,
        "instance_name": node.name,
        "node_name": node.name,
        "host_name": node.name,
        "instance_role": "Worker",
        "instance_status": "Running",
        "instance_type": node.instance_type,
        "instance_type_family": family.split("-")[0],
        "instance_charge_type": pool.instance_charge_type if pool is not None else "PostPaid",
        "spot_strategy": pool.spot_strategy if pool is not None else "NoSpot",
        "ip_address": [node.private_ip],
        "is_aliyun_node": True,
        "nodepool_id": node.nodepool_id,
        "node_status": "Ready" if node.ready else "NotReady",
        "state": "removing" if node.removing else ("running" if node.ready else "initial"),
        "creation_time": cs_time(node.created),
        "error_message": "",
    }


def addon_instance_view(addon: AddonInstance) -> dict[str, Any]:
    """An entry of ListClusterAddonInstances."""
    return {"name": addon.name, "version": addon.version, "state": addon.state}


def addon_detail_view(addon: AddonInstance) -> dict[str, Any]:
    """GetClusterAddonInstance: the entry plus its config (a JSON string) and the log feature, which is off."""
    logging = {"capable": False, "enabled": False, "log_project": "", "logstore": ""}
    return addon_instance_view(addon) | {"config": addon.config, "logging": logging}


def task_view(task: Task) -> dict[str, Any]:
    body: dict[str, Any] = {
        "task_id": task.task_id,
        "cluster_id": task.cluster_id,
        "task_type": task.task_type,
        "state": task.state,
        "current_stage": task.current_stage,
        "created": cs_time(task.created),
        "updated": cs_time(task.updated),
        "target": {"id": task.target_id, "type": task.target_type},
        "stages": [
            {
                "state": stage.state,
                "message": stage.message,
                "start_time": _stage_time(stage.start_time),
                "end_time": _stage_time(stage.end_time) or "",
            }
            for stage in task.stages
        ],
        "events": [
            {
                "action": event.action,
                "level": event.level,
                "message": event.message,
                "reason": event.reason,
                "source": event.source,
                "timestamp": str(int(event.timestamp.timestamp() * 1000)),
            }
            for event in task.events
        ],
        "task_result": [{"data": task.target_id, "status": _result_status(task)}],
    }
    if task.error is not None:
        body["error"] = {"code": task.error.code, "message": task.error.message}
    return body


def _stage_time(moment: datetime | None) -> str | None:
    """Stages use `YYYY-MM-DD HH:mm:ss`."""
    return moment.astimezone(_REGION_ZONE).strftime("%Y-%m-%d %H:%M:%S") if moment is not None else None


def _result_status(task: Task) -> str:
    return {"running": "initial", "success": "success", "fail": "failed"}[task.state]
