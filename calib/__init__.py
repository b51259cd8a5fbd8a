"""calib: test lead-scoring rules against your own history before you change anything live.

The public API is re-exported here; heavy modules load on first use so that
``import calib`` and ``calib --help`` stay fast.
"""

from importlib import import_module

__version__ = "0.1.0"

_EXPORTS = {
    "load_dataset": "calib.data",
    "Dataset": "calib.data",
    "ColumnMapping": "calib.data",
    "load_rules": "calib.rules",
    "RuleSet": "calib.rules",
    "replay": "calib.engine",
    "ReplayResult": "calib.engine",
    "sweep": "calib.engine.sweep",
    "SweepResult": "calib.engine.sweep",
    "score_as_of": "calib.engine.score",
    "compare_rules": "calib.compare",
    "FitConfig": "calib.fit",
    "load_experiment": "calib.pipeline",
    "run_experiment": "calib.pipeline",
    "generate_demo": "calib.demo",
    "RuleHistory": "calib.refine",
    "check_prediction": "calib.refine",
    "drift_audit": "calib.refine",
    "speed_to_lead": "calib.refine",
    "sales_feedback": "calib.refine",
    "CalibError": "calib.errors",
    "ConfigError": "calib.errors",
    "DataError": "calib.errors",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name):
    if name in _EXPORTS:
        obj = getattr(import_module(_EXPORTS[name]), name)
        globals()[name] = obj
        return obj
    raise AttributeError(f"module 'calib' has no attribute {name!r}")

