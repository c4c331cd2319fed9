"""Who may do what: access reviews, the limited role's 403s, bad tokens, anonymous requests, unknown paths."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.contract.conftest import failure
from tests.helpers.kube_status import UNAUTHORIZED

pytestmark = pytest.mark.contract

REVIEWS = [
    ("admin", {"resourceAttributes": {"namespace": "default", "verb": "create", "group": "batch", "resource": "jobs"}}),
    (
        "limited",
        {"resourceAttributes": {"namespace": "default", "verb": "create", "group": "batch", "resource": "jobs"}},
    ),
    ("admin", {"resourceAttributes": {"verb": "list", "resource": "nodes"}}),
    ("limited", {"resourceAttributes": {"verb": "list", "resource": "nodes"}}),
    ("limited", {"resourceAttributes": {"verb": "watch", "resource": "pods", "namespace": "kube-system"}}),
    (
        "limited",
        {"resourceAttributes": {"verb": "get", "resource": "pods", "subresource": "log", "namespace": "default"}},
    ),
    (
        "limited",
        {
            "resourceAttributes": {
                "verb": "create",
                "group": "authorization.k8s.io",
                "resource": "selfsubjectaccessreviews",
            }
        },
    ),
    ("limited", {"nonResourceAttributes": {"path": "/api", "verb": "get"}}),
    ("limited", {"nonResourceAttributes": {"path": "/metrics", "verb": "get"}}),
]


def test_self_subject_access_reviews(contract: Any, helpers: Any) -> None:
    def scenario(backend: Any, obs: Any) -> list[dict[str, Any]]:
        out = []
        for who, spec in REVIEWS:
            api = client.AuthorizationV1Api(backend.as_user(who))
            review = helpers.call(api.create_self_subject_access_review, {"spec": spec})
            typed = api.create_self_subject_access_review({"spec": spec})
            assert typed.status.allowed == review["status"]["allowed"]
            out.append(obs(review))
        return out

    results = contract.run(scenario)
    allowed = [r["status"] for r in results]
    assert allowed[0] == {"allowed": True}
    assert allowed[1] == {"allowed": False}
    assert allowed[2] == {"allowed": True}
    assert allowed[3] == {
        "allowed": True,
        "reason": 'RBAC: allowed by ClusterRoleBinding "ack-compute-limited" of ClusterRole "ack-compute-limited" '
        'to User "limited-user"',
    }
    assert allowed[4]["allowed"] is True and allowed[5] == {"allowed": False}
    assert "system:basic-user" in allowed[6]["reason"] and "system:discovery" in allowed[7]["reason"]
    assert allowed[8] == {"allowed": False}
    assert results[0]["kind"] == "SelfSubjectAccessReview" and results[0]["apiVersion"] == "authorization.k8s.io/v1"
    assert results[0]["metadata"]["creationTimestamp"] is None


def test_self_subject_access_review_validation(contract: Any, helpers: Any) -> None:
    def scenario(backend: Any, obs: Any) -> list[dict[str, Any]]:
        api = client.AuthorizationV1Api(backend.admin)
        out = []
        for spec in (
            {},
            {
                "resourceAttributes": {"verb": "get", "resource": "pods"},
                "nonResourceAttributes": {"path": "/api", "verb": "get"},
            },
        ):
            with pytest.raises(ApiException) as caught:
                api.create_self_subject_access_review({"spec": spec})
            out.append(obs(helpers.status_of(caught.value)))
        status, body = backend.raw("GET", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews")
        out.append({"http": status, "body": obs(body)})
        return out

    results = contract.run(scenario)
    assert results[0]["http"] == 422
    assert results[0]["body"]["message"] == (
        '.authorization.k8s.io "" is invalid: spec.resourceAttributes: Invalid value: "null": exactly one of '
        "nonResourceAttributes or resourceAttributes must be specified"
    )
    assert results[0]["body"]["details"]["group"] == "authorization.k8s.io"
    assert results[1]["body"]["details"]["causes"][0]["field"] == "spec.nonResourceAttributes"
    assert results[2]["http"] == 405 and results[2]["body"]["reason"] == "MethodNotAllowed"


def test_limited_user_is_forbidden_beyond_reading(contract: Any, helpers: Any) -> None:
    def scenario(backend: Any, obs: Any) -> dict[str, Any]:
        core = backend.core("limited")
        out: dict[str, Any] = {}
        attempts = {
            "create_pod": lambda: core.create_namespaced_pod(
                "default", {"metadata": {"name": "x"}, "spec": {"containers": [{"name": "c", "image": "x"}]}}
            ),
            "delete_namespace": lambda: core.delete_namespace("default"),
            "create_namespace": lambda: core.create_namespace({"metadata": {"name": "x"}}),
            "list_jobs": lambda: client.BatchV1Api(backend.limited).list_namespaced_job("default"),
            "create_job": lambda: client.BatchV1Api(backend.limited).create_namespaced_job(
                "default",
                {
                    "metadata": {"name": "j"},
                    "spec": {
                        "template": {"spec": {"containers": [{"name": "c", "image": "x"}], "restartPolicy": "Never"}}
                    },
                },
            ),
            "pod_log": lambda: core.read_namespaced_pod_log("p", "default"),
            "list_secrets": lambda: core.list_secret_for_all_namespaces(),
            "patch_node": lambda: core.patch_node("n", {"metadata": {"labels": {"a": "b"}}}),
            "configmap_by_name": lambda: core.list_namespaced_config_map("default", field_selector="metadata.name=x"),
        }
        out.update(helpers.refusals(attempts, obs))
        out["list_pods"] = helpers.call(core.list_pod_for_all_namespaces)["kind"]
        out["list_nodes"] = helpers.call(core.list_node)["kind"]
        out["read_namespace"] = helpers.call(core.read_namespace, "default")["metadata"]["name"]
        with pytest.raises(ApiException) as missing:
            core.read_namespaced_pod(f"missing-{obs.token}", "default")
        out["missing_pod"] = obs(helpers.status_of(missing.value))
        return out

    result = contract.run(scenario)
    assert result["create_pod"] == {
        "http": 403,
        "body": failure(
            403,
            'pods is forbidden: User "limited-user" cannot create resource "pods" in API group "" '
            'in the namespace "default"',
            reason="Forbidden",
            details={"kind": "pods"},
        ),
    }
    assert result["list_jobs"]["body"]["message"] == (
        'jobs.batch is forbidden: User "limited-user" cannot list resource "jobs" in API group "batch" '
        'in the namespace "default"'
    )
    assert result["list_jobs"]["body"]["details"] == {"group": "batch", "kind": "jobs"}
    assert result["delete_namespace"]["body"]["details"] == {"name": "default", "kind": "namespaces"}
    assert "at the cluster scope" in result["list_secrets"]["body"]["message"]
    assert 'cannot get resource "pods/log"' in result["pod_log"]["body"]["message"]
    assert result["configmap_by_name"]["body"]["details"] == {"name": "x", "kind": "configmaps"}
    assert (result["list_pods"], result["list_nodes"], result["read_namespace"]) == ("PodList", "NodeList", "default")
    assert result["missing_pod"]["http"] == 404


def test_bad_token_and_anonymous(contract: Any, helpers: Any) -> None:
    def scenario(backend: Any, obs: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        with pytest.raises(ApiException) as bad:
            client.CoreV1Api(backend.api_client("not-a-valid-token")).list_namespace()
        out["bad_token"] = obs(helpers.status_of(bad.value))
        with pytest.raises(ApiException) as bad_version:
            client.VersionApi(backend.api_client("not-a-valid-token")).get_code()
        out["bad_token_version"] = bad_version.value.status
        anonymous = backend.api_client(None)
        out["anonymous_version"] = client.VersionApi(anonymous).get_code().git_version
        anonymous_attempts = {
            "anonymous_api": lambda: client.CoreApi(anonymous).get_api_versions(),
            "anonymous_pods": lambda: client.CoreV1Api(anonymous).list_namespaced_pod("default"),
        }
        out.update(helpers.refusals(anonymous_attempts, obs))
        return out

    result = contract.run(scenario)
    assert result["bad_token"] == {"http": 401, "body": UNAUTHORIZED}
    assert result["bad_token_version"] == 401
    assert result["anonymous_version"] == "v1.20.2"
    assert result["anonymous_api"]["body"]["message"] == 'forbidden: User "system:anonymous" cannot get path "/api/"'
    assert result["anonymous_api"]["body"]["details"] == {}
    assert result["anonymous_pods"]["http"] == 403


def test_unknown_paths_and_methods(contract: Any, helpers: Any) -> None:
    def scenario(backend: Any, obs: Any) -> dict[str, Any]:
        requests = {
            "unknown_resource": ("GET", "/api/v1/foos"),
            "unknown_namespaced_resource": ("GET", "/api/v1/namespaces/default/foos"),
            "unknown_subresource": ("GET", "/api/v1/namespaces/default/pods/x/foo"),
            "unknown_core_version": ("GET", "/api/v2/pods"),
            "unknown_group": ("GET", "/apis/example.com/v1/widgets"),
            "put_collection": ("PUT", "/api/v1/namespaces/default/pods"),
            "post_named": ("POST", "/api/v1/namespaces/default/pods/x"),
            "delete_namespaces_collection": ("DELETE", "/api/v1/namespaces"),
            "delete_all_pods": ("DELETE", "/api/v1/pods"),
            "post_cluster_wide_pods": ("POST", "/api/v1/pods"),
        }
        out = {}
        for key, (method, path) in requests.items():
            status, body = backend.raw(method, path, body={} if method in ("PUT", "POST") else None)
            out[key] = {"http": status, "body": obs(body)}
        return out

    result = contract.run(scenario)
    assert result["unknown_resource"]["http"] == 404
    assert result["unknown_resource"]["body"]["message"] == "the server could not find the requested resource"
    assert result["unknown_group"] == {"http": 404, "body": "404 page not found\n"}
    for key in (
        "put_collection",
        "post_named",
        "delete_namespaces_collection",
        "delete_all_pods",
        "post_cluster_wide_pods",
    ):
        assert result[key]["http"] == 405, key
        assert result[key]["body"]["reason"] == "MethodNotAllowed"


def test_client_certificates(contract: Any, helpers: Any) -> None:
    """x509 client certificates as ACK kubeconfigs carry them: CN is the user, O the groups; a certificate
    from another CA, or an expired one, is 401 (not a TLS failure, not anonymous)."""

    def scenario(backend: Any, obs: Any) -> dict[str, Any]:
        out: dict[str, Any] = {"admin": helpers.call(client.CoreV1Api(backend.as_user("admin")).list_namespace)["kind"]}
        for who in ("wrong_ca", "expired"):
            with pytest.raises(ApiException) as refused:
                client.CoreV1Api(backend.as_user(who)).list_namespace()
            out[who] = obs(helpers.status_of(refused.value))
        with pytest.raises(ApiException) as forbidden:
            client.CoreV1Api(backend.as_user("limited")).create_namespace({"metadata": {"name": "x"}})
        out["limited"] = obs(helpers.status_of(forbidden.value))["body"]["message"]
        return out

    result = contract.run(scenario)
    assert result["admin"] == "NamespaceList"
    unauthorized = {"http": 401, "body": UNAUTHORIZED}
    assert result["wrong_ca"] == unauthorized and result["expired"] == unauthorized
    assert result["limited"].startswith('namespaces is forbidden: User "limited-user" cannot create resource')
