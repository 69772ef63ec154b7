"""Datasets that lose nothing (docs/rules.md): the history files, the status columns, the
manifest, an export that is complete or absent, and a replace that keeps the audit trail.
On SQLite and PostgreSQL, on the bundled demo."""

from __future__ import annotations

import json
import shutil

import pytest
import sqlalchemy as sa

from opskit import schema as s
from opskit.dataset import export as dataset_export
from opskit.dataset import export_dataset, load_dataset, load_demo
from opskit.dataset.files import SPECS
from opskit.db import connect
from opskit.errors import BadInput, Refused
from opskit.lifecycle import deactivate, reactivate

PETER = "peter.novak@harbourphysio.example"
ANALYST = "analyst@opskit.demo"


@pytest.fixture
def lived_in(db, frozen_now):
    """The demo after a deactivation with the checklist resolved: audit events,
    settings snapshots and who/when/why on a membership."""
    load_demo(db)
    deactivate(
        db,
        PETER,
        "g-harbour",
        actor=ANALYST,
        reason="left, 'quoted', \"twice\"\nsecond line",
        resolve_checklist=True,
    )
    return db


def history_counts(db):
    with db.read() as conn:
        return tuple(
            conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
            for t in (s.audit_events, s.settings_snapshots)
        )


def test_export_then_load_into_an_empty_database_then_export_gives_the_same_files(
    lived_in, tmp_path, frozen_now
):
    first = tmp_path / "first"
    export_dataset(lived_in, first)
    events, snapshots = history_counts(lived_in)
    assert events > 1 and snapshots > 0
    other = connect(f"sqlite:///{tmp_path / 'other.db'}", create=True)
    try:
        load_dataset(other, first)
        assert history_counts(other) == (events, snapshots)
        second = tmp_path / "second"
        export_dataset(other, second)
        # the settings survive the move: reactivation restores them in the new database
        result = reactivate(other, PETER, "g-harbour", actor=ANALYST, restore_settings=True)
        assert result.outcome == "reactivated"
        with other.read() as conn:
            restored = conn.execute(
                sa.select(sa.func.count()).where(s.audit_events.c.action == "settings_restored")
            ).scalar_one()
        assert restored > 0
    finally:
        other.dispose()
    names = sorted(p.name for p in first.iterdir())
    assert names == sorted([*(spec.file for spec in SPECS), "manifest.json"])
    for name in names:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    memberships = (first / "memberships.csv").read_text().splitlines()
    assert memberships[0].endswith(",status_changed_at,status_changed_by,status_reason")
    manifest = json.loads((first / "manifest.json").read_text())
    assert manifest["files"]["audit_events.csv"]["rows"] == events


def test_loaded_history_keeps_its_ids_and_new_events_follow_them(lived_in, tmp_path, db_url):
    folder = tmp_path / "out"
    export_dataset(lived_in, folder)
    with lived_in.read() as conn:
        last = conn.execute(sa.select(sa.func.max(s.audit_events.c.event_id))).scalar_one()
    lived_in.dispose()
    fresh = connect(db_url)
    try:
        load_dataset(fresh, folder, replace=True)
        reactivate(fresh, PETER, "g-harbour", actor=ANALYST)
        with fresh.read() as conn:
            ids = conn.execute(sa.select(s.audit_events.c.event_id)).scalars().all()
        assert max(ids) == last + 1 and len(ids) == len(set(ids))
    finally:
        fresh.dispose()


@pytest.mark.parametrize("damage", ["cut short", "altered", "emptied"])
def test_a_file_that_does_not_match_the_manifest_is_bad_input_naming_it(lived_in, tmp_path, damage):
    folder = tmp_path / "out"
    export_dataset(lived_in, folder)
    path = folder / "appointments.csv"
    lines = path.read_text().splitlines(keepends=True)
    if damage == "cut short":
        path.write_text("".join(lines[:-3]))
    elif damage == "altered":
        path.write_text("".join(lines).replace("g-harbour", "g-summit", 1))
    else:
        path.write_text(lines[0])
    other = connect(f"sqlite:///{tmp_path / 'other.db'}", create=True)
    try:
        with pytest.raises(BadInput) as caught:
            load_dataset(other, folder)
        assert caught.value.file == "appointments.csv"
        assert "manifest.json" in str(caught.value)
    finally:
        other.dispose()


def test_a_damaged_manifest_is_bad_input_naming_it(lived_in, tmp_path):
    folder = tmp_path / "out"
    export_dataset(lived_in, folder)
    (folder / "manifest.json").write_text("{not json")
    with pytest.raises(BadInput) as caught:
        load_dataset(lived_in, folder, replace=True)
    assert caught.value.file == "manifest.json"


def test_an_export_that_fails_part_way_leaves_no_folder(lived_in, tmp_path, monkeypatch):
    real = dataset_export._write_csv

    def disk_full(path, names, columns):
        if path.name == "sessions.csv":
            raise OSError(28, "No space left on device")
        real(path, names, columns)

    monkeypatch.setattr(dataset_export, "_write_csv", disk_full)
    target = tmp_path / "exports" / "out"
    target.parent.mkdir()
    with pytest.raises(BadInput, match="No space left on device"):
        export_dataset(lived_in, target)
    assert list(target.parent.iterdir()) == []  # neither the folder nor a temporary one


def test_an_export_that_fails_part_way_leaves_the_previous_export_whole(
    lived_in, tmp_path, monkeypatch
):
    folder = tmp_path / "exports" / "out"
    folder.parent.mkdir()
    export_dataset(lived_in, folder)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    monkeypatch.setattr(
        dataset_export, "_write_csv", lambda *a: (_ for _ in ()).throw(OSError(28, "full"))
    )
    with pytest.raises(BadInput):
        export_dataset(lived_in, folder)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert [p.name for p in folder.parent.iterdir()] == ["out"]


def test_an_export_never_replaces_a_folder_holding_other_files(lived_in, tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    with pytest.raises(BadInput, match="'notes.txt', which is not a dataset file"):
        export_dataset(lived_in, folder)
    assert (folder / "notes.txt").read_text() == "keep me"


def test_replace_with_a_folder_lacking_the_audit_trail_is_refused_saying_how_many(
    lived_in, tmp_path
):
    events, _ = history_counts(lived_in)
    folder = tmp_path / "out"
    export_dataset(lived_in, folder)
    (folder / "audit_events.csv").write_text(
        (folder / "audit_events.csv").read_text().splitlines()[0] + "\n"
    )
    (folder / "manifest.json").unlink()
    with pytest.raises(Refused) as caught:
        load_dataset(lived_in, folder, replace=True)
    assert f"--replace would drop {events} audit events" in str(caught.value)
    assert history_counts(lived_in)[0] == events


def test_a_hand_made_folder_without_history_or_manifest_loads_as_before(db, tmp_path):
    from opskit.dataset import DEMO_DIR

    folder = tmp_path / "hand"
    shutil.copytree(DEMO_DIR, folder)
    assert not (folder / "manifest.json").exists()
    counts = load_dataset(db, folder)
    assert counts["memberships"] == 30 and counts["audit_events"] == 0


# ------------------------------------------- policies, operators and runs (docs/rules.md)

MIA = "mia.chen@physio-locum.example"
BELLA = "bella.ruiz@harbourphysio.example"


@pytest.fixture
def kept(lived_in, monkeypatch):
    """The lived-in demo with what else the database keeps: a dormancy policy and an
    exemption, a bulk run (its plan and ledger), and an operator mapping (bound mode)."""
    from opskit.identity import add_operator
    from opskit.offboard import apply_plan, plan_offboarding
    from opskit.policy import exempt, set_policy

    monkeypatch.setenv("JUPYTERHUB_USER", "owner")  # the login on SQLite
    set_policy(lived_in, "g-harbour", actor=ANALYST, dormant_days=60, grace_days=14)
    exempt(lived_in, MIA, "g-harbour", until="2026-09-01", reason="on leave", actor=ANALYST)
    plan = plan_offboarding(lived_in, [{"email": BELLA, "group": "g-harbour"}], actor=ANALYST)
    apply_plan(lived_in, plan, progress=None)
    login = "postgres" if lived_in.dialect == "postgresql" else "owner"
    add_operator(lived_in, login, ANALYST, actor=ANALYST)
    return lived_in


def kept_counts(db):
    tables = (s.dormancy_policies, s.dormancy_exemptions, s.operators, s.offboard_runs)
    tables += (s.offboard_run_plans, s.offboard_run_rows, s.audit_events)
    with db.read() as conn:
        return {
            t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
            for t in tables
        }


def test_policies_exemptions_operators_and_runs_survive_export_and_load_identically(kept, tmp_path):
    from opskit.identity import list_operators
    from opskit.invariants import check_invariants
    from opskit.policy import exemptions, policies

    before = kept_counts(kept)
    assert all(before.values()), before
    first = tmp_path / "first"
    export_dataset(kept, first)
    manifest = json.loads((first / "manifest.json").read_text())
    for name in ("dormancy_policies.csv", "dormancy_exemptions.csv", "operators.csv"):
        assert manifest["files"][name]["rows"] == 1, name
    other = connect(f"sqlite:///{tmp_path / 'other.db'}", create=True)
    try:
        load_dataset(other, first)
        assert kept_counts(other) == before
        assert policies(other, group="g-harbour") == policies(kept, group="g-harbour")
        assert exemptions(other) == exemptions(kept)
        assert list_operators(other) == list_operators(kept)  # still bound
        assert check_invariants(other) == []  # every run event has its ledger row
        second = tmp_path / "second"
        export_dataset(other, second)
    finally:
        other.dispose()
    for name in sorted(p.name for p in first.iterdir()):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


def test_operator_events_with_an_empty_group_load_back(kept, tmp_path):
    folder = tmp_path / "out"
    export_dataset(kept, folder)
    with kept.read() as conn:
        blank = conn.execute(
            sa.select(sa.func.count()).where(
                s.audit_events.c.action == "operator_added", s.audit_events.c.group_id == ""
            )
        ).scalar_one()
    assert blank == 1
    other = connect(f"sqlite:///{tmp_path / 'other.db'}", create=True)
    try:
        load_dataset(other, folder)
        with other.read() as conn:
            groups = conn.execute(
                sa.select(s.audit_events.c.group_id).where(
                    s.audit_events.c.action == "operator_added"
                )
            ).scalars()
            assert list(groups) == [""]
    finally:
        other.dispose()


def _without(folder, *files):
    for name in files:
        path = folder / name
        path.write_text(path.read_text().splitlines()[0] + "\n")
    (folder / "manifest.json").unlink()


def test_replace_with_a_folder_lacking_the_operator_mapping_is_refused_saying_bound_mode_ends(
    kept, tmp_path
):
    folder = tmp_path / "out"
    export_dataset(kept, folder)
    before = kept_counts(kept)
    _without(folder, "operators.csv")
    with pytest.raises(Refused) as caught:
        load_dataset(kept, folder, replace=True)
    assert str(caught.value).startswith(
        "--replace would drop 1 operator mapping (ending bound mode) the dataset folder"
    )
    assert kept_counts(kept) == before


def test_replace_with_a_folder_lacking_policies_and_runs_is_refused_saying_how_many(kept, tmp_path):
    folder = tmp_path / "out"
    export_dataset(kept, folder)
    before = kept_counts(kept)
    _without(folder, "dormancy_policies.csv", "dormancy_exemptions.csv", "offboard_runs.csv")
    for name in ("offboard_run_plans.csv", "offboard_run_rows.csv"):
        (folder / name).write_text((folder / name).read_text().splitlines()[0] + "\n")
    with pytest.raises(Refused) as caught:
        load_dataset(kept, folder, replace=True)
    assert "drop 1 dormancy policy, 1 dormancy exemption and 1 offboard run " in str(caught.value)
    assert kept_counts(kept) == before


def test_a_policy_of_an_unknown_group_is_bad_input_naming_file_line_and_column(kept, tmp_path):
    folder = tmp_path / "out"
    export_dataset(kept, folder)
    path = folder / "dormancy_policies.csv"
    path.write_text(path.read_text().replace("g-harbour", "g-nowhere"))
    (folder / "manifest.json").unlink()
    other = connect(f"sqlite:///{tmp_path / 'other.db'}", create=True)
    try:
        with pytest.raises(BadInput) as caught:
            load_dataset(other, folder)
    finally:
        other.dispose()
    assert (caught.value.file, caught.value.line, caught.value.column) == (
        "dormancy_policies.csv",
        2,
        "group_id",
    )
    assert "unknown group 'g-nowhere'" in str(caught.value)


# ---------------------------------------------------------------- lookalike emails (R11)


def demo_with_users(tmp_path, *lines):
    from opskit.dataset import DEMO_DIR

    folder = tmp_path / "ds"
    shutil.copytree(DEMO_DIR, folder)
    with open(folder / "users.csv", "a", encoding="utf-8") as users:
        users.writelines(line + "\n" for line in lines)
    return folder, len((folder / "users.csv").read_text().splitlines())


def test_a_load_refuses_an_email_mixing_scripts_naming_file_line_and_column(db, tmp_path):
    folder, last = demo_with_users(tmp_path, "u-fake,\u0430nalyst@opskit.demo,Fake Analyst")
    with pytest.raises(BadInput) as caught:
        load_dataset(db, folder)
    assert (caught.value.file, caught.value.line, caught.value.column) == (
        "users.csv",
        last,
        "email",
    )
    assert "mixes letters of different scripts" in str(caught.value)


def test_an_email_in_one_script_other_than_latin_loads(db, tmp_path):
    folder, _ = demo_with_users(tmp_path, "u-ivan-ru,\u0438\u0432\u0430\u043d@example.test,Ivan")
    assert load_dataset(db, folder)["users"] == 28


def test_emails_differing_only_in_unicode_composition_are_the_same_email(db, tmp_path):
    folder, last = demo_with_users(
        tmp_path, "u-jose1,jos\u00e9@example.test,Jose", "u-jose2,jose\u0301@example.test,Jose"
    )
    with pytest.raises(BadInput) as caught:
        load_dataset(db, folder)
    assert (caught.value.file, caught.value.line) == ("users.csv", last)
    assert "is the same email as" in str(caught.value)


def test_an_email_typed_decomposed_finds_the_user_stored_composed(db, tmp_path):
    from opskit.rules import find_user

    folder, _ = demo_with_users(tmp_path, "u-jose,jos\u00e9@example.test,Jose")
    load_dataset(db, folder)
    with db.read() as conn:
        assert find_user(conn, " JOSE\u0301@example.test ").user_id == "u-jose"
