"""Test planning: sample sizes and detectable effects against calib.stats and R."""

from __future__ import annotations

import json
import math

import pytest

from calib.cli.main import main
from calib.errors import ConfigError
from calib.abtest import plan_test
from calib.abtest.plan import achieved_power
from calib.stats import sample_size

# Reference values from R 4.2.2 (stats::power.prop.test, default strict = FALSE):
#   power.prop.test(p1=.1, p2=.12, power=.8)$n                    -> 3840.847482
#   power.prop.test(p1=.5, p2=.75, power=.9)$n                    -> 76.70693011
#   power.prop.test(p1=.2, p2=.22, power=.8)$n                    -> 6509.466679
#   power.prop.test(p1=.1, p2=.12, power=.8, sig.level=.025)$n    -> 4651.417887
#   power.prop.test(p1=.05, p2=.06, power=.9, sig.level=.025)$n   -> 12899.19203
#   power.prop.test(n=50, p1=.5, power=.9, tol=1e-12)$p2          -> 0.8026305817
#   power.prop.test(n=3000, p1=.2, power=.8, tol=1e-12)$p2        -> 0.2297042385
R_N = [
    (0.10, 0.12, 0.05, 0.8, 3840.847482),
    (0.50, 0.75, 0.05, 0.9, 76.70693011),
    (0.20, 0.22, 0.05, 0.8, 6509.466679),
    (0.05, 0.06, 0.025, 0.9, 12899.19203),
]


@pytest.mark.parametrize("p1,p2,alpha,pw,r_n", R_N)
def test_sample_size_matches_r_and_calib_stats(p1, p2, alpha, pw, r_n):
    plan = plan_test(p1, p2 - p1, alpha=alpha, power=pw)
    assert plan.n_control == math.ceil(r_n)
    assert plan.n_control == math.ceil(sample_size(p1, p2, alpha=alpha, power=pw))
    assert plan.n_total == 2 * plan.n_control
    assert plan.solved_for == "sample_size"
    # the plan reaches the power, one lead fewer would not
    assert achieved_power(plan) >= pw
    assert achieved_power(plan.__class__(**{**plan.__dict__,
                                            "n_control": plan.n_control - 1})) < pw


def test_three_arms_split_alpha_like_r_with_half_the_level():
    # 2 treatment arms at alpha 0.05 -> each comparison at 0.025 (Bonferroni); R above
    plan = plan_test(0.10, 0.02, arms=3)
    assert plan.n_control == math.ceil(4651.417887)
    assert plan.n_total == 3 * plan.n_control


def test_relative_effect_is_the_same_plan():
    a = plan_test(0.10, 0.02)
    b = plan_test(0.10, 0.20, relative=True)
    assert a.n_control == b.n_control
    assert math.isclose(b.mde_relative, 0.2) and math.isclose(b.mde_absolute, 0.02)


def test_negative_effect_needs_the_mirror_sample_size():
    plan = plan_test(0.12, -0.02)
    assert plan.n_control == math.ceil(sample_size(0.12, 0.10))


@pytest.mark.parametrize("kwargs,r_p2", [
    ({"baseline_rate": 0.5, "n_per_arm": 50, "power": 0.9}, 0.8026305817),
    ({"baseline_rate": 0.2, "weeks": 12, "leads_per_week": 500}, 0.2297042385),  # 3000/arm
])
def test_reverse_gives_the_r_detectable_rate(kwargs, r_p2):
    plan = plan_test(**kwargs)
    assert plan.solved_for == "mde"
    assert plan.treatment_rate == pytest.approx(r_p2, abs=1e-7)


def test_duration_in_weeks():
    plan = plan_test(0.10, 0.02, leads_per_week=500, window_days=70)
    assert plan.weeks_to_enrol == pytest.approx(7682 / 500)
    assert plan.weeks_until_readout == pytest.approx(7682 / 500 + 10)
    # and back: those weeks detect the same effect
    back = plan_test(0.10, weeks=plan.weeks_to_enrol, leads_per_week=500)
    assert back.mde_absolute == pytest.approx(0.02, abs=2e-5)


def test_ratio_puts_more_leads_in_the_treatment():
    plan = plan_test(0.10, 0.02, ratio=2)
    assert plan.n_control == math.ceil(sample_size(0.10, 0.12, ratio=2))
    assert plan.n_treatment == math.ceil(2 * plan.n_control)


def test_unreachable_effect_is_reported_not_raised():
    plan = plan_test(0.10, n_per_arm=3, power=0.99)
    assert math.isnan(plan.mde_absolute)
    assert "More leads are needed" in plan.summary()
    assert plan.to_dict()["mde_absolute"] is None


@pytest.mark.parametrize("kwargs,code", [
    ({"baseline_rate": 0.0, "effect": 0.02}, "out_of_range"),
    ({"baseline_rate": 1.2, "effect": 0.02}, "out_of_range"),
    ({"baseline_rate": 0.1}, "conflicting_options"),
    ({"baseline_rate": 0.1, "effect": 0.02, "weeks": 4}, "conflicting_options"),
    ({"baseline_rate": 0.1, "weeks": 4}, "conflicting_options"),
    ({"baseline_rate": 0.1, "effect": 0.0}, "out_of_range"),
    ({"baseline_rate": 0.1, "effect": 0.95}, "out_of_range"),
    ({"baseline_rate": 0.1, "effect": 0.02, "arms": 1}, "out_of_range"),
])
def test_bad_plans_are_config_errors(kwargs, code):
    with pytest.raises(ConfigError) as e:
        plan_test(**kwargs)
    assert e.value.code == code


def test_cli_plan_json_and_text(capsys):
    assert main(["plan", "--baseline-rate", "0.1", "--mde", "0.02", "--leads-per-week",
                 "350", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["n_control"] == 3841 and d["n_total"] == 7682
    assert d["weeks_to_enrol"] == pytest.approx(7682 / 350)
    assert main(["plan", "--baseline-rate", "0.1", "--weeks", "8", "--leads-per-week",
                 "350"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("Minimum detectable effect") and "percentage points" in text
    assert main(["plan", "--baseline-rate", "0.1"]) == 1
    assert "exactly one of --mde" in capsys.readouterr().err
