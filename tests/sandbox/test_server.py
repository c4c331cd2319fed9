"""The sandbox as a server: routing by product and action, lifecycle, and staying out of the SDKs' way."""

from __future__ import annotations

import subprocess
import sys
from typing import TYPE_CHECKING

import httpx
import pytest
from alibabacloud_ecs20140526.client import Client as EcsClient
from alibabacloud_tea_openapi.exceptions import ClientException
from alibabacloud_tea_openapi.models import OpenApiRequest
from alibabacloud_tea_openapi.utils_models import Params
from alibabacloud_vpc20160428 import models as vpc_models
from darabonba.runtime import RuntimeOptions

from ack_compute.sandbox import SandboxCloud

if TYPE_CHECKING:
    from conftest import Clients, RawSigner


def test_unknown_action_is_not_found(ecs: EcsClient) -> None:
    params = Params(
        action="DescribeNothing",
        version="2014-05-26",
        protocol="HTTP",
        pathname="/",
        method="POST",
        auth_type="AK",
        style="RPC",
        req_body_type="formData",
        body_type="json",
    )
    with pytest.raises(ClientException) as raised:
        ecs.call_api(params, OpenApiRequest(query={}), RuntimeOptions())

    assert (raised.value.status_code, raised.value.code) == (404, "InvalidAction.NotFound")


def test_vpc_action_the_sandbox_lacks_is_not_found(clients: Clients) -> None:
    with pytest.raises(ClientException) as raised:
        clients.vpc().describe_nat_gateways(vpc_models.DescribeNatGatewaysRequest(region_id="cn-hangzhou"))

    assert (raised.value.status_code, raised.value.code) == (404, "InvalidAction.NotFound")


def test_roa_action_at_the_wrong_path_is_not_found(signer: RawSigner) -> None:
    headers = signer.headers("DescribeRegions", {}, version="2015-12-15", method="GET", path="/clusters")
    response = signer.send({}, headers, method="GET", path="/clusters")

    assert (response.status_code, response.json()["code"]) == (404, "InvalidAction.NotFound")


def test_roa_action_at_its_path_answers(signer: RawSigner) -> None:
    headers = signer.headers("DescribeRegions", {}, version="2015-12-15", method="GET", path="/regions")
    response = signer.send({}, headers, method="GET", path="/regions")

    assert response.status_code == 200
    assert response.json()["requestId"] == response.headers["x-acs-request-id"]


def test_unknown_version_is_invalid(cloud: SandboxCloud) -> None:
    response = httpx.post(f"http://{cloud.endpoint}/", headers={"x-acs-version": "1999-01-01", "x-acs-action": "X"})

    assert (response.status_code, response.json()["Code"]) == (400, "InvalidVersion")
    assert response.headers["x-acs-request-id"] == response.json()["RequestId"]


def test_context_manager_frees_the_port() -> None:
    with SandboxCloud() as cloud:
        endpoint = cloud.endpoint
        assert httpx.get(f"http://{endpoint}/regions").json()["Code"] == "MissingParameter"

    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://{endpoint}/regions")
    with pytest.raises(RuntimeError):
        _ = cloud.endpoint


def test_starting_imports_no_sdk_and_prints_nothing() -> None:
    script = (
        "import sys\n"
        "from ack_compute.sandbox import SandboxCloud\n"
        "with SandboxCloud() as cloud:\n"
        "    pass\n"
        "loaded = sorted(m for m in sys.modules if m.startswith(('alibabacloud', 'Tea', 'darabonba')))\n"
        "sys.stderr.write(repr(loaded))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=30)

    assert (result.stdout, result.stderr) == ("", "[]")
