"""Nothing private leaves the public endpoint: crawl all of it and look for every secret."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import select, text

from habitctl.core.public import HabitPublic
from habitctl.storage.engine import make_engine
from habitctl.storage.models import Session, UserContact, UserCredentials
from tests.api import add_public, api_client, crawl
from tests.cli import PASSWORD, Cli

PROFILES = {
    "alice": ("alice.private@example.org", 918273645546, "alice_tg_secret"),
    "bob": ("bob.hidden@example.net", 564738291087, "bob_tg_secret"),
}


def _strings(data: Any) -> Iterator[str]:
    if isinstance(data, dict):
        for value in data.values():
            yield from _strings(value)
    elif isinstance(data, list):
        for value in data:
            yield from _strings(value)
    elif isinstance(data, str):
        yield data


def _seed(cli: Cli) -> tuple[set[int], set[int], int]:
    """Public and private habits of two users, with every kind of private data around them.

    Returns the public ids, the private ids, and one id that was deleted.
    """
    public: set[int] = set()
    private: set[int] = set()
    for username, (_email, _chat, telegram) in PROFILES.items():
        user = cli.as_user(username).signup()
        user.ok("profile", "--telegram-username", telegram)
        secret_tea = user.add(
            f"PRIVATE tea of {username}", "--at", "07:00", "--place", "PRIVATE nook", "--pleasant"
        )
        private.add(secret_tea["id"])
        private.add(
            user.add(
                f"PRIVATE run of {username}",
                "--at", "06:00", "--place", "PRIVATE park", "--reward", "PRIVATE prize",
            )["id"]
        )  # fmt: skip
        public.add(add_public(user, f"read ({username})", "--linked", str(secret_tea["id"]))["id"])
        public.add(add_public(user, f"walk ({username})")["id"])
    gone = cli.as_user("alice").add("doomed", "--at", "09:00", "--place", "x", "--reward", "y")
    cli.as_user("alice").ok("rm", str(gone["id"]), "--yes")
    engine = make_engine(cli.database_url)
    with engine.begin() as conn:
        for username, (email, chat_id, _telegram) in PROFILES.items():
            conn.execute(
                text(
                    "UPDATE user_contacts SET email = :email, telegram_chat_id = :chat "
                    "WHERE user_id = (SELECT id FROM users WHERE username = :u)"
                ),
                {"email": email, "chat": chat_id, "u": username},
            )
    engine.dispose()
    return public, private, gone["id"]


def _secrets(cli: Cli) -> set[str]:
    """Every private value in the database and the users' token files."""
    engine = make_engine(cli.database_url)
    with engine.connect() as conn:
        contacts = conn.execute(
            select(UserContact.email, UserContact.telegram_chat_id, UserContact.telegram_username)
        ).all()
        verifiers = conn.execute(select(UserCredentials.password_hash)).scalars().all()
        sessions = conn.execute(select(Session.token_digest)).scalars().all()
        if engine.dialect.name == "postgresql":  # PostgreSQL keeps them as login roles
            roles = conn.execute(
                text(
                    "SELECT m.kind, m.rolname, a.rolpassword FROM member_logins m "
                    "JOIN pg_authid a ON a.rolname = m.rolname"
                )
            ).all()
            verifiers = [row.rolpassword for row in roles]
            sessions = [row.rolname for row in roles if row.kind == "session"]
    engine.dispose()
    found = {PASSWORD, "PRIVATE", *sessions, *verifiers}
    for contact in contacts:
        found.add(str(contact.telegram_chat_id))
        found.update(value for value in (contact.email, contact.telegram_username) if value)
    tokens = {
        value
        for path in Path(cli.home).glob("state-*/tokens.json")
        for value in _strings(json.loads(path.read_text()))
        if len(value) >= 32
    }
    assert len(sessions) == len(tokens) == len(PROFILES), "every user has a session to leak"
    return found | tokens


def test_no_private_value_appears_in_any_answer(cli: Cli) -> None:
    public, private, gone = _seed(cli)
    secrets = _secrets(cli)
    bodies: list[str] = []
    with api_client(cli.database_url) as client:
        for limit in (1, 3, 100):
            items = crawl(client, limit)
            assert {item["id"] for item in items} == public
            for item in items:
                HabitPublic.model_validate(item)  # extra="forbid": no field beyond §8's
                assert item["linked_habit"] is None, "the linked pleasant habits are private"
        for cursor_limit in (1, 2):
            response = client.get("/public/habits", params={"limit": cursor_limit})
            bodies.append(response.text)
        for habit_id in range(1, max(public | private | {gone}) + 3):
            bodies.append(client.get(f"/public/habits/{habit_id}").text)
        for path in ("/healthz", "/openapi.json", "/docs", "/public/habits?limit=100"):
            bodies.append(client.get(path).text)
    everything = "\n".join(bodies)
    leaked = sorted(secret for secret in secrets if secret in everything)
    assert leaked == []


def test_private_ids_answer_exactly_like_missing_ones(cli: Cli) -> None:
    public, private, gone = _seed(cli)
    beyond = max(public | private | {gone}) + 1
    with api_client(cli.database_url) as client:
        missing = client.get(f"/public/habits/{beyond}")
        assert missing.status_code == 404
        for habit_id in sorted(private | {gone}):
            response = client.get(f"/public/habits/{habit_id}")
            assert response.status_code == 404
            assert response.content == missing.content
            assert response.headers == missing.headers
        for habit_id in public:
            assert client.get(f"/public/habits/{habit_id}").status_code == 200
