"""Notebook widgets and tables over the opskit API (ipywidgets 8)."""

from .checklist import ChecklistTable, ChecklistWidget, checklist_table, export_checklist_csv
from .user_table import UserTable

__all__ = [
    "ChecklistTable",
    "ChecklistWidget",
    "UserTable",
    "checklist_table",
    "export_checklist_csv",
]
