"""The checklist in a notebook: a coloured members-by-items table, and a widget to resolve.

Everything here displays or collects input; the rules live in ``opskit.checklist``.
The widget resolves in two steps: a dry run shows what will change (and any refusal,
with the rule's message), then Confirm does it. The same two steps deactivate one
member with a hand-off of their future appointments (``opskit.handoff``): the proposed
moves are shown before Confirm.

What is shown is bounded whatever the group's size (a group can have 50,000 members):
a summary first, then one page of members at a time; the full checklist goes to a CSV.
"""

from __future__ import annotations

import html
import operator
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import ipywidgets as w
from sqlalchemy import select

from .. import schema as s
from ..checklist import (
    CHECKLIST_COLUMNS,
    ITEMS,
    LABELS,
    REGISTRY,
    RESOLVE_CHOICES,
    checklist,
    checklist_groups,
    resolve_checklist,
    to_frame,
)
from ..collector import collector_paused
from ..db import Database, connect
from ..errors import OpskitError
from ..spreadsheet import write_frame_csv

# the items whose cell shows the row's count next to the state
_COUNTED = {item.id for item in REGISTRY if item.counts}
_VERBS = {item.id: item.resolution.verb for item in REGISTRY if item.resolution is not None}
# (text, background): action_needed is the one that must stand out
STATE_COLOURS = {
    "ok": ("#1b5e20", "#e3f2e5"),
    "action_needed": ("#ffffff", "#c62828"),
    "optional": ("#1a4f8b", "#e8f0fb"),
    "advisory": ("#6d4c00", "#ffecb3"),
    "not_applicable": ("#8a8a8a", "#f2f2f2"),
}
_HANDOFF_CHOICES = [
    ("auto: spread over colleagues, fewest first", "auto"),
    ("cancel them", "cancel"),
]
# members a table or the widget shows at a time, and colleagues a hand-off offers by name:
# a page of the checklist is ~50 kB of HTML, where a 50,000-member group's whole is 100 MB
PAGE_SIZE = 50
SUCCESSOR_CHOICES = 200
# the proposed changes a confirmation lists before "and N more"
CONFIRM_LINES = 50
# A checklist read this many seconds ago, with nothing recorded in the audit trail since,
# is shown again instead of read again: notebook 02's table, widget and export each read
# the group's (1.8 s CPU at 50,000 members) where one read serves the three
REUSE_SECONDS = 60.0
_CELL = "padding:3px 8px;border:1px solid #ddd;text-align:center;white-space:nowrap"
_HEAD = "padding:3px 8px;border:1px solid #ddd;background:#fafafa;text-align:left"


def _members(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One entry per member, in row order, with their items by id."""
    members: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        key = (row["group_id"], row["user_id"])
        member = members.get(key)
        if member is None:  # not setdefault: that would copy every row, not every member
            member = members[key] = {**row, "items": {}}
        member["items"][row["item"]] = row
    return list(members.values())


def _tally(rows: Iterable[Mapping[str, Any]]) -> tuple[int, int, dict[str, int]]:
    """Members, inactive members, and per item how many need action, in one pass over
    the rows (a 50,000-member group has 300,000)."""
    seen: set[tuple[str, str]] = set()
    inactive = 0
    needed = dict.fromkeys(ITEMS, 0)
    for row in rows:
        key = (row["group_id"], row["user_id"])
        if key not in seen:
            seen.add(key)
            inactive += row["status"] != "active"
        if row["state"] == "action_needed":
            needed[row["item"]] += 1
    return len(seen), inactive, needed


def _first_members(rows: Iterable[Mapping[str, Any]], limit: int) -> list[Mapping[str, Any]]:
    """The rows of the first ``limit`` members (a member's rows are together)."""
    seen: set[tuple[str, str]] = set()
    first = []
    for row in rows:
        key = (row["group_id"], row["user_id"])
        if key not in seen:
            if len(seen) == limit:
                break
            seen.add(key)
        first.append(row)
    return first


def _cell(row: Mapping[str, Any], *, dim: bool = False) -> str:
    state = row["state"]
    text, background = STATE_COLOURS[state]
    weight = "bold" if state == "action_needed" else "normal"
    # an inactive member's open item is a finding: it keeps its full colour
    fade = ";opacity:0.5" if dim and state != "action_needed" else ""
    label = state.replace("_", " ")
    if row["item"] in _COUNTED and row.get("count"):
        label = f"{label} ({row['count']})"
    return (
        f'<td style="{_CELL};color:{text};background:{background};font-weight:{weight}{fade}" '
        f'data-email="{html.escape(row["email"])}" data-item="{row["item"]}" '
        f'data-state="{state}" title="{html.escape(row.get("detail") or "")}">{label}</td>'
    )


def checklist_html(rows: Iterable[Mapping[str, Any]]) -> str:
    """Checklist rows as an HTML table of members by items, each state coloured and
    inactive members greyed (they come after the active ones)."""
    members = _members(rows)
    if not members:
        return "<p><em>No members.</em></p>"
    multi_group = len({m["group_id"] for m in members}) > 1
    head = "".join(f'<th style="{_HEAD}">{LABELS[item]}</th>' for item in ITEMS)
    group_head = f'<th style="{_HEAD}">Group</th>' if multi_group else ""
    lines = [
        '<table class="opskit-checklist" style="border-collapse:collapse;font-size:12px">',
        f'<thead><tr>{group_head}<th style="{_HEAD}">Member</th>'
        f'<th style="{_HEAD}">Status</th>{head}</tr></thead><tbody>',
    ]
    for member in members:
        inactive = member["status"] != "active"
        style = ' style="color:#9e9e9e;font-style:italic"' if inactive else ""
        who = f"{html.escape(member['name'])} &lt;{html.escape(member['email'])}&gt;"
        group_cell = (
            f'<td style="{_HEAD}">{html.escape(member["group"])}</td>' if multi_group else ""
        )
        cells = "".join(_cell(member["items"][item], dim=inactive) for item in ITEMS)
        lines.append(
            f'<tr data-status="{member["status"]}"{style}>{group_cell}'
            f'<td style="{_HEAD}">{who}</td><td style="{_HEAD}">{member["status"]}</td>'
            f"{cells}</tr>"
        )
    lines.append("</tbody></table>")
    legend = " ".join(
        f'<span style="padding:1px 6px;color:{text};background:{background}">'
        f"{state.replace('_', ' ')}</span>"
        for state, (text, background) in STATE_COLOURS.items()
    )
    lines.append(
        f'<p style="font-size:11px">{legend} · inactive members greyed '
        "(an item they still have open stays red)</p>"
    )
    return "\n".join(lines)


def summary_html(rows: Iterable[Mapping[str, Any]]) -> str:
    """One line over a checklist: its members, how many are inactive, and per item how
    many need action."""
    members, inactive, needed = _tally(rows)
    open_items = ", ".join(
        f"{LABELS[item].lower()} <b>{count:,}</b>" for item, count in needed.items() if count
    )
    return (
        f'<div class="opskit-checklist-summary" style="padding:2px 0">'
        f"<b>{members:,}</b> members ({inactive:,} inactive) · action needed: "
        f"{open_items or 'none'}</div>"
    )


def _more_html(shown: int, total: int, csv_hint: str) -> str:
    if shown >= total:
        return ""
    return (
        f'<p class="opskit-checklist-more" style="font-size:12px">'
        f"{shown:,} of {total:,} members shown. {csv_hint}</p>"
    )


def _last_event(db: Database) -> int | None:
    """The audit trail's last event id: every change opskit makes records an event in
    the same transaction, so an unchanged id says nothing opskit changed since."""
    with db.read() as conn:
        return conn.execute(select(s.audit_chain.c.last_event_id)).scalar()


class ChecklistTable:
    """Checklist rows that a notebook shows as a summary and the coloured table of the
    first ``PAGE_SIZE`` members (the rest: ``export_checklist_csv``).

    A table read by ``checklist_table`` for a group can stand in for a new read of that
    group (``ChecklistWidget(table=...)``, ``export_checklist_csv(table=...)``) while it
    is current: nothing recorded since it was read, and read ``REUSE_SECONDS`` ago at
    most."""

    def __init__(self, rows: list[dict[str, Any]], *, limit: int = PAGE_SIZE) -> None:
        self.rows = rows
        self.limit = limit
        # set by checklist_table: what it was read from, and when
        self._source: tuple[Database, int | None, float] | None = None

    def rows_of(self, db: Database, group: str) -> list[dict[str, Any]] | None:
        """These rows, if they are the checklist of ``group`` (id or name) in ``db`` and
        still current; else None: read it again."""
        if self._source is None:
            return None
        source, last_event, read_at = self._source
        first = self.rows[0]
        if (
            source is not db
            or group not in (first["group_id"], first["group"])
            or time.monotonic() - read_at > REUSE_SECONDS
            or _last_event(db) != last_event
        ):
            return None
        return self.rows

    @collector_paused
    def _repr_html_(self) -> str:
        members, _, _ = _tally(self.rows)
        return (
            summary_html(self.rows)
            + checklist_html(_first_members(self.rows, self.limit))
            + _more_html(
                min(self.limit, members),
                members,
                "Every member's rows: <code>export_checklist_csv</code> writes the CSV "
                "(or page through them in the widget).",
            )
        )

    def __repr__(self) -> str:
        members, inactive, needed = _tally(self.rows)
        open_items = sum(needed.values())
        return (
            f"<checklist of {members} members ({inactive} inactive): "
            f"{open_items} items need action>"
        )

    def to_frame(self):
        return to_frame(self.rows)


def _database(db: Database | str | None) -> Database:
    return db if isinstance(db, Database) else connect(db)


def checklist_table(
    db: Database | str | None = None,
    *,
    group: str | None = None,
    user: str | None = None,
    members: Iterable[Any] | None = None,
) -> ChecklistTable:
    """The checklist of a group, a user or a selection, ready to display."""
    db = _database(db)
    # read before the rows: a change committed in between makes the table look older
    # than it is (read again once more), never newer
    last_event, read_at = _last_event(db), time.monotonic()
    table = ChecklistTable(checklist(db, group=group, user=user, members=members))
    if group is not None and user is None and members is None and table.rows:
        table._source = (db, last_event, read_at)
    return table


def _group_rows(db: Database, group: str, table: ChecklistTable | None) -> list[dict[str, Any]]:
    """The checklist of a group: ``table``'s rows when they are that, and current."""
    reused = table.rows_of(db, group) if table is not None else None
    return checklist(db, group=group) if reused is None else reused


@collector_paused
def export_checklist_csv(
    db: Database | str | None,
    path: str | Path,
    *,
    group: str | None = None,
    user: str | None = None,
    members: Iterable[Any] | None = None,
    table: ChecklistTable | None = None,
) -> Path:
    """Write the checklist report to a CSV file and return its path (as given).

    ``table``: a ``checklist_table`` of the same group, written as it is while it is
    current (see ``ChecklistTable``) instead of reading the group again."""
    db = _database(db)
    if group is not None and user is None and members is None:
        rows = _group_rows(db, group, table)
    else:
        rows = checklist(db, group=group, user=user, members=members)
    return _write_csv(rows, path)


def _write_csv(rows: list[dict[str, Any]], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    import pandas as pd

    # built a column at a time (not ``to_frame``'s frame of row dicts) and written by the
    # frame writer, with no call per cell: 300,000 rows cost seconds the other way
    frame = pd.DataFrame(
        {column: _column(rows, column) for column in CHECKLIST_COLUMNS},
        columns=CHECKLIST_COLUMNS,
    )
    with open(path, "w", encoding="utf-8", newline="") as out:
        write_frame_csv(out, frame)
    return path


def _column(rows: list[dict[str, Any]], column: str) -> list[Any]:
    """One column of the rows, read by ``map`` (no Python call per row), or ``None``
    where a row has none."""
    try:
        return list(map(operator.itemgetter(column), rows))
    except KeyError:
        return [row.get(column) for row in rows]


def _message(text: str, kind: str = "info") -> str:
    colour = {"info": "#333", "ok": "#1b5e20", "error": "#c62828"}[kind]
    return f'<div style="color:{colour};padding:4px 0">{html.escape(text)}</div>'


class ChecklistWidget(w.VBox):
    """Pick a group and members, see their checklist, resolve items with a
    confirmation step, export the report to CSV.

    The group's summary comes first; the members list and the table show one page of
    ``PAGE_SIZE`` members (narrowed by the search box), and the selection is kept across
    pages and searches. ``table``: a ``checklist_table`` of the group the widget opens
    on, shown at first instead of a new read while it is current (``ChecklistTable``)."""

    @collector_paused
    def __init__(
        self,
        db: Database | str | None = None,
        *,
        group: str | None = None,
        actor: str = "",
        export_path: str = "checklist.csv",
        table: ChecklistTable | None = None,
    ) -> None:
        self.db = _database(db)
        # the first draw may show a checklist_table of the group just read; every later
        # one (a resolve, a hand-off, another group, an export) reads the database
        self._table = table
        self.rows: list[dict[str, Any]] = []
        self._members: list[dict[str, Any]] = []  # the group's, in list order
        self._matching: list[dict[str, Any]] = []  # of those, the search's
        self._selected: dict[str, None] = {}  # emails, in the order chosen
        self._page = 0
        self._syncing = False
        self._pending: tuple[list[tuple[str, str]], list[str]] | None = None
        choices = [(g["name"], g["group_id"]) for g in checklist_groups(self.db)]
        self.group_picker = w.Dropdown(options=choices, description="Group")
        self.actor_box = w.Text(value=actor, description="Actor", placeholder="email")
        self.summary = w.HTML()
        self.search_box = w.Text(
            description="Find",
            placeholder="name or email, then Enter",
            continuous_update=False,
            layout=w.Layout(width="40%"),
        )
        self.previous_button = w.Button(
            description="Previous", icon="chevron-left", layout=w.Layout(width="auto")
        )
        self.next_button = w.Button(
            description="Next", icon="chevron-right", layout=w.Layout(width="auto")
        )
        self.page_label = w.HTML()
        self.member_picker = w.SelectMultiple(
            options=[], description="Members", rows=8, layout=w.Layout(width="60%")
        )
        self.selection_label = w.HTML()
        self.clear_button = w.Button(description="Clear selection", layout=w.Layout(width="auto"))
        self.grid = w.HTML()
        # sized to their labels and wrapping onto a second line in a narrow window, so
        # that no label is cut ("Resolve online bo...")
        fit = w.Layout(width="auto", min_width="max-content")
        self.resolve_buttons = {
            item: w.Button(
                description=f"{_VERBS[item]} {LABELS[item].lower()}",
                tooltip=f"resolve {item} for the selected members",
                layout=fit,
            )
            for item in RESOLVE_CHOICES
        }
        self.resolve_all_button = w.Button(
            description="Resolve all for the selection",
            button_style="warning",
            layout=w.Layout(width="auto", min_width="max-content"),
        )
        self.confirm_text = w.HTML()
        self.confirm_button = w.Button(description="Confirm", button_style="danger")
        self.cancel_button = w.Button(description="Cancel")
        self.confirm_box = w.VBox(
            [self.confirm_text, w.HBox([self.confirm_button, self.cancel_button])],
            layout=w.Layout(display="none", border="1px solid #c62828", padding="6px"),
        )
        self.handoff_picker = w.Dropdown(
            options=_HANDOFF_CHOICES, description="Hand-off", layout=w.Layout(width="45%")
        )
        self.handoff_note = w.HTML()
        self.handoff_button = w.Button(
            description="Deactivate with hand-off",
            button_style="warning",
            tooltip="deactivate the selected member; their future appointments are handed off",
            layout=w.Layout(width="auto", min_width="max-content"),
        )
        self._pending_handoff: tuple[str, str, str] | None = None
        self.message = w.HTML()
        self.export_path = w.Text(value=export_path, description="CSV file")
        self.export_button = w.Button(
            description="Export CSV",
            tooltip="the selection's rows, or else every member matching the search",
        )

        for item, button in self.resolve_buttons.items():
            button.on_click(lambda _b, item=item: self.ask([item]))
        self.resolve_all_button.on_click(lambda _b: self.ask(["all"]))
        self.handoff_button.on_click(lambda _b: self.ask_handoff())
        self.confirm_button.on_click(lambda _b: self.confirm())
        self.cancel_button.on_click(lambda _b: self.cancel())
        self.export_button.on_click(lambda _b: self.export())
        self.previous_button.on_click(lambda _b: self.show_page(self._page - 1))
        self.next_button.on_click(lambda _b: self.show_page(self._page + 1))
        self.clear_button.on_click(lambda _b: self.select_members([]))
        self.group_picker.observe(lambda _c: self._group_changed(), names="value")
        self.search_box.observe(lambda _c: self.search(self.search_box.value), names="value")
        self.member_picker.observe(lambda _c: self._picked(), names="value")

        wrap = w.Layout(flex_flow="row wrap", align_items="center")
        super().__init__(
            [
                w.HBox([self.group_picker, self.actor_box]),
                self.summary,
                w.HBox(
                    [self.search_box, self.previous_button, self.next_button, self.page_label],
                    layout=wrap,
                ),
                self.member_picker,
                w.HBox([self.selection_label, self.clear_button], layout=wrap),
                self.grid,
                w.HBox(list(self.resolve_buttons.values()), layout=wrap),
                self.resolve_all_button,
                w.HBox([self.handoff_picker, self.handoff_button], layout=wrap),
                self.handoff_note,
                self.confirm_box,
                self.message,
                w.HBox([self.export_path, self.export_button], layout=wrap),
            ]
        )
        if group is not None:
            self.select_group(group)
        else:
            self.refresh()

    # what the analyst picks -------------------------------------------------------------

    def select_group(self, group: str) -> None:
        """Pick a group by id or exact name."""
        for name, group_id in self.group_picker.options:
            if group in (name, group_id):
                if self.group_picker.value == group_id:
                    self.refresh()
                else:
                    self.group_picker.value = group_id  # refreshes through the observer
                return
        self.message.value = _message(f"no group with id or name {group!r}", "error")

    def select_members(self, emails: Iterable[str]) -> None:
        """Select these members of the group (wherever they are in the list); the
        others are deselected."""
        wanted = {e.strip().lower() for e in emails}
        self._selected = {m["email"]: None for m in self._members if m["email"].lower() in wanted}
        self._selection_changed()

    def search(self, text: str) -> None:
        """Narrow the members list and the table to names or emails containing ``text``."""
        if self.search_box.value != text:
            self.search_box.value = text  # observed: comes back here
            return
        self._page = 0
        self.refresh_matching()

    def show_page(self, page: int) -> None:
        """Show page ``page`` (from 0) of the matching members, clamped to the pages."""
        pages = max(1, -(-len(self._matching) // PAGE_SIZE))
        self._page = min(max(page, 0), pages - 1)
        self._draw()

    @property
    def selection(self) -> list[tuple[str, str]]:
        return [(self.group_picker.value, email) for email in self._selected]

    # reading ----------------------------------------------------------------------------

    def _group_changed(self) -> None:
        self._selected = {}
        self._page = 0
        self.refresh()

    @collector_paused  # a large group's 300,000 rows, beside any table the kernel holds
    def refresh(self) -> None:
        """Read the group's checklist again and redraw, keeping the selection, the
        search and the page."""
        group_id = self.group_picker.value
        table, self._table = self._table, None
        self.rows = _group_rows(self.db, group_id, table) if group_id else []
        self._members = _members(self.rows)
        emails = {m["email"] for m in self._members}
        self._selected = {e: None for e in self._selected if e in emails}
        self.summary.value = summary_html(self.rows) if self.rows else ""
        self.refresh_matching()
        self._refresh_successors()

    def refresh_matching(self) -> None:
        """The members matching the search box, then the page redrawn."""
        needle = self.search_box.value.strip().lower()
        self._matching = [
            m
            for m in self._members
            if not needle or needle in m["email"].lower() or needle in m["name"].lower()
        ]
        self.show_page(self._page)

    def _page_members(self) -> list[dict[str, Any]]:
        start = self._page * PAGE_SIZE
        return self._matching[start : start + PAGE_SIZE]

    def _draw(self) -> None:
        """The members list, the pager and the table, for the page and the selection."""
        on_page = self._page_members()
        options = []
        for member in on_page:
            inactive = " · inactive" if member["status"] != "active" else ""
            options.append((f"{member['name']} <{member['email']}>{inactive}", member["email"]))
        self._syncing = True
        try:
            self.member_picker.options = options
            self.member_picker.value = tuple(e for _l, e in options if e in self._selected)
        finally:
            self._syncing = False
        total = len(self._matching)
        first = self._page * PAGE_SIZE
        of = f"{total:,} matching" if self.search_box.value.strip() else f"{total:,}"
        self.page_label.value = (
            f'<span class="opskit-checklist-pager">members {first + 1:,}–'
            f"{first + len(on_page):,} of {of}</span>"
            if on_page
            else '<span class="opskit-checklist-pager">no member matches</span>'
        )
        self.previous_button.disabled = self._page == 0
        self.next_button.disabled = first + len(on_page) >= total
        self._show_grid()

    def _picked(self) -> None:
        """The analyst changed the list's selection on this page."""
        if self._syncing:
            return
        on_page = {m["email"] for m in self._page_members()}
        picked = set(self.member_picker.value)
        kept = {e: None for e in self._selected if e not in on_page or e in picked}
        kept.update((e, None) for e in self.member_picker.value)
        self._selected = kept
        self._refresh_successors()
        self._show_grid()

    def _selection_changed(self) -> None:
        self._draw()
        self._refresh_successors()

    def _refresh_successors(self) -> None:
        from ..handoff import eligible_successors

        group_id = self.group_picker.value
        leaving = next(iter(self._selected)) if len(self._selected) == 1 else None
        emails = eligible_successors(self.db, group_id, leaving=leaving) if group_id else []
        kept = self.handoff_picker.value
        named = emails[:SUCCESSOR_CHOICES]
        if kept not in named and kept in emails:
            named.append(kept)
        options = [*_HANDOFF_CHOICES, *((f"to {e}", e) for e in named)]
        self.handoff_picker.options = options
        self.handoff_picker.value = kept if kept in {v for _l, v in options} else "auto"
        self.handoff_note.value = (
            f'<div style="font-size:12px">{len(named):,} of {len(emails):,} eligible '
            "colleagues listed by name; <b>auto</b> spreads over all of them.</div>"
            if len(emails) > len(named)
            else ""
        )

    def _visible_rows(self) -> list[dict[str, Any]]:
        """The rows the table is about: the selection's, else the matching members'."""
        if self._selected:
            members = [m for m in self._members if m["email"] in self._selected]
        else:
            members = self._matching
        return [row for member in members for row in member["items"].values()]

    def _show_grid(self) -> None:
        if self._selected:
            chosen = [m for m in self._members if m["email"] in self._selected]
            shown = chosen[:PAGE_SIZE]
            more = _more_html(
                len(shown), len(chosen), "Export CSV writes every selected member's rows."
            )
        else:
            shown = self._page_members()
            more = ""
        rows = [row for member in shown for row in member["items"].values()]
        self.selection_label.value = (
            f'<span class="opskit-checklist-selected">{len(self._selected):,} selected</span>'
        )
        self.grid.value = checklist_html(rows) + more

    # resolving --------------------------------------------------------------------------

    def ask(self, items: list[str]) -> None:
        """Step one: show what resolving ``items`` for the selection would change."""
        self._hide_confirmation()
        if not self._selected:
            self.message.value = _message("select the members to resolve first", "error")
            return
        try:
            preview = resolve_checklist(
                self.db,
                group=None,
                members=self.selection,
                item=items,
                actor=self.actor_box.value,
                dry_run=True,
            )
        except OpskitError as error:
            self.message.value = _message(str(error), "error")
            return
        changes = [r for r in preview if r.get("resolved")]
        if not changes:
            self.message.value = _message("nothing to resolve: those items are already ok")
            return
        lines = "".join(
            f"<li>{html.escape(r['name'])} &lt;{html.escape(r['email'])}&gt;: "
            f"<b>{r['item']}</b>: {html.escape(r['detail'])}</li>"
            for r in changes[:CONFIRM_LINES]
        )
        if len(changes) > CONFIRM_LINES:
            lines += f"<li>and {len(changes) - CONFIRM_LINES:,} more</li>"
        self.confirm_text.value = (
            f"<b>{len(changes)} change(s) as {html.escape(self.actor_box.value)}</b>"
            f"<ul>{lines}</ul>Settings are snapshotted first, so a reactivation can restore them."
        )
        self._pending = (self.selection, items)
        self.confirm_box.layout.display = "flex"
        self.message.value = ""

    def ask_handoff(self) -> None:
        """Step one of a deactivation with hand-off: the dry run's proposed moves."""
        from ..lifecycle import deactivate

        self._hide_confirmation()
        if len(self._selected) != 1:
            self.message.value = _message("select the one member to deactivate", "error")
            return
        (email,) = self._selected
        handoff = self.handoff_picker.value
        try:
            preview = deactivate(
                self.db,
                email,
                self.group_picker.value,
                actor=self.actor_box.value,
                handoff=handoff,
                dry_run=True,
            )
        except OpskitError as error:
            self.message.value = _message(str(error), "error")
            return
        if preview.outcome == "unchanged":
            self.message.value = _message(f"{email} is already inactive: nothing to do")
            return
        moves = "".join(
            f'<li data-appointment="{html.escape(a["appointment_id"])}">'
            f"{html.escape(a['starts_at'])} {html.escape(a['appointment_id'])}: "
            + (f"to {html.escape(a['to'])}" if a["to"] else "cancelled")
            + "</li>"
            for a in preview.appointments
        )
        self.confirm_text.value = (
            f"<b>Deactivate {html.escape(email)} as {html.escape(self.actor_box.value)}</b>, "
            f"signing them out of {preview.sessions_revoked} session(s); "
            + (
                f"hand-off of {len(preview.appointments)} future appointment(s):<ul>{moves}</ul>"
                if preview.appointments
                else "no future appointment to hand off."
            )
        )
        self._pending_handoff = (self.group_picker.value, email, handoff)
        self.confirm_box.layout.display = "flex"
        self.message.value = ""

    def confirm(self) -> None:
        """Step two: do what was shown, then refresh."""
        if self._pending_handoff is not None:
            self._confirm_handoff()
            return
        if self._pending is None:
            return
        selection, items = self._pending
        self._hide_confirmation()
        try:
            rows = resolve_checklist(
                self.db, group=None, members=selection, item=items, actor=self.actor_box.value
            )
        except OpskitError as error:
            self.message.value = _message(str(error), "error")
            return
        done = sum(bool(r.get("resolved")) for r in rows)
        self.message.value = _message(f"resolved {done} item(s)", "ok")
        self.refresh()

    def _confirm_handoff(self) -> None:
        from ..lifecycle import deactivate

        assert self._pending_handoff is not None
        group_id, email, handoff = self._pending_handoff
        self._hide_confirmation()
        try:
            result = deactivate(
                self.db, email, group_id, actor=self.actor_box.value, handoff=handoff
            )
        except OpskitError as error:
            self.message.value = _message(str(error), "error")
            return
        moved = sum(a["outcome"] == "reassigned" for a in result.appointments)
        cancelled = len(result.appointments) - moved
        self.message.value = _message(
            f"deactivated {email}; {moved} appointment(s) reassigned, {cancelled} cancelled",
            "ok",
        )
        self.refresh()

    def cancel(self) -> None:
        self._hide_confirmation()
        self.message.value = _message("cancelled: nothing changed")

    def _hide_confirmation(self) -> None:
        self._pending = None
        self._pending_handoff = None
        self.confirm_box.layout.display = "none"

    # exporting --------------------------------------------------------------------------

    def export(self) -> Path:
        """Write the selection's rows, or else every matching member's, to the CSV file,
        read again first: the file says what the database holds now, and so does the
        table once it is written."""
        self.refresh()
        rows = self._visible_rows()
        path = _write_csv(rows, self.export_path.value)
        self.message.value = _message(f"wrote {len(rows):,} rows to {path}", "ok")
        return path
