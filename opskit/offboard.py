"""Bulk offboarding (SPEC section 5): a reviewed plan, applied in crash-safe batches,
resumable, undoable.

``plan_offboarding``
    Reads who to offboard (``opskit.offboard_input``) and matches it to memberships in
    a handful of set-based queries (ids in chunks, never a query per row). Each plan row
    is one (group, member) with the planned action, a blocker (``None`` when the row
    will be applied), the checklist items to resolve, the sessions to revoke, the future
    appointments and a fingerprint of the member's state. Planning writes nothing.

``apply_plan`` / ``resume_run``
    Write the run, which keeps the plan, and the ledger rows of the blocked rows (final
    from the start) in one transaction, then work through the plan's other rows in
    batches. Each batch is one transaction holding the membership updates, the revoked
    sessions, the checklist resolution and its snapshots, the audit events (with the
    run id) and the batch's ledger rows with their results, so a process killed at any
    instant leaves every member either fully offboarded or untouched, and a plan row
    without a ledger row is pending: ``resume_run`` finishes those without applying
    anything twice.

``undo_run``
    Reactivates exactly the members the run changed (and only while their latest
    change is still the run's), restoring the settings the checklist switched off.

The plan file
-------------
JSON, one plan row per line so that a reviewer can read it, diff it and delete rows
before applying::

    {"opskit_plan": 1, "actor": "analyst@opskit.demo", "actor_id": "u-1",
     "created_at": "2026-07-01T09:00:00Z", "source": "leavers.csv",
     "options": {"group": null, "action": "deactivate", "reason": null},
     "summary": {"rows": 5, "to_apply": 3, "blocked": 2, "members": 3, "groups": 2},
     "rows": [
      {"row": 1, "line": 2, "group_id": "g-1", "group": "Harbour", "email": "a@x.test",
       "name": "A", "access_level": "clinical", "action": "deactivate", "reason": null,
       "blocker": null, "message": null, "checklist": ["online_booking"], "sessions": 2,
       "future_appointments": 1, "user_id": "u-7", "fingerprint": "9f2c..."},
      ...
     ]}

``blocker`` is one of ``BLOCKERS`` and ``message`` says why in words. ``checklist`` lists
the items ``--resolve-checklist`` would resolve; ``sessions`` is how many open sessions
deactivation revokes (read-only keeps them). ``fingerprint`` hashes the member's status,
access level, read-only flag, ownership, open-session count and which checklist items are
pending; apply refuses a row whose fingerprint changed as ``stale``. Future appointments
are shown but not fingerprinted: they are advisory, and the clock alone changes them.

Run states and liveness
-----------------------
A run is ``running`` while a process works on it, ``done`` when no row is pending,
``undone`` after ``undo_run``. ``interrupted`` is shown for a run stored as running whose
process is gone: the process records its host, pid and the pid's start time (so a
reused pid is not mistaken for it), plus, on PostgreSQL (the one database several hosts
can share), a wall-clock heartbeat every ``HEARTBEAT`` seconds; on the same host the
process table decides, from another host a heartbeat older than
``STALE_AFTER`` seconds does. (No database lock is needed, which keeps SQLite and
PostgreSQL alike.) ``resume_run`` refuses a run whose process is still alive.
"""

from __future__ import annotations

import codecs
import functools
import gc
import hashlib
import io
import json
import operator
import os
import socket
import sys
import time
import typing
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

import msgspec
from sqlalchemy import (
    Connection,
    and_,
    case,
    delete,
    func,
    insert,
    literal,
    select,
    tuple_,
    update,
)
from sqlalchemy.exc import DataError, IntegrityError

from . import schema as s
from .audit import event_row, record_for_members, record_many
from .checklist import future_appointments_count, pending_conditions, resolve_items
from .checklist import restore_settings as restore_checklist_settings
from .clock import iso, now
from .db import Database, in_values, members_table
from .errors import BadInput, NotAuthorized, OpskitError, Refused, WouldLockOutGroup
from .offboard_input import ACTIONS, Target, normalise_action, read_targets
from .rules import can_manage, email_key, find_group, find_user, lock_groups
from .schema import Action
from .sqljson import SqlJson

PLAN_FORMAT = 1
# Rows per batch transaction. Larger batches rewrite the pages of the randomly ordered
# indexes (memberships by user and by last sign-in) fewer times: offboarding 100,000 of
# 200,000 on SQLite wrote 826 MB at 10,000 a batch, 605 MB at 25,000, and took about 5-10%
# less time; a batch then holds the write lock (SQLite) or its groups' locks (PostgreSQL)
# for about 2-3 seconds, which a single change elsewhere waits out.
BATCH_SIZE = 25_000
CHUNK = 5000  # ids per statement: far below SQLite's and PostgreSQL's bind limits
PLAN_SLICE = 50_000  # targets planned together (bounds the planner's memory)
STALE_AFTER = 600  # seconds without a heartbeat before another host's run counts as dead
HEARTBEAT = 30  # seconds between heartbeats (each rewrites the run's row)

BLOCKERS = (
    "not_found",
    "duplicate",
    "not_authorised",
    "already_inactive",
    "already_read_only",
    "full_access",
    "would_lock_out",
)
RESULTS = ("deactivated", "read_only", "unchanged", "blocked", "stale", "failed")
RUN_STATES = ("running", "interrupted", "done", "undone")

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
]
RUN_ROW_COLUMNS = ["row", "group_id", "group", "email", "action", "result", "message"]
RUN_COLUMNS = [
    "run",
    "state",
    "actor",
    "started_at",
    "finished_at",
    "undone_at",
    "rows",
    "pending",
    *RESULTS,
]

_COMPACT = json.JSONEncoder(separators=(",", ":"))
_ENCODER = msgspec.json.Encoder()
_m = s.memberships.c
_rr = s.offboard_run_rows.c
_runs = s.offboard_runs.c


class UnknownRun(BadInput):
    pass


def _collector_paused(work):
    """Run ``work`` with Python's cyclic garbage collector paused.

    Bulk work makes objects by the hundred thousand: the plan's rows, which live for
    the whole call, and rows read and written, which reference counting frees. None of
    them forms a cycle, yet the collector, triggered by allocations, walks the
    long-lived ones again and again: about a tenth of an apply, to find a few thousand
    cyclic objects (SQLAlchemy's: 10 MB at the peak of a 100,000-member apply, 36 MB of
    500,000), which it collects on its usual schedule once the call returns. The
    caller's process is left as it was."""

    @functools.wraps(work)
    def paused(*args, **kwargs):
        if not gc.isenabled():
            return work(*args, **kwargs)
        gc.disable()
        try:
            return work(*args, **kwargs)
        finally:
            gc.enable()

    return paused


# ----------------------------------------------------------------------------- the plan


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

    def to_dict(self) -> dict[str, Any]:
        record = {name: getattr(self, name) for name in PLAN_COLUMNS}
        record["checklist"] = list(self.checklist)
        return record


_ROW_FIELDS = {f.name for f in fields(PlanRow)}
_ROW_DECODER = msgspec.json.Decoder(PlanRow)  # strict: exactly the types save writes
# a line of a run's stored plan: rows as arrays of PlanRow's types in PLAN_COLUMNS order
_STORED_LINE = msgspec.json.Decoder(
    list[tuple[tuple(typing.get_type_hints(PlanRow)[name] for name in PLAN_COLUMNS)]]
)
# a row in PLAN_COLUMNS order -> its values in PlanRow's order
_AS_FIELDS = operator.itemgetter(*(PLAN_COLUMNS.index(f.name) for f in fields(PlanRow)))


def _shared(row: PlanRow) -> PlanRow:
    """What a fast reader decoded, with the values many rows repeat shared as
    ``_plan_row_hook`` shares them: one string per group or action, one checklist
    tuple per combination of items (a million rows hold few distinct ones)."""
    intern = sys.intern
    row.group_id = row.group_id and intern(row.group_id)
    row.group = row.group and intern(row.group)
    row.action = intern(row.action)
    row.blocker = row.blocker and intern(row.blocker)
    row.access_level = row.access_level and intern(row.access_level)
    row.checklist = _shared_items(row.checklist)
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
            parts.append(f"deactivate {_plural(actions['deactivate'], 'membership')}")
        if actions["read_only"]:
            parts.append(f"make {_plural(actions['read_only'], 'membership')} read-only")
        what = " and ".join(parts) or "change nothing"
        summary = self.summary()
        return (
            f"{what[0].upper()}{what[1:]}: {_plural(summary['members'], 'member')} in "
            f"{_plural(summary['groups'], 'group')} ({_plural(len(self.blocked), 'row')} blocked)"
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

    def iter_json(self) -> Iterator[str]:
        """The plan file in pieces: the header, then one row per line."""
        # ASCII (non-ASCII escaped): a large plan's text then takes one byte a character
        head = json.dumps(self.header())
        yield head[:-1] + ',\n "rows": ['
        for index, row in enumerate(self.rows):
            yield ("\n  " if index == 0 else ",\n  ") + json.dumps(row.to_dict())
        yield "\n ]}\n"

    def to_json(self) -> str:
        return "".join(self.iter_json())

    def to_stored(self) -> str:
        """The plan as a run keeps it: the same JSON document, each row an array in
        ``columns`` order rather than an object, which halves a large plan.
        A line holds an array of up to 1,000 such rows (one encoder call each), encoded
        by msgspec (4x the JSON module) unless it holds a non-ASCII character: those
        lines are escaped, as the JSON module does, so that the text stays ASCII and a
        large plan's text takes one byte a character."""
        out = io.StringIO()
        head = json.dumps({**self.header(), "columns": PLAN_COLUMNS})
        out.write(head[:-1] + ', "rows": [\n')
        values = operator.attrgetter(*PLAN_COLUMNS)  # a tuple; checklist, a tuple, is a list
        for start in range(0, len(self.rows), 1000):
            if start:
                out.write(",\n")
            line = list(map(values, self.rows[start : start + 1000]))
            try:
                encoded = _ENCODER.encode(line)
            except (msgspec.EncodeError, UnicodeEncodeError):  # a lone surrogate, say
                encoded = None
            ascii_ = encoded is not None and encoded.isascii()
            out.write(encoded.decode("ascii") if ascii_ else _COMPACT.encode(line))
        out.write("\n]}\n" if self.rows else "]}\n")
        return out.getvalue()

    @classmethod
    def from_stored(cls, text: str, *, name: str = "run") -> Plan:
        """Read what ``to_stored`` wrote, a line at a time (a million rows never exist as
        a million parsed lists at once). A line is an array of rows (or, as runs
        started by earlier versions wrote it, one row)."""
        lines = _lines_of(text)
        header = json.loads(next(lines).rstrip().removesuffix('"rows": [') + '"rows": []}')
        columns = header["columns"]
        rows = []
        typed = columns == PLAN_COLUMNS
        for line in lines:
            line = line.rstrip().rstrip(",")
            if not line.startswith("["):
                continue
            if typed and line.startswith("[["):
                # as to_stored writes it: each row an array of exactly PlanRow's types,
                # decoded by msgspec (4x faster than a dict a row through the hook)
                try:
                    decoded = _STORED_LINE.decode(line)
                except msgspec.DecodeError:
                    pass  # read as below, which names a damaged plan
                else:
                    rows.extend(_shared(PlanRow(*_AS_FIELDS(values))) for values in decoded)
                    continue
            try:
                parsed = json.loads(line)
                for values in parsed if line.startswith("[[") else [parsed]:
                    row = _plan_row_hook(dict(zip(columns, values, strict=True)))
                    if not isinstance(row, PlanRow):
                        raise ValueError("not a plan row")
                    rows.append(row)
            except (ValueError, TypeError):  # JSON errors are ValueErrors too
                raise BadInput("the run's stored plan is damaged", file=name) from None
        return cls._from_header(header, rows, name)

    @classmethod
    def _from_header(cls, header: Mapping[str, Any], rows: list[PlanRow], name: str) -> Plan:
        return cls(
            actor=str(header["actor"]),
            actor_id=str(header.get("actor_id") or ""),
            created_at=str(header.get("created_at") or ""),
            source=str(header.get("source") or name),
            options=dict(header.get("options") or {}),
            rows=rows,
        )

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        try:
            with path.open("w", encoding="utf-8") as out:
                for piece in self.iter_json():
                    out.write(piece)
        except OSError as error:
            raise BadInput(f"cannot write the plan: {error.strerror}", file=str(path)) from None
        return path

    @classmethod
    def from_json(cls, text: str, *, name: str = "plan") -> Plan:
        """Read a plan file's text (hand-edited ones too), checking what apply relies on."""
        try:
            document = json.loads(text, object_hook=_plan_row_hook)
        except json.JSONDecodeError as error:
            raise BadInput(
                f"not a plan file (invalid JSON: {error.msg})", file=name, line=error.lineno
            ) from None
        if not isinstance(document, dict) or "rows" not in document or "actor" not in document:
            raise BadInput("not a plan file (needs 'actor' and 'rows')", file=name)
        rows = document["rows"]
        if not isinstance(rows, list):
            raise BadInput("'rows' must be a list", file=name, column="rows")
        _check_rows(rows, name)
        return cls._from_header(document, rows, name)

    @classmethod
    def load(cls, path: str | Path) -> Plan:
        path = Path(path)
        try:
            with path.open("rb") as lines:
                plan = cls._read_as_saved(lines, name=str(path))
            if plan is not None:
                return plan
            text = path.read_text(encoding="utf-8-sig")
        except FileNotFoundError:
            raise BadInput("no such plan file", file=str(path)) from None
        except UnicodeDecodeError:
            raise BadInput("not a plan file (not UTF-8 text)", file=str(path)) from None
        except OSError as error:
            raise BadInput(f"cannot read it: {error.strerror}", file=str(path)) from None
        return cls.from_json(text, name=str(path))

    @classmethod
    def _read_as_saved(cls, lines: BinaryIO, *, name: str) -> Plan | None:
        """A plan file in the shape ``save`` writes (the header, then a row a line), read
        a line at a time: msgspec decodes each row straight into a ``PlanRow``, with no
        dict in between and never the whole text in memory (3x faster than the JSON
        module with a hook, and a million-row plan's 400 MB of text is never held).
        None for a file of any other shape, or with a row not of exactly the written
        types: ``from_json`` reads those, lenient where it can be, and says what is wrong."""
        first = lines.readline().removeprefix(codecs.BOM_UTF8).rstrip()
        if not first.endswith(b",") or lines.readline().strip() != b'"rows": [':
            return None
        try:
            header = json.loads(first[:-1] + b"}")
        except ValueError:
            return None
        if not isinstance(header, dict) or "actor" not in header or "rows" in header:
            return None
        decode = _ROW_DECODER.decode
        rows = []
        try:
            for line in lines:
                line = line.strip()
                if line == b"]}":
                    break
                rows.append(_shared(decode(line.removesuffix(b","))))
            else:
                return None  # the closing line is missing
        except msgspec.DecodeError:
            return None
        if any(line.strip() for line in lines):
            return None
        _check_rows(rows, name)
        return cls._from_header(header, rows, name)


def _check_rows(rows: list, name: str) -> None:
    """What apply relies on in a plan's rows, whichever way they were read."""
    seen: set[int] = set()
    for index, row in enumerate(rows):
        where = f"rows[{index}]"
        if not isinstance(row, PlanRow):
            raise BadInput(
                "not a plan row (a row needs at least row, email and action)",
                file=name,
                column=where,
            )
        if row.action not in ACTIONS:
            raise BadInput(
                f"{row.action!r} is not an action (deactivate or read_only)",
                file=name,
                column=f"{where}.action",
            )
        if row.blocker is not None and row.blocker not in BLOCKERS:
            raise BadInput(
                f"{row.blocker!r} is not a blocker ({', '.join(BLOCKERS)})",
                file=name,
                column=f"{where}.blocker",
            )
        if row.blocker is None and (not row.group_id or not row.fingerprint):
            raise BadInput(
                "a row to apply needs group_id and fingerprint",
                file=name,
                column=where,
            )
        if row.row in seen:
            raise BadInput(f"row number {row.row} appears twice", file=name, column=where)
        seen.add(row.row)


def _lines_of(text: str) -> Iterator[str]:
    """The lines of ``text``, one at a time. (``io.StringIO(text)`` would copy the text
    into a buffer of 4 bytes a character: 760 MB for the stored plan of a million rows.)"""
    start = 0
    while start < len(text):
        end = text.find("\n", start)
        end = len(text) if end < 0 else end
        yield text[start:end]
        start = end + 1


_INTERNED = {"group_id", "group", "action", "blocker", "access_level"}


def _plan_row_hook(record: dict[str, Any]) -> Any:
    """Turn each row object into a compact ``PlanRow`` as the JSON is parsed, so that a
    plan of a million rows never exists as a million dicts."""
    if not {"row", "email", "action"} <= record.keys() or "rows" in record:
        return record
    try:
        if record.keys() <= _ROW_FIELDS and _plain_row(record):
            # as plan files are written: only the fields, of the right types
            for key in _INTERNED:
                value = record.get(key)
                if value is not None:
                    record[key] = sys.intern(value)
            record["checklist"] = _shared_items(tuple(record.get("checklist") or ()))
            return PlanRow(**record)
        values = {k: v for k, v in record.items() if k in _ROW_FIELDS}
        for key in _INTERNED & values.keys():
            if isinstance(values[key], str):
                values[key] = sys.intern(values[key])
        values["checklist"] = _shared_items(tuple(str(i) for i in values.get("checklist") or ()))
        values["row"] = int(values["row"])
        values["sessions"] = int(values.get("sessions") or 0)
        values["future_appointments"] = int(values.get("future_appointments") or 0)
        return PlanRow(**values)
    except (TypeError, ValueError):
        return record  # reported by from_json as "not a plan row"


def _plain_row(record: dict[str, Any]) -> bool:
    return (
        type(record["row"]) is int
        and type(record.get("sessions", 0)) is int
        and type(record.get("future_appointments", 0)) is int
        and all(type(record.get(key, "")) in (str, type(None)) for key in _INTERNED)
        and type(record.get("checklist") or []) is list
    )


@functools.lru_cache(maxsize=256)
def _shared_items(items: tuple[str, ...]) -> tuple[str, ...]:
    """One tuple per combination of checklist items, shared by every row that has it."""
    return tuple(sys.intern(str(item)) for item in items)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _chunks(values: Sequence, size: int = CHUNK) -> Iterator[Sequence]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


# ------------------------------------------------------------------ the member's state


def _state_columns(m, at: datetime, *, appointments: bool = True, packed: bool = False) -> list:
    """What a plan row shows and fingerprints about the membership row ``m`` (apply
    leaves out the future appointments: they are shown, not fingerprinted, and takes
    the pending items ``packed`` into one bit mask, ``pending_mask``)."""
    c = s.sessions.c
    open_sessions = (
        select(func.count())
        .select_from(s.sessions)
        .where(c.group_id == m.c.group_id, c.user_id == m.c.user_id, c.revoked_at.is_(None))
        .scalar_subquery()
    )
    return [
        m.c.membership_id,
        m.c.group_id,
        m.c.user_id,
        m.c.status,
        m.c.access_level,
        m.c.read_only,
        m.c.account_owner,
        open_sessions.label("open_sessions"),
        *([future_appointments_count(m, at).label("future_appointments")] if appointments else []),
        *(
            [
                sum(
                    case((cond, 1 << bit), else_=0)
                    for bit, cond in enumerate(pending_conditions(m).values())
                ).label("pending_mask")
            ]
            if packed
            else [cond.label(f"pending_{item}") for item, cond in pending_conditions(m).items()]
        ),
    ]


_PENDING_ITEMS = tuple(pending_conditions().keys())
_PENDING_LABELS = tuple(f"pending_{item}" for item in _PENDING_ITEMS)
# pending_mask -> the pending items (bit i: _PENDING_ITEMS[i])
_PENDING_BY_MASK = tuple(
    tuple(item for bit, item in enumerate(_PENDING_ITEMS) if mask >> bit & 1)
    for mask in range(1 << len(_PENDING_ITEMS))
)


@functools.lru_cache(maxsize=64)
def _pending_items(flags: tuple[bool, ...]) -> tuple[str, ...]:
    """The pending items named by their flags (one shared tuple per combination)."""
    return tuple(item for item, flag in zip(_PENDING_ITEMS, flags, strict=True) if flag)


@dataclass(frozen=True, slots=True)
class _State:
    membership_id: int
    status: str
    access_level: str
    read_only: bool
    account_owner: bool
    open_sessions: int
    future_appointments: int
    pending: tuple[str, ...]

    @classmethod
    def of(cls, row: Any) -> _State:
        mapping = row._mapping
        return cls(
            membership_id=row.membership_id,
            status=row.status,
            access_level=row.access_level,
            read_only=bool(row.read_only),
            account_owner=bool(row.account_owner),
            open_sessions=int(row.open_sessions or 0),
            future_appointments=int(mapping.get("future_appointments") or 0),
            pending=(
                _PENDING_BY_MASK[int(mapping["pending_mask"])]
                if "pending_mask" in mapping
                else _pending_items(tuple(bool(mapping[k]) for k in _PENDING_LABELS))
            ),
        )

    @property
    def fingerprint(self) -> str:
        return _fingerprint(
            self.status,
            self.access_level,
            self.read_only,
            self.account_owner,
            self.open_sessions,
            self.pending,
        )


@functools.lru_cache(maxsize=4096)
def _fingerprint(
    status: str,
    access_level: str,
    read_only: bool,
    account_owner: bool,
    open_sessions: int,
    pending: tuple[str, ...],
) -> str:
    """The hash of what a plan row was planned on. Few members differ in all of it,
    so the hash of each combination is computed once."""
    text = "|".join(
        [
            status,
            access_level,
            str(int(read_only)),
            str(int(account_owner)),
            str(open_sessions),
            ",".join(pending),
        ]
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _states(conn: Connection, membership_ids: Sequence[int], at: datetime) -> dict[int, _State]:
    m = s.memberships
    found: dict[int, _State] = {}
    for chunk in _chunks(sorted(membership_ids)):
        query = select(*_state_columns(m, at)).where(in_values(conn, _m.membership_id, chunk))
        for row in conn.execute(query):
            found[row.membership_id] = _State.of(row)
    return found


def _manageable(conn: Connection, actor_id: str, group_ids: Iterable[str] | None = None):
    """The groups where the actor may act (R1), and for the others what they lack."""
    query = select(s.memberships).where(_m.user_id == actor_id)
    if group_ids is not None:
        query = query.where(_m.group_id.in_(sorted(set(group_ids))))
    ok: set[str] = set()
    lacks: dict[str, str] = {}
    for member in conn.execute(query):
        if can_manage(member):
            ok.add(member.group_id)
        elif member.status != "active":
            lacks[member.group_id] = "is inactive there"
        elif member.read_only:
            lacks[member.group_id] = "is read-only there"
        else:
            lacks[member.group_id] = "does not have Full Access there"
    return ok, lacks


def _lockout(conn: Connection, group_ids: Iterable[str]) -> dict[str, tuple[int, int]]:
    """Active Full Access members and active owners per group."""
    full = func.count().filter(_m.access_level == s.FULL)
    owners = func.count().filter(_m.account_owner.is_(True))
    counts = dict.fromkeys(group_ids, (0, 0))
    for chunk in _chunks(sorted(counts)):
        query = (
            select(_m.group_id, full, owners)
            .where(_m.group_id.in_(chunk), _m.status == "active")
            .group_by(_m.group_id)
        )
        for group_id, n_full, n_owners in conn.execute(query):
            counts[group_id] = (int(n_full), int(n_owners))
    return counts


def _lockout_message(group: str, counts: tuple[int, int]) -> str | None:
    if counts[0] == 0:
        return f"{group} would be left with no active Full Access member"
    if counts[1] == 0:
        return f"{group} would be left with no active account owner"
    return None


# ----------------------------------------------------------------------------- planning


@_collector_paused
def plan_offboarding(
    db: Database,
    targets: Any,
    *,
    actor: str,
    group: str | None = None,
    action: str = "deactivate",
    reason: str | None = None,
    source: str | None = None,
) -> Plan:
    """Plan who to offboard; writes nothing.

    ``targets`` is a CSV path, the bytes of an upload, a DataFrame or a list of dicts
    (``email`` and optionally ``group``/``group_id``, ``action``, ``reason``). A row
    without a group means every active membership of that user the actor may manage.
    ``group`` limits the plan to one group; ``action`` and ``reason`` are the defaults
    for rows that do not say.
    """
    wanted, label = read_targets(targets, name=source)
    default_action = normalise_action(action, file=None, line=None, column="--action")
    default_action = default_action or "deactivate"
    default_reason = (reason or "").strip() or None
    at = now()
    with db.read() as conn:
        who = find_user(conn, actor, option="--actor")
        scope = find_group(conn, group) if group is not None else None
        planner = _Planner(conn, who, scope, at)
        rows = planner.plan(wanted, default_action, default_reason)
    return Plan(
        actor=who.email,
        actor_id=who.user_id,
        created_at=iso(at),
        source=label,
        options={
            "group": scope.group_id if scope is not None else None,
            "action": default_action,
            "reason": default_reason,
        },
        rows=rows,
    )


class _Planner:
    """Matches targets to memberships with a few chunked queries, then decides in memory."""

    def __init__(self, conn: Connection, actor, scope, at: datetime) -> None:
        self.conn = conn
        self.actor = actor
        self.scope = scope
        self.at = at

    def plan(self, targets: list[Target], action: str, reason: str | None) -> list[PlanRow]:
        """Plan rows for ``targets``, a slice at a time so that a million targets never
        have their users, memberships and states in memory all at once."""
        self.ok, self.lacks = _manageable(self.conn, self.actor.user_id)
        self.groups: dict[str, Any] = {}  # by id and by name, as met
        self.names: dict[str, str] = {}
        self.lockout: dict[str, tuple[int, int]] = {}
        self.first_row: dict[int, int] = {}  # membership id -> first plan row naming it
        rows: list[PlanRow] = []
        for part in _chunks(targets, PLAN_SLICE):
            rows.extend(self._plan_slice(part, action, reason, start=len(rows) + 1))
        return rows

    def _plan_slice(
        self, targets: Sequence[Target], action: str, reason: str | None, *, start: int
    ) -> list[PlanRow]:
        conn = self.conn
        users = self._users({email_key(t.email) for t in targets})
        self._groups({t.group for t in targets if t.group} - self.groups.keys())
        memberships = self._memberships({u.user_id for u in users.values()})
        self._group_names(
            {m.group_id for ms in memberships.values() for m in ms} - self.names.keys()
        )
        names, ok = self.names, self.ok

        # 1. expand each target to (target, membership or a not-found message)
        expanded: list[tuple[Target, Any, str | None]] = []
        for target in targets:
            user = users.get(email_key(target.email))
            if user is None:
                expanded.append((target, None, f"no user with email {target.email!r}"))
                continue
            mine = memberships.get(user.user_id, [])
            if target.group:
                grp = self.groups.get(target.group)
                if grp is None:
                    message = f"no group with id or name {target.group!r}"
                    expanded.append((target, None, message))
                    continue
                if self.scope is not None and grp.group_id != self.scope.group_id:
                    message = f"{grp.name} is outside the plan's group ({self.scope.name})"
                    expanded.append((target, None, message))
                    continue
                mine = [m for m in mine if m.group_id == grp.group_id]
                if not mine:
                    expanded.append((target, None, f"{user.email} is not a member of {grp.name}"))
                    continue
            elif self.scope is not None:
                mine = [m for m in mine if m.group_id == self.scope.group_id]
                if not mine:
                    message = f"{user.email} is not a member of {self.scope.name}"
                    expanded.append((target, None, message))
                    continue
            else:
                if not mine:
                    message = f"{user.email} is not a member of any group"
                    expanded.append((target, None, message))
                    continue
                # every active membership the actor may manage; if there is none, show
                # every membership with the reason it cannot be planned
                manageable = [m for m in mine if m.status == "active" and m.group_id in ok]
                mine = manageable or mine
            for member in sorted(mine, key=lambda m: (names[m.group_id], m.group_id)):
                expanded.append((target, (user, member), None))

        member_ids = [pair[1].membership_id for _, pair, _ in expanded if pair is not None]
        states = _states(conn, member_ids, self.at)
        new_groups = {pair[1].group_id for _, pair, _ in expanded if pair} - self.lockout.keys()
        self.lockout.update(_lockout(conn, new_groups))

        # 2. one plan row per expansion, with the first blocker that applies
        rows: list[PlanRow] = []
        for number, (target, pair, missing) in enumerate(expanded, start=start):
            row_action = target.action or action
            row = PlanRow(
                row=number,
                line=target.line,
                email=target.email.strip(),
                action=row_action,
                reason=target.reason or reason,
            )
            rows.append(row)
            if pair is None:
                row.blocker, row.message = "not_found", missing
                continue
            user, member = pair
            state = states[member.membership_id]
            row.group_id = sys.intern(member.group_id)
            row.group = names[member.group_id]
            row.user_id = user.user_id
            row.email = user.email
            row.name = user.name
            row.access_level = sys.intern(state.access_level)
            row.checklist = state.pending
            row.sessions = state.open_sessions if row_action == "deactivate" else 0
            row.future_appointments = state.future_appointments
            row.fingerprint = state.fingerprint
            row.blocker, row.message = self._blocker(
                row,
                state,
                self.first_row.get(member.membership_id),
                ok,
                self.lacks,
                self.lockout[member.group_id],
            )
            self.first_row.setdefault(member.membership_id, number)
        return rows

    def _blocker(self, row: PlanRow, state: _State, first: int | None, ok, lacks, lockout):
        group = row.group
        if first is not None:
            return "duplicate", f"duplicate of row {first}"
        if row.group_id not in ok:
            lack = lacks.get(row.group_id, "is not a member of the group")
            return "not_authorised", (
                f"{self.actor.email} may not offboard members of {group}: {lack} "
                "(only an active Full Access member may)"
            )
        if state.status != "active":
            return "already_inactive", f"{row.email} is already inactive in {group}"
        if row.action == "read_only" and state.read_only:
            return "already_read_only", f"{row.email} is already read-only in {group}"
        if state.access_level == s.FULL:
            what = "deactivated" if row.action == "deactivate" else "made read-only"
            return "full_access", (
                f"{row.email} has Full Access in {group} and cannot be {what}; "
                "lower their access level first"
            )
        # R3 keeps Full Access members out of every plan, so what is left after the plan
        # is what is there now: a group already without one is locked (R4)
        locked = _lockout_message(group, lockout)
        if locked:
            return "would_lock_out", f"refused: {locked}"
        return None, None

    def _users(self, keys: set[str]) -> dict[str, Any]:
        found = {}
        for chunk in _chunks(sorted(keys)):
            query = select(s.users).where(in_values(self.conn, s.users.c.email_key, chunk))
            for user in self.conn.execute(query):
                found[user.email_key] = user
        return found

    def _groups(self, refs: set[str]) -> None:
        g = s.groups.c
        for chunk in _chunks(sorted(refs)):
            query = select(s.groups).where(
                in_values(self.conn, g.group_id, chunk) | in_values(self.conn, g.name, chunk)
            )
            for grp in self.conn.execute(query):
                self.groups.setdefault(grp.name, grp)
                self.groups[grp.group_id] = grp  # an id wins over another group's name

    def _group_names(self, group_ids: set[str]) -> None:
        for chunk in _chunks(sorted(group_ids)):
            query = select(s.groups.c.group_id, s.groups.c.name).where(
                in_values(self.conn, s.groups.c.group_id, chunk)
            )
            self.names.update({gid: sys.intern(name) for gid, name in self.conn.execute(query)})

    def _memberships(self, user_ids: set[str]) -> dict[str, list]:
        found: dict[str, list] = defaultdict(list)
        columns = (_m.membership_id, _m.group_id, _m.user_id, _m.status)
        for chunk in _chunks(sorted(user_ids)):
            query = select(*columns).where(in_values(self.conn, _m.user_id, chunk))
            for member in self.conn.execute(query):
                found[member.user_id].append(member)
        return found


# ----------------------------------------------------------------------- runs: liveness


def _pid_start(pid: int) -> str | None:
    """The start time of a process (Linux /proc), to tell a reused pid from the original."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    after = stat.rsplit(")", 1)[-1].split()
    if after and after[0] in ("Z", "X"):
        return None  # a zombie has finished its work
    return after[19] if len(after) > 19 else None


def _this_process() -> dict[str, Any]:
    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "pid_start": _pid_start(os.getpid()),
        "heartbeat": round(time.time(), 3),
    }


def _alive(process: Mapping[str, Any] | None) -> bool:
    """Is the process that owns a running run still there? (See the module docstring.)"""
    if not process:
        return False
    if process.get("host") == socket.gethostname():
        pid = int(process.get("pid") or 0)
        if pid <= 0:
            return False
        if Path("/proc").is_dir():
            started = _pid_start(pid)
            return started is not None and started == process.get("pid_start")
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    heartbeat = float(process.get("heartbeat") or 0)
    return time.time() - heartbeat < STALE_AFTER


def _is_me(process: Mapping[str, Any] | None) -> bool:
    return (
        bool(process)
        and process.get("host") == socket.gethostname()
        and process.get("pid") == os.getpid()
    )


def _shown_state(stored: str, options: Mapping[str, Any]) -> str:
    if stored == "running" and not _alive(options.get("process")):
        return "interrupted"
    return stored


# ---------------------------------------------------------------------- runs: summaries


@dataclass
class RunSummary:
    """A run as ``status`` shows it; ``counts`` has one entry per result."""

    run: str
    state: str
    actor: str | None
    started_at: str | None
    finished_at: str | None
    undone_at: str | None
    resolve_checklist: bool
    rows: int
    pending: int
    counts: dict[str, int] = field(default_factory=dict)
    owner: str | None = None

    def to_dict(self) -> dict[str, Any]:
        record = asdict(self)
        counts = record.pop("counts")
        record.update({result: counts.get(result, 0) for result in RESULTS})
        return record


def _summaries(conn: Connection, run_id: str | None = None) -> list[RunSummary]:
    actor = s.users.alias("actor")
    query = (
        select(*s.offboard_runs.c, actor.c.email.label("actor_email"))
        .outerjoin(actor, actor.c.user_id == _runs.actor_id)
        .order_by(_runs.started_at, _runs.run_id)
    )
    tally = select(_rr.run_id, _rr.result, func.count().label("n")).group_by(_rr.run_id, _rr.result)
    if run_id is not None:
        query = query.where(_runs.run_id == run_id)
        tally = tally.where(_rr.run_id == run_id)
    counts: dict[str, dict[str | None, int]] = defaultdict(dict)
    for rid, result, n in conn.execute(tally):
        counts[rid][result] = int(n)
    summaries = []
    for run in conn.execute(query):
        options = json.loads(run.options or "{}")
        process = options.get("process") or {}
        tallied = counts.get(run.run_id, {})
        rows, pending = _row_counts(options, tallied)
        summaries.append(
            RunSummary(
                run=run.run_id,
                state=_shown_state(run.state, options),
                actor=run.actor_email,
                started_at=iso(run.started_at),
                finished_at=iso(run.finished_at),
                undone_at=iso(run.undone_at),
                resolve_checklist=bool(options.get("resolve_checklist")),
                rows=rows,
                pending=pending,
                counts={r: tallied.get(r, 0) for r in RESULTS},
                owner=f"pid {process.get('pid')} on {process.get('host')}" if process else None,
            )
        )
    return summaries


def _row_counts(options: Mapping[str, Any], tallied: Mapping[str | None, int]) -> tuple[int, int]:
    """A run's plan rows and how many of them are pending: the plan rows without a
    ledger row, or (runs started by earlier versions) with a NULL result."""
    if "rows" not in options:
        return sum(tallied.values()), tallied.get(None, 0)
    decided = sum(n for result, n in tallied.items() if result is not None)
    return int(options["rows"]), int(options["rows"]) - decided


def list_runs(db: Database) -> list[RunSummary]:
    """Every offboarding run, oldest first, with its state and result counts."""
    with db.read() as conn:
        return _summaries(conn)


def run_summary(db: Database, run_id: str) -> RunSummary:
    with db.read() as conn:
        found = _summaries(conn, run_id)
    if not found:
        raise UnknownRun(f"no offboarding run {run_id!r}", column="RUN")
    return found[0]


def run_rows(db: Database, run_id: str) -> list[dict[str, Any]]:
    """The ledger of a run: one row per plan row with its ``result`` (None: pending;
    the pending rows come from the run's plan, which the ledger has no row for yet)."""
    query = (
        select(
            _rr.row_no.label("row"),
            _rr.group_id,
            s.groups.c.name.label("group"),
            _rr.user_id,
            _rr.email,
            _rr.action,
            _rr.result,
            _rr.message,
            _rr.fingerprint,
            _rr.done_at,
        )
        .outerjoin(s.groups, s.groups.c.group_id == _rr.group_id)
        .where(_rr.run_id == run_id)
        .order_by(_rr.row_no)
    )
    with db.read() as conn:
        summary = _summaries(conn, run_id)
        if not summary:
            raise UnknownRun(f"no offboarding run {run_id!r}", column="RUN")
        rows = [dict(r._mapping) for r in conn.execute(query)]
        if summary[0].pending:
            decided = {row["row"] for row in rows if row["result"] is not None}
            rows = [row for row in rows if row["result"] is not None]
            stored = _stored_plan(conn, run_id)
            pending = [
                row
                for row in Plan.from_stored(stored, name=f"run {run_id}").rows
                if row.row not in decided
            ]
            names = dict(
                conn.execute(
                    select(s.groups.c.group_id, s.groups.c.name).where(
                        in_values(conn, s.groups.c.group_id, {r.group_id for r in pending} - {None})
                    )
                ).all()
            )
            rows += [
                {
                    "row": row.row,
                    "group_id": row.group_id,
                    "group": names.get(row.group_id),
                    "user_id": row.user_id,
                    "email": row.email,
                    "action": row.action,
                    "result": None,
                    "message": None,
                    "fingerprint": row.fingerprint,
                    "done_at": None,
                }
                for row in pending
            ]
            rows.sort(key=lambda row: row["row"])
    for row in rows:
        row["done_at"] = iso(row["done_at"])
    return rows


def run_events(db: Database, run_id: str) -> list[dict[str, Any]]:
    """The audit events written by a run (and by its undo)."""
    from .audit import audit_events

    return audit_events(db, run=run_id)


# ----------------------------------------------------------------------------- applying


def _as_plan(plan: Plan | str | Path | Mapping[str, Any]) -> Plan:
    if isinstance(plan, Plan):
        return plan
    if isinstance(plan, (str, Path)):
        return Plan.load(plan)
    if isinstance(plan, Mapping):
        return Plan.from_json(json.dumps(plan, default=str), name="plan")
    raise BadInput(f"expected a plan, got {type(plan).__name__}", column="PLAN")


def _new_run_id(conn: Connection, at: datetime) -> str:
    """``ob-YYYYMMDD-HHMMSS-N``: readable, ordered, and reproducible under OPSKIT_NOW."""
    prefix = f"ob-{at:%Y%m%d-%H%M%S}-"
    taken = conn.execute(select(func.count()).where(_runs.run_id.like(prefix + "%"))).scalar_one()
    return f"{prefix}{taken + 1}"


@_collector_paused
def apply_plan(
    db: Database,
    plan: Plan | str | Path,
    *,
    resolve_checklist: bool = False,
    batch_size: int = BATCH_SIZE,
    progress: bool | None = True,
) -> RunSummary:
    """Apply a reviewed plan: deactivate (or make read-only) every unblocked row.

    Dangerous: it changes many members at once. Authorisation (R1) is checked again,
    rows whose fingerprint changed since planning become ``stale``, and each batch of
    ``batch_size`` rows is one transaction holding the membership updates, the revoked
    sessions, the checklist resolution with its snapshots (``resolve_checklist``), the
    audit events with the run id and the ledger results. Returns the run's summary;
    ``run_rows`` has the per-row results. ``progress`` shows a ``tqdm.auto`` bar
    (``None``: only on a terminal).
    """
    plan = _as_plan(plan)
    if batch_size < 1:
        raise BadInput("the batch size must be at least 1", column="--batch-size")
    options = {
        "resolve_checklist": bool(resolve_checklist),
        "batch_size": int(batch_size),
        "source": plan.source,
        "planned_at": plan.created_at,
        "process": _this_process(),
        "rows": len(plan.rows),
    }
    run_id = _start_run(db, plan, options)
    _drive(db, run_id, plan, options, progress)
    return run_summary(db, run_id)


def _start_run(db: Database, plan: Plan, options: dict[str, Any]) -> str:
    """Write the run, its plan and the ledger rows of the blocked rows (final from the
    start) in one transaction; the other rows get theirs in their batch."""
    text = plan.to_stored()
    for attempt in range(5):
        try:
            with db.begin() as conn:
                who = find_user(conn, plan.actor, option="actor")
                if plan.actor_id and plan.actor_id != who.user_id:
                    raise BadInput(
                        f"the plan's actor {plan.actor} is no longer user {plan.actor_id}",
                        column="actor",
                    )
                at = now()
                run_id = _new_run_id(conn, at)
                conn.execute(
                    insert(s.offboard_runs).values(
                        run_id=run_id,
                        actor_id=who.user_id,
                        state="running",
                        options=json.dumps(options, sort_keys=True),
                        started_at=at,
                    )
                )
                conn.execute(insert(s.offboard_run_plans).values(run_id=run_id, plan=text))
                _write_ledger(conn, run_id, [(row, None) for row in plan.blocked], at)
                return run_id
        except IntegrityError:
            if attempt == 4:
                raise
            time.sleep(0.05 * (attempt + 1))  # another run took the same id: take the next
    raise AssertionError("unreachable")


def _stored_plan(conn: Connection, run_id: str) -> str:
    return conn.execute(
        select(s.offboard_run_plans.c.plan).where(s.offboard_run_plans.c.run_id == run_id)
    ).scalar_one()


def _user_ids(conn: Connection, keys: set[str]) -> dict[str, str]:
    found = {}
    for chunk in _chunks(sorted(keys)):
        query = select(s.users.c.email_key, s.users.c.user_id).where(s.users.c.email_key.in_(chunk))
        found.update(dict(conn.execute(query).all()))
    return found


_LEDGER_COLUMNS = [
    ("row_no", s.offboard_run_rows.c.row_no.type),
    ("group_id", s.offboard_run_rows.c.group_id.type),
    ("user_id", s.offboard_run_rows.c.user_id.type),
    ("email", s.offboard_run_rows.c.email.type),
    ("action", s.offboard_run_rows.c.action.type),
    ("result", s.offboard_run_rows.c.result.type),
    ("message", s.offboard_run_rows.c.message.type),
    ("fingerprint", s.offboard_run_rows.c.fingerprint.type),
]


def _write_ledger(
    conn: Connection,
    run_id: str,
    rows: Sequence[tuple[PlanRow, tuple[str, str, str | None] | None]],
    at: datetime,
) -> None:
    """The ledger rows of decided plan rows: each ``(plan row, (result, message, user
    id))``, or ``(blocked plan row, None)``.

    A dialect switch: on SQLite the driver's ``executemany`` binds each row in C, in
    half the time SQLite takes to unpack the same rows from JSON; on PostgreSQL the
    rows travel as one JSON parameter per 20,000 (one round trip, not one per row)."""
    if not rows:
        return
    names = ["run_id", *(name for name, _ in _LEDGER_COLUMNS), "done_at"]
    if conn.dialect.name == "sqlite":
        done_at = _rr.done_at.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)(at)
        conn.exec_driver_sql(
            f"INSERT INTO {s.offboard_run_rows.name} ({', '.join(names)}) "
            f"VALUES ({', '.join('?' * len(names))})",
            [(run_id, *_ledger_values(row, decided), done_at) for row, decided in rows],
        )
        return
    j = SqlJson(conn.dialect.name)
    for chunk in _chunks(rows, 20_000):
        values = [_ledger_values(row, decided) for row, decided in chunk]
        source = j.rows(values, _LEDGER_COLUMNS).subquery()
        c = source.c
        conn.execute(
            insert(s.offboard_run_rows).from_select(
                names,
                select(
                    literal(run_id, _rr.run_id.type),
                    *(c[name] for name, _ in _LEDGER_COLUMNS),
                    literal(at, _rr.done_at.type),
                ),
            )
        )


def _ledger_values(row: PlanRow, decided: tuple[str, str, str | None] | None) -> list:
    """A ledger row as ``_LEDGER_COLUMNS``."""
    if decided is None:  # blocked at planning
        result, message, user_id = "blocked", row.message or row.blocker, row.user_id
    else:
        result, message, user_id = decided
    return [row.row, row.group_id, user_id, row.email, row.action, result, message, row.fingerprint]


@dataclass
class _Context:
    """What every batch of a run needs to know."""

    run_id: str
    actor_id: str
    resolve_checklist: bool
    batch_size: int
    planned: dict[int, PlanRow]  # row number -> plan row (reasons, what was reviewed)
    # row number -> the user id found for the email of a hand-added row that lacks one
    resolved: dict[int, str] = field(default_factory=dict)

    def user_id(self, number: int) -> str | None:
        return self.planned[number].user_id or self.resolved.get(number)


def _drive(
    db: Database, run_id: str, plan: Plan, options: Mapping[str, Any], progress: bool | None
) -> None:
    """Work through the pending rows of a run, batch by batch, then mark it done."""
    from tqdm.auto import tqdm

    with db.begin() as conn:
        actor_id = _lock_run(conn, run_id).actor_id
        # Runs started by earlier versions wrote a pending row's ledger row up front
        # with a NULL result; drop those, so every pending row is one without a row.
        conn.execute(delete(s.offboard_run_rows).where(_rr.run_id == run_id, _rr.result.is_(None)))
        decided = set(conn.execute(select(_rr.row_no).where(_rr.run_id == run_id)).scalars())
    ctx = _Context(
        run_id=run_id,
        actor_id=actor_id,
        resolve_checklist=bool(options.get("resolve_checklist")),
        batch_size=int(options.get("batch_size") or BATCH_SIZE),
        planned={row.row: row for row in plan.rows},
    )
    # Batches follow group order rather than the plan's: each batch then touches
    # neighbouring index and table pages, which is what keeps a large run linear (random
    # order rewrites most pages of the big indexes in every batch). The sort key is the
    # row's own group id string: a million rows sort without a million key tuples.
    order = sorted(
        (row.row for row in plan.rows if row.blocker is None and row.row not in decided),
        key=lambda number: ctx.planned[number].group_id or "",
    )
    bar = tqdm(
        total=len(order),
        desc=f"offboarding {run_id}",
        unit="row",
        disable=None if progress is None else not progress,
        file=sys.stderr,
    )
    try:
        for numbers in _chunks(order, ctx.batch_size):
            _process(db, ctx, list(numbers))
            bar.update(len(numbers))
    except BaseException:
        _mark_interrupted(db, run_id)
        raise
    finally:
        bar.close()
    with db.begin() as conn:
        conn.execute(
            update(s.offboard_runs)
            .where(_runs.run_id == run_id, _runs.state == "running")
            .values(state="done", finished_at=now())
        )
    db.checkpoint()


def _mark_interrupted(db: Database, run_id: str) -> None:
    """Best effort: say so when this process stops working on a run."""
    try:
        with db.begin() as conn:
            conn.execute(
                update(s.offboard_runs)
                .where(_runs.run_id == run_id, _runs.state == "running")
                .values(state="interrupted")
            )
    except Exception:  # the database may be what failed; status then infers it
        pass


_RECOVERABLE = (IntegrityError, DataError, OpskitError)


def _process(db: Database, ctx: _Context, numbers: list[int]) -> None:
    """One batch in one transaction. A batch that fails on a row's data is split in
    halves until the failing row is alone; that row is recorded ``failed`` and the rest
    goes on. (Lost connections and the like are not caught: the run is interrupted.)"""
    try:
        with db.begin() as conn:
            _lock_run(conn, ctx.run_id)
            outcomes = _apply_batch(conn, ctx, numbers)
            _record_results(conn, ctx, outcomes)
    except _RECOVERABLE as error:
        if len(numbers) > 1:
            half = len(numbers) // 2
            _process(db, ctx, numbers[:half])
            _process(db, ctx, numbers[half:])
            return
        message = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        with db.begin() as conn:
            _lock_run(conn, ctx.run_id)
            if not _decided(conn, ctx.run_id, numbers):
                _record_results(conn, ctx, [(numbers[0], "failed", message[:500])])


def _lock_run(conn: Connection, run_id: str) -> Any:
    """Serialise the batches of one run, also across processes (FOR UPDATE on PostgreSQL,
    the write lock from BEGIN IMMEDIATE on SQLite), and beat the heart now and then."""
    run = conn.execute(
        select(_runs.actor_id, _runs.options, _runs.state)
        .where(_runs.run_id == run_id)
        .with_for_update()
    ).one()
    options = json.loads(run.options)
    process = options.get("process") or {}
    # Only a server database can be shared across hosts, so only there is a heartbeat
    # needed; on SQLite it would only add a write of the run's row to every batch.
    due = time.time() - float(process.get("heartbeat") or 0) > HEARTBEAT
    if conn.dialect.name != "sqlite" and _is_me(process) and due:
        process["heartbeat"] = round(time.time(), 3)
        conn.execute(
            update(s.offboard_runs)
            .where(_runs.run_id == run_id)
            .values(options=json.dumps(options, sort_keys=True))
        )
    return run


def _record_results(conn: Connection, ctx: _Context, outcomes: list[tuple[int, str, str]]) -> None:
    """The ledger rows of a batch, results and all, in its transaction."""
    _write_ledger(
        conn,
        ctx.run_id,
        [
            (ctx.planned[number], (result, message, ctx.user_id(number)))
            for number, result, message in outcomes
        ],
        now(),
    )


def _decided(conn: Connection, run_id: str, numbers: Sequence[int]) -> set[int]:
    """Which of these rows have their ledger row already (another process took them)."""
    return set(
        conn.execute(
            select(_rr.row_no).where(_rr.run_id == run_id, in_values(conn, _rr.row_no, numbers))
        ).scalars()
    )


def _batch_rows(conn: Connection, ctx: _Context, numbers: Sequence[int], at: datetime) -> list:
    """The batch's pending plan rows joined to their memberships' current state.

    Rows that have their ledger row already are left out: another process decided them
    (the run's lock lets one batch at a time in). On PostgreSQL the memberships are
    row-locked first, so nothing (a sign-in opening a session, say) changes them
    between this read and the batch's writes; on SQLite the batch's transaction holds
    the database write lock already. Hand-added plan rows may lack the user id: their
    email finds it now."""
    decided = _decided(conn, ctx.run_id, numbers)
    planned = [ctx.planned[number] for number in numbers if number not in decided]
    missing = {email_key(row.email) for row in planned if not row.user_id}
    if missing:
        users = _user_ids(conn, missing)
        for row in planned:
            found = None if row.user_id else users.get(email_key(row.email))
            if found:
                ctx.resolved[row.row] = found
    batch = (
        SqlJson(conn.dialect.name)
        .rows([[row.row, row.group_id, ctx.user_id(row.row)] for row in planned], _BATCH_COLUMNS)
        .subquery("batch")
    )
    m = s.memberships
    if conn.dialect.name == "postgresql":
        conn.execute(
            select(_m.membership_id)
            .where(tuple_(_m.group_id, _m.user_id).in_(select(batch.c.group_id, batch.c.user_id)))
            .order_by(_m.membership_id)
            .with_for_update()
        ).all()
    query = (
        select(batch.c.row_no, *_state_columns(m, at, appointments=False, packed=True))
        .select_from(batch)
        .outerjoin(m, and_(_m.group_id == batch.c.group_id, _m.user_id == batch.c.user_id))
        .order_by(batch.c.row_no)
    )
    return conn.execute(query).all()


_BATCH_COLUMNS = [
    ("row_no", s.offboard_run_rows.c.row_no.type),
    ("group_id", s.offboard_run_rows.c.group_id.type),
    ("user_id", s.offboard_run_rows.c.user_id.type),
]


def _stale_detail(planned: PlanRow | None, state: _State) -> str:
    """Say what changed since planning, as far as the plan row tells."""
    if planned is None:
        return "the member changed since planning; plan again"
    changes = []
    if planned.access_level and planned.access_level != state.access_level:
        changes.append(f"access level {planned.access_level} -> {state.access_level}")
    if planned.action == "deactivate" and planned.sessions != state.open_sessions:
        changes.append(f"open sessions {planned.sessions} -> {state.open_sessions}")
    if tuple(planned.checklist) != state.pending:
        was = ", ".join(planned.checklist) or "none"
        changes.append(f"pending checklist {was} -> {', '.join(state.pending) or 'none'}")
    if state.status != "active":
        changes.append("now inactive")
    detail = "; ".join(changes) or "status, access or sessions changed"
    return f"changed since planning ({detail}); plan again"


def _apply_batch(
    conn: Connection, ctx: _Context, numbers: Sequence[int]
) -> list[tuple[int, str, str]]:
    """Decide and apply one batch inside the caller's transaction.

    Order: lock the groups; read the members' state (row-locked); decide each row in
    Python; then the writes, each one set-based statement per kind of change: the
    conditional membership updates, the session revocations, the checklist, the R4
    guard, the audit events. Every statement is in one transaction, so the order
    matters only for what each statement reads. Under the locks the state read is the
    state written over: the sessions counted are the sessions revoked, the checklist
    items pending are the items resolved.
    """
    at = now()
    group_ids = {ctx.planned[number].group_id for number in numbers} - {None}
    lock_groups(conn, group_ids)
    rows = _batch_rows(conn, ctx, numbers, at)
    ok, lacks = _manageable(conn, ctx.actor_id, group_ids)
    lockout = _lockout(conn, group_ids)
    names = dict(
        conn.execute(
            select(s.groups.c.group_id, s.groups.c.name).where(
                s.groups.c.group_id.in_(sorted(group_ids))
            )
        ).all()
    )

    outcomes: list[tuple[int, str, str]] = []
    # (open sessions, reason) -> [(membership_id, row_no, pending items)]: the members
    # that share an audit event text and a ledger message are written together
    deactivate: dict[tuple[int, str | None], list] = defaultdict(list)
    read_only: dict[str | None, list] = defaultdict(list)
    guard: set[str] = set()  # groups where a Full Access member or an owner changes
    refused = {
        group_id: _lockout_message(names.get(group_id, group_id), lockout.get(group_id, (0, 0)))
        for group_id in group_ids
    }
    for row in rows:
        # unpacked by position (the order _batch_rows selects in): this loop runs once
        # per member of the run
        (number, membership_id, _, _, status, access_level, is_read_only, owner) = row[:8]
        sessions, mask = row[8:]
        planned = ctx.planned[number]
        group_id = planned.group_id
        if membership_id is None:
            if ctx.user_id(number) is None:
                message = f"no user with email {planned.email!r}"
            else:
                message = f"{planned.email} is not a member of {names.get(group_id, group_id)}"
            outcomes.append((number, "stale", message))
            continue
        if group_id not in ok:
            lack = lacks.get(group_id, "is not a member of the group")
            outcomes.append((number, "blocked", f"not authorised at apply time: the actor {lack}"))
            continue
        action = planned.action
        if action == "deactivate" and status == "inactive":
            outcomes.append((number, "unchanged", "already inactive"))
            continue
        if action == "read_only" and status == "active" and is_read_only:
            outcomes.append((number, "unchanged", "already read-only"))
            continue
        pending = _PENDING_BY_MASK[mask]
        sessions = int(sessions or 0)
        fingerprint = _fingerprint(
            status, access_level, bool(is_read_only), bool(owner), sessions, pending
        )
        if fingerprint != planned.fingerprint:
            outcomes.append((number, "stale", _stale_detail(planned, _State.of(row))))
            continue
        if refused.get(group_id):
            outcomes.append((number, "blocked", f"refused: {refused[group_id]}"))
            continue
        if owner or access_level == s.FULL:
            guard.add(group_id)
        reason = planned.reason
        if action == "deactivate":
            deactivate[(sessions, reason)].append((membership_id, number, pending))
        else:
            read_only[reason].append((membership_id, number, pending))

    by_reason: dict[str | None, list[int]] = defaultdict(list)
    for (_, reason), members in deactivate.items():
        by_reason[reason].extend(mid for mid, _, _ in members)
    for reason, ids in by_reason.items():
        _deactivate(conn, ids, reason, actor_id=ctx.actor_id, at=at)
    deactivated = [mid for ids in by_reason.values() for mid in ids]
    made_read_only = [mid for members in read_only.values() for mid, _, _ in members]
    _revoke_sessions(conn, deactivated, at=at)
    _make_read_only(conn, made_read_only)
    if ctx.resolve_checklist:
        # each item for the members the locked read found it pending for: the others
        # have nothing to snapshot or change, so no statement need look at them
        pending_for: dict[str, list[int]] = defaultdict(list)
        for members in (*deactivate.values(), *read_only.values()):
            for mid, _, pending in members:
                for item in pending:
                    pending_for[item].append(mid)
        for item in _PENDING_ITEMS:
            if pending_for[item]:
                resolve_items(
                    conn,
                    pending_for[item],
                    [item],
                    actor_id=ctx.actor_id,
                    at=at,
                    run_id=ctx.run_id,
                    report=False,
                )
    if guard:  # R3 keeps Full Access members and owners out of a plan; should one slip
        for group_id, counts in _lockout(conn, guard).items():  # in, roll the batch back
            locked = _lockout_message(names.get(group_id, group_id), counts)
            if locked:
                raise WouldLockOutGroup(f"refused: {locked}")

    resolving = ctx.resolve_checklist
    for (sessions, reason), members in deactivate.items():
        record_for_members(
            conn,
            [mid for mid, _, _ in members],
            at=at,
            actor_id=ctx.actor_id,
            action=Action.DEACTIVATED,
            before={"status": "active"},
            after={"status": "inactive", "sessions_revoked": sessions},
            reason=reason,
            run_id=ctx.run_id,
        )
        for _, number, pending in members:
            outcomes.append(
                (number, "deactivated", _done_message(sessions, pending if resolving else None))
            )
    for reason, members in read_only.items():
        record_for_members(
            conn,
            [mid for mid, _, _ in members],
            at=at,
            actor_id=ctx.actor_id,
            action=Action.ACCESS_CHANGED,
            before={"read_only": False},
            after={"read_only": True},
            reason=reason,
            run_id=ctx.run_id,
        )
        for _, number, pending in members:
            outcomes.append(
                (number, "read_only", _done_message(None, pending if resolving else None))
            )
    return outcomes


@functools.lru_cache(maxsize=1024)
def _done_message(sessions: int | None, items: tuple[str, ...] | None) -> str:
    parts = []
    if sessions is not None:
        parts.append(f"signed out of {_plural(sessions, 'session')}")
    else:
        parts.append("read-only; sessions kept")
    if items:
        parts.append(f"resolved {', '.join(items)}")
    return "; ".join(parts)


def _status_is(status: str):
    """``status = :status`` written so that no index can serve it: a batch names its
    members by id, and SQLite would otherwise walk the status index (every active
    member) for each batch, which makes a run quadratic."""
    return (_m.status + "") == status


class _ChangedUnderneath(OpskitError):
    """A conditional update changed fewer rows than the locked read promised."""


def _expect(result, count: int, what: str) -> None:
    if result.rowcount != count:
        raise _ChangedUnderneath(
            f"{what}: {result.rowcount} of {count} members changed; the batch is rolled back"
        )


def _deactivate(
    conn: Connection, membership_ids: list[int], reason: str | None, *, actor_id: str, at
) -> None:
    """Set-based and conditional: only memberships still active change (R6). Under the
    batch's locks every one of them is; anything else rolls the batch back."""
    if membership_ids:
        result = conn.execute(
            update(s.memberships)
            .where(in_values(conn, _m.membership_id, membership_ids), _status_is("active"))
            .values(
                status="inactive",
                status_changed_at=at,
                status_changed_by=actor_id,
                status_reason=reason,
            )
        )
        _expect(result, len(membership_ids), "deactivation")


def _revoke_sessions(conn: Connection, membership_ids: list[int], *, at: datetime) -> None:
    """Sign the deactivated members out on every device (R5)."""
    if membership_ids:
        c = s.sessions.c
        with members_table(conn, membership_ids, name="signed_out") as members:
            of_members = select(members.c.group_id, members.c.user_id)
            conn.execute(
                update(s.sessions)
                .where(tuple_(c.group_id, c.user_id).in_(of_members), c.revoked_at.is_(None))
                .values(revoked_at=at)
            )


def _make_read_only(conn: Connection, membership_ids: list[int]) -> None:
    if membership_ids:
        result = conn.execute(
            update(s.memberships)
            .where(
                in_values(conn, _m.membership_id, membership_ids),
                _status_is("active"),
                _m.read_only.is_(False),
                _m.access_level != s.FULL,
            )
            .values(read_only=True)
        )
        _expect(result, len(membership_ids), "read-only")


# ------------------------------------------------------------------------------ resuming


def _claim(conn: Connection, run_id: str, *, doing: str) -> Any:
    """Lock a run and make sure no live process is working on it."""
    run = conn.execute(
        select(s.offboard_runs).where(_runs.run_id == run_id).with_for_update()
    ).first()
    if run is None:
        raise UnknownRun(f"no offboarding run {run_id!r}", column="RUN")
    options = json.loads(run.options or "{}")
    process = options.get("process")
    if run.state == "running" and _alive(process) and not _is_me(process):
        raise Refused(
            f"run {run_id} is still running (pid {process.get('pid')} on "
            f"{process.get('host')}); wait for it to finish before you {doing} it"
        )
    return run


@_collector_paused
def resume_run(db: Database, run_id: str, *, progress: bool | None = True) -> RunSummary:
    """Finish a run whose process died: the pending rows only, nothing twice.

    A run that is done is returned as it is; an undone run cannot be resumed.
    """
    run_id = (run_id or "").strip()
    with db.begin() as conn:
        run = _claim(conn, run_id, doing="resume")
        if run.state == "undone":
            raise Refused(f"run {run_id} was undone; plan again to offboard these members")
        options = json.loads(run.options or "{}")
        if run.state == "done":
            pass
        else:
            options["process"] = _this_process()
            conn.execute(
                update(s.offboard_runs)
                .where(_runs.run_id == run_id)
                .values(state="running", options=json.dumps(options, sort_keys=True))
            )
    if run.state != "done":
        with db.read() as conn:
            plan = Plan.from_stored(_stored_plan(conn, run_id), name=f"run {run_id}")
        _drive(db, run_id, plan, options, progress)
    return run_summary(db, run_id)


# ------------------------------------------------------------------------------- undoing


@dataclass
class UndoResult:
    """What ``undo_run`` did: per changed row, ``reactivated``, ``changed`` (read-only
    lifted) or ``unchanged`` (already undone, or changed by someone since)."""

    run: str
    state: str
    rows: list[dict[str, Any]]

    @property
    def counts(self) -> dict[str, int]:
        found = Counter(r["result"] for r in self.rows)
        return {k: found[k] for k in ("reactivated", "changed", "unchanged")}

    def to_dict(self) -> dict[str, Any]:
        return {"run": self.run, "state": self.state, **self.counts, "rows": self.rows}


@_collector_paused
def undo_run(db: Database, run_id: str, *, actor: str, progress: bool | None = True) -> UndoResult:
    """Undo a run: reactivate exactly the members it deactivated and lift the read-only
    it set, restoring the settings its checklist resolution switched off.

    Dangerous like apply: many members at once, in batches (one transaction each, with
    the audit events carrying the run id). A member whose latest change is no longer
    the run's (reactivated or changed by someone since) is left alone. Idempotent: a
    second undo changes nothing. R1 holds in every group involved, checked up front.
    """
    from tqdm.auto import tqdm

    run_id = (run_id or "").strip()
    with db.begin() as conn:
        run = _claim(conn, run_id, doing="undo")
        who = find_user(conn, actor, option="--actor")
        group_ids = set(
            conn.execute(
                select(_rr.group_id)
                .distinct()
                .where(_rr.run_id == run_id, _rr.result.in_(("deactivated", "read_only")))
            ).scalars()
        )
        ok, lacks = _manageable(conn, who.user_id, group_ids)
        refused = sorted(group_ids - ok)
        if refused:
            names = dict(
                conn.execute(
                    select(s.groups.c.group_id, s.groups.c.name).where(
                        s.groups.c.group_id.in_(refused)
                    )
                ).all()
            )
            where = ", ".join(names.get(g, g) for g in refused)
            raise NotAuthorized(
                f"{who.email} may not undo run {run_id}: not an active Full Access member "
                f"of {where}"
            )
        if run.state == "running":  # its process is gone (_claim): stop it for good
            conn.execute(
                update(s.offboard_runs).where(_runs.run_id == run_id).values(state="interrupted")
            )
    options = json.loads(run.options or "{}")
    with db.read() as conn:
        total = conn.execute(
            select(func.count()).where(
                _rr.run_id == run_id, _rr.result.in_(("deactivated", "read_only"))
            )
        ).scalar_one()
    rows: list[dict[str, Any]] = []
    bar = tqdm(
        total=total,
        desc=f"undoing {run_id}",
        unit="row",
        disable=None if progress is None else not progress,
        file=sys.stderr,
    )
    try:
        last = 0
        batch = int(options.get("batch_size") or BATCH_SIZE)
        while True:
            with db.begin() as conn:
                conn.execute(select(_runs.run_id).where(_runs.run_id == run_id).with_for_update())
                done, reached = _undo_batch(
                    conn,
                    run_id,
                    after=last,
                    limit=batch,
                    actor_id=who.user_id,
                    restore=bool(options.get("resolve_checklist")),
                )
            if reached == last:
                break
            last = reached
            rows.extend(done)
            bar.update(len(done))
    finally:
        bar.close()
    with db.begin() as conn:
        conn.execute(
            update(s.offboard_runs)
            .where(_runs.run_id == run_id, _runs.state != "undone")
            .values(state="undone", undone_at=now())
        )
    db.checkpoint()
    return UndoResult(run=run_id, state="undone", rows=rows)


def _latest_run(m, actions: tuple[str, ...]):
    """The run id of the member's latest event among ``actions`` (a correlated subquery)."""
    e = s.audit_events.c
    return (
        select(e.run_id)
        .where(e.group_id == m.c.group_id, e.user_id == m.c.user_id, e.action.in_(actions))
        .order_by(e.event_id.desc())
        .limit(1)
        .scalar_subquery()
    )


def _undo_batch(
    conn: Connection, run_id: str, *, after: int, limit: int, actor_id: str, restore: bool
) -> tuple[list[dict[str, Any]], int]:
    m = s.memberships
    # the next rows by primary key; the changed ones are picked here, so the read is a
    # walk along the key and nothing else
    batch = conn.execute(
        select(_rr.row_no, _rr.group_id, _rr.result)
        .where(_rr.run_id == run_id, _rr.row_no > after)
        .order_by(_rr.row_no)
        .limit(limit)
    ).all()
    if not batch:
        return [], after
    changed = [r for r in batch if r.result in ("deactivated", "read_only")]
    if not changed:
        return [], batch[-1].row_no
    # lock first, then read who is still as the run left them (PostgreSQL; SQLite
    # already holds the write lock)
    lock_groups(conn, {r.group_id for r in changed})
    status_events = (Action.DEACTIVATED.value, Action.REACTIVATED.value)
    rows = conn.execute(
        select(
            _rr.row_no,
            _rr.group_id,
            s.groups.c.name.label("group"),
            _rr.user_id,
            _rr.email,
            _rr.action,
            _rr.result,
            _m.membership_id,
            _m.status,
            _m.read_only,
            case(
                (_rr.result == "deactivated", _latest_run(m, status_events)),
                else_=_latest_run(m, (Action.ACCESS_CHANGED.value,)),
            ).label("latest_run"),
        )
        .select_from(s.offboard_run_rows)
        .join(m, and_(_m.group_id == _rr.group_id, _m.user_id == _rr.user_id))
        .join(s.groups, s.groups.c.group_id == _rr.group_id)
        .where(_rr.run_id == run_id, _rr.row_no.in_([r.row_no for r in changed]))
        .order_by(_rr.row_no)
    ).all()
    at = now()
    reactivate = [
        r.membership_id
        for r in rows
        if r.result == "deactivated" and r.status == "inactive" and r.latest_run == run_id
    ]
    lift = [
        r.membership_id
        for r in rows
        if r.result == "read_only" and r.read_only and r.latest_run == run_id
    ]
    reason = f"undo of offboarding run {run_id}"
    reactivated: set[int] = set()
    for chunk in _chunks(reactivate):
        reactivated.update(
            conn.execute(
                update(s.memberships)
                .where(_m.membership_id.in_(chunk), _status_is("inactive"))
                .values(
                    status="active",
                    status_changed_at=at,
                    status_changed_by=actor_id,
                    status_reason=reason,
                )
                .returning(_m.membership_id)
            ).scalars()
        )
    lifted: set[int] = set()
    for chunk in _chunks(lift):
        lifted.update(
            conn.execute(
                update(s.memberships)
                .where(_m.membership_id.in_(chunk), _m.read_only.is_(True))
                .values(read_only=False)
                .returning(_m.membership_id)
            ).scalars()
        )
    restored: dict[int, list[str]] = defaultdict(list)
    if restore and (reactivated or lifted):
        for item in restore_checklist_settings(
            conn, sorted(reactivated | lifted), actor_id=actor_id, at=at, run_id=run_id
        ):
            if item.get("restored"):
                restored[item["membership_id"]].append(item["item"])
    events, results = [], []
    for r in rows:
        mid = r.membership_id
        if mid in reactivated:
            events.append(
                event_row(
                    at=at,
                    actor_id=actor_id,
                    group_id=r.group_id,
                    user_id=r.user_id,
                    action=Action.REACTIVATED,
                    before={"status": "inactive"},
                    after={"status": "active"},
                    reason=reason,
                    run_id=run_id,
                )
            )
            result, message = "reactivated", "reactivated; sessions stay signed out"
        elif mid in lifted:
            events.append(
                event_row(
                    at=at,
                    actor_id=actor_id,
                    group_id=r.group_id,
                    user_id=r.user_id,
                    action=Action.ACCESS_CHANGED,
                    before={"read_only": True},
                    after={"read_only": False},
                    reason=reason,
                    run_id=run_id,
                )
            )
            result, message = "changed", "read-only lifted"
        elif r.latest_run == run_id:
            result, message = "unchanged", "already undone"
        else:
            result, message = "unchanged", "changed by someone since the run; left alone"
        if restored.get(mid):
            message += f"; restored {', '.join(restored[mid])}"
        results.append(
            {
                "row": r.row_no,
                "group_id": r.group_id,
                "group": r.group,
                "email": r.email,
                "action": r.action,
                "result": result,
                "message": message,
            }
        )
    record_many(conn, events)
    return results, batch[-1].row_no


__all__ = [
    "BLOCKERS",
    "PLAN_COLUMNS",
    "RESULTS",
    "RUN_COLUMNS",
    "RUN_ROW_COLUMNS",
    "Plan",
    "PlanRow",
    "RunSummary",
    "UndoResult",
    "UnknownRun",
    "apply_plan",
    "list_runs",
    "plan_offboarding",
    "resume_run",
    "run_events",
    "run_rows",
    "run_summary",
    "undo_run",
]
