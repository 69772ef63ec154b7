"""Bound mode under stress (docs/rules.md 9.1, 9.2): real PostgreSQL login roles, one
per worker, given ``opskit grant`` and mapped with ``opskit operators add``; and the
checkpoint that every phase of the PostgreSQL stress run ends with.

``LoginRoles`` creates the roles on the server and drops them on the way out, whatever
happened (run it around the database, so that the database, where the roles hold their
privileges, is dropped first). ``bind`` puts a database in bound mode for them and gives
each worker its ``Seat``. ``checkpoint`` says what is wrong, if anything: ``opskit audit
verify`` must find the chain intact, ``opskit check`` must be clean, and every audit
event since binding must carry the login role of the worker that wrote it, as the
server recorded it (``session_user``), and be made as the operator mapped to it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import sqlalchemy as sa

from opskit import schema as s
from opskit.db import Database

from .workload import OPSKIT, Hands, Scenario, Seat, opskit_env


class LoginRoles:
    """``count`` PostgreSQL login roles, created on entry and dropped on exit."""

    def __init__(self, server: str, count: int) -> None:
        self.server = server
        tag = uuid.uuid4().hex[:8]
        self.names = [f"opskit_stress_{tag}_w{number}" for number in range(count)]
        self.engine = sa.create_engine(server, isolation_level="AUTOCOMMIT")
        self.databases: set[str] = set()  # where the roles were granted privileges

    def __enter__(self) -> LoginRoles:
        try:
            with self.engine.connect() as conn:
                for name in self.names:
                    conn.execute(sa.text(f'CREATE ROLE "{name}" LOGIN'))
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        """Revoke the roles' privileges in each database that still exists (the stress
        database is normally gone by now), then drop them; say which could not be."""
        names = ", ".join(f'"{name}"' for name in self.names)
        for database in self.databases:
            engine = sa.create_engine(database, isolation_level="AUTOCOMMIT")
            try:
                with engine.connect() as conn:
                    conn.execute(sa.text(f"DROP OWNED BY {names}"))
            except sa.exc.DBAPIError:
                pass  # the database was dropped: nothing of the roles is left in it
            finally:
                engine.dispose()
        left = []
        with self.engine.connect() as conn:
            for name in self.names:
                try:
                    conn.execute(sa.text(f'DROP ROLE IF EXISTS "{name}"'))
                except sa.exc.DBAPIError as error:
                    left.append(f"{name} ({str(error.orig).splitlines()[0]})")
        self.engine.dispose()
        if left:
            message = f"login roles left on the server: {', '.join(left)}"
            if exc and exc[0] is not None:  # do not hide what went wrong first
                print(message, file=sys.stderr, flush=True)
            else:
                raise RuntimeError(message)

    def url(self, database_url: str, name: str) -> str:
        url = sa.engine.make_url(database_url).set(username=name, password=None)
        return url.render_as_string(hide_password=False)


def at_once(commands: list[list[str]]) -> list[str]:
    """Run opskit commands side by side (each costs seconds of start-up on a busy
    machine); their outputs, or raise naming the first that failed."""
    running = [
        (
            command,
            subprocess.Popen(
                [OPSKIT, *command],
                env=opskit_env(),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            ),
        )
        for command in commands
    ]
    failed, outputs = [], []
    for command, process in running:
        stdout, stderr = process.communicate(timeout=600)
        outputs.append(stdout)
        if process.returncode != 0:
            failed.append(f"opskit {' '.join(command[:3])} exited {process.returncode}: {stderr}")
    if failed:
        raise RuntimeError(failed[0].strip())
    return outputs


def bind(url: str, scenario: Scenario, roles: LoginRoles, folder: Path) -> list[Seat]:
    """Give each role ``opskit grant``, map the owner's login to the analyst and role i
    to operator i with ``opskit operators add`` (the first mapping starts bound mode)."""
    if len(scenario.operators) < len(roles.names):
        raise ValueError("the scenario has fewer operators than there are roles")
    roles.databases.add(url)
    emails = dict(zip(roles.names, scenario.operators, strict=False))
    whoami, *_ = at_once(
        [["whoami", "--db", url, "--format", "json"]]
        + [["grant", name, "--db", url] for name in roles.names]
    )
    owner = json.loads(whoami)["login"]
    add = ["operators", "add", owner, scenario.analyst, "--actor", scenario.analyst]
    at_once([[*add, "--db", url]])  # the first mapping: from now on, bound mode
    at_once([["operators", "add", name, email, "--db", url] for name, email in emails.items()])
    mailbox = folder / f"mailbox-{uuid.uuid4().hex[:6]}"
    return [
        Seat(
            login=name,
            email=email,
            url=roles.url(url, name),
            peers={peer: other for peer, other in emails.items() if peer != name},
            mailbox=str(mailbox),
        )
        for name, email in emails.items()
    ]


def hands(seats: list[Seat], number: int, connections: dict[str, Database]) -> Hands:
    """The ``number``-th crash phase's hands: seat ``number`` plans, applies, resumes
    and undoes; the next seat approves."""
    from opskit.db import connect

    planner = seats[number % len(seats)]
    approver = seats[(number + 1) % len(seats)]
    for seat in (planner, approver):
        if seat.login not in connections:
            connections[seat.login] = connect(seat.url)
    return Hands(
        connections[planner.login], planner.url, None, approver=connections[approver.login]
    )


def checkpoint(url: str, db: Database, seats: list[Seat], *, since: int) -> list[str]:
    """Every problem with the audit trail and the invariants now (empty: none):
    ``opskit audit verify`` and ``opskit check`` side by side, then the logins."""
    verify, check = (
        subprocess.Popen(
            [OPSKIT, *command, "--db", url, "--format", "json"],
            env=opskit_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for command in (["audit", "verify"], ["check"])
    )
    problems = []
    out, err = verify.communicate(timeout=600)
    try:
        intact = verify.returncode == 0 and json.loads(out)["intact"] is True
    except (ValueError, KeyError):
        intact = False
    if not intact:
        problems.append(f"opskit audit verify exited {verify.returncode}: {out.strip()} {err}")
    out, err = check.communicate(timeout=600)
    if check.returncode != 0:
        problems.append(f"opskit check exited {check.returncode}: {out.strip()[:2000]} {err}")
    problems += login_problems(db, seats, since=since)
    return [problem.strip() for problem in problems]


def login_problems(db: Database, seats: list[Seat], *, since: int) -> list[str]:
    """Every audit event after ``since`` must carry a worker's login role, and be made
    as the operator that login is mapped to (our own record of it, not the table's)."""
    e, u = s.audit_events.c, s.users.c
    acts_as = {seat.login: seat.email for seat in seats}
    with db.read() as conn:
        ids = dict(conn.execute(sa.select(u.email, u.user_id)).all())
        events = conn.execute(
            sa.select(e.event_id, e.login, e.actor_id, e.action)
            .where(e.event_id > since)
            .order_by(e.event_id)
        ).all()
    wrong = [
        f"event {event.event_id} ({event.action}) has login {event.login!r}, actor "
        f"{event.actor_id}: expected a worker's login role and the operator mapped to it"
        for event in events
        if event.login not in acts_as or ids.get(acts_as[event.login]) != event.actor_id
    ]
    if len(wrong) > 5:
        wrong = wrong[:5] + [f"... {len(wrong) - 5} more events with a wrong login"]
    return wrong
