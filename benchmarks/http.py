"""HTTP budget (SPEC §11): `GET /public/habits?limit=20` of `habitctl serve` on 1,000,000 habits.

One throwaway PostgreSQL, one data set (about 30 % public), the servers measured in the same
run, interleaved round by round, with `wrk -c32 -t2 --latency`:

* habitctl: `habitctl serve` (FastAPI on uvicorn, one process), first page and a deep cursor
  (the page after the first `--deep-page` × 20 public habits);
* ceiling: a bare Starlette route with the same keyset query on an asyncpg pool
  (`benchmarks/ceiling_app.py`), uvicorn, one process;
* DRF: the course project's stack (`benchmarks/http_drf.py`), first page and page
  `--deep-page`;
* before (with `--before DIR`): `habitctl serve` of another checkout of the package (e.g.
  `git archive main | tar -x -C DIR`), so a change is measured before/after in one run.

Budget: habitctl at least 70 % of the ceiling's requests/s at the first page and at the deep
cursor, and a p99 at most 1.5× the ceiling's. Without `wrk` on PATH a Python keep-alive load
loop stands in.

    python benchmarks/http.py [--habits 1000000] [--duration 10] [--connections 32]
                              [--deep-page 10000] [--no-drf] [--before DIR] [--profile DIR]
"""

from __future__ import annotations

import sys
from pathlib import Path

# The repository root replaces benchmarks/ on the path: this file must not shadow `http`.
sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

from sqlalchemy import Engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from benchmarks.common import (  # noqa: E402
    DATABASE,
    REPO_ROOT,
    machine,
    migrated_engine,
    postgres,
    role_url,
    seed,
)
from benchmarks.http_drf import (  # noqa: E402
    DEFAULT_DRF_VENV,
    drf_command,
    ensure_drf_venv,
    write_drf_site,
)
from benchmarks.http_load import Load, combine, fetch_json, load  # noqa: E402
from benchmarks.http_report import DEPTHS, describe, summary  # noqa: E402
from benchmarks.http_servers import Server, cpu_seconds, free_port, profiled, start  # noqa: E402
from habitctl.core.public import encode_cursor  # noqa: E402

BIN = Path(sys.executable).parent
FIRST = "/public/habits?limit=20"


def deep_cursor_after(engine: Engine, deep_page: int) -> tuple[int, int, int]:
    """Public habits in all, the deep page actually used, and the id its cursor points after."""
    with engine.connect() as conn:
        public = int(conn.execute(text("SELECT count(*) FROM habits WHERE is_public")).scalar_one())
        page = max(1, min(deep_page, (public - 1) // 20))
        if page == 1:
            return public, page, 0
        after = conn.execute(
            text("SELECT id FROM habits WHERE is_public ORDER BY id OFFSET :skip LIMIT 1"),
            {"skip": (page - 1) * 20 - 1},
        ).scalar_one()
    return public, page, int(after)


def habitctl_serve(name: str, api_url: str, work: Path, package_root: Path | None) -> Server:
    """`habitctl serve` on a free port; from `package_root` instead of this checkout if given."""
    port = free_port()
    env = {"HABITCTL_DATABASE_URL": api_url}
    argv = [str(BIN / "habitctl"), "serve", "--host", "127.0.0.1", "--port", str(port)]
    if package_root is not None:
        # PYTHONPATH is searched before the editable install's finder: that tree's habitctl wins.
        env["PYTHONPATH"] = str(package_root)
        argv = [str(BIN / "python"), "-c", "from habitctl.cli.app import main; main()", *argv[1:]]
    return start(name, argv, env, port, work)


def ceiling_server(api_url: str, work: Path) -> Server:
    """The asyncpg/Starlette ceiling, reading as the same role (and password) as habitctl."""
    port = free_port()
    argv = [str(BIN / "python"), "-m", "uvicorn", "benchmarks.ceiling_app:app"]
    argv += ["--port", str(port), "--no-access-log", "--log-level", "warning"]
    env = {
        "BENCH_PG_DSN": api_url.replace("postgresql+psycopg2://", "postgresql://"),
        "PYTHONPATH": str(REPO_ROOT),
    }
    return start("ceiling", argv, env, port, work)


def measure_rounds(
    targets: list[tuple[Server, str, str]], args: argparse.Namespace
) -> dict[tuple[str, str], Load]:
    """`--rounds` interleaved rounds over every target; the medians per target."""
    rounds: dict[tuple[str, str], list[Load]] = {}
    for round_no in range(1, args.rounds + 1):
        print(f"round {round_no}/{args.rounds}", flush=True)
        for server, label, query in targets:
            if server.name == "drf":
                # Fresh, warmed by one request: a wrk warm-up would leave a backlog of slow
                # requests that the single sync worker then serves during the run.
                server.restart("/public/habits")
                fetch_json(server.url(query))
            elif args.warmup > 0:
                load(server.url(query), args.warmup, args.connections)
            out = None
            if args.profile is not None and server.name == "habitctl" and round_no == 1:
                args.profile.mkdir(parents=True, exist_ok=True)
                out = args.profile / f"serve-{label.replace(' ', '-')}.txt"
            with profiled(server.proc.pid, out):
                cpu_before = cpu_seconds(server.proc.pid)
                result = load(server.url(query), args.duration, args.connections)
                cpu = cpu_seconds(server.proc.pid) - cpu_before
            result.server_cpu_ms = 1000 * cpu / result.requests if result.requests else 0.0
            rounds.setdefault((server.name, label), []).append(result)
            print(describe(server.name, label, result), flush=True)
    return {key: combine(loads) for key, loads in rounds.items()}


def print_profiles(directory: Path) -> None:
    from benchmarks.daemon import summarise_profile

    for label in DEPTHS:
        raw = directory / f"serve-{label.replace(' ', '-')}.txt"
        if raw.exists():
            print(f"\npy-spy profile of habitctl serve, {label} ({raw}):")
            print("\n".join(summarise_profile(raw)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--habits", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, help="default: habits / 10")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of load first")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds, medians")
    parser.add_argument("--deep-page", type=int, default=10_000, help="page of 20 for 'deep'")
    parser.add_argument("--no-drf", action="store_true", help="skip the DRF baseline")
    parser.add_argument("--drf-venv", type=Path, default=DEFAULT_DRF_VENV)
    parser.add_argument("--before", type=Path, help="another checkout, measured alongside")
    parser.add_argument("--profile", type=Path, help="directory for a py-spy profile")
    args = parser.parse_args(argv)
    users = args.users or max(1, args.habits // 10)

    work = Path(tempfile.mkdtemp(prefix="habitctl-bench-http-"))
    results: dict[tuple[str, str], Load] = {}
    servers: list[Server] = []
    try:
        drf_bin = None if args.no_drf else ensure_drf_venv(args.drf_venv)
        with postgres() as cluster:
            engine = migrated_engine(cluster)
            try:
                took = seed(engine, args.habits, users)
                public_count, deep_page, after = deep_cursor_after(engine, args.deep_page)
            finally:
                engine.dispose()
            print(
                f"seeded {args.habits} habits ({public_count} public), {users} users in "
                f"{took:.1f}s; deep = page {deep_page} ({machine()})"
            )
            deep_q = FIRST + (f"&cursor={encode_cursor(after)}" if after else "")

            # Every server reads as the endpoint's own role (row-level security included).
            api_url = role_url(cluster, "habitctl_api")
            habitctl = habitctl_serve("habitctl", api_url, work, None)
            ceiling = ceiling_server(api_url, work)
            servers += [habitctl, ceiling]
            if args.before is not None:
                servers.append(habitctl_serve("before", api_url, work, args.before.resolve()))
            targets = [
                (s, label, q)
                for s in servers
                for label, q in zip(DEPTHS, (FIRST, deep_q), strict=True)
            ]
            drf_labels = {"first page": "first page", "deep cursor": f"page {deep_page}"}
            if drf_bin is not None:
                port = free_port()
                site = write_drf_site(work)
                drf_env = {
                    "BENCH_PG_PORT": str(cluster.port),
                    "BENCH_PG_DB": DATABASE,
                    "BENCH_PG_USER": str(make_url(api_url).username),
                    "BENCH_PG_PASSWORD": str(make_url(api_url).password or ""),
                }
                drf = start("drf", drf_command(drf_bin, site, port), drf_env, port, work)
                servers.append(drf)
                targets += [
                    (drf, "first page", "/public/habits"),
                    (drf, f"page {deep_page}", f"/public/habits?page={deep_page}"),
                ]
            for server in servers:
                server.wait_ready(FIRST if server.name != "drf" else "/public/habits")

            # The same items from habitctl and the ceiling, at both depths.
            for query in (FIRST, deep_q):
                if fetch_json(habitctl.url(query)) != fetch_json(ceiling.url(query)):
                    raise RuntimeError(f"habitctl and the ceiling disagree on {query}")
            print("unloaded latency (median of 3 sequential requests):")
            for server, label, query in targets:
                times = []
                for _ in range(3):
                    began = time.perf_counter()
                    fetch_json(server.url(query))
                    times.append((time.perf_counter() - began) * 1000)
                print(f"  {server.name:<16} {label:<12} {statistics.median(times):9.2f} ms")
            print(
                f"load: {'wrk' if shutil.which('wrk') else 'python loop'}, "
                f"{args.connections} connections, {args.duration:g}s per target"
            )
            results = measure_rounds(targets, args)
            print(f"\nmedians over {args.rounds} round(s) ({machine()})")
            for (name, label), result in results.items():
                print(describe(name, label, result))
            if args.profile is not None:
                print_profiles(args.profile)
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)

    print("\nsummary")
    print("\n".join(summary(results, drf_labels)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
