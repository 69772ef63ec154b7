"""docs/rules.md 9.1: the audit events form a hash chain; ``verify_chain`` names the
first event where it breaks. Tampering is done with plain SQL, the append-only trigger
lifted first (as someone with the file, or the schema's owner, could)."""

from __future__ import annotations

import threading
from contextlib import contextmanager

import pytest
from sqlalchemy import text

from opskit import schema as s
from opskit.audit import chain_hash, record, verify_chain
from opskit.clock import now
from opskit.invariants import check_invariants
from opskit.lifecycle import deactivate, reactivate
from opskit.schema import Action

from ..scenarios import email


def _history(db) -> list[int]:
    """Five events: peter and frank deactivated, peter reactivated, ..."""
    ops = email("ops")
    deactivate(db, email("peter"), "g-harbour", actor=ops)
    deactivate(db, email("frank"), "g-harbour", actor=ops)
    reactivate(db, email("peter"), "g-harbour", actor=ops)
    deactivate(db, email("mia"), "g-summit", actor=ops)
    reactivate(db, email("frank"), "g-harbour", actor=ops)
    with db.read() as conn:
        return list(
            conn.execute(text("SELECT event_id FROM audit_events ORDER BY event_id")).scalars()
        )


@contextmanager
def _tampering(db):
    """A connection with the append-only trigger out of the way."""
    with db.engine.begin() as conn:
        if db.dialect == "postgresql":
            conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only"))
        else:
            conn.execute(text("DROP TRIGGER audit_events_no_update"))
        try:
            yield conn
        finally:
            if db.dialect == "postgresql":
                conn.execute(
                    text("ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only")
                )


def _broken_at(db):
    result = verify_chain(db)
    assert not result["intact"]
    return result["event"], result["message"]


def test_an_untouched_trail_verifies_intact_and_check_is_clean(clinic, db):
    ids = _history(db)
    result = verify_chain(db)
    assert result == {
        "intact": True,
        "events": len(ids),
        "event": None,
        "message": f"{len(ids)} events, chain intact",
    }
    # (the scenario's ivan was made inactive without an event: that is the only finding)
    assert "audit_chain_broken" not in {v["kind"] for v in check_invariants(db)}


def test_an_events_time_is_stored_as_the_change_it_records_stores_its_time(clinic, db):
    # events go to the driver as tuples: their time must still be written as SQLAlchemy
    # writes every other time (on SQLite, text that sorts and compares alike)
    deactivate(db, email("peter"), "g-harbour", actor=email("ops"))
    with db.read() as conn:
        at, changed = conn.execute(
            text(
                "SELECT e.at, m.status_changed_at FROM audit_events e JOIN memberships m "
                "ON m.group_id = e.group_id AND m.user_id = e.user_id "
                "WHERE e.action = 'deactivated'"
            )
        ).one()
    assert at == changed


def test_an_empty_trail_verifies_intact(db):
    assert verify_chain(db)["intact"]


def test_an_altered_event_is_named(clinic, db):
    ids = _history(db)
    with _tampering(db) as conn:
        conn.execute(
            text("UPDATE audit_events SET reason = 'nothing' WHERE event_id = :i"), {"i": ids[1]}
        )
    event, message = _broken_at(db)
    assert event == ids[1] and f"event {ids[1]}" in message and "altered" in message
    broken = [v for v in check_invariants(db) if v["kind"] == "audit_chain_broken"]
    assert [v["message"] for v in broken] == [message]


def test_a_deleted_event_breaks_the_chain_at_the_next_one(clinic, db):
    ids = _history(db)
    with _tampering(db) as conn:
        conn.execute(text("DELETE FROM audit_events WHERE event_id = :i"), {"i": ids[2]})
    assert _broken_at(db)[0] == ids[3]


def test_deleting_the_last_events_is_seen_from_the_head(clinic, db):
    ids = _history(db)
    with _tampering(db) as conn:
        conn.execute(text("DELETE FROM audit_events WHERE event_id >= :i"), {"i": ids[3]})
    event, message = _broken_at(db)
    assert event == ids[-1] and "missing" in message


def test_reordered_events_are_named_at_the_first_moved_one(clinic, db):
    ids = _history(db)
    a, b = ids[1], ids[2]
    columns = [c.name for c in s.audit_events.columns if c.name != "event_id"]
    with _tampering(db) as conn:
        rows = {
            r.event_id: r._mapping
            for r in conn.execute(
                text("SELECT * FROM audit_events WHERE event_id IN (:a, :b)"), {"a": a, "b": b}
            )
        }
        sets = ", ".join(f'"{c}" = :{c}' for c in columns)
        for target, source in ((a, b), (b, a)):
            values = {c: rows[source][c] for c in columns}
            conn.execute(
                text(f"UPDATE audit_events SET {sets} WHERE event_id = :id"),
                {**values, "id": target},
            )
    assert _broken_at(db)[0] == a


def test_an_event_appended_with_a_well_computed_hash_is_named(clinic, db):
    ids = _history(db)
    with db.read() as conn:
        last = conn.execute(
            text("SELECT hash FROM audit_events WHERE event_id = :i"), {"i": ids[-1]}
        ).scalar()
    forged = {
        "at": now(),
        "actor_id": "u-olivia",
        "group_id": "g-harbour",
        "user_id": "u-fiona",
        "action": "deactivated",
        "item": None,
        "before": None,
        "after": None,
        "reason": "forged",
        "run_id": None,
        "login": "mallory",
    }
    forged["hash"] = chain_hash(last, forged)
    with db.engine.begin() as conn:
        conn.execute(s.audit_events.insert().values(event_id=ids[-1] + 1, **forged))
    event, message = _broken_at(db)
    assert event == ids[-1] + 1 and "inserted" in message


def test_an_event_inserted_in_the_middle_is_named(clinic, db):
    ids = _history(db)[:2]
    gap = ids[-1] + 100
    with db.engine.begin() as conn:
        conn.execute(
            s.audit_events.insert().values(
                event_id=gap,
                at=now(),
                actor_id="u-olivia",
                group_id="g-harbour",
                user_id="u-fiona",
                action="deactivated",
                hash="0" * 64,
            )
        )
    reactivate(db, email("frank"), "g-harbour", actor=email("ops"))  # opskit appends after it
    assert _broken_at(db)[0] == gap


@pytest.mark.parametrize("writers", [6])
def test_concurrent_writers_never_fork_the_chain(clinic, db, writers):
    """6 writers appending at once queue on the chain's head: every event chains."""
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            for i in range(10):
                with db.begin() as conn:
                    record(
                        conn,
                        at=now(),
                        actor_id="u-ops",
                        group_id="g-harbour",
                        user_id="u-peter",
                        action=Action.ACCESS_CHANGED,
                        reason=f"{n}-{i}",
                    )
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    result = verify_chain(db)
    assert result["intact"] and result["events"] == writers * 10


def test_an_exported_trail_loaded_elsewhere_stays_one_chain_and_grows_on(db, clinic, tmp_path):
    """An export loaded into an empty database verifies, and the next change chains on."""
    from opskit.dataset import export_dataset, load_dataset
    from opskit.db import connect

    _history(db)
    export_dataset(db, tmp_path / "out")
    other = connect(f"sqlite:///{tmp_path / 'other.db'}", create=True)
    try:
        load_dataset(other, tmp_path / "out")
        assert verify_chain(other)["intact"]
        deactivate(other, email("peter"), "g-harbour", actor=email("ops"))
        assert verify_chain(other)["intact"]
    finally:
        other.dispose()
