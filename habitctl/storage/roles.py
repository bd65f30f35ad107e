"""PostgreSQL roles for least privilege (see docs/security.md), created idempotently.

The policies and grants that give each role its rights live in the migrations; this module
only makes the login roles exist, sets their passwords and lets the owner create the schema.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, text


@dataclass(frozen=True)
class Role:
    name: str
    purpose: str

    @property
    def password_variable(self) -> str:
        return f"HABITCTL_DB_{self.name.removeprefix('habitctl_').upper()}_PASSWORD"


ROLES = (
    Role("habitctl_owner", "runs migrations and owns the tables"),
    Role("habitctl_cli", "what members' CLIs connect as; sees only their own data"),
    Role("habitctl_daemon", "the reminder daemon; writes deliveries and scheduling state"),
    Role("habitctl_api", "the public HTTP endpoint; reads public habits only"),
)
# Never superuser, never BYPASSRLS: the policies must hold for every runtime connection.
ATTRIBUTES = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS NOREPLICATION"


def _exists(conn: Connection, name: str) -> bool:
    found = conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :name"), {"name": name})
    return found.first() is not None


def ensure_roles(engine: Engine, passwords: dict[str, str] | None = None) -> list[str]:
    """Create or update the roles; passwords default to $HABITCTL_DB_<ROLE>_PASSWORD.

    Returns one sentence per action taken, for the admin to read.
    """
    if passwords is None:
        passwords = {
            role.name: os.environ[role.password_variable]
            for role in ROLES
            if os.environ.get(role.password_variable)
        }
    done = []
    with engine.begin() as conn:
        database = conn.execute(text("SELECT current_database()")).scalar_one()
        for role in ROLES:
            verb = "updated" if _exists(conn, role.name) else "created"
            statement = "ALTER" if verb == "updated" else "CREATE"
            conn.exec_driver_sql(f"{statement} ROLE {role.name} {ATTRIBUTES}")
            note = "password unchanged" if verb == "updated" else "no password"
            if role.name in passwords:
                # psycopg2 quotes the literal; PostgreSQL stores a SCRAM verifier.
                conn.exec_driver_sql(
                    f"ALTER ROLE {role.name} PASSWORD %(password)s",
                    {"password": passwords[role.name]},
                )
                note = "password set"
            done.append(f"{verb} role {role.name} ({note}): {role.purpose}")
        names = ", ".join(role.name for role in ROLES)
        conn.exec_driver_sql(f'GRANT CONNECT, TEMPORARY ON DATABASE "{database}" TO {names}')
        conn.exec_driver_sql(f"GRANT USAGE ON SCHEMA public TO {names}")
        conn.exec_driver_sql("GRANT CREATE ON SCHEMA public TO habitctl_owner")
        done.append(f"granted {names} connect on {database}; habitctl_owner may create tables")
    return done
