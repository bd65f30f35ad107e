"""The README's "A short session", pasted line by line into a fresh shell after the Quick start.

The Quick start leaves a `.venv` in the current directory; here that is a link to the venv the
tests run in. Each line must succeed (`$?` is 0) and print no error.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pexpect
import pytest

from tests.cli import PASSWORD

pytestmark = pytest.mark.slow
README = Path(__file__).resolve().parent.parent / "README.md"


def short_session() -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text.split("## A short session", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert block is not None
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_the_short_session_mentions_switching_accounts() -> None:
    section = README.read_text(encoding="utf-8").split("## A short session", 1)[1]
    section = section.split("\n## ", 1)[0]
    assert "habitctl --user" in section


def test_the_short_session_works_pasted_into_a_fresh_shell(tmp_path: Path) -> None:
    venv = Path(sys.executable).parent.parent
    (tmp_path / ".venv").symlink_to(venv)
    env = {
        "PATH": "/usr/bin:/bin",  # habitctl is not on it until the session says how
        "HOME": str(tmp_path),
        "TERM": "dumb",
        "NO_COLOR": "1",
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
        **{f"HABITCTL_{k}_DIR": str(tmp_path / k.lower()) for k in ("DATA", "CONFIG", "STATE")},
    }
    shell = pexpect.spawn("bash", ["--norc", "--noprofile"], cwd=str(tmp_path), env=env,
                          encoding="utf-8", timeout=60, dimensions=(50, 100))  # fmt: skip
    shell.sendline("PS1='READY> '")
    shell.expect("READY> ")
    shell.expect("READY> ")
    for line in short_session():
        shell.sendline(line)
        while True:
            seen = shell.expect(["Password: ", "Repeat the password: ", "READY> "])
            if seen == 2:
                break
            shell.sendline(PASSWORD)
        output = str(shell.before)
        assert "command not found" not in output, line
        assert "Error" not in output, (line, output)
        shell.sendline("echo rc=$?")
        shell.expect(r"rc=(\d+)")
        assert shell.match.group(1) == "0", (line, output)
        shell.expect("READY> ")
    shell.sendline("exit")
    shell.expect(pexpect.EOF)
