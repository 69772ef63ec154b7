"""Who to offboard, as analysts hand it over: a spreadsheet export, pasted emails, a selection.

A spreadsheet's "Save as CSV" varies: UTF-8 with or without a BOM, CRLF or LF, ``,``
or ``;`` (sniffed from the header), quoted fields, blank lines, stray spaces, mixed-case
headers and emails, duplicate rows and extra columns. All of that is accepted; what
cannot be used (no ``email`` column, not UTF-8 text, an unknown action) is ``BadInput``
naming the file, the line and the column, and nothing is planned.

The result is a list of ``Target`` (one per input row, in input order). Matching them
to users, groups and memberships is the plan's job (``opskit.offboard.planner``).
"""

from __future__ import annotations

import csv
import io
import math
import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import BadInput

ACTIONS = ("deactivate", "read_only")

# header (normalised) -> field; for the group, an id wins over a name when both are given
_HEADER_ALIASES = {
    "email": "email",
    "e_mail": "email",
    "email_address": "email",
    "e_mail_address": "email",
    "group_id": "group_id",
    "group": "group",
    "group_name": "group",
    "practice_group": "group",
    "action": "action",
    "reason": "reason",
    "handoff": "handoff",
    "hand_off": "handoff",
}
_DELIMITERS = (",", ";", "\t")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")


@dataclass(frozen=True, slots=True)
class Target:
    """One input row: who, optionally where and how, and the line it came from."""

    line: int
    email: str
    group: str | None = None
    action: str | None = None
    reason: str | None = None
    handoff: str | None = None  # auto, cancel or a successor's email (opskit.handoff)


def _header_key(cell: str) -> str:
    text = cell.replace("\ufeff", "").strip().lower()
    return re.sub(r"[^a-z0-9]+", "_", text).strip("_")


def normalise_action(
    value: Any, *, file: str | None, line: int | None, column: str | None = "action"
) -> str | None:
    """``deactivate`` | ``read_only`` (``read-only``, ``Read only`` too), or None when empty."""
    text = _text(value, file=file, line=line, column=column)
    if not text:
        return None
    action = re.sub(r"[\s\-]+", "_", text.lower())
    if action not in ACTIONS:
        raise BadInput(
            f"{text!r} is not an action (deactivate or read_only)",
            file=file,
            line=line,
            column=column,
        )
    return action


def _text(value: Any, *, file: str | None, line: int | None, column: str | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if not isinstance(value, str):
        raise BadInput(
            f"expected text, got {type(value).__name__} {value!r}",
            file=file,
            line=line,
            column=column,
        )
    return value.replace("\ufeff", "").strip()


def _email(value: Any, *, file: str, line: int, column: str = "email") -> str:
    email = _text(value, file=file, line=line, column=column)
    if not email:
        raise BadInput("the email is empty", file=file, line=line, column=column)
    if not _EMAIL.fullmatch(email):
        raise BadInput(f"{email!r} is not an email address", file=file, line=line, column=column)
    return email


def _decode(data: bytes, name: str) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise BadInput(
            "is UTF-16 text; save it as 'CSV UTF-8' instead", file=name, line=1, column=None
        )
    if b"\x00" in data:
        line = data[: data.index(b"\x00")].count(b"\n") + 1
        raise BadInput("is not a text file (it holds NUL bytes)", file=name, line=line)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise BadInput("is not UTF-8 text; save it as 'CSV UTF-8'", file=name, line=line) from None


def _sniff_delimiter(header_line: str) -> str:
    """The delimiter that makes the header hold an ``email`` column (else the widest split)."""
    best, best_cells, with_email = ",", 0, []
    for delimiter in _DELIMITERS:
        cells = next(csv.reader([header_line], delimiter=delimiter, skipinitialspace=True), [])
        if any(_HEADER_ALIASES.get(_header_key(c)) == "email" for c in cells):
            with_email.append((len(cells), delimiter))
        if len(cells) > best_cells:
            best, best_cells = delimiter, len(cells)
    if with_email:
        return max(with_email, key=lambda pair: pair[0])[1]
    return best


def _columns(header: list[str], *, file: str, line: int) -> dict[str, int]:
    """Which cell holds which field; a field named twice is ambiguous and refused."""
    found: dict[str, int] = {}
    for index, cell in enumerate(header):
        field = _HEADER_ALIASES.get(_header_key(cell))
        if field is None:
            continue  # extra columns are the spreadsheet's business
        if field in found:
            raise BadInput(
                f"the header names {field!r} twice", file=file, line=line, column=cell.strip()
            )
        found[field] = index
    if "email" not in found:
        shown = ", ".join(repr(c.strip()) for c in header if c.strip()) or "nothing"
        raise BadInput(
            f"no 'email' column in the header (found {shown})",
            file=file,
            line=line,
            column="email",
        )
    return found


def _target(fields: Mapping[str, Any], *, file: str, line: int) -> Target:
    group = _group(fields.get("group_id"), fields.get("group"), file=file, line=line)
    return Target(
        line=line,
        email=_email(fields.get("email"), file=file, line=line),
        group=group,
        action=normalise_action(fields.get("action"), file=file, line=line),
        reason=_reason(fields.get("reason"), file=file, line=line),
        handoff=_handoff(fields.get("handoff"), file=file, line=line),
    )


def _group(group_id: Any, group: Any, *, file: str, line: int) -> str | None:
    """The group a row names: its id when given, else its name."""
    return (
        _text(group_id, file=file, line=line, column="group_id")
        or _text(group, file=file, line=line, column="group")
        or None
    )


def _reason(value: Any, *, file: str, line: int) -> str | None:
    return _text(value, file=file, line=line, column="reason") or None


def _handoff(value: Any, *, file: str, line: int) -> str | None:
    if value is None:  # a file without a handoff column (most) skips the hand-off's parsing
        return None
    from ..handoff import normalise_handoff

    text = _text(value, file=file, line=line, column="handoff")
    return normalise_handoff(text, file=file, line=line, column="handoff")


def parse_csv(text: str, *, name: str = "input") -> list[Target]:
    """Targets from CSV text (see the module docstring for what is tolerated)."""
    text = text.lstrip("\ufeff")
    lines = text.splitlines()
    header_at = next((i for i, line in enumerate(lines) if line.strip(" \t,;")), None)
    if header_at is None:
        raise BadInput("is empty: expected a header with an 'email' column", file=name, line=1)
    delimiter = _sniff_delimiter(lines[header_at])
    reader = csv.reader(
        io.StringIO(text, newline=""), delimiter=delimiter, skipinitialspace=True, strict=True
    )
    numbers: list[int] = []  # each record's line
    records: list[list[str]] = []
    columns: dict[str, int] | None = None
    malformed: BadInput | None = None
    last_line = 0
    try:
        for record in reader:
            # a quoted field may span lines: a record starts after the previous one ended
            line, last_line = last_line + 1, reader.line_num
            if not "".join(record).strip():
                continue  # blank lines and ';;;' rows
            if columns is None:
                columns = _columns(record, file=name, line=line)
                continue
            numbers.append(line)
            records.append(record)
    except csv.Error as error:
        malformed = BadInput(f"malformed CSV: {error}", file=name, line=reader.line_num)
    if malformed is not None:
        if columns is not None:  # a bad row before the malformed one is the first error
            _check_rows(columns, numbers, records, name=name)
        raise malformed
    if columns is None:
        raise BadInput("is empty: expected a header with an 'email' column", file=name, line=1)

    def column(index: int) -> list[str | None]:
        if all(len(record) > index for record in records):
            return list(map(operator.itemgetter(index), records))
        return [record[index] if index < len(record) else None for record in records]

    try:
        return _by_column({f: column(i) for f, i in columns.items()}, numbers, name=name)
    except BadInput:
        _check_rows(columns, numbers, records, name=name)
        raise


def _check_rows(
    columns: Mapping[str, int], lines: Sequence[int], records: Sequence[list[str]], *, name: str
) -> None:
    """Each record through ``_target`` in turn: raises the first bad row's ``BadInput``,
    naming its line and column."""
    for line, record in zip(lines, records, strict=True):
        cells = {
            field: record[index] if index < len(record) else None
            for field, index in columns.items()
        }
        _target(cells, file=name, line=line)


def read_csv(path: str | Path) -> list[Target]:
    """Targets from a CSV file; the file name is what errors point at."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise BadInput("no such file", file=str(path)) from None
    except IsADirectoryError:
        raise BadInput("is a folder, not a CSV file", file=str(path)) from None
    except OSError as error:
        raise BadInput(f"cannot read it: {error.strerror}", file=str(path)) from None
    return parse_csv(_decode(data, str(path)), name=str(path))


def read_bytes(data: bytes, *, name: str = "upload") -> list[Target]:
    """Targets from the bytes of an uploaded file."""
    return parse_csv(_decode(data, name), name=name)


def from_records(records: Iterable[Mapping[str, Any]], *, name: str = "selection") -> list[Target]:
    """Targets from dicts: a selection from the user table, a report's rows, hand-made rows.

    Keys are matched like CSV headers (``email``, ``group_id`` or ``group``, ``action``,
    ``reason``); the n-th record is "line n" in errors.
    """
    targets = []
    for line, record in enumerate(records, start=1):
        fields: dict[str, Any] = {}
        for key, value in record.items():
            field = _HEADER_ALIASES.get(_header_key(str(key)))
            if field is not None and field not in fields:
                fields[field] = value
        if "email" not in fields:
            raise BadInput("has no 'email'", file=name, line=line, column="email")
        targets.append(_target(fields, file=name, line=line))
    return targets


def from_frame(frame: Any, *, name: str = "selection") -> list[Target]:
    """Targets from a pandas DataFrame, exactly as ``from_records`` makes them from its
    rows, but a column at a time: each distinct value goes through the same checks once
    (a dict a row, and every check a row, cost seconds over a report's 100,000
    candidates). A bad value is reported as ``from_records`` reports it: the first bad
    row, then column."""
    fields: dict[str, Any] = {}
    for key in frame.columns:
        field = _HEADER_ALIASES.get(_header_key(str(key)))
        if field is not None and field not in fields:
            fields[field] = key
    if "email" not in fields or not frame.columns.is_unique:
        return from_records(frame.to_dict("records"), name=name)  # says what is wrong

    size = len(frame)
    values = {f: frame[key].tolist() for f, key in fields.items()}
    try:
        return _by_column(values, range(1, size + 1), name=name)
    except BadInput:
        return from_records(frame.to_dict("records"), name=name)  # names the first bad row


def _by_column(values: Mapping[str, list[Any]], lines: Sequence[int], *, name: str) -> list[Target]:
    """Targets from their fields' columns (``values``: field -> a value per row, a
    field left out is None throughout), exactly as ``_target`` makes them a row at a
    time, but a column at a time: each distinct value goes through the same checks
    once (a dict a row, and every check a row, cost seconds over 100,000 rows). A bad
    value raises ``BadInput`` without its line: the caller goes through the rows to
    name the first bad one, as ``_target`` would have."""
    size = len(lines)

    def column(field: str) -> list[Any]:
        return values[field] if field in values else [None] * size

    emails = _emails(column("email"), name=name)
    groups = _each(
        zip(column("group_id"), column("group"), strict=True),
        lambda pair: _group(*pair, file=name, line=0),
    )
    actions = _each(column("action"), lambda value: normalise_action(value, file=name, line=0))
    reasons = _each(column("reason"), lambda value: _reason(value, file=name, line=0))
    handoffs = _each(column("handoff"), lambda value: _handoff(value, file=name, line=0))
    return list(map(Target, lines, emails, groups, actions, reasons, handoffs))


# one email a line, each as _EMAIL takes it: no whitespace, so a line holds one value
_EMAIL_LINES = re.compile(f"(?:{_EMAIL.pattern}\n)*")


def _emails(values: list[Any], *, name: str) -> list[str]:
    """Each value through ``_email``. Emails are distinct, so ``_each`` saves nothing;
    instead a column of text that ``_email`` would return unchanged (no BOM, nothing
    to strip: ``_EMAIL`` allows no whitespace) is checked by one match over its lines."""
    if set(map(type, values)) == {str}:
        text = "\n".join(values)
        if (
            "\ufeff" not in text
            and text.count("\n") == len(values) - 1  # no value holds a line break
            and _EMAIL_LINES.fullmatch(text + "\n")
        ):
            return values
    return _each(values, lambda value: _email(value, file=name, line=0))


def _each(values: Iterable[Any], check: Callable[[Any], Any]) -> list[Any]:
    """``check`` of every value, called once for each distinct value."""
    values = list(values)
    try:
        distinct = dict.fromkeys(values)
    except TypeError:  # an unhashable value (a list): checked one by one
        return [check(value) for value in values]
    checked = {value: check(value) for value in distinct}
    return list(map(checked.__getitem__, values))


def parse_pasted(text: str, *, name: str = "pasted") -> list[Target]:
    """Emails pasted into a box: one per line, or separated by commas, semicolons or spaces.

    Text whose first line is a header with an ``email`` column is read as CSV instead.
    """
    first = next((line for line in text.splitlines() if line.strip()), "")
    cells = re.split(r"[,;\t]", first)
    if any(_HEADER_ALIASES.get(_header_key(c)) == "email" for c in cells):
        return parse_csv(text, name=name)
    targets = []
    for line, content in enumerate(text.splitlines(), start=1):
        for word in re.split(r"[\s,;]+", content.replace("\ufeff", "")):
            word = word.strip().strip("\"'<>")
            if word:
                targets.append(Target(line=line, email=_email(word, file=name, line=line)))
    return targets


def read_targets(source: Any, *, name: str | None = None) -> tuple[list[Target], str]:
    """Targets and a name for the source, from any input the plan accepts.

    ``source`` is a path (``str`` or ``Path``), ``bytes`` of an uploaded file, a pandas
    DataFrame, or an iterable of dicts or ``Target``.
    """
    if isinstance(source, (str, Path)):
        return read_csv(source), name or str(source)
    if isinstance(source, (bytes, bytearray)):
        label = name or "upload"
        return read_bytes(bytes(source), name=label), label
    if hasattr(source, "to_dict") and hasattr(source, "columns"):  # a pandas DataFrame
        label = name or "selection"
        return from_frame(source, name=label), label
    records = list(source)
    label = name or "selection"
    if all(isinstance(r, Target) for r in records):
        return records, label
    for line, record in enumerate(records, start=1):
        if not isinstance(record, Mapping):
            raise BadInput(
                f"expected a dict per row, got {type(record).__name__}", file=label, line=line
            )
    return from_records(records, name=label), label
