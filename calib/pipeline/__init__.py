"""The job layer: experiment files, the main job and its recommendations.

Everything here sits above the library (``data``, ``rules``, ``engine``, ``stats``,
``fit``, ``calibration``, ``abtest``, ``compare``, ``report``, ``distributed``): it reads
an experiment file (:func:`load_experiment`), runs every step it asks for
(:func:`run_experiment`) and judges the proposal and each change in it
(:func:`recommend`).
"""

from calib.pipeline.experiment import DataConfig, Experiment, ReportConfig, load_experiment
from calib.pipeline.recommend import Recommendations, recommend
from calib.pipeline.run import ExperimentResult, run_experiment

__all__ = ["DataConfig", "Experiment", "ExperimentResult", "Recommendations", "ReportConfig",
           "load_experiment", "recommend", "run_experiment"]
