"""Notebook widgets and tables over the opskit API (ipywidgets 8).

Each name is imported on first use, so a widget's model (``user_table.model``) can be
imported and tested where ipywidgets is not installed.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ChecklistTable": "checklist",
    "ChecklistWidget": "checklist",
    "checklist_table": "checklist",
    "export_checklist_csv": "checklist",
    "OffboardingWidget": "offboarding",
    "PlanTable": "offboarding",
    "RunTable": "offboarding",
    "UserTable": "user_table",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'opskit.widgets' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
