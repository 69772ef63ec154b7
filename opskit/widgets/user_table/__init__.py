"""The user table: members a page at a time, filters, selection and lifecycle actions.

- ``model``: ``UserTableModel``, the state (filter, sort, page, selection, the
  deactivation awaiting confirmation) and the actions, with no widgets;
- ``html``: the markup of rows, header and panels (strings in, strings out);
- ``view``: ``UserTable``, the ipywidgets that draw the model and call it.
"""

from __future__ import annotations

import importlib
from typing import Any

from .model import MemberDetail, SelectionChecklist, UserTableModel

# the view, and the markup it shares with the checklist widget, need ipywidgets; the model
# does not, so they are imported on first use
_LATER = {"UserTable": "view", "header_html": "html", "row_html": "html"}


def __getattr__(name: str) -> Any:
    module = _LATER.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)


__all__ = [
    "MemberDetail",
    "SelectionChecklist",
    "UserTable",
    "UserTableModel",
    "header_html",
    "row_html",
]
