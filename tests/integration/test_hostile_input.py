"""Hostile and malformed input: never a traceback, exit 2 naming the place, nothing changed;
text that looks like SQL, quotes, control characters, unicode and very long text is
stored verbatim and never executed (R11, R12).

Covered: the offboarding CSV reader (any bytes; spreadsheet cells), the dataset loader
(a small valid folder with one thing damaged), every command's arguments, database
URLs, and reasons, emails, names and group names round-tripped through the database.

Property-based with hypothesis. The suite runs a modest number of examples; ``make
stress`` sets ``OPSKIT_HYPOTHESIS_PROFILE=stress`` for many more.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opskit import schema as s
from opskit.audit import audit_events
from opskit.cli import cli
from opskit.db import connect
from opskit.errors import BadInput
from opskit.lifecycle import deactivate, reactivate
from opskit.offboard import parse_csv, read_bytes

from ..scenarios import build_clinic

settings.register_profile(
    "opskit-suite",
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.register_profile(
    "opskit-stress",
    max_examples=1000,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
PROFILE = "opskit-" + os.environ.get("OPSKIT_HYPOTHESIS_PROFILE", "suite")
fuzz = settings(settings.get_profile(PROFILE))

HOSTILE = [
    "'; DROP TABLE users; --",
    '"; DELETE FROM audit_events; --',
    "Robert'); DROP TABLE memberships;--",
    "1 OR 1=1",
    "' OR ''='",
    "%s %(reason)s {0} ${HOME} `id`",
    'O\'Brien "the" \\ backslash',
    "tab\there, newline\nthere, carriage\rreturn, bell\x07, escape\x1b[31m",
    "\u202eright-to-left\u202c, zero\u200bwidth, combining e\u0301",
    "日本語のテキスト, emoji 🩺💉, Ελληνικά, العربية",
    "x" * 100_000,
]
# what argv can carry: any text but NUL and lone surrogates
ARG_TEXT = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"))
STORABLE = ARG_TEXT  # PostgreSQL text cannot hold NUL (see the NUL test below)


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


def assert_clean_exit(result, *, allowed=(0, 1, 2)) -> None:
    """Never an internal error (exit 3), never a traceback; a refusal is one line."""
    assert result.exit_code in allowed, (result.exit_code, result.stderr, result.exception)
    assert "Traceback" not in result.stderr + result.stdout
    if result.exit_code != 0:
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def fingerprint(db) -> str:
    """A hash of every row of every table: equal means nothing changed."""
    digest = hashlib.sha256()
    with db.read() as conn:
        for table in s.metadata.sorted_tables:
            key = [c for c in table.primary_key.columns] or list(table.columns)
            for row in conn.execute(sa.select(table).order_by(*key)):
                digest.update(repr(tuple(row)).encode())
    return digest.hexdigest()


# ------------------------------------------------------------------------ the clinic DB


@pytest.fixture(scope="module")
def clinic_template(tmp_path_factory):
    """The clinic scenario in an SQLite file, built once; each test copies it."""
    path = tmp_path_factory.mktemp("hostile") / "clinic.db"
    os.environ.setdefault("OPSKIT_NOW", "2026-07-01T09:00:00Z")
    db = connect(f"sqlite:///{path}", create=True)
    build_clinic(db)
    db.dispose()
    return path


@pytest.fixture
def clinic_url(clinic_template, tmp_path, monkeypatch):
    monkeypatch.setenv("OPSKIT_NOW", "2026-07-01T09:00:00Z")
    path = tmp_path / "clinic.db"
    shutil.copy(clinic_template, path)
    url = f"sqlite:///{path}"
    monkeypatch.setenv("OPSKIT_DATABASE_URL", url)
    return url


@pytest.fixture
def clinic_db(clinic_url):
    db = connect(clinic_url)
    yield db
    db.dispose()


# --------------------------------------------------------------- the offboarding CSV reader


@fuzz
@given(data=st.binary(max_size=2000))
def test_any_bytes_as_an_offboarding_csv_give_targets_or_bad_input_naming_the_file(data):
    try:
        targets = read_bytes(data, name="leavers.csv")
    except BadInput as error:
        assert str(error).startswith("leavers.csv"), str(error)
        assert error.line is not None
        return
    for target in targets:
        assert target.email.count("@") == 1


CELL = st.one_of(st.sampled_from(HOSTILE[:-1]), st.text(max_size=40))


@fuzz
@given(
    rows=st.lists(st.tuples(CELL, CELL, CELL), max_size=8),
    delimiter=st.sampled_from([",", ";"]),
    bom=st.booleans(),
    crlf=st.booleans(),
)
def test_a_spreadsheet_csv_of_hostile_cells_reads_verbatim_or_names_line_and_column(
    rows, delimiter, bom, crlf
):
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n" if crlf else "\n")
    writer.writerow(["Email", "Group", "Reason"])
    writer.writerows(rows)
    text = ("\ufeff" if bom else "") + out.getvalue()
    try:
        targets = parse_csv(text, name="leavers.csv")
    except BadInput as error:
        assert str(error).startswith("leavers.csv:"), str(error)
        assert error.line is not None and error.line >= 2
        return
    kept = [r for r in rows if any(cell.strip() for cell in r)]
    assert len(targets) == len(kept)
    for target, (email, group, reason) in zip(targets, kept, strict=True):
        assert target.email == email.replace("\ufeff", "").strip()
        assert target.group == (group.replace("\ufeff", "").strip() or None)
        assert target.reason == (reason.replace("\ufeff", "").strip() or None)


@fuzz
@given(data=st.binary(max_size=600) | st.text(max_size=300).map(str.encode))
def test_opskit_offboard_plan_of_any_file_exits_0_or_2_and_changes_nothing(
    clinic_url, clinic_db, tmp_path, data
):
    before = fingerprint(clinic_db)
    csv_file = tmp_path / "leavers.csv"
    csv_file.write_bytes(b"email,group,reason\n" + data if data[:1] == b"+" else data)
    result = invoke(
        "offboard",
        "plan",
        str(csv_file),
        "--actor",
        "ops@example.test",
        "--out",
        str(tmp_path / "plan.json"),
        "--db",
        clinic_url,
    )
    assert_clean_exit(result, allowed=(0, 2))
    if result.exit_code == 2:
        assert str(csv_file) in result.stderr
    assert fingerprint(clinic_db) == before


# ---------------------------------------------------------------------- command arguments

# command lines with one or more hostile values; ``{}`` marks where they go
COMMAND_LINES = [
    ["deactivate", "{}", "--group", "g-harbour", "--actor", "ops@example.test"],
    ["deactivate", "peter@example.test", "--group", "{}", "--actor", "ops@example.test"],
    ["deactivate", "peter@example.test", "--group", "g-harbour", "--actor", "{}"],
    ["reactivate", "{}", "--group", "{}", "--actor", "{}"],
    [
        "access",
        "peter@example.test",
        "--group",
        "g-harbour",
        "--actor",
        "ops@example.test",
        "--level",
        "{}",
    ],
    ["sign-in", "{}", "--group", "g-harbour", "--device", "{}"],
    ["users", "--group", "{}"],
    ["users", "--status", "{}"],
    ["checklist", "--group", "g-harbour", "--user", "{}"],
    [
        "checklist",
        "--group",
        "g-harbour",
        "--user",
        "peter@example.test",
        "--resolve",
        "{}",
        "--actor",
        "ops@example.test",
    ],
    ["audit", "--group", "{}", "--user", "{}", "--run", "{}"],
    ["offboard", "status", "{}"],
    ["offboard", "resume", "{}"],
    ["offboard", "undo", "{}", "--actor", "ops@example.test"],
    ["report", "dormant", "--group", "{}", "--days", "{}"],
    ["check", "--format", "{}"],
    ["{}"],
]


@fuzz
@given(line=st.sampled_from(COMMAND_LINES), values=st.lists(ARG_TEXT, min_size=3, max_size=3))
def test_hostile_command_arguments_never_crash_and_change_nothing(
    clinic_url, clinic_db, line, values
):
    before = fingerprint(clinic_db)
    supply = iter(values)
    args = [next(supply) if part == "{}" else part for part in line]
    result = invoke(*args)
    assert_clean_exit(result)
    if result.exit_code != 0:
        assert fingerprint(clinic_db) == before


@pytest.mark.parametrize("value", HOSTILE)
def test_sql_in_an_email_group_or_actor_is_an_unknown_name_not_a_statement(
    clinic_url, clinic_db, value
):
    before = fingerprint(clinic_db)
    for args in (
        ["deactivate", value, "--group", "g-harbour", "--actor", "ops@example.test"],
        ["deactivate", "peter@example.test", "--group", value, "--actor", "ops@example.test"],
        ["users", "--group", value, "--format", "json"],
        ["audit", "--user", value],
    ):
        result = invoke(*args)
        assert_clean_exit(result, allowed=(2,))
        assert "no user" in result.stderr or "no group" in result.stderr, result.stderr
    assert fingerprint(clinic_db) == before


# database URLs that once crashed (exit 3): make_url's ValueError, pathlib's ValueError/OSError
DB_URL_ONCE_CRASHED = [
    "postgresql://host:abc/db",
    "postgresql://[::1",
    "sqlite:///%00",
    "sqlite:///" + "a" * 300,
]


@pytest.mark.parametrize(
    "url",
    [
        "not a url",
        "x://",
        "oracle://scott@db/orcl",
        "sqlite:////no/such/folder/x.db",
        "sqlite://",
        "postgresql+psycopg://postgres@127.0.0.1:1/x",
        *DB_URL_ONCE_CRASHED,
    ],
)
def test_a_bad_database_url_is_one_line_and_exit_2(url):
    assert_clean_exit(invoke("users", "--db", url), allowed=(2,))


# --------------------------------------------------------------------- stored verbatim


def _member_reason(db, group_id: str, user_id: str) -> str | None:
    with db.read() as conn:
        return conn.execute(
            sa.select(s.memberships.c.status_reason).where(
                s.memberships.c.group_id == group_id, s.memberships.c.user_id == user_id
            )
        ).scalar_one()


@fuzz
@given(reason=st.one_of(st.sampled_from(HOSTILE), STORABLE))
def test_a_hostile_reason_is_stored_verbatim_in_the_member_and_the_audit(db, clinic, reason):
    deactivate(db, clinic.peter, clinic.harbour, actor=clinic.ops, reason=reason)
    assert _member_reason(db, "g-harbour", "u-peter") == reason
    last = audit_events(db, user=clinic.peter)[-1]
    assert (last["action"], last["reason"]) == ("deactivated", reason)
    reactivate(db, clinic.peter, clinic.harbour, actor=clinic.ops)
    with db.read() as conn:  # nothing was executed: every table is still there
        assert conn.execute(sa.select(sa.func.count()).select_from(s.users)).scalar_one() == 10


def test_a_hostile_reason_round_trips_through_the_command_line(clinic_url, clinic_db):
    for reason in HOSTILE[:-1]:  # argv is limited; the long one is tested in the library
        result = invoke(
            "deactivate",
            "peter@example.test",
            "--group",
            "g-harbour",
            "--actor",
            "ops@example.test",
            "--reason",
            reason,
            "--format",
            "json",
        )
        assert result.exit_code == 0, result.stderr
        audit = json.loads(
            invoke("audit", "--user", "peter@example.test", "--format", "json").stdout
        )
        assert audit[-1]["reason"] == reason
        if "\x1b" not in reason:  # see the next test
            out = invoke("audit", "--user", "peter@example.test", "--format", "csv").stdout
            assert list(csv.DictReader(io.StringIO(out)))[-1]["reason"] == reason
        assert (
            invoke(
                "reactivate",
                "peter@example.test",
                "--group",
                "g-harbour",
                "--actor",
                "ops@example.test",
            ).exit_code
            == 0
        )


def test_csv_output_keeps_an_escape_sequence_verbatim(clinic_url, clinic_db):
    reason = "escape\x1b[31m red"
    deactivate(
        clinic_db, "peter@example.test", "g-harbour", actor="ops@example.test", reason=reason
    )
    out = invoke("audit", "--user", "peter@example.test", "--format", "csv").stdout
    assert list(csv.DictReader(io.StringIO(out)))[-1]["reason"] == reason


def test_hostile_emails_names_and_group_names_are_data(db, clinic):
    hostile_users = []
    with db.begin() as conn:
        conn.execute(s.groups.insert().values(group_id="g-evil", name=HOSTILE[0]))
        conn.execute(
            s.memberships.insert().values(
                group_id="g-evil",
                user_id="u-ops",
                role="administrator",
                access_level="full",
                read_only=False,
                account_owner=True,
                status="active",
            )
        )
        for number, text in enumerate(HOSTILE):
            email = f"{text[:200]}@evil.test"
            user_id = f"u-evil-{number}"
            name = text[:200]
            hostile_users.append((user_id, email, name))
            conn.execute(
                s.users.insert().values(
                    user_id=user_id, email=email, email_key=email.strip().lower(), name=name
                )
            )
            conn.execute(
                s.memberships.insert().values(
                    group_id="g-evil",
                    user_id=user_id,
                    role="practitioner",
                    access_level="clinical",
                    read_only=False,
                    account_owner=False,
                    status="active",
                )
            )
    runner_db = f"{db.engine.url.render_as_string(hide_password=False)}"
    listed = invoke("users", "--group", HOSTILE[0], "--format", "json", "--db", runner_db)
    assert listed.exit_code == 0, listed.stderr
    by_id = {row["user_id"]: row for row in json.loads(listed.stdout)}
    for user_id, email, name in hostile_users:
        assert (by_id[user_id]["email"], by_id[user_id]["name"]) == (email, name)
    # R11 on a hostile email: other case and surrounding spaces still find it
    user_id, email, _ = hostile_users[0]
    result = deactivate(db, f"  {email.upper()} ", HOSTILE[0], actor=clinic.ops)
    assert (result.user_id, result.outcome) == (user_id, "deactivated")
    with db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(s.users)).scalar_one() == (
            10 + len(HOSTILE)
        )


def test_a_nul_character_in_text_is_bad_input_and_changes_nothing(db, clinic):
    if db.dialect == "postgresql":  # PostgreSQL text cannot hold NUL: bad input, no change
        with pytest.raises(BadInput, match="a value cannot be stored"):
            deactivate(db, clinic.peter, clinic.harbour, actor=clinic.ops, reason="a\x00b")
        assert _member_reason(db, "g-harbour", "u-peter") is None
        return
    # SQLite stores it like any other character
    deactivate(db, clinic.peter, clinic.harbour, actor=clinic.ops, reason="a\x00b")
    assert _member_reason(db, "g-harbour", "u-peter") == "a\x00b"


def test_the_suite_profile_keeps_examples_modest():
    assert settings.get_profile("opskit-suite").max_examples <= 50
    assert Path(__file__).name == "test_hostile_input.py"


# -------------------------------------------------------------------------- dataset loader

DATASET_FILES = {
    "groups": """group_id,name
g1,Harbour Clinic
g2,Summit Physio
""",
    "users": """user_id,email,name
u1,olivia@example.test,Olivia
u2,peter@example.test,Peter
""",
    "memberships": "group_id,user_id,role,access_level,read_only,account_owner,status,"
    """joined_at,last_sign_in_at
g1,u1,administrator,full,false,true,active,2025-01-15T08:00:00Z,
g1,u2,practitioner,clinical,false,false,active,,
g2,u1,administrator,full,false,true,active,,
""",
    "sessions": """session_id,group_id,user_id,device,started_at,revoked_at
s1,g1,u2,laptop,2026-06-28T08:00:00Z,
""",
}
DATASET = {table: list(csv.reader(io.StringIO(text))) for table, text in DATASET_FILES.items()}


def write_dataset(folder: Path, tables: dict[str, list[list[str]]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for table, rows in tables.items():
        with open(folder / f"{table}.csv", "w", newline="", encoding="utf-8") as out:
            csv.writer(out, lineterminator="\n").writerows(rows)


@st.composite
def damaged_datasets(draw):
    """The small valid dataset with one thing changed: a cell, a file's bytes, a row."""
    tables = {table: [list(row) for row in rows] for table, rows in DATASET.items()}
    table = draw(st.sampled_from(sorted(tables)))
    rows = tables[table]
    how = draw(st.sampled_from(["cell", "cell", "cell", "bytes", "ragged", "duplicate"]))
    if how == "cell":
        line = draw(st.integers(0, len(rows) - 1))
        column = draw(st.integers(0, len(rows[0]) - 1))
        rows[line][column] = draw(
            CELL
            | st.sampled_from(
                ["", " ", "true ", "TRUE", "2026-13-40", "-1", "full", "inactive", "g2"]
            )
        )
        return tables, None, (table, line, column)
    if how == "ragged":
        line = draw(st.integers(1, len(rows) - 1))
        rows[line] = rows[line][: draw(st.integers(0, len(rows[line]) - 1))]
    elif how == "duplicate":
        rows.append(list(rows[-1]))
    else:
        return tables, (table, draw(st.binary(max_size=300))), None
    return tables, None, None


@fuzz
@given(damage=damaged_datasets())
def test_a_damaged_dataset_loads_verbatim_or_is_bad_input_naming_the_file_and_changes_nothing(
    clinic_template, tmp_path_factory, damage
):
    from opskit.dataset import load_dataset

    tables, raw, cell = damage
    folder = tmp_path_factory.mktemp("dataset")
    write_dataset(folder, tables)
    if raw is not None:
        (folder / f"{raw[0]}.csv").write_bytes(raw[1])
    path = folder / "clinic.db"
    shutil.copy(clinic_template, path)
    clinic_db = connect(f"sqlite:///{path}")
    before = fingerprint(clinic_db)
    try:
        load_dataset(clinic_db, folder, replace=True)
    except BadInput as error:
        assert error.file is not None and error.file.endswith(".csv"), str(error)
        assert fingerprint(clinic_db) == before  # all or nothing
        return
    finally:
        clinic_db.dispose()
    # loaded: the clinic is replaced, and a changed name is stored as written (stripped)
    if (
        cell is not None
        and cell[0] in ("groups", "users")
        and tables[cell[0]][0][cell[2]] == "name"
    ):
        table, line, column = cell
        written = tables[table][line][column]
        loaded = connect(f"sqlite:///{path}")
        with loaded.read() as conn:
            names = set(conn.execute(sa.text(f"SELECT name FROM {table}")).scalars())
        loaded.dispose()
        assert written.strip() in names


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_names_in_a_dataset_are_stored_verbatim(db, tmp_path, value):
    from opskit.dataset import export_dataset, load_dataset

    tables = {table: [list(row) for row in rows] for table, rows in DATASET.items()}
    tables["groups"][1][1] = value[:200]
    tables["users"][2][2] = value[:200]
    write_dataset(tmp_path / "in", tables)
    load_dataset(db, tmp_path / "in")
    with db.read() as conn:
        assert value[:200].strip() in set(
            conn.execute(sa.text("SELECT name FROM groups")).scalars()
        )
        assert value[:200].strip() in set(conn.execute(sa.text("SELECT name FROM users")).scalars())
    export_dataset(db, tmp_path / "out")
    with open(tmp_path / "out" / "users.csv", newline="", encoding="utf-8") as back:
        assert value[:200].strip() in {row["name"] for row in csv.DictReader(back)}


@pytest.mark.parametrize(
    "damage, named",
    [
        (lambda d: d["memberships"][2].__setitem__(4, "maybe"), "memberships.csv:3"),
        (lambda d: d["memberships"][2].__setitem__(0, "g-nowhere"), "memberships.csv:3"),
        (lambda d: d["users"][2].__setitem__(1, "'; DROP TABLE users; --"), "users.csv:3"),
        (lambda d: d["sessions"][1].pop(), "sessions.csv:2"),
        (lambda d: d.pop("groups"), "groups.csv"),
    ],
)
def test_opskit_load_of_a_damaged_folder_is_one_line_exit_2_and_changes_nothing(
    clinic_url, clinic_db, tmp_path, damage, named
):
    tables = {table: [list(row) for row in rows] for table, rows in DATASET.items()}
    damage(tables)
    write_dataset(tmp_path / "in", tables)
    before = fingerprint(clinic_db)
    result = invoke("load", str(tmp_path / "in"), "--replace", "--db", clinic_url)
    assert_clean_exit(result, allowed=(2,))
    assert named in result.stderr
    assert fingerprint(clinic_db) == before


@pytest.mark.parametrize("make", ["missing", "a file", "binary"])
def test_opskit_load_of_something_that_is_not_a_dataset_folder_is_exit_2(
    clinic_url, clinic_db, tmp_path, make
):
    folder = tmp_path / "in"
    if make == "a file":
        folder.write_text("email\n")
    elif make == "binary":
        write_dataset(folder, DATASET)
        (folder / "users.csv").write_bytes(bytes(range(256)))
    before = fingerprint(clinic_db)
    assert_clean_exit(invoke("load", str(folder), "--replace", "--db", clinic_url), allowed=(2,))
    assert fingerprint(clinic_db) == before
