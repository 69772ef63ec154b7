"""Exporting: the database written as a dataset folder, sorted by key, so that an
export is reproducible and identical on SQLite and PostgreSQL.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection

from ..db import Database
from ..errors import BadInput
from .files import MANIFEST, SPECS, FileSpec
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
    kinds = {col.name: col.kind for col in spec.columns}
    postgresql = dialect == "postgresql"

    def order_by(name: str) -> str:
        if not postgresql:
            return name
        return f"{name} NULLS FIRST" if kinds[name] == "int" else f'{name} COLLATE "C" NULLS FIRST'

    order = ", ".join(order_by(name) for name in spec.key)
    driver: Any = conn.connection.driver_connection
    cursor = driver.cursor()
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
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(
            handle,
            lineterminator="\n",
            quoting=csv.QUOTE_ALL if carriage_return else csv.QUOTE_MINIMAL,
        )
        writer.writerow(names)
        writer.writerows(zip(*columns, strict=True))
        handle.flush()
        os.fsync(handle.fileno())


def export_dataset(db: Database, folder: str | Path) -> dict[str, int]:
    """Write the database as a dataset folder. Returns rows per table.

    Rows are sorted by key so that an export is reproducible and identical across
    backends; ``load_dataset`` of the folder gives back the same rows, history
    included. The files and their ``manifest.json`` are written into a temporary
    folder next to ``folder`` and renamed into place, so the folder is complete or
    absent (a killed export or a full disk leaves the old one, or none). An existing
    ``folder`` is replaced only when it holds nothing but dataset files.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise BadInput(f"{str(folder)!r} is a file; export needs a folder")
    if folder.is_dir():
        foreign = sorted(p.name for p in folder.iterdir() if p.name not in _DATASET_NAMES)
        if foreign:
            raise BadInput(
                f"{str(folder)!r} holds {foreign[0]!r}, which is not a dataset file; "
                "export into an empty or new folder"
            )
    parent = folder.absolute().parent
    try:
        temporary = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=parent))
    except OSError as error:
        raise BadInput(f"cannot write the folder: {error.strerror}", file=str(folder)) from None
    try:
        counts = _write_folder(db, temporary)
        _swap_into_place(temporary, folder)
    except OSError as error:
        raise BadInput(f"cannot write the folder: {error.strerror}", file=str(folder)) from None
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    return counts


_DATASET_NAMES = frozenset(spec.file for spec in SPECS) | {MANIFEST}


def _write_folder(db: Database, folder: Path) -> dict[str, int]:
    counts = {}
    with db.read() as conn:
        if db.dialect == "postgresql":  # one snapshot for all the files
            conn.execution_options(isolation_level="REPEATABLE READ")
        for spec in SPECS:
            columns = _export_columns(conn, db.dialect, spec)
            _write_csv(folder / spec.file, spec.names, columns)
            counts[spec.table] = len(columns[0])
    manifest = {
        "format": 1,
        "files": {
            spec.file: {"rows": counts[spec.table], "sha256": file_digest(folder / spec.file)}
            for spec in SPECS
        },
    }
    with open(folder / MANIFEST, "w", encoding="utf-8") as handle:
        json.dump(manifest, handle, indent=2, sort_keys=True)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    return counts


def _swap_into_place(temporary: Path, folder: Path) -> None:
    """Rename the finished folder to ``folder``; an old one is moved aside first and
    removed after, so at every instant ``folder`` is the old export or the new one."""
    old = None
    if folder.exists():
        old = temporary.with_name(temporary.name + ".old")
        os.rename(folder, old)
    try:
        os.rename(temporary, folder)
    except OSError:
        if old is not None:
            os.rename(old, folder)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
