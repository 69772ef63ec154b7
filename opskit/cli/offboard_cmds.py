"""``opskit offboard``: plan, apply, resume, status, undo."""

from __future__ import annotations

import operator
import sys

import click

from ._common import (
    LibraryDefault,
    check_out_path,
    db_option,
    emit_columns,
    emit_record,
    emit_rows,
    format_option,
    open_db,
    text_column,
)

CHANGED = ("deactivated", "read_only", "reactivated", "changed")
PLAN_TABLE = ["row", "line", "group", "email", "action", "handoff", "blocker", "sessions"]
PLAN_TABLE += ["checklist", "future_appointments", "message"]


def _batch_size() -> int:
    from ..offboard import BATCH_SIZE

    return BATCH_SIZE


def _emit_run(summary, rows, fmt) -> None:
    """A run: its summary and its rows (``run`` and ``rows`` in JSON). ``rows`` is a
    list of records, or the run's columns (``run_columns``), which a table prints a
    column at a time."""
    from ..offboard import RUN_ROW_COLUMNS

    if isinstance(rows, dict):
        if fmt == "table":
            emit_record(summary, "table")
            click.echo()
            dimmed = None
            if sys.stdout.isatty():
                dimmed = [result not in CHANGED for result in rows["result"]]
            emit_columns(
                RUN_ROW_COLUMNS, [text_column(rows[name]) for name in RUN_ROW_COLUMNS], dimmed
            )
            return
        rows = [dict(zip(rows, values, strict=True)) for values in zip(*rows.values(), strict=True)]
    if fmt == "json":
        emit_record({**summary, "rows": rows}, "json")
        return
    if fmt == "csv":
        emit_rows(rows, "csv", columns=RUN_ROW_COLUMNS)
        return
    emit_record(summary, "table")
    click.echo()
    emit_rows(rows, "table", columns=RUN_ROW_COLUMNS, dim=lambda r: r.get("result") not in CHANGED)


@click.group("offboard")
def offboard_group():
    """Bulk offboarding: plan from a spreadsheet, review, apply in batches, undo."""


@offboard_group.command("plan")
@click.argument("csv_file", metavar="CSV")
@click.option(
    "--actor", default=None, metavar="EMAIL", help="Who makes the plan (bound mode: you)."
)
@click.option("--group", "-g", default=None, help="Only this group (id or exact name).")
@click.option(
    "--out",
    "out",
    required=True,
    metavar="PLAN",
    type=click.Path(dir_okay=False, writable=True),
    help="Where to write the plan (JSON, one row per line: review it, then apply it).",
)
@click.option(
    "--action",
    type=click.Choice(["deactivate", "read_only"]),
    default="deactivate",
    show_default=True,
    help="For rows whose CSV does not say: deactivate, or make read-only instead.",
)
@click.option("--reason", default=None, help="Reason for rows whose CSV does not give one.")
@click.option(
    "--handoff",
    type=click.Choice(["auto", "cancel"]),
    default=None,
    help="For deactivations whose CSV has no handoff: hand their future appointments to "
    "eligible colleagues (auto) or cancel them.",
)
@db_option
@format_option
def plan_cmd(csv_file, actor, group, out, action, reason, handoff, db_url, fmt):
    """Plan offboarding the people in CSV (column email; optional group, action, reason).

    Nothing changes: the plan shows, per group and member, what apply would do or why it
    will not (the blocker), with a fingerprint of the state it was planned on. Use - to
    read the CSV from standard input."""
    from ..offboard import PLAN_COLUMNS, plan_offboarding

    source = sys.stdin.buffer.read() if csv_file == "-" else csv_file
    name = "stdin" if csv_file == "-" else None
    db = open_db(db_url)
    check_out_path(out, db, reading=[] if csv_file == "-" else [csv_file])
    plan = plan_offboarding(
        db,
        source,
        actor=actor,
        group=group,
        action=action,
        reason=reason,
        handoff=handoff,
        source=name,
    )
    plan.save(out)
    if fmt == "json":
        emit_record({**plan.to_dict(), "plan": out}, "json")
    elif fmt == "csv":
        emit_rows([r.to_dict() for r in plan.rows], "csv", columns=PLAN_COLUMNS)
    else:
        summary = plan.summary()
        emit_record({"plan": out, "actor": plan.actor, **summary, "to do": plan.describe()}, fmt)
        click.echo()
        emit_columns(
            PLAN_TABLE,
            _plan_columns(plan.rows),
            [row.blocker is not None for row in plan.rows] if sys.stdout.isatty() else None,
        )


def _plan_columns(rows) -> list[list[str]]:
    """The plan table's cells a column at a time (``PLAN_TABLE`` order), read from the
    rows' attributes: a column's values share a type, so each is converted by one
    comprehension (a call per cell took as long as planning the rows)."""
    columns = []
    for name in PLAN_TABLE:
        values = list(map(operator.attrgetter(name), rows))
        if name == "checklist":  # few distinct tuples: each joined once
            joined: dict[tuple[str, ...], str] = {}
            columns.append([joined.get(v) or joined.setdefault(v, ", ".join(v)) for v in values])
        else:
            columns.append(text_column(values))
    return columns


@offboard_group.command("apply")
@click.argument("plan_file", metavar="PLAN", type=click.Path(dir_okay=False))
@click.option(
    "--resolve-checklist",
    is_flag=True,
    help="Resolve every open checklist item of the members it changes, in the same batch.",
)
@click.option(
    "--batch-size",
    cls=LibraryDefault,
    type=click.IntRange(min=1),
    default=_batch_size,
    show_default=True,
    help="Rows per transaction.",
)
@click.option(
    "--handoff-out",
    default=None,
    metavar="PATH",
    help="Write the patients and times the run handed off as CSV for the front desk.",
)
@db_option
@format_option
def apply_cmd(plan_file, resolve_checklist, batch_size, handoff_out, db_url, fmt):
    """Apply a reviewed PLAN in batches; prints the run id and each row's result.

    Rows changed since planning are refused as stale. A run that is killed can be
    finished with 'opskit offboard resume RUN'."""
    from ..offboard import apply_plan
    from ..offboard.runs import run_columns

    db = open_db(db_url)
    if handoff_out is not None:
        check_out_path(handoff_out, db, reading=[plan_file], option="--handoff-out")
    summary = apply_plan(
        db, plan_file, resolve_checklist=resolve_checklist, batch_size=batch_size, progress=None
    )
    if handoff_out is not None:
        from ..handoff import write_front_desk_csv
        from ..offboard.handoff import front_desk_of_run

        write_front_desk_csv(handoff_out, front_desk_of_run(db, summary.run))
    _emit_run(summary.to_dict(), run_columns(db, summary.run), fmt)


@offboard_group.command("approve")
@click.argument("plan_file", metavar="PLAN", type=click.Path(dir_okay=False))
@click.option("--actor", default=None, metavar="EMAIL", help="Who approves (not the plan's maker).")
@db_option
@format_option
def approve_cmd(plan_file, actor, db_url, fmt):
    """Approve exactly PLAN's content as a second operator; prints its digest."""
    from ..offboard.review import approve_plan

    emit_record(approve_plan(open_db(db_url), plan_file, actor=actor), fmt)


@offboard_group.command("resume")
@click.argument("run_id", metavar="RUN")
@db_option
@format_option
def resume_cmd(run_id, db_url, fmt):
    """Finish an interrupted run: only its pending rows, nothing applied twice."""
    from ..offboard import resume_run
    from ..offboard.runs import run_columns

    db = open_db(db_url)
    summary = resume_run(db, run_id, progress=None)
    _emit_run(summary.to_dict(), run_columns(db, summary.run), fmt)


@offboard_group.command("status")
@click.argument("run_id", metavar="[RUN]", required=False)
@db_option
@format_option
def status_cmd(run_id, db_url, fmt):
    """Every run with its state (running, interrupted, done, undone), or one run's rows."""
    from ..offboard import RUN_COLUMNS, list_runs, run_summary
    from ..offboard.runs import run_columns

    db = open_db(db_url)
    if run_id is None:
        emit_rows([r.to_dict() for r in list_runs(db)], fmt, columns=RUN_COLUMNS)
        return
    _emit_run(run_summary(db, run_id).to_dict(), run_columns(db, run_id), fmt)


@offboard_group.command("undo")
@click.argument("run_id", metavar="RUN")
@click.option(
    "--actor", default=None, metavar="EMAIL", help="Who undoes it (Full Access; bound: you)."
)
@db_option
@format_option
def undo_cmd(run_id, actor, db_url, fmt):
    """Reactivate exactly the members RUN changed and restore their settings."""
    from ..offboard import undo_run

    result = undo_run(open_db(db_url), run_id, actor=actor, progress=None)
    record = result.to_dict()
    rows = record.pop("rows")
    _emit_run(record, rows, fmt)


def register(cli: click.Group) -> None:
    cli.add_command(offboard_group)
