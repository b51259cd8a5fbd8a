"""Core commands: demo, validate, replay, sweep, score."""

from __future__ import annotations

import sys
from pathlib import Path

from calib.cli.common import (POSITIVE, Command, WithWindow, check_outputs, data_args, emit,
                              json_arg, load_data, number, period_args, print_json, rules_arg,
                              starting, table_out_arg, warn, write_output)
from calib.cli.distributed import data_and_window, scheduler_arg
from calib.errors import CalibError


# ------------------------------------------------------------------ demo
def _demo_args(p):
    p.add_argument("--out", default="calib-demo", metavar="DIR", help="output folder "
                   "(default calib-demo)")
    p.add_argument("--leads", type=int, default=50_000, metavar="N",
                   help="number of leads (default 50000)")
    p.add_argument("--seed", type=int, default=1, metavar="S", help="random seed (default 1)")
    p.add_argument("--format", choices=("csv", "parquet"), default="csv",
                   help="file format of the tables (default csv)")
    p.add_argument("--force", action="store_true", help="write into a non-empty --out folder")
    p.add_argument("--no-run", action="store_true",
                   help="only write the data and files; do not run the experiment")
    json_arg(p)


def _demo(args):
    from calib.demo import generate_demo

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise CalibError(f"'{out}' exists and is not a folder.", code="exists")
    if out.exists() and any(out.iterdir()) and not args.force:
        raise CalibError(f"The folder '{out}' exists and is not empty.", code="exists",
                         suggestion="Choose another --out or add --force to overwrite it.")
    if args.leads < 100:
        raise CalibError(f"--leads must be at least 100. Got {args.leads}.", code="out_of_range")
    world = generate_demo(out, n_leads=args.leads, seed=args.seed, fmt=args.format)
    if args.no_run:
        if args.json:
            print_json(world.to_dict())
        else:
            print(world.summary())
        return
    from calib.cli.pipeline import print_summary, run_and_report

    if not args.json:
        print(world.summary())
        print("\nRunning its experiment end to end...")
    res, folder = run_and_report(world.experiment, force=args.force,
                                 command=f"calib run {world.experiment}")
    if args.json:
        d = world.to_dict()
        d["report"] = str(folder)
        d["recommendations"] = res.recommendations.to_dict()
        print_json(d)
    else:
        print_summary(res, folder)


# ------------------------------------------------------------------ validate
def _validate(args):
    from calib.data import summarize

    emit(args, summarize(load_data(args)))


# ------------------------------------------------------------------ replay
def _replay_args(p):
    data_args(p)
    rules_arg(p)
    period_args(p)
    table_out_arg(p, "--leads-out", "one row per lead")
    scheduler_arg(p)


def _replay(args):
    starting(f"Replaying {args.rules} over {args.data}...")
    from calib.engine import replay
    from calib.rules import load_rules

    check_outputs(args, "--leads-out")
    rules = load_rules(args.rules)
    parts, ds, window = data_and_window(args, rules=rules)
    if parts:
        from calib import distributed

        res = distributed.replay(ds, rules, scheduler=args.scheduler,
                                 window_days=args.window_days, start=args.start, end=args.end,
                                 per_lead=bool(args.leads_out), progress=sys.stderr.isatty())
    else:
        res = replay(ds, rules, window_days=args.window_days, start=args.start, end=args.end,
                     per_lead=bool(args.leads_out))
    if args.leads_out:
        write_output(res.per_lead, args.leads_out, "leads")
    emit(args, WithWindow(res, window), res.warnings)


# ------------------------------------------------------------------ sweep
def _sweep_args(p):
    data_args(p)
    rules_arg(p, "base rule set")
    p.add_argument("--grid", required=True, metavar="G.toml", help="parameter grid")
    period_args(p)
    table_out_arg(p, "--out", "all rows")
    p.add_argument("--top", type=number(low=1, integer=True), default=10, metavar="N", help="show the N best rows")
    p.add_argument("--objective", metavar="COLUMN",
                   help="column to rank by (default: meeting_hits, else the next "
                   "sales outcome's hits)")
    p.add_argument("--capacity", type=POSITIVE, metavar="MQL_PER_WEEK",
                   help="only rank rows with at most this many MQLs per week")
    scheduler_arg(p)


def _sweep(args):
    starting(f"Sweeping {args.grid} over {args.data}...")
    from calib.engine.sweep import load_grid, sweep
    from calib.rules import load_rules

    check_outputs(args, "--out")
    rules = load_rules(args.rules)
    grid = load_grid(args.grid)
    parts, ds, window = data_and_window(args, rules=rules)
    if parts:
        from calib import distributed

        res = distributed.sweep(ds, rules, grid, scheduler=args.scheduler,
                                window_days=args.window_days, start=args.start, end=args.end,
                                progress=sys.stderr.isatty())
    else:
        res = sweep(ds, rules, grid, window_days=args.window_days, start=args.start,
                    end=args.end, progress=sys.stderr.isatty())
    top = res.top(args.top, objective=args.objective, capacity_mql_per_week=args.capacity)
    if args.out:
        write_output(res.frame, args.out, "rows")
    warn(res.warnings)
    if args.json:
        d = res.to_dict()
        d["top"] = top.astype(object).where(top.notna(), None).to_dict("records")
        d["window"] = window.to_dict()
        print_json(d)
        return
    print(f"Sweep of '{res.rules}': {len(res.frame):,} configurations"
          + (f" ({res.skipped} invalid combinations skipped)" if res.skipped else ""))
    if window.source not in ("snapshot", "given"):
        print(f"Window: {window.sentence}")
    title = f"Top {len(top)} by {args.objective or res.default_objective}"
    if args.capacity is not None:
        title += f" within {args.capacity:g} MQLs per week"
    if top.empty and args.capacity is not None:
        fewest = res.frame["mql_per_week"].min()
        print(f"No configuration stays within {args.capacity:g} MQLs per week; the fewest is "
              f"{fewest:,.4g} MQLs per week. Raise --capacity or add higher cutoffs to the "
              "grid.")
        return
    print(title + ":")
    cols = list(res.params) + ["mql_count", "mql_per_week"]
    for o in [o for o in ("meeting", "sql", "won") if o in res.outcomes] or res.outcomes[:3]:
        cols += [f"{o}_hits", f"{o}_rate"]
    print(top[cols].to_string(index=False, float_format=lambda x: f"{x:.4g}"))


# ------------------------------------------------------------------ score
def _score_args(p):
    data_args(p)
    rules_arg(p)
    p.add_argument("--as-of", required=True, metavar="DATE", help="score at this date (UTC)")
    table_out_arg(p, "--out", "the scores", stdout=True)


def _score(args):
    from calib.engine.score import BANDS, score_as_of
    from calib.io import neutralise_formulas
    from calib.rules import load_rules

    check_outputs(args, "--out")
    rules = load_rules(args.rules)
    ds = load_data(args)
    df = score_as_of(ds, rules, args.as_of)
    counts = df["band"].value_counts()
    bands = {b: int(counts.get(b, 0)) for b in BANDS}
    if args.out:
        write_output(df, args.out, "scores")
    if args.json:
        print_json({"rules": rules.name, "as_of": str(args.as_of), "leads": len(df),
                    "bands": bands, "out": args.out})
    elif args.out:
        print(f"{len(df):,} leads scored as of {args.as_of}: "
              + ", ".join(f"{b} {n:,}" for b, n in bands.items()))
    else:
        neutralise_formulas(df).to_csv(sys.stdout, index=False)


COMMANDS = [
    Command("demo", "write a synthetic data set with a known truth and a rule set",
            "Write a realistic synthetic B2B lead history (leads, events, outcomes, a live "
            "test's assignments) with its known ground truth (truth.json, truth.toml), the "
            "historical rule set current.toml, a sweep grid and an experiment file, then run "
            "the experiment end to end into a report (calib run).",
            "calib demo --out calib-demo --leads 50000 --seed 1", _demo_args, _demo),
    Command("validate", "check a data set and summarise it",
            "Check a data set against calib's table contract and print counts, the date "
            "range, event types, outcomes and warnings. Every problem is listed at once.",
            "calib validate calib-demo/data", data_args, _validate),
    Command("replay", "replay one rule set over past leads",
            "Replay a rule set over the leads of the period, point in time, and report MQL "
            "volume, outcome rates with 95% Wilson intervals, recall and coverage.",
            "calib replay calib-demo/data --rules calib-demo/current.toml --window-days 90 "
            "--leads-out leads.csv", _replay_args, _replay),
    Command("sweep", "replay every combination of a parameter grid",
            "Replay every combination of a grid of cutoffs, decay settings and rule points. "
            "The grid is TOML mapping parameter paths to lists, e.g.\n\n"
            '  "thresholds.mql" = [40, 50, 60]\n  "decay.half_life_days" = [14, 30, 60]\n'
            '  "behavior.pricing_page_view.points" = [10, 20]\n',
            "calib sweep calib-demo/data --rules calib-demo/current.toml "
            "--grid calib-demo/grid.toml --out sweep.csv --top 10 --capacity 60",
            _sweep_args, _sweep),
    Command("score", "each lead's score and band at a date",
            "Score every lead created by --as-of under a rule set, for loading the scores "
            "back into a CRM. Writes lead_id, fit_score, behavior_score, score, band.",
            "calib score calib-demo/data --rules calib-demo/truth.toml --as-of 2026-06-30 "
            "--out scores.csv", _score_args, _score),
]
