"""A/B commands: plan, assign, abtest (live tests) and compare (offline, same leads)."""

from __future__ import annotations

import sys

from calib.cli.common import (DAYS, POSITIVE, PROBABILITY, Command, WithWindow, check_outputs,
                              data_args, emit, info, json_arg, load_data, number, period_args,
                              table_out_arg, warn, write_output)
from calib.cli.distributed import data_and_window, scheduler_arg
from calib.errors import CalibError


def _weights(text, source):
    from calib.abtest import ArmAllocation

    return ArmAllocation.parse(text, source=source) if text else None


# ------------------------------------------------------------------ plan
def _plan_args(p):
    p.add_argument("--baseline-rate", required=True, type=PROBABILITY, metavar="P",
                   help="the control arm's rate, e.g. 0.12 for 12%% of assigned leads "
                   "booking a meeting within the window")
    p.add_argument("--mde", type=POSITIVE, metavar="D",
                   help="effect to detect: absolute (0.02 = 2 percentage points) or, with "
                   "--relative, relative (0.2 = +20%%)")
    p.add_argument("--relative", action="store_true", help="--mde is relative to the baseline")
    p.add_argument("--weeks", type=POSITIVE, metavar="W", help="instead of --mde: enrolment "
                   "weeks available (needs --leads-per-week); prints the detectable effect")
    p.add_argument("--n-per-arm", type=POSITIVE, metavar="N", help="instead of --mde: leads in "
                   "the control arm; prints the detectable effect")
    p.add_argument("--alpha", type=PROBABILITY, default=0.05, help="two-sided level (default 0.05)")
    p.add_argument("--power", type=PROBABILITY, default=0.8, help="power (default 0.8)")
    p.add_argument("--arms", type=number(low=2, high=100, integer=True), default=2, help="arms including the control "
                   "(default 2); alpha is split over the comparisons with the control")
    p.add_argument("--ratio", type=POSITIVE, default=1.0, help="leads per treatment arm per "
                   "control lead (default 1)")
    p.add_argument("--leads-per-week", type=POSITIVE, metavar="N",
                   help="leads entering the test per week, all arms together")
    p.add_argument("--window-days", type=DAYS, default=90, metavar="W",
                   help="attribution window, added to the duration (default 90)")
    json_arg(p)


def _plan(args):
    from calib.abtest import plan_test

    emit(args, plan_test(args.baseline_rate, args.mde, relative=args.relative,
                         alpha=args.alpha, power=args.power, arms=args.arms,
                         ratio=args.ratio, leads_per_week=args.leads_per_week,
                         weeks=args.weeks, n_per_arm=args.n_per_arm,
                         window_days=args.window_days))


# ------------------------------------------------------------------ assign
def _assign_args(p):
    data_args(p)
    p.add_argument("--experiment", required=True, metavar="NAME",
                   help="experiment name; it salts the hash, keep it for the whole test")
    p.add_argument("--arms", required=True, metavar="A=W,B=W",
                   help="arms and shares, e.g. control=0.5,strict=0.5 (shares sum to 1)")
    table_out_arg(p, "--out", "the assignments", stdout=True)
    p.add_argument("--existing", metavar="FILE", help="earlier assignments: those leads keep "
                   "their arm; only new leads are assigned")
    p.add_argument("--start", metavar="DATE", help="only assign leads created on or after "
                   "DATE (the test's launch)")


def _assign(args):
    from calib.abtest import assign, read_assignment_table
    from calib.io import neutralise_formulas

    if args.json and not args.out:
        raise CalibError("--json prints a summary on stdout, so the assignments need --out.",
                         code="missing_option", suggestion="Add --out assignments.csv.")
    check_outputs(args, "--out")
    alloc = _weights(args.arms, "--arms")
    existing = read_assignment_table(args.existing) if args.existing else None
    ds = load_data(args)
    res = assign(ds, args.experiment, alloc, existing=existing, start=args.start)
    warn(res.warnings)
    if args.out:
        write_output(res.frame, args.out, "assignments")
        emit(args, res)
    else:
        info(res.summary())
        neutralise_formulas(res.frame).to_csv(sys.stdout, index=False,
                                              date_format="%Y-%m-%dT%H:%M:%SZ")


# ------------------------------------------------------------------ abtest
def _abtest_args(p):
    data_args(p)
    p.add_argument("--assignments", metavar="FILE", help="lead_id, arm and optional "
                   "assigned_at (.csv or .parquet); default: the data set's assignments table")
    p.add_argument("--control", metavar="ARM", help="the control arm (default: 'control')")
    p.add_argument("--outcome", action="extend", nargs="+", metavar="X",
                   help="primary outcome(s) (default: every outcome in the data but mql)")
    p.add_argument("--window-days", type=DAYS, default=None, metavar="W",
                   help="an outcome counts within W days after assignment (default: from "
                   "the data, the time after assignment within which 95%% of the primary "
                   "outcomes arrive)")
    p.add_argument("--guardrail", action="extend", nargs="+", default=[], metavar="NAME",
                   help="event types (unsubscribe, email_bounce) or outcomes (disqualified) "
                   "that must not rise; their own correction family")
    p.add_argument("--planned", metavar="A=W,B=W", help="planned allocation for the "
                   "sample-ratio check (default: equal shares)")
    p.add_argument("--correction", choices=("holm", "bh"), default="holm",
                   help="multiple-testing correction: holm (family-wise, default) or bh "
                   "(false discovery rate)")
    p.add_argument("--rules", action="append", default=[], metavar="R.toml",
                   help="also report the MQL rate per arm under this rule set (repeatable)")
    p.add_argument("--alpha", type=PROBABILITY, default=0.05, help="level (default 0.05)")
    p.add_argument("--tau", type=POSITIVE, default=0.02, help="mixture scale of the always-valid "
                   "p-values: the absolute difference you expect (default 0.02)")
    table_out_arg(p, "--out", "one row per metric and arm")
    table_out_arg(p, "--looks-out", "the weekly look history")


def _abtest(args):
    from calib.abtest import ABTestConfig, abtest, read_assignment_table
    from calib.rules import load_rules

    check_outputs(args, "--out", "--looks-out")
    cfg = ABTestConfig(control=args.control,
                       outcomes=tuple(args.outcome) if args.outcome else None,
                       guardrails=tuple(args.guardrail), window_days=args.window_days,
                       planned=_weights(args.planned, "--planned"),
                       correction=args.correction, alpha=args.alpha, tau=args.tau)
    rules = tuple(load_rules(r) for r in args.rules)
    assignments = read_assignment_table(args.assignments) if args.assignments else None
    ds = load_data(args)
    res = abtest(ds, assignments, cfg, rules=rules)
    if res.srm.status == "mismatch":
        warn([res.srm.message])
    if args.out:
        write_output(res.to_frame(), args.out, "rows")
    if args.looks_out:
        write_output(res.looks, args.looks_out, "looks")
    emit(args, res, res.warnings)


# ------------------------------------------------------------------ compare
def _compare_args(p):
    data_args(p)
    p.add_argument("--rules", action="append", required=True, metavar="R.toml",
                   help="rule set; give it twice: --rules A.toml --rules B.toml "
                   "(differences are B - A)")
    p.add_argument("--outcome", action="extend", nargs="+", metavar="X",
                   help="outcome(s) to compare (default: meeting, sql, won where present)")
    period_args(p)
    p.add_argument("--bootstrap", type=number(low=0, high=100_000, integer=True), default=1000, metavar="N",
                   help="bootstrap resamples of leads for the intervals (default 1000; 0: "
                   "none; at most 100000)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    table_out_arg(p, "--leads-out", "one row per lead with its group (both, only_a, only_b, "
                  "neither) and MQL times")
    scheduler_arg(p)


def _compare(args):
    from calib.compare import compare_rules
    from calib.rules import load_rules

    if len(args.rules) != 2:
        raise CalibError(f"compare needs exactly two rule sets (--rules A.toml --rules "
                         f"B.toml). Got {len(args.rules)}.", code="wrong_count")
    check_outputs(args, "--leads-out")
    a, b = (load_rules(r) for r in args.rules)
    parts, ds, window = data_and_window(args, args.outcome, rules=a)
    if parts:
        from calib import distributed

        res = distributed.compare(ds, a, b, scheduler=args.scheduler,
                                  outcomes=args.outcome, window_days=args.window_days,
                                  start=args.start, end=args.end, n_bootstrap=args.bootstrap,
                                  seed=args.seed)
    else:
        res = compare_rules(ds, a, b, outcomes=args.outcome, window_days=args.window_days,
                            start=args.start, end=args.end, n_bootstrap=args.bootstrap,
                            seed=args.seed)
    if args.leads_out:
        write_output(res.per_lead, args.leads_out, "leads")
    emit(args, WithWindow(res, window), res.warnings)


COMMANDS = [
    Command("compare", "offline A/B of two rule sets on the same leads",
            "Replay two rule sets over the same leads and report both metric sets, the "
            "paired differences B - A with bootstrap intervals (leads resampled, both rule "
            "sets on each resample), McNemar's test of who becomes an MQL, and who moves: "
            "MQL under both (earlier, same time, later under B), only A, only B, neither.",
            "calib compare calib-demo/data --rules calib-demo/current.toml "
            "--rules calib-demo/truth.toml --bootstrap 1000 --seed 0", _compare_args, _compare),
    Command("abtest", "analyse a live A/B test of scoring rules or thresholds",
            "Per arm and outcome: the share of assigned leads whose first outcome falls "
            "within the window after assignment (leads whose window has not ended are left "
            "out), with Wilson intervals; against the control: difference (Newcombe), lift, "
            "p-value (z, or Fisher for small counts), Holm/BH correction, P(beats control), "
            "always-valid p-values with the weekly look history. The sample-ratio check "
            "comes first. Guardrails are reported in their own family.",
            "calib abtest calib-demo/data --assignments calib-demo/data/assignments.csv "
            "--control control --outcome meeting sql --guardrail unsubscribe disqualified",
            _abtest_args, _abtest),
    Command("plan", "sample size and duration of a live threshold test",
            "Leads per arm (rounded up) and in total for a baseline rate and the effect to "
            "detect, and the weeks to enrol them plus the attribution window; or, with "
            "--weeks or --n-per-arm, the smallest detectable effect. Pooled z-test (as R's "
            "power.prop.test for 2 equal arms); alpha is split over several treatment arms.",
            "calib plan --baseline-rate 0.10 --mde 0.02 --leads-per-week 350",
            _plan_args, _plan),
    Command("assign", "deterministic arm assignment for a live test",
            "Assign each lead to an arm by hashing: SHA-256 of 'NAME:lead_id', first 8 "
            "bytes as an unsigned integer / 2^64, first arm whose cumulative share exceeds "
            "it. The same lead gets the same arm on every system and every run. With "
            "--existing, already assigned leads keep their arm. assigned_at = created_at.",
            "calib assign calib-demo/data --experiment mql-threshold-2026 "
            "--arms control=0.5,strict=0.5 --start 2026-03-01 --out assignments.csv",
            _assign_args, _assign),
]
