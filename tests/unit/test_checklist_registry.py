"""The checklist registry on its own, without a database: every item is fully
specified, the ids are the contract's, and every table derived from it agrees."""

from __future__ import annotations

import itertools
from collections import namedtuple
from datetime import datetime

import pytest
from sqlalchemy import DateTime, Integer, String, literal, select

from opskit import checklist as ck
from opskit.checklist.changes import change_texts, restore_texts
from opskit.checklist.facts import state_of
from opskit.checklist.items import DeleteRow, GrantRow, Kind, SetValues
from opskit.clock import iso

CONTRACT_IDS = (
    "online_booking",
    "integrations",
    "credits_auto_top_up",
    "appointment_reminders",
    "data_export",
    "future_appointments",
)
AT = datetime(2026, 7, 1, 9, 0)

# a pending row of each item whose resolution can be undone, as the database gives it
PENDING_ROWS = {
    "online_booking": {"location_id": "loc-1", "directory_profile": "public",
                       "online_bookings": "enabled"},
    "integrations": {"kind": "ical_feed", "enabled": True},
    "credits_auto_top_up": {"credit_setting_id": 7, "auto_top_up": True},
    "appointment_reminders": {"reminder_level_id": 3, "name": "Gentle"},
}  # fmt: skip


def _sample(type_) -> object:
    if isinstance(type_, Integer):
        return 2
    if isinstance(type_, DateTime):
        return datetime(2026, 1, 2, 3, 4)
    if isinstance(type_, String):
        return "ical_feed,video_consult"
    raise AssertionError(f"no sample value for {type_!r}")


def _one_row_per_member(item: ck.ChecklistItem) -> bool:
    """The item's table holds at most one row per member (a unique index says so)."""
    member = {"group_id", item.member_column}
    unique = [ix.columns for ix in item.table.indexes if ix.unique]
    unique.append(item.table.primary_key.columns)
    return any({c.name for c in columns} == member for columns in unique)


def _found(item: ck.ChecklistItem, flag: int) -> tuple:
    """Facts as evaluation reads them for a member with rows (a row of facts_query)."""
    facts = {name: _sample(value.type) for name, value in item.facts(item.table.c).items()}
    if item.group_facts is not None:  # the facts computed once per group join the row
        members = select(
            literal("g-1").label("group_id"),
            literal("u-1").label("user_id"),
            literal(1).label("flag"),
        ).cte("found")
        for column in item.group_facts(members).selected_columns:
            if column.name not in ("group_id", "user_id", "flag"):
                facts[column.name] = _sample(column.type)
    row = namedtuple("Facts", ["group_id", "user_id", "flag", *facts])  # noqa: PYI024
    return row("g-1", "u-1", flag, **facts)


def test_the_item_ids_are_the_contracts_in_the_contracts_order():
    assert ck.ITEMS == CONTRACT_IDS
    assert tuple(item.id for item in ck.REGISTRY) == CONTRACT_IDS


@pytest.mark.parametrize("item", ck.REGISTRY, ids=lambda item: item.id)
def test_every_item_names_real_columns_and_has_words_for_what_it_does(item):
    columns = set(item.table.c.keys())
    assert item.label
    assert item.member_column in columns and "group_id" in columns
    assert set(item.keys) <= columns
    assert set(item.snapshotted) <= columns
    if item.row_label is not None:
        assert item.row_label in item.keys
    if item.kind is Kind.RESOLVABLE:
        assert item.pending is not None
        assert isinstance(item.resolution, SetValues | DeleteRow)
        assert item.keys and item.snapshotted and item.event_key
        assert item.resolved_text is not None and item.restored_text is not None
    elif item.kind is Kind.OPTIONAL:
        assert item.pending is None
        if item.resolution is not None:
            assert isinstance(item.resolution, GrantRow) and item.event_key
            assert item.resolution.stamp in columns and item.resolved_text is not None
    else:
        assert item.resolution is None and item.pending is None and item.never_resolved
    if isinstance(item.resolution, SetValues):
        assert set(item.resolution.before) <= set(item.resolution.values)
    if isinstance(item.resolution, DeleteRow):
        assert _one_row_per_member(item) and item.resolution.conflict
    if item.plain_rows:
        assert _one_row_per_member(item)


@pytest.mark.parametrize("item", ck.REGISTRY, ids=lambda item: item.id)
def test_every_state_an_item_can_take_has_a_detail(item):
    taken = set()
    for present, flag, administrator in itertools.product((True, False), (0, 1), (True, False)):
        if not present and flag:
            continue
        found = _found(item, flag) if present else None
        state = state_of(item, found, administrator)
        taken.add(state)
        detail = item.detail(state, found, iso(AT))
        assert isinstance(detail, str) and detail
    assert taken == set(item.states)
    assert set(item.states) <= set(ck.STATES)


def test_the_derived_tables_follow_the_registry():
    assert tuple(i.id for i in ck.REGISTRY if i.kind is Kind.RESOLVABLE) == ck.RESOLVABLE
    assert CONTRACT_IDS[:4] == ck.RESOLVABLE
    assert (*ck.RESOLVABLE, "data_export") == ck.RESOLVE_CHOICES
    assert tuple(ck.pending_conditions()) == ck.RESOLVABLE
    assert list(ck.LABELS) == list(ck.ITEMS)
    assert ck.parse_items("all") == list(ck.RESOLVABLE)
    assert ck.parse_items(["data_export", "online_booking"]) == ["online_booking", "data_export"]


def test_the_widget_and_the_inactive_report_take_their_items_from_the_registry():
    from opskit import reports
    from opskit.widgets import checklist as widget

    assert {item.id: item.label for item in ck.REGISTRY} == widget.LABELS
    assert set(reports.FINDINGS.values()) <= set(ck.RESOLVABLE)
    assert set(reports.FINDINGS) <= set(reports.INACTIVE_COLUMNS)
    assert reports.OPEN_ITEMS == ck.RESOLVABLE


@pytest.mark.parametrize("item_id", PENDING_ROWS)
def test_restoring_a_resolved_row_writes_the_audit_texts_mirrored(item_id):
    item = ck.REGISTRY[ck.ITEMS.index(item_id)]
    row = {"group_id": "g-1", "user_id": "u-1", **PENDING_ROWS[item_id]}
    before, after, detail = change_texts(item, [row])
    assert detail and set(before) == set(after) == {item.event_key}
    entry = {
        "key": {k: row[k] for k in item.keys},
        "label": row[item.row_label] if item.row_label else item.id,
        "before": {k: row[k] for k in item.snapshotted},
        "after": item.resolved_to,
    }
    restored_before, restored_after, restored = restore_texts(item, [entry], [])
    assert (restored_before, restored_after) == (after, before)
    assert restored
    _, _, left = restore_texts(item, [], [(entry, "it was changed since")])
    assert left.endswith("alone: it was changed since")
