"""The user table's markup: rows, header, chips, and the panels' contents.

Pure functions from the model's rows and results to HTML strings; the CSS classes
(``opskit-row``, ``opskit-cells``, ``opskit-chip``, ``opskit-refused`` ...) are what the
browser suite and the notebook's style rely on.
"""

from __future__ import annotations

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


def _cell(text: str, *, title: str | None = None, raw: bool = False) -> str:
    tip = f' title="{e(title)}"' if title else ""
    return f"<span{tip}>{text if raw else e(text)}</span>"


def _level(level: str) -> str:
    return LEVEL_LABELS.get(level, level)


def row_html(row: dict[str, Any]) -> str:
    """One member as a line of cells (the widths match the header's)."""
    inactive = row["status"] != "active"
    status = '<span class="opskit-status-inactive">inactive</span>' if inactive else "active"
    cells = [
        _cell(row["name"], title=row["name"]),
        _cell(row["email"], title=row["email"]),
        _cell(row["group"], title=row["group"]),
        _cell(ROLE_LABELS.get(row["role"], row["role"])),
        _cell(_level(row["access_level"])),
        _cell("✓" if row["read_only"] else ""),
        _cell("✓" if row["account_owner"] else ""),
        _cell(status, raw=True),
        _cell(str(row["open_sessions"])),
        _cell(day(row["last_sign_in_at"]), title=row["last_sign_in_at"] or "never signed in"),
        _cell(chips(row.get("open_checklist")), raw=True),
    ]
    grey = f";color:{GREY}" if inactive else ""
    return (
        f'<div class="opskit-cells" style="{_GRID}{grey}" data-status="{row["status"]}">'
        + "".join(cells)
        + "</div>"
    )


def header_html() -> str:
    cells = "".join(f"<span>{e(title)}</span>" for title, _ in COLUMNS)
    return f'<div class="opskit-cells opskit-head" style="{_GRID};font-weight:600">{cells}</div>'


def title_html(actor: str, groups: int) -> str:
    return f"<b>Members</b> · acting as <code>{e(actor)}</code> · {plural(groups, 'group')}"


def message_html(text: str, *, refused: bool = False) -> str:
    """The line under the table: a step to take first, or a refusal in red."""
    css = "opskit-refused" if refused else ""
    return f'<div class="{css}">{e(text)}</div>' if text else ""


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
