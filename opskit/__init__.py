"""opskit: operations toolkit for practice groups.

The public API: everything the CLI and the notebooks use is importable from here.
Widgets (``UserTable``, ``ChecklistWidget``, ``OffboardingWidget``, ...) load
ipywidgets, so they are imported on first use rather than with the package.
"""

from .audit import audit_events

# the function is exported as checklist_rows: "opskit.checklist" stays the module
from .checklist import ITEMS, checklist_summary, resolve_checklist
from .checklist import checklist as checklist_rows
from .clock import now
from .dataset import export_dataset, load_dataset, load_demo
from .db import Database, connect
from .errors import (
    BadInput,
    FullAccessMember,
    NotAuthorized,
    OpskitError,
    Refused,
    SignInRefused,
    UnknownGroup,
    UnknownMember,
    UnknownUser,
    WouldLockOutGroup,
)
from .invariants import check_invariants
from .lifecycle import ActionResult, change_access, deactivate, reactivate, sign_in
from .members import MemberFilter, count_members, list_members
from .offboard import apply_plan, list_runs, plan_offboarding, resume_run, run_rows, undo_run
from .offboard.input import read_targets
from .reports import (
    dormant_report,
    inactive_report,
    status_summary,
    trends_report,
    write_candidates_csv,
)
from .schema import Action
from .synthetic import load_synthetic

_WIDGETS = {
    "UserTable",
    "ChecklistWidget",
    "OffboardingWidget",
    "checklist_table",
    "export_checklist_csv",
    "PlanTable",
    "RunTable",
}


def __getattr__(name: str):
    if name in _WIDGETS:
        from . import widgets

        return getattr(widgets, name)
    raise AttributeError(f"module 'opskit' has no attribute {name!r}")


__all__ = [
    "ITEMS",
    "Action",
    "ActionResult",
    "BadInput",
    "ChecklistWidget",
    "Database",
    "FullAccessMember",
    "MemberFilter",
    "NotAuthorized",
    "OffboardingWidget",
    "OpskitError",
    "PlanTable",
    "Refused",
    "RunTable",
    "SignInRefused",
    "UnknownGroup",
    "UnknownMember",
    "UnknownUser",
    "UserTable",
    "WouldLockOutGroup",
    "apply_plan",
    "audit_events",
    "change_access",
    "check_invariants",
    "checklist_rows",
    "checklist_summary",
    "checklist_table",
    "connect",
    "count_members",
    "deactivate",
    "dormant_report",
    "export_checklist_csv",
    "export_dataset",
    "inactive_report",
    "list_members",
    "list_runs",
    "load_dataset",
    "load_demo",
    "load_synthetic",
    "now",
    "plan_offboarding",
    "reactivate",
    "read_targets",
    "resolve_checklist",
    "resume_run",
    "run_rows",
    "sign_in",
    "status_summary",
    "trends_report",
    "undo_run",
    "write_candidates_csv",
]
