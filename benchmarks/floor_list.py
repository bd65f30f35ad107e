"""The floor of `habitctl list` (SPEC §11): the least the mandated libraries must do for it.

In one process: import Typer, Rich, SQLAlchemy's ORM and pydantic; open the SQLite file;
select the rows through one mapped class; validate them with one pydantic model; render them
as one Rich table on standard output. `benchmarks/startup.py` times it beside `habitctl list`
over the same file, interleaved, and the ratio of the two is the budget (≤ 1.25×).

    python benchmarks/floor_list.py sqlite:///path/to/habitctl.db [--limit 100]

Nothing here is habitctl's code: the mapped class and the model are the smallest that carry
what the `list` table shows, so the floor pays for the libraries and not for our choices.
"""

from __future__ import annotations

import sys
from datetime import datetime, time

import typer  # noqa: F401  (the floor pays Typer's import, as every command does)
from pydantic import BaseModel, ConfigDict
from rich.console import Console
from rich.table import Table
from sqlalchemy import create_engine, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column


class Base(DeclarativeBase):
    pass


class Habit(Base):
    __tablename__ = "habits"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int]
    action: Mapped[str]
    place: Mapped[str]
    time: Mapped[time]
    periodicity_days: Mapped[int]
    duration_seconds: Mapped[int]
    is_pleasant: Mapped[bool]
    reward: Mapped[str | None]
    is_public: Mapped[bool]
    next_reminder_at: Mapped[datetime | None]


class HabitRow(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    action: str
    place: str
    time: time
    periodicity_days: int
    duration_seconds: int
    is_pleasant: bool
    reward: str | None
    is_public: bool
    next_reminder_at: datetime | None


def main(argv: list[str]) -> int:
    url = argv[0]
    limit = int(argv[argv.index("--limit") + 1]) if "--limit" in argv else 100
    engine = create_engine(url)
    with Session(engine) as db:
        habits = db.scalars(select(Habit).order_by(Habit.id).limit(limit)).all()
        rows = [HabitRow.model_validate(habit) for habit in habits]
    table = Table(title="habits", title_justify="left")
    for name in ("id", "I will…", "when", "in", "≤ s", "then", "next reminder"):
        table.add_column(name)
    for row in rows:
        table.add_row(
            str(row.id),
            row.action,
            f"{row.time:%H:%M} /{row.periodicity_days}d",
            row.place,
            str(row.duration_seconds),
            row.reward or "",
            f"{row.next_reminder_at:%a %d %b %H:%M}" if row.next_reminder_at else "—",
        )
    Console().print(table)
    return 0 if len(rows) == limit else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
