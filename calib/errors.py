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

    Examples
    --------
    >>> err = CalibError("The 'half_life_days' of [decay] must be > 0. Got -5.",
    ...                  code="out_of_range", suggestion="Use a positive number of days.")
    >>> err.code
    'out_of_range'
    >>> print(err)
    The 'half_life_days' of [decay] must be > 0. Got -5. Suggestion: Use a positive number of days.
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
    """A rule set, grid or experiment file is invalid.

    Examples
    --------
    >>> from calib.rules import RuleSet
    >>> try:
    ...     RuleSet.from_dict({"name": "r", "thresholds": {"mql": 50, "sql": 40}})
    ... except ConfigError as e:
    ...     print(e.code)
    out_of_range
    """


class StatsInputError(CalibError, ValueError):
    """An argument of a statistics function is invalid.

    It is a :class:`CalibError` (one exception tree) and a :class:`ValueError` (what
    numpy and scipy users expect). Tests assert ``code``.

    Examples
    --------
    >>> issubclass(StatsInputError, ValueError), issubclass(StatsInputError, CalibError)
    (True, True)
    """


@dataclass(frozen=True)
class Problem:
    """One problem found while validating a table.

    Attributes
    ----------
    table : str
        The table, e.g. ``"events"``.
    code : str
        A stable reason code, e.g. ``"missing_value"``.
    message : str
        What is wrong.
    column : str, optional
        The column concerned.
    count : int
        How many rows have the problem.
    rows : tuple of dict
        A few offending rows, to show the user.

    Examples
    --------
    >>> p = Problem("events", "missing_value", "2 rows have no lead_id.", column="lead_id",
    ...             count=2, rows=({"row": 3},))
    >>> p.describe()
    "[missing_value] events, column 'lead_id': 2 rows have no lead_id. (e.g. row=3)"
    """

    table: str
    code: str
    message: str
    column: str | None = None
    count: int = 0
    rows: tuple = field(default_factory=tuple)

    def describe(self) -> str:
        """The problem in one line: code, table, column, message and example rows."""
        where = f"{self.table}" + (f", column '{self.column}'" if self.column else "")
        text = f"[{self.code}] {where}: {self.message}"
        if self.rows:
            shown = "; ".join(
                ", ".join(f"{k}={v!r}" for k, v in row.items()) for row in self.rows
            )
            text += f" (e.g. {shown})"
        return text


class DataError(CalibError):
    """A data set is invalid. Holds every problem found, not just the first.

    Parameters
    ----------
    message : str
        What is wrong, in one sentence.
    code : str
        The reason code when there are no ``problems``.
    problems : iterable of Problem
        Every problem found.
    suggestion : str, optional
        How to fix it, when a fix is known.

    Examples
    --------
    >>> err = DataError("The data set 'data' is invalid.", problems=[
    ...     Problem("leads", "duplicate_id", "lead_id L7 appears twice.", column="lead_id")])
    >>> err.codes
    {'duplicate_id'}
    >>> print(err)
    The data set 'data' is invalid.
      - [duplicate_id] leads, column 'lead_id': lead_id L7 appears twice.
    """

    def __init__(self, message: str, *, code: str = "invalid_data", problems=(),
                 suggestion: str | None = None):
        super().__init__(message, code=code, suggestion=suggestion)
        self.problems = tuple(problems)

    @property
    def codes(self) -> set[str]:
        """The reason codes of the problems (the error's own code when there are none)."""
        return {p.code for p in self.problems} or {self.code}

    def __str__(self) -> str:
        text = super().__str__()
        if self.problems:
            text += "\n" + "\n".join("  - " + p.describe() for p in self.problems)
        return text
