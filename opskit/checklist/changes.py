"""What resolving or restoring an item says it changed, derived from its entry: the
audit event's ``before``/``after``, a snapshot's rows, and the detail shown.

An item with a ``row_label`` (a profile per location, an integration per kind) names
each changed row: ``{event_key: {label: value}}``; any other item has one row per
member: ``{event_key: value}``. A value is the one snapshotted column's, or an object
of them when there are several. Resolution writes many members at once, so its texts
are also built in SQL (``event_texts_sql``), and ``change_texts`` gives the same values
in Python for the rows it reports; restore works in Python.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, func

from ..sqljson import SqlJson
from .items import ChecklistItem, GrantRow

Texts = tuple[dict[str, Any], dict[str, Any], str]


def _value(item: ChecklistItem, values: Mapping[str, Any] | None) -> Any:
    """The value shown for a row with these snapshotted ``values`` (None: deleted)."""
    if values is None:
        return None
    columns = item.snapshotted
    return values[columns[0]] if len(columns) == 1 else {k: values[k] for k in columns}


def _before(item: ChecklistItem, row: Mapping[str, Any]) -> dict[str, Any]:
    """A pending row's snapshotted values, the known ones as known."""
    known = item.known_before
    return {k: known[k] if k in known else row[k] for k in item.snapshotted}


def _shaped(item: ChecklistItem, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    if item.row_label is not None:
        return {item.event_key: dict(pairs)}
    return {item.event_key: pairs[0][1]}


# --------------------------------------------------------------------------- resolving


def change_texts(item: ChecklistItem, rows: Sequence[Mapping[str, Any]]) -> Texts:
    """The audit before/after and the detail of one member's resolved item."""
    assert item.resolved_text is not None
    if isinstance(item.resolution, GrantRow):
        return {item.event_key: False}, {item.event_key: True}, item.resolved_text(rows)
    resolved_to = _value(item, item.resolved_to)
    before = _shaped(item, [(_label(item, r), _value(item, _before(item, r))) for r in rows])
    after = _shaped(item, [(_label(item, r), resolved_to) for r in rows])
    return before, after, item.resolved_text(rows)


def _label(item: ChecklistItem, row: Mapping[str, Any]) -> str:
    """The name a changed row goes by in a snapshot and an audit event."""
    return row[item.row_label] if item.row_label is not None else item.id


def snapshot_entry_sql(j: SqlJson, item: ChecklistItem, x: Any) -> ColumnElement:
    """One row of a snapshot's ``rows``: its key, label, values before and as set."""
    known = item.known_before
    before = {k: j.const(known[k]) if k in known else x[k] for k in item.snapshotted}
    return j.obj(
        key=j.obj(**{k: x[k] for k in item.keys}),
        label=x[item.row_label] if item.row_label is not None else j.key(item.id),
        before=j.obj(**before),
        after=j.const(item.resolved_to),
    )


def event_texts_sql(j: SqlJson, item: ChecklistItem, x: Any) -> tuple[ColumnElement, ...]:
    """The audit ``before``/``after`` text of one member's resolved item, aggregated
    over the member's rows: the values ``change_texts`` gives."""
    known = item.known_before
    resolved_to = _value(item, item.resolved_to)
    columns = item.snapshotted
    if item.row_label is not None:
        was = {k: j.const(known[k]) if k in known else x[k] for k in columns}
        value = was[columns[0]] if len(columns) == 1 else j.obj(**was)
        label = x[item.row_label]
        before = j.obj(**{item.event_key: j.obj_agg(label, value)})
        after = j.obj(**{item.event_key: j.obj_agg(label, j.const(resolved_to))})
    else:
        if all(k in known for k in columns):
            before = j.const({item.event_key: _value(item, known)})
        else:  # one row per member: min() picks its value
            was = {k: j.const(known[k]) if k in known else func.min(x[k]) for k in columns}
            before = j.obj(
                **{item.event_key: was[columns[0]] if len(columns) == 1 else j.obj(**was)}
            )
        after = j.const({item.event_key: resolved_to})
    return j.text(before), j.text(after)


# --------------------------------------------------------------------------- restoring


def restore_texts(
    item: ChecklistItem, restored: list[dict[str, Any]], left: list[tuple[dict[str, Any], str]]
) -> Texts:
    """The audit before/after and the detail of one member's restored item, from the
    snapshot entries put back and those left alone (with the reason)."""
    assert item.restored_text is not None
    resolved_to = _value(item, item.resolved_to)
    known = item.known_before
    was = [(e["label"], _value(item, {**e["before"], **known})) for e in restored]
    before = _shaped(item, [(label, resolved_to) for label, _ in was]) if was else {}
    after = _shaped(item, was) if was else {}
    text = item.restored_text(restored) if restored else ""
    if left:
        why = "; ".join(
            f"left {entry['label']} alone: {reason}"
            if entry["label"] != item.id
            else f"left it alone: {reason}"
            for entry, reason in left
        )
        text = f"{text}; {why}" if restored else why
    return before, after, text
