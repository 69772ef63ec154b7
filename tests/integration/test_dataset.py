"""The dataset folder: load (all or nothing), export, the demo and the synthetic generator."""

from __future__ import annotations

import csv
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from opskit import dataset, synthetic
from opskit import schema as s
from opskit.dataset import (
    DEMO_DIR,
    SPECS,
    export_dataset,
    load_dataset,
    load_demo,
    read_dataset,
)
from opskit.dataset import load as dataset_load
from opskit.dataset.files import HISTORY_SPECS, KEPT_SPECS
from opskit.db import connect
from opskit.errors import BadInput, Refused
from opskit.synthetic import generate, load_synthetic

NOW = datetime(2026, 7, 1, 9, 0, 0)


# ------------------------------------------------------------------------ helpers


def copy_demo(tmp_path: Path, name: str = "ds") -> Path:
    folder = tmp_path / name
    shutil.copytree(DEMO_DIR, folder)
    return folder


def edit_line(folder: Path, file: str, line: int, new: str) -> None:
    """Replace physical line ``line`` (header = 1) of a dataset file."""
    path = folder / file
    lines = path.read_text(encoding="utf-8").split("\n")
    lines[line - 1] = new
    path.write_text("\n".join(lines), encoding="utf-8")


def line_of(folder: Path, file: str, startswith: str) -> tuple[int, str]:
    for number, text in enumerate((folder / file).read_text().split("\n"), start=1):
        if text.startswith(startswith):
            return number, text
    raise AssertionError(f"no line starting with {startswith!r} in {file}")


def replace_field(folder: Path, file: str, startswith: str, column: str, value: str) -> int:
    """Set ``column`` of the row starting with ``startswith``; returns its line number."""
    header = (folder / file).read_text().split("\n")[0].split(",")
    number, text = line_of(folder, file, startswith)
    fields = text.split(",")
    fields[header.index(column)] = value
    edit_line(folder, file, number, ",".join(fields))
    return number


def append_line(folder: Path, file: str, text: str) -> int:
    path = folder / file
    content = path.read_text(encoding="utf-8")
    if not content.endswith("\n"):
        content += "\n"
    path.write_text(content + text + "\n", encoding="utf-8")
    return content.count("\n") + 1


def snapshot(db, tmp_path: Path) -> dict[str, object]:
    """Everything a test can see of a database: its export, plus the audit trail."""
    folder = tmp_path / f"snapshot-{len(list(tmp_path.glob('snapshot-*')))}"
    export_dataset(db, folder)
    files = {spec.file: (folder / spec.file).read_bytes() for spec in SPECS}
    with db.read() as conn:
        files["audit_events"] = conn.execute(
            sa.select(s.audit_events.c.event_id, s.audit_events.c.action)
        ).all()
        files["membership_ids"] = conn.execute(
            sa.select(s.memberships.c.membership_id).order_by(s.memberships.c.membership_id)
        ).all()
    return files


def add_audit_event(db) -> None:
    with db.begin() as conn:
        conn.execute(
            s.audit_events.insert(),
            {
                "at": NOW,
                "actor_id": "u-olivia",
                "group_id": "g-harbour",
                "user_id": "u-ivan",
                "action": "deactivated",
            },
        )


@pytest.fixture
def loaded(db, tmp_path):
    """The demo's files loaded, with one audit event, and a snapshot of it all."""
    load_dataset(db, DEMO_DIR)
    add_audit_event(db)
    return snapshot(db, tmp_path)


def rows(db, query: str, **params) -> list[tuple]:
    with db.read() as conn:
        return [tuple(r) for r in conn.execute(sa.text(query), params)]


def csv_records(folder: Path, file: str) -> list[dict[str, str]]:
    with open(folder / file, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def csv_rows(folder: Path, file: str) -> list[str]:
    lines = (folder / file).read_text(encoding="utf-8").splitlines()
    return [lines[0], *sorted(line for line in lines[1:] if line)]


# -------------------------------------------------------------------- the demo


def test_demo_loads_every_file_with_the_promised_sizes(db):
    counts = load_demo(db)
    assert counts["groups"] == 3
    assert counts["memberships"] == 30
    assert set(counts) == {spec.table for spec in SPECS}
    # every table has rows, the history ones too: the demo replays its past; what it
    # never sets (policies, operators, bulk runs) is counted, empty
    kept = {spec.table for spec in KEPT_SPECS}
    assert all(counts[t] > 0 for t in counts if t not in kept)
    assert {spec.table for spec in HISTORY_SPECS} <= set(counts)
    assert {t: counts[t] for t in kept} == dict.fromkeys(kept, 0)


def test_demo_analyst_is_a_full_access_administrator_but_no_owner_in_every_group(db):
    load_demo(db)
    assert rows(db, "SELECT email, name FROM users WHERE user_id = 'u-analyst'") == [
        ("analyst@opskit.demo", "Avery Analyst")
    ]
    memberships = rows(
        db,
        "SELECT group_id, role, access_level, account_owner, read_only, status "
        "FROM memberships WHERE user_id = 'u-analyst' ORDER BY group_id",
    )
    assert [m[0] for m in memberships] == ["g-harbour", "g-summit", "g-willow"]
    assert {m[1:] for m in memberships} == {("administrator", "full", False, False, "active")}


def test_demo_has_exactly_one_active_full_access_owner_per_group(db):
    load_demo(db)
    owners = rows(
        db,
        "SELECT group_id, user_id FROM memberships WHERE account_owner "
        "AND status = 'active' AND access_level = 'full' ORDER BY group_id",
    )
    assert owners == [("g-harbour", "u-olivia"), ("g-summit", "u-sam"), ("g-willow", "u-wendy")]


def test_demo_cast_covers_every_situation_the_tools_need(db, frozen_now):
    load_demo(db)
    level = dict(
        ((g, u), (role, lvl, ro, status))
        for g, u, role, lvl, ro, status in rows(
            db, "SELECT group_id, user_id, role, access_level, read_only, status FROM memberships"
        )
    )
    # Full Access practitioners and administrators who are not owners
    assert level[("g-harbour", "u-fiona")][:2] == ("practitioner", "full")
    assert level[("g-summit", "u-hannah")][:2] == ("administrator", "full")
    # a practitioner in two groups
    assert level[("g-harbour", "u-mia")][0] == level[("g-summit", "u-mia")][0] == "practitioner"
    # read-only members, below full
    assert level[("g-harbour", "u-rita")] == ("practitioner", "clinical", True, "active")
    assert level[("g-summit", "u-lena")] == ("administrator", "personal", True, "active")
    # inactive members, with no open session left
    inactive = {k for k, v in level.items() if v[3] == "inactive"}
    assert inactive == {("g-harbour", "u-ivan"), ("g-summit", "u-nina"), ("g-willow", "u-eve")}
    assert (
        rows(
            db,
            "SELECT s.session_id FROM sessions s JOIN memberships m USING (group_id, user_id) "
            "WHERE m.status = 'inactive' AND s.revoked_at IS NULL",
        )
        == []
    )
    # the finding: an inactive practitioner who can still be booked online
    assert rows(
        db,
        "SELECT location_id FROM booking_profiles WHERE user_id = 'u-ivan' "
        "AND directory_profile = 'public' AND online_bookings = 'enabled'",
    ) == [("l-harbour-quay",)]


def test_demo_has_dormant_members_a_never_signed_in_one_and_recent_ones(db, frozen_now):
    load_demo(db)
    cutoff = NOW - timedelta(days=90)
    active = rows(
        db,
        "SELECT user_id, joined_at, last_sign_in_at FROM memberships WHERE status = 'active'",
    )
    dormant = {u for u, _, last in active if last is not None and _as_dt(last) < cutoff}
    never = {u for u, joined, last in active if last is None and _as_dt(joined) < cutoff}
    recent = {u for u, _, last in active if last is not None and _as_dt(last) >= cutoff}
    assert dormant == {"u-bella", "u-grace", "u-zoe", "u-ruth"}
    assert never == {"u-noah", "u-paul"}
    assert len(recent) >= 15


def _as_dt(value) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def test_demo_has_pending_checklist_items_and_members_in_order(db):
    load_demo(db)
    peter = ("g-harbour", "u-peter")
    assert rows(
        db,
        "SELECT count(*) FROM booking_profiles WHERE group_id = :g AND user_id = :u "
        "AND directory_profile = 'public'",
        g=peter[0],
        u=peter[1],
    ) == [(2,)]
    assert rows(
        db,
        "SELECT kind FROM integrations WHERE group_id = :g AND user_id = :u AND enabled",
        g=peter[0],
        u=peter[1],
    ) == [("ical_feed",)]
    assert rows(
        db,
        "SELECT auto_top_up FROM credit_settings WHERE group_id = :g AND user_id = :u",
        g=peter[0],
        u=peter[1],
    ) == [(True,)]
    assert rows(
        db,
        "SELECT name FROM reminder_levels WHERE group_id = :g AND user_id = :u",
        g=peter[0],
        u=peter[1],
    ) == [("sms_and_email",)]
    # Tom (Harbour) has nothing pending: hidden profile, no integration or own settings
    for table in ("integrations", "credit_settings", "reminder_levels"):
        assert rows(db, f"SELECT count(*) FROM {table} WHERE user_id = 'u-tom'") == [(0,)]
    assert rows(
        db,
        "SELECT directory_profile, online_bookings FROM booking_profiles WHERE user_id = 'u-tom'",
    ) == [("hidden", "disabled")]


def test_demo_has_future_appointments_after_the_demo_clock(db):
    load_demo(db)
    starts = [_as_dt(r[0]) for r in rows(db, "SELECT starts_at FROM appointments")]
    assert sum(t > NOW for t in starts) >= 8
    assert sum(t < NOW for t in starts) >= 5


def test_demo_stores_times_as_naive_utc_and_emails_with_a_lower_case_key(db):
    load_demo(db)
    with db.read() as conn:
        joined = conn.execute(
            sa.select(s.memberships.c.joined_at).where(s.memberships.c.user_id == "u-olivia")
        ).scalar_one()
        keys = conn.execute(sa.select(s.users.c.email, s.users.c.email_key)).all()
    assert joined == datetime(2023, 2, 1, 9, 0, 0)
    assert all(key == email.strip().lower() for email, key in keys)


# ------------------------------------------------------------------ round trip


def test_export_then_load_round_trips_every_row_byte_for_byte(db, tmp_path):
    counts = load_demo(db)
    first = tmp_path / "first"
    export_dataset(db, first)
    # into a second database (SQLite; across backends when db is PostgreSQL)
    other = connect(f"sqlite:///{tmp_path / 'other.db'}", create=True)
    try:
        assert load_dataset(other, first) == counts
        second = tmp_path / "second"
        export_dataset(other, second)
    finally:
        other.dispose()
    for spec in SPECS:
        assert (first / spec.file).read_bytes() == (second / spec.file).read_bytes(), spec.file
        if (DEMO_DIR / spec.file).exists():  # the demo's columns, as the demo has them
            demo = csv_records(DEMO_DIR, spec.file)
            columns = list(demo[0]) if demo else []
            exported = [{c: r[c] for c in columns} for r in csv_records(first, spec.file)]
            if spec.file == "sessions.csv":  # and the sessions of its past before them
                ids = {r["session_id"] for r in demo}
                exported = [r for r in exported if r["session_id"] in ids]
            key = lambda r: tuple(r.values())  # noqa: E731
            assert sorted(exported, key=key) == sorted(demo, key=key), spec.file
    assert (first / "manifest.json").read_bytes() == (second / "manifest.json").read_bytes()


def test_export_writes_times_with_z_booleans_as_words_and_null_as_empty(db, tmp_path):
    load_demo(db)
    export_dataset(db, tmp_path / "out")
    memberships = (tmp_path / "out" / "memberships.csv").read_text().splitlines()
    noah = next(line for line in memberships if ",u-noah," in line)
    assert noah == (
        "g-harbour,u-noah,practitioner,own_records_and_contacts,false,false,active,"
        "2025-09-01T09:00:00Z,,,,"
    )
    credit = (tmp_path / "out" / "credit_settings.csv").read_text().splitlines()
    assert credit[1] == "g-harbour,,true,50.00"


def test_export_of_an_empty_database_writes_headers_only(db, tmp_path):
    counts = export_dataset(db, tmp_path / "empty")
    assert set(counts.values()) == {0}
    header = (tmp_path / "empty" / "memberships.csv").read_text()
    assert header == ",".join(dataset.SPEC["memberships"].names) + "\n"


def test_a_file_with_bom_crlf_quotes_and_blank_lines_loads(db, tmp_path):
    folder = copy_demo(tmp_path)
    path = folder / "locations.csv"
    text = path.read_text().replace("Quay Street Clinic", '"Quay Street Clinic, Level 2"')
    path.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode() + b"\r\n\r\n")
    users = folder / "users.csv"
    users.write_text(users.read_text().replace("u-olivia,olivia", "u-olivia,  olivia") + "\n\n")
    load_dataset(db, folder)
    assert rows(db, "SELECT name FROM locations WHERE location_id = 'l-harbour-quay'") == [
        ("Quay Street Clinic, Level 2",)
    ]
    assert rows(db, "SELECT email FROM users WHERE user_id = 'u-olivia'") == [
        ("olivia.hart@harbourphysio.example",)
    ]


def test_text_with_commas_quotes_and_line_breaks_round_trips(db, tmp_path):
    folder = copy_demo(tmp_path)
    path = folder / "locations.csv"
    odd = 'Quay "Old" Street,\r\nLevel 2\rRear'
    quoted = '"' + odd.replace('"', '""') + '"'
    path.write_bytes(path.read_bytes().replace(b"Quay Street Clinic", quoted.encode()))
    load_dataset(db, folder)
    assert rows(db, "SELECT name FROM locations WHERE location_id = 'l-harbour-quay'") == [(odd,)]
    export_dataset(db, tmp_path / "out")
    load_dataset(db, tmp_path / "out", replace=True)
    assert rows(db, "SELECT name FROM locations WHERE location_id = 'l-harbour-quay'") == [(odd,)]


def test_missing_optional_files_load_as_empty_tables(db, tmp_path):
    folder = copy_demo(tmp_path)
    for spec in SPECS:
        if spec.table not in ("groups", "users", "memberships"):
            (folder / spec.file).unlink(missing_ok=True)
    counts = load_dataset(db, folder)
    assert counts["memberships"] == 30
    assert counts["sessions"] == 0


# ------------------------------------------------------------------- bad input

BAD_INPUTS = {
    # name: (edit(folder) -> expected line, file, column, words in the message)
    "bad enum": (
        lambda f: replace_field(f, "memberships.csv", "g-harbour,u-rita,", "access_level", "fuul"),
        "memberships.csv",
        "access_level",
        "'fuul' is not a level for a practitioner "
        "(personal, own_records_and_contacts, clinical, full)",
    ),
    "bad role": (
        lambda f: replace_field(f, "memberships.csv", "g-summit,u-leo,", "role", "doctor"),
        "memberships.csv",
        "role",
        "'doctor' is not a role (practitioner, administrator)",
    ),
    "bad bool": (
        lambda f: replace_field(f, "integrations.csv", "g-harbour,u-mia,", "enabled", "yes"),
        "integrations.csv",
        "enabled",
        "'yes' is not a boolean (true or false)",
    ),
    "bad time": (
        lambda f: replace_field(
            f, "sessions.csv", "s-summit-03,", "started_at", "2026-13-01T00:00:00Z"
        ),
        "sessions.csv",
        "started_at",
        "'2026-13-01T00:00:00Z' is not an ISO 8601 time",
    ),
    "reduced time": (
        lambda f: replace_field(f, "appointments.csv", "a-willow-002,", "starts_at", "2026-06"),
        "appointments.csv",
        "starts_at",
        "'2026-06' is not an ISO 8601 time",
    ),
    "bad amount": (
        lambda f: replace_field(
            f, "credit_settings.csv", "g-summit,u-zoe,", "trigger_balance", "fifteen"
        ),
        "credit_settings.csv",
        "trigger_balance",
        "'fifteen' is not an amount",
    ),
    "missing value": (
        lambda f: replace_field(f, "users.csv", "u-kai,", "name", ""),
        "users.csv",
        "name",
        "a value is required",
    ),
    "unknown group": (
        lambda f: replace_field(f, "sessions.csv", "s-willow-03,", "group_id", "g-nowhere"),
        "sessions.csv",
        "group_id",
        "unknown group 'g-nowhere' (not in groups.csv)",
    ),
    "unknown practitioner": (
        lambda f: replace_field(
            f, "patient_records.csv", "r-summit-002,", "practitioner_id", "u-ghost"
        ),
        "patient_records.csv",
        "practitioner_id",
        "unknown user 'u-ghost' (not in users.csv)",
    ),
    "not a member": (
        lambda f: replace_field(f, "booking_profiles.csv", "g-willow,u-dan,", "user_id", "u-leo"),
        "booking_profiles.csv",
        "user_id",
        "'u-leo' is not a member of group 'g-willow'",
    ),
    "location of another group": (
        lambda f: replace_field(
            f, "booking_profiles.csv", "g-willow,u-dan,", "location_id", "l-summit-main"
        ),
        "booking_profiles.csv",
        "location_id",
        "location 'l-summit-main' belongs to group 'g-summit', not 'g-willow'",
    ),
    "booking profile of an administrator": (
        lambda f: append_line(
            f, "booking_profiles.csv", "g-harbour,u-frank,l-harbour-quay,hidden,disabled"
        ),
        "booking_profiles.csv",
        "user_id",
        "'u-frank' is an administrator in group 'g-harbour'; "
        "booking profiles are for practitioners",
    ),
    "duplicate email differing in case": (
        lambda f: append_line(f, "users.csv", "u-olivia2, Olivia.Hart@HarbourPhysio.example ,O H"),
        "users.csv",
        "email",
        "'Olivia.Hart@HarbourPhysio.example' is the same email as "
        "'olivia.hart@harbourphysio.example' on line 3 (emails are case-insensitive)",
    ),
    "duplicate membership": (
        lambda f: append_line(
            f,
            "memberships.csv",
            "g-summit,u-kai,practitioner,clinical,false,false,active,2025-06-02T09:00:00Z,",
        ),
        "memberships.csv",
        "user_id",
        "'u-kai' is already a member of group 'g-summit'",
    ),
    "second group row": (
        lambda f: append_line(f, "reminder_levels.csv", "g-willow,,standard"),
        "reminder_levels.csv",
        "user_id",
        "a second group row for group 'g-willow'",
    ),
    "read only on full": (
        lambda f: replace_field(f, "memberships.csv", "g-summit,u-hannah,", "read_only", "true"),
        "memberships.csv",
        "read_only",
        "a Full Access member cannot be read-only; lower the access level first",
    ),
    "owner below full": (
        lambda f: replace_field(
            f, "memberships.csv", "g-harbour,u-peter,", "account_owner", "TRUE"
        ),
        "memberships.csv",
        "account_owner",
        "an account owner needs Full Access (full), not 'clinical'",
    ),
    "open session of an inactive member": (
        lambda f: replace_field(f, "sessions.csv", "s-harbour-10,", "revoked_at", ""),
        "sessions.csv",
        "revoked_at",
        "'u-ivan' is inactive in group 'g-harbour', so this session must be revoked",
    ),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_one_bad_row_loads_nothing_and_names_file_line_and_column(case, db, loaded, tmp_path):
    edit, file, column, message = BAD_INPUTS[case]
    folder = copy_demo(tmp_path)
    line = edit(folder)
    with pytest.raises(BadInput) as caught:
        load_dataset(db, folder, replace=True)
    error = caught.value
    assert (error.file, error.line, error.column) == (file, line, column)
    assert str(error).startswith(f"{file}:{line}, column {column}: {message}")
    assert "\n" not in str(error)
    assert snapshot(db, tmp_path) == loaded


def test_the_documented_example_message_is_exact(tmp_path):
    folder = copy_demo(tmp_path)
    line = replace_field(folder, "memberships.csv", "g-harbour,u-rita,", "access_level", "fuul")
    assert line == 7
    with pytest.raises(BadInput) as caught:
        read_dataset(folder)
    assert str(caught.value) == (
        "memberships.csv:7, column access_level: 'fuul' is not a level for a practitioner "
        "(personal, own_records_and_contacts, clinical, full)"
    )


def test_the_first_bad_value_is_reported_when_there_are_several(tmp_path):
    folder = copy_demo(tmp_path)
    replace_field(folder, "memberships.csv", "g-willow,u-dan,", "status", "gone")
    replace_field(folder, "memberships.csv", "g-summit,u-leo,", "joined_at", "soon")
    later = replace_field(folder, "memberships.csv", "g-summit,u-leo,", "status", "away")
    with pytest.raises(BadInput) as caught:
        read_dataset(folder)
    assert (caught.value.line, caught.value.column) == (later, "status")


def test_a_group_without_an_active_owner_is_refused_naming_the_group(db, loaded, tmp_path):
    folder = copy_demo(tmp_path)
    replace_field(folder, "memberships.csv", "g-summit,u-sam,", "account_owner", "false")
    with pytest.raises(BadInput) as caught:
        load_dataset(db, folder, replace=True, keep_audit=False)
    assert caught.value.file == "memberships.csv"
    assert "group 'g-summit' (Summit Sports Medicine) has no active account owner" in str(
        caught.value
    )
    assert snapshot(db, tmp_path) == loaded


def test_a_group_whose_full_access_members_are_all_inactive_is_refused(db, loaded, tmp_path):
    folder = copy_demo(tmp_path)
    for session, user in (("s-willow-01", "u-wendy"), ("s-willow-02", "u-analyst")):
        replace_field(folder, "memberships.csv", f"g-willow,{user},", "status", "inactive")
        replace_field(folder, "sessions.csv", f"{session},", "revoked_at", "2026-06-30T14:00:00Z")
    with pytest.raises(BadInput) as caught:
        load_dataset(db, folder, replace=True, keep_audit=False)
    assert (caught.value.file, caught.value.column) == ("memberships.csv", "access_level")
    assert "group 'g-willow' (Willow Creek Psychology) has no active Full Access member" in str(
        caught.value
    )
    assert snapshot(db, tmp_path) == loaded


def test_a_missing_column_is_named(db, loaded, tmp_path):
    folder = copy_demo(tmp_path)
    path = folder / "memberships.csv"
    table = [line.split(",") for line in path.read_text().strip().split("\n")]
    path.write_text("\n".join(",".join(r[:6] + r[7:]) for r in table) + "\n")
    with pytest.raises(BadInput) as caught:
        load_dataset(db, folder, replace=True)
    assert (caught.value.file, caught.value.line, caught.value.column) == (
        "memberships.csv",
        1,
        "status",
    )
    assert snapshot(db, tmp_path) == loaded


def test_an_unexpected_column_is_named(tmp_path):
    folder = copy_demo(tmp_path)
    path = folder / "groups.csv"
    path.write_text(
        "\n".join(
            line + (",country" if i == 0 else ",NZ")
            for i, line in enumerate(path.read_text().strip().split("\n"))
        )
    )
    with pytest.raises(BadInput) as caught:
        read_dataset(folder)
    assert (caught.value.file, caught.value.line, caught.value.column) == (
        "groups.csv",
        1,
        "country",
    )


def test_a_ragged_row_is_named_by_its_line(db, loaded, tmp_path):
    folder = copy_demo(tmp_path)
    number, text = line_of(folder, "sessions.csv", "s-harbour-03,")
    edit_line(folder, "sessions.csv", number, text + ",extra")
    with pytest.raises(BadInput) as caught:
        load_dataset(db, folder, replace=True)
    assert (caught.value.file, caught.value.line) == ("sessions.csv", number)
    assert "has 7 fields where the header has 6" in str(caught.value)
    assert snapshot(db, tmp_path) == loaded


def test_a_short_row_after_a_quoted_multi_line_field_is_named_by_its_physical_line(tmp_path):
    folder = copy_demo(tmp_path)
    path = folder / "locations.csv"
    text = path.read_text().replace("Quay Street Clinic", '"Quay Street Clinic\nLevel 2"')
    text = text.replace("l-summit-arena,g-summit,Arena Sports Clinic", "l-summit-arena,g-summit")
    path.write_text(text)
    number = text.split("\n").index("l-summit-arena,g-summit") + 1
    with pytest.raises(BadInput) as caught:
        read_dataset(folder)
    assert (caught.value.file, caught.value.line) == ("locations.csv", number)


def test_a_bad_value_after_a_multi_line_field_gets_the_physical_line(tmp_path):
    folder = copy_demo(tmp_path)
    path = folder / "locations.csv"
    text = path.read_text().replace("Quay Street Clinic", '"Quay Street Clinic\nLevel 2"')
    text = text.replace("l-willow-rooms,g-willow", "l-willow-rooms,g-elsewhere")
    path.write_text(text)
    number = next(i for i, line in enumerate(text.split("\n"), start=1) if "g-elsewhere" in line)
    with pytest.raises(BadInput) as caught:
        read_dataset(folder)
    assert (caught.value.line, caught.value.column) == (number, "group_id")
    assert number == 7


def test_a_file_that_is_not_utf8_is_named_with_its_line(db, loaded, tmp_path):
    folder = copy_demo(tmp_path)
    path = folder / "users.csv"
    lines = path.read_bytes().split(b"\n")
    lines[4] = lines[4].replace(b"Peter", "Péter".encode("latin-1"))
    path.write_bytes(b"\n".join(lines))
    with pytest.raises(BadInput) as caught:
        load_dataset(db, folder, replace=True)
    assert (caught.value.file, caught.value.line) == ("users.csv", 5)
    assert "UTF-8" in str(caught.value)
    assert snapshot(db, tmp_path) == loaded


def test_a_file_that_is_not_csv_is_refused(tmp_path):
    folder = copy_demo(tmp_path)
    (folder / "groups.csv").write_bytes(b"\x00\x01binary\x00")
    with pytest.raises(BadInput) as caught:
        read_dataset(folder)
    assert caught.value.file == "groups.csv"
    (folder / "groups.csv").write_text("")
    with pytest.raises(BadInput, match="empty"):
        read_dataset(folder)
    (folder / "groups.csv").write_text('group_id,name\n"g-x,Unclosed\n')
    with pytest.raises(BadInput) as caught:
        read_dataset(folder)
    assert caught.value.file == "groups.csv"


def test_a_missing_folder_or_required_file_is_bad_input(db, loaded, tmp_path):
    with pytest.raises(BadInput, match="does not exist"):
        load_dataset(db, tmp_path / "nowhere", replace=True)
    folder = copy_demo(tmp_path)
    (folder / "memberships.csv").unlink()
    with pytest.raises(BadInput) as caught:
        load_dataset(db, folder, replace=True)
    assert caught.value.file == "memberships.csv"
    assert snapshot(db, tmp_path) == loaded


# --------------------------------------------------------------------- replace


def test_loading_into_a_database_with_data_is_refused_without_replace(db, loaded, tmp_path):
    with pytest.raises(BadInput, match="holds data already; use --replace"):
        load_dataset(db, DEMO_DIR)
    assert snapshot(db, tmp_path) == loaded


def test_replace_refuses_to_drop_audit_events_the_folder_does_not_hold(db, loaded, tmp_path):
    folder = copy_demo(tmp_path)
    with pytest.raises(Refused) as caught:
        load_dataset(db, folder, replace=True)
    assert str(caught.value).startswith(
        "--replace would drop 1 audit event the dataset folder does not hold"
    )
    assert snapshot(db, tmp_path) == loaded


def test_replace_swaps_the_whole_content_when_the_folder_holds_the_audit_trail(
    db, loaded, tmp_path
):
    folder = tmp_path / "exported"
    export_dataset(db, folder)
    for file in ("sessions.csv", "appointments.csv"):
        path = folder / file
        path.write_text(path.read_text().split("\n")[0] + "\n")
    (folder / "manifest.json").unlink()  # hand-edited: no manifest to check
    counts = load_dataset(db, folder, replace=True)
    assert counts["sessions"] == 0
    assert rows(db, "SELECT count(*) FROM sessions") == [(0,)]
    assert rows(db, "SELECT count(*) FROM audit_events") == [(1,)]
    assert rows(db, "SELECT count(*) FROM memberships") == [(30,)]


def test_a_failure_while_writing_leaves_the_old_content(db, loaded, tmp_path, monkeypatch):
    original = dataset_load._insert

    def failing(conn, dialect, table, frame):
        if table == "sessions":
            raise RuntimeError("disk full")
        original(conn, dialect, table, frame)

    monkeypatch.setattr(dataset_load, "_insert", failing)
    with pytest.raises(RuntimeError):
        load_dataset(db, DEMO_DIR, replace=True, keep_audit=False)
    monkeypatch.undo()
    assert snapshot(db, tmp_path) == loaded


def test_the_database_still_refuses_a_broken_reference_that_skipped_validation(
    db, loaded, tmp_path
):
    frames = read_dataset(DEMO_DIR)
    frames["sessions"].loc[0, "user_id"] = "u-ghost"  # as if validation had missed it
    with pytest.raises(BadInput, match="sessions.*nothing was loaded"):
        dataset.write_frames(db, frames, replace=True)
    assert snapshot(db, tmp_path) == loaded
    if db.dialect == "sqlite":  # enforcement is back on for everything else
        with db.read() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


# ------------------------------------------------------------------- synthetic


def test_synthetic_data_is_reproducible_from_the_seed():
    first, again = generate(2000, 7, NOW), generate(2000, 7, NOW)
    for table in first:
        pd.testing.assert_frame_equal(first[table], again[table])
    other = generate(2000, 8, NOW)
    assert not first["memberships"].equals(other["memberships"])


def test_synthetic_data_passes_full_validation_after_an_export(db, tmp_path, frozen_now):
    counts = load_synthetic(db, members=2000, seed=7)
    assert counts["memberships"] == 2000
    export_dataset(db, tmp_path / "syn")
    frames = read_dataset(tmp_path / "syn")  # every rule of load_dataset
    assert {t: len(f) for t, f in frames.items()} == counts


def test_synthetic_data_has_the_promised_shape():
    frames = generate(2000, 7, NOW)
    m = frames["memberships"]
    groups = frames["groups"]["group_id"]
    analyst = m[m["user_id"] == synthetic.ANALYST_ID]
    assert len(analyst) == len(groups)
    assert set(analyst["role"]) == {"administrator"}
    assert set(analyst["access_level"]) == {"full"} and not analyst["account_owner"].any()
    owners = m[m["account_owner"]]
    assert sorted(owners["group_id"]) == sorted(groups)
    assert set(owners["access_level"]) == {"full"} and set(owners["status"]) == {"active"}
    sizes = m.groupby("group_id").size()
    assert sizes.max() >= 10 * sizes.median()  # a few big networks, many small practices
    regular = m[(m["user_id"] != synthetic.ANALYST_ID) & ~m["account_owner"]]
    assert 0.6 < (regular["role"] == "practitioner").mean() < 0.8
    assert (regular["access_level"] == "full").mean() < 0.15
    assert 0.01 < m["read_only"].mean() < 0.06
    assert 0.05 < (m["status"] == "inactive").mean() < 0.12
    groups_per_user = m[m["user_id"] != synthetic.ANALYST_ID].groupby("user_id").size()
    assert set(groups_per_user.unique()) == {1, 2, 3}
    last = m["last_sign_in_at"]
    assert last.isna().any()
    assert (last < pd.Timestamp(NOW - timedelta(days=90))).any()
    assert (frames["appointments"]["starts_at"] > pd.Timestamp(NOW)).any()
    sessions = frames["sessions"].merge(m, on=["group_id", "user_id"])
    assert sessions.loc[sessions["status"] == "inactive", "revoked_at"].notna().all()
    assert sessions["revoked_at"].isna().any()
    for table in ("booking_profiles", "integrations", "export_grants", "patient_records"):
        assert len(frames[table]) > 0, table
    individual = frames["credit_settings"]["user_id"].notna()
    assert individual.any() and (~individual).sum() == len(groups)


def test_synthetic_diaries_never_book_a_practitioner_twice_at_one_time_across_groups():
    """Hand-off rule: one person's diary spans all their groups, so generated data has
    nobody booked twice at one time, also someone practising in two or three groups."""
    frames = generate(20000, 7, NOW)
    booked = frames["appointments"][frames["appointments"]["status"] == "booked"]
    ahead = booked[booked["starts_at"] > pd.Timestamp(NOW)]
    m = frames["memberships"]
    practising = m[(m["role"] == "practitioner") & (m["status"] == "active")]
    in_several = practising.groupby("user_id").size().loc[lambda n: n > 1].index
    assert ahead["practitioner_id"].isin(in_several).sum() > 1000  # the case is there
    assert not booked.duplicated(["practitioner_id", "starts_at"]).any()
    assert frames["appointments"]["appointment_id"].is_unique


def test_synthetic_needs_at_least_three_members():
    with pytest.raises(BadInput, match="at least 3"):
        generate(2, 1, NOW)
    assert len(generate(3, 1, NOW)["memberships"]) == 3
