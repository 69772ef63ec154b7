"""Who may do what to whom: every actor against every target for every operation.

A small oracle below computes the expected outcome from the rules as docs/rules.md states
them (R1 who may act, R2 leaving, R3 Full Access guard, R4 never lock a group out,
R6 idempotence, R8 read-only below Full Access), independently of opskit's code; the
library must agree on every combination.

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
  ownership on / off, resolve the checklist, and plan a bulk deactivation or read-only
  (the blocker; a row planned without one is applied).

Afterwards every change has exactly one audit event and the invariant check passes.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, replace
from itertools import product
from pathlib import Path

import pytest
import sqlalchemy as sa

from opskit import schema as s
from opskit.checklist import resolve_checklist
from opskit.errors import FullAccessMember, NotAuthorized, Refused, WouldLockOutGroup
from opskit.invariants import check_invariants
from opskit.lifecycle import change_access, deactivate, reactivate
from opskit.offboard import apply_plan, plan_offboarding, run_rows

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
OPERATIONS = ("deactivate", "reactivate", *CHANGES, "resolve_checklist", *PLANS)


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

    @property
    def group_id(self) -> str:
        return f"g{self.number}"

    @property
    def target_email(self) -> str:
        return f"t{self.number}@matrix.test"

    def actor_email(self) -> str:
        if self.relation == "self":
            return self.target_email
        if self.relation == "other":
            return f"other{OTHER_ACTORS.index(self.actor)}@matrix.test"
        return f"a{self.number}@matrix.test"

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
    cases = []
    targets = []
    for (name, (target, anchor)), status, elsewhere in product(
        TARGETS.items(), ("active", "inactive"), ELSEWHERE
    ):
        if status == "inactive" and name.startswith("only_"):
            continue  # the group would start locked out
        role = ROLES[len(targets) % 2]
        targets.append((replace(target, role=role, status=status), anchor, elsewhere))
    actors = [("same", a) for a in ACTORS] + [("other", a) for a in OTHER_ACTORS]
    for op in OPERATIONS:
        for target, anchor, elsewhere in targets:
            if elsewhere == "inactive" and op not in SELF_OPERATIONS:
                continue
            for relation, actor in [*actors, ("self", None)]:
                cases.append(Case(len(cases), op, relation, actor, target, anchor, elsewhere))
    return cases


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


def run(db, case: Case) -> tuple[str, int]:
    """What the library did: the outcome word or the refusal's class, and how many audit
    events it should have written."""
    actor, target, group = case.actor_email(), case.target_email, case.group_id
    try:
        if case.op == "deactivate":
            outcome = deactivate(db, target, group, actor=actor).outcome
        elif case.op == "reactivate":
            outcome = reactivate(db, target, group, actor=actor).outcome
        elif case.op in PLANS:
            row = {"email": target, "group": group, "action": PLANS[case.op]}
            plan = plan_offboarding(db, [row], actor=actor)
            [planned] = plan.rows
            if planned.blocker is not None:
                return planned.blocker, 0
            [applied] = run_rows(db, apply_plan(db, plan, progress=False).run)
            return applied["result"], 1
        elif case.op == "resolve_checklist":
            rows = resolve_checklist(db, group=group, item="all", actor=actor, user=target)
            return "resolved", sum(1 for r in rows if r.get("resolved"))
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
        return type(refused).__name__, 0
    return outcome, 0 if outcome == "unchanged" else 1


@pytest.fixture
def matrix_db(db, frozen_now):
    build(db, CASES)
    return db


def test_every_actor_target_and_operation_agrees_with_the_rules(matrix_db):
    db = matrix_db
    disagreements = []
    outcomes: Counter[str] = Counter()
    events = 0
    for case in CASES:
        got, wrote = run(db, case)
        want = case.expectation()
        outcomes[want] += 1
        events += wrote
        if got != want:
            disagreements.append(f"{case}: expected {want}, got {got}")
    assert disagreements == [], f"{len(disagreements)} disagreements, e.g. {disagreements[:5]}"
    # the matrix reaches every outcome the rules can give
    assert set(outcomes) == {
        "deactivated",
        "reactivated",
        "changed",
        "unchanged",
        "resolved",
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
    with db.read() as conn:
        counted = conn.execute(sa.select(sa.func.count()).select_from(s.audit_events))
        assert counted.scalar_one() == events  # one event per change, none for a refusal
    assert check_invariants(db) == []


def test_full_access_in_another_group_grants_nothing_here():
    other = [c for c in CASES if c.relation == "other"]
    assert other and {c.expectation() for c in other} == {"NotAuthorized", "not_authorised"}
    assert any(may_manage(c.actor) for c in other)  # including Full Access actors


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
