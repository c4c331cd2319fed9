"""Injected faults reach the real SDK as its own exceptions, and every request is counted."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest
from alibabacloud_ecs20140526 import models as ecs_models
from alibabacloud_ecs20140526.client import Client as EcsClient
from alibabacloud_tea_openapi.exceptions import AlibabaCloudException, ServerException, ThrottlingException
from Tea.exceptions import UnretryableException

from ack_compute.sandbox import Fault, SandboxCloud
from ack_compute.sandbox.faults import TRANSIENT_ERRORS

if TYPE_CHECKING:
    from conftest import Clients

REQUEST = ecs_models.DescribePriceRequest(region_id="cn-hangzhou", instance_type="ecs.g7.large")


def test_throttle_raises_throttling_exception_with_retry_after(cloud: SandboxCloud, ecs: EcsClient) -> None:
    cloud.inject("DescribePrice", Fault.throttle(retry_after_ms=300))

    with pytest.raises(ThrottlingException) as raised:
        ecs.describe_price(REQUEST)

    assert (raised.value.status_code, raised.value.code, raised.value.retry_after) == (400, "Throttling.User", 300)
    assert ecs.describe_price(REQUEST).body.price_info.price.trade_price > 0


@pytest.mark.parametrize(("status", "code"), [(503, "ServiceUnavailable"), (500, "InternalError")])
def test_server_error_raises_server_exception(cloud: SandboxCloud, ecs: EcsClient, status: int, code: str) -> None:
    cloud.inject("DescribePrice", Fault.server_error(status=status, code=code))

    with pytest.raises(ServerException) as raised:
        ecs.describe_price(REQUEST)

    assert (raised.value.status_code, raised.value.code) == (status, code)


def test_delay_beyond_the_read_timeout_times_out(cloud: SandboxCloud, clients: Clients) -> None:
    cloud.inject("DescribePrice", Fault.delay(1.0))

    with pytest.raises(UnretryableException, match="timed out"):
        clients.ecs(read_timeout=200).describe_price(REQUEST)


def test_delay_within_the_read_timeout_answers_normally(cloud: SandboxCloud, ecs: EcsClient) -> None:
    cloud.inject("DescribePrice", Fault.delay(0.05))

    assert ecs.describe_price(REQUEST).body.price_info.price.trade_price > 0


def test_faults_apply_to_their_action_only_and_as_many_times_as_asked(cloud: SandboxCloud, ecs: EcsClient) -> None:
    cloud.inject("DescribePrice", Fault.server_error(), times=2)

    ecs.describe_instance_types(ecs_models.DescribeInstanceTypesRequest(instance_types=["ecs.g7.large"]))
    for _ in range(2):
        with pytest.raises(ServerException):
            ecs.describe_price(REQUEST)
    assert ecs.describe_price(REQUEST).body.price_info.price.trade_price > 0


def test_clear_faults_drops_queued_faults(cloud: SandboxCloud, ecs: EcsClient) -> None:
    cloud.inject("DescribePrice", Fault.throttle(), times=3)
    cloud.clear_faults()

    assert ecs.describe_price(REQUEST).body.price_info.price.trade_price > 0


def test_counts_include_failed_and_faulted_requests(cloud: SandboxCloud, ecs: EcsClient) -> None:
    cloud.reset_counts()
    cloud.inject("DescribePrice", Fault.throttle())
    with pytest.raises(ThrottlingException):
        ecs.describe_price(REQUEST)
    ecs.describe_price(REQUEST)
    with pytest.raises(Exception, match="InvalidInstanceType"):
        ecs.describe_price(ecs_models.DescribePriceRequest(region_id="cn-hangzhou", instance_type="ecs.bogus"))
    ecs.describe_instance_types(ecs_models.DescribeInstanceTypesRequest())

    assert cloud.counts() == {"DescribePrice": 3, "DescribeInstanceTypes": 1}
    cloud.reset_counts()
    assert cloud.counts() == {}


@pytest.mark.parametrize(
    "build",
    [lambda: Fault.throttle(retry_after_ms=0), lambda: Fault.server_error(status=404), lambda: Fault.delay(-1)],
)
def test_faults_that_the_sdk_could_not_see_are_rejected(build: Callable[[], Fault]) -> None:
    with pytest.raises(ValueError):
        build()


@pytest.mark.parametrize("code", sorted(TRANSIENT_ERRORS))
def test_every_transient_code_reaches_the_sdk_with_its_status(cloud: SandboxCloud, ecs: EcsClient, code: str) -> None:
    cloud.inject("DescribePrice", Fault.transient(code))

    with pytest.raises(AlibabaCloudException) as raised:  # ClientException for 4xx, ServerException for 5xx
        ecs.describe_price(REQUEST)

    assert (raised.value.status_code, raised.value.code) == (TRANSIENT_ERRORS[code][0], code)
    assert ecs.describe_price(REQUEST).body.price_info.price.trade_price > 0


def test_a_code_that_is_not_transient_is_refused() -> None:
    with pytest.raises(ValueError, match="not a transient code"):
        Fault.transient("InvalidParameter")
