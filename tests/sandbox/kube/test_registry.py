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

# Made-up kinds: the built-in ones (ConfigMaps, Jobs, ...) are already registered on every cluster.
WIDGET = Kind(
    group="sandbox.test", version="v1", resource="widgets", kind="Widget", namespaced=True, short_names=("wd",)
)


class SpecStrategy(Strategy):
    def zero_object(self) -> dict[str, Any]:
        return {"metadata": {"creationTimestamp": None}, "spec": {}, "status": {}}


GADGET = Kind(
    group="sandbox.test",
    version="v1",
    resource="gadgets",
    kind="Gadget",
    namespaced=True,
    strategy=SpecStrategy(),
    tracks_generation=True,
    status_subresource=True,
    subresources=(("status", "Gadget", ("get", "patch", "update")),),
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
    cluster.registry.register(WIDGET)
    custom = client.CustomObjectsApi(api_for(cluster))
    args = ("sandbox.test", "v1", "default", "widgets")
    body = {"apiVersion": "sandbox.test/v1", "kind": "Widget", "metadata": {"name": "w", "labels": {"a": "1"}}}
    created = custom.create_namespaced_custom_object(*args, body)
    assert created["metadata"]["uid"] and created["metadata"]["labels"] == {"a": "1"}
    listed = custom.list_namespaced_custom_object(*args, label_selector="a in (1,2)")
    assert [i["metadata"]["name"] for i in listed["items"]] == ["w"]
    events = [e["type"] for e in watch.Watch().stream(custom.list_namespaced_custom_object, *args, timeout_seconds=1)]
    assert events == ["ADDED"]
    custom.delete_namespaced_custom_object(*args, "w")
    with pytest.raises(ApiException) as missing:
        custom.get_namespaced_custom_object(*args, "w")
    assert missing.value.status == 404
    assert json.loads(missing.value.body)["message"] == 'widgets.sandbox.test "w" not found'


def test_generation_moves_on_spec_changes_only(make_cluster: Callable[..., KubeCluster]) -> None:
    cluster = make_cluster()
    cluster.registry.register(GADGET)
    objects, ctx = cluster.objects, cluster.system_context("test")
    item = objects.create(GADGET, "default", {"metadata": {"name": "g"}, "spec": {"parallelism": 1}}, ctx)
    assert item["metadata"]["generation"] == 1
    item["metadata"]["labels"] = {"x": "y"}
    item = objects.update(GADGET, "default", "g", item, ctx)
    assert item["metadata"]["generation"] == 1
    item["spec"]["parallelism"] = 2
    item = objects.update(GADGET, "default", "g", item, ctx)
    assert item["metadata"]["generation"] == 2
    item["status"] = {"active": 1}
    item = objects.update(GADGET, "default", "g", item, ctx, subresource="status")
    assert item["metadata"]["generation"] == 2 and item["status"] == {"active": 1}
    custom = client.CustomObjectsApi(api_for(cluster))
    with pytest.raises(ApiException) as unsupported:
        custom.list_namespaced_custom_object(
            "sandbox.test", "v1", "default", "gadgets", field_selector="status.phase=Running"
        )
    assert unsupported.value.status == 400


def test_selector_parsing_edges() -> None:
    assert parse_label_selector("a>1").matches({"a": "2"}) and not parse_label_selector("a<1").matches({"a": "2"})
    assert not parse_label_selector("a>1").matches({})
    with pytest.raises(SelectorError, match=r"must be an integer"):
        parse_label_selector("a>x")
    fields = parse_field_selector(r"metadata.name=a\,b", frozenset({"metadata.name"}))
    assert fields.matches({"metadata.name": "a,b"})
    with pytest.raises(SelectorError, match=r"field label not supported: spec\.x"):
        parse_field_selector("spec.x=1", frozenset({"metadata.name"}))
