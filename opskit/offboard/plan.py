"""The plan: one ``PlanRow`` per (group, member) with what will happen, or why not.

How a plan is written to and read from its file and a run's stored copy is ``planfile``.
"""

from __future__ import annotations

import functools
import operator
import sys
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PLAN_FORMAT = 1
BLOCKERS = (
    "not_found",
    "duplicate",
    "not_authorised",
    "already_inactive",
    "already_read_only",
    "full_access",
    "would_lock_out",
    "no_successor",
)

PLAN_COLUMNS = [
    "row",
    "line",
    "group_id",
    "group",
    "email",
    "name",
    "access_level",
    "action",
    "reason",
    "blocker",
    "message",
    "checklist",
    "sessions",
    "future_appointments",
    "user_id",
    "fingerprint",
    "handoff",
    "appointments",
]


@dataclass(slots=True)
class PlanRow:
    """One (group, member) of a plan: what will happen, or why it will not."""

    row: int
    line: int | None
    email: str
    action: str
    group_id: str | None = None
    group: str | None = None
    name: str | None = None
    access_level: str | None = None
    reason: str | None = None
    blocker: str | None = None
    message: str | None = None
    checklist: tuple[str, ...] = ()
    sessions: int = 0
    future_appointments: int = 0
    user_id: str | None = None
    fingerprint: str | None = None
    # the hand-off (auto, cancel or a successor's email) and what it does with each of
    # the member's future appointments: appointment_id, starts_at, outcome, to
    handoff: str | None = None
    appointments: tuple[dict[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        record = dict(zip(PLAN_COLUMNS, _PLAN_VALUES(self), strict=True))
        record["checklist"] = list(self.checklist)
        record["appointments"] = [dict(a) for a in self.appointments]
        return record


_PLAN_VALUES = operator.attrgetter(*PLAN_COLUMNS)  # a row's values in PLAN_COLUMNS order


def shared(row: PlanRow) -> PlanRow:
    """What a fast reader decoded, with the values many rows repeat shared as
    ``planfile._plan_row_hook`` shares them: one string per group or action, one checklist
    tuple per combination of items (a million rows hold few distinct ones)."""
    intern = sys.intern
    row.group_id = row.group_id and intern(row.group_id)
    row.group = row.group and intern(row.group)
    row.action = intern(row.action)
    row.blocker = row.blocker and intern(row.blocker)
    row.access_level = row.access_level and intern(row.access_level)
    row.checklist = shared_items(row.checklist)
    return row


@dataclass
class Plan:
    """A reviewed list of offboarding rows plus who planned it, when, from what."""

    actor: str
    actor_id: str
    created_at: str
    source: str
    options: dict[str, Any]
    rows: list[PlanRow]

    @property
    def to_apply(self) -> list[PlanRow]:
        return [r for r in self.rows if r.blocker is None]

    @property
    def blocked(self) -> list[PlanRow]:
        return [r for r in self.rows if r.blocker is not None]

    def summary(self) -> dict[str, int]:
        ready = self.to_apply
        return {
            "rows": len(self.rows),
            "to_apply": len(ready),
            "blocked": len(self.rows) - len(ready),
            "members": len({r.user_id for r in ready}),
            "groups": len({r.group_id for r in ready}),
        }

    def blockers(self) -> dict[str, int]:
        """How many rows each blocker stops, in ``BLOCKERS`` order."""
        found = Counter(r.blocker for r in self.rows if r.blocker)
        return {b: found[b] for b in BLOCKERS if found[b]}

    def counts(self) -> list[dict[str, Any]]:
        """Rows by group and action: how many will be applied, how many are blocked."""
        tally: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
        for r in self.rows:
            tally[(r.group_id, r.group, r.action)][0 if r.blocker is None else 1] += 1
        return [
            {
                "group_id": group_id,
                "group": group,
                "action": action,
                "to_apply": ready,
                "blocked": blocked,
            }
            for (group_id, group, action), (ready, blocked) in sorted(
                tally.items(), key=lambda kv: (kv[0][1] or "~", kv[0][2])
            )
        ]

    def describe(self) -> str:
        """The sentence a confirmation shows: what applying will do, in numbers."""
        ready = self.to_apply
        actions = Counter(r.action for r in ready)
        parts = []
        if actions["deactivate"]:
            parts.append(f"deactivate {plural(actions['deactivate'], 'membership')}")
        if actions["read_only"]:
            parts.append(f"make {plural(actions['read_only'], 'membership')} read-only")
        what = " and ".join(parts) or "change nothing"
        summary = self.summary()
        return (
            f"{what[0].upper()}{what[1:]}: {plural(summary['members'], 'member')} in "
            f"{plural(summary['groups'], 'group')} ({plural(len(self.blocked), 'row')} blocked)"
        )

    def header(self) -> dict[str, Any]:
        return {
            "opskit_plan": PLAN_FORMAT,
            "actor": self.actor,
            "actor_id": self.actor_id,
            "created_at": self.created_at,
            "source": self.source,
            "options": self.options,
            "summary": self.summary(),
        }

    def to_dict(self) -> dict[str, Any]:
        return {**self.header(), "rows": [r.to_dict() for r in self.rows]}

    def to_frame(self):
        """The plan rows as a pandas DataFrame (columns in ``PLAN_COLUMNS`` order)."""
        import pandas as pd

        return pd.DataFrame([r.to_dict() for r in self.rows], columns=PLAN_COLUMNS)

    # the file formats, in planfile
    def iter_json(self) -> Iterator[str]:
        """The plan file in pieces: the header, then one row per line."""
        from .planfile import iter_json

        return iter_json(self)

    def to_json(self) -> str:
        return "".join(self.iter_json())

    def to_stored(self) -> str:
        """The plan as a run keeps it (``planfile.to_stored``)."""
        from .planfile import to_stored

        return to_stored(self)

    @classmethod
    def from_stored(cls, text: str, *, name: str = "run") -> Plan:
        from .planfile import from_stored

        return from_stored(text, name=name)

    def save(self, path: str | Path) -> Path:
        from .planfile import save

        return save(self, path)

    @classmethod
    def from_json(cls, text: str, *, name: str = "plan") -> Plan:
        """Read a plan file's text (hand-edited ones too), checking what apply relies on."""
        from .planfile import from_json

        return from_json(text, name=name)

    @classmethod
    def load(cls, path: str | Path) -> Plan:
        from .planfile import load

        return load(path)


@functools.lru_cache(maxsize=256)
def shared_items(items: tuple[str, ...]) -> tuple[str, ...]:
    """One tuple per combination of checklist items, shared by every row that has it."""
    return tuple(sys.intern(str(item)) for item in items)


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
