"""The pre-deactivation checklist: evaluate, resolve, snapshot, restore.

One row per membership and item. Each item is one entry of ``REGISTRY``
(``items.py``): the table it reads, when it is pending, what resolving it does, what is
snapshotted and restored, and its words. Everything else is derived from the entries:

- ``facts.py``: the SQL read per item and the state that follows;
- ``evaluate.py``: the checklist rows of a group, a user or a selection;
- ``summary.py``: the states of every group counted in SQL;
- ``changes.py``: the audit texts and snapshot rows of a resolve or restore;
- ``resolve.py``: resolving items, set-based per item, with snapshots and audit;
- ``restore.py``: putting back what resolution switched off.

The item ids and states are part of the interface (docs/rules.md, "The
pre-deactivation checklist"); the names below are the package's surface.
"""

from .evaluate import (
    CHECKLIST_COLUMNS,
    checklist,
    checklist_groups,
    evaluate_members,
    select_members,
    to_frame,
)
from .facts import future_appointments_count, pending_conditions
from .items import (
    ITEMS,
    LABELS,
    REGISTRY,
    RESOLVABLE,
    RESOLVE_CHOICES,
    STATES,
    ChecklistItem,
    Kind,
)
from .resolve import parse_items, resolve_checklist, resolve_for_deactivation, resolve_items
from .restore import restore_member_settings, restore_settings
from .summary import SUMMARY_COLUMNS, checklist_summary

__all__ = [
    "CHECKLIST_COLUMNS",
    "ITEMS",
    "LABELS",
    "REGISTRY",
    "RESOLVABLE",
    "RESOLVE_CHOICES",
    "STATES",
    "SUMMARY_COLUMNS",
    "ChecklistItem",
    "Kind",
    "checklist",
    "checklist_groups",
    "checklist_summary",
    "evaluate_members",
    "future_appointments_count",
    "parse_items",
    "pending_conditions",
    "resolve_checklist",
    "resolve_for_deactivation",
    "resolve_items",
    "restore_member_settings",
    "restore_settings",
    "select_members",
    "to_frame",
]
