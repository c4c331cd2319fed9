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

ROUTES = [
    Route(Product.CS, "DescribeRegions", regions.describe_regions, method="GET", path="/regions"),
    Route(Product.CS, "CreateCluster", clusters.create_cluster, method="POST", path="/clusters"),
    Route(
        Product.CS,
        "DescribeClustersForRegion",
        clusters.describe_clusters_for_region,
        method="GET",
        path="/regions/{region_id}/clusters",
    ),
    Route(
        Product.CS,
        "DescribeClusterDetail",
        clusters.describe_cluster_detail,
        method="GET",
        path="/clusters/{cluster_id}",
    ),
    Route(
        Product.CS, "DeleteCluster", clusters.delete_cluster, method="DELETE", path="/clusters/{cluster_id}", status=202
    ),
    Route(
        Product.CS,
        "DescribeClusterNodePools",
        nodepools.describe_cluster_node_pools,
        method="GET",
        path="/clusters/{cluster_id}/nodepools",
    ),
    Route(
        Product.CS,
        "CreateClusterNodePool",
        nodepools.create_cluster_node_pool,
        method="POST",
        path="/clusters/{cluster_id}/nodepools",
    ),
    Route(
        Product.CS,
        "DescribeClusterNodePoolDetail",
        nodepools.describe_cluster_node_pool_detail,
        method="GET",
        path="/clusters/{cluster_id}/nodepools/{nodepool_id}",
    ),
    Route(
        Product.CS,
        "ModifyClusterNodePool",
        nodepools.modify_cluster_node_pool,
        method="PUT",
        path="/clusters/{cluster_id}/nodepools/{nodepool_id}",
    ),
    Route(
        Product.CS,
        "DeleteClusterNodepool",
        nodepools.delete_cluster_nodepool,
        method="DELETE",
        path="/clusters/{cluster_id}/nodepools/{nodepool_id}",
    ),
    Route(
        Product.CS,
        "RemoveNodePoolNodes",
        nodepools.remove_node_pool_nodes,
        method="DELETE",
        path="/clusters/{cluster_id}/nodepools/{nodepool_id}/nodes",
    ),
    Route(
        Product.CS,
        "DescribeClusterNodes",
        nodepools.describe_cluster_nodes,
        method="GET",
        path="/clusters/{cluster_id}/nodes",
    ),
    Route(Product.CS, "DescribeTaskInfo", tasks.describe_task_info, method="GET", path="/tasks/{task_id}"),
    Route(
        Product.CS,
        "DescribeClusterUserKubeconfig",
        kubeconfig.describe_cluster_user_kubeconfig,
        method="GET",
        path="/k8s/{cluster_id}/user_config",
    ),
    Route(
        Product.CS,
        "RevokeK8sClusterKubeConfig",
        kubeconfig.revoke_k8s_cluster_kube_config,
        method="DELETE",
        path="/k8s/{cluster_id}/certs",
    ),
    Route(Product.CS, "ListAddons", addons.list_addons, method="GET", path="/addons"),
    Route(
        Product.CS,
        "ListClusterAddonInstances",
        addons.list_cluster_addon_instances,
        method="GET",
        path="/clusters/{cluster_id}/addon_instances",
    ),
    Route(
        Product.CS,
        "GetClusterAddonInstance",
        addons.get_cluster_addon_instance,
        method="GET",
        path="/clusters/{cluster_id}/addon_instances/{instance_name}",
    ),
    Route(
        Product.CS,
        "InstallClusterAddons",
        addons.install_cluster_addons,
        method="POST",
        path="/clusters/{cluster_id}/components/install",
    ),
    Route(
        Product.CS,
        "UpgradeClusterAddons",
        addons.upgrade_cluster_addons,
        method="POST",
        path="/clusters/{cluster_id}/components/upgrade",
    ),
]
