"""Temporary kubeconfigs: fetched once, reused while fresh, refreshed before they expire, never shown."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ack_compute.cloud.config import StaticCredentials
from ack_compute.sandbox import SandboxCloud
from ack_compute.server.runtime import Runtime
from ack_compute.server.settings import Settings
from ack_compute.tools.kubeconfigs import Kubeconfigs


@pytest.fixture
def world() -> Iterator[SandboxCloud]:
    with SandboxCloud(time_scale=1) as cloud:  # real-time token lifetimes
        yield cloud


def test_cached_until_near_expiry_then_refreshed(world: SandboxCloud, tmp_path: Path) -> None:
    settings = Settings(
        region="cn-hangzhou", state_dir=tmp_path, endpoint=world.endpoint, protocol="http", kubeconfig_minutes=15
    )
    runtime = Runtime.build(
        settings, StaticCredentials(access_key_id=world.access_key_id, access_key_secret=world.access_key_secret)
    )
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


def test_short_lived_kubeconfigs_are_not_refetched_on_every_use(tmp_path: Path) -> None:
    with SandboxCloud(time_scale=60) as world:  # a 15-minute kubeconfig lives 15 s here
        settings = Settings(
            region="cn-hangzhou", state_dir=tmp_path, endpoint=world.endpoint, protocol="http", kubeconfig_minutes=15
        )
        runtime = Runtime.build(
            settings, StaticCredentials(access_key_id=world.access_key_id, access_key_secret=world.access_key_secret)
        )
        cluster_id = world.plant_cluster("kc-short", nodes=1)
        configs = runtime.clusters.kubeconfigs
        assert configs.get(cluster_id) is configs.get(cluster_id)
        assert world.counts()["DescribeClusterUserKubeconfig"] == 1
