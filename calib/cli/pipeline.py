"""The main job: ``calib run EXPERIMENT.toml``."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from calib.cli.common import Command, info, json_arg, print_json


def _run_args(p):
    p.add_argument("experiment", metavar="EXPERIMENT.toml", help="experiment file")
    p.add_argument("--out", metavar="DIR", help="report folder (default: [report] out, then "
                   "reports/<name>)")
    p.add_argument("--force", action="store_true",
                   help="replace a folder that holds another experiment's report")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="run the sweep and the fit's examples on a Dask cluster: "
                   "tcp://host:8786, local:N (N worker processes here) or a scheduler .json "
                   "file; [data] path must be written by 'calib partition' (default: "
                   "[engine] scheduler of the experiment, then $CALIB_SCHEDULER)")
    p.add_argument("--previous", metavar="DIR", help="the earlier report's folder, to check "
                   "its prediction in 'Since the last review' (default: [report] previous)")
    json_arg(p)


def run_and_report(experiment, *, out=None, force=False, quiet=False, command="",
                   scheduler=None, previous=None):
    """Run an experiment file and write its report.

    The report folder is checked before anything is computed (it may not hold another
    experiment's report without ``force``, nor any input of the experiment).

    Parameters
    ----------
    experiment : str or os.PathLike
        The experiment file.
    out : str or os.PathLike, optional
        The report folder (default: the file's ``[report] out``, then ``reports/NAME``).
    force : bool
        Replace a folder that holds another experiment's report.
    quiet : bool
        Print no progress on stderr.
    command : str
        The command line to record in the report.
    scheduler : str, optional
        Overrides ``[engine] scheduler`` of the file.
    previous : str or os.PathLike, optional
        An earlier report's folder, to check its prediction (overrides
        ``[report] previous``).

    Returns
    -------
    result : calib.pipeline.run.RunResult
        What the experiment found.
    folder : pathlib.Path
        The report folder written.

    Examples
    --------
    The folder is checked before anything is computed:

    >>> run_and_report("calib-demo/experiment.toml", out="calib-demo/data")
    Traceback (most recent call last):
    calib.errors.CalibError: The report folder 'calib-demo/data' holds the input 'calib-demo/data'; calib replaces the whole report folder and never touches its input. Suggestion: Use another --out or [report] out.

    A whole run fits, draws every figure and writes the explorer, which takes too long
    to run here (``calib.run_experiment`` shows a run without the report):

    >>> res, folder = run_and_report("calib-demo/experiment.toml", out="demo-report",
    ...                              quiet=True)  # doctest: +SKIP
    >>> (folder / "report.html").is_file(), res.baseline.name  # doctest: +SKIP
    (True, 'current')
    """
    from calib.pipeline.experiment import load_experiment
    from calib.report.render import check_report_folder, write_report
    from calib.pipeline.run import run_experiment

    t0 = time.time()
    exp = load_experiment(experiment)
    if previous:
        exp = exp.with_previous(previous)

    def say(msg):
        if not quiet:
            info(f"[{time.time() - t0:5.1f}s] {msg}")

    folder = Path(os.path.normpath(Path(out) if out else exp.report_dir))
    inputs = [exp.source, exp.data.path, exp.baseline, *exp.candidates,
              exp.abtest.assignments if exp.abtest is not None else None]
    check_report_folder(folder, exp.name, force=force, inputs=inputs)  # before computing
    res = run_experiment(exp, command=command, progress=say, scheduler=scheduler)
    say("writing the report")
    folder = write_report(res, folder, force=force, inputs=inputs)
    return res, folder


def _run(args):
    res, folder = run_and_report(args.experiment, out=args.out, force=args.force,
                                 command="calib " + " ".join(sys.argv[1:]),
                                 scheduler=args.scheduler, previous=args.previous)
    if args.json:
        d = res.to_dict()
        d["report"] = str(folder)
        print_json(d)
    else:
        print_summary(res, folder)


def print_summary(res, folder) -> None:
    """Print the recommendations and where the report is (``calib run``, ``calib demo``).

    Parameters
    ----------
    res : calib.pipeline.run.RunResult
        What :func:`run_and_report` returned first.
    folder : pathlib.Path
        The report folder.

    Examples
    --------
    >>> from pathlib import Path
    >>> from types import SimpleNamespace
    >>> res = SimpleNamespace(recommendations=SimpleNamespace(summary=lambda: "Adopt it."))
    >>> print_summary(res, Path("reports/demo"))
    Adopt it.
    <BLANKLINE>
    Report: reports/demo/report.html (and report.md, tables/, proposed_rules.toml)
    """
    print(res.recommendations.summary())
    extra = ", explorer.html" if (folder / "explorer.html").exists() else ""
    print(f"\nReport: {folder / 'report.html'} (and report.md{extra}, tables/, "
          "proposed_rules.toml)")


COMMANDS = [
    Command("run", "the main job: everything an experiment file asks for, into a report",
            "Run an experiment file: replay the baseline and candidate rule sets, sweep, fit "
            "a proposed rule set, compare, calibrate, analyse a live test, and write "
            "report.md, a self-contained report.html, the tables behind every figure and "
            "proposed_rules.toml into the report folder. When [data] path was written by "
            "'calib partition', the sweep and the fit's training examples run partition by "
            "partition (on a Dask cluster with --scheduler or [engine] scheduler) and the "
            "rest here; the report is the same.",
            "calib run calib-demo/experiment.toml", _run_args, _run),
]
