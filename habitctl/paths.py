"""Where habitctl keeps its files, resolved lazily so tests and users can redirect them.

Each directory honours an environment override (`HABITCTL_DATA_DIR`, `HABITCTL_CONFIG_DIR`,
`HABITCTL_STATE_DIR`) before falling back to the platform's conventional location.
"""

from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "habitctl"


def _dir(env: str, kind: str) -> Path:
    override = os.environ.get(env)
    if override:
        return Path(override).expanduser()
    import platformdirs

    finder = getattr(platformdirs, f"user_{kind}_dir")
    return Path(finder(APP_NAME))


def data_dir() -> Path:
    return _dir("HABITCTL_DATA_DIR", "data")


def config_dir() -> Path:
    return _dir("HABITCTL_CONFIG_DIR", "config")


def state_dir() -> Path:
    return _dir("HABITCTL_STATE_DIR", "state")


def default_config_file() -> Path:
    return config_dir() / "habitctl.toml"


def default_database_url() -> str:
    return f"sqlite:///{data_dir() / 'habitctl.db'}"
