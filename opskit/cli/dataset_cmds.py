"""``opskit load``, ``opskit export`` and ``opskit demo``: the dataset folder."""

from __future__ import annotations

from pathlib import Path

import click

from ._common import db_option, emit_rows, format_option, open_db


def _summary(counts: dict[str, int], fmt: str) -> None:
    rows = [{"table": table, "rows": count} for table, count in counts.items()]
    if fmt == "table":
        rows.append({"table": "total", "rows": sum(counts.values())})
    emit_rows(rows, fmt, columns=["table", "rows"])


@click.command("load")
@click.argument("folder", metavar="DIR", type=click.Path(path_type=Path))
@click.option(
    "--replace",
    is_flag=True,
    help="Replace everything the database holds (audit trail and runs included), "
    "in the same transaction as the load.",
)
@db_option
@format_option
def load_command(folder: Path, replace: bool, db_url: str | None, fmt: str) -> None:
    """Load a dataset folder (the twelve CSV files) into the database.

    All or nothing: every file is validated first, and the first bad value is named
    by file, line and column. A database that holds data is refused unless --replace.
    """
    from ..dataset import load_dataset

    db = open_db(db_url, create=True)
    try:
        counts = load_dataset(db, folder, replace=replace)
    finally:
        db.dispose()
    _summary(counts, fmt)


@click.command("export")
@click.argument("folder", metavar="DIR", type=click.Path(path_type=Path))
@db_option
@format_option
def export_command(folder: Path, db_url: str | None, fmt: str) -> None:
    """Write the database as a dataset folder that 'opskit load' reads back.

    DIR is created if needed; its twelve CSV files are overwritten. Rows are sorted by
    key, so exporting the same data twice gives identical files.
    """
    from ..dataset import export_dataset

    db = open_db(db_url)
    try:
        counts = export_dataset(db, folder)
    finally:
        db.dispose()
    _summary(counts, fmt)


@click.command("demo")
@click.option(
    "--members",
    type=click.IntRange(min=3),
    default=None,
    metavar="N",
    help="Generate a synthetic dataset with N memberships instead of the bundled demo.",
)
@click.option(
    "--seed",
    type=int,
    default=None,
    metavar="S",
    help="Random seed for --members (default 1): the same seed gives the same data.",
)
@db_option
@format_option
def demo_command(members: int | None, seed: int | None, db_url: str | None, fmt: str) -> None:
    """Replace the database content with demo data.

    Without options: the bundled demo (three clinics, 30 memberships, built around
    2026-07-01T09:00:00Z; set OPSKIT_NOW to that instant to follow along). With
    --members N: a synthetic dataset of N memberships, dated relative to now.
    Everything the database held before is replaced.
    """
    from ..dataset import load_demo
    from ..synthetic import load_synthetic

    if seed is not None and members is None:
        raise click.UsageError("--seed needs --members")
    db = open_db(db_url, create=True)
    try:
        if members is None:
            counts = load_demo(db, replace=True)
        else:
            counts = load_synthetic(db, members=members, seed=1 if seed is None else seed)
    finally:
        db.dispose()
    _summary(counts, fmt)


def register(cli: click.Group) -> None:
    cli.add_command(load_command)
    cli.add_command(export_command)
    cli.add_command(demo_command)
