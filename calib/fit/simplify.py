"""Simplify a fitted rule set into one a team can maintain.

After :func:`calib.fit.fit`, :func:`simplify` turns its proposal into a parsimonious,
round rule set:

1. **Merge levels** of a categorical field whose effects are indistinguishable (a
   greedy agglomeration of neighbouring levels, ordered by effect): two groups merge when
   their effects differ by less than ``z`` standard errors (Wald, the fit's robust
   standard errors) or by less than one points step (a difference the rounding could not
   show). A group merged with the field's reference level (the levels no rule names)
   gets no rule. Cumulative thresholds of a numeric field (``employees >= 40``,
   ``>= 100``, ...) are merged the same way, neighbouring bins in order.
2. **Round** points to ``points_step`` (default 5); a rule that rounds to 0 is dropped,
   and a cap keeps its count of events. The half-life is rounded to 0.1 day (or whole
   days), cutoffs to whole points: the MQL cutoff is re-set so the simplified rules
   route as many training leads as the full fit, and the SQL cutoff likewise.
3. **Cost out of time**: the simplified set against the full fit at equal volume on the
   test leads (:func:`calib.fit.evaluation.evaluate`, corrected for selective labels where a
   holdout allows), with 95% intervals. The simplified set is kept when it loses at most
   ``tolerance`` (1 point) of the primary outcome's rate; otherwise the same is tried
   with whole-number points (levels still merged), and failing that the full fit is
   kept with whole-number points (nothing merged).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from calib.data.dataset import Dataset
from calib.engine.kernels import peak_by_lead
from calib.engine.prepare import prepare
from calib.engine.replay import TOL, combine_scores
from calib.rules.config import RuleSet

__all__ = ["SimplifyResult", "merge_levels", "round_points", "simplify"]

Z_MERGE = 1.96
TOLERANCE = 0.01


@dataclass(frozen=True)
class SimplifyResult:
    """The simplified rule set, what was merged and dropped, and its cost out of time.

    ``cost`` holds the equal-volume comparison: ``full`` and ``simplified`` rates with
    95% intervals, their ``difference`` (simplified - full) with its interval, ``basis``,
    ``tolerance``, ``points_step`` and the costs of coarser sets ``tried`` before;
    ``kept`` is "simplified", "simplified at step 1" or "full"."""

    rules: RuleSet
    full: RuleSet
    points_step: float
    merges: tuple  # (field, levels merged, points; for numeric steps a tuple of points)
    dropped: tuple  # names of rules whose points round to 0
    cost: dict = field(default_factory=dict)
    kept: str = "simplified"

    @property
    def n_rules(self) -> int:
        """The number of rules of the simplified set."""
        return len(self.rules.fit) + len(self.rules.behavior)

    def to_dict(self) -> dict:
        """The simplified and the full rule sets, merges, drops and cost (JSON-safe).

        Returns
        -------
        dict
        """
        return {"rules": self.rules.to_dict(), "full_rules": self.full.to_dict(),
                "points_step": self.points_step, "kept": self.kept,
                "rules_full": len(self.full.fit) + len(self.full.behavior),
                "rules_simplified": self.n_rules,
                "merges": [{"field": f, "levels": list(lv),
                            "points": list(p) if isinstance(p, tuple) else p}
                           for f, lv, p in self.merges],
                "dropped": list(self.dropped), "cost": self.cost}

    def summary(self) -> str:
        """What was simplified and what it cost, in a few lines.

        Returns
        -------
        str
        """
        L = [f"Simplified '{self.full.name}': {len(self.full.fit) + len(self.full.behavior)} "
             f"rules -> {self.n_rules} (points in steps of {self.points_step:g}); kept the "
             f"{self.kept} rule set"]
        for f, lv, p in self.merges:
            pts = ", ".join(f"{x:+g}" for x in p) if isinstance(p, tuple) else f"{p:+g}"
            what = "steps" if isinstance(p, tuple) else "levels"
            L.append(f"  merged {what} of {f}: {', '.join(map(str, lv))} -> {pts} points")
        if self.dropped:
            L.append(f"  dropped (under {self.points_step / 2:g} points): "
                     + ", ".join(self.dropped))
        c = self.cost
        if c.get("difference"):
            d = c["difference"]
            L.append(f"  out of time at equal volume ({c['basis']}): full "
                     f"{_pct(c['full']['rate'])} ({_pct(c['full']['ci_low'])} to "
                     f"{_pct(c['full']['ci_high'])}), simplified {_pct(c['simplified']['rate'])} "
                     f"({_pct(c['simplified']['ci_low'])} to {_pct(c['simplified']['ci_high'])});"
                     f" difference {_pp(d['diff'])} ({_pp(d['ci_low'])} to {_pp(d['ci_high'])}),"
                     f" tolerance {100 * c['tolerance']:.0f} point")
        elif c.get("reason"):
            L.append(f"  out-of-time cost: {c['reason']}")
        return "\n".join(L)


def _pct(x):
    return "–" if x is None else f"{100 * x:.1f}%"


def _pp(x):
    return "–" if x is None else f"{100 * x:+.1f} pts"


# ------------------------------------------------------------------------ merging
def merge_levels(effects: dict, se: dict, *, reference: float = 0.0, z: float = Z_MERGE,
                 min_gap: float = 0.0, weights: dict | None = None) -> list[list]:
    """Groups of categorical levels whose effects are indistinguishable.

    ``effects`` and ``se`` map each level to its effect (log-odds against the reference)
    and standard error; the reference level (effect ``reference``, no uncertainty) is the
    key ``None``. Neighbouring groups (by effect) merge, closest first, while their
    effects differ by less than ``z`` standard errors of the difference or by less than
    ``min_gap``; a merged group's effect is the inverse-variance weighted mean (or
    ``weights``-weighted), and a group holding the reference keeps its effect.

    Returns the groups, each a list of levels, ordered by effect.

    Examples
    --------
    >>> merge_levels({"a": 0.02, "b": 0.8, "c": 0.85}, {"a": 0.05, "b": 0.05, "c": 0.05})
    [[None, 'a'], ['b', 'c']]
    """
    groups = [{"levels": [None], "eff": reference, "var": 0.0, "w": math.inf}]
    for lv, e in effects.items():
        v = float(se[lv]) ** 2 if np.isfinite(se.get(lv, np.nan)) else math.inf
        w = float(weights[lv]) if weights else (1.0 / v if v > 0 else math.inf)
        groups.append({"levels": [lv], "eff": float(e), "var": v, "w": w})
    while len(groups) > 1:
        groups.sort(key=lambda g: g["eff"])
        best, best_gap = None, math.inf
        for i in range(len(groups) - 1):
            a, b = groups[i], groups[i + 1]
            gap = abs(b["eff"] - a["eff"])
            sd = math.sqrt(a["var"] + b["var"])
            same = gap < min_gap or (np.isfinite(sd) and gap < z * sd) or not np.isfinite(sd)
            if same and gap < best_gap:
                best, best_gap = i, gap
        if best is None:
            break
        a, b = groups[best], groups[best + 1]
        if None in a["levels"] or None in b["levels"]:
            eff, var, w = reference, 0.0, math.inf
        else:
            w = a["w"] + b["w"]
            eff = (a["w"] * a["eff"] + b["w"] * b["eff"]) / w
            var = 1.0 / (1.0 / a["var"] + 1.0 / b["var"]) if a["var"] > 0 and b["var"] > 0 \
                else 0.0
        groups[best:best + 2] = [{"levels": a["levels"] + b["levels"], "eff": eff, "var": var,
                                  "w": w}]
    groups.sort(key=lambda g: g["eff"])
    return [g["levels"] for g in groups]


def round_points(x: float, step: float) -> float:
    """``x`` rounded to a multiple of ``step`` (half away from zero); whole numbers as int.

    Examples
    --------
    >>> round_points(12.5, 5), round_points(-7.4, 5), round_points(3.3, 0.5)
    (15, -5, 3.5)
    """
    v = step * math.floor(abs(x) / step + 0.5) * (1 if x >= 0 else -1)
    return int(v) if float(v).is_integer() else v


def _term_stats(effects: pd.DataFrame | None, scale: float):
    """term -> (effect in log-odds, standard error) from a fit's effects table."""
    out = {}
    if effects is None or "term" not in effects:
        return out
    for r in effects.itertuples(index=False):
        d = r._asdict()
        coef = d.get("coef", np.nan)
        se = d.get("se", np.nan)
        if not np.isfinite(se) and np.isfinite(d.get("ci_low", np.nan)):
            se = (d["ci_high"] - d["ci_low"]) / (2 * 1.959964)
        if not np.isfinite(coef) and np.isfinite(d.get("points", np.nan)):
            coef = d["points"] / scale
        out[d["term"]] = (float(coef), float(se))
    return out


def _level_counts(leads: pd.DataFrame, fieldname: str) -> pd.Series:
    col = leads[fieldname].astype("string").str.strip()
    return col.value_counts()


def _merge_categorical(rules_by_field, stats, scale, step, z, leads):
    """New fit rule dicts for categorical fields, and the merges made."""
    out, merges = {}, []
    for fname, rules in rules_by_field.items():
        cats = [r for r in rules if (r.equals is not None or r.in_ is not None) and not r.missing]
        if len(cats) < 2:
            continue
        eff, se, level_rule = {}, {}, {}
        for r in cats:
            key = str(r.equals) if r.equals is not None else "|".join(map(str, r.in_))
            # the points carry the fit's clipping and shrinkage: merge on their scale, with
            # the fit's standard errors
            eff[key] = r.points / scale
            se[key] = stats.get(r.name, (np.nan, np.nan))[1]
            level_rule[key] = r
        counts = _level_counts(leads, fname) if leads is not None and fname in leads else None
        weights = None
        if counts is not None:
            weights = {k: float(sum(counts.get(v, 0) for v in k.split("|"))) or 1.0
                       for k in eff}
        groups = merge_levels(eff, se, z=z, min_gap=step / scale, weights=weights)
        new = []
        for g in groups:
            if None in g:
                if len(g) > 1:
                    merges.append((fname, tuple(["(reference)"] + [x for x in g if x is not None]),
                                   0))
                continue
            members = [level_rule[k] for k in g]
            levels = [v for k in g for v in k.split("|")]
            if weights:
                pts = sum(weights[k] * level_rule[k].points for k in g) / sum(weights[k]
                                                                             for k in g)
            else:
                pts = float(np.mean([m.points for m in members]))
            if len(g) == 1:
                d = members[0].to_dict()
                d["name"] = members[0].name
                d["points"] = pts
            else:
                d = {"name": _group_name(fname, levels), "field": fname, "in": levels,
                     "points": pts}
                merges.append((fname, tuple(levels), round_points(pts, step)))
            new.append((min(cats.index(m) for m in members), d))
        out[fname] = (cats, [d for _, d in sorted(new, key=lambda x: x[0])])
    return out, merges


def _group_name(fname: str, levels) -> str:
    name = f"{fname}_" + "_".join(str(v) for v in levels)
    name = "".join(ch if ch.isalnum() or ch in "_-." else "_" for ch in name)
    return name if len(name) <= 60 else f"{fname}_{levels[0]}_and_{len(levels) - 1}_more"


def _merge_steps(rules_by_field, stats, scale, step, z, leads):
    """Cumulative ``min`` thresholds of a numeric field merged bin by bin."""
    out, merges = {}, []
    for fname, rules in rules_by_field.items():
        steps = [r for r in rules if r.min is not None and r.max is None and r.equals is None
                 and r.in_ is None and not r.missing]
        if len(steps) < 2 or leads is None or fname not in leads:
            continue
        steps.sort(key=lambda r: r.min)
        x = pd.to_numeric(leads[fname], errors="coerce").to_numpy(float)
        cuts = [r.min for r in steps]
        eff = np.concatenate([[0.0], np.cumsum([r.points for r in steps])]) / scale
        var = np.concatenate([[0.0], np.cumsum([stats.get(r.name, (0, np.nan))[1] ** 2
                                                for r in steps])])
        edges = [-np.inf] + cuts + [np.inf]
        n = np.array([np.sum((x >= edges[i]) & (x < edges[i + 1])) for i in range(len(cuts) + 1)],
                     float)
        bins = [{"lo": edges[i], "eff": eff[i], "var": var[i], "n": max(n[i], 1.0)}
                for i in range(len(cuts) + 1)]
        while len(bins) > 1:
            best, best_gap = None, math.inf
            for i in range(len(bins) - 1):
                a, b = bins[i], bins[i + 1]
                gap = abs(b["eff"] - a["eff"])
                sd = math.sqrt(max(b["var"] - a["var"], 0.0)) if np.isfinite(b["var"]) else \
                    math.inf
                same = gap < step / scale or (np.isfinite(sd) and gap < z * sd)
                if same and gap < best_gap:
                    best, best_gap = i, gap
            if best is None:
                break
            a, b = bins[best], bins[best + 1]
            w = a["n"] + b["n"]
            bins[best:best + 2] = [{"lo": a["lo"], "eff": (a["n"] * a["eff"] + b["n"] * b["eff"]) / w,
                                    "var": a["var"], "n": w}]
        base = bins[0]["eff"]
        new = []
        prev = base
        for b in bins[1:]:
            d = {"name": f"{fname}_min_{b['lo']:g}", "field": fname, "min": b["lo"],
                 "points": (b["eff"] - prev) * scale}
            new.append(d)
            prev = b["eff"]
        if len(new) < len(steps):
            merges.append((fname, tuple(f">= {c:g}" for c in cuts),
                           tuple(round_points(d["points"], step) for d in new)))
        # the lowest bin is the reference: its offset shifts every lead alike (no rule)
        out[fname] = (steps, new)
    return out, merges


# ------------------------------------------------------------------------ simplify
def simplify_rules(rules: RuleSet, *, effects: pd.DataFrame | None = None,
                   points_per_logit: float = 10.0, points_step: float = 5,
                   leads: pd.DataFrame | None = None, z: float = Z_MERGE, merge: bool = True,
                   half_life_step: float = 0.1, name: str | None = None):
    """The simplified rule set (cutoffs as in ``rules``), the merges and the dropped
    rules; no data needed beyond ``leads`` for level counts.

    Returns the simplified rules, the merges and the names of the rules dropped.

    Examples
    --------
    >>> rules = RuleSet.from_dict({"behavior": [{"event": "demo", "points": 23},
    ...                                         {"event": "visit", "points": 2}],
    ...                            "thresholds": {"mql": 40}})
    >>> simple, merges, dropped = simplify_rules(rules, points_step=5)
    >>> [(r.name, r.points) for r in simple.behavior], dropped
    ([('demo', 25)], ('visit',))
    """
    scale = points_per_logit if points_per_logit and np.isfinite(points_per_logit) else 10.0
    stats = _term_stats(effects, scale)
    by_field: dict = {}
    for r in rules.fit:
        by_field.setdefault(r.field, []).append(r)
    replaced, merges = {}, []
    if merge:
        cat, m1 = _merge_categorical(by_field, stats, scale, points_step, z, leads)
        num, m2 = _merge_steps(by_field, stats, scale, points_step, z, leads)
        replaced = {**cat, **num}
        merges = m1 + m2
    fit_rows, dropped = [], []
    done = set()
    for r in rules.fit:
        if r.field in replaced:
            old, new = replaced[r.field]
            if r in old:
                if r.field not in done:  # the merged rules take the first one's place
                    done.add(r.field)
                    fit_rows.extend(new)
                continue
        d = r.to_dict()
        d["name"] = r.name
        fit_rows.append(d)
    fit_out = []
    for d in fit_rows:
        p = round_points(d["points"], points_step)
        if p == 0:
            dropped.append(d["name"])
            continue
        fit_out.append({**d, "points": p})
    beh = []
    for r in rules.behavior:
        p = round_points(r.points, points_step)
        if p == 0:
            dropped.append(r.name)
            continue
        d = r.to_dict()
        d["name"] = r.name
        d["points"] = p
        if r.cap is not None:
            n_cap = max(1, round(r.cap / abs(r.points))) if r.points else 1
            d["cap"] = abs(p) * n_cap
        beh.append(d)
    dd = rules.to_dict()
    decay = dict(dd["decay"])
    for k in ("half_life_days", "days", "every_days"):
        if decay.get(k) is not None:
            v = max(round(decay[k] / half_life_step) * half_life_step, half_life_step)
            decay[k] = int(round(v)) if float(round(v, 6)).is_integer() else round(v, 6)
    if decay.get("percent") is not None:
        decay["percent"] = round(decay["percent"])
    out = {"name": name or rules.name, "decay": decay, "thresholds": dd["thresholds"]}
    if fit_out:
        out["fit"] = fit_out
    if beh:
        out["behavior"] = beh
    if dd.get("limits"):
        out["limits"] = dd["limits"]
    return RuleSet.from_dict(out), tuple(merges), tuple(dropped)


def _peaks(ds: Dataset, rules: RuleSet) -> np.ndarray:
    prep = prepare(ds, rules)
    score, fit = combine_scores(prep.decayed(rules.decay), prep, rules)
    peak = np.empty(ds.n_leads)
    peak_by_lead(prep.eval_lead, score, ds.n_leads, peak)
    if rules.thresholds.mql_min_fit is not None:
        peak[fit < rules.thresholds.mql_min_fit - TOL] = -np.inf
    return peak


def _whole_cutoff(peaks: np.ndarray, n: int) -> int:
    """The whole-number cutoff whose volume (leads with a peak at or above it) is
    nearest ``n``."""
    p = np.sort(peaks[np.isfinite(peaks)])
    if len(p) == 0:
        return 1
    grid = np.arange(math.floor(p[0]), math.ceil(p[-1]) + 2)
    counts = len(p) - np.searchsorted(p, grid - TOL, side="left")
    return int(grid[np.argmin(np.abs(counts - n))])


def match_cutoffs(ds: Dataset, full: RuleSet, simple: RuleSet) -> RuleSet:
    """``simple`` with whole-number MQL (and SQL) cutoffs that route as many leads of
    ``ds`` as ``full``'s cutoffs do.

    Examples
    --------
    >>> from calib import load_dataset, load_rules
    >>> ds = load_dataset("calib-demo/data")
    >>> full = load_rules("calib-demo/current.toml")
    >>> simple, _, _ = simplify_rules(full, points_step=5)
    >>> float(match_cutoffs(ds, full, simple).thresholds.mql).is_integer()
    True
    """
    pf, ps = _peaks(ds, full), _peaks(ds, simple)
    th = full.thresholds
    params = {"thresholds.mql": _whole_cutoff(ps, int((pf >= th.mql - TOL).sum()))}
    if th.sql is not None:
        sql = _whole_cutoff(ps, int((pf >= th.sql - TOL).sum()))
        params["thresholds.sql"] = max(sql, params["thresholds.mql"] + 1)
    if th.mql_min_fit is not None:
        params["thresholds.mql_min_fit"] = round(th.mql_min_fit)
    return simple.with_params(params)


def simplify(ds: Dataset, fit_result, *, points_step: float = 5, train_until=None,
             window_days: float = 90.0, tolerance: float = TOLERANCE, z: float = Z_MERGE,
             half_life_step: float = 0.1, evaluate_cost: bool = True,
             seed: int = 0) -> SimplifyResult:
    """Simplify :func:`calib.fit.fit`'s proposal (see the module docstring).

    Parameters
    ----------
    ds : Dataset
        The data the fit saw (the split is the fit's: ``fit_result.split``).
    fit_result : FitResult
        Its ``rules``, ``effects`` (coefficients and standard errors by term) and
        ``points_per_logit`` are used.
    points_step : float, default 5
        Points are multiples of this; rules that round to 0 are dropped.
    tolerance : float, default 0.01
        Largest loss of the outcome's rate (simplified - full, at equal volume out of
        time) for which the simplified set is kept.
    half_life_step : float, default 0.1
        Rounding of the half-life (and other decay parameters) in days; 1 for whole days.

    Examples
    --------
    >>> from calib import load_dataset, load_rules
    >>> from calib.fit import fit
    >>> ds = load_dataset("calib-demo/data")
    >>> res = fit(ds, load_rules("calib-demo/current.toml"), max_examples=5000)
    >>> simple = simplify(ds, res, points_step=5)
    >>> simple.rules.name, simple.n_rules
    ('current-fitted', 43)
    """
    from calib.fit.split import split_leads

    if not points_step > 0:
        from calib.errors import CalibError
        raise CalibError(f"The points step must be > 0. Got {points_step!r}.",
                         code="out_of_range")
    full = fit_result.rules
    split = fit_result.split
    tu = split.train_until if train_until is None else train_until
    train_ds, _, _ = split_leads(ds, tu, seed, window_days)
    # the simplest first; a coarser set is kept when it loses at most the tolerance
    ladder = [(points_step, True), (1, True)] if points_step > 1 else [(points_step, True)]
    tried = []
    for step, merge in ladder:
        simple, merges, dropped = simplify_rules(
            full, effects=fit_result.effects, points_per_logit=fit_result.points_per_logit,
            points_step=step, leads=train_ds.leads, z=z, merge=merge,
            half_life_step=half_life_step)
        simple = match_cutoffs(train_ds, full, simple)
        cost = _cost(ds, full, simple, fit_result.outcome, tu, window_days, tolerance) \
            if evaluate_cost else {}
        cost["points_step"] = step
        tried.append(cost)
        d = cost.get("difference")
        if not (d and d.get("diff") is not None and d["diff"] < -tolerance):
            kept = "simplified" if step == points_step else f"simplified at step {step:g}"
            return SimplifyResult(rules=simple, full=full, points_step=float(step),
                                  merges=merges, dropped=dropped,
                                  cost={**cost, "tried": tried[:-1]}, kept=kept)
    simple, merges, dropped = simplify_rules(full, points_step=1, merge=False,
                                             half_life_step=half_life_step)
    simple = match_cutoffs(train_ds, full, simple)
    return SimplifyResult(rules=simple, full=full, points_step=1.0, merges=merges,
                          dropped=dropped, cost={**tried[0], "tried": tried[1:]}, kept="full")


def _cost(ds, full, simple, outcome, train_until, window_days, tolerance) -> dict:
    """Simplified against full at the full fit's volume on the test leads."""
    from calib.fit.evaluation import evaluate

    try:
        c = evaluate(ds, full, simple, outcome=outcome, train_until=train_until,
                     window_days=window_days)
    except Exception as e:  # noqa: BLE001 - the cost is information, not a requirement
        return {"reason": f"not measured ({e})", "tolerance": tolerance}
    if c.get("status") != "ok":
        return {"reason": c.get("reason", "no test leads"), "tolerance": tolerance}
    cor = c.get("corrected")
    if cor and cor.get("difference", {}).get("diff") is not None:
        basis = "corrected for selective labels"
        full_b, simp_b, diff = cor["current"], cor["proposed"], cor["difference"]
    else:
        basis = "recorded outcomes, MQLs with the whole window observed"
        full_b, simp_b = c["current"]["mature"], c["proposed"]["mature"]
        diff = c.get("difference", {})

    def pick(b):
        return {k: b.get(k) for k in ("rate", "ci_low", "ci_high")}

    return {"basis": basis, "tolerance": tolerance, "mql_count": c.get("mql_count"),
            "simplified_cutoff_at_equal_volume": c.get("proposed_cutoff"),
            "full": pick(full_b), "simplified": pick(simp_b),
            "difference": {k: diff.get(k) for k in ("diff", "ci_low", "ci_high")}}
