"""Notebook widgets and tables over the opskit API (ipywidgets 8)."""

from .checklist import ChecklistTable, ChecklistWidget, checklist_table, export_checklist_csv
from .offboarding import OffboardingWidget, PlanTable, RunTable
from .user_table import UserTable

__all__ = [
    "ChecklistTable",
    "ChecklistWidget",
    "OffboardingWidget",
    "PlanTable",
    "RunTable",
    "UserTable",
    "checklist_table",
    "export_checklist_csv",
]
