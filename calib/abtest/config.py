"""The options of a live A/B test analysis, as one frozen config.

The same config serves the ``[abtest]`` table of an experiment file, the flags of
``calib abtest`` and the Python call :func:`calib.abtest.abtest`::

    [abtest]
    assignments = "data/assignments.csv"   # lead_id, arm, optional assigned_at
    control = "control"                    # default: the arm named 'control'
    outcomes = ["meeting", "sql"]          # primary outcomes; default: every outcome but mql
    guardrails = ["unsubscribe"]           # event types or outcomes that must not rise
    window_days = 30                       # default in a file: measured from the data
    planned = { control = 0.5, strict = 0.5 }   # for the sample-ratio check
    correction = "holm"                    # or "bh"
    alpha = 0.05
    tau = 0.02                             # mixture scale of the always-valid p-values
    look_every_days = 7
    arms = { control = "current rules", strict = "MQL at 100 points" }  # for the report
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Literal

from calib.abtest.assign import ArmAllocation
from calib.errors import ConfigError
from calib.stats.sequential import DEFAULT_TAU

CORRECTIONS = ("holm", "bh")
#: The longest window in days (longer ones overflow the time arithmetic).
MAX_WINDOW_DAYS = 36_500


@dataclass(frozen=True)
class ABTestConfig:
    """What a live-test analysis reads and how (``[abtest]``, ``calib abtest``, ``abtest()``).

    Parameters
    ----------
    assignments : path, optional
        The assignments file (``lead_id``, ``arm``, optional ``assigned_at``); default
        the data set's own assignments table. Relative paths in an experiment file are
        relative to the file.
    control : str, optional
        The control arm; default ``"control"`` if there is such an arm.
    outcomes : tuple of str, optional
        Primary outcomes; default every outcome in the data except ``mql`` and the
        outcomes named as guardrails.
    guardrails : tuple of str, default ()
        Event types or outcomes whose rate must not rise.
    window_days : float or None, default 90
        A lead's outcome counts within this many days after its assignment; ``None``
        measures it from the data: the time after assignment within which 95% of the
        primary outcomes arrive (:func:`calib.engine.delays.window_from_times`). In an
        experiment file (:meth:`from_dict`) an absent ``window_days`` is ``None``, as
        every window of an experiment file is measured unless it is given.
    planned : ArmAllocation, optional
        Intended allocation for the sample-ratio check; default equal shares. A table
        ``{arm = share}`` or text ``"a=0.5,b=0.5"`` is read as one.
    correction : {"holm", "bh"}, default "holm"
        Multiple-testing correction within each family.
    alpha : float, default 0.05
        Level of tests and one minus the confidence of intervals.
    tau : float, default 0.02
        Mixture scale of the always-valid p-values (an absolute difference).
    look_every_days : float, default 7
        Spacing of the reconstructed looks.
    arms : dict of str to str, optional
        What each arm does, in words, for the report.
    source : str, optional
        The experiment file the config comes from, named in error messages.

    Examples
    --------
    >>> ABTestConfig(outcomes=("meeting",), guardrails=("unsubscribe",)).to_dict()["window_days"]
    90.0
    >>> cfg = ABTestConfig.from_dict({"control": "control", "planned": {"control": 0.5,
    ...                                                                 "strict": 0.5}})
    >>> cfg.planned.arms, cfg.window_days
    (('control', 'strict'), None)
    >>> ABTestConfig.from_dict(cfg.to_dict()) == cfg
    True
    """

    assignments: Path | None = None
    control: str | None = None
    outcomes: tuple[str, ...] | None = None
    guardrails: tuple[str, ...] = ()
    window_days: float | None = 90.0
    planned: ArmAllocation | None = None
    correction: Literal["holm", "bh"] = "holm"
    alpha: float = 0.05
    tau: float = DEFAULT_TAU
    look_every_days: float = 7.0
    arms: dict | None = None
    source: str | None = field(default=None, compare=False, repr=False)

    def __post_init__(self):
        where = self._where()
        if self.assignments is not None:
            if not isinstance(self.assignments, (str, Path)) or not str(self.assignments):
                raise ConfigError(f"The 'assignments' of {where} must name a file. Got "
                                  f"{self.assignments!r}.", code="wrong_type")
            object.__setattr__(self, "assignments", Path(self.assignments))
        if self.control is not None and (not isinstance(self.control, str)
                                         or not self.control.strip()):
            raise ConfigError(f"The 'control' of {where} must be an arm name. Got "
                              f"{self.control!r}.", code="wrong_type")
        if self.outcomes is not None:
            object.__setattr__(self, "outcomes", tuple(
                o.strip().lower() for o in _names(self.outcomes, "outcomes", where)))
        object.__setattr__(self, "guardrails", tuple(
            g.strip() for g in _names(self.guardrails or (), "guardrails", where)))
        if self.window_days is not None:
            object.__setattr__(self, "window_days", _window(self.window_days, where))
        if self.planned is not None and not isinstance(self.planned, ArmAllocation):
            object.__setattr__(self, "planned", _allocation(self.planned, where))
        if self.correction not in CORRECTIONS:
            raise ConfigError(f"The 'correction' of {where} must be 'holm' or 'bh'. Got "
                              f"{self.correction!r}.", code="invalid_value")
        self._check_numbers(where)
        if self.arms is not None and not (isinstance(self.arms, dict) and all(
                isinstance(v, str) for v in self.arms.values())):
            raise ConfigError(f"'arms' of {where} must be a table of arm = \"what it "
                              f"does\". Got {self.arms!r}.", code="invalid_value")

    def _where(self) -> str:
        return f"[abtest] in {self.source}" if self.source else "the A/B test"

    def _check_numbers(self, where: str) -> None:
        if not (_is_number(self.alpha) and 0 < self.alpha < 1):
            raise ConfigError(f"The 'alpha' of {where} must be in (0, 1). Got {self.alpha!r}.",
                              code="out_of_range")
        for key in ("tau", "look_every_days"):
            value = getattr(self, key)
            if not (_is_number(value) and value > 0):
                raise ConfigError(f"The '{key}' of {where} must be a number > 0. Got "
                                  f"{value!r}.", code="out_of_range")

    @classmethod
    def from_dict(cls, d: dict, *, source: str | None = None,
                  base: Path | None = None) -> ABTestConfig:
        """Read the ``[abtest]`` table of an experiment file (or the same as a dict).

        Parameters
        ----------
        d : dict
            The table; its keys are the config's fields (``source`` excepted).
        source : str, optional
            The file it comes from, for error messages.
        base : path, optional
            Folder that a relative ``assignments`` path is relative to.

        Returns
        -------
        ABTestConfig
            With ``window_days=None`` (measured from the data) when the table has none.

        Raises
        ------
        ConfigError
            On an unknown key (with the closest allowed one as a suggestion) or a bad
            value.

        Examples
        --------
        >>> ABTestConfig.from_dict({"outcomes": ["Meeting"], "window_days": 30}).outcomes
        ('meeting',)
        >>> from calib.errors import ConfigError
        >>> try:
        ...     ABTestConfig.from_dict({"corection": "bh"})
        ... except ConfigError as e:
        ...     print(e.code, e.suggestion.split("?")[0])
        unknown_key Did you mean 'correction'
        """
        where = f"[abtest] in {source}" if source else "the A/B test"
        if not isinstance(d, dict):
            raise ConfigError(f"{where} must be a table.", code="wrong_type")
        allowed = KEYS
        for key in d:
            if key not in allowed:
                from calib.rules.config import _suggest

                raise ConfigError(f"Unknown key '{key}' of {where}.", code="unknown_key",
                                  suggestion=_suggest(key, allowed))
        d = {"window_days": None, **d}
        if base is not None and isinstance(d.get("assignments"), str):
            d["assignments"] = Path(base) / d["assignments"]
        return cls(**d, source=source)

    def to_dict(self) -> dict:
        """The ``[abtest]`` table (TOML- and JSON-safe; absent values are left out).

        Returns
        -------
        dict
            Read back by :meth:`from_dict` into an equal config.

        Examples
        --------
        >>> ABTestConfig(control="control", correction="bh").to_dict()["correction"]
        'bh'
        """
        out = {"assignments": str(self.assignments) if self.assignments else None,
               "control": self.control,
               "outcomes": list(self.outcomes) if self.outcomes is not None else None,
               "guardrails": list(self.guardrails), "window_days": self.window_days,
               "planned": self.planned.to_dict() if self.planned else None,
               "correction": self.correction, "alpha": self.alpha, "tau": self.tau,
               "look_every_days": self.look_every_days,
               "arms": dict(self.arms) if self.arms is not None else None}
        return {k: v for k, v in out.items() if v is not None}


#: The keys of an ``[abtest]`` table: the config's fields.
KEYS = tuple(f.name for f in fields(ABTestConfig) if f.name != "source")


def _is_number(value) -> bool:
    return (not isinstance(value, bool) and isinstance(value, (int, float))
            and math.isfinite(value))


def _names(value, key: str, where: str) -> tuple[str, ...]:
    """Outcome or event names: a list of texts (one text is a list of one)."""
    if isinstance(value, str):
        value = (value,)
    if not isinstance(value, (list, tuple)) or not all(
            isinstance(v, str) and v.strip() for v in value):
        raise ConfigError(f"The '{key}' of {where} must be a list of names. Got {value!r}.",
                          code="wrong_type")
    return tuple(value)


def _window(value, where: str) -> float:
    if not _is_number(value):
        raise ConfigError(f"The 'window_days' of {where} must be a positive number. Got "
                          f"{value!r}.", code="wrong_type")
    if not 0 < value <= MAX_WINDOW_DAYS:
        raise ConfigError(f"The 'window_days' of {where} must be > 0 and at most "
                          f"{MAX_WINDOW_DAYS:,} days. Got {value!r}.", code="out_of_range")
    return float(value)


def _allocation(value, where: str) -> ArmAllocation:
    source = f"'planned' of {where}"
    if isinstance(value, str):
        return ArmAllocation.parse(value, source=source)
    return ArmAllocation.from_dict(value, source=source)
