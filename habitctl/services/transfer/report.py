"""What an import did, or would do under `--dry-run`: counts, each change, what was filled in
for habits that came from an app without habitctl's fields, and what was refused."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Tally:
    added: int = 0
    changed: int = 0
    unchanged: int = 0


@dataclass(frozen=True)
class FilledIn:
    """A value the source did not have, chosen here so the habit follows the rules."""

    habit_id: int
    name: str
    field: str
    value: str
    why: str
    change: str  # the command that sets it otherwise


@dataclass(frozen=True)
class Refused:
    name: str
    reason: str


@dataclass(frozen=True)
class TimezoneNote:
    account: str  # the account's zone before the import
    file: str
    restored: bool  # True: the account now has the file's zone


@dataclass
class ImportReport:
    source: str  # "habitctl-json", "loop-csv" or "loop-db"
    dry_run: bool = False
    habits: Tally = field(default_factory=Tally)
    completions: Tally = field(default_factory=Tally)
    changes: list[str] = field(default_factory=list)  # "+ habit tea", "~ completion …"
    ids: dict[str, int] = field(default_factory=dict)  # the file's habit id → id here
    timezone: TimezoneNote | None = None
    filled_in: list[FilledIn] = field(default_factory=list)
    refused: list[Refused] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
