"""CSV written for people starts no cell a spreadsheet runs as a formula (docs/rules.md)."""

from __future__ import annotations

import csv
import io

import pytest

from opskit.spreadsheet import spreadsheet_safe, write_csv


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_a_cell_starting_with_a_formula_character_is_prefixed_with_a_quote(start):
    assert spreadsheet_safe(start + "SUM(A1)") == "'" + start + "SUM(A1)"


@pytest.mark.parametrize("text", ["", "a=b", " =1", "peter@example.test", "'=x", "1-2", None])
def test_other_cells_are_left_as_they_are(text):
    assert spreadsheet_safe(text) == ("" if text is None else text)


def test_write_csv_keeps_a_cell_with_a_carriage_return_in_its_row():
    out = io.StringIO()
    write_csv(out, ["name", "n"], [["\rReturn", 1], ["=1+1", -5]])
    rows = list(csv.reader(io.StringIO(out.getvalue(), newline="")))
    assert rows == [["name", "n"], ["'\rReturn", "1"], ["'=1+1", "'-5"]]
