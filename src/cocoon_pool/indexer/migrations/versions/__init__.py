"""Revisions of the indexer database; Alembic skips this file."""
