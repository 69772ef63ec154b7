"""The bundled demo dataset: three clinics, 30 memberships."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from ..db import Database
from .load import load_dataset

# Package data, found through the package rather than this file, so it is there in any install.
DEMO_DIR = Path(str(resources.files("opskit") / "demo"))


def load_demo(db: Database, *, replace: bool = True) -> dict[str, int]:
    """Load the bundled demo dataset (``opskit/demo``), built around 2026-07-01T09:00:00Z."""
    return load_dataset(db, DEMO_DIR, replace=replace, keep_audit=False)
