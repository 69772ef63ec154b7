"""Errors a person can act on.

Every error opskit raises on purpose derives from ``OpskitError`` and carries a
one-line message. The CLI turns ``Refused`` into exit code 1 and ``BadInput``
into exit code 2; widgets show the same message inline.

    OpskitError
    ├── Refused                  a rule (R1-R8) says no            -> exit 1
    │   ├── NotAuthorized        R1: the actor may not act here
    │   ├── FullAccessMember     R3/R8: lower their access level first
    │   ├── WouldLockOutGroup    R4: no Full Access member or owner would be left
    │   └── SignInRefused        R5: an inactive member cannot sign in
    └── BadInput                 R12: unknown names, malformed files, wrong types -> exit 2
        ├── UnknownUser
        ├── UnknownGroup
        ├── UnknownMember
        ├── NotAnOpskitDatabase
        └── DatabaseUnavailable
"""

from __future__ import annotations


class OpskitError(Exception):
    """Base class: ``str(error)`` is the one line shown to the user."""

    exit_code = 2


class Refused(OpskitError):
    exit_code = 1


class NotAuthorized(Refused):
    pass


class FullAccessMember(Refused):
    pass


class WouldLockOutGroup(Refused):
    pass


class SignInRefused(Refused):
    pass


class BadInput(OpskitError):
    """Input that cannot be used; ``file``, ``line`` and ``column`` say where when known."""

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        column: str | None = None,
    ) -> None:
        self.file = file
        self.line = line
        self.column = column
        self.detail = message
        where = ":".join(str(part) for part in (file, line) if part is not None)
        if column is not None:
            # in a file a column is named as such; on the command line it is the option
            where = f"{where}, column {column}" if where else column
        super().__init__(f"{where}: {message}" if where else message)


class UnknownUser(BadInput):
    pass


class UnknownGroup(BadInput):
    pass


class UnknownMember(BadInput):
    pass


class NotAnOpskitDatabase(BadInput):
    pass


class DatabaseUnavailable(BadInput):
    pass
