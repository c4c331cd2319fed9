"""Cluster rules shared by every CS route: finding a live cluster and refusing deprecated request fields."""

from __future__ import annotations

import json
import re

from ack_compute.sandbox import sdk_marks
from ack_compute.sandbox.cs.exceptions import cluster_not_found, cs_invalid
from ack_compute.sandbox.state import SandboxState
from ack_compute.sandbox.world import Cluster

DELETABLE_STATES = ("initial", "running", "failed", "delete_failed")


def find_cluster(state: SandboxState, cluster_id: str) -> Cluster:
    """The cluster, still visible while recently deleted; ErrorClusterNotFound otherwise. Call under the lock."""
    cluster = state.world.clusters.get(cluster_id)
    if cluster is None or state.lifecycle.gone(cluster):
        raise cluster_not_found(cluster_id)
    return cluster


def refuse_deprecated(raw: bytes, model: str) -> None:
    """400 for any field the installed SDK marks `**[Deprecated]**` in `model`, at any depth, even when empty.

    Alibaba's "Announcement on ACK API parameter changes and deprecation" (2026): deprecated parameters of
    CreateCluster "become invalid or request validation reports an error code 400". The code the sandbox
    sends is CS's InvalidParameter (documented for CreateCluster; see tests/conformance/documented_errors.json).
    The message carries the SDK's own advice, so a caller learns the replacement.
    """
    try:
        body = json.loads(raw or b"{}")
    except json.JSONDecodeError:
        return  # parse_body reports it
    deprecated = [f for f in sdk_marks.check_body(sdk_marks.CS_PACKAGE, model, body) if f.problem == "deprecated"]
    if deprecated:
        first = deprecated[0]
        others = f" (also deprecated: {', '.join(f.path for f in deprecated[1:])})" if len(deprecated) > 1 else ""
        # The SDK's first sentence that names a replacement ("Use instance_ids instead."), else leave it out.
        sentences = [part.strip(" .") for part in re.split(r"[.>]\s+|</?\w+>", first.replacement())]
        advice = next((part for part in sentences if re.search(r"\buse\b", part, re.IGNORECASE)), "Leave it out")
        raise cs_invalid(f"{first.path} is deprecated and no longer accepted{others}. {advice}.")
