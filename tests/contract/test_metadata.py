"""Object metadata the server owns: uid, resourceVersion, generation, creationTimestamp; and discovery."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.contract.conftest import RFC3339, Namespace, failure

pytestmark = pytest.mark.contract


def test_resource_version_uid_and_generation(contract: Any, helpers: Any) -> None:
    def scenario(backend: Any, obs: Any) -> dict[str, Any]:
        core = backend.core()
        scratch = Namespace(backend, helpers, obs, "meta")
        with scratch as ns:
            created = helpers.call(
                core.create_namespaced_pod,
                ns,
                {
                    "metadata": {"name": "p", "labels": {"a": "1"}},
                    "spec": {"containers": [{"name": "c", "image": "x"}]},
                },
            )
            first = created["metadata"]
            # Let the scheduler write its condition first, so it cannot land between the two patches below.
            helpers.wait_for(lambda: helpers.call(core.read_namespaced_pod, "p", ns)["status"].get("conditions"))
            relabelled = helpers.call(core.patch_namespaced_pod, "p", ns, {"metadata": {"labels": {"a": "2"}}})[
                "metadata"
            ]
            same = helpers.call(core.patch_namespaced_pod, "p", ns, {"metadata": {"labels": {"a": "2"}}})["metadata"]
            listed = helpers.call(core.list_namespaced_pod, ns)
            with pytest.raises(ApiException) as with_rv:
                core.create_namespaced_pod(
                    ns,
                    {
                        "metadata": {"name": "q", "resourceVersion": "1"},
                        "spec": {"containers": [{"name": "c", "image": "x"}]},
                    },
                )
            uid_change = {**helpers.call(core.read_namespaced_pod, "p", ns)}
            uid_change["metadata"] = {**uid_change["metadata"], "uid": "00000000-0000-0000-0000-000000000000"}
            with pytest.raises(ApiException) as immutable_uid:
                core.replace_namespaced_pod("p", ns, uid_change)
            rv = [int(first["resourceVersion"]), int(relabelled["resourceVersion"]), int(same["resourceVersion"])]
            assert all(isinstance(m["resourceVersion"], str) for m in (first, relabelled, same))
            assert int(scratch.created["metadata"]["resourceVersion"]) < rv[0]
            return {
                "rv_increases": rv[1] > rv[0],
                "noop_keeps_rv": rv[2] == rv[1],
                "uid_stable": first["uid"] == relabelled["uid"] == same["uid"],
                "created_at_stable": first["creationTimestamp"] == relabelled["creationTimestamp"],
                "created_at_format": bool(RFC3339.match(first["creationTimestamp"])),
                "generation": [m.get("generation") for m in (first, relabelled, same)],
                "list_rv_covers": int(listed["metadata"]["resourceVersion"]) >= rv[1],
                "with_rv": obs(helpers.status_of(with_rv.value)),
                "immutable_uid": obs(helpers.status_of(immutable_uid.value)),
            }

    result = contract.run(scenario)
    assert result["rv_increases"] and result["noop_keeps_rv"] and result["uid_stable"]
    assert result["created_at_stable"] and result["created_at_format"] and result["list_rv_covers"]
    assert result["generation"] == [None, None, None]
    assert result["with_rv"] == {
        "http": 500,
        "body": failure(500, "resourceVersion should not be set on objects to be created"),
    }
    # A changed uid is a storage precondition failure, not a validation error.
    assert result["immutable_uid"]["http"] == 409
    assert result["immutable_uid"]["body"]["message"] == (
        'Operation cannot be fulfilled on pods "p": StorageError: invalid object, Code: 4, '
        "Key: /registry/pods/meta-<t>/p, ResourceVersion: 0, AdditionalErrorMsg: Precondition failed: "
        "UID in precondition: <uid>, UID in object meta: <uid>"
    )


def test_discovery(contract: Any, helpers: Any) -> None:
    """What the emulator serves is listed the way the real server lists it (the real one serves more)."""

    def scenario(backend: Any, obs: Any) -> dict[str, Any]:
        api = backend.admin
        core_resources = helpers.call(client.CoreV1Api(api).get_api_resources)
        authz_resources = helpers.call(client.AuthorizationV1Api(api).get_api_resources)
        groups = helpers.call(client.ApisApi(api).get_api_versions)
        versions = helpers.call(client.CoreApi(api).get_api_versions)
        served = {
            "namespaces",
            "namespaces/status",
            "namespaces/finalize",
            "nodes",
            "nodes/status",
            "pods",
            "pods/status",
            "pods/binding",
        }
        return {
            "version": client.VersionApi(api).get_code().git_version,
            "core": {k: v for k, v in core_resources.items() if k != "resources"},
            "core_resources": [r for r in core_resources["resources"] if r["name"] in served],
            "authz": [r for r in authz_resources["resources"] if r["name"] == "selfsubjectaccessreviews"],
            "authz_group": next(g for g in groups["groups"] if g["name"] == "authorization.k8s.io")["preferredVersion"],
            "api_versions": versions["versions"],
            "api_kind": versions["kind"],
        }

    result = contract.run(scenario)
    assert result["version"] == "v1.20.2"
    assert result["core"] == {"kind": "APIResourceList", "groupVersion": "v1"}
    assert len(result["core_resources"]) == 8
    pods = next(r for r in result["core_resources"] if r["name"] == "pods")
    assert pods["verbs"] == ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
    assert pods["shortNames"] == ["po"] and pods["namespaced"] is True
    assert result["authz"] == [
        {
            "name": "selfsubjectaccessreviews",
            "singularName": "",
            "namespaced": False,
            "kind": "SelfSubjectAccessReview",
            "verbs": ["create"],
        }
    ]
    assert result["authz_group"] == {"groupVersion": "authorization.k8s.io/v1", "version": "v1"}
    assert result["api_versions"] == ["v1"] and result["api_kind"] == "APIVersions"
