"""``opskit load``, ``export`` and ``demo`` as a user runs them: the real command."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest

from opskit.cli import cli
from opskit.dataset import DEMO_DIR, SPECS, export_dataset, load_dataset

OPSKIT = str(Path(sys.executable).with_name("opskit"))


def opskit(*args: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("OPSKIT_")}
    return subprocess.run(
        [OPSKIT, *args], capture_output=True, text=True, env=environment, timeout=120
    )


def assert_one_line_error(result: subprocess.CompletedProcess, code: int, words: str) -> None:
    assert result.returncode == code, result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert words in result.stderr, result.stderr


def sorted_lines(path: Path) -> list[str]:
    return sorted(path.read_text(encoding="utf-8").splitlines())


def demo_columns_of(path: Path) -> list[tuple[str, ...]]:
    """The rows of an exported file in the columns the demo's own file has (an export
    adds the optional ones), sorted."""
    with open(DEMO_DIR / path.name, encoding="utf-8", newline="") as handle:
        columns = next(csv.reader(handle))
    with open(path, encoding="utf-8", newline="") as handle:
        return sorted(tuple(r[c] for c in columns) for r in csv.DictReader(handle))


def assert_same_as_demo(folder: Path) -> None:
    for spec in SPECS:
        if (DEMO_DIR / spec.file).exists():
            expected = demo_columns_of(DEMO_DIR / spec.file)
            assert demo_columns_of(folder / spec.file) == expected, spec.file


def assert_holds_the_demo(db, folder: Path) -> None:
    export_dataset(db, folder)
    assert_same_as_demo(folder)


def test_demo_loads_the_bundled_dataset_and_prints_rows_per_table(db_url):
    result = opskit("demo", "--db", db_url, "--format", "json")
    assert result.returncode == 0, result.stderr
    counts = {row["table"]: row["rows"] for row in json.loads(result.stdout)}
    assert counts["groups"] == 3 and counts["memberships"] == 30
    assert list(counts) == [spec.table for spec in SPECS]


def test_demo_with_members_generates_that_many_memberships(db_url):
    result = opskit("demo", "--members", "300", "--seed", "5", "--db", db_url, "--format", "csv")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("table,rows\ngroups,")
    assert "\nmemberships,300\n" in result.stdout


def test_load_then_export_round_trips_and_prints_a_summary(db_url, tmp_path):
    result = opskit("load", str(DEMO_DIR), "--db", db_url)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["table", "rows"]
    assert ["memberships", "30"] in [line.split() for line in lines]
    assert lines[-1].split() == ["total", "172"]
    out = tmp_path / "out"
    result = opskit("export", str(out), "--db", db_url, "--format", "json")
    assert result.returncode == 0, result.stderr
    assert {r["table"]: r["rows"] for r in json.loads(result.stdout)}["sessions"] == 33
    assert_same_as_demo(out)


def test_load_into_a_database_with_data_needs_replace(db, db_url, tmp_path):
    load_dataset(db, DEMO_DIR)
    result = opskit("load", str(DEMO_DIR), "--db", db_url)
    assert_one_line_error(result, 2, "holds data already; use --replace")
    result = opskit("load", str(DEMO_DIR), "--replace", "--db", db_url, "--format", "json")
    assert result.returncode == 0, result.stderr
    assert_holds_the_demo(db, tmp_path / "after")


def test_a_bad_row_exits_2_with_one_line_naming_file_line_and_column(db, db_url, tmp_path):
    load_dataset(db, DEMO_DIR)
    folder = tmp_path / "bad"
    shutil.copytree(DEMO_DIR, folder)
    path = folder / "memberships.csv"
    text = path.read_text().replace("u-rita,practitioner,clinical", "u-rita,practitioner,fuul")
    path.write_text(text)
    result = opskit("load", str(folder), "--replace", "--db", db_url)
    assert_one_line_error(
        result,
        2,
        "opskit: memberships.csv:7, column access_level: 'fuul' is not a level for a "
        "practitioner (personal, own_records_and_contacts, clinical, full)",
    )
    assert_holds_the_demo(db, tmp_path / "after")


def test_a_missing_folder_exits_2_with_one_line(db_url, tmp_path):
    result = opskit("load", str(tmp_path / "nowhere"), "--db", db_url)
    assert_one_line_error(result, 2, "does not exist")


@pytest.mark.parametrize(
    "args, words",
    [
        (["demo", "--seed", "3"], "--seed needs --members"),
        (["demo", "--members", "2"], "--members"),
    ],
)
def test_usage_errors_exit_2_with_one_line(args, words, tmp_path):
    result = opskit(*args, "--db", f"sqlite:///{tmp_path / 'x.db'}")
    assert_one_line_error(result, 2, words)


@pytest.mark.parametrize("name", ["load", "export", "demo"])
def test_every_dataset_command_and_option_has_help(name):
    command = cli.commands[name]
    assert command.help and len(command.help.split()) > 5
    for param in command.params:
        if isinstance(param, click.Option):
            assert param.help, f"{name} {param.opts} has no help"


def test_the_real_command_prints_its_help():
    result = opskit("demo", "--help")
    assert result.returncode == 0
    assert "Usage: opskit demo" in result.stdout and "--members N" in result.stdout
