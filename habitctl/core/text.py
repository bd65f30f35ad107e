"""What counts as a control character, said once: refused on input, escaped on output.

A terminal obeys C0 controls (ESC starts a sequence that can clear the screen, set the
title or draw a hidden link; BEL, CR and backspace rewrite what is shown), DEL, and the C1
controls U+0080–U+009F (U+009B is a one-character CSI on many terminals). Bidirectional
overrides and isolates reorder what a reader sees ("Trojan Source"). None of them belongs in
a habit, so `schemas` refuses them with the field named; whatever is stored anyway (raw SQL,
an edited SQLite file) goes through `printable` before it reaches a screen.
"""

from __future__ import annotations

import re

_BIDI = "\u202a-\u202e\u2066-\u2069"
CONTROL = re.compile(f"[\x00-\x1f\x7f-\x9f{_BIDI}]")
_NAMED = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


def first_control(value: str) -> str | None:
    """The first control character in `value`, or None when it is all printable text."""
    match = CONTROL.search(value)
    return match.group() if match else None


def describe(char: str) -> str:
    """A control character as people read it in a message: U+001B."""
    return f"U+{ord(char):04X}"


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def printable(value: str) -> str:
    """`value` with every control character written out as `\\x1b`, `\\n`, `\\u202e`…"""
    return CONTROL.sub(_escape, value)
