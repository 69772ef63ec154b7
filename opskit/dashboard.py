"""The owners' dashboard (``dashboards/owners.ipynb``, served by Voila): what a practice
owner sees of their group, read-only.

``owner_view`` gathers it from the reports (each computed in SQL) and writes nothing:
the group's active and inactive members, its dormant candidates by its policy, the
inactive members with checklist items still open (findings), and the monthly trend.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from sqlalchemy import select

from . import schema as s
from .db import Database
from .reports import dormant_report, inactive_report, status_summary, trends_report


@dataclass(frozen=True)
class OwnerView:
    group_id: str
    group: str
    active: int
    inactive: int
    dormant: pd.DataFrame
    findings: pd.DataFrame
    trends: pd.DataFrame


def dashboard_groups(db: Database) -> list[tuple[str, str]]:
    """The groups to pick from: (name, id), by name."""
    g = s.groups.c
    with db.read() as conn:
        return [
            (row.name, row.group_id)
            for row in conn.execute(select(g.name, g.group_id).order_by(g.name))
        ]


def owner_view(db: Database, group: str) -> OwnerView:
    """One group's dashboard: counts, dormant candidates, open findings, trends."""
    (summary,) = status_summary(db, group=group).itertuples(index=False)
    inactive = inactive_report(db, group=group)
    findings = inactive[inactive["open_items"] != ""]
    dormant = dormant_report(db, group=group)
    return OwnerView(
        group_id=summary.group_id,
        group=summary.group,
        active=int(summary.active),
        inactive=int(summary.inactive),
        dormant=dormant[
            ["email", "name", "role", "access_level", "last_active_at", "activity", "days_dormant"]
        ].reset_index(drop=True),
        findings=findings[["email", "name", "deactivated_at", "open_items", "finding"]].reset_index(
            drop=True
        ),
        trends=trends_report(db, group=group)[
            ["month", "deactivations", "reactivations"]
        ].reset_index(drop=True),
    )
