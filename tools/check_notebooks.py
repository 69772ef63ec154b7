"""The committed notebooks are sources: check them, or strip what a run leaves behind.

    python tools/check_notebooks.py notebooks/*.ipynb          # exit 1 naming each problem
    python tools/check_notebooks.py --strip notebooks/*.ipynb  # then check

A committed notebook holds its cells and the outputs of one top-to-bottom run on the
demo data at the frozen clock (``make notebook-outputs``), which nbval compares. It must
not hold:

- saved widget state (the notebook's ``widgets`` metadata, and outputs that display a
  widget, whose model exists only in a live kernel): it is most of a notebook's size and
  changes on every run;
- papermill's injected-parameters cell: the ``parameters`` cell with its safe defaults is
  the source, and a batch job's parameters belong to that run's output file;
- anything that overrides what a user sets in the parameters cell: a second cell tagged
  ``parameters``, or a later cell that assigns a parameter's name at the top level (a
  user who edits ``apply = False`` must get what they set);
- a code cell without an execution count, or counts out of order: the outputs then do
  not come from one run from the top;
- an error output.

``--strip`` removes the widget state, papermill's metadata and the per-cell execution
timings; it never changes a cell's source or the outputs nbval compares. Standard
library only, so that it runs before anything is installed.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from pathlib import Path
from typing import Any

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
INJECTED = "injected-parameters"


def _is_widget_output(output: dict[str, Any]) -> bool:
    return WIDGET_VIEW in output.get("data", {})


_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda, ast.comprehension)


def _source(cell: dict[str, Any]) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def assigned_names(source: str) -> set[str]:
    """The names a cell's code binds in the notebook's namespace (not inside a function
    or class); IPython's ``%`` and ``!`` lines are left out. Code that does not parse
    binds nothing here (running it is what reports it)."""
    code = "\n".join(
        "" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()
    )
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return set()
    names: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, _SCOPES):
            if not isinstance(node, (ast.Lambda, ast.comprehension)):
                names.add(node.name)  # type: ignore[union-attr]
            return
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.alias):
            names.add((node.asname or node.name).split(".")[0])
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return names


def problems(notebook: dict[str, Any]) -> list[str]:
    """What makes this notebook a run's leftovers rather than a source, one line each."""
    found = []
    if "widgets" in notebook.get("metadata", {}):
        found.append("saved widget state in the notebook's metadata")
    if "papermill" in notebook.get("metadata", {}):
        found.append("papermill's run metadata in the notebook's metadata")
    expected_count = 1
    parameters: set[str] | None = None  # the names the parameters cell sets, once seen
    for number, cell in enumerate(notebook.get("cells", []), start=1):
        where = f"cell {number}"
        tags = cell.get("metadata", {}).get("tags", [])
        if INJECTED in tags:
            found.append(f"{where}: papermill's injected-parameters cell")
        if cell.get("cell_type") != "code":
            continue
        if "parameters" in tags:
            if parameters is not None:
                found.append(f"{where}: a second cell tagged parameters")
            else:
                parameters = assigned_names(_source(cell))
        elif parameters:
            for name in sorted(parameters & assigned_names(_source(cell))):
                found.append(f"{where}: sets the parameter {name!r}, overriding what the user set")
        count = cell.get("execution_count")
        if count is None:
            found.append(f"{where}: no execution count (not run)")
        elif count != expected_count:
            found.append(f"{where}: execution count {count}, expected {expected_count}")
        expected_count = (count or expected_count) + 1
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                name = output.get("ename", "error")
                found.append(f"{where}: an error output ({name}: {output.get('evalue', '')})")
            if _is_widget_output(output):
                found.append(f"{where}: a widget output (its model lives only in a running kernel)")
    return found


def strip(notebook: dict[str, Any]) -> dict[str, Any]:
    """The notebook without widget state, papermill metadata and execution timings."""
    notebook["metadata"].pop("widgets", None)
    notebook["metadata"].pop("papermill", None)
    for cell in notebook["cells"]:
        cell["metadata"].pop("execution", None)
        cell["metadata"].pop("papermill", None)
        if cell["cell_type"] == "code":
            cell["outputs"] = [o for o in cell["outputs"] if not _is_widget_output(o)]
    return notebook


def _write(path: Path, notebook: dict[str, Any]) -> None:
    # the layout Jupyter itself writes, so that saving from JupyterLab changes nothing
    text = json.dumps(notebook, indent=1, ensure_ascii=False, sort_keys=True)
    path.write_text(text + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--strip", action="store_true", help="strip run leftovers, then check")
    options = parser.parse_args(argv)
    failed = False
    for path in options.notebooks:
        notebook = json.loads(path.read_text(encoding="utf-8"))
        if options.strip:
            notebook = strip(notebook)
            _write(path, notebook)
        for problem in problems(notebook):
            print(f"{path}: {problem}", file=sys.stderr)
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
