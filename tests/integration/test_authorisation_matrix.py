"""Who may do what to whom: every actor against every target for every write entry
point, with and without operators mapped (bound mode).

A small oracle below computes the expected outcome from the rules as docs/rules.md states
them (R1 who may act, R2 leaving, R3 Full Access guard, R4 never lock a group out,
R6 idempotence, R8 read-only below Full Access, 9.2 four eyes), independently of
opskit's code; the library must agree on every combination.

Every combination gets its own group, so that all of them are built in one bulk insert
and run for real (no dry run) against one database per backend:

- actor: a member of the same group: role x (Full Access | lower | lower and read-only)
  x (active | inactive); a member of another group only (Full Access practitioner and
  administrator, read-only, inactive Full Access); or the target themselves;
- target: (lower | lower read-only | Full Access | owner beside another owner | the only
  owner | the only Full Access member and owner) x (active | inactive) x (no other
  membership | active in another group | inactive in another group; the last only where
  R2 could care: deactivation and the checklist), the role alternating;
- operation: deactivate, reactivate, lower / raise the level, read-only on / off,
  ownership on / off, resolve the checklist, plan a bulk deactivation or read-only
  (the blocker; a row planned without one is applied), approve a plan of the target's
  deactivation made by the group's owner, undo the owner's run that deactivated the
  target, set the group's dormancy policy, exempt the target from dormancy. The last
  four depend on the target only through a few kinds of it, and run on just those.
- mode: **unbound** (the actor named, as section 7 has it) or **bound** (9.1: the
  actor is the user the current login is mapped to, named or left out). Bound mode
  holds for the whole database, so the unbound half runs first, then the operators
  are mapped and the bound half runs. The halves alternate by target and operation, so
  that every operation meets every actor in both modes. On PostgreSQL the bound half
  runs as real login roles given ``opskit grant`` (tests/logins.py): the login is the
  server's ``session_user``. In bound mode a plan that would be applied is first
  refused without an approval, then approved by the group's owner under a login of
  their own, then applied; and for every operation a login mapped to nobody, and a
  login naming someone else as actor, are refused before anything is looked at.

Afterwards every change has exactly one audit event, each with the login that made it,
and the invariant check passes.
"""

from __future__ import annotations

import re
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, replace
from itertools import product
from pathlib import Path

import pytest
import sqlalchemy as sa

from opskit import schema as s
from opskit.checklist import resolve_checklist
from opskit.errors import FullAccessMember, NotAuthorized, Refused, WouldLockOutGroup
from opskit.identity import add_operator
from opskit.invariants import check_invariants
from opskit.lifecycle import change_access, deactivate, reactivate
from opskit.offboard import apply_plan, plan_offboarding, run_rows, undo_run
from opskit.offboard.review import approve_plan
from opskit.policy import exempt, set_policy

FULL = "full"
LOWER = {"practitioner": "clinical", "administrator": "billing"}
ROLES = ("practitioner", "administrator")


@dataclass(frozen=True)
class Member:
    role: str
    level: str
    read_only: bool = False
    owner: bool = False
    status: str = "active"


# --------------------------------------------------------------------------- the oracle


def may_manage(member: Member | None) -> bool:
    """R1."""
    return (
        member is not None
        and member.status == "active"
        and member.level == FULL
        and not member.read_only
    )


def locked_out(group: list[Member]) -> bool:
    """R4: no active Full Access member, or no active owner."""
    active = [m for m in group if m.status == "active"]
    return not any(m.level == FULL for m in active) or not any(m.owner for m in active)


CHANGES = {
    "lower": {"level": "personal"},
    "raise": {"level": FULL},
    "read_only_on": {"read_only": True},
    "read_only_off": {"read_only": False},
    "owner_on": {"owner": True},
    "owner_off": {"owner": False},
}
PLANS = {"plan_deactivate": "deactivate", "plan_read_only": "read_only"}
# (target kind, status) each of these runs on: what else of the target they never look at
FEW_TARGETS = {
    # a plan that changes the group, and plans that change nothing (blocked)
    "approve": {
        ("lower", "active"),
        ("lower_read_only", "active"),
        ("lower_read_only", "inactive"),
        ("full", "active"),
    },
    # the owner's run deactivated the target
    "undo": {("lower", "active"), ("lower_read_only", "active")},
    "policy": {("lower", "active"), ("full", "active")},
    "exempt": {("lower", "active"), ("lower", "inactive")},
}
OPERATIONS = ("deactivate", "reactivate", *CHANGES, "resolve_checklist", *PLANS, *FEW_TARGETS)
MODES = ("unbound", "bound")


def expected(op: str, actor: Member | None, target: Member, others: list[Member], *,
             is_self: bool, active_elsewhere: bool) -> str:  # fmt: skip
    """The outcome the rules give: an outcome word or the refusal's class name.

    ``actor`` is the actor's membership of the target's group (None: not a member);
    ``others`` are the group's members besides the target."""
    if op == "deactivate":
        # R2: leaving is allowed while active elsewhere; else R1 as for anyone
        if not ((is_self and active_elsewhere) or may_manage(actor)):
            return "NotAuthorized"
        if target.status == "inactive":
            return "unchanged"  # R6
        if target.level == FULL:
            return "FullAccessMember"  # R3
        if locked_out([*others, replace(target, status="inactive")]):
            return "WouldLockOutGroup"
        return "deactivated"
    if op == "reactivate":
        if not may_manage(actor):
            return "NotAuthorized"
        return "unchanged" if target.status == "active" else "reactivated"
    if op in PLANS:
        # bulk offboarding: R1 only (leaving, R2, is a single-member act), then the
        # first blocker that applies; a planned row is applied for real
        if not may_manage(actor):
            return "not_authorised"
        if target.status == "inactive":
            return "already_inactive"
        if PLANS[op] == "read_only" and target.read_only:
            return "already_read_only"
        if target.level == FULL:
            return "full_access"
        if locked_out(others + [target]):
            return "would_lock_out"
        return "deactivated" if PLANS[op] == "deactivate" else "read_only"
    if op == "approve":
        # 9.2: the plan is the owner's (who may manage); approving a plan that changes
        # nothing checks no group, one that changes the group needs R1 there
        owner = next(m for m in others if m.owner and may_manage(m))
        planned = expected("plan_deactivate", owner, target, others, is_self=False,
                           active_elsewhere=active_elsewhere)  # fmt: skip
        return "approved" if planned != "deactivated" or may_manage(actor) else "NotAuthorized"
    if op == "undo":
        # the owner's run deactivated the target; undoing it needs R1 (a target undoing
        # it is inactive by then)
        return "reactivated" if may_manage(actor) and not is_self else "NotAuthorized"
    if op in ("policy", "exempt"):
        return "changed" if may_manage(actor) else "NotAuthorized"
    if op == "resolve_checklist":
        # one's own items may be resolved by an active member who may change things
        own = is_self and target.status == "active" and not target.read_only
        return "resolved" if own or may_manage(actor) else "NotAuthorized"
    if not may_manage(actor):
        return "NotAuthorized"
    after = replace(target, **CHANGES[op])
    if after == target:
        return "unchanged"
    if after.read_only and after.level == FULL:
        return "FullAccessMember"  # R8
    if after.owner and after.level != FULL:
        return "Refused"  # an owner has Full Access
    if locked_out([*others, after]):
        return "WouldLockOutGroup"
    return "changed"


# --------------------------------------------------------------------------- the cases

ACTORS = [
    Member(role, level, read_only, False, status)
    for role in ROLES
    for level, read_only in ((FULL, False), ("lower", False), ("lower", True))
    for status in ("active", "inactive")
]
TARGETS = {
    # name: (target without role, the group's anchor member)
    "lower": (Member("", "lower"), Member("administrator", FULL, owner=True)),
    "lower_read_only": (Member("", "lower", True), Member("administrator", FULL, owner=True)),
    "full": (Member("", FULL), Member("administrator", FULL, owner=True)),
    "owner": (Member("", FULL, owner=True), Member("administrator", FULL, owner=True)),
    "only_owner": (Member("", FULL, owner=True), Member("administrator", FULL)),
    "only_full": (Member("", FULL, owner=True), Member("administrator", "billing")),
}
# an actor whose only membership is in another group (rank does not matter there)
OTHER_ACTORS = [
    Member("practitioner", FULL),
    Member("administrator", FULL),
    Member("administrator", "lower", read_only=True),
    Member("practitioner", FULL, status="inactive"),
]
ELSEWHERE = (None, "active", "inactive")
SELF_OPERATIONS = ("deactivate", "resolve_checklist")  # where being active elsewhere may count


@dataclass(frozen=True)
class Case:
    number: int
    op: str
    relation: str  # same, other, self
    actor: Member | None
    target: Member
    anchor: Member
    elsewhere: str | None
    mode: str = "unbound"

    @property
    def group_id(self) -> str:
        return f"g{self.number}"

    @property
    def target_email(self) -> str:
        return f"t{self.number}@matrix.test"

    @property
    def anchor_id(self) -> str:
        return f"o{self.number}"

    def actor_id(self) -> str:
        if self.relation == "self":
            return f"t{self.number}"
        if self.relation == "other":
            return f"other{OTHER_ACTORS.index(self.actor)}"
        return f"a{self.number}"

    def actor_email(self) -> str:
        return f"{self.actor_id()}@matrix.test"

    def expectation(self) -> str:
        actor = {"same": self.actor, "other": None, "self": self.target}[self.relation]
        others = [self.anchor] + ([self.actor] if self.relation == "same" else [])
        return expected(
            self.op,
            actor,
            self.target,
            others,
            is_self=self.relation == "self",
            active_elsewhere=self.elsewhere == "active",
        )


def _level(member: Member) -> str:
    return LOWER[member.role] if member.level == "lower" else member.level


def build_cases() -> list[Case]:
    """Every case, the unbound half first (bound mode, once on, holds for the database)."""
    cases = []
    targets = []
    for (name, (target, anchor)), status, elsewhere in product(
        TARGETS.items(), ("active", "inactive"), ELSEWHERE
    ):
        if status == "inactive" and name.startswith("only_"):
            continue  # the group would start locked out
        role = ROLES[len(targets) % 2]
        targets.append((name, replace(target, role=role, status=status), anchor, elsewhere))
    actors = [("same", a) for a in ACTORS] + [("other", a) for a in OTHER_ACTORS]
    for index, op in enumerate(OPERATIONS):
        few = FEW_TARGETS.get(op)
        chosen = [
            (name, target, anchor, elsewhere)
            for name, target, anchor, elsewhere in targets
            if (elsewhere != "inactive" or op in SELF_OPERATIONS)
            and (few is None or ((name, target.status) in few and elsewhere is None))
        ]
        for turn, (_name, target, anchor, elsewhere) in enumerate(chosen):
            mode = MODES[(turn + index) % 2]
            for relation, actor in [*actors, ("self", None)]:
                cases.append(Case(0, op, relation, actor, target, anchor, elsewhere, mode))
    cases.sort(key=lambda case: MODES.index(case.mode))
    return [replace(case, number=number) for number, case in enumerate(cases)]


CASES = build_cases()


def _membership(group_id, user_id, member: Member) -> dict:
    return {
        "group_id": group_id,
        "user_id": user_id,
        "role": member.role,
        "access_level": _level(member),
        "read_only": member.read_only,
        "account_owner": member.owner,
        "status": member.status,
    }


def _user(user_id: str) -> dict:
    email = f"{user_id}@matrix.test"
    return {"user_id": user_id, "email": email, "email_key": email, "name": user_id}


def build(db, cases: list[Case]) -> None:
    """One group per case, plus a group for the other-group actors and one elsewhere."""
    groups = [{"group_id": "g-other", "name": "Other"}, {"group_id": "g-else", "name": "Else"}]
    users = [_user("o-anchor")]
    members = [
        _membership("g-other", "o-anchor", Member("administrator", FULL, owner=True)),
        _membership("g-else", "o-anchor", Member("administrator", FULL, owner=True)),
    ]
    for i, actor in enumerate(OTHER_ACTORS):
        users.append(_user(f"other{i}"))
        members.append(_membership("g-other", f"other{i}", actor))
    integrations = []
    for case in cases:
        n = case.number
        groups.append({"group_id": case.group_id, "name": f"Group {n}"})
        users += [_user(f"t{n}"), _user(f"o{n}")]
        members += [
            _membership(case.group_id, f"t{n}", case.target),
            _membership(case.group_id, f"o{n}", case.anchor),
        ]
        if case.relation == "same":
            users.append(_user(f"a{n}"))
            members.append(_membership(case.group_id, f"a{n}", case.actor))
        if case.elsewhere:
            elsewhere = Member("practitioner", "clinical", status=case.elsewhere)
            members.append(_membership("g-else", f"t{n}", elsewhere))
        # something for the checklist to resolve
        integrations.append(
            {"group_id": case.group_id, "user_id": f"t{n}", "kind": "ical_feed", "enabled": True}
        )
    with db.begin() as conn:
        conn.execute(s.groups.insert(), groups)
        conn.execute(s.users.insert(), users)
        conn.execute(s.memberships.insert(), members)
        conn.execute(s.integrations.insert(), integrations)


OPERATOR, APPROVER, NOBODY = "operator", "approver", "mallory"


class Acting:
    """Who a case's calls run as. Unbound: the test's database, the actor named. Bound:
    the ``operator`` login, mapped for the case to the actor (the owner's login changes
    the mapping as a test's arrangement, unaudited); the group's owner acts under the
    ``approver`` login. On PostgreSQL each login is a real role (tests/logins.py)."""

    def __init__(self, logins) -> None:
        self.logins = logins
        self.bound = False
        self.mapped: dict[str, str] = {}

    def bind(self) -> None:
        """Start bound mode: the owner's login and the two working logins, audited."""
        db, owner = self.logins.db, "o-anchor@matrix.test"
        add_operator(db, self.logins.owner, owner, actor=owner)
        for login in (OPERATOR, APPROVER):
            add_operator(db, self.logins.name(login), owner)
            self.mapped[login] = "o-anchor"
        self.logins.name(NOBODY)  # a login of its own, mapped to nobody
        self.bound = True

    @contextmanager
    def as_user(self, login: str, user_id: str):
        if not self.bound:
            yield self.logins.db
            return
        if self.mapped.get(login) != user_id:
            with self.logins.db.begin() as conn:
                if conn.dialect.name == "postgresql":  # an arrangement: no need to wait for disk
                    conn.exec_driver_sql("SET LOCAL synchronous_commit TO off")
                conn.execute(
                    sa.update(s.operators)
                    .where(s.operators.c.login == self.logins.name(login))
                    .values(user_id=user_id)
                )
            self.mapped[login] = user_id
        with self.logins.acting(login) as db:
            yield db

    def named(self, case: Case, email: str) -> str | None:
        """The actor as the call names it: always when unbound; when bound left out on
        even cases and named in capitals on odd ones (R11)."""
        if case.mode == "unbound":
            return email
        return None if case.number % 2 == 0 else email.upper()


def attempt(acting: Acting, case: Case, runs: dict[int, str], *, login: str = OPERATOR,
            actor: str | None = None, as_named: bool = True) -> tuple[str, int, str]:  # fmt: skip
    """What the library did: the outcome word or the refusal's class, how many audit
    events it should have written, and the refusal's text."""
    target, group = case.target_email, case.group_id
    if as_named:
        actor = acting.named(case, case.actor_email())
    owner = acting.named(case, f"{case.anchor_id}@matrix.test")

    def owners_plan(action: str = "deactivate"):
        row = {"email": target, "group": group, "action": action}
        with acting.as_user(APPROVER, case.anchor_id) as db:
            return plan_offboarding(db, [row], actor=owner)

    try:
        with acting.as_user(login, case.actor_id()) as db:
            if case.op == "deactivate":
                outcome = deactivate(db, target, group, actor=actor).outcome
            elif case.op == "reactivate":
                outcome = reactivate(db, target, group, actor=actor).outcome
            elif case.op in PLANS:
                row = {"email": target, "group": group, "action": PLANS[case.op]}
                plan = plan_offboarding(db, [row], actor=actor)
                [planned] = plan.rows
                if planned.blocker is not None:
                    return planned.blocker, 0, ""
                events = 1
                if acting.bound:  # four eyes: refused until the owner approves
                    try:
                        apply_plan(db, plan, progress=False)
                    except Refused as refused:
                        assert "no approval" in str(refused), refused
                    else:
                        return "applied without an approval", 1, ""
                    with acting.as_user(APPROVER, case.anchor_id) as approver:
                        approve_plan(approver, plan, actor=owner)
                    events += 1
                with acting.as_user(login, case.actor_id()) as db:
                    [applied] = run_rows(db, apply_plan(db, plan, progress=False).run)
                return applied["result"], events, ""
            elif case.op == "resolve_checklist":
                rows = resolve_checklist(db, group=group, item="all", actor=actor, user=target)
                return "resolved", sum(1 for r in rows if r.get("resolved")), ""
            elif case.op == "approve":
                plan = owners_plan()
                with acting.as_user(login, case.actor_id()) as db:
                    return approve_plan(db, plan, actor=actor)["outcome"], 1, ""
            elif case.op == "undo":
                rows = undo_run(db, runs[case.number], actor=actor, progress=False).rows
                return "/".join(r["result"] for r in rows), len(rows), ""
            elif case.op == "policy":
                days = 100 + case.number
                outcome = set_policy(db, group, actor=actor, dormant_days=days)["outcome"]
            elif case.op == "exempt":
                until, why = "2026-12-31", "matrix"
                outcome = exempt(db, target, group, until=until, reason=why, actor=actor)
                outcome = outcome["outcome"]
            else:
                change = CHANGES[case.op]
                outcome = change_access(
                    db,
                    target,
                    group,
                    actor=actor,
                    level=change.get("level"),
                    read_only=change.get("read_only"),
                    owner=change.get("owner"),
                ).outcome
    except (NotAuthorized, FullAccessMember, WouldLockOutGroup, Refused) as refused:
        return type(refused).__name__, 0, str(refused)
    return outcome, 0 if outcome == "unchanged" else 1, ""


def owners_runs(db, cases: list[Case]) -> dict[int, str]:
    """For each undo case, the run of its group's owner that deactivated the target
    (made before bound mode starts: one audit event each)."""
    runs = {}
    for case in cases:
        if case.op == "undo":
            row = {"email": case.target_email, "group": case.group_id}
            plan = plan_offboarding(db, [row], actor=f"{case.anchor_id}@matrix.test")
            runs[case.number] = apply_plan(db, plan, progress=False).run
    return runs


@pytest.fixture
def matrix_db(db, frozen_now):
    build(db, CASES)
    return db


SUCCESS = {"deactivated", "reactivated", "changed", "resolved", "read_only", "approved"}


def test_every_actor_target_and_operation_agrees_with_the_rules_in_both_modes(matrix_db, logins):
    db = matrix_db
    acting = Acting(logins)
    runs = owners_runs(db, CASES)
    disagreements = []
    outcomes: Counter[tuple[str, str]] = Counter()
    events = len(runs)
    refused_logins: set[str] = set()
    acted: set[str] = set()  # the users bound cases changed something as
    for case in CASES:
        if case.mode == "bound" and not acting.bound:
            acting.bind()
            events += 3  # operator_added, each
        want = case.expectation()
        if case.mode == "bound" and want in SUCCESS and case.op not in refused_logins:
            # 9.1: an unmapped login, and a mapped one naming someone else, change nothing
            refused_logins.add(case.op)
            someone_else = f"{case.anchor_id}@matrix.test"
            for login, actor, says in (
                (NOBODY, None, "is not mapped"),
                (OPERATOR, someone_else, "names someone else"),
            ):
                got = attempt(acting, case, runs, login=login, actor=actor, as_named=False)
                if got[:2] != ("NotAuthorized", 0) or says not in got[2]:
                    disagreements.append(f"{case} as {login} naming {actor}: got {got}")
        got, wrote, _ = attempt(acting, case, runs)
        outcomes[(want, case.mode)] += 1
        events += wrote
        if case.mode == "bound" and wrote:
            acted.add(case.actor_id())
        if got != want:
            disagreements.append(f"{case}: expected {want}, got {got}")
    assert disagreements == [], f"{len(disagreements)} disagreements, e.g. {disagreements[:5]}"
    assert refused_logins == set(OPERATIONS), "every operation refuses the wrong logins"
    # the matrix reaches every outcome the rules can give, in both modes
    reached = {want for want, _mode in outcomes}
    assert reached == {
        "deactivated",
        "reactivated",
        "changed",
        "unchanged",
        "resolved",
        "approved",
        "NotAuthorized",
        "FullAccessMember",
        "WouldLockOutGroup",
        "Refused",
        "read_only",
        "not_authorised",
        "already_inactive",
        "already_read_only",
        "full_access",
    }
    for want in SUCCESS | {"NotAuthorized", "not_authorised"}:
        assert outcomes[(want, "unbound")] and outcomes[(want, "bound")], want
    with db.read() as conn:
        counted = conn.execute(sa.select(sa.func.count()).select_from(s.audit_events))
        assert counted.scalar_one() == events  # one event per change, none for a refusal
        logins_seen = set(conn.execute(sa.select(s.audit_events.c.login).distinct()).scalars())
        e = s.audit_events.c
        query = sa.select(e.actor_id).distinct().where(e.login == logins.name(OPERATOR))
        as_operator = set(conn.execute(query).scalars())
    # under the operator's login each event names the user the login was mapped to for
    # that case: exactly the users the bound cases changed something as
    assert as_operator == acted
    # each event carries the login that made it: the owner's before bound mode and for
    # the mapping, the working logins' after
    assert logins_seen == {logins.owner, logins.name(OPERATOR), logins.name(APPROVER)}
    assert check_invariants(db) == []


def test_full_access_in_another_group_grants_nothing_here():
    other = [c for c in CASES if c.relation == "other"]
    outcomes = {c.expectation() for c in other if c.op != "approve"}
    assert other and outcomes == {"NotAuthorized", "not_authorised"}
    assert any(may_manage(c.actor) for c in other)  # including Full Access actors
    # an approval needs Full Access in the groups the plan changes: a plan that changes
    # nothing (its row blocked) needs it nowhere
    approvals = {
        (c.target.level == FULL or c.target.status == "inactive", c.expectation())
        for c in other
        if c.op == "approve"
    }
    assert approvals == {(False, "NotAuthorized"), (True, "approved")}


def test_the_oracle_states_the_rules_it_checks():
    target = Member("practitioner", FULL)
    anchor = Member("administrator", FULL, owner=True)
    manager = Member("administrator", FULL)
    kw = {"is_self": False, "active_elsewhere": False}
    assert expected("deactivate", manager, target, [anchor], **kw) == "FullAccessMember"
    assert expected("read_only_on", manager, target, [anchor], **kw) == "FullAccessMember"
    assert expected("owner_off", manager, anchor, [target], **kw) == "WouldLockOutGroup"
    lower = Member("practitioner", "lower")
    assert expected("deactivate", None, lower, [anchor], is_self=True, active_elsewhere=True) == (
        "deactivated"
    )


# --------------------------------------------------------------------------- audit is append-only

OPSKIT = Path(__file__).resolve().parents[2] / "opskit"
WRITES_TO_AUDIT = [
    re.compile(r"\b(update|delete)\(\s*(s\.|schema\.)?audit_events\b"),
    re.compile(r"\baudit_events\s*\.\s*(update|delete)\("),
    re.compile(r"\b(UPDATE|DELETE\s+FROM)\s+\"?audit_events\b", re.IGNORECASE),
]


def test_no_code_path_updates_or_deletes_audit_events():
    offending = []
    for path in sorted(OPSKIT.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        text = path.read_text(encoding="utf-8")
        for pattern in WRITES_TO_AUDIT:
            for match in pattern.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                offending.append(f"{path.relative_to(OPSKIT.parent)}:{line}: {match.group(0)}")
    assert offending == []


def test_the_source_check_would_catch_an_update_of_audit_events():
    samples = [
        "conn.execute(update(s.audit_events).values(reason=None))",
        "conn.execute(delete(s.audit_events))",
        "s.audit_events.delete()",
        'text("DELETE FROM audit_events WHERE run_id = :r")',
    ]
    for sample in samples:
        assert any(p.search(sample) for p in WRITES_TO_AUDIT), sample
