"""The out-of-time check of a proposal: both rule sets replayed on the test leads.

The proposed cutoff is set so that both rule sets route the same number of MQLs; rates
come with Wilson intervals and the difference with Newcombe's interval, over the MQLs
whose whole window is observed. Where a holdout allows, the same is corrected for
selective labels (a difference estimator with a paired bootstrap interval,
:mod:`calib.fit.selection`), and the coverage of every score band is reported.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from calib.data.dataset import SALES_OUTCOMES, Dataset
from calib.engine.delays import resolve_window
from calib.engine.replay import replay
from calib.engine.results import _num
from calib.engine.score import bands
from calib.fit.config import AUTO
from calib.fit.cutoffs import equal_volume_cutoff
from calib.fit.examples import outcome_time
from calib.fit.result import (ArmRates, AtProposedVolume, Comparison, CorrectedComparison,
                              FitSplit, MatureRates, RateDifference, SelectionReport)
from calib.fit.selection import (SelectionLabels, corrected_comparison, coverage_by_band,
                                 coverage_by_routing, covered_leads, holdout_mask, routed_mask)
from calib.fit.split import holdout_column as _holdout_column
from calib.fit.split import split_leads
from calib.rules.config import RuleSet
from calib.stats import diff_ci, proportion_ci

__all__ = ["evaluate", "evaluate_out_of_time"]


def evaluate(ds: Dataset, current: RuleSet, candidate: RuleSet, *, outcome: str = "meeting",
             train_until=None, window_days: float | None = None,
             holdout_column: str | None = AUTO, seed: int = 0) -> dict:
    """The out-of-time comparison of :func:`calib.fit.fit` for any candidate rule set.

    On the leads created after ``train_until``, ``candidate`` at ``current``'s MQL
    volume, observed and corrected for selective labels with the holdout (see
    :mod:`calib.fit.selection`).

    Parameters
    ----------
    ds : Dataset
    current, candidate : RuleSet
        The rule set of today and the one to compare with it.
    outcome : str, default "meeting"
    train_until : str or Timestamp, optional
        The split date (as for :func:`calib.fit.fit`).
    window_days : float, optional
        Attribution window (default: from the data).
    holdout_column : str or None, default "auto"
        Lead column of the exploration holdout.
    seed : int, default 0
        Seed of the split of snapshot data.

    Returns
    -------
    dict
        ``Comparison.to_dict()``: ``current``, ``proposed`` (the candidate),
        ``difference``, ``corrected``, ``at_proposed_volume``.

    Examples
    --------
    >>> from calib import load_dataset, load_rules
    >>> ds = load_dataset("calib-demo/data")
    >>> c = evaluate(ds, load_rules("calib-demo/current.toml"),
    ...              load_rules("calib-demo/truth.toml"))
    >>> c["status"], c["mql_count"] == c["current"]["mql_count"]
    ('ok', True)
    """
    outcome_time(ds, outcome)
    window_days = resolve_window(ds, window_days, [outcome], rules=current).days
    _, test_codes, split = split_leads(ds, train_until, seed, window_days, [outcome])
    hcol = _holdout_column(ds, holdout_column)
    comparison, _ = evaluate_out_of_time(ds, current, candidate, test_codes, outcome,
                                         window_days, hcol, split)
    return comparison.to_dict()



def evaluate_out_of_time(ds: Dataset, current: RuleSet, proposed: RuleSet, test_codes,
                         outcome: str, window_days: float, hcol: str | None,
                         split: FitSplit) -> tuple[Comparison, SelectionReport]:
    """Equal-volume comparison on the test leads, observed and corrected, and the
    coverage of every score band.

    Parameters
    ----------
    ds : Dataset
    current, proposed : RuleSet
    test_codes : ndarray
        Lead codes of the test leads (:func:`calib.fit.split.split_leads`).
    outcome : str
    window_days : float
    hcol : str or None
        The holdout column.
    split : FitSplit

    Returns
    -------
    (Comparison, SelectionReport)

    Examples
    --------
    >>> from calib import load_dataset, load_rules
    >>> ds = load_dataset("calib-demo/data")
    >>> current = load_rules("calib-demo/current.toml")
    >>> _, test, split = split_leads(ds, None, 0)
    >>> cmp_, sel = evaluate_out_of_time(ds, current, current, test, "meeting", 90.0,
    ...                                  None, split)
    >>> cmp_.status, cmp_.current.mql_count == cmp_.mql_count
    ('ok', True)
    """
    selection = SelectionReport(holdout_column=hcol)
    if len(test_codes) == 0:
        return Comparison(status="no_test_leads", reason=split.no_test_reason
                          or "no leads in the test period"), selection
    run, sub = _test_replayer(ds, test_codes, split, window_days)
    rc, rp_own = run(current), run(proposed)
    c_eq = equal_volume_cutoff(rp_own.per_lead["peak_score"].to_numpy(), rc.mql_count)
    matched = _at_cutoff(proposed, c_eq)
    rp = run(matched)

    def arm(res) -> ArmRates:
        return _arm_rates(res, ds, sub, outcome, window_days)

    oc_c, oc_p = rc.outcome(outcome), rp.outcome(outcome)
    base = dict(window_days=window_days, mql_count=int(rc.mql_count),
                proposed_cutoff=float(c_eq), current=arm(rc), proposed=arm(rp),
                proposed_as_written=arm(rp_own))
    if not oc_c.decided or not oc_p.decided:
        return Comparison(status="no_decided_mqls", reason="no decided MQLs in the test "
                          "period (all immature?)", **base), selection
    replay_diff = _difference(oc_p.hits, oc_p.decided, oc_c.hits, oc_c.decided,
                              oc_p.rate - oc_c.rate, method="newcombe")
    difference = _mature_difference(base["proposed"].mature, base["current"].mature,
                                    method="newcombe")
    if difference is None:
        difference = replace(replay_diff, basis="replay rate (no MQL has its whole window "
                             "observed)")
    at = _at_proposed_volume(run, current, rc, rp_own, base["proposed_as_written"], arm)
    selection, unworked = _selection_on_test(sub, current, matched, rc, rp, hcol, selection)
    return Comparison(status="ok", **base, difference_replay_rate=replay_diff,
                      difference=difference, at_proposed_volume=at,
                      new_mql_unworked_share=unworked,
                      corrected=_corrected(ds, rc, rp, outcome, window_days, hcol)), selection


def _test_replayer(ds: Dataset, test_codes, split: FitSplit, window_days: float):
    """A function replaying a rule set on the test leads (per lead), and the test data."""
    kw = {"window_days": window_days, "per_lead": True}
    if split.kind == "random":
        test = ds.subset(test_codes)
        return (lambda r: replay(test, r, **kw)), test
    start = pd.Timestamp(split.train_until) + pd.Timedelta(seconds=1)
    end = pd.Timestamp(split.test_created_until)
    return (lambda r: replay(ds, r, start=start, end=end, **kw)), ds.subset(test_codes)


def _at_cutoff(rules: RuleSet, cutoff: float) -> RuleSet:
    """``rules`` with the MQL cutoff set to ``cutoff`` and no SQL cutoff."""
    params = {"thresholds.mql": cutoff}
    if rules.thresholds.sql is not None:
        params["thresholds.sql"] = None
    return rules.with_params(params)


def _mature_rates(res, ds: Dataset, sub: Dataset, outcome: str,
                  window_days: float) -> MatureRates:
    """Counts over the MQLs whose whole window is observed (MQL + W before the end of
    the data). The replay's rate also counts hits of MQLs whose window is still open
    but leaves their misses out (immature), which favours rules that flag late."""
    pl = res.per_lead
    st = pl[f"status_{outcome}"].astype(object).to_numpy()
    if sub.snapshot:
        ok = pl["mql"].to_numpy(bool)
    else:
        m = pl["mql_at"]
        ok = (m.notna() & (m + pd.Timedelta(days=window_days) <= ds.end_of_data)).to_numpy()
    hits = int((ok & (st == "hit")).sum())
    dec = int((ok & np.isin(st, ["hit", "miss", "late"])).sum())
    lo, hi = proportion_ci(hits, dec) if dec else (np.nan, np.nan)
    return MatureRates(mqls=int(ok.sum()), hits=hits, decided=dec,
                       rate=_num(hits / dec) if dec else None, ci_low=_num(lo),
                       ci_high=_num(hi))


def _arm_rates(res, ds: Dataset, sub: Dataset, outcome: str, window_days: float) -> ArmRates:
    """The replay's counts of ``outcome`` and the mature ones."""
    oc = res.outcome(outcome)
    lo, hi = oc.ci()
    return ArmRates(mql_count=res.mql_count, hits=oc.hits, late=oc.late, misses=oc.misses,
                    immature=oc.immature, decided=oc.decided, rate=_num(oc.rate),
                    hits_per_mql=_num(oc.hits / res.mql_count) if res.mql_count else None,
                    ci_low=_num(lo), ci_high=_num(hi), coverage=_num(res.coverage),
                    mature=_mature_rates(res, ds, sub, outcome, window_days))


def _difference(x1, n1, x2, n2, diff, basis=None, **method) -> RateDifference:
    lo, hi = diff_ci(x1, n1, x2, n2, **method)
    return RateDifference(diff=_num(diff), ci_low=_num(lo), ci_high=_num(hi),
                          method="newcombe", basis=basis)


def _mature_difference(p: MatureRates, c: MatureRates, **method) -> RateDifference | None:
    """Proposed minus current over the mature MQLs (None when either has none)."""
    if not (p.decided and c.decided):
        return None
    return _difference(p.hits, p.decided, c.hits, c.decided, p.rate - c.rate,
                       basis="MQLs with the whole window observed", **method)


def _at_proposed_volume(run, current: RuleSet, rc, rp_own, own: ArmRates,
                        arm) -> AtProposedVolume | None:
    """At the proposed rules' own volume (e.g. a capacity): the current rules with
    their MQL cutoff raised to route as many leads (when that volume is smaller)."""
    n_p, n_c = rp_own.mql_count, rc.mql_count
    if not 0 < n_p < 0.95 * n_c:
        return None
    c_cur = equal_volume_cutoff(rc.per_lead["peak_score"].to_numpy(), n_p)
    cur = arm(run(_at_cutoff(current, c_cur)))
    return AtProposedVolume(mql_count=int(n_p), current_cutoff=float(c_cur), current=cur,
                            proposed=own, difference=_mature_difference(own.mature,
                                                                        cur.mature))


def _selection_on_test(sub: Dataset, current: RuleSet, matched: RuleSet, rc, rp,
                       hcol: str | None, selection: SelectionReport):
    """Coverage by band and by routing on the test leads, the holdout there, and the
    share of proposed MQLs that nobody worked (their outcomes may be missing)."""
    covered = covered_leads(sub)
    routed = routed_mask(sub, rc.per_lead["mql_at"].notna().to_numpy()
                         if not sub.snapshot else rc.per_lead["mql"].to_numpy())
    hold = holdout_mask(sub, hcol)
    pi = float(hold.mean()) if hold is not None and hold.any() else None
    is_mql_p = (rp.per_lead["mql_at"].notna() if not sub.snapshot
                else rp.per_lead["mql"]).to_numpy()
    trusted = routed | (hold if hold is not None else False)
    # only meaningful when the data record routing (mql rows) or hold some leads out
    unworked = (float((is_mql_p & ~trusted).sum() / max(is_mql_p.sum(), 1))
                if ("mql" in sub.outcome_types or hold is not None) else None)
    by_band = by_routing = None
    if any(o in SALES_OUTCOMES for o in sub.outcome_types):
        by_band = []
        for label, res, rs in (("current", rc, current), ("proposed", rp, matched)):
            band = bands(res.per_lead["peak_score"].to_numpy(),
                         res.per_lead["fit_score"].to_numpy(), rs)
            by_band.extend(coverage_by_band(band, covered, label).to_dict("records"))
        by_band = tuple(by_band)
        by_routing = coverage_by_routing(routed, covered)
    return replace(selection, coverage_by_band=by_band, coverage_by_routing=by_routing,
                   holdout_leads_test=int(hold.sum()) if hold is not None else 0,
                   holdout_share_test=pi), unworked


def _corrected(ds: Dataset, rc, rp, outcome: str, window_days: float,
               hcol: str | None) -> CorrectedComparison | None:
    """Proposed against current corrected for selective labels, when a holdout allows."""
    labels = SelectionLabels.from_dataset(ds, rc.per_lead, [outcome], window_days, hcol)
    if labels is None:
        return None
    cc = corrected_comparison(labels.columns(rp.per_lead, outcome),
                              labels.columns(rc.per_lead, outcome), seed=0)
    return CorrectedComparison(proposed=cc["a"], current=cc["b"],
                               difference=cc["difference"], method=cc["method"],
                               holdout_leads=int(labels.holdout.sum()),
                               reason=cc.get("reason"))
