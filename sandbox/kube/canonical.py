"""What a JSON body looks like after the apiserver decoded it into Go structs and encoded it again.

Go's `omitempty` drops nulls, empty lists and empty maps; metav1.Time fields print `null` when unset. The
emulator stores bodies as JSON, so it applies the same normalisation on every write, before managedFields
are computed (the real field manager also sees the decoded object).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

# metav1.Time fields without omitempty: conditions' and container states' times (they print null when unset).
_CONDITION_TIMES = frozenset(
    {"lastProbeTime", "lastTransitionTime", "lastHeartbeatTime", "lastUpdateTime", "startedAt", "finishedAt"}
)
# Fields serialised even when null or empty (no omitempty, or metav1.Time which prints null).
_KEEP_NULL = frozenset({"containers", "creationTimestamp", *_CONDITION_TIMES})
_KEEP_EMPTY_LIST = frozenset({"containers"})
# map[string]... fields (omitempty drops them when empty); struct-typed fields keep printing `{}`.
_MAP_FIELDS = frozenset(
    {
        "labels",
        "annotations",
        "nodeSelector",
        "limits",
        "requests",
        "capacity",
        "allocatable",
        "data",
        "binaryData",
        "stringData",
        "matchLabels",
    }
)


# metav1.Time fields: any RFC 3339 spelling decodes, and they always print as UTC whole seconds with "Z"
# (clients such as the official Python one send "+00:00").
_TIME_FIELDS = frozenset(
    {
        "creationTimestamp",
        "deletionTimestamp",
        "time",
        *_CONDITION_TIMES,
        "startTime",
        "completionTime",
        "timeAdded",
        "lastTimestamp",
        "firstTimestamp",
        "lastScheduleTime",
        "lastSuccessfulTime",
    }
)


def canonical_time(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def canonicalize(value: Any) -> Any:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            item = canonical_time(item) if key in _TIME_FIELDS else canonicalize(item)
            if item is None and key not in _KEEP_NULL:
                continue
            if item == [] and key not in _KEEP_EMPTY_LIST:
                continue
            if item == {} and key in _MAP_FIELDS:
                continue
            out[key] = item
        return out
    if isinstance(value, list):
        return [canonicalize(item) for item in value]
    return value


def null_times(conditions: Any, fields: Iterable[str]) -> None:
    """Conditions carry their metav1.Time fields as null when a writer left them out."""
    if not isinstance(conditions, list):
        return
    for condition in conditions:
        if isinstance(condition, dict):
            for field in fields:
                condition.setdefault(field, None)
