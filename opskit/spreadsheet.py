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


def spreadsheet_safe(value: Any) -> str:
    """The cell's text, with ``'`` in front when a spreadsheet would take it for a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def write_csv(out: IO[str], header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Write a header and rows of cells as spreadsheet-safe CSV to ``out``."""
    cells = [[spreadsheet_safe(cell) for cell in row] for row in rows]
    # the csv module quotes a "\n" but not a lone "\r" when lines end in "\n": text
    # holding one is written fully quoted, so that the row stays one row
    carriage_return = any("\r" in cell for row in cells for cell in row)
    writer = csv.writer(
        out, lineterminator="\n", quoting=csv.QUOTE_ALL if carriage_return else csv.QUOTE_MINIMAL
    )
    writer.writerow([spreadsheet_safe(name) for name in header])
    writer.writerows(cells)
