"""Partitioned data sets and the Dask backend: every path equals the one-machine engine.

The reference is always the local engine on the original data set (``replay``,
``sweep``, ``compare_rules`` on ``load_dataset(original)``); the partitioned and
distributed results must be *identical* (``to_dict()``, per-lead rows), not close.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import signal
import threading
import time

import numpy as np
import pandas as pd
import pytest
from small_world import LEADS, write_dataset

from calib.cli.main import main
from calib.data import from_frames, load_dataset
from calib.demo import generate_demo
from calib.distributed import (compare, fit_examples, is_partitioned, lead_partitions,
                               partition_dataset, partition_stats, read_partition_info,
                               read_partitioned, read_whole, replay, replay_partitioned,
                               sweep)
from calib.distributed import fit as distributed_fit
from calib.distributed.backend import DaskBackend
from calib.distributed.partitions import lead_rows
from calib.engine import replay as local_replay
from calib.engine.replay import outcome_names
from calib.engine.sweep import sweep as local_sweep
from calib.errors import CalibError, ConfigError
from calib.pipeline.experiment import load_experiment
from calib.compare import compare_rules
from calib.fit import build_examples, fit, truncate
from calib.fit.examples import example_candidates, outcome_time, sample_negatives
from calib.rules import load_rules
from calib.rules.config import Decay, RuleSet
from calib.pipeline.run import resolve_engine, run_experiment

N_PARTS = 5
GRID = {"thresholds.mql": [30, 50], "decay.kind": ["exponential"],
        "decay.half_life_days": [14, 30], "behavior.email_open.points": [1, 5]}
PERIODS = [{}, {"start": "2025-06-01"},
           {"start": "2025-03-01", "end": "2026-01-15", "window_days": 30}]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("distributed")
    w = generate_demo(root / "demo", n_leads=3000, seed=1, fmt="parquet")
    info = partition_dataset(w.data_dir, root / "parts", N_PARTS)
    return {"data": w.data_dir, "parts": root / "parts", "info": info,
            "ds": load_dataset(w.data_dir), "current": load_rules(w.current_rules),
            "truth": load_rules(w.truth_rules), "current_path": w.current_rules,
            "experiment": w.experiment}


def _json(d) -> str:
    return json.dumps(d, sort_keys=True, default=str)


# ------------------------------------------------------------------------ partitioning
def test_hash_scheme_is_md5_of_the_utf8_lead_id():
    ids = ["L1", "L2", "lead-ä-42", "00017"]
    # reference: the documented scheme, written out by hand
    want = [int.from_bytes(hashlib.md5(s.encode("utf-8")).digest()[:8], "big") % 7 for s in ids]
    assert lead_partitions(ids, 7).tolist() == want
    assert lead_partitions(["L1", "L2", "L3"], 4).tolist() == [0, 1, 0]  # docstring


def test_partitioning_round_trips(world):
    ds, info = world["ds"], world["info"]
    assert is_partitioned(world["parts"]) and not is_partitioned(world["data"])
    assert info.partitions == N_PARTS
    assert info.rows == {"leads": ds.n_leads, "events": len(ds.events),
                         "outcomes": len(ds.outcomes), "assignments": len(ds.assignments)}
    meta = json.loads((world["parts"] / "_calib_partitions.json").read_text())
    assert meta["hash"]["scheme"] == "md5-uint64-mod" and meta["partitions"] == N_PARTS
    all_rows, n_events, n_outcomes = [], 0, 0
    for p, part in read_partitioned(world["parts"]):
        rows = lead_rows(world["parts"], p)
        all_rows.append(rows)
        ids = part.leads["lead_id"].to_numpy()
        # every lead of the partition hashes to it, and its events and outcomes are here
        assert (lead_partitions(ids, N_PARTS) == p).all()
        assert (part.events["lead"].to_numpy() < part.n_leads).all()
        assert (part.outcomes["lead"].to_numpy() < part.n_leads).all()
        # the partition is exactly the original data set restricted to its leads
        ref = ds.subset(rows)
        pd.testing.assert_frame_equal(part.leads, ref.leads)
        for table in ("events", "outcomes", "assignments"):
            pd.testing.assert_frame_equal(getattr(part, table), getattr(ref, table),
                                          check_categorical=False)
        # global facts, never the partition's own
        assert part.end_of_data == ds.end_of_data and part.warnings == ds.warnings
        n_events += len(part.events)
        n_outcomes += len(part.outcomes)
    rows = np.concatenate(all_rows)
    assert np.array_equal(np.sort(rows), np.arange(ds.n_leads))  # every lead exactly once
    assert n_events == len(ds.events) and n_outcomes == len(ds.outcomes)
    # a partition folder is an ordinary data set too
    alone = load_dataset(world["parts"] / "part-00000")
    pd.testing.assert_frame_equal(alone.leads, ds.subset(lead_rows(world["parts"], 0)).leads)


def test_global_facts(world):
    info, ds = read_partition_info(world["parts"]), world["ds"]
    assert info.end_of_data == ds.end_of_data
    assert info.start_of_data == ds.leads["created_at"].min()
    assert list(info.outcome_names) == outcome_names(ds)
    assert info.event_types == ds.event_types and not info.snapshot


def test_partition_refuses_to_overwrite(world, tmp_path):
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(CalibError) as e:
        partition_dataset(world["ds"], other, 2, force=True)
    assert e.value.code == "exists" and (other / "notes.txt").exists()
    with pytest.raises(CalibError) as e:
        partition_dataset(world["ds"], world["parts"], 2)
    assert e.value.code == "exists"
    with pytest.raises(CalibError) as e:
        partition_dataset(world["ds"], tmp_path / "x", 0)
    assert e.value.code == "out_of_range"
    with pytest.raises(CalibError) as e:
        read_partition_info(world["data"])
    assert e.value.code == "not_partitioned"


def test_cli_partition(world, tmp_path, capsys):
    out = tmp_path / "p"
    assert main(["partition", str(world["data"]), "--out", str(out), "--partitions", "3",
                 "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["partitions"] == 3 and d["rows"]["leads"] == 3000
    assert sum(p["leads"] for p in d["parts"]) == 3000
    assert main(["partition", str(world["data"]), "--out", str(out), "--partitions", "3"]) == 1
    assert "--force" in capsys.readouterr().err


# ------------------------------------------------------------------------ local, partitioned
@pytest.mark.parametrize("kw", PERIODS)
def test_partitioned_replay_equals_replay(world, kw):
    for rules in (world["current"], world["truth"]):
        want = local_replay(world["ds"], rules, **kw)
        got = replay_partitioned(world["parts"], rules, **kw)
        assert _json(got.to_dict()) == _json(want.to_dict())


def test_partitioned_replay_per_lead_rows(world):
    want = local_replay(world["ds"], world["truth"], per_lead=True, start="2025-06-01")
    got = replay_partitioned(world["parts"], world["truth"], per_lead=True, start="2025-06-01")
    pd.testing.assert_frame_equal(got.per_lead, want.per_lead)


def test_partition_stats_add_up_to_replay(world):
    info, rules = world["info"], world["truth"]
    total = None
    for _, part in read_partitioned(world["parts"]):
        st = partition_stats(part, rules, window_days=60, start="2025-04-01",
                             end_of_data=info.end_of_data, names=info.outcome_names)
        total = st if total is None or st is None else total + st
    want = local_replay(world["ds"], rules, window_days=60, start="2025-04-01").stats
    assert total.leads == want.leads and total.covered == want.covered
    assert total.outcomes == want.outcomes and total.mql.count == want.mql.count
    assert np.array_equal(np.sort(total.mql.days), np.sort(want.mql.days))


def test_partitioned_sweep_and_compare_equal_local(world):
    want = local_sweep(world["ds"], world["current"], GRID)
    got = sweep(world["parts"], world["current"], GRID, scheduler="sync")
    assert _json(got.to_dict()) == _json(want.to_dict())
    want = compare_rules(world["ds"], world["current"], world["truth"], n_bootstrap=100)
    got = compare(world["parts"], world["current"], world["truth"], n_bootstrap=100,
                  scheduler="sync")
    assert _json(got.to_dict()) == _json(want.to_dict())
    pd.testing.assert_frame_equal(got.per_lead, want.per_lead)


def test_immature_is_judged_against_the_global_end_of_data(tmp_path):
    # Lead "a" is alone in its partition and its data end on 2025-01-02; the data set ends
    # a year later. Its MQL without a meeting is a miss (W = 90 days have passed), not
    # immature, which it would be if the partition used its own latest timestamp.
    ids = ["a"] + [f"b{i}" for i in range(50)]
    parts = lead_partitions(ids, 2)
    other = next(i for i, p in zip(ids, parts) if p != parts[0])
    ds = from_frames(
        pd.DataFrame({"lead_id": ["a", other],
                      "created_at": ["2025-01-01T00:00:00Z", "2026-01-01T00:00:00Z"]}),
        events=pd.DataFrame({"lead_id": ["a", other], "event_type": ["pricing", "pricing"],
                             "occurred_at": ["2025-01-02T00:00:00Z", "2026-01-02T00:00:00Z"]}),
        outcomes=pd.DataFrame({"lead_id": [other], "outcome": ["meeting"],
                               "occurred_at": ["2026-01-03T00:00:00Z"]}))
    rules = RuleSet.from_dict({"name": "r", "behavior": [{"event": "pricing", "points": 60}],
                               "thresholds": {"mql": 50}})
    partition_dataset(ds, tmp_path / "p", 2)
    got = replay_partitioned(tmp_path / "p", rules).to_dict()
    assert got == local_replay(ds, rules).to_dict()
    assert got["outcomes"]["meeting"]["misses"] == 1
    assert got["outcomes"]["meeting"]["immature"] == 0


def test_empty_partitions_and_snapshots(tmp_path, small_data, small_rules):
    rules = load_rules(small_rules)
    snap = write_dataset(tmp_path / "snap", leads=LEADS.replace("created_at", "signup"),
                         outcomes="lead_id,outcome\nL1,meeting\nL3,won\n")
    for data in (small_data, snap):
        ds = load_dataset(data)
        info = partition_dataset(data, tmp_path / f"p-{data.name}", 8)  # 4 leads, 8 parts
        assert 0 in [p["leads"] for p in info.parts] and info.snapshot == ds.snapshot
        for kw in ({}, {"start": "2030-01-01"}):  # the second selects no lead
            if ds.snapshot and kw:
                continue
            if kw:  # an empty period is an error, the same on both paths
                for run, source in ((local_replay, ds), (replay_partitioned, info.path)):
                    with pytest.raises(CalibError) as e:
                        run(source, rules, **kw)
                    assert e.value.code == "empty_period"
                continue
            want = local_replay(ds, rules, per_lead=True, **kw)
            got = replay_partitioned(info.path, rules, per_lead=True, **kw)
            assert _json(got.to_dict()) == _json(want.to_dict())
            if len(want.per_lead):
                pd.testing.assert_frame_equal(got.per_lead, want.per_lead)
        grid = {"thresholds.mql": [10, 20, 30]}
        assert _json(sweep(info.path, rules, grid, scheduler="sync").to_dict()) == \
            _json(local_sweep(ds, rules, grid).to_dict())
    assert load_dataset(snap).snapshot


# ------------------------------------------------------------------------ fit
TRAIN_UNTIL = pd.Timestamp("2025-10-01", tz="UTC")
DECAYS = [Decay(), Decay(kind="exponential", half_life_days=14), Decay(kind="window", days=30),
          Decay(kind="linear", days=60), Decay(kind="step", percent=25, every_days=30)]


def _assert_same_examples(got, want):
    for f in ("lead", "t", "y", "weight"):
        a, b = getattr(got, f), getattr(want, f)
        assert a.dtype == b.dtype and np.array_equal(a, b), f
    assert got.log_sampling == want.log_sampling and got.n_candidates == want.n_candidates
    assert got.features.event_types == want.features.event_types
    for d in DECAYS:  # the features under any decay, from the events shipped back
        assert np.array_equal(got.features.counts(d), want.features.counts(d)), d


def test_read_whole_is_the_original_data_set(world):
    ds, whole = world["ds"], read_whole(world["parts"])
    pd.testing.assert_frame_equal(whole.leads, ds.leads)
    pd.testing.assert_frame_equal(whole.events, ds.events)
    for table in ("outcomes", "assignments"):  # grouped by lead, file order within a lead
        ref = getattr(ds, table)
        ref = ref.take(np.argsort(ref["lead"].to_numpy(), kind="stable")).reset_index(drop=True)
        pd.testing.assert_frame_equal(getattr(whole, table), ref)
    assert (whole.end_of_data, whole.snapshot, whole.warnings, whole.event_types) == \
        (ds.end_of_data, ds.snapshot, ds.warnings, ds.event_types)


def test_example_sampling_is_partition_invariant(world):
    """The negatives kept at a given rate are the same whichever way the leads are
    split: each draw depends on (seed, lead_id, moment), not on a position in a stream."""
    train = truncate(world["ds"], TRAIN_UNTIL)
    o = outcome_time(train, "meeting")

    def kept(ds, seed, rate=0.25):
        prep, y, idx = example_candidates(ds, world["current"], o_of(ds), horizon_days=30)
        keep = sample_negatives(ds, prep, y, idx, rate, seed)
        ids = ds.leads["lead_id"].to_numpy()[prep.eval_lead[keep]]
        return set(zip(ids, prep.eval_t[keep].tolist())), prep, y, idx

    code = pd.Series(np.arange(train.n_leads), index=train.leads["lead_id"].to_numpy())

    def o_of(ds):
        return o[code[ds.leads["lead_id"].to_numpy()].to_numpy()]

    whole, prep, y, idx = kept(train, seed=7)
    n_neg = int((y[idx] == 0).sum())
    n_pos = len(idx) - n_neg
    assert n_neg > 5000 and n_pos > 50
    # every positive kept, about a quarter of the negatives
    assert abs((len(whole) - n_pos) / n_neg - 0.25) < 0.02
    ids = train.leads["lead_id"].to_numpy()
    for k in (2, 3, 7):
        part = lead_partitions(ids, k)
        union = set()
        for p in range(k):
            union |= kept(train.subset(np.flatnonzero(part == p)), seed=7)[0]
        assert union == whole, k
    other = kept(train, seed=8)[0]
    assert other != whole and abs(len(other) - len(whole)) < 0.1 * len(whole)


@pytest.mark.parametrize("kw", [{}, {"max_examples": 4000, "seed": 3}, {"max_examples": 4000,
                                                                         "weights": True}])
def test_fit_examples_on_partitions_equal_build_examples(world, kw):
    kw = dict(kw)
    ds, rules = world["ds"], world["current"]
    train = truncate(ds, TRAIN_UNTIL)
    if kw.pop("weights", False):  # inverse-probability weights leave a third of the leads out
        kw["lead_weight"] = (np.arange(train.n_leads) % 3).astype(float)
    want = build_examples(train, rules, outcome_time(train, "meeting"), horizon_days=30, **kw)
    whole = read_whole(world["parts"])
    got = fit_examples(world["parts"], whole, truncate(whole, TRAIN_UNTIL), rules, "meeting",
                       horizon_days=30, scheduler="sync", **kw)
    _assert_same_examples(got, want)
    if "max_examples" in kw:
        assert want.log_sampling < 0 and want.n < want.n_candidates
        assert abs(want.n - 4000) < 150


def test_fit_examples_on_a_partitioned_snapshot(world, tmp_path):
    ds = world["ds"]
    snap = from_frames(ds.leads.drop(columns=["created_at"]),
                       events=ds.events.assign(lead_id=ds.lead_ids(ds.events["lead"]))
                       .drop(columns=["lead"]),
                       outcomes=ds.outcomes.assign(lead_id=ds.lead_ids(ds.outcomes["lead"]))
                       .drop(columns=["lead", "amount"]))
    assert snap.snapshot
    partition_dataset(snap, tmp_path / "p", 4)
    whole = read_whole(tmp_path / "p")
    codes = np.flatnonzero(np.random.default_rng(0).random(snap.n_leads) < 2 / 3)
    train, train_w = snap.subset(codes), whole.subset(codes)
    want = build_examples(train, world["current"], outcome_time(train, "meeting"),
                          horizon_days=30, max_examples=1200)
    got = fit_examples(tmp_path / "p", whole, train_w, world["current"], "meeting",
                       horizon_days=30, max_examples=1200, scheduler="sync")
    _assert_same_examples(got, want)
    assert want.n < want.n_candidates == len(codes)


@pytest.mark.slow
def test_partitioned_fit_equals_local(world):
    want = fit(world["ds"], world["current"], max_examples=8000)
    got = distributed_fit(world["parts"], world["current"], max_examples=8000,
                          scheduler="sync")
    assert want.examples["negatives_kept_share"] < 1  # the sampled path
    assert got.rules.to_dict() == want.rules.to_dict()
    assert _json(got.to_dict()) == _json(want.to_dict())


# ------------------------------------------------------------------------ Dask
@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       host="127.0.0.1", dashboard_address=None)
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


@pytest.mark.slow
def test_dask_replay_sweep_compare_equal_local(world, client):
    for kw in PERIODS[:2]:
        want = local_replay(world["ds"], world["truth"], per_lead=True, **kw)
        got = replay(world["parts"], world["truth"], scheduler=client, per_lead=True, **kw)
        assert _json(got.to_dict()) == _json(want.to_dict())
        pd.testing.assert_frame_equal(got.per_lead, want.per_lead)
    want = local_sweep(world["ds"], world["current"], GRID)
    got = sweep(world["parts"], world["current"], GRID, scheduler=client)
    assert _json(got.to_dict()) == _json(want.to_dict())
    want = compare_rules(world["ds"], world["current"], world["truth"], n_bootstrap=100)
    got = compare(world["parts"], world["current"], world["truth"], n_bootstrap=100,
                  scheduler=client)
    assert _json(got.to_dict()) == _json(want.to_dict())


@pytest.mark.slow
def test_dask_reports_bad_rules_before_running(world, client):
    bad = RuleSet.from_dict({"name": "bad", "fit": [{"field": "no_such_field", "equals": "x",
                                                     "points": 5}],
                             "thresholds": {"mql": 50}})
    with pytest.raises(CalibError) as e:
        replay(world["parts"], bad, scheduler=client)
    assert e.value.code == "unknown_field"


def _slow(func, seconds, part_id, **kwargs):
    time.sleep(seconds)
    return func(part_id, **kwargs)


class _SlowBackend(DaskBackend):
    """Every task sleeps first, so a worker can be killed while it runs one."""

    def map(self, func, part_ids, **kwargs):
        return super().map(functools.partial(_slow, func, 0.4), part_ids, **kwargs)


@pytest.mark.slow
def test_dask_survives_a_worker_killed_mid_sweep(world, client):
    want = local_sweep(world["ds"], world["current"], GRID)
    pids = client.run(os.getpid)
    out, errors = [], []

    def run():
        try:
            out.append(sweep(world["parts"], world["current"], GRID,
                             scheduler=_SlowBackend(client)))
        except Exception as e:  # noqa: BLE001 - reported by the assertion below
            errors.append(e)

    t = threading.Thread(target=run)
    t.start()
    victim = None
    deadline = time.monotonic() + 60
    while victim is None and time.monotonic() < deadline:
        busy = [w for w, keys in client.processing().items()
                if any(str(k).startswith("calib-") for k in keys)]
        if busy:
            victim = busy[0]
        else:
            time.sleep(0.01)
    assert victim is not None, "no task started"
    os.kill(pids[victim], signal.SIGKILL)  # mid-task: each task sleeps 0.4 s first
    t.join(timeout=120)
    assert not t.is_alive() and not errors, errors
    with pytest.raises(ProcessLookupError):
        os.kill(pids[victim], 0)
    assert _json(out[0].to_dict()) == _json(want.to_dict())


@pytest.mark.slow
def test_dask_fit_equals_local(world, client):
    kw = {"max_examples": 8000, "weighting": "ipw", "kinds": ("exponential", "window")}
    want = fit(world["ds"], world["current"], **kw)
    got = distributed_fit(world["parts"], world["current"], scheduler=client, **kw)
    assert want.selection["training_weighting"] == "ipw"
    assert got.rules.to_dict() == want.rules.to_dict()
    assert _json(got.to_dict()) == _json(want.to_dict())
    train = truncate(world["ds"], TRAIN_UNTIL)
    whole = read_whole(world["parts"])
    _assert_same_examples(
        fit_examples(world["parts"], whole, truncate(whole, TRAIN_UNTIL), world["current"],
                     "meeting", horizon_days=30, max_examples=3000, scheduler=client),
        build_examples(train, world["current"], outcome_time(train, "meeting"),
                       horizon_days=30, max_examples=3000))


@pytest.mark.slow
def test_cli_fit_on_a_cluster_writes_the_local_proposal(world, client, tmp_path,
                                                        monkeypatch, capsys):
    args = ["--rules", str(world["current_path"]), "--decay-kinds", "exponential", "--json"]
    assert main(["fit", str(world["data"]), "--out", str(tmp_path / "local.toml")] + args) == 0
    want = json.loads(capsys.readouterr().out)
    address = client.scheduler.address
    assert main(["fit", str(world["parts"]), "--out", str(tmp_path / "flag.toml"),
                 "--scheduler", address] + args) == 0
    got = json.loads(capsys.readouterr().out)
    monkeypatch.setenv("CALIB_SCHEDULER", address)
    assert main(["fit", str(world["parts"]), "--out", str(tmp_path / "env.toml")] + args) == 0
    capsys.readouterr()
    local = (tmp_path / "local.toml").read_text()
    assert (tmp_path / "flag.toml").read_text() == local
    assert (tmp_path / "env.toml").read_text() == local
    assert _json(got) == _json(want)
    # --scheduler needs a partitioned data set ($CALIB_SCHEDULER leaves others alone)
    assert main(["fit", str(world["data"]), "--out", str(tmp_path / "x.toml"),
                 "--scheduler", address] + args) == 1
    assert "needs a partitioned data set" in capsys.readouterr().err


# ------------------------------------------------------------------------ calib run
def _experiment_on(world, folder, data, engine=None, **data_extra):
    """The demo's experiment file, written into ``folder`` with ``[data] path = data``
    (and an ``[engine]`` table); everything else as the demo writes it."""
    import tomllib

    import tomli_w

    d = tomllib.loads(world["experiment"].read_text(encoding="utf-8"))
    demo = world["experiment"].parent
    d["data"] = {"path": str(data), **data_extra}
    rules = d["rules"]
    d["rules"] = {"baseline": str(demo / rules["baseline"]),
                  "candidates": [str(demo / c) for c in rules["candidates"]]}
    if "history" in rules:
        d["rules"]["history"] = [dict(e, file=str(demo / e["file"])) for e in rules["history"]]
    d["abtest"]["assignments"] = str(demo / d["abtest"]["assignments"])
    previous = d.pop("report", {}).get("previous")
    if previous is not None:
        d["report"] = {"previous": str(demo / previous)}
    if engine is not None:
        d["engine"] = engine
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "experiment.toml"
    path.write_bytes(tomli_w.dumps(d).encode("utf-8"))
    return path


@pytest.fixture(scope="module")
def local_run(world):
    """The reference: the demo's experiment on the original (unpartitioned) data."""
    res = run_experiment(load_experiment(world["experiment"]))
    # the run exercises both partitioned steps: a grid and a fitted proposal
    assert res.sweep is not None and res.proposed_source == "fit"
    assert res.proposed.to_dict() != res.baseline.to_dict()
    return res


def _without_provenance(res) -> str:
    d = res.to_dict()
    d.pop("provenance")
    return _json(d)


@pytest.mark.slow
def test_run_with_engine_scheduler_equals_local(world, client, local_run, tmp_path):
    distributed = pytest.importorskip("distributed")
    address = client.scheduler.address
    exp = load_experiment(_experiment_on(world, tmp_path / "exp", world["parts"],
                                         engine={"scheduler": address}))
    assert exp.scheduler == address
    with distributed.get_task_stream(client) as stream:
        got = run_experiment(exp)
    # the sweep and the fit's examples ran on the cluster, partition by partition
    ran = {}
    for task in stream.data:
        key = str(task["key"])
        if key.startswith("calib-"):
            name = key.split("-")[1]
            ran[name] = ran.get(name, 0) + 1
    assert ran.get("sweep_part") == N_PARTS
    assert ran.get("examples_part", 0) >= N_PARTS
    want = local_run
    assert got.proposed_source == want.proposed_source == "fit"
    assert got.proposed.to_dict() == want.proposed.to_dict()
    assert _json(got.recommendations.to_dict()) == _json(want.recommendations.to_dict())
    assert _json(got.sweep.to_dict()) == _json(want.sweep.to_dict())
    assert _json(got.fit.to_dict()) == _json(want.fit.to_dict())
    assert _json(got.comparison.to_dict()) == _json(want.comparison.to_dict())
    assert _without_provenance(got) == _without_provenance(want)
    pd.testing.assert_frame_equal(got.tradeoff, want.tradeoff)
    data_got, data_want = got.data.to_dict(), want.data.to_dict()
    assert data_got.pop("path") != data_want.pop("path")
    assert _json(data_got) == _json(data_want)
    assert got.provenance["scheduler"] == address
    assert got.provenance["scheduler_from"] == "[engine] scheduler"
    assert want.provenance["scheduler"] is None
    assert got.provenance["data_fingerprint"].startswith("sha256:")


@pytest.mark.slow
def test_cli_run_scheduler_overrides_engine(world, client, local_run, tmp_path, capsys,
                                            monkeypatch):
    # [engine] names a port nothing listens on, and so does $CALIB_SCHEDULER:
    # only --scheduler can make this run succeed
    monkeypatch.setenv("CALIB_SCHEDULER", "tcp://127.0.0.1:9")
    path = _experiment_on(world, tmp_path / "exp", world["parts"],
                          engine={"scheduler": "tcp://127.0.0.1:9"})
    out = tmp_path / "report"
    assert main(["run", str(path), "--scheduler", client.scheduler.address, "--out", str(out),
                 "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["provenance"]["scheduler_from"] == "--scheduler"
    assert got["proposed"] == local_run.proposed.name
    assert _json(got["recommendations"]) == _json(
        json.loads(_json(local_run.recommendations.to_dict())))
    assert load_rules(out / "proposed_rules.toml").to_dict() == local_run.proposed.to_dict()


def test_engine_table_is_validated(world, tmp_path):
    path = _experiment_on(world, tmp_path / "a", world["parts"], engine={"schedular": "sync"})
    with pytest.raises(ConfigError) as e:
        load_experiment(path)
    assert e.value.code == "unknown_key" and "'scheduler'" in e.value.suggestion
    for bad, code in (("local:0", "invalid_value"), ("local:two", "invalid_value"),
                      (8786, "wrong_type"), ("", "wrong_type")):
        path = _experiment_on(world, tmp_path / "b", world["parts"], engine={"scheduler": bad})
        with pytest.raises(ConfigError) as e:
            load_experiment(path)
        assert e.value.code == code, bad
    # a scheduler file is relative to the experiment file, like every other path
    path = _experiment_on(world, tmp_path / "c", world["parts"],
                          engine={"scheduler": "cluster/scheduler.json"})
    assert load_experiment(path).scheduler == str(tmp_path / "c" / "cluster" / "scheduler.json")
    # without [engine]: no scheduler
    assert load_experiment(world["experiment"]).scheduler is None


def test_cli_run_engine_unknown_key_exits_1(world, tmp_path, capsys):
    path = _experiment_on(world, tmp_path, world["parts"], engine={"workers": 4})
    assert main(["run", str(path)]) == 1
    err = capsys.readouterr().err
    assert "Unknown key 'workers' of [engine]" in err


def test_scheduler_precedence(world, tmp_path, monkeypatch):
    plain = load_experiment(_experiment_on(world, tmp_path / "plain", world["parts"]))
    engine = load_experiment(_experiment_on(world, tmp_path / "engine", world["parts"],
                                            engine={"scheduler": "local:3"}))
    monkeypatch.delenv("CALIB_SCHEDULER", raising=False)
    got = resolve_engine(plain)
    assert (got.scheduler, got.source) == ("sync", "default")
    assert got.partitioned == world["parts"]
    monkeypatch.setenv("CALIB_SCHEDULER", "tcp://env:8786")
    got = resolve_engine(plain)
    assert (got.scheduler, got.source) == ("tcp://env:8786", "$CALIB_SCHEDULER")
    got = resolve_engine(engine)
    assert (got.scheduler, got.source) == ("local:3", "[engine] scheduler")
    got = resolve_engine(engine, "tcp://flag:8786")
    assert (got.scheduler, got.source) == ("tcp://flag:8786", "--scheduler")
    # $CALIB_SCHEDULER leaves an ordinary data set alone, as for the other commands
    ordinary = load_experiment(world["experiment"])
    got = resolve_engine(ordinary)
    assert got.partitioned is None and got.scheduler is None


def test_scheduler_needs_a_partitioned_data_set(world, tmp_path, capsys):
    path = _experiment_on(world, tmp_path / "a", world["data"], engine={"scheduler": "local:2"})
    with pytest.raises(CalibError) as e:
        run_experiment(load_experiment(path))
    assert e.value.code == "not_partitioned" and "calib partition" in e.value.suggestion
    # from the command line: one line on stderr, exit 1; --scheduler alike
    assert main(["run", str(path), "--out", str(tmp_path / "r")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "needs a partitioned data set" in err
    assert "calib partition" in err and not (tmp_path / "r").exists()
    plain = _experiment_on(world, tmp_path / "b", world["data"])
    assert main(["run", str(plain), "--scheduler", "local:2", "--out",
                 str(tmp_path / "r")]) == 1
    assert "needs a partitioned data set" in capsys.readouterr().err


def test_partitioned_experiment_refuses_a_column_mapping(world, tmp_path):
    path = _experiment_on(world, tmp_path, world["parts"],
                          columns={"leads": {"lead_id": "Record ID"}})
    with pytest.raises(ConfigError) as e:
        run_experiment(load_experiment(path))
    assert e.value.code == "invalid_usage"
