"""Bulk offboarding in a notebook: input, plan review, apply with progress, results, undo.

Everything here displays or collects input; planning, approving, applying and undoing
are ``opskit.offboard``'s. Apply and undo each ask first: the confirmation states how
many members in how many groups will change, and nothing is written until it is
confirmed.

Every control sits above the long tables (the plan and the run's rows, up to 500 rows
each), and the messages and confirmations sit right under the controls: whatever
button was clicked, what it says appears next to it, never thousands of pixels away
beyond a table.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import ipywidgets as w

from ..db import Database, connect
from ..errors import BadInput, OpskitError
from ..identity import whoami
from ..offboard import (
    RUN_ROW_COLUMNS,
    Plan,
    RunSummary,
    UndoResult,
    apply_plan,
    plan_offboarding,
    run_rows,
    undo_run,
)
from ..offboard.input import parse_pasted
from ..offboard.review import approvals, approve_plan, plan_digest, require_approval
from ..spreadsheet import write_csv

_CELL = "padding:3px 8px;border:1px solid #ddd;text-align:left;vertical-align:top"
_HEAD = f"{_CELL};background:#fafafa"
_BLOCKED = "background:#fdecea;color:#8e1b1b"
_BADGE = "padding:0 6px;border-radius:3px;font-size:11px;white-space:nowrap"
RESULT_COLOURS = {
    "deactivated": ("#ffffff", "#2e7d32"),
    "read_only": ("#ffffff", "#1565c0"),
    "reactivated": ("#ffffff", "#2e7d32"),
    "changed": ("#ffffff", "#1565c0"),
    "unchanged": ("#424242", "#eeeeee"),
    "blocked": ("#ffffff", "#c62828"),
    "stale": ("#4e342e", "#ffcc80"),
    "failed": ("#ffffff", "#6a1b9a"),
    None: ("#424242", "#fff59d"),  # pending
}


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _table(head: list[str], rows: list[str], css_class: str) -> str:
    cells = "".join(f'<th style="{_HEAD}">{_e(h)}</th>' for h in head)
    return (
        f'<table class="{css_class}" style="border-collapse:collapse;font-size:12px">'
        f"<thead><tr>{cells}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def plan_html(plan: Plan, *, limit: int | None = 500) -> str:
    """The plan as an HTML table: blocked rows red with their blocker and reason."""
    rows = []
    for r in plan.rows[:limit] if limit else plan.rows:
        blocked = r.blocker is not None
        style = f' style="{_BLOCKED}"' if blocked else ""
        what = (
            f'<span style="{_BADGE};background:#c62828;color:#fff">{_e(r.blocker)}</span> '
            f"{_e(r.message)}"
            if blocked
            else '<span style="color:#2e7d32">will be applied</span>'
        )
        rows.append(
            f'<tr data-row="{r.row}" data-blocker="{_e(r.blocker)}"{style}>'
            f'<td style="{_CELL}">{r.row}</td><td style="{_CELL}">{_e(r.line)}</td>'
            f'<td style="{_CELL}">{_e(r.group or "")}</td>'
            f'<td style="{_CELL}">{_e(r.name or "")} &lt;{_e(r.email)}&gt;</td>'
            f'<td style="{_CELL}">{_e(r.action)}</td><td style="{_CELL}">{what}</td>'
            f'<td style="{_CELL}">{_e(", ".join(r.checklist))}</td>'
            f'<td style="{_CELL}">{r.sessions}</td>'
            f'<td style="{_CELL}">{r.future_appointments}</td></tr>'
        )
    head = ["row", "line", "group", "member", "action", "blocker", "checklist to resolve"]
    head += ["sessions to revoke", "future appts"]
    more = len(plan.rows) - len(rows)
    tail = f"<p>and {more:,} more rows (see the plan file)</p>" if more > 0 else ""
    return _table(head, rows, "opskit-plan") + tail


def counts_html(plan: Plan) -> str:
    """Rows to apply and blocked, by group and action, and the blockers by kind."""
    rows = [
        f'<tr><td style="{_CELL}">{_e(c["group"] or "(not found)")}</td>'
        f'<td style="{_CELL}">{_e(c["action"])}</td>'
        f'<td style="{_CELL}">{c["to_apply"]}</td><td style="{_CELL}">{c["blocked"]}</td></tr>'
        for c in plan.counts()
    ]
    blockers = ", ".join(f"{kind} {n}" for kind, n in plan.blockers().items()) or "none"
    return (
        f"<p><b>{_e(plan.describe())}</b></p>"
        + _table(["group", "action", "to apply", "blocked"], rows, "opskit-plan-counts")
        + f"<p>Blocked rows by reason: {_e(blockers)}</p>"
    )


def results_html(rows: Iterable[Mapping[str, Any]], *, limit: int | None = 500) -> str:
    """A run's rows, each result coloured."""
    shown = []
    rows = list(rows)
    for r in rows[:limit] if limit else rows:
        text, background = RESULT_COLOURS.get(r.get("result"), RESULT_COLOURS[None])
        label = r.get("result") or "pending"
        shown.append(
            f'<tr data-row="{r["row"]}" data-result="{_e(r.get("result"))}">'
            f'<td style="{_CELL}">{r["row"]}</td><td style="{_CELL}">{_e(r.get("group"))}</td>'
            f'<td style="{_CELL}">{_e(r["email"])}</td><td style="{_CELL}">{_e(r["action"])}</td>'
            f'<td style="{_CELL}"><span style="{_BADGE};color:{text};background:{background}">'
            f'{_e(label)}</span></td><td style="{_CELL}">{_e(r.get("message"))}</td></tr>'
        )
    more = len(rows) - len(shown)
    tail = f"<p>and {more:,} more rows (download the CSV)</p>" if more > 0 else ""
    return (
        _table(["row", "group", "email", "action", "result", "message"], shown, "opskit-run") + tail
    )


class PlanTable:
    """A plan that a notebook shows as counts and the highlighted table."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan

    def _repr_html_(self) -> str:
        return counts_html(self.plan) + plan_html(self.plan)

    def __repr__(self) -> str:
        return f"<plan: {self.plan.describe()}>"


class RunTable:
    """A run's rows that a notebook shows with coloured results."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows

    def _repr_html_(self) -> str:
        return results_html(self.rows)

    def __repr__(self) -> str:
        return f"<run rows: {len(self.rows)}>"


def results_csv(rows: Iterable[Mapping[str, Any]]) -> str:
    """A run's rows as CSV text (the columns of ``opskit offboard status RUN``)."""
    out = io.StringIO()
    write_csv(out, RUN_ROW_COLUMNS, ([row.get(c) for c in RUN_ROW_COLUMNS] for row in rows))
    return out.getvalue()


def download_link(text: str, filename: str, label: str | None = None) -> str:
    """An HTML link that downloads ``text`` as a file, with no server round trip."""
    data = base64.b64encode(text.encode("utf-8")).decode("ascii")
    return (
        f'<a download="{_e(filename)}" href="data:text/csv;charset=utf-8;base64,{data}" '
        f'style="font-weight:bold">{_e(label or f"Download {filename}")}</a>'
    )


def _message(text: str, kind: str = "info") -> str:
    colour = {"info": "#333", "ok": "#1b5e20", "error": "#c62828"}[kind]
    return f'<div style="color:{colour};padding:4px 0">{html.escape(text)}</div>'


Selection = Iterable[Mapping[str, Any]] | Callable[[], Iterable[Mapping[str, Any]]]


class OffboardingWidget(w.VBox):
    """Who is leaving (uploaded CSV, pasted emails or a saved selection), the plan to
    review, Apply behind a confirmation, progress, results with a CSV download, undo.

    Four eyes (docs/rules.md 9.2): "Submit for review" saves the plan under
    ``review_dir``; a second operator opens that file, sees the plan and approves it;
    then Apply. In bound mode the widget says who you act as and the actor may be left
    empty."""

    SOURCES = ("Upload CSV", "Paste emails", "Saved selection")

    def __init__(
        self,
        db: Database | str | None = None,
        *,
        actor: str = "",
        resolve_checklist: bool = True,
        read_only: bool = False,
        selections: Mapping[str, Selection] | None = None,
        review_dir: str | Path = "build/reviews",
    ) -> None:
        self.db = db if isinstance(db, Database) else connect(db)
        self.review_dir = Path(review_dir)
        self.submitted: Path | None = None
        self.approval: dict[str, Any] | None = None
        self.plan: Plan | None = None
        self.run: RunSummary | None = None
        self.results: list[dict[str, Any]] = []
        self.undone: UndoResult | None = None
        self._asking: str | None = None  # "apply" or "undo" while a confirmation is open
        self.selections = dict(selections or {})

        self.upload = w.FileUpload(accept=".csv,text/csv,text/plain", multiple=False)
        self.upload_name = w.HTML("<i>no file yet</i>")
        self.paste = w.Textarea(
            placeholder="one email per line, or separated by commas or semicolons; "
            "a first line with an 'email' header is read as CSV",
            layout=w.Layout(width="70%", height="120px"),
        )
        self.selection_picker = w.Dropdown(options=list(self.selections), description="Selection")
        self.source = w.Tab(
            children=[
                w.VBox([self.upload, self.upload_name]),
                self.paste,
                self.selection_picker,
            ]
        )
        for index, title in enumerate(self.SOURCES):
            self.source.set_title(index, title)

        me = whoami(self.db)
        self.actor_box = w.Text(
            value=actor,
            description="Actor",
            # bound mode: the box may stay empty, the login says who acts
            placeholder=f"empty: {me['user']}" if me["user"] else "email",
        )
        self.identity = w.HTML(self._identity_html(me))
        self.submit_button = w.Button(description="Submit for review", disabled=True)
        # the plans submitted so far are offered; any other path may be typed
        self.review_path = w.Combobox(
            description="Plan file",
            placeholder="a submitted plan",
            options=self._submitted_plans(),
            ensure_option=False,
            layout=w.Layout(width="30em"),
        )
        self.open_button = w.Button(description="Open for review")
        self.approve_button = w.Button(description="Approve", button_style="success", disabled=True)
        whole = {"style": {"description_width": "initial"}, "layout": w.Layout(width="auto")}
        self.checklist_box = w.Checkbox(
            value=resolve_checklist, description="Resolve checklist", **whole
        )
        self.read_only_box = w.Checkbox(
            value=read_only, description="Read-only instead of deactivate", **whole
        )
        self.plan_button = w.Button(description="Plan", button_style="primary")
        self.summary = w.HTML()
        self.plan_view = w.HTML()
        self.apply_button = w.Button(description="Apply…", button_style="warning", disabled=True)
        self.confirm_text = w.HTML()
        self.confirm_button = w.Button(description="Confirm", button_style="danger")
        self.cancel_button = w.Button(description="Cancel")
        self.confirm_box = w.VBox(
            [self.confirm_text, w.HBox([self.confirm_button, self.cancel_button])],
            layout=w.Layout(display="none", border="1px solid #c62828", padding="6px"),
        )
        self.progress = w.Output()
        self.message = w.HTML()
        self.results_view = w.HTML()
        self.download = w.HTML()
        self.undo_button = w.Button(description="Undo this run…", disabled=True)

        self.upload.observe(self._uploaded, names="value")
        self.plan_button.on_click(lambda _b: self.make_plan())
        self.apply_button.on_click(lambda _b: self.ask_apply())
        self.undo_button.on_click(lambda _b: self.ask_undo())
        self.submit_button.on_click(lambda _b: self.submit_for_review())
        self.open_button.on_click(lambda _b: self.open_for_review(self.review_path.value))
        self.approve_button.on_click(lambda _b: self.approve())
        self.confirm_button.on_click(lambda _b: self.confirm())
        self.cancel_button.on_click(lambda _b: self.cancel())
        self._upload_data: tuple[str, bytes] | None = None

        super().__init__(
            [
                self.identity,
                self.source,
                w.HBox([self.actor_box, self.checklist_box, self.read_only_box]),
                w.HBox([self.plan_button, self.review_path, self.open_button]),
                w.HBox(
                    [
                        self.submit_button,
                        self.approve_button,
                        self.apply_button,
                        self.undo_button,
                        self.download,
                    ]
                ),
                # feedback right under the buttons that cause it (issue 21)
                self.message,
                self.confirm_box,
                self.progress,
                # the long tables last
                self.results_view,
                self.summary,
                self.plan_view,
            ]
        )

    # input ------------------------------------------------------------------------------

    def _uploaded(self, change: dict[str, Any]) -> None:
        files = change["new"]
        if not files:
            return
        upload = files[0]
        self._upload_data = (upload["name"], bytes(upload["content"]))
        self.upload_name.value = f"<b>{_e(upload['name'])}</b> ({upload['size']:,} bytes)"
        self.source.selected_index = 0
        self.make_plan()

    def use_upload(self, name: str, data: bytes) -> None:
        """As if ``data`` had been uploaded as ``name`` (plans it)."""
        self.upload.value = (
            {
                "name": name,
                "type": "text/csv",
                "size": len(data),
                "content": memoryview(data),
                "last_modified": datetime(2026, 1, 1),
            },
        )

    def use_pasted(self, text: str) -> None:
        self.paste.value = text
        self.source.selected_index = 1

    def use_selection(self, name: str) -> None:
        self.selection_picker.value = name
        self.source.selected_index = 2

    def _targets(self) -> tuple[Any, str]:
        """What the chosen source holds, and its name for the plan's header."""
        index = self.source.selected_index or 0
        if index == 0:
            if self._upload_data is None:
                raise BadInput("upload a CSV file first (it needs an 'email' column)")
            name, data = self._upload_data
            return data, name
        if index == 1:
            targets = parse_pasted(self.paste.value, name="pasted emails")
            if not targets:
                raise BadInput("paste the emails of the members to offboard first")
            return targets, "pasted emails"
        name = self.selection_picker.value
        if name is None:
            raise BadInput("no saved selection to use")
        chosen = self.selections[name]
        return (chosen() if callable(chosen) else chosen), name

    # planning ---------------------------------------------------------------------------

    def make_plan(self) -> Plan | None:
        """Plan from the chosen source and show it for review; writes nothing."""
        self._hide_confirmation()
        self.apply_button.disabled = True
        try:
            targets, name = self._targets()
            self.plan = plan_offboarding(
                self.db,
                targets,
                actor=self._actor(),
                action="read_only" if self.read_only_box.value else "deactivate",
                source=name,
            )
        except OpskitError as error:
            self.plan = None
            self.summary.value = self.plan_view.value = ""
            self.message.value = _message(str(error), "error")
            return None
        self._show_plan()
        self.message.value = _message(
            "review the plan; nothing has changed yet"
            if self.plan.to_apply
            else "nothing to apply: every row is blocked"
        )
        return self.plan

    def _show_plan(self) -> None:
        assert self.plan is not None
        self.summary.value = counts_html(self.plan)
        self.plan_view.value = plan_html(self.plan)
        self.apply_button.disabled = not self.plan.to_apply
        self.submit_button.disabled = not self.plan.to_apply
        self.approve_button.disabled = True
        self.approval = None

    # who acts, and four eyes ------------------------------------------------------------

    @staticmethod
    def _identity_html(me: Mapping[str, Any]) -> str:
        if me["mode"] == "unbound":
            return _message(
                f"login {me['login']} ({me['source']}); no operator mapping: the Actor box "
                "says who acts"
            )
        if me["user"] is None:
            return _message(
                f"login {me['login']} is not mapped to an operator: you may look, not change",
                "error",
            )
        return _message(f"you act as {me['user']} (login {me['login']}, {me['source']})")

    def _actor(self) -> str | None:
        return self.actor_box.value.strip() or None

    def submit_for_review(self) -> Path | None:
        """Save the plan for a second operator to open and approve."""
        if self.plan is None or not self.plan.to_apply:
            self.message.value = _message("plan first: there is nothing to review", "error")
            return None
        self.review_dir.mkdir(parents=True, exist_ok=True)
        path = self.review_dir / f"plan-{plan_digest(self.plan)[:16]}.json"
        self.plan.save(path)
        self.submitted = path
        self.review_path.options = self._submitted_plans()
        self.review_path.value = str(path)
        self.message.value = _message(
            f"submitted for review: {path}; a second operator opens it and approves it"
        )
        return path

    def open_for_review(self, path: str | Path) -> Plan | None:
        """Open a submitted plan to review and approve it (nothing changes)."""
        self._hide_confirmation()
        self.review_path.options = self._submitted_plans()
        if not str(path).strip():
            self.message.value = _message(
                f"choose a submitted plan ({len(self.review_path.options)} in "
                f"{self.review_dir}) or type the path of one",
                "error",
            )
            return None
        try:
            self.plan = Plan.load(path)
        except OpskitError as error:
            self.message.value = _message(str(error), "error")
            return None
        self.review_path.value = str(path)
        self._show_plan()
        self.submit_button.disabled = True
        self.approve_button.disabled = not self.plan.to_apply
        self.message.value = _message(
            f"plan by {self.plan.actor}: {self.plan.describe()}; "
            f"{self._approved_by() or 'not approved yet'}; approve it if it is right"
        )
        return self.plan

    def _submitted_plans(self) -> list[str]:
        """The plans saved under ``review_dir``, newest first."""
        if not self.review_dir.is_dir():
            return []
        found = sorted(
            self.review_dir.glob("plan-*.json"), key=lambda p: p.stat().st_mtime, reverse=True
        )
        return [str(path) for path in found]

    def _approved_by(self) -> str:
        """Who approved exactly the plan shown, as a phrase ("" when nobody has)."""
        assert self.plan is not None
        found = approvals(self.db, self.plan)
        if not found:
            return ""
        return "approved by " + ", ".join(f"{a['approved_by']} (login {a['login']})" for a in found)

    def approve(self) -> dict[str, Any] | None:
        """Approve exactly the plan shown, as the current operator."""
        if self.plan is None:
            self.message.value = _message("open a plan first", "error")
            return None
        try:
            self.approval = approve_plan(self.db, self.plan, actor=self._actor())
        except OpskitError as error:
            self.message.value = _message(str(error), "error")
            return None
        self.approve_button.disabled = True
        self.message.value = _message(
            f"approved by {self.approval['approved_by']} (plan {self.approval['plan'][:16]})",
            "ok",
        )
        return self.approval

    # applying and undoing ---------------------------------------------------------------

    def ask_apply(self) -> None:
        """Step one: say exactly what Apply will do, and wait for Confirm."""
        if self.plan is None or not self.plan.to_apply:
            self.message.value = _message("plan first: there is nothing to apply", "error")
            return
        try:  # bound mode: say now, not after Confirm, that a second operator must approve
            require_approval(self.db, self.plan)
        except OpskitError as error:
            self._hide_confirmation()
            self.message.value = _message(f"{error}: Submit for review first", "error")
            return
        approved = self._approved_by()
        checklist = (
            "; every open checklist item of theirs is resolved (settings snapshotted)"
            if self.checklist_box.value
            else "; the checklist is left as it is"
        )
        self.confirm_text.value = (
            f"<b>{_e(self.plan.describe())}</b>{_e(checklist)}. "
            f"Planned by {_e(self.plan.actor)}"
            f"{'; ' + _e(approved) if approved else ''}. Rows that changed since planning "
            "are skipped as stale."
        )
        self.message.value = ""
        self._show_confirmation("apply")

    def ask_undo(self) -> None:
        if self.run is None:
            self.message.value = _message("apply a plan first: there is no run to undo", "error")
            return
        changed = self.run.counts.get("deactivated", 0) + self.run.counts.get("read_only", 0)
        groups = len({r["group_id"] for r in self.results if r["result"] in _CHANGED})
        self.confirm_text.value = (
            f"<b>Undo run {_e(self.run.run)}: reactivate or lift read-only for "
            f"{changed} membership(s) in {groups} group(s)</b>, restoring the settings the "
            "checklist switched off. Members changed by someone since are left alone."
        )
        self.message.value = ""
        self._show_confirmation("undo")

    def confirm(self) -> None:
        """Step two: do what the confirmation said."""
        asking = self._asking
        self._hide_confirmation()
        if asking == "apply":
            self._apply()
        elif asking == "undo":
            self._undo()

    def cancel(self) -> None:
        self._hide_confirmation()
        self.message.value = _message("cancelled: nothing changed")

    def _apply(self) -> None:
        assert self.plan is not None
        self.progress.clear_output()
        try:
            with self.progress:
                self.run = apply_plan(
                    self.db, self.plan, resolve_checklist=self.checklist_box.value
                )
        except OpskitError as error:
            self.message.value = _message(str(error), "error")
            return
        self._show_results(self.run.run)
        counts = ", ".join(f"{k} {v}" for k, v in self.run.counts.items() if v)
        self.message.value = _message(f"run {self.run.run} done: {counts}", "ok")
        self.apply_button.disabled = True  # plan again to apply again
        self.undo_button.disabled = False

    def _undo(self) -> None:
        assert self.run is not None
        self.progress.clear_output()
        try:
            with self.progress:
                self.undone = undo_run(self.db, self.run.run, actor=self._actor())
        except OpskitError as error:
            self.message.value = _message(str(error), "error")
            return
        counts = ", ".join(f"{k} {v}" for k, v in self.undone.counts.items() if v)
        self.message.value = _message(f"run {self.run.run} undone: {counts}", "ok")
        self.results_view.value = results_html(self.undone.rows)
        self.undo_button.disabled = True

    def _show_results(self, run_id: str) -> None:
        self.results = run_rows(self.db, run_id)
        self.results_view.value = results_html(self.results)
        self.download.value = download_link(
            results_csv(self.results), f"{run_id}.csv", "Download the results (CSV)"
        )

    def _show_confirmation(self, asking: str) -> None:
        self._asking = asking
        self.confirm_box.layout.display = "flex"
        # the browser scrolls a focused button into view, so the question is seen even
        # when the button asking it was clicked at the window's edge; Cancel, so that
        # Enter never confirms by accident
        self.cancel_button.focus()

    def _hide_confirmation(self) -> None:
        self._asking = None
        self.confirm_box.layout.display = "none"


_CHANGED = ("deactivated", "read_only")
