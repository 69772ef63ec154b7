"""The audit trail on the command line."""

from __future__ import annotations

import click

from ._common import db_option, emit_record, emit_rows, format_option, open_db

AUDIT_COLUMNS = ["at", "actor", "login", "group_id", "email", "action", "item", "reason", "run"]


@click.group("audit", invoke_without_command=True)
@click.option("--group", "-g", default=None, help="Only this group (id or exact name).")
@click.option("--user", default=None, metavar="EMAIL", help="Only events about this member.")
@click.option("--run", default=None, help="Only events of this bulk offboarding run.")
@db_option
@format_option
@click.pass_context
def audit_cmd(ctx, group, user, run, db_url, fmt):
    """Show audit events, oldest first ('opskit audit verify': check their hash chain)."""
    if ctx.invoked_subcommand is not None:
        return
    from ..audit import audit_events

    rows = audit_events(open_db(db_url), group=group, user=user, run=run)
    emit_rows(rows, fmt, columns=AUDIT_COLUMNS + (["before", "after"] if fmt != "table" else []))


@audit_cmd.command("verify")
@db_option
@format_option
@click.pass_context
def verify_cmd(ctx, db_url, fmt):
    """Check the audit events' hash chain: exit 0 intact, 1 naming the first broken event."""
    from ..audit import verify_chain

    db_url = db_url or ctx.parent.params.get("db_url")
    result = verify_chain(open_db(db_url))
    emit_record(result, fmt)
    if not result["intact"]:
        click.echo(f"opskit: {result['message']}", err=True)
        ctx.exit(1)


def register(cli: click.Group) -> None:
    cli.add_command(audit_cmd)
