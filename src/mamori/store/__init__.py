"""Storage: SQLAlchemy 2 models and repositories over SQLite (default) or PostgreSQL."""
