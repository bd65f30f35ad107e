"""The compose stack under podman: the image build, `up` (plain, else phased), health, teardown.

The compose file is used as it is; what podman needs on this machine (runc, ulimits, cgroupfs)
comes from a containers.conf of the check's own, passed in CONTAINERS_CONF.
"""

from __future__ import annotations

import json
import os
import time
from configparser import ConfigParser
from dataclasses import dataclass
from pathlib import Path

from bootcheck.host import CheckFailed, log, retry, run, wait_for

ULIMITS = ("--ulimit", "nofile=20000:20000", "--ulimit", "nproc=4096:4096")
CONTAINERS_CONF = """\
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
"""
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


def containers_conf(workdir: Path) -> Path:
    path = workdir / "containers.conf"
    path.write_text(CONTAINERS_CONF)
    return path


def pip_conf(workdir: Path) -> Path:
    """pip's configuration inside the build: this machine's CA bundle and its indexes, if any."""
    machine = ConfigParser()
    machine.read(["/etc/pip.conf", "/etc/xdg/pip/pip.conf", Path.home() / ".config/pip/pip.conf"])

    def remote(option: str) -> list[str]:
        """pip's own precedence: PIP_<OPTION> over the configuration files. Only network
        indexes: a file:// index of this host does not exist inside the build."""
        value = machine.get("global", option, fallback="")
        value = os.environ.get("PIP_" + option.upper().replace("-", "_"), value)
        return [url for url in value.split() if url.startswith(("http://", "https://"))]

    lines = ["[global]", "cert = /run/habitctl-build/ca.crt", "timeout = 180", "retries = 5"]
    for option in ("index-url", "extra-index-url"):
        if urls := remote(option):
            lines.append(f"{option} = {' '.join(urls)}")
    path = workdir / "pip.conf"
    path.write_text("\n".join(lines) + "\n")
    return path


def build_image(root: Path, tag: str, workdir: Path) -> None:
    """The Dockerfile as it is, in Docker's format (podman's OCI default drops HEALTHCHECK).

    From scratch every time (no layer cache, no intermediate images left behind): each run
    proves that the lock file still installs.
    """
    config = pip_conf(workdir)

    def build() -> None:
        run(
            ["podman", "build", "--runtime", "runc", "--format", "docker", "--pull=never",
             "--layers=false", "--no-cache",
             *ULIMITS, "-v", f"{CA_BUNDLE}:/run/habitctl-build/ca.crt:ro",
             "-v", f"{config}:/etc/pip.conf:ro", "-t", tag, str(root)],
            timeout=1200,
        )  # fmt: skip

    retry("podman build", build, attempts=3, pause=15)


@dataclass
class Stack:
    compose: Path  # the podman-compose script
    file: Path
    project: str
    env_file: Path
    plain_up_fails: bool = False  # learnt on the first `up`: this engine needs phases

    def __call__(
        self, *args: str, check: bool = True, timeout: float = 600, input: str | None = None
    ) -> str:
        return run(self.argv(*args), check=check, timeout=timeout, input=input).stdout

    def argv(self, *args: str) -> list[str]:
        """podman-compose for this project; no pod: each service its own container, as Docker."""
        return [str(self.compose), "--in-pod", "false", "-p", self.project, "-f", str(self.file),
                "--env-file", str(self.env_file), *args]  # fmt: skip

    def container(self, service: str) -> str:
        """The one container of `service` (podman-compose names them project_service_1)."""
        names = self.containers(service)
        if len(names) != 1:
            raise CheckFailed(f"expected one {service} container, found {names or 'none'}")
        return names[0]

    def containers(self, service: str | None = None) -> list[str]:
        filters = ["--filter", f"label=io.podman.compose.project={self.project}"]
        if service:
            filters += ["--filter", f"label=io.podman.compose.service={service}"]
        listed = run(["podman", "ps", "-a", *filters, "--format", "{{.Names}}"], quiet=True)
        return sorted(listed.stdout.split())

    def state(self, container: str) -> dict[str, object]:
        out = run(["podman", "inspect", "--format", "{{json .State}}", container], quiet=True)
        return json.loads(out.stdout)  # type: ignore[no-any-return]

    def healthy(self, container: str) -> bool:
        """Podman runs health checks only when asked (no systemd timers here): ask."""
        return run(["podman", "healthcheck", "run", container], check=False, quiet=True
                   ).returncode == 0  # fmt: skip

    def wait_healthy(self, service: str, timeout: float) -> float:
        container = self.container(service)

        def probe() -> bool:
            state = self.state(container)
            if state.get("Status") == "exited":
                raise CheckFailed(
                    f"{service} exited with {state.get('ExitCode')} instead of becoming healthy:\n"
                    + self.logs(container)[-2000:]
                )
            return self.healthy(container)

        try:
            took = wait_for(f"{service} healthy", probe, timeout, every=3)
        except CheckFailed as exc:
            state = self.state(container)
            health = state.get("Health") or state.get("Healthcheck") or {}
            last = (health.get("Log") or [{}])[-1] if isinstance(health, dict) else {}
            raise CheckFailed(f"{exc}; its last health check said: {last}") from None
        log(f"{service} healthy ({took:.0f} s)")
        return took

    def wait_exited(self, service: str, timeout: float) -> int:
        container = self.container(service)
        wait_for(f"{service} finished", lambda: self.state(container).get("Status") == "exited",
                 timeout)  # fmt: skip
        return int(str(self.state(container)["ExitCode"]))

    def logs(self, container: str) -> str:
        done = run(["podman", "logs", container], check=False, quiet=True)
        return done.stdout + done.stderr

    def up(self) -> str:
        """`up -d` as a Docker user types it; if that fails, db, then migrate, then the rest.

        Returns which way the stack came up ("plain" or "phased"). Once plain `up` has
        failed, later calls go straight to the phases.
        """
        if not self.plain_up_fails:
            plain = run(self.argv("up", "-d", "--no-build"), check=False, timeout=600)
            if plain.returncode == 0 and self._migrate_succeeded():
                return "plain"
            self.plain_up_fails = True
            for name in self.containers("migrate"):
                said = self.logs(name).strip().splitlines()
                waited = [line for line in said if line.startswith("waiting for the database")]
                for line in [*waited[:1], *said[-1:]]:  # it did not wait for service_healthy
                    log(f"plain `up`'s migrate: {line}")
            tail = "\n    ".join((plain.stdout + plain.stderr).strip().splitlines()[-8:])
            log(f"plain `up` did not bring the stack up (exit {plain.returncode}):\n    {tail}")
            self("down", check=False)
        log("phased `up`: db, then migrate, then the rest")
        self("up", "-d", "--no-build", "db")
        self.wait_healthy("db", timeout=180)
        self("up", "-d", "--no-build", "--no-deps", "migrate")
        code = self.wait_exited("migrate", timeout=300)
        if code != 0:
            raise CheckFailed(
                f"migrate exited {code}:\n" + self.logs(self.container("migrate"))[-3000:]
            )
        self("up", "-d", "--no-build", "--no-deps", "daemon", "api")
        return "phased"

    def _migrate_succeeded(self) -> bool:
        names = self.containers("migrate")
        if len(names) != 1:
            return False
        deadline = time.monotonic() + 300
        while self.state(names[0]).get("Status") != "exited":
            if time.monotonic() > deadline:
                return False
            time.sleep(2)
        return self.state(names[0]).get("ExitCode") == 0
