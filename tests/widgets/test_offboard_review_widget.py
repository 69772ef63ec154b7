"""docs/rules.md 9.2 in the offboarding widget: plan, "Submit for review", a second
operator opens the file, sees the plan and approves it, then Apply. In bound mode the
actor may be left empty and the widget says who you act as. Logins are real
PostgreSQL roles on PostgreSQL (tests/logins.py)."""

from __future__ import annotations

from sqlalchemy import select

from opskit import schema as s
from opskit.identity import add_operator
from opskit.widgets import OffboardingWidget


def _status(db, name):
    m = s.memberships.c
    with db.read() as conn:
        return conn.execute(
            select(m.status).where(m.group_id == "g-harbour", m.user_id == f"u-{name}")
        ).scalar_one()


def _bound(logins, clinic):
    add_operator(logins.db, logins.owner, clinic.ops, actor=clinic.ops)
    add_operator(logins.db, logins.name("alice"), clinic.fiona)
    add_operator(logins.db, logins.name("bob"), clinic.olivia)


def test_the_widget_says_who_you_act_as(clinic, logins):
    with logins.acting("alice") as db:
        assert "no operator mapping" in OffboardingWidget(db).identity.value
    _bound(logins, clinic)
    with logins.acting("alice") as db:
        widget = OffboardingWidget(db)
    shown = widget.identity.value
    assert f"you act as {clinic.fiona}" in shown and logins.name("alice") in shown
    assert widget.actor_box.placeholder == f"empty: {clinic.fiona}"
    with logins.acting("mallory") as db:
        assert "may look, not change" in OffboardingWidget(db).identity.value


def test_plan_submit_a_second_operator_approves_then_apply(clinic, logins, tmp_path):
    _bound(logins, clinic)
    with logins.acting("alice") as db:
        maker = OffboardingWidget(db, review_dir=tmp_path)
        maker.use_pasted(f"{clinic.peter}\n{clinic.frank}")
        maker.plan_button.click()
        assert maker.plan is not None and maker.plan.actor == clinic.fiona
        # without an approval Apply says so at once, asks nothing, and nothing changes
        maker.apply_button.click()
        assert maker.confirm_box.layout.display == "none"
        assert "no approval" in maker.message.value and "Submit for review" in (maker.message.value)
        maker.confirm_button.click()
        assert _status(logins.db, "peter") == "active"
        maker.submit_button.click()
        path = maker.submitted
        assert path is not None and path.exists()
        assert str(path) in maker.message.value
        # the maker cannot approve their own plan
        own = OffboardingWidget(db, review_dir=tmp_path)
        own.open_for_review(path)
        own.approve_button.click()
        assert "made this plan" in own.message.value
    with logins.acting("bob") as db:
        reviewer = OffboardingWidget(db, review_dir=tmp_path)
        # the submitted plan is offered to pick
        assert reviewer.review_path.options == (str(path),)
        reviewer.review_path.value = str(path)
        reviewer.open_button.click()
        assert clinic.peter in reviewer.plan_view.value
        assert f"plan by {clinic.fiona}" in reviewer.message.value
        assert "not approved yet" in reviewer.message.value
        assert not reviewer.approve_button.disabled
        reviewer.approve_button.click()
        assert f"approved by {clinic.olivia}" in reviewer.message.value
        assert reviewer.approve_button.disabled
    with logins.acting("alice") as db:
        maker.db = db
        maker.apply_button.click()
        approved = f"approved by {clinic.olivia} (login {logins.name('bob')})"
        assert approved in maker.confirm_text.value
        maker.confirm_button.click()
        assert "done" in maker.message.value, maker.message.value
    assert _status(logins.db, "peter") == _status(logins.db, "frank") == "inactive"


def test_opening_a_missing_plan_file_says_so(clinic, logins, tmp_path):
    with logins.acting("alice") as db:
        widget = OffboardingWidget(db, review_dir=tmp_path)
        assert widget.open_for_review(tmp_path / "nope.json") is None
        assert "nope.json" in widget.message.value
        assert widget.approve_button.disabled


def test_opening_with_no_plan_chosen_says_what_to_choose(clinic, logins, tmp_path):
    with logins.acting("alice") as db:
        widget = OffboardingWidget(db, review_dir=tmp_path / "none-yet")
        widget.open_button.click()
    assert "choose a submitted plan (0 in" in widget.message.value
    assert widget.plan is None and widget.approve_button.disabled
