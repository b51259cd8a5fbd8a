"""Live A/B tests of thresholds: assignment, planning and analysis.

========================  =====================================================
``assign``                deterministic, stateless arm assignment (hash of
                          experiment name and lead id), incremental
``plan_test``             leads, weeks and detectable effect of a live test
``abtest``                analysis of a live test: rates per arm, differences,
                          corrections, sample-ratio check, Bayesian and
                          always-valid inference, guardrails
========================  =====================================================

Offline comparisons of two rule sets on the same leads are in :mod:`calib.compare`.
"""

from calib.abtest.assign import (ArmAllocation, AssignmentResult, assign, assign_arms,
                                 hash_units, read_assignment_table)
from calib.abtest.config import ABTestConfig
from calib.abtest.live import ABTestResult, ArmMetric, SRMCheck, abtest
from calib.abtest.plan import TestPlan, plan_test

__all__ = ["ABTestConfig", "ABTestResult", "ArmAllocation", "ArmMetric", "AssignmentResult",
           "SRMCheck", "TestPlan", "abtest", "assign", "assign_arms", "hash_units", "plan_test",
           "read_assignment_table"]
