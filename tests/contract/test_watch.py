"""Watches through the official client: resourceVersion, selectors, timeouts, bookmarks and 410 Expired."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest
from kubernetes import watch
from kubernetes.client.exceptions import ApiException
from kubernetes.watch.watch import iter_resp_lines

from tests.contract.conftest import Namespace, failure

pytestmark = pytest.mark.contract


def pod(name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
    }


def summary(events: list[dict[str, Any]], obs: Any) -> list[dict[str, Any]]:
    return [
        {
            "type": e["type"],
            "name": obs(e["object"]["metadata"].get("name", "")),
            "labels": e["object"]["metadata"].get("labels"),
            "deleting": "deletionTimestamp" in e["object"]["metadata"],
        }
        for e in events
    ]


def without_scheduler_writes(events: list[dict[str, Any]], known: dict[str, Any]) -> list[dict[str, Any]]:
    """Drop the MODIFIED events the scheduler causes (its PodScheduled condition), which race with the test:
    those that change neither labels nor deletion state of an object in `known` (name -> metadata)."""
    out = []
    seen = {
        name: (json.dumps(meta.get("labels"), sort_keys=True), "deletionTimestamp" in meta)
        for name, meta in known.items()
    }
    for event in events:
        meta = event["object"]["metadata"]
        key = meta.get("name")
        state = (json.dumps(meta.get("labels"), sort_keys=True), "deletionTimestamp" in meta)
        if event["type"] == "MODIFIED" and seen.get(key) == state:
            continue
        seen[key] = state
        out.append(event)
    return out


def test_watch_from_resource_version_with_label_selector(contract: Any, helpers: Any) -> None:
    def scenario(backend: Any, obs: Any) -> list[dict[str, Any]]:
        core = backend.core()
        with Namespace(backend, helpers, obs, "watch") as ns:
            created = helpers.call(core.create_namespaced_pod, ns, pod("w", {"app": "w"}))
            core.create_namespaced_pod(ns, pod("other", {"app": "x"}))
            collector = helpers.EventCollector(
                core.list_namespaced_pod,
                ns,
                label_selector="app=w",
                resource_version=created["metadata"]["resourceVersion"],
                timeout_seconds=3,
            )
            for labels in ({"step": "1"}, {"app": "elsewhere"}, {"app": "w"}):
                core.patch_namespaced_pod("w", ns, {"metadata": {"labels": labels}})
            core.patch_namespaced_pod("other", ns, {"metadata": {"labels": {"step": "2"}}})
            core.delete_namespaced_pod("w", ns)
            events = collector.join()
            rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
            assert rvs == sorted(rvs) and rvs[0] > int(created["metadata"]["resourceVersion"])
            return summary(without_scheduler_writes(events, {"w": created["metadata"]}), obs)

    events = contract.run(scenario)
    assert events == [
        {"type": "MODIFIED", "name": "w", "labels": {"app": "w", "step": "1"}, "deleting": False},
        # Leaving the selection: DELETED with the object as it last matched.
        {"type": "DELETED", "name": "w", "labels": {"app": "w", "step": "1"}, "deleting": False},
        {"type": "ADDED", "name": "w", "labels": {"app": "w", "step": "1"}, "deleting": False},
        {"type": "MODIFIED", "name": "w", "labels": {"app": "w", "step": "1"}, "deleting": True},
        {"type": "DELETED", "name": "w", "labels": {"app": "w", "step": "1"}, "deleting": True},
    ]


@pytest.mark.parametrize("resource_version", [None, "0"])
def test_watch_without_resource_version_starts_with_current_state(
    contract: Any, helpers: Any, resource_version: str | None
) -> None:
    def scenario(backend: Any, obs: Any) -> dict[str, Any]:
        core = backend.core()
        with Namespace(backend, helpers, obs, "state") as ns:
            for name in ("a", "b"):
                core.create_namespaced_pod(ns, pod(name))
            kwargs = {"timeout_seconds": 2}
            if resource_version is not None:
                kwargs["resource_version"] = resource_version
            collector = helpers.EventCollector(core.list_namespaced_pod, ns, **kwargs)
            time.sleep(0.5)
            core.create_namespaced_pod(ns, pod("c"))
            events = [e for e in collector.join() if e["type"] != "MODIFIED"]
            return {
                "initial": sorted((e["type"], e["object"]["metadata"]["name"]) for e in events[:2]),
                "live": [(e["type"], e["object"]["metadata"]["name"]) for e in events[2:]],
                "kinds": sorted({(e["object"]["kind"], e["object"]["apiVersion"]) for e in events}),
            }

    result = contract.run(scenario)
    assert result == {
        "initial": [("ADDED", "a"), ("ADDED", "b")],
        "live": [("ADDED", "c")],
        "kinds": [("Pod", "v1")],
    }


def test_watch_timeout_and_future_resource_version(contract: Any, helpers: Any) -> None:
    """timeoutSeconds ends the stream; a resourceVersion from the future yields nothing until then (1.20)."""

    def scenario(backend: Any, obs: Any) -> dict[str, Any]:
        core = backend.core()
        with Namespace(backend, helpers, obs, "quiet") as ns:
            started = time.monotonic()
            quiet = helpers.EventCollector(core.list_namespaced_pod, ns, timeout_seconds=2).join()
            elapsed = time.monotonic() - started
            current = int(helpers.call(core.list_namespaced_pod, ns)["metadata"]["resourceVersion"])
            future = helpers.EventCollector(
                core.list_namespaced_pod, ns, resource_version=str(current + 100000), timeout_seconds=2
            )
            core.create_namespaced_pod(ns, pod("ignored"))
            return {"quiet": quiet, "in_time": 1.5 <= elapsed <= 6, "future": future.join()}

    assert contract.run(scenario) == {"quiet": [], "in_time": True, "future": []}


def test_watch_field_selector_limited_user_and_bad_selector(contract: Any, helpers: Any) -> None:
    def scenario(backend: Any, obs: Any) -> dict[str, Any]:
        core = backend.core()
        with Namespace(backend, helpers, obs, "named") as ns:
            named = helpers.EventCollector(
                backend.core("limited").list_namespaced_pod,
                ns,
                field_selector="metadata.name=target",
                timeout_seconds=2,
            )
            core.create_namespaced_pod(ns, pod("target"))
            core.create_namespaced_pod(ns, pod("bystander"))
            events = named.join()
            with pytest.raises(ApiException) as bad:
                list(watch.Watch().stream(core.list_namespaced_pod, ns, label_selector="a in (", timeout_seconds=1))
            return {
                "names": sorted({e["object"]["metadata"]["name"] for e in events}),
                "first": events[0]["type"],
                "bad": {"status": bad.value.status, "body": obs(json.loads(bad.value.body))},
            }

    result = contract.run(scenario)
    assert result["names"] == ["target"] and result["first"] == "ADDED"
    assert result["bad"]["status"] == 400
    assert result["bad"]["body"]["message"] == "unable to parse requirement: found '', expected: ',', ')' or identifier"


def first_watch_line(core: Any, ns: str, resource_version: str) -> dict[str, Any]:
    response = core.list_namespaced_pod(
        ns, watch=True, resource_version=resource_version, timeout_seconds=2, _preload_content=False
    )
    try:
        for line in iter_resp_lines(response):
            if line:
                return json.loads(line)
        return {}
    finally:
        response.close()
        response.release_conn()


@pytest.mark.slow
def test_watch_expired_resource_version_and_bookmarks(contract: Any, helpers: Any) -> None:
    """A watch from a resourceVersion the watch cache no longer holds gets a 410 Expired ERROR event.

    The 1.20 watch cache keeps at least 100 events per resource and grows while its oldest event is younger
    than 75 s, so the scenario lets 75 s pass and then churns pod events until the start point falls out.
    Meanwhile a watch that allows bookmarks receives one (1.20 sends them every minute). On the real server
    this takes about 80 s.
    """

    def scenario(backend: Any, obs: Any) -> dict[str, Any]:
        core = backend.core()
        with Namespace(backend, helpers, obs, "expire") as ns:
            created = helpers.call(core.create_namespaced_pod, ns, pod("churn"))
            start = created["metadata"]["resourceVersion"]
            bookmarks = helpers.EventCollector(
                core.list_namespaced_pod,
                ns,
                resource_version=start,
                allow_watch_bookmarks=True,
                # 1.20 sends bookmarks on a one-minute tick; two ticks' worth of window keeps a loaded machine
                # from missing it, and the collector stops at the first one.
                timeout_seconds=int(backend.seconds(150)) + 1,
                stop_on="BOOKMARK",
            )
            time.sleep(backend.seconds(75) + 2)
            first: dict[str, Any] = {}
            patches = 0
            while patches < 4000:
                for _ in range(25):
                    patches += 1
                    core.patch_namespaced_pod("churn", ns, {"metadata": {"labels": {"n": str(patches)}}})
                first = first_watch_line(core, ns, start)
                if first.get("type") == "ERROR":
                    break
            with pytest.raises(ApiException) as expired:
                list(watch.Watch().stream(core.list_namespaced_pod, ns, resource_version=start, timeout_seconds=2))
            seen = bookmarks.join(timeout=backend.seconds(150) + 30)
            marks = [e for e in seen if e["type"] == "BOOKMARK"]
            assert marks, f"no BOOKMARK within {backend.seconds(75):.0f} s on {backend.name}"
            message = first["object"]["message"]
            match = re.fullmatch(r"too old resource version: (\d+) \((\d+)\)", message)
            assert match and match.group(1) == start and int(match.group(2)) > int(start)
            mark = marks[0]["object"]
            assert int(mark["metadata"]["resourceVersion"]) >= int(start)
            return {
                "error": obs(
                    {**first, "object": {**first["object"], "message": "too old resource version: <rv> (<rv>)"}}
                ),
                "client_raises": expired.value.status,
                "bookmark": obs(mark),
            }

    result = contract.run(scenario)
    assert result["error"] == {
        "type": "ERROR",
        "object": failure(410, "too old resource version: <rv> (<rv>)", reason="Expired"),
    }
    assert result["client_raises"] == 410
    assert result["bookmark"] == {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {"resourceVersion": "<rv>", "creationTimestamp": None},
        "spec": {"containers": None},
        "status": {},
    }
