"""Namespaces: create/get/list, name validation, conflicts, immortal namespaces and the deletion lifecycle."""

from __future__ import annotations

import re
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from tests.contract.conftest import RFC3339, failure

pytestmark = pytest.mark.contract


def test_namespace_create_get_list(contract: Any, helpers: Any) -> None:
    def scenario(backend: Any, obs: Any) -> dict[str, Any]:
        core = backend.core()
        name = helpers.unique("ns", obs)
        created = helpers.call(core.create_namespace, {"metadata": {"name": name, "labels": {"team": "a"}}})
        try:
            fetched = helpers.call(core.read_namespace, name)
            typed = core.read_namespace(name)
            assert typed.metadata.uid == created["metadata"]["uid"] and typed.status.phase == "Active"
            raw_list = helpers.call(core.list_namespace, label_selector="team=a")
            meta = created["metadata"]
            assert RFC3339.match(meta["creationTimestamp"])
            assert meta["resourceVersion"].isdigit() and meta["uid"]
            assert "generation" not in meta
            assert int(raw_list["metadata"]["resourceVersion"]) >= int(meta["resourceVersion"])
            return {
                "created": obs(created),
                "fetched_equals_created": fetched == created,
                "listed": [obs(item) for item in raw_list["items"] if item["metadata"]["name"] == name],
                "list": {
                    "kind": raw_list["kind"],
                    "apiVersion": raw_list["apiVersion"],
                    "item_keys": sorted({key for item in raw_list["items"] for key in item}),
                },
            }
        finally:
            helpers.drop_namespace(backend, name)

    result = contract.run(scenario)
    created = result["created"]
    assert created["status"] == {"phase": "Active"}
    assert created["spec"] == {"finalizers": ["kubernetes"]}
    assert created["metadata"]["labels"] == {"team": "a"}
    assert result["fetched_equals_created"] is True
    assert result["list"] == {"kind": "NamespaceList", "apiVersion": "v1", "item_keys": ["metadata", "spec", "status"]}
    assert result["listed"] and result["listed"][0]["metadata"]["name"] == "ns-<t>"
    assert result["listed"][0] == {k: v for k, v in created.items() if k not in ("kind", "apiVersion")}


BAD_NAMES = [
    {"name": "Bad_Name"},
    {"name": "a" * 64},
    {"name": "A" * 64},
    {"name": "a.b"},
    {},
    {"generateName": "Gen-"},
    # One bad label per request: the apiserver walks labels in Go map order, so two would come back shuffled.
    {"name": "ok-label", "labels": {"a": "-x-"}},
    {"name": "ok-label", "labels": {"b/c/d": "x"}},
]


def test_namespace_name_validation(contract: Any, helpers: Any) -> None:
    def scenario(backend: Any, obs: Any) -> list[dict[str, Any]]:
        out = []
        for metadata in BAD_NAMES:
            with pytest.raises(ApiException) as caught:
                backend.core().create_namespace({"metadata": metadata})
            out.append(obs(helpers.status_of(caught.value)))
        return out

    results = contract.run(scenario)
    for result in results:
        assert result["http"] == 422
        body = result["body"]
        assert body["kind"] == "Status" and body["reason"] == "Invalid" and body["code"] == 422
        assert body["details"]["kind"] == "Namespace" and body["details"]["causes"]
    assert "a lowercase RFC 1123 label must consist of" in results[0]["body"]["message"]
    assert results[2]["body"]["details"]["causes"][0]["message"].endswith("must be no more than 63 characters")
    assert results[4]["body"]["details"]["causes"] == [
        {
            "reason": "FieldValueRequired",
            "message": "Required value: name or generateName is required",
            "field": "metadata.name",
        }
    ]
    assert [c["field"] for c in results[5]["body"]["details"]["causes"]] == ["metadata.generateName", "metadata.name"]
    assert [c["field"] for c in results[6]["body"]["details"]["causes"]] == ["metadata.labels"]
    assert "a qualified name must consist of" in results[7]["body"]["message"]


def test_namespace_conflict_not_found_and_generate_name(contract: Any, helpers: Any) -> None:
    def scenario(backend: Any, obs: Any) -> dict[str, Any]:
        core = backend.core()
        name = helpers.unique("dup", obs)
        core.create_namespace({"metadata": {"name": name}})
        generated = helpers.call(core.create_namespace, {"metadata": {"generateName": f"gen-{obs.token}-"}})
        try:
            with pytest.raises(ApiException) as duplicate:
                core.create_namespace({"metadata": {"name": name}})
            with pytest.raises(ApiException) as missing:
                core.read_namespace(f"missing-{obs.token}")
            with pytest.raises(ApiException) as missing_delete:
                core.delete_namespace(f"missing-{obs.token}")
            assert re.fullmatch(rf"gen-{obs.token}-[bcdfghjklmnpqrstvwxz2456789]{{5}}", generated["metadata"]["name"])
            return {
                "duplicate": obs(helpers.status_of(duplicate.value)),
                "missing": obs(helpers.status_of(missing.value)),
                "missing_delete": obs(helpers.status_of(missing_delete.value)),
                "generated": obs(generated),
            }
        finally:
            helpers.drop_namespace(backend, name)
            helpers.drop_namespace(backend, generated["metadata"]["name"])

    result = contract.run(scenario)
    assert result["duplicate"] == {
        "http": 409,
        "body": failure(
            409,
            'namespaces "dup-<t>" already exists',
            reason="AlreadyExists",
            details={"name": "dup-<t>", "kind": "namespaces"},
        ),
    }
    assert result["missing"]["body"]["details"] == {"name": "missing-<t>", "kind": "namespaces"}
    assert result["missing"]["body"]["message"] == 'namespaces "missing-<t>" not found'
    assert result["missing_delete"] == result["missing"]
    assert result["generated"]["metadata"]["generateName"] == "gen-<t>-"


def test_system_namespaces_cannot_be_deleted(contract: Any, helpers: Any) -> None:
    def scenario(backend: Any, obs: Any) -> list[dict[str, Any]]:
        out = []
        for name in ("default", "kube-system", "kube-public"):
            with pytest.raises(ApiException) as caught:
                backend.core().delete_namespace(name)
            out.append(obs(helpers.status_of(caught.value)))
        names = [ns.metadata.name for ns in backend.core().list_namespace().items]
        assert {"default", "kube-system", "kube-public", "kube-node-lease"} <= set(names)
        return out

    results = contract.run(scenario)
    assert results[0]["http"] == 403
    assert results[0]["body"]["message"] == 'namespaces "default" is forbidden: this namespace may not be deleted'
    assert results[1]["body"]["details"] == {"name": "kube-system", "kind": "namespaces"}


def test_namespace_field_selectors(contract: Any, helpers: Any) -> None:
    def scenario(backend: Any, obs: Any) -> dict[str, Any]:
        core = backend.core()
        by_phase = [ns.metadata.name for ns in core.list_namespace(field_selector="status.phase=Active").items]
        by_name = [ns.metadata.name for ns in core.list_namespace(field_selector="metadata.name=default").items]
        with pytest.raises(ApiException) as unsupported:
            core.list_namespace(field_selector="metadata.namespace=x")
        return {
            "default_active": "default" in by_phase,
            "by_name": by_name,
            "unsupported": obs(helpers.status_of(unsupported.value)),
        }

    result = contract.run(scenario)
    assert result["default_active"] is True and result["by_name"] == ["default"]
    assert result["unsupported"]["http"] == 400
    assert result["unsupported"]["body"]["message"] == "field label not supported: metadata.namespace"
    assert result["unsupported"]["body"]["reason"] == "BadRequest"


def test_namespace_deletion_lifecycle(contract: Any, helpers: Any) -> None:
    """Delete: Terminating at once, content removed, conditions reported, then the namespace goes."""

    def scenario(backend: Any, obs: Any) -> dict[str, Any]:
        core = backend.core()
        name = helpers.unique("doomed", obs)
        created = core.create_namespace({"metadata": {"name": name}})
        core.create_namespaced_pod(
            name, {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
        )
        ns_watch = helpers.EventCollector(
            core.list_namespace,
            field_selector=f"metadata.name={name}",
            resource_version=created.metadata.resource_version,
            timeout_seconds=int(backend.seconds(5) + 8),
        )
        pod_watch = helpers.EventCollector(
            core.list_namespaced_pod,
            name,
            resource_version=created.metadata.resource_version,
            timeout_seconds=int(backend.seconds(5) + 8),
        )
        deleted = helpers.call(core.delete_namespace, name)
        with pytest.raises(ApiException) as late_pod:
            core.create_namespaced_pod(
                name, {"metadata": {"name": "late"}, "spec": {"containers": [{"name": "c", "image": "x"}]}}
            )
        with pytest.raises(ApiException) as recreate:
            core.create_namespace({"metadata": {"name": name}})
        again = helpers.call(core.delete_namespace, name)

        def gone() -> bool:
            try:
                core.read_namespace(name)
            except ApiException as error:
                return error.status == 404
            return False

        helpers.wait_for(gone, timeout=backend.seconds(5) + 20)
        ns_events = ns_watch.join()
        pod_events = pod_watch.join()
        assert [e["type"] for e in ns_events] == ["MODIFIED", "MODIFIED", "DELETED"]
        rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in ns_events]
        assert rvs == sorted(rvs) and len(set(rvs)) == 3
        return {
            "delete_response": obs({k: v for k, v in deleted.items() if k != "metadata"}),
            "delete_response_meta": sorted(deleted["metadata"]),
            "delete_again_same": again == deleted,
            "late_pod": obs(helpers.status_of(late_pod.value)),
            "recreate": obs(helpers.status_of(recreate.value)),
            "ns_events": [{"type": e["type"], "object": obs(e["object"])} for e in ns_events],
            "pod_events": [
                {
                    "type": e["type"],
                    "deletionGracePeriodSeconds": e["object"]["metadata"].get("deletionGracePeriodSeconds"),
                    "deleting": "deletionTimestamp" in e["object"]["metadata"],
                }
                for e in pod_events
                if e["type"] != "ADDED" and (e["type"] == "DELETED" or "deletionTimestamp" in e["object"]["metadata"])
            ],
        }

    result = contract.run(scenario)
    assert result["delete_response"]["status"] == {"phase": "Terminating"}
    assert "deletionTimestamp" in result["delete_response_meta"]
    assert result["delete_again_same"] is True
    assert result["late_pod"]["http"] == 403
    assert result["late_pod"]["body"]["message"] == (
        'pods "late" is forbidden: unable to create new content in namespace doomed-<t> because it is being terminated'
    )
    assert result["late_pod"]["body"]["details"]["causes"] == [
        {
            "reason": "NamespaceTerminating",
            "message": "namespace doomed-<t> is being terminated",
            "field": "metadata.namespace",
        }
    ]
    assert result["recreate"]["body"]["message"] == 'object is being deleted: namespaces "doomed-<t>" already exists'
    conditions = result["ns_events"][1]["object"]["status"]["conditions"]
    assert [c["type"] for c in conditions] == [
        "NamespaceDeletionDiscoveryFailure",
        "NamespaceDeletionGroupVersionParsingFailure",
        "NamespaceDeletionContentFailure",
        "NamespaceContentRemaining",
        "NamespaceFinalizersRemaining",
    ]
    assert result["ns_events"][2]["object"]["spec"] == {"finalizers": ["kubernetes"]}
    assert result["pod_events"] == [
        {"type": "MODIFIED", "deletionGracePeriodSeconds": 0, "deleting": True},
        {"type": "DELETED", "deletionGracePeriodSeconds": 0, "deleting": True},
    ]
