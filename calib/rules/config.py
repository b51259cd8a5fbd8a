"""Rule sets (SPEC section 2) as frozen, validated config objects.

A :class:`RuleSet` is built from the dict of a parsed TOML file with
:meth:`RuleSet.from_dict` and written back with :meth:`RuleSet.to_dict`; the two
round-trip. Every check happens at creation, so a ``RuleSet`` that exists is valid.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field, replace
from typing import Any, Literal, get_args

import numpy as np

from calib.errors import ConfigError

DecayKind = Literal["none", "exponential", "step", "window", "linear"]
DECAY_KINDS: tuple[str, ...] = get_args(DecayKind)

# Which parameters each decay kind needs (and allows).
DECAY_PARAMS: dict[str, tuple[str, ...]] = {
    "none": (),
    "exponential": ("half_life_days",),
    "step": ("percent", "every_days"),
    "window": ("days",),
    "linear": ("days",),
}


class _Where:
    """Builds the 'of [section] in file' part of messages."""

    def __init__(self, source: str | None):
        self.source = source

    def __call__(self, section: str) -> str:
        text = f"of {section}"
        if self.source:
            text += f" in {self.source}"
        return text


def _suggest(key: str, allowed) -> str | None:
    close = difflib.get_close_matches(key, list(allowed), n=1, cutoff=0.5)
    if close:
        return f"Did you mean '{close[0]}'? Allowed keys: {', '.join(sorted(allowed))}."
    return f"Allowed keys: {', '.join(sorted(allowed))}."


def _check_keys(d: dict, allowed, section: str, where: _Where) -> None:
    for key in d:
        if key not in allowed:
            raise ConfigError(
                f"Unknown key '{key}' {where(section)}.",
                code="unknown_key",
                suggestion=_suggest(key, allowed),
            )


def _given(rule, *keys: str) -> dict[str, Any]:
    """The fields ``keys`` of ``rule`` that the file gave (not None), in that order: a
    table is written back with only what was written."""
    return {k: v for k in keys if (v := getattr(rule, k)) is not None}


# points, caps, cutoffs and days beyond this are typing mistakes; scores of summed
# points near the float limit would overflow to infinity
MAX_NUMBER = 1e9


def _number(value: Any, key: str, section: str, where: _Where, *, integer: bool = False) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if integer:
        ok = ok and float(value).is_integer()
    if not ok or (isinstance(value, float) and not math.isfinite(value)):
        kind = "a whole number" if integer else "a number"
        raise ConfigError(
            f"The '{key}' {where(section)} must be {kind}. Got {value!r}.",
            code="wrong_type",
        )
    if abs(value) > MAX_NUMBER:
        raise ConfigError(
            f"The '{key}' {where(section)} must be between -{MAX_NUMBER:,.0f} and "
            f"{MAX_NUMBER:,.0f}. Got {value!r}.",
            code="out_of_range",
        )
    return int(value) if integer else value


def _positive(value: Any, key: str, section: str, where: _Where) -> float:
    value = _number(value, key, section, where)
    if value <= 0:
        raise ConfigError(
            f"The '{key}' {where(section)} must be > 0. Got {value!r}.",
            code="out_of_range",
        )
    return value


@dataclass(frozen=True)
class Decay:
    """How behaviour points fade with the age of the event (fit points never decay).

    Attributes
    ----------
    kind : {"none", "exponential", "step", "window", "linear"}
        The decay.
    half_life_days : float, optional
        ``exponential``: points halve every so many days.
    percent, every_days : float, optional
        ``step``: points lose ``percent`` % every ``every_days`` days.
    days : float, optional
        ``window``: points count for so many days; ``linear``: they fall to zero over them.

    Examples
    --------
    >>> d = Decay("exponential", half_life_days=14)
    >>> d.kernel([0, 14, 28]).tolist()
    [1.0, 0.5, 0.25]
    >>> Decay("window", days=30).to_dict()
    {'kind': 'window', 'days': 30}
    """

    kind: DecayKind = "none"
    half_life_days: float | None = None
    percent: float | None = None
    every_days: float | None = None
    days: float | None = None

    def __post_init__(self):
        where = _Where(None)
        if self.kind not in DECAY_KINDS:
            raise ConfigError(
                f"The 'kind' {where('[decay]')} must be one of {', '.join(DECAY_KINDS)}. "
                f"Got {self.kind!r}.",
                code="invalid_value",
            )
        needed = DECAY_PARAMS[self.kind]
        for name in ("half_life_days", "percent", "every_days", "days"):
            value = getattr(self, name)
            if name in needed and value is None:
                raise ConfigError(
                    f"The decay kind '{self.kind}' {where('[decay]')} needs '{name}'.",
                    code="missing_key",
                )
            if name not in needed and value is not None:
                raise ConfigError(
                    f"The key '{name}' {where('[decay]')} does not apply to kind "
                    f"'{self.kind}' (it takes: {', '.join(needed) or 'nothing'}).",
                    code="unknown_key",
                )
        for name in needed:
            _positive(getattr(self, name), name, "[decay]", where)
        if self.kind == "step" and not (0 < self.percent <= 100):
            raise ConfigError(
                f"The 'percent' {where('[decay]')} must be in (0, 100]. Got {self.percent!r}.",
                code="out_of_range",
            )

    def kernel(self, age_days):
        """Weight of an event of age ``age_days`` (>= 0), vectorised.

        Parameters
        ----------
        age_days : float or array_like
            Ages in days.

        Returns
        -------
        numpy.ndarray
            Weights in [0, 1], 1 at age 0.
        """
        age = np.asarray(age_days, dtype=float)
        if self.kind == "none":
            return np.ones_like(age)
        if self.kind == "exponential":
            return 0.5 ** (age / self.half_life_days)
        if self.kind == "step":
            return (1.0 - self.percent / 100.0) ** np.floor(age / self.every_days)
        if self.kind == "window":
            return (age < self.days).astype(float)
        return np.maximum(0.0, 1.0 - age / self.days)  # linear

    def to_dict(self) -> dict:
        """The ``[decay]`` table: the kind and its parameters."""
        d: dict[str, Any] = {"kind": self.kind}
        for name in DECAY_PARAMS[self.kind]:
            d[name] = getattr(self, name)
        return d


@dataclass(frozen=True)
class FitRule:
    """An explicit (profile) rule: adds ``points`` once when its condition holds.

    The condition is one of ``in_`` (the field is one of the levels), ``equals``, a range
    (``min`` and/or ``max``, inclusive) or ``missing``.

    Attributes
    ----------
    field : str
        A lead column.
    points : float
        Added when the condition holds.
    name : str
        The rule's name (the field's, when the file gives none).
    in_, equals, min, max, missing
        The condition.
    named : bool
        Whether the file gave the name (kept for round trips).

    Examples
    --------
    >>> rs = RuleSet.from_dict({"name": "r", "fit": [{"field": "employees", "min": 200,
    ...                                                "points": 5}],
    ...                         "thresholds": {"mql": 5}})
    >>> rule = rs.fit[0]
    >>> rule.name, rule.min, rule.to_dict()
    ('employees', 200, {'field': 'employees', 'min': 200, 'points': 5})
    """

    field: str
    points: float
    name: str
    in_: tuple | None = None
    equals: Any = None
    min: float | None = None
    max: float | None = None
    missing: bool | None = None
    named: bool = False  # whether the name was given in the file (kept for round trips)

    def to_dict(self) -> dict:
        """The rule's ``[[fit]]`` table, as the file wrote it."""
        name = {"name": self.name} if self.named else {}
        in_ = {} if self.in_ is None else {"in": list(self.in_)}
        return {**name, "field": self.field, **in_,
                **_given(self, "equals", "min", "max", "missing"), "points": self.points}


@dataclass(frozen=True)
class BehaviorRule:
    """An implicit (activity) rule: ``points`` per matching event, decayed, capped.

    Attributes
    ----------
    name : str
        The rule's name (the event type's, when the file gives none).
    events : tuple of str
        The event types it counts.
    points : float
        Per event, before decay.
    cap : float, optional
        The most points the rule gives a lead.
    max_per_day : int, optional
        The most events a day that count.
    named : bool
        Whether the file gave the name (kept for round trips).
    single_event : bool
        Written back as ``event = ...`` rather than ``events = [...]``.

    Examples
    --------
    >>> rs = RuleSet.from_dict({"name": "r", "behavior": [{"event": "email_open",
    ...                                                     "points": 5, "cap": 15}],
    ...                         "thresholds": {"mql": 5}})
    >>> rule = rs.behavior[0]
    >>> rule.name, rule.events, rule.cap
    ('email_open', ('email_open',), 15)
    """

    name: str
    events: tuple[str, ...]
    points: float
    cap: float | None = None
    max_per_day: int | None = None
    named: bool = True
    single_event: bool = True  # written back as `event = ...` rather than `events = [...]`

    def to_dict(self) -> dict:
        """The rule's ``[[behavior]]`` table, as the file wrote it."""
        name = {"name": self.name} if self.named else {}
        events = ({"event": self.events[0]} if self.single_event and len(self.events) == 1
                  else {"events": list(self.events)})
        return {**name, **events, "points": self.points,
                **_given(self, "cap", "max_per_day")}


@dataclass(frozen=True)
class Limits:
    """Optional clamp of the total score.

    Attributes
    ----------
    min, max : float, optional
        The lowest and highest score a lead can have.

    Examples
    --------
    >>> Limits(max=100).to_dict()
    {'max': 100}
    """

    min: float | None = None
    max: float | None = None

    def to_dict(self) -> dict:
        """The ``[limits]`` table (empty without limits)."""
        return _given(self, "min", "max")


@dataclass(frozen=True)
class Thresholds:
    """MQL and SQL cutoffs; ``mql_min_fit`` also requires a fit score for MQL and SQL.

    Attributes
    ----------
    mql : float
        A lead becomes an MQL when its score reaches this.
    sql : float, optional
        ... and an SQL when it reaches this (above ``mql``).
    mql_min_fit : float, optional
        The fit score an MQL (and an SQL) needs as well.

    Examples
    --------
    >>> Thresholds(mql=85, sql=115).to_dict()
    {'mql': 85, 'sql': 115}
    """

    mql: float
    sql: float | None = None
    mql_min_fit: float | None = None

    def to_dict(self) -> dict:
        """The ``[thresholds]`` table."""
        d: dict[str, Any] = {"mql": self.mql}
        if self.sql is not None:
            d["sql"] = self.sql
        if self.mql_min_fit is not None:
            d["mql_min_fit"] = self.mql_min_fit
        return d


TOP_KEYS = ("name", "fit", "behavior", "decay", "limits", "thresholds")
FIT_KEYS = ("name", "field", "in", "equals", "min", "max", "missing", "points")
BEHAVIOR_KEYS = ("name", "event", "events", "points", "cap", "max_per_day")
LIMIT_KEYS = ("min", "max")
THRESHOLD_KEYS = ("mql", "sql", "mql_min_fit")
DECAY_KEYS = ("kind", "half_life_days", "percent", "every_days", "days")


@dataclass(frozen=True)
class RuleSet:
    """A complete lead-scoring rule set (SPEC section 2).

    Examples
    --------
    >>> rs = RuleSet.from_dict({"name": "r", "behavior": [{"event": "demo", "points": 30}],
    ...                         "thresholds": {"mql": 30}})
    >>> rs.behavior[0].name, rs.decay.kind
    ('demo', 'none')
    """

    name: str
    thresholds: Thresholds
    fit: tuple[FitRule, ...] = ()
    behavior: tuple[BehaviorRule, ...] = ()
    decay: Decay = field(default_factory=Decay)
    limits: Limits = field(default_factory=Limits)
    source: str | None = field(default=None, compare=False)

    def __post_init__(self):
        where = _Where(self.source)
        t = self.thresholds
        if t.sql is not None and t.sql <= t.mql:
            raise ConfigError(
                f"The 'sql' cutoff {where('[thresholds]')} must be greater than 'mql' "
                f"({t.mql!r}). Got {t.sql!r}.",
                code="out_of_range",
            )
        lim = self.limits
        if lim.min is not None and lim.max is not None and lim.min >= lim.max:
            raise ConfigError(
                f"The 'min' {where('[limits]')} must be below 'max' ({lim.max!r}). "
                f"Got {lim.min!r}.",
                code="out_of_range",
            )
        for kind, rules in (("fit", self.fit), ("behavior", self.behavior)):
            seen: set[str] = set()
            for r in rules:
                if r.name in seen:
                    raise ConfigError(
                        f"Duplicate {kind} rule name '{r.name}' {where(f'[[{kind}]]')}.",
                        code="duplicate_name",
                        suggestion="Give each rule a unique 'name'.",
                    )
                seen.add(r.name)

    # ------------------------------------------------------------------ parsing
    @classmethod
    def from_dict(cls, d: dict, *, source: str | None = None) -> "RuleSet":
        """Build a rule set from a parsed TOML dict.

        Parameters
        ----------
        d : dict
            The TOML file's content (SPEC section 2).
        source : str, optional
            The file it came from, named in error messages (and the default name).

        Returns
        -------
        RuleSet
            Valid: every check runs at creation.

        Raises
        ------
        calib.errors.ConfigError
            On any invalid key or value, naming it (with a close match for a misspelt key).

        Examples
        --------
        >>> RuleSet.from_dict({"name": "r", "thresholds": {"mql": 30},
        ...                    "decay": {"kind": "exponentail"}})
        Traceback (most recent call last):
        calib.errors.ConfigError: The 'kind' of [decay] must be one of none, exponential, step, window, linear. Got 'exponentail'. Suggestion: Did you mean 'exponential'? Allowed kinds: exponential, linear, none, step, window.
        """
        where = _Where(source)
        if not isinstance(d, dict):
            raise ConfigError(f"A rule set must be a TOML table {where('the file')}.",
                              code="wrong_type")
        _check_keys(d, TOP_KEYS, "the rule set", where)
        name = d.get("name", None)
        if name is None:
            name = _default_name(source)
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"The 'name' {where('the rule set')} must be a non-empty string. "
                              f"Got {name!r}.", code="wrong_type")

        fit_rules = tuple(_parse_fit(i, r, where) for i, r in enumerate(_table_list(d, "fit", where)))
        fit_rules = _name_fit_rules(fit_rules)
        behavior = tuple(
            _parse_behavior(i, r, where) for i, r in enumerate(_table_list(d, "behavior", where))
        )

        decay = _parse_decay(d.get("decay", {"kind": "none"}), where, source)

        lim_d = d.get("limits", {})
        if not isinstance(lim_d, dict):
            raise ConfigError(f"[limits] {where('the rule set')} must be a table.", code="wrong_type")
        _check_keys(lim_d, LIMIT_KEYS, "[limits]", where)
        limits = Limits(**{k: _number(v, k, "[limits]", where) for k, v in lim_d.items()})

        thresholds = _parse_thresholds(d.get("thresholds"), where)
        return cls(name=name, thresholds=thresholds, fit=fit_rules, behavior=behavior,
                   decay=decay, limits=limits, source=source)

    def to_dict(self) -> dict:
        """The TOML-ready dict; ``RuleSet.from_dict(rs.to_dict()) == rs``.

        Returns
        -------
        dict
            The rule-set file's tables (SPEC section 2): ``name``, ``[thresholds]``,
            ``[decay]``, ``[limits]``, ``[[fit]]`` and ``[[behavior]]``.

        Examples
        --------
        >>> from calib import load_rules
        >>> rs = load_rules("calib-demo/truth.toml")
        >>> RuleSet.from_dict(rs.to_dict()) == rs
        True
        """
        d: dict[str, Any] = {"name": self.name}
        if self.fit:
            d["fit"] = [r.to_dict() for r in self.fit]
        if self.behavior:
            d["behavior"] = [r.to_dict() for r in self.behavior]
        d["decay"] = self.decay.to_dict()
        if self.limits.to_dict():
            d["limits"] = self.limits.to_dict()
        d["thresholds"] = self.thresholds.to_dict()
        return d

    # ----------------------------------------------------------- helpers
    @property
    def event_types(self) -> tuple[str, ...]:
        """Every event type any behaviour rule refers to, in rule order."""
        seen: dict[str, None] = {}
        for r in self.behavior:
            for e in r.events:
                seen.setdefault(e, None)
        return tuple(seen)

    def with_params(self, params: dict[str, Any]) -> "RuleSet":
        """A copy with parameters replaced by TOML path.

        Parameters
        ----------
        params : dict
            Path to value: ``"thresholds.mql"``, ``"decay.half_life_days"``,
            ``"behavior.pricing.points"``, ``"fit.seniority.points"`` (rules by name).

        Returns
        -------
        RuleSet
            A new rule set, checked as any other (this one is frozen).

        Raises
        ------
        calib.errors.ConfigError
            For a path that names nothing, or a value the rule set does not accept.

        Examples
        --------
        >>> from calib import load_rules
        >>> rs = load_rules("calib-demo/truth.toml").with_params(
        ...     {"thresholds.mql": 50, "decay.half_life_days": 21})
        >>> rs.thresholds.mql, rs.decay.half_life_days
        (50, 21)
        """
        d = self.to_dict()
        for path, value in params.items():
            _set_path(d, path, value, self)
        return RuleSet.from_dict(d, source=self.source)


def _parse_decay(decay_d, where: _Where, source: str | None) -> Decay:
    """The ``[decay]`` table as a :class:`Decay`; raises :class:`ConfigError`."""
    if not isinstance(decay_d, dict):
        raise ConfigError(f"[decay] {where('the rule set')} must be a table.", code="wrong_type")
    _check_keys(decay_d, DECAY_KEYS, "[decay]", where)
    kind = decay_d.get("kind", "none")
    if kind not in DECAY_KINDS:
        raise ConfigError(
            f"The 'kind' {where('[decay]')} must be one of {', '.join(DECAY_KINDS)}. "
            f"Got {kind!r}.",
            code="invalid_value",
            suggestion=_suggest(str(kind), DECAY_KINDS).replace("keys", "kinds"),
        )
    params = {}
    for k in DECAY_PARAMS[kind]:
        if k in decay_d:
            params[k] = _number(decay_d[k], k, "[decay]", where)
    for k in DECAY_KEYS[1:]:
        if k in decay_d and k not in DECAY_PARAMS[kind]:
            raise ConfigError(
                f"The key '{k}' {where('[decay]')} does not apply to kind '{kind}' "
                f"(it takes: {', '.join(DECAY_PARAMS[kind]) or 'nothing'}).",
                code="unknown_key",
            )
    try:
        return Decay(kind=kind, **params)
    except ConfigError as e:
        raise _with_source(e, source) from None


def _parse_thresholds(th_d, where: _Where) -> Thresholds:
    """The ``[thresholds]`` table as :class:`Thresholds`; raises :class:`ConfigError`."""
    if th_d is None:
        raise ConfigError(f"A [thresholds] table with 'mql' is required {where('the rule set')}.",
                          code="missing_key")
    if not isinstance(th_d, dict):
        raise ConfigError(f"[thresholds] {where('the rule set')} must be a table.",
                          code="wrong_type")
    _check_keys(th_d, THRESHOLD_KEYS, "[thresholds]", where)
    if "mql" not in th_d:
        raise ConfigError(f"The 'mql' cutoff {where('[thresholds]')} is required.",
                          code="missing_key")
    return Thresholds(**{k: _number(v, k, "[thresholds]", where) for k, v in th_d.items()})


def _with_source(e: ConfigError, source: str | None) -> ConfigError:
    if source and " in " not in e.message:
        msg = e.message.replace("of [decay]", f"of [decay] in {source}")
        return ConfigError(msg, code=e.code, suggestion=e.suggestion)
    return e


def _default_name(source: str | None) -> str:
    if source:
        import os

        return os.path.splitext(os.path.basename(source))[0]
    return "rules"


def _table_list(d: dict, key: str, where: _Where) -> list:
    value = d.get(key, [])
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(r, dict) for r in value):
        raise ConfigError(f"'{key}' {where('the rule set')} must be an array of tables "
                          f"([[{key}]]).", code="wrong_type")
    return value


def _parse_fit(i: int, r: dict, where: _Where) -> FitRule:
    section = f"[[fit]] #{i + 1}"
    _check_keys(r, FIT_KEYS, section, where)
    if "field" not in r:
        raise ConfigError(f"The key 'field' {where(section)} is required.", code="missing_key")
    if not isinstance(r["field"], str):
        raise ConfigError(f"The 'field' {where(section)} must be a column name. Got {r['field']!r}.",
                          code="wrong_type")
    if "points" not in r:
        raise ConfigError(f"The key 'points' {where(section)} is required.", code="missing_key")
    points = _number(r["points"], "points", section, where)
    conditions = [k for k in ("in", "equals", "min", "max", "missing") if k in r]
    if not conditions:
        raise ConfigError(
            f"The fit rule {where(section)} has no condition.",
            code="missing_key",
            suggestion="Add one of: in = [...], equals = ..., min = ..., max = ..., missing = true.",
        )
    in_ = r.get("in")
    if in_ is not None:
        if not isinstance(in_, list) or not in_:
            raise ConfigError(f"The 'in' {where(section)} must be a non-empty list. Got {in_!r}.",
                              code="wrong_type")
        in_ = tuple(in_)
    lo = _number(r["min"], "min", section, where) if "min" in r else None
    hi = _number(r["max"], "max", section, where) if "max" in r else None
    if lo is not None and hi is not None and lo > hi:
        raise ConfigError(f"The 'min' {where(section)} must not exceed 'max' ({hi!r}). Got {lo!r}.",
                          code="out_of_range")
    missing = r.get("missing")
    if missing is not None and not isinstance(missing, bool):
        raise ConfigError(f"The 'missing' {where(section)} must be true or false. Got {missing!r}.",
                          code="wrong_type")
    name = r.get("name")
    if name is not None and (not isinstance(name, str) or not name):
        raise ConfigError(f"The 'name' {where(section)} must be a non-empty string.", code="wrong_type")
    return FitRule(field=r["field"], points=points, name=name or r["field"], in_=in_,
                   equals=r.get("equals"), min=lo, max=hi, missing=missing,
                   named=name is not None)


def _name_fit_rules(rules: tuple[FitRule, ...]) -> tuple[FitRule, ...]:
    """Unnamed fit rules are called after their field; repeats get a suffix."""
    explicit = {r.name for r in rules if r.named}
    counts: dict[str, int] = {}
    out = []
    for r in rules:
        if r.named:
            out.append(r)
            continue
        counts[r.field] = counts.get(r.field, 0) + 1
        name = r.field if counts[r.field] == 1 else f"{r.field}_{counts[r.field]}"
        while name in explicit:
            name += "_"
        out.append(replace(r, name=name))
    return tuple(out)


def _parse_behavior(i: int, r: dict, where: _Where) -> BehaviorRule:
    section = f"[[behavior]] #{i + 1}"
    _check_keys(r, BEHAVIOR_KEYS, section, where)
    if ("event" in r) == ("events" in r):
        raise ConfigError(f"A behaviour rule {where(section)} needs exactly one of 'event' or "
                          f"'events'.", code="missing_key")
    if "event" in r:
        if not isinstance(r["event"], str) or not r["event"]:
            raise ConfigError(f"The 'event' {where(section)} must be an event type name. "
                              f"Got {r['event']!r}.", code="wrong_type")
        events = (r["event"],)
    else:
        ev = r["events"]
        if not isinstance(ev, list) or not ev or not all(isinstance(e, str) and e for e in ev):
            raise ConfigError(f"The 'events' {where(section)} must be a non-empty list of event "
                              f"type names. Got {ev!r}.", code="wrong_type")
        if len(set(ev)) != len(ev):
            raise ConfigError(f"The 'events' {where(section)} lists an event type twice.",
                              code="duplicate_name")
        events = tuple(ev)
    if "points" not in r:
        raise ConfigError(f"The key 'points' {where(section)} is required.", code="missing_key")
    points = _number(r["points"], "points", section, where)
    cap = _positive(r["cap"], "cap", section, where) if "cap" in r else None
    mpd = None
    if "max_per_day" in r:
        mpd = _number(r["max_per_day"], "max_per_day", section, where, integer=True)
        if mpd < 1:
            raise ConfigError(f"The 'max_per_day' {where(section)} must be >= 1. Got {mpd!r}.",
                              code="out_of_range")
    name = r.get("name")
    if name is not None and (not isinstance(name, str) or not name):
        raise ConfigError(f"The 'name' {where(section)} must be a non-empty string.", code="wrong_type")
    if name is None and len(events) > 1:
        raise ConfigError(f"A behaviour rule with several 'events' {where(section)} needs a 'name'.",
                          code="missing_key")
    return BehaviorRule(name=name or events[0], events=events, points=points, cap=cap,
                        max_per_day=mpd, named=name is not None, single_event="event" in r)


def _set_path(d: dict, path: str, value: Any, rs: RuleSet) -> None:
    parts = path.split(".")
    where = f"in the grid of rule set '{rs.name}'"
    if len(parts) == 2 and parts[0] in ("thresholds", "decay", "limits"):
        section, key = parts
        allowed = {"thresholds": THRESHOLD_KEYS, "decay": DECAY_KEYS, "limits": LIMIT_KEYS}[section]
        if key not in allowed:
            raise ConfigError(f"Unknown parameter '{path}' {where}.", code="unknown_key",
                              suggestion=_suggest(key, allowed))
        table = d.setdefault(section, {})
        if section == "decay" and key == "kind":
            # switching kind drops the old kind's parameters
            for k in DECAY_KEYS[1:]:
                if k not in DECAY_PARAMS.get(value, ()):
                    table.pop(k, None)
        if value is None:
            table.pop(key, None)
        else:
            table[key] = value
        return
    if len(parts) == 3 and parts[0] in ("behavior", "fit"):
        kind, name, key = parts
        rules = rs.behavior if kind == "behavior" else rs.fit
        names = [r.name for r in rules]
        if name not in names:
            raise ConfigError(f"No {kind} rule named '{name}' for parameter '{path}' {where}.",
                              code="unknown_key", suggestion=_suggest(name, names).replace(
                                  "Allowed keys", "Rule names"))
        allowed = ("points", "cap", "max_per_day") if kind == "behavior" else ("points", "min", "max")
        if key not in allowed:
            raise ConfigError(f"Parameter '{path}' {where} cannot be varied.", code="unknown_key",
                              suggestion=_suggest(key, allowed))
        entry = d[kind][names.index(name)]
        if value is None:
            entry.pop(key, None)
        else:
            entry[key] = value
        return
    raise ConfigError(
        f"Unknown parameter path '{path}' {where}.",
        code="unknown_key",
        suggestion="Use thresholds.mql, thresholds.sql, thresholds.mql_min_fit, decay.kind, "
                   "decay.half_life_days, limits.max, behavior.<name>.points|cap|max_per_day "
                   "or fit.<name>.points.",
    )
