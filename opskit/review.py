"""The scheduled dormancy review (docs/rules.md): a plan of the dormant candidates, for review.

``review_dormant`` runs the dormant report (each group's policy, exemptions left out),
plans offboarding its candidates through ``offboard.plan_offboarding`` and writes the
plan file. It applies nothing: the plan then goes through review and approval like any
other. With ``notify`` it also writes one CSV per group for the group's account owners,
naming their dormant members (Full Access ones too, flagged: a person lowers their level
first) and what the plan would do with each.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import select

from . import schema as s
from .clock import iso
from .db import Database, in_values
from .errors import BadInput
from .offboard import Plan, plan_offboarding
from .reports import dormant_report
from .spreadsheet import spreadsheet_safe

NOTICE_COLUMNS = [
    "group_id",
    "group",
    "account_owners",
    "email",
    "name",
    "role",
    "access_level",
    "last_active_at",
    "activity",
    "days_dormant",
    "planned",
]
# a cell a spreadsheet would run as a formula gets a leading quote (docs/rules.md)


@dataclass
class ReviewResult:
    """What a review wrote: the plan, the candidates and the notices."""

    plan: Plan
    plan_path: Path
    candidates: int
    full_access_left_out: int
    notices: list[Path] = field(default_factory=list)
    # the dormant report the plan was made from (Full Access members included), so a
    # caller that shows it need not run the report a second time
    dormant: pd.DataFrame | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        summary = self.plan.summary()
        return {
            "plan": str(self.plan_path),
            "actor": self.plan.actor,
            "candidates": self.candidates,
            "full_access_left_out": self.full_access_left_out,
            **summary,
            "notices": [str(path) for path in self.notices],
        }


def _cell(value: Any) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):  # None, NaN, NaT
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if hasattr(value, "to_pydatetime"):
        value = value.to_pydatetime()
    if isinstance(value, datetime):
        return iso(value) or ""
    return spreadsheet_safe(value)


def _owners(db: Database, group_ids: list[str]) -> dict[str, list[str]]:
    m = s.memberships.c
    u = s.users.c
    owners: dict[str, list[str]] = {group_id: [] for group_id in group_ids}
    with db.read() as conn:
        query = (
            select(m.group_id, u.email)
            .join(s.users, u.user_id == m.user_id)
            .where(
                in_values(conn, m.group_id, group_ids),  # one parameter, however many groups
                m.account_owner.is_(True),
                m.status == "active",
            )
            .order_by(m.group_id, u.email_key)
        )
        for group_id, email in conn.execute(query):
            owners[group_id].append(email)
    return owners


def review_dormant(
    db: Database,
    *,
    actor: str | None = None,
    out: str | Path,
    notify: str | Path | None = None,
    group: str | None = None,
    days: int | None = None,
    grace_days: int | None = None,
) -> ReviewResult:
    """Plan offboarding the dormant candidates into ``out``; writes nothing to the
    database. ``actor`` is who will apply the plan (the plan checks their rights)."""
    dormant = dormant_report(db, days=days, grace_days=grace_days, group=group)
    offboardable = dormant[~dormant["full_access"]]
    targets = [
        {"email": email, "group": group_id, "reason": f"dormant {int(idle)} days"}
        for email, group_id, idle in zip(
            offboardable["email"],
            offboardable["group_id"],
            offboardable["days_dormant"],
            strict=True,
        )
    ]
    plan = plan_offboarding(db, targets, actor=actor, source="review dormant")
    plan_path = plan.save(out)
    result = ReviewResult(
        plan, Path(plan_path), len(offboardable), len(dormant) - len(targets), dormant=dormant
    )
    if notify is not None:
        result.notices = _write_notices(db, dormant, plan, Path(notify))
    return result


def _write_notices(db: Database, dormant, plan: Plan, folder: Path) -> list[Path]:
    """One CSV per group with dormant members, for its account owners."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise BadInput(f"cannot make the folder: {error.strerror}", file=str(folder)) from None
    planned = {(row.group_id, row.email): row for row in plan.rows}
    owners = _owners(db, list(dict.fromkeys(dormant["group_id"])))
    written = []
    # one pass over the report, split by group (not a scan of it per group); the frame
    # becomes records once: a to_dict per group cost minutes over 15,000 groups
    by_group: dict[str, list[dict[str, Any]]] = {}
    for record in dormant.to_dict("records"):
        by_group.setdefault(record["group_id"], []).append(record)
    for group_id, records in by_group.items():
        path = folder / f"dormant-{group_id}.csv"
        try:
            with path.open("w", newline="", encoding="utf-8") as notice:
                writer = csv.writer(notice, lineterminator="\n")
                writer.writerow(NOTICE_COLUMNS)
                for record in records:
                    row = planned.get((group_id, record["email"]))
                    if record["full_access"]:
                        what = "full_access: lower their access level first"
                    elif row is None:
                        what = "not planned"
                    else:
                        what = row.blocker or row.action
                    writer.writerow(
                        _cell(v)
                        for v in (
                            group_id,
                            record["group"],
                            "; ".join(owners.get(group_id, [])),
                            record["email"],
                            record["name"],
                            record["role"],
                            record["access_level"],
                            record["last_active_at"],
                            record["activity"],
                            record["days_dormant"],
                            what,
                        )
                    )
        except OSError as error:
            raise BadInput(f"cannot write the notice: {error.strerror}", file=str(path)) from None
        written.append(path)
    return written
