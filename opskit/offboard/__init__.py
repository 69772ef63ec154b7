"""Bulk offboarding: a reviewed plan, applied in crash-safe batches, resumable, undoable.

One module per concern:

``input``     who to offboard, as analysts hand it over (CSV, pasted emails, a selection)
``plan``      the plan: ``PlanRow`` and ``Plan``
``planfile``  plan files and a run's stored plan, written and read (fast)
``state``     a member's state as a plan row shows it, and its fingerprint
``planner``   ``plan_offboarding``: targets matched to memberships, with blockers
``runs``      runs, their ledger and options, claiming one, ``status``
``liveness``  is the process working on a run still there?
``apply``     ``apply_plan`` and ``resume_run``, a batch a transaction
``undo``      ``undo_run``
``bulk``      what the bulk steps share: batch size, chunks, the paused collector

The rules are the single-member verbs' rules (``opskit.rules``: R1, R3, R4) and so are
the changes (``opskit.lifecycle``: the status flip, the session revocation, the
read-only change), called with a batch of members instead of one.
"""

from __future__ import annotations

from .apply import apply_plan, resume_run
from .bulk import BATCH_SIZE
from .input import (
    ACTIONS,
    Target,
    from_records,
    parse_csv,
    parse_pasted,
    read_bytes,
    read_csv,
    read_targets,
)
from .plan import BLOCKERS, PLAN_COLUMNS, PLAN_FORMAT, Plan, PlanRow
from .planner import plan_offboarding
from .runs import (
    RESULTS,
    RUN_COLUMNS,
    RUN_ROW_COLUMNS,
    RUN_STATES,
    RunOptions,
    RunSummary,
    UnknownRun,
    list_runs,
    run_events,
    run_rows,
    run_summary,
)
from .undo import UndoResult, undo_run

__all__ = [
    "ACTIONS",
    "BATCH_SIZE",
    "BLOCKERS",
    "PLAN_COLUMNS",
    "PLAN_FORMAT",
    "RESULTS",
    "RUN_COLUMNS",
    "RUN_ROW_COLUMNS",
    "RUN_STATES",
    "Plan",
    "PlanRow",
    "RunOptions",
    "RunSummary",
    "Target",
    "UndoResult",
    "UnknownRun",
    "apply_plan",
    "from_records",
    "list_runs",
    "parse_csv",
    "parse_pasted",
    "plan_offboarding",
    "read_bytes",
    "read_csv",
    "read_targets",
    "resume_run",
    "run_events",
    "run_rows",
    "run_summary",
    "undo_run",
]
