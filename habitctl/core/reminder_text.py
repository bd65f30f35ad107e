"""The words of a reminder, and the signed data its buttons carry.

A button's callback data says what was pressed (Done, Later or Skip, on a reminder or on
the `/today` list), for which habit, local day and occurrence, and carries an HMAC of all
that and of the chat it was sent to, under a key only the daemon reads. Telegram hands the
data back as the client sends it, so without the signature anyone could press "Done" on
another person's habit or another day; with it, data the bot never issued is refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from habitctl.core.sentence import habit_clause

DONE, LATER, SKIP = "d", "l", "s"
SIGNATURE_CHARS = 16  # 96 bits of HMAC-SHA256, base64url: the whole data stays within 64 bytes
_DATA = re.compile(
    r"^(?P<kind>[dlsDLS])(?P<habit>\d{1,19}):(?P<day>\d{8}):(?P<at>-?\d{1,12})"
    rf":(?P<sig>[A-Za-z0-9_-]{{{SIGNATURE_CHARS}}})$"
)


def reminder_text(
    at: time,
    action: str,
    place: str,
    duration_seconds: int,
    reward: str | None,
    linked_action: str | None,
) -> str:
    then = reward if reward is not None else linked_action
    text = f"⏰ {at:%H:%M} — {habit_clause(action, place)} (≤ {duration_seconds} s)."
    return f"{text} Then: {then}." if then else text


def with_streak(text: str, current: int) -> str:
    """The reminder, naming the current streak when there is one."""
    return f"{text}\n🔥 {current} in a row" if current > 0 else text


@dataclass(frozen=True)
class Press:
    """What a button stands for: which press, of which habit's day and occurrence."""

    kind: str  # DONE, LATER or SKIP
    habit_id: int
    day: date  # the owner's local day the reminder was for
    occurrence: datetime  # the reminder's instant: a snooze re-sends this one
    from_today: bool = False  # on the `/today` list rather than on a reminder


def _signature(key: bytes, chat_id: int, payload: str) -> str:
    digest = hmac.new(key, f"{chat_id}|{payload}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode()[:SIGNATURE_CHARS]


def button_data(key: bytes, chat_id: int, press: Press) -> str:
    """Callback data (at most 64 bytes) for a button sent to `chat_id`."""
    kind = press.kind.upper() if press.from_today else press.kind
    payload = f"{kind}{press.habit_id}:{press.day:%Y%m%d}:{int(press.occurrence.timestamp())}"
    return f"{payload}:{_signature(key, chat_id, payload)}"


def read_button(key: bytes, chat_id: int, data: str) -> Press | None:
    """The press, if the bot issued this data to this chat; None for anything else."""
    match = _DATA.match(data)
    if match is None:
        return None
    payload = data.rsplit(":", 1)[0]
    if not hmac.compare_digest(match["sig"], _signature(key, chat_id, payload)):
        return None
    try:
        day = datetime.strptime(match["day"], "%Y%m%d").date()
        occurrence = datetime.fromtimestamp(int(match["at"]), UTC)
    except (ValueError, OverflowError, OSError):
        return None
    kind = match["kind"]
    return Press(kind.lower(), int(match["habit"]), day, occurrence, kind.isupper())
