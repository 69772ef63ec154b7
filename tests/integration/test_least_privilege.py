"""docs/rules.md 9.1, ``opskit grant ROLE`` (PostgreSQL): a granted login role can do
what opskit needs and nothing more. Each refusal is proved by trying it as that role."""

from __future__ import annotations

import shutil
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from opskit.audit import audit_events, verify_chain
from opskit.checklist import resolve_checklist
from opskit.db import connect
from opskit.errors import BadInput, Refused
from opskit.grants import grant
from opskit.identity import add_operator, remove_operator
from opskit.lifecycle import deactivate, reactivate, sign_in
from opskit.offboard import apply_plan, plan_offboarding, undo_run
from opskit.offboard.review import approve_plan

from ..conftest import PG_SERVER, _truncate_all
from ..logins import Logins
from ..scenarios import build_clinic, email
from ..stress.bound import LoginRoles


@pytest.fixture
def pg(pg_migrated, frozen_now, monkeypatch):
    _truncate_all(pg_migrated)
    db = connect(pg_migrated)
    build_clinic(db)
    logins = Logins(db, pg_migrated, monkeypatch)
    add_operator(db, logins.owner, email("ops"), actor=email("ops"))
    add_operator(db, logins.name("alice"), email("fiona"))
    add_operator(db, logins.name("bob"), email("olivia"))
    yield logins
    logins.close()
    db.dispose()


def test_a_granted_role_can_do_everything_opskit_needs(pg, tmp_path):
    with pg.acting("alice") as db:
        sign_in(db, email("peter"), "g-harbour", device="tablet")
        resolve_checklist(db, group="g-harbour", user=email("peter"), item="all")
        deactivate(db, email("frank"), "g-harbour", reason="left")
        reactivate(db, email("frank"), "g-harbour", restore_settings=True)
        deactivate(db, email("peter"), "g-harbour", resolve_checklist=True)
        reactivate(db, email("peter"), "g-harbour", restore_settings=True)
        path = plan_offboarding(db, [{"email": email("mia"), "group": "g-harbour"}]).save(
            tmp_path / "plan.json"
        )
    with pg.acting("bob") as db:
        approve_plan(db, path)
    with pg.acting("alice") as db:
        run = apply_plan(db, path, resolve_checklist=True, progress=False).run
        assert undo_run(db, run, progress=False).state == "undone"
    assert verify_chain(pg.db)["intact"]
    logins = {e["login"] for e in audit_events(pg.db)}
    assert logins == {pg.owner, pg.name("alice"), pg.name("bob")}


REFUSED = [
    pytest.param("CREATE TABLE sneaky (x int)", id="no_ddl_create"),
    pytest.param("ALTER TABLE memberships ADD COLUMN sneaky int", id="no_ddl_alter"),
    pytest.param("DROP TABLE audit_events", id="no_ddl_drop"),
    pytest.param("TRUNCATE audit_events", id="no_truncate"),
    pytest.param("TRUNCATE memberships CASCADE", id="no_truncate_members"),
    pytest.param(
        "ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only", id="no_trigger_change"
    ),
    pytest.param("DROP TRIGGER audit_events_append_only ON audit_events", id="no_trigger_drop"),
    pytest.param("SET session_replication_role = replica", id="no_replica_mode"),
    pytest.param("UPDATE audit_events SET reason = 'x'", id="no_audit_update"),
    pytest.param("DELETE FROM audit_events", id="no_audit_delete"),
    pytest.param(
        "INSERT INTO audit_events (at, actor_id, group_id, user_id, action, login) "
        "VALUES (now(), 'u-ops', 'g-harbour', 'u-peter', 'deactivated', 'someone_else')",
        id="no_forged_login",
    ),
    pytest.param(
        "INSERT INTO operators VALUES ('mallory', 'u-ops', now(), 'u-ops')", id="no_mapping_insert"
    ),
    pytest.param("UPDATE operators SET user_id = 'u-olivia'", id="no_mapping_update"),
    pytest.param("DELETE FROM operators", id="no_mapping_delete"),
    pytest.param("UPDATE plan_approvals SET approved_by = 'u-olivia'", id="no_approval_update"),
    pytest.param("UPDATE groups SET name = 'renamed'", id="no_group_rename"),
    pytest.param("INSERT INTO users VALUES ('u-x', 'x@x', 'x@x', 'X')", id="no_new_users"),
]


@pytest.mark.parametrize("statement", REFUSED)
def test_a_granted_role_is_refused(pg, statement):
    engine = sa.create_engine(pg.url_of("alice"))
    try:
        with engine.connect() as conn, pytest.raises(sa.exc.DBAPIError) as refused:
            conn.execute(sa.text(statement))
        message = str(refused.value.orig)
        assert "permission denied" in message or "must be owner" in message, message
    finally:
        engine.dispose()
    assert verify_chain(pg.db)["intact"]


def test_a_granted_role_may_not_change_the_operator_mapping_through_opskit(pg):
    with pg.acting("alice") as db:
        with pytest.raises(Refused, match="permission denied"):
            add_operator(db, "mallory", email("peter"))
        with pytest.raises(Refused, match="permission denied"):
            remove_operator(db, pg.name("bob"))


def test_grant_refuses_unknown_roles_superusers_and_bad_names(pg):
    with pytest.raises(BadInput, match="no role"):
        grant(pg.db, "nobody_at_all_here")
    with pytest.raises(BadInput, match="not a role name"):
        grant(pg.db, 'x"; DROP TABLE users; --')
    with pytest.raises(Refused, match="superuser"):
        grant(pg.db, "postgres")


def test_grant_is_for_postgresql_only(tmp_path, sqlite_template):
    path = tmp_path / "opskit.db"
    shutil.copy(sqlite_template, path)
    db = connect(f"sqlite:///{path}")
    with pytest.raises(BadInput, match="PostgreSQL"):
        grant(db, "anyone")
    db.dispose()


def test_grants_run_side_by_side_all_succeed(pg):
    # a deployment script granting each analyst's role at once: PostgreSQL refuses two
    # concurrent GRANTs on one table ("tuple concurrently updated") unless they queue
    with LoginRoles(PG_SERVER, 4) as roles:
        roles.databases.add(pg.url)
        barrier = threading.Barrier(len(roles.names))

        def grant_after_barrier(role: str) -> str:
            barrier.wait(timeout=60)
            return grant(pg.db, role)["outcome"]

        with ThreadPoolExecutor(len(roles.names)) as pool:
            outcomes = list(pool.map(grant_after_barrier, roles.names))
    assert outcomes == ["granted"] * len(roles.names)
