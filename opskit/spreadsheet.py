"""CSV written for people opens in a spreadsheet: no cell may run there as a formula.

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is
prefixed with ``'`` (docs/rules.md, CSV written for people), which spreadsheets show as
text. Every CSV opskit writes for people goes through ``write_csv``; the dataset folder
does not (it keeps values verbatim, for ``opskit load``).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from typing import IO, Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_RISKY = frozenset(FORMULA_STARTS)  # each one character: the first character decides


def _safe(text: str) -> str:
    return "'" + text if text[:1] in _RISKY else text


def spreadsheet_safe(value: Any) -> str:
    """The cell's text, with ``'`` in front when a spreadsheet would take it for a formula."""
    return _safe("" if value is None else str(value))


def _write(
    out: IO[str], header: Sequence[str], rows: Iterable[Sequence[str]], carriage_return: bool
) -> None:
    # the csv module quotes a "\n" but not a lone "\r" when lines end in "\n": text
    # holding one (``carriage_return``) is written fully quoted, so the row stays one row
    writer = csv.writer(
        out, lineterminator="\n", quoting=csv.QUOTE_ALL if carriage_return else csv.QUOTE_MINIMAL
    )
    writer.writerow([spreadsheet_safe(name) for name in header])
    writer.writerows(rows)


def write_csv(out: IO[str], header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Write a header and rows of cells as spreadsheet-safe CSV to ``out``."""
    cells = [[spreadsheet_safe(cell) for cell in row] for row in rows]
    _write(out, header, cells, any("\r" in cell for row in cells for cell in row))


def _texts(values: Any) -> list[str]:
    """``str`` of every value of a pandas Series, ``""`` for a missing one. Text is
    taken as it is, and naive times to the second (what reports hold) are formatted by
    numpy in one pass, as ``str(Timestamp)`` would."""
    import numpy as np
    import pandas as pd

    missing = values.isna()
    if isinstance(values.dtype, pd.StringDtype):
        return values.where(~missing, "").tolist()
    if values.dtype.kind == "M" and getattr(values.dtype, "tz", None) is None:
        times = values[~missing]
        if not (times.dt.microsecond.any() or times.dt.nanosecond.any()):
            stamps = np.datetime_as_string(values.to_numpy(), unit="s").astype(object)
            return [
                "" if gone else stamp.replace("T", " ", 1)
                for stamp, gone in zip(stamps, missing, strict=True)
            ]
    return [
        "" if gone else str(value)
        for value, gone in zip(values.astype(object), missing, strict=True)
    ]


def write_frame_csv(out: IO[str], frame: Any) -> None:
    """``write_csv`` of a pandas DataFrame (header: its columns), a column at a time:
    the same cells (a missing value empty, everything else ``str`` of it, formula
    starts quoted), with no call per cell, which a report of 100,000 rows and a
    dozen columns would spend seconds on."""
    columns = [[_safe(text) for text in _texts(frame[name])] for name in frame.columns]
    carriage_return = any("\r" in "".join(column) for column in columns)
    _write(out, list(frame.columns), zip(*columns, strict=True), carriage_return)
