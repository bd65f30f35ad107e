"""The foundation seen from the terminal: version, help, config, db commands, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

from habitctl.cli.exitcodes import ExitCode
from tests.cli import Cli, run_habitctl


def test_first_use_on_a_fresh_machine_creates_and_migrates_sqlite(
    isolated_environment: Path,
) -> None:
    env = {"HABITCTL_STATE_DIR": str(isolated_environment / "state")}
    result = run_habitctl(
        "register", "--username", "newbie", "--password-stdin", env=env, input="longpassword\n"
    )
    assert result.returncode == 0, result.stderr
    database = isolated_environment / "data" / "habitctl.db"
    assert database.exists()
    assert database.stat().st_mode & 0o777 == 0o600
    assert "Traceback" not in result.stderr


def test_version_and_help_work_without_a_database(isolated_environment: Path) -> None:
    env = {"HABITCTL_DATABASE_URL": "postgresql+psycopg2://nobody@127.0.0.1:1/none"}
    version = run_habitctl("--version", env=env)
    assert version.returncode == 0
    assert version.stdout.startswith("habitctl ")
    help_ = run_habitctl("--help", env=env)
    assert help_.returncode == 0
    for command in ("register", "login", "add", "list", "public", "done", "db", "config"):
        assert command in help_.stdout


def test_unreachable_database_is_a_clear_error_with_exit_7(cli: Cli) -> None:
    outcome = cli("list", HABITCTL_DATABASE_URL="postgresql+psycopg2://u:hunter2@127.0.0.1:1/db")
    assert outcome.exit_code == ExitCode.STORAGE
    assert "cannot use the database" in outcome.stderr
    assert "hunter2" not in outcome.stderr
    assert "Traceback" not in outcome.stderr


def test_config_show_masks_secrets_and_names_sources(cli: Cli, tmp_path: Path) -> None:
    config = tmp_path / "habitctl.toml"
    config.write_text('[daemon]\nbatch_size = 7\n[telegram]\nbot_token = "123:SECRET"\n')
    outcome = cli(
        "--config", str(config), "config", "show", "--json",
        HABITCTL_DAEMON_POLL_INTERVAL_SECONDS="3",
    )  # fmt: skip
    assert outcome.exit_code == 0, outcome
    values = outcome.json()["values"]
    assert values["daemon.batch_size"] == {"value": 7, "source": f"file {config}"}
    assert values["daemon.poll_interval_seconds"]["value"] == 3
    assert values["daemon.poll_interval_seconds"]["source"].startswith("environment")
    assert values["telegram.bot_token"]["value"] == "********"
    assert "SECRET" not in outcome.stdout
    assert values["api.port"] == {"value": 8000, "source": "default"}


def test_command_line_beats_environment_beats_file(cli: Cli, tmp_path: Path) -> None:
    config = tmp_path / "habitctl.toml"
    config.write_text('database_url = "sqlite:///from-file.db"\n')
    env_only = cli("--config", str(config), "config", "show", "--json").json()
    assert env_only["values"]["database_url"]["source"].startswith("environment")
    flag = cli("--config", str(config), "--database-url", "sqlite:///flag.db", "config", "show",
               "--json").json()  # fmt: skip
    assert flag["values"]["database_url"] == {
        "value": "sqlite:///flag.db",
        "source": "command line",
    }


def test_bad_config_value_names_the_key_with_exit_3(cli: Cli, tmp_path: Path) -> None:
    config = tmp_path / "habitctl.toml"
    config.write_text("[daemon]\nbatch_size = 'lots'\n")
    outcome = cli("--config", str(config), "config", "show")
    assert outcome.exit_code == ExitCode.INVALID_INPUT
    assert "daemon.batch_size" in outcome.stderr
    config.write_text("[daemon\n")
    outcome = cli("--config", str(config), "config", "show")
    assert outcome.exit_code == ExitCode.INVALID_INPUT
    assert "not valid TOML" in outcome.stderr
    config.write_text("[daemon]\nbatch_sise = 3\n")
    outcome = cli("--config", str(config), "config", "show")
    assert outcome.exit_code == ExitCode.INVALID_INPUT
    assert "batch_sise" in outcome.stderr


def test_db_current_and_upgrade(cli: Cli) -> None:
    current = cli.ok("db", "current", "--json").json()
    assert current["up_to_date"] is True
    assert "already at revision" in cli.ok("db", "upgrade").stdout


def test_the_example_config_copied_into_place_keeps_the_default_database(
    cli: Cli, isolated_environment: Path
) -> None:
    example = Path(__file__).resolve().parent.parent / "habitctl.example.toml"
    target = isolated_environment / "config" / "habitctl.toml"
    target.parent.mkdir(parents=True)
    target.write_text(example.read_text(encoding="utf-8"), encoding="utf-8")
    env = {"HABITCTL_STATE_DIR": str(isolated_environment / "state")}
    shown = run_habitctl("config", "show", "--json", env=env)
    assert shown.returncode == 0, shown.stderr
    values = json.loads(shown.stdout)["values"]
    assert values["database_url"]["value"] == f"sqlite:///{isolated_environment}/data/habitctl.db"
    text = example.read_text(encoding="utf-8")
    for key in values:  # every key is documented, with its variable
        assert key.split(".")[-1] in text, key
        assert "HABITCTL_" + key.replace(".", "_").upper() in text, key
    for line in text.splitlines():
        assert "sqlite:///" not in line or "sqlite:////" in line or "four slashes" in line, line
