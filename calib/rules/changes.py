"""A proposal as a list of named changes to the baseline rule set.

:func:`rule_changes` lists every difference between two rule sets as a :class:`RuleChange`
(a cutoff, the decay, the score limits, a rule added, removed or changed; removing a
cutoff, a cap, a limit or a table is a change too), and :func:`apply_changes` applies
any subset of them to the baseline. Applying all of them gives the proposal back exactly
once it is in :func:`canonical_order` (the baseline's rules in their order, then the new
ones by name), in whatever order the changes are applied, which is how ``calib run`` writes ``proposed_rules.toml``::

    apply_changes(base, rule_changes(base, prop), name=prop.name) == canonical_order(base, prop)
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from calib.rules import RuleSet

__all__ = ["RuleChange", "apply_changes", "canonical_order", "decay_text", "rule_changes"]

# how a change moves MQLs: "cutoff" changes set the volume themselves; "scale" changes
# move the scores, so they are judged at a matched volume as well
CUTOFF_KINDS = ("cutoff",)


@dataclass(frozen=True)
class RuleChange:
    """One difference between the baseline and the proposal.

    ``op`` is what applying it does to the baseline's dict: ``"threshold"`` (``key``:
    ``mql``, ``sql`` or ``mql_min_fit``; ``value`` the new cutoff or None), ``"decay"``
    (``value``: the new ``[decay]`` table), ``"limits"`` (``value``: the new
    ``[limits]`` table or None), ``"add"``, ``"remove"`` or ``"replace"`` of a rule of
    ``table`` (``fit`` or ``behavior``) named ``key`` (``value``: the rule's table), or
    ``"group"`` of the changes in ``parts``.

    Attributes
    ----------
    kind : str
        ``"cutoff"``, ``"decay"``, ``"limits"``, ``"new rule"``, ``"removed rule"``,
        ``"points"`` or ``"rules"`` (a group).
    text : str
        The change in words.
    op, key, table, value
        What applying it does (above).
    parts : tuple of RuleChange
        The changes of a group.

    Examples
    --------
    >>> c = RuleChange("cutoff", "MQL cutoff 85 → 90", "threshold", key="mql", value=90)
    >>> c.moves_scale, c.to_dict()["value"]
    (False, 90)
    """

    kind: str  # "cutoff", "decay", "limits", "new rule", "removed rule", "points", "rules"
    text: str
    op: str  # "threshold", "decay", "limits", "add", "remove", "replace", or "group"
    key: str | None = None
    table: str | None = None
    value: Any = None
    parts: tuple[RuleChange, ...] = ()  # the changes of a "group"

    @property
    def moves_scale(self) -> bool:
        """Whether the change moves scores (so a fair judgement re-sets the cutoff)."""
        return self.kind not in CUTOFF_KINDS

    def to_dict(self) -> dict:
        """The change as a JSON-safe dict (``parts`` as dicts too)."""
        return {"kind": self.kind, "text": self.text, "op": self.op, "key": self.key,
                "table": self.table, "value": self.value,
                "parts": [p.to_dict() for p in self.parts]}


def _named(r) -> dict:
    d = r.to_dict()
    d.setdefault("name", r.name)
    return d


def _as_written(r) -> dict:
    """A rule's table as its file writes it (no name where the file gave none)."""
    return r.to_dict() if not r.named else _named(r)


def _g(x) -> str:
    return "none" if x is None else f"{x:g}"


def rule_text(r) -> str:
    """A rule's points, cap and daily limit in words.

    Parameters
    ----------
    r : FitRule or BehaviorRule
        A fit or behaviour rule.

    Returns
    -------
    str
        Signed points, then the cap and the daily limit where the rule has them.

    Examples
    --------
    >>> rs = RuleSet.from_dict({"name": "r", "thresholds": {"mql": 20}, "behavior": [
    ...     {"event": "pricing_page_view", "points": 20, "cap": 40, "max_per_day": 1}]})
    >>> rule_text(rs.behavior[0])
    '+20 points, cap 40, at most 1/day'
    """
    text = f"{r.points:+g} points"
    cap = getattr(r, "cap", None)
    if cap is not None:
        text += f", cap {cap:g}"
    mpd = getattr(r, "max_per_day", None)
    if mpd is not None:
        text += f", at most {mpd}/day"
    return text


def condition_text(r) -> str:
    """The condition of a fit rule in words.

    Parameters
    ----------
    r : FitRule
        A fit rule.

    Returns
    -------
    str
        The field, then its levels, value, range or ``missing``.

    Examples
    --------
    >>> rs = RuleSet.from_dict({"name": "r", "thresholds": {"mql": 20}, "fit": [
    ...     {"field": "seniority", "in": ["director", "vp"], "points": 10},
    ...     {"field": "employees", "min": 50, "max": 500, "points": 5}]})
    >>> [condition_text(r) for r in rs.fit]
    ['seniority in director, vp', 'employees 50 to 500']
    """
    if r.in_ is not None:
        return f"{r.field} in {', '.join(map(str, r.in_))}"
    if r.equals is not None:
        return f"{r.field} = {r.equals}"
    if r.missing:
        return f"{r.field} missing"
    if r.min is not None and r.max is not None:
        return f"{r.field} {r.min:g} to {r.max:g}"
    if r.min is not None:
        return f"{r.field} at least {r.min:g}"
    if r.max is not None:
        return f"{r.field} at most {r.max:g}"
    return r.field


def decay_text(r: RuleSet) -> str:
    """A rule set's decay in words.

    Parameters
    ----------
    r : RuleSet
        The rule set whose ``[decay]`` to describe.

    Returns
    -------
    str

    Examples
    --------
    >>> from calib import load_rules
    >>> decay_text(load_rules("calib-demo/truth.toml")), decay_text(load_rules("calib-demo/current.toml"))
    ('exponential, half-life 14 days', 'none (points never fade)')
    """
    d = r.decay
    if d.kind == "exponential":
        return f"exponential, half-life {d.half_life_days:g} days"
    if d.kind == "step":
        return f"step, {d.percent:g}% off every {d.every_days:g} days"
    if d.kind == "window":
        return f"window, points count for {d.days:g} days"
    if d.kind == "linear":
        return f"linear to zero over {d.days:g} days"
    return "none (points never fade)"


def _limits_text(d: dict | None) -> str:
    if not d:
        return "none"
    return ", ".join(f"{k} {v:g}" for k, v in d.items())


THRESHOLD_NAMES = {"mql": "MQL cutoff", "sql": "SQL cutoff",
                   "mql_min_fit": "minimum fit score for an MQL"}


def rule_changes(a: RuleSet, b: RuleSet, *, group: bool = True) -> list[RuleChange]:
    """Every difference between a baseline and a proposal, as named changes.

    The order is cutoffs, decay, limits, behaviour rules, fit rules.

    Parameters
    ----------
    a : RuleSet
        The baseline.
    b : RuleSet
        The proposal.
    group : bool
        Make the rule changes that only make sense together one change: the fit rules of
        one field when more than one of them changes (a field's rules reworked, e.g. one
        'seniority in director, vp' rule replaced by a rule per level), and a behaviour
        rule removed together with the new rules that count its events.

    Returns
    -------
    list of RuleChange
        Each with its text and the edits it makes; applied together to ``a``
        (:func:`apply_changes`) they give ``b`` in :func:`canonical_order`.

    Examples
    --------
    >>> from calib import load_rules
    >>> base = load_rules("calib-demo/current.toml")
    >>> prop = base.with_params({"thresholds.mql": 90, "decay.kind": "exponential",
    ...                          "decay.half_life_days": 14})
    >>> [c.text for c in rule_changes(base, prop)]
    ['MQL cutoff 85 → 90', 'decay none (points never fade) → exponential, half-life 14 days']
    """
    out = _single_changes(a, b)
    return _grouped(a, b, out) if group else out


def _grouped(a: RuleSet, b: RuleSet, changes: list[RuleChange]) -> list[RuleChange]:
    rules = {("fit", r.name): r for r in (*a.fit, *b.fit)}
    rules.update({("behavior", r.name): r for r in (*a.behavior, *b.behavior)})
    key_of = {}
    for c in changes:
        if c.table == "fit":
            key_of[id(c)] = ("fit", rules[("fit", c.key)].field)
    # behaviour: a removed rule and the new rules sharing an event with it
    removed = [c for c in changes if c.table == "behavior" and c.op == "remove"]
    for c in removed:
        ev = set(rules[("behavior", c.key)].events)
        key_of[id(c)] = ("behavior", c.key)
        for d in changes:
            if d.table == "behavior" and d.op == "add" and \
                    ev & set(rules[("behavior", d.key)].events):
                key_of[id(d)] = ("behavior", c.key)
    members: dict = {}
    for c in changes:
        if id(c) in key_of:
            members.setdefault(key_of[id(c)], []).append(c)
    out, done = [], set()
    for c in changes:
        k = key_of.get(id(c))
        if k is None or len(members[k]) < 2:
            out.append(c)
            continue
        if k in done:
            continue
        done.add(k)
        parts = tuple(members[k])
        what = (f"rework the fit rules on {k[1]}" if k[0] == "fit"
                else f"replace behaviour rule '{k[1]}'")
        out.append(RuleChange("rules", f"{what}: " + "; ".join(p.text for p in parts), "group",
                              key=k[1], table=k[0], parts=parts))
    return out


def _single_changes(a: RuleSet, b: RuleSet) -> list[RuleChange]:
    da, db = a.to_dict(), b.to_dict()
    out = []
    for key in ("mql", "sql", "mql_min_fit"):
        va, vb = da["thresholds"].get(key), db["thresholds"].get(key)
        if va != vb:
            verb = "remove the" if vb is None else ("add a" if va is None else "")
            text = (f"{verb} {THRESHOLD_NAMES[key]} ({_g(va)})" if vb is None else
                    f"{verb} {THRESHOLD_NAMES[key]} of {_g(vb)}" if va is None else
                    f"{THRESHOLD_NAMES[key]} {_g(va)} → {_g(vb)}")
            out.append(RuleChange("cutoff", text.strip(), "threshold", key=key, value=vb))
    if da["decay"] != db["decay"]:
        out.append(RuleChange("decay", f"decay {decay_text(a)} → {decay_text(b)}", "decay",
                              value=db["decay"]))
    la, lb = da.get("limits"), db.get("limits")
    if la != lb:
        text = ("remove the score limits (" + _limits_text(la) + ")") if not lb else \
            f"score limits {_limits_text(la)} → {_limits_text(lb)}"
        out.append(RuleChange("limits", text, "limits", value=lb))
    for table, ra, rb in (("behavior", a.behavior, b.behavior), ("fit", a.fit, b.fit)):
        by_a = {r.name: r for r in ra}
        by_b = {r.name: r for r in rb}
        what = "behaviour" if table == "behavior" else "fit"
        for name in dict.fromkeys([*by_a, *by_b]):
            x, y = by_a.get(name), by_b.get(name)
            cond = "" if table == "behavior" else f"{condition_text(y or x)}, "
            if x is None:
                out.append(RuleChange("new rule", f"new {what} rule '{name}' ({cond}"
                                      f"{rule_text(y)})", "add", key=name, table=table,
                                      value=_named(y)))
            elif y is None:
                out.append(RuleChange("removed rule", f"remove {what} rule '{name}' ({cond}"
                                      f"{rule_text(x)})", "remove", key=name, table=table))
            elif not _same_rule(x, y):  # a name written out is no change
                extra = ""
                if table == "fit" and condition_text(x) != condition_text(y):
                    extra = f" ({condition_text(x)} → {condition_text(y)})"
                out.append(RuleChange("points", f"{what} rule '{name}': {rule_text(x)} → "
                                      f"{rule_text(y)}{extra}", "replace", key=name,
                                      table=table, value=_named(y)))
    return out


def apply_changes(base: RuleSet, changes, *, name: str | None = None,
                  drop_invalid_sql: bool = False) -> RuleSet:
    """``base`` with ``changes`` (from :func:`rule_changes`) applied.

    Parameters
    ----------
    base : RuleSet
        The baseline.
    changes : iterable of RuleChange
        Any subset of what :func:`rule_changes` gave, in any order.
    name : str, optional
        The new rule set's name (default: the baseline's).
    drop_invalid_sql : bool
        Remove an SQL cutoff that the changes leave at or below the MQL cutoff (a cutoff
        change judged alone can do that); otherwise the rule-set check raises.

    Returns
    -------
    RuleSet
        The baseline with the changes, named ``name``.

    Raises
    ------
    calib.errors.ConfigError
        When the changes give an invalid rule set.

    Examples
    --------
    Every change gives the proposal; the cutoff changes alone keep the baseline's rules:

    >>> from calib import load_rules
    >>> base, prop = load_rules("calib-demo/current.toml"), load_rules("calib-demo/truth.toml")
    >>> changes = rule_changes(base, prop)
    >>> apply_changes(base, changes[::-1], name=prop.name) == canonical_order(base, prop)
    True
    >>> cutoffs = apply_changes(base, [c for c in changes if c.kind == "cutoff"])
    >>> cutoffs.thresholds == prop.thresholds, cutoffs.behavior == base.behavior
    (True, True)
    """
    d = base.to_dict()
    th = dict(d["thresholds"])
    decay = d["decay"]
    limits = d.get("limits")
    tables = {t: {r.name: _as_written(r) for r in getattr(base, t)}
              for t in ("fit", "behavior")}
    flat = []
    for c in changes:
        flat.extend(c.parts if c.op == "group" else [c])
    for c in flat:
        if c.op == "threshold":
            th[c.key] = c.value
        elif c.op == "decay":
            decay = c.value
        elif c.op == "limits":
            limits = c.value
        elif c.op in ("add", "replace"):
            tables[c.table][c.key] = c.value
        elif c.op == "remove":
            tables[c.table].pop(c.key, None)
        else:  # pragma: no cover - rule_changes makes no other op
            raise ValueError(f"unknown change op {c.op!r}")
    th = {k: v for k, v in th.items() if v is not None}
    if drop_invalid_sql and th.get("sql") is not None and th["sql"] <= th["mql"]:
        th.pop("sql")
    out = {"name": name or base.name}
    for t in ("fit", "behavior"):
        old = [n for n in (r.name for r in getattr(base, t)) if n in tables[t]]
        new = sorted(n for n in tables[t] if n not in old)  # in any order of application
        if tables[t]:
            out[t] = [tables[t][n] for n in old + new]
    out["decay"] = decay
    if limits:
        out["limits"] = limits
    out["thresholds"] = th
    return RuleSet.from_dict(out)


def _condition_key(r):
    """What a rule tests, whatever its name and points."""
    if hasattr(r, "field"):
        levels = r.in_ if r.in_ is not None else ((r.equals,) if r.equals is not None else None)
        return ("fit", r.field, frozenset(map(str, levels)) if levels is not None else None,
                r.min, r.max, bool(r.missing))
    return ("behavior", frozenset(r.events), r.max_per_day)


def _same_rule(x, y) -> bool:
    """Same condition, points, cap and daily limit (names and level order aside)."""
    return _condition_key(x) == _condition_key(y) and x.points == y.points and \
        getattr(x, "cap", None) == getattr(y, "cap", None)


def canonical_order(base: RuleSet, proposed: RuleSet) -> RuleSet:
    """``proposed`` in the form :func:`apply_changes` gives it.

    Its rules come in the baseline's order, new rules after them (by name), and unchanged
    rules are written as the baseline writes them, so the proposal is exactly the sum of
    its changes.

    Parameters
    ----------
    base : RuleSet
        The baseline.
    proposed : RuleSet
        The proposal.

    Returns
    -------
    RuleSet
        The same rules, points and cutoffs as ``proposed``.

    Examples
    --------
    >>> from calib import load_rules
    >>> base = load_rules("calib-demo/current.toml")
    >>> prop = RuleSet.from_dict({**base.to_dict(), "fit": base.to_dict()["fit"][::-1]})
    >>> [r.name for r in canonical_order(base, prop).fit] == [r.name for r in base.fit]
    True
    """
    d = proposed.to_dict()
    for t in ("fit", "behavior"):
        theirs = {r.name: r for r in getattr(base, t)}
        # a new rule with the condition of a removed one keeps the removed one's name: it
        # is the same rule with other points (or none at all)
        by_cond = {_condition_key(r): n for n, r in theirs.items()
                   if n not in {x.name for x in getattr(proposed, t)}}
        mine = {}
        for r in getattr(proposed, t):
            n = r.name
            if n not in theirs and by_cond.get(_condition_key(r)) is not None:
                n = by_cond.pop(_condition_key(r))
                r = replace(r, name=n, named=theirs[n].named)
            mine[n] = r
        rows = []
        for n, r in theirs.items():
            if n in mine:
                same = _same_rule(mine[n], r)
                rows.append(_as_written(r) if same else _named(mine[n]))
        rows += [_named(mine[n]) for n in sorted(mine) if n not in theirs]
        if rows:
            d[t] = rows
        else:
            d.pop(t, None)
    return RuleSet.from_dict(d, source=proposed.source)
