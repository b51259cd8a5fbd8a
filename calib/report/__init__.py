"""The review report: a folder with ``report.md``, ``report.html``, the figures and the
tables behind them (:func:`calib.report.render.write_report`).

Every figure of the report is a display (as scikit-learn's ``CalibrationDisplay``):
``Display.from_result(result)`` takes the data from a run's result and
``plot(ax=None)`` draws it on matplotlib Axes, so that a notebook draws the report's
figures, or draws them on its own Axes. Importing this package loads no plotting
library; the displays load matplotlib when first used.

==========================  ===================================================
``FunnelDisplay``           current vs proposed per stage (page 1)
``TradeoffDisplay``         rate and recall against MQL volume by cutoff
``ScoreDistributionDisplay`` peak scores with and without the outcome
``BandsDisplay``            outcome rate by highest score band
``DecayDisplay``            the decay profile
``ReliabilityDisplay``      predicted vs observed, out of time
``WhoMovesDisplay``         leads that change MQL status
``FitEngagementDisplay``    leads per fit x engagement cell with the cutoffs
``ABTestDisplay``           a live test's differences with intervals
``DriftDisplay``            drift by period of creation
``SpeedToLeadDisplay``      outcome rate by time to first touch
==========================  ===================================================
"""

from importlib import import_module

_EXPORTS = {
    "Display": "calib.report.figures",
    "FunnelDisplay": "calib.report.figures",
    "TradeoffDisplay": "calib.report.figures",
    "ScoreDistributionDisplay": "calib.report.figures",
    "BandsDisplay": "calib.report.figures",
    "DecayDisplay": "calib.report.figures",
    "ReliabilityDisplay": "calib.report.figures",
    "WhoMovesDisplay": "calib.report.figures",
    "ABTestDisplay": "calib.report.figures",
    "FitEngagementDisplay": "calib.report.grid",
    "DriftDisplay": "calib.report.refine",
    "SpeedToLeadDisplay": "calib.report.refine",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'calib.report' has no attribute {name!r}")
    value = globals()[name] = getattr(import_module(module), name)
    return value
