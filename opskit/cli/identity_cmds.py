"""Who is acting: ``opskit whoami``, ``opskit operators``, ``opskit grant``."""

from __future__ import annotations

import click

from ._common import db_option, emit_record, emit_rows, format_option, open_db

OPERATOR_COLUMNS = ["login", "user", "added_at", "added_by"]


@click.command("whoami")
@db_option
@format_option
def whoami_cmd(db_url, fmt):
    """Show the login opskit sees (and where from) and the user it acts as."""
    from ..identity import whoami

    emit_record(whoami(open_db(db_url)), fmt)


@click.group("operators")
def operators_group():
    """Map logins to the users they act as (bound mode once one exists)."""


@operators_group.command("add")
@click.argument("login", metavar="LOGIN")
@click.argument("email", metavar="EMAIL")
@click.option("--actor", default=None, metavar="EMAIL", help="Who acts (before bound mode).")
@db_option
@format_option
def operators_add_cmd(login, email, actor, db_url, fmt):
    """Map LOGIN to the user EMAIL: from then on that login acts as that user."""
    from ..identity import add_operator

    emit_record(add_operator(open_db(db_url), login, email, actor=actor), fmt)


@operators_group.command("remove")
@click.argument("login", metavar="LOGIN")
@click.option("--actor", default=None, metavar="EMAIL", help="Who acts (defaults to you).")
@db_option
@format_option
def operators_remove_cmd(login, actor, db_url, fmt):
    """Remove LOGIN's mapping (the last one stays: bound mode does not end)."""
    from ..identity import remove_operator

    emit_record(remove_operator(open_db(db_url), login, actor=actor), fmt)


@operators_group.command("list")
@db_option
@format_option
def operators_list_cmd(db_url, fmt):
    """List every login and the user it acts as."""
    from ..identity import list_operators

    emit_rows(list_operators(open_db(db_url)), fmt, columns=OPERATOR_COLUMNS)


@click.command("grant")
@click.argument("role", metavar="ROLE")
@db_option
@format_option
def grant_cmd(role, db_url, fmt):
    """PostgreSQL, as the schema's owner: give ROLE what opskit needs, nothing more."""
    from ..grants import grant

    emit_record(grant(open_db(db_url), role), fmt)


def register(cli: click.Group) -> None:
    cli.add_command(whoami_cmd)
    cli.add_command(operators_group)
    cli.add_command(grant_cmd)
