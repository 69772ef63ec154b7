"""Loading a dataset: validated frames written to the database in one transaction.

A load is all-or-nothing. Every file is read and validated before anything is
written; then one transaction empties the database (when replacing) and inserts
every table, so a failure at any point leaves the database as it was.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, select, text
from sqlalchemy.exc import DBAPIError

from .. import schema
from ..audit import adopt_loaded_chain
from ..db import Database
from ..errors import BadInput, Refused
from ..rules import locked_out_groups
from .files import EXTRA_COLUMNS, HISTORY_SPECS, SPEC, SPECS
from .read import dataset_folder, read_dataset
from .timetext import time_strings


def _tables() -> list:
    """Every table opskit owns, parents before children."""
    return list(schema.metadata.sorted_tables)


def _holds_data(conn: Connection) -> bool:
    for table in _tables():
        if conn.execute(text(f"SELECT 1 FROM {table.name} LIMIT 1")).first() is not None:
            return True
    return False


def _delete_everything(conn: Connection, dialect: str) -> None:
    if dialect == "postgresql":
        names = ", ".join(table.name for table in _tables())
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY"))
    else:
        for table in reversed(_tables()):
            conn.execute(text(f"DELETE FROM {table.name}"))


def _kind_of(table: str, column: str) -> str:
    spec = SPEC[table]
    for col in spec.columns:
        if col.name == column:
            return col.kind
    return "text"


def _wire_times(values) -> np.ndarray:
    """Times as SQLAlchemy stores them on SQLite: ``YYYY-MM-DD HH:MM:SS.ffffff``."""
    return time_strings(values, sep=" ", suffix="", always_micro=True)


def _wire_columns(table: str, frame: pd.DataFrame, columns: list[str]) -> list[list]:
    """Python values for the SQLite driver: str, bool, float, None for NULL."""
    out = []
    for column in columns:
        kind = _kind_of(table, column)
        values = frame[column].to_numpy()
        if kind == "int":
            if values.dtype == object:  # a nullable column with NULLs (None)
                out.append([None if v is None else int(v) for v in values])
            else:
                out.append(np.asarray(values, dtype=np.int64).tolist())
        elif kind == "time":
            out.append(_wire_times(values).tolist())
        elif kind == "bool":
            out.append(np.asarray(values, dtype=bool).tolist())
        elif kind == "amount":
            out.append(np.round(np.asarray(values, dtype=float), 2).tolist())
        else:
            values = np.asarray(values, dtype=object)
            missing = pd.isna(values)
            if missing.any():
                values = values.copy()
                values[missing] = None
            out.append(values.tolist())
    return out


_COPY_ESCAPES = (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r"))


def _copy_columns(table: str, frame: pd.DataFrame, columns: list[str]) -> list[np.ndarray]:
    """Each column as text in PostgreSQL's COPY text format (\\N for NULL, escaped)."""
    out = []
    for column in columns:
        kind = _kind_of(table, column)
        values = frame[column].to_numpy()
        if kind == "int":
            if values.dtype == object:  # a nullable column with NULLs (None)
                text_values = np.array([None if v is None else str(v) for v in values], object)
            else:
                text_values = np.asarray(values, dtype=np.int64).astype(str).astype(object)
        elif kind == "time":
            text_values = _wire_times(values)
        elif kind == "bool":
            text_values = np.where(np.asarray(values, dtype=bool), "t", "f").astype(object)
        elif kind == "amount":
            text_values = np.char.mod("%.2f", np.asarray(values, dtype=float)).astype(object)
        else:
            text_values = np.asarray(values, dtype=object).copy()
            missing = pd.isna(text_values)
            text_values[missing] = ""
            joined = "".join(text_values)
            if any(special in joined for special, _ in _COPY_ESCAPES):
                series = pd.Series(text_values, dtype=object)
                for special, escaped in _COPY_ESCAPES:  # the backslash first
                    series = series.str.replace(special, escaped, regex=False)
                text_values = series.to_numpy(dtype=object, copy=True)
            text_values[missing] = None
        text_values = np.asarray(text_values, dtype=object)
        text_values[pd.isna(text_values)] = "\\N"
        out.append(text_values)
    return out


def _insert(conn: Connection, dialect: str, table: str, frame: pd.DataFrame) -> None:
    """Bulk-insert one table's rows inside the caller's transaction."""
    if frame.empty:
        return
    # the file's columns (an optional one only when the frame has it) and derived ones
    spec = SPEC[table]
    columns = [n for n in spec.names if n in frame or n not in spec.optional_names]
    columns += list(EXTRA_COLUMNS.get(table, ()))
    driver: Any = conn.connection.driver_connection  # the driver's own connection
    if dialect == "postgresql":
        import psycopg

        statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
        text_columns = _copy_columns(table, frame, columns)
        try:
            with driver.cursor() as cursor, cursor.copy(statement) as copy:
                for start in range(0, len(frame), 100_000):
                    lines = text_columns[0][start : start + 100_000]
                    for column in text_columns[1:]:
                        lines = lines + "\t" + column[start : start + 100_000]
                    copy.write("\n".join(lines) + "\n")
        except psycopg.Error as error:
            raise _refused(table, statement, error, psycopg.IntegrityError) from None
    else:
        import sqlite3

        statement = (
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"
        )
        cursor = driver.cursor()
        try:
            cursor.executemany(statement, zip(*_wire_columns(table, frame, columns), strict=True))
        except sqlite3.Error as error:
            raise _refused(table, statement, error, sqlite3.IntegrityError) from None
        finally:
            cursor.close()


def _refused(table: str, statement: str, error: Exception, integrity: type) -> Exception:
    """A driver error as opskit reports it: a refused row is bad input, the rest a
    database error (the CLI prints both as one line)."""
    detail = (str(error).strip().splitlines() or [type(error).__name__])[0]
    if isinstance(error, integrity):
        return BadInput(f"the database refused a row of {table}: {detail}; nothing was loaded")
    return DBAPIError(statement, None, error)


@contextmanager
def _bulk_transaction(db: Database) -> Iterator[Connection]:
    """The write transaction of a load.

    On SQLite, foreign keys are not enforced row by row during it: every reference has
    been validated already, and enforcement makes emptying the parent tables (users,
    memberships) visit every row, about 50 s at a million members instead of 4.
    ``PRAGMA foreign_key_check`` then checks every reference of the whole database
    before the commit (4 s at a million), and enforcement is back on afterwards
    whatever happened. The pragma only takes effect outside a transaction, hence
    the raw driver connection before BEGIN.
    """
    if db.dialect != "sqlite":
        with db.begin() as conn:
            yield conn
        return
    with db.lock_waits(), db.engine.connect() as conn:
        driver: Any = conn.connection.driver_connection
        driver.execute("PRAGMA foreign_keys = OFF")
        cache = driver.execute("PRAGMA cache_size").fetchone()[0]
        # a bigger page cache while loading: index inserts stay in memory
        driver.execute("PRAGMA cache_size = -400000")
        try:
            with conn.begin():
                yield conn
                broken = conn.exec_driver_sql("PRAGMA foreign_key_check").first()
                if broken is not None:
                    table, rowid, parent, _ = broken
                    raise BadInput(
                        f"{table} row {rowid} refers to a {parent} row that does not exist; "
                        "nothing was loaded"
                    )
        finally:
            driver.execute(f"PRAGMA cache_size = {int(cache)}")
            driver.execute("PRAGMA foreign_keys = ON")


def write_frames(
    db: Database,
    frames: dict[str, pd.DataFrame],
    *,
    replace: bool,
    keep_audit: bool = False,
) -> dict[str, int]:
    """Insert validated frames, all tables in one transaction; the one writer.

    Without ``replace`` a database that holds data is refused; with it, everything in
    the database (audit events and run ledgers too) is deleted first, in the same
    transaction, so a failure leaves the old content in place. With ``keep_audit``
    (a load) a replace that would drop audit events, operator mappings, dormancy
    policies or exemptions, or run ledgers the frames do not hold is refused.
    A table without a frame (the history files of a synthetic dataset) stays empty.
    """
    empty = pd.DataFrame()
    with _bulk_transaction(db) as conn:
        if _holds_data(conn):
            if not replace:
                raise BadInput(f"{db.url} holds data already; use --replace to replace it")
            if keep_audit:
                _refuse_losing_history(conn, frames)
            _delete_everything(conn, db.dialect)
        for spec in SPECS:
            _insert(conn, db.dialect, spec.table, frames.get(spec.table, empty))
        _refuse_locked_out_groups(conn)
        adopt_loaded_chain(conn)
        if db.dialect == "postgresql":
            _restart_sequences(conn)
            conn.execute(text("ANALYZE " + ", ".join(spec.table for spec in SPECS)))
    return {spec.table: len(frames.get(spec.table, empty)) for spec in SPECS}


def _restart_sequences(conn: Connection) -> None:
    """Loaded history keeps its ids: the next id PostgreSQL hands out follows them."""
    for spec in HISTORY_SPECS:
        key = spec.key[0]
        conn.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{spec.table}', '{key}'), "
                f"COALESCE(MAX({key}), 0) + 1, false) FROM {spec.table}"
            )
        )


# What a replace keeps unless the folder holds it: per table, the columns that name a row
# (for audit events also its time, action and member) and how the refusal counts it.
_KEPT_ON_REPLACE = (
    ("audit_events", ("event_id", "at", "action", "group_id", "user_id"), "audit event"),
    ("operators", ("login", "user_id"), "operator mapping"),
    ("dormancy_policies", ("group_id",), "dormancy policy"),
    ("dormancy_exemptions", ("group_id", "user_id"), "dormancy exemption"),
    ("offboard_runs", ("run_id",), "offboard run"),
)
_PLURALS = {"dormancy policy": "dormancy policies"}


def _refuse_losing_history(conn: Connection, frames: dict[str, pd.DataFrame]) -> None:
    """docs/rules.md: a replace never drops an audit event, an operator mapping (which
    would end bound mode), a dormancy policy or exemption, or a run's ledger that the
    folder does not hold: it refuses, saying how many of each it would drop."""
    lost = []
    for table, columns, noun in _KEPT_ON_REPLACE:
        n = _not_held(conn, table, columns, frames.get(table))
        if n:
            plural = _PLURALS.get(noun, noun + "s") if n != 1 else noun
            ending = " (ending bound mode)" if table == "operators" else ""
            lost.append(f"{n} {plural}{ending}")
    if lost:
        listed = lost[0] if len(lost) == 1 else ", ".join(lost[:-1]) + " and " + lost[-1]
        raise Refused(
            f"--replace would drop {listed} the dataset folder does not hold; "
            "export the database and load that folder instead (nothing was loaded)"
        )


def _not_held(
    conn: Connection, table: str, columns: tuple[str, ...], loaded: pd.DataFrame | None
) -> int:
    """How many rows of ``table`` the loaded frame has no row for (by ``columns``)."""
    held: set[tuple] = set()
    if loaded is not None and len(loaded):
        values = []
        for column in columns:
            if _kind_of(table, column) == "time":
                values.append(loaded[column].to_numpy(dtype="datetime64[us]").astype(object))
            elif _kind_of(table, column) == "int":
                values.append(np.asarray(loaded[column], dtype=np.int64).tolist())
            else:
                values.append(loaded[column].tolist())
        held = set(zip(*(list(v) for v in values), strict=True))
    source = schema.metadata.tables[table]
    query = select(*(source.c[column] for column in columns))
    return sum(1 for row in conn.execute(query) if tuple(row) not in held)


def _refuse_locked_out_groups(conn: Connection) -> None:
    """docs/rules.md R4 holds for a loaded dataset too: checked by the rule's own set-based
    form over what was just inserted, so the load's transaction rolls back."""
    locked = locked_out_groups(conn)
    if not locked:
        return
    group_id, lacks = next(iter(locked.items()))
    name = conn.execute(
        select(schema.groups.c.name).where(schema.groups.c.group_id == group_id)
    ).scalar_one()
    column = "access_level" if lacks[0].kind == "no_full_access_member" else "account_owner"
    raise BadInput(
        f"group {group_id!r} ({name}) has {lacks[0].text}; every group needs one",
        file="memberships.csv",
        column=column,
    )


def _ensure_not_holding(db: Database) -> None:
    """Refuse early, before a long validation, when the load would be refused anyway."""
    with db.read() as conn:
        if _holds_data(conn):
            raise BadInput(f"{db.url} holds data already; use --replace to replace it")


def load_dataset(
    db: Database, folder: str | Path, *, replace: bool = False, keep_audit: bool = True
) -> dict[str, int]:
    """Load a dataset folder into ``db``: all rows or none. Returns rows per table.

    ``replace`` refuses (``Refused``) to drop audit events, the operator mapping,
    dormancy policies and exemptions, or run ledgers the folder does not hold, unless
    ``keep_audit`` is False (the demo, which replaces everything by design)."""
    folder = dataset_folder(folder)
    if not replace:
        _ensure_not_holding(db)
    frames = read_dataset(folder)
    return write_frames(db, frames, replace=replace, keep_audit=keep_audit)
