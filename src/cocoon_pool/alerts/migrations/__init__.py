"""Alembic scripts of the alerts database (a package so that they ship with the wheel)."""
