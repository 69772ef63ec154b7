"""CSV written for people opens in a spreadsheet: no cell may run there as a formula.

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is
prefixed with ``'`` (docs/rules.md, CSV written for people), which spreadsheets show as
text. Every CSV opskit writes for people goes through ``write_csv``; the dataset folder
does not (it keeps values verbatim, for ``opskit load``).
"""

from __future__ import annotations

import csv
import re
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
    """``str`` of every value of a pandas Series, ``""`` for a missing one, with no
    Python call per value where the column's type allows: text is taken as it is, whole
    numbers go through ``map(str, ...)``, booleans are two shared texts, and naive
    times to the second (what reports hold) are formatted by numpy in one pass, as
    ``str(Timestamp)`` would."""
    import numpy as np
    import pandas as pd

    # numpy's own types (not pandas' nullable ones, of the same kinds): never missing
    kind = values.dtype.kind if isinstance(values.dtype, np.dtype) else ""
    if kind == "b":
        return np.array(["False", "True"], dtype=object)[values.to_numpy(np.intp)].tolist()
    if kind and kind in "iu":
        return list(map(str, values.to_numpy().tolist()))
    missing = values.isna()
    if isinstance(values.dtype, pd.StringDtype):
        return values.where(~missing, "").tolist()
    gone = missing.to_numpy()
    if kind == "O" and pd.api.types.infer_dtype(values, skipna=True) == "string":
        texts = values.to_numpy(dtype=object, copy=True)
        texts[gone] = ""
        return texts.tolist()
    if kind == "M" and getattr(values.dtype, "tz", None) is None:
        times = values[~missing]
        if not (times.dt.microsecond.any() or times.dt.nanosecond.any()):
            stamps = np.datetime_as_string(values.to_numpy(), unit="s")
            if stamps.dtype == np.dtype("<U19"):  # YYYY-MM-DDTHH:MM:SS (or NaT)
                chars = stamps.view(np.uint32).reshape(len(stamps), 19)
                chars[~gone, 10] = ord(" ")
                texts = stamps.astype(object)
                texts[gone] = ""
                return texts.tolist()
            return [
                "" if out else stamp.replace("T", " ", 1)
                for stamp, out in zip(stamps.astype(object), gone, strict=True)
            ]
    return [
        "" if out else str(value) for value, out in zip(values.astype(object), gone, strict=True)
    ]


# a formula start at the beginning of a text in a column joined by NUL: the NUL prefix
# lets the search skip along by memchr instead of testing every position
_RISKY_AFTER_NUL = re.compile("\0[" + re.escape("".join(FORMULA_STARTS)) + "]")


def _needs_quotes(text: str) -> bool:
    """Whether the csv module quotes this field when lines end in "\\n" (a lone "\\r"
    does not make it): three searches for one character each, memchr scans."""
    return "," in text or '"' in text or "\n" in text


def _safe_column(texts: list[str]) -> tuple[list[str], bool, bool]:
    """``_safe`` of every text of a column; whether one holds a carriage return; and
    whether one needs quotes in CSV.

    The column is searched as one string joined by NUL, which finds every text starting
    with a formula start (and perhaps a text merely holding NUL and one): only then is
    each text looked at."""
    joined = "\0".join(texts)
    if joined[:1] in _RISKY or _RISKY_AFTER_NUL.search(joined):
        texts = [_safe(text) for text in texts]
        joined = "\0".join(texts)
    return texts, "\r" in joined, _needs_quotes(joined)


def _quoted(texts: list[str]) -> list[str]:
    """The column's texts as the csv module writes them (quotes doubled, the text
    quoted) where it would quote them, with ``QUOTE_MINIMAL`` and lines ending in "\n"."""
    return ['"' + text.replace('"', '""') + '"' if _needs_quotes(text) else text for text in texts]


def write_frame_csv(out: IO[str], frame: Any) -> None:
    """``write_csv`` of a pandas DataFrame (header: its columns), a column at a time:
    the same cells (a missing value empty, everything else ``str`` of it, formula
    starts quoted), with no call per cell, which a report of 100,000 rows and a
    dozen columns would spend seconds on. The lines are joined here rather than by
    the csv module, quoting only the texts of the columns that need it: a third of the
    time for the same bytes (a test holds the two to the same output)."""
    columns = []
    carriage_return = False
    quoting = []
    for name in frame.columns:
        texts, has_return, has_quotes = _safe_column(_texts(frame[name]))
        columns.append(texts)
        quoting.append(has_quotes)
        carriage_return = carriage_return or has_return
    if carriage_return or len(columns) < 2:
        # every cell quoted (see _write); and a row of one empty cell is written ""
        _write(out, list(frame.columns), zip(*columns, strict=True), carriage_return)
        return
    _write(out, list(frame.columns), (), False)
    if not len(frame):
        return
    columns = [
        _quoted(texts) if quote else texts for texts, quote in zip(columns, quoting, strict=True)
    ]
    out.write("\n".join(map(",".join, zip(*columns, strict=True))))
    out.write("\n")
