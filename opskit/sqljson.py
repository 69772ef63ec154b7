"""JSON built by the database, for writes that never pass through Python.

Set-based writes (snapshots and audit events for thousands of members in one
``INSERT ... SELECT``) need the database to assemble the JSON text. SQLite and
PostgreSQL spell that differently, so this is an explicit dialect switch, and the
one place that has it: SQLite's ``json_object`` / ``json_group_array`` /
``json_group_object`` against PostgreSQL's ``jsonb_build_object`` / ``jsonb_agg`` /
``jsonb_object_agg``. Both write JSON that ``json.loads`` reads back to the same
Python value; the spacing and key order of the text differ (readers parse it).

Keys are fixed names written as SQL literals (never user data), so PostgreSQL has
no untyped parameter to guess a type for.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Text,
    bindparam,
    cast,
    func,
    literal_column,
    select,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import JSONB, aggregate_order_by
from sqlalchemy.types import TypeEngine


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class SqlJson:
    """JSON expressions for one dialect (``sqlite`` or ``postgresql``)."""

    def __init__(self, dialect: str) -> None:
        if dialect not in ("sqlite", "postgresql"):
            raise ValueError(f"no JSON functions for the {dialect} dialect")
        self.pg = dialect == "postgresql"

    def key(self, name: str) -> ColumnElement:
        return literal_column(_quoted(name))

    def obj(self, **pairs: Any) -> ColumnElement:
        """``{"name": value, ...}`` from fixed names and SQL values."""
        args: list[Any] = []
        for name, value in pairs.items():
            args += [self.key(name), value]
        return (func.jsonb_build_object if self.pg else func.json_object)(*args)

    def const(self, value: Any) -> ColumnElement:
        """A JSON value known in advance (``True`` becomes JSON ``true``, not 1)."""
        text: ColumnElement[Any] = literal_column(_quoted(json.dumps(value, sort_keys=True)))
        return cast(text, JSONB) if self.pg else func.json(text)

    def agg(self, value: ColumnElement, *order_by: ColumnElement) -> ColumnElement:
        """A JSON array of ``value`` over the group's rows (ordered on PostgreSQL;
        SQLite before 3.44 has no ORDER BY in an aggregate and keeps scan order)."""
        if self.pg:
            return func.jsonb_agg(aggregate_order_by(value, *order_by) if order_by else value)
        return func.json_group_array(value)

    def obj_agg(self, key: ColumnElement, value: ColumnElement) -> ColumnElement:
        """A JSON object of ``key: value`` over the group's rows."""
        return (func.jsonb_object_agg if self.pg else func.json_group_object)(key, value)

    def text(self, value: ColumnElement) -> ColumnElement:
        """The JSON as text, for a Text column."""
        return cast(value, Text) if self.pg else value

    def rows(self, data: Sequence[Sequence[Any]], columns: Sequence[tuple[str, TypeEngine]]):
        """``data`` (rows of ints, strings and None) as a SELECT with ``columns``, sent
        as one JSON parameter: an ``INSERT ... SELECT`` from it writes many rows without
        a Python round of parameter handling per row."""
        payload = bindparam(None, json.dumps(data, separators=(",", ":")), type_=Text)
        values = []
        if self.pg:
            each = func.jsonb_array_elements(cast(payload, JSONB)).table_valued("value")
            for i, (name, type_) in enumerate(columns):
                text = each.c.value.op("->>")(literal_column(str(i)))
                values.append(cast(text, type_).label(name))
        else:
            each = func.json_each(payload).table_valued("value")
            for i, (name, type_) in enumerate(columns):
                found = func.json_extract(each.c.value, literal_column(f"'$[{i}]'"))
                values.append(type_coerce(found, type_).label(name))
        return select(*values).select_from(each)
