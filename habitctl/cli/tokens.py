"""Where the CLI keeps session tokens: the OS keyring, else a 0600 file.

`sessions.json` in the state dir (not secret) remembers, per database, who is logged in and
where the token lives; the token itself goes to the keyring (service `habitctl`, one entry
per user and database) or, on hosts without a keyring backend, to `tokens.json` (0600).
`HABITCTL_TOKEN` overrides all of it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from habitctl import paths

SERVICE = "habitctl"


@dataclass(frozen=True)
class StoredToken:
    token: str
    username: str | None


def database_key(database_url: str) -> str:
    """A stable, non-secret name for a database (the password is not part of it)."""
    from sqlalchemy.engine import make_url

    safe = make_url(database_url).render_as_string(hide_password=True)
    return hashlib.sha256(safe.encode()).hexdigest()[:16]


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_private(path: Path, data: dict[str, Any]) -> None:
    """Write atomically with mode 0600 from the start (never readable by others, even briefly)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle, indent=2)
    os.replace(tmp, path)


class TokenStore:
    def __init__(self, database_url: str) -> None:
        self.key = database_key(database_url)
        self.index_file = paths.state_dir() / "sessions.json"
        self.token_file = paths.state_dir() / "tokens.json"

    def save(self, username: str, token: str) -> str | None:
        """Store the token; return the file path when the keyring could not take it."""
        self.forget()
        where = "keyring"
        try:
            import keyring
            from keyring.errors import KeyringError

            try:
                keyring.set_password(SERVICE, f"{username}@{self.key}", token)
            except (KeyringError, RuntimeError):
                where = "file"
        except ImportError:  # pragma: no cover - keyring is a dependency
            where = "file"
        if where == "file":
            tokens = _read(self.token_file)
            tokens[self.key] = token
            _write_private(self.token_file, tokens)
        index = _read(self.index_file)
        index[self.key] = {"username": username, "store": where}
        _write_private(self.index_file, index)
        return str(self.token_file) if where == "file" else None

    def load(self) -> StoredToken | None:
        from_env = os.environ.get("HABITCTL_TOKEN")
        if from_env:
            return StoredToken(from_env, None)
        entry = _read(self.index_file).get(self.key)
        if not isinstance(entry, dict):
            return None
        username = str(entry.get("username"))
        if entry.get("store") == "keyring":
            import keyring
            from keyring.errors import KeyringError

            try:
                token = keyring.get_password(SERVICE, f"{username}@{self.key}")
            except (KeyringError, RuntimeError):
                token = None
        else:
            token = _read(self.token_file).get(self.key)
        return StoredToken(token, username) if isinstance(token, str) else None

    def forget(self) -> None:
        index = _read(self.index_file)
        entry = index.pop(self.key, None)
        if isinstance(entry, dict) and entry.get("store") == "keyring":
            import keyring
            from keyring.errors import KeyringError

            with contextlib.suppress(KeyringError, RuntimeError):
                keyring.delete_password(SERVICE, f"{entry.get('username')}@{self.key}")
        tokens = _read(self.token_file)
        if self.key in tokens:
            del tokens[self.key]
            _write_private(self.token_file, tokens)
        if entry is not None:
            _write_private(self.index_file, index)
