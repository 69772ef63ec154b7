"""Exporting: the database written as a dataset folder, sorted by key, so that an
export is reproducible and identical on SQLite and PostgreSQL.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import Connection

from ..db import Database
from ..errors import BadInput
from .files import SPECS, FileSpec
from .timetext import time_strings


def _iso_times(values: pd.Series) -> np.ndarray:
    """Times as clock.iso writes them (``...Z``, microseconds only when there are some)."""
    array = pd.to_datetime(values, format="ISO8601").to_numpy(dtype="datetime64[us]")
    out = time_strings(array, sep="T", suffix="Z", always_micro=False)
    out[np.isnat(array)] = ""
    return out


def _export_columns(conn: Connection, dialect: str, spec: FileSpec) -> list[np.ndarray]:
    """One table as the text its CSV file holds, column by column, sorted by key."""
    # Code point order with NULL first on both backends (SQLite's BINARY collation is
    # byte order; PostgreSQL's default collation may not be), so exports are identical.
    collate = ' COLLATE "C" NULLS FIRST' if dialect == "postgresql" else ""
    order = ", ".join(f"{name}{collate}" for name in spec.key)
    cursor = conn.connection.driver_connection.cursor()
    try:
        cursor.execute(f"SELECT {', '.join(spec.names)} FROM {spec.table} ORDER BY {order}")
        rows = cursor.fetchall()
    finally:
        cursor.close()
    table = np.empty((len(rows), len(spec.columns)), dtype=object)
    if rows:
        table[:] = rows  # far faster than zip(*rows)
    out = []
    for i, col in enumerate(spec.columns):
        values = pd.Series(table[:, i], dtype=object)
        if col.kind == "time":
            out.append(_iso_times(values))
        elif col.kind == "bool":
            out.append(np.where(values.astype(bool).to_numpy(), "true", "false").astype(object))
        elif col.kind == "amount":
            out.append(np.char.mod("%.2f", values.astype(float).to_numpy()).astype(object))
        else:
            out.append(values.where(values.notna(), "").to_numpy(dtype=object))
    return out


def _write_csv(path: Path, names: tuple[str, ...], columns: list[np.ndarray]) -> None:
    # The csv module quotes a "\n" but not a lone "\r" when lines end in "\n"; a file
    # whose text holds one is written fully quoted so that it reads back the same.
    text_columns = [c for c in columns if len(c) and isinstance(c[0], str)]
    carriage_return = any("\r" in "".join(column) for column in text_columns)
    quoting = csv.QUOTE_ALL if carriage_return else csv.QUOTE_MINIMAL
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n", quoting=quoting)
        writer.writerow(names)
        writer.writerows(zip(*columns, strict=True))


def export_dataset(db: Database, folder: str | Path) -> dict[str, int]:
    """Write the database as a dataset folder (created if missing). Returns rows per table.

    Rows are sorted by key so that an export is reproducible and identical across
    backends; ``load_dataset`` of the folder gives back the same rows.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise BadInput(f"{str(folder)!r} is a file; export needs a folder")
    folder.mkdir(parents=True, exist_ok=True)
    counts = {}
    with db.read() as conn:
        if db.dialect == "postgresql":  # one snapshot for all twelve files
            conn.execution_options(isolation_level="REPEATABLE READ")
        for spec in SPECS:
            columns = _export_columns(conn, db.dialect, spec)
            _write_csv(folder / spec.file, spec.names, columns)
            counts[spec.table] = len(columns[0])
    return counts
