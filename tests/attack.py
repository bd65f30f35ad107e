"""What the attack suites share: a member's raw connection, a world of two members, snapshots.

A member connects the way `psql` would with the credentials their CLI holds: the session
role and secret that `HABITCTL_TOKEN` carries (`<role>.<secret>`). Before PostgreSQL
authenticated members itself, a token was a bare string set in `habitctl.token` on the shared
`habitctl_cli` role; `Psql.as_member` still speaks that older form so the suites can be run
against it to show what they catch.
"""

from __future__ import annotations

from typing import Any

import psycopg2
import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from tests.cli import Cli
from tests.pg import ROLE_PASSWORDS
from tests.users import logged_in

# Only the rows of people other than the attacker; what a snapshot compares.
OTHERS = {
    "habits": "SELECT * FROM habits WHERE user_id <> {me} ORDER BY id",
    "completions": "SELECT c.* FROM completions c JOIN habits h ON h.id = c.habit_id "
    "WHERE h.user_id <> {me} ORDER BY c.id",
    "users": "SELECT * FROM users WHERE id <> {me} ORDER BY id",
    "user_contacts": "SELECT * FROM user_contacts WHERE user_id <> {me} ORDER BY user_id",
    "telegram_link_codes": "SELECT * FROM telegram_link_codes WHERE user_id <> {me} ORDER BY id",
    "roles": "SELECT rolname, rolcanlogin, rolvaliduntil, rolpassword FROM pg_authid "
    "WHERE rolname NOT IN (SELECT rolname FROM member_logins WHERE user_id = {me}) "
    "ORDER BY rolname",
}


class Psql:
    """A raw autocommit connection, the way a member types into psql."""

    def __init__(self, url: str, *, user: str | None = None, password: str | None = None) -> None:
        parsed = make_url(url)
        user = user or parsed.username
        self.conn = psycopg2.connect(
            host=parsed.host,
            port=parsed.port,
            user=user,
            password=password if password is not None else ROLE_PASSWORDS.get(str(user), ""),
            dbname=parsed.database,
            connect_timeout=10,
        )
        self.conn.autocommit = True

    @classmethod
    def as_member(cls, cli: Cli) -> Psql:
        """The member whose session `cli` holds, connected as their CLI would be."""
        token = cli.env["HABITCTL_TOKEN"]
        if "." in token:
            role, secret = token.split(".", 1)
            return cls(cli.database_url, user=role, password=secret)
        member = cls(cli.url)  # the older design: shared role, token in a setting
        member.run("SELECT set_config('habitctl.token', %s, false)", token)
        return member

    def run(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with self.conn.cursor() as cursor:
            cursor.execute(sql, params or None)
            return cursor.fetchall() if cursor.description else [(cursor.rowcount,)]

    def value(self, sql: str, *params: Any) -> Any:
        return self.run(sql, *params)[0][0]

    def refused(self, sql: str, *params: Any) -> str:
        """Run a statement that must fail; its error message (the session stays usable)."""
        with pytest.raises(psycopg2.Error) as error:
            self.run(sql, *params)
        if self.conn.get_transaction_status() == psycopg2.extensions.TRANSACTION_STATUS_INERROR:
            self.run("ROLLBACK")
        return str(error.value)

    def close(self) -> None:
        self.conn.close()


class World:
    """Alice (the victim, with private and public habits) and Bob (the attacker)."""

    def __init__(self, cli: Cli) -> None:
        self.url = cli.database_url
        self.admin: Engine = create_engine(cli.database_url)
        self.alice = logged_in(cli)
        self.bob = logged_in(cli.as_user("bob"))
        self.tea = self.alice.add("I will make tea at 07:00 in the kitchen", "--pleasant")["id"]
        self.secret = self.alice.add("I will journal at 22:00 in bed", "--linked", str(self.tea))[
            "id"
        ]
        self.shown = self.alice.add(
            "I will stretch at 08:00 in the hall", "--reward", "music", "--public"
        )["id"]
        self.alice.ok("done", str(self.secret))
        self.own = self.bob.add("I will read at 21:00 in the study", "--reward", "cocoa")["id"]
        self.bob_tea = self.bob.add("I will sip cocoa at 21:30 in the study", "--pleasant")["id"]
        with self.admin.begin() as conn:
            conn.execute(
                text(
                    "UPDATE user_contacts SET email = 'alice@example.org', "
                    "telegram_chat_id = 4242 WHERE user_id = "
                    "(SELECT id FROM users WHERE username = 'alice')"
                )
            )
            self.bob_id = conn.scalar(text("SELECT id FROM users WHERE username = 'bob'"))
            self.alice_id = conn.scalar(text("SELECT id FROM users WHERE username = 'alice'"))

    def others(self) -> dict[str, list[Any]]:
        """Everything that belongs to anyone but Bob, and every role in the cluster."""
        with self.admin.connect() as conn:
            return {
                name: list(conn.execute(text(sql.format(me=self.bob_id))).all())
                for name, sql in OTHERS.items()
            }

    def member(self, who: str = "bob") -> Psql:
        return Psql.as_member(self.alice if who == "alice" else self.bob)

    def close(self) -> None:
        self.admin.dispose()


def useful_row(
    user_id: int, changes: dict[str, Any] | None = None, **overrides: Any
) -> tuple[str, tuple[Any, ...]]:
    """An INSERT of a valid useful habit, with some columns overridden; SQL and parameters."""
    row: dict[str, Any] = {
        "user_id": user_id,
        "action": "floss",
        "place": "bathroom",
        "time": "07:00",
        "periodicity_days": 1,
        "duration_seconds": 60,
        "is_pleasant": False,
        "reward": "a mint",
        "linked_habit_id": None,
        "is_public": False,
        "created_at": "now",
        "updated_at": "now",
        **(changes or {}),
        **overrides,
    }
    columns = ", ".join(row)
    marks = ", ".join(["%s"] * len(row))
    return f"INSERT INTO habits ({columns}) VALUES ({marks})", tuple(row.values())
