"""Dormancy policy and its scheduled review: ``opskit policy set|exempt|show`` and
``opskit review dormant``."""

from __future__ import annotations

import click

from ._common import check_out_path, db_option, emit_record, emit_rows, format_option, open_db

group_required = click.option("--group", "-g", required=True, help="The group (id or exact name).")
actor_option = click.option(
    "--actor",
    default=None,
    metavar="EMAIL",
    help="Who makes the change (Full Access); in bound mode, the login's user.",
)


@click.group("policy")
def policy_group() -> None:
    """Dormancy policy per group: dormant days, grace days, exemptions."""


@policy_group.command("set")
@group_required
@click.option("--dormant-days", type=int, default=None, help="Dormant after this many idle days.")
@click.option("--grace-days", type=int, default=None, help="Grace period of new members, in days.")
@actor_option
@db_option
@format_option
def set_cmd(group, dormant_days, grace_days, actor, db_url, fmt):
    """Set a group's dormancy policy (an option not given keeps its value)."""
    from ..policy import set_policy

    result = set_policy(
        open_db(db_url), group, actor=actor, dormant_days=dormant_days, grace_days=grace_days
    )
    emit_record(result, fmt)


@policy_group.command("exempt")
@click.argument("email")
@group_required
@click.option("--until", required=True, metavar="DATE", help="Exempt until this date (YYYY-MM-DD).")
@click.option("--reason", required=True, help="Why (on leave, say).")
@actor_option
@db_option
@format_option
def exempt_cmd(email, group, until, reason, actor, db_url, fmt):
    """Leave a member out of the dormant report until DATE (its start, UTC)."""
    from ..policy import exempt

    emit_record(exempt(open_db(db_url), email, group, until=until, reason=reason, actor=actor), fmt)


@policy_group.command("show")
@click.option("--group", "-g", default=None, help="Only this group (id or exact name).")
@click.option("--exemptions", "show_exemptions", is_flag=True, help="List the exemptions instead.")
@db_option
@format_option
def show_cmd(group, show_exemptions, db_url, fmt):
    """Each group's dormancy policy in effect (or, with --exemptions, the exemptions)."""
    from ..policy import EXEMPTION_COLUMNS, POLICY_COLUMNS, exemptions, policies

    db = open_db(db_url)
    if show_exemptions:
        emit_rows(exemptions(db, group=group), fmt, columns=EXEMPTION_COLUMNS)
    else:
        emit_rows(policies(db, group=group), fmt, columns=POLICY_COLUMNS)


@click.group("review")
def review_group() -> None:
    """Scheduled reviews: a plan of the dormant members, for review and approval."""


@review_group.command("dormant")
@click.option(
    "--out",
    required=True,
    metavar="PLAN",
    type=click.Path(dir_okay=False, writable=True),
    help="Where to write the offboarding plan (nothing is applied).",
)
@click.option(
    "--actor",
    default=None,
    metavar="EMAIL",
    help="Who will apply the plan; in bound mode, the login's user.",
)
@click.option(
    "--notify",
    metavar="DIR",
    default=None,
    type=click.Path(file_okay=False),
    help="Also write one CSV per group for its account owners into DIR.",
)
@click.option("--group", "-g", default=None, help="Only this group (id or exact name).")
@click.option("--days", type=int, default=None, help="Override every group's dormant days.")
@click.option("--grace-days", type=int, default=None, help="Override every group's grace days.")
@db_option
@format_option
def review_dormant_cmd(out, actor, notify, group, days, grace_days, db_url, fmt):
    """Plan offboarding the dormant members (each group's policy, exemptions left out)
    into PLAN. Nothing changes: review the plan, approve it and apply it like any other."""
    from ..review import review_dormant

    db = open_db(db_url)
    check_out_path(out, db)
    result = review_dormant(
        db,
        actor=actor,
        out=out,
        notify=notify,
        group=group,
        days=days,
        grace_days=grace_days,
    )
    emit_record(result.to_dict(), fmt)


def register(cli: click.Group) -> None:
    cli.add_command(policy_group)
    cli.add_command(review_group)
