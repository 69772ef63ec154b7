"""The owners' dashboard (``dashboards/owners.ipynb``, served by Voila): what a practice
owner sees of their group, read-only.

``owner_view`` gathers it from the reports (each computed in SQL) and writes nothing:
the group's active and inactive members, its dormant candidates by its policy, the
inactive members with checklist items still open (findings), and the monthly trend.
``owner_tables`` puts it in an owner's words: headings instead of column names, dates
as dates ("15 Jan 2026"), levels, activities and checklist items by name, "never" for a
member with no activity, and no NaN, None or raw ISO text anywhere.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import select

from . import schema as s
from .checklist.items import REGISTRY
from .db import Database
from .reports import FINDINGS, dormant_report, inactive_report, status_summary, trends_report


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
        findings=findings[
            ["email", "name", "deactivated_at", "open_items", "finding", *FINDINGS]
        ].reset_index(drop=True),
        trends=trends_report(db, group=group)[
            ["month", "deactivations", "reactivations"]
        ].reset_index(drop=True),
    )


# ------------------------------------------------------------------ in an owner's words

HEADINGS = {
    "email": "Email",
    "name": "Name",
    "role": "Role",
    "access_level": "Access level",
    "last_active_at": "Last active",
    "activity": "Last activity",
    "days_dormant": "Days without activity",
    "deactivated_at": "Deactivated on",
    "open_items": "Checklist items still open",
    "finding": "Needs attention",
    "month": "Month",
    "deactivations": "Deactivations",
    "reactivations": "Reactivations",
}
ACTIVITIES = {
    "sign_in": "Sign-in",
    "appointment": "Appointment",
    "patient_record": "Patient record",
}
# what each finding means for the practice (reports.FINDINGS: column -> checklist item)
FINDING_TEXTS = {
    "bookable_online": "can still be booked online",
    "integration_enabled": "an integration is still on",
    "auto_top_up_on": "auto top-up is still on",
}
_ITEM_LABELS = {item.id: item.label for item in REGISTRY}


def level_name(level: str) -> str:
    """An access level as the product names it: ``full`` is Full Access."""
    return "Full Access" if level == s.FULL else level.replace("_", " ").capitalize()


def _date(value) -> str:
    if pd.isna(value):
        return ""
    day = pd.Timestamp(value)
    return f"{day.day} {day:%b %Y}"


def _month(value: str) -> str:
    return pd.Timestamp(f"{value}-01").strftime("%b %Y")


def _findings(row) -> str:
    said = [text for column, text in FINDING_TEXTS.items() if column in row and bool(row[column])]
    return "; ".join(said).capitalize()


def readable(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` (a table of ``OwnerView``) as a practice owner reads it: every value
    text, every column under its heading (``HEADINGS``; other columns left out)."""
    out = pd.DataFrame(index=frame.index)
    for column in frame.columns:
        if column not in HEADINGS:
            continue
        values = frame[column]
        if column == "last_active_at":
            text = values.map(lambda v: "never" if pd.isna(v) else _date(v))
        elif column == "deactivated_at":
            text = values.map(_date)
        elif column == "month":
            text = values.map(_month)
        elif column == "role":
            text = values.map(lambda v: str(v).capitalize())
        elif column == "access_level":
            text = values.map(level_name)
        elif column == "activity":
            text = values.map(lambda v: "" if v is None or pd.isna(v) else ACTIVITIES.get(v, v))
        elif column == "open_items":
            text = values.map(
                lambda v: ", ".join(_ITEM_LABELS.get(i, i) for i in str(v).split(",") if i)
            )
        elif column == "finding":
            text = frame.apply(_findings, axis=1)
        else:
            text = values.map(lambda v: "" if v is None or pd.isna(v) else str(v))
        out[HEADINGS[column]] = text.astype(object)
    return out.reset_index(drop=True)


def owner_tables(view: OwnerView) -> dict[str, pd.DataFrame]:
    """The dashboard's three tables, readable: dormant candidates, open findings, trend
    (newest month first)."""
    trends = view.trends.iloc[::-1]
    return {
        "dormant": readable(view.dormant),
        "findings": readable(view.findings),
        "trends": readable(trends),
    }


def table_html(frame: pd.DataFrame) -> str:
    """A table of ``owner_tables`` as HTML: text to the left, counts to the right, each
    heading on its column's side (JupyterLab and Voila right-align every cell, which
    leaves emails and names ragged)."""

    def side(column: str) -> str:
        values = frame[column].map(lambda v: str(v).replace(",", ""))
        return "right" if len(values) and values.map(str.isdigit).all() else "left"

    sides = {column: side(column) for column in frame.columns}
    head = "".join(
        f'<th style="text-align: {sides[c]}">{html.escape(str(c))}</th>' for c in frame.columns
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td style="text-align: {sides[c]}">{html.escape(str(v))}</td>'
            for c, v in zip(frame.columns, row, strict=True)
        )
        + "</tr>"
        for row in frame.itertuples(index=False, name=None)
    )
    return (
        f'<table class="opskit-table"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
    )
