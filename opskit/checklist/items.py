"""The checklist items: one specification per item, all of them in ``REGISTRY``.

An entry says everything opskit does with its item: the table it reads and how a
member's rows there are found, when the item is pending, what resolving it does, what
is snapshotted so reactivation can put it back, and the words shown for it. Evaluation,
the summary, resolution, restore, the widget's headings and the inactive report's
findings are all derived from these entries, so a new item is one new entry here.

The item ids and the states are part of the interface (docs/rules.md, "The
pre-deactivation checklist").
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, Table, and_, func, or_
from sqlalchemy.sql.base import ReadOnlyColumnCollection

from .. import schema as s
from ..clock import iso
from ..schema import Action

STATES = ("ok", "action_needed", "optional", "advisory", "not_applicable")

Columns = ReadOnlyColumnCollection[str, Any]  # ``table.c`` of the item's table
# The facts evaluation read for one member (a result row with ``flag`` and the names
# of ``ChecklistItem.facts``), or None when the member has no row in the table.
Found = Any


class Kind(enum.Enum):
    """How an item's state follows from a member's rows in its table.

    ``flagged`` is the state of a member with a flagged row (``None``: the kind has no
    such state), ``no_rows`` the state of a member with no row at all; a member with
    rows of which none is flagged is ``ok``.
    """

    RESOLVABLE = ("resolvable", "action_needed", "ok")  # blocks until resolved
    OPTIONAL = ("optional", None, "optional")  # informational, never blocks
    ADVISORY = ("advisory", "advisory", "ok")  # for the analyst; opskit changes nothing

    def __init__(self, id: str, flagged: str | None, no_rows: str) -> None:
        self.id = id
        self.flagged = flagged
        self.no_rows = no_rows


# --------------------------------------------------------------------------- resolutions


@dataclass(frozen=True)
class SetValues:
    """Resolving sets ``values`` on the member's pending rows; the snapshot keeps the
    same columns as they were, and restore sets them back on the rows still as set.

    ``before`` holds what every pending row is known to have (pending means the flag is
    on): snapshots and audit texts write that value rather than the stored one, which
    SQLite would give as 1 rather than JSON true."""

    values: Mapping[str, Any]
    before: Mapping[str, Any] = field(default_factory=dict)
    verb = "Resolve"
    action = Action.CHECKLIST_RESOLVED


@dataclass(frozen=True)
class DeleteRow:
    """Resolving deletes the member's pending row (a member has at most one); the
    snapshot keeps the columns ``kept``, and restore inserts the row again unless the
    member has such a row again, which leaves it alone for the reason ``conflict``."""

    kept: tuple[str, ...]
    conflict: str
    verb = "Resolve"
    action = Action.CHECKLIST_RESOLVED


@dataclass(frozen=True)
class GrantRow:
    """Resolving inserts a row for a member who has none, with ``stamp`` set to the
    time. A permission given on request, not a setting switched off: it is not
    snapshotted, and a restore keeps it."""

    stamp: str
    action: Action
    verb = "Grant"


Resolution = SetValues | DeleteRow | GrantRow


# --------------------------------------------------------------------------- the spec


@dataclass(frozen=True)
class ChecklistItem:
    """Everything about one checklist item (see the module docstring)."""

    id: str
    kind: Kind
    label: str  # the column heading in the widget and the user table
    table: Table
    # (state, found, the as-of time in ISO 8601) -> the row's detail
    detail: Callable[[str, Found, str], str]

    # what evaluation reads: the member's rows of ``table`` that ``reads`` accepts (all
    # when None), and per member ``flag`` (how many are pending, or how many were read
    # when the item has no pending condition) and the aggregates ``facts`` names
    member_column: str = "user_id"  # the column of ``table`` naming the member
    reads: Callable[[Columns, datetime], ColumnElement[bool]] | None = None
    facts: Callable[[Columns], dict[str, ColumnElement[Any]]] = lambda c: {}
    # facts that depend on the member's group rather than on their rows: given the
    # per-member facts (a CTE starting with group_id, user_id, flag), the query that
    # adds them, computed once per group (a correlated count per row would cost
    # rows times members on a large group)
    group_facts: Callable[[Any], Select] | None = None
    # at most one row per member, read as it is rather than grouped, so the summary
    # probes the table's unique (group_id, user_id) index per member; that suits a
    # table whose facts are in the index or few. Credit settings stay grouped: their
    # flag is not in the index, so a probe per member would read the table row as
    # well, where the grouped copy is read once.
    plain_rows: bool = False
    practitioner_only: bool = False  # an administrator with no row is ``not_applicable``
    counts: bool = False  # the row's ``count`` is ``flag`` (0 without rows); else None

    # the rows that make the item ``action_needed`` (only the member's own rows matter)
    pending: Callable[[Columns], ColumnElement[bool]] | None = None

    # what resolving does, and the words for it
    resolution: Resolution | None = None
    keys: tuple[str, ...] = ()  # what identifies a row of ``table`` in a snapshot
    row_label: str | None = None  # the column naming a changed row in texts (None: the id)
    event_key: str = ""  # the key of the audit event's before/after
    resolved_text: Callable[[Sequence[Mapping[str, Any]]], str] | None = None  # rows -> detail
    restored_text: Callable[[Sequence[Mapping[str, Any]]], str] | None = None  # entries -> detail
    never_resolved: str = ""  # why an advisory item cannot be resolved

    # an inactive member with this item open is a finding of the inactive report,
    # shown in this column
    finding: str | None = None

    @property
    def snapshotted(self) -> tuple[str, ...]:
        """The columns a snapshot keeps (none when resolving is not undone)."""
        if isinstance(self.resolution, SetValues):
            return tuple(self.resolution.values)
        if isinstance(self.resolution, DeleteRow):
            return self.resolution.kept
        return ()

    @property
    def resolved_to(self) -> dict[str, Any] | None:
        """What resolving sets on a pending row (None: it deletes the row)."""
        if isinstance(self.resolution, SetValues):
            return dict(self.resolution.values)
        return None

    @property
    def known_before(self) -> Mapping[str, Any]:
        """The values every pending row has (see ``SetValues.before``)."""
        return self.resolution.before if isinstance(self.resolution, SetValues) else {}

    @property
    def restorable(self) -> bool:
        return bool(self.snapshotted)

    @property
    def states(self) -> tuple[str, ...]:
        """Every state evaluation can give this item, in ``STATES`` order."""
        possible = {"ok", self.kind.no_rows}
        if self.kind.flagged:
            possible.add(self.kind.flagged)
        if self.practitioner_only:
            possible.add("not_applicable")
        return tuple(state for state in STATES if state in possible)


# --------------------------------------------------------------------------- the words


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _booking_detail(state: str, found: Found, as_of: str) -> str:
    if state == "action_needed":
        return f"listed or bookable online at {found.flag} of {plural(found.locations, 'location')}"
    if found is not None:
        return f"hidden and not bookable at {plural(found.locations, 'location')}"
    if state == "not_applicable":
        return "administrators have no booking profile"
    return "no booking profile"


def _integrations_detail(state: str, found: Found, as_of: str) -> str:
    if found is not None:
        return f"enabled: {', '.join(sorted(found.kinds.split(',')))}"
    return "no personal integration enabled"


def _disabled_integrations(rows: Sequence[Mapping[str, Any]]) -> str:
    kinds = sorted(r["kind"] for r in rows)
    revoked = " (iCal feed revoked)" if "ical_feed" in kinds else ""
    return f"disabled {', '.join(kinds)}{revoked}"


def _credits_detail(state: str, found: Found, as_of: str) -> str:
    if state == "action_needed":
        return "individual auto top-up is on"
    if found is not None:
        return "individual auto top-up is off"
    return "no individual credit setting"


def _reminders_detail(state: str, found: Found, as_of: str) -> str:
    if found is not None:
        return f"individual reminder level {found.level!r}"
    return "uses the group's reminder level"


def _export_detail(state: str, found: Found, as_of: str) -> str:
    if found is not None:
        return f"export granted {iso(found.granted_at)}"
    return "no export permission; grant it on request"


def _appointments_detail(state: str, found: Found, as_of: str) -> str:
    if state == "advisory":
        future = plural(int(found.flag), "appointment")
        successors = int(found.successors or 0)
        if successors:
            return (
                f"{future} after {as_of}: hand off to "
                f"{plural(successors, 'eligible colleague')} (auto or one by email) or cancel"
            )
        return f"{future} after {as_of}: no eligible colleague to hand off to; cancel them"
    if state == "not_applicable":
        return "administrators have no appointments"
    return f"no appointment after {as_of}"


def _with_successors(found: Any) -> Select:
    """The member's facts and ``successors``: how many colleagues could take their
    appointments (``opskit.handoff``'s eligibility, counted once per group)."""
    from ..handoff import successor_counts

    return successor_counts(found)


# --------------------------------------------------------------------------- the registry

REGISTRY: tuple[ChecklistItem, ...] = (
    ChecklistItem(
        id="online_booking",
        kind=Kind.RESOLVABLE,
        label="Online booking",
        table=s.booking_profiles,
        # booking profiles are a practitioner thing; an administrator who has one
        # anyway is evaluated like a practitioner (a bookable profile is never hidden
        # behind a role)
        practitioner_only=True,
        facts=lambda c: {"locations": func.count()},
        pending=lambda c: or_(c.directory_profile != "hidden", c.online_bookings != "disabled"),
        detail=_booking_detail,
        resolution=SetValues({"directory_profile": "hidden", "online_bookings": "disabled"}),
        keys=("group_id", "user_id", "location_id"),
        row_label="location_id",
        event_key="profiles",
        resolved_text=lambda rows: (
            f"hid the profile and disabled online bookings at {plural(len(rows), 'location')}"
        ),
        restored_text=lambda done: f"restored the profile at {plural(len(done), 'location')}",
        finding="bookable_online",
    ),
    ChecklistItem(
        id="integrations",
        kind=Kind.RESOLVABLE,
        label="Integrations",
        table=s.integrations,
        reads=lambda c, at: c.enabled.is_(True),
        facts=lambda c: {"kinds": func.aggregate_strings(c.kind, ",")},
        pending=lambda c: c.enabled.is_(True),
        detail=_integrations_detail,
        resolution=SetValues({"enabled": False}, before={"enabled": True}),
        keys=("group_id", "user_id", "kind"),
        row_label="kind",
        event_key="integrations",
        resolved_text=_disabled_integrations,
        restored_text=lambda done: f"re-enabled {', '.join(sorted(e['label'] for e in done))}",
        finding="integration_enabled",
    ),
    ChecklistItem(
        id="credits_auto_top_up",
        kind=Kind.RESOLVABLE,
        label="Auto top-up",
        table=s.credit_settings,
        # the group's own row (user_id NULL) is never a member's setting
        reads=lambda c, at: c.user_id.is_not(None),
        pending=lambda c: and_(c.user_id.is_not(None), c.auto_top_up.is_(True)),
        detail=_credits_detail,
        resolution=SetValues({"auto_top_up": False}, before={"auto_top_up": True}),
        keys=("credit_setting_id",),
        event_key="auto_top_up",
        resolved_text=lambda rows: "turned individual auto top-up off",
        restored_text=lambda done: "turned individual auto top-up back on",
        finding="auto_top_up_on",
    ),
    ChecklistItem(
        id="appointment_reminders",
        kind=Kind.RESOLVABLE,
        label="Reminders",
        table=s.reminder_levels,
        reads=lambda c, at: c.user_id.is_not(None),
        facts=lambda c: {"level": c.name},
        plain_rows=True,
        pending=lambda c: c.user_id.is_not(None),
        detail=_reminders_detail,
        resolution=DeleteRow(kept=("name",), conflict="an individual level was set since"),
        keys=("reminder_level_id",),
        event_key="reminder_level",
        resolved_text=lambda rows: (
            f"removed individual reminder level {rows[0]['name']!r}; the group's applies"
        ),
        restored_text=lambda done: (
            f"put back individual reminder level {done[0]['before']['name']!r}"
        ),
    ),
    ChecklistItem(
        id="data_export",
        kind=Kind.OPTIONAL,
        label="Data export",
        table=s.export_grants,
        facts=lambda c: {"granted_at": c.granted_at},
        plain_rows=True,
        detail=_export_detail,
        resolution=GrantRow(stamp="granted_at", action=Action.EXPORT_GRANTED),
        event_key="export_grant",
        resolved_text=lambda rows: "granted the export of their personal data",
    ),
    ChecklistItem(
        id="future_appointments",
        kind=Kind.ADVISORY,
        label="Future appts",
        table=s.appointments,
        member_column="practitioner_id",
        # booked ones: a cancelled appointment needs no decision (docs/rules.md, hand-off)
        reads=lambda c, at: and_(c.starts_at > at, c.status == "booked"),
        group_facts=_with_successors,
        practitioner_only=True,
        counts=True,
        detail=_appointments_detail,
        never_resolved="the checklist never changes appointments: deactivate with a hand-off",
    ),
)

BY_ID: dict[str, ChecklistItem] = {item.id: item for item in REGISTRY}
ITEMS = tuple(BY_ID)
# what ``all`` resolves
RESOLVABLE = tuple(item.id for item in REGISTRY if item.kind is Kind.RESOLVABLE)
# what can be resolved by name: the resolvable items and the optional ones that grant
RESOLVE_CHOICES = tuple(item.id for item in REGISTRY if item.resolution is not None)
RESTORABLE = tuple(item.id for item in REGISTRY if item.restorable)
LABELS = {item.id: item.label for item in REGISTRY}
