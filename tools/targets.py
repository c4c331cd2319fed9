"""Which cluster a workload tool means: an ACK cluster id, an ACK cluster name, or `context:<name>` from a local
kubeconfig (an ACK One registered cluster, or any other cluster). Resolved once, before anything is created."""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from ack_compute.cloud.cs import ClusterInfo, ContainerService
from ack_compute.cloud.errors import CloudError
from ack_compute.cloud.kube import KubeAccess, context_kubeconfig
from ack_compute.tools.cluster_states import describe, exists, is_usable, sentence
from ack_compute.tools.errors import AckComputeError, CloudFailure
from ack_compute.tools.identity import current_caller
from ack_compute.tools.kubeconfigs import Kubeconfigs
from ack_compute.tools.ownership import LIVE, OwnedResource, Ownership

CLUSTER_ID = re.compile(r"^c[0-9a-f]{32}$")
CONTEXT_PREFIX = "context:"
CLUSTER_REF_PATTERN = r"^(context:\S{1,253}|[0-9A-Za-z\u4e00-\u9fa5][0-9A-Za-z\u4e00-\u9fa5-]{0,62})$"
CONTEXT_SCOPE_PREFIX = "ack-compute:context:"  # an OAuth scope (or tokens-file grant) naming one context
ClusterKind = Literal["ack", "serverless", "registered", "context"]


class ReadOnlyServer(AckComputeError):
    """A read-only server was asked to reach a cluster; nothing was fetched or sent."""


class ClusterTarget(BaseModel):
    """A resolved cluster: how to reach it and what kind it is (which decides how ACS pods are placed)."""

    ref: str
    kind: ClusterKind
    region: str
    cluster_id: str | None = None
    context: str | None = None
    name: str = ""
    info: ClusterInfo | None = None

    @property
    def key(self) -> str:
        """How the ledger names the cluster a workload runs on."""
        return self.cluster_id or f"{CONTEXT_PREFIX}{self.context}"


def cluster_kind(info: ClusterInfo) -> ClusterKind:
    if info.profile.lower() == "serverless" or info.cluster_type.lower() == "ask":
        return "serverless"
    if info.cluster_type == "ExternalKubernetes":
        return "registered"
    return "ack"


def near_names(clusters: list[OwnedResource], ref: str, region: str) -> str:
    """The caller's live clusters whose names are one slip from `ref` (case aside), as "name (id)", or ''."""
    live = {r.name: r for r in clusters if r.kind == "cluster" and r.state in LIVE and r.region == region}
    close = difflib.get_close_matches(ref.lower(), [n.lower() for n in live], n=3, cutoff=0.75)
    return ", ".join(f"{n} ({live[n].cloud_id or live[n].state})" for n in live if n.lower() in close and n != ref)


def default_kubeconfig_path() -> Path:
    """The first file of $KUBECONFIG, else ~/.kube/config, as kubectl reads it."""
    listed = [p for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p]
    return Path(listed[0]).expanduser() if listed else Path.home() / ".kube" / "config"


class Targets:
    def __init__(
        self,
        cs: ContainerService,
        kubeconfigs: Kubeconfigs,
        default_region: str,
        kubeconfig_path: Path | None = None,
        *,
        allowed_contexts: Sequence[str] = (),
        allow_exec_credentials: bool = False,
        read_only: bool = False,
        ownership: Ownership | None = None,
    ) -> None:
        """`read_only`: a read-only server reaches no cluster: it fetches no kubeconfig (a credential its RAM policy
        leaves out: ACS pods started through one are billed) and uses no local one. `ownership`: the ledger's
        clusters, which a cluster the cloud does not know is compared with."""
        self.cs = cs
        self.kubeconfigs = kubeconfigs
        self.default_region = default_region
        self.kubeconfig_path = kubeconfig_path
        self.allowed_contexts = tuple(allowed_contexts)
        self.allow_exec_credentials = allow_exec_credentials
        self.read_only = read_only
        self.ownership = ownership

    def resolve(self, ref: str, region: str | None = None) -> ClusterTarget:
        region = region or self.default_region
        if ref.startswith(CONTEXT_PREFIX):
            context = ref[len(CONTEXT_PREFIX) :]
            self._check_caller(context)
            self._context_config(context)  # fail now, before anything is created, if the context is unusable
            return ClusterTarget(ref=ref, kind="context", region=region, context=context, name=context)
        info = self._by_id(ref) if CLUSTER_ID.match(ref) else None
        if info is None:
            info = self._by_name(ref, region)
        if not is_usable(info.state):
            op = self._creating(info.cluster_id, info.region_id or region)
            raise AckComputeError(
                f"{sentence(info.name, info.cluster_id, info.state)}, so nothing can run on it now; nothing was "
                "created.",
                f"Call get_operation with {op} until it is done, then call this again."
                if op
                else f"{describe(info.state).what_to_do} Or choose a running cluster.",
            )
        return ClusterTarget(
            ref=ref,
            kind=cluster_kind(info),
            region=info.region_id or region,
            cluster_id=info.cluster_id,
            name=info.name,
            info=info,
        )

    def _by_id(self, cluster_id: str) -> ClusterInfo | None:
        try:
            return self.cs.describe_cluster(cluster_id)
        except CloudError as exc:
            if exc.is_not_found:
                return None
            raise CloudFailure(str(exc), "Nothing was created; retry when the cloud answers.") from None

    def _by_name(self, name: str, region: str) -> ClusterInfo:
        try:
            listed = self.cs.list_clusters(name=name, region=region)
        except CloudError as exc:
            raise CloudFailure(str(exc), "Nothing was created; retry when the cloud answers.") from None
        exact = [c for c in listed if c.name == name and (not c.region_id or c.region_id == region)]
        # A running one first, then one that still exists (its state says why it cannot be used), then a deleted one.
        for keep in (lambda c: is_usable(c.state), lambda c: exists(c.state), lambda c: True):
            found = [c for c in exact if keep(c)]
            if found:
                return found[0]
        raise self._not_found(name, region)

    def _my_clusters(self) -> list[OwnedResource]:
        return [r for r in self.ownership.visible() if r.kind == "cluster"] if self.ownership is not None else []

    def _creating(self, ref: str, region: str, mine: list[OwnedResource] | None = None) -> str | None:
        """The caller's operation creating the cluster of that name or id, if one is (`mine`: their cluster rows,
        when already read)."""
        mine = self._my_clusters() if mine is None else mine
        rows = [r for r in mine if r.state in ("intent", "creating") and r.region == region]
        op = next((r.operation_id for r in reversed(rows) if ref in (r.name, r.cloud_id)), None)
        if op is None or self.ownership is None:
            return None
        # Only one still at work: a create that failed half-way leaves its row live for cleanup, and following its
        # operation would only say it failed (ensure_cluster sorts that case out).
        state = self.ownership.ledger.query("SELECT state FROM operations WHERE operation_id = :op", {"op": op})
        return op if state and state[0]["state"] == "running" else None

    def _not_found(self, ref: str, region: str) -> AckComputeError:
        """What the caller's own ledger knows of a ref the cloud does not: a cluster of theirs still being created
        (the cloud has none until CreateCluster returns), or their clusters' names one slip away. A bare "no such
        cluster, call ensure_cluster" had an agent buy a second cluster for a typo."""
        mine = self._my_clusters()
        if op := self._creating(ref, region, mine):
            return AckComputeError(
                f"Cluster {ref} is still being created ({op}); nothing can run on it yet and nothing was created.",
                f"Call get_operation with {op} until it is done, then call this again.",
            )
        if hint := near_names(mine, ref, region):
            return AckComputeError(
                f"No cluster with id or name {ref!r} in {region}. Did you mean {hint}? Nothing was created.",
                "Pass that name or id exactly as written. Call ensure_cluster only to create a new cluster.",
            )
        return AckComputeError(
            f"No cluster with id or name {ref!r} in {region}.",
            "Call ensure_cluster to find or create one, pass its cluster_id, or use context:<name> for a cluster "
            "in your local kubeconfig.",
        )

    def _check_caller(self, context: str) -> None:
        """A context is usable only if the operator allowed it on this server and, over HTTP, for this caller
        (admins may use every allowed one). The refusal names only contexts this caller may use."""
        caller = current_caller()
        self._check_allowed(context)
        if not caller.may_use_context(context):
            granted = [c for c in self.allowed_contexts if caller.may_use_context(c)]
            raise AckComputeError(
                f"context {context} is not allowed for {caller.label}; contexts {caller.label} may use: "
                f"{', '.join(granted) or 'none'}.",
                "Use an ACK cluster id or name, or ask the operator to grant the context (`contexts` in the tokens "
                f"file, or the OAuth scope {CONTEXT_SCOPE_PREFIX}<name>).",
            )

    def _check_allowed(self, context: str) -> None:
        """Server-wide: only the contexts in ACK_COMPUTE_ALLOWED_CONTEXTS (none by default)."""
        if context in self.allowed_contexts:
            return
        caller = current_caller()
        shown = [c for c in self.allowed_contexts if caller.may_use_context(c)]
        raise AckComputeError(
            f"context {context} is not allowed on this server; allowed contexts: {', '.join(shown) or 'none'} "
            "(setting ACK_COMPUTE_ALLOWED_CONTEXTS).",
            "Use an ACK cluster id or name, or one of the allowed contexts; nothing was created.",
        )

    def _context_config(self, context: str) -> KubeAccess:
        self._check_allowed(context)  # also on resume and cleanup: the operator may have withdrawn it since
        path = self.kubeconfig_path or default_kubeconfig_path()
        try:
            return KubeAccess(context_kubeconfig(path, context, allow_exec=self.allow_exec_credentials))
        except CloudError as exc:
            fix = (
                "Ask the operator to switch the context to a token or client certificate, or to set "
                "ACK_COMPUTE_ALLOW_EXEC_CREDENTIALS=true."
                if exc.code == "CredentialProgramRefused"
                else "Ask the operator to check the server's kubeconfig (`ack-compute-mcp doctor`)."
            )
            raise AckComputeError(f"Cannot use context {context}: {exc.message}.", fix) from None

    def access(self, target: ClusterTarget, *, timeout_s: float = 10.0) -> KubeAccess:
        """A fresh client for the target (kubeconfigs from ACK are cached in memory and refreshed)."""
        if self.read_only:
            raise ReadOnlyServer(
                f"This server is read-only: it reaches no cluster, so it cannot read {target.ref}.",
                "Ask the person to use a server without --read-only for that.",
            )
        if target.context is not None:
            access = self._context_config(target.context)
            access.timeout_s = timeout_s
            return access
        assert target.cluster_id is not None
        try:
            return self.kubeconfigs.access(target.cluster_id, timeout_s=timeout_s)
        except CloudError as exc:
            if exc.code == "ErrorClusterState":  # deleted or being deleted meanwhile (a lease's end): no retry helps
                info = self._by_id(target.cluster_id)
                if info is not None and not is_usable(info.state):
                    raise AckComputeError(
                        f"{sentence(info.name, info.cluster_id, info.state)}, so nothing can run on it now.",
                        f"{describe(info.state).what_to_do} Or choose a running cluster.",
                    ) from None
            raise CloudFailure(str(exc), "Retry when the cloud answers.") from None
