"""Fit and calibrate on a demo world against its known truth: the figures the README
records for ``calib fit`` and ``calib calibrate``.

What it does
------------
1. Writes a demo world of ``--leads`` leads (``calib.demo.generate_demo``, Parquet), or
   reuses ``--world DIR`` if it already holds one.
2. ``calib.fit.fit`` of the demo's ``current.toml`` (default options, as ``calib fit``).
3. Prints, against the truth in ``truth.json``:

   - the fitted half-life and its interval (true: 14 days);
   - Spearman's rank correlation of the fitted per-event-type effects with the true ones;
   - how the fit reviews ``email_open`` (over-weighted in ``current.toml``);
   - out of time, at ``current.toml``'s MQL volume: the meeting rate per MQL of current
     and proposed rules, observed and corrected for selective labels (with the paired
     bootstrap interval of the difference), and the same for ``truth.toml``;
   - the same comparison on the *latent* outcomes (``truth_outcomes``: every lead's
     meeting, whether or not sales worked it), which no real team has: the ground truth
     the corrected estimate is meant to recover;
   - ``calib.calibration.calibrate`` of the proposed rules out of time: ECE, AUC, Brier.

Usage (from the repository root)::

    python benchmarks/fit_acceptance.py --leads 20000
    python benchmarks/fit_acceptance.py --leads 300000 --world bench-data/fit-300000
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from scipy import stats


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--leads", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--world", default=None, help="folder of the demo world (default: a new "
                    "folder bench-data/fit-LEADS-SEED)")
    args = ap.parse_args()

    from calib.calibration import calibrate
    from calib.data import load_dataset
    from calib.demo import generate_demo
    from calib.fit import evaluate, fit
    from calib.rules import load_rules

    root = Path(args.world or f"bench-data/fit-{args.leads}-{args.seed}")
    t0 = time.perf_counter()
    world = generate_demo(root, n_leads=args.leads, seed=args.seed, fmt="parquet") \
        if not (root / "truth.json").exists() else None
    if world is None:
        from calib.demo.world import DemoWorld
        truth = json.loads((root / "truth.json").read_text())
        data = root / "data"
        world = DemoWorld(root=root, data_dir=data, leads=data / "leads.parquet",
                          events=data / "events.parquet", outcomes=data / "outcomes.parquet",
                          assignments=data / "assignments.parquet",
                          current_rules=root / "current.toml", truth_rules=root / "truth.toml",
                          truth_json=root / "truth.json",
                          truth_outcomes=root / "truth_outcomes.parquet",
                          experiment=root / "experiment.toml", grid=root / "grid.toml",
                          truth=truth)
    ds = load_dataset(world.data_dir)
    current, truth_rules = load_rules(world.current_rules), load_rules(world.truth_rules)
    print(f"world: {ds.n_leads:,} leads, {len(ds.events):,} events "
          f"({time.perf_counter() - t0:.0f} s to write and load)")

    t0 = time.perf_counter()
    res = fit(ds, current)
    print(f"fit: {time.perf_counter() - t0:.0f} s; training weighting "
          f"{res.selection['training_weighting']}")
    true_hl = world.truth["half_life_days"]
    d = res.rules.decay
    print(f"window: {res.split['window']['sentence']}")
    lo, hi = res.decay.ci_low, res.decay.ci_high
    covers = (lo is None or lo <= true_hl) and (hi is None or true_hl <= hi)
    if d.kind == "exponential":
        print(f"half-life: {d.half_life_days:.2f} d ({res.decay.interval_text()}); true "
              f"{true_hl:g}; off by {abs(d.half_life_days / true_hl - 1):.1%}; the interval "
              f"{'covers' if covers else 'misses'} it")
    else:
        print(f"{res.decay.summary()} (true: exponential, half-life {true_hl:g} d); kinds by "
              "AIC: " + ", ".join(f"{r.kind} {r.parameter_days:.3g} d +{r.delta_aic:.1f}"
                                   for r in res.decay.kinds.itertuples()))
    ee = res.event_effects.set_index("event_type")
    te = world.truth["event_effects"]
    common = [e for e in te if e in ee.index]
    rho = stats.spearmanr([te[e] for e in common], [ee.loc[e, "coef"] for e in common])[0]
    print(f"Spearman of fitted vs true event effects ({len(common)} types): {rho:.3f}")
    fl = dict(zip(res.flagged["rule"], res.flagged["status"]))
    print(f"email_open in current.toml: {fl.get('email_open', 'not flagged')}")

    c = res.comparison
    cc = c["corrected"]
    ot = evaluate(ds, current, truth_rules, window_days=c["window_days"])["corrected"]
    print(f"out of time at current.toml's volume ({c['mql_count']:,} MQLs):")
    print(f"  observed (whole window): current {c['current']['mature']['rate']:.1%}, proposed "
          f"{c['proposed']['mature']['rate']:.1%}")
    dd = cc["difference"]
    print(f"  corrected: current {cc['current']['rate']:.1%}, proposed "
          f"{cc['proposed']['rate']:.1%}, difference {dd['diff'] * 100:+.1f} points "
          f"({dd['ci_low'] * 100:+.1f} to {dd['ci_high'] * 100:+.1f}); truth.toml "
          f"{ot['proposed']['rate']:.1%}; proposed / truth "
          f"{cc['proposed']['rate'] / ot['proposed']['rate']:.1%}")
    dl = world.latent_dataset()
    lp = evaluate(dl, current, res.rules, holdout_column=None, window_days=c["window_days"])
    lt = evaluate(dl, current, truth_rules, holdout_column=None, window_days=c["window_days"])
    a, b, t = (lp["current"]["mature"]["rate"], lp["proposed"]["mature"]["rate"],
               lt["proposed"]["mature"]["rate"])
    print(f"  latent (every meeting, worked or not): current {a:.1%}, proposed {b:.1%}, "
          f"truth.toml {t:.1%}; difference {100 * (b - a):+.1f} points "
          f"({100 * lp['difference']['ci_low']:+.1f} to {100 * lp['difference']['ci_high']:+.1f}); "
          f"proposed / truth {b / t:.1%}")

    t0 = time.perf_counter()
    cal = calibrate(ds, res.rules, train_until=res.split["train_until"])
    m = cal.metrics["test"]
    print(f"calibrate (out of time, {time.perf_counter() - t0:.0f} s): ECE {m['ece']:.4f}, "
          f"AUC {m['auc']:.3f}, Brier {m['brier']:.4f}")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
