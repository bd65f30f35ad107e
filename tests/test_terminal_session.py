"""A new user's first session in a real pseudo-terminal: prompts, colours off, screen text.

The installed `habitctl` runs under pexpect exactly as a person types at it: register
answering the prompts, add by the book's sentence, done, undo, skip, stats, and a delete
confirmed with y.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pexpect
import pytest

from tests.cli import PASSWORD

pytestmark = pytest.mark.slow


def _spawn(home: Path, *args: str) -> pexpect.spawn:
    env = {
        "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin",
        "HOME": str(home),
        "TERM": "xterm",
        "NO_COLOR": "1",
        "COLUMNS": "80",
        "LINES": "40",
        "TZ": "UTC",
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
        **{f"HABITCTL_{kind}_DIR": str(home / kind.lower()) for kind in ("DATA", "CONFIG",
                                                                         "STATE")},
    }  # fmt: skip
    return pexpect.spawn("habitctl", list(args), env=env, encoding="utf-8", timeout=60,
                          dimensions=(40, 80))  # fmt: skip


def _finish(child: pexpect.spawn) -> str:
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    return str(child.before)


def test_a_new_users_first_session(tmp_path: Path) -> None:
    child = _spawn(tmp_path, "register")
    child.expect("Username: ")
    child.sendline("alice")
    child.expect("Password: ")
    child.sendline(PASSWORD)
    child.expect("Repeat the password: ")
    child.sendline(PASSWORD)
    assert "alice" in _finish(child)
    assert PASSWORD not in str(child.before)

    child = _spawn(tmp_path, "login", "--username", "alice")
    child.expect("Password: ")
    child.sendline(PASSWORD)
    assert "Logged in as alice" in _finish(child)

    added = _finish(_spawn(tmp_path, "add", "I'll meditate at 7:30 am in the bedroom",
                           "--reward", "a cup of tea"))  # fmt: skip
    assert "I will meditate at 07:30 in the bedroom" in added
    assert "#1" in added
    assert "Reminders are off until Telegram is linked" in added

    assert "Habit 1 done on" in _finish(_spawn(tmp_path, "done", "1"))
    assert "Took back" in _finish(_spawn(tmp_path, "undo", "1"))
    assert "skipped" in _finish(_spawn(tmp_path, "skip", "1"))
    stats = _finish(_spawn(tmp_path, "stats", "1"))
    assert "#1 meditate" in stats
    assert "– skipped" in stats
    assert "\x1b[3" not in stats  # NO_COLOR: no colours on a terminal either

    child = _spawn(tmp_path, "rm", "1")
    child.expect(r"Delete habit 1 \('meditate'\) and its history\? \[y/N\]: ")
    child.sendline("y")
    assert "Deleted habit 1." in _finish(child)
