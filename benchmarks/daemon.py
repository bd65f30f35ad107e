"""Daemon budgets (SPEC §11) on a throwaway PostgreSQL with 1,000,000 habits.

1. Idle tick: `EXPLAIN (ANALYZE, BUFFERS)` of the daemon's own claim statement (captured from
   `habitctl.services.reminders.claim_due`, `now` = the database's `now()`, LIMIT batch_size,
   FOR UPDATE SKIP LOCKED) with nothing due: an index scan on ix_habits_next_reminder_at,
   execution under 5 ms.
2. Throughput: `--due` reminders due in the same minute (distinct users), delivered by real
   `habitctl-daemon` processes to the fake Bot API with no rate limit: reminders per second
   from the first to the last sendMessage the fake recorded, each exactly once; against the
   ceiling measured right before on the same fake (`benchmarks/ceiling_daemon.py`: a bare
   aiohttp client, `--concurrency` in flight, the same number of messages): ≥ 50 % of it.
3. Rate limit: `--limited-due` reminders with send_rate_per_second = `--rate`: the achieved
   rate as a fraction of the limit (≥ 95 %), and the busiest one-second window.
2 and 3 run with one daemon and with `--replicas` daemons on the same database.
4. Button presses under load: during the single-daemon unlimited run, `--presses` presses of
   the Done button of reminders already delivered, one every PRESS_EVERY seconds while the
   rest are being sent; each from the moment the fake queued the update to the moment the
   daemon's answerCallbackQuery reached it (one monotonic clock): p95 within 1 s.

    python benchmarks/daemon.py [--habits 1000000] [--due 10000] [--replicas 3]
                                [--limited-due 900] [--rate 30] [--profile DIR]

`--profile DIR` records the single-daemon unlimited run with py-spy (if on PATH or beside the
interpreter) and prints where the daemon's time goes.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import math
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)  # the repository root, not benchmarks/

from sqlalchemy import Engine, event, func, text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from benchmarks.ceiling_daemon import Ceiling, describe, measure_ceiling  # noqa: E402
from benchmarks.common import (  # noqa: E402
    DATABASE,
    busy_cpu_seconds,
    interrupt,
    machine,
    migrated_engine,
    postgres,
    process_cpu_seconds,
    seed,
    verdict,
)
from habitctl.services.reminders import claim_due  # noqa: E402
from tests.daemon_harness import DaemonProcess, daemon_env  # noqa: E402
from tests.fakebot import JSON, FakeBotAPI  # noqa: E402


class _Captured(Exception):
    pass


def claim_statement(engine: Engine, batch_size: int) -> tuple[str, object]:
    """The SQL and parameters `claim_due` sends, with `now` being the database's now()."""
    captured: dict[str, object] = {}

    def grab(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if "FOR UPDATE" in statement:
            captured.update(sql=statement, params=parameters)
            raise _Captured

    event.listen(engine, "before_cursor_execute", grab)
    try:
        with Session(engine) as db, contextlib.suppress(_Captured):
            claim_due(db, "bench", func.now(), batch_size, timedelta(seconds=30))  # type: ignore[arg-type]
    finally:
        event.remove(engine, "before_cursor_execute", grab)
    return str(captured["sql"]), captured["params"]


def explain_idle_tick(
    engine: Engine, batch_size: int, repeats: int, role: str | None
) -> tuple[str, float, float]:
    """The plan text and the median execution and planning times (ms)."""
    sql, params = claim_statement(engine, batch_size)
    executions, plannings, plan = [], [], ""
    for _ in range(repeats):
        with engine.connect() as conn:
            if role:
                conn.exec_driver_sql(f"SET ROLE {role}")  # the daemon's own rights and policies
            rows = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + sql, params).all()  # type: ignore[arg-type]
            conn.rollback()
        plan = "\n".join(row[0] for row in rows)
        executions.append(float(re.search(r"Execution Time: ([\d.]+)", plan)[1]))  # type: ignore[index]
        plannings.append(float(re.search(r"Planning Time: ([\d.]+)", plan)[1]))  # type: ignore[index]
    return plan, statistics.median(executions), statistics.median(plannings)


@dataclass
class Delivery:
    label: str
    due: int
    replicas: int
    rate_limit: float
    sent: int
    unique: int
    seconds: float
    busiest_second: int
    rejected_429: int
    largest_gap_ms: float
    ceiling: Ceiling | None = None
    peak_rss_mb: float = 0.0  # the largest of the daemons' peak resident memory
    daemon_cpu_s: float = 0.0  # the daemons' CPU time from the habits made due to the last send
    machine_cpu_s: float = 0.0  # the whole machine's busy CPU time over the same span

    def cpu_ms_per_message(self, seconds: float) -> float:
        return 1000 * seconds / self.sent if self.sent else 0.0

    @property
    def per_second(self) -> float:
        return (self.sent - 1) / self.seconds if self.sent > 1 and self.seconds > 0 else 0.0

    @property
    def exactly_once(self) -> bool:
        return self.sent == self.unique == self.due


def make_due(engine: Engine, first_id: int, count: int) -> None:
    """`count` habits (distinct users) due a few seconds ago, all at the same instant."""
    with engine.begin() as conn:
        conn.execute(
            text(
                """
                UPDATE habits
                SET next_reminder_at = date_trunc('second', now()) - interval '5 seconds',
                    time = ((date_trunc('second', now()) - interval '5 seconds')
                            AT TIME ZONE 'UTC')::time
                WHERE id BETWEEN :first AND :last
                """
            ),
            {"first": first_id, "last": first_id + count - 1},
        )


def delivered(engine: Engine, first_id: int, count: int) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT count(*) FROM reminder_deliveries "
                    "WHERE habit_id BETWEEN :first AND :last AND status = 'sent'"
                ),
                {"first": first_id, "last": first_id + count - 1},
            ).scalar_one()
        )


def set_aside_undelivered(engine: Engine, first_id: int, count: int) -> None:
    """After a run that timed out: what is still due there waits a day, so the next run's
    daemons do not send it and count it as theirs."""
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE habits SET next_reminder_at = now() + interval '1 day' "
                "WHERE id BETWEEN :first AND :last AND next_reminder_at <= now()"
            ),
            {"first": first_id, "last": first_id + count - 1},
        )


def busiest_window(stamps: list[float]) -> int:
    """Most sends within any one-second window."""
    best, start = 0, 0
    for end, ts in enumerate(stamps):
        while ts - stamps[start] >= 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set (VmHWM) so far, in MB; 0 where /proc does not say."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    found = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
    return int(found[1]) / 1024 if found else 0.0


def find_py_spy() -> str | None:
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


def run_delivery(
    *,
    label: str,
    engine: Engine,
    url: str,
    fake: FakeBotAPI,
    logs: Path,
    first_id: int,
    due: int,
    replicas: int,
    rate: float,
    batch_size: int | None,
    profile_to: Path | None = None,
    presses: Presses | None = None,
) -> Delivery:
    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM send_slots")
    fake.reset()
    overrides = {"HABITCTL_DAEMON_SEND_RATE_PER_SECOND": str(rate)}
    if batch_size:
        overrides["HABITCTL_DAEMON_BATCH_SIZE"] = str(batch_size)
    env = daemon_env(url, fake, **overrides)
    slug = re.sub(r"[^a-z0-9]+", "-", label)
    daemons: list[DaemonProcess] = []
    spy: subprocess.Popen[bytes] | None = None
    peak = busy = spent = 0.0
    timed_out = False
    try:
        for i in range(replicas):
            daemons.append(DaemonProcess(env, logs / f"{slug}-{i}.log"))
        for daemon in daemons:
            daemon.wait_for_log("daemon ready", timeout=60)
        py_spy = find_py_spy() if profile_to is not None else None
        if py_spy and profile_to is not None:
            spy = subprocess.Popen(
                [
                    py_spy,
                    "record",
                    "--pid",
                    str(daemons[0].proc.pid),
                    "--format",
                    "raw",
                    "--rate",
                    "200",
                    "--output",
                    str(profile_to),
                    "--nonblocking",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(1.0)
        busy = busy_cpu_seconds()
        spent = sum(process_cpu_seconds(d.proc.pid) for d in daemons)
        make_due(engine, first_id, due)
        expected_s = due / rate if rate else due / 100
        deadline = time.monotonic() + max(60.0, 3 * expected_s)
        while delivered(engine, first_id, due) < due:
            if time.monotonic() > deadline:
                print(f"  {label}: timed out, {delivered(engine, first_id, due)}/{due} delivered")
                timed_out = True
                break
            if any(d.proc.poll() is not None for d in daemons):
                raise RuntimeError(f"a daemon exited early:\n{daemons[0].log()[-3000:]}")
            if presses is not None:
                presses.step()
            time.sleep(0.25)
        busy = busy_cpu_seconds() - busy
        spent = sum(process_cpu_seconds(d.proc.pid) for d in daemons) - spent
        if presses is not None:
            time.sleep(1.0)  # the last press's answer
            presses.finish()
    finally:
        peak = max((peak_rss_mb(d.proc.pid) for d in daemons), default=0.0)
        if spy is not None:
            interrupt(spy)
        for daemon in daemons:
            try:
                daemon.stop(timeout=15)
            except subprocess.TimeoutExpired:
                daemon.kill()
    if timed_out:
        set_aside_undelivered(engine, first_id, due)
    calls = fake.calls("sendMessage")
    ok = sorted((c for c in calls if c["status"] == 200), key=lambda c: c["ts"])
    stamps = [c["ts"] for c in ok]
    return Delivery(
        label=label,
        due=due,
        replicas=replicas,
        rate_limit=rate,
        sent=len(ok),
        unique=len({c["params"]["chat_id"] for c in ok}),
        seconds=stamps[-1] - stamps[0] if len(stamps) > 1 else 0.0,
        busiest_second=busiest_window(stamps),
        rejected_429=sum(1 for c in calls if c["status"] == 429),
        largest_gap_ms=1000 * max((b - a for a, b in itertools.pairwise(stamps)), default=0.0),
        peak_rss_mb=peak,
        daemon_cpu_s=spent,
        machine_cpu_s=busy,
    )


PRESS_EVERY = 0.25  # seconds between two button presses during a delivery run


@dataclass
class Presses:
    """Done pressed on delivered reminders while the others are still being sent."""

    fake: FakeBotAPI
    wanted: int
    targets: list[JSON] = field(default_factory=list)
    pushed: dict[str, float] = field(default_factory=dict)  # callback query id -> monotonic
    last: float = 0.0
    latencies: list[float] = field(default_factory=list)

    def step(self) -> None:
        """Called every quarter second of the run: one press when one is due."""
        if len(self.pushed) >= self.wanted or time.monotonic() - self.last < PRESS_EVERY:
            return
        if not self.targets:  # the first reminders delivered, read once while the list is short
            sent = [c for c in self.fake.calls("sendMessage") if c["status"] == 200]
            self.targets = sent[: self.wanted]
            if not self.targets:
                return
        message = self.targets[len(self.pushed) % len(self.targets)]
        [done] = [
            b["callback_data"]
            for row in message["params"]["reply_markup"]["inline_keyboard"]
            for b in row
            if b["text"].startswith("Done")
        ]
        spec = {
            "type": "callback",
            "chat_id": message["params"]["chat_id"],
            "message_id": message["result"]["message_id"],
            "message_text": message["params"]["text"],
            "data": done,
        }
        self.last = time.monotonic()
        [update] = self.fake.push_updates([spec])
        self.pushed[update["callback_query"]["id"]] = self.last

    def finish(self) -> None:
        answered = {
            c["params"]["callback_query_id"]: c["ts"]
            for c in self.fake.calls("answerCallbackQuery")
        }
        self.latencies = sorted(
            answered[query] - pushed if query in answered else float("inf")
            for query, pushed in self.pushed.items()
        )

    def p95(self) -> float:
        return self.latencies[max(0, math.ceil(0.95 * len(self.latencies)) - 1)]


def summarise_profile(raw: Path, top: int = 25) -> list[str]:
    """py-spy raw (collapsed) stacks: share of samples per function, inclusive and self."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [re.sub(r" \((.*/)?", " (", f) for f in stack.split(";")]
        for frame in set(frames):
            inclusive[frame] += count
        own[frames[-1]] += count
    if not total:
        return ["(no samples)"]
    lines = [f"{total} samples; inclusive share (top {top}):"]
    lines += [f"  {100 * n / total:5.1f}%  {frame}" for frame, n in inclusive.most_common(top)]
    lines.append(f"self share (top {top}):")
    lines += [f"  {100 * n / total:5.1f}%  {frame}" for frame, n in own.most_common(top)]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--habits", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, help="default: habits / 10")
    parser.add_argument("--due", type=int, default=10_000, help="reminders, no rate limit")
    parser.add_argument("--limited-due", type=int, default=900, help="reminders, rate-limited")
    parser.add_argument("--rate", type=float, default=30.0, help="send_rate_per_second")
    parser.add_argument("--replicas", type=int, default=3, help="daemons in the replica runs")
    parser.add_argument("--batch-size", type=int, help="daemon batch_size (default: product's)")
    parser.add_argument("--explain-repeats", type=int, default=20)
    parser.add_argument(
        "--concurrency", type=int, default=32, help="requests in flight for the ceiling client"
    )
    parser.add_argument("--profile", type=Path, help="directory for a py-spy profile")
    parser.add_argument("--logs", type=Path, help="keep the daemons' logs in this directory")
    parser.add_argument(
        "--presses", type=int, default=20, help="Done presses during the 1-daemon unlimited run"
    )
    args = parser.parse_args(argv)
    users = args.users or max(1, args.habits // 10)
    needed = 2 * args.due + 2 * args.limited_due
    if needed > users:
        parser.error(f"--due/--limited-due need {needed} distinct users; there are {users}")

    results: list[Delivery] = []
    presses: Presses | None = None
    with (
        tempfile.TemporaryDirectory(prefix="habitctl-bench-daemon-") as log_dir,
        postgres() as cluster,
    ):
        logs = args.logs or Path(log_dir)
        logs.mkdir(parents=True, exist_ok=True)
        engine = migrated_engine(cluster)
        url = cluster.url(DATABASE)
        try:
            took = seed(engine, args.habits, users)
            print(f"seeded {args.habits} habits, {users} users in {took:.1f}s ({machine()})")
            batch = args.batch_size or 100
            with engine.connect() as conn:
                has_role = conn.exec_driver_sql(
                    "SELECT 1 FROM pg_roles WHERE rolname = 'habitctl_daemon'"
                ).first()
            plan, execution_ms, planning_ms = explain_idle_tick(
                engine, batch, args.explain_repeats, "habitctl_daemon" if has_role else None
            )
            print("\nidle tick: EXPLAIN (ANALYZE, BUFFERS) of the claim statement")
            print("\n".join("  " + line for line in plan.splitlines()))
            index_scan = bool(re.search(r"Index Scan using ix_habits_next_reminder_at", plan))
            with FakeBotAPI() as fake:
                first = 1
                runs = [(1, args.due, 0.0), (1, args.limited_due, args.rate)]
                if args.replicas > 1:
                    runs += [
                        (args.replicas, args.due, 0.0),
                        (args.replicas, args.limited_due, args.rate),
                    ]
                for replicas, due, rate in runs:
                    label = f"{replicas} daemon{'s' if replicas > 1 else ''} " + (
                        f"limit {rate:g}/s" if rate else "no limit"
                    )
                    profile_to = None
                    if args.profile is not None and replicas == 1 and not rate:
                        args.profile.mkdir(parents=True, exist_ok=True)
                        profile_to = args.profile / "daemon-unlimited.txt"
                    # The ceiling right before each unlimited run: the same fake, the same
                    # number of messages, the machine's load of that moment.
                    ceiling = None if rate else measure_ceiling(fake, due, args.concurrency)
                    if ceiling is not None:
                        print(f"\n{describe(ceiling)}")
                    pressing = None
                    if replicas == 1 and not rate and args.presses:
                        presses = pressing = Presses(fake, args.presses)
                    result = run_delivery(
                        label=label,
                        engine=engine,
                        url=url,
                        fake=fake,
                        logs=logs,
                        first_id=first,
                        due=due,
                        replicas=replicas,
                        rate=rate,
                        batch_size=args.batch_size,
                        profile_to=profile_to,
                        presses=pressing,
                    )
                    first += due
                    result.ceiling = ceiling
                    results.append(result)
                    print(
                        f"\n{label}: {result.sent} sent ({result.unique} distinct chats) of "
                        f"{due} due in {result.seconds:.2f}s = {result.per_second:.0f}/s; "
                        f"busiest second {result.busiest_second}; 429s {result.rejected_429}; "
                        f"largest gap between sends {result.largest_gap_ms:.0f} ms; "
                        f"peak memory of a daemon {result.peak_rss_mb:.0f} MB; CPU per message: "
                        f"daemons {result.cpu_ms_per_message(result.daemon_cpu_s):.2f} ms, "
                        f"machine {result.cpu_ms_per_message(result.machine_cpu_s):.2f} ms"
                    )
                    if pressing is not None and pressing.latencies:
                        shown = ", ".join(f"{1000 * t:.0f}" for t in pressing.latencies)
                        print(f"button presses answered after (ms, sorted): {shown}")
                    if profile_to is not None:
                        if profile_to.exists():
                            print(f"\npy-spy profile of one daemon ({profile_to}):")
                            print("\n".join(summarise_profile(profile_to)))
                        else:
                            print("\n(no py-spy profile: py-spy not installed or not permitted)")
        finally:
            engine.dispose()

    print("\nsummary")
    print(f"ratio idle-tick: execution {execution_ms:.3f} ms / 5 ms = {execution_ms / 5:.3f}")
    for r in results:
        if r.rate_limit:
            print(
                f"ratio {r.label}: achieved {r.per_second:.2f}/s / limit {r.rate_limit:g}/s "
                f"= {r.per_second / r.rate_limit:.3f}"
            )
        elif r.ceiling is not None and r.ceiling.at_fake_per_second:
            ceiling_rate = r.ceiling.at_fake_per_second
            print(
                f"ratio {r.label}: {r.per_second:.0f}/s / ceiling {ceiling_rate:.0f}/s = "
                f"{r.per_second / ceiling_rate:.3f}"
            )
    if presses is not None and presses.latencies:
        print(
            f"ratio button press p95 under load: {presses.p95():.3f} s / 1 s = {presses.p95():.3f}"
        )
    scan = "Index Scan on ix_habits_next_reminder_at" if index_scan else "no index scan"
    met = "MET" if index_scan else "MISSED"
    print(f"budget idle-tick plan: measured {scan}, limit index scan, {met}")
    print(verdict("idle-tick execution", execution_ms, 5, " ms", at_most=True))
    print(
        verdict("idle-tick execution+planning", execution_ms + planning_ms, 5, " ms", at_most=True)
    )
    if presses is not None and presses.latencies:
        print(verdict("button press p95 under load", presses.p95(), 1.0, " s", at_most=True))
        print(f"  ({len(presses.latencies)} presses while 1 daemon sent {args.due:,})")
    elif presses is not None:
        print("budget button press p95 under load: measured nothing, MISSED (no press made)")
    for r in results:
        name = f"delivery {r.label}"
        if r.rate_limit:
            print(verdict(name, 100 * r.per_second / r.rate_limit, 95, "%", at_most=False))
            print(
                verdict(
                    f"busiest second {r.label}",
                    r.busiest_second,
                    r.rate_limit,
                    " sends",
                    at_most=True,
                )
            )
        elif r.ceiling is not None and r.ceiling.at_fake_per_second:
            share = 100 * r.per_second / r.ceiling.at_fake_per_second
            print(verdict(f"{name} share of ceiling", share, 50, "%", at_most=False))
        if r.peak_rss_mb and not r.rate_limit:
            print(verdict(f"memory {r.label}", r.peak_rss_mb, 150, " MB", at_most=True))
        once = "MET" if r.exactly_once else "MISSED"
        print(
            f"budget exactly-once {r.label}: measured {r.sent} sent, {r.unique} distinct, "
            f"limit {r.due}, {once}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
