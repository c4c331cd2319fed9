"""Security group rules: the names and types a group may have, and which groups clusters and their nodes still use."""

from __future__ import annotations

import re

from ack_compute.sandbox.world import World

GROUP_TYPES = ("normal", "enterprise")
NAME_PATTERN = re.compile(r"[A-Za-z\u4e00-\u9fff][\w\u4e00-\u9fff.:-]{1,127}")


def security_groups_in_use(world: World) -> dict[str, int]:
    """Groups a not-yet-deleted cluster uses, with how many live nodes sit in each."""
    used: dict[str, int] = {}
    for cluster in world.active_clusters():
        for group_id in {cluster.security_group_id, *(pool.security_group_id for pool in cluster.nodepools)}:
            if group_id:
                used.setdefault(group_id, 0)
        for node in cluster.live_nodes():
            pool = cluster.nodepool(node.nodepool_id)
            group_id = (pool.security_group_id if pool else None) or cluster.security_group_id
            if group_id:
                used[group_id] = used.get(group_id, 0) + 1
    return used
