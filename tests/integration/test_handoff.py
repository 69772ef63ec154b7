"""Hand-off of a leaver's future appointments (docs/rules.md, "Hand-off"), one member at
a time, on SQLite and PostgreSQL.

The clinic scenario: peter (Harbour, clinical) has appointments a0 (2026-07-02 10:00)
and a1 (2026-07-09 10:00) ahead and a2 (2026-06-01) behind; the eligible successors in
Harbour are fiona (practitioner, full) and mia (practitioner, clinical; also in Summit).
"""

from __future__ import annotations

import shutil
from datetime import datetime

import pytest
from sqlalchemy import func, select, update

from opskit import schema as s
from opskit.audit import audit_events
from opskit.dataset import DEMO_DIR, export_dataset, load_dataset
from opskit.errors import BadInput, Refused
from opskit.handoff import NoSuccessor, list_appointments, normalise_handoff
from opskit.lifecycle import deactivate

from ..scenarios import T0


def diary(db) -> dict[str, tuple[str, str]]:
    """appointment id -> (practitioner id, status)."""
    with db.read() as conn:
        query = select(
            s.appointments.c.appointment_id,
            s.appointments.c.practitioner_id,
            s.appointments.c.status,
        )
        return {aid: (uid, status) for aid, uid, status in conn.execute(query)}


def book(db, appointment_id, user_id, starts_at, *, group="g-harbour", status="booked"):
    with db.begin() as conn:
        conn.execute(
            s.appointments.insert().values(
                appointment_id=appointment_id,
                group_id=group,
                practitioner_id=user_id,
                patient_id=f"p-{appointment_id}",
                starts_at=datetime.fromisoformat(starts_at),
                status=status,
            )
        )


def add_practitioner(db, name, level, *, group="g-harbour"):
    with db.begin() as conn:
        conn.execute(
            s.users.insert().values(
                user_id=f"u-{name}",
                email=f"{name}@example.test",
                email_key=f"{name}@example.test",
                name=name.title(),
            )
        )
        conn.execute(
            s.memberships.insert().values(
                group_id=group,
                user_id=f"u-{name}",
                role="practitioner",
                access_level=level,
                read_only=False,
                account_owner=False,
                status="active",
            )
        )


def status_of(db, user_id, group="g-harbour"):
    with db.read() as conn:
        return conn.execute(
            select(s.memberships.c.status).where(
                s.memberships.c.group_id == group, s.memberships.c.user_id == user_id
            )
        ).scalar_one()


def appointment_events(db):
    return [e for e in audit_events(db) if e["action"].startswith("appointment_")]


def test_auto_spreads_future_appointments_fewest_first_and_leaves_the_past_alone(db, clinic):
    result = deactivate(db, clinic.peter, "g-harbour", actor=clinic.ops, handoff="auto")
    assert result.outcome == "deactivated"
    # fiona and mia both have no future appointment: ties go by email, then the load counts
    assert [(a["appointment_id"], a["outcome"], a["to"]) for a in result.appointments] == [
        ("a0", "reassigned", clinic.fiona),
        ("a1", "reassigned", clinic.mia),
    ]
    assert diary(db) == {
        "a0": ("u-fiona", "booked"),
        "a1": ("u-mia", "booked"),
        "a2": ("u-peter", "booked"),  # in the past: never touched
    }
    with db.read() as conn:  # patient records stay the leaver's
        owner = conn.execute(select(s.patient_records.c.practitioner_id)).scalar_one()
    assert owner == "u-peter"
    events = appointment_events(db)
    assert [(e["action"], e["before"]["appointment_id"], e["after"]["to"]) for e in events] == [
        ("appointment_reassigned", "a0", clinic.fiona),
        ("appointment_reassigned", "a1", clinic.mia),
    ]
    assert {e["email"] for e in events} == {clinic.peter}


def test_auto_gives_the_successor_with_fewer_future_appointments_first(db, clinic):
    book(db, "f1", "u-fiona", "2026-07-20T10:00:00")  # fiona now has one, mia none
    result = deactivate(db, clinic.peter, "g-harbour", actor=clinic.ops, handoff="auto")
    assert [a["to"] for a in result.appointments] == [clinic.mia, clinic.fiona]


def test_a_named_successor_takes_every_appointment(db, clinic):
    result = deactivate(
        db, clinic.peter, "g-harbour", actor=clinic.ops, handoff=" MIA@example.test "
    )
    assert [a["to"] for a in result.appointments] == [clinic.mia, clinic.mia]
    assert diary(db)["a0"] == ("u-mia", "booked")


@pytest.mark.parametrize(
    ("successor", "lack"),
    [
        ("rita", "is read-only there"),
        ("ivan", "is inactive there"),
        ("frank", "is not a practitioner there"),
        ("olivia", "is not a practitioner there"),
        ("sam", "is not a member of the group"),
        ("peter", "is the member leaving"),
    ],
)
def test_an_ineligible_successor_refuses_the_whole_deactivation(db, clinic, successor, lack):
    before = diary(db)
    with pytest.raises(NoSuccessor) as caught:
        deactivate(
            db, clinic.peter, "g-harbour", actor=clinic.ops, handoff=f"{successor}@example.test"
        )
    assert lack in str(caught.value)
    assert isinstance(caught.value, Refused)
    assert status_of(db, "u-peter") == "active"
    assert diary(db) == before
    assert audit_events(db, group="g-harbour") == []


@pytest.mark.parametrize(
    ("level", "eligible"),
    [("own_records_and_contacts", False), ("clinical", True), ("full", True)],
)
def test_a_successor_needs_clinical_or_full_access(db, clinic, level, eligible):
    add_practitioner(db, "nina", level)
    if eligible:
        result = deactivate(
            db, clinic.peter, "g-harbour", actor=clinic.ops, handoff="nina@example.test"
        )
        assert {a["to"] for a in result.appointments} == {"nina@example.test"}
    else:
        with pytest.raises(NoSuccessor, match="has own_records_and_contacts access there"):
            deactivate(db, clinic.peter, "g-harbour", actor=clinic.ops, handoff="nina@example.test")


def test_a_successor_booked_at_the_same_time_cannot_take_it_even_in_another_group(db, clinic):
    book(db, "m1", "u-mia", "2026-07-02T10:00:00", group="g-summit")
    with pytest.raises(
        NoSuccessor, match=r"appointment a0 at 2026-07-02T10:00:00Z cannot be placed"
    ):
        deactivate(db, clinic.peter, "g-harbour", actor=clinic.ops, handoff=clinic.mia)
    assert status_of(db, "u-peter") == "active"
    # auto goes round the clash: a0 to fiona, a1 to whoever has fewer then
    result = deactivate(db, clinic.peter, "g-harbour", actor=clinic.ops, handoff="auto")
    assert [a["to"] for a in result.appointments] == [clinic.fiona, clinic.fiona]


def test_a_booking_one_minute_apart_or_cancelled_at_the_same_time_does_not_clash(db, clinic):
    book(db, "m1", "u-mia", "2026-07-02T10:01:00")
    book(db, "m2", "u-mia", "2026-07-09T10:00:00", status="cancelled")
    result = deactivate(db, clinic.peter, "g-harbour", actor=clinic.ops, handoff=clinic.mia)
    assert [a["to"] for a in result.appointments] == [clinic.mia, clinic.mia]


def test_an_appointment_nobody_can_take_refuses_everything_and_names_it(db, clinic):
    book(db, "f1", "u-fiona", "2026-07-09T10:00:00")
    book(db, "m1", "u-mia", "2026-07-09T10:00:00")
    before = diary(db)
    with pytest.raises(NoSuccessor) as caught:
        deactivate(db, clinic.peter, "g-harbour", actor=clinic.ops, handoff="auto")
    assert "appointment a1 at 2026-07-09T10:00:00Z cannot be placed" in str(caught.value)
    assert status_of(db, "u-peter") == "active"
    assert diary(db) == before  # a0 could be placed, and was not: all or nothing
    assert audit_events(db, group="g-harbour") == []


def test_a_group_without_eligible_successor_refuses_auto_but_not_cancel(db, clinic):
    with db.begin() as conn:
        conn.execute(
            update(s.memberships)
            .where(s.memberships.c.user_id.in_(["u-fiona", "u-mia"]))
            .values(read_only=False, access_level="personal")
        )
    with pytest.raises(NoSuccessor, match="no eligible successor in the group"):
        deactivate(db, clinic.peter, "g-harbour", actor=clinic.ops, handoff="auto")
    result = deactivate(db, clinic.peter, "g-harbour", actor=clinic.ops, handoff="cancel")
    assert [(a["outcome"], a["to"]) for a in result.appointments] == [("cancelled", None)] * 2


def test_cancel_keeps_the_appointments_with_their_practitioner_marked_cancelled(db, clinic):
    deactivate(db, clinic.peter, "g-harbour", actor=clinic.ops, handoff="cancel", reason="left")
    assert diary(db) == {
        "a0": ("u-peter", "cancelled"),
        "a1": ("u-peter", "cancelled"),
        "a2": ("u-peter", "booked"),
    }
    events = appointment_events(db)
    assert [e["action"] for e in events] == ["appointment_cancelled"] * 2
    assert {e["reason"] for e in events} == {"left"}


def test_a_dry_run_shows_the_proposed_hand_off_and_changes_nothing(db, clinic):
    before = diary(db)
    result = deactivate(
        db, clinic.peter, "g-harbour", actor=clinic.ops, handoff="auto", dry_run=True
    )
    assert result.dry_run
    assert [a["to"] for a in result.appointments] == [clinic.fiona, clinic.mia]
    assert diary(db) == before
    assert status_of(db, "u-peter") == "active"


def test_without_handoff_the_appointments_stay_as_they_are(db, clinic):
    result = deactivate(db, clinic.peter, "g-harbour", actor=clinic.ops)
    assert result.appointments == []
    assert all(uid == "u-peter" for uid, _ in diary(db).values())


def test_only_appointments_after_now_move(db, clinic):
    book(db, "now", "u-peter", T0.isoformat())  # starts exactly now: not after now
    book(db, "soon", "u-peter", "2026-07-01T09:00:01")
    result = deactivate(db, clinic.peter, "g-harbour", actor=clinic.ops, handoff="cancel")
    assert [a["appointment_id"] for a in result.appointments] == ["soon", "a0", "a1"]
    assert diary(db)["now"] == ("u-peter", "booked")


def test_an_already_cancelled_appointment_is_not_handed_off(db, clinic):
    with db.begin() as conn:
        conn.execute(
            update(s.appointments)
            .where(s.appointments.c.appointment_id == "a1")
            .values(status="cancelled")
        )
    result = deactivate(db, clinic.peter, "g-harbour", actor=clinic.ops, handoff="auto")
    assert [a["appointment_id"] for a in result.appointments] == ["a0"]


def test_other_groups_appointments_of_a_multi_group_leaver_stay(db, clinic):
    book(db, "h1", "u-mia", "2026-07-03T10:00:00")
    book(db, "s1", "u-mia", "2026-07-04T10:00:00", group="g-summit")
    result = deactivate(db, clinic.mia, "g-harbour", actor=clinic.ops, handoff="auto")
    assert [(a["appointment_id"], a["to"]) for a in result.appointments] == [("h1", clinic.fiona)]
    assert diary(db)["s1"] == ("u-mia", "booked")


def test_a_refused_deactivation_hands_nothing_off(db, clinic):
    with pytest.raises(Refused):  # R3: fiona has Full Access
        deactivate(db, clinic.fiona, "g-harbour", actor=clinic.ops, handoff="cancel")
    assert appointment_events(db) == []


@pytest.mark.parametrize("value", ["someone", "two words@x", 7])
def test_a_handoff_that_is_neither_auto_cancel_nor_an_email_is_bad_input(value):
    with pytest.raises(BadInput, match="is not a hand-off"):
        normalise_handoff(value)


def test_the_appointments_listing_filters_by_group_user_and_time(db, clinic):
    book(db, "s1", "u-mia", "2026-07-04T10:00:00", group="g-summit", status="cancelled")
    rows = list_appointments(db, group="Summit Physio")
    assert rows == [
        {
            "appointment_id": "s1",
            "group_id": "g-summit",
            "email": clinic.mia,
            "patient_id": "p-s1",
            "starts_at": "2026-07-04T10:00:00Z",
            "status": "cancelled",
        }
    ]
    ahead = list_appointments(db, user=clinic.peter, starting="2026-07-02T10:00:00Z")
    assert [r["appointment_id"] for r in ahead] == ["a0", "a1"]  # at TIME counts
    with pytest.raises(BadInput, match="--from"):
        list_appointments(db, starting="next week")


# ------------------------------------------------------------------ the dataset column


def test_appointments_csv_without_status_loads_booked_and_exports_it(db, tmp_path):
    folder = tmp_path / "ds"
    shutil.copytree(DEMO_DIR, folder)
    path = folder / "appointments.csv"
    lines = [line.rsplit(",", 1)[0] for line in path.read_text().splitlines()]
    assert lines[0].endswith(",starts_at")  # the column is optional
    path.write_text("\n".join(lines) + "\n")
    load_dataset(db, folder)
    with db.read() as conn:
        statuses = set(conn.execute(select(s.appointments.c.status)).scalars())
    assert statuses == {"booked"}
    export_dataset(db, tmp_path / "out")
    header = (tmp_path / "out" / "appointments.csv").read_text().splitlines()[0]
    assert header.endswith(",starts_at,status")


def test_appointments_csv_with_a_status_keeps_it_and_refuses_an_unknown_one(db, tmp_path):
    folder = tmp_path / "ds"
    shutil.copytree(DEMO_DIR, folder)
    path = folder / "appointments.csv"
    lines = path.read_text().splitlines()
    assert lines[0].endswith(",status")
    lines[1] = lines[1].rsplit(",", 1)[0] + ",cancelled"
    path.write_text("\n".join(lines) + "\n")
    load_dataset(db, folder)
    with db.read() as conn:
        cancelled = conn.execute(
            select(func.count()).where(s.appointments.c.status == "cancelled")
        ).scalar_one()
    assert cancelled == 1
    export_dataset(db, tmp_path / "out")
    assert (tmp_path / "out" / "appointments.csv").read_text() == path.read_text()
    lines[2] = lines[2].rsplit(",", 1)[0] + ",no_show"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(BadInput) as caught:
        load_dataset(db, folder, replace=True)
    assert "appointments.csv:3" in str(caught.value) and "status" in str(caught.value)


# ------------------------------------------------------------------ the checklist item


def test_future_appointments_counts_booked_ones_and_says_who_could_take_them(db, clinic):
    from opskit.checklist import checklist

    def item():
        rows = checklist(db, group="g-harbour", user=clinic.peter)
        return next(r for r in rows if r["item"] == "future_appointments")

    row = item()
    assert (row["state"], row["count"]) == ("advisory", 2)
    assert "hand off to 2 eligible colleagues" in row["detail"]  # fiona and mia
    with db.begin() as conn:
        conn.execute(
            update(s.appointments)
            .where(s.appointments.c.appointment_id == "a1")
            .values(status="cancelled")
        )
        conn.execute(
            update(s.memberships)
            .where(s.memberships.c.user_id.in_(["u-fiona", "u-mia"]))
            .values(access_level="own_records_and_contacts")
        )
    row = item()
    assert (row["state"], row["count"]) == ("advisory", 1)  # a cancelled one needs no decision
    assert "no eligible colleague" in row["detail"]


def test_future_appointments_counts_colleagues_once_per_group_whoever_is_asked_about(db, clinic):
    from opskit.checklist import checklist

    book(db, "r1", "u-rita", "2026-07-03T10:00:00")  # read-only: not eligible herself
    book(db, "m1", "u-mia", "2026-07-03T11:00:00", group="g-summit")  # alone in Summit

    def details(rows):
        return {
            (r["group_id"], r["email"]): r["detail"]
            for r in rows
            if r["item"] == "future_appointments" and r["state"] == "advisory"
        }

    by_group = details(checklist(db, group="g-harbour")) | details(checklist(db, group="g-summit"))
    assert {key: text.split(": ")[1] for key, text in by_group.items()} == {
        (
            "g-harbour",
            clinic.peter,
        ): "hand off to 2 eligible colleagues (auto or one by email) or cancel",
        (
            "g-harbour",
            clinic.rita,
        ): "hand off to 3 eligible colleagues (auto or one by email) or cancel",
        ("g-summit", clinic.mia): "no eligible colleague to hand off to; cancel them",
    }
    selection = [("g-harbour", clinic.peter), ("g-harbour", clinic.rita), ("g-summit", clinic.mia)]
    assert details(checklist(db, members=selection)) == by_group
    assert details(checklist(db, user=clinic.rita)) == {
        key: text for key, text in by_group.items() if key[1] == clinic.rita
    }


def _move_a0_to(successor_id, *, from_user="u-peter"):
    from opskit.handoff import Move

    return Move(
        "a0", "g-harbour", from_user, "p0", datetime(2026, 7, 2, 10), "reassigned",
        successor_id, f"{successor_id}@example.test",
    )  # fmt: skip


def test_the_writes_refuse_a_successor_booked_at_the_time_whatever_the_proposal(db, clinic):
    """No double-booking is checked in SQL after the writes too: moves made on a stale
    or hand-edited proposal are refused whole and nothing changes."""
    from opskit.handoff import apply_moves

    book(db, "m9", "u-mia", "2026-07-02T10:00:00", group="g-summit")  # another group
    booked_twice = "would be booked twice at 2026-07-02T10:00:00Z"
    with pytest.raises(NoSuccessor, match=booked_twice), db.begin() as conn:
        apply_moves(conn, [_move_a0_to("u-mia")], actor_id="u-ops", at=T0)
    assert diary(db)["a0"] == ("u-peter", "booked")
    assert appointment_events(db) == []


def test_the_writes_refuse_moves_whose_appointment_changed_underneath(db, clinic):
    from opskit.handoff import apply_moves

    with pytest.raises(NoSuccessor, match="1 of 1 appointments changed while"), db.begin() as conn:
        apply_moves(conn, [_move_a0_to("u-mia", from_user="u-fiona")], actor_id="u-ops", at=T0)
    assert diary(db)["a0"] == ("u-peter", "booked")
