"""What the user table holds and does, without a screen: the filter, sort and page, the
selection, the deactivation awaiting confirmation, and the lifecycle actions.

Everything shown comes from ``opskit.members`` one page at a time (counted, filtered,
sorted and paged in SQL, and "select all matching" reads only keys, in SQL); every
change goes through ``opskit.lifecycle``, one call per member, and a refusal becomes
that member's message (the rule's own words) instead of stopping the others.

The widget (``view.UserTable``) draws this state and calls these methods; tests drive
them directly, with no widget.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, MutableSet
from dataclasses import dataclass, replace
from typing import Any

from ... import schema as s
from ...audit import audit_events
from ...checklist import checklist
from ...db import Database, connect
from ...errors import BadInput, NotAuthorized, OpskitError, UnknownGroup
from ...lifecycle import ActionResult, change_access, deactivate, reactivate
from ...members import (
    MemberCounts,
    MemberFilter,
    list_members,
    member_counts,
    member_keys,
    member_page,
    member_sessions,
    members_by_keys,
    page_marks,
    viewer,
)

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
SHOWN_IN_CONFIRMATION = 200  # members listed by name before "and N more"
MOST_AT_ONCE = 5000  # one call per member: beyond this, bulk offboarding is the tool
RECENT_EVENTS = 20  # audit events in a member's detail
MARK_EVERY = 1000  # rows between two page marks (a deep jump reads at most this far)
MARKED_FROM = 20_000  # a status part this long gets page marks, read in the background
MARKS_WAIT = 10.0  # seconds a deep jump waits for the marks being read


class Selection(MutableSet):
    """The selected members' keys, (group_id, user_id).

    "Select all matching" over more than ``MOST_AT_ONCE`` members is kept as its filter
    and the count of what it matched, less the members unselected since, instead of a
    million keys read (seconds at a million members; no action takes that many anyway).
    What asks for the keys themselves (iterating, ``selected_members``) reads them then.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self._keys: set[Key] = set()  # selected one by one, none of them in ``_where``
        self._where: MemberFilter | None = None  # every member it matches, but ``_out``
        self._size = 0  # members ``_where`` matched when they were selected
        self._out: set[Key] = set()  # matched by ``_where`` and unselected

    @property
    def by_filter(self) -> MemberFilter | None:
        """The filter of a large "select all matching", while it is kept as a filter."""
        return self._where

    def __len__(self) -> int:
        return len(self._keys) + (self._size - len(self._out) if self._where else 0)

    def __contains__(self, key: object) -> bool:
        return key in self.among([key])  # type: ignore[list-item]

    def __iter__(self) -> Iterator[Key]:
        self._read_keys()
        return iter(set(self._keys))

    def among(self, keys: Iterable[Key], *, matching: MemberFilter | None = None) -> set[Key]:
        """Which of ``keys`` are selected (one query at most); ``matching``: a filter all
        of them are known to match, which saves the query when it is the selection's."""
        keys = set(keys)
        found = keys & self._keys
        rest = keys - found - self._out
        if self._where is not None and rest:
            found |= rest if matching == self._where else self._in_filter(rest)
        return found

    def add(self, key: Key) -> None:
        self.update([key])

    def discard(self, key: Key) -> None:
        self.remove_all([key])

    def update(self, keys: Iterable[Key]) -> None:
        keys = set(keys)
        if self._where is not None:
            back = keys & self._out
            self._out -= back
            keys = keys - back - self._in_filter(keys - back)
        self._keys |= keys

    def remove_all(self, keys: Iterable[Key]) -> None:
        keys = set(keys)
        self._keys -= keys
        if self._where is not None:
            self._out |= self._in_filter(keys - self._out)

    def select_matching(self, where: MemberFilter, size: int) -> None:
        """Select every member ``where`` matches (``size`` of them)."""
        if size <= MOST_AT_ONCE and self._where is None:
            self._keys |= set(member_keys(self.db, where))
            return
        if self._where is not None and self._where != where:
            self._read_keys()  # two filters: keep the older one as its keys
        self._keys -= self._in_filter(self._keys, where)
        self._where, self._size, self._out = where, size, set()

    def clear(self) -> None:
        self._keys, self._where, self._size, self._out = set(), None, 0, set()

    def _in_filter(self, keys: set[Key], where: MemberFilter | None = None) -> set[Key]:
        where = where or self._where
        if where is None or not keys:
            return set()
        return set(member_keys(self.db, where, among=keys))

    def _read_keys(self) -> None:
        if self._where is not None:
            keys = set(member_keys(self.db, self._where)) - self._out
            self._keys |= keys
            self._where, self._size, self._out = None, 0, set()


MarkKey = tuple[MemberFilter, str, bool, str, int]  # filter, sort, descending, status, size


class PageMarks:
    """Page marks (``members.page_marks``) of the lists the table shows, read in a
    background thread as soon as a list is on show, so that a typed jump deep into a
    million members reads at most ``every`` rows instead of counting from an end.

    One thread at a time reads the marks of the latest list wanted; a list no longer
    wanted stops being read. Marks hold membership ids, so a change to the data makes
    them stale: ``forget`` after the table changes anything.
    """

    KEPT = 16  # lists whose marks are kept

    def __init__(self, db: Database, every: int = MARK_EVERY) -> None:
        self.db = db
        self.every = every
        self._found: dict[MarkKey, list[int] | None] = {}
        self._wanted: tuple[MarkKey, ...] = ()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def want(self, keys: Iterable[MarkKey]) -> None:
        with self._lock:
            self._wanted = tuple(k for k in keys if k not in self._found)
            if self._wanted and (self._thread is None or not self._thread.is_alive()):
                self._thread = threading.Thread(
                    target=self._read, name="opskit-page-marks", daemon=True
                )
                self._thread.start()

    def get(self, key: MarkKey, wait: float = MARKS_WAIT) -> list[int] | None:
        """The marks of ``key``; waits (at most ``wait`` seconds) while they are read."""
        deadline = time.monotonic() + wait
        while True:
            with self._lock:
                if key in self._found:
                    return self._found[key]
                reading = key in self._wanted and self._thread is not None
            if not reading or time.monotonic() >= deadline:
                return None
            time.sleep(0.02)

    def ready(self, key: MarkKey) -> bool:
        with self._lock:
            return self._found.get(key) is not None

    def forget(self) -> None:
        with self._lock:
            self._found.clear()

    def _read(self) -> None:
        while True:
            with self._lock:
                pending = [k for k in self._wanted if k not in self._found]
                if not pending:
                    self._thread = None
                    return
                key = pending[0]
            where, sort, descending, status, size = key

            def unwanted(key: MarkKey = key) -> bool:
                return key not in self._wanted

            try:
                marks = page_marks(
                    self.db,
                    where,
                    status=status,
                    size=size,
                    sort=sort,
                    descending=descending,
                    every=self.every,
                    stop=unwanted,
                )
            except Exception:  # a jump without marks pages by offset, as before
                marks = None
            with self._lock:
                if marks is not None or key in self._wanted:
                    self._found[key] = marks
                    while len(self._found) > self.KEPT:
                        del self._found[next(iter(self._found))]
                if key in self._wanted:
                    self._wanted = tuple(k for k in self._wanted if k != key)


@dataclass(frozen=True)
class MemberDetail:
    """One member as the detail panel shows them, bounded to the viewer's groups."""

    member: dict[str, Any]
    memberships: list[dict[str, Any]]  # in the groups the viewer may see, by group
    sessions: list[dict[str, Any]]  # open, in the member's group
    events: list[dict[str, Any]]  # newest first, at most RECENT_EVENTS
    checklist: list[dict[str, Any]]


@dataclass(frozen=True)
class SelectionChecklist:
    """The checklist rows of the first SHOWN_IN_CONFIRMATION selected members."""

    rows: list[dict[str, Any]]
    selected: int  # members selected
    more: int  # selected members left out of ``rows``


def outcome_text(result: ActionResult) -> str:
    """ "deactivated · 2 sessions revoked · 4 checklist items resolved" """
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


def valid_page_size(page_size: int) -> int:
    if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1:
        raise BadInput(f"page size must be a whole number of rows, not {page_size!r}")
    return page_size


class UserTableModel:
    """The member list of the groups ``actor`` may see, a page at a time, with a
    selection and the actions on it.

    ``db`` is a Database or a URL (None: ``OPSKIT_DATABASE_URL``, else the default).
    ``group`` (id or exact name) starts the list on one group. Methods that refuse an
    input raise (``BadInput``, ``UnknownGroup``); an action refused for one member is
    reported in ``results``; a step the analyst must take first is put in ``message``.
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
        self.page_size = valid_page_size(page_size)
        self.page = 0  # zero-based
        self.counts: MemberCounts | None = None
        self.rows: list[dict[str, Any]] = []
        self.selected = Selection(self.db)
        self.marks = PageMarks(self.db)
        self.marked_from = MARKED_FROM
        self.pending: list[dict[str, Any]] | None = None  # members awaiting confirm()
        self.last_action: str | None = None  # what ``results`` are the outcome of
        self.results: list[dict[str, Any]] = []  # outcome of the last action, per member
        self.message = ""
        self.message_refused = False
        self.refresh()

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

    def refresh(
        self,
        *,
        recount: bool = True,
        after: int | None = None,
        before: int | None = None,
        skip: int = 0,
    ) -> None:
        """Read the page again (and the counts, unless only the page moved). ``after`` /
        ``before``: the membership id of the row next to the page, when it is known
        (``skip``: rows between ``after`` and the page)."""
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
            skip=skip,
        )
        self.marks.want(k for k in self._mark_keys() if k[4] >= self.marked_from)

    def _mark_keys(self) -> list[MarkKey]:
        counts = self.counts or MemberCounts(0, 0)
        return [
            (self.where, self.sort, self.descending, "active", counts.active),
            (self.where, self.sort, self.descending, "inactive", counts.inactive),
        ]

    def _mark_before(self, row: int) -> tuple[int | None, int]:
        """The page mark before 0-based ``row`` of the list and the rows between them
        ((None, 0): none, page by offset)."""
        active, inactive = self._mark_keys()
        key, position = (active, row) if row < active[4] else (inactive, row - active[4])
        every = self.marks.every
        if position < every or key[4] < self.marked_from:
            return None, 0
        marks = self.marks.get(key)
        index = min(position // every, len(marks or ())) - 1
        if marks is None or index < 0:
            return None, 0
        return marks[index], position - (index + 1) * every

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

    def member_detail(self, key: Key) -> MemberDetail:
        """A member's memberships in the groups the actor may see, open sessions,
        checklist and recent audit history."""
        group_id, user_id = key
        if group_id not in self.viewer.group_ids:
            raise NotAuthorized(f"{self.actor} may not see members of group {group_id}")
        memberships = list_members(self.db, where=self.viewer.scope(user_id=user_id), sort="group")
        member = next((r for r in memberships if r["group_id"] == group_id), None)
        if member is None:
            raise UnknownGroup(f"no member {user_id} in group {group_id}")
        visible = self.viewer.group_ids
        events = [
            e for e in audit_events(self.db, user=member["email"]) if e["group_id"] in visible
        ]
        return MemberDetail(
            member=member,
            memberships=memberships,
            sessions=member_sessions(self.db, group_id, user_id),
            events=list(reversed(events[-RECENT_EVENTS:])),
            checklist=checklist(self.db, members=[(group_id, member["email"])]),
        )

    def selection_checklist(self) -> SelectionChecklist | None:
        """The selection's checklist (every item and state); None, with a message,
        when there is nothing to show."""
        members = self._selection_or_say("show the checklist of")
        if members is None:
            return None
        shown = members[:SHOWN_IN_CONFIRMATION]
        rows = checklist(self.db, members=[(m["group_id"], m["email"]) for m in shown])
        return SelectionChecklist(rows, selected=len(members), more=len(members) - len(shown))

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
            where = replace(where, group_id=self._typed_group(group) if group else None)
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
        self.page_size = valid_page_size(page_size)
        self.page = first // self.page_size  # keep the first row in view
        self.refresh(recount=False)

    def goto_page(self, number: int) -> None:
        """Show page ``number`` (1-based, clamped to the pages there are)."""
        page = max(0, min(int(number), self.page_count) - 1)
        # the page next to the one on show starts beside its edge row, at any depth;
        # another one deep in the list, beside the page mark before it
        after = self.rows[-1]["membership_id"] if self.rows and page == self.page + 1 else None
        before = self.rows[0]["membership_id"] if self.rows and page == self.page - 1 else None
        skip = 0
        near_an_end = min(page, self.page_count - 1 - page) * self.page_size < self.marks.every
        if after is None and before is None and not near_an_end:
            after, skip = self._mark_before(page * self.page_size)
        self.page = page
        self.refresh(recount=False, after=after, before=before, skip=skip)

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
        chosen = {(str(g), str(u)) for g, u in keys if str(g) in visible}
        if selected:
            self.selected.update(chosen)
        else:
            self.selected.remove_all(chosen)

    def unselect(self, keys: Iterable[Key]) -> None:
        self.select(keys, selected=False)

    def select_page(self) -> None:
        self.select((r["group_id"], r["user_id"]) for r in self.rows)

    def select_all_matching(self) -> None:
        """Select every member the filter matches (a large match is kept as its filter:
        see ``Selection``)."""
        self.selected.select_matching(self.where, self.total)

    def clear_selection(self) -> None:
        self.selected.clear()

    def selected_on_page(self) -> set[Key]:
        """The keys of the rows on show that are selected."""
        return self.selected.among(
            ((r["group_id"], r["user_id"]) for r in self.rows), matching=self.where
        )

    def selected_members(self) -> list[dict[str, Any]]:
        """The selected members as rows (``group_id``, ``email``, ...), active first: what
        bulk offboarding takes as its input."""
        return members_by_keys(self.db, set(self.selected))

    # --- actions -------------------------------------------------------------------

    def say(self, text: str, *, refused: bool = False) -> None:
        """Put a line under the table: a step to take first, or a refusal."""
        self.message = text
        self.message_refused = refused

    def deactivate_selected(self) -> list[dict[str, Any]] | None:
        """Open the confirmation step: the selected members become ``pending`` (each
        with their open checklist items) until ``confirm`` or ``cancel``. Returns them,
        or None (with a message) when there is nothing to confirm."""
        members = self._selection_or_say("deactivate")
        if members is not None:
            self.pending = members
        return members

    def confirm(self, *, resolve_checklist: bool = False, reason: str | None = None) -> None:
        """Deactivate the pending members one by one; each outcome or refusal is in
        ``results``."""
        if self.pending is None:
            raise BadInput("nothing to confirm: choose Deactivate first")
        members, self.pending = self.pending, None
        reason = (reason or "").strip() or None
        self._run(
            "Deactivate", members, deactivate, reason=reason, resolve_checklist=resolve_checklist
        )

    def cancel(self) -> None:
        self.pending = None
        self.say("Nothing was changed.")

    def reactivate_selected(self, *, restore_settings: bool = False) -> bool:
        """Reactivate the selection with the access they had (sessions stay signed out);
        ``restore_settings`` puts back what the checklist switched off. False (with a
        message) when nothing was selected."""
        members = self._selection_or_say("reactivate")
        if members is None:
            return False
        self._run("Reactivate", members, reactivate, restore_settings=restore_settings)
        return True

    def set_read_only_selected(self, read_only: bool) -> bool:
        members = self._selection_or_say("change")
        if members is None:
            return False
        action = "Read-only on" if read_only else "Read-only off"
        self._run(action, members, change_access, read_only=read_only)
        return True

    def set_access_level_selected(self, level: str | None) -> bool:
        if not level:
            self.say("Choose an access level first.")
            return False
        members = self._selection_or_say("change")
        if members is None:
            return False
        self._run(
            f"Access level {LEVEL_LABELS.get(level, level)}", members, change_access, level=level
        )
        return True

    # --- helpers -------------------------------------------------------------------

    def _run(
        self,
        action: str,
        members: list[dict[str, Any]],
        verb: Callable[..., ActionResult],
        **options: Any,
    ) -> None:
        """Call the lifecycle ``verb`` once per member, as the actor; a refusal stops
        only that member. The counts change by what the acted-on members count for
        before and after (a full recount of a million members took a second); only the
        actor acting on their own membership, which can change the groups they see,
        recounts everything."""
        self.last_action, self.results = action, []
        ids = [member["membership_id"] for member in members]
        own = any(member["user_id"] == self.viewer.user_id for member in members)
        counted = (
            None if own or self.counts is None else member_counts(self.db, self.where, among=ids)
        )
        for member in members:
            result = {
                "group_id": member["group_id"],
                "user_id": member["user_id"],
                "email": member["email"],
                "name": member["name"],
                "group": member["group"],
            }
            try:
                done = verb(
                    self.db, member["email"], member["group_id"], actor=self.actor, **options
                )
            except OpskitError as error:
                result.update(outcome="refused", message=str(error), refused=True)
            else:
                result.update(outcome=done.outcome, message=outcome_text(done), refused=False)
            self.results.append(result)
        if action == "Deactivate":  # an inactive member is not one to act on again
            self.selected.remove_all(
                (r["group_id"], r["user_id"]) for r in self.results if r["outcome"] == "deactivated"
            )
        self.marks.forget()
        if counted is None or self.counts is None:
            self.refresh()
            return
        now = member_counts(self.db, self.where, among=ids)
        self.counts = MemberCounts(
            self.counts.total - counted.total + now.total,
            self.counts.active - counted.active + now.active,
        )
        self.refresh(recount=False)

    def _selection_or_say(self, doing: str) -> list[dict[str, Any]] | None:
        if not self.selected:
            self.say(f"Select the members to {doing} first.")
            return None
        if len(self.selected) > MOST_AT_ONCE:
            self.say(
                f"{len(self.selected):,} members are selected; the table acts on at most "
                f"{MOST_AT_ONCE:,} at once. Hand a larger selection to bulk offboarding "
                "(notebook 03, table.selected_members()), which works in resumable batches."
            )
            return None
        members = members_by_keys(self.db, set(self.selected), checklist=True)
        if not members:
            self.say("The selected members are no longer there.")
            return None
        return members

    def _typed_group(self, typed: str) -> str:
        """The group a typed name means: its id or exact name, else the one group whose
        name contains it (any case). Anything else is refused, naming the groups meant
        and what the list still shows, so that an older group filter is never left in
        force unsaid."""
        wanted = str(typed).strip()
        if any(wanted in pair for pair in self.viewer.groups):
            return self._visible_group(wanted)
        part = wanted.lower()
        found = [(gid, name) for gid, name in self.viewer.groups if part in name.lower()]
        if len(found) == 1:
            return found[0][0]
        names = dict(self.viewer.groups)
        still = (
            f"still showing group {names[self.where.group_id]!r}"
            if self.where.group_id in names
            else "still showing all your groups"
        )
        if not found:
            meant = "nor one whose name contains it (only groups where they are an active member)"
        else:
            some = ", ".join(repr(name) for _, name in found[:3]) + (
                ", ..." if len(found) > 3 else ""
            )
            meant = f"but {len(found):,} whose names contain it ({some}): type one out"
        raise UnknownGroup(
            f"{self.actor} sees no group {wanted!r}, {meant}. The list is {still}.", column="group"
        )

    def _visible_group(self, group: str) -> str:
        wanted = str(group).strip()
        for group_id, name in self.viewer.groups:
            if wanted in (group_id, name):
                return group_id
        raise UnknownGroup(
            f"{self.actor} sees no group {wanted!r} (only groups where they are an active member)",
            column="group",
        )
