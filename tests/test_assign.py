"""Deterministic arm assignment: the documented hash, stability, shares, increments."""

from __future__ import annotations

import hashlib
import json
import math
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest

from calib.cli.main import main
from calib.data import from_frames
from calib.errors import ConfigError, DataError
from calib.abtest import (ArmAllocation, assign, assign_arms, hash_units,
                               read_assignment_table)
from small_world import write_dataset


def by_hand(experiment: str, lead_id: str, arms: dict) -> str:
    """The documented recipe, written independently of calib: SHA-256 of
    'experiment:lead_id', first 8 bytes big-endian / 2^64, first arm whose cumulative
    weight exceeds it (exact rational arithmetic)."""
    h = int.from_bytes(hashlib.sha256(f"{experiment}:{lead_id}".encode()).digest()[:8], "big")
    u = Fraction(h, 2**64)
    cum = Fraction(0)
    for arm, w in arms.items():
        cum += Fraction(w)
        if u < cum:
            return arm
    return list(arms)[-1]


def small_ds(ids, created=None):
    leads = pd.DataFrame({"lead_id": ids,
                          "created_at": created if created is not None
                          else pd.date_range("2026-01-01", periods=len(ids), freq="h",
                                             tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ")})
    return from_frames(leads, outcomes=pd.DataFrame({"lead_id": [ids[0]], "outcome": ["won"],
                                                     "occurred_at": ["2026-06-01"]}))


def test_hash_matches_the_documented_recipe_for_a_few_ids():
    # Reference: `printf 'threshold-test:L1' | sha256sum` ->
    # 91a6b4115267ac3d373017c5...; first 8 bytes 0x91a6b4115267ac3d.
    assert int(hash_units("threshold-test", ["L1"])[0]) == 0x91A6B4115267AC3D
    ids = ["L1", "L2", "L3", "lead-42", "00Q5e00000AbCdE", "ü-ümlaut", " padded "]
    arms = {"control": 0.5, "strict": 0.5}
    got = assign_arms("threshold-test", ids, ArmAllocation.parse("control=0.5,strict=0.5"))
    # blanks around an id are stripped, as the data loader does
    expected = [by_hand("threshold-test", i.strip(), arms) for i in ids]
    assert list(got) == expected
    # the hand values for the first three (u = 0.5689, 0.0141, 0.2259)
    assert expected[:3] == ["strict", "control", "control"]
    three = {"a": 0.2, "b": 0.3, "c": 0.5}
    got3 = assign_arms("exp-7", ids, ArmAllocation.parse("a=0.2,b=0.3,c=0.5"))
    assert list(got3) == [by_hand("exp-7", i.strip(), three) for i in ids]


def test_bucket_bounds_are_exact():
    assert ArmAllocation.parse("a=0.5,b=0.5").bucket_bounds() == [2**63, 2**64]
    b = ArmAllocation.parse("a=0.25,b=0.25,c=0.5").bucket_bounds()
    assert b == [2**62, 2**63, 2**64]


def test_assignment_is_deterministic_and_order_free():
    ids = [f"L{i}" for i in range(2000)]
    alloc = ArmAllocation.parse("control=0.5,strict=0.5")
    first = assign_arms("t", ids, alloc)
    again = assign_arms("t", ids, alloc)
    assert (first == again).all()
    perm = np.random.default_rng(0).permutation(len(ids))
    shuffled = assign_arms("t", [ids[i] for i in perm], alloc)
    assert (shuffled == first[perm]).all()
    # another experiment name gives an unrelated split (agreement near 1/2)
    other = assign_arms("t2", ids, alloc)
    assert 0.45 < (other == first).mean() < 0.55


def test_shares_within_one_percent_of_weights_on_100k_ids():
    ids = [f"00Q{i:07d}" for i in range(100_000)]
    alloc = ArmAllocation.parse("control=0.5,a=0.3,b=0.2")
    arms = assign_arms("mql-threshold-2026", ids, alloc)
    for arm, w in alloc.to_dict().items():
        assert abs((arms == arm).mean() - w) < 0.01, arm


def test_assign_uses_created_at_and_start():
    ids = [f"L{i}" for i in range(48)]
    ds = small_ds(ids)
    res = assign(ds, "t", ArmAllocation.parse("control=0.5,strict=0.5"), start="2026-01-02")
    assert len(res.frame) == 24 and res.new == 24 and res.kept == 0
    assert res.frame["lead_id"].tolist() == ids[24:]
    created = ds.leads.set_index("lead_id")["created_at"]
    assert (res.frame["assigned_at"].to_numpy() == created.loc[ids[24:]].to_numpy()).all()
    assert sum(res.counts().values()) == 24


def test_incremental_assignment_keeps_old_arms():
    ids = [f"L{i}" for i in range(400)]
    alloc = ArmAllocation.parse("control=0.5,strict=0.5")
    first = assign(small_ds(ids[:200]), "t", alloc)
    # pretend the first 200 were assigned differently (e.g. by an earlier tool)
    old = first.frame.copy()
    old["arm"] = np.where(old["arm"] == "control", "strict", "control")
    later = assign(small_ds(ids), "t", ArmAllocation.parse("control=0.2,strict=0.8"),
                   existing=old)
    assert later.kept == 200 and later.new == 200
    merged = later.frame.set_index("lead_id")
    assert (merged.loc[old["lead_id"], "arm"].to_numpy() == old["arm"].to_numpy()).all()
    new_ids = ids[200:]
    expected = [by_hand("t", i, {"control": 0.2, "strict": 0.8}) for i in new_ids]
    assert merged.loc[new_ids, "arm"].tolist() == expected
    # re-running with the output as existing changes nothing
    again = assign(small_ds(ids), "t", ArmAllocation.parse("control=0.2,strict=0.8"),
                   existing=later.frame)
    assert again.new == 0
    pd.testing.assert_frame_equal(again.frame.reset_index(drop=True),
                                  later.frame.reset_index(drop=True), check_dtype=False)


def test_existing_with_unknown_leads_and_arms_is_kept_with_warnings():
    ids = ["L1", "L2"]
    existing = pd.DataFrame({"lead_id": ["L1", "GONE"], "arm": ["holdout", "control"]})
    res = assign(small_ds(ids), "t", ArmAllocation.parse("control=0.5,strict=0.5"),
                 existing=existing)
    assert res.frame["lead_id"].tolist() == ["L1", "GONE", "L2"]
    assert res.frame["arm"].tolist()[:2] == ["holdout", "control"]
    assert len(res.warnings) == 2


@pytest.mark.parametrize("text,code", [
    ("control=0.5,strict=0.4", "weights_sum"),
    ("control=0.5,strict=0.5000001", "weights_sum"),
    ("control=1.5,strict=-0.5", "not_positive"),
    ("control=1", "too_few_arms"),
    ("control=0.5,control=0.5", "duplicate_name"),
    ("control:0.5,strict=0.5", "invalid_format"),
    ("control=half,strict=0.5", "wrong_type"),
    ("con\ttrol=0.5,strict=0.5", "invalid_name"),
])
def test_bad_weights_are_config_errors(text, code):
    with pytest.raises(ConfigError) as e:
        ArmAllocation.parse(text)
    assert e.value.code == code


def test_weights_summing_to_one_within_tolerance_are_accepted():
    alloc = ArmAllocation.parse("a=0.1,b=0.2,c=0.7")  # 0.1 + 0.2 + 0.7 != 1.0 in floats
    assert math.isclose(sum(alloc.weights), 1.0)
    assert ArmAllocation.from_dict(alloc.to_dict()) == alloc


def test_read_assignment_table_reports_every_problem(tmp_path):
    p = tmp_path / "a.csv"
    p.write_text("lead_id,arm,assigned_at\nL1,control,2026-01-01\nL1,strict,nope\n,strict,\n")
    with pytest.raises(DataError) as e:
        read_assignment_table(p)
    assert {"duplicate_lead_id", "unparseable_timestamp", "missing_value"} <= e.value.codes


def test_cli_assign_writes_and_increments(tmp_path, capsys):
    data = write_dataset(tmp_path / "data")
    out = tmp_path / "asg.csv"
    code = main(["assign", str(data), "--experiment", "t", "--arms", "control=0.5,strict=0.5",
                 "--out", str(out), "--json"])
    captured = capsys.readouterr()
    assert code == 0
    d = json.loads(captured.out)
    assert d["leads"] == 4 and d["new"] == 4
    first = pd.read_csv(out)
    assert first.columns.tolist() == ["lead_id", "arm", "assigned_at"]
    assert first["arm"].tolist() == [by_hand("t", i, {"control": .5, "strict": .5})
                                     for i in first["lead_id"]]
    # edit one arm by hand: --existing keeps it
    first.loc[0, "arm"] = "strict" if first.loc[0, "arm"] == "control" else "control"
    first.to_csv(tmp_path / "old.csv", index=False)
    out2 = tmp_path / "asg2.csv"
    code = main(["assign", str(data), "--experiment", "t", "--arms", "control=0.5,strict=0.5",
                 "--existing", str(tmp_path / "old.csv"), "--out", str(out2)])
    assert code == 0
    second = pd.read_csv(out2)
    assert second["arm"].tolist() == first["arm"].tolist()
    assert "4 kept" in capsys.readouterr().out
    # bad weights: exit 1, one line, nothing written
    code = main(["assign", str(data), "--experiment", "t", "--arms", "a=0.6,b=0.6",
                 "--out", str(tmp_path / "bad.csv")])
    err = capsys.readouterr().err
    assert code == 1 and "sum to 1" in err and not (tmp_path / "bad.csv").exists()
