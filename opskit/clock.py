"""The one clock opskit reads; ``OPSKIT_NOW`` freezes it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import overload

from .errors import BadInput


def parse_time(text: str, *, where: str = "time") -> datetime:
    """Parse ISO 8601 into a naive UTC datetime (how times are stored)."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise BadInput(f"{where}: {text!r} is not an ISO 8601 time") from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


_pinned: ContextVar[datetime | None] = ContextVar("opskit_pinned_now", default=None)


@contextmanager
def pinned(at: datetime) -> Iterator[None]:
    """Run a block as if it were ``at`` (the demo replays its history this way)."""
    token = _pinned.set(at)
    try:
        yield
    finally:
        _pinned.reset(token)


_EARLIEST, _LATEST = datetime(1970, 1, 1), datetime(3000, 1, 1)


def now() -> datetime:
    """Now as naive UTC: a pinned instant, else ``OPSKIT_NOW``, else the real clock."""
    if (at := _pinned.get()) is not None:
        return at
    frozen = os.environ.get("OPSKIT_NOW", "").strip()
    if frozen:
        at = parse_time(frozen, where="OPSKIT_NOW")
        if not _EARLIEST <= at < _LATEST:  # reports count back and forward from now
            raise BadInput(
                f"{frozen!r} is not a plausible now (between 1970 and 2999)", column="OPSKIT_NOW"
            )
        return at
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


@overload
def iso(value: datetime) -> str: ...
@overload
def iso(value: None) -> None: ...
def iso(value: datetime | None) -> str | None:
    """A stored time as ISO 8601 UTC with a ``Z``."""
    if value is None:
        return None
    return value.strftime("%Y-%m-%dT%H:%M:%S") + (
        f".{value.microsecond:06d}Z" if value.microsecond else "Z"
    )
