"""The text of :meth:`calib.fit.FitResult.summary`, one function per part."""

from __future__ import annotations

import numpy as np

__all__ = ["fit_summary"]


def _pct(x) -> str:
    return "-" if x is None else f"{x:.1%}"


def fit_summary(res) -> str:
    """The summary of a :class:`~calib.fit.FitResult`: data and split, examples, decay,
    points, proposed rules, cutoffs, flagged current rules, the out-of-time comparison,
    coverage and warnings.

    Parameters
    ----------
    res : FitResult
        What :func:`calib.fit.fit` returned.

    Returns
    -------
    str
        Plain text, a title line then indented lines, as ``calib fit`` prints it
        (``res.summary()`` gives the same).

    Examples
    --------
    >>> from calib import load_dataset, load_rules
    >>> from calib.fit import fit
    >>> res = fit(load_dataset("calib-demo/data"), load_rules("calib-demo/current.toml"),
    ...           max_examples=5000, kinds=("exponential",))
    >>> fit_summary(res) == res.summary(), "proposed rules:" in fit_summary(res)
    (True, True)
    """
    lines = [f"Fit of '{res.outcome}' from rule set '{res.current}' -> proposed "
             f"'{res.rules.name}'"]
    lines += _data_lines(res)
    lines += _model_lines(res)
    lines += _rule_lines(res)
    lines += _comparison_lines(res)
    lines += _selection_lines(res)
    return "\n".join(lines)


def _data_lines(res) -> list[str]:
    s, e = res.split, res.examples
    L = []
    if s.kind == "time":
        L.append(f"  trained on {s.train_leads:,} leads created up to "
                 f"{s.train_until[:10]} (data as known then); tested on "
                 f"{s.test_leads:,} leads created after")
    else:
        L.append(f"  snapshot data: trained on {s.train_leads:,} leads, tested on a "
                 f"random {s.test_leads:,}")
    if s.window:
        L.append(f"  window: {s.window['sentence']}")
    if s.kind == "time":
        L.append(f"  {e.n:,} point-in-time examples ({e.positives:,} positive) from "
                 f"{e.leads:,} leads; label window: until the next moment, at most "
                 f"{e.horizon_days:g} days")
    else:
        L.append(f"  {e.n:,} examples ({e.positives:,} with the outcome), one per lead")
    lt = e.label_time or {}
    if lt.get("model") == "booking delay":
        L.append(f"  label time: each outcome spread over the moments that could have "
                 f"decided it; estimated delay from decision to outcome {lt['mean_days']:.1f} "
                 f"days on average, 95% within {lt['q95_days']:g} days"
                 + ("; the decay is learnt from the holdout leads (their labels are "
                    "complete)" if lt.get("decay_from") == "holdout leads" else ""))
    return L


def _model_lines(res) -> list[str]:
    L = ["  " + res.decay.summary()]
    if len(res.decay.kinds) > 1:
        L.append("    kinds by AIC: " + ", ".join(
            f"{r.kind}{'' if np.isnan(r.parameter_days) else f' ({r.parameter_days:.3g} d)'}"
            f" +{r.delta_aic:.1f}" for r in res.decay.kinds.itertuples()))
    L.append(f"  points: {res.points_per_logit:.2f} points per unit of log-odds")
    pen = res.penalty
    if pen:
        L.append(f"  estimates: {pen.method}, strength {pen.l2:g} "
                 f"({pen.chosen_by}); every interval is a 95% cluster-robust "
                 "interval of the penalised fit")
    return L


def _rule_lines(res) -> list[str]:
    L = ["  proposed rules:"]
    for r in res.rules.behavior:
        extra = f", cap {r.cap:g}" if r.cap is not None else ""
        new = " (new)" if r.name in res.new_rules else ""
        L.append(f"    behavior {r.name:<24}{r.points:>+5g}{extra}{new}")
    for r in res.rules.fit:
        new = " (new)" if r.name in res.new_rules else ""
        L.append(f"    fit      {r.name:<24}{r.points:>+5g}{new}")
    c = res.cutoffs
    L.append(f"  cutoffs: mql {c.mql:g} ({c.mql_basis})"
             + (f", sql {c.sql:g} (precision target {c.sql_target:.1%})"
                if c.sql is not None else ", no sql cutoff"))
    fl = res.flagged
    if len(fl):
        sc = res.review["scale"].iloc[0] if len(res.review) else float("nan")
        L.append(f"  current rules the data do not support (points on the current rules' "
                 f"own scale, {sc:.1f} per unit of log-odds):")
        for r in fl.itertuples():
            L.append(f"    {r.status:<15}{r.rule:<22} has {r.points:+g}, evidence "
                     f"supports {r.supported_points:+.1f} ({r.supported_low:+.1f} to "
                     f"{r.supported_high:+.1f})")
    return L


def _points(d) -> str:
    """A difference in points with its interval: ``+1.2 points (+0.3 to +2.1``."""
    return (f"{d.diff * 100:+.1f} points ({d.ci_low * 100:+.1f} to "
            f"{d.ci_high * 100:+.1f}")


def _comparison_lines(res) -> list[str]:
    cmp_ = res.comparison
    if cmp_.status != "ok":
        return [f"  out-of-time comparison: {cmp_.reason}"]
    timed = res.split.kind == "time"
    where = "out of time" if timed else "on the held-out leads"
    within = f" within {cmp_.window_days:g} days" if timed else ""
    L = [f"  {where} at matched MQL volume (current {cmp_.mql_count:,} MQLs, "
         f"proposed {cmp_.proposed.mql_count:,} at cutoff "
         f"{cmp_.proposed_cutoff:.4g}), {res.outcome}{within}:",
         f"    {'':<10}{'MQLs with the whole window observed':<44}"
         f"{'replay rate (hits/decided)':<28}hits per MQL"]
    for key in ("current", "proposed"):
        r = getattr(cmp_, key)
        m = r.mature
        L.append(f"    {key:<9} {m.hits:>6,} / {m.decided:<6,} = {_pct(m.rate):>6} "
                 f"({_pct(m.ci_low)} to {_pct(m.ci_high)})   "
                 f"{r.hits:>6,} / {r.decided:<6,} = {_pct(r.rate):<8}"
                 f"{_pct(r.hits_per_mql)}")
    d = cmp_.difference
    L.append(f"    difference {_points(d)}, Newcombe; {d.basis})")
    at = cmp_.at_proposed_volume
    if at and at.difference:
        L.append(f"    at the proposed cutoff's volume ({at.mql_count:,} MQLs; current "
                 f"cutoff raised to {at.current_cutoff:.4g}): current "
                 f"{_pct(at.current.mature.rate)}, proposed "
                 f"{_pct(at.proposed.mature.rate)}, difference {_points(at.difference)})")
    L += _corrected_lines(cmp_.corrected)
    if cmp_.new_mql_unworked_share is not None:
        L.append(f"    {cmp_.new_mql_unworked_share:.1%} of the proposed MQLs were "
                 "never routed historically nor in a holdout (their outcomes may be "
                 "missing)")
    return L


def _corrected_lines(cor) -> list[str]:
    if not cor:
        return []
    d3 = cor.difference
    if d3.get("diff") is None:
        return [f"    corrected for selective labels: not possible ({cor.reason})"]
    L = ["    corrected for selective labels (meetings missed where the historical rules "
         f"routed late or never, estimated from the {cor.holdout_leads:,} holdout leads):"]
    for key in ("current", "proposed"):
        r = getattr(cor, key)
        L.append(f"    {key:<9} {_pct(r['rate']):>6} ({_pct(r['ci_low'])} to "
                 f"{_pct(r['ci_high'])}); {r['unseen']:,} of {r['decided']:,} MQLs "
                 f"routed late or never, {r['holdout_unseen']:,} of them in the holdout")
    L.append(f"    difference {d3['diff'] * 100:+.1f} points ({d3['ci_low'] * 100:+.1f} to "
             f"{d3['ci_high'] * 100:+.1f}, paired bootstrap)")
    return L


def _selection_lines(res) -> list[str]:
    sel = res.selection
    L = []
    if sel.coverage_by_band:
        L.append("  coverage (share of test leads with any sales outcome) by band of peak score:")
        for r in sel.coverage_by_band:
            L.append(f"    {r['rules']:<9}{r['band']:<6}{r['leads']:>8,} leads  {r['coverage']:.1%}")
    for rec in sel.recommendations:
        L.append(f"  note: {rec}")
    for w in res.warnings:
        L.append(f"  warning: {w}")
    return L
