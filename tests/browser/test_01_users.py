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
