"""The JSON backup: every habit with its stable uid, and every day done or skipped."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from habitctl.services.habits import list_own
from habitctl.storage.models import Completion, Habit, User

FORMAT = "habitctl"
VERSION = 2
# Version 1 files carry no uids: each habit gets one derived from the file, so importing the
# same old file twice still changes nothing the second time.
READABLE_VERSIONS = (1, 2)
DERIVED_UIDS = uuid.UUID("5b0c6f1e-2d4a-4f0e-9a51-7f3c1a2e8d90")


def derived_uid(*parts: object) -> str:
    return str(uuid.uuid5(DERIVED_UIDS, "/".join(str(part) for part in parts)))


def instant(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def export_document(db: Session, owner: User, now: datetime) -> dict[str, Any]:
    """Everything needed to rebuild the user's habits and history elsewhere."""
    habits = list_own(db, owner)
    completions = db.scalars(
        select(Completion)
        .join(Habit, Habit.id == Completion.habit_id)
        .where(Habit.user_id == owner.id)
        .order_by(Completion.local_date, Completion.habit_id)
    )
    return {
        "format": FORMAT,
        "version": VERSION,
        "exported_at": instant(now),
        "user": {"username": owner.username, "timezone": owner.timezone},
        "habits": [
            {
                "id": habit.id,
                "uid": habit.uid or derived_uid(owner.username, habit.id),
                "action": habit.action,
                "place": habit.place,
                "time": f"{habit.time:%H:%M}",
                "periodicity_days": habit.periodicity_days,
                "duration_seconds": habit.duration_seconds,
                "is_pleasant": habit.is_pleasant,
                "reward": habit.reward,
                "linked_habit_id": habit.linked_habit_id,
                "is_public": habit.is_public,
                "created_at": instant(habit.created_at),
            }
            for habit in habits
        ],
        "completions": [
            {
                "habit_id": c.habit_id,
                "date": c.local_date.isoformat(),
                "kind": c.kind,
                "source": c.source,
                "created_at": instant(c.created_at),
            }
            for c in completions
        ],
    }


def export_json(db: Session, owner: User, now: datetime) -> str:
    return json.dumps(export_document(db, owner, now), indent=2, ensure_ascii=False) + "\n"
