"""From an :class:`~calib.pipeline.run.ExperimentResult` to the tables behind the figures and the
context the templates render. Aggregates only: no lead id ever reaches a report."""

from __future__ import annotations

import numpy as np
import pandas as pd

from calib.engine.score import bands as score_bands
from calib.rules.changes import decay_text


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


# ------------------------------------------------------------------ recommendations, page 1
def _is_corrected(basis: str) -> bool:
    return str(basis).startswith("outcomes corrected")


def recommendations_view(recs) -> dict:
    """The one adapter between :class:`~calib.pipeline.recommend.Recommendations` and the
    templates: plain dicts from ``to_dict()``, each effect as ``{baseline, changed, diff,
    ci_low, ci_high}``. Fields the templates do not know are carried along untouched."""
    d = recs.to_dict()

    def change(c: dict) -> dict:
        e = c["effect"]
        basis = e.get("basis") or d.get("basis") or "recorded outcomes"
        return {**c, "mql": e["mql_per_week"], "rates": e["rates"],
                "hits": e.get("per_week") or e.get("hits_per_week") or {},
                "comparison": e.get("comparison", ""), "basis": basis,
                "corrected": _is_corrected(basis),
                "included": c.get("included_in_package", True)}

    package = change(d["package"])
    changes = [change(c) for c in d["changes"]] + [change(c) for c in d.get("excluded", [])]
    return {"primary": d["primary"], "per": d.get("per", "week"),
            "capacity": d.get("capacity_mql_per_week"), "package": package,
            "changes": changes, "caveats": list(d["caveats"]),
            "basis": package["basis"], "corrected": package["corrected"],
            "evaluation": d.get("evaluation", "")}


VERDICT_WORDS = {"recommend": "Adopt", "consider": "Consider", "hold": "Do not adopt yet"}


PLURALS = {"meeting": "meetings", "sql": "SQLs", "mql": "MQLs", "won": "wins",
           "lost": "losses", "opportunity": "opportunities"}


def _plural(o: str) -> str:
    """How a count of an outcome reads: 'won' -> 'wins', 'sql' -> 'SQLs'."""
    return PLURALS.get(o, o if o.endswith("s") else o + "s")


def headline_rows(view: dict, outcomes) -> list[dict]:
    """Page 1's table: MQLs per week, the primary rate per MQL, and each outcome per week
    within capacity, current against proposed with the 95% interval of the change."""
    from calib.report import fmt

    p, per, primary = view["package"], view["per"], view["primary"]
    mark = "†" if view["corrected"] else ""
    within = " within capacity" if view["capacity"] else ""
    rows = [{"metric": f"MQLs per {per}", "mark": "",
             "current": fmt.num(p["mql"]["baseline"]), "proposed": fmt.num(p["mql"]["changed"]),
             "change": fmt.signed(p["mql"]["diff"]),
             "interval": fmt.interval(p["mql"]["ci_low"], p["mql"]["ci_high"])}]
    r = p["rates"].get(primary)
    if r:
        rows.append({"metric": f"{primary} rate per MQL", "mark": mark,
                     "current": fmt.pct(r["baseline"]), "proposed": fmt.pct(r["changed"]),
                     "change": fmt.pp(r["diff"]),
                     "interval": fmt.interval(r["ci_low"], r["ci_high"], fmt.pp)})
    for o in [primary] + [o for o in outcomes if o != primary]:
        h = p["hits"].get(o)
        if not h:
            continue
        rows.append({"metric": f"{_plural(o)} per {per}{within}", "mark": mark,
                     "current": fmt.num(h["baseline"]), "proposed": fmt.num(h["changed"]),
                     "change": fmt.signed(h["diff"]),
                     "interval": fmt.interval(h["ci_low"], h["ci_high"])})
    return rows


def decision(res, view: dict) -> dict:
    """The decision of page 1: verdict, one paragraph, the headline table, the risks."""
    from calib.report import fmt

    p, primary, per = view["package"], view["primary"], view["per"]
    cap = view["capacity"]
    verdict = p["verdict"]
    title = f"{VERDICT_WORDS.get(verdict, verdict)} the proposed rule set '{res.proposed.name}'"
    m, r, h = p["mql"], p["rates"].get(primary, {}), p["hits"].get(primary, {})
    cur = _current_label(res, p)
    s = [f"Against {cur['sentence']}, on the same leads, the proposal "
         f"sends sales {fmt.num(m['changed'])} MQLs "
         f"a {per} instead of {fmt.num(m['baseline'])}"
         + (f" (sales can work {fmt.num(cap, 0)} a {per})." if cap else ".")]
    if r:
        s.append(f"{fmt.pct(r['changed'])} of its MQLs would reach a {primary} instead of "
                 f"{fmt.pct(r['baseline'])} ({fmt.pp(r['diff'])}, 95% interval "
                 f"{fmt.interval(r['ci_low'], r['ci_high'], fmt.pp)}).")
    if h:
        within = " that sales can work" if cap else ""
        s.append(f"Counting only the MQLs{within}, that is {fmt.signed(h['diff'])} "
                 f"{_plural(primary)} a {per} (95% interval "
                 f"{fmt.interval(h['ci_low'], h['ci_high'])}).")
    today = _as_written(p)
    if today is not None and cur["matched"]:
        th = today["per_week"].get(primary) or {}
        tm = today["mql_per_week"]
        s.append(f"Against today's rules as they are ({fmt.num(tm['baseline'])} MQLs a {per}), "
                 f"the proposal gives {fmt.signed(th.get('diff'))} {_plural(primary)} a {per}"
                 + (" within capacity" if cap else "")
                 + f" (95% interval {fmt.interval(th.get('ci_low'), th.get('ci_high'))}).")
    reasons = [x for x in p.get("reasons", []) if x]
    why = ""
    if verdict != "recommend" and reasons:
        why = f"Why '{verdict}' and not 'recommend': " + fmt.words("; ".join(reasons)) + "."
    risks = list(view["caveats"][:3])
    return {"verdict": verdict, "title": title, "paragraph": " ".join(s), "why": why,
            "current_label": cur["column"], "proposed_label": cur["proposed"],
            "evaluation": _short_evaluation(res),
            "rows": headline_rows(view, res.outcomes), "risks": risks,
            "more_risks": max(0, len(view["caveats"]) - 3)}


def _as_written(p: dict) -> dict | None:
    """The package's judgement against today's rules as written, when there is one."""
    for key in ("alone", "as_written"):
        j = p.get(key)
        if isinstance(j, dict) and j.get("comparison") == "as written" and "per_week" in j:
            return j
    return None


def _current_label(res, p: dict) -> dict:
    """What "current" means in page 1's figures: today's rules, or (when the package is
    judged at matched volume) the current rules with their cutoff moved to the proposal's
    volume."""
    from calib.report import fmt

    name = res.baseline.name
    cuts = (p.get("effect") or {}).get("cutoffs", {})
    cut, pcut = cuts.get("baseline"), cuts.get("changed")
    own = res.proposed.thresholds.mql
    proposed = "proposed"
    if not fmt.missing(pcut) and round(pcut) != round(own):
        proposed = f"proposed at cutoff {fmt.points(pcut, sign=False)}"
    if p.get("comparison") == "matched" and not fmt.missing(cut):
        c = fmt.points(cut, sign=False)
        moved = "" if proposed == "proposed" else \
            f"; the proposal's own cutoff moved from {fmt.points(own, sign=False)} to " \
            f"{fmt.points(pcut, sign=False)} as well, where scores tie"
        return {"matched": True, "proposed": proposed,
                "sentence": f"the current rules '{name}' at matched volume (their MQL cutoff "
                            f"moved from {fmt.points(res.baseline.thresholds.mql, sign=False)} "
                            f"to {c} so they route as many MQLs as the proposal{moved})",
                "column": f"current at cutoff {c}"}
    return {"matched": False, "sentence": f"the current rules '{name}'", "column": "current",
            "proposed": proposed}


def _short_evaluation(res) -> str:
    ev = res.evaluation
    w = getattr(res, "window", None) or {}
    # a window measured from the data says how it was chosen; a given one stays as it was
    why = f"; {w['sentence'].split(' (set --window-days')[0]}" \
        if w.get("source") in ("data", "default") else ""
    if ev.startswith("out of time"):
        n = res.test_replays["baseline"].per_lead.shape[0] if \
            res.test_replays["baseline"].per_lead is not None else None
        start = ev.split("before ")[1].split(",")[0] if "before " in ev else ""
        lead = f"{n:,} leads" if n else "the leads"
        return f"out of time: {lead} created from {start} on, after the proposal was tuned{why}"
    return f"in sample: the proposal is judged on the data it was tuned on{why}"


def basis_note(view: dict) -> str:
    if view["corrected"]:
        return ("† Corrected for selective labels: the historical rules decided which leads "
                "sales worked, so leads they routed late or never lack their early outcomes; "
                "a random holdout of leads routed regardless of score estimates what those "
                f"leads would have done. Basis: {view['basis']}.")
    return f"Rates and counts are as recorded: {view['basis']}."


# ------------------------------------------------------------------ rules before/after
def rules_rows(res, points: pd.DataFrame) -> list[dict]:
    """The proposed rule set against the current one, rule by rule, for people: cutoffs,
    decay, then every rule's points with the evidence (changed rules first)."""
    from calib.report import fmt

    a, b = res.baseline, res.proposed
    rows = []

    def cut(x):
        return "none" if x is None else f"{fmt.points(x, sign=False)} points"

    for name, x, y in (("MQL cutoff", a.thresholds.mql, b.thresholds.mql),
                       ("SQL cutoff", a.thresholds.sql, b.thresholds.sql)):
        if x is None and y is None:
            continue
        rows.append({"rule": name, "condition": "score reaches", "current": cut(x),
                     "proposed": cut(y), "evidence": "", "flag": "",
                     "changed": cut(x) != cut(y)})
    da, db = decay_text(a), decay_text(b)
    rows.append({"rule": "decay", "condition": "behaviour points fade", "current": da,
                 "proposed": db, "evidence": "", "flag": "", "changed": da != db})
    rule_rows = []
    for r in points.to_dict("records"):
        cur, new = r.get("current"), r.get("proposed")
        sp = r.get("supported_points")
        lo, hi = r.get("supported_low"), r.get("supported_high")
        ev = "" if fmt.missing(sp) else f"{fmt.points(sp)} ({fmt.interval(lo, hi, fmt.points)})"
        status = r.get("status")
        flag = "" if fmt.missing(status) or status in ("ok",) or not isinstance(status, str) \
            else status.replace("_", " ")
        c = fmt.points(cur) if not fmt.missing(cur) else "– (no rule)"
        n = fmt.points(new) if not fmt.missing(new) else "– (removed)"
        rule_rows.append({"rule": f"{r['kind']}: {r['rule']}", "condition": r["condition"],
                          "current": c, "proposed": n, "evidence": ev, "flag": flag,
                          "changed": c != n})
    rule_rows.sort(key=lambda x: not x["changed"])
    return rows + rule_rows


COMPARISON_WORDS = {"matched": "at matched volume", "alone": "alone at its cutoff",
                    "in package": "within the package", "as written": "as written"}


def change_rows(view: dict) -> list[dict]:
    """Each change with the judgement that decides it, formatted; changes left out of the
    package last."""
    from calib.report import fmt

    primary = view["primary"]
    out = []
    for c in [view["package"]] + view["changes"]:
        r, h = c["rates"].get(primary, {}), c["hits"].get(primary, {})
        judged = COMPARISON_WORDS.get(c["comparison"], "")
        if c["kind"] == "package":
            judged = ""
        out.append({"verdict": c["verdict"] if c["included"] else "left out",
                    "css": c["verdict"] if c["included"] else "hold",
                    "judged": judged, "what": fmt.words(c["what"]),
                    "mql": f"{fmt.num(c['mql']['baseline'])} → {fmt.num(c['mql']['changed'])}",
                    "rate": f"{fmt.pct(r.get('baseline'))} → {fmt.pct(r.get('changed'))}",
                    "rate_diff": fmt.pp(r.get("diff")),
                    "rate_ci": fmt.interval(r.get("ci_low"), r.get("ci_high"), fmt.pp),
                    "hits_diff": fmt.signed(h.get("diff")),
                    "hits_ci": fmt.interval(h.get("ci_low"), h.get("ci_high")),
                    "why": fmt.words("; ".join(c.get("reasons", []))),
                    "package": c["kind"] == "package"})
    return out


def funnel_rows(view: dict, outcomes) -> pd.DataFrame:
    """The funnel on page 1's basis: MQLs per week and each outcome per week within
    capacity, current against proposed, with the interval of the change."""
    p, primary = view["package"], view["primary"]
    rows = [{"stage": "MQLs", "baseline": p["mql"]["baseline"], "proposed": p["mql"]["changed"],
             "diff_low": p["mql"]["ci_low"], "diff_high": p["mql"]["ci_high"]}]
    for o in [primary] + [o for o in outcomes if o != primary]:
        h = p["hits"].get(o)
        if h:
            rows.append({"stage": _plural(o), "baseline": h["baseline"], "proposed": h["changed"],
                         "diff_low": h["ci_low"], "diff_high": h["ci_high"]})
    return pd.DataFrame(rows)


def side_by_side(res, view: dict) -> list[dict]:
    """Current against proposed on both bases, each row saying which."""
    from calib.report import fmt

    a, b = res.test_replays["baseline"].to_dict(), res.test_replays["proposed"].to_dict()
    p = view["package"]
    rows = [{"metric": "MQLs (count)", "basis": "all MQLs", "current": fmt.count(a["mql"]["count"]),
             "proposed": fmt.count(b["mql"]["count"])},
            {"metric": f"MQLs per {view['per']}", "basis": "all MQLs",
             "current": fmt.num(a["mql"]["per_week"]), "proposed": fmt.num(b["mql"]["per_week"])},
            {"metric": "median days to MQL", "basis": "all MQLs",
             "current": fmt.num(a["mql"]["median_days_to_mql"]),
             "proposed": fmt.num(b["mql"]["median_days_to_mql"])}]
    for o in res.outcomes:
        if view["corrected"] and o in p["rates"]:
            r = p["rates"][o]
            rows.append({"metric": f"{o} rate per MQL", "basis": "corrected †",
                         "current": fmt.pct(r["baseline"]), "proposed": fmt.pct(r["changed"])})
        ra, rb = a["outcomes"].get(o, {}), b["outcomes"].get(o, {})

        def rate(x):
            return (f"{fmt.pct(x.get('rate'))} ({fmt.pct(x.get('ci_low'))}–"
                    f"{fmt.pct(x.get('ci_high'))})") if not fmt.missing(x.get("rate")) else \
                "– (no decided MQL)"
        rows.append({"metric": f"{o} rate per MQL (95% CI)", "basis": "as recorded",
                     "current": rate(ra), "proposed": rate(rb)})
        rows.append({"metric": f"{o} recall", "basis": "as recorded",
                     "current": fmt.pct(ra.get("recall")), "proposed": fmt.pct(rb.get("recall"))})
    rows.append({"metric": "coverage (MQLs with a recorded sales outcome)", "basis": "as recorded",
                 "current": fmt.pct(a.get("coverage")), "proposed": fmt.pct(b.get("coverage"))})
    return rows


def who_moves_rows(comp, primary: str) -> tuple[list, list]:
    """Formatted paired differences and who-moves cells (as recorded)."""
    from calib.report import fmt

    diffs, who = comparison_rows(comp, primary)
    out_d = []
    for d in diffs:
        m = d["metric"]
        if m.endswith("rate") or m.endswith("recall"):
            f, g = fmt.pct, fmt.pp
        elif m.endswith("count") or m.endswith("hits"):
            f, g = fmt.count, (lambda x: fmt.signed(x, 0))
        else:
            f, g = fmt.num, fmt.signed
        out_d.append({"metric": m, "a": f(d["a"]), "b": f(d["b"]), "diff": g(d["diff"]),
                      "ci": fmt.interval(d["ci_low"], d["ci_high"], g)})
    out_w = []
    for w in who:
        out_w.append({"label": w["label"], "indent": w["indent"], "leads": fmt.count(w["leads"]),
                      "share": fmt.pct(w["share"]),
                      "rate_a": _rate_or_why(w["rate_a"]), "rate_b": _rate_or_why(w["rate_b"]),
                      "occurred": fmt.pct(w["occurred"])})
    return out_d, out_w


def _rate_or_why(x) -> str:
    from calib.report import fmt

    return "– (not an MQL)" if fmt.missing(x) else fmt.pct(x)


def tradeoff_view(t: pd.DataFrame, primary: str, min_decided: int = 30) -> pd.DataFrame:
    """The trade-off table with the decided MQLs per cutoff and a flag for the points with
    enough of them to show a rate (few decided MQLs make rates jump to 0% or 100%)."""
    t = t.copy()
    parts = [c for c in (f"{primary}_hits", f"{primary}_misses", f"{primary}_late") if c in t]
    t[f"{primary}_decided"] = t[parts].sum(axis=1) if parts else np.nan
    t["shown"] = t[f"{primary}_decided"] >= min_decided
    return t


GLOSSARY = [
    ("MQL", "a marketing-qualified lead: its score reached the MQL cutoff, so it is sent to "
            "sales."),
    ("rate per MQL", "the share of MQLs that reach the outcome within the window after "
                     "becoming an MQL, among MQLs whose window is fully observed."),
    ("within capacity", "counting at most the MQLs sales can work in a week (the capacity): "
                        "outcomes per week within capacity = rate per MQL × min(MQLs per "
                        "week, capacity). MQLs beyond capacity are not worked and earn nothing."),
    ("corrected for selective labels (†)", "the data only show outcomes for leads sales "
     "worked, and the current rules chose those; leads routed late or never lack their early "
     "outcomes. A random holdout of leads, routed regardless of score, estimates what they "
     "would have done."),
    ("as recorded", "counted from the outcomes in the data as they are, without that "
                    "correction."),
    ("alone at its cutoff", "a change applied by itself to the current rules, keeping "
                            "the current MQL cutoff."),
    ("at matched volume", "a change applied by itself with the MQL cutoff re-set so it routes "
                          "as many MQLs as the current rules: a change that moves the score "
                          "scale is judged by which leads it picks, not by how many."),
    ("recall", "the share of all leads that reached the outcome that were MQLs first."),
    ("coverage", "the share of MQLs with any recorded sales outcome (the rest were never "
                 "worked)."),
    ("95% interval", "the range that holds the true value in 95 of 100 repetitions; for a "
                     "change, a range that excludes zero means the change is measurable."),
    ("pts", "percentage points: 40.0% to 45.0% is +5.0 pts."),
    ("out of time", "the proposal was tuned on older leads and judged on later ones, as it "
                    "would be used."),
    ("O/E", "observed outcomes divided by the outcomes the score predicted; 1 is right, "
            "below 1 the score over-predicts."),
    ("evidence supports", "the points a rule earns in a logistic fit of the outcome on the "
                          "rules, on the current rules' scale, with its 95% interval."),
    ("vanity", "a rule whose evidence interval includes zero points: it adds score without "
               "predicting the outcome."),
    ("over / under weighted", "the rule's points lie above / below the interval the "
                              "evidence supports."),
    ("half-life", "the days after which an activity's points have faded to half."),
    ("Brier score", "the mean squared error of predicted probabilities (lower is better)."),
    ("AUC", "the chance that a lead with the outcome scores above one without it (0.5 is "
            "chance, 1 is perfect)."),
    ("KS", "the largest gap between the score distributions of leads with and without the "
           "outcome."),
    ("ECE", "expected calibration error: the average gap between predicted and observed "
            "rates over bins of the prediction."),
    ("PSI", "population stability index of the score between training and test periods "
            "(below 0.1 stable, above 0.25 a major shift)."),
    ("AIC", "Akaike information criterion: lower is a better trade-off of fit and "
            "complexity."),
    ("Newcombe", "an interval for the difference of two rates built from their Wilson "
                 "intervals."),
    ("SRM", "sample-ratio mismatch: the arms of a live test are not the planned sizes."),
    ("adjusted p", "a p-value corrected for testing several metrics (Holm)."),
    ("always-valid p", "a p-value that stays valid however often the test was looked at "
                       "(mSPRT)."),
]


def abtest_view(res) -> dict | None:
    """The live test: arms, a verdict sentence, rows of the experiment's outcomes and
    guardrails only."""
    from calib.report import fmt

    ab = res.abtest
    if ab is None:
        return None
    cfg = res.experiment.abtest
    d = ab.to_dict()
    control = d["control"]
    asked = list(cfg.outcomes) if cfg and cfg.outcomes else list(res.outcomes)
    guards = list(cfg.guardrails) if cfg else []
    described = dict(getattr(cfg, "arms", None) or {})
    arms = []
    for arm in d["arms"]:
        text = described.get(arm) or ("the arm the others are compared with" if arm == control
                                      else "")
        arms.append({"arm": arm, "control": arm == control, "description": text,
                     "assigned": fmt.count(d["assigned"].get(arm)),
                     "mature": fmt.count(d["mature"].get(arm))})
    f = ab.to_frame()
    f = f[f["metric"].isin(asked + guards)]
    rows = []
    for r in f.to_dict("records"):
        is_control = r["arm"] == control
        rows.append({"metric": r["metric"], "role": "guardrail" if r["metric"] in guards
                     else "outcome", "arm": r["arm"], "n": fmt.count(r["n"]),
                     "rate": fmt.pct(r["rate"]),
                     "rate_ci": fmt.interval(r["ci_low"], r["ci_high"], fmt.pct),
                     "diff": "– (control)" if is_control else fmt.pp(r["diff"]),
                     "diff_ci": "" if is_control else fmt.interval(r["diff_low"], r["diff_high"],
                                                                    fmt.pp),
                     "p": "" if is_control else fmt.pvalue(r["p_adjusted"]),
                     "p_av": "" if is_control else fmt.pvalue(r["p_always_valid_adjusted"])})
    key = res.primary if res.primary in asked else (asked[0] if asked else None)
    alpha = d.get("alpha", 0.05)
    sentences = []
    for r in f[(f["metric"] == key) & (f["arm"] != control)].to_dict("records"):
        ci = fmt.interval(r["diff_low"], r["diff_high"], fmt.pp)
        sig = not fmt.missing(r["p_adjusted"]) and r["p_adjusted"] < alpha
        if sig and r["diff"] > 0:
            head = f"'{r['arm']}' beats '{control}' on {key}"
        elif sig:
            head = f"'{r['arm']}' does worse than '{control}' on {key}"
        else:
            head = f"The test shows no measurable difference between '{r['arm']}' and " \
                   f"'{control}' on {key}"
        sentences.append(f"{head}: {fmt.pct(r['rate'])} against the control's rate "
                         f"({fmt.pp(r['diff'])}, 95% interval {ci}, adjusted p "
                         f"{fmt.pvalue(r['p_adjusted'])}; {fmt.count(r['n'])} leads with a full "
                         f"window).")
    harmed = []
    for r in f[f["metric"].isin(guards) & (f["arm"] != control)].to_dict("records"):
        if not fmt.missing(r["p_adjusted"]) and r["p_adjusted"] < alpha:
            harmed.append(f"{r['metric']} {fmt.pp(r['diff'])} in '{r['arm']}'")
    if guards:
        sentences.append("Guardrails moved measurably: " + "; ".join(harmed) + "." if harmed else
                         f"No guardrail ({', '.join(guards)}) moved measurably.")
    srm = d["srm"]
    return {"arms": arms, "rows": rows, "verdict": " ".join(sentences) or
            "The test has no outcome of this experiment to judge.",
            "srm_ok": srm["status"] == "ok", "srm_message": srm.get("message", ""),
            "srm_p": fmt.pvalue(srm.get("p_value")), "start": str(d.get("test_start", ""))[:10],
            "end": str(d.get("end_of_data", ""))[:10], "window": fmt.num(d.get("window_days"), 0),
            "window_why": _window_why(d.get("window")),
            "immature": fmt.count(sum(d["immature"].values())), "control": control}


def _window_why(w) -> str:
    """How a measured window was chosen, as a parenthesis ("" for a given one)."""
    if not w or w.get("source") not in ("data", "default"):
        return ""
    return f" ({w['sentence'].split(': window')[0].split(' (set --window-days')[0]})"


def calibration_view(res) -> dict | None:
    """Calibration in the large, in words, before and after the recent recalibration."""
    from calib.report import fmt

    chk = getattr(res, "calibration_check", None)
    if chk is None:
        return None
    b, a = chk.before, chk.after
    o = chk.outcome
    words = {"over-predicts": "over-predicts", "under-predicts": "under-predicts",
             "agrees": "agrees with what happened", "unknown": "cannot be judged"}

    def say(x):
        return (f"O/E = {x.ratio:.2f} (95% interval {x.ci_low:.2f} to {x.ci_high:.2f}): "
                f"{fmt.count(x.observed)} {_plural(o)} happened where the score predicted "
                f"{fmt.count(x.expected)}") if not fmt.missing(x.ratio) else "O/E: –"

    if b.verdict == "over-predicts":
        lead = (f"Out of time, the calibrated score over-predicts {o}: the leads after "
                f"{chk.train_until} reached a {o} {1 / b.ratio:.1f} times less often than "
                "predicted. Read its probabilities as an upper bound.")
    elif b.verdict == "under-predicts":
        lead = (f"Out of time, the calibrated score under-predicts {o}: the leads after "
                f"{chk.train_until} reached a {o} {b.ratio:.1f} times as often as predicted.")
    else:
        lead = f"Out of time, the calibrated score's predictions of {o} add up to what happened."
    if a.verdict == b.verdict and b.verdict != "agrees" and not fmt.missing(a.ratio):
        closer = abs(np.log(a.ratio)) < abs(np.log(b.ratio))
        after_words = f"still {words[a.verdict]}, {'less' if closer else 'no less'}"
    else:
        after_words = words[a.verdict]
    fix = (f"Recalibrating on the last {chk.recent_weeks} weeks before the split (a shift of "
           f"the log-odds by {fmt.signed(chk.shift, 2)}, fitted on "
           f"{fmt.count(chk.recent_snapshots)} snapshots whose outcome was known by then) "
           f"gives {say(a)}: the recalibrated score {after_words}. To use the score as a "
           "probability, recalibrate it on the most recent weeks before relying on it.")
    return {"lead": lead, "before": say(b), "fix": fix, "before_verdict": b.verdict,
            "after_verdict": a.verdict}
