"""IANA time zones: validation and the machine's own zone."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from habitctl.errors import InvalidInput


@lru_cache(maxsize=256)
def zone(name: str) -> ZoneInfo:
    """The ZoneInfo for an IANA name; InvalidInput naming the field otherwise."""
    try:
        # The longest IANA name is 32 characters; the column holds 64.
        if not name or len(name) > 64 or name.startswith(("/", ".")) or ".." in name:
            raise ZoneInfoNotFoundError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:  # OSError: odd file names
        shown = name if len(name) <= 40 else name[:40] + "…"
        raise InvalidInput(
            f"timezone {shown!r} is not an IANA time zone name; use one like "
            "'Europe/Berlin', 'America/New_York' or 'UTC'",
            field="timezone",
        ) from exc


def machine_zone() -> str:
    """The machine's IANA zone name (TZ, then /etc/localtime), else UTC."""
    candidates = [os.environ.get("TZ", "").lstrip(":")]
    try:
        target = str(Path("/etc/localtime").resolve())
        if "zoneinfo/" in target:
            candidates.append(target.split("zoneinfo/", 1)[1])
    except OSError:
        pass
    for name in candidates:
        if name and name in available_timezones():
            return name
    return "UTC"
