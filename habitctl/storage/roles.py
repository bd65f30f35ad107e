"""PostgreSQL roles for least privilege (see docs/security.md), created idempotently.

The policies and grants that give each role its rights live in the migrations; this module
makes the roles exist, sets their passwords, connection limits and timeouts, and takes
`TEMPORARY` away (a temporary table can stand in for a real one in an unwary function).
Member and session roles are not made here: `habitctl register` and `login` make those.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, text


@dataclass(frozen=True)
class Role:
    name: str
    purpose: str
    attributes: str = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS NOREPLICATION"
    # Role defaults bind only connections that do not override them: they protect the
    # services' own connections from waiting on somebody else's lock for ever.
    settings: tuple[tuple[str, str], ...] = ()
    connection_limit: int = -1

    @property
    def password_variable(self) -> str:
        return f"HABITCTL_DB_{self.name.removeprefix('habitctl_').upper()}_PASSWORD"

    @property
    def logs_in(self) -> bool:
        return self.attributes.startswith("LOGIN")


_GROUP = "NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS NOREPLICATION"
SERVICE_TIMEOUTS = (
    ("lock_timeout", "5s"),
    ("statement_timeout", "30s"),
    ("idle_in_transaction_session_timeout", "60s"),
)
ROLES = (
    Role("habitctl_owner", "runs migrations and owns the tables"),
    Role(
        "habitctl_cli",
        "the shared gate members connect to before login: registers and names login roles",
        connection_limit=20,
    ),
    Role(
        "habitctl_daemon",
        "the reminder daemon; writes deliveries and scheduling state",
        settings=SERVICE_TIMEOUTS,
    ),
    Role(
        "habitctl_api",
        "the public HTTP endpoint; reads public habits only",
        settings=(
            ("lock_timeout", "2s"),
            ("statement_timeout", "5s"),
            ("idle_in_transaction_session_timeout", "30s"),
        ),
    ),
    Role(
        "habitctl_member",
        "group of every member and session role; holds members' rights",
        attributes=_GROUP,
    ),
    # CREATEROLE, but no login and nothing owned except the two functions that create and
    # drop member and session roles (migration 0003, migrations/sql/0003_roles.sql).
    Role(
        "habitctl_registrar",
        "owns the functions that create and drop member and session roles",
        attributes="NOLOGIN NOINHERIT NOSUPERUSER NOCREATEDB CREATEROLE NOBYPASSRLS NOREPLICATION",
    ),
)
RUNTIME = ("habitctl_cli", "habitctl_daemon", "habitctl_api", "habitctl_member")


def _exists(conn: Connection, name: str) -> bool:
    found = conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :name"), {"name": name})
    return found.first() is not None


def secure_database(conn: Connection, database: str) -> None:
    """Database-level rights: connect for habitctl's roles, no temporary objects for anyone
    but the owner (the default grants TEMPORARY to PUBLIC)."""
    conn.exec_driver_sql(f'REVOKE TEMPORARY ON DATABASE "{database}" FROM PUBLIC')
    runtime = ", ".join(RUNTIME)
    conn.exec_driver_sql(f'REVOKE TEMPORARY ON DATABASE "{database}" FROM {runtime}')
    conn.exec_driver_sql(f'GRANT CONNECT ON DATABASE "{database}" TO habitctl_owner, {runtime}')


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
            conn.exec_driver_sql(
                f"{statement} ROLE {role.name} {role.attributes} "
                f"CONNECTION LIMIT {role.connection_limit}"
            )
            for key, value in role.settings:
                conn.exec_driver_sql(f"ALTER ROLE {role.name} SET {key} = '{value}'")
            note = "password unchanged" if verb == "updated" else "no password"
            if not role.logs_in:
                note = "no login"
            elif role.name in passwords:
                # psycopg2 quotes the literal; PostgreSQL stores a SCRAM verifier.
                conn.exec_driver_sql(
                    f"ALTER ROLE {role.name} PASSWORD %(password)s",
                    {"password": passwords[role.name]},
                )
                note = "password set"
            done.append(f"{verb} role {role.name} ({note}): {role.purpose}")
        # The owner hands the role functions to the registrar (ALTER FUNCTION … OWNER needs
        # membership); the registrar may put new roles into habitctl_member (ADMIN, as
        # PostgreSQL 16 requires of CREATEROLE).
        conn.exec_driver_sql("GRANT habitctl_registrar TO habitctl_owner")
        conn.exec_driver_sql("GRANT habitctl_member TO habitctl_registrar WITH ADMIN OPTION")
        secure_database(conn, database)
        names = ", ".join(role.name for role in ROLES)
        conn.exec_driver_sql(f"GRANT USAGE ON SCHEMA public TO {names}")
        conn.exec_driver_sql("GRANT CREATE ON SCHEMA public TO habitctl_owner, habitctl_registrar")
        done.append(
            f"granted connect on {database} (no temporary objects for runtime roles); "
            "habitctl_owner may create tables"
        )
    return done
