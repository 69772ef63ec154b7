"""Pausing Python's cyclic garbage collector around work that makes many objects."""

from __future__ import annotations

import functools
import gc


def collector_paused(work):
    """Run ``work`` with Python's cyclic garbage collector paused.

    Bulk work and large reads make objects by the hundred thousand: a plan's rows,
    which live for the whole call, rows read and written, which reference counting
    frees, a big group's 300,000 checklist rows. None of them forms a cycle, yet the
    collector, triggered by allocations, walks the long-lived ones again and again:
    about a tenth of an apply and a sixth of the largest checklist, to find a few
    thousand cyclic objects (SQLAlchemy's: 10 MB at the peak of a 100,000-member
    apply, 36 MB of 500,000), which it collects on its usual schedule once the call
    returns. The caller's process is left as it was."""

    @functools.wraps(work)
    def paused(*args, **kwargs):
        if not gc.isenabled():
            return work(*args, **kwargs)
        gc.disable()
        try:
            return work(*args, **kwargs)
        finally:
            gc.enable()

    return paused
