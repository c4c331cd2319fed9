"""Kubeconfig private keys never touch disk: a real `serve --http` process runs run_job and deploy_acs, which fetch
ACK-style client-certificate kubeconfigs from the sandbox, and no file it could have written holds a PEM private
key, neither while it runs nor after `kill -9` (the official kubernetes loader would leave one per kubeconfig in
the temp dir, removed only at a clean interpreter exit)."""

from __future__ import annotations

import os
import signal
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from kubernetes.config import kube_config
from mcp import Client

from ack_compute.sandbox import SandboxCloud
from tests.helpers.agent import deploy_quoted

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

MARK = b"PRIVATE KEY"
ACS: dict[str, Any] = {"kind": "acs", "replicas": 1, "vcpu": 1, "memory_gib": 2, "hours": 1}
MAX_READ = 16 * 1024 * 1024


def holds_key(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return MARK in handle.read(MAX_READ)
    except OSError:  # gone meanwhile, or not readable: not a file the server left a key in
        return False


def keys_under(directory: Path) -> list[str]:
    return [str(p) for p in directory.rglob("*") if p.is_file() and holds_key(p)]


def fresh_temp_files(since: float) -> list[str]:
    """Files the kubernetes loader would write (top level of the system temp dir) since `since`, holding a key;
    this test process's own loader files (other sandbox tests load kubeconfigs the ordinary way) are not the
    server's."""
    ours = {os.path.realpath(p) for p in kube_config._temp_files.values()}
    found = []
    for entry in os.scandir(tempfile.gettempdir()):
        try:
            if not entry.is_file(follow_symlinks=False) or entry.stat().st_mtime < since:
                continue
        except OSError:
            continue
        if os.path.realpath(entry.path) not in ours and holds_key(Path(entry.path)):
            found.append(entry.path)
    return found


def open_files_with_keys(pid: int) -> list[str]:
    """Regular files the process holds open that contain a key (anonymous memfds name no real file)."""
    found = []
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        real = target.startswith("/") and not target.endswith(" (deleted)") and Path(target).is_file()
        if real and holds_key(Path(target)):
            found.append(target)
    return found


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to see the server's open files")
async def test_no_private_key_on_disk_while_serving_or_after_kill_9(
    world: SandboxCloud, tmp_path: Path, serve_http: Any
) -> None:
    world.plant_cluster("acf-keys-jobs", nodes=1)
    world.plant_cluster("acf-keys-acs", nodes=1, cluster_spec="ack.pro.small", addons={"ack-virtual-node": None})
    private = world.plant_cluster("acf-keys-private", nodes=1, public_endpoint=False)
    server_tmp, state = tmp_path / "tmp", tmp_path / "state"
    server_tmp.mkdir()
    env = {**os.environ, **world.server_env(state, confirmation="token"), "TMPDIR": str(server_tmp)}
    started = time.time() - 1
    server = serve_http.start([], env, (tmp_path / "stderr.log").open("w"), tmp_path / "stderr.log")
    try:
        async with Client(server.url) as client:
            for cluster in ("acf-keys-jobs", private):
                arguments = {"cluster": cluster, "script": "echo ok", "script_type": "shell"}
                job = await client.call_tool("run_job", arguments)
                assert not job.is_error, job.content
                assert (job.structured_content or {})["status"] == "succeeded", job.structured_content
            deployed = await deploy_quoted(client, "acf-keys-acs", ACS)
            assert not deployed.is_error, deployed.content
        assert world.counts()["DescribeClusterUserKubeconfig"] >= 3  # three clusters' certificate kubeconfigs

        assert server.process.poll() is None
        assert keys_under(tmp_path) == [], "a private key is in the server's temp dir, state dir or log"
        assert fresh_temp_files(started) == [], "a private key is in the system temp dir"
        assert open_files_with_keys(server.process.pid) == [], "the server holds a file with a private key open"
    finally:
        server.process.send_signal(signal.SIGKILL)
        server.process.wait(timeout=10)
    assert server.process.returncode == -signal.SIGKILL
    assert keys_under(tmp_path) == [], "a private key outlived the killed server"
    assert fresh_temp_files(started) == [], "a private key outlived the killed server in the system temp dir"
