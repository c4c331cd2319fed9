"""A container's command as a local process group: scrubbed environment, output into its log, exit code out.

Like a container runtime, the whole group goes when the main process ends, so a stray background child cannot
keep the container "running" or hold its output open. Run by root, the command runs as `nobody` (group
`nogroup`, no supplementary groups), owning only its pod's directory: a pod's script can then read nothing
the machine keeps private, the server's 0700 state dir (ledger, quote secret) among them. Run by anyone else,
it runs as that user, like the server: the README says so.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ack_compute.sandbox.kubelet.logs import ContainerLog
from ack_compute.sandbox.kubelet.polling import readable

DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"
_PYTHON = re.compile(r"^python(?:3(?:\.\d+)?)?$")
_READ_POLL_SECONDS = 0.2
_CHUNK = 65536


@dataclass(frozen=True)
class RunAs:
    """The unprivileged account containers run as."""

    uid: int
    gid: int
    name: str


def unprivileged_user() -> RunAs | None:
    """`nobody`/`nogroup` when this process is root; None (run as this user) otherwise."""
    if os.name != "posix" or os.geteuid() != 0:
        return None
    try:
        user = pwd.getpwnam("nobody")
    except KeyError:
        raise RuntimeError(
            "the sandbox runs pods' commands as `nobody` when run as root; this machine has none"
        ) from None
    try:
        gid = grp.getgrnam("nogroup").gr_gid
    except KeyError:
        gid = user.pw_gid
    return RunAs(uid=user.pw_uid, gid=gid, name="nobody")


def hand_over(directory: Path, run_as: RunAs | None) -> None:
    """Give a pod's directory (its HOME, working dir and volumes) to the account its commands run as."""
    if run_as is None:
        return
    # fwalk and dir_fd: a running container of the same pod that swaps a directory for a symlink cannot steer
    # this root-owned chown outside the pod's directory.
    os.chown(directory, run_as.uid, run_as.gid, follow_symlinks=False)
    for _root, dirs, files, fd in os.fwalk(directory, follow_symlinks=False):
        for name in [*dirs, *files]:
            with contextlib.suppress(FileNotFoundError):
                os.chown(name, run_as.uid, run_as.gid, dir_fd=fd, follow_symlinks=False)


def _open_to_others(path: str) -> bool:
    """Whether another account can run `path`: it and every directory above it are executable by others."""
    real = Path(os.path.realpath(path))
    return all(os.stat(p).st_mode & 0o001 for p in [real, *real.parents])


def local_python(run_as: RunAs | None = None) -> str:
    """This machine's Python 3: the interpreter running the sandbox, outside any virtualenv when possible; for
    an unprivileged account, one it can run (e.g. /usr/bin/python3 when the sandbox's lives under /root)."""
    base = getattr(sys, "_base_executable", None)
    chosen = base if isinstance(base, str) and os.path.exists(base) else sys.executable
    if run_as is not None and not _open_to_others(chosen):
        for candidate in ("/usr/local/bin/python3", "/usr/bin/python3"):
            if os.path.exists(candidate) and _open_to_others(candidate):
                return candidate
    return chosen


def is_python(program: str) -> bool:
    return bool(_PYTHON.match(os.path.basename(program)))


def python_shims(directory: Path, run_as: RunAs | None = None) -> Path:
    """`python` and `python3` on PATH for a python image's shell scripts, both running this machine's Python."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in ("python", "python3"):
        shim = directory / name
        shim.write_text(f'#!/bin/sh\nexec "{local_python(run_as)}" "$@"\n')
        shim.chmod(0o755)
    return directory


class StartError(Exception):
    """The command could not be started (the runtime's StartError, exit code 128)."""


class ContainerProcess:
    """One run of a container's command. `on_exit(code)` is called once, from the reader thread, when the
    process group has ended and its output is in the log."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        cwd: Path,
        env: Mapping[str, str],
        log: ContainerLog,
        on_exit: Callable[[int], None],
        run_as: RunAs | None = None,
    ) -> None:
        self.argv = list(argv)
        if self.argv and is_python(self.argv[0]):
            self.argv[0] = local_python(run_as)
        self._run_as = run_as
        self._cwd = cwd
        self._env = dict(env)
        self._log = log
        self._on_exit = on_exit
        self._process: subprocess.Popen[bytes] | None = None
        self._thread: threading.Thread | None = None
        self.exit_code: int | None = None

    def start(self) -> None:
        drop: dict[str, object] = {}
        if self._run_as is not None:
            drop = {"user": self._run_as.uid, "group": self._run_as.gid, "extra_groups": []}
        try:
            self._process = subprocess.Popen(  # type: ignore[call-overload]
                self.argv,
                cwd=self._cwd,
                env=self._env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
                **drop,
            )
        except (FileNotFoundError, PermissionError, NotADirectoryError) as error:
            what = "executable file not found in $PATH" if isinstance(error, FileNotFoundError) else "permission denied"
            raise StartError(
                "failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create "
                f'failed: unable to start container process: exec: "{self.argv[0] if self.argv else ""}": {what}: '
                "unknown"
            ) from None
        self._thread = threading.Thread(target=self._pump, name=f"container {self.argv[0]}", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        process = self._process
        assert process is not None and process.stdout is not None
        fd = process.stdout.fileno()
        try:
            while True:
                ready = readable([fd], _READ_POLL_SECONDS)
                if ready:
                    data = os.read(fd, _CHUNK)
                    if not data:
                        break
                    self._log.write(data)
                elif process.poll() is not None and self.exit_code is None:
                    # The main process is gone, so is the container: children still holding the output go too
                    # (the group outlives its reaped leader only while members remain, so its id is not reused).
                    _killpg(process.pid, signal.SIGKILL)
        finally:
            process.stdout.close()
            code = process.wait()
            self.exit_code = 128 - code if code < 0 else code
            self._log.close()
            self._on_exit(self.exit_code)

    def signal(self, sig: int) -> None:
        self._kill_group(sig)

    def _kill_group(self, sig: int) -> None:
        process = self._process
        if process is not None and process.returncode is None:
            _killpg(process.pid, sig)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)


def _killpg(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
