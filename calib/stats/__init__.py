"""Statistics for comparing conversion rates: intervals, tests, planning, peeking guards.

numpy, with scipy and statsmodels where they compute the same thing (imported inside
the functions, so that ``import calib`` stays light); never plots. calib keeps its own
code only where they lack something: the Wilson interval of every replay (without
loading scipy), the score interval for a difference (statsmodels 0.15's is wrong),
vectorised z-tests and the edge rules at ``x == 0`` and ``x == n``.

Functions are vectorised over arrays of counts where that makes sense, return ``nan``
(not an exception) where a valid input has no estimable answer (an arm with no
trials, no variation), and raise :class:`StatsInputError` on bad input.

Every two-arm function takes the treatment arm first and the control second:
``f(x_treatment, n_treatment, x_control, n_control)``; differences are treatment
minus control and ``prob_beat`` is ``P(treatment > control)``.

========================  =====================================================
``proportion_ci``         interval for one rate (Wilson, Agresti-Coull, Jeffreys,
                          Clopper-Pearson)
``diff_ci``               interval for ``p1 - p2`` (Newcombe, score, Wald,
                          Agresti-Caffo)
``ratio_ci``              interval for the lift ``p1 / p2 - 1`` (Katz log)
``two_proportion_ztest``  pooled z-test
``exact_test``            Fisher's (or Boschloo's) exact test
``compare_proportions``   difference, lift, intervals and the suitable test
``comparison_status``     whether two rates can be compared, and why not
``srm_test``              sample-ratio mismatch chi-square test
``adjust_pvalues``        Holm, Benjamini-Hochberg, Bonferroni
``mcnemar``               paired test for the same leads under two rule sets
``sample_size``           leads per arm for a given power
``power``                 power for a given sample
``mde``                   minimum detectable effect for a given sample
``prob_beat``             posterior probability that treatment beats control
``always_valid_pvalue``   mSPRT p-value safe under continuous monitoring
``confidence_sequence``   interval for ``p1 - p2`` valid at every look
``spending_bounds``       Lan-DeMets group-sequential boundaries
========================  =====================================================
"""

from calib.stats._validation import StatsInputError
from calib.stats.bayes import prob_beat
from calib.stats.intervals import diff_ci, proportion_ci, ratio_ci
from calib.stats.multiple import adjust_pvalues
from calib.stats.planning import mde, power, sample_size
from calib.stats.sequential import (
    SpendingPlan,
    always_valid_pvalue,
    confidence_sequence,
    spending_bounds,
)
from calib.stats.significance import (
    ProportionComparison,
    compare_proportions,
    comparison_status,
    exact_test,
    mcnemar,
    srm_test,
    two_proportion_ztest,
)

__all__ = [
    "ProportionComparison",
    "SpendingPlan",
    "StatsInputError",
    "adjust_pvalues",
    "always_valid_pvalue",
    "compare_proportions",
    "comparison_status",
    "confidence_sequence",
    "diff_ci",
    "exact_test",
    "mcnemar",
    "mde",
    "power",
    "prob_beat",
    "proportion_ci",
    "ratio_ci",
    "sample_size",
    "spending_bounds",
    "srm_test",
    "two_proportion_ztest",
]
