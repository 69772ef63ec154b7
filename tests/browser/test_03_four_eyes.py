"""Notebook 03 in bound mode with two logins (docs/rules.md 9.1 and 9.2): operator A plans
and submits the plan for review, operator B opens it in their own session, sees it and
approves it, then A applies it; before the approval A's Apply is refused.

As JupyterHub runs them: one JupyterLab server per user, each with its own notebook
folder and ``JUPYTERHUB_USER`` (the login on SQLite, opskit/identity.py), both over one
database in bound mode, with a shared folder for the plans under review (each user's
``build/reviews``). The database is this module's own: bound mode must not reach the
rest of the suite's notebooks.
"""

from __future__ import annotations

import contextlib
import os
import subprocess

import pytest
import sqlalchemy as sa

from .lab import (
    ARTIFACTS,
    BIN,
    FROZEN_NOW,
    REPO,
    LabServer,
    Shots,
    assert_beside,
    assert_in_view,
    assert_widgets_rendered,
    copy_notebooks,
    new_page,
    open_notebook,
    picture_on_failure,
    require_notebook,
    run_all_cells,
)

pytestmark = pytest.mark.browser

NOTEBOOK = "03_bulk_offboarding.ipynb"
TOM = "tom.becker@harbourphysio.example"
ALICE = ("alice", "analyst@opskit.demo")  # login, the user it acts as
BOB = ("bob", "fiona.walsh@harbourphysio.example")  # Full Access in Harbour too


def _opskit(url: str, login: str, *args: str) -> None:
    env = {**os.environ, "OPSKIT_NOW": FROZEN_NOW, "JUPYTERHUB_USER": login}
    result = subprocess.run(
        [str(BIN / "opskit"), *args, "--db", url], capture_output=True, text=True, env=env
    )
    if result.returncode != 0:
        pytest.fail(f"opskit {' '.join(args)} failed:\n{result.stdout}{result.stderr}")


@pytest.fixture(scope="module")
def bound(tmp_path_factory):
    """The demo data in bound mode: alice acts as the analyst, bob as Fiona Walsh."""
    path = tmp_path_factory.mktemp("bound-db") / "opskit.db"
    url = f"sqlite:///{path}"
    _opskit(url, ALICE[0], "demo")
    _opskit(url, ALICE[0], "operators", "add", ALICE[0], ALICE[1], "--actor", ALICE[1])
    _opskit(url, ALICE[0], "operators", "add", BOB[0], BOB[1])
    engine = sa.create_engine(url)
    yield url, engine
    engine.dispose()


@pytest.fixture(scope="module")
def labs(tmp_path_factory, bound):
    """Alice's and Bob's own JupyterLab servers."""
    require_notebook_dir = REPO / "notebooks"
    shared = tmp_path_factory.mktemp("reviews")
    servers = {}
    try:
        for login, _user in (ALICE, BOB):
            root = tmp_path_factory.mktemp(f"lab-{login}")
            notebooks = root / "notebooks"
            copy_notebooks(require_notebook_dir, notebooks)
            (notebooks / "build").mkdir()
            (notebooks / "build" / "reviews").symlink_to(shared, target_is_directory=True)
            server = LabServer(
                root=root,
                notebook_dir=notebooks,
                database_url=bound[0],
                env={"JUPYTERHUB_USER": login},
            )
            servers[login] = server
            server.start()
        yield servers
    finally:
        for server in servers.values():
            with contextlib.suppress(Exception):
                server.shutdown_kernels()
            server.stop()


def status(engine) -> str:
    with engine.connect() as conn:
        return conn.execute(
            sa.text(
                "SELECT status FROM memberships WHERE group_id = 'g-harbour' AND user_id = 'u-tom'"
            )
        ).scalar_one()


def _open(browser, lab, login):
    page = new_page(browser, lab)
    with picture_on_failure(page, f"four_eyes-{login}-setup"):
        require_notebook(lab, NOTEBOOK)
        panel = open_notebook(page, lab, NOTEBOOK)
        run_all_cells(page)
        assert_widgets_rendered(page)
    plan_button = page.get_by_role("button", name="Plan", exact=True)
    return page, panel.locator(".jupyter-widgets", has=plan_button).first


def test_a_plan_is_applied_only_after_a_second_operator_approved_it(browser, labs, bound):
    url, engine = bound
    # the demo's replayed history has deactivations of its own: only this test's count
    with engine.connect() as conn:
        before = conn.execute(
            sa.text("SELECT COALESCE(MAX(event_id), 0) FROM audit_events")
        ).scalar_one()
    folder = ARTIFACTS / "four_eyes"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    pages = []
    try:
        # --- Alice plans and submits
        page_a, alice = _open(browser, labs["alice"], "alice")
        pages.append(page_a)
        shots_a = Shots(page=page_a, folder=folder)
        assert f"you act as {ALICE[1]} (login alice, jupyterhub)" in alice.inner_text()
        alice.get_by_role("tab", name="Paste emails").click()
        alice.locator("textarea").fill(TOM)
        alice.get_by_role("button", name="Plan", exact=True).click()
        alice.locator("table.opskit-plan tr", has_text=TOM).wait_for()
        alice.get_by_text("Deactivate 1 membership: 1 member in 1 group").first.wait_for()

        # apply is refused before approval: said at once, beside the button, no question
        apply = alice.get_by_role("button", name="Apply…")
        apply.click()
        refusal = alice.get_by_text("has no approval of exactly its content")
        refusal.wait_for()
        assert_beside(page_a, refusal, apply, "the refusal")
        assert not alice.get_by_role("button", name="Confirm", exact=True).is_visible()
        shots_a("a-apply-refused-before-approval")
        assert status(engine) == "active"

        submit = alice.get_by_role("button", name="Submit for review")
        submit.click()
        submitted = alice.get_by_text("submitted for review: ")
        submitted.wait_for()
        assert_beside(page_a, submitted, submit, "the submission's message")
        shots_a("a-submitted")
        plan_file = submitted.inner_text().split("submitted for review: ")[1].split(";")[0]
        assert plan_file.startswith("build/reviews/plan-"), plan_file

        # --- Bob, in his own session, opens it, sees the plan and approves
        page_b, bob = _open(browser, labs["bob"], "bob")
        pages.append(page_b)
        shots_b = Shots(page=page_b, folder=folder, count=shots_a.count)
        assert f"you act as {BOB[1]} (login bob, jupyterhub)" in bob.inner_text()
        chooser = bob.locator("input[list]")
        offered = chooser.evaluate("input => [...input.list.options].map(option => option.value)")
        assert offered == [plan_file], "the submitted plan is offered to the reviewer"
        chooser.fill(plan_file)
        bob.get_by_role("button", name="Open for review").click()
        opened = bob.get_by_text(f"plan by {ALICE[1]}")
        opened.wait_for()
        assert "not approved yet" in opened.inner_text()
        row = bob.locator('table.opskit-plan tr[data-blocker=""]')
        assert row.count() == 1 and TOM in row.inner_text()
        shots_b("b-opened-for-review")
        approve = bob.get_by_role("button", name="Approve")
        approve.click()
        approved = bob.get_by_text(f"approved by {BOB[1]}")
        approved.wait_for()
        assert_beside(page_b, approved, approve, "the approval's message")
        shots_b("b-approved")
        assert status(engine) == "active"  # approving changes no member

        # --- Alice applies: the confirmation names the approval
        page_a.bring_to_front()
        alice.get_by_role("button", name="Apply…").click()
        confirm = alice.get_by_role("button", name="Confirm", exact=True)
        confirm.wait_for()
        confirm_only = page_a.get_by_role("button", name="Confirm", exact=True)
        asking = alice.locator(".widget-vbox", has=confirm_only).last
        assert f"approved by {BOB[1]} (login bob)" in asking.inner_text()
        assert_in_view(page_a, asking, "the apply confirmation")
        shots_a.count = shots_b.count
        shots_a("a-apply-confirmation")
        confirm.click()
        done = alice.get_by_text(" done: deactivated 1")
        done.wait_for()
        assert_beside(page_a, done, apply, "the run's message")
        shots_a("a-applied")
        assert status(engine) == "inactive"
    except BaseException:
        for index, page in enumerate(pages):
            with contextlib.suppress(Exception):
                page.screenshot(path=str(folder / f"failure-{index}.png"))
        raise
    finally:
        for page in pages:
            page.context.close()
    with engine.connect() as conn:
        events = conn.execute(
            sa.text(
                "SELECT action, login FROM audit_events WHERE event_id > :before"
                " AND action IN ('plan_approved', 'deactivated') ORDER BY event_id"
            ),
            {"before": before},
        ).all()
    assert [tuple(e) for e in events] == [("plan_approved", "bob"), ("deactivated", "alice")]
