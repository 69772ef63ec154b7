# Vendored from the shared yardstick ../shared/perf/floor.py (issue 20): CI and wheels do
# not have ../shared. Unchanged but for this note, formatting and --db PATH (default
# /tmp/floor.db, as the original), so that two benchmarks never share one file.
"""The raw-SQL floor for bulk offboarding: the same logical end state as
`opskit offboard apply --resolve-checklist`, written as a handful of set-based statements
in one SQLite transaction over the contract's dataset. Prints seconds for the offboarding only.
usage: floor.py DATASET_DIR TARGETS_CSV(email,group)"""

import csv, json, sqlite3, sys, time
from pathlib import Path


def load(db, d):
    d = Path(d)
    for f in sorted(d.glob("*.csv")):
        with open(f, newline="", encoding="utf-8-sig") as fh:
            r = csv.reader(fh)
            head = next(r)
            t = f.stem
            db.execute(
                f'create table "{t}" (rowid_ integer primary key, {", ".join(c + " text" for c in head)})'
            )
            db.executemany(
                f'insert into "{t}" ({", ".join(head)}) values ({", ".join("?" * len(head))})', r
            )
    for t in (
        "memberships",
        "sessions",
        "booking_profiles",
        "integrations",
        "credit_settings",
        "reminder_levels",
    ):
        db.execute(f"create index ix_{t} on {t}(group_id, user_id)")
    db.execute("create unique index ux_users_email on users(email collate nocase)")
    db.execute(
        "create table audit(at text, actor text, group_id text, user_id text, action text, before text, after text)"
    )
    db.execute("create table snapshots(group_id text, user_id text, body text)")


def offboard(db, targets, actor, now):
    db.execute("create temp table t(group_id text, user_id text, primary key(group_id, user_id))")
    db.executemany(
        "insert or ignore into t select ?, user_id from users where email = ? collate nocase",
        ((g, e) for e, g in targets),
    )
    m = "(group_id, user_id) in (select group_id, user_id from t)"
    db.execute(f"""insert into snapshots select group_id, user_id, json_object('b', (select json_group_array(json_array(location_id, directory_profile, online_bookings)) from booking_profiles b where b.group_id=t.group_id and b.user_id=t.user_id),
                 'i', (select json_group_array(json_array(kind, enabled)) from integrations i where i.group_id=t.group_id and i.user_id=t.user_id),
                 'c', (select json_group_array(auto_top_up) from credit_settings c where c.group_id=t.group_id and c.user_id=t.user_id),
                 'r', (select json_group_array(name) from reminder_levels r where r.group_id=t.group_id and r.user_id=t.user_id)) from t""")
    db.execute(f"update memberships set status='inactive' where {m} and status='active'")
    db.execute(f"update sessions set revoked_at=? where {m} and revoked_at=''", (now,))
    db.execute(
        f"update booking_profiles set directory_profile='hidden', online_bookings='disabled' where {m}"
    )
    db.execute(f"update integrations set enabled='false' where {m} and enabled='true'")
    db.execute(f"update credit_settings set auto_top_up='false' where {m} and auto_top_up='true'")
    db.execute(f"delete from reminder_levels where {m}")
    db.execute(
        "insert into audit select ?, ?, group_id, user_id, 'deactivated', 'active', 'inactive' from t",
        (now, actor),
    )
    for item in ("online_booking", "integrations", "credits_auto_top_up", "appointment_reminders"):
        db.execute(
            "insert into audit select ?, ?, group_id, user_id, 'checklist_resolved', ?, null from t",
            (now, actor, item),
        )


if __name__ == "__main__":
    data, targets_csv = sys.argv[1], sys.argv[2]
    path = sys.argv[sys.argv.index("--db") + 1] if "--db" in sys.argv else "/tmp/floor.db"
    db = sqlite3.connect(":memory:" if "--memory" in sys.argv else path, isolation_level=None)
    if "--memory" not in sys.argv:
        db.close()
        Path(path).unlink(missing_ok=True)
        db = sqlite3.connect(path, isolation_level=None)
    db.execute("pragma journal_mode=wal")
    db.execute("pragma synchronous=normal")
    db.execute("begin")
    load(db, data)
    db.execute("commit")
    with open(targets_csv, newline="") as f:
        targets = [(r["email"], r["group"]) for r in csv.DictReader(f)]
    t0 = time.perf_counter()
    db.execute("begin")
    offboard(db, targets, "ops", "2026-11-27T12:00:00Z")
    db.execute("commit")
    dt = time.perf_counter() - t0
    n = db.execute("select count(*) from memberships where status='inactive'").fetchone()[0]
    print(json.dumps({"targets": len(targets), "deactivated": n, "floor_s": round(dt, 3)}))
