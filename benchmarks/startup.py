"""CLI start-up budgets (SPEC §11).

* `habitctl --help` and `habitctl --version` against `python -c "import typer"` (≤ 1.3×).
* `habitctl list` on SQLite with 100 habits against `benchmarks/floor_list.py` over the same
  file (≤ 1.25×): import Typer, Rich, SQLAlchemy's ORM and pydantic, select the 100 rows through
  one mapped class, validate them with one pydantic model, render one Rich table.

Every command runs in an isolated HOME/XDG tree (its own SQLite file, token file, no keyring
daemon). The commands are timed interleaved (A B C A B C …, after warm-up runs), so a change
in machine load hits every command alike; the ratio of medians is the figure. Wall time is
the budgeted figure; CPU time (user + system of the child, from `wait4`) is printed beside it
because it is far less sensitive to other load on the machine.

    python benchmarks/startup.py [--runs 30] [--warmup 3] [--habits 100]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from datetime import time as clock_time
from pathlib import Path

BIN = Path(sys.executable).parent
HABITCTL = str(BIN / "habitctl")
PASSWORD = "benchmark-password"
FLOOR_LIST = Path(__file__).resolve().with_name("floor_list.py")


@dataclass
class Timing:
    name: str
    argv: list[str]
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    @property
    def wall_ms(self) -> float:
        return statistics.median(self.wall) * 1000

    @property
    def cpu_ms(self) -> float:
        return statistics.median(self.cpu) * 1000


def run_once(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds of one run; raises if the command fails."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    out = proc.stdout.read() if proc.stdout else b""
    err = proc.stderr.read() if proc.stderr else b""
    if proc.stdout:
        proc.stdout.close()
    if proc.stderr:
        proc.stderr.close()
    if proc.returncode != 0:
        raise RuntimeError(f"{argv} exited {proc.returncode}: {err.decode()}{out.decode()[:300]}")
    return wall, usage.ru_utime + usage.ru_stime


def measure(timings: list[Timing], env: dict[str, str], runs: int, warmup: int) -> None:
    for _ in range(warmup):
        for t in timings:
            run_once(t.argv, env)
    for _ in range(runs):
        for t in timings:
            wall, cpu = run_once(t.argv, env)
            t.wall.append(wall)
            t.cpu.append(cpu)


def isolated_env(root: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("HABITCTL_", "PYTHON")) and key != "VIRTUAL_ENV"
    }
    for name in ("home", "config", "data", "state", "cache"):
        (root / name).mkdir(parents=True, exist_ok=True)
    env.update(
        HOME=str(root / "home"),
        XDG_CONFIG_HOME=str(root / "config"),
        XDG_DATA_HOME=str(root / "data"),
        XDG_STATE_HOME=str(root / "state"),
        XDG_CACHE_HOME=str(root / "cache"),
        # No keyring daemon here: the CLI falls back to its 0600 token file, as on a server.
        PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring",
        HABITCTL_DATABASE_URL=f"sqlite:///{root / 'habitctl.db'}",
        COLUMNS="120",
    )
    return env


def cli(env: dict[str, str], *args: str, stdin: str = "") -> str:
    done = subprocess.run(
        [HABITCTL, *args], env=env, input=stdin, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"habitctl {' '.join(args)} exited {done.returncode}: {done.stderr}")
    return done.stdout


def seed_habits(env: dict[str, str], count: int) -> None:
    """Register and log in through the CLI once, then insert the habits set-based."""
    cli(env, "register", "--username", "bench", "--password-stdin", stdin=PASSWORD + "\n")
    cli(env, "login", "--username", "bench", "--password-stdin", stdin=PASSWORD + "\n")
    from sqlalchemy import create_engine, insert, select

    from habitctl.storage.models import Habit, User

    engine = create_engine(env["HABITCTL_DATABASE_URL"])
    now = datetime.now(UTC)
    try:
        with engine.begin() as conn:
            user_id = conn.scalar(select(User.id).where(User.username == "bench"))
            conn.execute(
                insert(Habit),
                [
                    {
                        "user_id": user_id,
                        "action": f"do two push-ups, round {i}",
                        "place": "the living room",
                        "time": clock_time(7 + i % 12, (i * 7) % 60),
                        "periodicity_days": 1 + i % 7,
                        "duration_seconds": 120,
                        "is_pleasant": False,
                        "reward": "a cup of tea",
                        "is_public": i % 3 == 0,
                        "next_reminder_at": now.replace(microsecond=0),
                        "created_at": now,
                        "updated_at": now,
                    }
                    for i in range(count)
                ],
            )
    finally:
        engine.dispose()
    listed = cli(env, "list", "--json")
    if listed.count('"action"') != count:
        raise RuntimeError(f"`habitctl list --json` did not show {count} habits")


HEAVY = ("sqlalchemy", "pydantic", "telegram")


def heavy_imports(argv: list[str], env: dict[str, str]) -> list[str]:
    """The packages of HEAVY that `python -X importtime -m habitctl <argv>` imports."""
    done = subprocess.run(
        [str(BIN / "python"), "-X", "importtime", "-m", "habitctl", *argv],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    found = set()
    for line in done.stderr.splitlines():
        name = line.rpartition("|")[2].strip().split(".")[0]
        if name in HEAVY:
            found.add(name)
    return sorted(found)


def verdict(name: str, measured: float, limit: float) -> str:
    status = "MET" if measured <= limit else "MISSED"
    return f"budget {name}: measured {measured:.2f}x, limit {limit:.2f}x, {status}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30, help="timed runs per command")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs per command first")
    parser.add_argument("--habits", type=int, default=100, help="habits shown by `list`")
    args = parser.parse_args(argv)

    root = Path(tempfile.mkdtemp(prefix="habitctl-bench-startup-"))
    try:
        env = isolated_env(root)
        seed_habits(env, args.habits)
        py = str(BIN / "python")
        typer_floor = Timing("python -c 'import typer'", [py, "-c", "import typer"])
        help_ = Timing("habitctl --help", [HABITCTL, "--help"])
        version = Timing("habitctl --version", [HABITCTL, "--version"])
        # -P: benchmarks/ (whose http.py would shadow the standard library) stays off sys.path.
        list_floor = Timing(
            f"floor_list.py ({args.habits} rows, SQLite)",
            [py, "-P", str(FLOOR_LIST), env["HABITCTL_DATABASE_URL"], "--limit", str(args.habits)],
        )
        list_ = Timing(f"habitctl list ({args.habits} habits, SQLite)", [HABITCTL, "list"])
        timings = [typer_floor, help_, version, list_floor, list_]
        measure(timings, env, args.runs, args.warmup)
        imports = {flag: heavy_imports([flag], env) for flag in ("--help", "--version")}
    finally:
        shutil.rmtree(root, ignore_errors=True)

    load = os.getloadavg()[0]
    print(f"{args.runs} interleaved runs each after {args.warmup} warm-up; load average {load:.1f}")
    print(f"{'command':<66} {'wall p50':>9} {'cpu p50':>9}")
    for t in timings:
        print(f"{t.name:<66} {t.wall_ms:>7.1f}ms {t.cpu_ms:>7.1f}ms")
    checks = [
        ("startup --help", help_, typer_floor, 1.3),
        ("startup --version", version, typer_floor, 1.3),
        ("startup list", list_, list_floor, 1.25),
    ]
    print()
    for name, t, floor, _ in checks:
        print(
            f"ratio {name}: wall {t.wall_ms / floor.wall_ms:.2f}x, "
            f"cpu {t.cpu_ms / floor.cpu_ms:.2f}x (against {floor.name})"
        )
    print("\nsummary")
    for name, t, floor, limit in checks:
        print(verdict(name, t.wall_ms / floor.wall_ms, limit))
    for name, imported in imports.items():
        status = "MISSED" if imported else "MET"
        print(
            f"budget startup {name} imports: measured {', '.join(imported) or 'none'}, "
            f"limit none of {'/'.join(HEAVY)}, {status}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
