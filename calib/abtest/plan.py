"""Planning a live threshold test (``calib plan``): leads, weeks, detectable effect.

The numbers come from :mod:`calib.stats.planning` (the pooled z-test that ``calib
abtest`` runs; with equal arms the same as R's ``power.prop.test``). With more than two
arms each treatment arm is compared with the control and alpha is split over the
comparisons (Bonferroni), as ``calib abtest`` corrects for them.

Duration has two parts: the weeks needed to *enrol* the leads (``total / leads per
week``) and the attribution window after the last lead is assigned, since a lead's
outcome counts only within ``window_days`` of its assignment and ``calib abtest``
leaves out leads whose window is not over. The read-out is possible after
``weeks_to_enrol + window_days / 7`` weeks.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import pandas as pd

from calib.errors import ConfigError
from calib.stats import StatsInputError, mde, power, sample_size


def _check(cond: bool, message: str, code: str = "out_of_range", suggestion=None) -> None:
    if not cond:
        raise ConfigError(message, code=code, suggestion=suggestion)


@dataclass(frozen=True)
class TestPlan:
    """A sample-size plan for a live test of one rate (one outcome).

    Attributes
    ----------
    baseline_rate : float
        Rate in the control arm.
    mde_absolute, mde_relative : float
        Smallest effect the test detects with the stated power: ``p_t - p_c`` and
        ``p_t / p_c - 1``.
    treatment_rate : float
        ``baseline_rate + mde_absolute``.
    alpha, power : float
        Two-sided level (before the split over treatment arms) and power.
    arms : int
        Number of arms including the control.
    ratio : float
        Leads in each treatment arm per lead in the control arm.
    n_control, n_treatment : int
        Leads per arm (rounded up; fractional when solved from a given size).
    n_total : int
        Leads over all arms.
    leads_per_week : float or None
        Leads entering the test per week (all arms together).
    weeks_to_enrol : float or None
        ``n_total / leads_per_week``.
    window_days : float
        Attribution window; the read-out comes ``window_days`` after enrolment ends.
    weeks_until_readout : float or None
        ``weeks_to_enrol + window_days / 7``.
    solved_for : {"sample_size", "mde"}
        What was computed from what.
    """

    __test__ = False  # not a pytest class, despite the name

    baseline_rate: float
    mde_absolute: float
    mde_relative: float
    treatment_rate: float
    alpha: float
    power: float
    arms: int
    ratio: float
    n_control: float
    n_treatment: float
    n_total: float
    leads_per_week: float | None
    weeks_to_enrol: float | None
    window_days: float
    weeks_until_readout: float | None
    solved_for: str
    method: str = "normal"

    def to_dict(self) -> dict:
        """JSON-safe dict of every field (what ``calib plan --json`` prints)."""
        d = asdict(self)
        for k, v in d.items():
            if isinstance(v, float) and not math.isfinite(v):
                d[k] = None
        return d

    def to_frame(self) -> pd.DataFrame:
        """One row per arm: role, leads and rate."""
        rows = [{"arm": "control", "leads": self.n_control, "rate": self.baseline_rate}]
        rows += [{"arm": f"treatment {i}", "leads": self.n_treatment,
                  "rate": self.treatment_rate} for i in range(1, self.arms)]
        return pd.DataFrame(rows)

    def summary(self) -> str:
        """The plan as text: effect, leads per arm, duration and the test it assumes."""
        comparisons = self.arms - 1
        level = (f"two-sided alpha {self.alpha:g}"
                 + (f" split over {comparisons} comparisons with the control "
                    f"({self.alpha / comparisons:.3g} each)" if comparisons > 1 else ""))
        head = ("Sample size" if self.solved_for == "sample_size"
                else "Minimum detectable effect")
        if not math.isfinite(self.mde_absolute):
            return (f"{head}: no increase over a baseline of {self.baseline_rate:.2%} is "
                    f"detectable with {self.n_control:,.0f} leads per arm at power "
                    f"{self.power:.0%} ({level}). More leads are needed.")
        lines = [f"{head} for a test of a {self.baseline_rate:.2%} baseline rate, "
                 f"{level}, power {self.power:.0%}:",
                 f"  detectable effect  {100 * self.mde_absolute:+.2f} percentage points "
                 f"({self.mde_relative:+.1%} relative): {self.baseline_rate:.2%} -> "
                 f"{self.treatment_rate:.2%}"]
        n_t = (f"{self.n_treatment:,.0f} in each of {comparisons} treatment arms"
               if comparisons > 1 else f"{self.n_treatment:,.0f} in the treatment arm")
        lines.append(f"  leads              {self.n_control:,.0f} in the control arm, {n_t}; "
                     f"{self.n_total:,.0f} in total")
        if self.weeks_to_enrol is not None:
            lines.append(f"  duration           {self.weeks_to_enrol:.1f} weeks to enrol at "
                         f"{self.leads_per_week:,.0f} leads per week, then "
                         f"{self.window_days:g} days for the last leads' window: read-out "
                         f"after about {self.weeks_until_readout:.1f} weeks")
        else:
            lines.append("  duration           give --leads-per-week for the weeks needed")
        lines.append("  (pooled two-proportion z-test, normal approximation; equal to R's "
                     "power.prop.test for 2 equal arms)")
        return "\n".join(lines)


def _common(baseline_rate, alpha, power_, arms, ratio, leads_per_week, window_days):
    _check(isinstance(baseline_rate, (int, float)) and 0 < baseline_rate < 1,
           f"The baseline rate must be in (0, 1). Got {baseline_rate!r}.",
           suggestion="Write a rate as a share: 0.12 for 12%.")
    _check(0 < alpha < 1, f"--alpha must be in (0, 1). Got {alpha!r}.")
    _check(0 < power_ < 1, f"--power must be in (0, 1). Got {power_!r}.")
    _check(isinstance(arms, int) and arms >= 2, f"--arms must be a whole number >= 2 (the "
           f"control counts). Got {arms!r}.")
    _check(ratio > 0, f"--ratio must be > 0. Got {ratio!r}.")
    _check(leads_per_week is None or leads_per_week > 0,
           f"--leads-per-week must be > 0. Got {leads_per_week!r}.")
    _check(window_days >= 0, f"--window-days must be >= 0. Got {window_days!r}.")


def plan_test(baseline_rate: float, effect: float | None = None, *, relative: bool = False,
              alpha: float = 0.05, power: float = 0.8, arms: int = 2, ratio: float = 1.0,
              leads_per_week: float | None = None, weeks: float | None = None,
              n_per_arm: float | None = None, window_days: float = 90.0) -> TestPlan:
    """Plan a live test: leads needed for an effect, or the effect detectable with the
    leads available.

    Give exactly one of ``effect`` (-> sample size and duration), ``weeks`` (with
    ``leads_per_week``; -> detectable effect) or ``n_per_arm`` (control-arm leads;
    -> detectable effect).

    Parameters
    ----------
    baseline_rate : float
        The control arm's rate, e.g. meetings per assigned lead within the window.
    effect : float, optional
        Effect to detect: an absolute difference (``0.02`` = 2 percentage points), or
        relative to the baseline with ``relative=True`` (``0.2`` = +20%). Negative
        effects are allowed (a stricter threshold may lower a rate).
    relative : bool, default False
        Whether ``effect`` is relative. The detectable effect is always reported both ways.
    alpha : float, default 0.05
        Two-sided level, split over the ``arms - 1`` comparisons with the control.
    power : float, default 0.8
        Chance of detecting the effect if it is real.
    arms : int, default 2
        Arms including the control.
    ratio : float, default 1.0
        Leads per treatment arm per lead in the control arm.
    leads_per_week : float, optional
        Leads entering the test per week, all arms together.
    weeks : float, optional
        Enrolment weeks available (needs ``leads_per_week``).
    n_per_arm : float, optional
        Leads in the control arm (each treatment arm gets ``ratio`` times as many).
    window_days : float, default 90
        Attribution window; adds to the duration.

    Returns
    -------
    TestPlan

    Examples
    --------
    >>> p = plan_test(0.10, 0.02, leads_per_week=500)
    >>> p.n_control, p.n_total, round(p.weeks_to_enrol, 1)  # R power.prop.test: n = 3840.85
    (3841, 7682, 15.4)
    >>> round(plan_test(0.10, weeks=15.364, leads_per_week=500).mde_absolute, 4)
    0.02
    """
    _common(baseline_rate, alpha, power, arms, ratio, leads_per_week, window_days)
    given = [x is not None for x in (effect, weeks, n_per_arm)]
    _check(sum(given) == 1, "Give exactly one of --mde (for the sample size), --weeks or "
           "--n-per-arm (for the detectable effect).", code="conflicting_options")
    n_treatments = arms - 1
    p_c = float(baseline_rate)
    design = dict(alpha=alpha, power=power, ratio=ratio, n_treatments=n_treatments)
    try:
        if effect is not None:
            d, n_c, n_t = _leads_for(p_c, effect, relative, design)
            solved = "sample_size"
        else:
            d, n_c, n_t = _effect_for(p_c, weeks, leads_per_week, n_per_arm, design)
            solved = "mde"
    except StatsInputError as e:  # a combination the formulas cannot take
        raise ConfigError(str(e), code=e.code) from None
    n_total = n_c + n_treatments * n_t
    weeks_enrol = n_total / leads_per_week if leads_per_week else None
    if weeks is not None:
        weeks_enrol = float(weeks)
    readout = weeks_enrol + window_days / 7 if weeks_enrol is not None else None
    return TestPlan(baseline_rate=p_c, mde_absolute=d, mde_relative=d / p_c,
                    treatment_rate=p_c + d, alpha=float(alpha), power=float(power),
                    arms=int(arms), ratio=float(ratio), n_control=n_c, n_treatment=n_t,
                    n_total=n_total, leads_per_week=leads_per_week,
                    weeks_to_enrol=weeks_enrol, window_days=float(window_days),
                    weeks_until_readout=readout, solved_for=solved)


def _leads_for(p_c: float, effect: float, relative: bool, design: dict):
    """The effect and the leads per control and treatment arm (rounded up) to detect it."""
    _check(effect != 0, "--mde must not be 0: no test can detect a zero effect.")
    d = effect * p_c if relative else float(effect)
    p_t = p_c + d
    _check(0 <= p_t <= 1, f"The baseline rate plus the effect must be a rate in "
           f"[0, 1]. Got {p_c:g} + {d:g} = {p_t:g}.",
           suggestion="Use --relative for an effect relative to the baseline.")
    n_c = math.ceil(float(sample_size(p_c, p_t, **design)) - 1e-9)
    return d, n_c, math.ceil(design["ratio"] * n_c - 1e-9)


def _effect_for(p_c: float, weeks, leads_per_week, n_per_arm, design: dict):
    """The detectable effect and the leads per arm of the weeks (or leads) available."""
    ratio, n_treatments = design["ratio"], design["n_treatments"]
    if weeks is not None:
        _check(weeks > 0, f"--weeks must be > 0. Got {weeks!r}.")
        _check(leads_per_week is not None, "--weeks needs --leads-per-week.",
               code="conflicting_options")
        n_c = weeks * leads_per_week / (1 + n_treatments * ratio)
    else:
        _check(n_per_arm > 0, f"--n-per-arm must be > 0. Got {n_per_arm!r}.")
        n_c = float(n_per_arm)
    return float(mde(p_c, n_c, **design)), n_c, ratio * n_c


def achieved_power(plan: TestPlan) -> float:
    """The power the plan's sample has against its effect (a check of the plan).

    Parameters
    ----------
    plan : TestPlan

    Returns
    -------
    float
        At least the plan's ``power`` when the leads were rounded up.

    Examples
    --------
    >>> round(achieved_power(plan_test(0.10, 0.02)), 4)
    0.8
    """
    return float(power(plan.baseline_rate, plan.treatment_rate, plan.n_control,
                       alpha=plan.alpha, ratio=plan.ratio, n_treatments=plan.arms - 1))
