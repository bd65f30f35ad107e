"""`habitctl-daemon`: the reminder loop, its start-up, signals and outage handling.

The `schedule` library only paces ticks; every due state lives in the database, so a tick
missed while the database or Telegram is away costs nothing but lateness (bounded by the
catch-up grace). Everything runs on one asyncio loop, so SIGTERM reaches every wait.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import logging
import os
import signal
import sys
from collections.abc import Coroutine
from datetime import timedelta
from pathlib import Path
from typing import IO, Any, TypeVar

import schedule
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, ProgrammingError
from telegram import Bot
from telegram.error import InvalidToken, TelegramError

from daemon import logs, notify
from daemon.pacing import DatabasePacer, MemoryPacer, Pacer
from daemon.telegram import FatalTelegramError, make_bot
from daemon.updates import UpdatePoller
from daemon.worker import Worker
from habitctl.config import Settings, load_settings
from habitctl.errors import HabitctlError, SchemaBehind, StorageError
from habitctl.services import telegram_links
from habitctl.storage.engine import (
    SCHEMA_REVISION,
    current_revision,
    ensure_schema,
    make_engine,
    make_sessionmaker,
    transaction,
)

log = logging.getLogger("habitctl.daemon")
T = TypeVar("T")

EXIT_OK, EXIT_FAILURE, EXIT_CONFIG, EXIT_CONFLICT, EXIT_STORAGE = 0, 1, 3, 6, 7
MAX_BACKOFF = 30.0  # between attempts to reach Telegram at start-up
# A reconnection attempt costs one refused connect; a longer wait only makes every
# reminder due during an outage later once the database is back.
DB_MAX_BACKOFF = 10.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="habitctl-daemon", description="Send habitctl reminders through Telegram."
    )
    parser.add_argument("--config", type=Path, help="config file (TOML)")
    parser.add_argument("--once", action="store_true", help="run a single tick and exit")
    parser.add_argument(
        "--check",
        action="store_true",
        help="exit 0 when the database is reachable and its schema current",
    )
    parser.add_argument("--log-format", choices=["text", "json"], default="text")
    return parser.parse_args(argv)


def check(engine: Engine) -> int:
    try:
        revision = current_revision(engine)
    except StorageError as exc:
        print(f"unhealthy: {exc.message}", file=sys.stderr)
        return EXIT_STORAGE
    if revision != SCHEMA_REVISION:
        print(
            f"unhealthy: schema at {revision}, needs {SCHEMA_REVISION}: run `habitctl db upgrade`",
            file=sys.stderr,
        )
        return EXIT_STORAGE
    print("ok")
    return EXIT_OK


def lock_sqlite(url: str) -> IO[str] | None:
    """One daemon per SQLite file: an exclusive lock beside it, held for the process's life."""
    database = make_url(url).database
    if make_url(url).get_backend_name() != "sqlite" or not database:
        return None
    handle = open(f"{database}.daemon.lock", "w")  # noqa: SIM115 - held until exit
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise
    return handle


class Daemon:
    def __init__(self, settings: Settings, args: argparse.Namespace) -> None:
        self.settings = settings
        self.args = args
        self.loop = asyncio.new_event_loop()
        self.stopping = asyncio.Event()
        self.exit_code = EXIT_OK
        self.engine = make_engine(settings.database_url)
        self.factory = make_sessionmaker(self.engine)
        self.db_failures = 0
        self.db_resume_at = 0.0
        daemon_settings = settings.daemon
        self.bot: Bot = make_bot(
            settings.telegram.bot_token.get_secret_value(),
            settings.telegram.api_base_url,
            # Enough for a batch in flight; httpcore scans the whole pool on every request.
            connections=min(32, daemon_settings.batch_size),
        )
        pacer: Pacer = (
            DatabasePacer(self.engine, daemon_settings.send_rate_per_second)
            if self.engine.dialect.name == "postgresql"
            else MemoryPacer(daemon_settings.send_rate_per_second)
        )
        self.poller = UpdatePoller(self.factory, self.bot)
        self.worker = Worker(
            factory=self.factory,
            bot=self.bot,
            pacer=pacer,
            batch_size=daemon_settings.batch_size,
            grace=timedelta(minutes=daemon_settings.catch_up_grace_minutes),
            stopping=self.stopping,
            poller=self.poller,
        )

    def run_async(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coroutine)

    async def pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), timeout=max(0.0, seconds))

    def stop(self, signum: int) -> None:
        log.info("stopping: finishing the message in flight", extra={"signal": signum})
        self.stopping.set()

    async def wait_for_database(self, *, forever: bool) -> bool:
        """Until the database answers with a current schema; False if stopped first."""
        delay = 1.0
        while not self.stopping.is_set():
            try:
                ensure_schema(self.engine, auto_migrate=False)
                return True
            except SchemaBehind:
                raise
            except StorageError as exc:
                if not forever:
                    raise
                log.warning(
                    "database unavailable, retrying",
                    extra={"reason": exc.message, "retry_in_s": delay},
                )
            await self.pause(delay)
            delay = min(DB_MAX_BACKOFF, delay * 2)
        return False

    async def connect_bot(self, *, forever: bool) -> bool:
        delay = 1.0
        while not self.stopping.is_set():
            try:
                await self.bot.initialize()
                me = self.bot.username
                with transaction(self.factory) as db:
                    telegram_links.remember_bot_username(db, me)
                log.info("connected to Telegram", extra={"bot": me})
                return True
            except InvalidToken as exc:
                raise FatalTelegramError("Telegram refused the bot token") from exc
            except TelegramError as exc:
                if not forever:
                    raise
                log.warning(
                    "Telegram unavailable, retrying",
                    extra={"reason": str(exc), "retry_in_s": delay},
                )
            await self.pause(delay)
            delay = min(MAX_BACKOFF, delay * 2)
        return False

    async def guarded_tick(self) -> None:
        """One tick; database trouble is logged and backed off, never fatal."""
        if self.loop.time() < self.db_resume_at:
            return
        try:
            report = await self.worker.tick()
        except ProgrammingError as exc:
            # A missing grant or a schema this daemon does not know: waiting will not fix it,
            # so exit non-zero and let the supervisor (and the operator) see it.
            log.error(
                "the database refuses the daemon's queries: check `habitctl db roles` and "
                "`habitctl db upgrade`",
                extra={"reason": str(exc.orig).splitlines()[0]},
            )
            self.exit_code = EXIT_STORAGE
            self.stopping.set()
            return
        except (StorageError, DBAPIError) as exc:
            self.poller.release()
            self.db_failures += 1
            delay = min(DB_MAX_BACKOFF, 2.0 ** (self.db_failures - 1))
            self.db_resume_at = self.loop.time() + delay
            reason = exc.message if isinstance(exc, StorageError) else str(exc.orig)
            log.warning(
                "database unavailable, retrying",
                extra={"reason": reason.splitlines()[0], "retry_in_s": delay},
            )
            return
        if self.db_failures:
            log.info("database is back")
            self.db_failures = 0
        if report.claimed:
            log.info("tick", extra=vars(report))

    def tick_job(self) -> None:
        self.run_async(self.guarded_tick())
        notify.notify("WATCHDOG=1")

    def serve(self) -> int:
        for signum in (signal.SIGTERM, signal.SIGINT):
            self.loop.add_signal_handler(signum, self.stop, signum)
        once = self.args.once
        if not self.run_async(self.wait_for_database(forever=not once)):
            return EXIT_OK
        if not self.run_async(self.connect_bot(forever=not once)):
            return EXIT_OK
        notify.notify("READY=1")
        log.info(
            "daemon ready", extra={"poll_interval_s": self.settings.daemon.poll_interval_seconds}
        )
        if once:
            self.run_async(self.worker.tick())
            return EXIT_OK
        interval = self.settings.daemon.poll_interval_seconds
        schedule.every(interval).seconds.do(self.tick_job)  # type: ignore[arg-type]  # floats work
        self.tick_job()
        watchdog = notify.watchdog_interval()
        while not self.stopping.is_set():
            schedule.run_pending()
            idle = schedule.idle_seconds() or 0.0
            if watchdog is not None:
                idle = min(idle, watchdog)
                notify.notify("WATCHDOG=1")
            self.run_async(self.pause(idle))
        return self.exit_code

    def close(self) -> None:
        notify.notify("STOPPING=1")
        schedule.clear()
        with contextlib.suppress(TelegramError):
            self.run_async(self.bot.shutdown())
        self.poller.release()
        self.engine.dispose()
        self.loop.close()


def run(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(args.config)
    except HabitctlError as exc:
        print(f"Error: {exc.message}", file=sys.stderr)
        return EXIT_CONFIG
    token = settings.telegram.bot_token.get_secret_value()
    logs.configure(args.log_format, [token])
    if args.check:
        return check(make_engine(settings.database_url))
    if not token:
        log.error("no bot token: set HABITCTL_TELEGRAM_BOT_TOKEN or [telegram] bot_token")
        return EXIT_CONFIG
    try:
        lock = lock_sqlite(settings.database_url)
    except BlockingIOError:
        log.error(
            "another habitctl-daemon already serves this SQLite database; "
            "run one daemon per SQLite file (or share PostgreSQL)"
        )
        return EXIT_CONFLICT
    daemon = Daemon(settings, args)
    try:
        return daemon.serve()
    except StorageError as exc:  # SchemaBehind included
        log.error(exc.message)
        return EXIT_STORAGE
    except TelegramError as exc:  # only `--once` gives up on an unreachable Telegram
        log.error("Telegram is unreachable", extra={"reason": str(exc)})
        return EXIT_FAILURE
    except FatalTelegramError as exc:
        log.error(f"{exc}: check [telegram] bot_token")
        return EXIT_CONFIG
    finally:
        daemon.close()
        if lock is not None:
            lock.close()


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("PTB_TIMEDELTA", "1")
    sys.exit(run(parse_args(argv)))
