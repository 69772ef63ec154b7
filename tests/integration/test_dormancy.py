"""Dormancy on clinic activity, by group policy (docs/rules.md), on both backends.

The clinic scenario: everyone last signed in 2026-06-20 10:00, ten days and 23 hours
before the frozen clock; peter has appointments on 2026-06-01 (past) and in July
(future) and a patient record of 2026-01-01.
"""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest
from sqlalchemy import delete, insert, select

from opskit import schema as s
from opskit.audit import audit_events
from opskit.errors import BadInput, NotAuthorized, UnknownMember
from opskit.policy import exempt, exemptions, policies, set_policy
from opskit.reports import dormant_report

from ..scenarios import T0
from .test_reports import _row, _set_member


def _appointment(db, name, starts_at, group_id="g-harbour", ident="x1"):
    with db.begin() as conn:
        conn.execute(
            insert(s.appointments).values(
                appointment_id=ident,
                group_id=group_id,
                practitioner_id=f"u-{name}",
                patient_id="p-x",
                starts_at=starts_at,
            )
        )


def _record(db, name, created_at, group_id="g-harbour", ident="rx1"):
    with db.begin() as conn:
        conn.execute(
            insert(s.patient_records).values(
                record_id=ident,
                group_id=group_id,
                practitioner_id=f"u-{name}",
                patient_id="p-x",
                created_at=created_at,
            )
        )


def _emails(frame, group_id="g-harbour"):
    return set(frame.loc[frame["group_id"] == group_id, "email"])


# --- activity --------------------------------------------------------------------------


def test_a_practitioner_seeing_patients_is_not_dormant(db, clinic):
    # peter has not signed in for 200 days, but saw a patient yesterday
    _set_member(db, "g-harbour", "peter", last_sign_in_at=T0 - timedelta(days=200))
    _appointment(db, "peter", T0 - timedelta(days=1))
    frame = dormant_report(db, days=90)
    assert clinic.peter not in _emails(frame)
    row = _row(dormant_report(db, days=0), clinic.peter)
    assert row["activity"] == "appointment"
    assert row["last_active_at"] == pd.Timestamp(T0 - timedelta(days=1))
    assert row["days_dormant"] == 1


def test_an_appointment_still_to_come_is_no_activity(db, clinic):
    # peter's July appointments have not started: his last activity is 2026-06-01's
    _set_member(db, "g-harbour", "peter", last_sign_in_at=T0 - timedelta(days=200))
    row = _row(dormant_report(db, days=29), clinic.peter)
    assert row["activity"] == "appointment"
    assert row["last_active_at"] == pd.Timestamp("2026-06-01T10:00:00")
    assert row["days_dormant"] == 29


def test_a_patient_record_created_counts_as_activity(db, clinic):
    _set_member(db, "g-harbour", "peter", last_sign_in_at=None)
    _set_member(db, "g-harbour", "mia", last_sign_in_at=None)
    with db.begin() as conn:
        conn.execute(delete(s.appointments))
    _record(db, "mia", T0 - timedelta(days=5))
    frame = dormant_report(db, days=90)
    assert clinic.mia not in _emails(frame)
    row = _row(dormant_report(db, days=5), clinic.mia)
    assert (row["activity"], row["days_dormant"]) == ("patient_record", 5)
    # peter's only activity is his record of 2026-01-01: 181 days ago
    peter = _row(frame, clinic.peter)
    assert peter["activity"] == "patient_record"
    assert peter["last_active_at"] == pd.Timestamp("2026-01-01T10:00:00")


def test_activity_in_another_group_does_not_count(db, clinic):
    _set_member(db, "g-harbour", "mia", last_sign_in_at=T0 - timedelta(days=200))
    _appointment(db, "mia", T0 - timedelta(days=1), group_id="g-summit")
    assert clinic.mia in _emails(dormant_report(db, days=90))


def test_dormancy_starts_exactly_at_days_since_the_last_activity(db, clinic):
    _set_member(db, "g-harbour", "frank", last_sign_in_at=T0 - timedelta(days=200))
    _set_member(db, "g-harbour", "mia", last_sign_in_at=T0 - timedelta(days=200))
    _appointment(db, "frank", T0 - timedelta(days=90), ident="x1")
    _appointment(db, "mia", T0 - timedelta(days=90, seconds=-1), ident="x2")
    frame = dormant_report(db, days=90)
    assert clinic.frank in _emails(frame)
    assert clinic.mia not in _emails(frame)
    assert _row(frame, clinic.frank)["days_dormant"] == 90


def test_a_patient_record_exactly_days_old_is_dormant_a_second_younger_is_not(db, clinic):
    _set_member(db, "g-harbour", "frank", last_sign_in_at=T0 - timedelta(days=200))
    _set_member(db, "g-harbour", "mia", last_sign_in_at=T0 - timedelta(days=200))
    _record(db, "frank", T0 - timedelta(days=90), ident="rx1")
    _record(db, "mia", T0 - timedelta(days=90, seconds=-1), ident="rx2")
    frame = dormant_report(db, days=90)
    assert clinic.frank in _emails(frame)
    assert clinic.mia not in _emails(frame)
    frank = _row(frame, clinic.frank)
    assert (frank["activity"], frank["days_dormant"]) == ("patient_record", 90)


def test_a_record_or_appointment_not_yet_reached_is_no_activity(db, clinic):
    # a record dated after the report's instant (a clock ahead, an import) counts only
    # once that instant is reached, like an appointment still to come
    _set_member(db, "g-harbour", "frank", last_sign_in_at=T0 - timedelta(days=200))
    _record(db, "frank", T0 + timedelta(seconds=1), ident="rx1")
    _appointment(db, "frank", T0 + timedelta(seconds=1), ident="x1")
    row = _row(dormant_report(db, days=90), clinic.frank)
    assert (row["activity"], row["days_dormant"]) == ("sign_in", 200)


def test_a_member_without_activity_is_dormant_from_exactly_the_grace_period(db, clinic):
    _set_member(db, "g-harbour", "frank", last_sign_in_at=None, joined_at=T0 - timedelta(days=30))
    _set_member(
        db,
        "g-harbour",
        "rita",
        last_sign_in_at=None,
        joined_at=T0 - timedelta(days=30, seconds=-1),
    )
    frame = dormant_report(db, days=90)
    assert _emails(frame) == {clinic.frank}
    frank = _row(frame, clinic.frank)
    assert frame["activity"].tolist() == [None] and pd.isna(frank["last_active_at"])
    assert frank["days_dormant"] == 30
    assert _emails(dormant_report(db, days=90, grace_days=29)) == {clinic.frank, clinic.rita}


def test_a_new_member_with_some_activity_is_measured_by_it_not_the_grace_period(db, clinic):
    # joined 10 days ago, one appointment 10 days ago: dormant at 10 days, grace or not
    _set_member(db, "g-harbour", "mia", last_sign_in_at=None, joined_at=T0 - timedelta(days=10))
    _appointment(db, "mia", T0 - timedelta(days=10))
    assert clinic.mia in _emails(dormant_report(db, days=10, grace_days=30))


# --- group policy ----------------------------------------------------------------------


def test_each_group_follows_its_own_dormant_days(db, clinic):
    _set_member(db, "g-harbour", "frank", last_sign_in_at=T0 - timedelta(days=60))
    _set_member(db, "g-summit", "mia", last_sign_in_at=T0 - timedelta(days=60))
    set_policy(db, "Harbour Clinic", actor=clinic.olivia, dormant_days=60)
    frame = dormant_report(db)
    assert _emails(frame) == {clinic.frank}  # Harbour: 60 days
    assert _emails(frame, "g-summit") == set()  # Summit: the default 90
    set_policy(db, "Harbour Clinic", actor=clinic.olivia, dormant_days=61)
    assert dormant_report(db).empty


def test_a_group_policy_measures_appointments_exactly_at_its_days(db, clinic):
    # Harbour idles at 30 days: an appointment exactly 30 days ago is dormant, one a
    # second later is not; Summit keeps the default 90
    set_policy(db, "g-harbour", actor=clinic.olivia, dormant_days=30)
    for name in ("frank", "peter"):
        _set_member(db, "g-harbour", name, last_sign_in_at=T0 - timedelta(days=200))
    _set_member(db, "g-summit", "mia", last_sign_in_at=T0 - timedelta(days=200))
    _appointment(db, "frank", T0 - timedelta(days=30), ident="x1")
    _appointment(db, "peter", T0 - timedelta(days=30, seconds=-1), ident="x2")
    _appointment(db, "mia", T0 - timedelta(days=30), group_id="g-summit", ident="x3")
    frame = dormant_report(db)
    assert clinic.frank in _emails(frame)
    assert clinic.peter not in _emails(frame)
    assert _row(frame, clinic.frank)["days_dormant"] == 30
    assert _emails(frame, "g-summit") == set()


def test_groups_with_different_policies_each_follow_their_own(db, clinic):
    # Harbour: 60 days and the default grace; Summit: the default days and 5 days' grace;
    # Solo: no policy. The report names each group's pair of days once per group.
    set_policy(db, "g-harbour", actor=clinic.olivia, dormant_days=60)
    set_policy(db, "g-summit", actor=clinic.sam, grace_days=5)
    _set_member(db, "g-harbour", "frank", last_sign_in_at=T0 - timedelta(days=60))
    _set_member(db, "g-harbour", "mia", last_sign_in_at=None, joined_at=T0 - timedelta(days=5))
    _set_member(db, "g-summit", "mia", last_sign_in_at=None, joined_at=T0 - timedelta(days=5))
    _set_member(db, "g-summit", "ops", last_sign_in_at=T0 - timedelta(days=60))
    _set_member(db, "g-solo", "ops", last_sign_in_at=None, joined_at=T0 - timedelta(days=5))
    frame = dormant_report(db)
    assert _emails(frame) == {clinic.frank}
    assert _emails(frame, "g-summit") == {clinic.mia}
    assert _emails(frame, "g-solo") == set()
    # --grace-days overrides Summit's grace and keeps Harbour's 60 days
    frame = dormant_report(db, grace_days=5)
    assert _emails(frame) == {clinic.frank, clinic.mia}
    assert _emails(frame, "g-solo") == {clinic.ops}


def test_the_report_follows_the_policies_of_hundreds_of_groups(db, clinic):
    # more groups with a policy than SQLite takes SELECTs in one compound statement
    # (500): the report's statement must not grow with the number of policies
    many = [{"group_id": f"g-{n:03}", "name": f"Group {n:03}"} for n in range(600)]
    policies_ = [
        {
            "group_id": row["group_id"],
            "dormant_days": 10 + n % 7,
            "set_by": "u-olivia",
            "set_at": T0,
        }
        for n, row in enumerate(many)
    ]
    with db.begin() as conn:
        conn.execute(insert(s.groups), many)
        conn.execute(insert(s.dormancy_policies), policies_)
    set_policy(db, "g-harbour", actor=clinic.olivia, dormant_days=10)
    frame = dormant_report(db)
    assert (len(frame), set(frame["group_id"])) == (7, {"g-harbour"})


def test_days_given_to_the_report_override_every_group_policy(db, clinic):
    set_policy(db, "g-harbour", actor=clinic.olivia, dormant_days=5)
    frame = dormant_report(db)  # Harbour at 5 days: its 7 active members; elsewhere 90
    assert (len(frame), set(frame["group_id"])) == (7, {"g-harbour"})
    assert dormant_report(db, days=11).empty


def test_a_group_policy_sets_its_grace_period(db, clinic):
    _set_member(db, "g-harbour", "frank", last_sign_in_at=None, joined_at=T0 - timedelta(days=20))
    _set_member(db, "g-summit", "mia", last_sign_in_at=None, joined_at=T0 - timedelta(days=20))
    set_policy(db, "g-harbour", actor=clinic.olivia, grace_days=20)
    frame = dormant_report(db)
    assert _emails(frame) == {clinic.frank}
    assert _emails(frame, "g-summit") == set()
    assert _emails(dormant_report(db, grace_days=21)) == set()


def test_an_exempt_member_is_left_out_until_the_start_of_their_date(db, clinic, monkeypatch):
    _set_member(db, "g-harbour", "frank", last_sign_in_at=T0 - timedelta(days=200))
    exempt(
        db, clinic.frank, "g-harbour", until="2026-08-01", reason="on leave", actor=clinic.olivia
    )
    assert clinic.frank not in _emails(dormant_report(db))
    assert clinic.frank not in _emails(dormant_report(db, as_of="2026-07-31T23:59:59Z"))
    assert clinic.frank in _emails(dormant_report(db, as_of="2026-08-01T00:00:00Z"))
    (row,) = exemptions(db)
    assert (row["email"], row["until"], row["active"]) == (clinic.frank, "2026-08-01", True)


def test_an_exemption_ending_today_counts_the_member_again_now(db, clinic):
    _set_member(db, "g-harbour", "frank", last_sign_in_at=T0 - timedelta(days=200))
    exempt(db, clinic.frank, "g-harbour", until="2026-07-02", reason="leave", actor=clinic.olivia)
    assert clinic.frank not in _emails(dormant_report(db))
    exempt(db, clinic.frank, "g-harbour", until="2026-07-01", reason="back", actor=clinic.olivia)
    assert clinic.frank in _emails(dormant_report(db))


def test_an_exemption_in_one_group_leaves_the_member_dormant_in_another(db, clinic):
    _set_member(db, "g-harbour", "mia", last_sign_in_at=T0 - timedelta(days=200))
    _set_member(db, "g-summit", "mia", last_sign_in_at=T0 - timedelta(days=200))
    exempt(db, clinic.mia, "g-summit", until="2026-08-01", reason="leave", actor=clinic.sam)
    frame = dormant_report(db)
    assert clinic.mia in _emails(frame)
    assert clinic.mia not in _emails(frame, "g-summit")


# --- setting the policy ----------------------------------------------------------------


def test_only_an_active_full_access_member_of_the_group_may_set_its_policy(db, clinic):
    for actor in (clinic.peter, clinic.sam):  # clinical; Full Access elsewhere only
        with pytest.raises(NotAuthorized, match="dormancy policy"):
            set_policy(db, "g-harbour", actor=actor, dormant_days=10)
    with pytest.raises(NotAuthorized, match="read-only"):
        set_policy(db, "g-solo", actor=clinic.ops, dormant_days=10)
    with pytest.raises(NotAuthorized):
        exempt(db, clinic.frank, "g-harbour", until="2026-08-01", reason="x", actor=clinic.mia)
    assert [r["source"] for r in policies(db)] == ["default"] * 3
    assert exemptions(db) == []
    assert audit_events(db) == []


def test_a_policy_is_stored_with_who_set_it_and_audited_once(db, clinic):
    result = set_policy(db, "g-harbour", actor=clinic.ops, dormant_days=60)
    assert (result["outcome"], result["dormant_days"], result["grace_days"]) == ("changed", 60, 30)
    again = set_policy(db, "g-harbour", actor=clinic.olivia, dormant_days=60)
    assert again["outcome"] == "unchanged"
    (shown,) = policies(db, group="Harbour Clinic")
    assert shown == {
        "group_id": "g-harbour",
        "group": "Harbour Clinic",
        "dormant_days": 60,
        "grace_days": 30,
        "source": "group",
        "set_by": clinic.ops,
        "set_at": "2026-07-01T09:00:00Z",
    }
    events = audit_events(db)
    assert [(e["action"], e["actor"], e["before"], e["after"]) for e in events] == [
        (
            "policy_set",
            clinic.ops,
            {"dormant_days": None, "grace_days": None},
            {"dormant_days": 60, "grace_days": None},
        )
    ]


def test_an_exemption_is_audited_and_replaced_by_a_new_one(db, clinic):
    exempt(db, clinic.frank, "g-harbour", until="2026-08-01", reason="leave", actor=clinic.olivia)
    exempt(db, clinic.frank, "g-harbour", until="2026-08-01", reason="leave", actor=clinic.olivia)
    exempt(db, clinic.frank, "g-harbour", until="2026-09-01", reason="longer", actor=clinic.ops)
    events = audit_events(db)
    assert [(e["action"], e["email"], e["reason"]) for e in events] == [
        ("policy_exempted", clinic.frank, "leave"),
        ("policy_exempted", clinic.frank, "longer"),
    ]
    (row,) = exemptions(db)
    assert (row["until"], row["set_by"]) == ("2026-09-01", clinic.ops)


@pytest.mark.parametrize(
    ("values", "option"),
    [
        ({"dormant_days": -1}, "--dormant-days"),
        ({"grace_days": 1.5}, "--grace-days"),
        ({}, "--dormant-days and/or --grace-days"),
    ],
)
def test_bad_policy_values_are_bad_input_and_change_nothing(db, clinic, values, option):
    with pytest.raises(BadInput, match=option):
        set_policy(db, "g-harbour", actor=clinic.olivia, **values)
    with db.read() as conn:
        assert conn.execute(select(s.dormancy_policies)).all() == []


def test_an_exemption_needs_a_date_not_past_a_reason_and_a_member(db, clinic):
    def attempt(**changes):
        args = {"until": "2026-08-01", "reason": "leave", "actor": clinic.olivia, **changes}
        email = args.pop("email", clinic.frank)
        exempt(db, email, "g-harbour", **args)

    with pytest.raises(BadInput, match="--until"):
        attempt(until="1 August")
    with pytest.raises(BadInput, match="in the past"):
        attempt(until="2026-06-30")
    with pytest.raises(BadInput, match="--reason"):
        attempt(reason="  ")
    with pytest.raises(UnknownMember):
        attempt(email=clinic.sam)
    attempt(until="2026-07-01")  # today: ends it now
    assert exemptions(db)[0]["active"] is False
