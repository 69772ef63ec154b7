"""Notebook 01: the user table in the browser, from rendering to a deactivation.

The module's tests share one run of the notebook (opening and running it is most of a
test's time); each starts by setting the filters it needs. The deactivated practitioner
(Leo Marsh) is touched by no other browser test, nor by notebook 03's example plan; the
refused Full Access member (Fiona Walsh) is refused everywhere.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from .lab import (
    assert_widgets_rendered,
    choose_options,
    new_page,
    open_notebook,
    picture_on_failure,
    require_notebook,
    run_all_cells,
)

pytestmark = pytest.mark.browser

NOTEBOOK = "01_users.ipynb"
LEO = "leo.marsh@summitsports.example"  # practitioner, clinical, one open session
FIONA = "fiona.walsh@harbourphysio.example"  # practitioner with Full Access
INACTIVE = {
    "ivan.petrov@harbourphysio.example",
    "nina.berg@summitsports.example",
    "eve.larsen@willowcreek.example",
}


@pytest.fixture(scope="module")
def users_page(browser, lab):
    require_notebook(lab, NOTEBOOK)
    page = new_page(browser, lab)
    with picture_on_failure(page, "01_users-setup"):
        open_notebook(page, lab, NOTEBOOK)
        run_all_cells(page)
    yield page
    page.context.close()
    lab.shutdown_kernels()


@pytest.fixture
def page(users_page):
    """Overrides the suite's page: this module's tests share the notebook's page."""
    return users_page


@pytest.fixture
def table(page):
    """The user table's root element."""
    table = page.locator(".opskit-user-table")
    table.first.wait_for()
    assert table.count() == 1, "one user table in the notebook"
    assert_widgets_rendered(page)
    return table


def rows(table):
    return table.locator(".opskit-row:visible")


def row_of(table, email):
    return table.locator(".opskit-row:visible", has_text=email)


def members_on_page(table) -> list[tuple[str, str]]:
    """(email, group) of each row on show, as the cells read."""
    pairs = rows(table).evaluate_all(
        """(rows) => rows.map(row => {
            const cells = [...row.querySelectorAll('.opskit-cells > span')];
            return [cells[1].innerText.trim(), cells[2].innerText.trim()];
        })"""
    )
    return [tuple(pair) for pair in pairs]


def emails_on_page(table) -> set[str]:
    return {email for email, _group in members_on_page(table)}


def status_line(table) -> str:
    """ "Showing 11–20 of 30 members · 0 selected" under the table."""
    return table.get_by_text("Showing ").last.inner_text()


def after_change(page, table, action) -> None:
    """Do ``action`` and wait until the kernel has redrawn the table's status line."""
    before = status_line(table)
    action()
    page.wait_for_function(
        """([table, before]) => {
            const line = [...table.querySelectorAll('.widget-html')].find(node =>
                node.innerText.includes('Showing ') || node.innerText.includes('No members'));
            return line && line.innerText.trim() !== before.trim();
        }""",
        arg=[table.element_handle(), before],
    )


def search(page, table, text) -> None:
    """Type in the search box, press Enter, and wait for the table to show only matches."""
    box = table.get_by_placeholder("Search name or email")

    def type_it():
        box.fill(text)
        box.press("Enter")

    after_change(page, table, type_it)
    shown = rows(table).all_inner_texts()
    assert shown, f"no member matches {text!r}"
    assert all(text.lower() in row.lower() for row in shown), shown


def select(page, table, email) -> None:
    row = row_of(table, email)
    row.locator("input[type=checkbox]").check()
    table.locator(".opskit-row.opskit-selected:visible", has_text=email).wait_for()


def is_greyed(row) -> bool:
    """Greyed as the analyst sees it: the widget's class and a faded computed style."""
    faded = row.evaluate(
        """(row) => {
            const cells = row.querySelector('.opskit-cells');
            return parseFloat(getComputedStyle(row).opacity) < 1
                && getComputedStyle(cells).color === 'rgb(158, 158, 158)';
        }"""
    )
    return faded and "opskit-inactive" in (row.get_attribute("class") or "")


def next_page_button(table):
    # the pager's buttons are icons only
    return table.get_by_role("button", name="Next page").or_(
        table.locator("button:has(.fa-chevron-right)")
    )


def member_state(engine, group_id, user_id) -> tuple[str, int]:
    """(status, open sessions) of a membership, read from the database file."""
    with engine.connect() as conn:
        status = conn.execute(
            sa.text("SELECT status FROM memberships WHERE group_id = :g AND user_id = :u"),
            {"g": group_id, "u": user_id},
        ).scalar_one()
        sessions = conn.execute(
            sa.text(
                "SELECT count(*) FROM sessions WHERE group_id = :g AND user_id = :u"
                " AND revoked_at IS NULL"
            ),
            {"g": group_id, "u": user_id},
        ).scalar_one()
    return status, sessions


def test_the_user_table_shows_rows_pages_and_greys_inactive_members(page, shots, table):
    shots("table-rendered", table)
    first_page = members_on_page(table)
    assert first_page, "the table shows rows"
    total = int(status_line(table).split(" of ")[1].split()[0])
    assert total > len(first_page), "the demo fills more than one page"

    # inactive members come after the active ones: page on until they show, greyed
    seen = set(first_page)
    while not INACTIVE & emails_on_page(table):
        after_change(page, table, next_page_button(table).first.click)
        now = members_on_page(table)
        assert now, "the next page shows rows"
        assert not seen & set(now), "paging shows a member twice"
        seen |= set(now)
    shots("page-with-inactive-members", table)
    for email in INACTIVE & emails_on_page(table):
        assert is_greyed(row_of(table, email)), f"{email} is inactive and should be greyed"
    active = [e for e, _ in members_on_page(table) if e not in INACTIVE]
    assert active and not is_greyed(row_of(table, active[0]).first)


def dropdown_texts(table) -> list[str]:
    return table.locator(".widget-dropdown select").evaluate_all(
        """selects => selects.map(s =>
            s.selectedIndex < 0 ? '' : s.options[s.selectedIndex].text.replace(/\\s+/g, ' '))"""
    )


def test_the_filter_dropdowns_always_show_their_choice(page, shots, table):
    shown = {"on show": dropdown_texts(table)}
    role = table.locator(".widget-dropdown select", has=page.locator("option", has_text="Any role"))
    after_change(page, table, lambda: choose_options(role, "Practitioner"))
    shown["role chosen"] = dropdown_texts(table)
    after_change(page, table, table.get_by_role("button", name="Clear filters").click)
    shown["filters cleared"] = dropdown_texts(table)
    shots("filters-cleared", table)
    blank = {when: texts for when, texts in shown.items() if any(not t.strip() for t in texts)}
    assert not blank, f"blank dropdowns: {blank}"


def test_a_practitioner_is_deactivated_from_the_table(page, shots, table, demo_engine):
    assert member_state(demo_engine, "g-summit", "u-leo") == ("active", 1)
    search(page, table, "leo.marsh")
    assert not is_greyed(row_of(table, LEO))
    select(page, table, LEO)
    table.get_by_role("button", name="Deactivate…").click()
    confirm = table.get_by_role("button", name="Confirm deactivation")
    confirm.wait_for()
    assert "Deactivate 1 member" in confirm.locator("xpath=../../..").inner_text()
    shots("confirmation", confirm)
    confirm.click()

    outcome = table.locator("tr.opskit-done", has_text=LEO)
    outcome.wait_for()
    assert "deactivated" in outcome.inner_text()
    assert "1 session revoked" in outcome.inner_text()
    greyed = table.locator(".opskit-row.opskit-inactive:visible", has_text=LEO)
    greyed.wait_for()
    assert is_greyed(greyed)
    shots("deactivated", outcome)
    assert member_state(demo_engine, "g-summit", "u-leo") == ("inactive", 0)


def test_deactivating_a_full_access_member_is_refused_inline(page, shots, table, demo_engine):
    search(page, table, "fiona")
    select(page, table, FIONA)
    table.get_by_role("button", name="Deactivate…").click()
    confirm = table.get_by_role("button", name="Confirm deactivation")
    confirm.wait_for()
    confirm.click()

    refusal = table.locator("tr.opskit-refused", has_text=FIONA)
    refusal.wait_for()
    assert "lower their access level first" in refusal.inner_text()
    shots("refused", refusal)
    assert not is_greyed(row_of(table, FIONA))
    assert member_state(demo_engine, "g-harbour", "u-fiona")[0] == "active"


# --- readable at 1440 and 1920 px, answers in view (issue 21) -----------------------------


def show_everyone(page, table) -> None:
    """No filter, no selection, sorted by name, the first page: what the notebook opens on."""
    if table.locator(".opskit-row.opskit-selected:visible").count():
        after_change(page, table, table.get_by_role("button", name="Clear selection").click)
    if not status_line(table).startswith("Showing 1–25 of 30 members"):
        after_change(page, table, table.get_by_role("button", name="Clear filters").click)
    name = table.locator("button.opskit-sort-name")
    if "▲" not in name.inner_text():
        name.click()  # the counts stay the same: wait for the arrow
        table.locator("button.opskit-sort-name.opskit-sorted-asc", has_text="▲").wait_for()


def in_view(locator) -> bool:
    """Is the top of the element on the screen (no scrolling needed to see it)?"""
    return locator.evaluate(
        """(el) => { const r = el.getBoundingClientRect();
                     return r.height > 0 && r.top >= 0 && r.top < window.innerHeight - 20; }"""
    )


def wait_in_view(page, locator) -> None:
    locator.wait_for()
    page.wait_for_function(
        """(el) => { const r = el.getBoundingClientRect();
                     return r.height > 0 && r.top >= 0 && r.top < window.innerHeight - 20; }""",
        arg=locator.element_handle(),
        timeout=5_000,
    )


CUT = """(table) => {
    const cut = (el) => el.scrollWidth > el.clientWidth + 1
        || el.scrollHeight > el.clientHeight + 1;
    const rows = [...table.querySelectorAll('.opskit-row')].filter(r => r.offsetParent);
    const cells = rows.flatMap(r => [...r.querySelectorAll(
        '.opskit-col-name, .opskit-col-email, .opskit-col-group, .opskit-col-role,'
        + ' .opskit-col-access, .opskit-col-last-sign-in')]);
    const heads = [...table.querySelectorAll('.opskit-head-cells > *')];
    const buttons = [...table.querySelectorAll('button')].filter(b => b.offsetParent);
    const grids = [...table.querySelectorAll('.opskit-head-cells, .opskit-cells')]
        .filter(g => g.offsetParent);  // a grid wider than its place runs under Details
    return [...cells, ...heads, ...buttons, ...grids].filter(cut).map(el => [el.innerText.trim(),
        el.scrollWidth, el.clientWidth, el.scrollHeight, el.clientHeight]);
}"""


@pytest.mark.parametrize("size", [(1440, 900), (1920, 1080)], ids=["1440", "1920"])
def test_no_email_group_name_header_or_button_is_cut(page, shots, table, size):
    """Rule: every email, group and name on the page reads in full (wrapped, never cut
    with an ellipsis), and so do the column titles and the buttons (Details included)."""
    width, height = size
    page.set_viewport_size({"width": width, "height": height})
    show_everyone(page, table)
    page.wait_for_timeout(300)  # the layout follows the new width
    rows(table).first.scroll_into_view_if_needed()
    shots(f"table-at-{width}", rows(table).first)
    cut = table.evaluate(CUT)
    assert not cut, f"cut (text, scroll/client width, scroll/client height): {cut}"
    emails = rows(table).evaluate_all(
        "rows => rows.map(r => r.querySelector('.opskit-col-email').title)"
    )
    assert all("@" in email for email in emails), emails  # the full value in a tooltip too


def test_column_titles_sit_over_their_columns(page, table):
    page.set_viewport_size({"width": 1440, "height": 900})
    show_everyone(page, table)
    offsets = table.evaluate(
        """(table) => {
            const heads = [...table.querySelectorAll('.opskit-head-cells > *')];
            const row = [...table.querySelectorAll('.opskit-row')].find(r => r.offsetParent);
            const cells = [...row.querySelectorAll('.opskit-cells > span')];
            return heads.map((h, i) => [h.innerText.trim(),
                h.getBoundingClientRect().left - cells[i].getBoundingClientRect().left,
                h.getBoundingClientRect().width - cells[i].getBoundingClientRect().width]);
        }"""
    )
    assert len(offsets) == 11
    assert all(abs(left) <= 2 and abs(wide) <= 2 for _, left, wide in offsets), offsets


def test_a_header_click_sorts_with_the_direction_shown(page, shots, table):
    page.set_viewport_size({"width": 1440, "height": 900})
    show_everyone(page, table)
    email = table.locator("button.opskit-sort-email")
    email.click()
    table.locator("button.opskit-sort-email.opskit-sorted-asc", has_text="▲").wait_for()
    ascending = [e for e, _ in members_on_page(table)]
    assert ascending == sorted(ascending, key=str.lower)
    email.click()
    table.locator("button.opskit-sort-email.opskit-sorted-desc", has_text="▼").wait_for()
    page.wait_for_function(
        """([table, first]) => table.querySelector('.opskit-col-email').title !== first""",
        arg=[table.element_handle(), ascending[0]],
    )
    descending = [e for e, _ in members_on_page(table)]
    assert descending == sorted(descending, key=str.lower, reverse=True)
    shots("sorted-by-email-descending", table.locator(".opskit-head"))
    assert "⇅" in table.locator("button.opskit-sort-name").inner_text()
    show_everyone(page, table)


def test_details_and_answers_open_where_the_analyst_is_looking(page, shots, table):
    """Rule: what a click causes is on the screen after it: a row's details (the row low
    on the screen), a step to take first, the selection's checklist."""
    page.set_viewport_size({"width": 1440, "height": 900})
    show_everyone(page, table)
    last = rows(table).last
    last.scroll_into_view_if_needed()  # the row sits at the bottom of the screen
    last.locator("button.opskit-details").click()
    panel = table.locator(".opskit-details-panel")
    wait_in_view(page, panel)
    email = last.locator(".opskit-col-email").get_attribute("title")
    assert email in panel.inner_text()
    shots("details-in-view")
    panel.get_by_role("button", name="Close").click()
    panel.wait_for(state="hidden")

    table.get_by_role("button", name="Deactivate…").scroll_into_view_if_needed()
    table.get_by_role("button", name="Deactivate…").click()
    message = table.locator(".opskit-message", has_text="Select the members to deactivate first")
    wait_in_view(page, message)
    shots("step-first-in-view")

    select(page, table, rows(table).first.locator(".opskit-col-email").get_attribute("title"))
    counts = table.locator(".opskit-counts")
    assert in_view(counts) and "1 selected" in counts.inner_text()  # beside the filters
    table.get_by_role("button", name="Checklist").click()
    checklist = table.locator(".opskit-checklist-panel")
    wait_in_view(page, checklist)
    assert "Checklist of 1 selected" in checklist.inner_text()
    shots("checklist-in-view")
    checklist.get_by_role("button", name="Close").click()
    show_everyone(page, table)
