"""The free first stage of deploy_acs on an ACK Pro cluster this server created: install (or upgrade) the
ack-virtual-node add-on, wait for its task, then for Ready virtual nodes.

Idempotent by reading the cloud before every step: a resumed operation (the server crashed mid-install) finds the
add-on `initial` or `upgrading` and waits for it; it never sends a second InstallClusterAddons. The version comes
from ListAddons for this cluster, as Terraform's alicloud_cs_kubernetes_addon learns it (alicloud/
service_alicloud_cs.go); InstallClusterAddons requires it (SDK InstallClusterAddonsRequestBody: "This parameter is
required"). Terraform waits 10 minutes for an add-on create or update (resource_alicloud_cs_kubernetes_addon.go,
Timeouts), so do we.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from ack_compute.cloud.cs import ContainerService
from ack_compute.cloud.errors import CloudError
from ack_compute.cloud.kube_workloads import NodeView
from ack_compute.tools.acs_placement import (
    MIN_ADDON_VERSION,
    VIRTUAL_NODE_ADDON,
    VIRTUAL_NODE_LABEL,
    addon_work,
    parse_version,
)
from ack_compute.tools.errors import AckComputeError, CloudFailure, cloud_call
from ack_compute.tools.identity import current_caller
from ack_compute.tools.ownership import LIVE, Ownership
from ack_compute.tools.targets import ClusterTarget

ADDON_WAIT_SECONDS = 600.0
POLL_SECONDS = 2.0
FAILED_TASK_STATES = ("fail", "failed")  # Terraform's DescribeTaskRefreshFunc fail states for add-on tasks
Progress = Callable[[float, str], None]
T = TypeVar("T")


def installs_here(ownership: Ownership, target: ClusterTarget) -> bool:
    """Only on a cluster this server created (its ledger row is `created` and live) that this caller owns (or an
    admin): anything else is someone else's cluster to change."""
    if target.cluster_id is None or target.kind != "ack":
        return False
    caller = current_caller()
    return any(
        row.kind == "cluster"
        and row.origin == "created"
        and row.cloud_id == target.cluster_id
        and row.state in LIVE
        and caller.sees(row.owner)
        for row in ownership.all()
    )


class VirtualNodeAddon:
    def __init__(self, cs: ContainerService, *, wait_s: float = ADDON_WAIT_SECONDS, poll_s: float = POLL_SECONDS):
        self.cs = cs
        self.wait_s = wait_s
        self.poll_s = poll_s

    def ensure(self, target: ClusterTarget, nodes: Callable[[], list[NodeView]], progress: Progress) -> str:
        """Bring ack-virtual-node to an active, recent version and its virtual nodes to Ready; returns what it did.
        `nodes` lists the cluster's nodes (through a fresh kubeconfig each time: temporary ones expire);
        `progress(fraction, message)` reports (and raises once the operation is cancelled)."""
        assert target.cluster_id is not None
        cluster, region = target.cluster_id, target.region
        label = target.name or cluster
        kube = target.info.current_version if target.info else ""
        deadline = time.monotonic() + self.wait_s
        task_id, did = "", f"{VIRTUAL_NODE_ADDON} was already active"
        while True:
            work = addon_work(self._cloud(lambda: self.cs.list_addons(cluster, region)), kube, label)
            if work is None:
                break
            if work.action == "wait" or task_id:
                if task_id and (task := self._cloud(lambda t=task_id: self.cs.describe_task(t, region))).state in (
                    FAILED_TASK_STATES
                ):
                    raise CloudFailure(
                        f"Installing {VIRTUAL_NODE_ADDON} on cluster {label} failed (task {task_id}: "
                        f"{task.error_code} {task.error_message}).".replace(" )", ")"),
                        "Nothing was deployed and the quote was not spent; check the add-on in the ACK console, "
                        "then call deploy_acs again.",
                    )
                progress(0.2, f"waiting for {VIRTUAL_NODE_ADDON} ({work.state or 'installing'})")
                did = f"waited for the {VIRTUAL_NODE_ADDON} add-on being installed"
            else:
                version = self._version(cluster, region, label)
                if work.action == "install":
                    try:
                        task_id = self.cs.install_addon(cluster, VIRTUAL_NODE_ADDON, version, region)
                    except CloudError as exc:
                        # Installed meanwhile (another call, or our own whose answer was lost): wait for that one.
                        listed = self._cloud(lambda: self.cs.list_addons(cluster, region))
                        if not any(a.name == VIRTUAL_NODE_ADDON for a in listed):
                            raise CloudFailure(
                                str(exc), "Nothing was deployed and the quote was not spent; call deploy_acs again."
                            ) from None
                        continue
                    did = f"installed the free {VIRTUAL_NODE_ADDON} add-on {version}"
                else:
                    task_id = self._cloud(
                        lambda v=version, old=work.installed: self.cs.upgrade_addon(
                            cluster, VIRTUAL_NODE_ADDON, old, v, region
                        )
                    )
                    did = f"upgraded the free {VIRTUAL_NODE_ADDON} add-on from {work.installed} to {version}"
                doing = "installing" if work.action == "install" else "upgrading"
                progress(0.1, f"{doing} {VIRTUAL_NODE_ADDON} {version} (free; task {task_id})")
            self._sleep(deadline, label)
        progress(0.4, "waiting for Ready virtual nodes")
        key, value = VIRTUAL_NODE_LABEL
        while not any(n.ready for n in self._cloud(nodes) if n.labels.get(key) == value):
            self._sleep(deadline, label)
        return f"Before deploying, {did} on cluster {label}; its virtual nodes are Ready."

    def _version(self, cluster: str, region: str, label: str) -> str:
        offered = self._cloud(lambda: self.cs.available_addons(cluster, region))
        version = next((a.version for a in offered if a.name == VIRTUAL_NODE_ADDON), "")
        if parse_version(version) < MIN_ADDON_VERSION:
            raise AckComputeError(
                f"ListAddons offers {VIRTUAL_NODE_ADDON} {version or 'in no version'} for cluster {label}; ACS "
                "compute needs 2.13.0 or later.",
                "Nothing was deployed and the quote was not spent; install the add-on in the ACK console, then "
                "call deploy_acs again.",
            )
        return version

    def _sleep(self, deadline: float, label: str) -> None:
        if time.monotonic() >= deadline:
            raise AckComputeError(
                f"{VIRTUAL_NODE_ADDON} on cluster {label} was not ready after {self.wait_s / 60:g} minutes.",
                "Nothing was deployed and the quote was not spent; check the add-on in the ACK console, then call "
                "deploy_acs again (it waits for an install already running).",
            )
        time.sleep(self.poll_s)

    @staticmethod
    def _cloud(fn: Callable[[], T]) -> T:
        return cloud_call(fn, "Nothing was deployed and the quote was not spent; call deploy_acs again.")
