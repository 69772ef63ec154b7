"""One public surface: the CLI and the notebooks import from ``opskit`` (pinned here)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import opskit

ROOT = Path(__file__).resolve().parents[2]

PUBLIC = {
    "ITEMS", "Action", "ActionResult", "BadInput", "ChecklistWidget", "Database",
    "FullAccessMember", "MemberFilter", "NotAuthorized", "OffboardingWidget", "OpskitError",
    "PlanTable", "Refused", "RunTable", "SignInRefused", "UnknownGroup", "UnknownMember",
    "UnknownUser", "UserTable", "WouldLockOutGroup", "apply_plan", "audit_events",
    "change_access", "check_invariants", "checklist_rows", "checklist_summary", "checklist_table",
    "connect", "count_members", "deactivate", "dormant_report", "export_checklist_csv",
    "export_dataset", "inactive_report", "list_members", "list_runs", "load_dataset",
    "load_demo", "load_synthetic", "now", "plan_offboarding", "reactivate", "read_targets",
    "resolve_checklist", "resume_run", "run_rows", "sign_in", "status_summary",
    "trends_report", "undo_run", "write_candidates_csv",
    "dormancy_policies", "dormancy_exemptions", "exempt_from_dormancy", "set_dormancy_policy",
    "review_dormant",
    # issue 21: reports bounded for charts, and any report as CSV
    "members_by_group", "deactivations_by_month", "write_report_csv",
    # docs/rules.md 9.1 and 9.2
    "verify_chain", "grant", "acting_user", "add_operator", "list_operators",
    "whoami", "approve_plan", "approvals", "Plan",
    # issue 21: whom a notebook acts as (bound user, else the demo's analyst)
    "notebook_actor",
}  # fmt: skip


def test_the_public_api_is_exactly_what_all_declares():
    assert set(opskit.__all__) == PUBLIC
    for name in opskit.__all__:
        assert getattr(opskit, name) is not None, name


def test_every_submodule_stays_reachable_as_an_attribute():
    import importlib

    for module in ("checklist", "reports", "offboard", "lifecycle", "audit", "dataset"):
        assert getattr(opskit, module) is importlib.import_module(f"opskit.{module}")


def test_the_command_line_starts_without_loading_widgets():
    code = "import sys, opskit.cli; print('ipywidgets' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_command_line_answers_help_without_loading_the_library():
    code = (
        "import sys\n"
        "from opskit.cli import main\n"
        "sys.argv = ['opskit', '--help']\n"
        "try:\n    main()\n"
        "except SystemExit:\n"
        "    heavy = ('sqlalchemy', 'pandas', 'numpy', 'alembic', 'ipywidgets')\n"
        "    print(sorted(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_a_name_is_imported_on_first_use_and_a_misspelt_one_is_an_attribute_error():
    code = (
        "import sys, opskit\n"
        "print('opskit.reports' in sys.modules)\n"
        "from opskit import dormant_report\n"
        "print(dormant_report.__module__, 'opskit.reports' in sys.modules)\n"
        "print(hasattr(opskit, 'dormant_reprot'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[:3] == ["False", "opskit.reports True", "False"]


def test_notebooks_import_only_from_the_public_api():
    imports = re.compile(r"^\s*(?:from|import)\s+(opskit[\w.]*)", re.M)
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(notebook.read_text())["cells"]
        for cell in cells:
            if cell["cell_type"] != "code":
                continue
            for module in imports.findall("".join(cell["source"])):
                assert module == "opskit", f"{notebook.name} imports {module}"
