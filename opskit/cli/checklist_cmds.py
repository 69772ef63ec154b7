"""The pre-deactivation checklist on the command line."""

from __future__ import annotations

import click

from ._common import db_option, emit_rows, format_option, open_db

TABLE_COLUMNS = ["group", "email", "status", "item", "state", "count", "detail"]


@click.command("checklist")
@click.option("--group", "-g", default=None, help="Only this group (id or exact name).")
@click.option("--user", default=None, metavar="EMAIL", help="Only this member.")
@click.option(
    "--resolve",
    default=None,
    metavar="ITEM|all",
    help="Resolve an item (online_booking, integrations, credits_auto_top_up, "
    "appointment_reminders, data_export) or all open ones for --user in --group.",
)
@click.option("--actor", default=None, metavar="EMAIL", help="Who resolves (with --resolve).")
@click.option(
    "--summary",
    is_flag=True,
    help="Count members per group, item and state instead of listing them.",
)
@db_option
@format_option
def checklist_cmd(group, user, resolve, actor, summary, db_url, fmt):
    """Show the pre-deactivation checklist of a group, a member or every group;
    with --resolve, resolve items and show the member's checklist after."""
    from ..checklist import (
        CHECKLIST_COLUMNS,
        SUMMARY_COLUMNS,
        checklist,
        checklist_summary,
        parse_items,
        resolve_checklist,
    )

    if summary:
        if resolve is not None or user is not None:
            raise click.UsageError("--summary counts a group or every group: no --user/--resolve")
        rows = checklist_summary(open_db(db_url), group=group)
        emit_rows(rows, fmt, columns=SUMMARY_COLUMNS)
        return
    if resolve is None:
        if actor is not None:
            raise click.UsageError("--actor is only used with --resolve")
        rows = checklist(open_db(db_url), group=group, user=user)
    else:
        if group is None or user is None:
            raise click.UsageError("--resolve needs --group G and --user EMAIL (whose items)")
        items = parse_items(resolve)
        rows = resolve_checklist(open_db(db_url), group=group, user=user, item=items, actor=actor)
    columns = TABLE_COLUMNS if fmt == "table" else CHECKLIST_COLUMNS
    if resolve is not None:
        columns = [*columns, "resolved"]
    emit_rows(rows, fmt, columns=columns, dim=lambda r: r["status"] == "inactive")


def register(cli: click.Group) -> None:
    cli.add_command(checklist_cmd)
