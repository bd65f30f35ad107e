"""Alembic environment and revisions for habitctl (SQLite and PostgreSQL alike)."""
