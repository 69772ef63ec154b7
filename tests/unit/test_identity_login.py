"""docs/rules.md 9.1: outside PostgreSQL the login is JUPYTERHUB_USER, else the OS login."""

from __future__ import annotations

import getpass

import sqlalchemy as sa

from opskit.identity import current_login


def test_login_is_jupyterhub_user_when_set_else_the_os_login(monkeypatch):
    engine = sa.create_engine("sqlite://")
    with engine.connect() as conn:
        monkeypatch.setenv("JUPYTERHUB_USER", " alice ")
        assert (current_login(conn).login, current_login(conn).source) == ("alice", "jupyterhub")
        monkeypatch.setenv("JUPYTERHUB_USER", "")
        assert (current_login(conn).login, current_login(conn).source) == (getpass.getuser(), "os")
        monkeypatch.delenv("JUPYTERHUB_USER")
        assert current_login(conn).source == "os"
    engine.dispose()
