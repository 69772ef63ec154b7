"""docs/rules.md 9.1: who acts is established (the login), bound mode, the login on
every audit event. On PostgreSQL each login is a real login role given ``opskit grant``.

Every write entry point in bound mode (an unmapped login, a login naming someone else,
a mapped login with the actor left out or named) is one dimension of the authorisation
matrix, tests/integration/test_authorisation_matrix.py."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from opskit import schema as s
from opskit.audit import audit_events
from opskit.errors import BadInput, NotAuthorized, Refused
from opskit.identity import (
    DEMO_ACTOR,
    add_operator,
    list_operators,
    notebook_actor,
    remove_operator,
    whoami,
)
from opskit.lifecycle import deactivate, reactivate
from opskit.members import list_members

from ..scenarios import email


def _bind(logins, login: str, name: str) -> str:
    """Map ``login`` to the user ``name`` as the owner's login (mapped to ops first)."""
    if not list_operators(logins.db):
        add_operator(logins.db, logins.owner, email("ops"), actor=email("ops"))
    add_operator(logins.db, logins.name(login), email(name))
    return logins.name(login)


def test_login_is_session_user_on_postgresql_else_jupyterhub_user(clinic, logins):
    with logins.acting("alice") as db:
        me = whoami(db)
    assert me["login"] == logins.name("alice")
    assert me["source"] == ("postgresql" if logins.postgres else "jupyterhub")
    assert me["user"] is None


def test_without_a_mapping_the_actor_is_required(clinic, db):
    with pytest.raises(BadInput, match="--actor"):
        deactivate(db, email("peter"), "g-harbour")
    assert deactivate(db, email("peter"), "g-harbour", actor=email("ops")).outcome == "deactivated"


def test_first_mapping_starts_bound_mode_and_changes_are_made_as_the_mapped_user(clinic, logins):
    alice = _bind(logins, "alice", "fiona")
    with logins.acting("alice") as db:
        assert whoami(db)["user"] == email("fiona")
        assert deactivate(db, email("peter"), "g-harbour").outcome == "deactivated"
    event = audit_events(logins.db, user=email("peter"))[-1]
    assert (event["actor"], event["login"], event["action"]) == (
        email("fiona"),
        alice,
        "deactivated",
    )


def test_in_bound_mode_an_actor_naming_someone_else_is_refused(clinic, logins):
    _bind(logins, "alice", "fiona")
    with logins.acting("alice") as db:
        with pytest.raises(NotAuthorized, match="names someone else"):
            deactivate(db, email("peter"), "g-harbour", actor=email("olivia"))
        # naming oneself is fine, in any case and spacing (R11)
        result = deactivate(db, email("peter"), "g-harbour", actor=" FIONA@example.test ")
    assert result.outcome == "deactivated"


def test_a_notebook_acts_as_the_named_actor_else_the_bound_user_else_the_demo_analyst(
    clinic, logins
):
    assert notebook_actor(logins.db, None) == DEMO_ACTOR  # unbound: the demo's analyst
    assert notebook_actor(logins.db, email("olivia")) == email("olivia")
    _bind(logins, "alice", "fiona")
    with logins.acting("alice") as db:
        assert notebook_actor(db, None) == email("fiona")
        assert notebook_actor(db, "  ") == email("fiona")
        # named: passed on as it is, so the verb's own check refuses anyone else
        assert notebook_actor(db, email("olivia")) == email("olivia")
    with logins.acting("mallory") as db:
        assert notebook_actor(db, None) is None  # unmapped: acts as nobody


def test_an_unmapped_login_may_read_but_not_change_anything(clinic, logins):
    _bind(logins, "alice", "fiona")
    with logins.acting("mallory") as db:
        assert any(m["email"] == email("peter") for m in list_members(db, group="g-harbour"))
        with pytest.raises(NotAuthorized, match=logins.name("mallory")):
            deactivate(db, email("peter"), "g-harbour", actor=email("fiona"))
        with pytest.raises(NotAuthorized, match="not mapped"):
            reactivate(db, email("ivan"), "g-harbour")
    with logins.db.read() as conn:
        status = conn.execute(
            select(s.memberships.c.status).where(s.memberships.c.user_id == "u-peter")
        ).scalar()
    assert status == "active"


def test_changing_the_mapping_needs_full_access_in_every_group_of_the_mapped_user(clinic, logins):
    _bind(logins, "alice", "fiona")  # the owner's login acts as ops
    # fiona (Full Access in Harbour only) may not map mia (Harbour and Summit) ...
    if logins.postgres:
        # ... and on PostgreSQL a granted role may not change the mapping at all
        with logins.acting("alice") as db, pytest.raises(Refused, match="permission denied"):
            add_operator(db, "mia_login", email("mia"))
    else:
        with logins.acting("alice") as db, pytest.raises(NotAuthorized, match="Summit Physio"):
            add_operator(db, "mia_login", email("mia"))
    # ops is Full Access in Harbour and Summit: allowed
    assert add_operator(logins.db, "mia_login", email("mia"))["outcome"] == "added"
    # ops is read-only in Solo Practice: may not map sole
    with pytest.raises(NotAuthorized, match="read-only there in Solo Practice"):
        add_operator(logins.db, "sole_login", email("sole"))
    with pytest.raises(NotAuthorized, match="read-only there in Solo Practice"):
        remove_operator(logins.db, logins.owner)  # ops's own mapping: ops is in Solo too
    names = {row["login"]: row["user"] for row in list_operators(logins.db)}
    assert names == {
        logins.owner: email("ops"),
        logins.name("alice"): email("fiona"),
        "mia_login": email("mia"),
    }


def test_mapping_changes_are_audited(clinic, logins):
    alice = _bind(logins, "alice", "fiona")
    remove_operator(logins.db, alice)
    events = [e for e in audit_events(logins.db) if e["action"].startswith("operator_")]
    assert [(e["action"], e["actor"], e["email"], e["login"]) for e in events] == [
        ("operator_added", email("ops"), email("ops"), logins.owner),
        ("operator_added", email("ops"), email("fiona"), logins.owner),
        ("operator_removed", email("ops"), email("fiona"), logins.owner),
    ]
    assert events[1]["after"] == {"login": alice, "user": email("fiona")}


def test_the_last_mapping_cannot_be_removed(clinic, logins):
    add_operator(logins.db, logins.owner, email("olivia"), actor=email("olivia"))
    with pytest.raises(Refused, match="last operator"):
        remove_operator(logins.db, logins.owner)
    assert len(list_operators(logins.db)) == 1


def test_a_login_mapped_to_another_user_is_refused_and_bad_logins_are_bad_input(clinic, logins):
    _bind(logins, "alice", "fiona")
    with pytest.raises(Refused, match="mapped to another user"):
        add_operator(logins.db, logins.name("alice"), email("olivia"))
    assert add_operator(logins.db, logins.name("alice"), email("fiona"))["outcome"] == "unchanged"
    for bad in ("", "two words", "x" * 129, "tab\there"):
        with pytest.raises(BadInput, match="LOGIN"):
            add_operator(logins.db, bad, email("olivia"))
    with pytest.raises(BadInput, match="not mapped"):
        remove_operator(logins.db, "nobody")


def test_every_audit_event_records_the_login_in_both_modes(clinic, logins):
    deactivate(logins.db, email("peter"), "g-harbour", actor=email("ops"))
    _bind(logins, "alice", "fiona")
    with logins.acting("alice") as db:
        reactivate(db, email("peter"), "g-harbour")
    rows = audit_events(logins.db, user=email("peter"))
    assert [(e["action"], e["login"]) for e in rows] == [
        ("deactivated", logins.owner),
        ("reactivated", logins.name("alice")),
    ]
