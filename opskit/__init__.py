"""opskit: operations toolkit for practice groups."""

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

__all__ = [
    "BadInput",
    "Database",
    "FullAccessMember",
    "NotAuthorized",
    "OpskitError",
    "Refused",
    "SignInRefused",
    "UnknownGroup",
    "UnknownMember",
    "UnknownUser",
    "WouldLockOutGroup",
    "connect",
]
