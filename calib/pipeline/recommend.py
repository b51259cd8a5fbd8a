"""Recommendations: each change between two rule sets, its effect with uncertainty,
and the guardrails that decide whether it is recommended.

Effects are measured on the evaluation period (out of time when the experiment has a
``train_until``) by replaying the baseline with the change applied, and compared with
the baseline on the *same leads*: intervals come from a seeded paired bootstrap over
leads, never from treating the two replays as independent samples.

Selective labels: outcomes are only recorded once sales works a lead, so a change that
flags leads the historical rules routed late or never would be judged on missing
meetings. When the data has an exploration holdout (a random share of leads worked from
creation, column ``exploration_holdout``), rates are corrected as in
:func:`calib.fit.selection.corrected_rate`: over the MQLs whose whole window is
observed, hits recorded after the historical routing count as they are, and the hits
that came before it are estimated from the holdout. The bootstrap resamples all of it.

Guardrails (documented defaults): nothing is recommended when the interval of the
primary outcome's rate per MQL reaches a drop of ``HARM_RATE`` (2 points) or the
interval of its hits per week reaches a drop of ``HARM_HITS`` (5%), nor when either
side rests on fewer than ``MIN_DECIDED`` decided MQLs or ``MIN_HITS`` hits.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from calib.data import Dataset
from calib.engine import replay
from calib.engine.results import ReplayResult
from calib.fit.selection import SelectionLabels, corrected_rate
from calib.rules import RuleSet, dumps_rules

HARM_RATE = 0.02
HARM_HITS = 0.05
MIN_DECIDED = 30
MIN_HITS = 10
N_BOOT = 400
CORRECTION_KEYS = ("d", "yp", "u", "p", "g")  # calib.fit.selection.correction_columns


@dataclass(frozen=True)
class Effect:
    """Baseline versus changed rule set on the same leads."""

    mql_per_week: tuple  # (baseline, changed, diff, ci_low, ci_high)
    rates: dict  # outcome -> (baseline, changed, diff, ci_low, ci_high)
    hits_per_week: dict  # outcome -> (baseline, changed, diff, ci_low, ci_high)
    decided: tuple  # decided MQLs for the primary outcome (baseline, changed)
    hits: tuple  # primary hits (baseline, changed)
    basis: str = "recorded outcomes"  # or corrected for selective labels

    def to_dict(self) -> dict:
        def t(x):
            return dict(zip(("baseline", "changed", "diff", "ci_low", "ci_high"),
                            [None if v is None or (isinstance(v, float) and np.isnan(v))
                             else float(v) for v in x]))
        return {"mql_per_week": t(self.mql_per_week),
                "rates": {k: t(v) for k, v in self.rates.items()},
                "hits_per_week": {k: t(v) for k, v in self.hits_per_week.items()},
                "decided": list(self.decided), "hits": list(self.hits), "basis": self.basis}


@dataclass(frozen=True)
class Change:
    """One proposed change (or the whole package) with its effect and verdict."""

    kind: str
    what: str
    effect: Effect
    verdict: str  # "recommend", "consider" or "hold"
    reasons: tuple[str, ...]
    impact: float  # change in primary hits per week, for ranking

    def to_dict(self) -> dict:
        return {"kind": self.kind, "what": self.what, "verdict": self.verdict,
                "reasons": list(self.reasons), "impact_hits_per_week": self.impact,
                "effect": self.effect.to_dict()}


@dataclass(frozen=True)
class Recommendations:
    primary: str
    evaluation: str
    package: Change
    changes: tuple[Change, ...]
    caveats: tuple[str, ...]
    diff: str
    capacity_per_week: float | None = None
    outcomes: tuple[str, ...] = field(default_factory=tuple)
    per: str = "week"  # "week", or "data set" for a snapshot (counts, no time)

    def to_dict(self) -> dict:
        return {"primary": self.primary, "evaluation": self.evaluation, "per": self.per,
                "capacity_per_week": self.capacity_per_week,
                "package": self.package.to_dict(),
                "changes": [c.to_dict() for c in self.changes],
                "caveats": list(self.caveats), "diff": self.diff}

    def to_frame(self) -> pd.DataFrame:
        rows = []
        for c in (self.package, *self.changes):
            e = c.effect
            row = {"change": c.what, "kind": c.kind, "verdict": c.verdict,
                   "mql_per_week": e.mql_per_week[1], "mql_per_week_diff": e.mql_per_week[2]}
            for o in self.outcomes:
                if o in e.rates:
                    r = e.rates[o]
                    row[f"{o}_rate"] = r[1]
                    row[f"{o}_rate_diff"] = r[2]
                    row[f"{o}_rate_diff_ci_low"] = r[3]
                    row[f"{o}_rate_diff_ci_high"] = r[4]
            h = e.hits_per_week[self.primary]
            row[f"{self.primary}_per_week_diff"] = h[2]
            row["reasons"] = "; ".join(c.reasons)
            rows.append(row)
        return pd.DataFrame(rows)

    def summary(self) -> str:
        lines = [f"Recommendations ({self.evaluation}); primary outcome: {self.primary}"]
        for c in (self.package, *self.changes):
            e = c.effect
            r = e.rates[self.primary]
            lines.append(f"  [{c.verdict:<9}] {c.what}: MQLs/{self.per} {e.mql_per_week[0]:.1f} -> "
                         f"{e.mql_per_week[1]:.1f}; {self.primary} rate {_pct(r[0])} -> "
                         f"{_pct(r[1])} (diff {_pp(r[2])}, 95% CI {_pp(r[3])} to {_pp(r[4])})")
        for c in self.caveats:
            lines.append(f"  caveat: {c}")
        return "\n".join(lines)


def _pct(x):
    return "-" if x is None or np.isnan(x) else f"{100 * x:.1f}%"


def _pp(x):
    return "-" if x is None or np.isnan(x) else f"{100 * x:+.1f} pts"


# ----------------------------------------------------------------------------- effects
def _indicators(res: ReplayResult, outcome: str):
    st = res.per_lead[f"status_{outcome}"].astype(object).to_numpy()
    hit = st == "hit"
    decided = hit | (st == "miss") | (st == "late")
    return hit.astype(float), decided.astype(float)


def paired_effect(a: ReplayResult, b: ReplayResult, outcomes, primary: str, *,
                  capacity: float | None = None, n_boot: int = N_BOOT, seed: int = 0,
                  labels: SelectionLabels | None = None) -> Effect:
    """Differences b - a with a paired bootstrap over leads (multinomial weights).

    ``hits_per_week`` counts outcomes per week; with a ``capacity`` (MQLs per week sales
    can work) it is ``rate * min(MQLs per week, capacity)``: MQLs beyond capacity are
    not worked, so volume beyond it earns nothing.

    With ``labels`` (an exploration holdout), rates are corrected for selective labels
    (module docstring) and hits per week are ``rate * MQLs per week`` (capped at the
    capacity); when the correction is undefined (no holdout lead among the MQLs it
    needs), the recorded outcomes are used and ``basis`` says so."""
    if len(a.per_lead) != len(b.per_lead) or not (
            a.per_lead["lead_id"].to_numpy() == b.per_lead["lead_id"].to_numpy()).all():
        raise ValueError("paired_effect needs two replays of the same leads")
    n = len(a.per_lead)
    # a snapshot has no time: "per week" figures are then totals over the data set
    weeks = 1.0 if a.snapshot else (a.period.weeks or np.nan)
    rng = np.random.default_rng(seed)
    mql_a = a.per_lead["mql_at"].notna().to_numpy(float) if "mql_at" in a.per_lead else \
        a.per_lead["mql"].to_numpy(float)
    mql_b = b.per_lead["mql_at"].notna().to_numpy(float) if "mql_at" in b.per_lead else \
        b.per_lead["mql"].to_numpy(float)
    cols = {"mql_a": mql_a, "mql_b": mql_b}
    for o in outcomes:
        cols[f"h_a_{o}"], cols[f"d_a_{o}"] = _indicators(a, o)
        cols[f"h_b_{o}"], cols[f"d_b_{o}"] = _indicators(b, o)
        if labels is not None:
            for side, res in (("a", a), ("b", b)):
                for k, v in labels.columns(res.per_lead, o).items():
                    cols[f"c{k}_{side}_{o}"] = v.astype(float)
    names = list(cols)
    m = np.column_stack([cols[k] for k in names])  # n x k
    point = m.sum(axis=0)
    boot = np.empty((n_boot, len(names)))
    batch = max(1, min(n_boot, int(2e7 // max(n, 1))))
    done = 0
    while done < n_boot:
        k = min(batch, n_boot - done)
        w = rng.multinomial(n, np.full(n, 1.0 / n), size=k) if n else np.zeros((k, 0))
        boot[done:done + k] = w @ m
        done += k
    idx = {k: i for i, k in enumerate(names)}

    def ci(stat_point, stat_boot):
        lo, hi = np.nanpercentile(stat_boot, [2.5, 97.5]) if np.isfinite(stat_boot).any() \
            else (np.nan, np.nan)
        return float(lo), float(hi)

    def tup(fa, fb):
        pa, pb = fa(point), fb(point)
        with np.errstate(invalid="ignore", divide="ignore"):
            diffs = fb(boot.T) - fa(boot.T)
        lo, hi = ci(pb - pa, diffs)
        return (pa, pb, pb - pa, lo, hi)

    def observed_rate(side, o):
        def f(s):
            with np.errstate(invalid="ignore", divide="ignore"):
                return s[idx[f"h_{side}_{o}"]] / s[idx[f"d_{side}_{o}"]]
        return f

    def corrected(side, o):
        def f(s):
            return corrected_rate({k: s[idx[f"c{k}_{side}_{o}"]] for k in CORRECTION_KEYS})
        return f

    basis = "recorded outcomes"
    rate = observed_rate
    if labels is not None:
        ok = all(np.isfinite(corrected(sd, o)(point)) for sd in ("a", "b") for o in outcomes)
        if ok:
            rate = corrected
            basis = (f"outcomes corrected for selective labels with the holdout "
                     f"({int(labels.holdout.sum()):,} leads), over the MQLs whose window is "
                     "observed")
        else:
            basis = ("recorded outcomes (not corrected for selective labels: no holdout lead "
                     "among the MQLs the correction needs)")

    def per_week(key):
        return lambda s: s[idx[key]] / weeks

    def worked_hits(side, o):
        def f(s):
            r = rate(side, o)(s)
            vol = s[idx[f"mql_{side}"]] / weeks
            return np.nan_to_num(r) * (vol if capacity is None else np.minimum(vol, capacity))
        return f

    rates = {o: tup(rate("a", o), rate("b", o)) for o in outcomes}
    if capacity is None and rate is observed_rate:
        hits = {o: tup(per_week(f"h_a_{o}"), per_week(f"h_b_{o}")) for o in outcomes}
    else:
        hits = {o: tup(worked_hits("a", o), worked_hits("b", o)) for o in outcomes}
    return Effect(mql_per_week=tup(per_week("mql_a"), per_week("mql_b")), rates=rates,
                  hits_per_week=hits,
                  decided=(int(point[idx[f"d_a_{primary}"]]), int(point[idx[f"d_b_{primary}"]])),
                  hits=(int(point[idx[f"h_a_{primary}"]]), int(point[idx[f"h_b_{primary}"]])),
                  basis=basis)


def verdict(e: Effect, primary: str, capacity: float | None,
            per: str = "week") -> tuple[str, tuple[str, ...]]:
    reasons = []
    r = e.rates[primary]
    h = e.hits_per_week[primary]
    if min(e.decided) < MIN_DECIDED or min(e.hits) < MIN_HITS:
        return "hold", (f"too few outcomes to judge ({min(e.decided)} decided MQLs, "
                        f"{min(e.hits)} {primary} hits on the smaller side; calib needs at least "
                        f"{MIN_DECIDED} and {MIN_HITS})",)
    harm = []
    if not np.isnan(r[3]) and r[3] < -HARM_RATE:
        harm.append(f"the interval of the {primary} rate reaches a drop of "
                    f"{-100 * r[3]:.1f} points")
    if not np.isnan(h[3]) and h[0] > 0 and h[3] < -HARM_HITS * h[0]:
        harm.append(f"the interval of {primary}s per {per}{' sales can work' if capacity else ''}"
                    f" reaches a drop of {-100 * h[3] / h[0]:.0f}%")
    if harm:
        return "hold", tuple(["material harm cannot be ruled out: " + "; ".join(harm)])
    if capacity is not None and not np.isnan(e.mql_per_week[1]) and \
            e.mql_per_week[1] > 1.05 * capacity:
        reasons.append(f"{e.mql_per_week[1]:.0f} MQLs per {per} exceeds the capacity of "
                       f"{capacity:g}")
        return "hold", tuple(reasons)
    gain_rate = not np.isnan(r[3]) and r[3] > 0
    gain_hits = not np.isnan(h[3]) and h[3] > 0
    fewer = e.mql_per_week[2] < 0
    if gain_rate or gain_hits:
        if gain_rate:
            reasons.append(f"{primary} rate per MQL up {100 * r[2]:+.1f} points "
                           f"(95% CI {100 * r[3]:+.1f} to {100 * r[4]:+.1f})")
        if gain_hits:
            reasons.append(f"{h[2]:+.1f} {primary}s per {per}{' within capacity' if capacity else ''}"
                           f" (95% CI {h[3]:+.1f} to {h[4]:+.1f})")
        if fewer:
            reasons.append(f"{-e.mql_per_week[2]:.1f} fewer MQLs per {per} for sales to work")
        return "recommend", tuple(reasons)
    lower = not np.isnan(r[4]) and r[4] < 0
    if lower:
        reasons.append(f"the {primary} rate per MQL is lower by {-100 * r[2]:.1f} points (95% CI "
                       f"{-100 * r[4]:.1f} to {-100 * r[3]:.1f}), within the "
                       f"{100 * HARM_RATE:.0f}-point tolerance")
    else:
        reasons.append("no clear gain: the intervals include zero")
    if fewer and not lower:
        reasons.append(f"{-e.mql_per_week[2]:.1f} fewer MQLs per {per} at no measurable loss")
        return "consider", tuple(reasons)
    return "hold", tuple(reasons)


# ----------------------------------------------------------------------------- changes
def rule_changes(a: RuleSet, b: RuleSet) -> list[tuple[str, str, dict]]:
    """The individual differences between two rule sets as (kind, text, patch) where
    ``patch`` turns ``a``'s dict into one with that change applied."""
    da, db = a.to_dict(), b.to_dict()
    out = []
    for key in ("mql", "sql", "mql_min_fit"):
        va, vb = da["thresholds"].get(key), db["thresholds"].get(key)
        if va != vb:
            out.append(("cutoff", f"{key.upper() if key != 'mql_min_fit' else 'minimum fit for MQL'}"
                        f" cutoff {va if va is not None else 'none'} -> "
                        f"{vb if vb is not None else 'none'}",
                        {"thresholds": {**da["thresholds"], key: vb}}))
    if da["decay"] != db["decay"]:
        out.append(("decay", f"decay {_decay_text(a)} -> {_decay_text(b)}",
                    {"decay": db["decay"]}))
    if da.get("limits") != db.get("limits"):
        out.append(("limits", f"score limits {da.get('limits', {})} -> {db.get('limits', {})}",
                    {"limits": db.get("limits")}))
    for kind, ra, rb in (("behavior", a.behavior, b.behavior), ("fit", a.fit, b.fit)):
        by_a = {r.name: r for r in ra}
        by_b = {r.name: r for r in rb}
        for name in dict.fromkeys([*by_a, *by_b]):
            x, y = by_a.get(name), by_b.get(name)
            rules_a = [r.to_dict() for r in ra]
            if x is None:
                out.append(("new rule", f"new {kind} rule '{name}' ({_rule_text(y)})",
                            {kind: rules_a + [_named(y)]}))
            elif y is None:
                out.append(("removed rule", f"remove {kind} rule '{name}' ({_rule_text(x)})",
                            {kind: [r.to_dict() for r in ra if r.name != name]}))
            elif _named(x) != _named(y):  # a name written out is no change
                out.append(("points", f"{kind} rule '{name}': {_rule_text(x)} -> {_rule_text(y)}",
                            {kind: [(_named(y) if r.name == name else r.to_dict()) for r in ra]}))
    return out


def _named(r) -> dict:
    d = r.to_dict()
    d.setdefault("name", r.name)
    return d


def _rule_text(r) -> str:
    text = f"{r.points:+g} points"
    cap = getattr(r, "cap", None)
    if cap is not None:
        text += f", cap {cap:g}"
    mpd = getattr(r, "max_per_day", None)
    if mpd is not None:
        text += f", at most {mpd}/day"
    return text


def _decay_text(r: RuleSet) -> str:
    d = r.decay
    if d.kind == "exponential":
        return f"exponential, half-life {d.half_life_days:.3g} days"
    if d.kind == "step":
        return f"step {d.percent:g}% every {d.every_days:g} days"
    if d.kind == "window":
        return f"window of {d.days:g} days"
    if d.kind == "linear":
        return f"linear over {d.days:g} days"
    return "none"


def recommend(ds: Dataset, baseline: RuleSet, proposed: RuleSet, base_res: ReplayResult,
              prop_res: ReplayResult, *, primary: str, outcomes, window_days: float,
              start=None, end=None, capacity_per_week: float | None = None, evaluation: str = "",
              seed: int = 0, max_changes: int = 40) -> Recommendations:
    """Judge the whole proposal and each of its changes against the baseline."""
    outcomes = tuple(outcomes)
    per = "data set" if base_res.snapshot else "week"
    if base_res.snapshot:
        capacity_per_week = None  # a capacity per week means nothing without time
    labels = SelectionLabels.from_dataset(ds, base_res.per_lead, outcomes, window_days)
    eff = paired_effect(base_res, prop_res, outcomes, primary, capacity=capacity_per_week,
                        seed=seed, labels=labels)
    v, reasons = verdict(eff, primary, capacity_per_week, per)
    package = Change("package", f"adopt '{proposed.name}' as a whole", eff, v, reasons,
                     eff.hits_per_week[primary][2])
    changes = []
    for kind, text, patch in rule_changes(baseline, proposed)[:max_changes]:
        d = {**baseline.to_dict(), **patch}
        d = {k: v for k, v in d.items() if v is not None}  # e.g. limits removed
        if "thresholds" in patch and d["thresholds"].get("sql") is not None and \
                d["thresholds"]["sql"] <= d["thresholds"]["mql"]:
            d["thresholds"] = {k: v for k, v in d["thresholds"].items() if k != "sql"}
        try:
            changed = RuleSet.from_dict(d)
        except Exception:  # noqa: BLE001 - a change that is invalid alone is judged as a package
            continue
        res = replay(ds, changed, window_days=window_days, start=start, end=end, per_lead=True)
        e = paired_effect(base_res, res, outcomes, primary, capacity=capacity_per_week,
                          seed=seed, labels=labels)
        v, reasons = verdict(e, primary, None, per)
        changes.append(Change(kind, text, e, v, reasons, e.hits_per_week[primary][2]))
    order = {"recommend": 0, "consider": 1, "hold": 2}
    changes.sort(key=lambda c: (order[c.verdict], -abs(c.impact)))
    # a change that moves nothing on its own (say, a small new rule) only matters
    # together with the others: list it once, in a note, not as a row of zeros
    inert = [c for c in changes if c.effect.mql_per_week[2] == 0 and all(
        r[2] == 0 or np.isnan(r[2]) for r in c.effect.rates.values())]
    changes = [c for c in changes if c not in inert]

    corrected = labels is not None and eff.basis.startswith("outcomes corrected")
    caveats = _caveats(ds, base_res, prop_res, primary, evaluation, corrected)
    if corrected:
        cols = labels.columns(prop_res.per_lead, primary)
        caveats.insert(0, (
            f"Selective labels: {int(cols['u'].sum()):,} of the proposal's {int(cols['d'].sum()):,} "
            f"MQLs with a full window were routed late or never by the historical rules, so "
            f"their early '{primary}' outcomes may be missing from the data; the rates are "
            f"corrected with the {int(labels.holdout.sum()):,} holdout leads "
            f"({int(cols['p'].sum()):,} of them among those MQLs), which widens the intervals."))
    if inert:
        caveats.append(f"{len(inert)} further change(s) change no MQL on their own and matter only "
                       "together with the others: " + "; ".join(c.what for c in inert[:12])
                       + ("; ..." if len(inert) > 12 else "") + ".")
    diff = "".join(difflib.unified_diff(
        dumps_rules(baseline).splitlines(keepends=True),
        dumps_rules(proposed).splitlines(keepends=True),
        fromfile=f"{baseline.name}.toml", tofile=f"{proposed.name}.toml"))
    return Recommendations(primary=primary, evaluation=evaluation, package=package,
                           changes=tuple(changes), caveats=tuple(caveats), diff=diff,
                           capacity_per_week=capacity_per_week, outcomes=outcomes, per=per)


def _caveats(ds, base_res, prop_res, primary, evaluation, corrected: bool = False) -> list[str]:
    out = []
    a, b = base_res.per_lead, prop_res.per_lead
    if "mql_at" in a:
        new = b["mql_at"].notna().to_numpy() & a["mql_at"].isna().to_numpy()
    else:
        new = b["mql"].to_numpy() & ~a["mql"].to_numpy()
    cov = prop_res.coverage
    if cov is not None and cov < 0.995:
        out.append(f"Coverage: {cov:.0%} of the proposal's MQLs have a recorded sales outcome; "
                   "the rest were never worked, so their outcomes are unknown"
                   + ("; the holdout stands in for them in the corrected rates." if corrected
                      else " and count as misses."))
    if new.any():
        from calib.data import SALES_OUTCOMES

        first = ds.first_outcomes()
        worked = set(ds.lead_ids(first.loc[first["outcome"].isin(SALES_OUTCOMES), "lead"]))
        share = b.loc[new, "lead_id"].isin(worked).mean()
        if share < 0.5:
            out.append(f"{int(new.sum()):,} leads would become MQLs only under the proposal; "
                       f"only {share:.0%} of them were ever worked by sales, so the estimate "
                       "for them rests on few observed outcomes (selective labels)"
                       + (", corrected with the holdout." if corrected else "."))
        else:
            out.append(f"{int(new.sum()):,} leads would become MQLs only under the proposal; "
                       f"{share:.0%} of them were worked by sales, so their outcomes are "
                       "observed.")
    imm = prop_res.outcome(primary).immature
    if imm and not corrected:
        out.append(f"{imm:,} of the proposal's MQLs are immature for '{primary}' (their window "
                   "runs past the end of the data) and are left out of rates.")
    if corrected:
        m = prop_res.per_lead["mql_at"]
        open_ = int((m.notna() & (m + pd.Timedelta(days=prop_res.window_days)
                                  > ds.end_of_data)).sum())
        if open_:
            out.append(f"{open_:,} of the proposal's MQLs came too late for their whole "
                       "window to be observed and are left out of the corrected rates.")
    if "in sample" in evaluation:
        out.append("The proposal is judged on the same period it was tuned on, which flatters "
                   "it; set train_until in the experiment file for an out-of-time check.")
    holdout = [c for c in ds.leads.columns if "holdout" in str(c).lower()]
    first = ds.first_outcomes()
    from calib.data import SALES_OUTCOMES

    worked_share = first.loc[first["outcome"].isin(SALES_OUTCOMES), "lead"].nunique() / \
        max(ds.n_leads, 1)
    if not holdout and worked_share < 0.95:
        out.append(f"The data has no exploration holdout: {1 - worked_share:.0%} of leads have no "
                   "recorded sales outcome, because the old rules never sent them to sales. Route a small random share (e.g. 5%) of below-cutoff "
                   "leads to sales, marked in a column, so future analyses can measure what "
                   "the old rules missed.")
    return out
