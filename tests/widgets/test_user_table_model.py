"""The user table's model, driven with no widget, on SQLite and PostgreSQL.

The clinic scenario (tests/scenarios.py) has 13 memberships in three groups; ``ops``
has Full Access in Harbour and Summit and is read-only in Solo. The widget itself is
tested in tests/widgets/test_user_table.py and the browser suite.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import warnings

import ipywidgets
import pytest
from sqlalchemy import select

from opskit import schema as s
from opskit.errors import BadInput, NotAuthorized, UnknownGroup
from opskit.widgets.user_table import UserTableModel, model


def status_of(db, group_id, user_id):
    m = s.memberships.c
    with db.read() as conn:
        return conn.execute(
            select(m.status, m.status_reason).where(m.group_id == group_id, m.user_id == user_id)
        ).one()


def keys_on_page(table):
    return [(r["group_id"], r["user_id"]) for r in table.rows]


@pytest.fixture
def table(db, clinic):
    return UserTableModel(db, actor=clinic.ops, page_size=5)


# --- the model stands alone ------------------------------------------------------------


def test_the_model_imports_without_ipywidgets():
    """The model, and the packages above it, import with no widget toolkit at all."""
    code = textwrap.dedent(
        """
        import sys
        sys.modules["ipywidgets"] = None  # any import of it now fails
        import opskit.widgets
        from opskit.widgets.user_table.model import UserTableModel
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_the_model_creates_no_widgets(db, clinic):
    def live_widgets():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return len(ipywidgets.Widget.widgets)

    before = live_widgets()
    table = UserTableModel(db, actor=clinic.ops, page_size=5)
    table.next_page()
    table.select_page()
    table.deactivate_selected()
    table.cancel()
    assert live_widgets() == before


# --- filters -------------------------------------------------------------------------


def test_each_filter_narrows_the_count_and_the_page(table, clinic):
    cases = [
        ({"group": "Harbour Clinic"}, 8),
        ({"group": clinic.summit}, 3),
        ({"status": "inactive"}, 1),
        ({"status": None}, 13),  # None: active and inactive
        ({"role": "administrator"}, 6),
        ({"access_level": "full"}, 6),
        ({"read_only": False}, 11),
        ({"account_owner": True}, 3),
        ({"text": "  Mia "}, 2),
        ({"text": ""}, 13),
    ]
    for change, expected in cases:
        table.clear_filters()
        table.set_filter(**change)
        assert table.total == expected, change
        assert len(table.rows) == min(expected, 5), change


def test_filters_combine(table, clinic):
    table.set_filter(group="Harbour Clinic", role="practitioner", status="active")
    assert table.total == 4
    assert {r["email"] for r in table.rows} == {clinic.fiona, clinic.peter, clinic.rita, clinic.mia}


def test_a_refused_filter_leaves_the_filter_as_it_was(table, clinic):
    table.set_filter(status="active", text="a")
    where, total = table.where, table.total
    for bad in ({"access_level": "root"}, {"role": "nurse"}, {"colour": "red"}):
        with pytest.raises(BadInput):
            table.set_filter(**bad)
    with pytest.raises(UnknownGroup):
        table.set_filter(group="Nowhere")
    assert table.where == where and table.total == total


def test_a_group_the_actor_is_not_an_active_member_of_is_unknown_to_them(db, clinic):
    table = UserTableModel(db, actor=clinic.sam)
    assert [name for _, name in table.viewer.groups] == ["Summit Physio"]
    with pytest.raises(UnknownGroup, match="sees no group 'Harbour Clinic'"):
        table.set_filter(group="Harbour Clinic")
    with pytest.raises(UnknownGroup):
        UserTableModel(db, actor=clinic.sam, group="g-harbour")


def test_sorting_by_an_unknown_column_is_refused(table):
    with pytest.raises(BadInput, match="cannot sort by 'colour'"):
        table.set_sort("colour")
    assert table.sort == "name"


# --- paging --------------------------------------------------------------------------


def test_paging_stays_within_the_pages_there_are(table):
    assert (table.page, table.page_count) == (0, 3)
    table.prev_page()
    table.first_page()
    assert table.page == 0
    table.goto_page(0)
    assert table.page == 0
    table.goto_page(-4)
    assert table.page == 0
    table.goto_page(99)
    assert table.page == 2 and len(table.rows) == 3
    table.next_page()
    table.last_page()
    assert table.page == 2
    assert table.status_text().startswith("Showing 11–13 of 13 members")


def test_pages_list_every_member_once(table):
    seen = keys_on_page(table)
    while table.page + 1 < table.page_count:
        table.next_page()
        seen += keys_on_page(table)
    assert len(seen) == len(set(seen)) == 13
    assert seen[-1] == ("g-harbour", "u-ivan")  # the inactive member comes last
    backwards = keys_on_page(table)
    while table.page > 0:
        table.prev_page()
        backwards = keys_on_page(table) + backwards
    assert backwards == seen


def test_a_filter_or_sort_returns_to_the_first_page_and_a_page_size_keeps_the_first_row(table):
    table.last_page()
    table.set_filter(status="active")
    assert table.page == 0
    table.last_page()
    table.set_sort("email", descending=True)
    assert table.page == 0 and table.descending
    table.goto_page(2)  # rows 6-10
    table.set_page_size(3)
    assert table.page == 1  # rows 4-6: row 6 still in view
    assert table.status_text().startswith("Showing 4–6 of 12 members")


def test_a_filter_that_matches_nobody_shows_an_empty_first_page(table):
    table.set_filter(text="nobody-at-all")
    assert (table.total, table.page, table.page_count, table.first_row) == (0, 0, 1, 0)
    assert table.rows == []
    assert table.status_text() == "No members match · 0 selected"


def test_a_page_size_must_be_a_whole_number_of_rows(db, clinic, table):
    for bad in (0, -1, 2.5, True, "10"):
        with pytest.raises(BadInput, match="page size"):
            table.set_page_size(bad)
    assert table.page_size == 5
    with pytest.raises(BadInput, match="page size"):
        UserTableModel(db, actor=clinic.ops, page_size=0)


# --- selection -----------------------------------------------------------------------


def test_the_selection_is_kept_across_pages_and_filters(table, clinic):
    first_page = keys_on_page(table)
    table.select_page()
    table.next_page()
    first_of_second_page = keys_on_page(table)[0]
    table.select([first_of_second_page])
    table.set_filter(group=clinic.summit)
    table.select_page()
    table.clear_filters()
    table.last_page()
    summit = {("g-summit", "u-mia"), ("g-summit", "u-ops"), ("g-summit", "u-sam")}
    assert table.selected == {*first_page, first_of_second_page, *summit}
    assert table.status_text().endswith("· 8 selected")
    table.unselect([("g-summit", "u-sam")])
    assert len(table.selected) == 7
    table.clear_selection()
    assert table.selected == set()


def test_select_all_matching_reads_exactly_the_filtered_members(table):
    table.set_filter(group="Harbour Clinic", status="active")
    table.select_all_matching()
    assert len(table.selected) == 7
    assert all(group == "g-harbour" for group, _ in table.selected)
    assert ("g-harbour", "u-ivan") not in table.selected
    assert [m["status"] for m in table.selected_members()] == ["active"] * 7


def test_members_of_groups_the_actor_cannot_see_are_never_selected(db, clinic):
    table = UserTableModel(db, actor=clinic.sam)
    table.select([("g-harbour", "u-peter"), ("g-summit", "u-mia"), ("g-solo", "u-sole")])
    assert table.selected == {("g-summit", "u-mia")}


# --- the confirmation step -----------------------------------------------------------


def test_deactivate_asks_first_and_changes_nothing_until_confirmed(db, table):
    table.select([("g-harbour", "u-peter"), ("g-harbour", "u-frank")])
    pending = table.deactivate_selected()
    assert pending is table.pending
    assert [m["email"] for m in pending] == ["frank@example.test", "peter@example.test"]
    peter = next(m for m in pending if m["user_id"] == "u-peter")
    assert "online_booking" in peter["open_checklist"]
    assert status_of(db, "g-harbour", "u-peter").status == "active"

    table.confirm(reason="  left the practice ")
    assert table.pending is None
    assert table.last_action == "Deactivate"
    assert [r["outcome"] for r in table.results] == ["deactivated", "deactivated"]
    assert "2 sessions revoked" in table.results[1]["message"]
    assert status_of(db, "g-harbour", "u-peter") == ("inactive", "left the practice")
    table.set_filter(status="inactive")
    assert table.total == 3  # the list was read again: ivan, frank and peter


def test_cancel_forgets_the_pending_members_and_says_nothing_changed(db, table):
    table.select([("g-harbour", "u-peter")])
    table.deactivate_selected()
    table.cancel()
    assert table.pending is None
    assert table.message == "Nothing was changed."
    with pytest.raises(BadInput, match="nothing to confirm"):
        table.confirm()
    assert status_of(db, "g-harbour", "u-peter").status == "active"


def test_nothing_selected_is_a_message_not_an_error(table):
    assert table.deactivate_selected() is None
    assert table.pending is None
    assert table.message == "Select the members to deactivate first."
    assert not table.message_refused
    assert table.reactivate_selected() is False
    assert table.message == "Select the members to reactivate first."
    assert table.selection_checklist() is None
    table.select([("g-harbour", "u-frank")])
    assert table.set_access_level_selected(None) is False
    assert table.message == "Choose an access level first."


def test_a_selection_too_large_for_one_by_one_is_sent_to_bulk_offboarding(table, monkeypatch):
    monkeypatch.setattr(model, "MOST_AT_ONCE", 2)
    table.select_page()
    assert table.deactivate_selected() is None
    assert "5 members are selected" in table.message
    assert "bulk offboarding" in table.message


def test_resolve_the_checklist_too_resolves_it_in_the_same_deactivation(table):
    table.select([("g-harbour", "u-peter")])
    table.deactivate_selected()
    table.confirm(resolve_checklist=True)
    assert "4 checklist items resolved" in table.results[0]["message"]


# --- refusals, member by member ------------------------------------------------------


def test_r3_a_full_access_member_is_refused_and_the_others_are_deactivated(db, table):
    table.select([("g-harbour", "u-fiona"), ("g-harbour", "u-mia")])
    table.deactivate_selected()
    table.confirm()
    outcome = {r["email"]: r for r in table.results}
    fiona = outcome["fiona@example.test"]
    assert fiona["refused"] and fiona["outcome"] == "refused"
    assert "lower their access level first" in fiona["message"]
    assert outcome["mia@example.test"]["outcome"] == "deactivated"
    assert not outcome["mia@example.test"]["refused"]
    assert status_of(db, "g-harbour", "u-fiona").status == "active"
    assert status_of(db, "g-summit", "u-mia").status == "active"  # her other group


def test_r1_an_actor_without_full_access_is_refused_for_each_member(db, clinic):
    table = UserTableModel(db, actor=clinic.frank, page_size=25)
    table.select([("g-harbour", "u-mia"), ("g-harbour", "u-peter")])
    table.deactivate_selected()
    table.confirm()
    assert [r["refused"] for r in table.results] == [True, True]
    assert all(
        "may not deactivate members in Harbour Clinic" in r["message"] for r in table.results
    )
    assert status_of(db, "g-harbour", "u-mia").status == "active"


def test_r1_a_read_only_actor_may_look_but_not_change(db, table):
    table.select([("g-solo", "u-sole")])
    assert table.set_access_level_selected("clinical") is True
    (result,) = table.results
    assert result["refused"] and "is read-only there" in result["message"]
    assert table.last_action == "Access level Clinical"


def test_reactivate_and_read_only_go_through_the_library(db, table):
    table.select([("g-harbour", "u-ivan")])
    assert table.reactivate_selected() is True
    assert table.results[0]["outcome"] == "reactivated"
    table.clear_selection()
    table.select([("g-harbour", "u-frank")])
    table.set_read_only_selected(True)
    assert (table.last_action, table.results[0]["outcome"]) == ("Read-only on", "changed")
    table.set_read_only_selected(True)
    assert table.results[0]["outcome"] == "unchanged"


# --- what the panels read ------------------------------------------------------------


def test_member_detail_is_bounded_to_the_groups_the_actor_sees(db, clinic):
    table = UserTableModel(db, actor=clinic.sam)
    detail = table.member_detail(("g-summit", "u-mia"))
    assert [m["group"] for m in detail.memberships] == ["Summit Physio"]
    assert [x["device"] for x in detail.sessions]
    assert {row["item"] for row in detail.checklist} >= {"online_booking"}
    with pytest.raises(NotAuthorized):
        table.member_detail(("g-harbour", "u-mia"))


def test_member_detail_lists_audit_events_newest_first(db, table):
    table.select([("g-harbour", "u-peter")])
    table.deactivate_selected()
    table.confirm(reason="moved away")
    table.select([("g-harbour", "u-peter")])  # a deactivated member leaves the selection
    table.reactivate_selected()
    events = table.member_detail(("g-harbour", "u-peter")).events
    assert [e["action"] for e in events[:2]] == ["reactivated", "deactivated"]
    assert events[1]["reason"] == "moved away"


def test_the_selection_checklist_reads_every_selected_member(table):
    table.select([("g-harbour", "u-peter"), ("g-summit", "u-mia")])
    found = table.selection_checklist()
    assert (found.selected, found.more) == (2, 0)
    assert {row["email"] for row in found.rows} == {"peter@example.test", "mia@example.test"}


# --- a million members: deep jumps and large selections ---------------------------------


def test_a_deep_jump_starts_beside_a_page_mark_and_shows_the_same_page(db, clinic):
    """Rule: a typed jump reads at most a mark's distance of rows (``MARK_EVERY``), not every
    row from an end, and shows the very page offset paging would."""
    table = UserTableModel(db, actor=clinic.ops, page_size=2)
    table.marks = model.PageMarks(db, every=3)  # marks at rows 2, 5, 8 ... of each part
    table.marked_from = 1
    for sort, descending in (("name", False), ("email", True), ("group", False)):
        table.set_sort(sort, descending)
        active, inactive = table._mark_keys()
        assert table.marks.get(active) is not None and table.marks.get(inactive) is not None
        by_offset = []
        for page in range(table.page_count):
            table.page = page
            table.refresh(recount=False)  # by offset, counted from an end
            by_offset.append(keys_on_page(table))
        for page in (4, 2, 5, 3):  # typed, none next to the page on show
            table.goto_page(page)
            assert keys_on_page(table) == by_offset[page - 1], (sort, descending, page)
        assert table._mark_before(7) == (table.marks.get(active)[1], 1)


def test_page_marks_are_forgotten_once_the_table_changes_a_member(db, clinic):
    table = UserTableModel(db, actor=clinic.ops, page_size=2)
    table.marks = model.PageMarks(db, every=3)
    table.marked_from = 1
    table.refresh()
    key = table._mark_keys()[0]
    assert table.marks.get(key) is not None
    table.select([("g-harbour", "u-peter")])
    table.deactivate_selected()
    table.confirm()
    assert not table.marks.ready(key)  # the counts changed: marks of the new list are read
    assert table.marks.get(table._mark_keys()[0]) is not None


def test_a_large_select_all_is_kept_as_its_filter_and_counted(db, clinic, monkeypatch):
    """Rule: "select all matching" over ``MOST_AT_ONCE`` reads no keys (a million take
    seconds); the count, the ticks on a page and an unselected row are still right."""
    monkeypatch.setattr(model, "MOST_AT_ONCE", 3)
    table = UserTableModel(db, actor=clinic.ops, page_size=5)
    table.set_filter(group="Harbour Clinic")  # 8 members, one inactive
    table.select_all_matching()
    assert table.selected.by_filter == table.where
    assert len(table.selected) == 8 and table.status_text().endswith("· 8 selected")
    assert table.selected_on_page() == set(keys_on_page(table))
    table.unselect([keys_on_page(table)[0]])
    table.select([("g-summit", "u-mia")])  # outside the filter
    assert len(table.selected) == 8
    table.clear_filters()
    on_page = table.selected_on_page()
    assert ("g-summit", "u-mia") in on_page and ("g-solo", "u-sole") not in table.selected
    table.deactivate_selected()  # 8 members: more than one by one takes
    assert table.pending is None and "8 members are selected" in table.message
    everyone = {(m["group_id"], m["user_id"]) for m in table.selected_members()}
    assert len(everyone) == 8 and ("g-summit", "u-mia") in everyone
    table.clear_selection()
    assert len(table.selected) == 0 and table.selected.by_filter is None


def test_a_deactivated_member_leaves_the_selection_and_a_refused_one_stays(db, table):
    table.select([("g-harbour", "u-peter"), ("g-harbour", "u-fiona")])
    table.deactivate_selected()
    table.confirm()
    assert status_of(db, "g-harbour", "u-peter")[0] == "inactive"
    assert table.selected == {("g-harbour", "u-fiona")}  # refused: Full Access
    assert table.status_text().endswith("· 1 selected")
