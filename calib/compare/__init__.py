"""Offline A/B of two rule sets on the same leads: paired bootstrap differences,
McNemar's test and who moves (:func:`compare_rules`)."""

from calib.compare.paired import ComparisonResult, compare_rules

__all__ = ["ComparisonResult", "compare_rules"]
