"""A container's command as a local process group: scrubbed environment, output into its log, exit code out.

Like a container runtime, the whole group goes when the main process ends, so a stray background child cannot
keep the container "running" or hold its output open.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from ack_compute.sandbox.kubelet.logs import ContainerLog

DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"
_PYTHON = re.compile(r"^python(?:3(?:\.\d+)?)?$")
_READ_POLL_SECONDS = 0.2
_CHUNK = 65536


def local_python() -> str:
    """This machine's Python 3: the interpreter running the sandbox, outside any virtualenv when possible."""
    base = getattr(sys, "_base_executable", None)
    return base if isinstance(base, str) and os.path.exists(base) else sys.executable


def is_python(program: str) -> bool:
    return bool(_PYTHON.match(os.path.basename(program)))


def python_shims(directory: Path) -> Path:
    """`python` and `python3` on PATH for a python image's shell scripts, both running this machine's Python."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in ("python", "python3"):
        shim = directory / name
        shim.write_text(f'#!/bin/sh\nexec "{local_python()}" "$@"\n')
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
    ) -> None:
        self.argv = list(argv)
        if self.argv and is_python(self.argv[0]):
            self.argv[0] = local_python()
        self._cwd = cwd
        self._env = dict(env)
        self._log = log
        self._on_exit = on_exit
        self._process: subprocess.Popen[bytes] | None = None
        self._thread: threading.Thread | None = None
        self.exit_code: int | None = None

    def start(self) -> None:
        try:
            self._process = subprocess.Popen(
                self.argv,
                cwd=self._cwd,
                env=self._env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
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
                ready, _, _ = select.select([fd], [], [], _READ_POLL_SECONDS)
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
