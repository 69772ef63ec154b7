"""The committed notebooks are sources, not a run's leftovers (tools/check_notebooks.py)."""

from __future__ import annotations

import copy
import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("check_notebooks", ROOT / "tools/check_notebooks.py")
assert _spec and _spec.loader
check_notebooks = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_notebooks)

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_a_committed_notebook_holds_no_run_leftovers(path):
    assert check_notebooks.problems(json.loads(path.read_text())) == []


def _code_cell(count, outputs=(), tags=(), source="y = x"):
    metadata = {"tags": list(tags)} if tags else {}
    return {
        "cell_type": "code",
        "execution_count": count,
        "metadata": metadata,
        "outputs": list(outputs),
        "source": source,
    }


CLEAN = {
    "metadata": {},
    "cells": [_code_cell(1, tags=["parameters"], source="x = 1\napply = False"), _code_cell(2)],
}
WIDGET = {
    "output_type": "display_data",
    "metadata": {},
    "data": {"application/vnd.jupyter.widget-view+json": {"model_id": "m"}},
}


def _with(change):
    notebook = copy.deepcopy(CLEAN)
    change(notebook)
    return check_notebooks.problems(notebook)


def test_each_kind_of_leftover_is_named():
    assert check_notebooks.problems(CLEAN) == []
    assert _with(lambda nb: nb["metadata"].update(widgets={})) == [
        "saved widget state in the notebook's metadata"
    ]
    assert _with(lambda nb: nb["cells"][1]["metadata"].update(tags=["injected-parameters"])) == [
        "cell 2: papermill's injected-parameters cell"
    ]
    assert _with(lambda nb: nb["cells"][1].update(execution_count=None)) == [
        "cell 2: no execution count (not run)"
    ]
    assert _with(lambda nb: nb["cells"][1].update(execution_count=5)) == [
        "cell 2: execution count 5, expected 2"
    ]
    error = {"output_type": "error", "ename": "KeyError", "evalue": "'x'", "traceback": []}
    assert _with(lambda nb: nb["cells"][1]["outputs"].append(error)) == [
        "cell 2: an error output (KeyError: 'x')"
    ]
    assert _with(lambda nb: nb["cells"][1]["outputs"].append(WIDGET)) == [
        "cell 2: a widget output (its model lives only in a running kernel)"
    ]


def test_strip_removes_widget_state_and_keeps_every_other_output():
    notebook = copy.deepcopy(CLEAN)
    notebook["metadata"]["widgets"] = {"state": {}}
    text = {"output_type": "stream", "name": "stdout", "text": ["ok\n"]}
    notebook["cells"][1]["outputs"] = [WIDGET, text]
    notebook["cells"][1]["metadata"]["execution"] = {"iopub.status.busy": "2026-11-27"}
    stripped = check_notebooks.strip(notebook)
    assert check_notebooks.problems(stripped) == []
    assert stripped["cells"][1]["outputs"] == [text]
    assert stripped["cells"][1]["metadata"] == {}


def _later_cell(source):
    return _with(lambda nb: nb["cells"][1].update(source=source))


@pytest.mark.parametrize(
    "source",
    [
        "apply = True",
        "x, y = 1, 2",
        "if True:\n    apply = True",
        "for apply in [True]:\n    pass",
        "from os import path as apply",
        "def apply():\n    pass",
        "%matplotlib inline\napply += 1",
    ],
)
def test_a_later_cell_setting_a_parameter_overrides_the_user_and_is_named(source):
    """Issue 21: a committed cell that set ``apply=True`` overrode a user's edited value."""
    (problem,) = _later_cell(source)
    assert problem.startswith("cell 2: sets the parameter ")
    assert problem.endswith(", overriding what the user set")


@pytest.mark.parametrize(
    "source",
    [
        "y = apply",  # reading a parameter is what it is for
        "def f(apply):\n    apply = 2\n    return apply",  # a function's own name
        "values = [apply for apply in range(3)]",  # a comprehension's own scope
        "print(apply)",
    ],
)
def test_reading_a_parameter_or_a_local_of_the_same_name_is_no_override(source):
    assert _later_cell(source) == []


def test_a_second_parameters_cell_is_named():
    problems = _with(lambda nb: nb["cells"][1]["metadata"].update(tags=["parameters"]))
    assert problems == ["cell 2: a second cell tagged parameters"]
