"""Is the process working on a run still there?

A run is ``running`` while a process works on it. The process records its host, pid
and the pid's start time (so that a reused pid is not mistaken for it) in the run's
row, plus, on PostgreSQL (the one database several hosts can share), a wall-clock
heartbeat every ``HEARTBEAT`` seconds. On the same host the process table decides;
from another host a heartbeat older than ``STALE_AFTER`` seconds does. (No database
lock is needed, which keeps SQLite and PostgreSQL alike.) A run stored as running
whose process is gone is shown ``interrupted``.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STALE_AFTER = 600  # seconds without a heartbeat before another host's run counts as dead
HEARTBEAT = 30  # seconds between heartbeats (each rewrites the run's row)


def pid_start(pid: int) -> str | None:
    """The start time of a process (Linux /proc), to tell a reused pid from the original."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    after = stat.rsplit(")", 1)[-1].split()
    if after and after[0] in ("Z", "X"):
        return None  # a zombie has finished its work
    return after[19] if len(after) > 19 else None


@dataclass(frozen=True)
class RunProcess:
    """The process working on a run, as its row in ``offboard_runs`` records it."""

    host: str
    pid: int
    pid_start: str | None
    heartbeat: float  # seconds since the epoch, wall clock

    @classmethod
    def this(cls) -> RunProcess:
        return cls(socket.gethostname(), os.getpid(), pid_start(os.getpid()), now_heartbeat())

    @classmethod
    def of(cls, run: Any) -> RunProcess | None:
        """The process of a run's row (None: no process has worked on it)."""
        if run.process_host is None:
            return None
        return cls(
            run.process_host,
            int(run.process_pid or 0),
            run.process_pid_start,
            float(run.heartbeat or 0),
        )

    def columns(self) -> dict[str, Any]:
        """The values of the run's process columns."""
        return {
            "process_host": self.host,
            "process_pid": self.pid,
            "process_pid_start": self.pid_start,
            "heartbeat": self.heartbeat,
        }

    @property
    def is_me(self) -> bool:
        return self.host == socket.gethostname() and self.pid == os.getpid()

    @property
    def alive(self) -> bool:
        if self.host == socket.gethostname():
            if self.pid <= 0:
                return False
            if Path("/proc").is_dir():
                started = pid_start(self.pid)
                return started is not None and started == self.pid_start
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                return False
            except PermissionError:
                return True
            return True
        return time.time() - self.heartbeat < STALE_AFTER

    def __str__(self) -> str:
        return f"pid {self.pid} on {self.host}"


def now_heartbeat() -> float:
    return round(time.time(), 3)


def heartbeat_due(process: RunProcess | None) -> bool:
    """Time for this process to beat the heart of the run it works on?"""
    return process is not None and process.is_me and time.time() - process.heartbeat > HEARTBEAT


def shown_state(stored: str, process: RunProcess | None) -> str:
    if stored == "running" and (process is None or not process.alive):
        return "interrupted"
    return stored
