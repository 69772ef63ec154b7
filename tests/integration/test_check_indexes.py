"""Migration 0013 and the queries that use it: ``opskit check`` and R4 read only the
memberships they concern (the active Full Access members, the inactive ones, the ones
opskit changed) through partial indexes, on both backends; up and down, back to head."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic import command

from opskit.rules import lockout_counts

from .test_schema_migrations import _config

INDEXES = ("ix_memberships_active_full", "ix_memberships_inactive", "ix_memberships_status_changed")


def _indexes(engine) -> set[str]:
    return {ix["name"] for ix in sa.inspect(engine).get_indexes("memberships")}


def test_migration_0013_adds_the_check_indexes_and_downgrades_without_them(db_url):
    engine = sa.create_engine(db_url)
    try:
        assert set(INDEXES) <= _indexes(engine)
        with engine.begin() as conn:
            command.downgrade(_config(conn), "0013_check_indexes-1")
        assert not set(INDEXES) & _indexes(engine)
        with engine.begin() as conn:
            command.upgrade(_config(conn), "head")
        assert set(INDEXES) <= _indexes(engine)
    finally:
        engine.dispose()


def _uses(conn, query, index: str) -> bool:
    """Can the backend answer ``query`` from the partial ``index``? On PostgreSQL: its
    plan with sequential scans and nested loops priced out (the tables here are tiny)
    names the index.
    On SQLite: the query with ``INDEXED BY index`` on memberships can be planned at all
    (SQLite refuses one whose WHERE clause does not imply the index's condition)."""
    if conn.dialect.name == "postgresql":
        sql = str(query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
        # the same plan whatever ran before: fresh statistics, and hash joins only, so
        # memberships is read on its own (as a nested loop may instead probe it by key)
        conn.exec_driver_sql("ANALYZE memberships")
        for setting in ("enable_seqscan", "enable_nestloop", "enable_mergejoin"):
            conn.exec_driver_sql(f"SET LOCAL {setting} = off")
        return index in "\n".join(conn.exec_driver_sql("EXPLAIN " + sql).scalars())
    # as executed: values the statement binds as parameters, the planner does not see
    compiled = query.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    values = compiled.construct_params()
    params = tuple(values[name] for name in compiled.positiontup or ())
    sql = str(compiled)
    forced = sql.replace("FROM memberships", f"FROM memberships INDEXED BY {index}", 1)
    assert forced != sql
    try:
        conn.exec_driver_sql("EXPLAIN QUERY PLAN " + forced, params).all()
    except sa.exc.OperationalError as error:
        assert "no query solution" in str(error)
        return False
    return True


def _statements(db, call) -> list:
    """The statements ``call(conn)`` executes, as SQLAlchemy objects."""
    seen: list = []

    def before(conn, clauseelement, multiparams, params, execution_options):
        seen.append(clauseelement)

    sa.event.listen(db.engine, "before_execute", before)
    try:
        with db.read() as conn:
            call(conn)
    finally:
        sa.event.remove(db.engine, "before_execute", before)
    return seen


def test_the_lock_out_rule_counts_from_the_active_full_access_members_index(db, clinic):
    with db.read() as conn:
        assert lockout_counts(conn)["g-harbour"] == (3, 1)
    (counting,) = [
        q for q in _statements(db, lockout_counts) if "memberships" in str(q) and "count" in str(q)
    ]
    with db.begin() as conn:
        assert _uses(conn, counting, "ix_memberships_active_full")


@pytest.mark.parametrize(
    "check, index",
    [
        ("_open_sessions_of_inactive", "ix_memberships_inactive"),
        ("_status_against_audit", "ix_memberships_status_changed"),
    ],
)
def test_the_invariants_read_only_the_memberships_they_concern(db, clinic, check, index):
    from opskit import invariants

    statements = _statements(db, lambda conn: list(getattr(invariants, check)(conn)))
    queries = [q for q in statements if "FROM memberships" in str(q)]
    assert queries
    with db.begin() as conn:
        assert all(_uses(conn, q, index) for q in queries)
