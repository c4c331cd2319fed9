"""DescribeClusterUserKubeconfig, and each cluster's Kubernetes API as the official kubernetes client sees it."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml
from alibabacloud_cs20151215 import models as cs_models
from alibabacloud_cs20151215.client import Client as CsClient
from alibabacloud_tea_openapi.exceptions import ClientException
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.rest import ApiException

from ack_compute.sandbox import SandboxCloud
from ack_compute.sandbox.cs.responses.kubeconfig import ACCOUNT_ID
from tests.helpers.cs_requests import managed_cluster_request, worker_pool
from tests.helpers.waiting import eventually

REGION = "cn-hangzhou"
SCALE = 1000.0


pytestmark = pytest.mark.usefixtures("fast_clock")  # at SCALE (tests/sandbox/conftest.py)


def kubeconfig(
    cs: CsClient, cluster_id: str, minutes: int | None = None, *, private: bool = True
) -> cs_models.DescribeClusterUserKubeconfigResponseBody:
    request = cs_models.DescribeClusterUserKubeconfigRequest(
        private_ip_address=private, temporary_duration_minutes=minutes
    )
    return cs.describe_cluster_user_kubeconfig(cluster_id, request).body


def api_client(config_text: str) -> k8s.ApiClient:
    configuration = k8s.Configuration()
    k8s_config.load_kube_config_from_dict(yaml.safe_load(config_text), client_configuration=configuration)
    return k8s.ApiClient(configuration)


def error_of(call: Callable[[], object]) -> tuple[int, str]:
    with pytest.raises(ClientException) as raised:
        call()
    return raised.value.status_code, raised.value.code


def created_cluster(cs: CsClient, cloud: SandboxCloud, nodes: int = 2) -> str:
    vpc_id = cloud.plant_vpc("kube", cidr_block="192.168.0.0/16")
    vswitch_id = cloud.plant_vswitch(vpc_id, zone_id="cn-hangzhou-j", cidr_block="192.168.3.0/24")
    scaling = cs_models.NodepoolScalingGroup(
        vswitch_ids=[vswitch_id],
        instance_types=["ecs.g7.2xlarge"],
        desired_size=nodes,
        system_disk_size=120,
        login_password="Hello@1234",
    )
    request = managed_cluster_request("acf-kube", vpc_id, [vswitch_id], [worker_pool("jobs", scaling)])
    return str(cs.create_cluster(request).body.cluster_id)


def test_kubeconfig_expiration_follows_the_scaled_duration(cs: CsClient, cloud: SandboxCloud) -> None:
    cluster_id = cloud.plant_cluster("kubeconfig-expiry", nodes=1)
    before = datetime.now(UTC).replace(microsecond=0)

    issued = kubeconfig(cs, cluster_id, minutes=60)
    expires = datetime.strptime(issued.expiration, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert before <= expires <= before + timedelta(seconds=3600 / SCALE + 2)
    document = yaml.safe_load(issued.config)
    assert document["kind"] == "Config"
    assert document["clusters"][0]["cluster"]["server"].startswith(("http://127.0.0.1", "https://127.0.0.1"))
    lasting = datetime.strptime(kubeconfig(cs, cluster_id).expiration, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert lasting > expires


@pytest.mark.parametrize("minutes", [14, 4321])
def test_duration_outside_15_to_4320_minutes_is_refused(cs: CsClient, cloud: SandboxCloud, minutes: int) -> None:
    cluster_id = cloud.plant_cluster("kubeconfig-range", nodes=0)
    assert error_of(lambda: kubeconfig(cs, cluster_id, minutes)) == (400, "InvalidParameter")


def test_only_running_clusters_have_kubeconfigs(cs: CsClient, cloud: SandboxCloud) -> None:
    failed = cloud.plant_cluster("kubeconfig-failed", state="failed")
    assert error_of(lambda: kubeconfig(cs, failed)) == (400, "ErrorClusterState")
    assert error_of(lambda: kubeconfig(cs, "c" + "f" * 32)) == (404, "ErrorClusterNotFound")


def test_created_cluster_serves_ready_nodes_and_coredns(cs: CsClient, cloud: SandboxCloud) -> None:
    cluster_id = created_cluster(cs, cloud)
    assert error_of(lambda: kubeconfig(cs, cluster_id)) == (400, "ErrorClusterState")
    eventually(lambda: cs.describe_cluster_detail(cluster_id).body.state == "running")

    core = k8s.CoreV1Api(api_client(kubeconfig(cs, cluster_id, minutes=60).config))

    def ready_nodes() -> list[Any]:
        nodes = core.list_node().items
        ready = [n for n in nodes if any(c.type == "Ready" and c.status == "True" for c in n.status.conditions or [])]
        return ready if len(ready) == 2 else []

    eventually(lambda: bool(ready_nodes()))
    pool_id = cloud.cluster(cluster_id).nodepools[0].nodepool_id
    for node in ready_nodes():
        labels = node.metadata.labels
        assert node.metadata.name.startswith(f"{REGION}.192.168.3.")
        assert labels["alibabacloud.com/nodepool-id"] == pool_id
        assert labels["node.kubernetes.io/instance-type"] == "ecs.g7.2xlarge"
        assert (labels["topology.kubernetes.io/region"], labels["topology.kubernetes.io/zone"]) == (
            REGION,
            "cn-hangzhou-j",
        )
        assert labels["kubernetes.io/os"] == "linux"
    images = [c.image for pod in core.list_namespaced_pod("kube-system").items for c in pod.spec.containers]
    assert any(image.startswith(f"registry-{REGION}-vpc.ack.aliyuncs.com/acs/coredns:") for image in images)


def test_certificate_is_refused_after_the_temporary_duration(cs: CsClient, cloud: SandboxCloud) -> None:
    cluster_id = cloud.plant_cluster("kubeconfig-expires", nodes=1)

    def refused(core: k8s.CoreV1Api) -> int:
        try:
            core.list_node()
        except ApiException as error:
            return error.status
        return 0

    try:
        # The lifetime is fixed in real time when it is issued: at 180x, 15 cloud minutes are 5 real seconds, time
        # for a loaded machine to use it once (at 900x a slow first call already met an expired certificate).
        cloud.time_scale = 180.0
        core = k8s.CoreV1Api(api_client(kubeconfig(cs, cluster_id, minutes=15).config))
        assert len(core.list_node().items) == 1
        expired = eventually(lambda: refused(core), timeout=20, interval=0.2, what="the certificate to expire")
        assert expired == 401
    finally:
        cloud.time_scale = SCALE


def test_limited_kubeconfig_may_not_create_jobs(cs: CsClient, cloud: SandboxCloud) -> None:
    cluster_id = cloud.plant_cluster("kubeconfig-limited", nodes=1, limited_rbac=True)

    def may_create_jobs() -> bool:
        authorization = k8s.AuthorizationV1Api(api_client(kubeconfig(cs, cluster_id, minutes=60).config))
        attributes = k8s.V1ResourceAttributes(group="batch", resource="jobs", verb="create", namespace="default")
        review = k8s.V1SelfSubjectAccessReview(spec=k8s.V1SelfSubjectAccessReviewSpec(resource_attributes=attributes))
        return bool(authorization.create_self_subject_access_review(review).status.allowed)

    assert may_create_jobs() is False
    core = k8s.CoreV1Api(api_client(kubeconfig(cs, cluster_id, minutes=60).config))
    assert len(core.list_node().items) == 1
    with pytest.raises(ApiException) as raised:
        core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name="jobs")))
    assert raised.value.status == 403

    cloud.set_kubeconfig_role(cluster_id, "admin")
    assert may_create_jobs() is True


def test_unresponsive_cluster_api_hangs(cs: CsClient, cloud: SandboxCloud) -> None:
    cluster_id = cloud.plant_cluster("kubeconfig-hangs", nodes=1, unresponsive=True)
    core = k8s.CoreV1Api(api_client(kubeconfig(cs, cluster_id, minutes=60).config))

    started = time.monotonic()
    with pytest.raises(Exception):  # noqa: B017 - urllib3 raises its own timeout types
        core.list_node(_request_timeout=0.5)
    assert time.monotonic() - started >= 0.4
    cloud.set_cluster_unresponsive(cluster_id, False)
    assert len(core.list_node(_request_timeout=5).items) == 1


def user_of(config_text: str) -> dict[str, Any]:
    return dict(yaml.safe_load(config_text)["users"][0]["user"])


def test_kubeconfig_user_is_a_client_certificate_from_the_clusters_ca(cs: CsClient, cloud: SandboxCloud) -> None:
    cluster_id = cloud.plant_cluster("kubeconfig-cert", nodes=0)
    before = datetime.now(UTC).replace(microsecond=0)
    config_text = kubeconfig(cs, cluster_id, minutes=60).config
    user = user_of(config_text)
    assert set(user) == {"client-certificate-data", "client-key-data"}  # no bearer token
    certificate = x509.load_pem_x509_certificate(base64.b64decode(user["client-certificate-data"]))
    key = serialization.load_pem_private_key(base64.b64decode(user["client-key-data"]), password=None)
    assert key.public_key().public_numbers() == certificate.public_key().public_numbers()  # type: ignore[union-attr]
    subject = certificate.subject
    assert [a.value for a in subject.get_attributes_for_oid(NameOID.COMMON_NAME)] == [ACCOUNT_ID]
    assert [a.value for a in subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)] == [
        "system:users",
        "system:masters",
    ]
    # Valid for the scaled hour, not years.
    assert certificate.not_valid_after_utc <= before + timedelta(seconds=3600 / SCALE + 3)
    cluster = yaml.safe_load(config_text)["clusters"][0]["cluster"]
    ca = x509.load_pem_x509_certificate(base64.b64decode(cluster["certificate-authority-data"]))
    certificate.verify_directly_issued_by(ca)
    assert cluster["server"].startswith("https://")


def core_of(config_text: str) -> k8s.CoreV1Api:
    return k8s.CoreV1Api(api_client(config_text))


def status_of(call: Callable[[], object]) -> int:
    with pytest.raises(ApiException) as raised:
        call()
    return int(raised.value.status)


def with_user(config_text: str, other_text: str) -> str:
    """`config_text` (server, CA) with the user of `other_text`."""
    document = yaml.safe_load(config_text)
    document["users"][0]["user"] = user_of(other_text)
    return yaml.safe_dump(document)


def test_certificate_from_another_clusters_ca_gets_401(cs: CsClient, cloud: SandboxCloud) -> None:
    one = cloud.plant_cluster("kubeconfig-ca-one", nodes=1)
    other = cloud.plant_cluster("kubeconfig-ca-two", nodes=1)
    mine = kubeconfig(cs, one, minutes=60).config
    assert len(core_of(mine).list_node().items) == 1
    foreign = with_user(mine, kubeconfig(cs, other, minutes=60).config)
    assert status_of(core_of(foreign).list_node) == 401


def test_revoked_certificates_get_401_and_new_ones_work(cs: CsClient, cloud: SandboxCloud) -> None:
    cluster_id = cloud.plant_cluster("kubeconfig-revoked", nodes=1)
    other_id = cloud.plant_cluster("kubeconfig-kept", nodes=1)
    before, elsewhere = kubeconfig(cs, cluster_id, minutes=60).config, kubeconfig(cs, other_id, minutes=60).config
    assert len(core_of(before).list_node().items) == 1

    answer = cs.revoke_k8s_cluster_kube_config(cluster_id)
    assert answer.status_code == 200
    assert status_of(core_of(before).list_node) == 401
    assert len(core_of(kubeconfig(cs, cluster_id, minutes=60).config).list_node().items) == 1
    assert len(core_of(elsewhere).list_node().items) == 1  # another cluster's kubeconfigs stay valid
    assert error_of(lambda: cs.revoke_k8s_cluster_kube_config("c" + "e" * 32)) == (404, "ErrorClusterNotFound")


def test_public_kubeconfig_of_a_cluster_without_public_endpoint_reaches_nothing(
    cs: CsClient, cloud: SandboxCloud
) -> None:
    cluster_id = cloud.plant_cluster("kubeconfig-private", nodes=1, public_endpoint=False)
    master_url = json.loads(cs.describe_cluster_detail(cluster_id).body.master_url)
    assert master_url["api_server_endpoint"] == "" and master_url["intranet_api_server_endpoint"]
    public = yaml.safe_load(kubeconfig(cs, cluster_id, minutes=60, private=False).config)
    assert public["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:1"
    private = kubeconfig(cs, cluster_id, minutes=60, private=True).config
    assert len(core_of(private).list_node().items) == 1
