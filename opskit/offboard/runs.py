"""Runs: starting one, its ledger, claiming it, and what ``status`` shows of it.

A run keeps its plan (``offboard_run_plans``, written once) and a ledger row per decided
plan row (``offboard_run_rows``): the blocked rows from the start, the others with their
batch. A plan row without a ledger row is pending. A run is ``running`` while a process
works on it (``liveness``), ``done`` when no row is pending, ``undone`` after
``undo_run``; ``interrupted`` when its process stopped or is gone.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, literal, select, update
from sqlalchemy.exc import IntegrityError

from .. import schema as s
from ..clock import iso, now
from ..db import Database, in_values, insert_tuples, stored_time
from ..errors import BadInput, Refused
from ..identity import acting_user, bound
from ..rules import email_key, find_user
from ..sqljson import SqlJson
from .bulk import chunks
from .liveness import RunProcess, heartbeat_due, now_heartbeat, shown_state
from .plan import Plan, PlanRow
from .planfile import stored_plan

RESULTS = ("deactivated", "read_only", "unchanged", "blocked", "stale", "failed")
RUN_STATES = ("running", "interrupted", "done", "undone")

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

_rr = s.offboard_run_rows.c
_runs = s.offboard_runs.c


class UnknownRun(BadInput):
    pass


@dataclass(frozen=True)
class RunOptions:
    """How a run was started, kept with it (JSON in ``offboard_runs.options``)."""

    rows: int  # the plan's rows: those without a ledger row are pending
    resolve_checklist: bool
    batch_size: int
    source: str
    planned_at: str
    # the user id undoing the run, from when an undo starts: an undo that stops
    # part-way leaves the run interrupted, and resume finishes the undo
    undoing: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> RunOptions:
        stored = json.loads(text)
        return cls(**{f.name: stored[f.name] for f in fields(cls) if f.name in stored})


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
        options = RunOptions.from_json(run.options)
        process = RunProcess.of(run)
        tallied = counts.get(run.run_id, {})
        decided = sum(n for result, n in tallied.items() if result is not None)
        summaries.append(
            RunSummary(
                run=run.run_id,
                state=shown_state(run.state, process),
                actor=run.actor_email,
                started_at=iso(run.started_at),
                finished_at=iso(run.finished_at),
                undone_at=iso(run.undone_at),
                resolve_checklist=options.resolve_checklist,
                rows=options.rows,
                pending=options.rows - decided,
                counts={r: tallied.get(r, 0) for r in RESULTS},
                owner=str(process) if process else None,
            )
        )
    return summaries


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


RUN_ROW_FIELDS = [
    *("row", "group_id", "group", "user_id", "email", "action", "result", "message"),
    *("fingerprint", "done_at"),
]


def run_rows(db: Database, run_id: str) -> list[dict[str, Any]]:
    """The ledger of a run: one row per plan row with its ``result`` (None: pending;
    the pending rows come from the run's plan, which the ledger has no row for yet)."""
    columns = run_columns(db, run_id)
    return [
        dict(zip(RUN_ROW_FIELDS, values, strict=True))
        for values in zip(*columns.values(), strict=True)
    ]


def run_columns(db: Database, run_id: str) -> dict[str, list[Any]]:
    """``run_rows`` a column at a time (``RUN_ROW_FIELDS``, each column a list in row
    order), as a table prints them: no dict a row."""
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
        rows: list[Any] = list(conn.execute(query).all())
        if summary[0].pending:
            rows = [row for row in rows if row.result is not None]
            decided = {row.row for row in rows}
            stored = stored_plan(conn, run_id)
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
                (
                    *(row.row, row.group_id, names.get(row.group_id), row.user_id, row.email),
                    *(row.action, None, None, row.fingerprint, None),
                )
                for row in pending
            ]
            rows.sort(key=lambda row: row[0])
    if not rows:
        return {name: [] for name in RUN_ROW_FIELDS}
    columns = dict(zip(RUN_ROW_FIELDS, map(list, zip(*rows, strict=True)), strict=True))
    shown: dict[Any, str | None] = {}  # a batch's rows share one time: formatted once
    for at in set(columns["done_at"]):
        shown[at] = iso(at)
    columns["done_at"] = list(map(shown.__getitem__, columns["done_at"]))
    return columns


def run_events(db: Database, run_id: str) -> list[dict[str, Any]]:
    """The audit events written by a run (and by its undo)."""
    from ..audit import audit_events

    return audit_events(db, run=run_id)


def new_run_id(conn: Connection, at: datetime) -> str:
    """``ob-YYYYMMDD-HHMMSS-N``: readable, ordered, and reproducible under OPSKIT_NOW."""
    prefix = f"ob-{at:%Y%m%d-%H%M%S}-"
    taken = conn.execute(select(func.count()).where(_runs.run_id.like(prefix + "%"))).scalar_one()
    return f"{prefix}{taken + 1}"


def start_run(db: Database, plan: Plan, options: RunOptions) -> str:
    """Write the run, its plan and the ledger rows of the blocked rows (final from the
    start) in one transaction; the other rows get theirs in their batch."""
    text = plan.to_stored()
    for attempt in range(5):
        try:
            with db.begin() as conn:
                # bound mode (docs/rules.md 9.1): the run is made as the bound user
                who = acting_user(conn, None) if bound(conn) else None
                if who is None:
                    who = find_user(conn, plan.actor, option="actor")
                same = who.email_key == email_key(plan.actor)
                if plan.actor_id and same and plan.actor_id != who.user_id:
                    raise BadInput(
                        f"the plan's actor {plan.actor} is no longer user {plan.actor_id}",
                        column="actor",
                    )
                at = now()
                run_id = new_run_id(conn, at)
                conn.execute(
                    insert(s.offboard_runs).values(
                        run_id=run_id,
                        actor_id=who.user_id,
                        state="running",
                        options=options.to_json(),
                        **RunProcess.this().columns(),
                        started_at=at,
                    )
                )
                conn.execute(insert(s.offboard_run_plans).values(run_id=run_id, plan=text))
                write_ledger(conn, run_id, [(row, None) for row in plan.blocked], at)
                return run_id
        except IntegrityError:
            if attempt == 4:
                raise
            time.sleep(0.05 * (attempt + 1))  # another run took the same id: take the next
    raise AssertionError("unreachable")


LEDGER_COLUMNS = [
    ("row_no", s.offboard_run_rows.c.row_no.type),
    ("group_id", s.offboard_run_rows.c.group_id.type),
    ("user_id", s.offboard_run_rows.c.user_id.type),
    ("email", s.offboard_run_rows.c.email.type),
    ("action", s.offboard_run_rows.c.action.type),
    ("result", s.offboard_run_rows.c.result.type),
    ("message", s.offboard_run_rows.c.message.type),
    ("fingerprint", s.offboard_run_rows.c.fingerprint.type),
]


def write_ledger(
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
    names = ["run_id", *(name for name, _ in LEDGER_COLUMNS), "done_at"]
    if conn.dialect.name == "sqlite":
        done_at = stored_time(conn.dialect)(at)
        insert_tuples(
            conn,
            s.offboard_run_rows.name,
            names,
            [(run_id, *ledger_values(row, decided), done_at) for row, decided in rows],
        )
        return
    j = SqlJson(conn.dialect.name)
    for chunk in chunks(rows, 20_000):
        values = [ledger_values(row, decided) for row, decided in chunk]
        source = j.rows(values, LEDGER_COLUMNS).subquery()
        c = source.c
        conn.execute(
            insert(s.offboard_run_rows).from_select(
                names,
                select(
                    literal(run_id, _rr.run_id.type),
                    *(c[name] for name, _ in LEDGER_COLUMNS),
                    literal(at, _rr.done_at.type),
                ),
            )
        )


def ledger_values(row: PlanRow, decided: tuple[str, str, str | None] | None) -> list:
    """A ledger row as ``LEDGER_COLUMNS``."""
    if decided is None:  # blocked at planning
        result, message, user_id = "blocked", row.message or row.blocker, row.user_id
    else:
        result, message, user_id = decided
    return [row.row, row.group_id, user_id, row.email, row.action, result, message, row.fingerprint]


def mark_interrupted(db: Database, run_id: str) -> None:
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


def lock_run(conn: Connection, run_id: str) -> Any:
    """Serialise the batches of one run, also across processes (FOR UPDATE on PostgreSQL,
    the write lock from BEGIN IMMEDIATE on SQLite), and beat the heart now and then."""
    run = conn.execute(
        select(s.offboard_runs).where(_runs.run_id == run_id).with_for_update()
    ).one()
    # Only a server database can be shared across hosts, so only there is a heartbeat
    # needed; on SQLite it would only add a write of the run's row to every batch.
    if conn.dialect.name != "sqlite" and heartbeat_due(RunProcess.of(run)):
        conn.execute(
            update(s.offboard_runs).where(_runs.run_id == run_id).values(heartbeat=now_heartbeat())
        )
    return run


def claim(conn: Connection, run_id: str, *, doing: str) -> Any:
    """Lock a run and make sure no live process is working on it."""
    run = conn.execute(
        select(s.offboard_runs).where(_runs.run_id == run_id).with_for_update()
    ).first()
    if run is None:
        raise UnknownRun(f"no offboarding run {run_id!r}", column="RUN")
    process = RunProcess.of(run)
    if run.state == "running" and process and process.alive and not process.is_me:
        raise Refused(
            f"run {run_id} is still running ({process}); wait for it to finish before you "
            f"{doing} it"
        )
    return run


def take_over(conn: Connection, run_id: str) -> None:
    """Mark a claimed run as running in this process."""
    conn.execute(
        update(s.offboard_runs)
        .where(_runs.run_id == run_id)
        .values(state="running", **RunProcess.this().columns())
    )


def decided_rows(conn: Connection, run_id: str, numbers: Sequence[int]) -> set[int]:
    """Which of these rows have their ledger row already (another process took them)."""
    return set(
        conn.execute(
            select(_rr.row_no).where(_rr.run_id == run_id, in_values(conn, _rr.row_no, numbers))
        ).scalars()
    )
