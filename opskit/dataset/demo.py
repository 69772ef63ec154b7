"""The bundled demo dataset: three clinics, 30 memberships."""

from __future__ import annotations

from pathlib import Path

from ..db import Database
from .load import load_dataset

DEMO_DIR = Path(__file__).resolve().parent.parent.parent / "data" / "demo"


def load_demo(db: Database, *, replace: bool = True) -> dict[str, int]:
    """Load the bundled demo dataset (``data/demo``), built around 2026-07-01T09:00:00Z."""
    return load_dataset(db, DEMO_DIR, replace=replace)
