"""The book's sentence in English and Russian: the grammar's test table (SPEC §6, `add`)."""

from __future__ import annotations

import pytest

from habitctl.core.sentence import is_sentence, parse_sentence, sentence_of
from habitctl.errors import InvalidInput
from tests.cli import Cli
from tests.users import logged_in

READ = [
    ("I will meditate at 07:30 in the bedroom", "meditate", "07:30", "the bedroom"),
    ("I'll meditate at 07:30 in the bedroom", "meditate", "07:30", "the bedroom"),
    ("I’ll meditate at 07:30 in the bedroom.", "meditate", "07:30", "the bedroom"),
    ("i will Meditate at 7:30 in the bedroom", "Meditate", "07:30", "the bedroom"),
    ("I will meditate in the bedroom at 07:30", "meditate", "07:30", "the bedroom"),
    ("I will read a page at 9:30 pm in bed", "read a page", "21:30", "bed"),
    ("I will stretch at 7pm in the living room!", "stretch", "19:00", "the living room"),
    ("I will stretch at 7 PM in the hall", "stretch", "19:00", "the hall"),
    ("I will run at 6am in the park", "run", "06:00", "the park"),
    ("I will floss at 12am in the bathroom", "floss", "00:00", "the bathroom"),
    ("I will eat lunch at 12pm in the kitchen", "eat lunch", "12:00", "the kitchen"),
    ("I will do 10 push-ups at 07:00 at the gym", "do 10 push-ups", "07:00", "at the gym"),
    ("I will write one line at 21:05 on the train", "write one line", "21:05", "on the train"),
    ("I will water the plants at 08:00 in the garden ...", "water the plants", "08:00",
     "the garden"),
    ("  I will breathe   at 07:30   in the car  ", "breathe", "07:30", "the car"),
    ("Я буду медитировать в 07:30 в спальне", "медитировать", "07:30", "в спальне"),
    ("Я буду отжиматься в 19:00 на балконе", "отжиматься", "19:00", "на балконе"),
    ("Я буду гулять в парке в 12:00", "гулять", "12:00", "в парке"),
    ("я буду читать в 9:05 во дворе.", "читать", "09:05", "во дворе"),
    ("Я буду пить воду в 8 утра на кухне", "пить воду", "08:00", "на кухне"),
    ("Я буду растягиваться в 7 вечера дома", "растягиваться", "19:00", "дома"),
    ("Я буду учить слова в 20.15 в метро", "учить слова", "20:15", "в метро"),
]  # fmt: skip

REFUSED = [
    ("I will meditate in the bedroom", "time"),
    ("I will meditate at dawn in the bedroom", "time"),
    ("I will meditate at 25:00 in the bedroom", "time"),
    ("I will meditate at 07:30", "place"),
    ("I will at 07:30 in the bedroom", "action"),
    ("Я буду медитировать утром", "time"),
    ("Я буду медитировать в 07:30", "place"),
]


@pytest.mark.parametrize(("sentence", "action", "time", "place"), READ)
def test_the_grammar_reads(sentence: str, action: str, time: str, place: str) -> None:
    assert is_sentence(sentence)
    assert parse_sentence(sentence) == {"action": action, "time": time, "place": place}


@pytest.mark.parametrize(("sentence", "field"), REFUSED)
def test_a_sentence_that_fails_names_the_part_it_could_not_read(sentence: str, field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_sentence(sentence)
    assert refused.value.field == field
    assert field in refused.value.message or "действ" in refused.value.message
    assert "I will [ACTION] at [HH:MM] in [PLACE]" in refused.value.message


def test_plain_actions_are_not_sentences() -> None:
    assert not is_sentence("meditate")
    assert not is_sentence("Illustrate a page")


def test_a_habit_is_shown_back_in_its_own_language() -> None:
    assert (
        sentence_of("meditate", "07:30", "the bedroom") == "I will meditate at 07:30 in the bedroom"
    )
    assert sentence_of("run", "07:00", "at the gym") == "I will run at 07:00 at the gym"
    assert (
        sentence_of("отжиматься", "19:00", "на балконе") == "Я буду отжиматься в 19:00 на балконе"
    )
    assert (
        sentence_of("отжиматься", "19:00", "балкон") == "Я буду отжиматься в 19:00, место: балкон"
    )


def test_a_russian_habit_reads_back_in_russian(cli: Cli) -> None:
    logged_in(cli)
    cli.add("Я буду отжиматься в 19:00 на балконе", "--pleasant")
    screen = cli.ok("show", "1").stdout
    assert "Я буду отжиматься в 19:00 на балконе" in screen
    assert "I will" not in screen
