"""opskit: operations toolkit for practice groups.

The public API: everything the CLI and the notebooks use is importable from here.
Names are imported on first use (PEP 562), so ``import opskit`` and ``opskit --help``
load neither SQLAlchemy nor pandas, and the widgets load ipywidgets only when used.
"""

from __future__ import annotations

import importlib
from typing import Any

# public name -> the module (relative to this package) that defines it
_EXPORTS: dict[str, str] = {
    "audit_events": "audit",
    "verify_chain": "audit",
    "ITEMS": "checklist",
    "checklist_rows": "checklist",
    "checklist_summary": "checklist",
    "resolve_checklist": "checklist",
    "now": "clock",
    "export_dataset": "dataset",
    "load_dataset": "dataset",
    "load_demo": "dataset",
    "Database": "db",
    "connect": "db",
    "BadInput": "errors",
    "FullAccessMember": "errors",
    "NotAuthorized": "errors",
    "OpskitError": "errors",
    "Refused": "errors",
    "SignInRefused": "errors",
    "UnknownGroup": "errors",
    "UnknownMember": "errors",
    "UnknownUser": "errors",
    "WouldLockOutGroup": "errors",
    "grant": "grants",
    "acting_user": "identity",
    "add_operator": "identity",
    "list_operators": "identity",
    "notebook_actor": "identity",
    "whoami": "identity",
    "check_invariants": "invariants",
    "ActionResult": "lifecycle",
    "change_access": "lifecycle",
    "deactivate": "lifecycle",
    "reactivate": "lifecycle",
    "sign_in": "lifecycle",
    "MemberFilter": "members",
    "count_members": "members",
    "list_members": "members",
    "apply_plan": "offboard",
    "list_runs": "offboard",
    "plan_offboarding": "offboard",
    "resume_run": "offboard",
    "run_rows": "offboard",
    "undo_run": "offboard",
    "read_targets": "offboard",
    "approve_plan": "offboard.review",
    "approvals": "offboard.review",
    "Plan": "offboard",
    "dormant_report": "reports",
    "inactive_report": "reports",
    "status_summary": "reports",
    "trends_report": "reports",
    "write_candidates_csv": "reports",
    "members_by_group": "reports",
    "deactivations_by_month": "reports",
    "write_report_csv": "reports",
    "dormancy_policies": "policy",
    "dormancy_exemptions": "policy",
    "exempt_from_dormancy": "policy",
    "set_dormancy_policy": "policy",
    "review_dormant": "review",
    "Action": "schema",
    "load_synthetic": "synthetic",
    "UserTable": "widgets",
    "ChecklistWidget": "widgets",
    "OffboardingWidget": "widgets",
    "checklist_table": "widgets",
    "export_checklist_csv": "widgets",
    "PlanTable": "widgets",
    "RunTable": "widgets",
}

# public names that differ from the module's own: "opskit.checklist" stays the module
_RENAMED = {
    "checklist_rows": "checklist",
    "dormancy_policies": "policies",
    "dormancy_exemptions": "exemptions",
    "exempt_from_dormancy": "exempt",
    "set_dormancy_policy": "set_policy",
}

__all__ = [
    "Plan",
    "approvals",
    "Action",
    "ActionResult",
    "BadInput",
    "ChecklistWidget",
    "Database",
    "FullAccessMember",
    "ITEMS",
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
    "acting_user",
    "add_operator",
    "apply_plan",
    "approve_plan",
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
    "grant",
    "inactive_report",
    "list_members",
    "list_operators",
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
    "verify_chain",
    "whoami",
    "notebook_actor",
    "write_candidates_csv",
    "dormancy_policies",
    "dormancy_exemptions",
    "exempt_from_dormancy",
    "set_dormancy_policy",
    "review_dormant",
    "members_by_group",
    "deactivations_by_month",
    "write_report_csv",
]


def __getattr__(name: str) -> Any:
    module_name = _EXPORTS.get(name)
    if module_name is None:
        return _submodule(name)
    try:
        module = importlib.import_module(f".{module_name}", __name__)
    except ModuleNotFoundError as missing:
        if missing.name == "ipywidgets":
            raise ModuleNotFoundError(
                f"opskit.{name} is a notebook widget: install opskit[lab] for ipywidgets",
                name=missing.name,
            ) from missing
        raise
    value = getattr(module, _RENAMED.get(name, name))
    globals()[name] = value  # found once; later lookups do not come back here
    return value


def _submodule(name: str) -> Any:
    """``opskit.reports`` and the like, as after ``import opskit.reports``."""
    if name.startswith("__"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        return importlib.import_module(f".{name}", __name__)
    except ModuleNotFoundError as missing:
        if missing.name != f"{__name__}.{name}":
            raise
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
