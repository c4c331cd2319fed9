"""Temporary kubeconfigs: fetched once, reused while fresh, refreshed before they expire, never shown."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

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
