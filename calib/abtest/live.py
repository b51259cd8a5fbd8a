"""Analysis of a live A/B test of scoring rules or thresholds (``calib abtest``).

Leads are assigned to arms (``control`` and one or more treatments). For every outcome
X, a lead of an arm is a *success* when its first X occurs within ``window_days`` after
its assignment (``assigned_at``, else ``created_at``): ``a <= o <= a + W``. The metric
is a rate per assigned lead, so it counts what the treatment does to every lead of the
arm (routing fewer leads to sales changes the outcomes of leads that are not routed),
not only to the MQLs.

Choices, and why
----------------
Immature leads
    A lead whose window has not ended by the end of the data (``a + W`` after it) is
    left out of every windowed metric and counted as immature. Keeping it would count
    its outcome as a failure although the outcome may still come; keeping only its
    successes would bias the rate upwards. Leaving it out keeps the metric a fixed-
    horizon rate, the same for every lead; the price is that the newest leads do not
    count yet (the weekly look history shows the test as it matured).
Outcomes before assignment
    The first occurrence of an outcome is the one that counts (SPEC section 1); if it
    came before the lead was assigned, the treatment cannot have caused it and the lead
    is a failure for that outcome. The result warns when this happens.
Tests
    ``compare_proportions`` (treatment minus control): the Newcombe interval for the
    difference, the Katz interval for the relative lift, and the pooled z-test, or
    Fisher's exact test when an expected cell count is below 5 (each comparison says
    which). P-values of the primary outcomes over all treatment arms form one family,
    corrected by Holm (default) or Benjamini-Hochberg; guardrails and MQL rates are
    each corrected within their own family and never enter the primary one.
Sample-ratio mismatch
    A chi-square test of the assigned leads per arm against the planned allocation
    (equal by default), on every assigned lead, mature or not. With ``p < 0.001`` the
    result's ``srm.status`` is ``"mismatch"`` and the summary says so first: the
    assignment or the data pipeline is broken and the comparisons cannot be trusted.
Bayesian
    ``P(arm beats control)``: the posterior probability, under independent uniform
    Beta priors, that the arm's rate is higher than the control's.
Peeking
    The fixed-horizon p-value is valid only if the test is read once, at a planned
    size. For a test watched every week, the always-valid p-value (mSPRT, normal mixture
    with scale ``tau`` over the difference) keeps the false-positive rate at alpha
    however often one looks. The weekly look history reconstructs what each weekly look
    would have shown: at look ``T`` only the leads mature by ``T`` (``a + W <= T``)
    count, with their outcomes (which happened by ``a + W``, so were visible at ``T``).
    The reported always-valid p-value is the running minimum over the weekly looks,
    the value a weekly watcher acts on; the confidence sequence is the running
    intersection.
Guardrails
    An event type (``unsubscribe``, ``email_bounce``): share of leads with at least
    one such event within the window after assignment. An outcome (``disqualified``):
    as any outcome. Higher is worse; a guardrail is flagged ``"worse"`` when its
    corrected p-value is below alpha and the rate is higher than the control's.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from calib.data.dataset import ns_or_never
from calib.errors import CalibError, ConfigError, DataError, Problem
from calib.io import iso_utc
from calib.io import json_safe as _clean
from calib.abtest.assign import ArmAllocation, read_assignment_table
from calib.abtest.config import ABTestConfig
from calib.stats import (adjust_pvalues, always_valid_pvalue, compare_proportions,
                         confidence_sequence, prob_beat, proportion_ci, srm_test,
                         two_proportion_ztest)

NEVER = np.iinfo(np.int64).max
NS_PER_DAY = 86_400 * 10**9
#: p-value below which the sample-ratio check reports a mismatch.
SRM_THRESHOLD = 0.001
ROLES = ("primary", "guardrail", "secondary")


def _p(p: float) -> str:
    """A p-value for people: 3 decimals, or '<0.001'."""
    return "<0.001" if p < 0.001 else f"{p:.3f}"


# ------------------------------------------------------------------------- results
@dataclass(frozen=True)
class SRMCheck:
    """Sample-ratio-mismatch check of the assigned leads per arm.

    Attributes
    ----------
    observed : dict
        Assigned leads per arm, mature or not.
    planned : dict
        The planned share of each arm.
    chi2, p_value : float
        Pearson's chi-square test of ``observed`` against ``planned``.
    status : {"ok", "mismatch", "no_data"}
        ``"mismatch"`` when ``p_value < threshold``.
    threshold : float, default 0.001
    """

    observed: dict
    planned: dict
    chi2: float
    p_value: float
    status: str  # "ok" | "mismatch" | "no_data"
    threshold: float = SRM_THRESHOLD

    @property
    def message(self) -> str:
        """The check in one sentence; a mismatch says that nothing else can be trusted."""
        total = sum(self.observed.values())
        obs = ", ".join(f"{a} {n:,} ({n / total:.1%})" if total else f"{a} 0"
                        for a, n in self.observed.items())
        plan = "/".join(f"{100 * w:.3g}" for w in self.planned.values())
        if self.status == "no_data":
            return "Sample ratio: no leads assigned."
        text = (f"{obs}; planned {plan}; chi-square = {self.chi2:.2f}, "
                f"p = {self.p_value:.3g}")
        if self.status == "mismatch":
            return (f"SAMPLE-RATIO MISMATCH: {text} < {self.threshold:g}. The split is not "
                    "what was planned: the assignment or the data pipeline is broken, and "
                    "the comparisons below cannot be trusted until the cause is found.")
        return f"Sample ratio ok: {text}."

    def to_dict(self) -> dict:
        """JSON-safe dict, with the :attr:`message`."""
        return {"status": self.status, "observed": dict(self.observed),
                "planned": dict(self.planned), "chi2": _clean(self.chi2),
                "p_value": _clean(self.p_value), "threshold": self.threshold,
                "message": self.message}


@dataclass(frozen=True)
class ArmMetric:
    """One metric in one arm, with its comparison against the control.

    The comparison fields are ``nan`` (and ``status`` is ``"control"``) in the control
    row. ``status`` is ``"ok"``, ``"no_data"`` (an arm has no mature leads),
    ``"no_variation"`` (no successes, or only successes, in both arms: nothing to
    test) or ``"zero_successes"`` (one arm has none: the difference and its test are
    reported, the relative lift has no interval); ``reason`` says more.
    """

    metric: str
    kind: str        # "outcome" | "event" | "mql"
    role: str        # "primary" | "guardrail" | "secondary"
    arm: str
    n: int
    successes: int
    rate: float
    ci_low: float
    ci_high: float
    # against the control: the difference (Newcombe) and the lift (Katz) with intervals
    diff: float = float("nan")
    diff_low: float = float("nan")
    diff_high: float = float("nan")
    lift: float = float("nan")
    lift_low: float = float("nan")
    lift_high: float = float("nan")
    # the fixed-horizon test and its p-value corrected within the family
    test: str = "none"
    p_value: float = float("nan")
    p_adjusted: float = float("nan")
    # P(arm beats control), and the always-valid p-value and confidence sequence
    prob_beat: float = float("nan")
    p_always_valid: float = float("nan")
    p_always_valid_adjusted: float = float("nan")
    cs_low: float = float("nan")
    cs_high: float = float("nan")
    status: str = "control"
    reason: str = ""
    before_assignment: int = 0

    def significant(self, alpha: float) -> bool:
        """Whether the corrected p-value is below ``alpha`` (False without a test)."""
        return bool(self.p_adjusted < alpha)

    def to_dict(self) -> dict:
        """JSON-safe dict of every field (``nan`` becomes None)."""
        return _clean(asdict(self))


@dataclass(frozen=True, eq=False)
class ABTestResult:
    """The analysis of a live test (see the module docstring for every definition).

    Attributes
    ----------
    config : ABTestConfig
        The options the analysis ran with (with the window it measured, if it did).
    control : str
        The arm every other arm is compared with.
    arms : tuple of str
        Control first.
    assigned, mature : dict
        Leads per arm: all assigned, and those whose window ended by the end of data.
    srm : SRMCheck
        The sample-ratio check, to read first.
    metrics : tuple of ArmMetric
        One per metric and arm (control rows included).
    looks : DataFrame
        The weekly look history: per metric, treatment arm and look, the cumulative
        counts of mature leads, the naive z-test p-value and the always-valid p-value
        (running minimum) with the confidence sequence.
    test_start, end_of_data : Timestamp or None
        The first assignment and the end of the data (None in a snapshot).
    snapshot : bool
        No dates: each lead's outcome counts whenever it happened, no windows, no looks.
    warnings : tuple of str
        What the reader should know (no arm named 'control', outcomes before
        assignment, nothing mature yet...).
    window : dict or None
        How the window was chosen (``days``, ``source``: given, data, default or
        snapshot, ``sentence``...).
    """

    config: ABTestConfig
    control: str
    arms: tuple[str, ...]
    assigned: dict
    mature: dict
    srm: SRMCheck
    metrics: tuple[ArmMetric, ...]
    looks: pd.DataFrame
    test_start: pd.Timestamp | None
    end_of_data: pd.Timestamp | None
    snapshot: bool = False
    warnings: tuple[str, ...] = ()
    window: dict | None = None  # how the window was chosen (DelayWindow.to_dict())

    # -------------------------------------------------------------- access
    def metric(self, name: str, arm: str) -> ArmMetric:
        """The row of one metric in one arm; KeyError if there is none."""
        for m in self.metrics:
            if m.metric == name and m.arm == arm:
                return m
        raise KeyError(f"no metric {name!r} for arm {arm!r}")

    @property
    def metric_names(self) -> tuple[str, ...]:
        """The metrics in display order (primary outcomes, guardrails, MQL rates)."""
        return tuple(dict.fromkeys(m.metric for m in self.metrics))

    @property
    def immature(self) -> dict:
        """Assigned leads per arm whose window has not ended by the end of the data."""
        return {a: self.assigned[a] - self.mature[a] for a in self.arms}

    # -------------------------------------------------------------- output
    def to_frame(self) -> pd.DataFrame:
        """One row per metric and arm."""
        return pd.DataFrame([m.to_dict() for m in self.metrics])

    def to_dict(self) -> dict:
        """JSON-safe dict (what ``calib abtest --json`` prints): per metric the arms'
        rates and each arm's comparison with the control, the looks and the checks."""
        metrics = {}
        for m in self.metrics:
            entry = metrics.setdefault(m.metric, {"kind": m.kind, "role": m.role, "arms": {},
                                                  "vs_control": {}})
            entry["arms"][m.arm] = {"n": m.n, "successes": m.successes, "rate": _clean(m.rate),
                                    "ci_low": _clean(m.ci_low), "ci_high": _clean(m.ci_high)}
            if m.arm != self.control:
                d = m.to_dict()
                entry["vs_control"][m.arm] = {
                    k: d[k] for k in ("diff", "diff_low", "diff_high", "lift", "lift_low",
                                      "lift_high", "test", "p_value", "p_adjusted",
                                      "prob_beat", "p_always_valid", "p_always_valid_adjusted",
                                      "cs_low", "cs_high", "status", "reason",
                                      "before_assignment")}
                entry["vs_control"][m.arm]["significant"] = m.significant(self.config.alpha)
        looks = self.looks.copy()
        if "look_at" in looks:
            looks["look_at"] = [iso_utc(t) for t in looks["look_at"]]
        return {
            "srm": self.srm.to_dict(),
            "control": self.control,
            "arms": list(self.arms),
            "test_start": iso_utc(self.test_start),
            "end_of_data": iso_utc(self.end_of_data),
            "snapshot": self.snapshot,
            "window_days": self.config.window_days,
            "window": self.window,
            "alpha": self.config.alpha,
            "correction": self.config.correction,
            "tau": self.config.tau,
            "assigned": dict(self.assigned),
            "mature": dict(self.mature),
            "immature": self.immature,
            "metrics": metrics,
            "looks": [{k: _clean(v) for k, v in r.items()}
                      for r in looks.to_dict("records")],
            "warnings": list(self.warnings),
        }

    def summary(self) -> str:
        """The analysis as text: the sample-ratio check first, then one table per
        family, the verdict, the weekly looks and notes."""
        cfg = self.config
        lines = []
        if self.srm.status == "mismatch":
            lines += ["!" * 78, "!! " + self.srm.message, "!" * 78]
        else:
            lines.append(self.srm.message)
        total = sum(self.assigned.values())
        period = (f" {self.test_start:%Y-%m-%d} .. end of data {self.end_of_data:%Y-%m-%d}"
                  if self.test_start is not None and self.end_of_data is not None else "")
        treat = ", ".join(f"'{a}'" for a in self.arms if a != self.control)
        lines.append(f"Live test: {total:,} leads assigned{period}; {treat} against control "
                     f"'{self.control}'.")
        if not self.snapshot:
            imm = sum(self.immature.values())
            lines.append(
                f"Success = the outcome's first occurrence within {cfg.window_days:g} days "
                f"after assignment. {sum(self.mature.values()):,} leads count ("
                + ", ".join(f"{a} {n:,}" for a, n in self.mature.items()) + f"); {imm:,} "
                f"({imm / max(total, 1):.0%}) whose window has not ended are left out "
                "(immature).")
            if self.window is not None and self.window.get("source") != "given":
                lines.append(f"Window: {self.window['sentence']}")
        corr = {"holm": "Holm", "bh": "Benjamini-Hochberg"}[cfg.correction]
        for role, title in (("primary", "Primary outcomes"),
                            ("guardrail", "Guardrails (higher is worse; own family, not in "
                                          "the primary correction)"),
                            ("secondary", "MQL rate within the window under the rule "
                                          "set(s) (own family)")):
            rows = [m for m in self.metrics if m.role == role]
            if not rows:
                continue
            n_tests = sum(1 for m in rows if m.arm != self.control and not math.isnan(m.p_value))
            lines.append("")
            lines.append(f"{title}; {corr}-corrected over {n_tests} comparison(s):")
            lines.append(f"  {'metric':<14}{'arm':<10}{'leads':>7}{'rate':>8}  "
                         f"{'95% CI':<13}{'diff, pp (95% CI)':<24}{'lift':>6}  "
                         f"{'p (test)':<15}{'p adj':>8}{'P(>ctl)':>8}{'AV p adj':>9}")
            for m in rows:
                lines.append(self._row(m))
        notes = [m for m in self.metrics if m.arm != self.control and m.reason]
        sig = [m for m in self.metrics if m.arm != self.control and m.role == "primary"
               and m.significant(cfg.alpha)]
        lines.append("")
        if sig:
            lines.append(f"Significant after correction (adjusted p < {cfg.alpha:g}): "
                         + "; ".join(f"{m.metric} in '{m.arm}' {100 * m.diff:+.1f} pp"
                                     for m in sig))
        else:
            lines.append(f"No primary outcome differs significantly from the control after "
                         f"correction (adjusted p < {cfg.alpha:g}).")
        worse = [m for m in self.metrics if m.role == "guardrail" and m.arm != self.control
                 and m.significant(cfg.alpha) and m.diff > 0]
        if worse:
            lines.append("GUARDRAIL WORSE: " + "; ".join(
                f"{m.metric} in '{m.arm}' {100 * m.diff:+.2f} pp" for m in worse))
        lines.append(self._looks_text())
        for m in notes:
            lines.append(f"  note: {m.metric} in '{m.arm}': {m.reason}")
        lines += [
            "  p: pooled z-test (z), or Fisher's exact test (fisher) when an expected count "
            "is below 5;",
            "     valid if the test is read once, at its planned size.",
            "  AV p: always-valid (mSPRT) p-value, valid however often the test was looked "
            "at; use it if",
            "     the test was watched and could have been stopped early.",
            "  P(>ctl): posterior probability that the arm's rate is higher than the "
            "control's (uniform priors)."]
        for w in self.warnings:
            lines.append(f"warning: {w}")
        return "\n".join(lines)

    def _row(self, m: ArmMetric) -> str:
        def pct(x, d=1):
            return "-" if not math.isfinite(x) else f"{100 * x:.{d}f}%"

        ci = "-" if not math.isfinite(m.ci_low) else f"{100 * m.ci_low:.1f}-{100 * m.ci_high:.1f}%"
        head = f"  {m.metric:<14.14}{m.arm:<10.10}{m.n:>7,}{pct(m.rate):>8}  {ci:<13}"
        if m.arm == self.control:
            return head.rstrip()
        if m.status == "no_data":
            return head + f"{'no comparison: ' + m.reason}"
        diff = (f"{100 * m.diff:+.2f} ({100 * m.diff_low:+.2f}, {100 * m.diff_high:+.2f})"
                if math.isfinite(m.diff_low) else "-")
        lift = f"{100 * m.lift:+.0f}%" if math.isfinite(m.lift) else "-"
        p = f"{_p(m.p_value)} ({m.test})" if math.isfinite(m.p_value) else "-"
        padj = _p(m.p_adjusted) if math.isfinite(m.p_adjusted) else "-"
        pb = f"{m.prob_beat:.2f}" if math.isfinite(m.prob_beat) else "-"
        av = _p(m.p_always_valid_adjusted) if math.isfinite(m.p_always_valid_adjusted) else "-"
        return head + f"{diff:<24}{lift:>6}  {p:<15}{padj:>8}{pb:>8}{av:>9}"

    def _looks_text(self) -> str:
        if self.looks.empty:
            return "Weekly looks: none (no dates, or no lead's window has ended yet)."
        primary = [m for m in self.metric_names
                   if any(x.metric == m and x.role == "primary" for x in self.metrics)]
        lk = self.looks[self.looks["metric"].isin(primary)]
        if lk.empty:
            return "Weekly looks: none."
        first = lk["look_at"].min()
        out = [f"Weekly looks since {first:%Y-%m-%d} (always-valid p, running minimum; "
               "leads count once their window has ended):"]
        for (metric, arm), g in lk.groupby(["metric", "arm"], sort=False):
            g = g.tail(8)
            vals = "  ".join(f"{t:%m-%d} {p:.2f}" if math.isfinite(p) else f"{t:%m-%d}  -  "
                             for t, p in zip(g["look_at"], g["p_always_valid"]))
            out.append(f"  {metric:<14.14}{arm:<10.10}{vals}")
        return "\n".join(out)


# ------------------------------------------------------------------------- analysis
def _assignment_frame(ds, assignments) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Lead codes, arm names and assignment times (ns, NEVER when unknown)."""
    if assignments is None:
        if ds.assignments is None:
            raise CalibError("The data set has no assignments table and no --assignments "
                             "file was given.", code="missing_table",
                             suggestion="Pass --assignments FILE (lead_id, arm, optional "
                                        "assigned_at), e.g. from 'calib assign'.")
        a = ds.assignments
        lead = a["lead"].to_numpy().astype(np.int64)
        arm = a["arm"].astype(str).to_numpy()
        t = a["assigned_at"] if "assigned_at" in a else None
    else:
        if "lead" in assignments and "lead_id" not in assignments:
            lead = assignments["lead"].to_numpy().astype(np.int64)
        else:
            ids = assignments["lead_id"].astype("string").str.strip()
            lead = pd.Index(ds.leads["lead_id"].astype("string")).get_indexer(ids)
            unknown = lead < 0
            if unknown.any():
                rows = tuple({"row": int(i) + 2, "lead_id": str(ids.iloc[i])}
                             for i in np.flatnonzero(unknown)[:3])
                raise DataError(
                    "The assignments refer to leads that are not in the data set.",
                    code="unknown_lead",
                    problems=[Problem("assignments", "unknown_lead",
                                      f"{int(unknown.sum())} row(s) refer to a lead_id that "
                                      "is not in the leads table", column="lead_id",
                                      count=int(unknown.sum()), rows=rows)],
                    suggestion="Analyse the data set the assignments were made from.")
            lead = lead.astype(np.int64)
            dup = pd.Series(lead).duplicated()
            if dup.any():
                raise DataError(f"The assignments assign {int(dup.sum())} lead(s) more than "
                                "once.", code="duplicate_lead_id")
        arm = assignments["arm"].astype(str).str.strip().to_numpy()
        t = assignments["assigned_at"] if "assigned_at" in assignments else None
    if t is not None:
        t_ns = ns_or_never(t)
    else:
        t_ns = np.full(len(lead), NEVER, dtype=np.int64)
    return lead, arm, t_ns


def _first_event_after(ds, lead: np.ndarray, a_ns: np.ndarray, event_type: str) -> np.ndarray:
    """Per assigned lead, the first ``event_type`` at or after its assignment."""
    ev = ds.events
    m = (ev["event_type"] == event_type).to_numpy()
    ev_lead = ev["lead"].to_numpy()[m].astype(np.int64)
    ev_t = ns_or_never(ev["occurred_at"])[m]
    pos = np.full(ds.n_leads, -1, dtype=np.int64)
    pos[lead] = np.arange(len(lead))
    p = pos[ev_lead]
    keep = p >= 0
    p, ev_t = p[keep], ev_t[keep]
    keep = ev_t >= a_ns[p]
    out = np.full(len(lead), NEVER, dtype=np.int64)
    np.minimum.at(out, p[keep], ev_t[keep])
    return out


def _resolve_metrics(ds, cfg: ABTestConfig) -> list[tuple[str, str, str]]:
    """(name, kind, role) of every metric, in display order."""
    from calib.engine.replay import outcome_names

    present = outcome_names(ds)
    events = set(ds.event_types)
    out = []
    guard = []
    for g in cfg.guardrails:
        if g.lower() in present:
            guard.append((g.lower(), "outcome", "guardrail"))
        elif g in events:
            guard.append((g, "event", "guardrail"))
        else:
            raise ConfigError(
                f"The guardrail '{g}' is neither an outcome nor an event type of the data.",
                code="unknown_metric",
                suggestion="Outcomes: " + ", ".join(present) + ". Event types: "
                           + ", ".join(sorted(events)[:20]) + ".")
    guard_names = {g[0] for g in guard if g[1] == "outcome"}
    if cfg.outcomes is None:
        primary = [o for o in present if o != "mql" and o not in guard_names]
    else:
        unknown = [o for o in cfg.outcomes if o not in present]
        if unknown:
            raise ConfigError(f"Outcome(s) not in the data: {', '.join(unknown)}.",
                              code="unknown_outcome",
                              suggestion="The data has: " + ", ".join(present) + ".")
        primary = list(dict.fromkeys(cfg.outcomes))
        both = sorted(set(primary) & guard_names)
        if both:
            raise ConfigError(f"Outcome(s) named both as primary and as guardrail: "
                              f"{', '.join(both)}.", code="duplicate_name",
                              suggestion="Name each outcome once, with --outcome or with "
                                         "--guardrail.")
    out += [(o, "outcome", "primary") for o in primary]
    out += guard
    return out


def abtest(ds, assignments: pd.DataFrame | None = None, config: ABTestConfig | None = None,
           *, rules=(), **options) -> ABTestResult:
    """Analyse a live A/B test: rates per arm, comparisons with the control, checks.

    Parameters
    ----------
    ds : Dataset
        The data set (leads, events, outcomes; ``end_of_data`` ends every window).
    assignments : DataFrame, optional
        ``lead_id``, ``arm`` and optional ``assigned_at`` (e.g. from
        :func:`calib.abtest.read_assignment_table`); default the config's
        ``assignments`` file, else the data set's own assignments table.
    config : ABTestConfig, optional
        Options; or give them as keyword arguments (``outcomes=("meeting",)``...).
    rules : RuleSet or sequence of RuleSet
        Rule sets whose MQL rate per arm to report (a replay of each).

    Returns
    -------
    ABTestResult

    Examples
    --------
    >>> from calib import load_dataset
    >>> from calib.abtest import abtest
    >>> res = abtest(load_dataset("calib-demo/data"), outcomes=("meeting",),
    ...              guardrails=("unsubscribe",))
    >>> res.srm.status, res.metric_names
    ('ok', ('meeting', 'unsubscribe'))
    >>> round(res.metric("meeting", "strict").p_adjusted, 3)
    1.0
    """
    cfg = config if config is not None else ABTestConfig(**options)
    if config is not None and options:
        raise ConfigError("Give either config or keyword options, not both.",
                          code="conflicting_options")
    rules = tuple(rules) if isinstance(rules, (list, tuple)) else (rules,)
    warnings: list[str] = []
    if assignments is None and cfg.assignments is not None:
        assignments = read_assignment_table(cfg.assignments)
    lead, arm_names, a_ns = _assignment_frame(ds, assignments)
    if len(lead) == 0:
        raise DataError("The assignments are empty.", code="empty_table")
    control, arms, planned = _arms(cfg, arm_names, warnings)
    arm_idx = pd.Index(arms).get_indexer(arm_names)
    counts = np.bincount(arm_idx, minlength=len(arms))
    srm = _srm_check(arms, counts, planned)
    timing, cfg, window = _timing(ds, cfg, lead, a_ns, arm_idx, len(arms), warnings)
    specs, times = _metric_times(ds, cfg, lead, timing, rules, warnings)
    rows, looks = _all_metric_rows(specs, times, timing, arm_idx, arms, cfg, warnings)
    return ABTestResult(config=cfg, control=control, arms=arms,
                        assigned={a: int(c) for a, c in zip(arms, counts)},
                        mature={a: int(c) for a, c in zip(arms, timing.n_mature)}, srm=srm,
                        metrics=tuple(ArmMetric(**r) for r in rows), looks=looks,
                        test_start=timing.test_start, end_of_data=ds.end_of_data,
                        snapshot=timing.snapshot, warnings=tuple(dict.fromkeys(warnings)),
                        window=window.to_dict())


LOOK_COLUMNS = ["metric", "arm", "look", "look_at", "n_control", "x_control", "n_arm",
                "x_arm", "diff", "p_naive", "p_always_valid", "cs_low", "cs_high"]


def _all_metric_rows(specs, times, timing: _Timing, arm_idx, arms, cfg: ABTestConfig,
                     warnings: list) -> tuple[list[dict], pd.DataFrame]:
    """Every metric's rows, with p-values corrected within each family, and the looks."""
    rows, look_frames = [], []
    for name, kind, role in specs:
        metric_rows, frames = _metric_rows(name, kind, role, times[name], timing, arm_idx,
                                           arms, cfg, warnings)
        rows += metric_rows
        look_frames += frames
    _adjust_within_families(rows, arms[0], cfg.correction)
    looks = pd.concat(look_frames, ignore_index=True) if look_frames else pd.DataFrame(
        columns=LOOK_COLUMNS)
    return rows, looks


def _arms(cfg: ABTestConfig, arm_names, warnings: list) -> tuple[str, tuple, ArmAllocation]:
    """The control, the arms (control first) and the planned allocation."""
    observed = list(dict.fromkeys(sorted(set(arm_names))))
    control = cfg.control
    if control is None:
        if "control" in observed:
            control = "control"
        else:
            control = observed[0]
            warnings.append(f"No arm is named 'control'; '{control}' (the first by name) is "
                            "the control. Use --control to choose.")
    if control not in observed:
        raise ConfigError(f"The control arm '{control}' has no assigned leads. Arms: "
                          f"{', '.join(observed)}.", code="unknown_arm",
                          suggestion="Name one of these arms with --control.")
    if cfg.planned is not None:
        extra = [a for a in observed if a not in cfg.planned.arms]
        if extra:
            raise ConfigError(f"Arm(s) {', '.join(extra)} have assigned leads but are not in "
                              f"the planned allocation ({cfg.planned.describe()}).",
                              code="unknown_arm",
                              suggestion="List every arm in --planned.")
        planned = cfg.planned
        arms = (control,) + tuple(a for a in planned.arms if a != control)
    else:
        arms = (control,) + tuple(a for a in observed if a != control)
        planned = ArmAllocation.equal(arms)
    if len(arms) < 2:
        raise ConfigError(f"A test needs at least 2 arms; the assignments have only "
                          f"'{control}'.", code="too_few_arms")
    return control, arms, planned


def _srm_check(arms, counts, planned: ArmAllocation) -> SRMCheck:
    """The sample-ratio check of every assigned lead, mature or not."""
    w = np.array([planned.to_dict()[a] for a in arms])
    chi2, p_srm = srm_test(counts, w)
    return SRMCheck(observed={a: int(n) for a, n in zip(arms, counts)},
                    planned={a: float(x) for a, x in zip(arms, w)}, chi2=float(chi2),
                    p_value=float(p_srm),
                    status="mismatch" if p_srm < SRM_THRESHOLD else "ok")


@dataclass(frozen=True)
class _Timing:
    """When each assigned lead counts: assignment times, window, maturity and looks."""

    a_ns: np.ndarray          # assignment times (created_at when not given)
    snapshot: bool            # no dates: no windows, no looks
    window_ns: int
    end_ns: int
    mature: np.ndarray        # the lead's window ended by the end of the data
    n_mature: np.ndarray      # per arm
    test_start: pd.Timestamp | None
    looks_t: np.ndarray | None


def _timing(ds, cfg: ABTestConfig, lead, a_ns, arm_idx, k: int, warnings: list):
    """Assignment times, the window (measured when not given) and the mature leads."""
    created_ns = ns_or_never(ds.leads["created_at"]) if "created_at" in ds.leads else None
    if created_ns is not None:
        a_ns = np.where(a_ns == NEVER, created_ns[lead], a_ns)
    dated_outcomes = "occurred_at" in ds.outcomes
    snapshot = bool((a_ns == NEVER).any() or not dated_outcomes or ds.end_of_data is None)
    if snapshot:
        warnings.append("No assignment or outcome dates: each lead's outcome counts whenever "
                        "it happened; no windows, no immature leads and no weekly looks.")
    if cfg.window_days is None:  # measured: 95% of the primary outcomes after assignment
        window, cfg = _measured_window(ds, cfg, lead, a_ns, snapshot)
    else:
        from calib.engine.delays import resolve_window
        window = resolve_window(ds, cfg.window_days, [], start="assigned")
    window_ns = int(round(cfg.window_days * NS_PER_DAY))
    end_ns = ds.end_of_data.value if ds.end_of_data is not None else NEVER
    if snapshot:
        mature = np.ones(len(lead), dtype=bool)
        test_start = None
    else:
        mature = a_ns <= end_ns - window_ns
        test_start = pd.Timestamp(int(a_ns.min()), tz="UTC")
    if not snapshot and not mature.any():
        warnings.append(f"No lead's {cfg.window_days:g}-day window has ended by the end of "
                        f"the data ({ds.end_of_data:%Y-%m-%d}): nothing can be compared yet.")
    looks_t = None if snapshot else _look_times(test_start, ds.end_of_data,
                                                cfg.look_every_days)
    timing = _Timing(a_ns=a_ns, snapshot=snapshot, window_ns=window_ns, end_ns=end_ns,
                     mature=mature, n_mature=np.bincount(arm_idx[mature], minlength=k),
                     test_start=test_start, looks_t=looks_t)
    return timing, cfg, window


def _metric_times(ds, cfg: ABTestConfig, lead, timing: _Timing, rules, warnings: list):
    """Every metric's (name, kind, role) and its time per assigned lead (NEVER if none)."""
    from calib.engine.replay import first_outcome_times

    specs = _resolve_metrics(ds, cfg)
    outcome_needed = [n for n, kind, _ in specs if kind == "outcome"]
    otimes = first_outcome_times(ds, outcome_needed) if outcome_needed else {}
    if not timing.snapshot and not timing.mature.any() and otimes:
        from calib.engine.delays import window_hint
        hint = window_hint({n: otimes[n][lead] for n in otimes}, timing.a_ns, timing.end_ns)
        if hint:
            warnings[-1] += " " + hint
    times: dict[str, np.ndarray] = {}
    for name, kind, _ in specs:
        if kind == "outcome":
            times[name] = otimes[name][lead]
        else:
            times[name] = _first_event_after(ds, lead, np.where(timing.a_ns == NEVER, 0,
                                                                timing.a_ns), name)
    names = [rs.name for rs in rules]
    if len(set(names)) < len(names):
        raise ConfigError(f"Two rule sets share a name ({', '.join(names)}); their MQL "
                          "rates could not be told apart.", code="duplicate_name",
                          suggestion="Give each rule set its own 'name'.")
    for rs in rules:
        name = f"mql:{rs.name}"
        times[name] = _mql_times(ds, rs, lead, cfg.window_days)
        specs.append((name, "mql", "secondary"))
    return specs, times


def _metric_rows(name, kind, role, t, timing: _Timing, arm_idx, arms, cfg: ABTestConfig,
                 warnings: list) -> tuple[list[dict], list]:
    """One metric's row per arm (counts, rate, comparison with the control) and its
    weekly look history per treatment arm."""
    k = len(arms)
    occurred = t != NEVER
    if timing.snapshot:
        success = occurred
        before = np.zeros(len(t), dtype=bool)
    else:
        a_ns, mature = timing.a_ns, timing.mature
        success = mature & occurred & (t >= a_ns) & (t - a_ns <= timing.window_ns)
        before = mature & occurred & (t < a_ns)
    x = np.bincount(arm_idx[success], minlength=k)
    n = timing.n_mature
    n_before = np.bincount(arm_idx[before], minlength=k)
    if kind == "outcome" and n_before.sum():
        warnings.append(f"{int(n_before.sum())} lead(s) had their first '{name}' before "
                        "they were assigned; they count as failures.")
    lo, hi = proportion_ci(x, n, alpha=cfg.alpha)
    lo, hi = np.atleast_1d(lo), np.atleast_1d(hi)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(n > 0, x / np.maximum(n, 1), np.nan)
    looks_t = timing.looks_t
    cum = None
    if looks_t is not None and len(looks_t):
        cum = _look_counts(looks_t, timing.a_ns + timing.window_ns, timing.mature, success,
                           arm_idx, k)
    rows, frames = [], []
    for j, arm in enumerate(arms):
        row = dict(metric=name, kind=kind, role=role, arm=arm, n=int(n[j]),
                   successes=int(x[j]), rate=float(rate[j]), ci_low=float(lo[j]),
                   ci_high=float(hi[j]), before_assignment=int(n_before[j]))
        if j > 0:
            row.update(_compare(int(x[j]), int(n[j]), int(x[0]), int(n[0]), arm, arms[0], cfg))
            if cum is not None:
                frame, p_av, cs = _history(name, arm, looks_t, cum, j, cfg)
                frames.append(frame)
            elif row["status"] != "no_data":
                p_av = float(always_valid_pvalue(x[j], n[j], x[0], n[0], tau=cfg.tau))
                cs = confidence_sequence(x[j], n[j], x[0], n[0], alpha=cfg.alpha, tau=cfg.tau)
            if row["status"] != "no_data":
                row["p_always_valid"] = p_av
                row["cs_low"], row["cs_high"] = float(cs[0]), float(cs[1])
        rows.append(row)
    return rows, frames


def _adjust_within_families(rows: list[dict], control: str, correction: str) -> None:
    """Correct the p-values of each family (primary, guardrail, secondary) in place."""
    for role in ROLES:
        idx = [i for i, r in enumerate(rows) if r["role"] == role and r["arm"] != control]
        if not idx:
            continue
        for src, dst in (("p_value", "p_adjusted"), ("p_always_valid", "p_always_valid_adjusted")):
            p = np.array([rows[i].get(src, np.nan) for i in idx], dtype=float)
            adj = adjust_pvalues(p, method=correction)
            for i, v in zip(idx, adj):
                rows[i][dst] = float(v)


def _measured_window(ds, cfg: ABTestConfig, lead, a_ns, snapshot: bool):
    """The window measured from the assignment times to the primary outcomes (the first
    sales outcome among them when none were chosen) and the config with it."""
    from dataclasses import replace

    from calib.engine.delays import DelayWindow, QUANTILE, window_from_times
    from calib.engine.replay import first_outcome_times

    if snapshot:
        w = DelayWindow(days=90.0, source="snapshot", start="assigned", quantile=QUANTILE,
                        sentence="snapshot data: no window needed")
        return w, replace(cfg, window_days=w.days)
    primary = [n for n, kind, role in _resolve_metrics(ds, cfg)
               if kind == "outcome" and role == "primary"]
    if cfg.outcomes is None:
        primary = [o for o in ("meeting", "sql", "opportunity", "won") if o in primary][:1] \
            or primary
    times = first_outcome_times(ds, primary) if primary else {}
    w = window_from_times({n: times[n][lead] for n in times}, a_ns)
    return w, replace(cfg, window_days=w.days)


def _compare(x1, n1, x0, n0, arm, control, cfg) -> dict:
    """Arm (1) against control (0)."""
    res = compare_proportions(x1, n1, x0, n0, alpha=cfg.alpha)
    out = dict(diff=res.diff, diff_low=res.diff_low, diff_high=res.diff_high, lift=res.lift,
               lift_low=res.lift_low, lift_high=res.lift_high, test=res.test,
               p_value=res.p_value, status=res.status, reason=res.reason)
    if res.status == "no_data":
        who = arm if n1 == 0 else control
        out["reason"] = (f"no lead of arm '{who}' is mature yet (its window has not ended)"
                         if n1 == 0 or n0 == 0 else res.reason)
        return out
    out["prob_beat"] = float(prob_beat(x1, n1, x0, n0))
    if res.status == "ok" and (x1 == 0 or x0 == 0):
        who = arm if x1 == 0 else control
        out["status"] = "zero_successes"
        out["reason"] = (f"no successes in arm '{who}': the difference and its test are "
                         "reported, the relative lift has no interval")
    return out


def _look_times(start, end, every_days) -> np.ndarray:
    """Look times (ns): every ``every_days`` after the start, plus the end of data."""
    step = int(round(every_days * NS_PER_DAY))
    s, e = start.value, end.value
    t = np.arange(s + step, e + 1, step, dtype=np.int64)
    if len(t) == 0 or t[-1] < e:
        t = np.append(t, e)
    return t


def _look_counts(looks_t, mature_at, mature, success, arm_idx, k):
    """Cumulative (n, x) per look and arm: leads whose window ended by each look."""
    li = np.searchsorted(looks_t, mature_at[mature], side="left")
    a = arm_idx[mature]
    n_looks = len(looks_t)
    n = np.bincount(li * k + a, minlength=n_looks * k).reshape(n_looks, k).cumsum(axis=0)
    x = np.bincount(li * k + a, weights=success[mature].astype(float),
                    minlength=n_looks * k).reshape(n_looks, k).cumsum(axis=0)
    return n, x


def _history(name, arm, looks_t, cum, j, cfg):
    n, x = cum
    nj, xj, n0, x0 = n[:, j], x[:, j], n[:, 0], x[:, 0]
    started = (nj > 0) & (n0 > 0)
    av = always_valid_pvalue(xj, nj, x0, n0, tau=cfg.tau, axis=0)
    lo, hi = confidence_sequence(xj, nj, x0, n0, alpha=cfg.alpha, tau=cfg.tau, axis=0)
    _, p_naive = two_proportion_ztest(xj, nj, x0, n0)
    with np.errstate(invalid="ignore", divide="ignore"):
        diff = np.where(started, xj / np.maximum(nj, 1) - x0 / np.maximum(n0, 1), np.nan)
    frame = pd.DataFrame({
        "metric": name, "arm": arm, "look": np.arange(1, len(looks_t) + 1),
        "look_at": pd.to_datetime(looks_t, utc=True), "n_control": n0.astype(int),
        "x_control": x0.astype(int), "n_arm": nj.astype(int), "x_arm": xj.astype(int),
        "diff": diff, "p_naive": np.atleast_1d(p_naive), "p_always_valid": np.atleast_1d(av),
        "cs_low": np.atleast_1d(lo), "cs_high": np.atleast_1d(hi)})
    frame = frame[started].reset_index(drop=True)
    p_av = float(np.atleast_1d(av)[-1])
    cs = (float(np.atleast_1d(lo)[-1]), float(np.atleast_1d(hi)[-1]))
    return frame, p_av, cs


def _mql_times(ds, rules, lead, window_days) -> np.ndarray:
    """Each assigned lead's MQL time under a rule set (NEVER if none; 0 in snapshots)."""
    from calib.engine import replay

    res = replay(ds, rules, window_days=window_days, per_lead=True)
    pl = res.per_lead
    pos = pd.Index(pl["lead_id"].astype("string")).get_indexer(
        ds.leads["lead_id"].astype("string").to_numpy()[lead])
    if "mql_at" in pl:
        t_ns = ns_or_never(pl["mql_at"])
    else:
        t_ns = np.where(pl["mql"].to_numpy(), 0, NEVER)
    out = np.where(pos >= 0, t_ns[np.maximum(pos, 0)], NEVER)
    return out
