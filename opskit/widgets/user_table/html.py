"""The user table's markup: rows, header, chips, and the panels' contents.

Pure functions from the model's rows and results to HTML strings; the CSS classes
(``opskit-row``, ``opskit-cells``, ``opskit-chip``, ``opskit-refused`` ...) are what the
browser suite and the notebook's style rely on.
"""

from __future__ import annotations

import re
from html import escape
from typing import Any

from ...checklist import LABELS as ITEM_LABELS
from ..checklist import checklist_html
from .model import (
    LEVEL_LABELS,
    ROLE_LABELS,
    SHOWN_IN_CONFIRMATION,
    MemberDetail,
    SelectionChecklist,
)

# (class suffix, title, width, the sort its header click chooses). At 1440 px, with
# JupyterLab's file browser open, the notebook leaves the cells about 900 px: the
# minimums (and gaps) fit there; the flexible columns
# (name, email, group, checklist) share what is left, and a long value wraps.
COLUMNS = (
    ("name", "Name", "minmax(78px, 1fr)", "name"),
    ("email", "Email", "minmax(140px, 1.7fr)", "email"),
    ("group", "Group", "minmax(96px, 1.2fr)", "group"),
    ("role", "Role", "90px", None),
    ("access", "Access level", "minmax(66px, 0.8fr)", None),
    ("read-only", "Read-only", "40px", None),
    ("owner", "Owner", "46px", None),
    ("status", "Status", "50px", None),
    ("sessions", "Sessions", "58px", None),
    ("last-sign-in", "Last sign-in", "76px", "last_sign_in_at"),
    ("checklist", "Open checklist", "minmax(100px, 1.1fr)", None),
)
GRID_COLUMNS = " ".join(width for _, _, width, _ in COLUMNS)
COLUMN_GAP = "5px"
_GRID = (
    f"display:grid;grid-template-columns:{GRID_COLUMNS};column-gap:{COLUMN_GAP};"
    "align-items:center;width:100%"
)
GREY = "#9e9e9e"
CHECK_WIDTH = "26px"  # the row's checkbox, and the header's space above it
DETAILS_WIDTH = "72px"  # the row's Details button, and the header's space above it

STYLE = """
<style>
.opskit-user-table { font-size: 12px; }
.opskit-user-table .opskit-row { border-bottom: 1px solid #eee; min-height: 26px; }
.opskit-user-table .opskit-row:hover { background: #f5f8ff; }
.opskit-user-table .opskit-row.opskit-selected { background: #eaf1ff; }
.opskit-user-table .opskit-row.opskit-inactive { opacity: 0.6; }
.opskit-user-table .opskit-row.opskit-inactive .opskit-cells { color: #9e9e9e; }
.opskit-user-table .opskit-row > .widget-html,
.opskit-user-table .opskit-head > .opskit-head-cells { margin: 0 4px 0 0; }
.opskit-user-table .opskit-row > .widget-checkbox,
.opskit-user-table .opskit-head > .opskit-head-check { margin: 0; flex: 0 0 auto; }
.opskit-user-table .opskit-cells > span { white-space: normal; min-width: 0; line-height: 1.3; }
/* a long name, email or group wraps (emails before their @ and dots) rather than being cut */
.opskit-user-table .opskit-cells > .opskit-col-name,
.opskit-user-table .opskit-cells > .opskit-col-email,
.opskit-user-table .opskit-cells > .opskit-col-group { overflow-wrap: anywhere; }
.opskit-user-table .opskit-head { font-weight: 600; color: #555;
  border-bottom: 2px solid #ddd; padding: 2px 0; }
.opskit-user-table .opskit-head-cells > * { margin: 0; min-width: 0; }
.opskit-user-table .opskit-head-cells .widget-html-content { white-space: normal;
  line-height: 1.2; font-weight: 600; font-size: 12px; }
.opskit-user-table .opskit-head-cells button.opskit-sort { padding: 0 2px; height: auto;
  min-height: 22px; text-align: left; font-weight: 600; font-size: 12px; color: #1a4fa0;
  background: transparent; box-shadow: none; white-space: normal; line-height: 1.2; }
.opskit-user-table .opskit-head-cells button.opskit-sort:hover { background: #eef3fb; }
.opskit-user-table .opskit-head-cells button.opskit-sorted { background: #e3ecfa; }
.opskit-user-table .opskit-chip { display: inline-block; padding: 0 5px; margin: 1px 3px 1px 0;
  border-radius: 8px; background: #fdecea; color: #b71c1c; font-size: 11px;
  white-space: nowrap; }
.opskit-user-table .opskit-status-inactive { background: #eee; color: #777;
  border-radius: 8px; padding: 0 5px; }
.opskit-user-table .opskit-panel { border: 1px solid #ddd; border-radius: 4px;
  padding: 6px 10px; margin: 6px 0; background: #fcfcfc; }
.opskit-user-table .opskit-details-panel { border-left: 3px solid #1a4fa0;
  margin: 2px 0 8px 26px; }
.opskit-user-table table.opskit-list { border-collapse: collapse; margin: 4px 0; }
.opskit-user-table table.opskit-list td, .opskit-user-table table.opskit-list th {
  padding: 2px 8px; border-bottom: 1px solid #eee; text-align: left; vertical-align: top; }
.opskit-user-table .opskit-refused { color: #b71c1c; }
.opskit-user-table .opskit-message .opskit-refused { font-weight: 600; }
.opskit-user-table .opskit-done { color: #1b5e20; }
.opskit-user-table .opskit-counts { font-weight: 600; }
.opskit-user-table .opskit-busy-label { visibility: hidden; color: #1a4fa0; }
.opskit-user-table .opskit-rows { transition: opacity 0.1s; }
/* busy: shown only when the work lasts past 0.2 s, so quick changes do not flicker */
.opskit-user-table.opskit-busy .opskit-rows { opacity: 0.35;
  transition: opacity 0.1s 0.2s; }
.opskit-user-table.opskit-busy .opskit-busy-label { visibility: visible;
  transition: visibility 0s 0.2s; }
.opskit-user-table .opskit-page-box input { min-width: 9ch; }
</style>
"""


def e(value: Any) -> str:
    """Escaped text of a value (None: empty)."""
    return escape("" if value is None else str(value))


def day(stamp: str | None) -> str:
    return stamp[:10] if stamp else "never"


def plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'s' if count != 1 else ''}"


def chips(items: list[str] | None) -> str:
    """Open checklist items as red chips (None: the checklist does not apply)."""
    if items is None:
        return f'<span style="color:{GREY}">n/a</span>'
    if not items:
        return f'<span style="color:{GREY}">none</span>'
    return "".join(f'<span class="opskit-chip">{e(ITEM_LABELS.get(i, i))}</span>' for i in items)


def _cell(column: str, text: str, *, title: str | None = None, raw: bool = False) -> str:
    tip = f' title="{e(title)}"' if title else ""
    return f'<span class="opskit-col-{column}"{tip}>{text if raw else e(text)}</span>'


def _breakable_email(email: str) -> str:
    """An email that wraps, when it must, before its @ and dots rather than anywhere."""
    return "<wbr>".join(e(part) for part in re.split(r"(?=[@.])", email))


def _level(level: str) -> str:
    return LEVEL_LABELS.get(level, level)


def row_html(row: dict[str, Any]) -> str:
    """One member as a line of cells (the widths match the header's)."""
    inactive = row["status"] != "active"
    status = '<span class="opskit-status-inactive">inactive</span>' if inactive else "active"
    cells = [
        _cell("name", row["name"], title=row["name"]),
        _cell("email", _breakable_email(row["email"]), title=row["email"], raw=True),
        _cell("group", row["group"], title=row["group"]),
        _cell("role", ROLE_LABELS.get(row["role"], row["role"])),
        _cell("access", _level(row["access_level"])),
        _cell("read-only", "✓" if row["read_only"] else ""),
        _cell("owner", "✓" if row["account_owner"] else ""),
        _cell("status", status, raw=True),
        _cell("sessions", str(row["open_sessions"])),
        _cell(
            "last-sign-in",
            day(row["last_sign_in_at"]),
            title=row["last_sign_in_at"] or "never signed in",
        ),
        _cell("checklist", chips(row.get("open_checklist")), raw=True),
    ]
    grey = f";color:{GREY}" if inactive else ""
    return (
        f'<div class="opskit-cells" style="{_GRID}{grey}" data-status="{row["status"]}">'
        + "".join(cells)
        + "</div>"
    )


def header_html() -> str:
    """The column titles as one line of static cells (the widget's header is made of
    controls, so that a click sorts; this is the same line for a static view)."""
    cells = "".join(
        f'<span class="opskit-col-{column}">{e(title)}</span>' for column, title, _, _ in COLUMNS
    )
    return f'<div class="opskit-cells opskit-head" style="{_GRID};font-weight:600">{cells}</div>'


SORT_ARROWS = {False: "▲", True: "▼"}  # ascending, descending: a direction you can see


def sort_title(title: str, sorted_by: bool, descending: bool) -> str:
    """A sortable column's header: its title, with ▲ (A→Z, oldest first) or ▼ when the
    list is sorted by it, ⇅ when a click would sort by it."""
    return f"{title} {SORT_ARROWS[descending] if sorted_by else '⇅'}"


def sort_tooltip(title: str, sorted_by: bool, descending: bool) -> str:
    if not sorted_by:
        return f"Sort by {title.lower()}"
    now = "descending" if descending else "ascending"
    return f"Sorted by {title.lower()}, {now}: click to reverse"


def counts_html(shown: str) -> str:
    """The counts beside the filters: "Showing 1–25 of 1,000,000 members · 3 selected"."""
    return f'<span class="opskit-counts">{e(shown)}</span>'


def title_html(actor: str, groups: int) -> str:
    return f"<b>Members</b> · acting as <code>{e(actor)}</code> · {plural(groups, 'group')}"


def message_html(text: str, *, refused: bool = False) -> str:
    """The line under the action buttons: a step to take first, or a refusal in red."""
    css = "opskit-refused" if refused else "opskit-note"
    role = "alert" if refused else "status"
    return (
        f'<div class="{css}" role="{role}">{"⚠ " if refused else ""}{e(text)}</div>' if text else ""
    )


def confirmation_html(members: list[dict[str, Any]], actor: str) -> str:
    """Who a deactivation will affect, each with their open checklist items."""
    shown = members[:SHOWN_IN_CONFIRMATION]
    lines = "".join(
        "<tr>"
        f"<td>{e(m['name'])}</td><td>{e(m['email'])}</td><td>{e(m['group'])}</td>"
        f"<td>{e(_level(m['access_level']))}</td>"
        f"<td>{'inactive already' if m['status'] != 'active' else ''}</td>"
        f"<td>{m['open_sessions']}</td><td>{chips(m.get('open_checklist'))}</td>"
        "</tr>"
        for m in shown
    )
    more = len(members) - len(shown)
    return (
        f"<b>Deactivate {plural(len(members), 'member')}</b> as "
        f"<code>{e(actor)}</code>? Each is signed out of the group on every device; "
        "nothing is deleted. Members the rules protect are refused one by one."
        '<table class="opskit-list"><tr><th>Name</th><th>Email</th><th>Group</th>'
        "<th>Access level</th><th></th><th>Sessions</th><th>Open checklist</th></tr>"
        + lines
        + "</table>"
        + (f"<p>and {more:,} more</p>" if more else "")
    )


def outcome_html(action: str, results: list[dict[str, Any]]) -> str:
    """An action's tally and each member's outcome, refusals in red."""
    refused = sum(r["refused"] for r in results)
    changed = sum(r["outcome"] not in ("refused", "unchanged") for r in results)
    lines = "".join(
        f'<tr class="{"opskit-refused" if r["refused"] else "opskit-done"}">'
        f"<td>{e(r['name'])}</td><td>{e(r['email'])}</td><td>{e(r['group'])}</td>"
        f"<td>{e(r['message'])}</td></tr>"
        for r in results
    )
    return (
        f'<div class="opskit-panel"><b>{e(action)}</b>: {changed:,} changed, '
        f"{len(results) - changed - refused:,} unchanged, {refused:,} refused"
        f'<table class="opskit-list">{lines}</table></div>'
    )


def selection_checklist_html(found: SelectionChecklist) -> str:
    return (
        f"<b>Checklist of {found.selected:,} selected</b>"
        + checklist_html(found.rows)
        + (
            f"<p>and {found.more:,} more (narrow the selection to see them)</p>"
            if found.more
            else ""
        )
    )


def detail_html(detail: MemberDetail) -> str:
    """A member's memberships, open sessions, checklist and audit history."""
    member = detail.member
    group_id = member["group_id"]
    groups = "".join(
        f'<tr style="{"color:" + GREY if r["status"] != "active" else ""}">'
        f"<td>{'▶ ' if r['group_id'] == group_id else ''}{e(r['group'])}</td>"
        f"<td>{e(ROLE_LABELS.get(r['role'], r['role']))}</td>"
        f"<td>{e(_level(r['access_level']))}"
        f"{' · read-only' if r['read_only'] else ''}{' · owner' if r['account_owner'] else ''}"
        f"</td><td>{e(r['status'])}</td><td>{r['open_sessions']}</td>"
        f"<td>{e(day(r['last_sign_in_at']))}</td></tr>"
        for r in detail.memberships
    )
    session_lines = (
        "".join(
            f"<tr><td>{e(x['device'])}</td><td>{e(x['started_at'])}</td></tr>"
            for x in detail.sessions
        )
        or "<tr><td>none</td></tr>"
    )
    event_lines = (
        "".join(
            f"<tr><td>{e(x['at'])}</td><td>{e(x['group'])}</td><td>{e(x['action'])}"
            f"{' · ' + e(x['item']) if x['item'] else ''}</td><td>{e(x['actor'])}</td>"
            f"<td>{e(x['reason'] or '')}</td></tr>"
            for x in detail.events
        )
        or "<tr><td>no events</td></tr>"
    )
    status = member["status"]
    if status != "active" and member.get("status_changed_at"):
        status += (
            f" since {day(member['status_changed_at'])}"
            f" (by {member['status_changed_by'] or '?'}"
            f"{': ' + member['status_reason'] if member['status_reason'] else ''})"
        )
    return (
        f"<b>{e(member['name'])}</b> &lt;{e(member['email'])}&gt; in <b>{e(member['group'])}</b>"
        f" · {e(status)}"
        "<h4>Memberships in your groups</h4>"
        '<table class="opskit-list"><tr><th>Group</th><th>Role</th><th>Access</th>'
        f"<th>Status</th><th>Sessions</th><th>Last sign-in</th></tr>{groups}</table>"
        f"<h4>Open sessions in {e(member['group'])}</h4>"
        f'<table class="opskit-list">{session_lines}</table>'
        "<h4>Checklist</h4>"
        + checklist_html(detail.checklist)
        + "<h4>Audit history (newest first)</h4>"
        '<table class="opskit-list"><tr><th>When</th><th>Group</th><th>Action</th>'
        f"<th>By</th><th>Reason</th></tr>{event_lines}</table>"
    )
