"""Rule-set configuration: parse, validate, round-trip (SPEC section 2)."""

from calib.rules.config import (
    BehaviorRule,
    Decay,
    FitRule,
    Limits,
    RuleSet,
    Thresholds,
)
from calib.rules.io import dumps_rules, load_rules, read_toml, write_rules

__all__ = ["BehaviorRule", "Decay", "FitRule", "Limits", "RuleSet", "Thresholds",
           "load_rules", "dumps_rules", "read_toml", "write_rules"]
