"""Pods: defaults and admission, validation, selectors, pagination, updates, deletion and the scheduler."""

from __future__ import annotations

import re
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from tests.contract.conftest import Namespace

pytestmark = pytest.mark.contract


def container(image: str = "busybox", **extra: Any) -> dict[str, Any]:
    return {"name": "c", "image": image, **extra}


def pod(name: str, labels: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    spec.setdefault("containers", [container()])
    metadata: dict[str, Any] = {"name": name}
    if labels:
        metadata["labels"] = labels
    return {"metadata": metadata, "spec": spec}


def wait_for_scheduler(helpers: Any, core: Any, name: str, ns: str) -> None:
    """Wait until the scheduler wrote its PodScheduled condition, so later writes cannot race with it."""
    helpers.wait_for(lambda: helpers.call(core.read_namespaced_pod, name, ns)["status"].get("conditions"))


DEFAULTS_CASES = [
    pod("best-effort", {"app": "web"}),
    pod(
        "burstable",
        containers=[container("busybox:1.36", resources={"requests": {"cpu": "100m"}})],
        restartPolicy="Never",
    ),
    pod("guaranteed", containers=[container("busybox:latest", resources={"limits": {"cpu": "1", "memory": "1Gi"}})]),
    pod(
        "rich",
        containers=[
            container(
                "registry.example.com/app@sha256:" + "a" * 64,
                ports=[{"containerPort": 8080}],
                env=[{"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                readinessProbe={"httpGet": {"port": 8080}},
            )
        ],
        volumes=[{"name": "cfg", "configMap": {"name": "cfg"}}],
        nodeSelector={"pool": "a"},
        tolerations=[{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}],
    ),
]


def test_pod_defaults_and_admission(contract: Any, helpers: Any) -> None:
    def scenario(backend: Any, obs: Any) -> list[dict[str, Any]]:
        core = backend.core()
        with Namespace(backend, helpers, obs, "defaults") as ns:
            out = []
            for body in DEFAULTS_CASES:
                created = helpers.call(core.create_namespaced_pod, ns, body)
                typed = core.read_namespaced_pod(body["metadata"]["name"], ns)
                assert typed.spec.containers[0].name == "c"
                out.append(obs(created))
            return out

    results = contract.run(scenario)
    best_effort, burstable, guaranteed, rich = results
    spec = best_effort["spec"]
    assert spec["restartPolicy"] == "Always" and spec["dnsPolicy"] == "ClusterFirst"
    assert spec["terminationGracePeriodSeconds"] == 30 and spec["schedulerName"] == "default-scheduler"
    assert spec["enableServiceLinks"] is True and spec["securityContext"] == {} and spec["priority"] == 0
    assert [t["key"] for t in spec["tolerations"]] == ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"]
    assert spec["containers"][0]["imagePullPolicy"] == "Always"
    assert best_effort["status"] == {"phase": "Pending", "qosClass": "BestEffort"}
    assert burstable["status"]["qosClass"] == "Burstable"
    assert burstable["spec"]["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    assert guaranteed["status"]["qosClass"] == "Guaranteed"
    assert guaranteed["spec"]["containers"][0]["resources"]["requests"] == {"cpu": "1", "memory": "1Gi"}
    assert rich["spec"]["containers"][0]["ports"] == [{"containerPort": 8080, "protocol": "TCP"}]
    assert rich["spec"]["volumes"][0]["configMap"]["defaultMode"] == 420
    assert len(rich["spec"]["tolerations"]) == 3
    managers = [entry["manager"] for entry in best_effort["metadata"]["managedFields"]]
    assert managers == ["OpenAPI-Generator"]


INVALID_PODS = [
    pod("Bad_Name"),
    pod("no-containers", containers=[]),
    {"metadata": {"name": "no-spec"}},
    pod("no-image", containers=[{"name": "c"}]),
    pod("bad-containers", containers=[container(name="C_1"), container(name="C_1")]),
    pod("bad-restart", restartPolicy="Sometimes"),
    pod("bad-port", containers=[container(ports=[{"containerPort": 70000}])]),
    pod("bad-node-name", nodeName="Bad_Node"),
    {"metadata": {"name": "bad-label", "labels": {"app": "-bad-"}}, "spec": {"containers": [container()]}},
]


def test_pod_validation_errors(contract: Any, helpers: Any) -> None:
    def scenario(backend: Any, obs: Any) -> list[dict[str, Any]]:
        core = backend.core()
        with Namespace(backend, helpers, obs, "invalid") as ns:
            out = []
            for body in INVALID_PODS:
                status, answer = backend.raw("POST", f"/api/v1/namespaces/{ns}/pods", body=body)
                out.append({"http": status, "body": obs(answer)})
            with pytest.raises(ApiException) as mismatch:
                core.create_namespaced_pod(
                    ns, {**pod("mismatch"), "metadata": {"name": "mismatch", "namespace": "default"}}
                )
            out.append(obs(helpers.status_of(mismatch.value)))
            with pytest.raises(ApiException) as missing_ns:
                core.create_namespaced_pod(f"nowhere-{obs.token}", pod("Bad_Name"))
            out.append(obs(helpers.status_of(missing_ns.value)))
            return out

    results = contract.run(scenario)
    for result in results[: len(INVALID_PODS)]:
        assert result["http"] == 422 and result["body"]["reason"] == "Invalid"
        assert result["body"]["details"]["kind"] == "Pod"
    assert results[1]["body"]["details"]["causes"] == [
        {"reason": "FieldValueRequired", "message": "Required value", "field": "spec.containers"}
    ]
    assert [c["reason"] for c in results[4]["body"]["details"]["causes"]] == [
        "FieldValueInvalid",
        "FieldValueInvalid",
        "FieldValueDuplicate",
    ]
    assert results[5]["body"]["message"] == (
        'Pod "bad-restart" is invalid: spec.restartPolicy: Unsupported value: "Sometimes": supported values: '
        '"Always", "OnFailure", "Never"'
    )
    assert results[-2]["http"] == 400
    assert results[-2]["body"]["message"] == (
        "the namespace of the provided object does not match the namespace sent on the request"
    )
    # Admission checks the namespace before validation looks at the name.
    assert results[-1]["body"]["message"] == 'namespaces "nowhere-<t>" not found'


LABELS = {
    "p-web": {"app": "web", "tier": "fe"},
    "p-db": {"app": "db", "tier": "be"},
    "p-cache": {"app": "cache"},
    "p-none": {},
}
SELECTORS = [
    "app=web",
    "app==web",
    "app!=web",
    "app in (web,db)",
    "app in ( web , db )",
    "app notin (web)",
    "app",
    "!app",
    "tier,app!=db",
    "app in ()",
    "app=",
    "app notin ()",
    "tier=fe,app in (web, cache)",
    # invalid ones: the apiserver's parser errors, verbatim
    "app in (web",
    "app=-x-",
    "=x",
    "app ! x",
    "x/y/z",
    "app gt 3",
    "app,",
    "app=web,,tier",
    "!",
    "app=(x)",
]


def selected(helpers: Any, obs: Any, core: Any, ns: str, key: str, selectors: list[str]) -> dict[str, Any]:
    """List the namespace's pods once per selector, passed as `key` (label_selector or field_selector):
    {selector: the pods' names, or the error Status}."""
    out: dict[str, Any] = {}
    for selector in selectors:
        try:
            listed = helpers.call(core.list_namespaced_pod, ns, **{key: selector})
            out[selector] = sorted(item["metadata"]["name"] for item in listed["items"])
        except ApiException as error:
            out[selector] = obs(helpers.status_of(error))
    return out


def test_label_selectors(contract: Any, helpers: Any) -> None:
    def scenario(backend: Any, obs: Any) -> dict[str, Any]:
        core = backend.core()
        with Namespace(backend, helpers, obs, "labels") as ns:
            for name, labels in LABELS.items():
                core.create_namespaced_pod(ns, pod(name, labels))
            out = selected(helpers, obs, core, ns, "label_selector", SELECTORS)
            across = helpers.call(core.list_pod_for_all_namespaces, label_selector="app in (web,db)")
            out["all_namespaces"] = sorted(
                i["metadata"]["name"] for i in across["items"] if i["metadata"]["namespace"] == ns
            )
            return out

    result = contract.run(scenario)
    assert result["app=web"] == result["app==web"] == ["p-web"]
    assert result["app!=web"] == ["p-cache", "p-db", "p-none"]
    assert result["app in (web,db)"] == result["app in ( web , db )"] == result["all_namespaces"] == ["p-db", "p-web"]
    assert result["app notin (web)"] == ["p-cache", "p-db", "p-none"]
    assert result["app"] == ["p-cache", "p-db", "p-web"] and result["!app"] == ["p-none"]
    assert result["tier,app!=db"] == ["p-web"]
    assert result["tier=fe,app in (web, cache)"] == ["p-web"]
    assert result["app in ()"] == [] and result["app="] == []
    assert result["app in (web"]["body"]["message"] == "unable to parse requirement: found '', expected: ',' or ')'"
    assert result["app ! x"]["body"]["message"] == (
        "unable to parse requirement: found '!', expected: '=', '!=', '==', 'in', notin'"
    )
    assert result["app,"]["body"]["message"] == "found '', expected: identifier after ','"
    for selector in SELECTORS[SELECTORS.index("app in (web") :]:
        assert result[selector]["http"] == 400 and result[selector]["body"]["reason"] == "BadRequest", selector


FIELD_SELECTORS = [
    "metadata.name=p-web",
    "metadata.name!=p-web",
    "metadata.name==p-db",
    "spec.nodeName=",
    "status.phase=Pending",
    "status.phase=Running",
    "spec.restartPolicy=Never",
    "spec.schedulerName=default-scheduler",
    "metadata.name=p-web,status.phase=Pending",
    "spec.foo=bar",
    "metadata.name",
]


def test_field_selectors(contract: Any, helpers: Any) -> None:
    def scenario(backend: Any, obs: Any) -> dict[str, Any]:
        core = backend.core()
        with Namespace(backend, helpers, obs, "fields") as ns:
            core.create_namespaced_pod(ns, pod("p-web"))
            core.create_namespaced_pod(ns, pod("p-db", restartPolicy="Never"))
            out = selected(helpers, obs, core, ns, "field_selector", FIELD_SELECTORS)
            scoped = helpers.call(core.list_pod_for_all_namespaces, field_selector=f"metadata.namespace={ns}")
            out["namespace"] = sorted(i["metadata"]["name"] for i in scoped["items"])
            return out

    result = contract.run(scenario)
    assert result["metadata.name=p-web"] == ["p-web"] and result["metadata.name!=p-web"] == ["p-db"]
    assert result["spec.nodeName="] == result["status.phase=Pending"] == result["namespace"] == ["p-db", "p-web"]
    assert result["status.phase=Running"] == [] and result["spec.restartPolicy=Never"] == ["p-db"]
    assert result["spec.foo=bar"]["body"]["message"] == "field label not supported: spec.foo"
    assert (
        result["metadata.name"]["body"]["message"]
        == "invalid selector: 'metadata.name'; can't understand 'metadata.name'"
    )


def test_pagination(contract: Any, helpers: Any) -> None:
    def scenario(backend: Any, obs: Any) -> dict[str, Any]:
        core = backend.core()
        with Namespace(backend, helpers, obs, "pages") as ns:
            for index in range(5):
                core.create_namespaced_pod(ns, pod(f"p{index}", {"even": str(index % 2 == 0).lower()}))
            pages, token = [], None
            while True:
                page = helpers.call(core.list_namespaced_pod, ns, limit=2, _continue=token)
                pages.append(
                    {
                        "names": [i["metadata"]["name"] for i in page["items"]],
                        "remaining": page["metadata"].get("remainingItemCount"),
                        "has_continue": bool(page["metadata"].get("continue")),
                        "rv": page["metadata"]["resourceVersion"],
                    }
                )
                token = page["metadata"].get("continue")
                if not token:
                    break
            filtered = helpers.call(core.list_namespaced_pod, ns, limit=2, label_selector="even=true")
            with pytest.raises(ApiException) as bad:
                core.list_namespaced_pod(ns, limit=1, _continue="garbage")
            assert len({p["rv"] for p in pages}) == 1, "continued pages are served at the first page's resourceVersion"
            return {
                "pages": [{k: v for k, v in p.items() if k != "rv"} for p in pages],
                "filtered": {
                    "names": [i["metadata"]["name"] for i in filtered["items"]],
                    "remaining": filtered["metadata"].get("remainingItemCount"),
                    "has_continue": bool(filtered["metadata"].get("continue")),
                },
                "bad_continue": {"http": bad.value.status, "reason": helpers.status_of(bad.value)["body"]["reason"]},
            }

    result = contract.run(scenario)
    assert result["pages"] == [
        {"names": ["p0", "p1"], "remaining": 3, "has_continue": True},
        {"names": ["p2", "p3"], "remaining": 1, "has_continue": True},
        {"names": ["p4"], "remaining": None, "has_continue": False},
    ]
    assert result["filtered"] == {"names": ["p0", "p2"], "remaining": None, "has_continue": True}
    assert result["bad_continue"] == {"http": 400, "reason": "BadRequest"}


def test_pod_updates_and_patches(contract: Any, helpers: Any) -> None:
    def scenario(backend: Any, obs: Any) -> dict[str, Any]:
        core = backend.core()
        with Namespace(backend, helpers, obs, "updates") as ns:
            created = helpers.call(core.create_namespaced_pod, ns, pod("p", {"app": "web"}))
            wait_for_scheduler(helpers, core, "p", ns)
            out: dict[str, Any] = {}
            merged = helpers.call(core.patch_namespaced_pod, "p", ns, {"metadata": {"labels": {"v": "1"}}})
            out["strategic_labels"] = merged["metadata"]["labels"]
            json_patched = helpers.call(
                core.patch_namespaced_pod,
                "p",
                ns,
                [{"op": "add", "path": "/metadata/annotations", "value": {"k": "v"}}],
            )
            out["json_annotations"] = json_patched["metadata"]["annotations"]
            image = helpers.call(
                core.patch_namespaced_pod, "p", ns, {"spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]}}
            )
            out["image"] = image["spec"]["containers"][0]["image"]
            # Entry order follows write times, which race with the scheduler; compare per manager.
            out["managed"] = obs(sorted(image["metadata"]["managedFields"], key=lambda e: e["manager"]))
            with pytest.raises(ApiException) as forbidden:
                core.patch_namespaced_pod("p", ns, {"spec": {"restartPolicy": "Never"}})
            body = helpers.status_of(forbidden.value)["body"]
            out["forbidden"] = {
                "code": body["code"],
                "reason": body["reason"],
                "causes": [{"field": c["field"], "reason": c["reason"]} for c in body["details"]["causes"]],
                "message_start": body["message"].split("\n")[0],
            }
            with pytest.raises(ApiException) as stale:
                core.replace_namespaced_pod("p", ns, created)
            out["stale"] = obs(helpers.status_of(stale.value))
            current = helpers.call(core.read_namespaced_pod, "p", ns)
            with pytest.raises(ApiException) as mismatch:
                core.replace_namespaced_pod("other", ns, current)
            out["name_mismatch"] = obs(helpers.status_of(mismatch.value))
            same = helpers.call(core.replace_namespaced_pod, "p", ns, current)
            out["noop_keeps_rv"] = same["metadata"]["resourceVersion"] == current["metadata"]["resourceVersion"]
            unconditional = {
                **current,
                "metadata": {k: v for k, v in current["metadata"].items() if k != "resourceVersion"},
            }
            unconditional["metadata"]["labels"] = {"app": "web", "v": "2"}
            replaced = helpers.call(core.replace_namespaced_pod, "p", ns, unconditional)
            out["unconditional"] = replaced["metadata"]["labels"]
            out["rv_moved"] = int(replaced["metadata"]["resourceVersion"]) > int(current["metadata"]["resourceVersion"])
            missing = {
                "patch_missing": lambda: core.patch_namespaced_pod("missing", ns, {"metadata": {"labels": {"a": "b"}}}),
                "replace_missing": lambda: core.replace_namespaced_pod("missing", ns, {**pod("missing")}),
                "json_patch_missing_path": lambda: core.patch_namespaced_pod(
                    "p", ns, [{"op": "remove", "path": "/metadata/labels/nope"}]
                ),
            }
            out.update(helpers.refusals(missing, obs))
            return out

    result = contract.run(scenario)
    assert result["strategic_labels"] == {"app": "web", "v": "1"}
    assert result["json_annotations"] == {"k": "v"} and result["image"] == "busybox:1.36"
    assert result["forbidden"]["code"] == 422 and result["forbidden"]["causes"] == [
        {"field": "spec", "reason": "FieldValueForbidden"}
    ]
    assert result["forbidden"]["message_start"].startswith(
        'Pod "p" is invalid: spec: Forbidden: pod updates may not change'
    )
    assert result["stale"]["http"] == 409 and result["stale"]["body"]["reason"] == "Conflict"
    assert result["stale"]["body"]["message"] == (
        'Operation cannot be fulfilled on pods "p": the object has been modified; please apply your changes to the '
        "latest version and try again"
    )
    assert (
        result["name_mismatch"]["body"]["message"]
        == "the name of the object (p) does not match the name on the URL (other)"
    )
    assert result["noop_keeps_rv"] is True and result["rv_moved"] is True
    assert result["unconditional"] == {"app": "web", "v": "2"}
    assert result["patch_missing"]["http"] == result["replace_missing"]["http"] == 404
    assert result["json_patch_missing_path"]["http"] == 422


def test_pod_deletion(contract: Any, helpers: Any) -> None:
    """Unscheduled pods go at once; a pod bound to a node waits its grace period (no kubelet confirms)."""

    def scenario(backend: Any, obs: Any) -> dict[str, Any]:
        core = backend.core()
        with Namespace(backend, helpers, obs, "deletion") as ns:
            created = helpers.call(core.create_namespaced_pod, ns, pod("loose"))
            wait_for_scheduler(helpers, core, "loose", ns)
            events = helpers.follow(core.list_namespaced_pod, ns, created, 3, stop_on=None)
            deleted = helpers.call(core.delete_namespaced_pod, "loose", ns)
            loose_events = events.join()
            helpers.call(core.create_namespaced_pod, ns, pod("bound", nodeName=f"node-{obs.token}"))
            first = helpers.call(core.delete_namespaced_pod, "bound", ns)
            again = helpers.call(core.delete_namespaced_pod, "bound", ns)
            shorter = helpers.call(core.delete_namespaced_pod, "bound", ns, grace_period_seconds=10)
            still_there = helpers.call(core.read_namespaced_pod, "bound", ns)
            now = helpers.call(core.delete_namespaced_pod, "bound", ns, grace_period_seconds=0)
            with pytest.raises(ApiException) as gone:
                core.read_namespaced_pod("bound", ns)
            helpers.call(core.create_namespaced_pod, ns, pod("guarded"))
            wait_for_scheduler(helpers, core, "guarded", ns)
            with pytest.raises(ApiException) as precondition:
                core.delete_namespaced_pod("guarded", ns, body={"preconditions": {"uid": "not-the-uid"}})
            with pytest.raises(ApiException) as missing:
                core.delete_namespaced_pod("missing", ns)
            # The scheduler may write the pod before it goes; only the deletion's own events count here.
            loose_events = [e for e in loose_events if "deletionTimestamp" in e["object"]["metadata"]]
            meta = deleted["metadata"]
            assert meta["resourceVersion"] == loose_events[0]["object"]["metadata"]["resourceVersion"]
            assert int(loose_events[1]["object"]["metadata"]["resourceVersion"]) > int(meta["resourceVersion"])

            def grace(obj: dict[str, Any]) -> Any:
                return obj["metadata"].get("deletionGracePeriodSeconds")

            return {
                "deleted": obs(deleted),
                "loose_events": [e["type"] for e in loose_events],
                "bound_graces": [grace(first), grace(again), grace(shorter), grace(still_there), grace(now)],
                "again_same": again == first,
                "gone": gone.value.status,
                "precondition": obs(helpers.status_of(precondition.value)),
                "missing": obs(helpers.status_of(missing.value)),
            }

    result = contract.run(scenario)
    assert result["deleted"]["metadata"]["deletionGracePeriodSeconds"] == 0
    assert "deletionTimestamp" in result["deleted"]["metadata"] and result["deleted"]["kind"] == "Pod"
    assert result["loose_events"] == ["MODIFIED", "DELETED"]
    assert result["bound_graces"] == [30, 30, 10, 10, 0] and result["again_same"] is True
    assert result["gone"] == 404
    assert result["precondition"]["http"] == 409
    assert result["precondition"]["body"]["details"] == {"name": "guarded", "kind": "Pod"}
    assert re.match(
        r'Operation cannot be fulfilled on Pod "guarded": the UID in the precondition \(not-the-uid\)',
        result["precondition"]["body"]["message"],
    )
    assert result["missing"]["body"]["message"] == 'pods "missing" not found'


def test_scheduler_reports_unschedulable_pods(contract: Any, helpers: Any) -> None:
    """Nodes created through the API keep the not-ready taint (no node lifecycle controller clears it), so
    pods stay Pending with a PodScheduled=False condition written by the scheduler."""

    def scenario(backend: Any, obs: Any) -> dict[str, Any]:
        core = backend.core()
        node = f"sched-{obs.token}"
        core.create_node({"metadata": {"name": node}})
        try:
            with Namespace(backend, helpers, obs, "sched") as ns:
                core.create_namespaced_pod(ns, pod("waiting"))

                def condition() -> Any:
                    current = helpers.call(core.read_namespaced_pod, "waiting", ns)
                    return next(
                        (c for c in current["status"].get("conditions") or [] if c["type"] == "PodScheduled"), None
                    )

                found = helpers.wait_for(condition)
                current = helpers.call(core.read_namespaced_pod, "waiting", ns)
                return {
                    "condition": {k: v for k, v in obs(found).items() if k != "message"},
                    "message_matches": bool(
                        re.fullmatch(
                            r"0/\d+ nodes are available: \d+ node\(s\) had taint \{node\.kubernetes\.io/not-ready: \}, "
                            r"that the pod didn't tolerate\.",
                            found["message"],
                        )
                    ),
                    "managers": [entry["manager"] for entry in current["metadata"]["managedFields"]],
                    "node_name": current["spec"].get("nodeName"),
                }
        finally:
            core.delete_node(node)

    result = contract.run(scenario)
    assert result["condition"] == {
        "type": "PodScheduled",
        "status": "False",
        "lastProbeTime": None,
        "lastTransitionTime": "<time>",
        "reason": "Unschedulable",
    }
    assert result["message_matches"] is True
    assert result["managers"] == ["OpenAPI-Generator", "kube-scheduler"] and result["node_name"] is None


def test_priority_classes(contract: Any, helpers: Any) -> None:
    def scenario(backend: Any, obs: Any) -> dict[str, Any]:
        core = backend.core()
        with Namespace(backend, helpers, obs, "priority") as ns:
            critical = helpers.call(
                core.create_namespaced_pod, ns, pod("critical", priorityClassName="system-cluster-critical")
            )
            with pytest.raises(ApiException) as unknown:
                core.create_namespaced_pod(ns, pod("unknown", priorityClassName=f"class-{obs.token}"))
            return {
                "priority": critical["spec"]["priority"],
                "policy": critical["spec"]["preemptionPolicy"],
                "unknown": obs(helpers.status_of(unknown.value)),
            }

    result = contract.run(scenario)
    assert result["priority"] == 2000000000 and result["policy"] == "PreemptLowerPriority"
    assert result["unknown"]["http"] == 403
    assert (
        result["unknown"]["body"]["message"]
        == 'pods "unknown" is forbidden: no PriorityClass with name class-<t> was found'
    )
