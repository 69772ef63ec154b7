"""One dataset file read as text: its cells as stripped strings in the spec's column
order, and the physical line of each row, for the messages that name them.

A file without quotes is counted with numpy and parsed by pandas (fast); one with
quoted fields, which may span lines, goes through the csv module.
"""

from __future__ import annotations

import codecs
import csv
import io
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import BadInput
from .files import FileSpec


def read_csv_file(path: Path, spec: FileSpec) -> tuple[pd.DataFrame, np.ndarray]:
    """The file's cells as stripped strings (a verbatim file's as they are) in spec
    column order, and each row's line."""
    file = spec.file
    data = path.read_bytes()
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    try:
        content = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise BadInput("is not UTF-8 text; save it as CSV UTF-8", file=file, line=line) from None
    if "\x00" in content:
        line = content.count("\n", 0, content.index("\x00")) + 1
        raise BadInput("holds a NUL character; is it a CSV file?", file=file, line=line)
    if not content.strip():
        raise BadInput("is empty; it needs at least the header row", file=file, line=1)

    plain = '"' not in content and content.count("\r") == content.count("\r\n")
    if plain:
        frame, lines, padded = _read_plain(data, spec)
    else:
        frame, lines = _read_quoted(content, spec)
        padded = True
    for name in spec.names:
        if name not in frame:  # an optional column the file leaves out
            frame[name] = pd.Series([""] * len(frame), index=frame.index, dtype=object)
        frame[name] = frame[name].astype(object)
        if padded and not spec.verbatim:
            frame[name] = frame[name].str.strip()
    return frame[list(spec.names)], lines


def _check_header(header: list[str], spec: FileSpec, line: int) -> list[str]:
    header = [name.strip() for name in header]
    expected = ", ".join(spec.names)
    seen: set[str] = set()
    for name in header:
        if name in seen:
            raise BadInput(
                "this column appears twice in the header", file=spec.file, line=line, column=name
            )
        seen.add(name)
    for name in spec.names:
        if name not in seen and name not in spec.optional_names:
            raise BadInput(
                f"the header lacks this column; expected the columns {expected}",
                file=spec.file,
                line=line,
                column=name,
            )
    for name in header:
        if name not in spec.names:
            raise BadInput(
                f"unexpected column {name!r}; expected the columns {expected}",
                file=spec.file,
                line=line,
                column=name,
            )
    return header


def _ragged(spec: FileSpec, line: int, found: int, expected: int) -> BadInput:
    fields = "field" if found == 1 else "fields"
    return BadInput(
        f"has {found} {fields} where the header has {expected}", file=spec.file, line=int(line)
    )


def _may_be_padded(buf: np.ndarray) -> bool:
    """Could a field start or end with whitespace? (Then the cells get stripped.)

    Looks at the bytes next to field boundaries: what ``str.strip`` strips among ASCII
    (blanks, and the separators 0x1C-0x1F), or any non-ASCII byte (it could belong to a
    Unicode space).
    """
    boundary = (buf == ord(",")) | (buf == ord("\n")) | (buf == ord("\r"))
    suspect = (
        (buf == ord(" "))
        | (buf == ord("\t"))
        | (buf == 0x0B)
        | (buf == 0x0C)
        | ((buf >= 0x1C) & (buf <= 0x1F))
        | (buf >= 0x80)
    )
    if not len(buf):
        return False
    return bool(
        suspect[0]
        or suspect[-1]
        or (suspect[1:] & boundary[:-1]).any()
        or (suspect[:-1] & boundary[1:]).any()
    )


def _read_plain(data: bytes, spec: FileSpec) -> tuple[pd.DataFrame, np.ndarray, bool]:
    """No quotes in the file: lines and fields are counted with numpy, pandas parses."""
    buf = np.frombuffer(data, dtype=np.uint8)
    newlines = np.flatnonzero(buf == ord("\n"))
    starts = np.concatenate(([0], newlines + 1))
    ends = np.concatenate((newlines, [len(buf)]))
    lengths = ends - starts
    has_cr = np.zeros(len(starts), dtype=bool)
    nonempty = lengths > 0
    has_cr[nonempty] = buf[ends[nonempty] - 1] == ord("\r")
    blank = (lengths - has_cr) == 0
    commas = np.flatnonzero(buf == ord(","))
    fields = np.bincount(np.searchsorted(newlines, commas), minlength=len(starts)) + 1
    used = np.flatnonzero(~blank)
    head = used[0]
    header_text = data[starts[head] : ends[head]].decode("utf-8").rstrip("\r")
    header = _check_header(header_text.split(","), spec, line=int(head) + 1)
    records = used[1:]
    bad = np.flatnonzero(fields[records] != len(header))
    if len(bad):
        row = records[bad[0]]
        raise _ragged(spec, row + 1, fields[row], len(header))
    frame = pd.read_csv(
        io.BytesIO(data),
        dtype=str,
        keep_default_na=False,
        na_filter=False,
        skip_blank_lines=True,
        encoding="utf-8",
    )
    if len(frame) != len(records):  # the two readers disagree: trust the csv module
        return (*_read_quoted(data.decode("utf-8"), spec), True)
    frame.columns = header
    return _present(frame, spec), records + 1, _may_be_padded(buf)


def _read_quoted(content: str, spec: FileSpec) -> tuple[pd.DataFrame, np.ndarray]:
    """Quoted fields may span lines: the csv module reads, tracking physical lines."""
    reader = csv.reader(io.StringIO(content, newline=""), strict=True)
    rows: list[list[str]] = []
    lines: list[int] = []
    last = 0
    # a cell may be as long as the file (a run's stored plan), not the module's 128 KiB
    limit = csv.field_size_limit(max(csv.field_size_limit(), len(content) + 1))
    try:
        for row in reader:
            start, last = last + 1, reader.line_num
            if row:  # a blank line is no record
                rows.append(row)
                lines.append(start)
    except csv.Error as error:
        raise BadInput(f"is not valid CSV ({error})", file=spec.file, line=last + 1) from None
    finally:
        csv.field_size_limit(limit)
    header = _check_header(rows[0], spec, line=lines[0])
    for row, line in zip(rows[1:], lines[1:], strict=True):
        if len(row) != len(header):
            raise _ragged(spec, line, len(row), len(header))
    frame = pd.DataFrame(rows[1:], columns=header, dtype=object)
    return _present(frame, spec), np.asarray(lines[1:], dtype=np.int64)


def _present(frame: pd.DataFrame, spec: FileSpec) -> pd.DataFrame:
    """The file's columns in the spec's order; an optional column the file leaves out is
    filled with its default when it has one, and otherwise left out."""
    for col in spec.columns:
        if col.name not in frame.columns and col.default is not None:
            frame[col.name] = col.default
    return frame[[name for name in spec.names if name in frame.columns]].copy()
