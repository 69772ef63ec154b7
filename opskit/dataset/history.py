"""The demo's past: 18 months of sign-ins, deactivations and reactivations, replayed
through the library's own verbs with the clock pinned to each event's time.

The CSV files in ``opskit/demo`` are the demo as it stands at 2026-07-01T09:00:00Z.
``start_frames`` turns them back into the clinics of 2025-01-01 (everyone who leaves
for good still active, nobody signed in, no export granted yet), and ``replay`` then
lives through the script below in time order, as the clinics' own Full Access members:

- a sign-in is ``lifecycle.sign_in`` (the R5 gate, the session, ``last_sign_in_at``);
- a leave is ``lifecycle.deactivate`` (with the checklist resolved when the script
  says so), a return ``lifecycle.reactivate`` (putting those settings back);
- an export grant is ``checklist.resolve_checklist`` of ``data_export``.

So every audit event is written, chained and hashed by ``opskit.audit`` as it would be
on a real day, and the replay ends in exactly the state the CSV files describe (a test
compares them). What opskit does not model is done here directly: a session ending
(sign-out or expiry, opskit only ever revokes on deactivation) and the session's id
(``sign_in`` makes a random one; the replay gives each the dataset's id).

Everything is fixed: the script, and the routine sign-ins drawn from a generator
seeded with the member's ids, so two replays write the same events with the same
hashes (given the same login, which the chain covers).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pandas as pd
from sqlalchemy import bindparam, select, update

from .. import schema as s
from ..clock import parse_time, pinned
from ..db import Database

START = datetime(2025, 1, 1)  # 18 months before the demo's now
NOW = datetime(2026, 7, 1, 9)  # the demo's now (its CSV files are this moment)

OLIVIA = "olivia.hart@harbourphysio.example"  # Harbour's owner
FIONA = "fiona.walsh@harbourphysio.example"
SAM = "sam.patel@summitsports.example"  # Summit's owner
HANNAH = "hannah.brooks@summitsports.example"
WENDY = "wendy.park@willowcreek.example"  # Willow Creek's owner
ANALYST = "analyst@opskit.demo"


@dataclass(frozen=True)
class Leave:
    """A member deactivated at ``out`` and, unless ``back`` is None, reactivated at
    ``back``. ``checklist``: the leave resolves the checklist and the return puts the
    settings back."""

    group: str
    user: str
    out: str
    by: str
    reason: str
    back: str | None = None
    back_by: str | None = None
    back_reason: str | None = None
    checklist: bool = False

    @property
    def out_at(self) -> datetime:
        return parse_time(self.out)

    @property
    def back_at(self) -> datetime | None:
        return None if self.back is None else parse_time(self.back)


# Locums between contracts, parental and sick leave, sabbaticals, people who left and
# were hired again, one suspension and one slip of the mouse; the three who leave for
# good are the demo's inactive members, and their sessions end when they leave.
# fmt: off
LEAVES = (
    # Harbour Street Physiotherapy
    Leave("g-harbour", "u-bella", "2025-01-31T17:30:00Z", OLIVIA, "billing contract ended",
          "2025-03-03T08:30:00Z", OLIVIA, "new billing contract", checklist=True),
    Leave("g-harbour", "u-rita", "2025-02-14T17:30:00Z", OLIVIA, "parental leave",
          "2025-09-01T08:30:00Z", OLIVIA, "back from parental leave"),
    Leave("g-harbour", "u-mia", "2025-03-28T17:30:00Z", ANALYST, "locum contract ended",
          "2025-05-05T08:30:00Z", ANALYST, "new locum contract", checklist=True),
    Leave("g-harbour", "u-frank", "2025-04-30T17:30:00Z", OLIVIA, "left the practice",
          "2025-06-02T08:30:00Z", OLIVIA, "rehired at the front desk"),
    Leave("g-harbour", "u-grace", "2025-05-16T17:30:00Z", FIONA, "extended sick leave",
          "2025-07-01T08:30:00Z", FIONA, "back from sick leave"),
    Leave("g-harbour", "u-mia", "2025-08-29T17:30:00Z", ANALYST, "locum contract ended",
          "2025-10-06T08:30:00Z", ANALYST, "new locum contract", checklist=True),
    Leave("g-harbour", "u-ivan", "2026-03-01T12:00:00Z", OLIVIA, "left the practice"),
    Leave("g-harbour", "u-frank", "2026-06-08T10:15:00Z", ANALYST,
          "shared his password: access suspended",
          "2026-06-10T08:30:00Z", ANALYST, "password reset, access restored"),
    # Summit Sports Medicine
    Leave("g-summit", "u-zoe", "2025-01-17T17:30:00Z", SAM, "parental leave",
          "2025-06-16T08:30:00Z", SAM, "back from parental leave", checklist=True),
    Leave("g-summit", "u-omar", "2025-02-28T17:30:00Z", HANNAH, "left for another clinic",
          "2025-04-01T08:30:00Z", HANNAH, "rehired at reception"),
    Leave("g-summit", "u-mia", "2025-04-25T17:30:00Z", HANNAH, "locum contract ended",
          "2025-06-02T08:30:00Z", HANNAH, "new locum contract"),
    Leave("g-summit", "u-leo", "2025-07-31T17:30:00Z", SAM, "sabbatical",
          "2025-10-01T08:30:00Z", SAM, "back from sabbatical", checklist=True),
    Leave("g-summit", "u-kai", "2025-08-08T17:30:00Z", HANNAH, "contract paused for the summer",
          "2025-09-08T08:30:00Z", HANNAH, "contract resumed"),
    Leave("g-summit", "u-mia", "2025-11-28T17:30:00Z", ANALYST, "locum contract ended",
          "2026-01-05T08:30:00Z", ANALYST, "new locum contract"),
    Leave("g-summit", "u-lena", "2025-12-19T17:30:00Z", HANNAH, "temporary placement ended",
          "2026-02-02T08:30:00Z", HANNAH, "new placement"),
    Leave("g-summit", "u-nina", "2026-04-15T09:00:00Z", SAM, "left the practice"),
    # Willow Creek Psychology
    Leave("g-willow", "u-ruth", "2025-02-07T17:30:00Z", WENDY, "left the practice",
          "2025-03-10T08:30:00Z", WENDY, "rehired at the front desk"),
    Leave("g-willow", "u-dan", "2025-03-31T17:30:00Z", WENDY, "sabbatical",
          "2025-05-12T08:30:00Z", WENDY, "back from sabbatical", checklist=True),
    Leave("g-willow", "u-eve", "2025-06-06T17:30:00Z", WENDY, "parental leave",
          "2025-08-25T08:30:00Z", WENDY, "back from parental leave"),
    Leave("g-willow", "u-ruth", "2025-10-03T17:30:00Z", WENDY, "extended leave",
          "2025-11-03T08:30:00Z", WENDY, "back from leave"),
    Leave("g-willow", "u-iris", "2025-11-14T16:02:00Z", ANALYST, "left the practice",
          "2025-11-14T16:20:00Z", ANALYST, "deactivated by mistake"),
    Leave("g-willow", "u-eve", "2026-05-20T09:00:00Z", WENDY, "left the practice"),
)
# fmt: on

# (group, user, when, by): the export of a leaver's personal data, the day before
GRANTS = (
    ("g-summit", "u-nina", "2026-04-14T15:30:00Z", SAM),
    ("g-willow", "u-eve", "2026-05-19T17:30:00Z", WENDY),
)

ROUTINE_EVERY = (150, 240)  # days between a member's routine sign-ins
ROUTINE_LENGTH = (3, 40)  # days a device stays signed in
QUIET_BEFORE = timedelta(days=7)  # no routine sign-in this close to the member's CSV ones


@dataclass(order=True)
class _Event:
    at: datetime
    order: int  # at the same instant: sign-outs, then changes, then sign-ins
    kind: str = field(compare=False)
    group: str = field(compare=False)
    user: str = field(compare=False)
    detail: dict = field(compare=False, default_factory=dict)


def _csv_time(value) -> datetime | None:
    return None if pd.isna(value) else pd.Timestamp(value).to_pydatetime()


def start_frames(frames: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The demo's frames as the clinics were on 2025-01-01: the members who leave for
    good still active, nobody signed in yet, no session and no export granted."""
    start = dict(frames)
    members = frames["memberships"].copy()
    gone = {(leave.group, leave.user) for leave in LEAVES if leave.back is None}
    keys = list(zip(members["group_id"], members["user_id"], strict=True))
    members.loc[[key in gone for key in keys], "status"] = "active"
    members["last_sign_in_at"] = pd.NaT
    start["memberships"] = members
    start["sessions"] = frames["sessions"].iloc[0:0]
    start["export_grants"] = frames["export_grants"].iloc[0:0]
    return start


def timeline(frames: dict[str, pd.DataFrame]) -> list[_Event]:
    """Every event of the replay, oldest first."""
    events: list[_Event] = []
    away: dict[tuple[str, str], list[tuple[datetime, datetime]]] = {}
    for leave in LEAVES:
        out, back = leave.out_at, leave.back_at
        key = (leave.group, leave.user)
        away.setdefault(key, []).append((out, back or NOW))
        events.append(_Event(out, 1, "deactivate", *key, {"leave": leave}))
        if back is not None:
            events.append(_Event(back, 1, "reactivate", *key, {"leave": leave}))
    for group, user, when, by in GRANTS:
        events.append(_Event(parse_time(when), 1, "grant", group, user, {"by": by}))

    sessions = frames["sessions"]
    ends_by_leaving = {(e.group, e.user, e.at) for e in events if e.kind == "deactivate"}
    first_seen: dict[tuple[str, str], datetime] = {}
    devices: dict[tuple[str, str], list[str]] = {}
    for row in sessions.sort_values(["started_at", "session_id"]).itertuples(index=False):
        key = (row.group_id, row.user_id)
        started, ended = _csv_time(row.started_at), _csv_time(row.revoked_at)
        assert started is not None
        first_seen.setdefault(key, started)
        devices.setdefault(key, []).append(row.device)
        if ended is not None and (*key, ended) in ends_by_leaving:
            ended = None  # the deactivation signs them out
        events.append(
            _Event(started, 2, "sign_in", *key, {"id": row.session_id, "device": row.device})
        )
        if ended is not None:
            events.append(_Event(ended, 0, "sign_out", *key, {"id": row.session_id}))

    members = frames["memberships"]
    for row in members.sort_values(["group_id", "user_id"]).itertuples(index=False):
        key = (row.group_id, row.user_id)
        if key not in first_seen:  # never signed in: nor did they before
            continue
        joined = _csv_time(row.joined_at) or START
        events += _routine_sign_ins(
            key, max(START, joined), first_seen[key] - QUIET_BEFORE, devices[key], away
        )
    events.sort()
    return events


def _routine_sign_ins(
    key: tuple[str, str],
    since: datetime,
    until: datetime,
    devices: list[str],
    away: dict[tuple[str, str], list[tuple[datetime, datetime]]],
) -> Iterator[_Event]:
    """A member's sign-ins before the ones the CSV files hold: one every three to five
    months on one of their devices, which then stays signed in for days or weeks (a
    deactivation signs it out if they leave meanwhile), never while they are away, and
    one on each return."""
    rng = random.Random("/".join(key))
    periods = away.get(key, [])
    starts: list[datetime] = []
    day = datetime.combine(since.date(), datetime.min.time()) + timedelta(days=rng.randint(1, 40))
    while day < until:
        starts.append(day + timedelta(hours=7, minutes=rng.randint(30, 120)))
        day += timedelta(days=rng.randint(*ROUTINE_EVERY))
    starts += [back + timedelta(minutes=rng.randint(20, 90)) for _, back in periods if back < NOW]
    starts = sorted(at for at in starts if not any(out <= at < back for out, back in periods))
    for n, at in enumerate(starts, start=1):
        if not since <= at < until:
            continue
        session_id = f"s-{key[0][2:]}-{key[1][2:]}-{n:03d}"
        device = devices[rng.randrange(len(devices))]
        yield _Event(at, 2, "sign_in", *key, {"id": session_id, "device": device})
        following = starts[n] if n < len(starts) else until
        ends = min(at + timedelta(days=rng.randint(*ROUTINE_LENGTH)), following, until)
        yield _Event(ends - timedelta(minutes=1), 0, "sign_out", *key, {"id": session_id})


class _Replay:
    """The replay's state: the emails of ids, and each session's random id."""

    def __init__(self, db: Database, frames: dict[str, pd.DataFrame]) -> None:
        self.db = db
        users = frames["users"]
        self.email = dict(zip(users["user_id"], users["email"], strict=True))
        self.session_ids: dict[str, str] = {}  # dataset id -> the id sign_in made
        self.ending: dict[str, datetime] = {}  # made id -> when it ended, not yet written

    def run(self, event: _Event) -> None:
        from .. import lifecycle

        email = self.email[event.user]
        detail = event.detail
        if event.kind == "sign_in":
            made = lifecycle.sign_in(self.db, email, event.group, device=detail["device"])
            self.session_ids[detail["id"]] = made.session_id
        elif event.kind == "sign_out":
            self.ending[self.session_ids[detail["id"]]] = event.at
        elif event.kind == "deactivate":
            self._end_sessions()  # which of the member's sessions are still open counts
            leave: Leave = detail["leave"]
            result = lifecycle.deactivate(
                self.db,
                email,
                event.group,
                actor=leave.by,
                reason=leave.reason,
                resolve_checklist=leave.checklist,
            )
            _expect(result.outcome, "deactivated", event)
        elif event.kind == "reactivate":
            leave = detail["leave"]
            result = lifecycle.reactivate(
                self.db,
                email,
                event.group,
                actor=leave.back_by,
                reason=leave.back_reason,
                restore_settings=leave.checklist,
            )
            _expect(result.outcome, "reactivated", event)
        elif event.kind == "grant":
            from ..checklist import resolve_checklist

            rows = resolve_checklist(
                self.db, group=event.group, item="data_export", actor=detail["by"], user=email
            )
            granted = any(row.get("resolved") for row in rows)
            _expect("granted" if granted else "unchanged", "granted", event)

    def _end_sessions(self) -> None:
        """Sessions that ended since the last change, in one transaction: only a
        deactivation reads which sessions are open, so they wait for the next one."""
        if not self.ending:
            return
        c = s.sessions.c
        with self.db.begin() as conn:
            conn.execute(
                update(s.sessions)
                .where(c.session_id == bindparam("made"), c.revoked_at.is_(None))
                .values(revoked_at=bindparam("ended")),
                [{"made": made, "ended": at} for made, at in self.ending.items()],
            )
        self.ending.clear()

    def name_sessions(self) -> None:
        """End the sessions still to end, and give every session the dataset's id
        instead of the random one."""
        self._end_sessions()
        c = s.sessions.c
        with self.db.begin() as conn:
            conn.execute(
                update(s.sessions)
                .where(c.session_id == bindparam("made"))
                .values(session_id=bindparam("named")),
                [{"made": made, "named": named} for named, made in self.session_ids.items()],
            )


def _expect(outcome: str, wanted: str, event: _Event) -> None:
    if outcome != wanted:  # the script contradicts the rules: a bug here, not in the data
        raise RuntimeError(
            f"demo history: {event.kind} of {event.user} in {event.group} at {event.at}: {outcome}"
        )


def replay(db: Database, frames: dict[str, pd.DataFrame]) -> int:
    """Live through the demo's past on a database holding ``start_frames(frames)``;
    returns how many events were replayed."""
    state = _Replay(db, frames)
    events = timeline(frames)
    for event in events:
        with pinned(event.at):
            state.run(event)
    state.name_sessions()
    return len(events)


def table_counts(db: Database, tables: list[str]) -> dict[str, int]:
    """Rows per table, after the replay."""
    from sqlalchemy import func

    with db.read() as conn:
        return {
            name: conn.execute(
                select(func.count()).select_from(s.metadata.tables[name])
            ).scalar_one()
            for name in tables
        }
