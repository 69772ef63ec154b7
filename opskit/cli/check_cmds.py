"""``opskit check``: is the database consistent? (the invariants of opskit.invariants)"""

from __future__ import annotations

import click

from ._common import db_option, emit_rows, format_option, open_db

COLUMNS = ["kind", "group_id", "email", "run", "message"]


@click.command("check")
@db_option
@format_option
@click.pass_context
def check_cmd(ctx, db_url, fmt):
    """Check the database's invariants: no inactive member signed in, every change
    audited, every run's ledger agreeing with the members, no group locked out.

    Prints one row per violation. Exit code 0 when there is none, 1 when there is any
    (like a linter), 2 when the database cannot be read.
    """
    from ..invariants import check_invariants

    violations = check_invariants(open_db(db_url))
    if violations or fmt != "table":
        emit_rows(violations, fmt, columns=COLUMNS)
    else:
        click.echo("ok: no violations")
    if violations:
        click.echo(f"opskit: {len(violations)} violation(s) found", err=True)
        ctx.exit(1)


def register(cli: click.Group) -> None:
    cli.add_command(check_cmd)
