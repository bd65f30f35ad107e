"""The servers the HTTP benchmark measures, as processes: start, wait until ready, restart,
stop, and a py-spy recording of one while it is under load.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from benchmarks.common import interrupt


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its direct children (gunicorn's worker), so far."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pids = [pid]
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            pids += [int(child) for child in (task / "children").read_text().split()]
    for one in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{one}/stat").read_text().rpartition(")")[2].split()
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    port: int
    log: Path
    argv: list[str]
    env: dict[str, str]

    def restart(self, ready_path: str) -> None:
        """A fresh process: a slow server's backlog from the previous run must not count."""
        self.stop()
        with self.log.open("ab") as handle:
            self.proc = subprocess.Popen(
                self.argv,
                env={**os.environ, **self.env},
                stdout=handle,
                stderr=subprocess.STDOUT,
                cwd=self.log.parent,
            )
        self.wait_ready(ready_path)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def wait_ready(self, path: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.log.read_text()[-3000:]}")
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(self.url(path), timeout=30) as resp,
            ):
                if resp.status == 200:
                    return
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not answer:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def start(name: str, argv: list[str], env: dict[str, str], port: int, work: Path) -> Server:
    log = work / f"{name}.log"
    with log.open("wb") as handle:
        proc = subprocess.Popen(
            argv, env={**os.environ, **env}, stdout=handle, stderr=subprocess.STDOUT, cwd=work
        )
    return Server(name, proc, port, log, argv, env)


@contextlib.contextmanager
def profiled(pid: int, out: Path | None) -> Iterator[None]:
    """py-spy record of `pid` while the block runs (when asked and available)."""
    py_spy = Path(sys.executable).with_name("py-spy")
    tool = str(py_spy) if py_spy.exists() else shutil.which("py-spy")
    if out is None or tool is None:
        yield
        return
    spy = subprocess.Popen(
        [
            tool,
            "record",
            "--pid",
            str(pid),
            "--format",
            "raw",
            "--rate",
            "200",
            "--output",
            str(out),
            "--nonblocking",
            "--gil",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1.0)
    try:
        yield
    finally:
        interrupt(spy)
