"""Reports on the command line: ``opskit report inactive|dormant|trends``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from ._common import check_out_path, db_option, emit_rows, format_option, open_db

if TYPE_CHECKING:
    import pandas as pd

group_option = click.option(
    "--group", "-g", default=None, help="Only this group (id or exact name)."
)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The frame's rows as plain dicts, with every missing value (NaN, NaT) as None."""
    plain = frame.astype(object)
    return plain.where(frame.notna(), None).to_dict("records")


def _emit(frame: pd.DataFrame, fmt: str) -> None:
    emit_rows(_records(frame), fmt, columns=list(frame.columns))


@click.group("report")
def report_cmd() -> None:
    """Reports on inactive users: inactive members, dormant members, trends."""


@report_cmd.command("inactive")
@group_option
@db_option
@format_option
def inactive_cmd(group, db_url, fmt):
    """Inactive members: when, by whom, why, open checklist items; `finding` marks
    one still bookable online or with an integration or auto top-up still on."""
    from ..reports import inactive_report

    _emit(inactive_report(open_db(db_url), group=group), fmt)


@report_cmd.command("dormant")
@group_option
@click.option(
    "--days",
    type=click.IntRange(0, 36_500),
    default=None,
    help="Dormant after this many days without activity (default: each group's policy, else 90).",
)
@click.option(
    "--grace-days",
    "grace_days",
    type=click.IntRange(0, 36_500),
    default=None,
    help="Members with no activity count once they joined this many days ago "
    "(default: each group's policy, else 30).",
)
@click.option(
    "--grace",
    "grace_alias",
    type=click.IntRange(0, 36_500),
    default=None,
    hidden=True,
    help="Old name of --grace-days.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, writable=True),
    default=None,
    help="Also write the candidates as a CSV for 'opskit offboard plan' "
    "(Full Access members left out: lower their level first).",
)
@db_option
@format_option
def dormant_cmd(group, days, grace_days, grace_alias, out, db_url, fmt):
    """Active members with no activity (sign-in, started appointment, patient record
    created) for --days days, by each group's dormancy policy: offboarding candidates.
    Exempt members are left out until their date."""
    from ..reports import dormant_report, write_candidates_csv

    if grace_days is None:
        grace_days = grace_alias  # --grace, the option's earlier name
    db = open_db(db_url)
    if out is not None:
        out = check_out_path(out, db)
    frame = dormant_report(db, days=days, grace_days=grace_days, group=group)
    _emit(frame, fmt)
    if out is not None:
        written = write_candidates_csv(frame, out)
        # on stderr, so that the report on stdout stays one valid CSV or JSON document
        note = f"wrote {written.written} candidate(s) to {written.path}"
        if written.full_access_left_out:
            note += (
                f"; left out {written.full_access_left_out} Full Access member(s): "
                "lower their access level first"
            )
        click.echo(note, err=True)


@report_cmd.command("trends")
@group_option
@click.option(
    "--summary",
    is_flag=True,
    help="Show active and inactive members per group instead of the monthly trend.",
)
@db_option
@format_option
def trends_cmd(group, summary, db_url, fmt):
    """Deactivations and reactivations per month and group (or, with --summary,
    active vs inactive members per group)."""
    from ..reports import status_summary, trends_report

    db = open_db(db_url)
    _emit(status_summary(db, group=group) if summary else trends_report(db, group=group), fmt)


def register(cli: click.Group) -> None:
    cli.add_command(report_cmd)
