"""Process-wide test hygiene: no proxies, no cloud metadata probing, no real credentials."""

from __future__ import annotations

import os

# The Alibaba SDKs honour HTTP(S)_PROXY and ignore NO_PROXY, so loopback traffic would leave the box.
for _var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
    os.environ.pop(_var, None)
# The credentials chain would otherwise start a thread that polls the ECS metadata service.
os.environ["ALIBABA_CLOUD_ECS_METADATA_DISABLED"] = "true"
# Real keys on a developer's machine must never reach a test.
for _var in ("ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET", "ALIBABA_CLOUD_SECURITY_TOKEN"):
    os.environ.pop(_var, None)

import pytest  # noqa: E402


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
