"""The user table widget (issue 5), driven without a browser on SQLite and PostgreSQL.

The clinic scenario (tests/scenarios.py) has 13 memberships in three groups; ``ops``
has Full Access in Harbour and Summit and is read-only in Solo.
"""

from __future__ import annotations

import warnings

import ipywidgets
import pytest
from sqlalchemy import func, select

from opskit import members
from opskit import schema as s
from opskit.errors import BadInput, UnknownGroup
from opskit.members import MemberFilter, member_counts, member_page
from opskit.widgets import UserTable


def live_widgets() -> int:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return len(ipywidgets.Widget.widgets)


def membership(db, group_id, user_id):
    with db.read() as conn:
        return conn.execute(
            select(s.memberships).where(
                s.memberships.c.group_id == group_id, s.memberships.c.user_id == user_id
            )
        ).one()


def open_sessions(db, group_id, user_id):
    c = s.sessions.c
    with db.read() as conn:
        return conn.execute(
            select(func.count()).where(
                c.group_id == group_id, c.user_id == user_id, c.revoked_at.is_(None)
            )
        ).scalar_one()


def shown(table):
    return [row.key for row in table.row_widgets]


def every_key_in_list_order(table):
    """Page through the whole list and return the keys in the order shown."""
    table.first_page()
    keys = shown(table)
    while table.page + 1 < table.page_count:
        table.next_page()
        keys += shown(table)
    return keys


@pytest.fixture
def table(db, clinic):
    return UserTable(db, actor=clinic.ops, page_size=5)


# --- what a page shows -------------------------------------------------------------------


def test_a_page_shows_every_column_of_a_member_and_a_status_line(table):
    assert table.status_text() == (
        "Showing 1–5 of 13 members (1 inactive, listed after the active) · 0 selected"
    )
    table.set_filter(text="peter")
    (row,) = table.row_widgets
    cells = row.cells.value
    for text in (
        "Peter",
        "peter@example.test",
        "Harbour Clinic",
        "Practitioner",
        "Clinical",
        "active",
        ">2<",  # open sessions
        "2026-06-20",  # last sign-in
        "Online booking",
        "Integrations",
        "Auto top-up",
        "Reminders",
    ):
        assert text in cells
    assert row.row["open_checklist"] == [
        "online_booking",
        "integrations",
        "credits_auto_top_up",
        "appointment_reminders",
    ]


def test_read_only_and_owner_are_shown_as_marks(table):
    table.set_filter(text="rita")
    assert "✓" in table.row_widgets[0].cells.value
    table.set_filter(text="olivia")
    assert table.row_widgets[0].row["account_owner"] is True
    assert "✓" in table.row_widgets[0].cells.value


def test_inactive_members_are_greyed_and_listed_after_the_active_ones(table):
    table.set_page_size(25)
    rows = table.row_widgets
    statuses = [row.row["status"] for row in rows]
    assert statuses == sorted(statuses)  # active < inactive
    assert statuses[-1] == "inactive"
    ivan = table.row_of("ivan@example.test")
    assert ivan is rows[-1]
    assert ivan.greyed
    assert 'data-status="inactive"' in ivan.cells.value
    assert not any(row.greyed for row in rows[:-1])


def test_members_are_ordered_by_name_within_each_status_and_pages_never_overlap(table):
    keys = every_key_in_list_order(table)
    assert len(keys) == len(set(keys)) == 13
    names = [k[1] for k in keys]
    assert names[-1] == "u-ivan"
    assert names[:-1] == sorted(names[:-1])


def test_sorting_by_each_column_both_ways_lists_everyone_once(table):
    for sort in ("name", "email", "group", "last_sign_in_at"):
        for descending in (False, True):
            table.set_sort(sort, descending)
            keys = every_key_in_list_order(table)
            assert len(set(keys)) == 13, (sort, descending)
            assert keys[-1] == ("g-harbour", "u-ivan")
    table.set_sort("group", descending=True)
    table.set_page_size(25)
    groups = [row.row["group"] for row in table.row_widgets[:-1]]
    assert groups == sorted(groups, reverse=True)


@pytest.mark.parametrize("walk", [True, False])
def test_a_page_is_the_same_however_it_is_found(db, clinic, monkeypatch, walk):
    """By offset from the top, backwards from the end, or next to the row beside it;
    and on SQLite whether it walks the sort key's index or sorts the matches."""
    monkeypatch.setattr(members, "_walks_sort_index", lambda *args: walk)
    where = MemberFilter()
    counts = member_counts(db, where)

    def ids(rows):
        return [r["membership_id"] for r in rows]

    for sort in members.PAGE_ORDER:
        for descending in (False, True):
            order = dict(sort=sort, descending=descending, counts=counts)
            expected = ids(member_page(db, where, limit=100, **order))
            by_offset, forward, backward = [], [], []
            for offset in range(0, 13, 2):  # pages past the middle are read backwards
                by_offset += ids(member_page(db, where, limit=2, offset=offset, **order))
                after = forward[-1] if forward else None
                forward += ids(member_page(db, where, limit=2, offset=offset, after=after, **order))
            for offset in range(12, -1, -2):
                before = backward[0] if backward else None
                page = member_page(db, where, limit=2, offset=offset, before=before, **order)
                backward = ids(page) + backward
            assert by_offset == forward == backward == expected, (sort, descending)
    ordered = member_page(db, MemberFilter(text="a"), sort="name", limit=100)
    names = [(r["status"], r["name"]) for r in ordered]
    assert names == sorted(names)


# --- filters -------------------------------------------------------------------------


def test_each_filter_narrows_the_list_and_the_count(table, clinic):
    cases = [
        ({"group": "Harbour Clinic"}, 8),
        ({"group": clinic.summit}, 3),
        ({"status": "inactive"}, 1),
        ({"status": "active"}, 12),
        ({"role": "administrator"}, 6),
        ({"access_level": "clinical"}, 5),
        ({"read_only": True}, 2),
        ({"account_owner": True}, 3),
        ({"text": "MIA"}, 2),
        ({"text": "example.test"}, 13),
        ({"text": "o%"}, 0),  # typed % is literal, not a wildcard
    ]
    for change, expected in cases:
        table.clear_filters()
        table.set_filter(**change)
        assert table.total == expected, change
        assert len(table.row_widgets) == min(expected, 5)
    table.clear_filters()
    table.set_filter(group="Harbour Clinic", role="practitioner", status="active")
    assert {row.row["email"] for row in table.row_widgets} <= {
        clinic.fiona,
        clinic.peter,
        clinic.rita,
        clinic.mia,
    }
    assert table.total == 4


def test_a_filter_change_returns_to_the_first_page(table):
    table.last_page()
    assert table.page == 2
    table.set_filter(status="active")
    assert table.page == 0
    assert table.status_text().startswith("Showing 1–5 of 12 members")


def test_the_filter_controls_drive_the_same_methods(table, clinic):
    table._group.value = clinic.summit
    assert table.total == 3
    table._text.value = "sam"
    assert shown(table) == [("g-summit", "u-sam")]
    table._clear_filters.click()
    assert table.total == 13 and table._group.value == "" and table._text.value == ""


def test_a_bad_filter_is_refused_with_one_line_and_changes_nothing(table):
    table.set_filter(status="active")
    with pytest.raises(BadInput, match="'gone' is not a status"):
        table.set_filter(status="gone")
    with pytest.raises(BadInput, match="'nurse' is not a role"):
        table.set_filter(role="nurse")
    with pytest.raises(BadInput, match="cannot filter by colour"):
        table.set_filter(colour="red")
    assert table.where.status == "active" and table.total == 12


def test_the_table_lists_only_groups_where_the_actor_is_an_active_member(db, clinic):
    table = UserTable(db, actor=clinic.sam, page_size=25)
    assert {row.key[0] for row in table.row_widgets} == {"g-summit"}
    assert table.total == 3
    with pytest.raises(UnknownGroup, match="sees no group 'Harbour Clinic'"):
        table.set_filter(group="Harbour Clinic")
    table.select_all_matching()
    assert {key[0] for key in table.selected} == {"g-summit"}


# --- paging --------------------------------------------------------------------------


def test_paging_moves_forward_back_and_to_any_page(table):
    table.next_page()
    assert table.status_text().startswith("Showing 6–10 of 13")
    table.next_page()
    assert table.status_text().startswith("Showing 11–13 of 13")
    assert len(table.row_widgets) == 3
    table.next_page()  # already on the last page
    assert table.page == 2
    table.prev_page()
    assert table.page == 1
    table.goto_page(99)
    assert table.page == 2
    table.goto_page(1)
    assert table.page == 0
    table._next.click()
    assert table.page == 1
    table._page_box.value = 3
    assert table.page == 2


def test_paging_reuses_the_row_widgets_and_creates_none(table):
    pool = [row.box for row in table._pool]
    before = live_widgets()
    for _ in range(3):
        table.next_page()
        table.next_page()
        table.prev_page()
        table.last_page()
        table.first_page()
    table.set_filter(status="inactive")
    table.set_filter(status="all", text="a")
    table.set_sort("email", descending=True)
    table.select_page()
    table.clear_selection()
    assert live_widgets() == before
    assert [row.box for row in table._pool] == pool
    assert len(pool) == 5


# --- selection -----------------------------------------------------------------------


def test_selection_survives_paging_and_filtering(table, clinic):
    table.row_widgets[0].check.value = True  # a click on the first row's box
    first = table.row_widgets[0].key
    table.next_page()
    table.select([("g-harbour", "u-rita")])
    table.set_filter(group=clinic.summit)
    table.select_page()
    table.clear_filters()
    assert table.selected == {
        first,
        ("g-harbour", "u-rita"),
        ("g-summit", "u-sam"),
        ("g-summit", "u-mia"),
        ("g-summit", "u-ops"),
    }
    assert table.status_text().endswith("· 5 selected")
    assert table.row_widgets[0].selected and table.row_widgets[0].check.value
    table.row_widgets[0].check.value = False
    assert first not in table.selected
    assert table.status_text().endswith("· 4 selected")


def test_select_all_matching_selects_exactly_the_members_the_filter_matches(table, clinic):
    table.set_filter(group="Harbour Clinic", status="active")
    table.select_all_matching()
    assert len(table.selected) == 7
    assert ("g-harbour", "u-ivan") not in table.selected
    assert all(group == "g-harbour" for group, _ in table.selected)
    table._clear_selection.click()
    assert table.selected == set()


# --- actions -------------------------------------------------------------------------


def test_deactivate_confirms_who_is_affected_then_deactivates_and_signs_them_out(db, table, clinic):
    table.select([("g-harbour", "u-peter"), ("g-harbour", "u-frank")])
    table._deactivate.click()
    assert table._confirm_panel.layout.display != "none"
    listing = table._confirm_text.value
    assert "Deactivate 2 members" in listing
    assert "peter@example.test" in listing and "frank@example.test" in listing
    assert "Online booking" in listing and "Reminders" in listing  # Peter's open items
    assert membership(db, "g-harbour", "u-peter").status == "active"  # nothing yet

    table._reason.value = "left the practice"
    table._confirm.click()

    for user_id in ("u-peter", "u-frank"):
        row = membership(db, "g-harbour", user_id)
        assert row.status == "inactive"
        assert row.status_reason == "left the practice"
        assert open_sessions(db, "g-harbour", user_id) == 0
    assert table._confirm_panel.layout.display == "none"
    assert [r["outcome"] for r in table.results] == ["deactivated", "deactivated"]
    assert "2 sessions revoked" in table._outcome.value
    assert "2 changed, 0 unchanged, 0 refused" in table._outcome.value
    table.set_filter(group="Harbour Clinic", status="inactive")
    assert {row.key[1] for row in table.row_widgets if row.greyed} == {
        "u-ivan",
        "u-peter",
        "u-frank",
    }


def test_the_deactivated_member_moves_after_the_active_ones_greyed(table):
    table.set_page_size(25)
    table.select([("g-harbour", "u-frank")])
    table.deactivate_selected()
    table.confirm()
    rows = table.row_widgets
    frank = table.row_of("frank@example.test")
    assert frank.greyed
    assert rows.index(frank) >= len(rows) - 2  # among the two inactive, at the end


@pytest.mark.parametrize(
    "where",
    [
        {},
        {"status": "active"},
        {"status": "inactive"},
        {"role": "practitioner"},
        {"read_only": True},
        {"text": "r"},
    ],
)
def test_the_counts_after_each_action_are_what_a_recount_finds(db, table, where):
    """The table adjusts its counts by the members acted on instead of recounting every
    member; whatever the filter, they must be what a recount says."""
    table.set_filter(**where)
    actions = [
        ([("g-harbour", "u-frank"), ("g-harbour", "u-peter")], table.deactivate_selected),
        ([("g-harbour", "u-ivan"), ("g-harbour", "u-frank")], table.reactivate_selected),
        ([("g-harbour", "u-peter")], lambda: table.set_read_only_selected(True)),
        ([("g-harbour", "u-olivia")], lambda: table.set_access_level_selected("billing")),
    ]
    for keys, act in actions:
        table.clear_selection()
        table.select(keys)
        act()
        if table.model.pending is not None:
            table.confirm()
        recount = member_counts(db, table.model.where)
        assert table.model.counts == recount
        assert f"of {recount.total} member" in table._counts.value


def test_deactivating_a_full_access_member_is_refused_with_lower_their_access_level_first(
    db, table
):
    table.select([("g-harbour", "u-fiona"), ("g-harbour", "u-mia")])
    table.deactivate_selected()
    table.confirm()
    refused = {r["email"]: r for r in table.results}
    assert refused["fiona@example.test"]["refused"]
    assert "lower their access level first" in refused["fiona@example.test"]["message"]
    assert refused["mia@example.test"]["outcome"] == "deactivated"
    assert "lower their access level first" in table._outcome.value
    assert "opskit-refused" in table._outcome.value
    assert membership(db, "g-harbour", "u-fiona").status == "active"
    assert membership(db, "g-summit", "u-mia").status == "active"  # other group untouched


def test_an_actor_without_full_access_is_refused_inline_per_member(db, clinic):
    table = UserTable(db, actor=clinic.frank, page_size=25)
    table.select([("g-harbour", "u-mia")])
    table.deactivate_selected()
    table.confirm()
    (result,) = table.results
    assert result["refused"]
    assert "may not deactivate members in Harbour Clinic" in result["message"]
    assert membership(db, "g-harbour", "u-mia").status == "active"


def test_cancel_leaves_everyone_as_they_were(db, table):
    table.select([("g-harbour", "u-peter")])
    table.deactivate_selected()
    table._cancel.click()
    assert table.pending is None
    assert table._confirm_panel.layout.display == "none"
    assert membership(db, "g-harbour", "u-peter").status == "active"
    with pytest.raises(BadInput, match="nothing to confirm"):
        table.confirm()


def test_resolve_the_checklist_too_resolves_it_in_the_same_deactivation(db, table):
    table.select([("g-harbour", "u-peter")])
    table.deactivate_selected()
    table._resolve.value = True
    table.confirm()
    assert "4 checklist items resolved" in table.results[0]["message"]
    table.set_filter(text="peter")
    assert table.row_widgets[0].row["open_checklist"] == []


def test_deactivate_with_nothing_selected_says_so(table):
    table._deactivate.click()
    assert table.pending is None
    assert "Select the members to deactivate first" in table._message.value


def test_reactivate_read_only_and_access_level_go_through_the_library(db, table):
    table.select([("g-harbour", "u-ivan")])
    table._reactivate.click()
    assert table.results[0]["outcome"] == "reactivated"
    assert membership(db, "g-harbour", "u-ivan").status == "active"

    table.clear_selection()
    table.select([("g-harbour", "u-frank"), ("g-harbour", "u-olivia")])
    table._ro_on.click()
    outcomes = {r["email"]: r for r in table.results}
    assert outcomes["frank@example.test"]["outcome"] == "changed"
    assert "lower their access level first" in outcomes["olivia@example.test"]["message"]
    assert membership(db, "g-harbour", "u-frank").read_only
    table._ro_off.click()
    assert not membership(db, "g-harbour", "u-frank").read_only

    table.clear_selection()
    table.select([("g-harbour", "u-frank")])
    table._level.value = "billing"
    table._set_level.click()
    assert table.results[0]["outcome"] == "changed"
    assert membership(db, "g-harbour", "u-frank").access_level == "billing"


def test_an_action_outside_the_actors_authority_in_solo_is_refused(db, table):
    # ops is read-only in Solo Practice: they may look, not change
    table.select([("g-solo", "u-sole")])
    table.set_access_level_selected("clinical")
    (result,) = table.results
    assert result["refused"] and "is read-only there" in result["message"]
    assert membership(db, "g-solo", "u-sole").access_level == "full"


def test_the_checklist_shortcut_shows_the_selections_checklist(table):
    table.select([("g-harbour", "u-peter"), ("g-summit", "u-mia")])
    table._checklist.click()
    panel = table._checklist_text.value
    assert table._checklist_panel.layout.display != "none"
    assert "Checklist of 2 selected" in panel
    assert 'data-email="peter@example.test"' in panel
    assert 'data-email="mia@example.test"' in panel
    assert "action needed" in panel


# --- member detail -------------------------------------------------------------------


def test_member_detail_shows_memberships_sessions_checklist_and_audit_history(table, clinic):
    table.set_filter(text="peter")
    table.select([("g-harbour", "u-peter")])
    table.deactivate_selected()
    table.confirm(reason="moved away")
    table.set_filter(text="mia")
    table.row_of(clinic.mia, "g-summit").details.click()
    detail = table._detail.value
    assert table._detail_panel.layout.display != "none"
    assert "Harbour Clinic" in detail and "Summit Physio" in detail  # both of ops' groups
    assert "mia-s5" in detail  # her open session in Summit
    assert 'data-item="online_booking"' in detail

    table.set_filter(text="peter")
    table.row_widgets[0].details.click()
    detail = table._detail.value
    assert "deactivated" in detail and "moved away" in detail and clinic.ops in detail
    table._close_detail.click()
    assert table._detail_panel.layout.display == "none"


def test_member_detail_shows_only_the_groups_the_actor_may_see(db, clinic):
    table = UserTable(db, actor=clinic.sam, page_size=25)
    table.row_of(clinic.mia).details.click()
    detail = table._detail.value
    assert "Summit Physio" in detail
    assert "Harbour Clinic" not in detail


# --- building ------------------------------------------------------------------------


def test_the_table_starts_on_a_group_and_renders_as_a_widget(db, clinic):
    table = UserTable(db, actor=clinic.ops, group="Summit Physio")
    assert table.total == 3
    assert table._group.value == "g-summit"
    bundle = table._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    frame = table.page_frame()
    assert list(frame["email"]) == [clinic.mia, clinic.ops, clinic.sam]
    assert list(frame.index) == [1, 2, 3]


def test_an_unknown_actor_or_a_bad_page_size_is_bad_input(db, clinic):
    with pytest.raises(BadInput, match="no user with email 'nobody@example.test'"):
        UserTable(db, actor="nobody@example.test")
    with pytest.raises(BadInput, match="page size"):
        UserTable(db, actor=clinic.ops, page_size=0)


def test_with_hundreds_of_groups_the_group_filter_is_typed_not_scrolled(db, clinic):
    with db.begin() as conn:
        conn.execute(
            s.groups.insert(),
            [{"group_id": f"g-{i}", "name": f"Clinic {i:03d}"} for i in range(250)],
        )
        conn.execute(
            s.memberships.insert(),
            [
                {
                    "group_id": f"g-{i}",
                    "user_id": "u-ops",
                    "role": "administrator",
                    "access_level": "full",
                    "account_owner": True,
                }
                for i in range(250)
            ],
        )
    table = UserTable(db, actor=clinic.ops)
    assert isinstance(table._group, ipywidgets.Combobox)
    assert table._group.continuous_update is False  # a name is taken once typed out
    table._group.value = "summ"  # a part of one group's name: that group
    assert table.total == 3 and table._group.value == "Summit Physio"
    table.set_filter(group="Clinic 007")
    assert table._group.value == "Clinic 007" and table.total == 1
    table._group.value = ""
    assert table.total == 263


def test_a_typed_group_name_that_names_no_one_group_says_so_and_what_is_shown(db, clinic):
    """Rule: a partial group name never leaves the previous group filter silently in force."""
    with db.begin() as conn:
        conn.execute(
            s.groups.insert(),
            [{"group_id": f"g-{i}", "name": f"Clinic {i:03d}"} for i in range(250)],
        )
        conn.execute(
            s.memberships.insert(),
            [
                {
                    "group_id": f"g-{i}",
                    "user_id": "u-ops",
                    "role": "administrator",
                    "access_level": "full",
                    "account_owner": True,
                }
                for i in range(250)
            ],
        )
    table = UserTable(db, actor=clinic.ops)
    table._group.value = "Clinic 007"
    table._group.value = "Clinic 24"  # ten groups' names contain it
    assert table.total == 1 and table._group.value == "Clinic 007"  # the box shows what holds
    assert "sees no group 'Clinic 24'" in table.message
    assert (
        "10 whose names contain it ('Clinic 240', 'Clinic 241', 'Clinic 242', ...)" in table.message
    )
    assert "still showing group 'Clinic 007'" in table.message
    assert "opskit-refused" in table._message.value  # in red, under the buttons
    table._group.value = ""
    table._group.value = "Northgate"  # no group's name contains it
    assert table.total == 263 and table._group.value == ""
    assert "still showing all your groups" in table.message


def test_members_of_a_group_the_actor_cannot_see_are_never_selected(db, clinic):
    table = UserTable(db, actor=clinic.sam)
    table.select([("g-harbour", "u-peter"), ("g-summit", "u-mia")])
    assert table.selected == {("g-summit", "u-mia")}


def test_a_selection_too_large_for_one_by_one_is_sent_to_bulk_offboarding(table, monkeypatch):
    from opskit.widgets.user_table import model as user_table

    monkeypatch.setattr(user_table, "MOST_AT_ONCE", 2)
    table.select_page()
    table.deactivate_selected()
    assert table.pending is None
    assert "5 members are selected" in table.message
    assert "bulk offboarding" in table.message
    assert len(table.selected_members()) == 5


# --- what the analyst sees after a click -----------------------------------------------


def test_a_click_on_a_column_header_sorts_by_it_with_the_direction_shown(table):
    head = table._head
    assert head.sorts["name"].description == "Name ▲"
    assert "opskit-sorted-asc" in head.sorts["name"]._dom_classes
    assert head.sorts["email"].description == "Email ⇅"
    head.sorts["email"].click()
    assert (table.sort, table.descending) == ("email", False)
    assert head.sorts["email"].description == "Email ▲" and head.sorts["name"].description == (
        "Name ⇅"
    )
    ascending = [row.row["email"] for row in table.row_widgets]
    head.sorts["email"].click()  # again: the other way
    assert (table.sort, table.descending) == ("email", True)
    assert head.sorts["email"].description == "Email ▼"
    assert "opskit-sorted-desc" in head.sorts["email"]._dom_classes
    assert "opskit-sorted-asc" not in head.sorts["email"]._dom_classes
    assert [row.row["email"] for row in table.row_widgets] != ascending
    assert table._filters.descending.description == "▼ Descending"  # the bar agrees
    head.sorts["last_sign_in_at"].click()  # another column starts ascending
    assert (table.sort, table.descending) == ("last_sign_in_at", False)


def test_details_open_right_under_their_row_and_close_when_it_leaves_the_page(table):
    third = table.row_widgets[2]
    third.details.click()
    boxes = list(table._rows_box.children)
    assert boxes.index(table._detail_panel) == boxes.index(third.box) + 1
    assert table._detail_panel.layout.display != "none"
    assert third.row["email"] in table._detail.value
    table.next_page()  # the member is not on show any more
    assert table._detail_panel.layout.display == "none"
    assert table._detail_panel not in table._rows_box.children


def test_answers_to_the_action_buttons_appear_above_the_table(table):
    """The message, the confirmation, the outcome and the selection's checklist sit right
    under the buttons that asked for them, and the counts right under the filters."""
    parts = list(table.widget.children)
    head = parts.index(table._head.box)
    for answer in (table._message, table._confirm_panel, table._outcome, table._checklist_panel):
        assert parts.index(answer) < head
    pager = next(p for p in parts if table._counts in getattr(p, "children", ()))
    filters = max(
        i for i, p in enumerate(parts) if table._filters.text in getattr(p, "children", ())
    )
    assert parts.index(pager) == filters + 1
    table._deactivate.click()  # nothing selected
    assert "Select the members to deactivate first" in table._message.value
    table.row_widgets[0].check.value = True
    assert "1 selected" in table._counts.value and "of 13 members" in table._counts.value


def test_work_in_the_kernel_shows_the_table_busy_and_then_not(table, monkeypatch):
    seen = []
    real = table.model.goto_page

    def goto_page(number):
        seen.append(table.busy)
        real(number)

    monkeypatch.setattr(table.model, "goto_page", goto_page)
    assert not table.busy
    table._page_box.value = 3  # typed
    assert seen == [True] and not table.busy
    assert table.page == 2
    assert '<span class="opskit-busy-label">' in table._busy_label.value


def test_a_deactivated_member_is_unticked(table):
    table.set_filter(text="peter")
    (row,) = table.row_widgets
    row.check.value = True
    table._deactivate.click()
    table._confirm.click()
    assert table.row_of("peter@example.test").greyed
    assert not table.row_of("peter@example.test").check.value
    assert table.status_text().endswith("· 0 selected")


def test_cells_carry_their_full_value_and_emails_break_at_dots(table):
    table.set_filter(text="peter")
    cells = table.row_widgets[0].cells.value
    assert 'class="opskit-col-email" title="peter@example.test"' in cells
    assert "peter<wbr>@example<wbr>.test" in cells
    assert 'class="opskit-col-group" title="Harbour Clinic"' in cells
