"""Offline A/B comparison of two rule sets on the same leads (``calib compare``).

Both rule sets are replayed over the same leads (SPEC section 3), so the comparison is
*paired*: every lead has an outcome under A and under B, and the uncertainty of a
difference comes from which leads happened to arrive, not from two independent samples.

Differences B − A
    MQL volume (count and per week), median days to MQL and, per outcome X, hits,
    the rate per MQL (``hits / (hits + misses + late)``) and recall. Intervals come
    from a seeded nonparametric bootstrap over leads: each replicate draws the leads
    with replacement (multinomial weights, ``np.bincount`` of uniform draws) and
    recomputes *both* rule sets' metrics on the same weighted leads, so the
    correlation between A and B is kept. Percentile intervals; a weighted median for
    the days to MQL. With ``n_bootstrap = 0`` only point estimates are given.
McNemar
    Who becomes an MQL: ``b`` leads are MQLs only under A, ``c`` only under B. The
    chi-square test with continuity correction, or the exact binomial test when
    ``b + c < 25`` (statsmodels' advice); with ``b + c = 0`` the rule sets flag the
    same leads and there is nothing to test (``status = "no_discordant_leads"``).
Who moves
    Every lead of the period is in exactly one group: MQL under both (split by whether
    B flags it earlier, at the same time or later), only under A, only under B, or
    under neither. Per group and outcome: hits per decided MQL under A and under B
    (where the lead is an MQL under that rule set), and the share of the group's leads
    whose outcome occurred at all (the only outcome information for "neither").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from calib.data.dataset import ns_or_never
from calib.errors import CalibError, ConfigError
from calib.io import json_safe as _clean
from calib.stats import mcnemar

NEVER = np.iinfo(np.int64).max
NS_PER_DAY = 86_400 * 10**9
#: Below this many discordant leads McNemar's test is the exact binomial one.
MCNEMAR_EXACT_BELOW = 25
#: Largest bootstrap weight matrix built at once (replicates x leads).
_CHUNK_CELLS = 4_000_000
DEFAULT_OUTCOMES = ("meeting", "sql", "won")
GROUPS = ("both", "both_earlier", "both_same", "both_later", "only_a", "only_b", "neither")
GROUP_LABELS = {"both": "MQL under both", "both_earlier": "  earlier under B",
                "both_same": "  same time", "both_later": "  later under B",
                "only_a": "MQL only under A", "only_b": "MQL only under B",
                "neither": "MQL under neither"}


# ------------------------------------------------------------------------- results
@dataclass(frozen=True)
class MetricDifference:
    """One metric under A and B, the paired difference B − A and its bootstrap interval.

    Attributes
    ----------
    metric : str
        E.g. ``"mql_count"``, ``"meeting_rate"``, ``"meeting_recall"``.
    a, b : float
        The metric under A and under B.
    diff : float
        ``b - a``.
    ci_low, ci_high : float
        The percentile bootstrap interval of ``diff`` (NaN without a bootstrap).
    se : float
        The bootstrap standard error of ``diff``.

    Examples
    --------
    >>> d = MetricDifference("meeting_rate", 0.30, 0.36, 0.06, 0.01, 0.11, 0.025)
    >>> d.to_dict()["diff"]
    0.06
    """

    metric: str
    a: float
    b: float
    diff: float
    ci_low: float
    ci_high: float
    se: float

    def to_dict(self) -> dict:
        """The fields as a JSON-safe dict (None for NaN)."""
        return {k: _clean(getattr(self, k)) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class McNemarResult:
    """McNemar's test on who becomes an MQL.

    Attributes
    ----------
    b, c : int
        Leads that are MQLs only under A, and only under B.
    statistic, p_value : float
        The test's statistic and p-value (NaN when there is nothing to test).
    test : str
        ``"chi2_corrected"``, ``"exact"`` or ``"none"``.
    status : str
        ``"ok"`` or ``"no_discordant_leads"``.
    reason : str
        Why there is no test, when there is none.

    Examples
    --------
    >>> McNemarResult(12, 30, 7.0, 0.008, "chi2_corrected", "ok").to_dict()["test"]
    'chi2_corrected'
    """

    b: int
    c: int
    statistic: float
    p_value: float
    test: str      # "chi2_corrected" | "exact" | "none"
    status: str    # "ok" | "no_discordant_leads"
    reason: str = ""

    def to_dict(self) -> dict:
        """The fields as a JSON-safe dict (None for NaN)."""
        return {k: _clean(getattr(self, k)) for k in self.__dataclass_fields__}


@dataclass(frozen=True, eq=False)
class ComparisonResult:
    """Two rule sets replayed on the same leads, and how they differ.

    Attributes
    ----------
    replay_a, replay_b : ReplayResult
        Both metric sets (with ``per_lead``).
    outcomes : tuple of str
        Outcomes compared.
    differences : tuple of MetricDifference
        Paired differences B − A with bootstrap intervals.
    mcnemar : McNemarResult
    who_moves : DataFrame
        One row per group (see the module docstring); ``leads`` adds up to the number
        of leads over ``both``, ``only_a``, ``only_b`` and ``neither``.
    per_lead : DataFrame
        ``lead_id``, ``group``, ``mql_at_a``, ``mql_at_b`` and the outcome statuses.
    n_bootstrap, seed, alpha
        Bootstrap settings (percentile intervals at ``1 - alpha``).
    """

    replay_a: object
    replay_b: object
    outcomes: tuple[str, ...]
    differences: tuple[MetricDifference, ...]
    mcnemar: McNemarResult
    who_moves: pd.DataFrame
    per_lead: pd.DataFrame
    n_bootstrap: int
    seed: int
    alpha: float
    warnings: tuple[str, ...] = ()

    @property
    def leads(self) -> int:
        """The number of leads compared."""
        return int(self.replay_a.stats.leads)

    @property
    def snapshot(self) -> bool:
        """Whether the data is a snapshot (no event times)."""
        return bool(self.replay_a.snapshot)

    def difference(self, metric: str) -> MetricDifference:
        """The difference of one metric.

        Parameters
        ----------
        metric : str
            E.g. ``"mql_count"`` or ``"meeting_rate"``.

        Returns
        -------
        MetricDifference

        Raises
        ------
        KeyError
            When the comparison has no such metric.
        """
        for d in self.differences:
            if d.metric == metric:
                return d
        raise KeyError(metric)

    def to_frame(self) -> pd.DataFrame:
        """One row per metric: A, B, B − A and its interval."""
        return pd.DataFrame([d.to_dict() for d in self.differences])

    def to_dict(self) -> dict:
        """What ``calib compare --json`` prints: both replays, the differences, McNemar, who moves."""
        wm = self.who_moves.astype(object).where(self.who_moves.notna(), None)
        return {
            "rules_a": self.replay_a.rules, "rules_b": self.replay_b.rules,
            "leads": self.leads, "window_days": self.replay_a.window_days,
            "snapshot": self.snapshot, "outcomes": list(self.outcomes),
            "a": self.replay_a.to_dict(), "b": self.replay_b.to_dict(),
            "differences": {d.metric: {k: v for k, v in d.to_dict().items() if k != "metric"}
                            for d in self.differences},
            "bootstrap": {"replicates": self.n_bootstrap, "seed": self.seed,
                          "interval": "percentile", "level": 1 - self.alpha,
                          "unit": "lead (both rule sets on the same resample)"},
            "mcnemar": self.mcnemar.to_dict(),
            "who_moves": [{k: _clean(v) for k, v in r.items()} for r in wm.to_dict("records")],
            "warnings": list(self.warnings),
        }

    def summary(self) -> str:
        """The text ``calib compare`` prints."""
        a, b = self.replay_a, self.replay_b
        d0 = a.to_dict()
        period = (f" created {d0['period_start'][:10]} .. {d0['period_end'][:10]}"
                  if d0["period_start"] else "")
        lines = [f"Comparison on the same {self.leads:,} leads{period}"
                 + (f", window {a.window_days:g} days" if not self.snapshot else " (snapshot)"),
                 f"  A = '{a.rules}', B = '{b.rules}'"]
        level = f"{1 - self.alpha:.0%}"
        ci_head = (f"{level} CI (bootstrap, {self.n_bootstrap:,} resamples of leads)"
                   if self.n_bootstrap else "no bootstrap")
        lines.append("")
        lines.append(f"  {'metric':<24}{'A':>10}{'B':>10}{'B - A':>11}   {ci_head}")
        for d in self.differences:
            lines.append("  " + _format_difference(d))
        mc = self.mcnemar
        lines.append("")
        if mc.status == "ok":
            test = ("exact binomial" if mc.test == "exact"
                    else "chi-square with continuity correction")
            lines.append(f"Who becomes an MQL: {mc.b:,} only under A, {mc.c:,} only under B; "
                         f"McNemar ({test}) p {_p(mc.p_value)}.")
        else:
            lines.append(f"Who becomes an MQL: {mc.reason}.")
        lines.append("")
        lines.append(self._moves_text())
        for w in self.warnings:
            lines.append(f"warning: {w}")
        return "\n".join(lines)

    def _moves_text(self) -> str:
        wm = self.who_moves.set_index("group")
        head = f"  {'who moves':<22}{'leads':>9}{'share':>8}"
        for o in self.outcomes:
            head += f"  {(o + ' per MQL, A | B'):>26}"
        lines = ["Who moves (hits per decided MQL under each rule set; for leads that are "
                 "MQLs under neither, the share whose outcome occurred):", head]
        for g in GROUPS:
            if g not in wm.index:
                continue
            r = wm.loc[g]
            row = f"  {GROUP_LABELS[g]:<22}{int(r['leads']):>9,}{r['share']:>8.1%}"
            for o in self.outcomes:
                if g == "neither":
                    cell = f"occurred {_pct(r[f'{o}_occurred_rate'])}"
                else:
                    cell = f"{_pct(r[f'{o}_rate_a'])} | {_pct(r[f'{o}_rate_b'])}"
                row += f"  {cell:>26}"
            lines.append(row)
        return "\n".join(lines)


def _pct(x) -> str:
    return "-" if x is None or not np.isfinite(x) else f"{x:.1%}"


def _p(p: float) -> str:
    """'< 0.001' or '= 0.123', to follow the letter p."""
    return "< 0.001" if p < 0.001 else f"= {p:.3f}"


def _format_difference(d: MetricDifference) -> str:
    is_rate = d.metric.endswith(("_rate", "_recall"))
    if is_rate:
        def f(x):
            return "-" if not np.isfinite(x) else f"{x:.1%}"

        def fd(x):
            return "-" if not np.isfinite(x) else f"{100 * x:+.2f} pp"
    elif d.metric in ("mql_count",) or d.metric.endswith("_hits"):
        def f(x):
            return "-" if not np.isfinite(x) else f"{x:,.0f}"

        def fd(x):
            return "-" if not np.isfinite(x) else f"{x:+,.0f}"
    else:
        def f(x):
            return "-" if not np.isfinite(x) else f"{x:,.1f}"

        def fd(x):
            return "-" if not np.isfinite(x) else f"{x:+,.1f}"
    ci = (f"{fd(d.ci_low)} to {fd(d.ci_high)}" if np.isfinite(d.ci_low) else "-")
    label = d.metric.replace("_", " ")
    return f"{label:<24}{f(d.a):>10}{f(d.b):>10}{fd(d.diff):>11}   {ci}"


# ------------------------------------------------------------------------- computation
def _weighted_median(values_sorted: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Median of each row's weighted sample (integer weights, values sorted ascending);
    equal to ``np.median`` of the sample with each value repeated ``w`` times."""
    if values_sorted.size == 0:
        return np.full(w.shape[0], np.nan)
    cum = np.cumsum(w, axis=1)
    total = cum[:, -1]
    k1 = np.floor((total + 1) / 2)        # 1-based positions of the middle value(s)
    k2 = np.floor(total / 2) + 1
    i1 = np.argmax(cum >= k1[:, None], axis=1)
    i2 = np.argmax(cum >= k2[:, None], axis=1)
    out = (values_sorted[i1] + values_sorted[i2]) / 2
    return np.where(total > 0, out, np.nan)


@dataclass(frozen=True)
class _PerLead:
    """Indicator columns of both rule sets over the same leads."""

    mql_a: np.ndarray
    mql_b: np.ndarray
    days_a: np.ndarray          # days to MQL (nan if not an MQL or a snapshot)
    days_b: np.ndarray
    hits_a: dict
    dec_a: dict
    hits_b: dict
    dec_b: dict
    occurred: dict


def _metrics_from_sums(s: dict, weeks: float | None, med_a, med_b, outcomes) -> dict:
    """Metric -> (A, B) arrays from weighted sums (any leading shape)."""
    out = {"mql_count": (s["mql_a"], s["mql_b"])}
    if weeks:
        out["mql_per_week"] = (s["mql_a"] / weeks, s["mql_b"] / weeks)
    out["median_days_to_mql"] = (med_a, med_b)
    with np.errstate(invalid="ignore", divide="ignore"):
        for o in outcomes:
            ha, hb = s[f"hits_a:{o}"], s[f"hits_b:{o}"]
            out[f"{o}_hits"] = (ha, hb)
            out[f"{o}_rate"] = (np.where(s[f"dec_a:{o}"] > 0, ha / s[f"dec_a:{o}"], np.nan),
                                np.where(s[f"dec_b:{o}"] > 0, hb / s[f"dec_b:{o}"], np.nan))
            occ = s[f"occ:{o}"]
            out[f"{o}_recall"] = (np.where(occ > 0, ha / occ, np.nan),
                                  np.where(occ > 0, hb / occ, np.nan))
    return out


def _columns(pl: _PerLead, outcomes) -> tuple[list[str], np.ndarray]:
    names = ["mql_a", "mql_b"]
    cols = [pl.mql_a, pl.mql_b]
    for o in outcomes:
        names += [f"hits_a:{o}", f"dec_a:{o}", f"hits_b:{o}", f"dec_b:{o}", f"occ:{o}"]
        cols += [pl.hits_a[o], pl.dec_a[o], pl.hits_b[o], pl.dec_b[o], pl.occurred[o]]
    return names, np.column_stack(cols).astype(float)


def paired_bootstrap(pl: _PerLead, outcomes, *, weeks=None, n_bootstrap=1000, seed=0,
                     alpha=0.05) -> list[MetricDifference]:
    """Point estimates and bootstrap intervals of every difference B − A.

    Each replicate resamples the leads with replacement (weights ``w = bincount`` of
    ``N`` uniform draws, i.e. multinomial) and recomputes both rule sets' metrics on the
    same weights; chunks of replicates are one matrix product each.

    Parameters
    ----------
    pl : _PerLead
        Indicator columns of both rule sets over the same leads.
    outcomes : sequence of str
        The outcomes compared.
    weeks : float, optional
        The period's length, for the MQLs per week (none without it).
    n_bootstrap : int
        Replicates (0: point estimates only, NaN intervals).
    seed : int
        Seed of the draws: the same seed gives the same intervals.
    alpha : float
        One minus the confidence level.

    Returns
    -------
    list of MetricDifference

    Examples
    --------
    Six leads; B flags two more of them, one of which books a meeting:

    >>> import numpy as np
    >>> a = np.array([1, 1, 0, 0, 0, 0], bool)
    >>> b = np.array([1, 1, 1, 1, 0, 0], bool)
    >>> hit_a, hit_b = np.array([1, 0, 0, 0, 0, 0], bool), np.array([1, 0, 1, 0, 0, 0], bool)
    >>> pl = _PerLead(a, b, np.where(a, 2.0, np.nan), np.where(b, 1.0, np.nan),
    ...               {"meeting": hit_a}, {"meeting": a}, {"meeting": hit_b}, {"meeting": b},
    ...               {"meeting": hit_b})
    >>> diffs = {d.metric: d for d in paired_bootstrap(pl, ["meeting"], n_bootstrap=0)}
    >>> diffs["mql_count"].diff, diffs["meeting_hits"].diff, diffs["meeting_rate"].b
    (2.0, 1.0, 0.5)
    >>> d = paired_bootstrap(pl, ["meeting"], n_bootstrap=200, seed=1)[0]
    >>> d.metric, d.ci_low <= d.diff <= d.ci_high
    ('mql_count', True)
    """
    names, m = _columns(pl, outcomes)
    sums = dict(zip(names, m.sum(axis=0)))
    days_a, days_b = pl.days_a, pl.days_b
    ia = np.flatnonzero(np.isfinite(days_a))
    ib = np.flatnonzero(np.isfinite(days_b))
    ia = ia[np.argsort(days_a[ia], kind="stable")]
    ib = ib[np.argsort(days_b[ib], kind="stable")]
    med_a = float(np.median(days_a[ia])) if ia.size else np.nan
    med_b = float(np.median(days_b[ib])) if ib.size else np.nan
    point = _metrics_from_sums(sums, weeks, med_a, med_b, outcomes)

    reps = _replicates(m, names, pl, ia, ib, weeks, outcomes, list(point), n_bootstrap, seed)
    out = []
    for k, (va, vb) in point.items():
        va, vb = float(va), float(vb)
        lo, hi, se = _percentile_interval(reps[k], alpha)
        out.append(MetricDifference(k, va, vb, vb - va, lo, hi, se))
    return out


def _replicates(m, names, pl: _PerLead, ia, ib, weeks, outcomes, metrics, n_bootstrap,
                seed) -> dict[str, list]:
    """Per metric, arrays of B − A over bootstrap replicates (leads resampled, both rule
    sets on the same weights); ``ia``, ``ib``: the MQLs under A and B by days to MQL."""
    n = m.shape[0]
    reps: dict[str, list] = {k: [] for k in metrics}
    if not (n_bootstrap and n):
        return reps
    rng = np.random.default_rng(seed)
    chunk = max(1, min(n_bootstrap, _CHUNK_CELLS // n))
    done = 0
    while done < n_bootstrap:
        r = min(chunk, n_bootstrap - done)
        draws = rng.integers(0, n, size=(r, n))
        w = np.bincount((draws + (np.arange(r) * n)[:, None]).ravel(),
                        minlength=r * n).reshape(r, n).astype(float)
        s = dict(zip(names, (w @ m).T))
        ma = _weighted_median(pl.days_a[ia], w[:, ia])
        mb = _weighted_median(pl.days_b[ib], w[:, ib])
        for k, (va, vb) in _metrics_from_sums(s, weeks, ma, mb, outcomes).items():
            reps[k].append(np.asarray(vb, dtype=float) - np.asarray(va, dtype=float))
        done += r
    return reps


def _percentile_interval(reps: list, alpha: float) -> tuple[float, float, float]:
    """Percentile interval and standard error of the finite replicates (NaN without)."""
    lo = hi = se = np.nan
    if reps:
        dist = np.concatenate(reps)
        dist = dist[np.isfinite(dist)]
        if dist.size:
            lo, hi = np.percentile(dist, [100 * alpha / 2, 100 * (1 - alpha / 2)])
            se = float(dist.std(ddof=1)) if dist.size > 1 else np.nan
    return float(lo), float(hi), float(se)


def _status_masks(col: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    s = col.astype(object).to_numpy()
    hit = s == "hit"
    decided = hit | (s == "miss") | (s == "late")
    return hit, decided


def _who_moves(pl: _PerLead, m_a, m_b, outcomes, snapshot) -> tuple[pd.DataFrame, np.ndarray]:
    both = pl.mql_a & pl.mql_b
    groups = {"both": both, "only_a": pl.mql_a & ~pl.mql_b, "only_b": ~pl.mql_a & pl.mql_b,
              "neither": ~pl.mql_a & ~pl.mql_b}
    if not snapshot:
        groups["both_earlier"] = both & (m_b < m_a)
        groups["both_same"] = both & (m_b == m_a)
        groups["both_later"] = both & (m_b > m_a)
    n = len(pl.mql_a)
    rows = []
    for g in GROUPS:
        if g not in groups:
            continue
        mask = groups[g]
        k = int(mask.sum())
        row = {"label": GROUP_LABELS[g], "group": g, "leads": k,
               "share": k / n if n else np.nan}
        for o in outcomes:
            ha, da = int(pl.hits_a[o][mask].sum()), int(pl.dec_a[o][mask].sum())
            hb, db = int(pl.hits_b[o][mask].sum()), int(pl.dec_b[o][mask].sum())
            occ = int(pl.occurred[o][mask].sum())
            row.update({f"{o}_hits_a": ha, f"{o}_decided_a": da,
                        f"{o}_rate_a": ha / da if da else np.nan,
                        f"{o}_hits_b": hb, f"{o}_decided_b": db,
                        f"{o}_rate_b": hb / db if db else np.nan,
                        f"{o}_occurred": occ, f"{o}_occurred_rate": occ / k if k else np.nan})
        rows.append(row)
    label = np.full(n, "neither", dtype=object)
    label[groups["only_a"]] = "only_a"
    label[groups["only_b"]] = "only_b"
    label[both] = "both"
    if not snapshot:
        label[groups["both_earlier"]] = "both_earlier"
        label[groups["both_same"]] = "both_same"
        label[groups["both_later"]] = "both_later"
    return pd.DataFrame(rows), label


def check_compare_args(present, outcomes, n_bootstrap, alpha) -> tuple[str, ...]:
    """Check a comparison's options and choose the outcomes to compare.

    Parameters
    ----------
    present : iterable of str
        The outcomes in the data.
    outcomes : sequence of str or None
        The outcomes asked for (any case).
    n_bootstrap : int
        Bootstrap replicates, a whole number >= 0.
    alpha : float
        One minus the confidence level, in (0, 1).

    Returns
    -------
    tuple of str
        ``outcomes`` (lower case, once each); by default meeting, sql and won where
        present, else every outcome but ``mql``.

    Raises
    ------
    calib.errors.ConfigError
        Code ``"out_of_range"`` or ``"unknown_outcome"``.

    Examples
    --------
    >>> check_compare_args(["mql", "meeting", "won", "lost"], None, 1000, 0.05)
    ('meeting', 'won')
    >>> check_compare_args(["mql", "meeting"], ["Meeting"], 0, 0.1)
    ('meeting',)
    >>> check_compare_args(["mql", "meeting"], ["sql"], 1000, 0.05)
    Traceback (most recent call last):
    calib.errors.ConfigError: Outcome(s) not in the data: sql. Suggestion: The data has: mql, meeting.
    """
    if not (isinstance(n_bootstrap, (int, np.integer)) and n_bootstrap >= 0):
        raise ConfigError(f"--bootstrap must be a whole number >= 0. Got {n_bootstrap!r}.",
                          code="out_of_range")
    if not 0 < alpha < 1:
        raise ConfigError(f"alpha must be in (0, 1). Got {alpha!r}.", code="out_of_range")
    present = list(present)
    if outcomes:
        outcomes = tuple(dict.fromkeys(o.strip().lower() for o in outcomes))
        unknown = [o for o in outcomes if o not in present]
        if unknown:
            raise ConfigError(f"Outcome(s) not in the data: {', '.join(unknown)}.",
                              code="unknown_outcome",
                              suggestion="The data has: " + ", ".join(present) + ".")
        return outcomes
    return tuple(o for o in DEFAULT_OUTCOMES if o in present) or tuple(
        o for o in present if o != "mql")


def compare_rules(ds, rules_a, rules_b, *, outcomes=None, window_days: float = 90,
                  start=None, end=None, n_bootstrap: int = 1000, seed: int = 0,
                  alpha: float = 0.05) -> ComparisonResult:
    """Compare two rule sets on the same leads: paired differences, McNemar, who moves.

    Parameters
    ----------
    ds : Dataset
    rules_a, rules_b : RuleSet
        A is the baseline; differences are B − A.
    outcomes : sequence of str, optional
        Outcomes to compare; default ``meeting``, ``sql`` and ``won`` where present
        (else every outcome but ``mql``).
    window_days : float, default 90
        Attribution window (SPEC section 3).
    start, end : str or Timestamp, optional
        Leads created in [start, end], as in ``replay``.
    n_bootstrap : int, default 1000
        Bootstrap replicates (0: no intervals).
    seed : int, default 0
        Seed of the bootstrap: the same seed gives the same intervals.
    alpha : float, default 0.05
        One minus the confidence level.

    Returns
    -------
    ComparisonResult
        Both replays, the paired differences of MQLs and rates with bootstrap intervals,
        McNemar's test on the leads routed differently, and who moves between the two.

    Examples
    --------
    >>> from calib import compare_rules, load_dataset, load_rules
    >>> res = compare_rules(load_dataset("calib-demo/data"),
    ...                     load_rules("calib-demo/current.toml"),
    ...                     load_rules("calib-demo/truth.toml"), window_days=90)
    >>> res.difference("mql_count").diff, f"{res.mcnemar.p_value:.1e}"
    (-109.0, '6.3e-12')
    """
    from calib.engine import replay
    from calib.engine.replay import first_outcome_times, outcome_names, replay_period

    outcomes = check_compare_args(outcome_names(ds), outcomes, n_bootstrap, alpha)
    ra = replay(ds, rules_a, window_days=window_days, start=start, end=end, per_lead=True)
    rb = replay(ds, rules_b, window_days=window_days, start=start, end=end, per_lead=True)
    _, codes = replay_period(ds, start, end)
    otimes = first_outcome_times(ds, outcomes)
    occurred = {o: otimes[o][codes] != NEVER for o in outcomes}
    return compare_replays(ra, rb, occurred, outcomes, n_bootstrap=n_bootstrap, seed=seed,
                           alpha=alpha)


def compare_replays(ra, rb, occurred: dict, outcomes, *, n_bootstrap: int = 1000,
                    seed: int = 0, alpha: float = 0.05) -> ComparisonResult:
    """The comparison of two replays (with per-lead rows) of the same leads.

    :func:`compare_rules` and the distributed engine both end here.

    Parameters
    ----------
    ra, rb : ReplayResult
        Replays of rule sets A and B with ``per_lead`` rows, of the same leads in the same
        order.
    occurred : dict of str to array_like of bool
        Per outcome, whether it occurred, per lead in ``per_lead`` order.
    outcomes : sequence of str
        The outcomes compared.
    n_bootstrap, seed, alpha
        As in :func:`compare_rules`.

    Returns
    -------
    ComparisonResult

    Raises
    ------
    calib.errors.CalibError
        When the replays do not cover the same leads.

    Examples
    --------
    >>> from calib import load_dataset, load_rules, replay
    >>> ds = load_dataset("calib-demo/data")
    >>> ra, rb = (replay(ds, load_rules(f"calib-demo/{n}.toml"), window_days=90,
    ...                  per_lead=True) for n in ("current", "truth"))
    >>> from calib.engine.replay import first_outcome_times, replay_period
    >>> _, codes = replay_period(ds, None, None)  # the period's leads, in per_lead order
    >>> occurred = {"meeting": first_outcome_times(ds, ["meeting"])["meeting"][codes] != NEVER}
    >>> res = compare_replays(ra, rb, occurred, ("meeting",), n_bootstrap=0)
    >>> res.difference("mql_count").diff == rb.mql_count - ra.mql_count
    True
    """
    pa, pb = ra.per_lead, rb.per_lead
    if not np.array_equal(pa["lead_id"].to_numpy(), pb["lead_id"].to_numpy()):
        raise CalibError("The two replays did not cover the same leads.", code="internal")
    snapshot = bool(ra.snapshot)
    n = len(pa)

    def stage(p):
        if snapshot:
            m = p["mql"].to_numpy().astype(bool)
            return m, np.where(m, 0, NEVER), np.full(n, np.nan)
        t = ns_or_never(p["mql_at"])
        m = t != NEVER
        created = ns_or_never(p["created_at"])
        days = np.where(m, (t - np.where(m, created, 0)) / NS_PER_DAY, np.nan)
        return m, t, days

    mql_a, m_a, days_a = stage(pa)
    mql_b, m_b, days_b = stage(pb)
    hits_a, dec_a, hits_b, dec_b = {}, {}, {}, {}
    for o in outcomes:
        hits_a[o], dec_a[o] = _status_masks(pa[f"status_{o}"])
        hits_b[o], dec_b[o] = _status_masks(pb[f"status_{o}"])
    pl = _PerLead(mql_a, mql_b, days_a, days_b, hits_a, dec_a, hits_b, dec_b,
                  {o: np.asarray(occurred[o], dtype=bool) for o in outcomes})
    weeks = None if snapshot else ra.period.weeks
    diffs = paired_bootstrap(pl, outcomes, weeks=weeks, n_bootstrap=int(n_bootstrap),
                             seed=int(seed), alpha=alpha)

    mc = _mcnemar_result(mql_a, mql_b)
    who, label = _who_moves(pl, m_a, m_b, outcomes, snapshot)
    per_lead = _per_lead_frame(pa, pb, label, outcomes, snapshot)
    warnings = tuple(dict.fromkeys(ra.warnings + rb.warnings))
    return ComparisonResult(replay_a=ra, replay_b=rb, outcomes=outcomes,
                            differences=tuple(diffs), mcnemar=mc, who_moves=who,
                            per_lead=per_lead, n_bootstrap=int(n_bootstrap), seed=int(seed),
                            alpha=float(alpha), warnings=warnings)


def _mcnemar_result(mql_a: np.ndarray, mql_b: np.ndarray) -> McNemarResult:
    """McNemar's test on the leads that are MQLs under one rule set only."""
    b = int((mql_a & ~mql_b).sum())
    c = int((~mql_a & mql_b).sum())
    if b + c == 0:
        return McNemarResult(b, c, np.nan, np.nan, "none", "no_discordant_leads",
                             "both rule sets make exactly the same leads MQLs; nothing to test")
    exact = b + c < MCNEMAR_EXACT_BELOW
    stat, p = mcnemar(b, c, exact=exact)
    return McNemarResult(b, c, float(stat), float(p), "exact" if exact else "chi2_corrected",
                         "ok")


def _per_lead_frame(pa: pd.DataFrame, pb: pd.DataFrame, label, outcomes,
                    snapshot: bool) -> pd.DataFrame:
    """One row per lead: its group, MQL times, peak scores and statuses under A and B."""
    per_lead = pd.DataFrame({"lead_id": pa["lead_id"].to_numpy(), "group": label})
    if not snapshot:
        per_lead["created_at"] = pa["created_at"].to_numpy()
        per_lead["mql_at_a"] = pa["mql_at"].to_numpy()
        per_lead["mql_at_b"] = pb["mql_at"].to_numpy()
    per_lead["peak_score_a"] = pa["peak_score"].to_numpy()
    per_lead["peak_score_b"] = pb["peak_score"].to_numpy()
    for o in outcomes:
        per_lead[f"status_{o}_a"] = pa[f"status_{o}"].to_numpy()
        per_lead[f"status_{o}_b"] = pb[f"status_{o}"].to_numpy()
    return per_lead
