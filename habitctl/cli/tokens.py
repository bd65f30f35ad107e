"""Where the CLI keeps session tokens: the OS keyring, else a 0600 file.

One stored session per user and database. `sessions.json` in the state dir (not secret)
remembers, per database, which users have a session, where each token lives, and who logged
in last (the default user); the tokens go to the keyring (service `habitctl`, one entry per
user and database) or, on hosts without a keyring backend, to `tokens.json` (0600).
`HABITCTL_TOKEN` overrides all of it; `--user NAME` / `HABITCTL_USER` picks a stored user.
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
TOKEN_VARIABLE = "HABITCTL_TOKEN"  # noqa: S105 - a variable name, not a secret


@dataclass(frozen=True)
class StoredToken:
    token: str
    username: str | None  # None when it came from HABITCTL_TOKEN

    @property
    def from_environment(self) -> bool:
        return self.username is None


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


def _keyring_call(action: str, *args: str) -> Any:
    """A keyring call; raises LookupError where no keyring backend works."""
    try:
        import keyring
        from keyring.errors import KeyringError
    except ImportError as exc:  # pragma: no cover - keyring is a dependency
        raise LookupError from exc
    try:
        return getattr(keyring, action)(SERVICE, *args)
    except (KeyringError, RuntimeError) as exc:
        raise LookupError from exc


class TokenStore:
    def __init__(self, database_url: str, user: str | None = None) -> None:
        self.key = database_key(database_url)
        self.user = (user or os.environ.get("HABITCTL_USER") or "").strip().lower() or None
        self.index_file = paths.state_dir() / "sessions.json"
        self.token_file = paths.state_dir() / "tokens.json"

    def _entry(self) -> dict[str, Any]:
        """This database's index entry, in the current shape (older files had one user)."""
        entry = _read(self.index_file).get(self.key)
        if not isinstance(entry, dict):
            return {"users": {}, "last": None}
        if "users" not in entry:  # one session per database, before per-user sessions
            name = entry.get("username")
            users = {str(name): {"store": entry.get("store")}} if name else {}
            return {"users": users, "last": name}
        return entry

    def _save_entry(self, entry: dict[str, Any], *, file_note_shown: bool | None = None) -> None:
        index = _read(self.index_file)
        index[self.key] = entry
        if file_note_shown:
            index["file_note_shown"] = True
        _write_private(self.index_file, index)

    def _file_tokens(self) -> dict[str, Any]:
        tokens = _read(self.token_file)
        mine = tokens.get(self.key)
        if isinstance(mine, str):  # the older shape: one token per database
            last = self._entry().get("last")
            return {str(last): mine} if last else {}
        return mine if isinstance(mine, dict) else {}

    def _save_file_tokens(self, mine: dict[str, Any]) -> None:
        tokens = _read(self.token_file)
        if mine:
            tokens[self.key] = mine
        else:
            tokens.pop(self.key, None)
        _write_private(self.token_file, tokens)

    def save(self, username: str, token: str) -> str | None:
        """Store `username`'s token (replacing theirs only) and make them the default.

        Returns the file path the first time a token goes to a file instead of a keyring,
        so that the CLI says so once, not at every login.
        """
        self.forget(username)
        where = "keyring"
        try:
            _keyring_call("set_password", f"{username}@{self.key}", token)
        except LookupError:
            where = "file"
        if where == "file":
            mine = self._file_tokens()
            mine[username] = token
            self._save_file_tokens(mine)
        entry = self._entry()
        entry["users"][username] = {"store": where}
        entry["last"] = username
        first_note = where == "file" and not _read(self.index_file).get("file_note_shown")
        self._save_entry(entry, file_note_shown=first_note)
        return str(self.token_file) if first_note else None

    def stored_for(self, username: str) -> str | None:
        """The token stored for `username` on this database, if any."""
        found = self._entry()["users"].get(username)
        if not isinstance(found, dict):
            return None
        if found.get("store") == "keyring":
            try:
                token = _keyring_call("get_password", f"{username}@{self.key}")
            except LookupError:
                token = None
        else:
            token = self._file_tokens().get(username)
        return token if isinstance(token, str) else None

    def selected_user(self) -> str | None:
        """`--user` / `HABITCTL_USER` if given, else the last user to log in."""
        last = self._entry().get("last")
        return self.user or (str(last) if last else None)

    def load(self) -> StoredToken | None:
        from_env = os.environ.get(TOKEN_VARIABLE)
        if from_env:
            return StoredToken(from_env.strip(), None)
        username = self.selected_user()
        if username is None:
            return None
        token = self.stored_for(username)
        return StoredToken(token, username) if token else None

    def forget(self, username: str | None = None) -> None:
        """Forget `username`'s token (default: the selected user's); others stay."""
        username = username or self.selected_user()
        if username is None:
            return
        entry = self._entry()
        found = entry["users"].pop(username, None)
        if isinstance(found, dict) and found.get("store") == "keyring":
            with contextlib.suppress(LookupError):
                _keyring_call("delete_password", f"{username}@{self.key}")
        mine = self._file_tokens()
        if username in mine:
            del mine[username]
            self._save_file_tokens(mine)
        if found is not None:
            if entry.get("last") == username:
                entry["last"] = next(iter(entry["users"]), None)
            self._save_entry(entry)
