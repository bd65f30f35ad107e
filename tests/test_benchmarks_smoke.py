"""The benchmark scripts run, on tiny sizes, so they cannot rot. No timing is asserted here:
the budgets are measured by the scripts themselves (benchmarks/README.md)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.pg import find_binaries

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ROOT / "benchmarks"
needs_postgres = pytest.mark.skipif(find_binaries() is None, reason="PostgreSQL not installed")


def run_script(name: str, *args: str, timeout: float = 120) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HABITCTL_")}
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / name), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, f"{name} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def budgets(output: str) -> list[str]:
    lines = output.split("\nsummary\n", 1)[1].splitlines()
    found = [line for line in lines if line.startswith("budget ")]
    assert found, output
    for line in found:
        assert line.endswith((", MET", ", MISSED")), line
    return found


def test_startup_script_runs() -> None:
    out = run_script("startup.py", "--runs", "1", "--warmup", "0", "--habits", "5")
    assert "ratio startup list:" in out
    assert "(against floor_list.py (5 rows, SQLite))" in out
    assert len(budgets(out)) == 5
    assert "budget startup --help imports: measured none" in out


def test_daemon_ceiling_script_runs() -> None:
    out = run_script("ceiling_daemon.py", "--messages", "50", "--concurrency", "4")
    assert "50 of 50 accepted (50 distinct chats)" in out
    assert budgets(out) == [
        "budget ceiling exactly-once: measured 50 accepted, 50 distinct, limit 50, MET"
    ]


@needs_postgres
def test_daemon_script_runs() -> None:
    out = run_script(
        "daemon.py",
        # Enough due that the presses fall while the daemon is still sending (~1,000/s).
        *("--habits", "25000", "--due", "1000", "--limited-due", "10", "--rate", "50"),
        *("--replicas", "2", "--explain-repeats", "2", "--presses", "2"),
    )
    assert "ratio idle-tick:" in out
    assert "ratio 2 daemons no limit:" in out
    assert "/s / ceiling " in out
    assert "budget exactly-once 2 daemons limit 50/s: measured 10 sent, 10 distinct" in out
    assert any("idle-tick plan" in line for line in budgets(out))
    assert any("button press p95 under load" in line for line in budgets(out))


@needs_postgres
def test_http_script_runs() -> None:
    args = ["--habits", "2000", "--duration", "1", "--warmup", "0", "--connections", "4"]
    args += ["--rounds", "1"]
    args += ["--deep-page", "5"]
    if not (BENCHMARKS / ".venv-drf" / "bin" / "gunicorn").exists():
        args.append("--no-drf")  # creating the DRF virtualenv takes a minute: not in tests
    out = run_script("http.py", *args)
    assert "ratio habitctl/ceiling first page:" in out
    assert "ratio habitctl/ceiling deep cursor:" in out
    assert len(budgets(out)) == 4
