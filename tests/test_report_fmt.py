"""The report's number formats: what a person reads."""

import math

import pytest

from calib.report import fmt


@pytest.mark.parametrize("f, x, want", [
    (fmt.count, 3056.0, "3,056"), (fmt.count, None, "–"), (fmt.count, math.nan, "–"),
    (fmt.pct, 0.40712, "40.7%"), (fmt.pct, math.inf, "–"),
    (fmt.pp, 0.25, "+25.0 pts"), (fmt.pp, -0.0004, "0.0 pts"), (fmt.pp, -0.031, "−3.1 pts"),
    (fmt.points, 11.6, "+12"), (fmt.points, -20.0, "−20"), (fmt.points, 98.0, "+98"),
    (fmt.days, 11.441787978407191, "11.4 days"), (fmt.num, 1234.56, "1,234.6"),
    (fmt.signed, 15.64, "+15.6"), (fmt.pvalue, 0.0001, "< 0.001"), (fmt.pvalue, 0.0412, "0.041"),
])
def test_formats(f, x, want):
    assert f(x) == want


def test_interval_shares_its_unit():
    assert fmt.interval(0.13, 0.37, fmt.pp) == "+13.0 to +37.0 pts"
    assert fmt.interval(7.5, 23.9) == "+7.5 to +23.9"
    assert fmt.interval(None, 1.0) == "–"


def test_unreadable_finds_raw_values_and_float_noise():
    assert fmt.unreadable("half-life 11.441787978407191 days, rate nan") == \
        ["nan", "11.441787978407191"]
    assert fmt.unreadable("None of the leads; 40.7% (+1.5 pts), p 0.041, v0.1.0") == ["None"]
    assert fmt.unreadable("40.7% of 3,056 leads, 11.4 days") == []


def test_tidy_rounds_noise_in_text_written_elsewhere():
    assert fmt.tidy("half_life_days = 11.441787978407191, x nan") == \
        "half_life_days = 11.44, x –"
    assert fmt.tidy("score >= 0.01172") == "score >= 0.0117"
    assert fmt.unreadable(fmt.tidy("0.000012345 and 123456.1234567")) == []


def test_words_for_sentences_written_elsewhere():
    assert fmt.words("MQL cutoff 85 -> 98.0 (half-life 11.441787978407191)") == \
        "MQL cutoff 85 → 98 (half-life 11.44)"
    assert fmt.words("rate 40.0% and 0.05, 7.0 fewer") == "rate 40.0% and 0.05, 7 fewer"
    assert fmt.words("(95% CI +2.0 to +5.4)") == "(95% CI +2.0 to +5.4)"  # signed: kept
