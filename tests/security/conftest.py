"""The attack modules' shared fixtures: one sandbox cloud per module (600x clock) and an observer on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ack_compute.sandbox import SandboxCloud
from ack_compute.server.runtime import Runtime
from tests.security.purchase_helpers import observer


@pytest.fixture(scope="module")
def world() -> Iterator[SandboxCloud]:
    with SandboxCloud(time_scale=600) as cloud:
        yield cloud


@pytest.fixture
def look(world: SandboxCloud, tmp_path: Path) -> Runtime:
    """Services of our own on the module's sandbox, to look at what the server under attack did."""
    return observer(world, tmp_path / "observer")
