"""The raw-SQL floor for bulk offboarding on PostgreSQL: ``benchmarks/floor.py`` (the
shared yardstick) written the same way for the server. The contract's dataset is loaded
into text tables of a fresh database (``COPY``, the same indexes, then ``ANALYZE``), and
the same handful of set-based statements reach the same logical end state as
``opskit offboard apply --resolve-checklist`` in one transaction. Prints the seconds of
the offboarding only, as JSON like floor.py's.

usage: pg_floor.py DATASET_DIR TARGETS_CSV(email,group) --url postgresql://.../DBNAME
(the database DBNAME is dropped and created; the server's ``postgres`` database is used
to do that)
"""

import csv
import json
import sys
import time
from pathlib import Path

import psycopg

NOW, ACTOR = "2026-11-27T12:00:00Z", "ops"
MEMBER_TABLES = (
    "memberships",
    "sessions",
    "booking_profiles",
    "integrations",
    "credit_settings",
    "reminder_levels",
)


def fresh(url: str) -> None:
    info = psycopg.conninfo.conninfo_to_dict(url)
    name = info["dbname"]
    admin = psycopg.conninfo.make_conninfo(url, dbname="postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def load(db: psycopg.Connection, folder: str) -> None:
    for path in sorted(Path(folder).glob("*.csv")):
        with open(path, newline="", encoding="utf-8-sig") as fh:
            head = next(csv.reader(fh))
        table = path.stem
        columns = ", ".join(f"{c} text" for c in head)
        db.execute(f'create table "{table}" (rowid_ bigserial primary key, {columns})')
        with (
            db.cursor().copy(
                f'copy "{table}" ({", ".join(head)}) from stdin with (format csv, header true)'
            ) as copy,
            open(path, "rb") as data,
        ):
            while block := data.read(1 << 20):
                copy.write(block)
    for table in MEMBER_TABLES:
        db.execute(f"create index ix_{table} on {table}(group_id, user_id)")
    db.execute("create unique index ux_users_email on users(lower(email))")
    db.execute(
        "create table audit(at text, actor text, group_id text, user_id text, action text, "
        "before text, after text)"
    )
    db.execute("create table snapshots(group_id text, user_id text, body text)")


def offboard(db: psycopg.Connection, targets: list[tuple[str, str]]) -> None:
    db.execute("create temp table t(group_id text, user_id text, primary key(group_id, user_id))")
    with db.cursor() as cur:
        cur.executemany(
            "insert into t select %s, user_id from users where lower(email) = lower(%s) "
            "on conflict do nothing",
            [(g, e) for e, g in targets],
        )
    db.execute("analyze t")
    m = "(group_id, user_id) in (select group_id, user_id from t)"

    def agg(expr: str, table: str, alias: str) -> str:
        return (
            f"(select coalesce(json_agg({expr}), '[]'::json) from {table} {alias} "
            f"where {alias}.group_id = t.group_id and {alias}.user_id = t.user_id)"
        )

    db.execute(
        "insert into snapshots select group_id, user_id, json_build_object("
        f"'b', {agg('json_build_array(location_id, directory_profile, online_bookings)', 'booking_profiles', 'b')}, "  # noqa: E501
        f"'i', {agg('json_build_array(kind, enabled)', 'integrations', 'i')}, "
        f"'c', {agg('auto_top_up', 'credit_settings', 'c')}, "
        f"'r', {agg('name', 'reminder_levels', 'r')})::text from t"
    )
    db.execute(f"update memberships set status='inactive' where {m} and status='active'")
    db.execute(f"update sessions set revoked_at=%s where {m} and revoked_at=''", (NOW,))
    db.execute(
        "update booking_profiles set directory_profile='hidden', online_bookings='disabled' "
        f"where {m}"
    )
    db.execute(f"update integrations set enabled='false' where {m} and enabled='true'")
    db.execute(f"update credit_settings set auto_top_up='false' where {m} and auto_top_up='true'")
    db.execute(f"delete from reminder_levels where {m}")
    db.execute(
        "insert into audit select %s, %s, group_id, user_id, 'deactivated', 'active', "
        "'inactive' from t",
        (NOW, ACTOR),
    )
    for item in ("online_booking", "integrations", "credits_auto_top_up", "appointment_reminders"):
        db.execute(
            "insert into audit select %s, %s, group_id, user_id, 'checklist_resolved', %s, "
            "null from t",
            (NOW, ACTOR, item),
        )


def main(argv: list[str]) -> None:
    data, targets_csv = argv[1], argv[2]
    url = argv[argv.index("--url") + 1]
    fresh(url)
    with psycopg.connect(url) as db:
        load(db, data)
        db.commit()
        db.autocommit = True
        db.execute("analyze")
        db.autocommit = False
        with open(targets_csv, newline="") as f:
            targets = [(r["email"], r["group"]) for r in csv.DictReader(f)]
        start = time.perf_counter()
        offboard(db, targets)
        db.commit()
        seconds = time.perf_counter() - start
        n = db.execute("select count(*) from memberships where status='inactive'").fetchone()
    fresh_drop(url)
    print(json.dumps({"targets": len(targets), "deactivated": n[0], "floor_s": round(seconds, 3)}))


def fresh_drop(url: str) -> None:
    name = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
    admin = psycopg.conninfo.make_conninfo(url, dbname="postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main(sys.argv)
