"""``FitConfig``: every option of :func:`calib.fit.fit`, declared once.

The same frozen config serves the Python call (``fit(ds, rules, FitConfig(...))`` or
keyword overrides), the ``[fit]`` table of an experiment file (read by
:meth:`FitConfig.from_dict` when the file is loaded) and the flags of ``calib fit``.
Options are checked when the config is created, so a typo or a value out of range is
reported before any data is read.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, fields
from typing import Literal

from calib.errors import ConfigError

__all__ = ["FitConfig", "KINDS", "WEIGHTINGS", "LABEL_DELAYS"]

KINDS = ("none", "exponential", "window", "linear")  # decay kinds the profile compares
WEIGHTINGS = ("auto", "none", "ipw")
LABEL_DELAYS = ("model", "fixed")
AUTO = "auto"  # the default holdout column: ``exploration_holdout`` when present

Weighting = Literal["auto", "none", "ipw"]
LabelDelay = Literal["model", "fixed"]


def _choice(name: str, value, allowed) -> None:
    if value not in allowed:
        raise ConfigError(f"The '{name}' of the fit must be one of "
                          f"{', '.join(repr(a) for a in allowed)}. Got {value!r}.",
                          code="invalid_value")


def _number(name: str, value, *, allow_none: bool = True, low: float = 0.0,
            low_open: bool = True, high: float | None = None) -> float | None:
    """``value`` checked against ``low`` (open or closed) and ``high``; returned as given
    (an int stays an int, so that results show it as it was written)."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(f"The '{name}' of the fit must be a number. Got {value!r}.",
                          code="wrong_type")
    v = float(value)
    bad_low = v <= low if low_open else v < low
    if not math.isfinite(v) or bad_low or (high is not None and v > high):
        sign = ">" if low_open else ">="
        upper = f" and <= {high:g}" if high is not None else ""
        raise ConfigError(f"The '{name}' of the fit must be {sign} {low:g}{upper}. "
                          f"Got {value!r}.", code="out_of_range")
    return value


def _names(name: str, value) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [v for v in value.split(",") if v.strip()]
    if not all(isinstance(v, str) for v in value):
        raise ConfigError(f"The '{name}' of the fit must be a list of names. Got {value!r}.",
                          code="wrong_type")
    return tuple(v.strip() for v in value)


@dataclass(frozen=True)
class FitConfig:
    """What :func:`calib.fit.fit` learns and how.

    Parameters
    ----------
    outcome : str, default "meeting"
        The outcome to predict.
    train_until : str, optional
        Fit on the data as known at this date; test on leads created after. Default:
        two thirds of the way from the first ``created_at`` to the end of the data.
    horizon_days : float, optional
        Longest label window of an example (see :mod:`calib.fit.examples`). Default: the
        attribution window, at most 30 days.
    lag_days : float, default 1
        Time from the decisive moment to the recorded outcome (with
        ``label_delay="fixed"``).
    window_days : float, optional
        Attribution window of the replays (cutoffs and the out-of-time check). Default:
        from the data (:func:`calib.engine.delays.window_from_data`).
    capacity_mql_per_week : float, optional
        MQLs per week sales can take; without it the MQL cutoff keeps the current
        rules' volume.
    sql_precision : float, optional
        Target hit rate of SQLs, in (0, 1] (default: the current rules' SQL hit rate on
        the training leads, else twice the MQL hit rate).
    holdout_column : str or None, default "auto"
        Lead column flagging a random exploration holdout (``auto``:
        ``exploration_holdout`` when present; None: no holdout).
    weighting : {"auto", "none", "ipw"}, default "auto"
        Inverse-probability weighting of the training examples
        (:mod:`calib.fit.selection`).
    kinds : tuple of {"none", "exponential", "window", "linear"}
        Decay kinds to compare (default all four).
    l2 : float, optional
        Ridge penalty on standardised columns, >= 0. Default: chosen by time-series
        cross-validation (:func:`calib.fit.points.choose_l2`).
    max_examples : int, default 600000
        Negatives are subsampled above this many examples.
    exclude_columns : tuple of str, default ()
        Lead columns never to use (e.g. ones filled in by sales after the fact).
    name : str, optional
        Name of the proposed rule set (default: ``<current>-fitted``).
    seed : int, default 0
        Seed of the subsampling and of the snapshot split.
    label_delay : {"model", "fixed"}, default "model"
        When an outcome was decided: ``model`` spreads each label over the moments that
        could have booked it (:mod:`calib.fit.booking`); ``fixed`` places it
        ``lag_days`` before the outcome.
    points_step : float, default 5
        Step of the simplified proposal's points (:func:`calib.fit.simplify.simplify`),
        used by ``calib fit`` and ``calib run`` after the fit; :func:`~calib.fit.fit`
        itself does not round to it.

    Examples
    --------
    >>> cfg = FitConfig(capacity_mql_per_week=75, kinds=("exponential",))
    >>> FitConfig.from_dict(cfg.to_dict()) == cfg
    True
    >>> FitConfig(weighting="always")
    Traceback (most recent call last):
    ...
    calib.errors.ConfigError: The 'weighting' of the fit must be one of 'auto', 'none', \
'ipw'. Got 'always'.
    """

    outcome: str = "meeting"
    train_until: str | None = None
    horizon_days: float | None = None
    lag_days: float = 1.0
    window_days: float | None = None
    capacity_mql_per_week: float | None = None
    sql_precision: float | None = None
    holdout_column: str | None = AUTO
    weighting: Weighting = "auto"
    kinds: tuple[str, ...] = KINDS
    l2: float | None = None
    max_examples: int = 600_000
    exclude_columns: tuple[str, ...] = ()
    name: str | None = None
    seed: int = 0
    label_delay: LabelDelay = "model"
    points_step: float = 5.0

    def __post_init__(self):
        put = object.__setattr__
        if not isinstance(self.outcome, str) or not self.outcome.strip():
            raise ConfigError(f"The 'outcome' of the fit must be an outcome name. Got "
                              f"{self.outcome!r}.", code="wrong_type")
        put(self, "outcome", self.outcome.strip().lower())
        if self.train_until is not None and not isinstance(self.train_until, str):
            iso = getattr(self.train_until, "isoformat", None)
            put(self, "train_until", iso() if iso is not None else str(self.train_until))
        _choice("weighting", self.weighting, WEIGHTINGS)
        _choice("label_delay", self.label_delay, LABEL_DELAYS)
        kinds = _names("kinds", self.kinds)
        if not kinds:
            raise ConfigError("The 'kinds' of the fit name no decay kind to compare.",
                              code="invalid_value",
                              suggestion=f"Choose among {', '.join(KINDS)}.")
        for k in kinds:
            _choice("kinds", k, KINDS)
        put(self, "kinds", kinds)
        put(self, "exclude_columns", _names("exclude_columns", self.exclude_columns))
        for key in ("horizon_days", "window_days", "capacity_mql_per_week"):
            put(self, key, _number(key, getattr(self, key)))
        put(self, "lag_days", _number("lag_days", self.lag_days, allow_none=False,
                                      low_open=False))
        put(self, "sql_precision", _number("sql_precision", self.sql_precision, high=1.0))
        put(self, "l2", _number("l2", self.l2, low_open=False))
        put(self, "points_step", _number("points_step", self.points_step, allow_none=False))
        for key in ("max_examples", "seed"):
            v = getattr(self, key)
            whole = isinstance(v, numbers.Integral) or (
                isinstance(v, numbers.Real) and math.isfinite(v) and float(v).is_integer())
            if isinstance(v, bool) or not whole or (key == "max_examples" and v < 1):
                raise ConfigError(f"The '{key}' of the fit must be a whole number"
                                  + (" >= 1" if key == "max_examples" else "")
                                  + f". Got {v!r}.", code="out_of_range")
            put(self, key, int(v))

    @classmethod
    def from_dict(cls, d: dict, *, source: str | None = None) -> FitConfig:
        """The config from a plain dict (the ``[fit]`` table of an experiment file).

        Parameters
        ----------
        d : dict
            Option name -> value; every key must be a field of :class:`FitConfig`.
        source : str, optional
            Where the dict comes from, for the error messages (e.g. ``"[fit] in
            experiment.toml"``).

        Returns
        -------
        FitConfig

        Raises
        ------
        ConfigError
            ``unknown_key`` for a key that is no option (with the closest one as
            suggestion), or the error of the bad value.

        Examples
        --------
        >>> FitConfig.from_dict({"outcome": "won", "kinds": ["exponential"]}).kinds
        ('exponential',)
        >>> try:
        ...     FitConfig.from_dict({"horizon_day": 10})
        ... except ConfigError as e:
        ...     print(e.code, e.suggestion.split("?")[0])
        unknown_key Did you mean 'horizon_days'
        """
        from calib.rules.config import _suggest

        where = source or "the fit"
        if not isinstance(d, dict):
            raise ConfigError(f"The options of {where} must be a table. Got {d!r}.",
                              code="wrong_type")
        allowed = [f.name for f in fields(cls)]
        for key in d:
            if key not in allowed:
                raise ConfigError(f"Unknown key '{key}' of {where}.", code="unknown_key",
                                  suggestion=_suggest(str(key), allowed))
        if source is None:
            return cls(**d)
        try:
            return cls(**d)
        except ConfigError as e:
            raise ConfigError(f"{source}: {e.message}", code=e.code,
                              suggestion=e.suggestion) from None

    def to_dict(self) -> dict:
        """Every option as a plain, JSON-safe dict (tuples as lists).

        Returns
        -------
        dict
            ``FitConfig.from_dict(cfg.to_dict()) == cfg``.

        Examples
        --------
        >>> FitConfig(seed=3).to_dict()["seed"]
        3
        """
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["kinds"] = list(self.kinds)
        out["exclude_columns"] = list(self.exclude_columns)
        return out

    def replace(self, **options) -> FitConfig:
        """A copy with ``options`` changed, checked as :meth:`from_dict` checks them.

        Examples
        --------
        >>> FitConfig().replace(outcome="won").outcome
        'won'
        """
        return FitConfig.from_dict({**self.to_dict(), **options})

