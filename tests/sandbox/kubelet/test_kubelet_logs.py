"""Container logs: the kubelet's log endpoint, the emulator's `pods/{name}/log` proxy to it, and bounded files."""

from __future__ import annotations

import re
import subprocess
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from kubernetes.client.exceptions import ApiException

from ack_compute.sandbox.kubelet import LogServer
from ack_compute.sandbox.kubelet.logs import ContainerLog, LogOptions, rfc3339_nano
from tests.helpers.waiting import eventually

if TYPE_CHECKING:
    from conftest import Setup


def test_log_options_through_the_api(setup: Setup) -> None:
    setup.run("lines", command=["sh", "-c", "for i in 1 2 3 4 5; do echo line$i; done; printf tail"])
    setup.wait_phase("lines", "Succeeded")
    assert setup.log("lines") == "line1\nline2\nline3\nline4\nline5\ntail"
    assert setup.log("lines", tail_lines=2) == "line5\ntail"
    assert setup.log("lines", tail_lines=0) == ""
    assert setup.log("lines", limit_bytes=8) == "line1\nli"
    stamped = setup.log("lines", timestamps=True, tail_lines=1)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z tail", stamped), stamped
    assert setup.log("lines", since_seconds=3600).startswith("line1")


def test_following_streams_until_the_container_ends(setup: Setup) -> None:
    setup.run("ticker", command=["sh", "-c", "for i in 1 2 3; do echo tick$i; sleep 0.3; done"])
    setup.wait_phase("ticker", "Running")
    started = time.monotonic()
    response = setup.core.read_namespaced_pod_log("ticker", "default", follow=True, _preload_content=False)
    chunks = list(response.stream(amt=None, decode_content=False))
    assert b"".join(chunks) == b"tick1\ntick2\ntick3\n"
    assert time.monotonic() - started > 0.3, "the stream stayed open while the container ran"
    assert setup.wait_phase("ticker", "Succeeded")


def test_log_errors_through_the_api(setup: Setup) -> None:
    setup.create(
        {
            "metadata": {"name": "two"},
            "spec": {
                "nodeName": setup.node,
                "restartPolicy": "Never",
                "initContainers": [{"name": "init", "image": "busybox", "command": ["true"]}],
                "containers": [
                    {"name": "a", "image": "busybox", "command": ["true"]},
                    {"name": "b", "image": "busybox", "command": ["true"]},
                ],
            },
        }
    )
    setup.wait_phase("two", "Succeeded")
    errors = {}
    for key, options in {
        "unnamed": {},
        "unknown": {"container": "zzz"},
        "previous": {"container": "a", "previous": True},
        "tail": {"container": "a", "tail_lines": -1},
        "limit": {"container": "a", "limit_bytes": 0},
    }.items():
        with pytest.raises(ApiException) as caught:
            setup.log("two", **options)
        errors[key] = (caught.value.status, caught.value.body)
    assert errors["unnamed"][0] == 400 and (
        "a container name must be specified for pod two, choose one of: [a b] or one of the init containers: [init]"
        in errors["unnamed"][1]
    )
    assert errors["unknown"][0] == 400 and "container zzz is not valid for pod two" in errors["unknown"][1]
    assert errors["previous"][0] == 400
    assert 'previous terminated container \\"a\\" in pod \\"two\\" not found' in errors["previous"][1]
    assert errors["tail"][0] == 422 and "must be greater than or equal to 0" in errors["tail"][1]
    assert errors["limit"][0] == 422 and "limitBytes: Invalid value: 0: must be greater than 0" in errors["limit"][1]
    assert setup.log("two", container="init") == ""


def test_an_unscheduled_pod_has_no_log_yet(setup: Setup) -> None:
    setup.create(
        {
            "metadata": {"name": "nowhere"},
            "spec": {"nodeSelector": {"pool": "none"}, "containers": [{"name": "c", "image": "busybox"}]},
        }
    )
    assert setup.log("nowhere") is None, "204 without a body, as kube-apiserver answers"


def test_a_pod_on_an_unknown_node_or_one_without_an_address(setup: Setup) -> None:
    spec = {"nodeName": "ghost", "containers": [{"name": "c", "image": "busybox"}]}
    setup.create({"metadata": {"name": "ghost"}, "spec": spec})
    with pytest.raises(ApiException) as missing:
        setup.log("ghost")
    assert missing.value.status == 404 and '"message":"pods \\"ghost\\" not found"' in missing.value.body
    setup.core.create_node({"metadata": {"name": "ghost"}, "status": {"addresses": []}})
    with pytest.raises(ApiException) as no_address:
        setup.log("ghost")
    assert no_address.value.status == 500
    assert "no preferred addresses found; known addresses: []" in no_address.value.body


def test_the_log_server_speaks_the_kubelet_protocol(setup: Setup) -> None:
    setup.run("direct", command=["echo", "direct"])
    setup.wait_phase("direct", "Succeeded")
    base = f"http://127.0.0.1:{setup.kubelet.log_server.port}"
    assert httpx.get(f"{base}/containerLogs/default/direct/c?tailLines=1").text == "direct\n"
    missing = httpx.get(f"{base}/containerLogs/default/nobody/c")
    assert (missing.status_code, missing.text) == (404, 'pod "nobody" does not exist')
    wrong = httpx.get(f"{base}/containerLogs/default/direct/zzz")
    assert (wrong.status_code, wrong.text) == (404, 'container "zzz" not found in pod "direct"')
    assert httpx.get(f"{base}/elsewhere").status_code == 404


def test_the_log_server_speaks_https_with_a_given_certificate(tmp_path: Path) -> None:
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    request = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"]
    subprocess.run([*request, "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    server = LogServer(certfile=str(cert), keyfile=str(key))
    server.start()
    try:
        assert server.scheme == "https"
        answer = httpx.get(f"https://127.0.0.1:{server.port}/containerLogs/a/b/c", verify=False)
        assert (answer.status_code, answer.text) == (404, 'pod "b" does not exist')
    finally:
        server.stop()


def test_a_log_keeps_its_newest_part(tmp_path: Path) -> None:
    log = ContainerLog(tmp_path / "c.log", max_bytes=4096)
    for index in range(1000):
        log.write(f"line {index}\n".encode())
    log.close()
    text = log.read(LogOptions()).decode()
    assert text.endswith("line 999\n") and not text.startswith("line 0\n")
    assert tmp_path.joinpath("c.log").stat().st_size <= 4096
    lines = text.splitlines()
    assert lines == [f"line {i}" for i in range(1000 - len(lines), 1000)], "only whole lines, oldest dropped"


def test_a_follower_sees_what_comes_next(tmp_path: Path) -> None:
    log = ContainerLog(tmp_path / "c.log")
    log.write(b"first\n")
    stop = threading.Event()
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.extend(log.stream(LogOptions(follow=True), stop)))
    reader.start()
    time.sleep(0.1)
    log.write(b"second\npartial")
    log.close()
    reader.join(5)
    assert not reader.is_alive() and b"".join(received) == b"first\nsecond\npartial"


def test_timestamps_print_like_go() -> None:
    assert rfc3339_nano(1_700_000_000_123_400_000) == "2023-11-14T22:13:20.1234Z"
    assert rfc3339_nano(1_700_000_000_000_000_000) == "2023-11-14T22:13:20Z"


def test_a_follower_that_leaves_frees_its_request(setup: Setup) -> None:
    setup.run("quiet", image="nginx", restart="Always")
    setup.wait_phase("quiet", "Running")

    def serving() -> int:
        return sum("process_request_thread" in t.name for t in threading.enumerate())

    before = serving()
    url = f"http://127.0.0.1:{setup.kubelet.log_server.port}/containerLogs/default/quiet/c?follow=true"
    with httpx.stream("GET", url) as response:
        assert b"serves nothing here" in next(response.iter_raw())
        assert serving() == before + 1
    eventually(lambda: serving() <= before, timeout=5, what="the kubelet to stop serving a reader that left")
