"""Commands for one member: users, deactivate, reactivate, access, sign-in."""

from __future__ import annotations

import click

from ._common import check_out_path, db_option, emit_record, emit_rows, format_option, open_db

group_option = click.option("--group", "-g", required=True, help="Group id or exact name.")
actor_option = click.option(
    "--actor",
    default=None,
    metavar="EMAIL",
    help="Who acts (Full Access there); bound mode: you, and may be left out.",
)


@click.command("users")
@click.option("--group", "-g", default=None, help="Only this group (id or exact name).")
@click.option(
    "--status",
    type=click.Choice(["active", "inactive", "all"]),
    default="all",
    show_default=True,
    help="Which members to list; inactive ones always come after active ones.",
)
@db_option
@format_option
def users_cmd(group, status, db_url, fmt):
    """List members: active first, inactive after (greyed in a terminal)."""
    from ..members import MEMBER_COLUMNS, list_members

    rows = list_members(open_db(db_url), group=group, status=status)
    emit_rows(rows, fmt, columns=MEMBER_COLUMNS, dim=lambda r: r["status"] == "inactive")


@click.command("deactivate")
@click.argument("email")
@group_option
@actor_option
@click.option("--reason", default=None, help="Why (kept with the change and in the audit).")
@click.option(
    "--resolve-checklist",
    is_flag=True,
    help="Resolve the open pre-deactivation checklist items in the same transaction.",
)
@click.option(
    "--handoff",
    default=None,
    metavar="auto|cancel|EMAIL",
    help="Hand their future appointments in the group to EMAIL, spread them over the "
    "eligible colleagues (auto) or cancel them; all or nothing.",
)
@click.option(
    "--handoff-out",
    default=None,
    metavar="PATH",
    help="Write the affected patients and times as CSV for the front desk.",
)
@click.option("--dry-run", is_flag=True, help="Show exactly what would change; write nothing.")
@db_option
@format_option
def deactivate_cmd(
    email, group, actor, reason, resolve_checklist, handoff, handoff_out, dry_run, db_url, fmt
):
    """Deactivate EMAIL in a group: sign them out everywhere there, keep all their data."""
    from ..lifecycle import deactivate

    if handoff_out is not None and handoff is None:
        raise click.UsageError("--handoff-out needs --handoff")
    db = open_db(db_url)
    if handoff_out is not None:
        check_out_path(handoff_out, db, option="--handoff-out")
    result = deactivate(
        db,
        email,
        group,
        actor=actor,
        reason=reason,
        resolve_checklist=resolve_checklist,
        handoff=handoff,
        dry_run=dry_run,
    )
    record = result.to_dict()
    if handoff_out is not None:
        from ..handoff import front_desk_rows, write_front_desk_csv

        rows = front_desk_rows(result.appointments, group=result.group, practitioner=result.email)
        write_front_desk_csv(handoff_out, rows)
    record["appointments"] = [
        {k: a[k] for k in ("appointment_id", "starts_at", "outcome", "to")}
        for a in result.appointments
    ]
    emit_record(record, fmt)


@click.command("reactivate")
@click.argument("email")
@group_option
@actor_option
@click.option(
    "--restore-settings",
    is_flag=True,
    help="Put back the settings the checklist switched off, from their snapshot.",
)
@db_option
@format_option
def reactivate_cmd(email, group, actor, restore_settings, db_url, fmt):
    """Reactivate EMAIL in a group with the access level they had."""
    from ..lifecycle import reactivate

    result = reactivate(
        open_db(db_url), email, group, actor=actor, restore_settings=restore_settings
    )
    emit_record(result.to_dict(), fmt)


@click.command("access")
@click.argument("email")
@group_option
@actor_option
@click.option("--level", default=None, help="New access level (for the member's role).")
@click.option("--read-only/--no-read-only", default=None, help="Make the member read-only, or not.")
@click.option("--owner/--no-owner", default=None, help="Make the member account owner, or not.")
@db_option
@format_option
def access_cmd(email, group, actor, level, read_only, owner, db_url, fmt):
    """Change EMAIL's access level, read-only flag or account ownership in a group."""
    from ..lifecycle import change_access

    if level is None and read_only is None and owner is None:
        raise click.UsageError(
            "say what to change: --level, --read-only/--no-read-only or --owner/--no-owner"
        )
    result = change_access(
        open_db(db_url), email, group, actor=actor, level=level, read_only=read_only, owner=owner
    )
    emit_record(result.to_dict(), fmt)


@click.command("sign-in")
@click.argument("email")
@group_option
@click.option("--device", required=True, help="The device name for the new session.")
@db_option
@format_option
def sign_in_cmd(email, group, device, db_url, fmt):
    """Sign EMAIL in to a group on a device (refused for inactive members)."""
    from ..lifecycle import sign_in

    emit_record(sign_in(open_db(db_url), email, group, device=device).to_dict(), fmt)


def register(cli: click.Group) -> None:
    for command in (users_cmd, deactivate_cmd, reactivate_cmd, access_cmd, sign_in_cmd):
        cli.add_command(command)
