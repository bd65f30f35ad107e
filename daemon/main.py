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
import secrets
import signal
import socket
import sys
from collections.abc import Coroutine
from datetime import timedelta
from pathlib import Path
from typing import IO, Any, TypeVar

import schedule
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, ProgrammingError
from telegram.error import InvalidToken, TelegramError

from daemon import logs, notify
from daemon.buttons import ReminderButtons
from daemon.chat import ChatHandlers
from daemon.pacing import DatabaseSlots, MemorySlots, Pacer, SlotStore
from daemon.recorder import Recorder
from daemon.telegram import FatalTelegramError, RawBot, make_bot
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


def replica_name() -> str:
    """This process's name on its leases: readable (host, pid) and unique (a random tail)."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(4)}"


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
        self.replica = replica_name()
        daemon_settings = settings.daemon
        token = settings.telegram.bot_token.get_secret_value()
        self.bot: RawBot = make_bot(
            token,
            settings.telegram.api_base_url,
            # Enough for a batch in flight (aiohttp's pool: daemon/transport.py).
            connections=min(32, daemon_settings.batch_size),
        )
        # Chat answers (a press, a command) on connections of their own: never queued behind
        # the reminders being sent.
        self.chat_bot: RawBot = make_bot(token, settings.telegram.api_base_url, connections=4)
        shared = self.engine.dialect.name == "postgresql"
        slots: SlotStore = DatabaseSlots(self.engine) if shared else MemorySlots()
        self.buttons = ReminderButtons()  # one signing key for the sends and the presses
        self.chat = ChatHandlers(
            self.factory,
            self.chat_bot,
            self.buttons,
            snooze=timedelta(minutes=daemon_settings.snooze_minutes),
        )
        self.poller = UpdatePoller(self.factory, self.chat_bot, self.chat)
        self.worker = Worker(
            factory=self.factory,
            bot=self.bot,
            pacer=Pacer(slots, daemon_settings.send_rate_per_second),
            recorder=Recorder(self.factory, self.replica),
            replica=self.replica,
            batch_size=daemon_settings.batch_size,
            grace=timedelta(minutes=daemon_settings.catch_up_grace_minutes),
            lease=timedelta(seconds=daemon_settings.lease_seconds),
            stopping=self.stopping,
            buttons=self.buttons,
        )
        self.tick_due = True
        self.background: list[asyncio.Task[None]] = []

    def run_async(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coroutine)

    async def pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), timeout=max(0.0, seconds))

    async def unless_stopped(self, coroutine: Coroutine[Any, Any, T]) -> T | None:
        """Await `coroutine`, cancelling it if a stop is asked first (a hung call)."""
        task = asyncio.ensure_future(coroutine)
        stop = asyncio.ensure_future(self.stopping.wait())
        await asyncio.wait([task, stop], return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        if task.done():
            return task.result()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        return None

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

    async def initialize_bots(self) -> None:
        await asyncio.gather(self.bot.initialize(), self.chat_bot.initialize())

    async def connect_bot(self, *, forever: bool) -> bool:
        delay = 1.0
        while not self.stopping.is_set():
            try:
                await self.unless_stopped(self.initialize_bots())
                if self.stopping.is_set():
                    return False
                me = self.bot.username
                # IntegrityError: another replica stored the same name a moment before.
                with contextlib.suppress(IntegrityError), transaction(self.factory) as db:
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
            except StorageError as exc:  # the database went away just after it answered
                if not forever:
                    raise
                log.warning(
                    "database unavailable, retrying",
                    extra={"reason": exc.message, "retry_in_s": delay},
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
            self.db_failures += 1
            delay = min(DB_MAX_BACKOFF, 2.0 ** (self.db_failures - 1))
            self.db_resume_at = self.loop.time() + delay
            reason = exc.message if isinstance(exc, StorageError) else str(exc.orig)
            log.warning(
                "database unavailable, retrying",
                extra={"reason": reason.splitlines()[0], "retry_in_s": delay},
            )
            return
        except Exception as exc:  # a bug: logged as one line, backed off, never a crash loop
            self.db_resume_at = self.loop.time() + DB_MAX_BACKOFF
            log.error("tick failed", extra={"reason": f"{type(exc).__name__}: {exc}"[:300]})
            return
        if self.db_failures:
            log.info("database is back")
            self.db_failures = 0
        if report.claimed:
            log.info("tick", extra=vars(report))

    async def heartbeat(self) -> None:
        """Extend this replica's leases while it works on them, and tell systemd it lives."""
        every = self.settings.daemon.lease_seconds / 3
        watchdog = notify.watchdog_interval()
        if watchdog is not None:
            every = min(every, watchdog)
        while True:
            await asyncio.sleep(every)
            notify.notify("WATCHDOG=1")
            try:
                await asyncio.to_thread(self.worker.heartbeat)
            except Exception as exc:  # the leases may run out: then the habits are due again
                log.warning("could not extend leases", extra={"reason": str(exc)[:200]})

    async def recorder(self) -> None:
        try:
            await self.worker.recorder.run()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("the recorder failed")
            self.exit_code = EXIT_FAILURE
            self.stopping.set()

    def request_tick(self) -> None:
        self.tick_due = True

    async def serve_async(self) -> int:
        once = self.args.once
        if not await self.wait_for_database(forever=not once):
            return EXIT_OK
        if not await self.connect_bot(forever=not once):
            return EXIT_OK
        await self.unless_stopped(self.chat.register_commands())
        notify.notify("READY=1")
        log.info(
            "daemon ready", extra={"poll_interval_s": self.settings.daemon.poll_interval_seconds}
        )
        self.background = [
            asyncio.ensure_future(self.recorder()),
            asyncio.ensure_future(self.heartbeat()),
        ]
        if once:
            if self.poller.elect():
                await self.poller.poll_once(timeout=0)
            await self.worker.tick()
            return self.exit_code
        self.background.append(asyncio.ensure_future(self.poller.run(self.stopping)))
        interval = self.settings.daemon.poll_interval_seconds
        schedule.every(interval).seconds.do(self.request_tick)  # type: ignore[arg-type]
        while not self.stopping.is_set():
            schedule.run_pending()
            if self.tick_due:
                self.tick_due = False
                await self.guarded_tick()
                notify.notify("WATCHDOG=1")
                continue
            await self.pause(schedule.idle_seconds() or 0.0)
        return self.exit_code

    async def shut_down(self) -> None:
        """Within the stop deadline whatever Telegram does: confirm updates, close up."""
        for task in self.background:
            task.cancel()
        await asyncio.gather(*self.background, return_exceptions=True)
        self.worker.recorder.flush()
        await self.poller.confirm()
        with contextlib.suppress(TelegramError, TimeoutError):
            await asyncio.wait_for(
                asyncio.gather(self.bot.shutdown(), self.chat_bot.shutdown()), 1.0
            )

    def on_loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """A task failed where nobody awaited it: one log line, not a traceback."""
        error = context.get("exception")
        reason = f"{type(error).__name__}: {error}" if error else str(context.get("message"))
        log.error("unexpected error in a background task", extra={"reason": reason[:300]})

    def serve(self) -> int:
        for signum in (signal.SIGTERM, signal.SIGINT):
            self.loop.add_signal_handler(signum, self.stop, signum)
        self.loop.set_exception_handler(self.on_loop_error)
        try:
            return self.run_async(self.serve_async())
        finally:
            self.run_async(self.shut_down())

    def close(self) -> None:
        notify.notify("STOPPING=1")
        schedule.clear()
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
    except Exception:  # a bug: one log line (JSON with --log-format json), exit 1
        log.exception("unexpected error: the daemon stops")
        return EXIT_FAILURE
    finally:
        daemon.close()
        if lock is not None:
            lock.close()


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("PTB_TIMEDELTA", "1")
    code = run(parse_args(argv))
    # Everything is written and closed by now. The interpreter's own teardown (collecting
    # python-telegram-bot's, httpx's and SQLAlchemy's objects, joining idle worker threads)
    # adds nothing and took seconds on a loaded host: the stop deadline is ours to keep.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
