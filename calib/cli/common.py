"""Pieces every command shares: argument groups, data loading, output.

A command module exposes ``COMMANDS``, a list of :class:`Command`; ``calib.cli.main``
collects them. Modules import heavy code inside ``run`` so ``calib --help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    description: str
    example: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], None]


class Parser(argparse.ArgumentParser):
    def error(self, message):  # bad usage: one line, exit 2
        self.print_usage(sys.stderr)
        print(f"calib: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def add_command(sub, cmd: Command) -> argparse.ArgumentParser:
    p = sub.add_parser(cmd.name, help=cmd.help, description=cmd.description,
                       epilog=f"example:\n  {cmd.example}",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--debug", action="store_true", help="show a traceback on errors")
    cmd.configure(p)
    return p


def number(*, low=None, high=None, low_open=False, integer=False):
    """An argparse ``type``: a finite number (a whole one with ``integer``) in
    [low, high] (``low`` excluded with ``low_open``); anything else is bad usage (exit
    2) naming the option."""
    import math

    def parse(text):
        try:
            v = int(text) if integer else float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"must be {'a whole number' if integer else 'a number'}, got {text!r}") from None
        if not math.isfinite(v):
            raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
        if low is not None and (v < low or (low_open and v == low)):
            raise argparse.ArgumentTypeError(f"must be {'>' if low_open else '>='} {low:g}, "
                                             f"got {text}")
        if high is not None and v > high:
            raise argparse.ArgumentTypeError(f"must be at most {high:,g}, got {text}")
        return v

    parse.__name__ = "whole number" if integer else "number"
    return parse


POSITIVE = number(low=0, low_open=True)
DAYS = number(low=0, low_open=True, high=36_500)
PROBABILITY = number(low=0, low_open=True, high=1)


def data_args(p, json_: bool = True):
    p.add_argument("data", metavar="DATA", help="data set folder (leads, events, outcomes)")
    p.add_argument("--mapping", metavar="FILE.toml",
                   help="column mapping for exports whose names differ (see README)")
    p.add_argument("--no-cache", action="store_true",
                   help="read DATA from its files, without calib's data cache (also "
                        "CALIB_NO_CACHE=1)")
    if json_:
        json_arg(p)


def json_arg(p):
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def period_args(p):
    p.add_argument("--window-days", type=DAYS, default=None, metavar="W",
                   help="attribution window in days after the MQL (default: from the data, "
                   "the time after the MQL within which 95%% of the outcomes arrive: "
                   "meeting, else the next sales outcome, or --outcome; 90 when fewer "
                   "than 20 leads have one)")
    p.add_argument("--start", metavar="DATE", help="count leads created on or after DATE")
    p.add_argument("--end", metavar="DATE", help="count leads created on or before DATE")


def load_mapping(path):
    if not path:
        return None
    from calib.data import ColumnMapping
    from calib.rules import read_toml

    return ColumnMapping.from_dict(read_toml(path, what="column mapping"), source=str(path))


def load_data(args):
    from calib.data import load_dataset

    return load_dataset(args.data, load_mapping(getattr(args, "mapping", None)),
                        cache=False if getattr(args, "no_cache", False) else None)


def print_json(d: dict) -> None:
    from calib.io import json_safe  # pandas: only when there is a result to print

    print(json.dumps(json_safe(d), ensure_ascii=False))


def emit(args, result) -> None:
    """``--json``: the result's ``to_dict()``; otherwise its ``summary()``."""
    if getattr(args, "json", False):
        print_json(result.to_dict())
    else:
        print(result.summary())


def warn(msgs) -> None:
    for m in msgs:
        print(f"warning: {m}", file=sys.stderr)


def info(msg: str) -> None:
    print(msg, file=sys.stderr)


def starting(msg: str) -> None:
    """Say on a terminal what a command is doing, before its heavy imports and loading
    (a person at a terminal sees it start at once; a pipe gets nothing)."""
    if sys.stderr.isatty():
        print(msg, file=sys.stderr, flush=True)


def check_outputs(args, *options) -> None:
    """Refuse, before anything is computed, an output option that names one of the
    command's inputs (data set, rules, grid, mapping, assignments) or a table file of
    the data set folder."""
    from calib.io import check_output

    inputs = [getattr(args, k, None) for k in ("mapping", "grid", "existing", "assignments",
                                               "experiment")]
    rules = getattr(args, "rules", None)
    inputs += list(rules) if isinstance(rules, (list, tuple)) else [rules]
    inputs = [i for i in inputs if i]
    for opt in options:
        value = getattr(args, opt.lstrip("-").replace("-", "_"), None)
        if value:
            # --out of fit is a rule set; every other output is a table
            suffixes = (".toml",) if opt == "--out" and args.command == "fit" else (
                ".csv", ".parquet")
            check_output(value, inputs, data=getattr(args, "data", None), what=opt,
                         suffixes=suffixes)


def write_table(df, path) -> None:
    """CSV or Parquet by extension, atomically, spreadsheet formulas neutralised."""
    from calib.io import write_table as _write

    _write(df, path)


def window_outcomes(ds, chosen=None) -> list[str]:
    """The outcomes whose delays set a measured window: ``chosen`` when given, else the
    first sales outcome in the data (meeting, sql, opportunity, won; the one a sweep
    ranks by), else the first outcome but ``mql``."""
    from calib.engine.replay import outcome_names

    if chosen:
        return list(chosen)
    names = [o for o in outcome_names(ds) if o != "mql"]
    return ([o for o in ("meeting", "sql", "opportunity", "won") if o in names] or names)[:1]


def measured_window(args, ds, outcomes=None, *, rules=None, start=None, end=None):
    """Resolve ``args.window_days``: as given, else measured from the data by
    :func:`calib.engine.delays.resolve_window` (the delay from the MQL under ``rules``,
    or from lead creation, to each of ``outcomes``, default :func:`window_outcomes`);
    sets it on ``args`` and returns the :class:`~calib.engine.delays.DelayWindow`. A
    partitioned ``ds`` (a path) is read whole only when the window has to be measured.
    When no lead of the period is old enough for the window, warns why and which window
    would give some."""
    import numpy as np

    from calib.engine.delays import mature_hint, resolve_window

    if args.window_days is not None:
        snapshot = getattr(ds, "snapshot", False)
        return resolve_window(ds if snapshot else None, None if snapshot else args.window_days,
                              outcomes or [])
    if not hasattr(ds, "leads"):
        from calib.distributed.partitions import read_whole
        ds = read_whole(ds)
    outcomes = window_outcomes(ds, outcomes)
    w = resolve_window(ds, None, outcomes, rules=rules)
    args.window_days = w.days
    if ds.snapshot or ds.end_of_data is None:
        return w
    from calib.data.dataset import ns
    from calib.engine.replay import replay_period

    _, keep = replay_period(ds, start, end)
    created = ns(ds.leads["created_at"])[keep]
    if len(created) and not (created + w.days * 86_400e9 <= ds.end_of_data.value).any():
        warn([f"No lead of the period is old enough for the {w.days:g}-day window: "
              + mature_hint(ds, np.asarray(created), w.days, outcomes) + "."])
    return w


class WithWindow:
    """A command's result with the window it used: ``window`` in its JSON, one line
    saying how the window was chosen in its text (none when it was given or on snapshot
    data, so that text stays as it was)."""

    def __init__(self, res, window):
        self.res, self.window = res, window

    def to_dict(self) -> dict:
        d = self.res.to_dict()
        d["window"] = self.window.to_dict()
        return d

    def summary(self) -> str:
        text = self.res.summary()
        return text if self.window.source in ("snapshot", "given") else \
            f"{text}\nWindow: {self.window.sentence}"
