"""The one exception tree of calib.

Every error a user can cause derives from :class:`CalibError`. The command line prints
``str(error)`` on one line (plus the suggestion) and exits 1; tests assert the ``code``
attribute, never the wording.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class CalibError(Exception):
    """Base class of every error calib raises on bad input or configuration.

    Parameters
    ----------
    message : str
        What is wrong, naming the file, the column or key, and what is allowed.
    code : str
        A stable reason code (``"missing_column"``, ``"unknown_key"``...).
    suggestion : str, optional
        How to fix it, when a fix is known.
    """

    def __init__(self, message: str, *, code: str = "error", suggestion: str | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.suggestion = suggestion

    def __str__(self) -> str:
        if self.suggestion:
            return f"{self.message} Suggestion: {self.suggestion}"
        return self.message


class ConfigError(CalibError):
    """A rule set, grid or experiment file is invalid."""


class StatsInputError(CalibError, ValueError):
    """An argument of a statistics function is invalid.

    It is a :class:`CalibError` (one exception tree) and a :class:`ValueError` (what
    numpy and scipy users expect). Tests assert ``code``.
    """


@dataclass(frozen=True)
class Problem:
    """One problem found while validating a table.

    ``rows`` holds a few offending rows (as dicts) to show the user.
    """

    table: str
    code: str
    message: str
    column: str | None = None
    count: int = 0
    rows: tuple = field(default_factory=tuple)

    def describe(self) -> str:
        where = f"{self.table}" + (f", column '{self.column}'" if self.column else "")
        text = f"[{self.code}] {where}: {self.message}"
        if self.rows:
            shown = "; ".join(
                ", ".join(f"{k}={v!r}" for k, v in row.items()) for row in self.rows
            )
            text += f" (e.g. {shown})"
        return text


class DataError(CalibError):
    """A data set is invalid. Holds every problem found, not just the first."""

    def __init__(self, message: str, *, code: str = "invalid_data", problems=(),
                 suggestion: str | None = None):
        super().__init__(message, code=code, suggestion=suggestion)
        self.problems = tuple(problems)

    @property
    def codes(self) -> set[str]:
        return {p.code for p in self.problems} or {self.code}

    def __str__(self) -> str:
        text = super().__str__()
        if self.problems:
            text += "\n" + "\n".join("  - " + p.describe() for p in self.problems)
        return text
