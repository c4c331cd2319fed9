"""The kubelet's pure parts: image references, `$(VAR)` expansion, path rewriting, phases, ACS sizes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ack_compute.sandbox.kubelet import ApiEndpoint, ImageRegistry
from ack_compute.sandbox.kubelet.images import PullError, parse_image
from ack_compute.sandbox.kubelet.podconfig import Mount, expand, rewrite_paths
from ack_compute.sandbox.kubelet.status import go_duration, pod_phase
from ack_compute.sandbox.kubelet.virtual import instance_spec, region_of

PULLABLE = [
    "busybox",
    "busybox:1.36",
    "library/alpine:3.20",
    "docker.io/library/python:3.11-slim",
    "python@sha256:" + "a" * 64,
    "registry-cn-hangzhou.ack.aliyuncs.com/acs/stress:v1.0.4",
    "registry-cn-shanghai-vpc.ack.aliyuncs.com/acs/coredns:v1.11.3.2-f57ea7ed6-aliyun",
    "registry-ap-southeast-1.ack.aliyuncs.com/acs/pause:3.9",
    "mirrors-ssl.aliyuncs.com/nginx:stable-alpine",
    "registry.cn-beijing.aliyuncs.com/acs/busybox:latest",
]
UNKNOWN = [
    "nosuch",
    "quay.io/busybox",
    "registry.openanolis.cn/openanolis/nginx:1.14.1-8.6",
    "registry-cn-hangzhou.ack.aliyuncs.com/other/busybox",
    "team/busybox",
]


@pytest.mark.parametrize("reference", PULLABLE)
def test_known_images_pull_from_the_usual_registries(reference: str) -> None:
    assert ImageRegistry().pull(reference).ref.original == reference


@pytest.mark.parametrize("reference", UNKNOWN)
def test_other_images_do_not(reference: str) -> None:
    with pytest.raises(PullError) as failed:
        ImageRegistry().pull(reference)
    assert failed.value.reason == "ErrImagePull" and "failed to pull and unpack image" in failed.value.message


def test_references_normalise_like_containerd() -> None:
    assert parse_image("busybox").normalized == "docker.io/library/busybox:latest"
    assert parse_image("team/app:2").normalized == "docker.io/team/app:2"
    assert parse_image("localhost:5000/app").normalized == "localhost:5000/app:latest"
    with pytest.raises(PullError) as bad:
        ImageRegistry().pull("Not/Valid")
    assert bad.value.reason == "InvalidImageName"


def test_images_without_a_command() -> None:
    registry = ImageRegistry()
    assert registry.pull("busybox").default == "exit" and registry.pull("nginx:1.27").default == "serve"
    registry.add("registry.example.com/web:1", "serve")
    assert registry.pull("registry.example.com/web:1").default == "serve"
    with pytest.raises(PullError):
        registry.pull("registry.example.com/web:2")  # a pinned tag adds that tag only


def test_expansion_follows_kubernetes() -> None:
    env = {"A": "x", "B": "$(A)"}
    assert expand("$(A)-$(B)-$$(A)-$(C)-$A-$(A", env) == "x-$(A)-$(A)-$(C)-$A-$(A"
    assert expand("cost $$5", {}) == "cost $5"


def test_paths_under_mounts_are_rewritten_once() -> None:
    mounts = [Mount("/etc/app/conf", Path("/tmp/pod/volumes/conf")), Mount("/tmp", Path("/tmp/pod/volumes/t"))]
    text = "python /etc/app/conf/run.py --out=/tmp/x /usr/tmp /tmpfile /etc/app/confd"
    assert rewrite_paths(text, mounts) == (
        "python /tmp/pod/volumes/conf/run.py --out=/tmp/pod/volumes/t/x /usr/tmp /tmpfile /etc/app/confd"
    )


def terminated(code: int) -> dict[str, Any]:
    return {"name": "c", "state": {"terminated": {"exitCode": code}}, "lastState": {}}


def test_phases_follow_the_restart_policy() -> None:
    spec = {"containers": [{"name": "c"}]}
    waiting = {"name": "c", "state": {"waiting": {"reason": "ContainerCreating"}}, "lastState": {}}
    crashed = {"name": "c", "state": {"waiting": {}}, "lastState": {"terminated": {"exitCode": 1}}}
    assert pod_phase(spec | {"restartPolicy": "Never"}, [], [waiting]) == "Pending"
    assert pod_phase(spec | {"restartPolicy": "Never"}, [], [terminated(0)]) == "Succeeded"
    assert pod_phase(spec | {"restartPolicy": "Never"}, [], [terminated(2)]) == "Failed"
    assert pod_phase(spec | {"restartPolicy": "OnFailure"}, [], [terminated(2)]) == "Running"
    assert pod_phase(spec | {"restartPolicy": "Always"}, [], [terminated(0)]) == "Running"
    assert pod_phase(spec | {"restartPolicy": "Always"}, [], [crashed]) == "Running"
    with_init = spec | {"restartPolicy": "Never", "initContainers": [{"name": "i"}]}
    assert pod_phase(with_init, [{**terminated(1), "name": "i"}], [waiting]) == "Failed"


def test_back_off_durations_print_like_go() -> None:
    assert [go_duration(s) for s in (10, 40, 80, 160, 300)] == ["10s", "40s", "1m20s", "2m40s", "5m0s"]


def pod_with(cpu: str | None, memory: str | None) -> dict[str, Any]:
    resources = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v}
    return {"spec": {"containers": [{"name": "c", "resources": {"requests": resources}}]}}


def test_acs_sizes_round_up() -> None:
    assert instance_spec(pod_with(None, None)) == (2, 4)
    assert instance_spec(pod_with("2", None)) == (2, 4)
    assert instance_spec(pod_with("2", "2Gi")) == (2, 2)
    assert instance_spec(pod_with("300m", "600Mi")) == (0.5, 1)
    assert instance_spec(pod_with("1", "20Gi")) == (2.5, 20)
    assert region_of("cn-hangzhou-k") == "cn-hangzhou" and region_of("ap-southeast-1a") == "ap-southeast-1"


def test_endpoints_from_a_kubeconfig() -> None:
    endpoint = ApiEndpoint.coerce(
        {
            "clusters": [{"name": "c", "cluster": {"server": "https://x:6443/", "certificate-authority-data": "Q0E="}}],
            "users": [{"name": "u", "user": {"token": "t"}}],
            "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
            "current-context": "c",
        }
    )
    assert endpoint == ApiEndpoint("https://x:6443", "t", ca_data="Q0E=")
