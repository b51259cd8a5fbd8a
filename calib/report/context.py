"""From an :class:`~calib.pipeline.run.ExperimentResult` to the tables behind the figures and the
context the templates render. Aggregates only: no lead id ever reaches a report."""

from __future__ import annotations

import numpy as np
import pandas as pd

from calib.engine.score import bands as score_bands


def funnel_table(res) -> pd.DataFrame:
    a, b = res.test_replays["baseline"], res.test_replays["proposed"]
    weeks = 1.0 if a.snapshot else a.period.weeks  # a snapshot shows counts
    rows = [{"stage": "MQLs", "baseline": a.mql_count / weeks if weeks else 0,
             "proposed": b.mql_count / weeks if weeks else 0}]
    if weeks:
        for o in res.outcomes:
            rows.append({"stage": f"{o} (hits)", "baseline": a.outcome(o).hits / weeks,
                         "proposed": b.outcome(o).hits / weeks})
    return pd.DataFrame(rows)


def tradeoff_marks(res) -> dict:
    marks = {}
    for label, rules in (("baseline", res.baseline), ("proposed", res.proposed)):
        r = res.test_replays[label].to_dict()
        o = r["outcomes"].get(res.primary, {})
        if r["mql"]["per_week"] is None or o.get("rate") is None:
            continue
        marks[label] = (r["mql"]["per_week"], o["rate"], o.get("recall") or 0.0,
                        rules.thresholds.mql)
    return marks


def score_hist_table(res, n_bins: int = 30) -> pd.DataFrame:
    t = res.score_by_outcome
    t = t[t["outcome"] == res.primary]
    rows = []
    for label, rules in (("baseline", res.baseline), ("proposed", res.proposed)):
        g = t[t["rules"] == label]
        if g.empty:
            continue
        s = g["peak_score"].to_numpy()
        lo, hi = float(np.nanmin(s)), float(np.nanmax(s))
        if hi <= lo:
            hi = lo + 1
        edges = np.linspace(lo, hi, n_bins + 1)
        w, _ = np.histogram(s[g["had_outcome"].to_numpy()], edges)
        wo, _ = np.histogram(s[~g["had_outcome"].to_numpy()], edges)
        for i in range(n_bins):
            rows.append({"rules": label, "bin_left": edges[i], "bin_right": edges[i + 1],
                         "with_outcome": int(w[i]), "without_outcome": int(wo[i]),
                         "mql_cutoff": rules.thresholds.mql})
    return pd.DataFrame(rows)


def band_table(res) -> pd.DataFrame:
    t = res.score_by_outcome
    t = t[t["outcome"] == res.primary]
    rows = []
    for label, rules in (("baseline", res.baseline), ("proposed", res.proposed)):
        g = t[t["rules"] == label]
        fit = res.test_replays[label].per_lead["fit_score"].to_numpy()
        b = score_bands(g["peak_score"].to_numpy(), fit, rules)
        had = g["had_outcome"].to_numpy()
        for band in ("cold", "warm", "mql", "sql"):
            m = b == band
            if m.any():
                rows.append({"rules": label, "band": band, "leads": int(m.sum()),
                             "with_outcome": int(had[m].sum()), "rate": float(had[m].mean())})
    return pd.DataFrame(rows)


def points_table(res) -> pd.DataFrame:
    """Current vs proposed points per rule, with the fitted evidence when a fit ran."""
    rows = {}
    for side, rules in (("current", res.baseline), ("proposed", res.proposed)):
        for kind, rs in (("fit", rules.fit), ("behavior", rules.behavior)):
            for r in rs:
                key = (kind, r.name)
                row = rows.setdefault(key, {"kind": kind, "rule": r.name,
                                            "condition": _condition(r), "current": None,
                                            "proposed": None})
                row[side] = r.points
    df = pd.DataFrame(list(rows.values()))
    review = getattr(res.fit, "review", None) if res.fit is not None else None
    if isinstance(review, pd.DataFrame) and "rule" in review.columns:
        # the fitted evidence for each current rule: points it supports, and a flag
        ev = review[["rule", "kind", "supported_points", "supported_low", "supported_high",
                     "status"]]
        df = df.merge(ev, on=["rule", "kind"], how="left")
    return df


def _condition(r) -> str:
    if hasattr(r, "events"):
        return ", ".join(r.events)
    parts = []
    if r.in_ is not None:
        parts.append(f"{r.field} in {', '.join(map(str, r.in_))}")
    if r.equals is not None:
        parts.append(f"{r.field} = {r.equals}")
    if r.min is not None:
        parts.append(f"{r.field} >= {r.min:g}")
    if r.max is not None:
        parts.append(f"{r.field} <= {r.max:g}")
    if r.missing is not None:
        parts.append(f"{r.field} {'missing' if r.missing else 'present'}")
    return "; ".join(parts)


def decay_table(res):
    """The decay profile: from the fit when it ran, else hits by half-life from the sweep.
    Returns (table, x, y, xlabel, ylabel, chosen, title) or None."""
    fit = res.fit
    prof = getattr(getattr(fit, "decay", None), "curve", None) if fit is not None else None
    if isinstance(prof, pd.DataFrame) and {"kind", "parameter_days", "loglik"} <= set(prof):
        kind = res.proposed.decay.kind
        t = prof[prof["kind"] == kind]
        if len(t) > 1:
            d = res.proposed.decay
            chosen = d.half_life_days or d.days or d.every_days
            label = "half-life (days)" if kind == "exponential" else f"{kind} parameter (days)"
            return (t.reset_index(drop=True), "parameter_days", "loglik", label,
                    "profile log-likelihood", chosen,
                    f"Decay profile ({kind}): how fast interest fades")
    sw = res.sweep
    if sw is not None and "decay.half_life_days" in sw.params:
        f = sw.frame
        if res.experiment.capacity_mql_per_week is not None:
            f = f[f["mql_per_week"] <= res.experiment.capacity_mql_per_week]
        if f.empty:
            return None
        col = f"{res.primary}_hits"
        t = f.groupby("decay.half_life_days", as_index=False)[col].max()
        return (t, "decay.half_life_days", col, "half-life (days)",
                f"best {res.primary} hits (training period)", res.proposed.decay.half_life_days,
                "Decay: best result per half-life in the sweep")
    return None


def forest_table(ab) -> pd.DataFrame | None:
    if ab is None:
        return None
    f = ab.to_frame() if hasattr(ab, "to_frame") else None
    if f is None or f.empty:
        return None
    cols = {c.lower(): c for c in f.columns}
    for short, long in (("diff_low", "diff_ci_low"), ("diff_high", "diff_ci_high")):
        if short in cols and long not in cols:
            cols[long] = cols[short]
    need = ("diff", "diff_ci_low", "diff_ci_high")
    if not all(n in cols for n in need):
        return None
    f = f[f[cols["diff"]].notna()].copy()
    label = f[cols.get("metric", f.columns[0])].astype(str)
    if "arm" in cols:
        label = label + " · " + f[cols["arm"]].astype(str)
    out = pd.DataFrame({"label": label, "diff": f[cols["diff"]], "ci_low": f[cols["diff_ci_low"]],
                        "ci_high": f[cols["diff_ci_high"]]})
    padj = cols.get("p_adjusted") or cols.get("p_adj")
    out["significant"] = (f[padj] < 0.05).to_numpy() if padj else False
    return out.reset_index(drop=True)


def comparison_rows(comp, primary: str) -> tuple[list, list]:
    """(paired differences, who-moves cells) of a ComparisonResult, for the templates."""
    if comp is None:
        return [], []
    diffs = []
    for r in comp.to_frame().to_dict("records"):
        m = str(r["metric"])
        is_rate = m.endswith("_rate") or m.endswith("_recall")
        diffs.append({"metric": m.replace("_", " "), "a": r["a"], "b": r["b"], "diff": r["diff"],
                      "ci_low": r["ci_low"], "ci_high": r["ci_high"], "is_rate": is_rate})
    who = []
    wm = comp.who_moves
    for r in wm.to_dict("records"):
        who.append({"label": r["label"], "leads": r["leads"], "share": r["share"],
                    "rate_a": r.get(f"{primary}_rate_a"), "rate_b": r.get(f"{primary}_rate_b"),
                    "occurred": r.get(f"{primary}_occurred_rate"),
                    "indent": str(r.get("group", "")).startswith("both_")})
    return diffs, who


def abtest_rows(ab) -> tuple[dict | None, list]:
    """(sample-ratio check, per metric and arm rows) of an ABTestResult."""
    if ab is None:
        return None, []
    srm = ab.srm
    srm_d = {"status": srm.status, "p_value": srm.p_value, "chi2": srm.chi2,
             "observed": dict(srm.observed), "planned": dict(srm.planned)}
    rows = []
    for r in ab.to_frame().to_dict("records"):
        rows.append({k: r.get(k) for k in ("metric", "role", "arm", "n", "rate", "ci_low",
                                            "ci_high", "diff", "diff_low", "diff_high",
                                            "p_adjusted", "prob_beat",
                                            "p_always_valid_adjusted", "status")})
    return srm_d, rows
