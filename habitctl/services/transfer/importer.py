"""`habitctl import FILE`: which format the file is, and one all-or-nothing write of it.

The file is recognised by its first bytes: a SQLite database is Loop's backup, a zip is
Loop's CSV export, anything else must be habitctl's JSON backup. Everything runs inside a
savepoint of the caller's transaction: `dry_run` rolls it back after the report is made, so
the report says exactly what a real run would do and nothing is written.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from habitctl.errors import InvalidInput
from habitctl.services.accounts import update_profile
from habitctl.services.transfer.apply import Incoming, apply
from habitctl.services.transfer.loop_import import read_loop
from habitctl.services.transfer.loop_read import read_backup_db, read_csv_zip
from habitctl.services.transfer.report import ImportReport, TimezoneNote
from habitctl.services.transfer.restore import file_timezone, parse_document, read_backup
from habitctl.storage.models import User

# About ten years of daily history for a hundred habits; a bigger file is refused unread.
MAX_IMPORT_BYTES = 32 * 1024 * 1024
SQLITE_MAGIC = b"SQLite format 3\x00"
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")


def too_large(size: int) -> InvalidInput:
    return InvalidInput(
        f"the file is larger than {MAX_IMPORT_BYTES // 2**20} MiB ({size:,} bytes or more): "
        "that is no habitctl backup or Loop export; check the file name",
        field="file",
    )


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput(
            "the file is not a habitctl backup (JSON text) nor a Loop Habit Tracker export "
            "(.db backup or CSV .zip): it is not UTF-8 text",
            field="file",
        ) from None


def _restore(
    db: Session, owner: User, text: str, now: datetime, keep_timezone: bool, report: ImportReport
) -> Incoming:
    document = parse_document(text)
    zone_name = file_timezone(document)
    if zone_name is not None and zone_name != owner.timezone:
        report.timezone = TimezoneNote(owner.timezone, zone_name, restored=not keep_timezone)
        if not keep_timezone:
            update_profile(db, owner, timezone=zone_name, telegram_username=None, now=now)
    # The file's dates are days of the file's zone, whichever zone the account keeps.
    return read_backup(document, zone_name or owner.timezone, now)


def import_document(
    db: Session, owner: User, text: str, now: datetime, *, dry_run: bool = False,
    keep_timezone: bool = False,
) -> ImportReport:  # fmt: skip
    """Restore a JSON backup (as text) into the owner's account; the caller commits."""
    return import_bytes(db, owner, text.encode(), now, dry_run=dry_run, keep_timezone=keep_timezone)


def import_bytes(
    db: Session, owner: User, data: bytes, now: datetime, *, dry_run: bool = False,
    keep_timezone: bool = False,
) -> ImportReport:  # fmt: skip
    """Import a habitctl backup or a Loop export; InvalidInput (nothing written) if bad."""
    if len(data) > MAX_IMPORT_BYTES:
        raise too_large(len(data))
    if data.startswith(SQLITE_MAGIC):
        report = ImportReport("loop-db", dry_run)
        habits = read_backup_db(data)
    elif data.startswith(ZIP_MAGIC):
        report = ImportReport("loop-csv", dry_run)
        habits = read_csv_zip(data)
    else:
        report = ImportReport("habitctl-json", dry_run)
        habits = None
        text = _decode(data)
    with db.begin_nested() as savepoint:
        if habits is None:
            incoming = _restore(db, owner, text, now, keep_timezone, report)
        else:
            incoming = read_loop(habits, owner.timezone, now, report.refused)
        apply(db, owner, incoming, now, report)
        if dry_run:
            savepoint.rollback()
    if dry_run:
        db.expire_all()  # the rolled-back values must not linger in the identity map
    return report
