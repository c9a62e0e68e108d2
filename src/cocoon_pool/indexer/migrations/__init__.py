"""Alembic scripts of the indexer database (a package so that they ship with the wheel)."""
