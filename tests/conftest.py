"""Shared fixtures: one ``db`` fixture, parametrised over SQLite and PostgreSQL.

PostgreSQL tests read the server URL from ``OPSKIT_TEST_POSTGRES_URL`` (default: the
local server) and create and drop their own database. With ``OPSKIT_REQUIRE_POSTGRES=1``
(as in CI) an unreachable server fails the run instead of skipping.
"""

from __future__ import annotations

import os
import shutil
import uuid

import pytest
import sqlalchemy as sa

from opskit.db import connect
from opskit.schema import metadata

from .scenarios import build_clinic

PG_SERVER = os.environ.get(
    "OPSKIT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
PG_REQUIRED = os.environ.get("OPSKIT_REQUIRE_POSTGRES") == "1"
FROZEN_NOW = "2026-07-01T09:00:00Z"


def _server_engine():
    return sa.create_engine(
        PG_SERVER, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
    )


@pytest.fixture(scope="session")
def pg_database_url():
    """A fresh PostgreSQL database for this test process, dropped at the end."""
    engine = _server_engine()
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception as error:  # any failure to reach the server
        engine.dispose()
        message = f"PostgreSQL not reachable at {PG_SERVER}: {str(error).splitlines()[0]}"
        if PG_REQUIRED:
            pytest.fail(message)
        pytest.skip(message)
    name = f"opskit_test_{uuid.uuid4().hex[:12]}"
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(PG_SERVER).set(database=name)
    yield url.render_as_string(hide_password=False)
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory):
    """An empty, migrated SQLite database file that each test copies."""
    path = tmp_path_factory.mktemp("template") / "opskit.db"
    connect(f"sqlite:///{path}", create=True).dispose()
    return path


@pytest.fixture(scope="session")
def pg_migrated(pg_database_url):
    connect(pg_database_url, create=True).dispose()
    return pg_database_url


def _truncate_all(url: str) -> None:
    engine = sa.create_engine(url)
    names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path, sqlite_template):
    """The URL of an empty opskit database on each backend."""
    if request.param == "sqlite":
        path = tmp_path / "opskit.db"
        shutil.copy(sqlite_template, path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("pg_migrated")
    _truncate_all(url)
    return url


@pytest.fixture
def db(db_url):
    database = connect(db_url)
    yield database
    database.dispose()


@pytest.fixture
def frozen_now(monkeypatch):
    monkeypatch.setenv("OPSKIT_NOW", FROZEN_NOW)
    return FROZEN_NOW


@pytest.fixture
def clinic(db, frozen_now):
    """The named scenario of tests/scenarios.py, on each backend."""
    return build_clinic(db)


@pytest.fixture
def logins(db, db_url, monkeypatch):
    """Several logins on each backend (tests/logins.py); PostgreSQL roles are dropped."""
    from .logins import Logins

    helper = Logins(db, db_url, monkeypatch)
    yield helper
    helper.close()
