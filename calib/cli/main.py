"""The ``calib`` command line (SPEC section 4).

Every command that computes something takes ``--json`` and then prints exactly one JSON
object on stdout (progress and warnings go to stderr). Errors print one line on stderr
and exit 1 (a traceback only with ``--debug``); bad usage exits 2.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import textwrap
import traceback
import warnings
from pathlib import Path

from calib import __version__
from calib.errors import CalibError

EXAMPLES = {
    "demo": "calib demo --out calib-demo --leads 20000 --seed 1",
    "validate": "calib validate calib-demo/data",
    "replay": "calib replay calib-demo/data --rules calib-demo/current.toml --window-days 90 "
              "--leads-out leads.csv",
    "sweep": "calib sweep calib-demo/data --rules calib-demo/current.toml "
             "--grid calib-demo/grid.toml --out sweep.csv --top 10 --capacity 60",
    "score": "calib score calib-demo/data --rules calib-demo/truth.toml --as-of 2026-06-30 "
             "--out scores.csv",
}


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # bad usage: one line, exit 2
        self.print_usage(sys.stderr)
        print(f"calib: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def _add(sub, name: str, help_: str, description: str):
    p = sub.add_parser(
        name, help=help_, description=description,
        epilog=f"example:\n  {EXAMPLES[name]}" if name in EXAMPLES else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--debug", action="store_true", help="show a traceback on errors")
    return p


def _data_args(p, json_: bool = True):
    p.add_argument("data", metavar="DATA", help="data set folder (leads, events, outcomes)")
    p.add_argument("--mapping", metavar="FILE.toml",
                   help="column mapping for exports whose names differ (see README)")
    if json_:
        p.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def _period_args(p):
    p.add_argument("--window-days", type=float, default=90, metavar="W",
                   help="attribution window in days after the MQL (default 90)")
    p.add_argument("--start", metavar="DATE", help="count leads created on or after DATE")
    p.add_argument("--end", metavar="DATE", help="count leads created on or before DATE")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="calib",
        description="Test lead-scoring rules against your own history: replay, sweep, "
                    "compare, fit, calibrate and recommend.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run 'calib COMMAND --help' for a command's options and an example.",
    )
    parser.add_argument("--version", action="version", version=f"calib {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = _add(sub, "demo", "write a synthetic data set with a known truth and a rule set",
             "Write a realistic synthetic B2B lead history (leads, events, outcomes, a live "
             "test's assignments) with its known ground truth (truth.json, truth.toml), the "
             "historical rule set current.toml and an experiment file.")
    p.add_argument("--out", default="calib-demo", metavar="DIR", help="output folder")
    p.add_argument("--leads", type=int, default=20_000, metavar="N", help="number of leads")
    p.add_argument("--seed", type=int, default=1, metavar="S", help="random seed")
    p.add_argument("--format", choices=("csv", "parquet"), default="csv",
                   help="file format of the tables (default csv)")
    p.add_argument("--force", action="store_true", help="overwrite a non-empty --out folder")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")

    p = _add(sub, "validate", "check a data set and summarise it",
             "Check a data set against calib's table contract and print counts, the date "
             "range, event types, outcomes and warnings. Every problem is listed at once.")
    _data_args(p)

    p = _add(sub, "replay", "replay one rule set over past leads",
             "Replay a rule set over the leads of the period, point in time, and report MQL "
             "volume, outcome rates with 95% Wilson intervals, recall and coverage.")
    _data_args(p)
    p.add_argument("--rules", required=True, metavar="R.toml", help="rule set")
    _period_args(p)
    p.add_argument("--leads-out", metavar="FILE", help="write one row per lead (.csv or .parquet)")

    p = _add(sub, "sweep", "replay every combination of a parameter grid",
             "Replay every combination of a grid of cutoffs, decay settings and rule points. "
             "The grid is TOML mapping parameter paths to lists, e.g.\n\n"
             '  "thresholds.mql" = [40, 50, 60]\n  "decay.half_life_days" = [14, 30, 60]\n'
             '  "behavior.pricing_page_view.points" = [10, 20]\n')
    _data_args(p)
    p.add_argument("--rules", required=True, metavar="R.toml", help="base rule set")
    p.add_argument("--grid", required=True, metavar="G.toml", help="parameter grid")
    _period_args(p)
    p.add_argument("--out", metavar="FILE", help="write all rows (.csv or .parquet)")
    p.add_argument("--top", type=int, default=10, metavar="N", help="show the N best rows")
    p.add_argument("--objective", metavar="COLUMN",
                   help="column to rank by (default: hits of the first outcome)")
    p.add_argument("--capacity", type=float, metavar="MQL_PER_WEEK",
                   help="only rank rows with at most this many MQLs per week")

    p = _add(sub, "score", "each lead's score and band at a date",
             "Score every lead created by --as-of under a rule set, for loading the scores "
             "back into a CRM. Writes lead_id, fit_score, behavior_score, score, band.")
    _data_args(p)
    p.add_argument("--rules", required=True, metavar="R.toml", help="rule set")
    p.add_argument("--as-of", required=True, metavar="DATE", help="score at this date (UTC)")
    p.add_argument("--out", metavar="FILE", help="write the scores (.csv or .parquet); "
                   "default: CSV on stdout")
    return parser


# ------------------------------------------------------------------ helpers
def _load_mapping(path):
    if not path:
        return None
    from calib.data import ColumnMapping
    from calib.rules import read_toml

    return ColumnMapping.from_dict(read_toml(path, what="column mapping"), source=str(path))


def _load_data(args):
    from calib.data import load_dataset

    return load_dataset(args.data, _load_mapping(getattr(args, "mapping", None)))


def _emit(args, result):
    if getattr(args, "json", False):
        print(json.dumps(_json_safe(result.to_dict()), ensure_ascii=False))
    else:
        print(result.summary())


def _json_safe(obj):
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if hasattr(obj, "item") and not isinstance(obj, (str, bytes)):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def write_table(df, path) -> None:
    """Write a table as CSV or Parquet by extension, atomically, with spreadsheet
    formulas neutralised in CSV text cells."""
    from calib.io import write_table as _write

    _write(df, path)


def _warn(msgs):
    for m in msgs:
        print(f"warning: {m}", file=sys.stderr)


# ------------------------------------------------------------------ commands
def cmd_demo(args):
    from calib.demo import generate_demo

    out = Path(args.out)
    if out.exists() and any(out.iterdir()) and not args.force:
        raise CalibError(f"The folder '{out}' exists and is not empty.", code="exists",
                         suggestion="Choose another --out or add --force to overwrite.")
    if args.leads < 100:
        raise CalibError(f"--leads must be at least 100. Got {args.leads}.", code="out_of_range")
    world = generate_demo(out, n_leads=args.leads, seed=args.seed, fmt=args.format)
    if args.json:
        print(json.dumps(_json_safe(world.to_dict())))
    else:
        print(world.summary())


def cmd_validate(args):
    from calib.data import summarize

    _emit(args, summarize(_load_data(args)))


def cmd_replay(args):
    from calib.engine import replay
    from calib.rules import load_rules

    rules = load_rules(args.rules)
    ds = _load_data(args)
    res = replay(ds, rules, window_days=args.window_days, start=args.start, end=args.end,
                 per_lead=bool(args.leads_out))
    if args.leads_out:
        write_table(res.per_lead, args.leads_out)
        print(f"wrote {len(res.per_lead):,} leads to {args.leads_out}", file=sys.stderr)
    if args.json:
        _warn(res.warnings)
    _emit(args, res)


def cmd_sweep(args):
    from calib.engine.sweep import load_grid, sweep
    from calib.rules import load_rules

    rules = load_rules(args.rules)
    grid = load_grid(args.grid)
    ds = _load_data(args)
    res = sweep(ds, rules, grid, window_days=args.window_days, start=args.start, end=args.end,
                progress=None if not args.json else sys.stderr.isatty())
    if args.out:
        write_table(res.frame, args.out)
        print(f"wrote {len(res.frame):,} rows to {args.out}", file=sys.stderr)
    _warn(res.warnings)
    if args.json:
        print(json.dumps(_json_safe(res.to_dict())))
    else:
        top = res.top(args.top, objective=args.objective, capacity_per_week=args.capacity)
        print(f"Sweep of '{res.rules}': {len(res.frame):,} configurations"
              + (f" ({res.skipped} invalid combinations skipped)" if res.skipped else ""))
        title = f"Top {len(top)} by {args.objective or 'hits of ' + res.outcomes[0]}"
        if args.capacity is not None:
            title += f" within {args.capacity:g} MQLs per week"
        print(title + ":")
        cols = list(res.params) + ["mql_count", "mql_per_week"]
        for o in res.outcomes[:3]:
            cols += [f"{o}_hits", f"{o}_rate"]
        print(top[cols].to_string(index=False, float_format=lambda x: f"{x:.4g}"))


def cmd_score(args):
    from calib.engine.score import score_as_of
    from calib.rules import load_rules

    rules = load_rules(args.rules)
    ds = _load_data(args)
    df = score_as_of(ds, rules, args.as_of)
    if args.out:
        write_table(df, args.out)
        print(f"wrote {len(df):,} scores to {args.out}", file=sys.stderr)
    if args.json:
        counts = df["band"].value_counts()
        print(json.dumps({"rules": rules.name, "as_of": str(args.as_of), "leads": len(df),
                          "bands": {b: int(counts.get(b, 0)) for b in ("cold", "warm", "mql", "sql")},
                          "out": args.out}))
    elif not args.out:
        from calib.io import neutralise_formulas

        neutralise_formulas(df).to_csv(sys.stdout, index=False)
    else:
        counts = df["band"].value_counts()
        print(f"{len(df):,} leads scored as of {args.as_of}: "
              + ", ".join(f"{b} {int(counts.get(b, 0)):,}" for b in ("cold", "warm", "mql", "sql")))


COMMANDS = {"demo": cmd_demo, "validate": cmd_validate, "replay": cmd_replay,
            "sweep": cmd_sweep, "score": cmd_score}


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    debug = getattr(args, "debug", False)
    warnings.simplefilter("ignore", category=UserWarning)  # calib reports its own warnings
    try:
        COMMANDS[args.command](args)
    except CalibError as e:
        if debug:
            traceback.print_exc()
        print(f"calib {args.command}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as e:  # noqa: BLE001 - the last line of defence for users
        if debug:
            traceback.print_exc()
        msg = textwrap.shorten(f"{type(e).__name__}: {e}", 300)
        print(f"calib {args.command}: internal error: {msg}. Run again with --debug for a "
              f"traceback and report it.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
