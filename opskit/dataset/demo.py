"""The bundled demo dataset: three clinics, 30 memberships, and their last 18 months."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from ..db import Database
from . import history
from .files import SPECS
from .load import write_frames
from .read import read_dataset

# Package data, found through the package rather than this file, so it is there in any install.
DEMO_DIR = Path(str(resources.files("opskit") / "demo"))


def load_demo(db: Database, *, replace: bool = True) -> dict[str, int]:
    """Load the bundled demo dataset (``opskit/demo``), built around 2026-07-01T09:00:00Z:
    the clinics as they were 18 months before, then their past replayed through the
    library (``history``), which ends in the state the CSV files hold. Returns rows per
    table. Everything the database held is replaced, audit events too (by design)."""
    frames = read_dataset(DEMO_DIR)
    write_frames(db, history.start_frames(frames), replace=replace, keep_audit=False)
    history.replay(db, frames)
    return history.table_counts(db, [spec.table for spec in SPECS])
