"""The owners' dashboard's data (opskit.dashboard), on both backends: one group's
counts, dormant candidates, open findings and trends, read without writing."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select, update

from opskit import schema as s
from opskit.dashboard import dashboard_groups, owner_tables, owner_view
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


def test_an_owner_reads_dates_as_dates_and_names_instead_of_codes(db, clinic):
    with db.begin() as conn:
        m = s.memberships.c
        conn.execute(
            update(s.memberships)
            .where(m.group_id == "g-harbour", m.user_id == "u-frank")
            .values(last_sign_in_at=datetime(2026, 3, 5, 16, 40, 12, 123456))
        )
    deactivate(db, clinic.peter, "g-harbour", actor=clinic.olivia)  # checklist left open
    tables = owner_tables(owner_view(db, "g-harbour"))
    dormant = tables["dormant"].to_dict("records")
    assert dormant == [
        {
            "Email": clinic.frank,
            "Name": "Frank",
            "Role": "Administrator",
            "Access level": "Front desk",
            "Last active": "5 Mar 2026",
            "Last activity": "Sign-in",
            "Days without activity": "117",
        }
    ]
    (finding,) = tables["findings"].to_dict("records")
    assert finding["Deactivated on"] == "1 Jul 2026"
    assert finding["Checklist items still open"].startswith("Online booking")
    assert finding["Needs attention"].startswith("Can still be booked online")
    assert tables["trends"].to_dict("records") == [
        {"Month": "Jul 2026", "Deactivations": "1", "Reactivations": "0"}
    ]


def test_a_member_never_active_reads_never_and_no_cell_shows_nan_none_or_iso_text(db, clinic):
    with db.begin() as conn:
        m = s.memberships.c
        conn.execute(  # joined long ago, never signed in
            update(s.memberships)
            .where(m.group_id == "g-harbour", m.user_id == "u-frank")
            .values(last_sign_in_at=None, joined_at=T0 - timedelta(days=400))
        )
    tables = owner_tables(owner_view(db, "g-harbour"))
    frank = tables["dormant"][tables["dormant"]["Email"] == clinic.frank]
    assert list(frank["Last active"]) == ["never"] and list(frank["Last activity"]) == [""]
    for frame in tables.values():
        html = frame.to_html(index=False)
        for unreadable in ("NaN", "NaT", "None", "nan", "T00:", ":00.", "_"):
            assert unreadable not in html.replace(clinic.frank, ""), (unreadable, html)


def test_an_owner_reads_text_from_the_left_and_counts_from_the_right(db, clinic):
    import pandas as pd

    from opskit.dashboard import table_html

    frame = pd.DataFrame(
        {
            "Email": ["<b>x@example.test</b>", "y@example.test"],
            "Days without activity": ["117", "1,203"],
        }
    )
    page = table_html(frame)
    assert '<th style="text-align: left">Email</th>' in page
    assert '<th style="text-align: right">Days without activity</th>' in page
    assert '<td style="text-align: left">&lt;b&gt;x@example.test&lt;/b&gt;</td>' in page
    assert '<td style="text-align: right">1,203</td>' in page
    # the dashboard's own tables: emails left, days without activity right
    with db.begin() as conn:
        m = s.memberships.c
        conn.execute(
            update(s.memberships)
            .where(m.group_id == "g-harbour", m.user_id == "u-frank")
            .values(last_sign_in_at=datetime(2026, 3, 5, 16, 40))
        )
    dormant = table_html(owner_tables(owner_view(db, "g-harbour"))["dormant"])
    assert '<th style="text-align: left">Email</th>' in dormant
    assert '<th style="text-align: right">Days without activity</th>' in dormant
