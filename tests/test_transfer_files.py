"""Files as they reach `habitctl import` and leave `habitctl export`: cut short, nested
100,000 levels deep, 100 MB, binary — exit 3, no traceback, the database unchanged — and
`--output`, written whole with mode 0600."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from habitctl.cli.exitcodes import ExitCode
from tests.cli import Cli
from tests.test_transfer import populate


def _deeply_nested() -> bytes:
    return (
        b'{"format": "habitctl", "version": 2, "habits": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    )


def _write_huge(path: Path) -> None:
    with path.open("wb") as out:  # 100 MB of valid-looking JSON
        out.write(b'{"format": "habitctl", "version": 2, "habits": [], "pad": "')
        out.write(b"x" * (100 * 1024 * 1024))
        out.write(b'"}')


@pytest.mark.parametrize("case", ["truncated", "nested", "huge", "binary"])
def test_a_broken_or_hostile_file_is_exit_3_without_a_traceback(
    cli: Cli, tmp_path: Path, case: str
) -> None:
    populate(cli)
    before = cli.ok("export").json()
    file = tmp_path / "bad.json"
    if case == "truncated":
        file.write_bytes(json.dumps(before).encode()[:-40])
    elif case == "nested":
        file.write_bytes(_deeply_nested())
    elif case == "huge":
        _write_huge(file)
    else:
        file.write_bytes(b"\x00\xff\xfe garbage")
    outcome = cli("import", str(file))
    assert outcome.exit_code == ExitCode.INVALID_INPUT, outcome
    assert "Traceback" not in outcome.stderr + outcome.stdout
    expected = {
        "truncated": "not valid JSON",
        "nested": "nested too deeply",
        "huge": "larger than",
        "binary": "not a habitctl backup",
    }[case]
    assert expected in outcome.stderr
    after = cli.ok("export").json()
    assert {**after, "exported_at": None} == {**before, "exported_at": None}


def test_export_output_is_written_whole_with_mode_0600(cli: Cli, tmp_path: Path) -> None:
    populate(cli)
    target = tmp_path / "backup.json"
    target.write_text("old")
    outcome = cli.ok("export", "--output", str(target))
    assert "Exported json to" in outcome.stderr
    assert json.loads(target.read_text())["format"] == "habitctl"
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".backup.json")]
