"""The object store is generic: registering a kind gives it the whole API (CRUD, selectors, watch, metadata)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

from ack_compute.sandbox.kube import KubeCluster
from ack_compute.sandbox.kube.registry import Kind, Strategy
from ack_compute.sandbox.kube.selectors import SelectorError, parse_field_selector, parse_label_selector

CONFIG_MAP = Kind(group="", version="v1", resource="configmaps", kind="ConfigMap", namespaced=True, short_names=("cm",))


class SpecStrategy(Strategy):
    def zero_object(self) -> dict[str, Any]:
        return {"metadata": {"creationTimestamp": None}, "spec": {}, "status": {}}


JOB = Kind(
    group="batch",
    version="v1",
    resource="jobs",
    kind="Job",
    namespaced=True,
    strategy=SpecStrategy(),
    tracks_generation=True,
    status_subresource=True,
    subresources=(("status", "Job", ("get", "patch", "update")),),
)


def api_for(cluster: KubeCluster) -> client.ApiClient:
    token = cluster.issue_token(role="admin", ttl_seconds=60)
    return config.new_client_from_config_dict(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "c", "cluster": {"server": cluster.server_url}}],
            "users": [{"name": "u", "user": {"token": token}}],
            "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
            "current-context": "c",
        }
    )


def test_registered_kind_gets_the_whole_api(make_cluster: Callable[..., KubeCluster]) -> None:
    cluster = make_cluster()
    cluster.registry.register(CONFIG_MAP)
    core = client.CoreV1Api(api_for(cluster))
    created = core.create_namespaced_config_map(
        "default", {"metadata": {"name": "cfg", "labels": {"a": "1"}}, "data": {"k": "v"}}
    )
    assert created.data == {"k": "v"} and created.metadata.uid
    assert [c.metadata.name for c in core.list_namespaced_config_map("default", label_selector="a in (1,2)").items] == [
        "cfg"
    ]
    events = [e["type"] for e in watch.Watch().stream(core.list_namespaced_config_map, "default", timeout_seconds=1)]
    assert events == ["ADDED"]
    core.delete_namespaced_config_map("cfg", "default")
    with pytest.raises(ApiException) as missing:
        core.read_namespaced_config_map("cfg", "default")
    assert missing.value.status == 404
    assert json.loads(missing.value.body)["message"] == 'configmaps "cfg" not found'
    names = [r.name for r in core.get_api_resources().resources]
    assert "configmaps" in names


def test_generation_moves_on_spec_changes_only(make_cluster: Callable[..., KubeCluster]) -> None:
    cluster = make_cluster()
    cluster.registry.register(JOB)
    objects, ctx = cluster.objects, cluster.system_context("test")
    job = objects.create(JOB, "default", {"metadata": {"name": "j"}, "spec": {"parallelism": 1}}, ctx)
    assert job["metadata"]["generation"] == 1
    job["metadata"]["labels"] = {"x": "y"}
    job = objects.update(JOB, "default", "j", job, ctx)
    assert job["metadata"]["generation"] == 1
    job["spec"]["parallelism"] = 2
    job = objects.update(JOB, "default", "j", job, ctx)
    assert job["metadata"]["generation"] == 2
    job["status"] = {"active": 1}
    job = objects.update(JOB, "default", "j", job, ctx, subresource="status")
    assert job["metadata"]["generation"] == 2 and job["status"] == {"active": 1}
    batch = client.BatchV1Api(api_for(cluster))
    with pytest.raises(ApiException) as forbidden_status:
        batch.list_namespaced_job("default", field_selector="status.phase=Running")
    assert forbidden_status.value.status == 400


def test_selector_parsing_edges() -> None:
    assert parse_label_selector("a>1").matches({"a": "2"}) and not parse_label_selector("a<1").matches({"a": "2"})
    assert not parse_label_selector("a>1").matches({})
    with pytest.raises(SelectorError, match=r"must be an integer"):
        parse_label_selector("a>x")
    fields = parse_field_selector(r"metadata.name=a\,b", frozenset({"metadata.name"}))
    assert fields.matches({"metadata.name": "a,b"})
    with pytest.raises(SelectorError, match=r"field label not supported: spec\.x"):
        parse_field_selector("spec.x=1", frozenset({"metadata.name"}))
