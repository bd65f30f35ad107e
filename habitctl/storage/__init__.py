"""Storage: SQLAlchemy models, the engine/session factory and schema checks."""
