"""Pod status as the kubelet computes it (1.20's getPhase and condition generators), from container statuses."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

KUBELET_CONDITIONS = ("Initialized", "Ready", "ContainersReady", "PodScheduled")
TERMINAL_PHASES = ("Succeeded", "Failed")


def now_rfc3339() -> str:
    """Kubernetes timestamps are whole seconds (the apiserver would truncate finer ones)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def go_duration(seconds: float) -> str:
    """How Go prints a time.Duration of whole seconds: 10s, 1m20s, 5m0s."""
    total = int(seconds)
    minutes, secs = divmod(total, 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


def _by_name(statuses: Sequence[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    return {status["name"]: status for status in statuses}


def pod_phase(
    spec: Mapping[str, Any], init_statuses: Sequence[Mapping[str, Any]], statuses: Sequence[Mapping[str, Any]]
) -> str:
    """The kubelet's getPhase."""
    restart = spec.get("restartPolicy") or "Always"
    inits = _by_name(init_statuses)
    pending_init = failed_init = 0
    for container in spec.get("initContainers") or []:
        status = inits.get(container["name"])
        state = (status or {}).get("state") or {}
        if status is None or "running" in state:
            pending_init += 1
        elif "terminated" in state:
            failed_init += state["terminated"].get("exitCode", 0) != 0
        elif "waiting" in state:
            last = ((status.get("lastState") or {}).get("terminated")) or None
            if last is not None:
                failed_init += last.get("exitCode", 0) != 0
            else:
                pending_init += 1
        else:
            pending_init += 1
    unknown = running = waiting = stopped = succeeded = 0
    mains = _by_name(statuses)
    for container in spec.get("containers") or []:
        status = mains.get(container["name"])
        state = (status or {}).get("state") or {}
        if status is None:
            unknown += 1
        elif "running" in state:
            running += 1
        elif "terminated" in state:
            stopped += 1
            succeeded += state["terminated"].get("exitCode", 0) == 0
        elif "waiting" in state:
            if (status.get("lastState") or {}).get("terminated"):
                stopped += 1
            else:
                waiting += 1
        else:
            unknown += 1
    if failed_init and restart == "Never":
        return "Failed"
    if pending_init or waiting:
        return "Pending"
    if running and not unknown:
        return "Running"
    if not running and stopped and not unknown:
        if restart == "Always":
            return "Running"
        if stopped == succeeded:
            return "Succeeded"
        if restart == "Never":
            return "Failed"
        return "Running"
    return "Pending"


def _names(names: list[str]) -> str:
    return "[" + " ".join(names) + "]"


def _readiness(
    kind: str,
    containers: Sequence[Mapping[str, Any]],
    statuses: Sequence[Mapping[str, Any]],
    phase: str,
    not_ready_reason: str,
    unready_words: str,
) -> dict[str, Any]:
    found = _by_name(statuses)
    unknown = [c["name"] for c in containers if c["name"] not in found]
    unready = [c["name"] for c in containers if c["name"] in found and not found[c["name"]].get("ready")]
    if phase == "Succeeded" and not unknown:
        status = "True" if kind == "Initialized" else "False"
        return {"type": kind, "status": status, "reason": "PodCompleted"}
    messages = []
    if unknown:
        messages.append(f"containers with unknown status: {_names(unknown)}")
    if unready:
        messages.append(f"containers with {unready_words} status: {_names(unready)}")
    if messages:
        return {"type": kind, "status": "False", "reason": not_ready_reason, "message": ", ".join(messages)}
    return {"type": kind, "status": "True"}


def pod_conditions(
    spec: Mapping[str, Any],
    phase: str,
    init_statuses: Sequence[Mapping[str, Any]],
    statuses: Sequence[Mapping[str, Any]],
) -> list[dict[str, Any]]:
    """Initialized, Ready, ContainersReady and PodScheduled, without times (the writer keeps or sets those)."""
    inits = spec.get("initContainers") or []
    initialized = (
        {"type": "Initialized", "status": "True"}
        if not inits
        else _readiness("Initialized", inits, init_statuses, phase, "ContainersNotInitialized", "incomplete")
    )
    containers = spec.get("containers") or []
    ready = _readiness("Ready", containers, statuses, phase, "ContainersNotReady", "unready")
    containers_ready = _readiness("ContainersReady", containers, statuses, phase, "ContainersNotReady", "unready")
    return [initialized, ready, containers_ready, {"type": "PodScheduled", "status": "True"}]


def merge_conditions(
    ours: Sequence[Mapping[str, Any]], current: Sequence[Mapping[str, Any]], timestamp: str
) -> list[dict[str, Any]]:
    """Our conditions with the status manager's timestamps (a transition time moves only when the status
    does), followed by conditions other writers own."""
    previous = {c.get("type"): c for c in current}
    out = []
    for condition in ours:
        before = previous.get(condition["type"])
        since = (
            (before or {}).get("lastTransitionTime") if (before or {}).get("status") == condition["status"] else None
        )
        out.append({**condition, "lastProbeTime": None, "lastTransitionTime": since or timestamp})
    out.extend(dict(c) for c in current if c.get("type") not in KUBELET_CONDITIONS)
    return out
