"""SPEC §9 without a Docker engine: the compose file read, checked, and its commands run.

Each service's `command` runs exactly as `docker-compose.yml` writes it, as a local process,
with its `environment` interpolated from `.env.example` the way Compose does it, and the host
`db` pointed at the throwaway PostgreSQL of the test run. The image is proven by building the
wheel from what the Dockerfile copies and installing it with the Dockerfile's command.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.api import add_public
from tests.cli import Cli
from tests.fakebot import FakeBotAPI
from tests.pg import ROLE_PASSWORDS, PostgresCluster, free_port, missing_postgres
from tests.test_api_serve import running, wait_until_healthy
from tests.users import logged_in

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}, $VAR; $$ is a "$".
_VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<braced>\w+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}|(?P<bare>\w+))"
)


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())  # type: ignore[no-any-return]


def env_example() -> dict[str, str]:
    values = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def interpolate(text: str, env: dict[str, str]) -> str:
    """What Compose makes of `text`; a `:?`/`?` variable that is missing raises ValueError."""

    def one(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        name = match["braced"] or match["bare"]
        value, op, arg = env.get(name), match["op"], match["arg"]
        unset = value is None or (value == "" and op is not None and op.startswith(":"))
        if op and op.endswith("-") and unset:
            return str(arg)
        if op and op.endswith("?") and unset:
            raise ValueError(f"{name}: {arg}")
        return value or ""

    return _VARIABLE.sub(one, text)


def variables(data: Any) -> Iterator[str]:
    """Every variable the compose file reads, anywhere in it."""
    if isinstance(data, dict):
        for value in data.values():
            yield from variables(value)
    elif isinstance(data, list):
        for value in data:
            yield from variables(value)
    elif isinstance(data, str):
        for match in _VARIABLE.finditer(data):
            if not match["escaped"]:
                yield match["braced"] or match["bare"]


def service_env(service: str, env: dict[str, str]) -> dict[str, str]:
    declared = compose()["services"][service].get("environment", {})
    return {key: interpolate(str(value), env) for key, value in declared.items()}


def compose_order() -> list[str]:
    """Services in the order `docker compose up` starts them (dependencies first)."""
    services = compose()["services"]
    order: list[str] = []

    def visit(name: str) -> None:
        for dependency in services[name].get("depends_on", {}):
            visit(dependency)
        if name not in order:
            order.append(name)

    for name in services:
        visit(name)
    return order


def test_every_variable_the_compose_file_reads_is_in_env_example() -> None:
    read = set(variables(compose()))
    assert read, "the compose file reads its settings from .env"
    assert read - set(env_example()) == set()
    # Container-side variables escaped as $${...} are the container's business, not .env's.
    assert "POSTGRES_USER" in read


def test_only_the_bot_token_needs_filling_in() -> None:
    filled = {**env_example(), "TELEGRAM_BOT_TOKEN": "123:abc"}
    for service in compose()["services"]:
        service_env(service, filled)  # raises on a required variable left empty
    for bare in ({"TELEGRAM_BOT_TOKEN": "123:abc"}, filled):  # no .env beyond the token too
        url = service_env("api", bare)["HABITCTL_DATABASE_URL"]
        assert make_url(url).host == "db"
        assert service_env("daemon", bare)["HABITCTL_TELEGRAM_BOT_TOKEN"] == "123:abc"
    with pytest.raises(ValueError, match="TELEGRAM_BOT_TOKEN"):
        service_env("daemon", env_example())


def test_every_service_has_a_health_check_or_a_completion_condition() -> None:
    services = compose()["services"]
    conditions = {  # what `up` waits for (on-demand services under a profile aside)
        dependency: spec["condition"]
        for service in services.values()
        if "profiles" not in service
        for dependency, spec in service.get("depends_on", {}).items()
    }
    for name, service in services.items():
        completes = conditions.get(name) == "service_completed_successfully"
        assert "healthcheck" in service or completes, name
        if completes:
            assert service["restart"] == "no", f"{name} runs once"
    assert conditions["db"] == "service_healthy"
    assert "pg_isready" in str(services["db"]["healthcheck"]["test"])
    assert services["daemon"]["restart"] == "unless-stopped"
    assert compose_order().index("migrate") < compose_order().index("api")


def test_the_database_lives_in_a_named_volume() -> None:
    config = compose()
    mounts = [str(volume).split(":") for volume in config["services"]["db"]["volumes"]]
    named = [source for source, target, *_ in mounts if target == "/var/lib/postgresql/data"]
    assert named, "the data directory is a volume"
    assert named[0] in config["volumes"], "a named volume, which `docker compose down` keeps"


def test_every_application_service_runs_the_one_image() -> None:
    services = compose()["services"]
    image = services["migrate"]["image"]
    assert services["migrate"]["build"] == ".", "migrate builds it"
    for name in ("daemon", "api", "cli"):
        assert services[name]["image"] == image, name
        assert "build" not in services[name], f"{name} reuses the image instead of building it"
        assert services[name]["pull_policy"] == "never", f"{name}: the image is local"


def test_the_db_health_check_asks_over_tcp() -> None:
    # The image's first-start server answers on the socket while TCP is still closed.
    kind, check = compose()["services"]["db"]["healthcheck"]["test"]
    assert kind == "CMD-SHELL"
    assert shlex.split(check)[:3] == ["pg_isready", "-h", "127.0.0.1"]


def test_the_database_loads_auth_delay() -> None:
    argv = shlex.split(compose()["services"]["db"]["command"])
    assert argv[0] == "postgres"
    settings = dict(argv[i + 1].split("=", 1) for i, a in enumerate(argv) if a == "-c")
    assert settings["shared_preload_libraries"] == "auth_delay"
    assert int(settings["auth_delay.milliseconds"]) >= 500


def test_migrate_waits_for_the_database_and_has_no_health_check() -> None:
    migrate = compose()["services"]["migrate"]
    argv = shlex.split(migrate["command"])
    assert argv[:3] == ["habitctl", "db", "upgrade"]
    assert 30 <= float(argv[argv.index("--wait") + 1]) <= 600, "bounded, and long enough"
    # Without this it inherits the image's (daemon) HEALTHCHECK and shows "starting" forever.
    assert migrate["healthcheck"] == {"disable": True}


def test_members_have_a_cli_service_that_keeps_them_logged_in() -> None:
    config = compose()
    cli = config["services"]["cli"]
    assert cli["profiles"] == ["cli"], "not started by `up`"
    assert cli["entrypoint"] == ["habitctl"]
    assert cli["healthcheck"] == {"disable": True}
    url = make_url(interpolate(cli["environment"]["HABITCTL_DATABASE_URL"], env_example()))
    assert (url.username, url.host) == ("habitctl_cli", "db"), "never the admin"
    state_dir = re.search(r"HABITCTL_STATE_DIR=(\S+)", (ROOT / "Dockerfile").read_text())
    assert state_dir is not None
    volumes = [str(volume).split(":") for volume in cli["volumes"]]
    assert [source for source, target in volumes if target == state_dir[1]] == ["cli-state"]
    assert "cli-state" in config["volumes"]
    assert "ports" not in config["services"]["db"], "the database stays inside the network"


def _dockerfile() -> str:
    return (ROOT / "Dockerfile").read_text()


def test_the_image_runs_as_uid_and_gid_10001_from_a_regular_account() -> None:
    text = _dockerfile()
    assert "groupadd --gid 10001 habitctl" in text
    useradd = re.search(r"useradd ([^&]+)", text)
    assert useradd is not None
    assert "--uid 10001 --gid 10001" in useradd[1]
    assert "--system" not in useradd[1], "10001 is above SYS_UID_MAX: useradd would warn"
    assert "\nUSER 10001:10001\n" in text


def _pins(lock: Path) -> dict[str, str]:
    """name -> version of a hashed lock file; every pin must carry at least one hash."""
    pins: dict[str, str] = {}
    text = lock.read_text().replace("\\\n", " ")
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        requirement, *options = line.split("--hash=sha256:")
        name, _, version = requirement.split(";")[0].strip().partition("==")
        assert version, f"{lock.name}: {line[:60]!r} is not pinned"
        assert options, f"{lock.name}: {line[:60]!r} carries no hash"
        pins[re.sub(r"[-_.]+", "-", name).lower()] = version.strip()
    return pins


def _requirement_names(requirements: list[str]) -> set[str]:
    return {re.sub(r"[-_.]+", "-", re.split(r"[\s<>=!~\[;]", r, maxsplit=1)[0]).lower()
            for r in requirements}  # fmt: skip


def test_the_image_and_ci_install_from_hashed_lock_files() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    runtime, dev = _pins(ROOT / "requirements.lock"), _pins(ROOT / "requirements-dev.lock")
    assert _requirement_names(project["project"]["dependencies"]) <= set(runtime)
    assert _requirement_names(project["build-system"]["requires"]) <= set(runtime)
    assert _requirement_names(project["project"]["optional-dependencies"]["dev"]) <= set(dev)
    # CI tests exactly the versions the image runs.
    assert {name: version for name, version in dev.items() if name in runtime} == runtime

    text = _dockerfile()
    assert "COPY requirements.lock " in text
    assert "pip install --require-hashes --no-deps -r /tmp/requirements.lock" in text
    assert "pip install --no-deps --no-build-isolation ." in text
    ci = (ROOT / ".ci" / "run").read_text()
    assert "--require-hashes" in ci
    assert "requirements-dev.lock" in ci


def test_the_stand_in_base_images_carry_the_names_the_files_use() -> None:
    sys.path.insert(0, str(ROOT / "deploy"))
    try:
        from bootcheck.standins import STAND_INS
    finally:
        sys.path.remove(str(ROOT / "deploy"))
    named = {re.sub(r"^docker\.io/library/", "", stand_in.name) for stand_in in STAND_INS}
    bases = set(re.findall(r"^FROM (\S+)", _dockerfile(), flags=re.MULTILINE))
    assert bases | {compose()["services"]["db"]["image"]} == named


def test_both_systemd_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.fail("systemd-analyze is missing: `apt-get install systemd` (.ci/run does)")
    units = [
        ROOT / "daemon" / "habitctl-daemon.service",
        ROOT / "deploy" / "habitctl-serve.service",
    ]
    # verify insists that ExecStart exists and that every unit named is found: a root with
    # this system's own units, the two units, and the programs where the units expect them.
    root = tmp_path / "root"
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    (root / "etc/systemd/system").mkdir(parents=True)
    for unit in units:
        shutil.copy(unit, root / "etc/systemd/system" / unit.name)
        for argv in re.findall(r"^ExecStart=(\S+)", unit.read_text(), flags=re.MULTILINE):
            program = root / argv.lstrip("/")
            program.parent.mkdir(parents=True, exist_ok=True)
            program.write_text("#!/bin/sh\n")
            program.chmod(0o755)
    result = subprocess.run(
        ["systemd-analyze", "verify", f"--root={root}", *(unit.name for unit in units)],
        capture_output=True,
        text=True,
        check=False,
    )
    # Unknown keys and bad values are only warnings (exit 0): any output is a failure too.
    assert result.returncode == 0, result.stderr
    assert (result.stdout + result.stderr).strip() == ""


@pytest.fixture
def compose_env(pg_cluster: PostgresCluster | None, isolated_environment: Path) -> dict[str, str]:
    """.env.example's values, with its database and admin made on the throwaway cluster
    (the postgres image makes POSTGRES_USER a superuser)."""
    if pg_cluster is None:
        missing_postgres()
    env = {**env_example(), "TELEGRAM_BOT_TOKEN": "123:abc"}
    # Roles are cluster-wide and this cluster is shared with the other tests: `migrate` sets
    # the roles' passwords, so it is given the ones the suite's fixtures use.
    for role in ("owner", "cli", "daemon", "api"):
        env[f"{role.upper()}_DB_PASSWORD"] = ROLE_PASSWORDS[f"habitctl_{role}"]
    database = f"{env['POSTGRES_DB']}_{os.getpid()}_{free_port()}"
    pg_cluster.execute(
        "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = "
        f"'{env['POSTGRES_USER']}') THEN CREATE ROLE {env['POSTGRES_USER']} LOGIN SUPERUSER "
        f"PASSWORD '{env['POSTGRES_PASSWORD']}'; END IF; END $$"
    )
    pg_cluster.execute(f"CREATE DATABASE {database} OWNER {env['POSTGRES_USER']}")
    env["POSTGRES_DB"] = database
    env["PG_PORT"] = str(pg_cluster.port)
    return env


def local(service: str, env: dict[str, str]) -> dict[str, str]:
    """The service's environment on this machine: `db` is the test's PostgreSQL."""
    values = service_env(service, env)
    url = make_url(values["HABITCTL_DATABASE_URL"])
    assert url.host == "db"
    values["HABITCTL_DATABASE_URL"] = url.set(
        host="127.0.0.1", port=int(env["PG_PORT"])
    ).render_as_string(hide_password=False)
    # Containers have the image's venv first on PATH; here it is the test's.
    values["PATH"] = f"{BIN}{os.pathsep}{os.environ['PATH']}"
    return values


def command(service: str) -> list[str]:
    return shlex.split(compose()["services"][service]["command"])


def run(
    argv: list[str], env: dict[str, str], cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv,
        env={**os.environ, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_migrate_then_api_run_as_compose_writes_them(
    compose_env: dict[str, str], isolated_environment: Path
) -> None:
    migrate_env = local("migrate", compose_env)
    first = run(command("migrate"), migrate_env)
    assert first.returncode == 0, first.stderr
    again = run(command("migrate"), migrate_env)  # every `docker compose up` runs it again
    assert again.returncode == 0, again.stderr
    assert "already at revision" in again.stdout

    api_env = local("api", compose_env)
    habit = add_public(
        Cli(
            local("migrate", compose_env)["HABITCTL_DATABASE_URL"], isolated_environment, "composer"
        ).signup(),
        "plank",
    )
    # A container has its own network; here the port must not collide with anything else.
    api_env["HABITCTL_API_PORT"] = str(free_port())
    with running(command("api"), api_env) as process:
        base = f"http://127.0.0.1:{api_env['HABITCTL_API_PORT']}"
        wait_until_healthy(base, process)
        listed = httpx.get(f"{base}/public/habits", timeout=5).json()["items"]
        assert [item["id"] for item in listed] == [habit["id"]]
        kind, *health = compose()["services"]["api"]["healthcheck"]["test"]
        assert kind == "CMD"
        assert run(health, api_env).returncode == 0, "the compose health check passes"
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0


def _dockerfile_build_sources() -> list[str]:
    """What the Dockerfile's build stage copies into the build context of its wheel."""
    build_stage = (ROOT / "Dockerfile").read_text().split("\nFROM ")[1]
    sources = []
    for line in build_stage.splitlines():
        if line.startswith("COPY ") and "--from" not in line:
            sources.extend(line.split()[1:-1])
    assert "pyproject.toml" in sources
    return sources


@pytest.mark.slow
def test_the_wheel_the_dockerfile_builds_installs_and_runs(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    for name in _dockerfile_build_sources():
        subprocess.run(["cp", "-r", str(ROOT / name), str(source / name)], check=True)
    wheels = tmp_path / "wheels"
    # Offline, only the project's own wheel can be built (--no-deps, no isolated build env).
    built = run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--no-cache-dir", "--wheel-dir", str(wheels), str(source)],
        {},
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    (wheel,) = wheels.glob("habitctl-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    versions = {
        f"migrations/versions/{p.name}" for p in (ROOT / "migrations/versions").glob("*.py")
    }
    needed = {"habitctl/api/app.py", "daemon/main.py", "migrations/env.py"}
    assert needed | {"migrations/script.py.mako"} | versions <= names
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    scripts = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "habitctl = habitctl.cli.app:main" in scripts
    assert "habitctl-daemon = daemon.main:main" in scripts

    # A fresh venv whose only extra path is a copy of this environment's dependencies,
    # without habitctl itself (installed editable here), so the wheel is all it can import.
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    deps = tmp_path / "deps"
    deps.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if not entry.name.startswith(("habitctl", "__editable__", "daemon", "migrations")):
            (deps / entry.name).symlink_to(entry)
    (venv / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
     / "deps.pth").write_text(f"{deps}\n")  # fmt: skip
    python = venv / "bin" / "python"
    install = run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-cache-dir",
         "--no-index", f"--find-links={wheels}", "habitctl"],
        {},
    )  # fmt: skip
    assert install.returncode == 0, install.stderr

    env = {"HABITCTL_DATABASE_URL": f"sqlite:///{tmp_path / 'container.db'}"}
    imports = "import habitctl, daemon, migrations as m; print(m.__file__)"
    where = run([str(python), "-c", imports], env, cwd=tmp_path)  # not the checkout
    assert where.stdout.startswith(str(venv)), where
    version = run([str(venv / "bin" / "habitctl"), "--version"], env, cwd=tmp_path)
    assert version.stdout.startswith("habitctl "), version
    upgrade = run([str(venv / "bin" / "habitctl"), "db", "upgrade"], env, cwd=tmp_path)
    assert upgrade.returncode == 0, upgrade.stderr
    check = run([str(venv / "bin" / "habitctl-daemon"), "--check"], env, cwd=tmp_path)
    assert check.returncode == 0, check.stderr


def test_daemon_runs_as_compose_writes_it(
    compose_env: dict[str, str], isolated_environment: Path, fake_bot: FakeBotAPI
) -> None:
    assert run(command("migrate"), local("migrate", compose_env)).returncode == 0
    daemon_env = {
        **local("daemon", compose_env),
        # The one thing a container would reach differently: Telegram is the fake here.
        "HABITCTL_TELEGRAM_API_BASE_URL": fake_bot.base_url,
        "HABITCTL_DAEMON_POLL_INTERVAL_SECONDS": "0.2",
    }
    assert make_url(daemon_env["HABITCTL_DATABASE_URL"]).username == "habitctl_daemon"
    kind, *health = compose()["services"]["daemon"]["healthcheck"]["test"]
    assert kind == "CMD"
    assert run(health, daemon_env).returncode == 0, "the compose health check passes"

    admin_url = local("migrate", compose_env)["HABITCTL_DATABASE_URL"]
    member = logged_in(Cli(admin_url, isolated_environment, "composer"))
    habit = member.add("I will plank at 07:00 in the hall", "--reward", "tea")
    engine = create_engine(admin_url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE user_contacts SET telegram_chat_id = 5150 WHERE user_id = "
                "(SELECT id FROM users WHERE username = 'composer')"
            )
        )
        conn.execute(
            text("UPDATE habits SET next_reminder_at = now() - interval '1 minute' WHERE id = :id"),
            {"id": habit["id"]},
        )
    engine.dispose()
    with running(command("daemon"), daemon_env) as process:
        sent = fake_bot.wait_for_calls("sendMessage", 1, timeout=60)  # a loaded machine
        assert sent[0]["params"]["chat_id"] == 5150
        assert sent[0]["params"]["text"].startswith("⏰ 07:00 — I will plank in the hall")
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
