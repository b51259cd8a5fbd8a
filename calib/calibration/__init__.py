"""Score -> probability calibration, reliability, discrimination, lift and drift.

``calibrate`` (the job, returning a ``CalibrationResult``), ``fit_map`` (isotonic or
Platt map) and the metrics of :mod:`calib.calibration.metrics`.
"""

from calib.calibration.calibrate import CalibrationMap, CalibrationResult, calibrate, fit_map
from calib.calibration.metrics import (auc, brier_score, expected_calibration_error,
                                       ks_statistic, lift_table, log_loss, psi, psi_level,
                                       reliability_table)

__all__ = ["calibrate", "CalibrationResult", "CalibrationMap", "fit_map", "auc", "brier_score",
           "expected_calibration_error", "ks_statistic", "lift_table", "log_loss", "psi",
           "psi_level", "reliability_table"]
