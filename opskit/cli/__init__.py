"""The ``opskit`` command: parse, call one library function, print the result.

Errors become one line on stderr and an exit code: 1 when a rule refuses, 2 for bad
input. No traceback reaches the user (``OPSKIT_DEBUG=1`` shows it).

Each command imports the library modules it calls inside its function, so that
``opskit --help`` (and a mistyped option) answers without loading SQLAlchemy or pandas.
"""

from __future__ import annotations

import os
import sys

import click

from ..errors import OpskitError
from . import (
    appointment_cmds,
    audit_cmds,
    check_cmds,
    checklist_cmds,
    dataset_cmds,
    identity_cmds,
    lifecycle_cmds,
    offboard_cmds,
    policy_cmds,
    report_cmds,
)


class OpskitGroup(click.Group):
    def main(self, args=None, prog_name=None, **extra):  # noqa: D102
        try:
            rv = super().main(args=args, prog_name=prog_name, standalone_mode=False, **extra)
        except click.exceptions.Exit as done:
            sys.exit(done.exit_code)
        except click.exceptions.Abort:
            click.echo("opskit: aborted", err=True)
            sys.exit(1)
        except click.ClickException as error:
            ctx = getattr(error, "ctx", None)
            where = f"{ctx.command_path}: " if ctx else "opskit: "
            click.echo(f"{where}{error.format_message()}".replace("\n", " "), err=True)
            sys.exit(2)
        except OpskitError as error:
            click.echo(f"opskit: {error}".replace("\n", " "), err=True)
            sys.exit(error.exit_code)
        except KeyboardInterrupt:
            click.echo("opskit: interrupted", err=True)
            sys.exit(130)
        except Exception as error:  # the last line of defence: never a traceback
            if os.environ.get("OPSKIT_DEBUG"):
                raise
            if _is_database_error(error):
                detail = str(getattr(error, "orig", error) or error).strip().splitlines()
                click.echo(f"opskit: database error: {detail[0] if detail else error}", err=True)
                sys.exit(2)
            click.echo(
                f"opskit: internal error: {type(error).__name__}: {error} "
                "(set OPSKIT_DEBUG=1 for details)".replace("\n", " "),
                err=True,
            )
            sys.exit(3)
        sys.exit(rv if isinstance(rv, int) else 0)


def _is_database_error(error: Exception) -> bool:
    """A driver's error (server gone, disk full) as SQLAlchemy raises it. SQLAlchemy is
    imported here, not at start-up: when it was never loaded, the error is not one of its."""
    if "sqlalchemy" not in sys.modules:
        return False
    from sqlalchemy.exc import DBAPIError

    return isinstance(error, DBAPIError)


@click.group(cls=OpskitGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--db", "db_url", metavar="URL", default=None, help="Database URL for the command.")
@click.version_option(package_name="opskit")
@click.pass_context
def cli(ctx: click.Context, db_url: str | None) -> None:
    """Deactivate and reactivate practice-group members, work the pre-deactivation
    checklist, run reviewed bulk offboarding and report on inactive users."""
    ctx.obj = {"db_url": db_url}


for module in (
    dataset_cmds,
    lifecycle_cmds,
    checklist_cmds,
    audit_cmds,
    offboard_cmds,
    report_cmds,
    policy_cmds,
    check_cmds,
    identity_cmds,
    appointment_cmds,
):
    module.register(cli)


def main() -> None:
    cli.main(prog_name="opskit")
