"""Revisions of the alerts database; Alembic skips this file."""
