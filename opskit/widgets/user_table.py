"""The user table: members a page at a time, filters, selection and lifecycle actions.

Everything the table shows comes from ``opskit.members`` one page at a time (counted,
filtered, sorted and paged in SQL); every change goes through ``opskit.lifecycle``,
whose refusals are shown inline with the rule's own message. The row widgets are a
fixed pool, one per row of a page, whose values are updated when the page changes,
so paging creates no widgets.

Methods are the interface; the buttons call them. Tests and the benchmark drive the
same methods (``set_filter``, ``next_page``, ``select``, ``deactivate_selected``,
``confirm`` ...).
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

import ipywidgets as w

from .. import schema as s
from ..audit import audit_events
from ..checklist import checklist
from ..db import Database, connect
from ..errors import BadInput, NotAuthorized, OpskitError, UnknownGroup
from ..lifecycle import ActionResult, change_access, deactivate, reactivate
from ..members import (
    MemberCounts,
    MemberFilter,
    list_members,
    member_counts,
    member_keys,
    member_page,
    member_sessions,
    members_by_keys,
    viewer,
)
from .checklist import LABELS as ITEM_LABELS
from .checklist import checklist_html

Key = tuple[str, str]  # (group_id, user_id)

PAGE_SIZES = (10, 25, 50, 100)
SORTS = {"name": "Name", "email": "Email", "group": "Group", "last_sign_in_at": "Last sign-in"}
FILTERS = ("group", "status", "role", "access_level", "read_only", "account_owner", "text")
ROLE_LABELS = {"practitioner": "Practitioner", "administrator": "Administrator"}
LEVEL_LABELS = {
    "personal": "Personal",
    "own_records_and_contacts": "Own records & contacts",
    "clinical": "Clinical",
    "front_desk": "Front desk",
    "billing": "Billing",
    "full": "Full Access",
}
COLUMNS = (
    ("Name", "minmax(110px, 1.2fr)"),
    ("Email", "minmax(150px, 1.6fr)"),
    ("Group", "minmax(100px, 1.1fr)"),
    ("Role", "92px"),
    ("Access level", "minmax(80px, 0.9fr)"),
    ("Read-only", "62px"),
    ("Owner", "44px"),
    ("Status", "62px"),
    ("Sessions", "56px"),
    ("Last sign-in", "84px"),
    ("Open checklist", "minmax(120px, 1.4fr)"),
)
_GRID = (
    "display:grid;grid-template-columns:"
    + " ".join(width for _, width in COLUMNS)
    + ";column-gap:8px;align-items:center;width:100%"
)
SHOWN_IN_CONFIRMATION = 200  # members listed by name before "and N more"
MOST_AT_ONCE = 5000  # one call per member: beyond this, bulk offboarding is the tool
GREY = "#9e9e9e"

STYLE = """
<style>
.opskit-user-table { font-size: 12px; }
.opskit-user-table .opskit-row { border-bottom: 1px solid #eee; min-height: 26px; }
.opskit-user-table .opskit-row:hover { background: #f5f8ff; }
.opskit-user-table .opskit-row.opskit-selected { background: #eaf1ff; }
.opskit-user-table .opskit-row.opskit-inactive { opacity: 0.6; }
.opskit-user-table .opskit-row.opskit-inactive .opskit-cells { color: #9e9e9e; }
.opskit-user-table .opskit-cells span {
  overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.opskit-user-table .opskit-head { font-weight: 600; color: #555;
  border-bottom: 2px solid #ddd; padding: 2px 0; }
.opskit-user-table .opskit-chip { display: inline-block; padding: 0 5px; margin-right: 3px;
  border-radius: 8px; background: #fdecea; color: #b71c1c; font-size: 11px; }
.opskit-user-table .opskit-status-inactive { background: #eee; color: #777;
  border-radius: 8px; padding: 0 5px; }
.opskit-user-table .opskit-panel { border: 1px solid #ddd; border-radius: 4px;
  padding: 6px 10px; margin: 6px 0; background: #fcfcfc; }
.opskit-user-table table.opskit-list { border-collapse: collapse; margin: 4px 0; }
.opskit-user-table table.opskit-list td, .opskit-user-table table.opskit-list th {
  padding: 2px 8px; border-bottom: 1px solid #eee; text-align: left; vertical-align: top; }
.opskit-user-table .opskit-refused { color: #b71c1c; }
.opskit-user-table .opskit-done { color: #1b5e20; }
</style>
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _day(stamp: str | None) -> str:
    return stamp[:10] if stamp else "never"


def _chips(items: list[str] | None) -> str:
    if items is None:
        return f'<span style="color:{GREY}">n/a</span>'
    if not items:
        return f'<span style="color:{GREY}">none</span>'
    return "".join(f'<span class="opskit-chip">{_e(ITEM_LABELS.get(i, i))}</span>' for i in items)


def _cell(text: str, *, title: str | None = None, raw: bool = False) -> str:
    tip = f' title="{_e(title)}"' if title else ""
    return f"<span{tip}>{text if raw else _e(text)}</span>"


def row_html(row: dict[str, Any]) -> str:
    """One member as a line of cells (the widths match the header's)."""
    inactive = row["status"] != "active"
    status = '<span class="opskit-status-inactive">inactive</span>' if inactive else "active"
    cells = [
        _cell(row["name"], title=row["name"]),
        _cell(row["email"], title=row["email"]),
        _cell(row["group"], title=row["group"]),
        _cell(ROLE_LABELS.get(row["role"], row["role"])),
        _cell(LEVEL_LABELS.get(row["access_level"], row["access_level"])),
        _cell("✓" if row["read_only"] else ""),
        _cell("✓" if row["account_owner"] else ""),
        _cell(status, raw=True),
        _cell(str(row["open_sessions"])),
        _cell(_day(row["last_sign_in_at"]), title=row["last_sign_in_at"] or "never signed in"),
        _cell(_chips(row.get("open_checklist")), raw=True),
    ]
    grey = f";color:{GREY}" if inactive else ""
    return (
        f'<div class="opskit-cells" style="{_GRID}{grey}" data-status="{row["status"]}">'
        + "".join(cells)
        + "</div>"
    )


def header_html() -> str:
    cells = "".join(f"<span>{_e(title)}</span>" for title, _ in COLUMNS)
    return f'<div class="opskit-cells opskit-head" style="{_GRID};font-weight:600">{cells}</div>'


def _outcome_text(result: ActionResult) -> str:
    parts = [result.outcome]
    if result.sessions_revoked:
        n = result.sessions_revoked
        parts.append(f"{n} session{'s' if n != 1 else ''} revoked")
    resolved = [r for r in result.checklist if r.get("resolved")]
    if resolved:
        parts.append(f"{len(resolved)} checklist item{'s' if len(resolved) != 1 else ''} resolved")
    if result.message:
        parts.append(result.message)
    return " · ".join(parts)


# The "any" choice of a filter dropdown. Not None: ipywidgets 8 reads a None value as
# "nothing selected" and shows a blank box.
ANY = ""


def _shown(value: Any) -> Any:
    return ANY if value is None else value


class _Row:
    """One line of the table: a checkbox, the cells, a details button. Reused per page."""

    def __init__(self, table: UserTable) -> None:
        self.key: Key | None = None
        self.row: dict[str, Any] | None = None
        self.check = w.Checkbox(value=False, indent=False, layout=w.Layout(width="26px"))
        self.cells = w.HTML(layout=w.Layout(flex="1 1 auto", min_width="0"))
        self.details = w.Button(
            description="Details",
            tooltip="Memberships, sessions, checklist and audit history",
            layout=w.Layout(width="64px", height="22px"),
        )
        self.box = w.HBox(
            [self.check, self.cells, self.details],
            layout=w.Layout(align_items="center", width="100%", display="none"),
        )
        self.box.add_class("opskit-row")
        self.check.observe(lambda change: table._row_checked(self, change["new"]), "value")
        self.details.on_click(lambda _: table._safely(table.show_detail, self.key))

    @property
    def greyed(self) -> bool:
        return "opskit-inactive" in self.box._dom_classes

    @property
    def selected(self) -> bool:
        return bool(self.check.value)

    def show(self, row: dict[str, Any], selected: bool) -> None:
        self.key = (row["group_id"], row["user_id"])
        self.row = row
        self.cells.value = row_html(row)
        self.check.value = selected
        self._mark("opskit-inactive", row["status"] != "active")
        self._mark("opskit-selected", selected)
        self.box.layout.display = "flex"

    def hide(self) -> None:
        self.key = None
        self.row = None
        self.check.value = False
        self.box.layout.display = "none"

    def _mark(self, css_class: str, on: bool) -> None:
        if on and css_class not in self.box._dom_classes:
            self.box.add_class(css_class)
        elif not on and css_class in self.box._dom_classes:
            self.box.remove_class(css_class)


class UserTable:
    """The interactive member list of the groups ``actor`` may see.

    ``db`` is a Database or a URL (None: ``OPSKIT_DATABASE_URL``, else the default).
    ``group`` (id or exact name) starts the table on one group. Display it in a
    notebook (it renders as its ``widget``).
    """

    def __init__(
        self,
        db: Database | str | None = None,
        *,
        actor: str,
        group: str | None = None,
        page_size: int = 25,
    ) -> None:
        self.db = db if isinstance(db, Database) else connect(db)
        self.viewer = viewer(self.db, actor)
        self.actor = self.viewer.email
        self.where: MemberFilter = self.viewer.scope()
        if group is not None:
            self.where = replace(self.where, group_id=self._visible_group(group))
        self.sort = "name"
        self.descending = False
        self.page_size = self._valid_page_size(page_size)
        self.page = 0  # zero-based
        self.counts: MemberCounts | None = None
        self.rows: list[dict[str, Any]] = []
        self.selected: set[Key] = set()
        self.results: list[dict[str, Any]] = []  # outcome of the last action, per member
        self.pending: list[dict[str, Any]] | None = None  # members awaiting confirm()
        self.message = ""
        self._quiet = False  # set while the table itself updates its controls
        self._build()
        self.refresh()

    # --- display ---------------------------------------------------------------------

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    def page_frame(self):
        """The current page as a pandas DataFrame (a static view, e.g. for a report)."""
        import pandas as pd

        columns = [
            "name",
            "email",
            "group",
            "role",
            "access_level",
            "read_only",
            "account_owner",
            "status",
            "open_sessions",
            "last_sign_in_at",
            "open_checklist",
        ]
        frame = pd.DataFrame(self.rows, columns=columns)
        frame["last_sign_in_at"] = [stamp or "never" for stamp in frame["last_sign_in_at"]]
        frame["open_checklist"] = [
            "n/a" if items is None else ", ".join(items) for items in frame["open_checklist"]
        ]
        frame.index = range(self.first_row, self.first_row + len(frame))
        return frame

    # --- reading ---------------------------------------------------------------------

    @property
    def total(self) -> int:
        return self.counts.total if self.counts else 0

    @property
    def page_count(self) -> int:
        return max(1, -(-self.total // self.page_size))

    @property
    def first_row(self) -> int:
        """1-based number of the first row on the page (0 when the page is empty)."""
        return self.page * self.page_size + 1 if self.rows else 0

    @property
    def row_widgets(self) -> list[_Row]:
        """The rows on show, in order (the pool's hidden rows left out)."""
        return [row for row in self._pool if row.key is not None]

    def row_of(self, email: str, group: str | None = None) -> _Row | None:
        """The row on show for a member (by email, and group id or name), if any."""
        for row in self.row_widgets:
            r = row.row
            if r["email"].lower() == email.strip().lower() and group in (
                None,
                r["group_id"],
                r["group"],
            ):
                return row
        return None

    def refresh(
        self, *, recount: bool = True, after: int | None = None, before: int | None = None
    ) -> None:
        """Read the page again (and the counts, unless only the page moved). ``after`` /
        ``before``: the membership id of the row next to the page, when it is known."""
        if recount or self.counts is None:
            self.counts = member_counts(self.db, self.where)
        self.page = min(self.page, self.page_count - 1)
        self.rows = member_page(
            self.db,
            self.where,
            sort=self.sort,
            descending=self.descending,
            limit=self.page_size,
            offset=self.page * self.page_size,
            counts=self.counts,
            after=after,
            before=before,
        )
        self._show_rows()

    # --- filters, sorting, paging ------------------------------------------------------

    def set_filter(self, **changes: Any) -> None:
        """Narrow the list: ``group`` (id or name, None: every group the actor sees),
        ``status`` (active, inactive, all), ``role``, ``access_level``, ``read_only``,
        ``account_owner`` (True, False or None), ``text`` (part of a name or email).
        The selection is kept; the list goes back to its first page."""
        unknown = set(changes) - set(FILTERS)
        if unknown:
            raise BadInput(f"cannot filter by {', '.join(sorted(unknown))} ({', '.join(FILTERS)})")
        where = self.where
        if "group" in changes:
            group = changes.pop("group")
            where = replace(where, group_id=self._visible_group(group) if group else None)
        if changes.get("status") is None and "status" in changes:
            changes["status"] = "all"
        if "role" in changes and changes["role"] not in (None, *s.ROLES):
            raise BadInput(f"{changes['role']!r} is not a role ({', '.join(s.ROLES)})")
        if "access_level" in changes and changes["access_level"] not in (None, *s.ALL_LEVELS):
            raise BadInput(
                f"{changes['access_level']!r} is not an access level ({', '.join(s.ALL_LEVELS)})"
            )
        if "text" in changes:
            changes["text"] = (changes["text"] or "").strip() or None
        where = replace(where, **changes)
        where.conditions()  # bad values are refused here, before anything changes
        self.where = where
        self.page = 0
        self.refresh()

    def clear_filters(self) -> None:
        self.set_filter(
            group=None,
            status="all",
            role=None,
            access_level=None,
            read_only=None,
            account_owner=None,
            text=None,
        )

    def set_sort(self, sort: str, descending: bool = False) -> None:
        if sort not in SORTS:
            raise BadInput(f"cannot sort by {sort!r} ({', '.join(SORTS)})")
        self.sort, self.descending, self.page = sort, bool(descending), 0
        self.refresh(recount=False)

    def set_page_size(self, page_size: int) -> None:
        first = self.page * self.page_size
        self.page_size = self._valid_page_size(page_size)
        self.page = first // self.page_size  # keep the first row in view
        self.refresh(recount=False)

    def goto_page(self, number: int) -> None:
        """Show page ``number`` (1-based, clamped to the pages there are)."""
        page = max(0, min(int(number), self.page_count) - 1)
        # the page next to the one on show starts beside its edge row, at any depth
        after = self.rows[-1]["membership_id"] if self.rows and page == self.page + 1 else None
        before = self.rows[0]["membership_id"] if self.rows and page == self.page - 1 else None
        self.page = page
        self.refresh(recount=False, after=after, before=before)

    def next_page(self) -> None:
        if self.page + 1 < self.page_count:
            self.goto_page(self.page + 2)

    def prev_page(self) -> None:
        if self.page > 0:
            self.goto_page(self.page)

    def first_page(self) -> None:
        self.goto_page(1)

    def last_page(self) -> None:
        self.goto_page(self.page_count)

    # --- selection -----------------------------------------------------------------

    def select(self, keys: Iterable[Key], selected: bool = True) -> None:
        """Select (or unselect) members by (group_id, user_id); kept across pages and
        filters."""
        visible = self.viewer.group_ids  # a group's members are never picked through another
        keys = {(str(g), str(u)) for g, u in keys if str(g) in visible}
        if selected:
            self.selected |= keys
        else:
            self.selected -= keys
        self._show_rows()

    def unselect(self, keys: Iterable[Key]) -> None:
        self.select(keys, selected=False)

    def select_page(self) -> None:
        self.select((r["group_id"], r["user_id"]) for r in self.rows)

    def select_all_matching(self) -> None:
        """Select every member the filter matches (their keys only are read, in SQL)."""
        self.select(member_keys(self.db, self.where))

    def clear_selection(self) -> None:
        self.selected.clear()
        self._show_rows()

    def selected_members(self) -> list[dict[str, Any]]:
        """The selected members as rows (``group_id``, ``email``, ...), active first: what
        bulk offboarding takes as its input."""
        return members_by_keys(self.db, self.selected)

    # --- actions -------------------------------------------------------------------

    def deactivate_selected(self) -> None:
        """Open the confirmation step: who will be deactivated, with each one's open
        checklist items, and the "resolve the checklist too" choice."""
        members = self._selection_or_say("deactivate")
        if members is None:
            return
        self.pending = members
        self._show_confirmation(members)

    def confirm(self, *, resolve_checklist: bool | None = None, reason: str | None = None) -> None:
        """Deactivate the members listed in the confirmation, one by one, and show each
        outcome or refusal. ``resolve_checklist`` and ``reason`` default to the boxes."""
        if self.pending is None:
            raise BadInput("nothing to confirm: choose Deactivate first")
        members, self.pending = self.pending, None
        resolve = self._resolve.value if resolve_checklist is None else resolve_checklist
        reason = (self._reason.value if reason is None else reason).strip() or None
        self._confirm_panel.layout.display = "none"
        self._run(
            "Deactivate",
            members,
            lambda m: deactivate(
                self.db,
                m["email"],
                m["group_id"],
                actor=self.actor,
                reason=reason,
                resolve_checklist=resolve,
            ),
        )

    def cancel(self) -> None:
        self.pending = None
        self._confirm_panel.layout.display = "none"
        self._say("Nothing was changed.")

    def reactivate_selected(self, *, restore_settings: bool | None = None) -> None:
        """Reactivate the selection with the access they had (sessions stay signed out);
        ``restore_settings`` puts back what the checklist switched off."""
        members = self._selection_or_say("reactivate")
        if members is None:
            return
        restore = self._restore.value if restore_settings is None else restore_settings
        self._run(
            "Reactivate",
            members,
            lambda m: reactivate(
                self.db, m["email"], m["group_id"], actor=self.actor, restore_settings=restore
            ),
        )

    def set_read_only_selected(self, read_only: bool) -> None:
        members = self._selection_or_say("change")
        if members is None:
            return
        self._run(
            "Read-only on" if read_only else "Read-only off",
            members,
            lambda m: change_access(
                self.db, m["email"], m["group_id"], actor=self.actor, read_only=read_only
            ),
        )

    def set_access_level_selected(self, level: str | None = None) -> None:
        level = level or self._level.value
        if not level:
            self._say("Choose an access level first.")
            return
        members = self._selection_or_say("change")
        if members is None:
            return
        self._run(
            f"Access level {LEVEL_LABELS.get(level, level)}",
            members,
            lambda m: change_access(
                self.db, m["email"], m["group_id"], actor=self.actor, level=level
            ),
        )

    def show_checklist(self) -> None:
        """The selection's checklist (every item and state), in the panel below."""
        members = self._selection_or_say("show the checklist of")
        if members is None:
            return
        shown = members[:SHOWN_IN_CONFIRMATION]
        rows = checklist(self.db, members=[(m["group_id"], m["email"]) for m in shown])
        more = len(members) - len(shown)
        self._panel(
            f"<b>Checklist of {len(members):,} selected</b>"
            + checklist_html(rows)
            + (f"<p>and {more:,} more (narrow the selection to see them)</p>" if more else "")
        )

    def show_detail(self, key: Key | None) -> None:
        """A member's memberships in the groups the actor may see, open sessions,
        checklist and audit history."""
        if key is None:
            return
        group_id, user_id = key
        if group_id not in self.viewer.group_ids:
            raise NotAuthorized(f"{self.actor} may not see members of group {group_id}")
        memberships = list_members(self.db, where=self.viewer.scope(user_id=user_id), sort="group")
        member = next((r for r in memberships if r["group_id"] == group_id), None)
        if member is None:
            raise UnknownGroup(f"no member {user_id} in group {group_id}")
        self._panel(self._detail_html(member, memberships))

    # --- the parts -----------------------------------------------------------------

    def _build(self) -> None:
        self._pool: list[_Row] = []
        self._build_filters()
        self._build_actions()
        self._build_pager()
        self._build_panels()
        self.widget = self._assemble()

    def _build_filters(self) -> None:
        self._group = self._group_control()
        self._status = w.Dropdown(
            options=[
                ("Active and inactive", "all"),
                ("Active", "active"),
                ("Inactive", "inactive"),
            ],
            value=self.where.status,
            layout=w.Layout(width="150px"),
        )
        self._role = w.Dropdown(
            options=[("Any role", ANY)] + [(ROLE_LABELS[r], r) for r in s.ROLES],
            layout=w.Layout(width="130px"),
        )
        self._access = w.Dropdown(
            options=[("Any access level", ANY)] + [(LEVEL_LABELS[v], v) for v in s.ALL_LEVELS],
            layout=w.Layout(width="170px"),
        )
        self._read_only = w.Dropdown(
            options=[("Read-only or not", ANY), ("Read-only", True), ("Not read-only", False)],
            layout=w.Layout(width="140px"),
        )
        self._owner = w.Dropdown(
            options=[("Owner or not", ANY), ("Account owner", True), ("Not owner", False)],
            layout=w.Layout(width="130px"),
        )
        self._text = w.Text(
            placeholder="Search name or email ⏎",
            continuous_update=False,
            layout=w.Layout(width="200px"),
        )
        self._sort = w.Dropdown(
            options=[(f"Sort: {label}", key) for key, label in SORTS.items()],
            value=self.sort,
            layout=w.Layout(width="150px"),
        )
        self._descending = w.ToggleButton(
            value=False, icon="arrow-down", tooltip="Descending", layout=w.Layout(width="36px")
        )
        self._page_size = w.Dropdown(
            options=self._page_size_options(),
            value=self.page_size,
            layout=w.Layout(width="120px"),
        )
        self._clear_filters = self._button("Clear filters", self.clear_filters, icon="times")

        for control, name in (
            (self._group, "group"),
            (self._status, "status"),
            (self._role, "role"),
            (self._access, "access_level"),
            (self._read_only, "read_only"),
            (self._owner, "account_owner"),
            (self._text, "text"),
        ):
            control.observe(self._on_filter(name), "value")
        self._sort.observe(
            lambda c: self._if_user(self.set_sort, c["new"], self.descending), "value"
        )
        self._descending.observe(
            lambda c: self._if_user(self.set_sort, self.sort, c["new"]), "value"
        )
        self._page_size.observe(lambda c: self._if_user(self.set_page_size, c["new"]), "value")

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
            options=[("Access level…", ANY)] + [(LEVEL_LABELS[v], v) for v in s.ALL_LEVELS],
            layout=w.Layout(width="170px"),
        )
        self._set_level = self._button("Set level", self.set_access_level_selected)
        self._checklist = self._button("Checklist", self.show_checklist, icon="list")

    def _build_pager(self) -> None:
        self._first = self._pager_button("First page", self.first_page, "step-backward")
        self._prev = self._pager_button("Previous page", self.prev_page, "chevron-left")
        self._next = self._pager_button("Next page", self.next_page, "chevron-right")
        self._last = self._pager_button("Last page", self.last_page, "step-forward")
        self._page_box = w.BoundedIntText(
            value=1, min=1, max=1, description="Page", layout=w.Layout(width="130px")
        )
        self._page_box.observe(lambda c: self._if_user(self.goto_page, c["new"]), "value")
        self._of_pages = w.HTML()
        self._status_line = w.HTML()
        self._message = w.HTML()

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
        self._outcome = w.HTML()
        self._detail = w.HTML()
        self._close_detail = self._button("Close", self._hide_panel, icon="times")
        self._detail_panel = w.VBox(
            [self._detail, self._close_detail], layout=w.Layout(display="none")
        )
        self._detail_panel.add_class("opskit-panel")

    def _assemble(self) -> w.VBox:
        """The parts in reading order: filters, actions, confirmation, rows, pager."""
        title = w.HTML(
            f"<b>Members</b> · acting as <code>{_e(self.actor)}</code> · "
            f"{len(self.viewer.groups):,} group{'s' if len(self.viewer.groups) != 1 else ''}"
        )
        self._rows_box = w.VBox(layout=w.Layout(width="100%"))
        self._grow_pool(self.page_size)
        self._header = w.HTML(header_html(), layout=w.Layout(flex="1 1 auto"))
        head = w.HBox(
            [
                w.HTML(layout=w.Layout(width="26px")),
                self._header,
                w.HTML(layout=w.Layout(width="64px")),
            ],
            layout=w.Layout(width="100%"),
        )
        widget = w.VBox(
            [
                w.HTML(STYLE),
                title,
                w.HBox(
                    [self._group, self._status, self._role, self._access, self._read_only],
                    layout=w.Layout(flex_flow="row wrap"),
                ),
                w.HBox(
                    [
                        self._owner,
                        self._text,
                        self._sort,
                        self._descending,
                        self._page_size,
                        self._clear_filters,
                    ],
                    layout=w.Layout(flex_flow="row wrap"),
                ),
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
                self._confirm_panel,
                self._outcome,
                head,
                self._rows_box,
                w.HBox(
                    [
                        self._first,
                        self._prev,
                        self._page_box,
                        self._of_pages,
                        self._next,
                        self._last,
                        self._status_line,
                    ],
                    layout=w.Layout(align_items="center", flex_flow="row wrap"),
                ),
                self._message,
                self._detail_panel,
            ],
            layout=w.Layout(width="100%"),
        )
        widget.add_class("opskit-user-table")
        return widget

    def _group_control(self):
        names = [name for _, name in self.viewer.groups]
        current = next(
            (name for gid, name in self.viewer.groups if gid == self.where.group_id), None
        )
        self._group_names = set(names)
        if len(names) > 200:  # a dropdown of thousands is no help: type to find one
            return w.Combobox(
                options=names,
                value=current or "",
                placeholder="All my groups (type a name)",
                ensure_option=False,
                layout=w.Layout(width="220px"),
            )
        return w.Dropdown(
            options=[("All my groups", ANY)] + [(name, gid) for gid, name in self.viewer.groups],
            value=_shown(self.where.group_id),
            layout=w.Layout(width="220px"),
        )

    def _button(
        self,
        description: str,
        action: Callable[[], Any],
        *,
        icon: str = "",
        style: str = "",
        width: str | None = None,
    ) -> w.Button:
        button = w.Button(
            description=description,
            icon=icon,
            button_style=style,
            layout=w.Layout(width=width) if width else w.Layout(width="auto"),
        )
        button.on_click(lambda _: self._safely(action))
        return button

    def _pager_button(self, name: str, action: Callable[[], Any], icon: str) -> w.Button:
        button = self._button("", action, icon=icon, width="36px")
        button.tooltip = name  # an icon's name for screen readers and tests
        return button

    def _grow_pool(self, size: int) -> None:
        while len(self._pool) < size:
            self._pool.append(_Row(self))
        self._rows_box.children = tuple(row.box for row in self._pool)

    def _show_rows(self) -> None:
        self._grow_pool(self.page_size)
        self._quiet = True
        try:
            for index, row in enumerate(self._pool):
                if index < len(self.rows):
                    data = self.rows[index]
                    row.show(data, (data["group_id"], data["user_id"]) in self.selected)
                else:
                    row.hide()
            self._page_box.max = self.page_count
            self._page_box.value = self.page + 1
            self._sync_controls()
        finally:
            self._quiet = False
        self._of_pages.value = f"of {self.page_count:,}"
        self._first.disabled = self._prev.disabled = self.page == 0
        self._next.disabled = self._last.disabled = self.page + 1 >= self.page_count
        self._status_line.value = self.status_text()

    def status_text(self) -> str:
        """ "Showing 26–50 of 1,234 members · 3 selected" (and the inactive count)."""
        if not self.rows:
            text = "No members match"
        else:
            last = self.first_row + len(self.rows) - 1
            noun = "member" if self.total == 1 else "members"
            text = f"Showing {self.first_row:,}–{last:,} of {self.total:,} {noun}"
            if self.counts and self.counts.inactive and self.where.status == "all":
                text += f" ({self.counts.inactive:,} inactive, listed after the active)"
        return f"{text} · {len(self.selected):,} selected"

    def _sync_controls(self) -> None:
        """Show the filter in the controls (called with ``_quiet`` set)."""
        where = self.where
        if isinstance(self._group, w.Combobox):
            names = dict(self.viewer.groups)
            self._group.value = names.get(where.group_id, "") if where.group_id else ""
        else:
            self._group.value = _shown(where.group_id)
        self._status.value = where.status
        self._role.value = _shown(where.role)
        self._access.value = _shown(where.access_level)
        self._read_only.value = _shown(where.read_only)
        self._owner.value = _shown(where.account_owner)
        self._text.value = where.text or ""
        self._sort.value = self.sort
        self._descending.value = self.descending
        if self.page_size not in self._page_size.options:
            self._page_size.options = self._page_size_options()
        self._page_size.value = self.page_size

    def _page_size_options(self) -> list[tuple[str, int]]:
        return [(f"{n} per page", n) for n in sorted({*PAGE_SIZES, self.page_size})]

    def _on_filter(self, name: str):
        def changed(change) -> None:
            value = change["new"]
            if name == "group" and isinstance(self._group, w.Combobox):
                if value and value not in self._group_names:
                    return  # still typing
                value = value or None
            elif value == ANY:
                value = None
            self._if_user(self.set_filter, **{name: value})

        return changed

    def _if_user(self, method: Callable, *args: Any, **kwargs: Any) -> None:
        """Run ``method`` for a change the analyst made (not one the table made)."""
        if not self._quiet:
            self._safely(method, *args, **kwargs)

    def _safely(self, method: Callable, *args: Any, **kwargs: Any) -> None:
        """A button's or control's call: errors become a line under the table."""
        try:
            self._say("")
            method(*args, **kwargs)
        except OpskitError as error:
            self._say(str(error), kind="refused")
        except Exception as error:  # a notebook callback must not fail silently
            self._say(f"{type(error).__name__}: {error}", kind="refused")

    def _say(self, text: str, *, kind: str = "info") -> None:
        self.message = text
        css = "opskit-refused" if kind == "refused" else ""
        self._message.value = f'<div class="{css}">{_e(text)}</div>' if text else ""

    def _row_checked(self, row: _Row, checked: bool) -> None:
        if self._quiet or row.key is None:
            return
        if checked:
            self.selected.add(row.key)
        else:
            self.selected.discard(row.key)
        row._mark("opskit-selected", checked)
        self._status_line.value = self.status_text()

    def _selection_or_say(self, doing: str) -> list[dict[str, Any]] | None:
        if not self.selected:
            self._say(f"Select the members to {doing} first.")
            return None
        if len(self.selected) > MOST_AT_ONCE:
            self._say(
                f"{len(self.selected):,} members are selected; the table acts on at most "
                f"{MOST_AT_ONCE:,} at once. Hand a larger selection to bulk offboarding "
                "(notebook 03, table.selected_members()), which works in resumable batches."
            )
            return None
        members = members_by_keys(self.db, self.selected, checklist=True)
        if not members:
            self._say("The selected members are no longer there.")
            return None
        return members

    def _visible_group(self, group: str) -> str:
        wanted = str(group).strip()
        for group_id, name in self.viewer.groups:
            if wanted in (group_id, name):
                return group_id
        raise UnknownGroup(
            f"{self.actor} sees no group {wanted!r} (only groups where they are an active member)",
            column="group",
        )

    @staticmethod
    def _valid_page_size(page_size: int) -> int:
        if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1:
            raise BadInput(f"page size must be a whole number of rows, not {page_size!r}")
        return page_size

    def _show_confirmation(self, members: list[dict[str, Any]]) -> None:
        shown = members[:SHOWN_IN_CONFIRMATION]
        lines = "".join(
            "<tr>"
            f"<td>{_e(m['name'])}</td><td>{_e(m['email'])}</td><td>{_e(m['group'])}</td>"
            f"<td>{_e(LEVEL_LABELS.get(m['access_level'], m['access_level']))}</td>"
            f"<td>{'inactive already' if m['status'] != 'active' else ''}</td>"
            f"<td>{m['open_sessions']}</td><td>{_chips(m.get('open_checklist'))}</td>"
            "</tr>"
            for m in shown
        )
        more = len(members) - len(shown)
        self._confirm_text.value = (
            f"<b>Deactivate {len(members):,} member{'s' if len(members) != 1 else ''}</b> as "
            f"<code>{_e(self.actor)}</code>? Each is signed out of the group on every device; "
            "nothing is deleted. Members the rules protect are refused one by one."
            '<table class="opskit-list"><tr><th>Name</th><th>Email</th><th>Group</th>'
            "<th>Access level</th><th></th><th>Sessions</th><th>Open checklist</th></tr>"
            + lines
            + "</table>"
            + (f"<p>and {more:,} more</p>" if more else "")
        )
        self._resolve.value = False
        self._reason.value = ""
        self._confirm_panel.layout.display = "flex"
        self._outcome.value = ""

    def _run(self, action: str, members: list[dict[str, Any]], call) -> None:
        """Call the library once per member; a refusal stops only that member."""
        self.results = []
        for member in members:
            result = {
                "group_id": member["group_id"],
                "user_id": member["user_id"],
                "email": member["email"],
                "name": member["name"],
                "group": member["group"],
            }
            try:
                done = call(member)
            except OpskitError as error:
                result.update(outcome="refused", message=str(error), refused=True)
            else:
                result.update(outcome=done.outcome, message=_outcome_text(done), refused=False)
            self.results.append(result)
        self._show_outcome(action)
        self.refresh()

    def _show_outcome(self, action: str) -> None:
        refused = sum(r["refused"] for r in self.results)
        changed = sum(r["outcome"] not in ("refused", "unchanged") for r in self.results)
        lines = "".join(
            f'<tr class="{"opskit-refused" if r["refused"] else "opskit-done"}">'
            f"<td>{_e(r['name'])}</td><td>{_e(r['email'])}</td><td>{_e(r['group'])}</td>"
            f"<td>{_e(r['message'])}</td></tr>"
            for r in self.results
        )
        self._outcome.value = (
            f'<div class="opskit-panel"><b>{_e(action)}</b>: {changed:,} changed, '
            f"{len(self.results) - changed - refused:,} unchanged, {refused:,} refused"
            f'<table class="opskit-list">{lines}</table></div>'
        )

    def _panel(self, content: str) -> None:
        self._detail.value = content
        self._detail_panel.layout.display = "flex"

    def _hide_panel(self) -> None:
        self._detail.value = ""
        self._detail_panel.layout.display = "none"

    def _detail_html(self, member: dict[str, Any], memberships: list[dict[str, Any]]) -> str:
        group_id, email = member["group_id"], member["email"]
        groups = "".join(
            f'<tr style="{"color:" + GREY if r["status"] != "active" else ""}">'
            f"<td>{'▶ ' if r['group_id'] == group_id else ''}{_e(r['group'])}</td>"
            f"<td>{_e(ROLE_LABELS.get(r['role'], r['role']))}</td>"
            f"<td>{_e(LEVEL_LABELS.get(r['access_level'], r['access_level']))}"
            f"{' · read-only' if r['read_only'] else ''}{' · owner' if r['account_owner'] else ''}"
            f"</td><td>{_e(r['status'])}</td><td>{r['open_sessions']}</td>"
            f"<td>{_e(_day(r['last_sign_in_at']))}</td></tr>"
            for r in memberships
        )
        sessions = member_sessions(self.db, group_id, member["user_id"])
        session_lines = (
            "".join(
                f"<tr><td>{_e(x['device'])}</td><td>{_e(x['started_at'])}</td></tr>"
                for x in sessions
            )
            or "<tr><td>none</td></tr>"
        )
        visible = self.viewer.group_ids
        events = [e for e in audit_events(self.db, user=email) if e["group_id"] in visible]
        event_lines = (
            "".join(
                f"<tr><td>{_e(e['at'])}</td><td>{_e(e['group'])}</td><td>{_e(e['action'])}"
                f"{' · ' + _e(e['item']) if e['item'] else ''}</td><td>{_e(e['actor'])}</td>"
                f"<td>{_e(e['reason'] or '')}</td></tr>"
                for e in reversed(events[-20:])
            )
            or "<tr><td>no events</td></tr>"
        )
        status = member["status"]
        if status != "active" and member.get("status_changed_at"):
            status += (
                f" since {_day(member['status_changed_at'])}"
                f" (by {member['status_changed_by'] or '?'}"
                f"{': ' + member['status_reason'] if member['status_reason'] else ''})"
            )
        return (
            f"<b>{_e(member['name'])}</b> &lt;{_e(email)}&gt; in <b>{_e(member['group'])}</b>"
            f" · {_e(status)}"
            "<h4>Memberships in your groups</h4>"
            '<table class="opskit-list"><tr><th>Group</th><th>Role</th><th>Access</th>'
            f"<th>Status</th><th>Sessions</th><th>Last sign-in</th></tr>{groups}</table>"
            f"<h4>Open sessions in {_e(member['group'])}</h4>"
            f'<table class="opskit-list">{session_lines}</table>'
            "<h4>Checklist</h4>"
            + checklist_html(checklist(self.db, members=[(group_id, email)]))
            + "<h4>Audit history (newest first)</h4>"
            '<table class="opskit-list"><tr><th>When</th><th>Group</th><th>Action</th>'
            f"<th>By</th><th>Reason</th></tr>{event_lines}</table>"
        )
