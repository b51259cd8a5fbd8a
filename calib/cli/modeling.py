"""Modelling commands: fit (learn a rule set from outcomes) and calibrate."""

from __future__ import annotations

import functools

from calib.cli.common import (
    DAYS,
    POSITIVE,
    Command,
    check_outputs,
    data_args,
    emit,
    info,
    number,
    rules_arg,
    table_out_arg,
    warn,
    write_table,
)
from calib.cli.distributed import scheduler_arg, use_partitions


# ------------------------------------------------------------------ fit
def _fit_args(p):
    data_args(p)
    rules_arg(p, "the current rule set (structure, scale and baseline)", "CURRENT.toml")
    p.add_argument("--out", required=True, metavar="PROPOSED.toml",
                   help="where to write the proposed rule set")
    p.add_argument("--outcome", default="meeting", metavar="X",
                   help="outcome to predict (default meeting)")
    p.add_argument("--train-until", metavar="DATE",
                   help="fit on the data as known at DATE, test on leads created after "
                   "(default: two thirds through the data)")
    p.add_argument("--horizon-days", type=DAYS, default=None, metavar="H",
                   help="longest label window of a training example (default: the window, "
                   "at most 30)")
    p.add_argument("--label-delay", choices=("model", "fixed"), default="model",
                   help="when an outcome was decided: 'model' spreads it over the moments "
                   "that could have decided it, with the delay estimated from the data "
                   "(default); 'fixed' puts it --lag-days before the outcome")
    p.add_argument("--lag-days", type=number(low=0, high=36_500), default=1.0, metavar="L",
                   help="with --label-delay fixed: time from the decisive moment to the "
                   "recorded outcome (default 1)")
    p.add_argument("--window-days", type=DAYS, default=None, metavar="W",
                   help="attribution window of the replays (default: from the data, the "
                   "time within which 95%% of the outcomes arrive)")
    p.add_argument("--capacity", type=POSITIVE, metavar="MQL_PER_WEEK",
                   help="MQLs per week sales can take (default: keep the current volume)")
    p.add_argument("--sql-precision", type=number(low=0, low_open=True, high=1), metavar="P",
                   help="target hit rate of SQLs (default: the current rules' SQL hit rate)")
    p.add_argument("--holdout-column", default="auto", metavar="COLUMN",
                   help="lead column flagging a random exploration holdout (default: "
                   "exploration_holdout if present; 'none' for no holdout)")
    p.add_argument("--weighting", choices=("auto", "none", "ipw"), default="auto",
                   help="inverse-probability weighting of the training examples (default auto)")
    p.add_argument("--exclude-columns", metavar="A,B", default="",
                   help="lead columns never to use (e.g. filled in by sales after the fact)")
    p.add_argument("--decay-kinds", metavar="K,K", default="none,exponential,window,linear",
                   help="decay kinds to compare (default none,exponential,window,linear)")
    p.add_argument("--name", metavar="NAME", help="name of the proposed rule set")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="seed of subsampling")
    p.add_argument("--curve-out", metavar="FILE",
                   help="write the decay profile (kind, parameter, log-likelihood) as CSV")
    p.add_argument("--points-step", type=float, default=5, metavar="S",
                   help="simplify the proposal: points in multiples of S (rules under S/2 "
                   "dropped, indistinguishable levels merged), half-life to 0.1 day, whole "
                   "cutoffs; 1 for whole points (default 5)")
    scheduler_arg(p)


class _FitOutput:
    """What ``calib fit`` prints: the fit, then the simplification whose rule set it
    wrote (its values, not the full fit's, are the proposal's everywhere)."""

    def __init__(self, res, simp):
        self.res, self.simp = res, simp

    def to_dict(self) -> dict:
        d = self.res.to_dict()
        d["full_fit_rules"] = d["rules"]
        d["rules"] = self.simp.rules.to_dict()
        d["simplification"] = self.simp.to_dict()
        return d

    def summary(self) -> str:
        r = self.simp.rules
        th = r.thresholds
        return (self.res.summary() + "\n" + self.simp.summary() + "\n"
                + f"  written: {len(r.fit) + len(r.behavior)} rules, MQL cutoff {th.mql:g}"
                + (f", SQL cutoff {th.sql:g}" if th.sql is not None else "")
                + (f" (the full fit's cutoff {self.res.cutoffs['mql']:g} re-set for the "
                   "simplified points)" if th.mql != self.res.cutoffs["mql"] else ""))


def _fit_config(args):
    """The options of ``calib fit`` as a :class:`calib.fit.FitConfig`."""
    from calib.fit import FitConfig

    holdout = None if args.holdout_column.lower() == "none" else args.holdout_column
    return FitConfig(
        outcome=args.outcome, train_until=args.train_until, horizon_days=args.horizon_days,
        lag_days=args.lag_days, window_days=args.window_days,
        capacity_mql_per_week=args.capacity, sql_precision=args.sql_precision,
        holdout_column=holdout, weighting=args.weighting,
        exclude_columns=tuple(c for c in args.exclude_columns.split(",") if c),
        kinds=tuple(k.strip() for k in args.decay_kinds.split(",") if k.strip()),
        name=args.name, seed=args.seed, label_delay=args.label_delay,
        points_step=args.points_step)


def _fit(args):
    from calib.cli.common import load_data
    from calib.fit import fit
    from calib.rules import load_rules, write_rules

    check_outputs(args, "--out", "--curve-out")
    rules = load_rules(args.rules)
    if use_partitions(args):
        # the training examples are built per partition (there or on the cluster); the
        # rest of the fit runs here on the whole data set
        from calib.distributed import fit as fit_partitioned
        ds = args.data
        fit = functools.partial(fit_partitioned, scheduler=args.scheduler)
    else:
        ds = load_data(args)
    config = _fit_config(args)
    res = fit(ds, rules, config=config)
    from calib.fit.simplify import simplify

    whole = ds
    if not hasattr(whole, "leads"):  # a partitioned data set: simplify on the whole
        from calib.distributed.partitions import read_whole
        whole = read_whole(ds)
    window = args.window_days if args.window_days is not None else \
        (res.comparison or {}).get("window_days")
    if window is None:
        from calib.engine.delays import resolve_window
        window = resolve_window(whole, None, [res.outcome], rules=rules).days
    simp = simplify(whole, res, points_step=config.points_step, window_days=window,
                    seed=config.seed)
    write_rules(simp.rules, args.out)
    info(f"wrote the proposed rule set '{simp.rules.name}' to {args.out}")
    if args.curve_out:
        write_table(res.decay.curve, args.curve_out)
        info(f"wrote the decay profile to {args.curve_out}")
    warn(res.warnings)
    emit(args, _FitOutput(res, simp))


# ------------------------------------------------------------------ calibrate
def _calibrate_args(p):
    data_args(p)
    rules_arg(p)
    p.add_argument("--outcome", default="meeting", metavar="X",
                   help="outcome (default meeting)")
    p.add_argument("--window-days", type=DAYS, default=None, metavar="W",
                   help="probability of the outcome within W days (default: from the data, "
                   "the time within which 95%% of the outcomes arrive)")
    p.add_argument("--method", choices=("isotonic", "platt"), default="isotonic",
                   help="calibration map (default isotonic)")
    p.add_argument("--train-until", metavar="DATE",
                   help="fit the map on snapshots before DATE, evaluate after "
                   "(default: two thirds through the data)")
    p.add_argument("--segment", metavar="COLUMN", help="break results down by a lead column")
    p.add_argument("--every-days", type=DAYS, default=7, metavar="D",
                   help="spacing of the score snapshots (default 7)")
    p.add_argument("--bins", type=number(low=2, high=1000, integer=True), default=10, metavar="N",
                   help="bins of the reliability table and ECE (default 10)")
    table_out_arg(p, "--map-out", "the score -> probability table")


def _calibrate(args):
    from calib.calibration import calibrate
    from calib.cli.common import load_data
    from calib.rules import load_rules

    check_outputs(args, "--map-out")
    rules = load_rules(args.rules)
    ds = load_data(args)
    res = calibrate(ds, rules, outcome=args.outcome, window_days=args.window_days,
                    method=args.method, train_until=args.train_until, segment=args.segment,
                    every_days=args.every_days, n_bins=args.bins)
    if args.map_out:
        write_table(res.mapping.table(), args.map_out)
        info(f"wrote the calibration map to {args.map_out}")
    emit(args, res)


COMMANDS = [
    Command("fit", "learn points, decay and cutoffs from outcomes",
            "Learn a rule set from outcomes: point-in-time examples without leakage, the "
            "decay kind and half-life by profile likelihood, integer points from a "
            "regularised logistic model on the current rules' scale (flagging vanity and "
            "over-weighted rules), MQL/SQL cutoffs by capacity or precision. Fits on the "
            "data as known at --train-until and compares current and proposed rules on "
            "the later leads at equal MQL volume, correcting for selective labels with an "
            "exploration holdout where there is one. DATA may be a partitioned data set "
            "(calib partition): the training examples are then built per partition, on a "
            "Dask cluster with --scheduler, and the rest runs here.",
            "calib fit calib-demo/data --rules calib-demo/current.toml --out proposed.toml "
            "--capacity 60", _fit_args, _fit),
    Command("calibrate", "score-to-probability calibration, reliability, lift and drift",
            "Map a rule set's score to the probability of an outcome within W days "
            "(isotonic or Platt), fitted on early snapshots and evaluated out of time: "
            "reliability table, Brier score, log loss, ECE, AUC, KS, lift and gains by "
            "decile, rates by band, cohort month and segment, and the population stability "
            "index of the score.",
            "calib calibrate calib-demo/data --rules proposed.toml --segment source",
            _calibrate_args, _calibrate),
]
