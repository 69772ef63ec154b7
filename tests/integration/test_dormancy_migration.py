"""Migration 0012: the dormancy policy tables and the records index, up and down, on
both backends. Down to the revision before it (whichever it is once the migrations are
chained) and back up to head, so that the database is left as the other tests expect."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command

from .test_schema_migrations import _config

TABLES = {"dormancy_policies", "dormancy_exemptions"}
INDEX = "ix_patient_records_practitioner_created"


def _state(engine):
    inspector = sa.inspect(engine)
    tables = TABLES & set(inspector.get_table_names())
    indexes = {ix["name"] for ix in inspector.get_indexes("patient_records")}
    return tables, INDEX in indexes


def test_migration_0012_adds_the_policy_tables_and_downgrades_without_them(db_url):
    engine = sa.create_engine(db_url)
    try:
        assert _state(engine) == (TABLES, True)
        with engine.begin() as conn:
            command.downgrade(_config(conn), "0012_dormancy_policy-1")
        assert _state(engine) == (set(), False)
        with engine.begin() as conn:
            command.upgrade(_config(conn), "head")
        assert _state(engine) == (TABLES, True)
    finally:
        engine.dispose()
