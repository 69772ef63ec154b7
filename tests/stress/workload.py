"""What the concurrency, crash and stress tests share: a scenario, workers that hammer
it from separate processes, SIGKILLed offboarding runs, and the checks afterwards.

The scenario (``build_scenario``), per ordinary group: an account owner, the operations
analyst (Full Access in every ordinary group) and members below Full Access, each with
open sessions, and the practitioners with something on every checklist item; about a
fifth of the members are in two groups. Duel groups have exactly two Full Access
members, both owners, and nobody else who could manage them: the R4 write-skew case.

The checks afterwards (``verify``):

- ``check_invariants`` finds nothing;
- replaying the audit trail from the initial state gives exactly the final state, and
  every event's ``before`` is the state it found: no change lost, none applied or
  audited twice;
- every change a worker saw succeed has its one event, and no event lacks its change.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from opskit import schema as s
from opskit.checklist import resolve_checklist
from opskit.db import Database, LockTimeout, connect
from opskit.errors import NotAuthorized, OpskitError, Refused
from opskit.invariants import check_invariants
from opskit.lifecycle import change_access, deactivate, reactivate, sign_in
from opskit.offboard import (
    Plan,
    apply_plan,
    plan_offboarding,
    resume_run,
    run_summary,
    undo_run,
)
from opskit.offboard.review import approve_plan

OPSKIT = str(Path(sys.executable).with_name("opskit"))
DOMAIN = "stress.test"
ANALYST = f"ops@{DOMAIN}"
T0 = datetime(2026, 6, 1, 9, 0, 0)
LOWER = {"practitioner": ("personal", "own_records_and_contacts", "clinical")}
LOWER["administrator"] = ("personal", "front_desk", "billing")


def email(name: str) -> str:
    return f"{name}@{DOMAIN}"


# How the two sides of a duel group's duel try to leave it without Full Access or owner:
# lower each other (R1 stops the second: they lost Full Access), lower themselves at once
# (R4 stops the second: write skew on the Full Access count), or two other Full Access
# members take one owner's ownership each (R4: write skew on the owner count).
DUEL_KINDS = ("each_other", "themselves", "ownership")


@dataclass
class Scenario:
    groups: list[str]
    duel_groups: list[str]
    members: dict[str, list[str]]  # ordinary group -> emails of members below Full Access
    owners: dict[str, str]
    duelists: dict[str, list[str]]
    analyst: str = ANALYST
    # bound mode (docs/rules.md 9.1): one user per worker, each Full Access in every
    # ordinary group, so that any of them may act on any member and approve another's plan
    operators: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Scenario:
        return cls(**json.loads(text))


def build_scenario(
    db: Database,
    *,
    groups: int = 6,
    members: int = 12,
    duel_groups: int = 4,
    seed: int = 1,
    operators: int = 0,
) -> Scenario:
    """Write the scenario straight into the tables (fast: a few bulk inserts).
    ``operators``: that many more users, ``op0@...`` and on, Full Access administrators
    in every ordinary group (bound mode maps one worker's login to each)."""
    rng = random.Random(seed)
    rows: dict[str, list[dict]] = {t: [] for t in ("groups", "users", "memberships")}
    for t in ("sessions", "locations", "booking_profiles", "integrations", "credit_settings"):
        rows[t] = []
    rows["reminder_levels"] = []
    users: set[str] = set()

    def user(name: str) -> str:
        if name not in users:
            users.add(name)
            rows["users"].append(
                {
                    "user_id": f"u-{name}",
                    "email": email(name),
                    "email_key": email(name),
                    "name": name.title(),
                }
            )
        return f"u-{name}"

    def member(group, name, role, level, *, owner=False, read_only=False):
        user_id = user(name)
        rows["memberships"].append(
            {
                "group_id": group,
                "user_id": user_id,
                "role": role,
                "access_level": level,
                "read_only": read_only,
                "account_owner": owner,
                "status": "active",
                "joined_at": T0 - timedelta(days=400),
                "last_sign_in_at": T0,
            }
        )
        for k in range(rng.randint(1, 2)):
            rows["sessions"].append(
                {
                    "session_id": f"s-{group}-{name}-{k}",
                    "group_id": group,
                    "user_id": user_id,
                    "device": f"device {k}",
                    "started_at": T0,
                    "revoked_at": None,
                }
            )
        if role == "practitioner" and level != "full":
            rows["booking_profiles"].append(
                {
                    "group_id": group,
                    "user_id": user_id,
                    "location_id": f"l-{group}",
                    "directory_profile": "public",
                    "online_bookings": "enabled",
                }
            )
            rows["integrations"].append(
                {"group_id": group, "user_id": user_id, "kind": "ical_feed", "enabled": True}
            )
            rows["credit_settings"].append(
                {
                    "group_id": group,
                    "user_id": user_id,
                    "auto_top_up": True,
                    "trigger_balance": 20,
                }
            )
            rows["reminder_levels"].append(
                {"group_id": group, "user_id": user_id, "name": "sms_and_email"}
            )
        return email(name)

    def group(group_id):
        rows["groups"].append({"group_id": group_id, "name": f"Group {group_id}"})
        rows["locations"].append(
            {"location_id": f"l-{group_id}", "group_id": group_id, "name": "Main St"}
        )
        rows["credit_settings"].append(
            {"group_id": group_id, "user_id": None, "auto_top_up": True, "trigger_balance": 50}
        )
        rows["reminder_levels"].append({"group_id": group_id, "user_id": None, "name": "std"})

    scenario = Scenario(groups=[], duel_groups=[], members={}, owners={}, duelists={})
    pool: list[str] = []
    for g in range(groups):
        group_id = f"g{g}"
        group(group_id)
        scenario.groups.append(group_id)
        scenario.owners[group_id] = member(
            group_id, f"owner{g}", "administrator", "full", owner=True
        )
        member(group_id, "ops", "administrator", "full")
        for number in range(operators):
            member(group_id, f"op{number}", "administrator", "full")
        names = [f"m{g}-{i}" for i in range(members)]
        # about a fifth of the members are someone from an earlier group as well
        names = [rng.choice(pool) if pool and rng.random() < 0.2 else n for n in names]
        names = list(dict.fromkeys(names))
        scenario.members[group_id] = []
        for name in names:
            role = rng.choice(("practitioner", "practitioner", "administrator"))
            level = rng.choice(LOWER[role])
            read_only = rng.random() < 0.15
            scenario.members[group_id].append(
                member(group_id, name, role, level, read_only=read_only)
            )
        pool.extend(n for n in names if n.startswith("m"))
    scenario.operators = [email(f"op{number}") for number in range(operators)]
    for d in range(duel_groups):
        group_id = f"duel{d}"
        group(group_id)
        scenario.duel_groups.append(group_id)
        scenario.duelists[group_id] = [
            member(group_id, f"duel{d}-{side}", "practitioner", "full", owner=True)
            for side in ("a", "b")
        ]
        if DUEL_KINDS[d % len(DUEL_KINDS)] == "ownership":
            # two more Full Access members, not owners, who take the ownership away
            scenario.duelists[group_id] += [
                member(group_id, f"duel{d}-{side}", "administrator", "full") for side in "cd"
            ]
        for i in range(2):
            member(group_id, f"duel{d}-m{i}", "practitioner", "clinical")
    with db.begin() as conn:
        for table in s.metadata.sorted_tables:
            if rows.get(table.name):
                conn.execute(table.insert(), rows[table.name])
    return scenario


# ------------------------------------------------------------------------------ state


def membership_states(db: Database) -> dict[tuple[str, str], dict[str, Any]]:
    m = s.memberships.c
    with db.read() as conn:
        rows = conn.execute(
            sa.select(m.group_id, m.user_id, m.status, m.access_level, m.read_only, m.account_owner)
        ).all()
    return {
        (r.group_id, r.user_id): {
            "status": r.status,
            "access_level": r.access_level,
            "read_only": bool(r.read_only),
            "account_owner": bool(r.account_owner),
        }
        for r in rows
    }


def last_event_id(db: Database) -> int:
    with db.read() as conn:
        found = conn.execute(sa.select(sa.func.max(s.audit_events.c.event_id))).scalar()
    return int(found or 0)


def replay_audit(db: Database, initial: dict, final: dict, *, since: int = 0) -> list[str]:
    """Replay every status and access event after event ``since`` from the initial
    state: each must find the state its ``before`` says, and the end must be the final
    state."""
    e = s.audit_events.c
    with db.read() as conn:
        events = conn.execute(
            sa.select(e.event_id, e.group_id, e.user_id, e.action, e.before, e.after, e.run_id)
            .where(
                e.action.in_(("deactivated", "reactivated", "access_changed")),
                e.event_id > since,
            )
            .order_by(e.event_id)
        ).all()
    state = {key: dict(value) for key, value in initial.items()}
    problems = []
    for event in events:
        key = (event.group_id, event.user_id)
        current = state[key]
        before = json.loads(event.before or "{}")
        after = json.loads(event.after or "{}")
        after.pop("sessions_revoked", None)
        found = {k: current[k] for k in before}
        if found != before:
            problems.append(
                f"event {event.event_id} ({event.action} of {key}, run {event.run_id}) "
                f"says before {before} but the member was {found}"
            )
        current.update(after)
    for key, value in final.items():
        if state.get(key) != value:
            problems.append(f"{key}: the audit trail replays to {state.get(key)}, it is {value}")
    return problems


def event_counts(db: Database, *, since: int = 0) -> Counter:
    """Audit events after event ``since`` by action, `` (run)`` added when a run wrote them."""
    e = s.audit_events.c
    by_run = e.run_id.is_not(None)
    with db.read() as conn:
        rows = conn.execute(
            sa.select(e.action, by_run, sa.func.count())
            .where(e.event_id > since)
            .group_by(e.action, by_run)
        ).all()
    return Counter({f"{action}{' (run)' if run else ''}": n for action, run, n in rows})


# What workers count of the changes they saw succeed (a run's checklist events are left
# to the invariants: they ride with the ledger rows).
COUNTED = (
    "deactivated",
    "reactivated",
    "access_changed",
    "checklist_resolved",
    "deactivated (run)",
    "reactivated (run)",
    "access_changed (run)",
)


def verify(
    db: Database, initial: dict, outcomes: list[dict] | None = None, *, since: int = 0
) -> list[str]:
    """Every problem found after a workload that started from ``initial`` when the last
    event was ``since`` (empty: all is well)."""
    problems = [f"invariant: {v['kind']}: {v['message']}" for v in check_invariants(db)]
    problems += replay_audit(db, initial, membership_states(db), since=since)
    if outcomes is not None:
        problems += [f"worker error: {o['error']}" for o in outcomes if o.get("error")]
        seen: Counter = Counter()
        for o in outcomes:
            seen.update(o.get("events") or {})
        counted = event_counts(db, since=since)
        for key in COUNTED:
            if counted[key] != seen[key]:
                problems.append(
                    f"{key}: workers saw {seen[key]} changes, the audit has {counted[key]} events"
                )
    return problems


# ----------------------------------------------------------------------------- workers


@dataclass
class Seat:
    """Bound mode (docs/rules.md 9.1): one worker's own PostgreSQL login role, the
    operator it is mapped to, and where its plans go for review by another worker:
    ``mailbox/review/LOGIN`` holds the plans LOGIN is asked to approve,
    ``mailbox/approved/LOGIN`` LOGIN's own plans once another worker approved them."""

    login: str
    email: str
    url: str  # connects as ``login``
    peers: dict[str, str]  # the other workers: login -> the email it acts as
    mailbox: str

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Seat:
        return cls(**json.loads(text))

    def box(self, kind: str, login: str | None = None) -> Path:
        folder = Path(self.mailbox) / kind / (login or self.login)
        folder.mkdir(parents=True, exist_ok=True)
        return folder


def _post(plan_file: Path, folder: Path) -> Path:
    """Move a plan file into a mailbox folder in one step (a reader never sees half)."""
    target = folder / plan_file.name
    os.replace(plan_file, target)
    return target


@dataclass
class Worker:
    """One process's share of the workload: random operations on shared members.
    With a ``seat`` (bound mode) it connects as its own login role and acts as the
    operator mapped to it; its bulk plans are approved by another worker before it
    applies them, and it tries now and then to act as someone else (it must be refused)."""

    url: str
    scenario: Scenario
    seed: int
    iterations: int
    outcomes: list[dict] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)
    seat: Seat | None = None

    def run(self) -> list[dict]:
        self.rng = random.Random(self.seed)
        self.db = connect(self.seat.url if self.seat else self.url)
        operations = {
            self.deactivate: 5,
            self.reactivate: 4,
            self.access: 3,
            self.sign_in: 3,
            self.resolve: 2,
            self.offboard: 2,
            self.undo: 1,
            self.duel: 2,
        }
        if self.seat is not None:
            # the duelists have no logins: in bound mode a worker plays itself, and
            # sends its plans for review, reviews others', applies approved ones
            del operations[self.duel]
            operations.update({self.impersonate: 2, self.review: 2, self.apply_approved: 2})
        try:
            for _ in range(self.iterations):
                [operation] = self.rng.choices(list(operations), weights=list(operations.values()))
                self.attempt(operation)
        finally:
            self.db.dispose()
        return self.outcomes

    def attempt(self, operation) -> None:
        outcome: dict[str, Any] = {"op": operation.__name__}
        try:
            outcome.update(operation() or {})
        except OpskitError as refused:
            outcome["refused"] = type(refused).__name__
        except Exception as error:  # noqa: BLE001 - anything else is a finding
            outcome["error"] = f"{type(error).__name__}: {error}\n{traceback.format_exc()}"
        self.outcomes.append(outcome)

    def pick(self) -> tuple[str, str]:
        group = self.rng.choice(self.scenario.groups)
        return group, self.rng.choice(self.scenario.members[group])

    def actor(self, group: str) -> str | None:
        if self.seat is not None:  # bound: the login decides; naming oneself is allowed
            return self.rng.choice((None, self.seat.email))
        return self.rng.choice((self.scenario.analyst, self.scenario.owners[group]))

    def planner(self) -> str | None:
        return self.actor("") if self.seat is not None else self.scenario.analyst

    def deactivate(self):
        group, who = self.pick()
        result = deactivate(
            self.db,
            who,
            group,
            actor=self.actor(group),
            reason=f"stress {self.seed}",
            resolve_checklist=self.rng.random() < 0.3,
        )
        resolved = sum(1 for row in result.checklist if row.get("resolved"))
        events = {"deactivated": int(result.outcome == "deactivated")}
        return {"outcome": result.outcome, "events": {**events, "checklist_resolved": resolved}}

    def reactivate(self):
        group, who = self.pick()
        result = reactivate(self.db, who, group, actor=self.actor(group))
        return {
            "outcome": result.outcome,
            "events": {"reactivated": int(result.outcome == "reactivated")},
        }

    def access(self):
        group, who = self.pick()
        change: dict[str, Any] = self.rng.choice(
            [
                {"read_only": True},
                {"read_only": False},
                {"level": "personal"},
                {"level": "clinical"},
                {"level": "billing"},
            ]
        )
        result = change_access(self.db, who, group, actor=self.actor(group), **change)
        return {
            "outcome": result.outcome,
            "events": {"access_changed": int(result.outcome == "changed")},
        }

    def sign_in(self):
        group, who = self.pick()
        sign_in(self.db, who, group, device=f"worker {self.seed}")
        return {"outcome": "signed_in"}

    def resolve(self):
        group, who = self.pick()
        rows = resolve_checklist(
            self.db, group=group, item="all", actor=self.actor(group), user=who
        )
        return {
            "outcome": "resolved",
            "events": {"checklist_resolved": sum(1 for r in rows if r.get("resolved"))},
        }

    def offboard(self):
        targets = []
        for _ in range(self.rng.randint(2, 10)):
            group, who = self.pick()
            action = "read_only" if self.rng.random() < 0.2 else "deactivate"
            targets.append({"email": who, "group": group, "action": action})
        plan = plan_offboarding(self.db, targets, actor=self.planner())
        if self.seat is None:
            return self.applied(plan)
        # bound: four eyes (docs/rules.md 9.2). Applying before the review is refused;
        # the plan goes to another worker, who approves it when it gets to it
        self.sequence = getattr(self, "sequence", 0) + 1
        mine = self.seat.box("drafts") / f"{self.seat.login}--{self.seed}-{self.sequence}.json"
        plan.save(mine)
        if self.rng.random() < 0.3:
            try:
                apply_plan(self.db, mine, progress=False)
            except Refused as refused:
                if "approval" not in str(refused):
                    raise
            else:
                return {"error": f"{self.seat.login} applied {mine.name} with no approval"}
        reviewer = self.rng.choice(sorted(self.seat.peers))
        _post(mine, self.seat.box("review", reviewer))
        return {"outcome": "sent for review"}

    def applied(self, plan) -> dict[str, Any]:
        try:
            summary = apply_plan(
                self.db,
                plan,
                resolve_checklist=self.rng.random() < 0.5,
                batch_size=self.rng.randint(1, 4),
                progress=False,
            )
        except LockTimeout:
            # a batch gave up waiting (a busy machine): the run is interrupted with some
            # rows done; resume it, as its operator would, so that every change it made
            # is counted (a lock timeout before the run started leaves no run)
            run = self.interrupted_run()
            if run is None:
                raise
            summary = self.finish(run)
        self.runs.append(summary.run)
        return {
            "outcome": "applied",
            "run": summary.run,
            "events": {
                "deactivated (run)": summary.counts.get("deactivated", 0),
                "access_changed (run)": summary.counts.get("read_only", 0),
            },
        }

    def interrupted_run(self, run: str | None = None) -> str | None:
        """The run (``run``, or the latest) this process left interrupted, if any."""
        r = s.offboard_runs.c
        query = sa.select(r.run_id).where(r.process_pid == os.getpid(), r.state == "interrupted")
        if run is not None:
            query = query.where(r.run_id == run)
        with self.db.read() as conn:
            return conn.execute(query.order_by(r.started_at.desc()).limit(1)).scalar()

    def finish(self, run: str):
        """Resume ``run`` until done (each try may time out on a lock again)."""
        for attempt in range(10):
            try:
                return resume_run(self.db, run, progress=False)
            except LockTimeout:
                if attempt == 9:
                    raise
                time.sleep(self.rng.uniform(0.1, 1.0))
        raise AssertionError("unreachable")

    def review(self):
        """Bound: approve every plan other workers sent this one, and hand each back."""
        assert self.seat is not None
        approved = 0
        for path in sorted(self.seat.box("review").glob("*.json")):
            maker = path.name.split("--")[0]
            approve_plan(self.db, path, actor=self.actor(""))
            _post(path, self.seat.box("approved", maker))
            approved += 1
        return {"outcome": "reviewed" if approved else "nothing to review"}

    def apply_approved(self):
        """Bound: apply the oldest of this worker's plans that another one approved."""
        assert self.seat is not None
        waiting = sorted(self.seat.box("approved").glob("*.json"), key=os.path.getmtime)
        if not waiting:
            return {"outcome": "nothing approved yet"}
        plan = Plan.load(waiting[0])
        waiting[0].unlink()
        try:
            return self.applied(plan)
        except Refused as refused:  # a second operator approved exactly this content
            if "approval" not in str(refused):
                raise  # a lock timeout, say: refused, not a finding
            return {"error": f"approved plan {waiting[0].name} refused: {refused}"}

    def undo_events(self, run: str, since: int) -> Counter:
        e = s.audit_events.c
        with self.db.read() as conn:
            found = Counter(
                dict(
                    conn.execute(
                        sa.select(e.action, sa.func.count())
                        .where(e.run_id == run, e.event_id > since)
                        .group_by(e.action)
                    ).all()
                )
            )
        return Counter(reactivated=found["reactivated"], changed=found["access_changed"])

    def impersonate(self):
        """Bound: act as another operator, approve one's own plan, forge the login of
        an audit event, take another login's identity. Each must be refused."""
        assert self.seat is not None
        attempt = self.rng.choice(("actor", "self_approval", "forged_login", "session"))
        if attempt == "actor":
            group, who = self.pick()
            other = self.seat.peers[self.rng.choice(sorted(self.seat.peers))]
            try:
                deactivate(self.db, who, group, actor=other, reason="impersonated")
            except NotAuthorized:
                return {"outcome": "impersonation refused"}
            return {"error": f"{self.seat.login} deactivated {who} in {group} as {other}"}
        if attempt == "self_approval":
            group, who = self.pick()
            plan = plan_offboarding(self.db, [{"email": who, "group": group}])
            try:
                approve_plan(self.db, plan)
            except NotAuthorized:
                return {"outcome": "impersonation refused"}
            return {"error": f"{self.seat.login} approved its own plan"}
        other = self.rng.choice(sorted(self.seat.peers))
        statement = {
            "forged_login": "INSERT INTO audit_events (at, actor_id, group_id, user_id, "
            f"action, login) VALUES (now(), 'u-ops', '', '', 'deactivated', '{other}')",
            "session": f'SET SESSION AUTHORIZATION "{other}"',
        }[attempt]
        with self.db.engine.connect() as conn:
            try:
                conn.exec_driver_sql(statement)
            except sa.exc.DBAPIError as refused:
                if "permission denied" in str(refused.orig):
                    return {"outcome": "impersonation refused"}
                raise
            finally:
                conn.rollback()
        return {"error": f"{self.seat.login} was allowed: {statement}"}

    def undo(self):
        if not self.runs:
            return {"outcome": "nothing to undo"}
        run = self.rng.choice(self.runs)
        since = last_event_id(self.db)
        try:
            counts = undo_run(self.db, run, actor=self.planner(), progress=False).counts
        except LockTimeout:
            # the undo stopped part-way (interrupted): resume finishes it; what it gave
            # back is then read from the run's events since the undo began
            if self.interrupted_run(run) is None:
                raise
            self.finish(run)
            counts = self.undo_events(run, since)
        return {
            "outcome": "undone",
            "run": run,
            "events": {
                "reactivated (run)": counts["reactivated"],
                "access_changed (run)": counts["changed"],
            },
        }

    def duel(self):
        """In a duel group, one Full Access owner lowers the other, or raises them back."""
        group = self.rng.choice(self.scenario.duel_groups)
        actor, target = self.rng.sample(self.scenario.duelists[group], 2)
        if self.rng.random() < 0.5:
            change = {"level": "clinical", "owner": False}
        else:
            change = {"level": "full", "owner": True}
        result = change_access(self.db, target, group, actor=actor, **change)
        return {
            "outcome": result.outcome,
            "events": {"access_changed": int(result.outcome == "changed")},
        }


def run_worker(
    url: str, scenario_json: str, seed: int, iterations: int, out: str, seat: str | None = None
) -> None:
    """A worker process's entry point: the outcomes go to the JSON file ``out``."""
    worker = Worker(
        url,
        Scenario.from_json(scenario_json),
        seed,
        iterations,
        seat=Seat.from_json(seat) if seat else None,
    )
    outcomes = worker.run()
    Path(out).write_text(json.dumps(outcomes))


def run_workers(
    url: str,
    scenario: Scenario,
    *,
    workers: int,
    iterations: int,
    folder: Path,
    seed: int = 0,
    seats: list[Seat] | None = None,
    watch: Callable[[], None] | None = None,
    every: float = 5.0,
) -> list[dict]:
    """``workers`` processes at once (spawned: each its own interpreter and engine);
    in bound mode worker i sits in ``seats[i]``. ``watch`` is called every ``every``
    seconds while they work (a checkpoint that runs beside the writers)."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    outputs = [folder / f"worker-{seed}-{i}.json" for i in range(workers)]
    processes = [
        context.Process(
            target=run_worker,
            args=(url, scenario.to_json(), seed * 1000 + i, iterations, str(outputs[i]))
            + ((seats[i].to_json(),) if seats else ()),
        )
        for i in range(workers)
    ]
    for process in processes:
        process.start()
    while watch is not None and any(process.is_alive() for process in processes):
        watch()
        deadline = time.time() + every
        while time.time() < deadline and any(process.is_alive() for process in processes):
            time.sleep(0.2)
    for process in processes:
        process.join()
    outcomes = []
    for process, output in zip(processes, outputs, strict=True):
        if process.exitcode != 0 or not output.exists():
            outcomes.append({"op": "worker", "error": f"worker exited {process.exitcode}"})
            continue
        outcomes.extend(json.loads(output.read_text()))
    return outcomes


# -------------------------------------------------------------------------------- duels


def duel_side(url: str, duels: list[tuple[str, str, str, dict]], barrier, out) -> None:
    """One side of every duel: wait for the other side, then strike, group by group."""
    db = connect(url)
    try:
        for group, actor, target, change in duels:
            barrier.wait(timeout=120)
            try:
                change_access(db, target, group, actor=actor, **change)
                out.put((group, actor, "changed"))
            except OpskitError as refused:
                out.put((group, actor, type(refused).__name__))
            except Exception as error:  # noqa: BLE001 - a finding
                out.put((group, actor, f"error: {type(error).__name__}: {error}"))
    finally:
        db.dispose()


def duels(scenario: Scenario) -> tuple[list, list]:
    """Both sides' moves, duel group by duel group (see ``DUEL_KINDS``)."""
    lower = {"level": "clinical", "owner": False}
    sides: tuple[list, list] = ([], [])
    for number, group in enumerate(scenario.duel_groups):
        kind = DUEL_KINDS[number % len(DUEL_KINDS)]
        a, b, *others = scenario.duelists[group]
        if kind == "each_other":
            moves = [(a, b, lower), (b, a, lower)]
        elif kind == "themselves":
            moves = [(a, a, lower), (b, b, lower)]
        else:
            c, d = others
            moves = [(c, a, {"owner": False}), (d, b, {"owner": False})]
        for side, (actor, target, change) in zip(sides, moves, strict=True):
            side.append((group, actor, target, change))
    return sides


def duel_all(url: str, scenario: Scenario) -> dict[str, list[str]]:
    """Every duel group's duel at the same moment from two processes, released together
    by a barrier before each duel. Returns each group's two outcomes, sorted."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    barrier = context.Barrier(2)
    processes = [
        context.Process(target=duel_side, args=(url, side, barrier, out))
        for side in duels(scenario)
    ]
    for process in processes:
        process.start()
    results: dict[str, list[str]] = {g: [] for g in scenario.duel_groups}
    for _ in range(2 * len(scenario.duel_groups)):
        group, _actor, outcome = out.get(timeout=300)
        results[group].append(outcome)
    for process in processes:
        process.join()
    return {group: sorted(outcomes) for group, outcomes in results.items()}


def expected_duel(scenario: Scenario, group: str) -> list[str]:
    kind = DUEL_KINDS[scenario.duel_groups.index(group) % len(DUEL_KINDS)]
    return sorted(["changed", "NotAuthorized" if kind == "each_other" else "WouldLockOutGroup"])


# -------------------------------------------------------------------------------- crashes


def opskit_env(extra: dict | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OPSKIT_DATABASE_URL",)}
    env.update(extra or {})
    return env


def run_ids(db: Database) -> set[str]:
    with db.read() as conn:
        return set(conn.execute(sa.select(s.offboard_runs.c.run_id)).scalars())


def active_members(db: Database, scenario: Scenario) -> list[tuple[str, str]]:
    """(group, email) of every active member below Full Access in the ordinary groups."""
    m, u = s.memberships.c, s.users.c
    with db.read() as conn:
        rows = conn.execute(
            sa.select(m.group_id, u.email)
            .join(s.users, u.user_id == m.user_id)
            .where(m.status == "active", m.access_level != "full", m.group_id.in_(scenario.groups))
            .order_by(m.group_id, u.email)
        ).all()
    return [(r.group_id, r.email) for r in rows]


@dataclass
class Hands:
    """Who plans, approves, applies, resumes and undoes a run of the crash phases.
    Unbound: the analyst on the harness's own connection. Bound: the planner's own
    login role (``db`` and ``url`` connect as it, the subprocesses too) and a second
    worker's login that approves the plan (``approver``)."""

    db: Database
    url: str
    actor: str | None
    approver: Database | None = None

    def plan(self, records: list[dict], plan_file: Path):
        plan = plan_offboarding(self.db, records, actor=self.actor)
        plan.save(plan_file)
        if self.approver is not None:
            approve_plan(self.approver, plan_file)
        return plan


@dataclass
class CrashReport:
    killed: bool
    run: str | None
    progress_at_kill: int
    resumes: int
    rows: int
    problems: list[str]


def pending_rows(db: Database, run: str) -> int:
    return run_summary(db, run).pending


def results_of(db: Database, run: str) -> Counter:
    r = s.offboard_run_rows.c
    with db.read() as conn:
        return Counter(
            dict(
                conn.execute(
                    sa.select(r.result, sa.func.count()).where(r.run_id == run).group_by(r.result)
                ).all()
            )
        )


def kill_apply_and_resume(
    url: str,
    db: Database,
    scenario: Scenario,
    folder: Path,
    rng: random.Random,
    *,
    rows: int = 120,
    batch_size: int | None = None,
    undo: bool = True,
    hands: Hands | None = None,
) -> CrashReport:
    """Plan ``rows`` active members, start ``opskit offboard apply`` and SIGKILL it at a
    random instant; resume until done (sometimes killing the resume too); then check.
    ``url`` and ``db`` read (as the owner); ``hands`` act (default: the analyst on them)."""
    hands = hands or Hands(db, url, scenario.analyst)
    initial = membership_states(db)
    since = last_event_id(db)
    targets = rng.sample(active_members(db, scenario), min(rows, len(active_members(db, scenario))))
    records = [
        {"email": e, "group": g, "reason": f"leaver {i}"} for i, (g, e) in enumerate(targets)
    ]
    plan_file = folder / f"plan-{rng.random():.8f}.json"
    plan = hands.plan(records, plan_file)
    before = run_ids(db)
    resolve = rng.random() < 0.5
    batch_size = batch_size or rng.randint(1, 10)
    command = [
        OPSKIT,
        "offboard",
        "apply",
        str(plan_file),
        "--batch-size",
        str(batch_size),
        "--db",
        hands.url,
        "--format",
        "json",
    ] + (["--resolve-checklist"] if resolve else [])
    proc = subprocess.Popen(
        command, env=opskit_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    run = None
    if rng.random() < 0.15:
        time.sleep(rng.uniform(0.0, 2.5))  # any instant, start-up included
    else:
        # when a random share of the rows is done, then a moment later: inside a batch,
        # between two, or while the run is being finished
        target = rng.randint(0, len(plan.to_apply))
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            new = run_ids(db) - before
            if new:
                run = next(iter(new))
                if len(plan.to_apply) - pending_rows(db, run) >= target:
                    break
            time.sleep(0.005)
        time.sleep(rng.uniform(0.0, 0.05))
    killed = proc.poll() is None
    if killed:
        proc.send_signal(signal.SIGKILL)
    proc.wait()
    stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    proc.stderr and proc.stderr.close()
    problems = []
    if not killed and proc.returncode != 0:
        problems.append(f"apply exited {proc.returncode}: {stderr.strip()}")
    new = run_ids(db) - before
    run = new.pop() if new else None
    progress = len(plan.to_apply) - pending_rows(db, run) if run else 0
    resumes = 0
    while run is not None and (pending_rows(db, run) > 0 or _state(db, run) != "done"):
        resumes += 1
        resume = subprocess.Popen(
            [OPSKIT, "offboard", "resume", run, "--db", hands.url],
            env=opskit_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        if resumes == 1 and rng.random() < 0.3:  # kill the resume as well, now and then
            time.sleep(rng.uniform(0.2, 2.0))
            if resume.poll() is None:
                resume.send_signal(signal.SIGKILL)
        resume.wait()
        err = resume.stderr.read().decode(errors="replace") if resume.stderr else ""
        resume.stderr and resume.stderr.close()
        if resume.returncode not in (0, -signal.SIGKILL):
            problems.append(f"resume exited {resume.returncode}: {err.strip()}")
            break
        if resumes > 5:
            problems.append(f"run {run} still not done after {resumes} resumes")
            break
    problems += verify(db, initial, since=since)
    if run is not None and not problems:
        results = results_of(db, run)
        applied = len(plan.to_apply)
        # nothing else touched these members: every unblocked row is deactivated, once
        if results.get("deactivated", 0) != applied:
            problems.append(f"run {run}: {dict(results)} for {applied} rows to apply")
        if undo:
            undo_run(hands.db, run, actor=hands.actor, progress=False)
            problems += [f"after undo: {p}" for p in verify(db, initial, since=since)]
    elif run is None and membership_states(db) != initial:
        problems.append("killed before the run existed, yet members changed")
    return CrashReport(killed, run, progress, resumes, len(plan.to_apply), problems)


def _state(db: Database, run: str) -> str:
    with db.read() as conn:
        return conn.execute(
            sa.select(s.offboard_runs.c.state).where(s.offboard_runs.c.run_id == run)
        ).scalar_one()


# ------------------------------------------------------------------- overlapping runs


def apply_side(url: str, plan_file: str, batch_size: int, barrier, out) -> None:
    """Apply a plan file once the other appliers are ready too."""
    db = connect(url)
    try:
        barrier.wait(timeout=120)
        summary = apply_plan(db, plan_file, batch_size=batch_size, progress=False)
        out.put((summary.run, dict(summary.counts), None))
    except Exception as error:  # noqa: BLE001 - a finding
        out.put((None, {}, f"{type(error).__name__}: {error}"))
    finally:
        db.dispose()


def apply_at_once(url: str, plan_files: list[str], *, batch_size: int = 3) -> list[tuple]:
    """Apply several (overlapping) plans at the same moment from as many processes."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    barrier = context.Barrier(len(plan_files))
    processes = [
        context.Process(target=apply_side, args=(url, plan_file, batch_size, barrier, out))
        for plan_file in plan_files
    ]
    for process in processes:
        process.start()
    results = [out.get(timeout=300) for _ in processes]
    for process in processes:
        process.join()
    return results


# ---------------------------------------------------------------- the database goes away


def terminate_mid_run(
    url: str,
    db: Database,
    scenario: Scenario,
    folder: Path,
    *,
    rows: int = 60,
    hands: Hands | None = None,
) -> list[str]:
    """PostgreSQL: start ``opskit offboard apply`` and, once it is under way, terminate
    its backends (``pg_terminate_backend``) until it gives up. It must say so in one line
    with exit 2, and ``opskit offboard resume`` must finish the run once it can connect.
    ``url`` and ``db`` read and terminate (as the owner); ``hands`` act."""
    hands = hands or Hands(db, url, scenario.analyst)
    targets = [{"email": e, "group": g} for g, e in active_members(db, scenario)[:rows]]
    plan_file = folder / f"plan-terminated-{time.time_ns()}.json"
    plan = hands.plan(targets, plan_file)
    initial, since, before = membership_states(db), last_event_id(db), run_ids(db)
    name = f"opskit-victim-{os.getpid()}"
    victim = sa.engine.make_url(hands.url).update_query_dict({"application_name": name})
    apply = subprocess.Popen(
        [OPSKIT, "offboard", "apply", str(plan_file), "--batch-size", "2"]
        + ["--db", victim.render_as_string(hide_password=False)],
        env=opskit_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    killer = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    deadline = time.time() + 120
    started, terminated = False, 0
    while apply.poll() is None and time.time() < deadline:
        if not started:
            new = run_ids(db) - before
            started = bool(new) and pending_rows(db, next(iter(new))) < len(plan.to_apply)
        if started:
            with killer.connect() as conn:
                terminated += len(
                    conn.execute(
                        sa.text(
                            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE application_name = :name AND pid <> pg_backend_pid()"
                        ),
                        {"name": name},
                    ).all()
                )
        time.sleep(0.05)
    killer.dispose()
    stderr = apply.communicate(timeout=60)[1]
    problems = []
    lines = stderr.strip().splitlines()
    if terminated == 0:
        problems.append("the run finished before a backend could be terminated")
    if apply.returncode != 2 or "Traceback" in stderr or len(lines) != 1:
        problems.append(f"apply exited {apply.returncode} with: {stderr.strip()}")
    elif not lines[0].startswith("opskit: database error: "):
        problems.append(f"unexpected message: {lines[0]}")
    new = run_ids(db) - before
    if len(new) != 1:
        return problems + [f"expected one new run, found {sorted(new)}"]
    run = new.pop()
    resume = subprocess.run(
        [OPSKIT, "offboard", "resume", run, "--db", hands.url],
        env=opskit_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    if resume.returncode != 0:
        problems.append(f"resume exited {resume.returncode}: {resume.stderr.strip()}")
    if pending_rows(db, run) or results_of(db, run)["deactivated"] != len(plan.to_apply):
        problems.append(f"run {run} after resume: {dict(results_of(db, run))}")
    problems += verify(db, initial, since=since)
    undo_run(hands.db, run, actor=hands.actor, progress=False)
    problems += [f"after undo: {p}" for p in verify(db, initial, since=since)]
    return problems
