"""KubeAccess with client-certificate kubeconfigs (what ACK hands out) against the sandbox's HTTPS kube API,
through the real `kubernetes` client: it authenticates, refuses what the server refuses, and writes no key,
certificate or CA to any file (the official loader would put each in a temp file until interpreter exit)."""

from __future__ import annotations

import base64
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from kubernetes.config import kube_config
from pydantic import SecretStr

from ack_compute.cloud.errors import CloudError
from ack_compute.cloud.kube import KubeAccess
from ack_compute.sandbox import kubeconfig
from ack_compute.sandbox.kube import KubeCluster, KubeHub


@pytest.fixture(scope="module")
def hub() -> Iterator[KubeHub]:
    with KubeHub(tls=True) as running:
        running.add_cluster("tls-one")
        running.add_cluster("tls-two")
        yield running


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """TMPDIR for this test only, so anything written to the temp dir is seen."""
    directory = tmp_path / "tmp"
    directory.mkdir()
    monkeypatch.setenv("TMPDIR", str(directory))
    monkeypatch.setattr(tempfile, "tempdir", None)
    before = dict(kube_config._temp_files)
    yield directory
    assert kube_config._temp_files == before, "the kubernetes loader wrote kubeconfig data to temp files"


def cert_kubeconfig(cluster: KubeCluster, *, signer: KubeCluster | None = None, ttl: float = 600) -> str:
    issued = (signer or cluster).issue_client_certificate(user="1234", groups=("system:masters",), ttl_seconds=ttl)
    user = {"client-certificate-data": issued.certificate_data, "client-key-data": issued.key_data}
    return kubeconfig.render(
        cluster.cluster_id,
        cluster.server_url,
        "1234",
        user,
        cluster.certificate_authority_data,
        cluster.tls_server_name,
    )


def cluster(hub: KubeHub, name: str) -> KubeCluster:
    found = hub.get(name)
    assert found is not None
    return found


def test_client_certificate_kubeconfig_works_and_writes_nothing(hub: KubeHub, private_tmp: Path) -> None:
    access = KubeAccess(SecretStr(cert_kubeconfig(cluster(hub, "tls-one"))))
    allowed, _ = access.can_i("create", "jobs", group="batch")
    assert allowed is True
    assert access.nodes() == []
    assert list(private_tmp.iterdir()) == []
    assert "PRIVATE KEY" not in repr(access) and "1234" not in repr(access)
    access.close()


def test_certificate_of_another_clusters_ca_is_refused_with_401(hub: KubeHub, private_tmp: Path) -> None:
    text = cert_kubeconfig(cluster(hub, "tls-one"), signer=cluster(hub, "tls-two"))
    with pytest.raises(CloudError) as raised:
        KubeAccess(SecretStr(text)).nodes()
    assert raised.value.status == 401


def test_key_that_does_not_match_is_refused_without_echoing_it(hub: KubeHub, private_tmp: Path) -> None:
    one = yaml.safe_load(cert_kubeconfig(cluster(hub, "tls-one")))
    other = yaml.safe_load(cert_kubeconfig(cluster(hub, "tls-two")))
    key_data = other["users"][0]["user"]["client-key-data"]
    one["users"][0]["user"]["client-key-data"] = key_data
    with pytest.raises(CloudError) as raised:
        KubeAccess(SecretStr(yaml.safe_dump(one))).nodes()
    error = raised.value
    assert error.code == "InvalidKubeconfig"
    assert "key does not match" in str(error)
    key_body = base64.b64decode(key_data).decode().splitlines()[1]
    for text in (str(error), repr(error), str(error.__context__ or "")):
        assert "PRIVATE KEY" not in text and key_body not in text and key_data[:40] not in text
    assert list(private_tmp.iterdir()) == []


def test_missing_key_is_a_plain_error(hub: KubeHub, private_tmp: Path) -> None:
    document = yaml.safe_load(cert_kubeconfig(cluster(hub, "tls-one")))
    del document["users"][0]["user"]["client-key-data"]
    with pytest.raises(CloudError) as raised:
        KubeAccess(SecretStr(yaml.safe_dump(document))).nodes()
    assert "client-certificate-data and client-key-data must come together" in str(raised.value)


def test_token_kubeconfig_with_ca_data_keeps_working_in_memory(hub: KubeHub, private_tmp: Path) -> None:
    """A local context (bearer token, CA data): the CA is not written to a temp file either."""
    one = cluster(hub, "tls-one")
    token = one.issue_token(role="admin", ttl_seconds=600)
    text = kubeconfig.render(
        "tls-one", one.server_url, "admin", {"token": token}, one.certificate_authority_data, one.tls_server_name
    )
    access = KubeAccess(SecretStr(text))
    assert access.can_i("delete", "namespaces")[0] is True
    assert list(private_tmp.iterdir()) == []
    assert os.environ["TMPDIR"] == str(private_tmp)


def test_server_certificate_from_the_wrong_ca_is_not_trusted(hub: KubeHub, private_tmp: Path) -> None:
    """The CA data really verifies the server: another cluster's CA makes the handshake fail."""
    document = yaml.safe_load(cert_kubeconfig(cluster(hub, "tls-one")))
    wrong = cluster(hub, "tls-two").certificate_authority_data
    document["clusters"][0]["cluster"]["certificate-authority-data"] = wrong
    with pytest.raises(CloudError) as raised:
        KubeAccess(SecretStr(yaml.safe_dump(document)), timeout_s=3).nodes()
    assert raised.value.code == "KubernetesUnreachable"


def test_an_error_of_the_callers_own_callback_passes_through_the_node_watch(hub: KubeHub, private_tmp: Path) -> None:
    """A cancel raised from the progress callback while nodes come up is the caller's, not the cluster's: it must
    not come back as a retryable 'unreachable' CloudError."""

    class Stop(Exception):
        pass

    def on_change(ready: int, total: int) -> None:
        raise Stop(f"{ready}/{total}")

    access = KubeAccess(SecretStr(cert_kubeconfig(cluster(hub, "tls-one"))))
    with pytest.raises(Stop, match="0/0"):
        access.wait_ready_nodes(1, timeout_s=5, on_change=on_change)
    access.close()
