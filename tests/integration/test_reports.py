"""Reports on inactive users (docs/rules.md "Reports") on the clinic scenario, on both backends."""

from __future__ import annotations

import csv
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import update

from opskit import schema as s
from opskit.errors import BadInput, UnknownGroup
from opskit.lifecycle import change_access, deactivate, reactivate
from opskit.reports import (
    CANDIDATE_COLUMNS,
    DEACTIVATIONS_BY_MONTH_COLUMNS,
    DORMANT_COLUMNS,
    INACTIVE_COLUMNS,
    MEMBERS_BY_GROUP_COLUMNS,
    SUMMARY_COLUMNS,
    TRENDS_COLUMNS,
    deactivations_by_month,
    dormant_report,
    inactive_report,
    members_by_group,
    status_summary,
    trends_report,
    write_candidates_csv,
    write_report_csv,
)

from ..scenarios import T0


def _set_member(db, group_id, name, **values):
    m = s.memberships.c
    with db.begin() as conn:
        conn.execute(
            update(s.memberships)
            .where(m.group_id == group_id, m.user_id == f"u-{name}")
            .values(**values)
        )


def _row(frame: pd.DataFrame, email: str, group_id: str = "g-harbour") -> pd.Series:
    rows = frame[(frame["email"] == email) & (frame["group_id"] == group_id)]
    assert len(rows) == 1, frame
    return rows.iloc[0]


def _at(monkeypatch, when: str) -> None:
    monkeypatch.setenv("OPSKIT_NOW", when)


# --- inactive members ------------------------------------------------------------------


def test_inactive_report_says_who_deactivated_a_member_when_and_why(db, clinic):
    frame = inactive_report(db)
    assert list(frame.columns) == INACTIVE_COLUMNS
    assert list(frame["email"]) == [clinic.ivan]
    ivan = _row(frame, clinic.ivan)
    assert ivan["group"] == "Harbour Clinic"
    assert (ivan["role"], ivan["access_level"]) == ("practitioner", "clinical")
    assert ivan["deactivated_at"] == pd.Timestamp("2026-03-01T12:00:00")
    assert ivan["deactivated_by"] == clinic.olivia
    assert ivan["reason"] == "left the practice"


def test_an_inactive_member_with_nothing_left_open_is_not_a_finding(db, clinic):
    ivan = _row(inactive_report(db), clinic.ivan)
    assert ivan["open_items"] == ""
    assert not ivan["bookable_online"]
    assert not ivan["integration_enabled"]
    assert not ivan["auto_top_up_on"]
    assert not ivan["finding"]


def test_a_practitioner_deactivated_without_the_checklist_is_a_finding(db, clinic):
    deactivate(db, clinic.peter, clinic.harbour, actor=clinic.ops, reason="moved away")
    peter = _row(inactive_report(db), clinic.peter)
    assert peter["open_items"] == (
        "online_booking,integrations,credits_auto_top_up,appointment_reminders"
    )
    assert peter["bookable_online"] and peter["integration_enabled"] and peter["auto_top_up_on"]
    assert peter["finding"]
    assert peter["deactivated_by"] == clinic.ops
    assert peter["deactivated_at"] == pd.Timestamp(T0)
    assert peter["reason"] == "moved away"


def test_hidden_and_disabled_profiles_and_switched_off_settings_are_no_finding(db, clinic):
    deactivate(db, clinic.peter, clinic.harbour, actor=clinic.ops)
    with db.begin() as conn:
        conn.execute(
            update(s.booking_profiles)
            .where(s.booking_profiles.c.user_id == "u-peter")
            .values(directory_profile="hidden", online_bookings="disabled")
        )
        conn.execute(
            update(s.integrations)
            .where(s.integrations.c.user_id == "u-peter")
            .values(enabled=False)
        )
        conn.execute(
            update(s.credit_settings)
            .where(s.credit_settings.c.user_id == "u-peter")
            .values(auto_top_up=False)
        )
    peter = _row(inactive_report(db), clinic.peter)
    # the group's own credit row keeps auto top-up on: it is not the member's
    assert not peter["auto_top_up_on"]
    assert not peter["finding"]
    # an individual reminder level is still open, but it is no finding
    assert peter["open_items"] == "appointment_reminders"


def test_a_hidden_profile_still_taking_online_bookings_is_a_finding(db, clinic):
    deactivate(db, clinic.peter, clinic.harbour, actor=clinic.ops)
    with db.begin() as conn:
        conn.execute(
            update(s.booking_profiles)
            .where(s.booking_profiles.c.user_id == "u-peter")
            .values(directory_profile="hidden")
        )
        conn.execute(
            update(s.booking_profiles)
            .where(
                s.booking_profiles.c.user_id == "u-peter",
                s.booking_profiles.c.location_id == "l-harbour-1",
            )
            .values(online_bookings="disabled")
        )
        conn.execute(update(s.integrations).values(enabled=False))
        conn.execute(update(s.credit_settings).values(auto_top_up=False))
    peter = _row(inactive_report(db), clinic.peter)
    assert peter["bookable_online"]
    assert not peter["integration_enabled"] and not peter["auto_top_up_on"]
    assert peter["finding"]


def test_active_members_never_appear_in_the_inactive_report(db, clinic):
    frame = inactive_report(db)
    assert clinic.peter not in set(frame["email"])
    assert clinic.mia not in set(frame["email"])


def test_the_inactive_report_of_one_group_shows_only_that_group(db, clinic):
    deactivate(db, clinic.mia, clinic.summit, actor=clinic.sam)
    summit = inactive_report(db, group="Summit Physio")
    assert list(zip(summit["group_id"], summit["email"], strict=True)) == [("g-summit", clinic.mia)]
    assert set(inactive_report(db, group="g-harbour")["email"]) == {clinic.ivan}
    # mia's other membership is untouched, so she is not inactive at Harbour
    assert set(inactive_report(db)["group_id"]) == {"g-harbour", "g-summit"}


def test_a_report_on_an_unknown_group_is_bad_input(db, clinic):
    for report in (
        inactive_report,
        dormant_report,
        trends_report,
        status_summary,
        members_by_group,
        deactivations_by_month,
    ):
        with pytest.raises(UnknownGroup):
            report(db, group="No Such Clinic")


# --- dormant members -------------------------------------------------------------------


def test_members_without_a_sign_in_for_at_least_n_days_are_dormant(db, clinic):
    _set_member(db, "g-harbour", "frank", last_sign_in_at=T0 - timedelta(days=90))
    _set_member(db, "g-harbour", "mia", last_sign_in_at=T0 - timedelta(days=90, seconds=-1))
    frame = dormant_report(db, days=90)
    assert list(frame.columns) == DORMANT_COLUMNS
    assert list(zip(frame["group_id"], frame["email"], strict=True)) == [
        ("g-harbour", clinic.frank)
    ]
    frank = _row(frame, clinic.frank)
    assert frank["days_dormant"] == 90
    assert frank["last_sign_in_at"] == pd.Timestamp(T0 - timedelta(days=90))
    assert not frank["full_access"]


def test_the_default_dormancy_is_90_days(db, clinic):
    _set_member(db, "g-harbour", "frank", last_sign_in_at=T0 - timedelta(days=120))
    _set_member(db, "g-harbour", "rita", last_sign_in_at=T0 - timedelta(days=60))
    assert list(dormant_report(db)["email"]) == [clinic.frank]
    assert set(dormant_report(db, days=60)["email"]) == {clinic.frank, clinic.rita}


def test_every_active_member_idle_for_ten_days_is_dormant_at_ten_days(db, clinic):
    # everyone in the clinic last signed in 2026-06-20 10:00, 10 days 23 hours ago
    frame = dormant_report(db, days=10)
    assert len(frame) == 12  # every active membership
    assert set(frame["days_dormant"]) == {10}
    assert dormant_report(db, days=11).empty


def test_inactive_members_are_never_dormant(db, clinic):
    _set_member(db, "g-harbour", "ivan", last_sign_in_at=T0 - timedelta(days=400))
    assert clinic.ivan not in set(dormant_report(db)["email"])


def test_a_member_who_never_signed_in_is_dormant_once_past_the_grace_period(db, clinic):
    _set_member(db, "g-harbour", "frank", last_sign_in_at=None, joined_at=T0 - timedelta(days=31))
    _set_member(db, "g-harbour", "rita", last_sign_in_at=None, joined_at=T0 - timedelta(days=29))
    _set_member(db, "g-harbour", "mia", last_sign_in_at=None, joined_at=None)
    frame = dormant_report(db, days=90)
    assert list(frame["email"]) == [clinic.frank]
    frank = _row(frame, clinic.frank)
    assert pd.isna(frank["last_sign_in_at"])
    assert frank["days_dormant"] == 31  # counted from joining
    assert set(dormant_report(db, days=90, grace_days=10)["email"]) == {
        clinic.frank,
        clinic.rita,
    }


def test_full_access_members_are_flagged_as_dormant_but_not_offboardable(db, clinic):
    frame = dormant_report(db, days=10, group="Harbour Clinic")
    flagged = set(frame.loc[frame["full_access"], "email"])
    assert flagged == {clinic.olivia, clinic.fiona, clinic.ops}
    assert frame["full_access"].dtype == bool


def test_dormancy_is_measured_at_the_as_of_time(db, clinic):
    frame = dormant_report(db, days=90, as_of="2026-10-01T00:00:00Z")
    # every active membership but peter's: his appointment of 2026-07-09 has started by then
    assert len(frame) == 11 and clinic.peter not in set(frame["email"])
    assert set(frame["days_dormant"]) == {102}
    assert dormant_report(db, days=83, as_of="2026-10-01T00:00:00Z")["email"].eq(clinic.peter).any()


def test_negative_or_fractional_days_are_bad_input(db, clinic):
    with pytest.raises(BadInput, match="--days"):
        dormant_report(db, days=-1)
    with pytest.raises(BadInput, match="--days"):
        dormant_report(db, days=1.5)
    with pytest.raises(BadInput, match="--grace"):
        dormant_report(db, grace_days=-5)
    assert len(dormant_report(db, days=np.int64(10))) == 12  # a notebook's numpy integer


def test_an_as_of_time_with_a_time_zone_is_taken_as_that_instant(db, clinic):
    cet = timezone(timedelta(hours=2))
    # 2026-06-30T10:00+00:00: ten days after everyone's last sign-in, to the hour
    frame = dormant_report(db, days=10, as_of=datetime(2026, 6, 30, 12, 0, tzinfo=cet))
    assert len(frame) == 12
    assert dormant_report(db, days=10, as_of="2026-06-30T11:59:59+02:00").empty


def test_dormant_members_are_sorted_by_group_then_longest_idle_first(db, clinic):
    _set_member(db, "g-harbour", "frank", last_sign_in_at=T0 - timedelta(days=100))
    _set_member(db, "g-harbour", "rita", last_sign_in_at=T0 - timedelta(days=200))
    _set_member(db, "g-summit", "sam", last_sign_in_at=T0 - timedelta(days=150))
    frame = dormant_report(db)
    assert list(frame["email"]) == [clinic.rita, clinic.frank, clinic.sam]
    assert list(frame["days_dormant"]) == [200, 100, 150]


# --- the hand-off to bulk offboarding --------------------------------------------------


def test_dormant_candidates_round_trip_through_the_offboarding_csv(db, clinic, tmp_path):
    _set_member(db, "g-harbour", "frank", last_sign_in_at=T0 - timedelta(days=100))
    _set_member(db, "g-harbour", "olivia", last_sign_in_at=T0 - timedelta(days=100))
    _set_member(db, "g-summit", "mia", last_sign_in_at=None, joined_at=T0 - timedelta(days=45))
    path = tmp_path / "candidates.csv"
    written = write_candidates_csv(dormant_report(db), path)
    assert (written.path, written.written, written.full_access_left_out) == (path, 2, 1)
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == CANDIDATE_COLUMNS
        rows = list(reader)
    assert rows == [
        {
            "email": clinic.frank,
            "group": "g-harbour",
            "action": "deactivate",
            "reason": "dormant 100 days",
        },
        {
            "email": clinic.mia,
            "group": "g-summit",
            "action": "deactivate",
            "reason": "dormant 45 days",
        },
    ]


def test_full_access_members_go_into_the_candidates_only_when_asked(db, clinic, tmp_path):
    frame = dormant_report(db, days=10, group="g-summit")
    path = tmp_path / "candidates.csv"
    assert write_candidates_csv(frame, path).written == 1  # mia; sam and ops have Full Access
    written = write_candidates_csv(frame, path, include_full_access=True)
    assert (written.written, written.full_access_left_out) == (3, 0)


def test_an_empty_dormant_report_writes_a_candidates_file_with_only_the_header(
    db, clinic, tmp_path
):
    path = tmp_path / "candidates.csv"
    assert write_candidates_csv(dormant_report(db), path).written == 0
    assert path.read_text(encoding="utf-8") == "email,group,action,reason\n"


def test_the_candidates_file_is_accepted_by_the_offboarding_plan(db, clinic, tmp_path):
    offboard = pytest.importorskip("opskit.offboard")
    _set_member(db, "g-harbour", "frank", last_sign_in_at=T0 - timedelta(days=100))
    _set_member(db, "g-harbour", "olivia", last_sign_in_at=T0 - timedelta(days=100))
    path = tmp_path / "candidates.csv"
    write_candidates_csv(dormant_report(db), path)
    plan = offboard.plan_offboarding(db, path, actor=clinic.ops)
    assert [(r.group_id, r.email, r.action, r.reason, r.blocker) for r in plan.rows] == [
        ("g-harbour", clinic.frank, "deactivate", "dormant 100 days", None)
    ]


# --- trends ----------------------------------------------------------------------------


def test_trends_count_deactivations_and_reactivations_per_month_and_group(db, clinic, monkeypatch):
    deactivate(db, clinic.peter, clinic.harbour, actor=clinic.ops)  # 2026-07
    deactivate(db, clinic.mia, clinic.summit, actor=clinic.sam)  # 2026-07
    _at(monkeypatch, "2026-08-03T10:00:00Z")
    reactivate(db, clinic.peter, clinic.harbour, actor=clinic.ops)
    deactivate(db, clinic.frank, clinic.harbour, actor=clinic.ops)
    _at(monkeypatch, "2026-08-31T23:59:59Z")
    deactivate(db, clinic.rita, clinic.harbour, actor=clinic.ops)
    _at(monkeypatch, "2026-09-01T00:00:00Z")
    reactivate(db, clinic.mia, clinic.summit, actor=clinic.sam)
    frame = trends_report(db)
    assert list(frame.columns) == TRENDS_COLUMNS
    assert frame.to_dict("records") == [
        {
            "month": "2026-07",
            "group_id": "g-harbour",
            "group": "Harbour Clinic",
            "deactivations": 1,
            "reactivations": 0,
        },
        {
            "month": "2026-07",
            "group_id": "g-summit",
            "group": "Summit Physio",
            "deactivations": 1,
            "reactivations": 0,
        },
        {
            "month": "2026-08",
            "group_id": "g-harbour",
            "group": "Harbour Clinic",
            "deactivations": 2,
            "reactivations": 1,
        },
        {
            "month": "2026-09",
            "group_id": "g-summit",
            "group": "Summit Physio",
            "deactivations": 0,
            "reactivations": 1,
        },
    ]
    summit = trends_report(db, group="Summit Physio")
    assert list(zip(summit["month"], summit["deactivations"], strict=True)) == [
        ("2026-07", 1),
        ("2026-09", 0),
    ]


def test_trends_count_only_deactivations_and_reactivations(db, clinic):
    change_access(db, clinic.frank, clinic.harbour, actor=clinic.ops, level="billing")
    deactivate(db, clinic.frank, clinic.harbour, actor=clinic.ops)
    deactivate(db, clinic.frank, clinic.harbour, actor=clinic.ops)  # unchanged: no event
    frame = trends_report(db)
    assert frame[["month", "group_id", "deactivations", "reactivations"]].to_dict("records") == [
        {"month": "2026-07", "group_id": "g-harbour", "deactivations": 1, "reactivations": 0}
    ]


def test_trends_without_any_changes_are_empty_with_their_columns(db, clinic):
    frame = trends_report(db)
    assert frame.empty
    assert list(frame.columns) == TRENDS_COLUMNS


def test_status_summary_counts_active_and_inactive_members_per_group(db, clinic):
    deactivate(db, clinic.mia, clinic.summit, actor=clinic.sam)
    frame = status_summary(db)
    assert list(frame.columns) == SUMMARY_COLUMNS
    assert frame.to_dict("records") == [
        {"group_id": "g-harbour", "group": "Harbour Clinic", "active": 7, "inactive": 1},
        {"group_id": "g-solo", "group": "Solo Practice", "active": 2, "inactive": 0},
        {"group_id": "g-summit", "group": "Summit Physio", "active": 2, "inactive": 1},
    ]
    assert status_summary(db, group="g-solo")["active"].tolist() == [2]


def test_reports_only_read(db, clinic):
    with db.read() as conn:
        members_before = conn.execute(s.memberships.select()).all()
    for report in (
        inactive_report,
        dormant_report,
        trends_report,
        status_summary,
        members_by_group,
        deactivations_by_month,
    ):
        report(db)
    with db.read() as conn:
        assert conn.execute(s.memberships.select()).all() == members_before
        assert conn.execute(s.audit_events.select()).all() == []


# ----------------------------------------- bounded for charts: the top groups and "other"


def test_members_by_group_keeps_the_largest_groups_and_sums_the_rest_as_other(db, clinic):
    deactivate(db, clinic.mia, clinic.summit, actor=clinic.sam)
    frame = members_by_group(db, top=1)
    assert list(frame.columns) == MEMBERS_BY_GROUP_COLUMNS
    assert frame[["group", "active", "inactive", "groups"]].to_dict("records") == [
        {"group": "Harbour Clinic", "active": 7, "inactive": 1, "groups": 1},
        {"group": "other (2 groups)", "active": 4, "inactive": 1, "groups": 2},
    ]
    assert frame["group_id"].isna().tolist() == [False, True]
    # as many groups as top: nothing is folded, and the counts agree with status_summary
    every = members_by_group(db, top=3)
    assert every["groups"].tolist() == [1, 1, 1]
    summary = status_summary(db).set_index("group_id")[["active", "inactive"]]
    assert (
        (every.set_index("group_id")[["active", "inactive"]] == summary.loc[every["group_id"]])
        .all()
        .all()
    )
    assert members_by_group(db, group="g-solo")["group"].tolist() == ["Solo Practice"]


def test_deactivations_by_month_keep_the_top_groups_and_fold_the_rest(db, clinic, monkeypatch):
    deactivate(db, clinic.peter, clinic.harbour, actor=clinic.ops)  # 2026-07
    deactivate(db, clinic.frank, clinic.harbour, actor=clinic.ops)  # 2026-07
    deactivate(db, clinic.mia, clinic.summit, actor=clinic.sam)  # 2026-07
    _at(monkeypatch, "2026-08-03T10:00:00Z")
    deactivate(db, clinic.rita, clinic.harbour, actor=clinic.ops)
    frame = deactivations_by_month(db, top=1)
    assert list(frame.columns) == DEACTIVATIONS_BY_MONTH_COLUMNS
    assert frame[["month", "group", "deactivations", "groups"]].to_dict("records") == [
        {"month": "2026-07", "group": "Harbour Clinic", "deactivations": 2, "groups": 1},
        {"month": "2026-07", "group": "other (1 group)", "deactivations": 1, "groups": 1},
        {"month": "2026-08", "group": "Harbour Clinic", "deactivations": 1, "groups": 1},
    ]
    assert deactivations_by_month(db, top=2)["group"].tolist() == [
        "Harbour Clinic", "Summit Physio", "Harbour Clinic"
    ]  # fmt: skip
    assert deactivations_by_month(db, group="g-solo").empty


@pytest.mark.parametrize("top", [0, -1, 1.5, True, "3"])
def test_a_top_that_is_not_a_number_of_groups_is_bad_input(db, clinic, top):
    for report in (members_by_group, deactivations_by_month):
        with pytest.raises(BadInput, match="not a number of groups"):
            report(db, top=top)


def test_a_report_csv_holds_every_row_and_keeps_formulas_as_text(db, clinic, tmp_path):
    with db.begin() as conn:
        conn.execute(update(s.groups).where(s.groups.c.group_id == "g-solo").values(name="=1+1"))
    path = write_report_csv(status_summary(db), tmp_path / "new" / "summary.csv")
    with open(path, newline="", encoding="utf-8") as handle:
        records = list(csv.DictReader(handle))
    assert [r["group"] for r in records] == ["'=1+1", "Harbour Clinic", "Summit Physio"]  # by name
    with pytest.raises(BadInput, match="cannot write the report"):
        write_report_csv(status_summary(db), tmp_path / "new")  # a folder


def test_dormant_members_idle_alike_are_ordered_by_group_name_then_email_by_code_points(db, clinic):
    g, u = s.groups.c, s.users.c
    with db.begin() as conn:
        # by code points "zenith" (z, U+007A) comes before "Émeraude" (É, U+00C9), and
        # "émile@..." after every address starting with a plain letter
        conn.execute(update(s.groups).where(g.group_id == "g-summit").values(name="zenith"))
        conn.execute(update(s.groups).where(g.group_id == "g-harbour").values(name="Émeraude"))
        conn.execute(
            update(s.users)
            .where(u.user_id == "u-frank")
            .values(email="Émile@harbour.test", email_key="émile@harbour.test")
        )
    frame = dormant_report(db, days=10)  # everyone idle alike: 10 days
    assert set(frame["days_dormant"]) == {10}
    groups = list(dict.fromkeys(frame["group"]))
    assert groups == sorted(groups)
    assert groups.index("zenith") < groups.index("Émeraude")
    for _, rows in frame.groupby("group_id", sort=False):
        keys = [email.strip().lower() for email in rows["email"]]
        assert keys == sorted(keys)
    harbour = frame[frame["group_id"] == "g-harbour"]
    assert harbour["email"].iloc[-1] == "Émile@harbour.test"
