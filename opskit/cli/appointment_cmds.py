"""Commands about appointments: the listing (the hand-off is ``deactivate --handoff``)."""

from __future__ import annotations

import click

from ._common import db_option, emit_rows, format_option, open_db


@click.command("appointments")
@click.option("--group", "-g", default=None, help="Only this group (id or exact name).")
@click.option("--user", default=None, metavar="EMAIL", help="Only this practitioner's.")
@click.option(
    "--from", "starting", default=None, metavar="TIME", help="Only those starting at or after TIME."
)
@db_option
@format_option
def appointments_cmd(group, user, starting, db_url, fmt):
    """List appointments with their practitioner and status (booked or cancelled)."""
    from ..handoff import APPOINTMENT_COLUMNS, list_appointments

    rows = list_appointments(open_db(db_url), group=group, user=user, starting=starting)
    emit_rows(rows, fmt, columns=APPOINTMENT_COLUMNS, dim=lambda r: r["status"] == "cancelled")


def register(cli: click.Group) -> None:
    cli.add_command(appointments_cmd)
