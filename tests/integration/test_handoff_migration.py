"""Migration 0014: the index on one practitioner's diary across groups (the hand-off
asks whether a successor is booked at a time in any group), up and down, on both
backends, back to head so the database is left as the other tests expect."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command

from .test_schema_migrations import _config

INDEX = "ix_appointments_diary"


def _indexed(engine) -> bool:
    return INDEX in {ix["name"] for ix in sa.inspect(engine).get_indexes("appointments")}


def test_migration_0014_adds_the_diary_index_and_downgrades_without_it(db_url):
    engine = sa.create_engine(db_url)
    try:
        assert _indexed(engine)
        with engine.begin() as conn:
            command.downgrade(_config(conn), "0014_appointment_diary-1")
        assert not _indexed(engine)
        with engine.begin() as conn:
            command.upgrade(_config(conn), "head")
        assert _indexed(engine)
    finally:
        engine.dispose()
