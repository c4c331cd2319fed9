"""Temporary kubeconfigs: fetched once, reused while fresh, refreshed before they expire, never shown."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
import yaml

from ack_compute.cloud.errors import CloudError
from ack_compute.sandbox import SandboxCloud
from ack_compute.server.runtime import Runtime
from ack_compute.tools.kubeconfigs import Kubeconfigs


@pytest.fixture
def realtime_world() -> Iterator[SandboxCloud]:
    with SandboxCloud(time_scale=1) as cloud:  # real-time token lifetimes
        yield cloud


def test_cached_until_near_expiry_then_refreshed(
    realtime_world: SandboxCloud, runtime_on: Callable[..., Runtime]
) -> None:
    world = realtime_world
    runtime = runtime_on(world, kubeconfig_minutes=15)
    cluster_id = world.plant_cluster("kc", nodes=1)
    now = [datetime.now(UTC)]
    configs = Kubeconfigs(runtime.cs, minutes=15, clock=lambda: now[0])
    first = configs.get(cluster_id)
    assert first.expiration and timedelta(minutes=14) < first.expiration - datetime.now(UTC) <= timedelta(minutes=15)
    assert configs.get(cluster_id) is first
    assert world.counts()["DescribeClusterUserKubeconfig"] == 1
    # Twelve minutes later, three remain: inside the refresh margin (a quarter of 15 minutes), so refresh.
    now[0] += timedelta(minutes=12)
    second = configs.get(cluster_id)
    assert second is not first and world.counts()["DescribeClusterUserKubeconfig"] == 2
    assert configs.get(cluster_id) is second, "the fresh one is cached again"
    access = configs.access(cluster_id)
    try:
        assert [n.ready for n in access.nodes()] == [True]
    finally:
        access.close()
    assert second.config.get_secret_value() not in repr(second) + repr(configs) + repr(access)


def test_short_lived_kubeconfigs_are_not_refetched_on_every_use(runtime_on: Callable[..., Runtime]) -> None:
    with SandboxCloud(time_scale=60) as world:  # a 15-minute kubeconfig lives 15 s here
        runtime = runtime_on(world, kubeconfig_minutes=15)
        cluster_id = world.plant_cluster("kc-short", nodes=1)
        configs = runtime.clusters.kubeconfigs
        assert configs.get(cluster_id) is configs.get(cluster_id)
        assert world.counts()["DescribeClusterUserKubeconfig"] == 1


@pytest.mark.parametrize("private_setting", [False, True])
def test_cluster_without_public_endpoint_gets_a_private_kubeconfig(
    cloud: SandboxCloud, runtime_on: Callable[..., Runtime], private_setting: bool
) -> None:
    """No EIP on the API server: a public kubeconfig would name a server nobody answers at, so the private one
    is asked for, whatever the operator's setting."""
    runtime = runtime_on(cloud)
    cluster_id = cloud.plant_cluster("kc-private", nodes=1, public_endpoint=False)
    configs = Kubeconfigs(runtime.cs, minutes=60, private_endpoint=private_setting)
    access = configs.access(cluster_id, timeout_s=5)
    try:
        assert [n.ready for n in access.nodes()] == [True]
    finally:
        access.close()
    server = yaml.safe_load(configs.get(cluster_id).config.get_secret_value())["clusters"][0]["cluster"]["server"]
    assert server != "https://127.0.0.1:1"


def test_public_endpoint_is_used_unless_the_operator_asks_for_private(
    cloud: SandboxCloud, runtime_on: Callable[..., Runtime]
) -> None:
    runtime = runtime_on(cloud)
    cluster_id = cloud.plant_cluster("kc-public", nodes=1)
    assert runtime.cs.describe_cluster(cluster_id).api_server_endpoint.startswith("https://")
    for private in (False, True):
        access = Kubeconfigs(runtime.cs, minutes=60, private_endpoint=private).access(cluster_id, timeout_s=5)
        try:
            assert len(access.nodes()) == 1
        finally:
            access.close()


def test_kubeconfig_of_a_cluster_being_created_is_refused_by_the_cloud(
    cloud: SandboxCloud, runtime_on: Callable[..., Runtime]
) -> None:
    """No endpoint yet: the cloud's own answer (ErrorClusterState), not a made-up one."""
    runtime = runtime_on(cloud)
    cluster_id = cloud.plant_cluster("kc-failed", state="failed", nodes=0)
    with pytest.raises(CloudError) as raised:
        Kubeconfigs(runtime.cs, minutes=60).get(cluster_id)
    assert raised.value.code == "ErrorClusterState"
