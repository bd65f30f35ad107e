"""The book's sentence: "I will [ACTION] at [TIME] in [PLACE]", in English or Russian.

Each language is a small grammar of three parts, read in this order:

    sentence := OPENING action (time-phrase place-phrase | place-phrase time-phrase)

* OPENING — "I will", "I'll", "I shall"; «Я буду», «Я стану».
* time-phrase — the time word ("at", «в»/«во») and a clock time: 07:30, 7:30, 7.30, 7pm,
  9:30 pm, 12am; in Russian also «в 7 утра», «в 7 вечера», «в 19 часов».
* place-phrase — where: in English "in the bedroom" (stored as "the bedroom", the frame says
  "in") or any other preposition kept as said ("at the gym", "on the train"); in Russian
  the place keeps its preposition («на балконе», «в парке»), because the noun's case
  follows it and the habit must read back as it was said.

Trailing punctuation is dropped. A sentence that opens like the book's but cannot be read
is refused naming the part that failed (field `time`, `place` or `action`), with the form.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from habitctl.errors import InvalidInput

EXPECTED = (
    'write it as "I will [ACTION] at [HH:MM] in [PLACE]" '
    '(or "Я буду [ДЕЙСТВИЕ] в [ЧЧ:ММ] в [МЕСТО]")'
)
_TRAILING = re.compile(r"[\s.!?;,…]+$")


@dataclass(frozen=True)
class Grammar:
    opening: re.Pattern[str]
    # The time phrase; group "clock" is the time as written, "half" am/pm or утра/вечера.
    time: re.Pattern[str]
    # A preposition that starts a place phrase.
    place: re.Pattern[str]
    dropped: str  # the preposition the frame itself supplies ("in"), or "" to keep them all


ENGLISH = Grammar(
    opening=re.compile(r"^\s*i(?:\s+will|\s+shall|['’]ll)\s+", re.IGNORECASE),
    time=re.compile(
        r"(?:^|\s)at\s+(?P<clock>\d{1,2}(?:[:.]\d{2})?)\s*(?P<half>[ap]\.?\s?m\.?)?(?=\s|$)",
        re.IGNORECASE,
    ),
    place=re.compile(r"(?:^|\s)(?P<word>in|at|on|by|near|under|inside|outside)\s+", re.IGNORECASE),
    dropped="in",
)
RUSSIAN = Grammar(
    opening=re.compile(r"^\s*я\s+(?:буду|стану)\s+", re.IGNORECASE),
    time=re.compile(
        r"(?:^|\s)во?\s+(?P<clock>\d{1,2}(?:[:.]\d{2})?)"
        r"(?:\s*(?P<half>утра|дня|вечера|ночи))?(?:\s*(?:часов|часа|час|ч\.?))?(?=\s|$)",
        re.IGNORECASE,
    ),
    place=re.compile(r"(?:^|\s)(?P<word>во|в|на|у|за|под|около|возле|рядом\s+с)\s+", re.IGNORECASE),
    dropped="",
)
GRAMMARS = (ENGLISH, RUSSIAN)
_CYRILLIC = re.compile(r"[а-яё]", re.IGNORECASE)


def is_sentence(text: str) -> bool:
    return any(grammar.opening.match(text) for grammar in GRAMMARS)


def _refuse(text: str, part: str, why: str) -> InvalidInput:
    shown = text if len(text) <= 60 else text[:60] + "…"
    return InvalidInput(f"could not read the {part} in {shown!r}: {why}; {EXPECTED}", field=part)


def _clock(clock: str, half: str | None) -> str | None:
    """HH:MM from "7", "7:30", "7.30" and am/pm (утра/вечера); None when it is no time."""
    hours, _, minutes = clock.replace(".", ":").partition(":")
    hour, minute = int(hours), int(minutes or 0)
    half = (half or "").lower().replace(".", "").replace(" ", "")
    if half in ("am", "pm"):
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if half == "pm" else 0)
    elif half in ("вечера", "дня") and hour < 12:
        hour += 12
    elif half == "ночи" and hour == 12:
        hour = 0
    if hour > 23 or minute > 59:
        return None
    return f"{hour:02d}:{minute:02d}"


def _place(grammar: Grammar, phrase: str) -> str:
    """The place as stored: the frame's own preposition dropped, any other one kept."""
    match = grammar.place.match(phrase)
    if match and grammar.dropped and match.group("word").lower() == grammar.dropped:
        return phrase[match.end() :].strip()
    return phrase.strip()


def _split_place(grammar: Grammar, words: str) -> tuple[str, str] | None:
    """Action and place from "read a book in the garden" (the last place phrase)."""
    matches = list(grammar.place.finditer(words))
    if not matches:
        return None
    last = matches[-1]
    return words[: last.start()].strip(), words[last.start() :].strip()


def _parse(grammar: Grammar, text: str) -> dict[str, str]:
    opening = grammar.opening.match(text)
    assert opening is not None
    body = _TRAILING.sub("", text[opening.end() :]).strip()
    body = re.sub(r"\s+", " ", body)
    found = grammar.time.search(body)
    if found is None:
        return _refuse_time(grammar, text, body)
    clock = _clock(found.group("clock"), found.group("half"))
    if clock is None:
        raise _refuse(text, "time", f"{found.group('clock')!r} is not a time of day")
    before, after = body[: found.start()].strip(), body[found.end() :].strip()
    if after:
        action, place = before, _place(grammar, after)
    else:
        split = _split_place(grammar, before)
        if split is None:
            raise _refuse(text, "place", "it says when but not where")
        action, place = split[0], _place(grammar, split[1])
    if not action:
        raise _refuse(text, "action", "it says when and where but not what you will do")
    if not place:
        raise _refuse(text, "place", "it says when but not where")
    return {"action": action, "time": clock, "place": place}


def _refuse_time(grammar: Grammar, text: str, body: str) -> dict[str, str]:
    attempt = re.search(r"(?:^|\s)at\s+(\S+)", body, re.IGNORECASE)
    if grammar is ENGLISH and attempt:
        raise _refuse(text, "time", f"{attempt.group(1)!r} is not a time such as 07:30")
    raise _refuse(text, "time", "it says no time such as 07:30")


def parse_sentence(text: str) -> dict[str, str]:
    """Action, time (HH:MM) and place from the sentence; InvalidInput naming the part."""
    for grammar in GRAMMARS:
        if grammar.opening.match(text):
            return _parse(grammar, text)
    raise _refuse(text, "action", 'it does not start with "I will" or «Я буду»')


def place_phrase(action: str, place: str) -> str:
    """Where, as the sentence says it: "in the bedroom", "at the gym", «на балконе»."""
    if _CYRILLIC.search(action):
        return place if RUSSIAN.place.match(place) else f"(место: {place})"
    return place if ENGLISH.place.match(place) else f"in {place}"


def sentence_of(action: str, time: str, place: str) -> str:
    """The habit as its owner would say it, in the language it was written in."""
    if _CYRILLIC.search(action):
        if RUSSIAN.place.match(place):
            return f"Я буду {action} в {time} {place}"
        return f"Я буду {action} в {time}, место: {place}"
    return f"I will {action} at {time} {place_phrase(action, place)}"


def habit_clause(action: str, place: str) -> str:
    """The habit without its time, as its owner would say it: "I will walk in the park",
    «Я буду медитировать на балконе» (a reminder's frame puts the time in front)."""
    opening = "Я буду" if _CYRILLIC.search(action) else "I will"
    return f"{opening} {action} {place_phrase(action, place)}"
