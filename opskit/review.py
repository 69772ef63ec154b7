"""The scheduled dormancy review (docs/rules.md): a plan of the dormant candidates, for review.

``review_dormant`` runs the dormant report (each group's policy, exemptions left out),
plans offboarding its candidates through ``offboard.plan_offboarding`` and writes the
plan file. It applies nothing: the plan then goes through review and approval like any
other. With ``notify`` it also writes one CSV per group for the group's account owners,
naming their dormant members (Full Access ones too, flagged: a person lowers their level
first) and what the plan would do with each.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select, text

from . import schema as s
from .collector import collector_paused
from .dataset.timetext import time_strings
from .db import Database, in_values
from .errors import BadInput
from .offboard import Plan, plan_offboarding
from .reports import dormant_report
from .spreadsheet import write_frame_csv

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
FULL_ACCESS_NOTE = "full_access: lower their access level first"


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
                # an owner has Full Access (the schema's owner_is_full): stated word
                # for word, the condition lets SQLite read the partial index of the
                # active Full Access members instead of every active member's row
                text(s.ACTIVE_FULL),
                m.account_owner.is_(True),
            )
            .order_by(m.group_id, u.email_key)
        )
        for group_id, email in conn.execute(query):
            owners[group_id].append(email)
    return owners


@collector_paused  # the plan's 100,000 rows made every later allocation walk them
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
    targets = pd.DataFrame(
        {
            "email": offboardable["email"],
            "group_id": offboardable["group_id"],
            "reason": "dormant " + offboardable["days_dormant"].astype(str) + " days",
        }
    )
    plan = plan_offboarding(db, targets, actor=actor, source="review dormant")
    plan_path = plan.save(out)
    result = ReviewResult(
        plan, Path(plan_path), len(offboardable), len(dormant) - len(offboardable), dormant=dormant
    )
    if notify is not None:
        result.notices = _write_notices(db, dormant, plan, Path(notify))
    return result


def _write_notices(db: Database, dormant: pd.DataFrame, plan: Plan, folder: Path) -> list[Path]:
    """One CSV per group with dormant members, for its account owners."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise BadInput(f"cannot make the folder: {error.strerror}", file=str(folder)) from None
    notices = _notice_frame(db, dormant, plan)
    # each group's rows together, the groups in the report's order
    codes, group_ids = pd.factorize(notices["group_id"])
    order = np.argsort(codes, kind="stable")
    notices = notices.take(order).reset_index(drop=True)
    starts = np.flatnonzero(np.diff(codes[order], prepend=-1)).tolist()
    ends = [*starts[1:], len(notices)]
    lines = _notice_lines(notices)
    written = []
    for group_id, start, end in zip(group_ids, starts, ends, strict=True):
        path = folder / f"dormant-{group_id}.csv"
        try:
            if lines is None:
                with path.open("w", newline="", encoding="utf-8") as notice:
                    write_frame_csv(notice, notices.iloc[start:end])
            else:
                path.write_bytes(b"".join([lines[0], *lines[start + 1 : end + 1]]))
        except OSError as error:
            raise BadInput(f"cannot write the notice: {error.strerror}", file=str(path)) from None
        written.append(path)
    return written


def _notice_lines(notices: pd.DataFrame) -> list[bytes] | None:
    """The header's line and each row's, in UTF-8, as ``write_frame_csv`` writes the
    whole frame: one call for every group's notice, where a call per group costs about
    a millisecond over 15,000 groups. None when a cell holds a line break: then a row
    is not one line, and a carriage return has the writer quote every cell of a file,
    so each group is written on its own."""
    buffer = io.StringIO()
    write_frame_csv(buffer, notices)
    csv_text = buffer.getvalue()
    if "\r" in csv_text or csv_text.count("\n") != len(notices) + 1:
        return None
    # split at "\n" alone: splitlines would also split at separators a name may hold
    return [line + b"\n" for line in csv_text.encode("utf-8").split(b"\n")[:-1]]


def _notice_frame(db: Database, dormant: pd.DataFrame, plan: Plan) -> pd.DataFrame:
    """Every group's notice rows, in the report's order: its members, the group's
    owners, the time as ``clock.iso`` writes it and what the plan does with each."""
    group_ids = dormant["group_id"]
    owners = _owners(db, list(dict.fromkeys(group_ids.tolist())))
    planned = {(row.group_id, row.email): row.blocker or row.action for row in plan.rows}
    # lists, not the report's columns: a pandas string column read a value at a time
    # is ten times slower
    keys = zip(group_ids.tolist(), dormant["email"].tolist(), strict=True)
    what = [
        FULL_ACCESS_NOTE if full else planned.get(key, "not planned")
        for key, full in zip(keys, dormant["full_access"].tolist(), strict=True)
    ]
    last_active = time_strings(
        dormant["last_active_at"].to_numpy(), sep="T", suffix="Z", always_micro=False
    )
    return pd.DataFrame(
        {
            "group_id": group_ids,
            "group": dormant["group"],
            "account_owners": group_ids.map({g: "; ".join(o) for g, o in owners.items()}),
            "email": dormant["email"],
            "name": dormant["name"],
            "role": dormant["role"],
            "access_level": dormant["access_level"],
            "last_active_at": last_active,
            "activity": dormant["activity"],
            "days_dormant": dormant["days_dormant"],
            "planned": what,
        },
        columns=NOTICE_COLUMNS,
    )
