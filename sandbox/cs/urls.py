"""The CS (ACK) routes: every ROA path the sandbox serves for API version 2015-12-15, in one list the router takes.

Alibaba's "Announcement on ACK API parameter changes and deprecation" (ACK help center, product overview;
rollout 2026-07-04, all regions by 2026-09-30) decommissions the actions in DECOMMISSIONED. They have no route,
so the gateway answers them as it answers any API it does not have: 404 InvalidAction.NotFound (errors.py).
"""

from __future__ import annotations

from ack_compute.sandbox.cs.responses import addons, clusters, kubeconfig, nodepools, regions, tasks
from ack_compute.sandbox.products import Product
from ack_compute.sandbox.router import Route

# No longer callable (the announcement above); a test keeps them unrouted and checks the refusal on the wire.
DECOMMISSIONED = (
    "DescribeClusters",
    "DescribeClustersV1",
    "GetUpgradeStatus",
    "PauseClusterUpgrade",
    "CancelClusterUpgrade",
    "ResumeUpgradeCluster",
)

_CLUSTER = "/clusters/{cluster_id}"
_POOL = _CLUSTER + "/nodepools/{nodepool_id}"
_ADDON_INSTANCES = _CLUSTER + "/addon_instances"
_K8S = "/k8s/{cluster_id}"
_ACCEPTED = {"DeleteCluster"}  # answered 202, not 200

_ROA = (  # method, path, action, handler
    ("GET", "/regions", "DescribeRegions", regions.describe_regions),
    ("POST", "/clusters", "CreateCluster", clusters.create_cluster),
    ("GET", "/regions/{region_id}/clusters", "DescribeClustersForRegion", clusters.describe_clusters_for_region),
    ("GET", _CLUSTER, "DescribeClusterDetail", clusters.describe_cluster_detail),
    ("DELETE", _CLUSTER, "DeleteCluster", clusters.delete_cluster),
    ("GET", _CLUSTER + "/nodepools", "DescribeClusterNodePools", nodepools.describe_cluster_node_pools),
    ("POST", _CLUSTER + "/nodepools", "CreateClusterNodePool", nodepools.create_cluster_node_pool),
    ("GET", _POOL, "DescribeClusterNodePoolDetail", nodepools.describe_cluster_node_pool_detail),
    ("PUT", _POOL, "ModifyClusterNodePool", nodepools.modify_cluster_node_pool),
    ("DELETE", _POOL, "DeleteClusterNodepool", nodepools.delete_cluster_nodepool),
    ("DELETE", _POOL + "/nodes", "RemoveNodePoolNodes", nodepools.remove_node_pool_nodes),
    ("GET", _CLUSTER + "/nodes", "DescribeClusterNodes", nodepools.describe_cluster_nodes),
    ("GET", "/tasks/{task_id}", "DescribeTaskInfo", tasks.describe_task_info),
    ("GET", _K8S + "/user_config", "DescribeClusterUserKubeconfig", kubeconfig.describe_cluster_user_kubeconfig),
    ("DELETE", _K8S + "/certs", "RevokeK8sClusterKubeConfig", kubeconfig.revoke_k8s_cluster_kube_config),
    ("GET", "/addons", "ListAddons", addons.list_addons),
    ("GET", _ADDON_INSTANCES, "ListClusterAddonInstances", addons.list_cluster_addon_instances),
    ("GET", _ADDON_INSTANCES + "/{instance_name}", "GetClusterAddonInstance", addons.get_cluster_addon_instance),
    ("POST", _CLUSTER + "/components/install", "InstallClusterAddons", addons.install_cluster_addons),
    ("POST", _CLUSTER + "/components/upgrade", "UpgradeClusterAddons", addons.upgrade_cluster_addons),
)

ROUTES = [
    Route(Product.CS, action, handler, method=method, path=path, status=202 if action in _ACCEPTED else 200)
    for method, path, action, handler in _ROA
]
