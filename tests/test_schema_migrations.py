"""The schema is managed by Alembic: older opskit databases upgrade instead of breaking."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from opskit.db import MIGRATIONS, connect


def _config(conn=None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if conn is not None:
        config.attributes["connection"] = conn
    return config


def test_the_migrations_form_one_line_of_history():
    scripts = ScriptDirectory.from_config(_config())
    assert len(scripts.get_heads()) == 1
    assert len(scripts.get_bases()) == 1


def test_a_database_made_by_the_first_opskit_upgrades_and_keeps_its_rows(tmp_path):
    url = f"sqlite:///{tmp_path}/old.db"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        first = ScriptDirectory.from_config(_config()).get_bases()[0]
        command.upgrade(_config(conn), first)
        conn.execute(sa.text("INSERT INTO groups (group_id, name) VALUES ('g1', 'Old Clinic')"))
    engine.dispose()

    db = connect(url)
    assert db.schema_state() == "current"
    with db.read() as conn:
        assert conn.execute(sa.text("SELECT name FROM groups")).scalar_one() == "Old Clinic"
    db.dispose()


def test_the_schema_matches_the_models_after_all_migrations(db):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from opskit.schema import metadata

    with db.read() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []
