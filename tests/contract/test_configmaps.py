"""ConfigMaps: create/get/list/update/delete, key and size validation, `immutable`, watch and discovery."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from tests.contract.conftest import Namespace

pytestmark = pytest.mark.contract

ONE_MIB = 1024 * 1024


def config_map(name: str, **fields: Any) -> dict[str, Any]:
    return {"metadata": {"name": name}, **fields}


def test_configmap_create_get_list_update_delete(contract: Any, helpers: Any) -> None:
    def scenario(backend: Any, obs: Any) -> dict[str, Any]:
        core = backend.core()
        with Namespace(backend, helpers, obs, "cm") as ns:
            empty = helpers.call(core.list_namespaced_config_map, ns)
            created = helpers.call(
                core.create_namespaced_config_map,
                ns,
                {
                    "metadata": {"name": "settings", "labels": {"app": "demo"}},
                    "data": {"mode": "fast", "config.yaml": "a: 1\n"},
                    "binaryData": {"blob": "aGVsbG8="},
                },
            )
            helpers.call(core.create_namespaced_config_map, ns, config_map("bare", data={}))
            got = helpers.call(core.read_namespaced_config_map, "settings", ns)
            listed = helpers.call(core.list_namespaced_config_map, ns, label_selector="app=demo")
            by_name = helpers.call(core.list_namespaced_config_map, ns, field_selector="metadata.name=bare")
            patched = helpers.call(
                core.patch_namespaced_config_map, "settings", ns, {"data": {"mode": "slow", "extra": "1"}}
            )
            replaced = helpers.call(
                core.replace_namespaced_config_map,
                "settings",
                ns,
                {**patched, "data": {"only": "this"}, "binaryData": None},
            )
            with pytest.raises(ApiException) as exists:
                core.create_namespaced_config_map(ns, config_map("bare"))
            deleted = helpers.call(core.delete_namespaced_config_map, "bare", ns)
            with pytest.raises(ApiException) as missing:
                core.read_namespaced_config_map("bare", ns)
            return {
                "empty": obs(empty),
                "created": obs(created),
                "got_same": got == created,
                "listed": [i["metadata"]["name"] for i in listed["items"]],
                "listed_kind": (listed["kind"], listed["apiVersion"]),
                "by_name": obs(by_name["items"]),
                "patched": obs(patched),
                "replaced": obs(replaced),
                "exists": obs(helpers.status_of(exists.value)),
                "deleted": obs(deleted),
                "missing": obs(helpers.status_of(missing.value)),
            }

    result = contract.run(scenario)
    assert result["empty"]["items"] == [] and result["empty"]["kind"] == "ConfigMapList"
    assert result["created"]["data"] == {"mode": "fast", "config.yaml": "a: 1\n"}
    assert result["created"]["binaryData"] == {"blob": "aGVsbG8="}
    assert result["got_same"] is True and result["listed"] == ["settings"]
    assert result["listed_kind"] == ("ConfigMapList", "v1")
    assert "data" not in result["by_name"][0]
    assert result["patched"]["data"] == {"mode": "slow", "config.yaml": "a: 1\n", "extra": "1"}
    assert result["replaced"]["data"] == {"only": "this"} and "binaryData" not in result["replaced"]
    assert result["exists"]["http"] == 409 and result["exists"]["body"]["message"] == 'configmaps "bare" already exists'
    assert result["deleted"]["status"] == "Success" and result["deleted"]["details"]["kind"] == "configmaps"
    assert result["missing"]["body"]["message"] == 'configmaps "bare" not found'


INVALID_CONFIG_MAPS = [
    config_map("bad-key", data={"bad key": "1"}),
    config_map("dot-dot", data={"..x": "1"}),
    config_map("dot", data={".": "1"}),
    config_map("bad-binary-key", binaryData={"a/b": "aGVsbG8="}),
    config_map("duplicate", data={"dup": "1"}, binaryData={"dup": "aGVsbG8="}),
    config_map("long-key", data={"k" * 254: "1"}),
    config_map("Bad_Name"),
    config_map("too-big", data={"a": "x" * ONE_MIB, "b": "y"}),
    config_map("too-big-binary", data={"a": "x" * (ONE_MIB - 4)}, binaryData={"b": "aGVsbG8="}),
]


def test_configmap_validation_errors(contract: Any, helpers: Any) -> None:
    def scenario(backend: Any, obs: Any) -> dict[str, Any]:
        with Namespace(backend, helpers, obs, "cminvalid") as ns:
            out = helpers.post_each(backend, f"/api/v1/namespaces/{ns}/configmaps", INVALID_CONFIG_MAPS, obs)
            at_limit = config_map("at-limit", data={"a": "x" * (ONE_MIB - 5)}, binaryData={"b": "aGVsbG8="})
            status, answer = backend.raw("POST", f"/api/v1/namespaces/{ns}/configmaps", body=at_limit)
            out["at-limit"] = status
            status, answer = backend.raw(
                "POST", f"/api/v1/namespaces/{ns}/configmaps", body=config_map("bad-base64", binaryData={"b": "!!!"})
            )
            # The rest of the message quotes the JSON decoder's context, which only Go's decoder can spell.
            out["bad-base64"] = {
                "http": status,
                "reason": answer["reason"],
                "message": answer["message"].split(", error found in")[0],
            }
            return out

    result = contract.run(scenario)
    assert all(result[b["metadata"]["name"]]["http"] == 422 for b in INVALID_CONFIG_MAPS)
    assert result["bad-key"]["body"]["message"] == (
        'ConfigMap "bad-key" is invalid: data[bad key]: Invalid value: "bad key": a valid config key must consist '
        "of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used "
        "for validation is '[-._a-zA-Z0-9]+')"
    )
    assert result["duplicate"]["body"]["details"]["causes"] == [
        {
            "reason": "FieldValueInvalid",
            "message": 'Invalid value: "dup": duplicate of key present in binaryData',
            "field": "data[dup]",
        }
    ]
    assert result["too-big"]["body"]["details"]["causes"] == [
        {"reason": "FieldValueTooLong", "message": "Too long: must have at most 1048576 bytes", "field": "[]"}
    ]
    assert result["at-limit"] == 201
    assert result["bad-base64"] == {
        "http": 400,
        "reason": "BadRequest",
        "message": 'ConfigMap in version "v1" cannot be handled as a ConfigMap: v1.ConfigMap.BinaryData: decode '
        "base64: illegal base64 data at input byte 0",
    }


def test_configmap_immutable(contract: Any, helpers: Any) -> None:
    def scenario(backend: Any, obs: Any) -> dict[str, Any]:
        core = backend.core()
        with Namespace(backend, helpers, obs, "cmimmutable") as ns:
            frozen = helpers.call(
                core.create_namespaced_config_map, ns, config_map("frozen", data={"a": "1"}, immutable=True)
            )
            helpers.call(core.create_namespaced_config_map, ns, config_map("open", data={"a": "1"}, immutable=False))
            out: dict[str, Any] = {"frozen": obs(frozen)}
            with pytest.raises(ApiException) as changed:
                core.replace_namespaced_config_map(
                    "frozen", ns, {**frozen, "data": {"a": "2"}, "binaryData": {"b": "aGk="}, "immutable": False}
                )
            out["changed"] = obs(helpers.status_of(changed.value))
            labelled = helpers.call(
                core.patch_namespaced_config_map, "frozen", ns, {"metadata": {"labels": {"still": "editable"}}}
            )
            out["labelled"] = obs(labelled)
            locked = helpers.call(core.patch_namespaced_config_map, "open", ns, {"immutable": True, "data": {"a": "2"}})
            out["locked"] = obs(locked)
            with pytest.raises(ApiException) as after_lock:
                core.patch_namespaced_config_map("open", ns, {"data": {"a": "3"}})
            out["after_lock"] = obs(helpers.status_of(after_lock.value))
            out["deleted"] = obs(helpers.call(core.delete_namespaced_config_map, "frozen", ns))
            return out

    result = contract.run(scenario)
    assert result["frozen"]["immutable"] is True
    assert [c["field"] for c in result["changed"]["body"]["details"]["causes"]] == ["immutable", "data", "binaryData"]
    assert result["changed"]["body"]["message"].startswith(
        'ConfigMap "frozen" is invalid: [immutable: Forbidden: field is immutable when `immutable` is set'
    )
    assert result["labelled"]["metadata"]["labels"] == {"still": "editable"}
    assert result["locked"]["immutable"] is True and result["locked"]["data"] == {"a": "2"}
    assert result["after_lock"]["http"] == 422
    assert result["deleted"]["status"] == "Success"


def test_configmap_watch(contract: Any, helpers: Any) -> None:
    def scenario(backend: Any, obs: Any) -> list[dict[str, Any]]:
        core = backend.core()
        with Namespace(backend, helpers, obs, "cmwatch") as ns:
            start = helpers.call(core.list_namespaced_config_map, ns)["metadata"]["resourceVersion"]
            events = helpers.EventCollector(
                core.list_namespaced_config_map, ns, resource_version=start, timeout_seconds=30, stop_on="DELETED"
            )
            core.create_namespaced_config_map(ns, config_map("seen", data={"v": "1"}))
            core.patch_namespaced_config_map("seen", ns, {"data": {"v": "2"}})
            core.delete_namespaced_config_map("seen", ns)
            watched = events.join()
            return [{"type": e["type"], "data": e["object"].get("data")} for e in watched]

    result = contract.run(scenario)
    assert result == [
        {"type": "ADDED", "data": {"v": "1"}},
        {"type": "MODIFIED", "data": {"v": "2"}},
        {"type": "DELETED", "data": {"v": "2"}},
    ]


def test_configmap_discovery(contract: Any, helpers: Any) -> None:
    def scenario(backend: Any, obs: Any) -> list[dict[str, Any]]:
        resources = helpers.call(backend.core().get_api_resources)
        return [r for r in resources["resources"] if r["name"] == "configmaps"]

    result = contract.run(scenario)
    assert result == [
        {
            "name": "configmaps",
            "singularName": "",
            "namespaced": True,
            "kind": "ConfigMap",
            "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
            "shortNames": ["cm"],
            "storageVersionHash": "qFsyl6wFWjQ=",
        }
    ]
