"""The audit trail on the command line."""

from __future__ import annotations

import click

from ._common import db_option, emit_rows, format_option, open_db

AUDIT_COLUMNS = ["at", "actor", "group_id", "email", "action", "item", "reason", "run"]


@click.command("audit")
@click.option("--group", "-g", default=None, help="Only this group (id or exact name).")
@click.option("--user", default=None, metavar="EMAIL", help="Only events about this member.")
@click.option("--run", default=None, help="Only events of this bulk offboarding run.")
@db_option
@format_option
def audit_cmd(group, user, run, db_url, fmt):
    """Show audit events, oldest first."""
    from ..audit import audit_events

    rows = audit_events(open_db(db_url), group=group, user=user, run=run)
    emit_rows(rows, fmt, columns=AUDIT_COLUMNS + (["before", "after"] if fmt != "table" else []))


def register(cli: click.Group) -> None:
    cli.add_command(audit_cmd)
