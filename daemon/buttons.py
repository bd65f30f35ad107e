"""The daemon's side of the reminder buttons: the signing key, the keyboards, the streaks.

The key lives in the database (`app_secrets`, readable by the daemon's role alone), so
every replica signs and checks alike; it is read once, inside a transaction the caller
already holds (a claim, a press), and kept.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import date, datetime

from sqlalchemy.orm import Session, sessionmaker

from daemon.telegram import keyboard_json
from habitctl.core.reminder_text import (
    DONE,
    LATER,
    SKIP,
    Press,
    button_data,
    with_streak,
)
from habitctl.services.reminder_buttons import button_key
from habitctl.services.reminder_streaks import current_streaks
from habitctl.services.reminders import DueReminder
from habitctl.storage.engine import transaction

log = logging.getLogger("habitctl.daemon")

DONE_LABEL, LATER_LABEL, SKIP_LABEL = "Done ✅", "Later ⏰", "Skip"


class ReminderButtons:
    def __init__(self) -> None:
        self._key: bytes | None = None

    def load(self, db: Session) -> bytes:
        if self._key is None:
            self._key = button_key(db)
        return self._key

    @property
    def key(self) -> bytes:
        assert self._key is not None, "load() the key inside a transaction first"
        return self._key

    def row(
        self,
        chat_id: int,
        habit_id: int,
        day: date,
        occurrence: datetime,
        *,
        later: bool,
        from_today: bool = False,
        done_label: str = DONE_LABEL,
    ) -> list[tuple[str, str]]:
        """Done, Later (unless used already) and Skip for one habit's occurrence."""
        kinds = [(done_label, DONE), (LATER_LABEL, LATER), (SKIP_LABEL, SKIP)]
        return [
            (
                label,
                button_data(self.key, chat_id, Press(kind, habit_id, day, occurrence, from_today)),
            )
            for label, kind in kinds
            if later or kind != LATER
        ]

    def for_reminder(self, reminder: DueReminder) -> str:
        """The reminder's keyboard, serialized for `send_reminder`."""
        assert reminder.chat_id is not None
        return keyboard_json(
            [
                self.row(
                    reminder.chat_id,
                    reminder.habit_id,
                    reminder.local_day,
                    reminder.occurrence,
                    later=reminder.snooze == 0,  # "Later" once per occurrence
                )
            ]
        )


def name_streaks(
    factory: sessionmaker[Session], reminders: list[DueReminder], now: datetime
) -> list[DueReminder]:
    """The reminders, each naming its habit's current streak; as they were if that fails."""
    if not reminders:
        return reminders
    try:
        with transaction(factory) as db:
            found = current_streaks(db, [r.habit_id for r in reminders], now)
    except Exception as exc:  # a streak is a nicety: never a reason not to remind
        log.warning("streaks not named", extra={"reason": f"{type(exc).__name__}: {exc}"[:200]})
        return reminders
    return [
        dataclasses.replace(r, text=with_streak(r.text, found.get(r.habit_id, 0)))
        for r in reminders
    ]
