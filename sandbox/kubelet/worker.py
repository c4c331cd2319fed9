"""One pod on one node, from first sight to its end: volumes, image pulls, local processes, restarts with
back-off, the active deadline, graceful deletion, and the status the kubelet writes through `pods/status`.

Each pod gets a thread that sleeps until something happens (the pod changed, a process ended, a timer fell due),
then brings the pod one step closer to its spec and publishes the status when it changed.
"""

from __future__ import annotations

import logging
import secrets
import shlex
import shutil
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ack_compute.sandbox.kubelet.api import ApiError
from ack_compute.sandbox.kubelet.images import Pulled, PullError
from ack_compute.sandbox.kubelet.logs import ContainerLog, LogError
from ack_compute.sandbox.kubelet.podconfig import (
    ConfigError,
    MountError,
    container_env,
    container_mounts,
    expand,
    materialise_volumes,
    rewrite_paths,
)
from ack_compute.sandbox.kubelet.process import DEFAULT_PATH, ContainerProcess, StartError, hand_over, python_shims
from ack_compute.sandbox.kubelet.status import (
    TERMINAL_PHASES,
    go_duration,
    merge_conditions,
    now_rfc3339,
    pod_conditions,
    pod_phase,
)
from ack_compute.sandbox.kubelet.virtual import provider_annotations

if TYPE_CHECKING:
    from ack_compute.sandbox.kubelet.kubelet import Kubelet

log = logging.getLogger("ack_compute.sandbox.kubelet")

BACKOFF_SECONDS = 10.0  # container restarts and image pulls: 10 s, doubling
MAX_BACKOFF_SECONDS = 300.0
BACKOFF_RESET_SECONDS = 600.0  # a container that ran this long starts its back-off over
MIN_BACKOFF_SECONDS = 0.25  # however fast the clock, a crash loop or a failing pull waits at least this
ERR_IMAGE_PULL_SECONDS = 1.0  # how long ErrImagePull shows before ImagePullBackOff
RETRY_SECONDS = 1.0  # a missing ConfigMap or Secret is looked for again this often
NOOP_RUN_SECONDS = 0.05  # a container that runs nothing shows Running this long before it exits
STATUS_WRITE_ATTEMPTS = 5
DEADLINE_REASON = "DeadlineExceeded"
DEADLINE_MESSAGE = "Pod was active on the node longer than the specified deadline"
START_ERROR_TIME = "1970-01-01T00:00:00Z"
TERMINATION_LOG_LINES, TERMINATION_LOG_BYTES = 80, 2048
_WAITING_DETAILS = {"ErrImagePull": "image can't be pulled", "ImagePullBackOff": "trying and failing to pull image"}


@dataclass
class _Instance:
    """One run of a container."""

    container_id: str
    log: ContainerLog
    started_at: str
    started: float  # monotonic
    process: ContainerProcess | None = None
    auto_exit_at: float | None = None  # when a container that runs nothing ends (None: it runs until stopped)
    exit_code: int | None = None
    finished_at: str = ""
    finished: float = 0.0
    reason: str = ""
    message: str = ""
    done: bool = False

    def terminated(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "exitCode": self.exit_code or 0,
            "reason": self.reason,
            "startedAt": self.started_at,
            "finishedAt": self.finished_at,
            "containerID": self.container_id,
        }
        if self.message:
            body["message"] = self.message
        return body


@dataclass
class _Container:
    """A container of the pod: its runs (the current one and the one before), pulls, and back-off."""

    spec: dict[str, Any]
    init: bool
    waiting: tuple[str, str] | None = ("ContainerCreating", "")
    current: _Instance | None = None
    previous: _Instance | None = None
    runs: int = 0
    pulled: Pulled | None = None
    pull_failures: int = 0
    next_pull: float = 0.0
    back_off_shown_at: float = 0.0
    crashes: int = 0
    restart_due: float | None = None
    back_off_message: str = ""
    instances: list[_Instance] = field(default_factory=list)

    @property
    def name(self) -> str:
        return str(self.spec.get("name") or "")

    @property
    def succeeded(self) -> bool:
        return self.current is not None and self.current.done and self.current.exit_code == 0


class PodWorker:
    """Runs one pod; the kubelet feeds it the pod as it changes and asks it for container logs."""

    def __init__(self, kubelet: Kubelet, pod: dict[str, Any], node: str) -> None:
        self._kubelet = kubelet
        self._pod = pod
        metadata = pod["metadata"]
        self.uid: str = metadata["uid"]
        self.namespace: str = metadata["namespace"]
        self.name: str = metadata["name"]
        self.node = node
        spec = pod.get("spec") or {}
        self._init = [_Container(dict(c), True) for c in spec.get("initContainers") or []]
        self._main = [_Container(dict(c), False) for c in spec.get("containers") or []]
        first = "PodInitializing" if self._init else "ContainerCreating"
        for container in [*self._init, *self._main]:
            container.waiting = (first, "")
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._halted = False
        self._gone = False
        self._cleaned = False
        self._thread = threading.Thread(target=self._run, name=f"pod {self.namespace}/{self.name}", daemon=True)
        self._dir = kubelet.pod_dir(self.uid)
        self._started = 0.0
        self._start_time = ""
        self._volumes: dict[str, Path] | None = None
        self._ip: str | None = None
        self._annotated = not kubelet.is_virtual(node)
        self._written: dict[str, Any] | None = None
        self._phase: str | None = None  # set once the pod is Succeeded or Failed
        self._reason = self._message = ""

    # --- what the kubelet calls -----------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def update(self, pod: dict[str, Any]) -> None:
        self._pod = pod
        self._wake.set()

    def gone(self) -> None:
        """The pod was deleted from the API: stop its processes and forget it."""
        self._gone = True
        self._wake.set()
        if not self.alive:
            self.cleanup()

    def halt(self) -> None:
        """The kubelet stops: kill the processes, write nothing."""
        self._halted = True
        self._wake.set()
        self._signal_all(signal.SIGKILL)

    def join(self, timeout: float | None = None) -> None:
        if self._thread.ident is not None:
            self._thread.join(timeout)
        for container in [*self._init, *self._main]:
            for instance in container.instances:
                if instance.process is not None:
                    instance.process.join(timeout)

    def cleanup(self) -> None:
        with self._lock:
            if self._cleaned:
                return
            self._cleaned = True
        shutil.rmtree(self._dir, ignore_errors=True)
        shutil.rmtree(self._kubelet.log_dir(self.namespace, self.name, self.uid), ignore_errors=True)
        if self._ip is not None:
            self._kubelet.release_ip(self.node, self._ip)

    def container_log(self, name: str, previous: bool) -> ContainerLog:
        """The kubelet's validateContainerLogStatus: which instance's log, or why there is none."""
        with self._lock:
            container = next((c for c in [*self._init, *self._main] if c.name == name), None)
            if container is None:
                raise LogError(404, f'container "{name}" not found in pod "{self.name}"')
            current, last = container.current, self._last_terminated(container)
            waiting = container.waiting
            if previous:
                if last is None:
                    raise LogError(400, f'previous terminated container "{name}" in pod "{self.name}" not found')
                return last.log
            if current is not None and not current.done and waiting is None:
                return current.log
            if current is not None and current.done and waiting is None:
                return current.log
            if last is not None:
                return last.log
            reason = waiting[0] if waiting else ""
            detail = _WAITING_DETAILS.get(reason, reason)
            if not detail:
                raise LogError(400, f'container "{name}" in pod "{self.name}" is waiting to start - no logs yet')
            raise LogError(400, f'container "{name}" in pod "{self.name}" is waiting to start: {detail}')

    # --- the loop ---------------------------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._started = time.monotonic()
            self._start_time = now_rfc3339()
            self._dir.mkdir(parents=True, exist_ok=True)
            if not self._pod["metadata"].get("deletionTimestamp"):
                self._publish(self._pod)  # Pending, ContainerCreating: seen before anything is set up
            while not (self._halted or self._gone):
                self._wake.clear()
                pod = self._pod
                if pod["metadata"].get("deletionTimestamp"):
                    self._terminate_for_deletion(pod)
                    break
                wait = self._sync(pod)
                if self._phase is not None and self._written is not None and self._written["phase"] == self._phase:
                    break
                self._wake.wait(wait)
        except Exception:
            log.exception("kubelet: pod %s/%s failed", self.namespace, self.name)
        finally:
            if self._halted or self._gone:
                self._signal_all(signal.SIGKILL)
            if self._gone:
                self.cleanup()

    def _sync(self, pod: dict[str, Any]) -> float | None:
        kubelet = self._kubelet
        now = time.monotonic()
        timers: list[float] = []
        if not self._annotated:
            self._annotate(pod)
            if not self._annotated:
                timers.append(kubelet.scaled(RETRY_SECONDS))
        deadline = (pod.get("spec") or {}).get("activeDeadlineSeconds")
        if self._phase is None and isinstance(deadline, int):
            due = self._started + deadline
            if now >= due:
                self._deadline_exceeded()
            else:
                timers.append(due - now)
        if self._phase is None and self._volumes is None:
            try:
                self._volumes = materialise_volumes(pod, self._dir, kubelet.sources)
                self._ip = kubelet.allocate_ip(self.node)
            except MountError as error:
                log.info("kubelet: pod %s/%s: %s", self.namespace, self.name, error)
                timers.append(kubelet.scaled(RETRY_SECONDS))
            except ApiError:
                timers.append(kubelet.scaled(RETRY_SECONDS))
        if self._phase is None and self._volumes is not None:
            timers.extend(self._drive_containers(pod, now))
            spec = pod.get("spec") or {}
            phase = pod_phase(spec, self._statuses(self._init), self._statuses(self._main))
            if phase in TERMINAL_PHASES:
                self._phase = phase
        if not self._publish(pod):
            timers.append(kubelet.scaled(RETRY_SECONDS))
        pending = [t for t in timers if t is not None]
        return max(min(pending), 0.0) if pending else None

    def _drive_containers(self, pod: dict[str, Any], now: float) -> list[float]:
        timers: list[float] = []
        for container in self._init:
            if container.succeeded:
                continue
            timers.append(self._drive(container, pod, now))
            return [t for t in timers if t is not None]
        for container in self._main:
            timer = self._drive(container, pod, now)
            if timer is not None:
                timers.append(timer)
        return timers

    def _drive(self, c: _Container, pod: dict[str, Any], now: float) -> float | None:
        kubelet = self._kubelet
        current = c.current
        if current is not None and not current.done:
            if current.exit_code is None:
                if current.auto_exit_at is None:
                    return None  # its process ends it, and wakes us
                if now < current.auto_exit_at:
                    return current.auto_exit_at - now
                current.exit_code = 0
                current.finished_at = now_rfc3339()
                current.finished = now
                current.log.close()
            self._finish(c, current)
        if current is not None and current.done:
            if not self._restartable(c, current, pod):
                c.waiting = None
                return None
            if c.restart_due is None:
                if current.finished - current.started > kubelet.scaled(BACKOFF_RESET_SECONDS, 0.0):
                    c.crashes = 0
                c.crashes += 1
                if c.crashes == 1:
                    c.restart_due = now
                else:
                    back_off = min(BACKOFF_SECONDS * 2 ** (c.crashes - 2), MAX_BACKOFF_SECONDS)
                    c.restart_due = now + kubelet.scaled(back_off, MIN_BACKOFF_SECONDS)
                    c.back_off_message = (
                        f"back-off {go_duration(back_off)} restarting failed container={c.name} "
                        f"pod={self.name}_{self.namespace}({self.uid})"
                    )
            if now < c.restart_due:
                c.waiting = ("CrashLoopBackOff", c.back_off_message)
                return c.restart_due - now
        image = str(c.spec.get("image") or "")
        if c.pulled is None:
            if now < c.next_pull:
                if c.waiting and c.waiting[0] == "ErrImagePull" and now >= c.back_off_shown_at:
                    c.waiting = ("ImagePullBackOff", f'Back-off pulling image "{image}"')
                shown = c.back_off_shown_at if c.waiting and c.waiting[0] == "ErrImagePull" else c.next_pull
                return min(shown, c.next_pull) - now
            try:
                c.pulled = kubelet.images.pull(image)
                c.pull_failures = 0
            except PullError as error:
                c.pull_failures += 1
                c.waiting = (error.reason, error.message)
                back_off = min(BACKOFF_SECONDS * 2 ** (c.pull_failures - 1), MAX_BACKOFF_SECONDS)
                c.next_pull = now + kubelet.scaled(back_off, MIN_BACKOFF_SECONDS)
                c.back_off_shown_at = now + kubelet.scaled(ERR_IMAGE_PULL_SECONDS, 0.0)
                return c.back_off_shown_at - now
        try:
            argv, env, cwd = self._command(c, pod)
        except ConfigError as error:
            c.waiting = ("CreateContainerConfigError", str(error))
            return kubelet.scaled(RETRY_SECONDS)
        except ApiError:
            return kubelet.scaled(RETRY_SECONDS)
        instance = self._start(c, pod, argv, env, cwd, now)
        if instance.exit_code is not None and instance.process is None and instance.auto_exit_at is None:
            self._finish(c, instance)  # it could not start
            return 0.0
        return instance.auto_exit_at - now if instance.auto_exit_at is not None else None

    def _restartable(self, c: _Container, instance: _Instance, pod: dict[str, Any]) -> bool:
        policy = (pod.get("spec") or {}).get("restartPolicy") or "Always"
        failed = instance.exit_code != 0
        if c.init:
            return failed and policy != "Never"
        return policy == "Always" or (policy == "OnFailure" and failed)

    def _command(self, c: _Container, pod: dict[str, Any]) -> tuple[list[str] | None, dict[str, str], Path]:
        """The argv (None: nothing to run), environment and working directory of the container's next run."""
        kubelet = self._kubelet
        assert c.pulled is not None and self._volumes is not None
        view = {**pod, "status": {**(pod.get("status") or {}), **self._addresses()}}
        own = container_env(view, c.spec, kubelet.sources, kubelet.allocatable(self.node))
        mounts = container_mounts(c.spec, self._volumes)
        own = {key: rewrite_paths(value, mounts) for key, value in own.items()}
        path = DEFAULT_PATH
        if c.pulled.ref.name == "python" and "PATH" not in own:
            path = f"{python_shims(self._dir / '.sandbox-bin', kubelet.run_as)}:{DEFAULT_PATH}"
        env = {"PATH": path, "HOME": str(self._dir), "HOSTNAME": self.name, **own}
        command = [expand(str(part), env) for part in c.spec.get("command") or []]
        args = [expand(str(part), env) for part in c.spec.get("args") or []]
        argv: list[str] | None = None
        if command:
            argv = command + args
        elif args and c.pulled.default == "exit":
            argv = args  # these images have no entrypoint: the args are the command
        if argv is not None:
            argv = [rewrite_paths(part, mounts) for part in argv]
        cwd = self._dir
        working = str(c.spec.get("workingDir") or "")
        if working and rewrite_paths(working, mounts) != working:
            cwd = Path(rewrite_paths(working, mounts))
            cwd.mkdir(parents=True, exist_ok=True)
        hand_over(self._dir, kubelet.run_as)
        return argv, env, cwd

    def _start(
        self, c: _Container, pod: dict[str, Any], argv: list[str] | None, env: dict[str, str], cwd: Path, now: float
    ) -> _Instance:
        kubelet = self._kubelet
        assert c.pulled is not None
        path = kubelet.log_dir(self.namespace, self.name, self.uid) / c.name / f"{c.runs}.log"
        instance = _Instance(
            container_id="containerd://" + secrets.token_hex(32),
            log=ContainerLog(path, max_bytes=kubelet.max_log_bytes),
            started_at=now_rfc3339(),
            started=now,
        )
        dropped = c.previous
        with self._lock:
            if c.current is not None:
                c.previous = c.current
            c.current = instance
            c.runs += 1
            c.instances = [i for i in (c.previous, c.current) if i is not None]
            c.waiting = None
            c.restart_due = None
        if dropped is not None and dropped not in c.instances:
            dropped.log.path.unlink(missing_ok=True)
        policy = (pod.get("spec") or {}).get("restartPolicy") or "Always"
        what = shlex.join(argv) if argv else f"the default command of {c.pulled.ref.normalized}"
        if not kubelet.run_containers:
            serves = policy == "Always" and not c.init
            instance.log.note(
                f"[ack-compute sandbox] {what} was not run: this sandbox does not run containers "
                f"(run_containers=False); the container is reported "
                + ("running until it is stopped." if serves else "as having exited with code 0.")
            )
            if not serves:
                instance.auto_exit_at = now + NOOP_RUN_SECONDS
        elif argv is None:
            if c.pulled.default == "serve":
                instance.log.note(
                    f"[ack-compute sandbox] {c.pulled.ref.normalized} serves nothing here: without a command of "
                    "its own the container is reported running until it is stopped."
                )
            else:
                instance.auto_exit_at = now
        else:
            process = ContainerProcess(
                argv, cwd=cwd, env=env, log=instance.log, on_exit=self._exited(instance), run_as=kubelet.run_as
            )
            try:
                process.start()
                instance.process = process
            except StartError as error:
                instance.exit_code = 128
                instance.reason, instance.message = "StartError", str(error)
                instance.started_at = START_ERROR_TIME
                instance.finished_at, instance.finished = now_rfc3339(), now
                instance.log.close()
        return instance

    def _exited(self, instance: _Instance) -> Any:
        def on_exit(code: int) -> None:
            instance.exit_code = code
            instance.finished_at = now_rfc3339()
            instance.finished = time.monotonic()
            self._wake.set()

        return on_exit

    def _finish(self, c: _Container, instance: _Instance) -> None:
        if not instance.reason:
            instance.reason = "Completed" if instance.exit_code == 0 else "Error"
            if instance.exit_code and c.spec.get("terminationMessagePolicy") == "FallbackToLogsOnError":
                instance.message = instance.log.tail_text(TERMINATION_LOG_LINES, TERMINATION_LOG_BYTES)
        with self._lock:
            instance.done = True
            c.restart_due = None

    def _signal_all(self, sig: int) -> None:
        for container in [*self._init, *self._main]:
            for instance in container.instances:
                if instance.process is not None:
                    instance.process.signal(sig)

    def _processes_running(self) -> bool:
        return any(
            instance.process is not None and instance.exit_code is None
            for container in [*self._init, *self._main]
            for instance in container.instances
        )

    def _stop_containers(self, grace: float | None) -> None:
        """SIGTERM, then SIGKILL after `grace` seconds (at once with None); containers that run nothing end
        with code 0."""
        if grace is not None:
            self._signal_all(signal.SIGTERM)
        until = time.monotonic() + (grace or 0.0)
        while self._processes_running() and time.monotonic() < until and not self._halted:
            self._wake.wait(0.05)
            self._wake.clear()
        self._signal_all(signal.SIGKILL)
        until = time.monotonic() + 5.0
        while self._processes_running() and time.monotonic() < until:
            time.sleep(0.01)
        now = time.monotonic()
        for container in [*self._init, *self._main]:
            current = container.current
            if current is None or current.done:
                continue
            if current.exit_code is None:
                current.exit_code = 0 if current.process is None else 137
                current.finished_at, current.finished = now_rfc3339(), now
                current.log.close()
            self._finish(container, current)
            container.waiting = None

    def _deadline_exceeded(self) -> None:
        self._stop_containers(None)  # killed outright, as a container's PID 1 that ignores SIGTERM would be
        self._phase, self._reason, self._message = "Failed", DEADLINE_REASON, DEADLINE_MESSAGE

    def _terminate_for_deletion(self, pod: dict[str, Any]) -> None:
        """Stop the containers within the grace period, report them, then remove the pod for good."""
        grace = pod["metadata"].get("deletionGracePeriodSeconds")
        self._stop_containers(float(grace if isinstance(grace, int) else 30))
        if self._halted:
            return
        self._publish(pod)
        path = f"/api/v1/namespaces/{self.namespace}/pods/{self.name}"
        try:
            self._kubelet.api.delete(path, {"gracePeriodSeconds": 0, "preconditions": {"uid": self.uid}})
        except ApiError as error:
            if error.status not in (404, 409):
                log.warning("kubelet: could not remove pod %s/%s: %s", self.namespace, self.name, error)

    # --- status -----------------------------------------------------------------------------------------------

    def _last_terminated(self, c: _Container) -> _Instance | None:
        """The instance a container status's lastState shows."""
        if c.waiting is not None and c.current is not None and c.current.done:
            return c.current
        return c.previous

    def _statuses(self, containers: list[_Container]) -> list[dict[str, Any]]:
        out = []
        for c in containers:
            current = c.current
            pulled = c.pulled if current is not None else None
            status: dict[str, Any] = {
                "name": c.name,
                "state": {},
                "lastState": {},
                "ready": False,
                "restartCount": max(c.runs - 1, 0),
                "image": pulled.ref.normalized if pulled else str(c.spec.get("image") or ""),
                "imageID": pulled.ref.image_id if pulled else "",
                "started": False,
            }
            if current is not None:
                status["containerID"] = current.container_id
            last = self._last_terminated(c)
            if last is not None:
                status["lastState"] = {"terminated": last.terminated()}
            if c.waiting is not None:
                reason, message = c.waiting
                status["state"] = {"waiting": {"reason": reason, **({"message": message} if message else {})}}
            elif current is not None and not current.done:
                status["state"] = {"running": {"startedAt": current.started_at}}
                status["ready"] = not c.init
                status["started"] = True
            elif current is not None:
                status["state"] = {"terminated": current.terminated()}
                status["ready"] = c.init and current.exit_code == 0
            out.append(status)
        return out if any(c.init for c in containers) else sorted(out, key=lambda s: s["name"])

    def _addresses(self) -> dict[str, Any]:
        out: dict[str, Any] = {"hostIP": self._kubelet.host_ip}
        if self._ip is not None:
            out |= {"podIP": self._ip, "podIPs": [{"ip": self._ip}]}
        return out

    def _status(self, pod: dict[str, Any]) -> dict[str, Any]:
        spec = pod.get("spec") or {}
        inits, mains = self._statuses(self._init), self._statuses(self._main)
        phase = self._phase or pod_phase(spec, inits, mains)
        status: dict[str, Any] = {
            "phase": phase,
            "conditions": pod_conditions(spec, phase, inits, mains),
            **self._addresses(),
            "startTime": self._start_time,
            "containerStatuses": mains,
        }
        if self._init:
            status["initContainerStatuses"] = inits
        if self._reason:
            status["reason"], status["message"] = self._reason, self._message
        return status

    def _publish(self, pod: dict[str, Any]) -> bool:
        """Write the status when it changed (read, merge, replace; again on conflicts); False to retry later."""
        ours = self._status(pod)
        if ours == self._written:
            return True
        api = self._kubelet.api
        path = f"/api/v1/namespaces/{self.namespace}/pods/{self.name}"
        for _ in range(STATUS_WRITE_ATTEMPTS):
            try:
                current = api.get(path)
                if current["metadata"].get("uid") != self.uid:
                    self._gone = True
                    return True
                status = {k: v for k, v in (current.get("status") or {}).items() if k not in ("reason", "message")}
                status |= {k: v for k, v in ours.items() if k != "conditions"}
                status["conditions"] = merge_conditions(
                    ours["conditions"], (current.get("status") or {}).get("conditions") or [], now_rfc3339()
                )
                api.replace(f"{path}/status", {**current, "status": status})
                self._written = ours
                return True
            except ApiError as error:
                if error.not_found:
                    self._gone = True
                    return True
                if not error.conflict:
                    log.debug("kubelet: status of %s/%s not written: %s", self.namespace, self.name, error)
                    return False
        return False

    def _annotate(self, pod: dict[str, Any]) -> None:
        existing = (pod["metadata"].get("annotations")) or {}
        if "ProviderCreate" in existing:
            self._annotated = True
            return
        kubelet = self._kubelet
        annotations = provider_annotations(pod, kubelet.region(self.node), kubelet.stream_port)
        path = f"/api/v1/namespaces/{self.namespace}/pods/{self.name}"
        try:
            kubelet.api.merge_patch(path, {"metadata": {"annotations": annotations}})
            self._annotated = True
        except ApiError as error:
            if error.not_found:
                self._gone = True
            log.debug("kubelet: could not annotate %s/%s: %s", self.namespace, self.name, error)
