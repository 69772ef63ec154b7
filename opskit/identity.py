"""Who is acting (docs/rules.md 9.1): the login, the operator mapping, bound mode.

The **login** is established, not asserted: on PostgreSQL the server's
``session_user`` (the server authenticated it), elsewhere ``JUPYTERHUB_USER`` when
set (JupyterHub authenticated it), else the OS login.

**Bound mode** starts when the first login is mapped to a user (``add_operator``).
From then on ``acting_user`` is the one door every write goes through: it returns the
user mapped to the current login, refuses an ``--actor`` naming anyone else and
refuses an unmapped login. Without any mapping it returns the ``--actor`` named, which
is then required, as before.
"""

from __future__ import annotations

import getpass
import os
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, delete, func, insert, select

from . import schema as s
from .clock import now
from .db import Database
from .errors import BadInput, NotAuthorized, Refused
from .rules import email_key, find_user, manager_lack
from .schema import Action

_o = s.operators.c
_m = s.memberships.c


@dataclass(frozen=True)
class Login:
    login: str
    source: str  # postgresql | jupyterhub | os


def _os_login() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no name for this uid (a container): the uid stands in
        return f"uid:{os.getuid()}"


def current_login(conn: Connection) -> Login:
    """The login of whoever runs opskit on this connection."""
    if conn.dialect.name == "postgresql":
        return Login(conn.execute(select(func.session_user())).scalar_one(), "postgresql")
    hub = os.environ.get("JUPYTERHUB_USER", "").strip()
    if hub:
        return Login(hub, "jupyterhub")
    return Login(_os_login(), "os")


def bound(conn: Connection) -> bool:
    """Bound mode: at least one login is mapped to a user."""
    return conn.execute(select(_o.login).limit(1)).first() is not None


def mapped_user(conn: Connection, login: str) -> Row | None:
    return conn.execute(
        select(s.users).join(s.operators, _o.user_id == s.users.c.user_id).where(_o.login == login)
    ).first()


def acting_user(conn: Connection, actor: str | None, *, option: str = "--actor") -> Row:
    """The user a change is made as. Bound mode: the user mapped to the login (an
    ``actor`` naming anyone else, or an unmapped login, is refused). Otherwise: the
    user ``actor`` names, which is then required."""
    if not bound(conn):
        if actor is None or not actor.strip():
            raise BadInput(
                "required: say who acts (no login is mapped to an operator yet, see "
                "'opskit operators add')",
                column=option,
            )
        return find_user(conn, actor, option=option)
    login = current_login(conn)
    user = mapped_user(conn, login.login)
    if user is None:
        raise NotAuthorized(
            f"login {login.login!r} is not mapped to an operator: it may read but not "
            "change anything (an operator maps it with 'opskit operators add')"
        )
    if actor is not None and actor.strip() and email_key(actor) != user.email_key:
        raise NotAuthorized(
            f"login {login.login!r} acts as {user.email}; {option} {actor.strip()} "
            "names someone else"
        )
    return user


def whoami(db: Database) -> dict[str, Any]:
    """``login``, ``source`` and ``user`` (the email the login acts as, or None)."""
    with db.read() as conn:
        login = current_login(conn)
        user = mapped_user(conn, login.login)
        mode = "bound" if bound(conn) else "unbound"
    return {
        "login": login.login,
        "source": login.source,
        "user": user.email if user else None,
        "mode": mode,
    }


DEMO_ACTOR = "analyst@opskit.demo"


def notebook_actor(
    db: Database, actor: str | None = None, *, unbound: str = DEMO_ACTOR
) -> str | None:
    """Whom a notebook acts as: ``actor`` when one is named; else, in bound mode, the
    user the login is mapped to (None for an unmapped login, which may only read);
    else (no operator mapped, as in the demo) ``unbound``. Every change still goes
    through ``acting_user``, which refuses anyone bound mode does not allow."""
    if actor is not None and actor.strip():
        return actor
    who = whoami(db)
    return who["user"] if who["mode"] == "bound" else unbound


_LOGIN = re.compile(r"[^\s\x00-\x1f\x7f]{1,128}")


def _valid_login(login: str) -> str:
    text = (login or "").strip()
    if not _LOGIN.fullmatch(text):
        raise BadInput(
            f"{login!r} is not a login (1 to 128 characters, no spaces or control characters)",
            column="LOGIN",
        )
    return text


def _require_mapping_authority(conn: Connection, who: Row, user: Row, verb: str) -> None:
    """Bound mode: changing ``user``'s mapping needs Full Access (R1) in every group
    ``user`` belongs to."""
    if not bound(conn):
        return
    members = select(_m.group_id).where(_m.user_id == user.user_id)
    own = {
        row.group_id: row
        for row in conn.execute(
            select(s.memberships).where(_m.user_id == who.user_id, _m.group_id.in_(members))
        )
    }
    names = dict(
        conn.execute(
            select(s.groups.c.group_id, s.groups.c.name).where(s.groups.c.group_id.in_(members))
        ).all()
    )
    for group_id in sorted(names):
        lack = manager_lack(own.get(group_id))
        if lack is not None:
            raise NotAuthorized(
                f"{who.email} may not {verb} the operator mapping of {user.email}: "
                f"{lack} in {names[group_id]} (only an active Full Access member of every "
                "group of that user may)"
            )


def _record(conn: Connection, action: Action, who: Row, user: Row, login: str, *, added: bool):
    from .audit import record

    mapping = {"login": login, "user": user.email}
    record(
        conn,
        at=now(),
        actor_id=who.user_id,
        group_id="",
        user_id=user.user_id,
        action=action,
        before=None if added else mapping,
        after=mapping if added else None,
    )


def add_operator(db: Database, login: str, email: str, *, actor: str | None = None) -> dict:
    """Map ``login`` to the user ``email`` (audited ``operator_added``). The first
    mapping starts bound mode."""
    login = _valid_login(login)
    with db.begin() as conn:
        _lock_mapping(conn)
        who = acting_user(conn, actor)
        user = find_user(conn, email, option="EMAIL")
        existing = conn.execute(select(_o.user_id).where(_o.login == login)).scalar()
        if existing == user.user_id:
            return {"login": login, "user": user.email, "outcome": "unchanged"}
        if existing is not None:
            raise Refused(f"login {login!r} is mapped to another user; remove it first")
        _require_mapping_authority(conn, who, user, "change")
        conn.execute(
            insert(s.operators).values(
                login=login, user_id=user.user_id, added_at=now(), added_by=who.user_id
            )
        )
        _record(conn, Action.OPERATOR_ADDED, who, user, login, added=True)
    return {"login": login, "user": user.email, "outcome": "added"}


def remove_operator(db: Database, login: str, *, actor: str | None = None) -> dict:
    """Remove ``login``'s mapping (audited ``operator_removed``). The last mapping is
    kept: removing it would end bound mode, and with it every check of who acts."""
    login = _valid_login(login)
    with db.begin() as conn:
        _lock_mapping(conn)
        who = acting_user(conn, actor)
        user_id = conn.execute(select(_o.user_id).where(_o.login == login)).scalar()
        if user_id is None:
            raise BadInput(f"login {login!r} is not mapped", column="LOGIN")
        if conn.execute(select(func.count()).select_from(s.operators)).scalar_one() == 1:
            raise Refused(f"login {login!r} is the last operator: removing it would end bound mode")
        user = conn.execute(select(s.users).where(s.users.c.user_id == user_id)).one()
        _require_mapping_authority(conn, who, user, "change")
        conn.execute(delete(s.operators).where(_o.login == login))
        _record(conn, Action.OPERATOR_REMOVED, who, user, login, added=False)
    return {"login": login, "user": user.email, "outcome": "removed"}


def list_operators(db: Database) -> list[dict[str, Any]]:
    """Every mapping: ``login``, ``user``, ``added_at``, ``added_by``."""
    from .clock import iso

    adder = s.users.alias("adder")
    query = (
        select(
            _o.login, s.users.c.email.label("user"), _o.added_at, adder.c.email.label("added_by")
        )
        .join(s.users, s.users.c.user_id == _o.user_id)
        .outerjoin(adder, adder.c.user_id == _o.added_by)
        .order_by(_o.login)
    )
    with db.read() as conn:
        rows = [dict(r._mapping) for r in conn.execute(query)]
    for row in rows:
        row["added_at"] = iso(row["added_at"])
    return rows


def _lock_mapping(conn: Connection) -> None:
    """Serialise changes of the mapping, so that two removals cannot both pass the
    last-operator check. PostgreSQL: a table lock that only a role allowed to change
    the mapping may take (a granted role is refused here, as it should be); SQLite's
    writer already holds the database lock."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("LOCK TABLE operators IN SHARE ROW EXCLUSIVE MODE")
