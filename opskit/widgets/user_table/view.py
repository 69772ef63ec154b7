"""The user table widget: controls, a pool of row widgets, the pager and the panels.

What the analyst caused is shown where they are looking: counts, pager and busy sign
sit under the filters; messages, refusals, the confirmation and the selection's
checklist under the action buttons; a member's details open under their row. Work that
takes longer than 0.2 s dims the rows and shows "loading…" (a CSS delay, so quick
changes do not flicker).

CSS hooks (stable; the browser suite and benchmark find things by them):
``opskit-user-table`` the root (``opskit-busy`` on it while the kernel works);
``opskit-counts`` the "Showing 1–25 of N members · K selected" line under the filters,
``opskit-busy-label`` its "loading…"; ``opskit-page-box`` the typed page number;
``opskit-message`` the refusal or next step (``opskit-refused`` inside when refused);
``opskit-confirm-panel``, ``opskit-outcome``, ``opskit-checklist-panel``,
``opskit-details-panel`` (under its row); ``opskit-head`` the header, its sort buttons
``opskit-sort opskit-sort-<name|email|group|last_sign_in_at>`` (``opskit-sorted`` and
``opskit-sorted-asc``/``-desc`` on the one in force); ``opskit-row`` a row
(``opskit-selected``, ``opskit-inactive``), its ``opskit-row-check``, its cells
``opskit-cells > span.opskit-col-<column>`` and ``opskit-details`` button;
``opskit-status-line`` the same counts under the rows.

The widget holds no state of its own beyond what it draws: the filter, page, selection
and actions are the model's (``UserTableModel``). Each method calls the model and
redraws what the call changed. The row widgets are a fixed pool, one per row of a page,
whose values are updated when the page changes, so paging creates no widgets.

Methods are the interface; the buttons call them. Tests and the benchmark drive the
same methods (``set_filter``, ``next_page``, ``select``, ``deactivate_selected``,
``confirm`` ...).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import ipywidgets as w

from ...db import Database
from ...errors import OpskitError
from .controls import ANY, LEVEL_CHOICES, FilterBar, HeaderRow, RowWidget, button
from .html import (
    STYLE,
    confirmation_html,
    counts_html,
    detail_html,
    message_html,
    outcome_html,
    selection_checklist_html,
    title_html,
)
from .model import Key, UserTableModel


class _FromModel:
    """Reads the model's attribute of the same name: the table's state is the model's."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, table: UserTable | None, owner: type | None = None) -> Any:
        if table is None:
            return self
        return getattr(table.model, self.name)


class UserTable:
    """The interactive member list of the groups ``actor`` may see.

    ``db`` is a Database or a URL (None: ``OPSKIT_DATABASE_URL``, else the default).
    ``group`` (id or exact name) starts the table on one group. Display it in a
    notebook (it renders as its ``widget``); ``model`` is its state without widgets.
    """

    db = _FromModel()
    viewer = _FromModel()
    actor = _FromModel()
    where = _FromModel()
    sort = _FromModel()
    descending = _FromModel()
    page_size = _FromModel()
    page = _FromModel()
    counts = _FromModel()
    rows = _FromModel()
    selected = _FromModel()
    pending = _FromModel()
    results = _FromModel()
    message = _FromModel()
    total = _FromModel()
    page_count = _FromModel()
    first_row = _FromModel()

    def __init__(
        self,
        db: Database | str | None = None,
        *,
        actor: str,
        group: str | None = None,
        page_size: int = 25,
    ) -> None:
        self.model = UserTableModel(db, actor=actor, group=group, page_size=page_size)
        self._quiet = False  # set while the table itself updates its controls
        self._detail_key: Key | None = None  # the member whose details are open
        self._build()
        self._show_rows()

    # --- display ---------------------------------------------------------------------

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    def page_frame(self):
        """The current page as a pandas DataFrame (a static view, e.g. for a report)."""
        return self.model.page_frame()

    def status_text(self) -> str:
        return self.model.status_text()

    @property
    def row_widgets(self) -> list[RowWidget]:
        """The rows on show, in order (the pool's hidden rows left out)."""
        return [row for row in self._pool if row.key is not None]

    def row_of(self, email: str, group: str | None = None) -> RowWidget | None:
        """The row on show for a member (by email, and group id or name), if any."""
        for row in self.row_widgets:
            r = row.row
            if (
                r is not None
                and r["email"].lower() == email.strip().lower()
                and group
                in (
                    None,
                    r["group_id"],
                    r["group"],
                )
            ):
                return row
        return None

    def refresh(self) -> None:
        self.model.refresh()
        self._show_rows()

    # --- filters, sorting, paging ------------------------------------------------------

    def set_filter(self, **changes: Any) -> None:
        """Narrow the list (see ``UserTableModel.set_filter``); back to the first page."""
        self.model.set_filter(**changes)
        self._show_rows()

    def clear_filters(self) -> None:
        self.model.clear_filters()
        self._show_rows()

    def set_sort(self, sort: str, descending: bool = False) -> None:
        self.model.set_sort(sort, descending)
        self._show_rows()

    def set_page_size(self, page_size: int) -> None:
        self.model.set_page_size(page_size)
        self._show_rows()

    def goto_page(self, number: int) -> None:
        """Show page ``number`` (1-based, clamped to the pages there are)."""
        self.model.goto_page(number)
        self._show_rows()

    def next_page(self) -> None:
        self.model.next_page()
        self._show_rows()

    def prev_page(self) -> None:
        self.model.prev_page()
        self._show_rows()

    def first_page(self) -> None:
        self.model.first_page()
        self._show_rows()

    def last_page(self) -> None:
        self.model.last_page()
        self._show_rows()

    # --- selection -----------------------------------------------------------------

    def select(self, keys: Iterable[Key], selected: bool = True) -> None:
        """Select (or unselect) members by (group_id, user_id); kept across pages and
        filters."""
        self.model.select(keys, selected)
        self._show_rows()

    def unselect(self, keys: Iterable[Key]) -> None:
        self.select(keys, selected=False)

    def select_page(self) -> None:
        self.model.select_page()
        self._show_rows()

    def select_all_matching(self) -> None:
        """Select every member the filter matches (their keys only are read, in SQL)."""
        self.model.select_all_matching()
        self._show_rows()

    def clear_selection(self) -> None:
        self.model.clear_selection()
        self._show_rows()

    def selected_members(self) -> list[dict[str, Any]]:
        """The selected members as rows (``group_id``, ``email``, ...), active first: what
        bulk offboarding takes as its input."""
        return self.model.selected_members()

    # --- actions -------------------------------------------------------------------

    def deactivate_selected(self) -> None:
        """Open the confirmation step: who will be deactivated, with each one's open
        checklist items, and the "resolve the checklist too" choice."""
        members = self.model.deactivate_selected()
        if members is not None:
            self._confirm_text.value = confirmation_html(members, self.model.actor)
            self._resolve.value = False
            self._reason.value = ""
            self._confirm_panel.layout.display = "flex"
            self._outcome.value = ""
        self._show_message()

    def confirm(self, *, resolve_checklist: bool | None = None, reason: str | None = None) -> None:
        """Deactivate the members listed in the confirmation, one by one, and show each
        outcome or refusal. ``resolve_checklist`` and ``reason`` default to the boxes."""
        resolve = self._resolve.value if resolve_checklist is None else resolve_checklist
        try:
            self.model.confirm(
                resolve_checklist=resolve, reason=self._reason.value if reason is None else reason
            )
        finally:
            self._confirm_panel.layout.display = "none"  # nothing is pending any more
        self._show_outcome()

    def cancel(self) -> None:
        self.model.cancel()
        self._confirm_panel.layout.display = "none"
        self._show_message()

    def reactivate_selected(self, *, restore_settings: bool | None = None) -> None:
        """Reactivate the selection with the access they had (sessions stay signed out);
        ``restore_settings`` puts back what the checklist switched off (default: the box)."""
        restore = self._restore.value if restore_settings is None else restore_settings
        if self.model.reactivate_selected(restore_settings=restore):
            self._show_outcome()
        self._show_message()

    def set_read_only_selected(self, read_only: bool) -> None:
        if self.model.set_read_only_selected(read_only):
            self._show_outcome()
        self._show_message()

    def set_access_level_selected(self, level: str | None = None) -> None:
        if self.model.set_access_level_selected(level or self._level.value):
            self._show_outcome()
        self._show_message()

    def show_checklist(self) -> None:
        """The selection's checklist (every item and state), in the panel below."""
        found = self.model.selection_checklist()
        if found is not None:
            self._checklist_text.value = selection_checklist_html(found)
            self._checklist_panel.layout.display = "flex"
            self._close_checklist.focus()  # the browser scrolls a focused control into view
        self._show_message()

    def show_detail(self, key: Key | None) -> None:
        """A member's memberships in the groups the actor may see, open sessions,
        checklist and audit history."""
        if key is not None:
            self._detail.value = detail_html(self.model.member_detail(key))
            self._detail_key = key
            self._detail_panel.layout.display = "flex"
            self._place_detail()
            # a row low on the screen opens its details below the fold: the browser
            # scrolls a focused control into view (ipywidgets' own focus, no script)
            self._close_detail.focus()

    # --- drawing -------------------------------------------------------------------

    def _show_rows(self) -> None:
        self._grow_pool(self.model.page_size)
        rows, selected = self.model.rows, self.model.selected_on_page()
        self._quiet = True
        try:
            for index, row in enumerate(self._pool):
                if index < len(rows):
                    data = rows[index]
                    row.show(data, (data["group_id"], data["user_id"]) in selected)
                else:
                    row.hide()
            self._page_box.max = self.model.page_count
            self._page_box.value = self.model.page + 1
            self._filters.show()
            self._head.show(self.model.sort, self.model.descending)
        finally:
            self._quiet = False
        first_page = self.model.page == 0
        last_page = self.model.page + 1 >= self.model.page_count
        self._of_pages.value = f"of {self.model.page_count:,}"
        self._first.disabled = self._prev.disabled = first_page
        self._next.disabled = self._last.disabled = last_page
        self._show_counts()
        self._place_detail()

    def _show_counts(self) -> None:
        text = self.model.status_text()
        self._counts.value = counts_html(text)
        self._status_line.value = text

    @contextlib.contextmanager
    def _busy(self) -> Iterator[None]:
        """Dim the rows and say "loading…" while the kernel works (the page shows it
        only past 0.2 s)."""
        self.widget.add_class("opskit-busy")
        try:
            yield
        finally:
            self.widget.remove_class("opskit-busy")

    @property
    def busy(self) -> bool:
        return "opskit-busy" in self.widget._dom_classes

    def _show_outcome(self) -> None:
        self._outcome.value = outcome_html(self.model.last_action or "", self.model.results)
        self._show_rows()

    def _show_message(self) -> None:
        self._message.value = message_html(self.model.message, refused=self.model.message_refused)

    def _hide_detail(self) -> None:
        self._detail.value = ""
        self._detail_key = None
        self._detail_panel.layout.display = "none"
        self._place_detail()

    def _hide_checklist(self) -> None:
        self._checklist_text.value = ""
        self._checklist_panel.layout.display = "none"

    def _place_detail(self) -> None:
        """The rows, with the details panel right under the row it is about (closed when
        that member has left the page)."""
        boxes = [row.box for row in self._pool]
        keys = [row.key for row in self._pool]
        if self._detail_key is not None and self._detail_key in keys:
            boxes.insert(keys.index(self._detail_key) + 1, self._detail_panel)
        elif self._detail_key is not None:
            self._detail.value, self._detail_key = "", None
            self._detail_panel.layout.display = "none"
        if tuple(boxes) != self._rows_box.children:
            self._rows_box.children = tuple(boxes)

    def _grow_pool(self, size: int) -> None:
        while len(self._pool) < size:
            self._pool.append(
                RowWidget(self._row_checked, lambda key: self._safely(self.show_detail, key))
            )

    # --- callbacks -----------------------------------------------------------------

    def _safely(self, method: Callable, *args: Any, **kwargs: Any) -> None:
        """A button's or control's call: errors become a line under the table."""
        try:
            self.model.say("")
            with self._busy():
                method(*args, **kwargs)
        except OpskitError as error:
            self.model.say(str(error), refused=True)
        except Exception as error:  # a notebook callback must not fail silently
            self.model.say(f"{type(error).__name__}: {error}", refused=True)
        self._show_message()

    def _page_typed(self, change: dict[str, Any]) -> None:
        if not self._quiet:  # the analyst typed it (the table did not set it)
            self._safely(self.goto_page, change["new"])

    def _row_checked(self, row: RowWidget, checked: bool) -> None:
        if self._quiet or row.key is None:
            return
        self.model.select([row.key], checked)
        row._mark("opskit-selected", checked)
        self._show_counts()

    # --- the parts -----------------------------------------------------------------

    def _build(self) -> None:
        self._pool: list[RowWidget] = []
        self._filters = FilterBar(
            self.model,
            on_filter=self._filter_chosen,
            on_sort=lambda sort, descending: self._safely(self.set_sort, sort, descending),
            on_page_size=lambda size: self._safely(self.set_page_size, size),
            on_clear=lambda: self._safely(self.clear_filters),
        )
        # the filter controls a test drives by name
        self._group, self._text = self._filters.group, self._filters.text
        self._clear_filters = self._filters.clear
        self._build_actions()
        self._build_pager()
        self._build_panels()
        self.widget = self._assemble()

    def _filter_chosen(self, **change: Any) -> None:
        self._safely(self.set_filter, **change)
        self._filters.show()  # a refused choice goes back to the filter in force

    def _button(self, description: str, action: Callable[[], Any], **options: Any) -> w.Button:
        """A button whose click calls ``action``, any error shown under the table."""
        return button(description, lambda: self._safely(action), **options)

    def _build_actions(self) -> None:
        self._select_page = self._button("Select page", self.select_page, icon="check-square-o")
        self._select_all = self._button(
            "Select all matching", self.select_all_matching, icon="check-square"
        )
        self._clear_selection = self._button(
            "Clear selection", self.clear_selection, icon="square-o"
        )

        self._deactivate = self._button(
            "Deactivate…", self.deactivate_selected, icon="user-times", style="danger"
        )
        self._reactivate = self._button("Reactivate", self.reactivate_selected, icon="user-plus")
        self._restore = w.Checkbox(
            value=False,
            description="restore checklist settings",
            indent=False,
            layout=w.Layout(width="190px"),
        )
        self._ro_on = self._button("Read-only on", lambda: self.set_read_only_selected(True))
        self._ro_off = self._button("Read-only off", lambda: self.set_read_only_selected(False))
        self._level = w.Dropdown(
            options=[("Access level…", ANY), *LEVEL_CHOICES], layout=w.Layout(width="170px")
        )
        self._set_level = self._button("Set level", self.set_access_level_selected)
        self._checklist = self._button("Checklist", self.show_checklist, icon="list")

    def _build_pager(self) -> None:
        def pager(name: str, action: Callable[[], Any], icon: str) -> w.Button:
            # an icon only: the tooltip names it for screen readers and tests
            return self._button("", action, icon=icon, width="36px", tooltip=name)

        self._first = pager("First page", self.first_page, "step-backward")
        self._prev = pager("Previous page", self.prev_page, "chevron-left")
        self._next = pager("Next page", self.next_page, "chevron-right")
        self._last = pager("Last page", self.last_page, "step-forward")
        # wide enough for page 1,000,000 beside the spinner's arrows
        self._page_box = w.BoundedIntText(
            value=1,
            min=1,
            max=1,
            description="Page",
            style={"description_width": "34px"},
            layout=w.Layout(width="150px", flex="0 0 auto"),
        )
        self._page_box.add_class("opskit-page-box")
        self._page_box.observe(self._page_typed, "value")
        self._of_pages = w.HTML()
        self._counts = w.HTML()
        self._busy_label = w.HTML('<span class="opskit-busy-label">⏳ loading…</span>')
        self._status_line = w.HTML()
        self._status_line.add_class("opskit-status-line")
        self._message = w.HTML()
        self._message.add_class("opskit-message")

    def _build_panels(self) -> None:
        self._confirm_text = w.HTML()
        self._reason = w.Text(
            placeholder="Reason (kept in the audit trail)", layout=w.Layout(width="360px")
        )
        self._resolve = w.Checkbox(
            value=False, description="resolve the checklist too", indent=False
        )
        self._confirm = self._button("Confirm deactivation", self.confirm, style="danger")
        self._cancel = self._button("Cancel", self.cancel)
        self._confirm_panel = w.VBox(
            [
                self._confirm_text,
                w.HBox([self._reason, self._resolve]),
                w.HBox([self._confirm, self._cancel]),
            ],
            layout=w.Layout(display="none"),
        )
        self._confirm_panel.add_class("opskit-panel")
        self._confirm_panel.add_class("opskit-confirm-panel")
        self._outcome = w.HTML()
        self._outcome.add_class("opskit-outcome")
        self._checklist_text = w.HTML()
        self._close_checklist = self._button("Close", self._hide_checklist, icon="times")
        self._close_checklist.layout.align_self = "flex-start"
        self._checklist_panel = w.VBox(
            [self._close_checklist, self._checklist_text], layout=w.Layout(display="none")
        )
        self._checklist_panel.add_class("opskit-panel")
        self._checklist_panel.add_class("opskit-checklist-panel")
        self._detail = w.HTML()
        self._close_detail = self._button("Close", self._hide_detail, icon="times")
        self._close_detail.layout.align_self = "flex-start"
        self._detail_panel = w.VBox(
            [self._close_detail, self._detail], layout=w.Layout(display="none")
        )
        self._detail_panel.add_class("opskit-panel")
        self._detail_panel.add_class("opskit-details-panel")

    def _assemble(self) -> w.VBox:
        """The parts in reading order: filters; counts and pager; selection and actions
        with what they answer right under them; the header and rows (a member's details
        under their row); the counts again under the rows."""
        title = w.HTML(title_html(self.model.actor, len(self.model.viewer.groups)))
        self._rows_box = w.VBox(layout=w.Layout(width="100%"))
        self._rows_box.add_class("opskit-rows")
        self._grow_pool(self.model.page_size)
        self._head = HeaderRow(
            lambda sort, descending: self._safely(self.set_sort, sort, descending)
        )
        pager = w.HBox(
            [
                self._first,
                self._prev,
                self._page_box,
                self._of_pages,
                self._next,
                self._last,
                self._counts,
                self._busy_label,
            ],
            layout=w.Layout(align_items="center", flex_flow="row wrap"),
        )
        pager.add_class("opskit-pager")
        widget = w.VBox(
            [
                w.HTML(STYLE),
                title,
                *self._filters.lines(),
                pager,
                w.HBox(
                    [self._select_page, self._select_all, self._clear_selection],
                    layout=w.Layout(flex_flow="row wrap"),
                ),
                w.HBox(
                    [
                        self._deactivate,
                        self._reactivate,
                        self._restore,
                        self._ro_on,
                        self._ro_off,
                        self._level,
                        self._set_level,
                        self._checklist,
                    ],
                    layout=w.Layout(flex_flow="row wrap"),
                ),
                self._message,
                self._confirm_panel,
                self._outcome,
                self._checklist_panel,
                self._head.box,
                self._rows_box,
                self._status_line,
            ],
            layout=w.Layout(width="100%"),
        )
        widget.add_class("opskit-user-table")
        return widget
