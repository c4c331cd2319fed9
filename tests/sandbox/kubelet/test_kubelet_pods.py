"""Pods on the simulated kubelet, against the emulator: processes, exit codes, phases, pulls, restarts, deadlines,
deletion, configuration, and the switch that runs nothing."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from kubernetes import watch
from kubernetes.client.exceptions import ApiException

from tests.helpers.waiting import eventually

if TYPE_CHECKING:
    from conftest import Setup


@pytest.fixture
def shared_dir() -> Any:
    """A directory the pods' commands may write: as root the kubelet runs them as nobody, who cannot reach pytest's
    private tmp_path."""
    path = Path(tempfile.mkdtemp(prefix="kubelet-shared-"))
    path.chmod(0o777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def container_status(pod: dict[str, Any], name: str = "c") -> dict[str, Any]:
    found = [s for s in pod["status"].get("containerStatuses") or [] if s["name"] == name]
    return found[0] if found else {"restartCount": 0, "state": {}}


def logged_pid(setup: Setup, name: str) -> int | None:
    """The pid an `echo $$$$; exec ...` container printed first (Kubernetes turns `$$` into `$`)."""
    try:
        first = setup.log(name).split("\n")[0]
    except ApiException:
        return None
    return int(first) if first.isdigit() else None


def waiting_reason(pod: dict[str, Any]) -> str:
    statuses = pod["status"].get("containerStatuses") or []
    return ((statuses[0]["state"].get("waiting") or {}).get("reason") or "") if statuses else ""


def pid_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_a_failing_command_reports_its_exit_code_phases_and_log(setup: Setup) -> None:
    created = setup.run("fails", command=["sh", "-c", "echo hi; exit 3"])
    phases: list[str] = []

    def record() -> None:
        stream = watch.Watch().stream(
            setup.core.list_namespaced_pod,
            "default",
            field_selector="metadata.name=fails",
            resource_version=created["metadata"]["resourceVersion"],
            timeout_seconds=10,
        )
        for event in stream:
            phases.append(event["raw_object"]["status"].get("phase"))
            if phases[-1] == "Failed":
                return

    watcher = threading.Thread(target=record)
    watcher.start()
    pod = setup.wait_phase("fails", "Failed")
    watcher.join(15)
    assert [p for i, p in enumerate(phases) if i == 0 or phases[i - 1] != p] == ["Pending", "Running", "Failed"]
    status = container_status(pod)
    terminated = status["state"]["terminated"]
    assert terminated["exitCode"] == 3 and terminated["reason"] == "Error"
    assert terminated["containerID"].startswith("containerd://")
    assert terminated["startedAt"] and terminated["finishedAt"]
    assert status["restartCount"] == 0 and status["ready"] is False and status["started"] is False
    assert status["image"] == "docker.io/library/busybox:latest" and status["imageID"].startswith("docker.io/library/")
    assert pod["status"]["hostIP"] == "127.0.0.1" and re.match(r"^172\.20\.0\.\d+$", pod["status"]["podIP"])
    conditions = {c["type"]: c for c in pod["status"]["conditions"]}
    assert conditions["Ready"]["status"] == "False" and conditions["Ready"]["reason"] == "ContainersNotReady"
    assert conditions["Initialized"]["status"] == conditions["PodScheduled"]["status"] == "True"
    assert setup.log("fails") == "hi\n"
    managers = {entry["manager"] for entry in pod["metadata"]["managedFields"]}
    assert "kubelet" in managers, "the kubelet writes as `kubelet`"


def test_a_succeeding_pod_completes(setup: Setup) -> None:
    setup.run("works", command=["sh", "-c", "echo one; echo two >&2"])
    pod = setup.wait_phase("works", "Succeeded")
    assert container_status(pod)["state"]["terminated"]["reason"] == "Completed"
    conditions = {c["type"]: c for c in pod["status"]["conditions"]}
    assert conditions["Ready"]["reason"] == conditions["ContainersReady"]["reason"] == "PodCompleted"
    assert setup.log("works") == "one\ntwo\n"


def test_python_runs_this_machines_interpreter_in_a_temporary_directory(setup: Setup) -> None:
    script = "import os, sys; print(sys.version_info[0]); print(os.getcwd() == os.environ['HOME'])"
    setup.run("py", image="registry-cn-hangzhou-vpc.ack.aliyuncs.com/acs/python:3.11", command=["python", "-c", script])
    setup.run("py-sh", image="python:3.12-slim", command=["sh", "-c", "python3 -c 'print(6 * 7)'"])
    setup.wait_phase("py", "Succeeded")
    setup.wait_phase("py-sh", "Succeeded")
    assert setup.log("py") == "3\nTrue\n"
    assert setup.log("py-sh") == "42\n", "python images put python3 on PATH for shell scripts too"


def test_the_environment_is_scrubbed(setup: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "sandbox-fake-secret-do-not-leak")
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", "LTAIfake")
    setup.run("env", command=["sh", "-c", "env | sort"], env=[{"name": "GREETING", "value": "hello"}])
    setup.wait_phase("env", "Succeeded")
    output = setup.log("env")
    assert "sandbox-fake-secret-do-not-leak" not in output and "ALIBABA_CLOUD" not in output
    variables = dict(line.split("=", 1) for line in output.splitlines())
    assert variables.pop("PWD") == variables["HOME"]  # sh adds PWD itself
    assert variables.pop("SHLVL", "1") == "1"
    assert set(variables) == {"PATH", "HOME", "HOSTNAME", "GREETING"}
    assert variables["PATH"] == "/usr/local/bin:/usr/bin:/bin" and variables["HOSTNAME"] == "env"
    assert variables["GREETING"] == "hello" and Path(variables["HOME"]).name == setup.pod("env")["metadata"]["uid"]


def test_env_from_literals_fields_and_expansion(setup: Setup) -> None:
    env = [
        {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
        {"name": "WHO", "value": "$(POD)@$(NS) $$(POD) $(MISSING)"},
    ]
    script = 'echo "$POD $NS $NODE $IP $CPU"; echo "$WHO"; echo \'$(WHO)\''
    setup.run("fields", command=["sh", "-c", script], env=env)
    pod = setup.wait_phase("fields", "Succeeded")
    first, second, third = setup.log("fields").splitlines()
    assert first == f"fields default {setup.node} {pod['status']['podIP']} 4"
    assert second == "fields@default $(POD) $(MISSING)"
    assert third == "fields@default $(POD) $(MISSING)", "args see $(VAR) expanded too"


def test_an_unknown_image_cannot_be_pulled(setup: Setup) -> None:
    setup.run("nopull", image="registry.example.com/team/app:1.0")
    seen: set[str] = set()

    def both(pod: dict[str, Any]) -> bool:
        seen.add(waiting_reason(pod))
        return {"ErrImagePull", "ImagePullBackOff"} <= seen

    pod = setup.wait("nopull", both)
    assert pod["status"]["phase"] == "Pending"
    setup.wait("nopull", lambda p: waiting_reason(p) == "ImagePullBackOff")
    waiting = container_status(setup.pod("nopull"))["state"]["waiting"]
    assert waiting["message"] == 'Back-off pulling image "registry.example.com/team/app:1.0"'
    with pytest.raises(ApiException) as refused:
        setup.log("nopull")
    assert refused.value.status == 400
    assert "is waiting to start: trying and failing to pull image" in refused.value.body


def test_the_pull_error_reads_like_containerd(setup: Setup) -> None:
    setup.run("nohub", image="nosuchimage")
    pod = setup.wait("nohub", lambda p: waiting_reason(p) == "ErrImagePull", timeout=5)
    message = container_status(pod)["state"]["waiting"]["message"]
    assert message.startswith('rpc error: code = Unknown desc = failed to pull and unpack image "docker.io/library/')
    assert "pull access denied" in message


def test_an_added_image_pulls(setup: Setup) -> None:
    setup.kubelet.images.add("quay.io/team/tool")
    setup.run("added", image="quay.io/team/tool:2", command=["true"])
    setup.wait_phase("added", "Succeeded")


def test_a_crashing_container_backs_off(setup: Setup) -> None:
    setup.run("crash", restart="Always", command=["sh", "-c", "echo crashed; exit 1"])
    pod = setup.wait(
        "crash",
        lambda p: container_status(p)["restartCount"] >= 2 and waiting_reason(p) == "CrashLoopBackOff",
        timeout=20,
    )
    status = container_status(pod)
    assert pod["status"]["phase"] == "Running"
    assert re.fullmatch(
        r"back-off (10|20|40)s restarting failed container=c pod=crash_default\([0-9a-f-]{36}\)",
        status["state"]["waiting"]["message"],
    )
    assert status["lastState"]["terminated"]["exitCode"] == 1
    first = status["restartCount"]
    setup.wait("crash", lambda p: container_status(p)["restartCount"] > first, timeout=20)
    assert setup.log("crash") == "crashed\n" and setup.log("crash", previous=True) == "crashed\n"


def test_on_failure_restarts_until_success(setup: Setup, shared_dir: Path) -> None:
    counter = shared_dir / "runs"
    script = f'echo x >> {counter}; [ "$(wc -l < {counter})" -ge 2 ]'
    setup.run("retry", restart="OnFailure", command=["sh", "-c", script])
    pod = setup.wait_phase("retry", "Succeeded", timeout=20)
    assert container_status(pod)["restartCount"] == 1 and counter.read_text() == "x\nx\n"


def test_a_start_error(setup: Setup) -> None:
    setup.run("nobinary", command=["/no/such/binary"])
    pod = setup.wait_phase("nobinary", "Failed")
    terminated = container_status(pod)["state"]["terminated"]
    assert terminated["reason"] == "StartError" and terminated["exitCode"] == 128
    assert 'exec: "/no/such/binary": executable file not found in $PATH' in terminated["message"]


def test_the_active_deadline_kills_the_pod(setup: Setup) -> None:
    setup.run("slow", command=["sh", "-c", "echo $$$$; exec sleep 60"], pod_spec={"activeDeadlineSeconds": 1})
    pid = setup.wait_for(lambda: logged_pid(setup, "slow"))
    pod = setup.wait_phase("slow", "Failed", timeout=10)
    assert pod["status"]["reason"] == "DeadlineExceeded"
    assert pod["status"]["message"] == "Pod was active on the node longer than the specified deadline"
    assert container_status(pod)["state"]["terminated"]["exitCode"] == 137
    eventually(lambda: pid_gone(pid))


def test_deleting_a_pod_kills_its_process_and_removes_it(setup: Setup) -> None:
    setup.run("doomed", restart="Always", command=["sh", "-c", "echo $$$$; exec sleep 60"])
    pid = setup.wait_for(lambda: logged_pid(setup, "doomed"))
    setup.core.delete_namespaced_pod("doomed", "default")
    eventually(lambda: pid_gone(pid))

    def removed() -> bool:
        try:
            setup.pod("doomed")
        except ApiException as error:
            return error.status == 404
        return False

    eventually(removed)


def test_a_long_running_image_without_a_command_keeps_running(setup: Setup) -> None:
    nginx = "mirrors-ssl.aliyuncs.com/nginx:stable-alpine"
    setup.run("web", image=nginx, restart="Always", ports=[{"containerPort": 80}])
    pod = setup.wait_phase("web", "Running")
    status = container_status(pod)
    assert status["ready"] is True and status["started"] is True and "running" in status["state"]
    assert {c["type"]: c["status"] for c in pod["status"]["conditions"]}["Ready"] == "True"
    assert "serves nothing here" in setup.log("web")
    setup.run("shell", image="busybox")  # sh without a terminal ends at once
    assert container_status(setup.wait_phase("shell", "Succeeded"))["state"]["terminated"]["exitCode"] == 0


def test_a_missing_config_map_volume_keeps_the_pod_creating(setup: Setup) -> None:
    setup.create(
        {
            "metadata": {"name": "mount"},
            "spec": {
                "nodeName": setup.node,
                "containers": [
                    {"name": "c", "image": "busybox", "volumeMounts": [{"name": "cfg", "mountPath": "/cfg"}]}
                ],
                "volumes": [{"name": "cfg", "configMap": {"name": "absent"}}],
            },
        }
    )
    pod = setup.wait("mount", lambda p: waiting_reason(p) == "ContainerCreating")
    time.sleep(0.5)
    pod = setup.pod("mount")
    assert pod["status"]["phase"] == "Pending" and waiting_reason(pod) == "ContainerCreating"
    assert "podIP" not in pod["status"], "no sandbox yet, so no address"
    with pytest.raises(ApiException) as refused:
        setup.log("mount")
    assert 'container \\"c\\" in pod \\"mount\\" is waiting to start: ContainerCreating' in refused.value.body


def test_a_missing_config_map_in_env_is_a_config_error(setup: Setup) -> None:
    env = [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "absent", "key": "k"}}}]
    setup.run("envcfg", command=["true"], env=env)
    pod = setup.wait("envcfg", lambda p: waiting_reason(p) == "CreateContainerConfigError")
    assert container_status(pod)["state"]["waiting"]["message"] == 'configmap "absent" not found'
    assert pod["status"]["phase"] == "Pending"
    optional = [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "absent", "key": "k", "optional": True}}}]
    setup.run("envopt", command=["sh", "-c", 'echo "[$X]"'], env=optional)
    setup.wait_phase("envopt", "Succeeded")
    assert setup.log("envopt") == "[]\n"


def test_a_python_script_from_a_config_map(setup: Setup) -> None:
    # Paths in argv, env and workingDir are rewritten to the materialised volume; a file's content is not, so the
    # script finds its neighbour relative to itself.
    script = (
        "import os, sys\nprint('from the map', sys.argv[1], os.environ['K'])\n"
        "print(open(os.path.join(os.path.dirname(__file__), 'greeting')).read())\n"
    )
    setup.core.create_namespaced_config_map(
        "default", {"metadata": {"name": "app"}, "data": {"run.py": script, "greeting": "hello"}}
    )
    setup.create(
        {
            "metadata": {"name": "script"},
            "spec": {
                "nodeName": setup.node,
                "restartPolicy": "Never",
                "containers": [
                    {
                        "name": "c",
                        "image": "python:3.11",
                        "command": ["python", "/scripts/run.py", "arg"],
                        "env": [{"name": "K", "valueFrom": {"configMapKeyRef": {"name": "app", "key": "greeting"}}}],
                        "volumeMounts": [{"name": "code", "mountPath": "/scripts"}],
                    }
                ],
                "volumes": [{"name": "code", "configMap": {"name": "app"}}],
            },
        }
    )
    setup.wait_phase("script", "Succeeded")
    assert setup.log("script") == "from the map arg hello\nhello\n"
    env = [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "app", "key": "nope"}}}]
    setup.run("badkey", command=["true"], env=env)
    pod = setup.wait("badkey", lambda p: waiting_reason(p) == "CreateContainerConfigError")
    assert container_status(pod)["state"]["waiting"]["message"] == "couldn't find key nope in ConfigMap default/app"


def test_init_containers_run_first(setup: Setup, shared_dir: Path) -> None:
    marker = shared_dir / "init-ran"
    setup.create(
        {
            "metadata": {"name": "init"},
            "spec": {
                "nodeName": setup.node,
                "restartPolicy": "Never",
                "initContainers": [{"name": "prepare", "image": "busybox", "command": ["touch", str(marker)]}],
                "containers": [{"name": "c", "image": "busybox", "command": ["cat", str(marker)]}],
            },
        }
    )
    pod = setup.wait_phase("init", "Succeeded")
    init = pod["status"]["initContainerStatuses"][0]
    assert init["state"]["terminated"]["reason"] == "Completed" and init["ready"] is True
    assert {c["type"]: c["status"] for c in pod["status"]["conditions"]}["Initialized"] == "True"


def test_run_containers_off_runs_nothing_and_says_so(make_setup: Any, tmp_path: Path) -> None:
    setup = make_setup(run_containers=False)
    marker = tmp_path / "ran"
    setup.run("skipped", command=["sh", "-c", f"touch {marker}; exit 3"])
    pod = setup.wait_phase("skipped", "Succeeded")
    assert container_status(pod)["state"]["terminated"]["exitCode"] == 0
    assert not marker.exists()
    log = setup.log("skipped")
    assert "was not run" in log and "run_containers=False" in log and str(marker) in log
    setup.run("served", restart="Always", command=["sleep", "3600"])
    assert "running" in container_status(setup.wait_phase("served", "Running"))["state"]


def test_pods_wait_for_their_node_to_be_ready(make_setup: Any) -> None:
    setup = make_setup(ready=False)
    setup.run("parked", command=["true"])
    time.sleep(0.5)
    assert setup.pod("parked")["status"] == {"phase": "Pending", "qosClass": "BestEffort"}
    setup.kubelet.set_ready(setup.node, True)
    setup.wait_phase("parked", "Succeeded")


def test_stopping_kills_processes_and_leaves_no_threads(make_setup: Any) -> None:
    before = set(threading.enumerate())  # other kubelets (the session's sandbox) may be running meanwhile
    setup = make_setup()
    setup.run("sleeper", restart="Always", command=["sh", "-c", "echo $$$$; exec sleep 60"])
    pid = setup.wait_for(lambda: logged_pid(setup, "sleeper"))
    setup.kubelet.stop()
    assert pid_gone(pid) or (eventually(lambda: pid_gone(pid), 2) is None)
    left = [t.name for t in set(threading.enumerate()) - before]
    assert not left, left


class _ExpiredWatch:
    """A watch whose first event says the resourceVersion is too old."""

    def events(self) -> Any:
        yield {"type": "ERROR", "object": {"kind": "Status", "code": 410, "reason": "Expired", "message": "too old"}}

    def abort(self) -> None:
        return


def test_an_expired_watch_lists_again(make_setup: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    setup = make_setup()
    setup.kubelet.stop()  # replaced by one whose first watch expires at once
    kubelet = setup.kubelet = type(setup.kubelet)(setup.api, time_scale=20.0)
    api = kubelet.api
    real_get, real_watch = api.get, api.watch
    lists: list[str] = []
    expired = [_ExpiredWatch()]

    def get(path: str, **params: Any) -> Any:
        if path == "/api/v1/pods":
            lists.append(path)
        return real_get(path, **params)

    def watch(path: str, params: Any, read_timeout: float) -> Any:
        return expired.pop() if expired else real_watch(path, params, read_timeout)

    monkeypatch.setattr(api, "get", get)
    monkeypatch.setattr(api, "watch", watch)
    kubelet.start()
    kubelet.register_node(setup.node)
    setup.run("after", command=["true"])
    setup.wait_phase("after", "Succeeded")
    assert len(lists) == 2 and not expired, "the 410 made the kubelet list again, then watch"


@pytest.mark.skipif(os.geteuid() != 0, reason="only root drops to nobody")
def test_as_root_commands_run_as_nobody_and_cannot_read_root_files(setup: Setup, shared_dir: Path) -> None:
    private = shared_dir / "private"
    private.write_text("root only")
    private.chmod(0o600)
    logs = '"$(dirname "$(dirname "$HOME")")/logs"'  # the kubelet's root/logs: every pod's output
    script = (
        f'id -u; id -G; echo "home=$HOME"; touch "$HOME/mine" && echo wrote-home; ls {logs} 2>&1 | sed "s|/.*/|/|"; '
        f"cat {private}"
    )
    setup.run("dropped", restart="Never", command=["sh", "-c", script])
    pod = setup.wait_phase("dropped", "Failed")
    uid, groups, home, wrote, other_logs, denied = setup.log("dropped").strip().split("\n")
    assert (uid, groups) == ("65534", "65534"), "nobody, group nogroup, no supplementary groups"
    assert home.startswith("home=/") and wrote == "wrote-home", "its own pod dir is its HOME and is writable"
    assert other_logs == "ls: cannot open directory '/logs': Permission denied", "other pods' output stays private"
    assert denied == f"cat: {private}: Permission denied"
    assert container_status(pod)["state"]["terminated"]["exitCode"] == 1
