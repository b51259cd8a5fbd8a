"""``calib refine``: check the last review against what followed (calib.refine)."""

from __future__ import annotations

from calib.cli.common import Command, emit, info, json_arg, load_mapping


def _refine_args(p):
    p.add_argument("source", metavar="DATA|EXPERIMENT.toml",
                   help="a data set folder (then --rules is required), or an experiment file "
                        "whose [rules] baseline, history, [report] previous and [refine] are used")
    p.add_argument("--mapping", metavar="FILE.toml", help="column mapping of the data set")
    p.add_argument("--rules", metavar="R.toml", help="the rule set live now")
    p.add_argument("--history", metavar="HISTORY.csv",
                   help="rule-set history: a table with columns since,file[,until]")
    p.add_argument("--previous", metavar="DIR",
                   help="the earlier report's folder (its summary.json holds the prediction)")
    p.add_argument("--outcome", metavar="X", help="primary outcome (default: meeting, sql, "
                   "opportunity or won, the first in the data)")
    p.add_argument("--window-days", type=float, metavar="W",
                   help="attribution window in days (default 90)")
    p.add_argument("--first-touch", metavar="X", help="outcome or event type of sales' first "
                   "touch (default contacted)")
    p.add_argument("--service-level-hours", type=float, metavar="H",
                   help="target: MQLs touched within H hours")
    p.add_argument("--service-level-share", type=float, metavar="S",
                   help="... for at least this share of MQLs (default 0.9)")
    p.add_argument("--rejected", metavar="X", help="outcome by which sales reject a lead "
                   "(default disqualified)")
    p.add_argument("--drift-by", choices=("month", "week"), help="drift periods (default month)")
    json_arg(p)


def _refine(args):
    from calib.data import load_dataset
    from calib.engine.replay import outcome_names
    from calib.errors import CalibError
    from calib.pipeline.run import PRIMARY_ORDER
    from calib.refine import RefineConfig, RuleHistory, load_previous, refine
    from calib.rules import load_rules

    options = {k: v for k, v in (("first_touch", args.first_touch),
                                 ("service_level_hours", args.service_level_hours),
                                 ("service_level_share", args.service_level_share),
                                 ("rejected", args.rejected), ("drift_by", args.drift_by))
               if v is not None}
    history = RuleHistory.read_csv(args.history) if args.history else None
    previous = args.previous
    window = args.window_days
    outcome = args.outcome
    if args.source.endswith(".toml"):
        from calib.importers import load_experiment_data
        from calib.pipeline.experiment import load_experiment

        exp = load_experiment(args.source)
        ds = load_experiment_data(exp)
        rules = load_rules(args.rules or exp.baseline)
        history = history or exp.history
        previous = previous or exp.report.previous
        window = window or exp.window_days
        outcome = outcome or exp.primary_outcome
        base = exp.refine.to_dict() if exp.refine is not None else {}
        config = RefineConfig.from_dict({**base, **options})
    else:
        if not args.rules:
            raise CalibError("calib refine DATA needs --rules (the rule set live now).",
                             code="missing_value",
                             suggestion="Add --rules current.toml, or pass an experiment file.")
        ds = load_dataset(args.source, load_mapping(args.mapping))
        rules = load_rules(args.rules)
        config = RefineConfig.from_dict(options)
    if outcome is None:
        present = outcome_names(ds)
        outcome = next((o for o in PRIMARY_ORDER if o in present), None)
        if outcome is None:
            raise CalibError("The data set has no meeting, sql, opportunity or won outcome to "
                             "judge by.", code="no_outcome", suggestion="Name one with --outcome.")
    info(f"refinement review of '{rules.name}' by {outcome}")
    res = refine(ds, rules, primary=outcome.lower(), window_days=window or 90, config=config,
                 history=history, previous=load_previous(previous) if previous else None)
    emit(args, res)


COMMANDS = [
    Command(
        "refine", "check the last review: predicted vs realised, drift, speed to lead, "
        "sales feedback",
        "A refinement review of the rule set live now: what the earlier report predicted for "
        "the rule set adopted since (--previous, with the rule-set history) against what "
        "happened, or a before/after replay of the change; drift by month of lead creation "
        "(score PSI, MQL volume, conversion per band, event mix); time from MQL to sales' "
        "first touch with a service-level verdict; and the rate at which sales reject each "
        "band's and each rule's MQLs.",
        "calib refine calib-demo/experiment.toml --service-level-hours 4",
        _refine_args, _refine),
]
