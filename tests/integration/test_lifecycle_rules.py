"""The rules R1-R12 for one member at a time, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

import opskit
from opskit import schema as s
from opskit.audit import audit_events
from opskit.clock import now
from opskit.errors import (
    BadInput,
    FullAccessMember,
    NotAuthorized,
    Refused,
    SignInRefused,
    UnknownGroup,
    UnknownMember,
    UnknownUser,
    WouldLockOutGroup,
)
from opskit.lifecycle import (
    change_access,
    deactivate,
    reactivate,
    revoke_sessions,
    set_status,
    sign_in,
)
from opskit.members import list_members
from opskit.rules import NOT_A_MEMBER, locked_out_groups, lockout_counts, manageable_groups


def member(db, group_id, email):
    with db.read() as conn:
        return conn.execute(
            select(s.memberships)
            .join(s.users, s.users.c.user_id == s.memberships.c.user_id)
            .where(s.memberships.c.group_id == group_id, s.users.c.email_key == email)
        ).one()


def open_sessions(db, group_id, email):
    with db.read() as conn:
        return conn.execute(
            select(func.count())
            .select_from(s.sessions)
            .join(s.users, s.users.c.user_id == s.sessions.c.user_id)
            .where(
                s.sessions.c.group_id == group_id,
                s.users.c.email_key == email,
                s.sessions.c.revoked_at.is_(None),
            )
        ).scalar_one()


def count(db, table):
    with db.read() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def events(db):
    return [(e["action"], e["email"], e["actor"]) for e in audit_events(db)]


# R1 Who may act -----------------------------------------------------------------------


@pytest.mark.parametrize("actor", ["fiona", "olivia", "ops"])
def test_full_access_practitioners_and_administrators_may_deactivate(db, clinic, actor):
    result = deactivate(db, clinic.peter, clinic.harbour, actor=getattr(clinic, actor))
    assert result.outcome == "deactivated"


@pytest.mark.parametrize("actor", ["frank", "rita", "peter", "ivan", "sam"])
def test_only_an_active_non_read_only_full_access_member_of_the_group_may_deactivate(
    db, clinic, actor
):
    with pytest.raises(NotAuthorized, match="may not deactivate members in Harbour Clinic"):
        deactivate(db, clinic.mia, clinic.harbour, actor=getattr(clinic, actor))
    assert member(db, clinic.harbour, clinic.mia).status == "active"
    assert audit_events(db) == []


def test_a_read_only_actor_cannot_change_anything(db, clinic):
    # ops is a read-only billing administrator in Solo Practice
    with pytest.raises(NotAuthorized, match="is read-only there"):
        change_access(db, clinic.sole, clinic.solo, actor=clinic.ops, owner=True)


def test_full_access_in_one_group_grants_nothing_in_another(db, clinic):
    with pytest.raises(NotAuthorized, match="is not a member of the group"):
        reactivate(db, clinic.ivan, clinic.harbour, actor=clinic.sam)
    with pytest.raises(NotAuthorized):
        change_access(db, clinic.peter, clinic.harbour, actor=clinic.sam, level="personal")
    assert member(db, clinic.harbour, clinic.ivan).status == "inactive"


# R2 Leaving ----------------------------------------------------------------------------


def test_member_active_in_another_group_may_deactivate_their_own_membership(db, clinic):
    result = deactivate(db, clinic.mia, clinic.harbour, actor=clinic.mia, reason="moving on")
    assert result.outcome == "deactivated"
    assert member(db, clinic.summit, clinic.mia).status == "active"
    assert open_sessions(db, clinic.summit, clinic.mia) == 1


def test_member_with_no_other_active_group_cannot_deactivate_themselves(db, clinic):
    with pytest.raises(NotAuthorized, match="only while active in another group"):
        deactivate(db, clinic.peter, clinic.harbour, actor=clinic.peter)
    assert member(db, clinic.harbour, clinic.peter).status == "active"


def test_a_leaving_full_access_member_is_still_held_by_the_full_access_guard(db, clinic):
    with pytest.raises(FullAccessMember, match="lower their access level first"):
        deactivate(db, clinic.ops, clinic.harbour, actor=clinic.ops)


# R3 Full Access guard ------------------------------------------------------------------


def test_full_access_member_cannot_be_deactivated(db, clinic):
    with pytest.raises(FullAccessMember) as refused:
        deactivate(db, clinic.fiona, clinic.harbour, actor=clinic.olivia)
    assert "lower their access level first" in str(refused.value)
    assert member(db, clinic.harbour, clinic.fiona).status == "active"


def test_full_access_member_can_be_deactivated_after_lowering_the_level(db, clinic):
    change_access(db, clinic.fiona, clinic.harbour, actor=clinic.olivia, level="clinical")
    result = deactivate(db, clinic.fiona, clinic.harbour, actor=clinic.olivia)
    assert result.outcome == "deactivated"


# R4 Never lock a group out --------------------------------------------------------------


def test_lowering_the_only_full_access_member_is_refused(db, clinic):
    with pytest.raises(WouldLockOutGroup, match="no active Full Access member"):
        change_access(
            db, clinic.sole, clinic.solo, actor=clinic.sole, level="clinical", owner=False
        )
    after = member(db, clinic.solo, clinic.sole)
    assert (after.access_level, after.account_owner) == ("full", True)
    assert audit_events(db) == []


def test_removing_the_last_account_owner_is_refused(db, clinic):
    with pytest.raises(WouldLockOutGroup, match="no active account owner"):
        change_access(db, clinic.olivia, clinic.harbour, actor=clinic.fiona, owner=False)
    assert member(db, clinic.harbour, clinic.olivia).account_owner


def test_ownership_can_pass_to_another_full_access_member(db, clinic):
    change_access(db, clinic.fiona, clinic.harbour, actor=clinic.olivia, owner=True)
    result = change_access(db, clinic.olivia, clinic.harbour, actor=clinic.fiona, owner=False)
    assert result.outcome == "changed"
    assert not member(db, clinic.harbour, clinic.olivia).account_owner


def test_an_owner_must_keep_full_access(db, clinic):
    with pytest.raises(Refused, match="pass the ownership"):
        change_access(db, clinic.olivia, clinic.harbour, actor=clinic.fiona, level="billing")
    with pytest.raises(Refused, match="only a Full Access member can be the account owner"):
        change_access(db, clinic.peter, clinic.harbour, actor=clinic.fiona, owner=True)


def test_two_full_access_members_lowering_each_other_at_once_leave_one_full_member(db_url, clinic):
    # Summit: sam (owner) and ops are the Full Access members. Make ops an owner too, then
    # each lowers the other at the same moment; the group lock lets only one through.
    setup = opskit.connect(db_url)
    change_access(setup, clinic.ops, clinic.summit, actor=clinic.sam, owner=True)
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def lower(target, actor):
        database = opskit.connect(db_url)
        barrier.wait()
        try:
            change_access(
                database, target, clinic.summit, actor=actor, level="billing", owner=False
            )
            outcomes.append("changed")
        except (WouldLockOutGroup, NotAuthorized):
            outcomes.append("refused")
        finally:
            database.dispose()

    threads = [
        threading.Thread(target=lower, args=(clinic.sam, clinic.ops)),
        threading.Thread(target=lower, args=(clinic.ops, clinic.sam)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["changed", "refused"]
    full = [r for r in list_members(setup, group=clinic.summit) if r["access_level"] == "full"]
    assert len(full) == 1 and full[0]["account_owner"]
    setup.dispose()


# R5 Deactivation -------------------------------------------------------------------------


def test_deactivation_records_who_when_why_and_signs_out_every_device_in_that_group(db, clinic):
    result = deactivate(db, clinic.mia, clinic.harbour, actor=clinic.ops, reason="left")
    assert result.sessions_revoked == 0
    result = deactivate(db, clinic.peter, clinic.harbour, actor=clinic.ops, reason="retired")
    assert (result.outcome, result.sessions_revoked) == ("deactivated", 2)
    row = member(db, clinic.harbour, clinic.peter)
    assert row.status == "inactive"
    assert row.status_reason == "retired"
    assert row.status_changed_by == "u-ops"
    assert row.status_changed_at.isoformat() == "2026-07-01T09:00:00"
    assert open_sessions(db, clinic.harbour, clinic.peter) == 0


def test_deactivation_leaves_the_members_other_groups_untouched(db, clinic):
    deactivate(db, clinic.mia, clinic.harbour, actor=clinic.ops)
    assert member(db, clinic.summit, clinic.mia).status == "active"
    assert open_sessions(db, clinic.summit, clinic.mia) == 1


def test_deactivated_member_cannot_sign_in_to_that_group(db, clinic):
    deactivate(db, clinic.mia, clinic.harbour, actor=clinic.ops)
    with pytest.raises(SignInRefused, match="inactive in Harbour Clinic"):
        sign_in(db, clinic.mia, clinic.harbour, device="laptop")
    assert sign_in(db, clinic.mia, clinic.summit, device="laptop").group_id == clinic.summit


def test_deactivation_deletes_nothing(db, clinic):
    tables = [
        s.appointments,
        s.patient_records,
        s.booking_profiles,
        s.integrations,
        s.credit_settings,
        s.reminder_levels,
        s.sessions,
        s.memberships,
        s.users,
    ]
    before = {t.name: count(db, t) for t in tables}
    deactivate(db, clinic.peter, clinic.harbour, actor=clinic.ops)
    assert {t.name: count(db, t) for t in tables} == before


def test_member_lists_show_inactive_members_after_active_ones(db, clinic):
    deactivate(db, clinic.frank, clinic.harbour, actor=clinic.ops)
    statuses = [r["status"] for r in list_members(db, group="Harbour Clinic")]
    assert statuses == sorted(statuses)  # "active" < "inactive"
    assert statuses.count("inactive") == 2


# R6 Idempotence ----------------------------------------------------------------------------


def test_deactivating_an_inactive_member_is_unchanged_and_writes_no_event(db, clinic):
    result = deactivate(db, clinic.ivan, clinic.harbour, actor=clinic.ops)
    assert result.outcome == "unchanged"
    assert audit_events(db) == []


def test_reactivating_an_active_member_is_unchanged_and_writes_no_event(db, clinic):
    assert reactivate(db, clinic.peter, clinic.harbour, actor=clinic.ops).outcome == "unchanged"
    assert audit_events(db) == []


def test_two_concurrent_deactivations_yield_one_deactivated_one_unchanged_one_event(db_url, clinic):
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def run(actor):
        database = opskit.connect(db_url)
        barrier.wait()
        outcomes.append(deactivate(database, clinic.peter, clinic.harbour, actor=actor).outcome)
        database.dispose()

    threads = [threading.Thread(target=run, args=(a,)) for a in (clinic.ops, clinic.olivia)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["deactivated", "unchanged"]
    database = opskit.connect(db_url)
    assert [e["action"] for e in audit_events(database)] == ["deactivated"]
    database.dispose()


# R7 Reactivation -----------------------------------------------------------------------------


def test_reactivation_restores_the_access_it_had_without_reviving_sessions(db, clinic):
    deactivate(db, clinic.peter, clinic.harbour, actor=clinic.ops)
    result = reactivate(db, clinic.peter, clinic.harbour, actor=clinic.ops)
    assert (result.outcome, result.status, result.access_level) == (
        "reactivated",
        "active",
        "clinical",
    )
    assert open_sessions(db, clinic.harbour, clinic.peter) == 0
    sign_in(db, clinic.peter, clinic.harbour, device="phone")
    assert open_sessions(db, clinic.harbour, clinic.peter) == 1


# R8 Read-only alternative -----------------------------------------------------------------


def test_read_only_keeps_the_member_active_and_signed_in(db, clinic):
    result = change_access(db, clinic.peter, clinic.harbour, actor=clinic.ops, read_only=True)
    assert (result.outcome, result.status, result.read_only) == ("changed", "active", True)
    assert open_sessions(db, clinic.harbour, clinic.peter) == 2
    assert sign_in(db, clinic.peter, clinic.harbour, device="tablet")


def test_read_only_is_refused_on_full_access(db, clinic):
    with pytest.raises(FullAccessMember, match="lower their access level first"):
        change_access(db, clinic.fiona, clinic.harbour, actor=clinic.ops, read_only=True)
    assert not member(db, clinic.harbour, clinic.fiona).read_only


def test_raising_a_read_only_member_to_full_access_needs_read_only_off(db, clinic):
    with pytest.raises(FullAccessMember, match="--no-read-only"):
        change_access(db, clinic.rita, clinic.harbour, actor=clinic.ops, level="full")
    result = change_access(
        db, clinic.rita, clinic.harbour, actor=clinic.ops, level="full", read_only=False
    )
    assert (result.access_level, result.read_only) == ("full", False)


# R9 Nothing is destroyed ------------------------------------------------------------------


def test_roles_never_change_a_level_of_the_other_role_is_bad_input(db, clinic):
    with pytest.raises(BadInput, match="not an access level for a practitioner"):
        change_access(db, clinic.peter, clinic.harbour, actor=clinic.ops, level="front_desk")
    assert member(db, clinic.harbour, clinic.peter).role == "practitioner"


def test_the_public_api_has_no_delete_operation():
    names = [n.lower() for n in opskit.__all__]
    assert not [n for n in names if "delete" in n or "remove" in n or "purge" in n]


# R10 Audit -----------------------------------------------------------------------------------


def test_audit_trail_of_deactivate_reactivate_deactivate(db, clinic):
    deactivate(db, clinic.peter, clinic.harbour, actor=clinic.ops, reason="on leave")
    reactivate(db, clinic.peter, clinic.harbour, actor=clinic.olivia)
    deactivate(db, clinic.peter, clinic.harbour, actor=clinic.fiona, reason="left")
    deactivate(db, clinic.peter, clinic.harbour, actor=clinic.fiona)  # unchanged: no event
    trail = audit_events(db, user=clinic.peter)
    assert [(e["action"], e["actor"], e["reason"]) for e in trail] == [
        ("deactivated", clinic.ops, "on leave"),
        ("reactivated", clinic.olivia, None),
        ("deactivated", clinic.fiona, "left"),
    ]
    assert trail[0]["after"] == {"status": "inactive", "sessions_revoked": 2}
    assert trail[2]["after"] == {"status": "inactive", "sessions_revoked": 0}
    assert {e["group_id"] for e in trail} == {clinic.harbour}
    assert all(e["at"] == "2026-07-01T09:00:00Z" for e in trail)


def test_access_change_writes_one_event_with_before_and_after(db, clinic):
    change_access(db, clinic.frank, clinic.harbour, actor=clinic.ops, level="billing")
    (event,) = audit_events(db)
    assert event["action"] == "access_changed"
    assert (event["before"], event["after"]) == (
        {"access_level": "front_desk"},
        {"access_level": "billing"},
    )


def test_a_refused_change_writes_no_event(db, clinic):
    with pytest.raises(WouldLockOutGroup):
        change_access(db, clinic.olivia, clinic.harbour, actor=clinic.ops, owner=False)
    assert audit_events(db) == []


# R11 Input hygiene -------------------------------------------------------------------------


def test_emails_match_case_insensitively_with_spaces_ignored_and_groups_by_id_or_name(db, clinic):
    result = deactivate(db, "  Peter@EXAMPLE.test ", "Harbour Clinic", actor=" OPS@example.TEST")
    assert (result.outcome, result.group_id) == ("deactivated", "g-harbour")


# R12 Bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "email, group, actor, error, text",
    [
        ("nobody@example.test", "g-harbour", "ops", UnknownUser, "email: no user"),
        ("peter", "g-nowhere", "ops", UnknownGroup, "--group: no group"),
        ("peter", "Harbour clinic", "ops", UnknownGroup, "no group with id or name"),
        ("peter", "g-harbour", "ghost@example.test", UnknownUser, "--actor: no user"),
        ("sam", "g-harbour", "ops", UnknownMember, "is not a member of Harbour Clinic"),
    ],
)
def test_unknown_user_group_or_member_is_bad_input_and_changes_nothing(
    db, clinic, email, group, actor, error, text
):
    email = getattr(clinic, email, email)
    actor = getattr(clinic, actor, actor)
    with pytest.raises(error, match=text):
        deactivate(db, email, group, actor=actor)
    assert audit_events(db) == []


def test_unknown_level_is_bad_input(db, clinic):
    with pytest.raises(BadInput, match="--level: 'superuser' is not an access level"):
        change_access(db, clinic.peter, clinic.harbour, actor=clinic.ops, level="superuser")


# Dry run -------------------------------------------------------------------------------------


def test_dry_run_reports_the_deactivation_and_writes_nothing(db, clinic):
    result = deactivate(db, clinic.peter, clinic.harbour, actor=clinic.ops, dry_run=True)
    assert (result.outcome, result.dry_run, result.sessions_revoked) == ("deactivated", True, 2)
    assert member(db, clinic.harbour, clinic.peter).status == "active"
    assert open_sessions(db, clinic.harbour, clinic.peter) == 2
    assert audit_events(db) == []


# Each rule and change once, set-based: one member or many ----------------------------


def test_lock_out_counts_cover_every_group_and_a_group_without_active_members_is_locked(db, clinic):
    with db.begin() as conn:
        conn.execute(s.groups.insert().values(group_id="g-empty", name="Empty Clinic"))
        counts = lockout_counts(conn)
        assert set(counts) == {"g-harbour", "g-summit", "g-solo", "g-empty"}
        assert counts["g-harbour"] == (3, 1) and counts["g-empty"] == (0, 0)
        assert lockout_counts(conn, ["g-summit", "g-empty"]) == {
            "g-summit": (2, 1),
            "g-empty": (0, 0),
        }
        locked = locked_out_groups(conn)
    assert list(locked) == ["g-empty"]
    assert [lack.kind for lack in locked["g-empty"]] == [
        "no_full_access_member",
        "no_account_owner",
    ]


def test_what_an_actor_lacks_is_named_per_group_by_one_rule(db, clinic):
    with db.read() as conn:
        ops = manageable_groups(conn, "u-ops")
        frank = manageable_groups(conn, "u-frank", ["g-harbour", "g-summit"])
    assert ops.ok == {"g-harbour", "g-summit"} and ops.lack("g-solo") == "is read-only there"
    assert not frank.ok and frank.lack("g-harbour") == "does not have Full Access there"
    assert frank.lack("g-summit") == NOT_A_MEMBER


def test_the_status_flip_changes_only_members_still_in_the_other_status_and_counts_them(db, clinic):
    batch = [
        member(db, "g-harbour", email).membership_id
        for email in (clinic.peter, clinic.frank, clinic.ivan)
    ]
    change = {"actor_id": "u-ops", "at": now(), "reason": None}
    with db.begin() as conn:
        assert set_status(conn, batch, "inactive", **change) == 2  # ivan is inactive already
        assert set_status(conn, batch, "inactive", **change) == 0
        assert revoke_sessions(conn, batch, at=change["at"]) == 3  # peter's 2, frank's 1
        assert set_status(conn, batch[:1], "active", **change) == 1
    assert [member(db, "g-harbour", e).status for e in (clinic.peter, clinic.frank)] == [
        "active",
        "inactive",
    ]
