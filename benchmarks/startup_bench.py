"""How long ``opskit --help`` takes to answer (target: under a third of a second).

    .venv/bin/python -m benchmarks.startup_bench

The command runs in a new process five times; the figure is the median wall-clock time,
which includes the interpreter's own start. Every library module (SQLAlchemy, pandas,
the widgets) is imported inside the command that needs it, so this stays small however
much the library grows.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

TARGET_SECONDS = 1 / 3
RUNS = 5


def _command() -> list[str]:
    """The installed ``opskit`` script beside this interpreter, else the same entry point."""
    script = Path(sys.executable).parent / "opskit"
    if script.exists():
        return [str(script), "--help"]
    return [sys.executable, "-c", "from opskit.cli import main; main()", "--help"]


def run(runs: int = RUNS) -> list[tuple[str, float, str]]:
    command = _command()
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        seconds.append(time.perf_counter() - started)
    median = statistics.median(seconds)
    every = ", ".join(f"{s:.3f}" for s in seconds)
    note = f"(target < {TARGET_SECONDS:.3f} s; median of {runs}: {every})"
    return [("opskit --help", median, note)]


def main() -> int:
    for name, seconds, note in run():
        print(f"{name:<58} {seconds:8.3f} s  {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
