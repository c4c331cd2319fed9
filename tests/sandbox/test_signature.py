"""ACS3-HMAC-SHA256 verification: real SDK calls with bad keys, and raw signed requests replayed or tampered."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import httpx
import pytest
from alibabacloud_cs20151215 import models as cs_models
from alibabacloud_ecs20140526 import models as ecs_models
from alibabacloud_tea_openapi.exceptions import ClientException

from ack_compute.sandbox import Fault, SandboxCloud

if TYPE_CHECKING:
    from conftest import Clients, RawSigner

QUERY = {"RegionId": "cn-hangzhou", "InstanceType": "ecs.g7.large"}
REQUEST = ecs_models.DescribePriceRequest(region_id="cn-hangzhou", instance_type="ecs.g7.large")


def error_of(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["Code"]


def test_wrong_secret_does_not_match(clients: Clients) -> None:
    with pytest.raises(ClientException) as raised:
        clients.ecs(access_key_secret="not-the-secret").describe_price(REQUEST)

    assert (raised.value.status_code, raised.value.code) == (400, "SignatureDoesNotMatch")


def test_unknown_access_key_is_not_found(clients: Clients) -> None:
    with pytest.raises(ClientException) as raised:
        clients.ecs(access_key_id="LTAIsomebodyelse").describe_price(REQUEST)

    assert (raised.value.status_code, raised.value.code) == (404, "InvalidAccessKeyId.NotFound")


def test_a_signed_request_passes_once_and_its_replay_is_refused(signer: RawSigner) -> None:
    headers = signer.headers("DescribePrice", QUERY)

    assert signer.send(QUERY, headers).status_code == 200
    assert error_of(signer.send(QUERY, headers)) == (400, "SignatureNonceUsed")


def test_body_that_does_not_match_its_hash_is_refused(signer: RawSigner) -> None:
    headers = signer.headers("DescribePrice", QUERY)

    assert error_of(signer.send(QUERY, headers, body=b"Amount=1000")) == (400, "SignatureDoesNotMatch")


def test_changed_query_or_action_breaks_the_signature(signer: RawSigner) -> None:
    headers = signer.headers("DescribePrice", QUERY)

    assert error_of(signer.send(QUERY | {"Amount": "7"}, headers)) == (400, "SignatureDoesNotMatch")
    headers = signer.headers("DescribePrice", QUERY)
    assert error_of(signer.send(QUERY, headers | {"x-acs-action": "DescribeInstanceTypes"})) == (
        400,
        "SignatureDoesNotMatch",
    )


def test_unsigned_acs_header_is_refused(signer: RawSigner) -> None:
    headers = signer.headers("DescribePrice", QUERY) | {"x-acs-extra": "smuggled"}

    assert error_of(signer.send(QUERY, headers)) == (400, "IncompleteSignature")


def test_stale_date_is_expired(signer: RawSigner) -> None:
    headers = signer.headers("DescribePrice", QUERY, signed_at=datetime.now(UTC) - timedelta(minutes=20))

    assert error_of(signer.send(QUERY, headers)) == (400, "InvalidTimeStamp.Expired")


def test_missing_authorization_is_incomplete(signer: RawSigner) -> None:
    headers = signer.headers("DescribePrice", QUERY)
    del headers["Authorization"]

    assert error_of(signer.send(QUERY, headers)) == (400, "IncompleteSignature")


def test_roa_errors_are_camel_case(clients: Clients) -> None:
    with pytest.raises(ClientException) as raised:
        clients.cs(access_key_secret="not-the-secret").describe_regions(cs_models.DescribeRegionsRequest())

    assert {"code", "message", "requestId", "status"} <= set(raised.value.data)
    assert "Code" not in raised.value.data
    assert (raised.value.data["code"], raised.value.data["status"]) == ("SignatureDoesNotMatch", 400)


def test_verification_can_be_switched_off_for_benchmarks(clients: Clients) -> None:
    with SandboxCloud(verify_signatures=False) as lax:
        ecs = replace(clients, cloud=lax).ecs(access_key_secret="anything")
        price = ecs.describe_price(REQUEST).body.price_info.price

    assert price.trade_price > 0


def test_the_secret_never_appears_in_a_response(cloud: SandboxCloud, clients: Clients, signer: RawSigner) -> None:
    cloud.inject("DescribePrice", Fault.throttle())
    cloud.inject("DescribeInstanceTypes", Fault.server_error())
    stale = signer.headers("DescribePrice", QUERY, signed_at=datetime.now(UTC) - timedelta(hours=1))
    fresh = signer.headers("DescribePrice", QUERY)
    responses = [
        signer.send(QUERY, signer.headers("DescribePrice", QUERY)),  # throttled
        signer.send({}, signer.headers("DescribeInstanceTypes", {})),  # server error
        signer.send(QUERY, fresh),
        signer.send(QUERY, fresh),  # replay
        signer.send(QUERY, stale),
        signer.send(QUERY, signer.headers("NoSuchAction", QUERY)),
        signer.send(QUERY | {"Amount": "2"}, signer.headers("DescribePrice", QUERY)),  # mismatch
    ]
    with pytest.raises(ClientException) as raised:
        clients.ecs(access_key_secret="wrong").describe_price(REQUEST)

    texts = [response.text for response in responses] + [str(raised.value.data), repr(cloud)]
    assert {response.status_code for response in responses} >= {200, 400, 404, 503}
    assert not [text for text in texts if cloud.access_key_secret in text]
