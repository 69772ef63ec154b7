"""Reading who to offboard as spreadsheets export it (docs/rules.md "Input", R11, R12).

Pure parsing: no database, so these run once rather than per backend.
"""

from __future__ import annotations

import pytest

from opskit.errors import BadInput
from opskit.offboard import (
    Target,
    from_records,
    parse_pasted,
    read_bytes,
    read_csv,
    read_targets,
)


def write(tmp_path, content: bytes | str, name="leavers.csv"):
    path = tmp_path / name
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    return path


def emails(targets):
    return [t.email for t in targets]


def test_a_byte_order_mark_is_ignored(tmp_path):
    path = write(tmp_path, b"\xef\xbb\xbfemail\npeter@example.test\n")
    assert emails(read_csv(path)) == ["peter@example.test"]


def test_crlf_and_lf_line_ends_read_the_same(tmp_path):
    crlf = read_csv(write(tmp_path, "email,group\r\na@x.test,G\r\nb@x.test,G\r\n", "a.csv"))
    lf = read_csv(write(tmp_path, "email,group\na@x.test,G\nb@x.test,G\n", "b.csv"))
    assert crlf == lf


def test_semicolon_delimiter_is_sniffed_from_the_header(tmp_path):
    path = write(tmp_path, "email;group;reason\npeter@example.test;Harbour Clinic;left, sadly\n")
    [target] = read_csv(path)
    assert (target.group, target.reason) == ("Harbour Clinic", "left, sadly")


def test_comma_delimiter_is_sniffed_even_when_a_reason_holds_semicolons(tmp_path):
    path = write(tmp_path, 'email,reason\npeter@example.test,"moved; retired"\n')
    assert read_csv(path)[0].reason == "moved; retired"


def test_quoted_fields_may_hold_delimiters_quotes_and_line_breaks(tmp_path):
    text = 'email;reason\n"peter@example.test";"said ""bye""; moved\nabroad"\nmia@example.test;x\n'
    first, second = read_csv(write(tmp_path, text))
    assert first.reason == 'said "bye"; moved\nabroad'
    assert second.line == 4  # the multi-line record took lines 2 and 3


def test_blank_lines_and_empty_delimiter_rows_are_skipped(tmp_path):
    text = "\n\nemail;group\n\n;\npeter@example.test;g\n  \n;;\n"
    [target] = read_csv(write(tmp_path, text))
    assert (target.email, target.line) == ("peter@example.test", 6)


def test_stray_spaces_around_headers_and_values_are_trimmed(tmp_path):
    text = "  email ;  group \n   peter@example.test  ;  Harbour Clinic  \n"
    [target] = read_csv(write(tmp_path, text))
    assert (target.email, target.group) == ("peter@example.test", "Harbour Clinic")


def test_headers_match_whatever_their_case(tmp_path):
    text = "E-Mail,GROUP,Action,REASON\npeter@example.test,g,Read-Only,left\n"
    [target] = read_csv(write(tmp_path, text))
    assert (target.group, target.action, target.reason) == ("g", "read_only", "left")


def test_mixed_case_emails_are_kept_as_written_for_matching_later(tmp_path):
    [target] = read_csv(write(tmp_path, "email\nPeter@Example.TEST\n"))
    assert target.email == "Peter@Example.TEST"


def test_duplicate_rows_are_all_kept_for_the_plan_to_flag(tmp_path):
    text = "email\npeter@example.test\npeter@example.test\n"
    assert emails(read_csv(write(tmp_path, text))) == ["peter@example.test"] * 2


def test_extra_columns_are_ignored(tmp_path):
    text = "name,email,phone,notes\nPeter,peter@example.test,123,whatever\n"
    assert read_csv(write(tmp_path, text)) == [Target(line=2, email="peter@example.test")]


def test_a_short_row_leaves_the_missing_columns_empty(tmp_path):
    [target] = read_csv(write(tmp_path, "email,group,action\npeter@example.test\n"))
    assert (target.group, target.action) == (None, None)


def test_group_id_wins_over_group_name_when_both_are_given(tmp_path):
    text = "email,group,group_id\npeter@example.test,Harbour Clinic,g-harbour\n"
    assert read_csv(write(tmp_path, text))[0].group == "g-harbour"


def test_a_file_without_an_email_column_is_bad_input_naming_file_line_and_column(tmp_path):
    path = write(tmp_path, "\nname;group\nPeter;g\n")
    with pytest.raises(BadInput) as caught:
        read_csv(path)
    assert (caught.value.file, caught.value.line, caught.value.column) == (str(path), 2, "email")
    assert "no 'email' column" in str(caught.value)


def test_a_file_that_is_not_text_is_bad_input(tmp_path):
    path = write(tmp_path, b"PK\x03\x04\x00\x00binary spreadsheet")
    with pytest.raises(BadInput, match="not a text file"):
        read_csv(path)


def test_a_file_that_is_not_utf8_is_bad_input_naming_the_line(tmp_path):
    path = write(tmp_path, "email;reason\npeter@example.test;café\n".encode("latin-1"))
    with pytest.raises(BadInput, match="not UTF-8") as caught:
        read_csv(path)
    assert caught.value.line == 2


def test_utf16_text_is_bad_input_saying_what_to_save_instead(tmp_path):
    path = write(tmp_path, "email\npeter@example.test\n".encode("utf-16"))
    with pytest.raises(BadInput, match="CSV UTF-8"):
        read_csv(path)


def test_an_unknown_action_is_bad_input_naming_line_and_column(tmp_path):
    path = write(tmp_path, "email;action\npeter@example.test;deactivate\nmia@example.test;delete\n")
    with pytest.raises(BadInput) as caught:
        read_csv(path)
    assert (caught.value.line, caught.value.column) == (3, "action")
    assert "'delete' is not an action" in str(caught.value)


def test_an_empty_email_next_to_other_values_is_bad_input(tmp_path):
    with pytest.raises(BadInput, match="email is empty") as caught:
        read_csv(write(tmp_path, "email;reason\n;left\n"))
    assert caught.value.column == "email"


def test_a_value_that_is_not_an_email_address_is_bad_input(tmp_path):
    with pytest.raises(BadInput, match="not an email address"):
        read_csv(write(tmp_path, "email\nPeter Smith\n"))


def test_the_first_bad_row_is_the_error_whichever_column_is_bad(tmp_path):
    # line 3's action is bad, line 4's email: the file is read top to bottom
    text = "email,action\npeter@example.test,\nmia@example.test,delete\nnot-an-email,\n"
    with pytest.raises(BadInput) as caught:
        read_csv(write(tmp_path, text))
    assert (caught.value.line, caught.value.column) == (3, "action")


@pytest.mark.parametrize(
    "cell",
    ['"peter@example.test\nmia@example.test"', '"peter@example.test\u2028mia@example.test"'],
)
def test_two_addresses_in_one_cell_are_not_an_email_address(tmp_path, cell):
    with pytest.raises(BadInput, match="not an email address") as caught:
        read_csv(write(tmp_path, f"email\nann@example.test\n{cell}\n"))
    assert (caught.value.line, caught.value.column) == (3, "email")


def test_emails_are_taken_as_written_but_for_surrounding_spaces_and_marks(tmp_path):
    text = "email\nPeter@Example.test\n  mia@example.test\ufeff\nzo\u00eb@example.test\n"
    assert emails(read_csv(write(tmp_path, text))) == [
        "Peter@Example.test",
        "mia@example.test",
        "zo\u00eb@example.test",
    ]


def test_a_bad_row_before_a_malformed_line_is_the_error(tmp_path):
    text = 'email,reason\nnot-an-email,left\npeter@example.test,"never closed\n'
    with pytest.raises(BadInput, match="not an email address") as caught:
        read_csv(write(tmp_path, text))
    assert caught.value.line == 2


def test_an_unterminated_quote_is_bad_input(tmp_path):
    with pytest.raises(BadInput, match="malformed CSV"):
        read_csv(write(tmp_path, 'email,reason\npeter@example.test,"never closed\n'))


def test_an_empty_file_is_bad_input(tmp_path):
    with pytest.raises(BadInput, match="is empty"):
        read_csv(write(tmp_path, "\r\n\r\n"))


def test_a_missing_file_is_bad_input_naming_it(tmp_path):
    with pytest.raises(BadInput, match="no such file"):
        read_csv(tmp_path / "missing.csv")


def test_an_upload_is_read_like_a_file():
    targets = read_bytes(b"\xef\xbb\xbfEmail;Group\r\npeter@example.test;g\r\n", name="up.csv")
    assert targets == [Target(line=2, email="peter@example.test", group="g")]


def test_pasted_emails_may_be_separated_by_lines_commas_semicolons_or_spaces():
    targets = parse_pasted("a@x.test, b@x.test;c@x.test\n\n  <d@x.test>  e@x.test\n")
    assert emails(targets) == ["a@x.test", "b@x.test", "c@x.test", "d@x.test", "e@x.test"]
    assert [t.line for t in targets] == [1, 1, 1, 3, 3]


def test_pasted_text_with_an_email_header_is_read_as_csv():
    targets = parse_pasted("email\tgroup\npeter@example.test\tHarbour Clinic\n")
    assert targets == [Target(line=2, email="peter@example.test", group="Harbour Clinic")]


def test_a_selection_of_user_table_rows_becomes_targets_by_group_id():
    rows = [
        {"group_id": "g-harbour", "group": "Harbour Clinic", "email": "a@x.test", "status": "x"},
        {"group_id": "g-summit", "group": "Summit Physio", "email": "b@x.test"},
    ]
    assert from_records(rows) == [
        Target(line=1, email="a@x.test", group="g-harbour"),
        Target(line=2, email="b@x.test", group="g-summit"),
    ]


def test_a_selection_value_that_is_not_text_is_bad_input_naming_row_and_column():
    with pytest.raises(BadInput) as caught:
        from_records([{"email": "a@x.test"}, {"email": 42}])
    assert (caught.value.file, caught.value.line, caught.value.column) == (
        "selection",
        2,
        "email",
    )


def test_a_dataframe_is_a_selection_too():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"email": ["a@x.test", "b@x.test"], "group": ["g", None]})
    targets, name = read_targets(frame)
    assert name == "selection"
    assert [(t.email, t.group) for t in targets] == [("a@x.test", "g"), ("b@x.test", None)]


def test_a_dataframe_gives_the_targets_its_rows_give_as_dicts():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(
        {
            "E-Mail": [" a@x.test ", "b@x.test", "a@x.test", "c@x.test"],
            "group": ["Harbour Clinic", None, "Harbour Clinic", float("nan")],
            "Group ID": ["g-harbour", "", None, "g-summit"],
            "action": ["Read-Only", None, "deactivate", ""],
            "reason": ["left", float("nan"), "  ", "left"],
            "handoff": [None, "AUTO", "Mia@X.test", " "],
            "status": ["x", "y", "z", "w"],
        }
    )
    targets, name = read_targets(frame)
    assert name == "selection"
    assert targets == from_records(frame.to_dict("records"))
    assert targets[:2] == [
        Target(line=1, email="a@x.test", group="g-harbour", action="read_only", reason="left"),
        Target(line=2, email="b@x.test", handoff="auto"),
    ]


@pytest.mark.parametrize(
    ("column", "values", "line"),
    [
        ("email", ["a@x.test", "a@x.test", "not an email", "b@x.test"], 3),
        ("action", ["deactivate", "delete", None, "delete"], 2),
        ("reason", ["left", None, "left", 42], 4),
        ("handoff", [None, None, None, "two words@x.test"], 4),
    ],
)
def test_a_bad_value_in_a_dataframe_is_bad_input_naming_its_row_and_column(column, values, line):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"email": ["a@x.test", "b@x.test", "c@x.test", "d@x.test"]})
    frame[column] = values
    with pytest.raises(BadInput) as caught:
        read_targets(frame, name="report")
    assert (caught.value.file, caught.value.line, caught.value.column) == ("report", line, column)


def test_a_dataframe_without_an_email_column_is_bad_input_unless_it_is_empty():
    pd = pytest.importorskip("pandas")
    with pytest.raises(BadInput, match="has no 'email'"):
        read_targets(pd.DataFrame({"group": ["g"]}))
    assert read_targets(pd.DataFrame({"group": []})) == ([], "selection")
