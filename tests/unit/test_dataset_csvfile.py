"""A dataset file's cells are stripped alike whichever reader takes the file: the fast
one for files without quotes, or the csv module's (docs/rules.md: datasets)."""

from __future__ import annotations

import pytest

from opskit.dataset.csvfile import read_csv_file
from opskit.dataset.files import SPEC

# every ASCII character str.strip takes away, and a Unicode space
STRIPPED = [" ", "\t", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x1f", "\u00a0"]


@pytest.mark.parametrize("blank", STRIPPED, ids=[f"U+{ord(c):04X}" for c in STRIPPED])
def test_cells_are_stripped_alike_with_or_without_quotes_in_the_file(tmp_path, blank):
    spec = SPEC["groups"]
    plain = tmp_path / "plain.csv"
    plain.write_text(f"group_id,name\ng1,{blank}Summit{blank}\ng2,{blank}\n", encoding="utf-8")
    quoted = tmp_path / "quoted.csv"
    quoted.write_text(
        f'group_id,name\ng1,{blank}Summit{blank}\ng2,{blank}\ng3,"A, B"\n', encoding="utf-8"
    )
    plain_frame, _ = read_csv_file(plain, spec)
    quoted_frame, _ = read_csv_file(quoted, spec)
    assert plain_frame["name"].tolist() == ["Summit", ""]
    assert quoted_frame["name"].tolist() == ["Summit", "", "A, B"]
