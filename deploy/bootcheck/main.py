"""deploy/boot-check: build the image, boot docker-compose.yml under podman, use it, tear down.

Exit 0 when every check passed; 1 with the failing check named otherwise. Whatever happens,
every container, volume and network of the check and the habitctl image are removed again;
the stand-in base images and the podman-compose venv stay cached (see README, Deploy).
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bootcheck import standins
from bootcheck.host import (
    CheckFailed,
    install_debian_packages,
    log,
    podman_compose,
    run,
    wait_for,
)
from bootcheck.member import PASSWORD, Member, http_status, start_fakebot, wait_for_reminder
from bootcheck.stack import Stack, build_image, containers_conf

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "habitctl-boot-check"
IMAGE = "localhost/habitctl:local"  # what `image: habitctl:local` in the compose file names
FAKEBOT = f"{PROJECT}-fakebot"
NETWORK = f"{PROJECT}_default"
CACHE = Path(os.environ.get("HABITCTL_BOOT_CHECK_CACHE", "/var/cache/habitctl-boot-check"))
APP_SERVICES = ("migrate", "daemon", "api")


class Timings(dict[str, float]):
    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        start = time.monotonic()
        try:
            yield
        finally:
            self[name] = time.monotonic() - start
            log(f"{name}: {self[name]:.0f} s")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_env(workdir: Path) -> tuple[Path, dict[str, str]]:
    """.env.example with a token and fresh passwords (to look for in the logs) and free ports."""
    secret = {
        "TELEGRAM_BOT_TOKEN": f"{secrets.randbelow(10**9)}:bootcheck{secrets.token_hex(12)}",
        **{
            name: f"pw{secrets.token_hex(10)}"
            for name in (
                "POSTGRES_PASSWORD",
                "OWNER_DB_PASSWORD",
                "CLI_DB_PASSWORD",
                "DAEMON_DB_PASSWORD",
                "API_DB_PASSWORD",
            )
        },
    }
    values = {**secret, "API_PORT": str(free_port()),
              "TELEGRAM_API_BASE_URL": "http://fakebot:8081/bot"}  # fmt: skip
    lines = []
    for line in (ROOT / ".env.example").read_text().splitlines():
        key = line.split("=", 1)[0].strip()
        lines.append(f"{key}={values.pop(key)}" if key in values and "=" in line else line)
    lines += [f"{key}={value}" for key, value in values.items()]
    path = workdir / ".env"
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)
    return path, secret


def remove_everything(stack: Stack | None) -> None:
    """Containers, volumes and networks of the check, and its image; quietly, never raising."""
    if stack is not None:
        stack("down", "-v", "--remove-orphans", check=False, timeout=300)
    label = f"label=io.podman.compose.project={PROJECT}"
    for kind, lister in (
        ("container", ["podman", "ps", "-aq", "--filter", label]),
        ("volume", ["podman", "volume", "ls", "-q", "--filter", label]),
    ):
        names = run(lister, check=False, quiet=True).stdout.split()
        if names:
            run(["podman", kind, "rm", "-f", *names], check=False)
    run(["podman", "rm", "-f", "--ignore", FAKEBOT], check=False, quiet=True)
    for volume in (f"{PROJECT}_pgdata", f"{PROJECT}_cli-state"):
        run(["podman", "volume", "rm", "-f", volume], check=False, quiet=True)
    run(["podman", "network", "rm", "-f", NETWORK], check=False, quiet=True)
    run(["podman", "rmi", "-f", IMAGE], check=False, quiet=True)


def boot(stack: Stack, timings: Timings, name: str) -> None:
    with timings.step(name):
        way = stack.up()
        log(f"stack up ({way})")
        for service in ("db", "daemon", "api"):
            stack.wait_healthy(service, timeout=240)


def check_migrate_ran_once(stack: Stack, expect: str) -> None:
    container = stack.container("migrate")
    state = stack.state(container)
    logs = stack.logs(container)
    if state.get("ExitCode") != 0 or state.get("Status") != "exited":
        raise CheckFailed(f"migrate: {state.get('Status')}, exit {state.get('ExitCode')}\n{logs}")
    restarts = run(["podman", "inspect", "--format", "{{.RestartCount}}", container], quiet=True)
    if restarts.stdout.strip() not in ("", "0") or logs.count("revision") != 1:
        raise CheckFailed(f"migrate ran more than once: {restarts.stdout.strip()} restarts\n{logs}")
    if expect not in logs:
        raise CheckFailed(f"migrate did not say {expect!r}:\n{logs}")
    health = run(["podman", "inspect", "--format", "{{json .Config.Healthcheck}}", container],
                 quiet=True).stdout  # fmt: skip
    if '"NONE"' not in health:
        raise CheckFailed(f"migrate inherits a health check: {health.strip()}")
    log(f"migrate exited 0 once: {logs.strip().splitlines()[-1]}")


def check_image(image: str) -> None:
    def field(template: str) -> str:
        return run(["podman", "image", "inspect", "--format", template, image], quiet=True).stdout

    health, user = field("{{json .Config.Healthcheck}}"), field("{{.Config.User}}").strip()
    if "habitctl-daemon" not in health:
        raise CheckFailed(f"the image has no HEALTHCHECK: {health.strip()}")
    if user != "10001:10001":
        raise CheckFailed(f"the image runs as {user!r}, not 10001:10001")
    log("image: HEALTHCHECK kept, USER 10001:10001")


def check_healthz(api_port: str) -> None:
    url = f"http://127.0.0.1:{api_port}/healthz"
    try:
        wait_for(f"GET {url} = 200", lambda: http_status(url) == 200, 60)
    except CheckFailed:
        status = http_status(url)
        answer = f"answered {status}" if status else "gave no HTTP answer (connection failed)"
        raise CheckFailed(f"GET {url} {answer}, not 200") from None
    log(f"GET {url}: 200")


def check_users(stack: Stack) -> None:
    """habitctl's containers run as uid/gid 10001; the database as its own non-root user."""
    for service in APP_SERVICES:
        container = stack.container(service)
        user = run(["podman", "inspect", "--format", "{{.Config.User}}", container], quiet=True)
        if user.stdout.strip() != "10001:10001":
            raise CheckFailed(f"{service} runs as {user.stdout.strip()!r}, not 10001:10001")
    for service in ("daemon", "api"):
        ids = run(["podman", "exec", stack.container(service), "id", "-u"], quiet=True)
        if ids.stdout.strip() != "10001":
            raise CheckFailed(f"{service}'s process runs as uid {ids.stdout.strip()}")
    top = run(["podman", "top", stack.container("db"), "user"], quiet=True).stdout.split()[1:]
    if not top or "root" in top:
        raise CheckFailed(f"db processes run as {top}")
    log("migrate, daemon, api run as 10001:10001; db as " + ", ".join(sorted(set(top))))


def check_no_secret_in_logs(stack: Stack, secret: dict[str, str]) -> None:
    text = "".join(stack.logs(name) for name in stack.containers())
    leaked = sorted(name for name, value in secret.items() if value in text)
    if leaked:
        raise CheckFailed(f"secrets in `podman logs`: {', '.join(leaked)}")
    log(f"no secret in the logs of {len(stack.containers())} containers")


def check(compose_file: Path, keep_base_images: bool) -> Timings:
    timings = Timings()
    if os.geteuid() != 0:
        raise CheckFailed("run it as root: it installs packages and runs podman as root")
    install_debian_packages()
    compose = podman_compose(CACHE / "tools")
    CACHE.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="habitctl-boot-check-"))
    os.environ["CONTAINERS_CONF"] = str(containers_conf(workdir))
    stack: Stack | None = None
    try:
        remove_everything(None)  # what a killed earlier run may have left
        env_file, secret = write_env(workdir)
        env = dict(line.split("=", 1) for line in env_file.read_text().splitlines()
                   if "=" in line and not line.startswith("#"))  # fmt: skip
        stack = Stack(compose, compose_file, PROJECT, env_file)
        with timings.step("stand-in base images"):
            for stand_in in standins.STAND_INS:
                standins.ensure(stand_in, workdir)
        with timings.step("image build"):
            build_image(ROOT, IMAGE, workdir)
        check_image(IMAGE)
        fakebot_port = free_port()
        run(["podman", "network", "create", NETWORK])
        start_fakebot(ROOT, IMAGE, NETWORK, FAKEBOT, fakebot_port)

        boot(stack, timings, "first boot (up to healthy)")
        check_migrate_ran_once(stack, "revision 0")
        check_healthz(env["API_PORT"])
        check_users(stack)

        member = Member(stack, "bootcheck")
        with timings.step("member: register, link Telegram, reminder"):
            member.sign_up()
            member.cli("profile", "--timezone", "UTC")
            link = member.link_telegram(fakebot_port)
            log(f"Telegram linked through the daemon in {link:.0f} s")
            habit, due = member.add_habit_due_next_minute()
            wait_for_reminder(fakebot_port, due)

        with timings.step("down, up: data kept"):
            stack("down", timeout=300)
            if stack.containers():
                raise CheckFailed(f"`down` left containers: {stack.containers()}")
            boot(stack, timings, "second boot (up to healthy)")
            check_migrate_ran_once(stack, "already at revision")
            listed = member.cli_json("list")
            ids = [item["id"] for item in listed]
            if habit["id"] not in ids:
                raise CheckFailed(f"after down/up the habit {habit['id']} is gone: {listed}")
            check_healthz(env["API_PORT"])
            public = f"http://127.0.0.1:{env['API_PORT']}/public/habits"
            if http_status(public) != 200:
                raise CheckFailed(f"GET {public} answered {http_status(public)}")
            log("after down/up: still logged in, the habit is there, /healthz 200")
        check_no_secret_in_logs(stack, {**secret, "member's password": PASSWORD})
    finally:
        with timings.step("cleanup"):
            remove_everything(stack)
            shutil.rmtree(workdir, ignore_errors=True)
            if not keep_base_images:
                for stand_in in standins.STAND_INS:
                    run(["podman", "rmi", "-f", stand_in.name], check=False, quiet=True)
    return timings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="deploy/boot-check", description=__doc__)
    parser.add_argument("--compose-file", type=Path, default=ROOT / "docker-compose.yml",
                        help="the compose file to boot (default: the repository's)")  # fmt: skip
    parser.add_argument("--drop-base-images", action="store_true",
                        help="also remove the cached stand-in base images")  # fmt: skip
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        timings = check(args.compose_file.resolve(), keep_base_images=not args.drop_base_images)
    except CheckFailed as exc:
        log(f"FAILED after {time.monotonic() - started:.0f} s: {exc}")
        return 1
    summary = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in timings.items())
    log(f"PASSED in {time.monotonic() - started:.0f} s ({summary})")
    return 0
