"""HTTP budget (SPEC §11): `GET /public/habits?limit=20` of `habitctl serve` on 1,000,000 habits.

One throwaway PostgreSQL, one data set (about 30 % public), three servers measured in the
same run, one after the other, with `wrk -c32 -t2 --latency`:

* habitctl: `habitctl serve` (FastAPI on uvicorn, one process), first page and a deep cursor
  (the page after the first `--deep-page` × 20 public habits);
* ceiling: a bare Starlette route with the same keyset query on an asyncpg pool
  (`benchmarks/ceiling_app.py`), uvicorn, one process;
* DRF: the course project's stack, a Django REST Framework `ListAPIView` with
  `PageNumberPagination` over unmanaged models of the same tables, gunicorn with as many
  workers as `habitctl serve` has processes (one), first page and page `--deep-page`. Django
  lives in its own virtualenv (`--drf-venv`, created on first use), never in the project's.

Budget: habitctl at least 50 % of the ceiling's requests/s at the first page and at the deep
cursor, p99 under 50 ms. Without `wrk` on PATH a Python keep-alive load loop stands in.

    python benchmarks/http.py [--habits 1000000] [--duration 10] [--connections 32]
                              [--deep-page 10000] [--no-drf] [--profile DIR]
"""

from __future__ import annotations

import sys
from pathlib import Path

# The repository root replaces benchmarks/ on the path: this file must not shadow `http`.
sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse  # noqa: E402
import contextlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from http.client import HTTPConnection  # noqa: E402
from urllib.parse import urlsplit  # noqa: E402

from sqlalchemy import text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from benchmarks.common import (  # noqa: E402
    DATABASE,
    REPO_ROOT,
    interrupt,
    machine,
    migrated_engine,
    postgres,
    role_url,
    seed,
    verdict,
)
from habitctl.core.public import encode_cursor  # noqa: E402

BIN = Path(sys.executable).parent
DEFAULT_DRF_VENV = REPO_ROOT / "benchmarks" / ".venv-drf"
DRF_PACKAGES = ["django>=5,<6", "djangorestframework>=3.15", "gunicorn>=22", "psycopg2-binary"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ------------------------------------------------------------------------------ servers
@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    port: int
    log: Path
    argv: list[str]
    env: dict[str, str]

    def restart(self, ready_path: str) -> None:
        """A fresh process: a slow server's backlog from the previous run must not count."""
        self.stop()
        with self.log.open("ab") as handle:
            self.proc = subprocess.Popen(
                self.argv,
                env={**os.environ, **self.env},
                stdout=handle,
                stderr=subprocess.STDOUT,
                cwd=self.log.parent,
            )
        self.wait_ready(ready_path)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def wait_ready(self, path: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.log.read_text()[-3000:]}")
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(self.url(path), timeout=30) as resp,
            ):
                if resp.status == 200:
                    return
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not answer:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def start(name: str, argv: list[str], env: dict[str, str], port: int, work: Path) -> Server:
    log = work / f"{name}.log"
    with log.open("wb") as handle:
        proc = subprocess.Popen(
            argv, env={**os.environ, **env}, stdout=handle, stderr=subprocess.STDOUT, cwd=work
        )
    return Server(name, proc, port, log, argv, env)


DRF_MODELS = """
from django.db import models


class Owner(models.Model):
    username = models.CharField(max_length=32)
    timezone = models.CharField(max_length=64)

    class Meta:
        managed = False
        db_table = "users"


class Habit(models.Model):
    user = models.ForeignKey(Owner, on_delete=models.DO_NOTHING, db_column="user_id")
    action = models.CharField(max_length=255)
    place = models.CharField(max_length=255)
    time = models.TimeField()
    periodicity_days = models.IntegerField()
    duration_seconds = models.IntegerField()
    is_pleasant = models.BooleanField()
    reward = models.CharField(max_length=255, null=True)
    linked_habit = models.ForeignKey(
        "self", on_delete=models.DO_NOTHING, null=True, db_column="linked_habit_id"
    )
    is_public = models.BooleanField()

    class Meta:
        managed = False
        db_table = "habits"
"""

DRF_SITE = """
import os

import django
from django.conf import settings

settings.configure(
    DEBUG=False,
    SECRET_KEY="benchmark-only",
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF="drfsite",
    INSTALLED_APPS=[
        "django.contrib.contenttypes", "django.contrib.auth", "rest_framework", "benchapp",
    ],
    MIDDLEWARE=[],
    DATABASES={"default": {
        "ENGINE": "django.db.backends.postgresql",
        "HOST": "127.0.0.1", "PORT": os.environ["BENCH_PG_PORT"],
        "NAME": os.environ["BENCH_PG_DB"], "USER": os.environ["BENCH_PG_USER"],
        "CONN_MAX_AGE": None,
    }},
    USE_TZ=True,
    REST_FRAMEWORK={
        "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
        "DEFAULT_AUTHENTICATION_CLASSES": [],
        "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
        "UNAUTHENTICATED_USER": None,
        "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
        "PAGE_SIZE": 20,
    },
)
django.setup()

from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.urls import path  # noqa: E402
from rest_framework import generics, serializers  # noqa: E402

from benchapp.models import Habit  # noqa: E402


class HabitSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="user.username")
    timezone = serializers.CharField(source="user.timezone")
    time = serializers.TimeField(format="%H:%M")

    class Meta:
        model = Habit
        fields = [
            "id", "owner", "action", "place", "time", "timezone", "periodicity_days",
            "duration_seconds", "is_pleasant", "reward", "linked_habit",
        ]


class PublicHabits(generics.ListAPIView):
    serializer_class = HabitSerializer
    queryset = Habit.objects.filter(is_public=True).select_related("user").order_by("id")


urlpatterns = [path("public/habits", PublicHabits.as_view())]
application = get_wsgi_application()
"""


def ensure_drf_venv(venv: Path) -> Path:
    """The DRF virtualenv's bin directory, created with pip on first use."""
    bin_dir = venv / "bin"
    if not (bin_dir / "gunicorn").exists():
        print(f"creating {venv} (django, djangorestframework, gunicorn)…", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(bin_dir / "python"), "-m", "pip", "install", "-q", *DRF_PACKAGES], check=True
        )
    return bin_dir


def write_drf_site(work: Path) -> Path:
    site = work / "drf"
    (site / "benchapp").mkdir(parents=True, exist_ok=True)
    (site / "benchapp" / "__init__.py").write_text("")
    (site / "benchapp" / "models.py").write_text(DRF_MODELS)
    (site / "drfsite.py").write_text(DRF_SITE)
    return site


# --------------------------------------------------------------------------------- load
@dataclass
class Load:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    tool: str


def _wrk_ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def run_wrk(url: str, seconds: float, connections: int, threads: int) -> Load:
    duration = f"{max(1, round(seconds))}s"
    out = subprocess.run(
        [
            "wrk",
            f"-c{connections}",
            f"-t{threads}",
            f"-d{duration}",
            "--timeout",
            "30s",
            "--latency",
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])  # type: ignore[index]
    total = int(re.search(r"(\d+) requests in", out)[1])  # type: ignore[index]
    p50 = _wrk_ms(re.search(r"\s50%\s+([\d.]+\w+)", out)[1])  # type: ignore[index]
    p99 = _wrk_ms(re.search(r"\s99%\s+([\d.]+\w+)", out)[1])  # type: ignore[index]
    errors = 0
    if found := re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        errors += int(found[1])
    if found := re.search(r"Socket errors: (.*)", out):
        errors += sum(int(n) for n in re.findall(r"\d+", found[1]))
    return Load(rps, p50, p99, total, errors, "wrk")


def run_python_load(url: str, seconds: float, connections: int) -> Load:
    """Keep-alive GET loop in threads: a stand-in for wrk where it is not installed."""
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def worker() -> None:
        conn = HTTPConnection(parts.hostname, parts.port, timeout=30)
        mine: list[float] = []
        bad = 0
        while time.monotonic() < stop_at:
            start = time.perf_counter()
            try:
                conn.request("GET", target)
                resp = conn.getresponse()
                resp.read()
                if resp.status != 200:
                    bad += 1
            except OSError:
                bad += 1
                conn.close()
                conn = HTTPConnection(parts.hostname, parts.port, timeout=30)
                continue
            mine.append(time.perf_counter() - start)
        conn.close()
        with lock:
            latencies.extend(mine)
            errors[0] += bad

    began = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began
    latencies.sort()
    if not latencies:
        return Load(0.0, 0.0, 0.0, 0, errors[0], "python")
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] * 1000
    return Load(len(latencies) / elapsed, p50, p99, len(latencies), errors[0], "python")


def load(url: str, seconds: float, connections: int) -> Load:
    if shutil.which("wrk"):
        return run_wrk(url, seconds, connections, threads=2)
    return run_python_load(url, seconds, connections)


def combine(loads: list[Load]) -> Load:
    """Medians of several runs of one target (requests and errors summed)."""
    return Load(
        statistics.median(x.requests_per_s for x in loads),
        statistics.median(x.p50_ms for x in loads),
        statistics.median(x.p99_ms for x in loads),
        sum(x.requests for x in loads),
        sum(x.errors for x in loads),
        loads[0].tool,
    )


def fetch_json(url: str) -> object:
    with urllib.request.urlopen(url, timeout=300) as resp:
        return json.loads(resp.read())


# --------------------------------------------------------------------------------- main
@contextlib.contextmanager
def profiled(pid: int, out: Path | None) -> Iterator[None]:
    """py-spy record of `pid` while the block runs (when asked and available)."""
    py_spy = Path(sys.executable).with_name("py-spy")
    tool = str(py_spy) if py_spy.exists() else shutil.which("py-spy")
    if out is None or tool is None:
        yield
        return
    spy = subprocess.Popen(
        [
            tool,
            "record",
            "--pid",
            str(pid),
            "--format",
            "raw",
            "--rate",
            "200",
            "--output",
            str(out),
            "--nonblocking",
            "--gil",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1.0)
    try:
        yield
    finally:
        interrupt(spy)


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
                with engine.connect() as conn:
                    public = conn.execute(text("SELECT count(*) FROM habits WHERE is_public"))
                    public_count = int(public.scalar_one())
                    deep_page = max(1, min(args.deep_page, (public_count - 1) // 20))
                    after = (
                        conn.execute(
                            text(
                                "SELECT id FROM habits WHERE is_public ORDER BY id "
                                "OFFSET :skip LIMIT 1"
                            ),
                            {"skip": (deep_page - 1) * 20 - 1},
                        ).scalar_one()
                        if deep_page > 1
                        else 0
                    )
            finally:
                engine.dispose()
            print(
                f"seeded {args.habits} habits ({public_count} public), {users} users in "
                f"{took:.1f}s; deep = page {deep_page} ({machine()})"
            )
            deep_cursor = encode_cursor(after) if after else None
            first_q = "/public/habits?limit=20"
            deep_q = first_q + (f"&cursor={deep_cursor}" if deep_cursor else "")

            # Every server reads as the endpoint's own role (row-level security included).
            api_url = role_url(cluster, "habitctl_api")
            api_user = make_url(api_url).username
            habitctl_port, ceiling_port, drf_port = free_port(), free_port(), free_port()
            habitctl = start(
                "habitctl",
                [
                    str(BIN / "habitctl"),
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(habitctl_port),
                ],
                {"HABITCTL_DATABASE_URL": api_url},
                habitctl_port,
                work,
            )
            servers.append(habitctl)
            ceiling = start(
                "ceiling",
                [
                    str(BIN / "python"),
                    "-m",
                    "uvicorn",
                    "benchmarks.ceiling_app:app",
                    "--port",
                    str(ceiling_port),
                    "--no-access-log",
                    "--log-level",
                    "warning",
                ],
                {
                    "BENCH_PG_DSN": cluster.url(DATABASE, user=api_user).replace(
                        "postgresql+psycopg2://", "postgresql://"
                    ),
                    "PYTHONPATH": str(REPO_ROOT),
                },
                ceiling_port,
                work,
            )
            servers.append(ceiling)
            targets: list[tuple[Server, str, str]] = [
                (ceiling, "first page", first_q),
                (ceiling, "deep cursor", deep_q),
                (habitctl, "first page", first_q),
                (habitctl, "deep cursor", deep_q),
            ]
            if drf_bin is not None:
                site = write_drf_site(work)
                drf = start(
                    "drf",
                    [
                        str(drf_bin / "gunicorn"),
                        "--workers",
                        "1",
                        "--bind",
                        f"127.0.0.1:{drf_port}",
                        "--chdir",
                        str(site),
                        "--timeout",
                        "120",
                        "--log-level",
                        "warning",
                        "drfsite:application",
                    ],
                    {
                        "BENCH_PG_PORT": str(cluster.port),
                        "BENCH_PG_DB": DATABASE,
                        "BENCH_PG_USER": str(api_user),
                    },
                    drf_port,
                    work,
                )
                servers.append(drf)
                targets += [
                    (drf, "first page", "/public/habits"),
                    (drf, f"page {deep_page}", f"/public/habits?page={deep_page}"),
                ]
            for server in servers:
                server.wait_ready(first_q if server.name != "drf" else "/public/habits")

            # The same items from habitctl and the ceiling, at both depths.
            for query in (first_q, deep_q):
                ours = fetch_json(habitctl.url(query))
                theirs = fetch_json(ceiling.url(query))
                if ours != theirs:
                    raise RuntimeError(f"habitctl and the ceiling disagree on {query}")
            print("unloaded latency (median of 3 sequential requests):")
            for server, label, query in targets:
                times = []
                for _ in range(3):
                    began = time.perf_counter()
                    fetch_json(server.url(query))
                    times.append((time.perf_counter() - began) * 1000)
                print(f"  {server.name:<9} {label:<12} {statistics.median(times):9.2f} ms")
            print(
                f"load: {'wrk' if shutil.which('wrk') else 'python loop'}, "
                f"{args.connections} connections, {args.duration:g}s per target"
            )
            rounds: dict[tuple[str, str], list[Load]] = {}
            for round_no in range(1, args.rounds + 1):
                print(f"round {round_no}/{args.rounds}", flush=True)
                for server, label, query in targets:
                    if server.name == "drf":
                        # Fresh, warmed by one request: a wrk warm-up would leave a backlog of
                        # slow requests that the single sync worker then serves during the run.
                        server.restart("/public/habits")
                        fetch_json(server.url(query))
                    elif args.warmup > 0:
                        load(server.url(query), args.warmup, args.connections)
                    out = None
                    if args.profile is not None and server is habitctl and round_no == 1:
                        args.profile.mkdir(parents=True, exist_ok=True)
                        out = args.profile / f"serve-{label.replace(' ', '-')}.txt"
                    with profiled(server.proc.pid, out):
                        result = load(server.url(query), args.duration, args.connections)
                    rounds.setdefault((server.name, label), []).append(result)
                    print(
                        f"  {server.name:<9} {label:<12} {result.requests_per_s:9.1f} req/s  "
                        f"p50 {result.p50_ms:8.2f} ms  p99 {result.p99_ms:8.2f} ms  "
                        f"({result.requests} requests, {result.errors} errors)",
                        flush=True,
                    )
            results.update({key: combine(loads) for key, loads in rounds.items()})
            print(f"\nmedians over {args.rounds} round(s)")
            for (name, label), result in results.items():
                print(
                    f"  {name:<9} {label:<12} {result.requests_per_s:9.1f} req/s  "
                    f"p50 {result.p50_ms:8.2f} ms  p99 {result.p99_ms:8.2f} ms  "
                    f"({result.requests} requests, {result.errors} errors)"
                )
            if args.profile is not None:
                from benchmarks.daemon import summarise_profile

                for label in ("first page", "deep cursor"):
                    raw = args.profile / f"serve-{label.replace(' ', '-')}.txt"
                    if raw.exists():
                        print(f"\npy-spy profile of habitctl serve, {label} ({raw}):")
                        print("\n".join(summarise_profile(raw)))
            for server in servers:
                server.stop()
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)

    print("\nsummary")
    for label in ("first page", "deep cursor"):
        ours, ceiling_load = results[("habitctl", label)], results[("ceiling", label)]
        print(
            f"ratio habitctl/ceiling {label}: {ours.requests_per_s:.1f} / "
            f"{ceiling_load.requests_per_s:.1f} req/s = "
            f"{ours.requests_per_s / ceiling_load.requests_per_s:.3f}"
        )
        drf_label = "first page" if label == "first page" else f"page {deep_page}"
        if ("drf", drf_label) in results and results[("drf", drf_label)].requests_per_s:
            drf_load = results[("drf", drf_label)]
            print(
                f"ratio habitctl/drf {label} (drf {drf_label}): "
                f"{ours.requests_per_s / drf_load.requests_per_s:.1f}x"
            )
    for label in ("first page", "deep cursor"):
        ours, ceiling_load = results[("habitctl", label)], results[("ceiling", label)]
        share = 100 * ours.requests_per_s / ceiling_load.requests_per_s
        print(verdict(f"http {label} share of ceiling", share, 50, "%", at_most=False))
        print(verdict(f"http {label} p99", ours.p99_ms, 50, " ms", at_most=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
