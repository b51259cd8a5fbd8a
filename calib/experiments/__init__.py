"""Live A/B tests and offline rule-set comparisons.

========================  =====================================================
``assign``                deterministic, stateless arm assignment (hash of
                          experiment name and lead id), incremental
``plan_test``             leads, weeks and detectable effect of a live test
``abtest``                analysis of a live test: rates per arm, differences,
                          corrections, sample-ratio check, Bayesian and
                          always-valid inference, guardrails
``compare_rules``         offline A/B of two rule sets on the same leads: paired
                          bootstrap differences, McNemar, who moves
========================  =====================================================
"""

from calib.experiments.assign import (ArmAllocation, AssignmentResult, assign, assign_arms,
                                      hash_units, read_assignment_table)
from calib.experiments.compare import ComparisonResult, compare_rules
from calib.experiments.live import ABTestConfig, ABTestResult, ArmMetric, SRMCheck, abtest
from calib.experiments.plan import TestPlan, plan_test

__all__ = ["ABTestConfig", "ABTestResult", "ArmAllocation", "ArmMetric", "AssignmentResult",
           "ComparisonResult", "SRMCheck", "TestPlan", "abtest", "assign", "assign_arms",
           "compare_rules", "hash_units", "plan_test", "read_assignment_table"]
