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


def test_a_frame_is_written_cell_for_cell_as_write_csv_writes_its_rows():
    import pandas as pd

    from opskit.spreadsheet import write_frame_csv

    frame = pd.DataFrame(
        {
            "=name": ["=1+1", "peter@example.test", None, "\rReturn"],
            "n": [-5, 3, 0, 1],
            "share": [0.5, float("nan"), -1.25, 2.0],
            "flag": [True, False, True, None],
            "at": pd.to_datetime(["2026-07-01T09:00:00Z", None, "2026-01-02T03:04:05Z", None]),
        }
    )

    def both(frame):
        rows = frame.astype(object).where(frame.notna(), None).itertuples(index=False, name=None)
        expected, got = io.StringIO(), io.StringIO()
        write_csv(expected, list(frame.columns), rows)
        write_frame_csv(got, frame)
        return got.getvalue(), expected.getvalue()

    got, expected = both(frame)
    assert got == expected
    assert got.startswith('"\'=name"')  # the carriage return quotes every cell
    got, expected = both(frame.head(3))
    assert got == expected
    assert got.splitlines()[1] == "'=1+1,'-5,0.5,True,2026-07-01 09:00:00+00:00"


@pytest.mark.parametrize("rows", [0, 1, 4])
def test_each_kind_of_report_column_is_written_as_write_csv_writes_it(rows):
    """The frame writer's shortcuts per column type (numpy booleans and integers, text,
    naive times to the second, a formula start found in the joined column) give the
    cells of the plain writer."""
    import numpy as np
    import pandas as pd

    from opskit.spreadsheet import write_frame_csv

    frame = pd.DataFrame(
        {
            "text": ["ann@example.test", None, "a\0=b", "-1"],
            "quiet": ["ann", "bo", None, "cy"],
            "n": np.array([-5, 3, 0, 12], dtype="int64"),
            "flag": np.array([True, False, False, True]),
            "nullable": pd.array([1, None, 3, 4], dtype="Int64"),
            "at": pd.to_datetime(
                ["2026-07-01T09:00:00", None, "1999-01-02T03:04:05", "2026-01-02T03:04:05"]
            ).astype("datetime64[us]"),
            "fine": pd.to_datetime(
                ["2026-07-01T09:00:00.5", None, "2026-01-02T03:04:05.0", None]
            ).astype("datetime64[us]"),
            "mixed": [1, "=x", None, 2.5],
            "quoted": ['say "hi"', "a,b", "two\nlines", ""],
            "empty": ["", "", "", ""],
        }
    ).head(rows)
    records = frame.astype(object).where(frame.notna(), None).itertuples(index=False, name=None)
    expected, got = io.StringIO(), io.StringIO()
    write_csv(expected, list(frame.columns), records)
    write_frame_csv(got, frame)
    assert got.getvalue() == expected.getvalue()


def test_a_column_alone_and_an_empty_cell_are_written_as_write_csv_writes_them():
    import pandas as pd

    from opskit.spreadsheet import write_frame_csv

    frame = pd.DataFrame({"only": ["", "x,y", None]})
    expected, got = io.StringIO(), io.StringIO()
    write_csv(expected, ["only"], [[""], ["x,y"], [None]])
    write_frame_csv(got, frame)
    assert got.getvalue() == expected.getvalue() == 'only\n""\n"x,y"\n""\n'
