"""What a user gets from ``pip install 'opskit[lab]'``, checked from a wheel (``make package``).

    python3 tools/check_package.py [--keep]

1. Builds a wheel from a copy of this tree (pyproject.toml, README.md, opskit/) and
   checks that it holds every file of the package, the demo data included.
2. Creates a new virtual environment in a temporary folder and installs ``WHEEL[lab]``
   into it: not editable, nothing read from the repository.
3. From a folder outside the repository, with PYTHONPATH unset and Jupyter's own folders
   inside the temporary one: ``opskit demo``, then papermill over a copy of each notebook,
   each on its own copy of the demo database at the demo's instant. Notebook 03 runs as
   the README's batch job (a dormant report as the leavers CSV, ``-p apply True``) and as
   a rehearsal (``-p sandbox True -p apply True``); the databases show that each did what
   it says.

Any failure exits 1 and keeps the temporary folder to look into; ``--keep`` keeps it
always. Standard library only: it runs with any Python 3.11 or newer.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEMO_NOW = "2026-07-01T09:00:00Z"
ACTOR = "analyst@opskit.demo"
BULK = "03_bulk_offboarding.ipynb"
# run in the kernel papermill starts: where opskit and the interpreter come from
PROBE = "import sys, opskit\nprint(opskit.__file__)\nprint(sys.executable)"


class CheckFailed(Exception):
    pass


class Workspace:
    """The temporary folder: the source copy, the wheel, the virtual environment, the runs."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.venv = base / "venv"
        self.bin = self.venv / "bin"
        self.work = base / "work"
        self.notebooks = self.work / "notebooks"
        self.outputs = self.work / "out"

    def env(self, **extra: str) -> dict[str, str]:
        """A user's environment with only this install: no PYTHONPATH, no other virtual
        environment, no kernels or settings from the user's own Jupyter folders."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "JUPYTER"))}
        env.pop("VIRTUAL_ENV", None)
        env["PATH"] = f"{self.bin}{os.pathsep}{env.get('PATH', '')}"
        for kind in ("config", "data", "runtime"):
            env[f"JUPYTER_{kind.upper()}_DIR"] = str(self.base / "jupyter" / kind)
        env["OPSKIT_NOW"] = DEMO_NOW
        env.update(extra)
        return env

    def run(self, step: str, command: Sequence[str | Path], **extra: str) -> str:
        """Run one command from the work folder; its standard output when it succeeds."""
        began = time.perf_counter()
        done = subprocess.run(
            [str(part) for part in command],
            cwd=self.work,
            env=self.env(**extra),
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-25:])
            raise CheckFailed(f"{step}: exit code {done.returncode}\n{tail}")
        print(f"  ok  {step:<66} {time.perf_counter() - began:5.1f} s", flush=True)
        return done.stdout

    def opskit(self, *args: str | Path) -> str:
        return self.run(f"opskit {args[0]}", [self.bin / "opskit", *args])

    def demo_copy(self, name: str) -> str:
        """A fresh copy of the demo database, as a URL: each run starts from the demo."""
        copy = self.work / f"{name}.db"
        shutil.copyfile(self.work / "demo.db", copy)
        return f"sqlite:///{copy}"

    def papermill(self, notebook: str, url: str, **parameters: str) -> Path:
        out = self.outputs / f"{len(list(self.outputs.glob('*')))}-{notebook}"
        command: list[str | Path] = [self.bin / "papermill", "--no-progress-bar"]
        command += ["--cwd", self.notebooks, self.notebooks / notebook, out]
        for name, value in parameters.items():
            command += ["-p", name, value]
        step = " ".join(["papermill", notebook, *(f"-p {k} {v}" for k, v in parameters.items())])
        self.run(step, command, OPSKIT_DATABASE_URL=url)
        return out

    def runs(self, url: str) -> list[dict[str, Any]]:
        return json.loads(self.opskit("offboard", "status", "--db", url, "--format", "json"))


def build_wheel(ws: Workspace) -> Path:
    src, dist = ws.base / "src", ws.base / "dist"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "opskit", src / "opskit", ignore=skip)
    # in pip's isolated build environment, as any installer would build it
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir"]
    ws.run("build the wheel", [*pip_wheel, dist, src])
    (wheel,) = dist.glob("opskit-*.whl")
    packaged = set(zipfile.ZipFile(wheel).namelist())
    files = {p.relative_to(src).as_posix() for p in (src / "opskit").rglob("*") if p.is_file()}
    missing = sorted(files - packaged)
    if missing:
        raise CheckFailed(f"the wheel lacks {len(missing)} file(s) of opskit/: {missing[:10]}")
    print(f"  ok  the wheel holds all {len(files)} files of opskit/, the demo data included")
    return wheel


def install(ws: Workspace, wheel: Path) -> None:
    # pip runs from this interpreter into the new environment (pip --python), which saves
    # installing pip there; --no-compile leaves byte-compiling to the first import
    venv = [sys.executable, "-m", "venv", "--without-pip", ws.venv]
    ws.run("create a virtual environment", venv)
    pip_install = [sys.executable, "-m", "pip", "--python", ws.bin / "python", "install"]
    pip_install += ["--quiet", "--no-compile", f"{wheel}[lab]"]
    ws.run("pip install 'opskit[lab]' from the wheel", pip_install)
    where = ws.run("python: opskit is the new install", [ws.bin / "python", "-c", PROBE])
    _expect_installed(ws, where, "python")


def _expect_installed(ws: Workspace, where: str, who: str) -> None:
    module, executable = where.split()[-2:]
    for path in (module, executable):
        if not Path(path).is_relative_to(ws.venv):
            raise CheckFailed(f"{who} runs {module} with {executable}, not the new install")


def _probe_notebook(path: Path) -> None:
    cell = {"cell_type": "code", "metadata": {}, "source": PROBE, "outputs": []}
    cell["execution_count"] = None
    kernel = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook = {"cells": [cell], "metadata": {"kernelspec": kernel}}
    path.write_text(json.dumps({**notebook, "nbformat": 4, "nbformat_minor": 5}))


def _stdout_of(notebook: Path) -> str:
    cells = json.loads(notebook.read_text())["cells"]
    streams = [o for c in cells for o in c.get("outputs", []) if o["output_type"] == "stream"]
    return "".join("".join(s["text"]) for s in streams)


def run_notebooks(ws: Workspace) -> None:
    ws.notebooks.mkdir(parents=True)
    ws.outputs.mkdir()
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        shutil.copy2(notebook, ws.notebooks / notebook.name)
    shutil.copytree(ROOT / "notebooks" / "examples", ws.notebooks / "examples")

    ws.opskit("demo", "--db", f"sqlite:///{ws.work / 'demo.db'}")
    _probe_notebook(ws.notebooks / "probe.ipynb")
    out = ws.papermill("probe.ipynb", ws.demo_copy("probe"))
    _expect_installed(ws, _stdout_of(out), "papermill's kernel")

    for notebook in sorted(p.name for p in ws.notebooks.glob("0*.ipynb")):
        if notebook != BULK:  # run below, as a batch job and as a rehearsal
            ws.papermill(notebook, ws.demo_copy(notebook.split("_")[0]))

    # the README's batch job: a reviewed list of leavers, planned and applied
    batch = ws.demo_copy("batch")
    leavers = ws.work / "leavers.csv"
    ws.opskit("report", "dormant", "--days", "90", "--out", leavers, "--db", batch)
    ws.papermill(BULK, batch, targets_csv=str(leavers), actor=ACTOR, apply="True")
    runs = ws.runs(batch)
    if [run["state"] for run in runs] != ["done"]:
        raise CheckFailed(f"the batch job should leave one run, done: {runs}")

    # a rehearsal: applied to a fresh copy of the bundled demo, the database left alone
    rehearsal = ws.demo_copy("rehearsal")
    ws.papermill(BULK, rehearsal, sandbox="True", apply="True")
    sandbox = f"sqlite:///{ws.notebooks / 'build' / 'offboarding-sandbox.db'}"
    if ws.runs(rehearsal) or [run["state"] for run in ws.runs(sandbox)] != ["done"]:
        raise CheckFailed("the rehearsal should apply to the sandbox, not the database")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    options = parser.parse_args(argv)
    base = Path(tempfile.mkdtemp(prefix="opskit-package-")).resolve()
    if base.is_relative_to(ROOT):
        print(f"the temporary folder {base} is inside the repository: set TMPDIR", file=sys.stderr)
        return 2
    print(f"package check in {base}")
    began = time.perf_counter()
    ws = Workspace(base)
    ws.work.mkdir()
    try:
        install(ws, build_wheel(ws))
        run_notebooks(ws)
    except CheckFailed as failure:
        print(f"FAILED  {failure}\n(kept {base})", file=sys.stderr)
        return 1
    print(f"package check passed in {time.perf_counter() - began:.0f} s")
    if options.keep:
        print(f"(kept {base})")
    else:
        shutil.rmtree(base)
    return 0


if __name__ == "__main__":
    sys.exit(main())
