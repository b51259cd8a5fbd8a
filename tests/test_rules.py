"""Rule sets (SPEC section 2): parsing, every check, round trips."""

from __future__ import annotations

import tomllib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calib.errors import ConfigError
from calib.rules import Decay, RuleSet, dumps_rules, load_rules


def parse(text: str) -> RuleSet:
    return RuleSet.from_dict(tomllib.loads(text), source="rules/test.toml")


BASE = 'name = "x"\n[thresholds]\nmql = 50\n'


def test_parses_every_part(small_rules):
    rs = load_rules(small_rules)
    assert rs.name == "small"
    assert [r.name for r in rs.behavior] == ["pricing", "email_open", "unsubscribe", "demo_request"]
    assert rs.behavior[1].cap == 10
    assert rs.fit[0].in_ == ("vp", "c_level")
    assert rs.decay == Decay(kind="exponential", half_life_days=30)
    assert rs.thresholds.mql == 20


def test_round_trip_through_toml(small_rules):
    rs = load_rules(small_rules)
    again = RuleSet.from_dict(tomllib.loads(dumps_rules(rs)))
    assert again == rs
    assert again.to_dict() == rs.to_dict()


@pytest.mark.parametrize("text, code, fragment", [
    (BASE + "[decay]\nkind = \"exponential\"\nhalf_lfe_days = 3\n", "unknown_key", "half_life_days"),
    ('name = "x"\nthreshold = 3\n[thresholds]\nmql = 50\n', "unknown_key", "thresholds"),
    (BASE + '[[behavior]]\nevent = "a"\npoints = "ten"\n', "wrong_type", "points"),
    (BASE + '[[behavior]]\nevent = "a"\npoints = 1\n[[behavior]]\nevent = "a"\npoints = 2\n',
     "duplicate_name", "'a'"),
    ('name = "x"\n[thresholds]\nmql = 50\nsql = 50\n', "out_of_range", "sql"),
    ('name = "x"\n[thresholds]\nmql = 50\nsql = 40\n', "out_of_range", "sql"),
    (BASE + '[decay]\nkind = "exponential"\nhalf_life_days = -5\n', "out_of_range", "half_life_days"),
    (BASE + '[decay]\nkind = "step"\npercent = 0\nevery_days = 7\n', "out_of_range", "percent"),
    (BASE + '[decay]\nkind = "step"\npercent = 120\nevery_days = 7\n', "out_of_range", "percent"),
    (BASE + '[decay]\nkind = "window"\n', "missing_key", "days"),
    (BASE + '[decay]\nkind = "exponential"\nhalf_life_days = 3\ndays = 4\n', "unknown_key", "days"),
    (BASE + '[decay]\nkind = "exponentail"\nhalf_life_days = 3\n', "invalid_value", "exponential"),
    ('name = "x"\n', "missing_key", "thresholds"),
    (BASE + '[[fit]]\nfield = "seniority"\npoints = 5\n', "missing_key", "condition"),
    (BASE + '[[behavior]]\nevent = "a"\npoints = 1\nmax_per_day = 0\n', "out_of_range", "max_per_day"),
    (BASE + '[[behavior]]\nevent = "a"\npoints = 1\ncap = -3\n', "out_of_range", "cap"),
    (BASE + '[[behavior]]\nevents = ["a", "b"]\npoints = 1\n', "missing_key", "name"),
    (BASE + '[limits]\nmin = 10\nmax = 5\n', "out_of_range", "min"),
])
def test_bad_rules_name_the_key(text, code, fragment):
    with pytest.raises(ConfigError) as err:
        parse(text)
    assert err.value.code == code
    assert fragment in str(err.value)


def test_errors_name_the_file():
    with pytest.raises(ConfigError) as err:
        parse(BASE + '[decay]\nkind = "exponential"\nhalf_life_days = -5\n')
    assert "rules/test.toml" in str(err.value)
    assert "Got -5" in str(err.value)


def test_unknown_key_suggests_the_closest():
    with pytest.raises(ConfigError) as err:
        parse(BASE + '[[behavior]]\nevent = "a"\npoint = 3\n')
    assert err.value.suggestion and "Did you mean 'points'" in err.value.suggestion


def test_invalid_toml_is_a_config_error(tmp_path):
    p = tmp_path / "r.toml"
    p.write_text("name = \n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_rules(p)
    assert err.value.code == "invalid_toml"


def test_with_params_by_path(small_rules):
    rs = load_rules(small_rules)
    new = rs.with_params({"thresholds.mql": 45, "decay.half_life_days": 14,
                          "behavior.pricing.points": 30, "fit.seniority.points": 3})
    assert new.thresholds.mql == 45 and new.decay.half_life_days == 14
    assert new.behavior[0].points == 30 and new.fit[0].points == 3
    assert rs.thresholds.mql == 20  # the original is untouched (frozen)
    with pytest.raises(ConfigError) as err:
        rs.with_params({"behavior.pricnig.points": 3})
    assert err.value.code == "unknown_key" and "pricing" in err.value.suggestion


@pytest.mark.parametrize("kind, params", [
    ("none", {}), ("exponential", {"half_life_days": 10}),
    ("step", {"percent": 25, "every_days": 30}), ("window", {"days": 90}),
    ("linear", {"days": 90}),
])
def test_decay_kernels_match_spec(kind, params):
    d = Decay(kind=kind, **params)
    ages = [0.0, 10.0, 30.0, 89.999, 90.0, 200.0]
    expected = {
        "none": [1, 1, 1, 1, 1, 1],
        "exponential": [0.5 ** (a / 10) for a in ages],
        "step": [0.75 ** (a // 30) for a in ages],
        "window": [1, 1, 1, 1, 0, 0],
        "linear": [max(0.0, 1 - a / 90) for a in ages],
    }[kind]
    assert list(d.kernel(ages)) == pytest.approx(expected, abs=1e-12)
    assert d.kernel([0.0])[0] == 1.0  # an event's own contribution is exactly its points


names = st.text(alphabet="abcdefghij_", min_size=1, max_size=8)


@settings(max_examples=60, deadline=None)
@given(
    mql=st.integers(1, 100), gap=st.one_of(st.none(), st.integers(1, 50)),
    events=st.lists(names, min_size=0, max_size=4, unique=True),
    points=st.lists(st.integers(-50, 50), min_size=4, max_size=4),
    caps=st.lists(st.one_of(st.none(), st.integers(1, 60)), min_size=4, max_size=4),
    decay=st.sampled_from([{"kind": "none"}, {"kind": "exponential", "half_life_days": 14.5},
                           {"kind": "step", "percent": 25, "every_days": 7},
                           {"kind": "window", "days": 30}, {"kind": "linear", "days": 60}]),
)
def test_round_trip_property(mql, gap, events, points, caps, decay):
    d = {"name": "p", "behavior": [], "decay": decay, "thresholds": {"mql": mql}}
    for e, p, c in zip(events, points, caps):
        rule = {"event": e, "points": p}
        if c is not None:
            rule["cap"] = c
        d["behavior"].append(rule)
    if gap is not None:
        d["thresholds"]["sql"] = mql + gap
    rs = RuleSet.from_dict(d)
    assert RuleSet.from_dict(tomllib.loads(dumps_rules(rs))) == rs
