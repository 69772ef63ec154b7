"""The pre-deactivation checklist (docs/rules.md) on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading
from datetime import datetime

import pytest
from sqlalchemy import event, func, insert, select, update

from opskit import checklist as ck
from opskit import schema as s
from opskit.audit import audit_events
from opskit.clock import now
from opskit.db import connect
from opskit.errors import BadInput, FullAccessMember, NotAuthorized, UnknownMember
from opskit.lifecycle import change_access, deactivate, reactivate

RESOLVABLE = ["online_booking", "integrations", "credits_auto_top_up", "appointment_reminders"]


def states(rows, email=None, group_id=None):
    return {
        r["item"]: r["state"]
        for r in rows
        if (email is None or r["email"] == email)
        and (group_id is None or r["group_id"] == group_id)
    }


def membership_id(db, group_id, user_id):
    with db.read() as conn:
        return conn.execute(
            select(s.memberships.c.membership_id).where(
                s.memberships.c.group_id == group_id, s.memberships.c.user_id == user_id
            )
        ).scalar_one()


def settings(db):
    """Every setting the checklist may touch, by natural key (ids are surrogates)."""
    with db.read() as conn:
        bp, it, cs, rl = (
            s.booking_profiles.c,
            s.integrations.c,
            s.credit_settings.c,
            s.reminder_levels.c,
        )
        return {
            "profiles": sorted(
                conn.execute(
                    select(bp.group_id, bp.user_id, bp.location_id, bp.directory_profile,
                           bp.online_bookings)
                ).all()
            ),  # fmt: skip
            "integrations": sorted(
                conn.execute(select(it.group_id, it.user_id, it.kind, it.enabled)).all()
            ),
            "credits": sorted(
                (tuple(r) for r in conn.execute(
                    select(cs.group_id, cs.user_id, cs.auto_top_up, cs.trigger_balance))),
                key=repr,
            ),  # fmt: skip
            "reminders": sorted(
                (tuple(r) for r in conn.execute(select(rl.group_id, rl.user_id, rl.name))),
                key=repr,
            ),
            "grants": sorted(conn.execute(select(s.export_grants.c.group_id,
                                                 s.export_grants.c.user_id)).all()),
        }  # fmt: skip


def count(db, table):
    with db.read() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def events(db):
    return [(e["action"], e["email"], e["item"]) for e in audit_events(db)]


class StatementCounter:
    """Counts the SQL statements a block sends (to prove set-based work)."""

    def __init__(self, db):
        self.engine = db.engine
        self.statements: list[str] = []

    def _listen(self, conn, cursor, statement, *args):
        self.statements.append(statement)

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._listen)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self._listen)

    @property
    def selects(self):
        # a read: a SELECT, or one that names a common table expression first
        return [q for q in self.statements if q.lstrip().upper().startswith(("SELECT", "WITH"))]


def give_pending_settings(db, group_id, user_id):
    """Give another member an enabled integration and an individual auto top-up."""
    with db.begin() as conn:
        conn.execute(
            insert(s.integrations),
            [{"group_id": group_id, "user_id": user_id, "kind": "ical_feed", "enabled": True}],
        )
        conn.execute(
            insert(s.credit_settings),
            [{"group_id": group_id, "user_id": user_id, "auto_top_up": True, "trigger_balance": 5}],
        )


# Evaluation ---------------------------------------------------------------------------


def test_member_with_every_setting_left_on_shows_action_needed_on_each_resolvable_item(db, clinic):
    rows = ck.checklist(db, group=clinic.harbour, user=clinic.peter)
    assert [r["item"] for r in rows] == list(ck.ITEMS)
    assert states(rows) == {
        "online_booking": "action_needed",
        "integrations": "action_needed",
        "credits_auto_top_up": "action_needed",
        "appointment_reminders": "action_needed",
        "data_export": "optional",
        "future_appointments": "advisory",
    }
    future = rows[-1]
    assert future["count"] == 2
    assert {"group_id", "group", "user_id", "email", "name", "status", "detail"} <= set(future)
    assert "ical_feed" in rows[1]["detail"]


def test_inactive_member_bookable_online_shows_action_needed_on_online_booking(db, clinic):
    deactivate(db, clinic.peter, clinic.harbour, actor=clinic.ops)
    row = ck.checklist(db, group=clinic.harbour, user=clinic.peter)[0]
    assert (row["status"], row["item"], row["state"]) == (
        "inactive",
        "online_booking",
        "action_needed",
    )


def test_administrator_gets_not_applicable_on_booking_profiles_and_appointments(db, clinic):
    rows = ck.checklist(db, group=clinic.harbour, user=clinic.frank)
    assert states(rows) == {
        "online_booking": "not_applicable",
        "integrations": "ok",
        "credits_auto_top_up": "ok",
        "appointment_reminders": "ok",
        "data_export": "optional",
        "future_appointments": "not_applicable",
    }


def test_administrator_with_a_bookable_profile_is_never_hidden_behind_the_role(db, clinic):
    with db.begin() as conn:
        conn.execute(
            insert(s.booking_profiles),
            [
                {
                    "group_id": clinic.harbour,
                    "user_id": "u-frank",
                    "location_id": "l-harbour-1",
                    "directory_profile": "public",
                    "online_bookings": "enabled",
                }
            ],
        )
    rows = ck.checklist(db, group=clinic.harbour, user=clinic.frank)
    assert states(rows)["online_booking"] == "action_needed"


def test_practitioner_without_individual_settings_passes_every_item_but_the_optional_export(
    db, clinic
):
    rows = ck.checklist(db, group=clinic.harbour, user=clinic.fiona)
    assert states(rows) == {
        "online_booking": "ok",
        "integrations": "ok",
        "credits_auto_top_up": "ok",
        "appointment_reminders": "ok",
        "data_export": "optional",
        "future_appointments": "ok",
    }


def test_hidden_and_disabled_profiles_and_a_disabled_integration_pass(db, clinic):
    rows = ck.checklist(db, group=clinic.summit, user=clinic.mia)
    assert states(rows)["online_booking"] == "ok"
    with db.begin() as conn:
        conn.execute(update(s.integrations).values(enabled=False))
    rows = ck.checklist(db, group=clinic.harbour, user=clinic.peter)
    assert states(rows)["integrations"] == "ok"


def test_future_appointments_counts_only_appointments_after_the_as_of_time(db, clinic):
    peter = membership_id(db, clinic.harbour, "u-peter")
    with db.read() as conn:
        at_start = ck.evaluate_members(conn, [peter], at=datetime(2026, 7, 1, 9))
        a_week_on = ck.evaluate_members(conn, [peter], at=datetime(2026, 7, 5, 0))
        later = ck.evaluate_members(conn, [peter], at=datetime(2026, 8, 1, 0))
    assert (at_start[-1]["count"], a_week_on[-1]["count"], later[-1]["count"]) == (2, 1, 0)
    assert (at_start[-1]["state"], later[-1]["state"]) == ("advisory", "ok")


def test_data_export_is_ok_once_granted(db, clinic):
    ck.resolve_checklist(
        db, group=clinic.harbour, user=clinic.peter, item="data_export", actor=clinic.ops
    )
    row = ck.checklist(db, group=clinic.harbour, user=clinic.peter)[4]
    assert (row["item"], row["state"]) == ("data_export", "ok")


def test_checklist_of_a_user_covers_each_of_their_groups(db, clinic):
    rows = ck.checklist(db, user=" MIA@example.test ")
    assert len(rows) == 12
    assert {r["group_id"] for r in rows} == {clinic.harbour, clinic.summit}


def test_checklist_of_all_groups_has_six_rows_per_membership(db, clinic):
    assert len(ck.checklist(db)) == 6 * count(db, s.memberships)


def test_checklist_of_a_selection_names_members_by_group_and_email(db, clinic):
    rows = ck.checklist(
        db,
        members=[
            ("Harbour Clinic", clinic.peter),
            {"group_id": clinic.summit, "email": clinic.mia},
        ],
    )
    assert {(r["group_id"], r["email"]) for r in rows} == {
        (clinic.harbour, clinic.peter),
        (clinic.summit, clinic.mia),
    }
    with pytest.raises(UnknownMember, match="is not a member of Solo Practice"):
        ck.checklist(db, members=[(clinic.solo, clinic.peter)])


@pytest.mark.parametrize("enabled", [True, False])
def test_a_checklist_leaves_the_garbage_collector_as_it_found_it(db, clinic, enabled):
    """The collector is paused while the rows are built (a sixth of the largest group's
    time), and the caller's process is left as it was, also when the call fails."""
    import gc

    (gc.enable if enabled else gc.disable)()
    try:
        assert ck.checklist(db, group="g-harbour")
        assert gc.isenabled() is enabled
        with pytest.raises(BadInput):
            ck.checklist(db, group="no such group")
        assert gc.isenabled() is enabled
    finally:
        gc.enable()


def test_checklist_lists_inactive_members_after_active_ones(db, clinic):
    rows = ck.checklist(db, group=clinic.harbour)
    statuses = [r["status"] for r in rows]
    assert statuses == sorted(statuses, key=lambda status: status != "active")
    assert rows[-1]["email"] == clinic.ivan


def test_evaluation_reads_each_item_table_once_per_chunk_of_members_never_once_per_member(
    db, clinic, monkeypatch
):
    per_chunk = 1 + 6  # the members, then one query per item table
    with db.read() as conn:
        ids = list(conn.execute(select(s.memberships.c.membership_id)).scalars())
        with StatementCounter(db) as counter:
            rows = ck.evaluate_members(conn, ids)
        assert len(counter.selects) == per_chunk
        monkeypatch.setattr(ck.facts, "CHUNK", 5)
        with StatementCounter(db) as counter:
            chunked = ck.evaluate_members(conn, ids)
        assert len(counter.selects) == per_chunk * -(-len(ids) // 5)
    assert chunked == rows
    assert len(rows) == 6 * len(ids)


def test_pending_conditions_agree_with_the_evaluated_action_needed_states(db, clinic):
    deactivate(db, clinic.peter, clinic.harbour, actor=clinic.ops)
    m = s.memberships.alias("m")
    conditions = ck.pending_conditions(m)
    with db.read() as conn:
        pending = {
            (row.membership_id, item)
            for item, condition in conditions.items()
            for row in conn.execute(select(m.c.membership_id).where(condition))
        }
        counted = dict(
            conn.execute(select(m.c.membership_id, ck.future_appointments_count(m, now()))).all()
        )
    rows = ck.checklist(db)
    assert pending == {
        (r["membership_id"], r["item"]) for r in rows if r["state"] == "action_needed"
    }
    assert {r["membership_id"]: r["count"] for r in rows if r["item"] == "future_appointments"} == (
        counted
    )


def test_the_summary_of_every_group_counts_the_same_states_as_the_rows(db, clinic):
    deactivate(db, clinic.peter, clinic.harbour, actor=clinic.ops)
    ck.resolve_checklist(
        db, group=clinic.summit, user=clinic.mia, item="data_export", actor=clinic.ops
    )
    expected: dict[tuple[str, str], dict[str, int]] = {}
    for row in ck.checklist(db):
        counts = expected.setdefault((row["group_id"], row["item"]), dict.fromkeys(ck.STATES, 0))
        counts[row["state"]] += 1
    summary = ck.checklist_summary(db)
    assert {(r["group_id"], r["item"]): {k: r[k] for k in ck.STATES} for r in summary} == expected
    booking = next(
        r for r in summary if (r["group_id"], r["item"]) == (clinic.harbour, "online_booking")
    )
    assert (booking["members"], booking["inactive_action_needed"]) == (8, 1)
    assert [r["item"] for r in ck.checklist_summary(db, group="Solo Practice")] == list(ck.ITEMS)


# Resolution ---------------------------------------------------------------------------


def test_resolving_writes_one_checklist_resolved_event_per_item(db, clinic):
    rows = ck.resolve_checklist(
        db, group=clinic.harbour, user=clinic.peter, item="all", actor=clinic.ops
    )
    assert events(db) == [("checklist_resolved", clinic.peter, item) for item in RESOLVABLE]
    assert [r["item"] for r in rows if r["resolved"]] == RESOLVABLE
    assert all(states(rows)[item] == "ok" for item in RESOLVABLE)
    first = audit_events(db)[0]
    assert first["before"]["profiles"]["l-harbour-1"] == {
        "directory_profile": "public",
        "online_bookings": "enabled",
    }
    assert first["after"]["profiles"]["l-harbour-1"]["directory_profile"] == "hidden"


def test_resolving_online_booking_hides_the_profile_and_disables_bookings_at_every_location(
    db, clinic
):
    ck.resolve_checklist(
        db, group=clinic.harbour, user=clinic.peter, item="online_booking", actor=clinic.ops
    )
    profiles = [p[3:] for p in settings(db)["profiles"] if p[1] == "u-peter"]
    assert profiles == [("hidden", "disabled"), ("hidden", "disabled")]
    assert events(db) == [("checklist_resolved", clinic.peter, "online_booking")]


def test_resolving_integrations_disables_them_and_leaves_the_other_items(db, clinic):
    ck.resolve_checklist(
        db, group=clinic.harbour, user=clinic.peter, item="integrations", actor=clinic.ops
    )
    assert [i[2:] for i in settings(db)["integrations"]] == [
        ("ical_feed", False),
        ("video_consult", False),
    ]
    rows = ck.checklist(db, group=clinic.harbour, user=clinic.peter)
    assert states(rows)["online_booking"] == "action_needed"


def test_resolving_credits_never_touches_the_group_row(db, clinic):
    before = settings(db)["credits"]
    ck.resolve_checklist(
        db, group=clinic.harbour, user=clinic.peter, item="credits_auto_top_up", actor=clinic.ops
    )
    after = settings(db)["credits"]
    group_row = [r for r in before if r[1] is None]
    assert group_row and group_row == [r for r in after if r[1] is None]
    assert group_row[0][2] is True
    assert [r[2] for r in after if r[1] == "u-peter"] == [False]


def test_resolving_reminders_removes_the_individual_level_so_the_group_default_applies(db, clinic):
    ck.resolve_checklist(
        db, group=clinic.harbour, user=clinic.peter, item="appointment_reminders", actor=clinic.ops
    )
    assert settings(db)["reminders"] == [(clinic.harbour, None, "standard")]


def test_resolving_an_item_that_is_already_ok_writes_nothing(db, clinic):
    ck.resolve_checklist(db, group=clinic.harbour, user=clinic.peter, item="all", actor=clinic.ops)
    written = (events(db), count(db, s.settings_snapshots), settings(db))
    rows = ck.resolve_checklist(
        db, group=clinic.harbour, user=clinic.peter, item="all", actor=clinic.ops
    )
    assert (events(db), count(db, s.settings_snapshots), settings(db)) == written
    assert not any(r["resolved"] for r in rows)


def test_resolving_snapshots_the_settings_before_changing_them(db, clinic):
    ck.resolve_checklist(
        db, group=clinic.harbour, user=clinic.peter, item="credits_auto_top_up", actor=clinic.ops
    )
    with db.read() as conn:
        snap = conn.execute(select(s.settings_snapshots)).one()
    assert (snap.group_id, snap.user_id, snap.item, snap.restored_at) == (
        clinic.harbour,
        "u-peter",
        "credits_auto_top_up",
        None,
    )
    assert json.loads(snap.data) == {
        "rows": [
            {
                "key": {"credit_setting_id": 2},
                "label": "credits_auto_top_up",
                "before": {"auto_top_up": True},
                "after": {"auto_top_up": False},
            }
        ]
    }


def test_resolve_all_never_grants_the_data_export(db, clinic):
    ck.resolve_checklist(db, group=clinic.harbour, user=clinic.peter, item="all", actor=clinic.ops)
    assert settings(db)["grants"] == []


def test_resolving_data_export_grants_it_and_writes_export_granted(db, clinic):
    ck.resolve_checklist(
        db, group=clinic.harbour, user=clinic.peter, item="data_export", actor=clinic.ops
    )
    assert settings(db)["grants"] == [(clinic.harbour, "u-peter")]
    assert events(db) == [("export_granted", clinic.peter, "data_export")]
    ck.resolve_checklist(
        db, group=clinic.harbour, user=clinic.peter, item="data_export", actor=clinic.ops
    )
    assert len(events(db)) == 1


@pytest.mark.parametrize("item", ["future_appointments", "bookings", ""])
def test_only_resolvable_items_can_be_resolved_and_the_refusal_names_them(db, clinic, item):
    with pytest.raises(BadInput, match="online_booking, integrations.*data_export, all"):
        ck.resolve_checklist(
            db, group=clinic.harbour, user=clinic.peter, item=item, actor=clinic.ops
        )
    assert events(db) == []


@pytest.mark.parametrize("actor", ["frank", "rita", "ivan", "sam"])
def test_resolving_for_someone_else_needs_an_active_full_access_member(db, clinic, actor):
    before = settings(db)
    with pytest.raises(NotAuthorized, match="may not resolve checklist items in Harbour Clinic"):
        ck.resolve_checklist(
            db,
            group=clinic.harbour,
            user=clinic.peter,
            item="all",
            actor=getattr(clinic, actor),
        )
    assert (settings(db), events(db), count(db, s.settings_snapshots)) == (before, [], 0)


def test_a_member_may_resolve_their_own_items(db, clinic):
    ck.resolve_checklist(
        db, group=clinic.harbour, user=clinic.peter, item="integrations", actor=clinic.peter
    )
    assert events(db) == [("checklist_resolved", clinic.peter, "integrations")]


def test_a_selection_is_refused_as_a_whole_when_r1_fails_in_one_of_its_groups(db, clinic):
    before = settings(db)
    with pytest.raises(NotAuthorized, match="Solo Practice"):
        ck.resolve_checklist(
            db,
            group=None,
            members=[(clinic.harbour, clinic.peter), (clinic.solo, clinic.sole)],
            item="all",
            actor=clinic.ops,
        )
    assert (settings(db), events(db)) == (before, [])


def test_resolving_a_selection_is_set_based(db, clinic):
    give_pending_settings(db, clinic.harbour, "u-mia")
    give_pending_settings(db, clinic.harbour, "u-frank")
    ids = [membership_id(db, clinic.harbour, u) for u in ("u-peter", "u-mia", "u-frank")]
    with db.begin() as conn, StatementCounter(db) as one:
        ck.resolve_items(conn, ids[:1], "all", actor_id="u-ops", at=now())
        conn.rollback()
    with db.begin() as conn, StatementCounter(db) as three:
        done = ck.resolve_items(conn, ids, "all", actor_id="u-ops", at=now())
    assert len(three.statements) == len(one.statements)
    assert sorted((d["membership_id"], d["item"]) for d in done) == sorted(
        [(ids[0], item) for item in RESOLVABLE]
        + [(i, item) for i in ids[1:] for item in ("integrations", "credits_auto_top_up")]
    )
    assert len(audit_events(db)) == 8


def test_a_dry_run_resolve_reports_the_change_and_writes_nothing(db, clinic):
    before = settings(db)
    rows = ck.resolve_checklist(
        db, group=clinic.harbour, user=clinic.peter, item="all", actor=clinic.ops, dry_run=True
    )
    assert [r["item"] for r in rows if r["resolved"]] == RESOLVABLE
    assert (settings(db), events(db), count(db, s.settings_snapshots)) == (before, [], 0)


def test_two_analysts_resolving_the_same_member_at_once_write_one_set_of_events(db_url, clinic):
    resolved: list[list[str]] = []
    barrier = threading.Barrier(2)

    def run(actor):
        database = connect(db_url)
        barrier.wait()
        rows = ck.resolve_checklist(
            database, group=clinic.harbour, user=clinic.peter, item="all", actor=actor
        )
        resolved.append([r["item"] for r in rows if r["resolved"]])
        database.dispose()

    threads = [threading.Thread(target=run, args=(a,)) for a in (clinic.ops, clinic.olivia)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(resolved) == [[], RESOLVABLE]
    database = connect(db_url)
    assert [e["item"] for e in audit_events(database)] == RESOLVABLE
    assert count(database, s.settings_snapshots) == 4
    database.dispose()


# Deactivation with the checklist, reactivation with restore ----------------------------


def test_deactivate_with_checklist_resolves_and_deactivates_in_one_transaction(db, clinic):
    result = deactivate(db, clinic.peter, clinic.harbour, actor=clinic.ops, resolve_checklist=True)
    assert result.outcome == "deactivated"
    assert states(result.checklist) == {
        "online_booking": "ok",
        "integrations": "ok",
        "credits_auto_top_up": "ok",
        "appointment_reminders": "ok",
        "data_export": "optional",
        "future_appointments": "advisory",
    }
    assert {r["status"] for r in result.checklist} == {"inactive"}
    assert events(db) == [
        *[("checklist_resolved", clinic.peter, item) for item in RESOLVABLE],
        ("deactivated", clinic.peter, None),
    ]


def test_dry_run_with_checklist_writes_nothing(db, clinic):
    before = settings(db)
    result = deactivate(
        db, clinic.peter, clinic.harbour, actor=clinic.ops, resolve_checklist=True, dry_run=True
    )
    assert result.dry_run and result.outcome == "deactivated"
    assert [r["item"] for r in result.checklist if r["resolved"]] == RESOLVABLE
    assert "2 locations" in result.checklist[0]["detail"]
    assert (settings(db), events(db), count(db, s.settings_snapshots)) == (before, [], 0)
    assert (
        states(ck.checklist(db, group=clinic.harbour, user=clinic.peter))["online_booking"]
        == "action_needed"
    )


def test_a_refused_deactivation_resolves_nothing(db, clinic):
    give_pending_settings(db, clinic.harbour, "u-fiona")
    before = settings(db)
    with pytest.raises(FullAccessMember):
        deactivate(db, clinic.fiona, clinic.harbour, actor=clinic.ops, resolve_checklist=True)
    assert (settings(db), events(db)) == (before, [])


def test_deactivate_with_checklist_then_reactivate_with_restore_leaves_every_setting_as_it_was(
    db, clinic
):
    before = settings(db)
    deactivate(db, clinic.peter, clinic.harbour, actor=clinic.ops, resolve_checklist=True)
    assert settings(db) != before
    result = reactivate(db, clinic.peter, clinic.harbour, actor=clinic.ops, restore_settings=True)
    assert settings(db) == before
    assert result.outcome == "reactivated"
    assert [(r["item"], r["outcome"]) for r in result.checklist] == [
        (item, "restored") for item in RESOLVABLE
    ]
    assert events(db)[-4:] == [("settings_restored", clinic.peter, item) for item in RESOLVABLE]


def test_reactivate_without_restore_keeps_the_resolved_settings_off(db, clinic):
    deactivate(db, clinic.peter, clinic.harbour, actor=clinic.ops, resolve_checklist=True)
    resolved = settings(db)
    reactivate(db, clinic.peter, clinic.harbour, actor=clinic.ops)
    assert settings(db) == resolved


def test_restore_leaves_a_setting_changed_since_the_snapshot_alone(db, clinic):
    deactivate(db, clinic.peter, clinic.harbour, actor=clinic.ops, resolve_checklist=True)
    bp = s.booking_profiles.c
    with db.begin() as conn:  # the practice re-lists peter at one location meanwhile
        conn.execute(
            update(s.booking_profiles)
            .where(bp.user_id == "u-peter", bp.location_id == "l-harbour-1")
            .values(directory_profile="enabled_not_searchable")
        )
    result = reactivate(db, clinic.peter, clinic.harbour, actor=clinic.ops, restore_settings=True)
    profiles = {p[2]: p[3:] for p in settings(db)["profiles"] if p[1] == "u-peter"}
    assert profiles == {
        "l-harbour-1": ("enabled_not_searchable", "disabled"),
        "l-harbour-2": ("public", "enabled"),
    }
    booking = result.checklist[0]
    assert (booking["item"], booking["outcome"]) == ("online_booking", "partly_restored")
    assert "left l-harbour-1 alone: it was changed since" in booking["detail"]
    restored = [e for e in audit_events(db) if e["action"] == "settings_restored"]
    assert restored[0]["after"] == {
        "profiles": {"l-harbour-2": {"directory_profile": "public", "online_bookings": "enabled"}}
    }


def test_restore_leaves_a_reminder_level_set_since_alone_and_writes_no_event_for_it(db, clinic):
    deactivate(db, clinic.peter, clinic.harbour, actor=clinic.ops, resolve_checklist=True)
    with db.begin() as conn:
        conn.execute(
            insert(s.reminder_levels),
            [{"group_id": clinic.harbour, "user_id": "u-peter", "name": "email_only"}],
        )
    result = reactivate(db, clinic.peter, clinic.harbour, actor=clinic.ops, restore_settings=True)
    assert (clinic.harbour, "u-peter", "email_only") in settings(db)["reminders"]
    reminders = result.checklist[-1]
    assert (reminders["item"], reminders["outcome"]) == ("appointment_reminders", "left_alone")
    assert "an individual level was set since" in reminders["detail"]
    restored_items = [e["item"] for e in audit_events(db) if e["action"] == "settings_restored"]
    assert restored_items == RESOLVABLE[:3]


def test_a_snapshot_is_restored_once(db, clinic):
    deactivate(db, clinic.peter, clinic.harbour, actor=clinic.ops, resolve_checklist=True)
    reactivate(db, clinic.peter, clinic.harbour, actor=clinic.ops, restore_settings=True)
    change_access(db, clinic.peter, clinic.harbour, actor=clinic.ops, read_only=True)
    written = (settings(db), len(events(db)))
    again = reactivate(db, clinic.peter, clinic.harbour, actor=clinic.ops, restore_settings=True)
    assert (again.outcome, again.checklist) == ("unchanged", [])
    assert (settings(db), len(events(db))) == written


def test_restore_after_two_resolutions_puts_back_each_row_from_its_newest_snapshot(db, clinic):
    peter = membership_id(db, clinic.harbour, "u-peter")
    ck.resolve_checklist(
        db, group=clinic.harbour, user=clinic.peter, item="integrations", actor=clinic.ops
    )
    it = s.integrations.c
    with db.begin() as conn:  # someone turns video on, and the analyst resolves again
        conn.execute(update(s.integrations).where(it.kind == "video_consult").values(enabled=True))
    ck.resolve_checklist(
        db, group=clinic.harbour, user=clinic.peter, item="integrations", actor=clinic.ops
    )
    with db.begin() as conn:
        rows = ck.restore_settings(conn, [peter], actor_id="u-ops", at=now())
    assert [i[2:] for i in settings(db)["integrations"]] == [
        ("ical_feed", True),
        ("video_consult", True),
    ]
    assert [(r["item"], r["restored"]) for r in rows] == [("integrations", 2)]
    assert events(db)[-1] == ("settings_restored", clinic.peter, "integrations")
