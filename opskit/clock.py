"""The one clock opskit reads; ``OPSKIT_NOW`` freezes it."""

from __future__ import annotations

import os
from datetime import UTC, datetime

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


def now() -> datetime:
    """Now as naive UTC, or the frozen instant in ``OPSKIT_NOW``."""
    frozen = os.environ.get("OPSKIT_NOW", "").strip()
    if frozen:
        return parse_time(frozen, where="OPSKIT_NOW")
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def iso(value: datetime | None) -> str | None:
    """A stored time as ISO 8601 UTC with a ``Z``."""
    if value is None:
        return None
    return value.strftime("%Y-%m-%dT%H:%M:%S") + (
        f".{value.microsecond:06d}Z" if value.microsecond else "Z"
    )
