"""The recommendations and the simplified proposal of ``calib run`` on a fresh demo world,
against its known truth.

What it does
------------
1. Writes a demo world of ``--leads`` leads with ``--seed`` (default 7, not the demo's
   default seed), or reuses ``--world DIR``.
2. Runs its experiment end to end (``calib.pipeline.run_experiment``, as ``calib run``),
   timing it.
3. Prints:

   - the proposal's number of rules (``truth.toml`` has 27) and its smallest |points|;
   - its half-life and cutoffs (rounded values);
   - the cost of simplification out of time: the full fit's and the simplified set's
     meeting rate at equal volume with 95% intervals, and their difference;
   - decision quality on the *latent* outcomes (every lead's meeting, worked or not; no
     real team has them): out of time (leads created after ``train_until`` with their
     whole window before the end), the proposal's meeting rate per MQL as a % of
     ``truth.toml``'s at equal volume (truth's cutoff re-set to the proposal's volume),
     with a 95% paired bootstrap interval of the ratio; and the same at truth's own
     volume (the proposal's cutoff re-set);
   - the recommendations: verdicts, the changes left out, and checks of the acceptance
     points (every difference a listed change, intervals within range).

Usage (from the repository root)::

    python benchmarks/recommend_acceptance.py                  # 50,000 leads, seed 7
    python benchmarks/recommend_acceptance.py --leads 20000 --seed 3
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd


def _mature(res, end, window_days):
    pl = res.per_lead
    st = pl["status_meeting"].astype(object).to_numpy()
    m = pl["mql_at"]
    ok = (m.notna() & (m + pd.Timedelta(days=window_days) <= end)).to_numpy()
    return (ok & (st == "hit")).astype(float), (ok & np.isin(st, ["hit", "miss", "late"])
                                                 ).astype(float)


def _ratio(a, b, n_boot=1000, seed=0):
    """Rate of a / rate of b (hits, decided per lead) with a paired Poisson bootstrap."""
    (ha, da), (hb, db) = a, b
    point = (ha.sum() / da.sum()) / (hb.sum() / db.sum())
    rng = np.random.default_rng(seed)
    w = rng.poisson(1.0, size=(n_boot, len(ha))).astype(np.float32)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (w @ ha / (w @ da)) / (w @ hb / (w @ db))
    lo, hi = np.nanpercentile(r, [2.5, 97.5])
    return point, lo, hi


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--leads", type=int, default=50_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--world", default=None, help="folder of the demo world (default: a new "
                    "folder bench-data/recommend-LEADS-SEED)")
    args = ap.parse_args()

    from calib.demo import generate_demo
    from calib.demo.world import DemoWorld
    from calib.engine import replay
    from calib.fit.cutoffs import equal_volume_cutoff
    from calib.pipeline import load_experiment
    from calib.rules.changes import apply_changes, rule_changes
    from calib.pipeline.run import run_experiment
    from calib.rules import dumps_rules, load_rules

    root = Path(args.world or f"bench-data/recommend-{args.leads}-{args.seed}")
    t0 = time.perf_counter()
    if (root / "truth.json").exists():
        import json
        truth = json.loads((root / "truth.json").read_text())
        ext = "parquet" if (root / "data" / "leads.parquet").exists() else "csv"
        world = DemoWorld(root=root, data_dir=root / "data",
                          leads=root / "data" / f"leads.{ext}",
                          events=root / "data" / f"events.{ext}",
                          outcomes=root / "data" / f"outcomes.{ext}",
                          assignments=root / "data" / f"assignments.{ext}",
                          current_rules=root / "current.toml", truth_rules=root / "truth.toml",
                          truth_json=root / "truth.json",
                          truth_outcomes=root / f"truth_outcomes.{ext}",
                          experiment=root / "experiment.toml", grid=root / "grid.toml",
                          truth=truth)
    else:
        world = generate_demo(root, n_leads=args.leads, seed=args.seed)
    print(f"demo world: {args.leads:,} leads, seed {args.seed} ({time.perf_counter() - t0:.1f} s)")

    exp = load_experiment(world.experiment)
    t1 = time.perf_counter()
    res = run_experiment(exp)
    print(f"calib run (the whole experiment): {time.perf_counter() - t1:.1f} s")

    prop, base = res.proposed, res.baseline
    truth_rules = load_rules(world.truth_rules)
    pts = [abs(r.points) for r in (*prop.fit, *prop.behavior)]
    print(f"\nproposal: {len(prop.fit) + len(prop.behavior)} rules (truth.toml: "
          f"{len(truth_rules.fit) + len(truth_rules.behavior)}, current: "
          f"{len(base.fit) + len(base.behavior)}); smallest |points| {min(pts):g}")
    th = prop.thresholds
    print(f"  decay {prop.decay.to_dict()}; MQL cutoff {th.mql:g}"
          + (f", SQL cutoff {th.sql:g}" if th.sql is not None else ", no SQL cutoff"))

    simp = res.simplification
    if simp is not None:
        print("\nsimplification (out of time, equal volume):")
        print("  " + simp.summary().replace("\n", "\n  "))

    # decision quality on the latent outcomes
    ds_lat = world.latent_dataset()
    W = exp.window_days
    start = pd.Timestamp(exp.train_until, tz="UTC")
    end_data = pd.Timestamp(world.truth["history_end"])
    last = end_data - pd.Timedelta(days=W)
    def run(r): return replay(ds_lat, r, window_days=W, start=start, end=last,
                           per_lead=True)
    rp, rt = run(prop), run(truth_rules)
    n_p, n_t = rp.mql_count, rt.mql_count
    cut_t = equal_volume_cutoff(rt.per_lead["peak_score"].to_numpy(), n_p)
    t_at = run(truth_rules.with_params({"thresholds.mql": cut_t, "thresholds.sql": None}))
    cut_p = equal_volume_cutoff(rp.per_lead["peak_score"].to_numpy(), n_t)
    p_at = run(prop.with_params({"thresholds.mql": cut_p, **({"thresholds.sql": None}
                                                           if th.sql is not None else {})}))
    pairs = [("at the proposal's volume", rp, t_at), ("at truth.toml's volume", p_at, rt)]
    if simp is not None:  # the full (unsimplified) fit at the proposal's volume
        rf = run(simp.full.with_params({"thresholds.sql": None}))
        cut_f = equal_volume_cutoff(rf.per_lead["peak_score"].to_numpy(), n_p)
        pairs.append(("full fit, at the proposal's volume",
                      run(simp.full.with_params({"thresholds.mql": cut_f,
                                                 "thresholds.sql": None})), t_at))
    print("\ndecision quality on the latent outcomes, out of time (leads created "
          f"{start.date()} to {last.date()}), meeting rate per MQL with the whole window:")
    for label, a, b in pairs:
        ma, mb = _mature(a, end_data, W), _mature(b, end_data, W)
        ratio, lo, hi = _ratio(ma, mb)
        print(f"  {label}: proposal {a.mql_count:,} MQLs, {ma[0].sum() / ma[1].sum():.1%}; "
              f"truth.toml {b.mql_count:,} MQLs, {mb[0].sum() / mb[1].sum():.1%}; proposal = "
              f"{ratio:.1%} of truth (95% CI {lo:.1%} to {hi:.1%})")

    recs = res.recommendations
    print(f"\nrecommendations ({recs.basis}):")
    print(f"  [{recs.package.verdict}] {recs.package.what}: " + "; ".join(recs.package.reasons))
    for c in recs.changes:
        print(f"  [{c.verdict}] ({c.decided_by}) {c.what}")
    for c in recs.excluded:
        print(f"  [left out] {c.what}")

    # acceptance checks
    listed = {c.what for c in recs.changes}
    every = {c.text for c in rule_changes(base, prop)} == listed
    summed = dumps_rules(apply_changes(base, [c.change for c in recs.changes],
                                       name=prop.name)) == dumps_rules(prop)
    bad = []
    for c in (recs.package, *recs.changes, *recs.excluded):
        for j in (c.alone, c.matched, c.in_package):
            if j is None:
                continue
            r = j.rates[recs.primary]
            rel = j.relative[recs.primary]
            if not (math.isnan(r[3]) or -1 <= r[3] <= r[4] <= 1):
                bad.append(c.what)
            if not (math.isnan(rel[1]) or rel[1] >= -1):
                bad.append(c.what)
    decay = next((c for c in (*recs.changes, *recs.excluded) if c.kind == "decay"), None)
    print("\nchecks:")
    print(f"  every difference current -> proposal is a listed change: {every}")
    print(f"  applying every listed change to current.toml gives the proposal: {summed}")
    print(f"  intervals outside their range: {len(bad)}")
    print(f"  rules {len(pts)} <= 27: {len(pts) <= 27}; none under 3 points: {min(pts) >= 3}")
    if decay is not None:
        print(f"  the decay change is decided {decay.decided_by}"
              + (f" (MQLs {decay.matched.mql_count[0]:,} vs {decay.matched.mql_count[1]:,})"
                 if decay.matched is not None else ""))
    print(f"\ntotal {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
