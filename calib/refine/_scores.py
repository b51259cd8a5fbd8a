"""Each rule's contribution to chosen leads' scores at chosen times (SPEC section 3)."""

from __future__ import annotations

import numpy as np

from calib.data.dataset import Dataset
from calib.engine import replay
from calib.engine.kernels import KIND_CODES, decayed_sums
from calib.engine.prepare import prepare
from calib.rules import RuleSet


def lead_replay(ds: Dataset, rules: RuleSet, window_days: float):
    """One row per lead of the data set, in its order: the replay's ``per_lead`` over
    every lead created (what the drift, speed and feedback checks share)."""
    end = ds.leads["created_at"].max()
    pl = replay(ds, rules, window_days=window_days, end=end, per_lead=True).per_lead
    return pl.set_index("lead_id").reindex(ds.leads["lead_id"])


def rule_contributions(ds: Dataset, rules: RuleSet, leads: np.ndarray, times_ns: np.ndarray
                       ) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Points of every rule for lead ``leads[k]`` at ``times_ns[k]``.

    Returns ``(contrib, names, score)``: a (k x rules) matrix (fit rules first, then
    behaviour rules, caps applied), the rule names in ``fit:<name>`` / ``<behaviour
    name>`` form, and the total score with ``[limits]`` applied.
    """
    leads = np.asarray(leads, dtype=np.int32)
    times_ns = np.asarray(times_ns, dtype=np.int64)
    order = np.lexsort((times_ns, leads))
    prep = prepare(ds, rules)
    fit_cols = [prep.fit_m[leads, i] * r.points for i, r in enumerate(rules.fit)]
    d = rules.decay
    code = KIND_CODES[d.kind]
    p1 = float(d.half_life_days or d.percent or d.days or 0.0)
    p2 = float(d.every_days or 0.0)
    sorted_leads, sorted_t = leads[order], times_ns[order]
    beh_cols = []
    col = np.zeros(len(leads))
    for (ev_lead, ev_t), rule in zip(prep.rule_events, rules.behavior):
        col[:] = 0.0
        if len(ev_lead):
            decayed_sums(sorted_leads, sorted_t, ev_lead, ev_t, code, p1, p2, col)
        c = np.empty(len(leads))
        c[order] = col * rule.points
        if rule.cap is not None:
            c = np.clip(c, -rule.cap, rule.cap)
        beh_cols.append(c)
    cols = fit_cols + beh_cols
    contrib = np.column_stack(cols) if cols else np.zeros((len(leads), 0))
    names = [f"fit:{r.name}" for r in rules.fit] + [r.name for r in rules.behavior]
    score = contrib.sum(axis=1)
    lim = rules.limits
    if lim is not None and (lim.min is not None or lim.max is not None):
        score = np.clip(score, lim.min, lim.max)
    return contrib, names, score
