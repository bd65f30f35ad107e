"""The book's sentence: "I will [ACTION] at [TIME] in [PLACE]", in English or Russian."""

from __future__ import annotations

import re

from habitctl.errors import InvalidInput

_PATTERNS = [
    re.compile(
        r"^\s*i\s+will\s+(?P<action>.+?)\s+at\s+(?P<time>\S+)\s+in\s+(?P<place>.+?)\s*\.?\s*$",
        re.IGNORECASE,
    ),
    re.compile(
        r"^\s*я\s+буду\s+(?P<action>.+?)\s+в\s+(?P<time>\d\S*)\s+(?:в|во|на)\s+(?P<place>.+?)\s*\.?\s*$",
        re.IGNORECASE,
    ),
]
_OPENINGS = re.compile(r"^\s*(i\s+will|я\s+буду)\s", re.IGNORECASE)

EXPECTED = (
    'write it as "I will [ACTION] at [HH:MM] in [PLACE]" '
    '(or "Я буду [ДЕЙСТВИЕ] в [ЧЧ:ММ] в [МЕСТО]")'
)


def is_sentence(text: str) -> bool:
    return bool(_OPENINGS.match(text))


def parse_sentence(text: str) -> dict[str, str]:
    """Action, time and place from the sentence; InvalidInput showing the form otherwise."""
    for pattern in _PATTERNS:
        match = pattern.match(text)
        if match:
            return match.groupdict()
    shown = text if len(text) <= 60 else text[:60] + "…"
    raise InvalidInput(f"could not read {shown!r} as a habit: {EXPECTED}", field="action")
