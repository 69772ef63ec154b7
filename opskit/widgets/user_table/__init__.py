"""The user table: members a page at a time, filters, selection and lifecycle actions.

- ``model``: ``UserTableModel``, the state (filter, sort, page, selection, the
  deactivation awaiting confirmation) and the actions, with no widgets;
- ``html``: the markup of rows, header and panels (strings in, strings out);
- ``view``: ``UserTable``, the ipywidgets that draw the model and call it.
"""

from .html import header_html, row_html
from .model import MemberDetail, SelectionChecklist, UserTableModel
from .view import UserTable

__all__ = [
    "MemberDetail",
    "SelectionChecklist",
    "UserTable",
    "UserTableModel",
    "header_html",
    "row_html",
]
