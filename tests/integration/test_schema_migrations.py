"""The schema is managed by Alembic: older opskit databases upgrade instead of breaking."""

from __future__ import annotations

import json
import os
import socket
import sqlite3

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from opskit.db import MIGRATIONS, connect, newest_revision
from opskit.errors import DatabaseUnavailable


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


def test_the_head_read_without_alembic_is_alembics_head():
    # start-up recognises a current database from the scripts' revision lines alone
    assert newest_revision() == ScriptDirectory.from_config(_config()).get_current_head()


def test_a_database_one_migration_behind_is_upgraded_on_connect(tmp_path):
    url = f"sqlite:///{tmp_path}/behind.db"
    engine = sa.create_engine(url)
    scripts = ScriptDirectory.from_config(_config())
    head = scripts.get_revision(scripts.get_current_head())
    with engine.begin() as conn:
        command.upgrade(_config(conn), head.down_revision)
    engine.dispose()
    db = connect(url)
    assert db.schema_state() == "current"
    db.dispose()


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


def test_a_run_started_before_its_plan_had_a_table_keeps_its_plan_both_ways(tmp_path):
    from opskit import offboard as ob
    from opskit.offboard import Plan, PlanRow

    plan = Plan(
        actor="ops@example.test",
        actor_id="u-ops",
        created_at="2026-07-01T09:00:00Z",
        source="leavers.csv",
        options={},
        rows=[
            PlanRow(row=1, line=2, email="peter@example.test", action="deactivate", group_id="g1"),
            PlanRow(row=2, line=3, email="mia@example.test", action="deactivate", group_id="g1"),
        ],
    )
    url = f"sqlite:///{tmp_path}/old.db"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        command.upgrade(_config(conn), "0006_ledger_index")
        conn.execute(sa.text("INSERT INTO groups (group_id, name) VALUES ('g1', 'Old Clinic')"))
        conn.execute(
            sa.text(
                "INSERT INTO offboard_runs (run_id, actor_id, state, options, plan, started_at) "
                "VALUES ('ob-1', 'u-ops', 'interrupted', :options, :plan, '2026-07-01 09:00:00')"
            ),
            {"options": '{"rows": 2}', "plan": plan.to_stored()},
        )
        conn.execute(
            sa.text(
                "INSERT INTO offboard_run_rows (run_id, row_no, group_id, email, action, result) "
                "VALUES ('ob-1', 1, 'g1', 'peter@example.test', 'deactivate', 'deactivated')"
            )
        )
    engine.dispose()

    db = connect(url)  # upgrades
    rows = ob.run_rows(db, "ob-1")
    assert [(r["email"], r["result"]) for r in rows] == [
        ("peter@example.test", "deactivated"),
        ("mia@example.test", None),
    ]
    with db.begin() as conn:  # opskit's connection: foreign keys enforced
        command.downgrade(_config(conn), "0006_ledger_index")
        kept = conn.execute(sa.text("SELECT plan FROM offboard_runs")).scalar_one()
    db.dispose()
    assert Plan.from_stored(kept).rows == plan.rows


def test_an_sqlite_without_drop_column_still_creates_a_new_database(tmp_path, monkeypatch):
    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 31, 1))
    db = connect(f"sqlite:///{tmp_path}/new.db", create=True)
    assert db.schema_state() == "current"
    db.dispose()


def test_an_sqlite_without_drop_column_refuses_to_upgrade_runs_and_changes_nothing(
    tmp_path, monkeypatch
):
    url = f"sqlite:///{tmp_path}/old.db"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        command.upgrade(_config(conn), "0006_ledger_index")
        conn.execute(
            sa.text(
                "INSERT INTO offboard_runs (run_id, actor_id, state, options, plan, started_at) "
                "VALUES ('ob-1', 'u-ops', 'done', '{}', '{}', '2026-07-01 09:00:00')"
            )
        )
    engine.dispose()
    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 31, 1))
    monkeypatch.setattr(sqlite3, "sqlite_version", "3.31.1")
    with pytest.raises(DatabaseUnavailable, match="needs SQLite 3.35 or later.*3.31.1"):
        connect(url)
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT plan FROM offboard_runs")).scalar_one() == "{}"
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one() == (
            "0006_ledger_index"
        )
    engine.dispose()


def _as_earlier_versions_wrote_it(stored: str) -> str:
    """A stored plan as versions before 0.2 wrote it: one row a line, not arrays of rows."""
    lines = stored.split("\n")
    out = [lines[0]]
    rows = [
        row for line in lines[1:] if line.startswith("[[") for row in json.loads(line.rstrip(","))
    ]
    out += [json.dumps(row) + ("," if i < len(rows) - 1 else "") for i, row in enumerate(rows)]
    out.append("]}")
    return "\n".join(out) + "\n"


def test_a_run_started_by_an_earlier_version_is_converted_and_resumes_its_pending_row(
    db, clinic, monkeypatch
):
    """Earlier versions kept the process in the run's options, wrote every ledger row
    up front (NULL until decided) with no row count, and stored the plan a row a line;
    migration 0008 converts such a run, which then resumes like any other."""
    from opskit import offboard as ob
    from opskit import schema as s

    from .test_offboard import crash_after_batches, events, plan_of

    plan = plan_of(db, clinic, clinic.peter, clinic.mia, clinic.frank, clinic.rita)
    crash_after_batches(monkeypatch, 2)
    with pytest.raises(KeyboardInterrupt):
        ob.apply_plan(db, plan, batch_size=2, progress=False)
    monkeypatch.undo()
    [run] = ob.list_runs(db)
    [pending] = [r for r in ob.run_rows(db, run.run) if r["result"] is None]
    with db.begin() as conn:
        command.downgrade(_config(conn), "0007_run_plans")
        options = json.loads(conn.execute(sa.select(s.offboard_runs.c.options)).scalar_one())
        assert options["process"]["pid"] == os.getpid()
        del options["rows"]
        conn.execute(
            sa.text("UPDATE offboard_runs SET options = :options"),
            {"options": json.dumps(options)},
        )
        stored = conn.execute(sa.text("SELECT plan FROM offboard_run_plans")).scalar_one()
        conn.execute(
            sa.text("UPDATE offboard_run_plans SET plan = :plan"),
            {"plan": _as_earlier_versions_wrote_it(stored)},
        )
        conn.execute(
            sa.text(
                "INSERT INTO offboard_run_rows (run_id, row_no, group_id, user_id, email, "
                "action, fingerprint) VALUES (:run, :row, :group_id, :user_id, :email, "
                ":action, :fingerprint)"
            ),
            {"run": run.run, **{k: pending[k] for k in pending if k != "group"}},
        )
        command.upgrade(_config(conn), "head")
    with db.read() as conn:
        converted = conn.execute(sa.select(s.offboard_runs)).one()
        assert json.loads(converted.options)["rows"] == len(plan.rows)
        assert "process" not in json.loads(converted.options)
        assert (converted.process_pid, converted.process_host) == (
            os.getpid(),
            socket.gethostname(),
        )
        assert (
            conn.execute(
                sa.select(sa.func.count()).where(s.offboard_run_rows.c.result.is_(None))
            ).scalar_one()
            == 0
        )
    assert (ob.run_summary(db, run.run).pending, len(ob.run_rows(db, run.run))) == (
        1,
        len(plan.rows),
    )
    done = ob.resume_run(db, run.run, progress=False)
    assert (done.state, done.pending, done.counts["deactivated"]) == ("done", 0, 5)
    assert [r["result"] for r in ob.run_rows(db, run.run)].count(None) == 0
    assert len(events(db, run=run.run, action="deactivated")) == 5


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request, tmp_path):
    """An empty database of its own (it is downgraded: not the shared test database)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/fresh.db"
        return
    from ..conftest import PG_SERVER, _server_engine

    request.getfixturevalue("pg_database_url")  # skips or fails without a server
    name = f"opskit_mig_{os.getpid()}_{abs(hash(str(tmp_path))) % 10**8}"
    server = _server_engine()
    with server.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield sa.engine.make_url(PG_SERVER).set(database=name).render_as_string(hide_password=False)
    with server.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    server.dispose()


def test_identity_migration_seals_earlier_events_into_the_chain_both_ways(fresh_url):
    """docs/rules.md 9.1: events written before migration 0010 join the hash chain (with
    no login), so ``audit verify`` holds from the upgrade on; the downgrade drops it all."""
    from opskit.audit import verify_chain

    engine = sa.create_engine(fresh_url)
    with engine.begin() as conn:
        command.upgrade(_config(conn), "0008_run_process")
        for n in range(3):
            conn.execute(
                sa.text(
                    "INSERT INTO audit_events (at, actor_id, group_id, user_id, action, reason) "
                    "VALUES (:at, 'u-a', 'g-1', 'u-b', 'deactivated', :reason)"
                ),
                {"at": f"2026-06-0{n + 1} 09:00:00", "reason": f"old {n}"},
            )
    engine.dispose()
    db = connect(fresh_url)  # upgrades to head
    result = verify_chain(db)
    assert (result["intact"], result["events"]) == (True, 3)
    with db.read() as conn:
        logins = conn.execute(sa.text("SELECT login FROM audit_events")).scalars().all()
    assert logins == [None, None, None]
    db.dispose()
    engine = sa.create_engine(fresh_url)
    with engine.begin() as conn:
        command.downgrade(_config(conn), "0008_run_process")
        columns = {c["name"] for c in sa.inspect(conn).get_columns("audit_events")}
        assert not {"login", "hash"} & columns
        assert "operators" not in sa.inspect(conn).get_table_names()
        # the append-only trigger is still there
        with pytest.raises(sa.exc.DBAPIError), conn.begin_nested():
            conn.execute(sa.text("UPDATE audit_events SET reason = 'x'"))
        command.upgrade(_config(conn), "head")
    engine.dispose()
