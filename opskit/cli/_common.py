"""What every command shares: ``--db``, ``--format``, printing results, one-line errors."""

from __future__ import annotations

import io
import json
import math
import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..clock import iso

if TYPE_CHECKING:
    from ..db import Database

FORMATS = ("table", "csv", "json")


def db_option(command: Callable) -> Callable:
    """``--db URL`` on a command (also accepted before the command name)."""
    return click.option(
        "--db",
        "db_url",
        metavar="URL",
        default=None,
        help="Database URL (default: $OPSKIT_DATABASE_URL, else sqlite:///data/opskit.db).",
    )(command)


def format_option(command: Callable) -> Callable:
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(FORMATS),
        default="table",
        show_default=True,
        help="Output format.",
    )(command)


class LibraryDefault(click.Option):
    """An option whose default is a function reading the library's own constant: the
    library module is imported when the default is needed (a run, or this command's
    --help, which shows the value), not when ``opskit`` starts."""

    def get_default(self, ctx: click.Context, call: bool = True) -> Any:
        value = super().get_default(ctx, call=call)
        return value() if callable(value) else value


def open_db(db_url: str | None, *, create: bool = False) -> Database:
    """The database named by --db here or before the command, else the environment."""
    from ..db import connect

    if db_url is None:
        ctx = click.get_current_context(silent=True)
        root = ctx.find_root() if ctx else None
        db_url = (root.obj or {}).get("db_url") if root else None
    return connect(db_url, create=create)


def check_out_path(
    out: str | os.PathLike[str],
    db: Database | None = None,
    *,
    reading: Iterable[str | os.PathLike[str]] = (),
    option: str = "--out",
) -> Path:
    """An ``--out`` path that is safe to write, checked before anything is done (bad
    input, exit 2): not a folder, in a folder that exists, never the database file (nor
    its -wal, -shm or -journal file), and never a path the command reads (``reading``:
    its input file, or anything inside its input folder)."""
    from ..errors import BadInput

    path = Path(out)
    target = path.expanduser().resolve()
    if path.is_dir():
        raise BadInput(f"is a folder; give a file name for {option}", file=str(out))
    if not target.parent.is_dir():
        raise BadInput(
            f"No such file or directory: no folder {str(path.parent)!r} to write into",
            file=str(out),
        )
    protected: list[Path] = []
    if (
        db is not None
        and db.dialect == "sqlite"
        and db.engine.url.database not in (None, ":memory:")
    ):
        database = Path(db.engine.url.database).expanduser().resolve()
        protected = [database, *(database.with_name(database.name + x) for x in _JOURNALS)]
    for file in protected:
        if _same(path, target, file):
            raise BadInput(f"is the database file; choose another {option}", file=str(out))
    for read in reading:
        source = Path(read).expanduser().resolve()
        if _same(path, target, source):
            raise BadInput(
                f"is the file {str(read)!r} being read; choose another {option}", file=str(out)
            )
        if source.is_dir() and source in target.parents:
            raise BadInput(
                f"is inside the folder {str(read)!r} being read; choose another {option}",
                file=str(out),
            )
    return path


def _same(path: Path, target: Path, other: Path) -> bool:
    """Is ``path`` (resolved: ``target``) the file ``other``, by name or as a hard link?"""
    return target == other or (path.exists() and other.exists() and os.path.samefile(path, other))


_JOURNALS = ("-wal", "-shm", "-journal")


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item") and not isinstance(value, (list, dict, str)):
        try:
            return _plain(value.item())  # numpy scalars
        except (AttributeError, ValueError):
            pass
    if value is not None and type(value).__name__ in ("NaTType", "NAType"):
        return None
    if hasattr(value, "to_pydatetime"):
        return iso(value.to_pydatetime())
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def cell_text(value: Any) -> str:
    """A value as a table or CSV cell. The common types are decided by their exact type,
    before the general conversion: a large table has a million cells."""
    kind = type(value)
    if kind is str:
        return value
    if value is None:
        return ""
    if kind is int:
        return str(value)
    if kind is bool:
        return "true" if value else "false"
    value = _plain(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def emit_rows(
    rows: Iterable[Mapping[str, Any]],
    fmt: str,
    *,
    columns: list[str] | None = None,
    dim: Callable[[Mapping[str, Any]], bool] | None = None,
) -> None:
    """Print a list of records as a table, CSV or JSON (a JSON array)."""
    rows = [r if type(r) is dict else dict(r) for r in rows]
    if columns is None:
        columns = list(rows[0]) if rows else []
    if fmt == "json":
        click.echo(json.dumps([_plain(r) for r in rows], indent=2, ensure_ascii=False))
        return
    if fmt == "csv":
        from ..spreadsheet import write_csv

        out = io.StringIO()
        write_csv(out, columns, ([cell_text(r.get(c)) for c in columns] for r in rows))
        # color=True: CSV is data, so escape sequences inside values go out verbatim
        click.echo(out.getvalue(), nl=False, color=True)
        return
    dimmed = [dim(r) for r in rows] if dim is not None and sys.stdout.isatty() else None
    emit_columns(columns, [text_column([r.get(c) for r in rows]) for c in columns], dimmed)


def text_column(values: list[Any]) -> list[str]:
    """A column's values as cells (``cell_text``), converted a column at a time: a
    column of text is taken as it is, and the others are converted by one
    comprehension (a large table has a million cells)."""
    if all(type(v) is str for v in values):
        return values
    if all(type(v) is int for v in values):
        return list(map(str, values))
    return [v if type(v) is str else "" if v is None else cell_text(v) for v in values]


TABLE_LINES = 10_000  # lines a write: a million-row table is never one string


def emit_table(
    columns: list[str], cells: list[list[str]], dimmed: list[bool] | None = None
) -> None:
    """Print rows of cells (strings) under their column names, each column as wide as
    its widest cell, the ``dimmed`` rows dim. One format string pads a whole line and
    lines go out ten thousand at a time: printing 100,000 plan rows took longer than
    planning them when each cell was padded and each line echoed on its own."""
    if not cells:
        click.echo("(no rows)")
        return
    widths = [
        max(len(c), *map(len, values))
        for c, values in zip(columns, zip(*cells, strict=True), strict=True)
    ]
    _emit_lines(columns, widths, cells, dimmed)


def emit_columns(
    columns: list[str], values: list[list[str]], dimmed: list[bool] | None = None
) -> None:
    """``emit_table`` with the cells given a column at a time (``values[i]`` is column
    ``i``'s cells), as a caller that builds them column by column has them."""
    if not values or not values[0]:
        click.echo("(no rows)")
        return
    widths = [max(len(c), *map(len, cells)) for c, cells in zip(columns, values, strict=True)]
    _emit_lines(columns, widths, list(zip(*values, strict=True)), dimmed)


def _emit_lines(
    columns: list[str],
    widths: list[int],
    cells: Sequence[Sequence[str]],
    dimmed: list[bool] | None,
) -> None:
    line = "  ".join(f"{{:<{w}}}" for w in widths).format
    click.echo(line(*columns).rstrip())
    click.echo("  ".join("-" * w for w in widths))
    for start in range(0, len(cells), TABLE_LINES):
        part = cells[start : start + TABLE_LINES]
        lines = [line(*row).rstrip() for row in part]
        if dimmed is not None:
            # the product greys inactive members; a terminal shows them dim
            flags = dimmed[start : start + TABLE_LINES]
            lines = [
                click.style(t, dim=True) if d else t for t, d in zip(lines, flags, strict=True)
            ]
        click.echo("\n".join(lines))


def emit_record(record: Mapping[str, Any], fmt: str) -> None:
    """Print one result: JSON object, one-row CSV, or ``key: value`` lines."""
    record = dict(record)
    if fmt == "json":
        click.echo(json.dumps(_plain(record), indent=2, ensure_ascii=False))
        return
    nested = {k: v for k, v in record.items() if isinstance(v, list)}
    flat = {k: v for k, v in record.items() if k not in nested}
    if fmt == "csv":
        emit_rows([flat], "csv")
        return
    width = max((len(k) for k in flat), default=0)
    for key, value in flat.items():
        click.echo(f"{key.ljust(width)}  {cell_text(value)}")
    for key, value in nested.items():
        if value and isinstance(value[0], Mapping):
            click.echo(f"\n{key}:")
            emit_rows(value, "table")
