"""Deployments and ReplicaSets: defaults, the ReplicaSet and pods the controllers make, status and conditions as
pods turn Ready, a rolling update, scaling, deletion with dependents, and validation.

No kubelet runs on either backend: the scenarios write pod status (Running, Ready) the way a kubelet would.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.contract.conftest import Namespace
from tests.helpers.waiting import eventually

pytestmark = pytest.mark.contract

APPS = "/apis/apps/v1/namespaces"
UID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def deployment(name: str = "web", replicas: int | None = 2, image: str = "busybox:1.36", **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": image, "command": ["sleep", "3600"]}]},
            },
            **spec,
        },
    }
    if replicas is not None:
        body["spec"]["replicas"] = replicas
    return body


def apps_api(backend: Any) -> client.AppsV1Api:
    return client.AppsV1Api(backend.admin)


def pods_of(helpers: Any, core: Any, ns: str, selector: str) -> list[dict[str, Any]]:
    """Live pods (not being deleted) matching a label selector, by name."""
    items = helpers.call(core.list_namespaced_pod, ns, label_selector=selector)["items"]
    return sorted((p for p in items if not p["metadata"].get("deletionTimestamp")), key=lambda p: p["metadata"]["name"])


def mark_ready(core: Any, ns: str, pod: dict[str, Any]) -> None:
    """What a kubelet reports once the containers run and pass their readiness checks."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    containers = pod["spec"]["containers"]
    status = {
        "phase": "Running",
        "conditions": [
            {"type": "Initialized", "status": "True", "lastTransitionTime": now},
            {"type": "Ready", "status": "True", "lastTransitionTime": now},
            {"type": "ContainersReady", "status": "True", "lastTransitionTime": now},
        ],
        "containerStatuses": [
            {
                "name": c["name"],
                "ready": True,
                "started": True,
                "restartCount": 0,
                "image": c["image"],
                "imageID": "",
                "state": {"running": {"startedAt": now}},
            }
            for c in containers
        ],
    }
    try:
        core.patch_namespaced_pod_status(pod["metadata"]["name"], ns, {"status": status})
    except ApiException as error:
        if error.status != 404:  # the ReplicaSet controller may have removed it meanwhile
            raise


def is_ready(pod: dict[str, Any]) -> bool:
    return any(
        c["type"] == "Ready" and c["status"] == "True" for c in (pod.get("status") or {}).get("conditions") or []
    )


def condition(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == kind), {})


def settled(d: dict[str, Any], replicas: int, reason: str) -> bool:
    """The deployment controller observed the latest spec and reports `replicas` pods, Progressing=`reason`."""
    status = d.get("status") or {}
    return (
        status.get("observedGeneration") == d["metadata"]["generation"]
        and status.get("replicas") == replicas
        and status.get("updatedReplicas") == replicas
        and condition(d, "Progressing").get("reason") == reason
        and bool(condition(d, "Available"))
    )


def roll_out(helpers: Any, backend: Any, ns: str, name: str, replicas: int) -> dict[str, Any]:
    """Mark every pod Ready as the controllers make them, until the rollout completes."""
    apps, core = apps_api(backend), backend.core()

    def complete() -> dict[str, Any] | None:
        d = helpers.call(apps.read_namespaced_deployment, name, ns)
        status = d.get("status") or {}
        if (
            settled(d, replicas, "NewReplicaSetAvailable")
            and status.get("availableReplicas") == replicas
            and condition(d, "Available").get("status") == "True"
            and len(pods_of(helpers, core, ns, f"app={name}")) == replicas
        ):
            return d
        for pod in pods_of(helpers, core, ns, f"app={name}"):
            if not is_ready(pod):
                mark_ready(core, ns, pod)
        return None

    return eventually(complete, timeout=60)


def replica_sets(helpers: Any, apps: Any, ns: str) -> list[dict[str, Any]]:
    items = helpers.call(apps.list_namespaced_replica_set, ns)["items"]
    return sorted(items, key=lambda rs: int(rs["metadata"]["annotations"][REVISION]))


def replica_sets_once(
    helpers: Any, apps: Any, ns: str, check: Callable[[list[dict[str, Any]]], bool]
) -> list[dict[str, Any]]:
    """The namespace's ReplicaSets (oldest revision first) as soon as there are some and `check` holds for them."""
    return eventually(lambda: (items := replica_sets(helpers, apps, ns)) and check(items) and items)


REVISION = "deployment.kubernetes.io/revision"


def by_manager(obj: dict[str, Any]) -> list[dict[str, Any]]:
    """managedFields entries in a stable order (their order follows write times, which race), with the uids in
    their keys (`k:{"uid":...}` of ownerReferences) masked too."""
    entries = sorted(obj["metadata"].get("managedFields") or [], key=lambda e: (e["manager"], e["operation"]))
    return [mask_uid_keys(entry) for entry in entries]


def mask_uid_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {UID.sub("<uid>", key): mask_uid_keys(item) for key, item in value.items()}
    if isinstance(value, list):
        return [mask_uid_keys(item) for item in value]
    return value


def pod_view(obs: Any, pod: dict[str, Any]) -> dict[str, Any]:
    """What the ReplicaSet controller decides about a pod (the scheduler's conditions vary with the nodes)."""
    metadata = {k: v for k, v in pod["metadata"].items() if k not in ("managedFields",)}
    return obs({"metadata": metadata, "spec": pod["spec"], "phase": pod["status"].get("phase")})


def sorted_views(views: list[Any]) -> list[Any]:
    return sorted(views, key=lambda v: json.dumps(v, sort_keys=True))


# --- scenarios --------------------------------------------------------------------------------------------------


def test_deployment_creates_replica_set_and_pods_and_becomes_available(contract: Any, helpers: Any) -> None:
    def scenario(backend: Any, obs: Any) -> dict[str, Any]:
        apps, core = apps_api(backend), backend.core()
        with Namespace(backend, helpers, obs, "deploy") as ns:
            created = helpers.call(apps.create_namespaced_deployment, ns, deployment())
            typed = apps.read_namespaced_deployment("web", ns)
            assert typed.spec.template.spec.containers[0].name == "c"
            progressing = eventually(
                lambda: (
                    (d := helpers.call(apps.read_namespaced_deployment, "web", ns))
                    and settled(d, 2, "ReplicaSetUpdated")
                    and len(pods_of(helpers, core, ns, "app=web")) == 2
                    and d
                )
            )
            rs_before = replica_sets_once(helpers, apps, ns, lambda items: items[0]["status"].get("replicas") == 2)[0]
            pods = pods_of(helpers, core, ns, "app=web")
            for pod in pods:
                mark_ready(core, ns, pod)
            available = roll_out(helpers, backend, ns, "web", 2)
            rs_after = replica_sets_once(
                helpers, apps, ns, lambda items: items[0]["status"].get("availableReplicas") == 2
            )[0]
            typed_rs = apps.read_namespaced_replica_set(rs_after["metadata"]["name"], ns)
            assert typed_rs.status.ready_replicas == 2
            assert rs_after["metadata"]["name"] == f"web-{rs_after['metadata']['labels']['pod-template-hash']}"
            return {
                "created": obs(created),
                "progressing": obs({**progressing, "metadata": {**progressing["metadata"], "managedFields": None}}),
                "available": obs({**available, "metadata": {**available["metadata"], "managedFields": None}}),
                "available_managers": obs(by_manager(available)),
                "rs_before": obs({**rs_before, "metadata": {**rs_before["metadata"], "managedFields": None}}),
                "rs_after": obs({**rs_after, "metadata": {**rs_after["metadata"], "managedFields": None}}),
                "rs_managers": obs(by_manager(rs_after)),
                "pods": sorted_views([pod_view(obs, p) for p in pods]),
            }

    result = contract.run(scenario)
    spec = result["created"]["spec"]
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}
    assert spec["revisionHistoryLimit"] == 10 and spec["progressDeadlineSeconds"] == 600
    assert "enableServiceLinks" not in spec["template"]["spec"]
    assert result["created"]["status"] == {} and result["created"]["metadata"]["generation"] == 1
    progressing = result["progressing"]["status"]
    assert progressing["unavailableReplicas"] == 2 and "availableReplicas" not in progressing
    assert [c["reason"] for c in progressing["conditions"]] == ["MinimumReplicasUnavailable", "ReplicaSetUpdated"]
    available = result["available"]
    assert available["metadata"]["annotations"] == {"deployment.kubernetes.io/revision": "1"}
    assert [(c["type"], c["status"], c["reason"]) for c in available["status"]["conditions"]] == [
        ("Available", "True", "MinimumReplicasAvailable"),
        ("Progressing", "True", "NewReplicaSetAvailable"),
    ]
    rs = result["rs_after"]
    assert rs["metadata"]["annotations"] == {
        "deployment.kubernetes.io/desired-replicas": "2",
        "deployment.kubernetes.io/max-replicas": "3",
        "deployment.kubernetes.io/revision": "1",
    }
    assert rs["metadata"]["ownerReferences"][0]["kind"] == "Deployment"
    assert rs["status"] == {
        "replicas": 2,
        "fullyLabeledReplicas": 2,
        "readyReplicas": 2,
        "availableReplicas": 2,
        "observedGeneration": 1,
    }
    pod = result["pods"][0]
    assert pod["metadata"]["ownerReferences"][0]["kind"] == "ReplicaSet"
    assert pod["spec"]["enableServiceLinks"] is True
    assert [m["manager"] for m in result["rs_managers"]] == ["kube-controller-manager"]


def test_rolling_update_scale_and_delete(contract: Any, helpers: Any) -> None:
    def scenario(backend: Any, obs: Any) -> dict[str, Any]:
        apps, core = apps_api(backend), backend.core()
        with Namespace(backend, helpers, obs, "rollout") as ns:
            helpers.call(apps.create_namespaced_deployment, ns, deployment())
            roll_out(helpers, backend, ns, "web", 2)
            patched = helpers.call(
                apps.patch_namespaced_deployment,
                "web",
                ns,
                {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "busybox:1.37"}]}}}},
            )
            assert patched["metadata"]["generation"] == 2
            assert patched["spec"]["template"]["spec"]["containers"][0]["command"] == ["sleep", "3600"]
            rolled = roll_out(helpers, backend, ns, "web", 2)
            after_rollout = replica_sets_once(
                helpers,
                apps,
                ns,
                lambda items: (
                    len(items) == 2
                    and items[0]["status"].get("replicas", 0) == 0
                    and items[0]["status"].get("observedGeneration") == items[0]["metadata"]["generation"]
                ),
            )
            images = {p["spec"]["containers"][0]["image"] for p in pods_of(helpers, core, ns, "app=web")}
            scaled_patch = helpers.call(apps.patch_namespaced_deployment, "web", ns, {"spec": {"replicas": 3}})
            scaled = roll_out(helpers, backend, ns, "web", 3)
            after_scale = replica_sets_once(
                helpers, apps, ns, lambda items: items[1]["status"].get("availableReplicas") == 3
            )
            deleted = helpers.call(apps.delete_namespaced_deployment, "web", ns, propagation_policy="Background")
            eventually(
                lambda: (
                    not helpers.call(apps.list_namespaced_replica_set, ns)["items"]
                    and not helpers.call(core.list_namespaced_pod, ns)["items"]
                )
            )
            with pytest.raises(ApiException) as gone:
                apps.read_namespaced_deployment("web", ns)

            def strip(obj: dict[str, Any]) -> dict[str, Any]:
                return obs({**obj, "metadata": {**obj["metadata"], "managedFields": None}})

            return {
                "patched_managers": sorted(e["manager"] for e in patched["metadata"]["managedFields"]),
                "rolled": strip(rolled),
                "rolled_managers": obs(by_manager(rolled)),
                "after_rollout": [strip(rs) for rs in after_rollout],
                "images": sorted(images),
                "scaled_generation": scaled_patch["metadata"]["generation"],
                "scaled": strip(scaled),
                "after_scale": [strip(rs) for rs in after_scale],
                "deleted": obs(deleted),
                "gone": gone.value.status,
            }

    result = contract.run(scenario)
    old, new = result["after_rollout"]
    assert old["spec"]["replicas"] == 0 and new["spec"]["replicas"] == 2
    assert old["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    assert new["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    assert old["metadata"]["name"] != new["metadata"]["name"]
    assert result["images"] == ["busybox:1.37"]
    assert result["rolled"]["metadata"]["annotations"] == {"deployment.kubernetes.io/revision": "2"}
    assert result["rolled"]["status"]["observedGeneration"] == 2
    assert result["scaled_generation"] == 3 and result["scaled"]["status"]["availableReplicas"] == 3
    assert result["after_scale"][1]["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] == "3"
    assert result["after_scale"][1]["metadata"]["annotations"]["deployment.kubernetes.io/max-replicas"] == "4"
    assert result["deleted"]["status"] == "Success" and result["deleted"]["details"]["kind"] == "deployments"
    assert result["gone"] == 404


def test_replica_set_replaces_pods_and_scales_down_unready_first(contract: Any, helpers: Any) -> None:
    def scenario(backend: Any, obs: Any) -> dict[str, Any]:
        apps, core = apps_api(backend), backend.core()
        with Namespace(backend, helpers, obs, "rs") as ns:
            body = {
                "metadata": {"name": "cache"},
                "spec": {
                    "replicas": 2,
                    "selector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["cache"]}]},
                    "template": {
                        "metadata": {"labels": {"app": "cache", "tier": "be"}},
                        "spec": {"containers": [{"name": "c", "image": "redis:6"}]},
                    },
                },
            }
            created = helpers.call(apps.create_namespaced_replica_set, ns, body)
            pods = eventually(lambda: len(p := pods_of(helpers, core, ns, "app=cache")) == 2 and p)
            mark_ready(core, ns, pods[0])
            eventually(
                lambda: helpers.call(apps.read_namespaced_replica_set, "cache", ns)["status"].get("readyReplicas") == 1
            )
            core.delete_namespaced_pod(pods[1]["metadata"]["name"], ns)
            replaced = eventually(
                lambda: (
                    len(p := pods_of(helpers, core, ns, "app=cache")) == 2
                    and pods[1]["metadata"]["name"] not in {x["metadata"]["name"] for x in p}
                    and p
                )
            )
            helpers.call(apps.patch_namespaced_replica_set, "cache", ns, {"spec": {"replicas": 1}})
            left = eventually(lambda: len(p := pods_of(helpers, core, ns, "app=cache")) == 1 and p)
            final = eventually(
                lambda: (
                    (rs := helpers.call(apps.read_namespaced_replica_set, "cache", ns))["status"].get("replicas") == 1
                    and rs["status"].get("observedGeneration") == 2
                    and rs
                )
            )
            orphan = {
                "metadata": {"name": "stray", "labels": {"app": "cache"}},
                "spec": {"containers": [{"name": "c", "image": "redis:6"}]},
            }
            helpers.call(core.create_namespaced_pod, ns, orphan)
            # The orphan matches the selector: the controller adopts it and, one pod too many, deletes one.
            adopted = eventually(lambda: len(p := pods_of(helpers, core, ns, "app=cache")) == 1 and p)
            return {
                "created": obs(created),
                "replaced": len(replaced),
                "kept_ready_pod": left[0]["metadata"]["name"] == pods[0]["metadata"]["name"],
                "final": obs({**final, "metadata": {**final["metadata"], "managedFields": None}}),
                "after_orphan": adopted[0]["metadata"]["name"] == pods[0]["metadata"]["name"],
            }

    result = contract.run(scenario)
    assert result["created"]["status"] == {"replicas": 0}
    assert result["replaced"] == 2 and result["kept_ready_pod"] is True and result["after_orphan"] is True
    assert result["final"]["status"] == {
        "replicas": 1,
        "fullyLabeledReplicas": 1,
        "readyReplicas": 1,
        "availableReplicas": 1,
        "observedGeneration": 2,
    }


def test_progress_deadline_and_recreate(contract: Any, helpers: Any) -> None:
    """A 2 s progress deadline passes while no pod is Ready; Recreate replaces all pods at once."""

    def scenario(backend: Any, obs: Any) -> dict[str, Any]:
        apps, core = apps_api(backend), backend.core()
        with Namespace(backend, helpers, obs, "deadline") as ns:
            helpers.call(apps.create_namespaced_deployment, ns, deployment(replicas=1, progressDeadlineSeconds=2))
            timed_out = eventually(
                lambda: (
                    (d := helpers.call(apps.read_namespaced_deployment, "web", ns))
                    and condition(d, "Progressing").get("reason") == "ProgressDeadlineExceeded"
                    # the replica counts may land in an earlier or the same status write: wait for both
                    and (d.get("status") or {}).get("updatedReplicas") == 1
                    and d
                )
            )
            recovered = roll_out(helpers, backend, ns, "web", 1)
            recreate = deployment("batch", replicas=2, strategy={"type": "Recreate"})
            created = helpers.call(apps.create_namespaced_deployment, ns, recreate)
            roll_out(helpers, backend, ns, "batch", 2)
            helpers.call(
                apps.patch_namespaced_deployment,
                "batch",
                ns,
                {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "busybox:1.37"}]}}}},
            )
            replaced = roll_out(helpers, backend, ns, "batch", 2)
            images = {p["spec"]["containers"][0]["image"] for p in pods_of(helpers, core, ns, "app=batch")}

            def strip(obj: dict[str, Any]) -> dict[str, Any]:
                return obs({**obj, "metadata": {**obj["metadata"], "managedFields": None}})

            return {
                "timed_out": strip(timed_out),
                "recovered": strip(recovered)["status"],
                "recreate_spec": obs(created["spec"]["strategy"]),
                "replaced": strip(replaced)["status"],
                "images": sorted(images),
            }

    result = contract.run(scenario)
    progressing = next(c for c in result["timed_out"]["status"]["conditions"] if c["type"] == "Progressing")
    assert (progressing["status"], progressing["reason"]) == ("False", "ProgressDeadlineExceeded")
    assert progressing["message"].endswith("has timed out progressing.")
    assert result["recovered"]["conditions"][-1]["reason"] == "NewReplicaSetAvailable"
    assert result["recreate_spec"] == {"type": "Recreate"}
    assert result["replaced"]["availableReplicas"] == 2 and result["images"] == ["busybox:1.37"]


def test_scale_subresource(contract: Any, helpers: Any) -> None:
    def scenario(backend: Any, obs: Any) -> dict[str, Any]:
        apps = apps_api(backend)
        with Namespace(backend, helpers, obs, "scale") as ns:
            helpers.call(apps.create_namespaced_deployment, ns, deployment(replicas=1))
            read = helpers.call(apps.read_namespaced_deployment_scale, "web", ns)
            patched = helpers.call(apps.patch_namespaced_deployment_scale, "web", ns, {"spec": {"replicas": 0}})
            current = helpers.call(apps.read_namespaced_deployment_scale, "web", ns)
            current["spec"]["replicas"] = 3
            # The controllers keep writing the deployment's status: replace unconditionally.
            del current["metadata"]["resourceVersion"]
            replaced = helpers.call(apps.replace_namespaced_deployment_scale, "web", ns, current)
            spec_replicas = helpers.call(apps.read_namespaced_deployment, "web", ns)["spec"]["replicas"]
            with pytest.raises(ApiException) as negative:
                apps.patch_namespaced_deployment_scale("web", ns, {"spec": {"replicas": -1}})
            with pytest.raises(ApiException) as stale:
                apps.replace_namespaced_deployment_scale("web", ns, read)
            with pytest.raises(ApiException) as missing:
                apps.read_namespaced_deployment_scale("nope", ns)
            for scale in (patched, replaced):  # how far the controllers got meanwhile is a race, not behaviour
                scale.get("status", {}).pop("replicas", None)
            return {
                "read": obs(read),
                "patched": obs(patched),
                "replaced": obs(replaced),
                "spec_replicas": spec_replicas,
                "negative": obs(helpers.status_of(negative.value)),
                "stale": obs(helpers.status_of(stale.value)),
                "missing": obs(helpers.status_of(missing.value)),
            }

    result = contract.run(scenario)
    assert result["read"]["kind"] == "Scale" and result["read"]["spec"] == {"replicas": 1}
    assert result["read"]["status"]["selector"] == "app=web"
    assert result["patched"]["spec"] == {} and result["replaced"]["spec"] == {"replicas": 3}
    assert result["spec_replicas"] == 3
    assert result["negative"]["http"] == 422 and result["stale"]["http"] == 409
    assert result["missing"]["body"]["message"] == 'deployments/scale.apps "nope" not found'


INVALID_DEPLOYMENTS = [
    deployment("mismatch") | {"spec": {**deployment("mismatch")["spec"], "selector": {"matchLabels": {"app": "x"}}}},
    {"metadata": {"name": "no-selector"}, "spec": {k: v for k, v in deployment()["spec"].items() if k != "selector"}},
    {
        "metadata": {"name": "many"},
        "spec": {
            "replicas": -1,
            "selector": {},
            "template": {
                "metadata": {"labels": {"app": "y"}},
                "spec": {"containers": [{"name": "c", "image": "i"}], "restartPolicy": "Never"},
            },
            "strategy": {"rollingUpdate": {"maxSurge": 0, "maxUnavailable": "0%"}},
            "progressDeadlineSeconds": 0,
            "revisionHistoryLimit": -2,
        },
    },
    {
        "metadata": {"name": "expressions"},
        "spec": {
            "selector": {
                "matchLabels": {"app": "y"},
                "matchExpressions": [
                    {"key": "k", "operator": "In"},
                    {"key": "j", "operator": "Exists", "values": ["a"]},
                    {"key": "q", "operator": "Bad", "values": ["a"]},
                ],
            },
            "template": {"metadata": {"labels": {"app": "y"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}},
            "strategy": {"type": "Recreate", "rollingUpdate": {}},
        },
    },
    deployment("strategy", strategy={"type": "Foo"}, minReadySeconds=700),
    deployment("percent", strategy={"rollingUpdate": {"maxSurge": "abc", "maxUnavailable": "150%"}}),
    deployment("no-containers")
    | {"spec": {**deployment()["spec"], "template": {"metadata": {"labels": {"app": "web"}}}}},
]


def test_deployment_validation(contract: Any, helpers: Any) -> None:
    def scenario(backend: Any, obs: Any) -> dict[str, Any]:
        apps = apps_api(backend)
        with Namespace(backend, helpers, obs, "invalid") as ns:
            out = helpers.post_each(backend, f"{APPS}/{ns}/deployments", INVALID_DEPLOYMENTS, obs)
            helpers.call(apps.create_namespaced_deployment, ns, deployment(replicas=0))
            with pytest.raises(ApiException) as immutable:
                apps.patch_namespaced_deployment(
                    "web", ns, {"spec": {"selector": {"matchLabels": {"app": "web", "x": "y"}}}}
                )
            out["immutable"] = obs(helpers.status_of(immutable.value))
            rs_body = {"metadata": {"name": "rs"}, "spec": {"replicas": -3, "template": {}}}
            status, answer = backend.raw("POST", f"{APPS}/{ns}/replicasets", body=rs_body)
            out["replica_set"] = {"http": status, "body": obs(answer)}
            return out

    result = contract.run(scenario)
    for name, answer in result.items():
        assert answer["http"] == 422 and answer["body"]["reason"] == "Invalid", name
    assert result["mismatch"]["body"]["details"]["causes"] == [
        {
            "reason": "FieldValueInvalid",
            "message": 'Invalid value: map[string]string{"app":"mismatch"}: '
            "`selector` does not match template `labels`",
            "field": "spec.template.metadata.labels",
        }
    ]
    assert [c["field"] for c in result["many"]["body"]["details"]["causes"]] == [
        "spec.replicas",
        "spec.selector",
        "spec.template.spec.restartPolicy",
        "spec.strategy.rollingUpdate.maxUnavailable",
        "spec.revisionHistoryLimit",
        "spec.progressDeadlineSeconds",
    ]
    assert result["immutable"]["body"]["details"]["causes"][-1]["message"].endswith("field is immutable")
