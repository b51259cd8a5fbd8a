"""Learning a rule set from outcomes: points, decay and cutoffs, validated out of time.

==========================  ==========================================================
``fit``                     the whole job: examples, decay profile, points, cutoffs,
                            review of the current rules, out-of-time comparison
``FitConfig``               every option of ``fit`` (frozen; ``from_dict``/``to_dict``)
``evaluate``                the out-of-time comparison of any candidate rule set
``FitResult``               its result (``to_dict``, ``to_frame``, ``summary``)
``build_examples``          point-in-time training examples (no leakage)
``profile_decay``           decay kinds and parameter by profile likelihood
``cutoff_curve``            volume and hit rate of every cutoff in one pass
==========================  ==========================================================
"""

from calib.fit.config import FitConfig
from calib.fit.cutoffs import cutoff_curve
from calib.fit.decay import DecayProfile, profile_decay
from calib.fit.examples import Examples, build_examples, truncate
from calib.fit.fit import FitResult, evaluate, fit

__all__ = ["fit", "FitConfig", "evaluate", "FitResult", "build_examples", "Examples", "truncate", "profile_decay",
           "DecayProfile", "cutoff_curve"]
