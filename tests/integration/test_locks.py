"""Lock waits (docs/rules.md): a change gives up after OPSKIT_LOCK_TIMEOUT seconds with a
refusal saying what it waited for; reads never wait for writers. SQLite and PostgreSQL."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from opskit import schema as s
from opskit.db import LockTimeout, connect, lock_timeout
from opskit.errors import BadInput
from opskit.invariants import check_invariants
from opskit.lifecycle import deactivate


def hold_group_lock(url):
    """Another session in the middle of a change to Harbour: it holds the lock a change
    there needs (SQLite: the database write lock; PostgreSQL: the group's row lock)."""
    other = connect(url)
    conn = other.engine.connect()
    transaction = conn.begin()
    conn.execute(
        select(s.groups.c.group_id).where(s.groups.c.group_id == "g-harbour").with_for_update()
    ).all()
    return other, conn, transaction


def release(held):
    other, conn, transaction = held
    transaction.rollback()
    conn.close()
    other.dispose()


def test_a_change_blocked_by_another_changes_lock_gives_up_after_the_timeout(
    db, db_url, clinic, monkeypatch
):
    monkeypatch.setenv("OPSKIT_LOCK_TIMEOUT", "0.5")
    held = hold_group_lock(db_url)
    waiting = connect(db_url)
    try:
        started = time.monotonic()
        with pytest.raises(LockTimeout) as caught:
            deactivate(waiting, clinic.peter, "g-harbour", actor=clinic.ops)
        assert time.monotonic() - started < 5
        message = str(caught.value)
        assert "another change holds the lock" in message and "waited 0.5 s" in message
        assert caught.value.exit_code == 1
        if db.dialect == "postgresql":
            pid = held[1].exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
            assert f"wait for session {pid} (user " in message
    finally:
        waiting.dispose()
        release(held)
    peter = deactivate(db, clinic.peter, "g-harbour", actor=clinic.ops)
    assert peter.outcome == "deactivated"  # nothing was changed before, all works after


def test_reads_do_not_wait_for_a_writer(db, db_url, clinic, monkeypatch):
    monkeypatch.setenv("OPSKIT_LOCK_TIMEOUT", "30")
    held = hold_group_lock(db_url)
    try:
        started = time.monotonic()
        reader = connect(db_url)  # the schema check is a read too
        try:
            with reader.read() as conn:
                assert conn.execute(select(s.groups.c.group_id)).all()
            check_invariants(reader)
        finally:
            reader.dispose()
        assert time.monotonic() - started < 5
    finally:
        release(held)


@pytest.mark.parametrize("value", ["soon", "0", "-3", "nan", "inf", "1e9"])
def test_a_bad_lock_timeout_is_bad_input_naming_the_variable(monkeypatch, value):
    monkeypatch.setenv("OPSKIT_LOCK_TIMEOUT", value)
    with pytest.raises(BadInput) as caught:
        lock_timeout()
    assert str(caught.value).startswith("OPSKIT_LOCK_TIMEOUT: ")


@pytest.mark.parametrize(("value", "seconds"), [("", 10.0), ("2.5", 2.5), ("86400", 86400.0)])
def test_the_lock_timeout_defaults_to_ten_seconds(monkeypatch, value, seconds):
    monkeypatch.setenv("OPSKIT_LOCK_TIMEOUT", value)
    assert lock_timeout() == seconds
