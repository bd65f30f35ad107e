"""Configuration: one pydantic-settings class; CLI option > `HABITCTL_*` > TOML > default.

`load_settings` is the only way in; `describe_settings` tells where each effective value came
from, for `habitctl config show`.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)

from habitctl import paths
from habitctl.errors import InvalidInput

ENV_PREFIX = "HABITCTL_"


class TelegramSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bot_token: SecretStr = SecretStr("")
    api_base_url: str = "https://api.telegram.org/bot"
    bot_username: str = ""


class DaemonSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    poll_interval_seconds: float = Field(10, gt=0, le=3600)
    batch_size: int = Field(100, ge=1, le=10_000)
    # 0 means "no limit" (self-hosted Bot API servers, benchmarks).
    send_rate_per_second: float = Field(25, ge=0)
    catch_up_grace_minutes: int = Field(30, ge=0, le=24 * 60)
    # How long a replica's claim on a due habit holds without a heartbeat: after a crash
    # its habits are due again this much later. Heartbeats run at a third of it.
    lease_seconds: float = Field(30, ge=1, le=3600)
    # The reminder's "Later" button sends it again this long after the press (once).
    # A float, so tests and the impatient may use a fraction of a minute.
    snooze_minutes: float = Field(15, gt=0, le=24 * 60)


class ApiSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    cors_origins: list[str] = []


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="_",
        env_nested_max_split=1,
        extra="forbid",
    )

    config_file: ClassVar[Path | None] = None

    database_url: str = Field(default_factory=paths.default_database_url)
    telegram: TelegramSettings = TelegramSettings()
    daemon: DaemonSettings = DaemonSettings()
    api: ApiSettings = ApiSettings()

    @field_validator("database_url")
    @classmethod
    def _a_database_we_store_in(cls, value: str) -> str:
        return database_url(value)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, TomlConfigSettingsSource(settings_cls, cls.config_file)


DRIVERS = {
    "sqlite": "sqlite",
    "postgresql": "postgresql+psycopg2",
    "postgres": "postgresql+psycopg2",
}
URL_FORM = "use sqlite:////absolute/path/habitctl.db or postgresql://USER@HOST/DATABASE"


def database_url(value: str) -> str:
    """A URL of a database habitctl can use; `postgresql://` means psycopg2 (installed)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(value)
    except ArgumentError:
        raise ValueError(f"{value!r} is not a database URL: {URL_FORM}") from None
    backend, _, driver = url.drivername.partition("+")
    if backend not in DRIVERS:
        raise ValueError(
            f"habitctl keeps its data in SQLite or PostgreSQL, not {backend!r}: {URL_FORM}"
        )
    if not driver and DRIVERS[backend] != url.drivername:
        url = url.set(drivername=DRIVERS[backend])
        return url.render_as_string(hide_password=False)
    return value


def config_path(explicit: Path | None = None) -> Path:
    """The config file in effect: `--config`, then `HABITCTL_CONFIG`, then the platform default."""
    if explicit is not None:
        return explicit
    from_env = os.environ.get("HABITCTL_CONFIG")
    return Path(from_env).expanduser() if from_env else paths.default_config_file()


def _settings_class(path: Path) -> type[Settings]:
    return type("Settings", (Settings,), {"config_file": path})


def load_settings(config: Path | None = None, **overrides: Any) -> Settings:
    """Effective settings; raise InvalidInput naming the key for a bad file or value."""
    path = config_path(config)
    explicit = config is not None or "HABITCTL_CONFIG" in os.environ
    if explicit and not path.is_file():
        raise InvalidInput(f"config file {path} does not exist", field="config")
    cli = {key: value for key, value in overrides.items() if value is not None}
    try:
        return _settings_class(path)(**cli)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"config file {path} is not valid TOML: {exc}", field="config") from exc
    except SettingsError as exc:  # a HABITCTL_* value that is not the JSON its key needs
        key, variable = _unreadable_variable()
        raise InvalidInput(
            f"configuration key {key!r} from the environment variable {variable} is not "
            "valid JSON: give a JSON list, e.g. '[\"https://example.org\"]'",
            field=key,
        ) from exc
    except ValidationError as exc:
        error = exc.errors()[0]
        key = ".".join(str(part) for part in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        raise InvalidInput(
            f"configuration key {key!r} from {_source_of(key, cli, path)} is invalid: "
            f"{message} (see habitctl.example.toml)",
            field=key,
        ) from exc


CLI_OPTIONS = {"database_url": "--database-url"}


def env_name(key: str) -> str:
    return f"{ENV_PREFIX}{key.replace('.', '_').upper()}"


def _source_of(key: str, cli: Mapping[str, Any], path: Path) -> str:
    """Where a key's value came from, in the words a person can go and fix it with."""
    if key in cli:
        return f"the option {CLI_OPTIONS.get(key, key)}"
    if env_name(key) in os.environ:
        return f"the environment variable {env_name(key)}"
    return f"the config file {path}"


def _unreadable_variable() -> tuple[str, str]:
    """The HABITCTL_* variable of a list or table key whose value is not JSON."""
    import json

    for section, model in (("api", ApiSettings), ("daemon", DaemonSettings)):
        for name, info in model.model_fields.items():
            variable = env_name(f"{section}.{name}")
            if variable not in os.environ or info.annotation in (str, int, float, bool):
                continue
            try:
                json.loads(os.environ[variable])
            except ValueError:
                return f"{section}.{name}", variable
    return "api.cors_origins", env_name("api.cors_origins")


def _flatten(data: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in data.items():
        if isinstance(value, Mapping):
            yield from _flatten(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def describe_settings(
    settings: Settings, config: Path | None = None, **overrides: Any
) -> list[tuple[str, Any, str]]:
    """Each effective key with its value (secrets masked) and the source it came from."""
    path = config_path(config)
    cls = _settings_class(path)
    env_keys = {key for key, _ in _flatten(EnvSettingsSource(cls)())}
    file_keys = {key for key, _ in _flatten(TomlConfigSettingsSource(cls, path)())}
    cli_keys = {key for key, value in overrides.items() if value is not None}
    rows = []
    for key, value in _flatten(settings.model_dump()):
        if key in cli_keys:
            source = "command line"
        elif key in env_keys:
            source = f"environment {env_name(key)}"
        elif key in file_keys:
            source = f"file {path}"
        else:
            source = "default"
        if isinstance(value, SecretStr):
            value = "********" if value.get_secret_value() else ""
        elif key == "database_url":
            from sqlalchemy.engine import make_url

            value = make_url(value).render_as_string(hide_password=True)
        rows.append((key, value, source))
    return rows
