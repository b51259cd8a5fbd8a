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
    """One ``calib`` command: its name, texts and what it does.

    Attributes
    ----------
    name : str
        The command word (``calib NAME``).
    help : str
        One line for ``calib --help``.
    description : str
        The paragraph of ``calib NAME --help``.
    example : str
        A complete command line, shown under the options.
    configure : callable
        Adds the command's options to its parser.
    run : callable
        Runs the command on the parsed arguments; raises :class:`~calib.errors.CalibError`
        on bad input.

    Examples
    --------
    >>> cmd = Command("hello", "say hello", "Say hello.", "calib hello",
    ...               configure=json_arg, run=lambda args: print("hello"))
    >>> cmd.run(None)
    hello
    """

    name: str
    help: str
    description: str
    example: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], None]


class Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors print one line and exit 2.

    Examples
    --------
    >>> p = Parser(prog="calib")
    >>> p.parse_args(["--oops"])
    Traceback (most recent call last):
    SystemExit: 2
    """

    def error(self, message):
        """Print the usage and ``calib: error: MESSAGE`` on stderr, and exit 2.

        Parameters
        ----------
        message : str
            What argparse found wrong.

        Raises
        ------
        SystemExit
            Always, with status 2 (bad usage).
        """
        self.print_usage(sys.stderr)
        print(f"calib: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def add_command(sub, cmd: Command) -> argparse.ArgumentParser:
    """Add ``cmd`` as a sub-command, with ``--debug``, its options and its example.

    Parameters
    ----------
    sub : argparse._SubParsersAction
        What ``add_subparsers()`` returned.
    cmd : Command
        The command to add.

    Returns
    -------
    argparse.ArgumentParser
        The command's parser.

    Examples
    --------
    >>> p = Parser(prog="calib")
    >>> sub = p.add_subparsers(dest="command")
    >>> _ = add_command(sub, Command("hello", "say hello", "Say hello.", "calib hello",
    ...                              json_arg, lambda args: None))
    >>> p.parse_args(["hello", "--json"])
    Namespace(command='hello', debug=False, json=True)
    """
    p = sub.add_parser(cmd.name, help=cmd.help, description=cmd.description,
                       epilog=f"example:\n  {cmd.example}",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--debug", action="store_true", help="show a traceback on errors")
    cmd.configure(p)
    return p


def number(*, low=None, high=None, low_open=False, integer=False):
    """An argparse ``type`` for a finite number in [low, high].

    Anything else is bad usage (exit 2) naming the option.

    Parameters
    ----------
    low, high : float, optional
        The bounds (none by default).
    low_open : bool
        Exclude ``low`` itself.
    integer : bool
        Require a whole number (returned as ``int``).

    Returns
    -------
    callable
        Parses an option's text; raises :class:`argparse.ArgumentTypeError`.

    Examples
    --------
    >>> weeks = number(low=0, low_open=True, high=520)
    >>> weeks("12.5")
    12.5
    >>> weeks("0")
    Traceback (most recent call last):
    argparse.ArgumentTypeError: must be > 0, got 0
    >>> number(low=1, integer=True)("2.5")
    Traceback (most recent call last):
    argparse.ArgumentTypeError: must be a whole number, got '2.5'
    """
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
    """Add ``DATA``, ``--mapping``, ``--no-cache`` and (with ``json_``) ``--json``.

    Parameters
    ----------
    p : argparse.ArgumentParser
        The parser of a command that reads a data set.
    json_ : bool
        Also add ``--json``.

    Examples
    --------
    >>> p = argparse.ArgumentParser()
    >>> data_args(p)
    >>> p.parse_args(["calib-demo/data", "--no-cache"])
    Namespace(data='calib-demo/data', mapping=None, no_cache=True, json=False)
    """
    p.add_argument("data", metavar="DATA", help="data set folder (leads, events, outcomes)")
    p.add_argument("--mapping", metavar="FILE.toml",
                   help="column mapping for exports whose names differ (see README)")
    p.add_argument("--no-cache", action="store_true",
                   help="read DATA from its files, without calib's data cache (also "
                        "CALIB_NO_CACHE=1)")
    if json_:
        json_arg(p)


def json_arg(p):
    """Add ``--json``: print one JSON object on stdout.

    Parameters
    ----------
    p : argparse.ArgumentParser
        The parser of a command that prints a result.

    Examples
    --------
    >>> p = argparse.ArgumentParser()
    >>> json_arg(p)
    >>> p.parse_args(["--json"]).json
    True
    """
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def rules_arg(p, help="rule set", metavar="R.toml"):
    """Add the required ``--rules`` option: the rule set a command reads.

    Parameters
    ----------
    p : argparse.ArgumentParser
        The parser of a command that reads a rule set.
    help : str
        Its help text.
    metavar : str
        Its placeholder in the usage line.

    Examples
    --------
    >>> p = argparse.ArgumentParser()
    >>> rules_arg(p, "the current rule set", "CURRENT.toml")
    >>> p.parse_args(["--rules", "calib-demo/current.toml"]).rules
    'calib-demo/current.toml'
    >>> "--rules CURRENT.toml" in p.format_usage()
    True
    """
    p.add_argument("--rules", required=True, metavar=metavar, help=help)


def table_out_arg(p, flag, what, *, stdout=False):
    """Add an option that names a table to write (``.csv`` or ``.parquet``).

    Parameters
    ----------
    p : argparse.ArgumentParser
        The parser of a command that writes a table.
    flag : str
        The option, e.g. ``"--out"``.
    what : str
        What the table holds, for the help text (``"write WHAT (.csv or .parquet)"``).
    stdout : bool
        Say that without the option the table goes to stdout as CSV.

    Examples
    --------
    >>> p = argparse.ArgumentParser()
    >>> table_out_arg(p, "--out", "the scores", stdout=True)
    >>> p._actions[-1].help
    'write the scores (.csv or .parquet); default: CSV on stdout'
    """
    p.add_argument(flag, metavar="FILE", help=f"write {what} (.csv or .parquet)"
                   + ("; default: CSV on stdout" if stdout else ""))


def period_args(p):
    """Add ``--window-days``, ``--start`` and ``--end``: which leads count, and how long
    an outcome may take after the MQL.

    Parameters
    ----------
    p : argparse.ArgumentParser
        The parser of a command that counts the leads of a period.

    Examples
    --------
    >>> p = argparse.ArgumentParser()
    >>> period_args(p)
    >>> p.parse_args(["--window-days", "30", "--start", "2026-01-01"])
    Namespace(window_days=30.0, start='2026-01-01', end=None)
    """
    p.add_argument("--window-days", type=DAYS, default=None, metavar="W",
                   help="attribution window in days after the MQL (default: from the data, "
                   "the time after the MQL within which 95%% of the outcomes arrive: "
                   "meeting, else the next sales outcome, or --outcome; 90 when fewer "
                   "than 20 leads have one)")
    p.add_argument("--start", metavar="DATE", help="count leads created on or after DATE")
    p.add_argument("--end", metavar="DATE", help="count leads created on or before DATE")


def load_mapping(path):
    """Read the column mapping of ``--mapping``.

    Parameters
    ----------
    path : str or None
        A TOML file; None or empty for no mapping.

    Returns
    -------
    calib.data.ColumnMapping or None

    Raises
    ------
    calib.errors.ConfigError
        When the file is missing or invalid.

    Examples
    --------
    >>> load_mapping(None) is None
    True
    """
    if not path:
        return None
    from calib.data import ColumnMapping
    from calib.rules import read_toml

    return ColumnMapping.from_dict(read_toml(path, what="column mapping"), source=str(path))


def load_data(args):
    """Load ``args.data`` with the command's ``--mapping`` and ``--no-cache``.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed arguments with ``data`` (and optionally ``mapping``, ``no_cache``).

    Returns
    -------
    calib.data.DataSet

    Examples
    --------
    >>> ds = load_data(argparse.Namespace(data="calib-demo/data"))
    >>> len(ds.leads)
    2000
    """
    from calib.data import load_dataset

    return load_dataset(args.data, load_mapping(getattr(args, "mapping", None)),
                        cache=False if getattr(args, "no_cache", False) else None)


def print_json(d: dict) -> None:
    """Print ``d`` as one line of JSON (NaN and infinities as null, text unescaped).

    Parameters
    ----------
    d : dict
        A result's ``to_dict()`` or another JSON-able dict.

    Examples
    --------
    >>> print_json({"rate": float("nan"), "arm": "contrôle"})
    {"rate": null, "arm": "contrôle"}
    """
    from calib.io import json_safe  # pandas: only when there is a result to print

    print(json.dumps(json_safe(d), ensure_ascii=False))


def emit(args, result, warnings=()) -> None:
    """Print a result: with ``--json`` its ``to_dict()``, otherwise its ``summary()``.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed arguments (``json`` may be absent: then the summary).
    result : object
        Has ``to_dict()`` and ``summary()``.
    warnings : sequence of str
        Printed on stderr with ``--json`` only (a summary lists its own warnings).

    Examples
    --------
    >>> class Result:
    ...     def to_dict(self):
    ...         return {"mql": 3}
    ...     def summary(self):
    ...         return "3 MQLs"
    >>> emit(argparse.Namespace(json=True), Result())
    {"mql": 3}
    >>> emit(argparse.Namespace(), Result())
    3 MQLs
    """
    if getattr(args, "json", False):
        warn(warnings)
        print_json(result.to_dict())
    else:
        print(result.summary())


def warn(msgs) -> None:
    """Print each message on stderr as ``warning: MESSAGE``.

    Parameters
    ----------
    msgs : iterable of str
        The warnings, without the prefix; none prints nothing.

    Examples
    --------
    >>> import contextlib, io
    >>> with contextlib.redirect_stderr(io.StringIO()) as err:
    ...     warn(["few leads", "no SQL cutoff"])
    >>> err.getvalue().splitlines()
    ['warning: few leads', 'warning: no SQL cutoff']
    """
    for m in msgs:
        print(f"warning: {m}", file=sys.stderr)


def info(msg: str) -> None:
    """Print a progress or side note on stderr (stdout holds only the result).

    Parameters
    ----------
    msg : str
        The note.

    Examples
    --------
    >>> import contextlib, io
    >>> with contextlib.redirect_stderr(io.StringIO()) as err:
    ...     info("wrote 3 rows to x.csv")
    >>> err.getvalue()
    'wrote 3 rows to x.csv\\n'
    """
    print(msg, file=sys.stderr)


def starting(msg: str) -> None:
    """Say on a terminal what a command is doing, before its heavy imports and loading
    (a person at a terminal sees it start at once; a pipe gets nothing)."""
    if sys.stderr.isatty():
        print(msg, file=sys.stderr, flush=True)


def check_outputs(args, *options) -> None:
    """Refuse, before anything is computed, an output that would overwrite an input.

    An output option may not name one of the command's inputs (data set, rules, grid,
    mapping, assignments) or a table file of the data set folder.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed arguments of the command.
    *options : str
        The output options to check, e.g. ``"--out"``.

    Raises
    ------
    calib.errors.CalibError
        Code ``"overwrites_input"``, or ``"invalid_path"`` for a wrong extension or a
        missing folder.

    Examples
    --------
    >>> args = argparse.Namespace(command="replay", data="calib-demo/data",
    ...                           rules="calib-demo/current.toml",
    ...                           leads_out="calib-demo/current.toml")
    >>> check_outputs(args, "--leads-out")
    Traceback (most recent call last):
    calib.errors.CalibError: --leads-out 'calib-demo/current.toml' is the input 'calib-demo/current.toml'; calib never modifies its input. Suggestion: Write the output to another file.
    """
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
    """Write a table as CSV or Parquet by extension, atomically, formulas neutralised.

    See :func:`calib.io.write_table`, which this calls.

    Parameters
    ----------
    df : pandas.DataFrame
        The table.
    path : str or os.PathLike
        A ``.csv`` or ``.parquet`` file.

    Examples
    --------
    >>> import pandas as pd
    >>> from pathlib import Path
    >>> out = Path("example-formulas.csv")
    >>> write_table(pd.DataFrame({"lead_id": ["=1+1"]}), out)
    >>> out.read_text()
    "lead_id\\n'=1+1\\n"
    """
    from calib.io import write_table as _write

    _write(df, path)


def write_output(df, path, noun) -> None:
    """Write a command's table output and say on stderr how many rows went where.

    Parameters
    ----------
    df : pandas.DataFrame
        The command's table output.
    path : str or os.PathLike
        The file the user named (``--out``, ``--leads-out``...), ``.csv`` or ``.parquet``.
    noun : str
        What a row is, e.g. ``"leads"``.

    Examples
    --------
    >>> import contextlib, io
    >>> import pandas as pd
    >>> with contextlib.redirect_stderr(io.StringIO()) as err:
    ...     write_output(pd.DataFrame({"lead_id": range(1200)}), "example-leads.csv", "leads")
    >>> err.getvalue()
    'wrote 1,200 leads to example-leads.csv\\n'
    """
    write_table(df, path)
    info(f"wrote {len(df):,} {noun} to {path}")


def window_outcomes(ds, chosen=None) -> list[str]:
    """The outcomes whose delays set a measured window.

    Parameters
    ----------
    ds : calib.data.DataSet
        The data set.
    chosen : sequence of str, optional
        The outcomes a user named (``--outcome``).

    Returns
    -------
    list of str
        ``chosen`` when given, else the first sales outcome in the data (meeting, sql,
        opportunity, won; the one a sweep ranks by), else the first outcome but ``mql``.

    Examples
    --------
    >>> ds = load_data(argparse.Namespace(data="calib-demo/data"))
    >>> window_outcomes(ds)
    ['meeting']
    >>> window_outcomes(ds, ["won"])
    ['won']
    """
    from calib.engine.replay import outcome_names

    if chosen:
        return list(chosen)
    names = [o for o in outcome_names(ds) if o != "mql"]
    return ([o for o in ("meeting", "sql", "opportunity", "won") if o in names] or names)[:1]


def measured_window(args, ds, outcomes=None, *, rules=None, start=None, end=None):
    """Resolve ``args.window_days``: as given, else measured from the data.

    The measurement is :func:`calib.engine.delays.resolve_window`'s: the delay from the
    MQL under ``rules``, or from lead creation, to each of ``outcomes``. A partitioned
    ``ds`` (a path) is read whole only when the window has to be measured. When no lead
    of the period is old enough for the window, warns why and which window would give
    some.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed arguments with ``window_days`` (None: measure it); set to the window used.
    ds : calib.data.DataSet or str
        The data set, or a partitioned data set's folder.
    outcomes : sequence of str, optional
        The outcomes to measure (default: :func:`window_outcomes`).
    rules : calib.rules.RuleSet, optional
        Measure from the MQL under these rules.
    start, end : str, optional
        The period of leads counted (for the warning).

    Returns
    -------
    calib.engine.delays.DelayWindow

    Examples
    --------
    >>> from calib.rules import load_rules
    >>> ds = load_data(argparse.Namespace(data="calib-demo/data"))
    >>> args = argparse.Namespace(window_days=None)
    >>> w = measured_window(args, ds, rules=load_rules("calib-demo/current.toml"))
    >>> args.window_days == w.days > 0
    True
    >>> measured_window(argparse.Namespace(window_days=30.0), ds).days
    30.0
    """
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
    """A command's result with the window it used.

    ``window`` is in its JSON; its text gets one line saying how the window was chosen
    (none when it was given or on snapshot data, so that text stays as it was).

    Parameters
    ----------
    res : object
        A result with ``to_dict()`` and ``summary()``.
    window : calib.engine.delays.DelayWindow
        The window the result used.

    Examples
    --------
    >>> from calib.engine import replay
    >>> from calib.rules import load_rules
    >>> ds = load_data(argparse.Namespace(data="calib-demo/data"))
    >>> args = argparse.Namespace(window_days=None)
    >>> rules = load_rules("calib-demo/current.toml")
    >>> window = measured_window(args, ds, rules=rules)
    >>> out = WithWindow(replay(ds, rules, window_days=args.window_days), window)
    >>> out.to_dict()["window"]["days"] == args.window_days
    True
    >>> out.summary().splitlines()[-1].startswith("Window: ")
    True
    """

    def __init__(self, res, window):
        self.res, self.window = res, window

    def to_dict(self) -> dict:
        """The result's ``to_dict()`` with ``"window"``: the window's ``to_dict()``."""
        d = self.res.to_dict()
        d["window"] = self.window.to_dict()
        return d

    def summary(self) -> str:
        """The result's summary, then how the window was chosen when it was measured."""
        text = self.res.summary()
        return text if self.window.source in ("snapshot", "given") else \
            f"{text}\nWindow: {self.window.sentence}"
