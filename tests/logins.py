"""Acting as several logins in one test (docs/rules.md 9.1).

SQLite: a login is ``JUPYTERHUB_USER``, set for the duration of a ``with`` block.
PostgreSQL: a login is a real login role, created for the test, given ``opskit grant``
and dropped afterwards; the block yields a Database connected as that role. The test's
own ``db`` is the owner's login (``owner`` on SQLite, ``postgres`` on PostgreSQL).
"""

from __future__ import annotations

import os
import uuid
from contextlib import contextmanager

import sqlalchemy as sa

from opskit.db import connect
from opskit.grants import grant

OWNER_ON_SQLITE = "owner"


class Logins:
    def __init__(self, db, url: str, monkeypatch) -> None:
        self.db = db
        self.url = url
        self.monkeypatch = monkeypatch
        self.postgres = db.dialect == "postgresql"
        self.suffix = uuid.uuid4().hex[:8]
        self.roles: dict[str, str] = {}
        self.databases: dict[str, object] = {}
        if not self.postgres:
            monkeypatch.setenv("JUPYTERHUB_USER", OWNER_ON_SQLITE)

    @property
    def owner(self) -> str:
        return "postgres" if self.postgres else OWNER_ON_SQLITE

    def name(self, login: str) -> str:
        """The login as the database sees it (a role name on PostgreSQL)."""
        if not self.postgres:
            return login
        if login not in self.roles:
            role = f"{login}_{self.suffix}"
            with self.db.engine.connect() as conn:
                conn.execute(sa.text(f'CREATE ROLE "{role}" LOGIN'))
                conn.commit()
            grant(self.db, role)
            self.roles[login] = role
        return self.roles[login]

    def url_of(self, login: str) -> str:
        if not self.postgres:
            return self.url
        url = sa.engine.make_url(self.url).set(username=self.name(login))
        return url.render_as_string(hide_password=False)

    def db_url_for(self, login: str) -> str:
        """The URL a subprocess acting as ``login`` uses (the owner's: the test's own)."""
        return self.url if login == self.owner else self.url_of(login)

    def env_of(self, login: str) -> dict[str, str]:
        """Environment for a subprocess acting as ``login``."""
        env = dict(os.environ)
        if not self.postgres:
            env["JUPYTERHUB_USER"] = login
        return env

    @contextmanager
    def acting(self, login: str):
        if not self.postgres:
            with self.monkeypatch.context() as patch:
                patch.setenv("JUPYTERHUB_USER", login)
                yield self.db
            return
        if login not in self.databases:
            self.databases[login] = connect(self.url_of(login))
        yield self.databases[login]

    def close(self) -> None:
        for database in self.databases.values():
            database.dispose()
        if self.postgres and self.roles:
            with self.db.engine.connect() as conn:
                for role in self.roles.values():
                    conn.execute(sa.text(f'DROP OWNED BY "{role}"'))
                    conn.execute(sa.text(f'DROP ROLE "{role}"'))
                conn.commit()
