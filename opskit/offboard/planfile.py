"""Plan files and a run's stored plan: writing them, and reading them fast.

``from_json`` reads hand-edited plan files of any shape and says what is wrong; ``load``
reads what ``save`` wrote faster. A run keeps its plan in ``offboard_run_plans`` as
``to_stored`` writes it: the same document with each row an array in ``PLAN_COLUMNS``
order, a thousand rows a line.

The plan file
-------------
JSON, one plan row per line so that a reviewer can read it, diff it and delete rows
before applying::

    {"opskit_plan": 1, "actor": "analyst@opskit.demo", "actor_id": "u-1",
     "created_at": "2026-07-01T09:00:00Z", "source": "leavers.csv",
     "options": {"group": null, "action": "deactivate", "reason": null},
     "summary": {"rows": 5, "to_apply": 3, "blocked": 2, "members": 3, "groups": 2},
     "rows": [
      {"row": 1, "line": 2, "group_id": "g-1", "group": "Harbour", "email": "a@x.test",
       "name": "A", "access_level": "clinical", "action": "deactivate", "reason": null,
       "blocker": null, "message": null, "checklist": ["online_booking"], "sessions": 2,
       "future_appointments": 1, "user_id": "u-7", "fingerprint": "9f2c..."},
      ...
     ]}

``blocker`` is one of ``BLOCKERS`` and ``message`` says why in words. ``checklist`` lists
the items ``--resolve-checklist`` would resolve; ``sessions`` is how many open sessions
deactivation revokes (read-only keeps them). ``fingerprint`` hashes the member's status,
access level, read-only flag, ownership, open-session count and which checklist items are
pending; apply refuses a row whose fingerprint changed as ``stale``. Future appointments
are shown but not fingerprinted: they are advisory, and the clock alone changes them.
"""

from __future__ import annotations

import codecs
import io
import json
import operator
import sys
import typing
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any, BinaryIO

import msgspec
from sqlalchemy import Connection, select

from .. import schema as s
from ..errors import BadInput
from .input import ACTIONS
from .plan import BLOCKERS, PLAN_COLUMNS, Plan, PlanRow, shared, shared_items

_COMPACT = json.JSONEncoder(separators=(",", ":"))
_ENCODER = msgspec.json.Encoder()

_ROW_FIELDS = {f.name for f in fields(PlanRow)}
_ROW_DECODER = msgspec.json.Decoder(PlanRow)  # strict: exactly the types save writes
# a line of a run's stored plan: rows as arrays of PlanRow's types in PLAN_COLUMNS order
_STORED_LINE = msgspec.json.Decoder(
    # the row type is built from PlanRow at run time, which a static checker cannot follow
    list[tuple[tuple(typing.get_type_hints(PlanRow)[name] for name in PLAN_COLUMNS)]]  # type: ignore[misc]
)
# a row in PLAN_COLUMNS order -> its values in PlanRow's order
_AS_FIELDS = operator.itemgetter(*(PLAN_COLUMNS.index(f.name) for f in fields(PlanRow)))


def iter_json(plan: Plan) -> Iterator[str]:
    """The plan file in pieces: the header, then one row per line, each line the text
    ``json.dumps(row.to_dict())`` gives (ASCII, non-ASCII escaped: a large plan's text
    then takes one byte a character), 10,000 lines a piece."""
    head = json.dumps(plan.header())
    yield head[:-1] + ',\n "rows": ['
    for start in range(0, len(plan.rows), _LINES):
        lines = _row_lines(plan.rows[start : start + _LINES])
        yield ("\n  " if start == 0 else ",\n  ") + ",\n  ".join(lines)
    yield "\n ]}\n"


_LINES = 10_000
# a row's line: its values, each already JSON text, in PLAN_COLUMNS order
_ROW_LINE = "{" + ", ".join(f"{json.dumps(c)}: %s" for c in PLAN_COLUMNS) + "}"


def _row_lines(rows: Sequence[PlanRow]) -> list[str]:
    """The rows' lines, built a column at a time: the JSON module's escaping of each
    string (one C call a cell), its text of every other value, joined by one format
    string a row. Encoding a dict a row took a fifth of planning 100,000 rows."""
    columns = [_json_cells(list(map(get, rows))) for get in _COLUMN_GETTERS]
    return list(map(_ROW_LINE.__mod__, zip(*columns, strict=True)))


_COLUMN_GETTERS = [operator.attrgetter(name) for name in PLAN_COLUMNS]


def _json_cells(values: Sequence[Any]) -> list[str]:
    """Each value as ``json.dumps`` writes it (ASCII)."""
    kinds = set(map(type, values))
    # a column of one type (most are) goes through one C-level map
    if kinds == {str}:
        return list(map(_ESCAPE, values))
    if kinds == {int}:
        return list(map(str, values))
    if kinds == {type(None)}:
        return ["null"] * len(values)
    if kinds <= {str, type(None)}:
        return [_ESCAPE(v) if v is not None else "null" for v in values]
    if kinds <= {int, type(None)}:
        return [str(v) if v is not None else "null" for v in values]
    if kinds == {tuple}:  # checklists (few distinct) and hand-off moves (mostly none)
        seen: dict[int, str] = {}
        cells = []
        for value in values:
            cell = seen.get(id(value))
            if cell is None:
                cell = seen[id(value)] = json.dumps(value) if value else "[]"
            cells.append(cell)
        return cells
    return [json.dumps(v) for v in values]


_ESCAPE = json.encoder.encode_basestring_ascii


def to_stored(plan: Plan) -> str:
    """The plan as a run keeps it: the same JSON document, each row an array in
    ``columns`` order rather than an object, which halves a large plan.
    A line holds an array of up to 1,000 such rows (one encoder call each), encoded
    by msgspec (4x the JSON module) unless it holds a non-ASCII character: those
    lines are escaped, as the JSON module does, so that the text stays ASCII and a
    large plan's text takes one byte a character."""
    out = io.StringIO()
    head = json.dumps({**plan.header(), "columns": PLAN_COLUMNS})
    out.write(head[:-1] + ', "rows": [\n')
    values = operator.attrgetter(*PLAN_COLUMNS)  # a tuple; checklist, a tuple, is a list
    for start in range(0, len(plan.rows), 1000):
        if start:
            out.write(",\n")
        line = list(map(values, plan.rows[start : start + 1000]))
        try:
            encoded = _ENCODER.encode(line)
        except (msgspec.EncodeError, UnicodeEncodeError):  # a lone surrogate, say
            encoded = None
        if encoded is not None and encoded.isascii():
            out.write(encoded.decode("ascii"))
        else:
            out.write(_COMPACT.encode(line))
    out.write("\n]}\n" if plan.rows else "]}\n")
    return out.getvalue()


def from_stored(text: str, *, name: str = "run") -> Plan:
    """Read what ``to_stored`` wrote, a line at a time (a million rows never exist as
    a million parsed lists at once). A line is an array of rows."""
    lines = _lines_of(text)
    header = json.loads(next(lines).rstrip().removesuffix('"rows": [') + '"rows": []}')
    columns = header["columns"]
    rows: list[PlanRow] = []
    typed = columns == PLAN_COLUMNS
    for line in lines:
        line = line.rstrip().rstrip(",")
        if not line.startswith("["):
            continue
        if typed:
            # as to_stored writes it: each row an array of exactly PlanRow's types,
            # decoded by msgspec (4x faster than a dict a row through the hook)
            try:
                decoded = _STORED_LINE.decode(line)
            except msgspec.DecodeError:
                pass  # read as below, which names a damaged plan
            else:
                rows.extend(shared(PlanRow(*_AS_FIELDS(values))) for values in decoded)
                continue
        try:
            parsed = json.loads(line)
            for values in parsed:
                row = _plan_row_hook(dict(zip(columns, values, strict=True)))
                if not isinstance(row, PlanRow):
                    raise ValueError("not a plan row")
                rows.append(row)
        except (ValueError, TypeError):  # JSON errors are ValueErrors too
            raise BadInput("the run's stored plan is damaged", file=name) from None
    return _from_header(header, rows, name)


def _from_header(header: Mapping[str, Any], rows: list[PlanRow], name: str) -> Plan:
    return Plan(
        actor=str(header["actor"]),
        actor_id=str(header.get("actor_id") or ""),
        created_at=str(header.get("created_at") or ""),
        source=str(header.get("source") or name),
        options=dict(header.get("options") or {}),
        rows=rows,
    )


def save(plan: Plan, path: str | Path) -> Path:
    path = Path(path)
    try:
        with path.open("w", encoding="utf-8") as out:
            for piece in plan.iter_json():
                out.write(piece)
    except OSError as error:
        raise BadInput(f"cannot write the plan: {error.strerror}", file=str(path)) from None
    return path


def from_json(text: str, *, name: str = "plan") -> Plan:
    """Read a plan file's text (hand-edited ones too), checking what apply relies on."""
    try:
        document = json.loads(text, object_hook=_plan_row_hook)
    except json.JSONDecodeError as error:
        raise BadInput(
            f"not a plan file (invalid JSON: {error.msg})", file=name, line=error.lineno
        ) from None
    if not isinstance(document, dict) or "rows" not in document or "actor" not in document:
        raise BadInput("not a plan file (needs 'actor' and 'rows')", file=name)
    rows = document["rows"]
    if not isinstance(rows, list):
        raise BadInput("'rows' must be a list", file=name, column="rows")
    _check_rows(rows, name)
    return _from_header(document, rows, name)


def load(path: str | Path) -> Plan:
    path = Path(path)
    try:
        with path.open("rb") as lines:
            plan = _read_as_saved(lines, name=str(path))
        if plan is not None:
            return plan
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise BadInput("no such plan file", file=str(path)) from None
    except UnicodeDecodeError:
        raise BadInput("not a plan file (not UTF-8 text)", file=str(path)) from None
    except OSError as error:
        raise BadInput(f"cannot read it: {error.strerror}", file=str(path)) from None
    return from_json(text, name=str(path))


def _read_as_saved(lines: BinaryIO, *, name: str) -> Plan | None:
    """A plan file in the shape ``save`` writes (the header, then a row a line), read
    a line at a time: msgspec decodes each row straight into a ``PlanRow``, with no
    dict in between and never the whole text in memory (3x faster than the JSON
    module with a hook, and a million-row plan's 400 MB of text is never held).
    None for a file of any other shape, or with a row not of exactly the written
    types: ``from_json`` reads those, lenient where it can be, and says what is wrong."""
    first = lines.readline().removeprefix(codecs.BOM_UTF8).rstrip()
    if not first.endswith(b",") or lines.readline().strip() != b'"rows": [':
        return None
    try:
        header = json.loads(first[:-1] + b"}")
    except ValueError:
        return None
    if not isinstance(header, dict) or "actor" not in header or "rows" in header:
        return None
    decode = _ROW_DECODER.decode
    rows = []
    try:
        for line in lines:
            line = line.strip()
            if line == b"]}":
                break
            rows.append(shared(decode(line.removesuffix(b","))))
        else:
            return None  # the closing line is missing
    except msgspec.DecodeError:
        return None
    if any(line.strip() for line in lines):
        return None
    _check_rows(rows, name)
    return _from_header(header, rows, name)


MAX_ROW_NUMBER = 2**31 - 1  # the ledger's row_no is a 32-bit integer on PostgreSQL


def _check_rows(rows: list, name: str) -> None:
    """What apply relies on in a plan's rows, whichever way they were read."""
    seen: set[int] = set()
    for index, row in enumerate(rows):
        where = f"rows[{index}]"
        if not isinstance(row, PlanRow):
            raise BadInput(
                "not a plan row (a row needs at least row, email and action)",
                file=name,
                column=where,
            )
        if row.action not in ACTIONS:
            raise BadInput(
                f"{row.action!r} is not an action (deactivate or read_only)",
                file=name,
                column=f"{where}.action",
            )
        if row.blocker is not None and row.blocker not in BLOCKERS:
            raise BadInput(
                f"{row.blocker!r} is not a blocker ({', '.join(BLOCKERS)})",
                file=name,
                column=f"{where}.blocker",
            )
        if row.blocker is None and (not row.group_id or not row.fingerprint):
            raise BadInput(
                "a row to apply needs group_id and fingerprint",
                file=name,
                column=where,
            )
        if not 0 <= row.row <= MAX_ROW_NUMBER:
            raise BadInput(
                f"row number {row.row} is out of range (0 to {MAX_ROW_NUMBER})",
                file=name,
                column=f"{where}.row",
            )
        if row.row in seen:
            raise BadInput(f"row number {row.row} appears twice", file=name, column=where)
        seen.add(row.row)


def _lines_of(text: str) -> Iterator[str]:
    """The lines of ``text``, one at a time. (``io.StringIO(text)`` would copy the text
    into a buffer of 4 bytes a character: 760 MB for the stored plan of a million rows.)"""
    start = 0
    while start < len(text):
        end = text.find("\n", start)
        end = len(text) if end < 0 else end
        yield text[start:end]
        start = end + 1


_INTERNED = {"group_id", "group", "action", "blocker", "access_level"}


def _plan_row_hook(record: dict[str, Any]) -> Any:
    """Turn each row object into a compact ``PlanRow`` as the JSON is parsed, so that a
    plan of a million rows never exists as a million dicts."""
    if not {"row", "email", "action"} <= record.keys() or "rows" in record:
        return record
    try:
        if record.keys() <= _ROW_FIELDS and _plain_row(record):
            # as plan files are written: only the fields, of the right types
            for key in _INTERNED:
                value = record.get(key)
                if value is not None:
                    record[key] = sys.intern(value)
            record["checklist"] = shared_items(tuple(record.get("checklist") or ()))
            return PlanRow(**record)
        values = {k: v for k, v in record.items() if k in _ROW_FIELDS}
        for key in _INTERNED & values.keys():
            if isinstance(values[key], str):
                values[key] = sys.intern(values[key])
        values["checklist"] = shared_items(tuple(str(i) for i in values.get("checklist") or ()))
        if isinstance(values["row"], float) and not values["row"].is_integer():
            return record  # a row number is a whole number
        values["row"] = int(values["row"])
        values["sessions"] = int(values.get("sessions") or 0)
        values["future_appointments"] = int(values.get("future_appointments") or 0)
        return PlanRow(**values)
    except (TypeError, ValueError, OverflowError):
        return record  # reported by from_json as "not a plan row"


def _plain_row(record: dict[str, Any]) -> bool:
    return (
        type(record["row"]) is int
        and type(record.get("sessions", 0)) is int
        and type(record.get("future_appointments", 0)) is int
        and all(type(record.get(key, "")) in (str, type(None)) for key in _INTERNED)
        and type(record.get("checklist") or []) is list
    )


def stored_plan(conn: Connection, run_id: str) -> str:
    return conn.execute(
        select(s.offboard_run_plans.c.plan).where(s.offboard_run_plans.c.run_id == run_id)
    ).scalar_one()
