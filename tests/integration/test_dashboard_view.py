"""The owners' dashboard's data (opskit.dashboard), on both backends: one group's
counts, dormant candidates, open findings and trends, read without writing."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, update

from opskit import schema as s
from opskit.dashboard import dashboard_groups, owner_view
from opskit.lifecycle import deactivate

from ..scenarios import T0


def test_the_dashboard_lists_every_group_by_name(db, clinic):
    assert dashboard_groups(db) == [
        ("Harbour Clinic", "g-harbour"),
        ("Solo Practice", "g-solo"),
        ("Summit Physio", "g-summit"),
    ]


def test_an_owner_sees_their_groups_counts_dormant_members_findings_and_trend(db, clinic):
    with db.begin() as conn:
        m = s.memberships.c
        conn.execute(
            update(s.memberships)
            .where(m.group_id == "g-harbour", m.user_id == "u-frank")
            .values(last_sign_in_at=T0 - timedelta(days=100))
        )
    deactivate(db, clinic.peter, "g-harbour", actor=clinic.olivia)  # checklist left open
    with db.read() as conn:
        events = conn.execute(select(func.count()).select_from(s.audit_events)).scalar_one()
    view = owner_view(db, "Harbour Clinic")
    assert (view.group_id, view.active, view.inactive) == ("g-harbour", 6, 2)
    assert list(view.dormant["email"]) == [clinic.frank]
    assert list(view.findings["email"]) == [clinic.peter]
    assert list(view.trends.itertuples(index=False, name=None)) == [("2026-07", 1, 0)]
    with db.read() as conn:  # read-only
        assert conn.execute(select(func.count()).select_from(s.audit_events)).scalar_one() == events
