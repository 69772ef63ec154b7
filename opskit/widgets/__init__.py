"""Notebook widgets and tables over the opskit API (ipywidgets 8)."""

from .checklist import ChecklistTable, ChecklistWidget, checklist_table, export_checklist_csv

__all__ = ["ChecklistTable", "ChecklistWidget", "checklist_table", "export_checklist_csv"]
