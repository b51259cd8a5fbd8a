"""Refinement reviews: does the next review confirm the last one?

==========================  ===================================================
``RuleHistory``             the rule sets that were live and since when
``check_prediction``        the earlier review's prediction for the adopted rule
                            set against what happened since
``before_after``            the history replayed under the old and the new rules
``drift_audit``             score (PSI), volume, conversion per band and event mix
                            by month or week of creation
``speed_to_lead``           time from MQL to sales' first touch, outcome rate by
                            response time, service-level verdict
``sales_feedback``          rejection rate per band and per rule
``refine``                  all of the above as one ``RefinementResult``
==========================  ===================================================
"""

from calib.refine.config import RefineConfig
from calib.refine.drift import DriftResult, drift_audit
from calib.refine.feedback import FeedbackResult, sales_feedback
from calib.refine.history import (
                                  BeforeAfter,
                                  HistoryEntry,
                                  PredictionCheck,
                                  RuleHistory,
                                  as_of,
                                  before_after,
                                  check_prediction,
                                  load_previous,
                                  review_summary,
)
from calib.refine.review import RefinementResult, refine
from calib.refine.speed import SpeedResult, speed_to_lead

__all__ = ["BeforeAfter", "DriftResult", "FeedbackResult", "HistoryEntry", "PredictionCheck",
           "RefineConfig", "RefinementResult", "RuleHistory", "SpeedResult", "as_of",
           "before_after", "check_prediction", "drift_audit", "load_previous", "refine",
           "review_summary", "sales_feedback", "speed_to_lead"]
