"""Writing a report folder: ``report.md``, a self-contained ``report.html`` (figures
embedded), ``figures/*.png``, the CSV behind every figure in ``tables/``,
``proposed_rules.toml`` and ``summary.json``.

The folder is built in a temporary sibling and moved into place only when complete, so
a failure leaves the previous report intact. A folder that holds another experiment's
report (or anything that is not a calib report) is not replaced without ``force``.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

import jinja2
import markupsafe
import pandas as pd

from calib.errors import CalibError
from calib.io import json_safe, write_table
from calib.report import _context as ctx
from calib.report import fmt
from calib.report import figures as fig
from calib.report.grid import add_fit_engagement
from calib.report.refine import section as refine_section
from calib.rules import dumps_rules

MARKER = ".calib-report"
TEMPLATES = Path(__file__).parent / "templates"


# ---------------------------------------------------------------- number formats: calib.report.fmt
FILTERS = {"pct": fmt.pct, "pp": fmt.pp, "num": fmt.num, "signed": fmt.signed,
           "count": fmt.count, "points": fmt.points, "pvalue": fmt.pvalue}


def _md_text(value):
    """A value printed into report.md: '|' cannot end a table cell and '<' '>' cannot
    open raw HTML (names and values come from the user's data); values already
    marked safe (the contents of code blocks) are left as they are."""
    if isinstance(value, str) and not isinstance(value, markupsafe.Markup):
        return value.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")
    return value


def _env(autoescape: bool) -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)),
                             autoescape=autoescape, trim_blocks=True, lstrip_blocks=True,
                             undefined=jinja2.StrictUndefined,
                             finalize=None if autoescape else _md_text)
    env.filters.update(FILTERS)
    env.filters["cell"] = _md_cell
    return env


def _md_cell(x) -> str:
    """A value for a Markdown table cell: pipes, '<' and '>' escaped, on one line (marked
    done, so the Markdown finalizer does not escape it again)."""
    if isinstance(x, markupsafe.Markup):
        return x
    return markupsafe.Markup(_md_text(str(x)).replace("\n", " "))


def build(res) -> tuple[dict, dict, dict]:
    """Everything a report shows, before any file is written.

    Parameters
    ----------
    res : ExperimentResult
        The result of :func:`calib.run_experiment`.

    Returns
    -------
    context : dict
        What the templates render.
    figures : dict
        Figure name -> PNG bytes, each drawn by a display of :mod:`calib.report`.
    tables : dict
        Table name -> DataFrame: the data behind each figure and the other tables.

    Examples
    --------
    A quick run of the demo's current rules (no fit), and its report's pieces:

    >>> from calib import load_experiment, run_experiment
    >>> _ = open("calib-demo/review.toml", "w").write('name = "review"\\n[data]\\npath = "data"'
    ...     '\\n[rules]\\nbaseline = "current.toml"\\n[fit]\\nenabled = false\\n')
    >>> res = run_experiment(load_experiment("calib-demo/review.toml"))
    >>> from calib.report.render import build
    >>> context, figures, tables = build(res)
    >>> list(figures)[:2]
    ['funnel', 'tradeoff']
    >>> from calib.report import TradeoffDisplay  # the same figure, for a notebook
    >>> TradeoffDisplay.from_result(res).table.equals(tables["tradeoff"])
    True
    """
    figures, tables, captions = {}, {}, {}

    def add(name, table, png, caption):
        tables[name] = table
        figures[name] = png
        captions[name] = caption

    view = ctx.recommendations_view(res.recommendations)
    _add_volume_figures(res, view, add)
    _add_evidence_figures(res, add)
    since_last_review = refine_section(res, add, tables)
    tables["points"] = ctx.points_table(res)
    tables["recommendations"] = res.recommendations.to_frame()
    context = _context(res, view, tables["points"])
    context.update(captions=captions, figures=list(figures), refine=since_last_review)
    return context, figures, tables


def _add_volume_figures(res, view: dict, add) -> None:
    """The funnel, the trade-off, the score distribution, the bands and the decay."""
    primary, per = res.primary, view["per"]
    cap = res.experiment.capacity_mql_per_week
    funnel = fig.FunnelDisplay.from_result(res)
    add("funnel", funnel.table, fig.png(funnel),
        f"MQLs per {per}, and outcomes per {per}" + (" within capacity" if cap else "")
        + (", corrected for selective labels †" if view["corrected"] else ", as recorded")
        + ": the same figures as the table above; the bars under each pair span the 95% "
          "interval of the change.")
    tradeoff = fig.TradeoffDisplay.from_result(res)
    add("tradeoff", tradeoff.table, fig.png(tradeoff),
        f"Moving the MQL cutoff trades volume for {primary} rate and recall, as recorded (not "
        "corrected for selective labels), with 95% intervals; cutoffs with fewer than 30 "
        f"decided MQLs are left out. Stars mark the current and proposed cutoffs; the dashed "
        f"line is sales capacity.")
    hist = fig.ScoreDistributionDisplay.from_result(res)
    if not hist.table.empty:
        add("score_distribution", hist.table, fig.png(hist),
            f"Peak score of leads with and without a {primary}, as recorded (each group sums "
            "to 100%).")
    bands = fig.BandsDisplay.from_result(res)
    if not bands.table.empty:
        add("bands", bands.table, fig.png(bands), f"Share of leads with a {primary} by the "
            "highest band their score reached, as recorded.")
    if ctx.decay_table(res) is not None:
        decay = fig.DecayDisplay.from_result(res)
        add("decay", decay.table, fig.png(decay),
            "How fast interest fades: the half-life the evidence supports"
            + (f" (chosen: {fmt.days(decay.mark)})." if not fmt.missing(decay.mark) else "."))


def _add_evidence_figures(res, add) -> None:
    """The reliability, who moves, fit x engagement and the live test."""
    if fig._reliability_table(res) is not None:
        rel = fig.ReliabilityDisplay.from_result(res)
        chk = getattr(res, "calibration_check", None)
        if chk is not None:
            caption = ("Predicted probability against the observed share, out of time (dot "
                       "size = snapshots); blue as calibrated on the training period, orange "
                       f"after the recalibration on its last {chk.recent_weeks} weeks. On the "
                       "diagonal, predictions come true; below it, the score over-predicts.")
        else:
            caption = ("Calibrated probability against the observed share, out of time (dot "
                       "size = snapshots); below the diagonal, the score over-predicts.")
        add("reliability", rel.table, fig.png(rel), caption)
    if fig._who_moves_table(res.comparison) is not None:
        add("who_moves", res.comparison.who_moves,
            fig.png(fig.WhoMovesDisplay.from_result(res)), "Leads that are MQLs under both "
            "rule sets, only one, or neither.")
    add_fit_engagement(res, add)
    if fig._forest_table(res) is not None:
        ab = fig.ABTestDisplay.from_result(res)
        add("abtest", ab.table, fig.png(ab), "Live test: difference of each arm from "
            "control, as recorded, with 95% intervals (green: significant after the "
            "correction for several metrics).")


def _context(res, view: dict, points: pd.DataFrame) -> dict:
    """The templates' context, but for the figures and their captions."""
    primary, comp, cal = res.primary, res.comparison, res.calibration
    comp_diffs, who_rows = ctx.who_moves_rows(comp, primary)
    fit_text = _fit_text(res)
    cal_text = cal.summary() if cal is not None and hasattr(cal, "summary") else None
    return {
        "title": res.experiment.report.title or f"Lead scoring review: {res.experiment.name}",
        "name": res.experiment.name, "description": res.experiment.description,
        "primary": primary, "primary_plural": ctx._plural(primary), "outcomes": list(res.outcomes),
        "evaluation": res.evaluation, "capacity": res.experiment.capacity_mql_per_week,
        "per": view["per"], "baseline": res.baseline.name, "proposed": res.proposed.name,
        "proposed_source": res.proposed_source, "mark": " †" if view["corrected"] else "",
        "decision": ctx.decision(res, view), "basis_note": ctx.basis_note(view),
        "corrected": view["corrected"], "changes": ctx.change_rows(view),
        "caveats": view["caveats"], "rules": ctx.rules_rows(res, points),
        "side_by_side": ctx.side_by_side(res, view), "data": res.data.to_dict(),
        "provenance": res.provenance,
        "comparison": comp is not None, "comp_diffs": comp_diffs, "who_rows": who_rows,
        "mcnemar": getattr(comp, "mcnemar", None), "ab": ctx.abtest_view(res),
        "calibration": ctx.calibration_view(res),
        "fit_text": fmt.tidy(fit_text) if fit_text else None,
        "calibration_text": fmt.tidy(cal_text) if cal_text else None,
        "warnings": list(res.warnings), "glossary": ctx.GLOSSARY,
        "explorer": getattr(res, "explorer", None) is not None,
    }


def _fit_text(res) -> str | None:
    """The fit's text, then the simplification and how the final rule set's values were
    set, so the fit's own cutoff never stands alone against the proposal's."""
    if res.fit is None or not hasattr(res.fit, "summary"):
        return None
    parts = [res.fit.summary()]
    simp = getattr(res, "simplification", None)
    if simp is not None:
        parts.append(simp.summary())
    steps = getattr(res, "proposal_steps", ())
    if steps:
        parts.append("How the proposal's values were set:\n" + "\n".join(f"  - {s}"
                                                                          for s in steps))
    return "\n\n".join(parts)


def render(context: dict, figures: dict) -> tuple[str, str]:
    """The Markdown and the HTML report from one context.

    Parameters
    ----------
    context : dict
        From :func:`build`.
    figures : dict
        Figure name -> PNG bytes, from :func:`build` (embedded in the HTML).

    Returns
    -------
    markdown, html : str

    Examples
    --------
    The two documents of a quick run (the demo's current rules, no fit):

    >>> from calib import load_experiment, run_experiment
    >>> _ = open("calib-demo/review.toml", "w").write('name = "review"\\n[data]\\npath = "data"'
    ...     '\\n[rules]\\nbaseline = "current.toml"\\n[fit]\\nenabled = false\\n')
    >>> res = run_experiment(load_experiment("calib-demo/review.toml"))
    >>> md, html = render(*build(res)[:2])
    >>> md.startswith("# Lead scoring review: review"), "data:image/png;base64," in html
    (True, True)
    """
    code = {k: markupsafe.Markup(context[k]) for k in ("diff", "fit", "calibration")
            if isinstance(context.get(k), str)}  # shown in code blocks, verbatim
    md = _env(False).get_template("report.md.j2").render(**{**context, **code})
    embedded = {k: "data:image/png;base64," + base64.b64encode(v).decode() for k, v in
                figures.items()}
    html = _env(True).get_template("report.html.j2").render(**context, embedded=embedded)
    return md, html


def report_sections(res) -> tuple[dict, dict]:
    """The Markdown report cut at its ``## `` headings, for a notebook to show next to
    the figures. Image links are left out of the text (the figures come as bytes).

    Parameters
    ----------
    res : ExperimentResult
        A run, as :func:`build` takes it.

    Returns
    -------
    sections : dict
        ``{"decision": text, "What changes": text, ...}``.
    figures : dict
        Figure name -> PNG bytes.

    Examples
    --------
    A notebook shows the sections beside the figures; here of a quick run:

    >>> from calib import load_experiment, run_experiment
    >>> _ = open("calib-demo/review.toml", "w").write('name = "review"\\n[data]\\npath = "data"'
    ...     '\\n[rules]\\nbaseline = "current.toml"\\n[fit]\\nenabled = false\\n')
    >>> res = run_experiment(load_experiment("calib-demo/review.toml"))
    >>> sections, figures = report_sections(res)
    >>> "What changes" in sections, figures["funnel"][:4]
    (True, b'\\x89PNG')
    """
    context, figures, _ = build(res)
    md, _ = render(context, figures)
    parts = re.split(r"^## ", md, flags=re.M)
    sections = {"decision": "\n".join(
        line for line in (parts[0] + "## " + parts[1]).splitlines() if not line.startswith("!["))}
    for p in parts[2:]:
        title, _, body = p.partition("\n")
        sections[title.strip()] = "\n".join(
            line for line in body.splitlines() if not line.startswith("![")).strip()
    return sections, figures


def check_report_folder(out_dir, name: str, *, force: bool = False, inputs=()) -> Path:
    """Where the report of experiment ``name`` goes, checked before anything is
    computed (and again at write time).

    A folder calib wrote for the same experiment, an empty or new folder, or (with
    ``force``) another experiment's; never a file, a dangling link, nor a folder that
    is or holds one of the ``inputs`` (experiment file, data set, rule sets). A
    symbolic link is followed: the report replaces the folder it points to and the link
    stays.

    Parameters
    ----------
    out_dir : str or Path
        The report folder.
    name : str
        The experiment's name (written in the folder's marker file).
    force : bool
        Replace another experiment's report, or files calib did not write.
    inputs : sequence of paths
        The run's inputs, which the report folder must not hold.

    Returns
    -------
    Path
        The real folder.

    Raises
    ------
    CalibError
        ``exists``, ``overwrites_input``, ``invalid_path``, ``unwritable`` or
        ``unreadable``, with a suggestion where one helps.

    Examples
    --------
    >>> check_report_folder("calib-demo/reports/new", "q3").name
    'new'
    >>> check_report_folder("calib-demo", "q3", inputs=["calib-demo/data"])
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    calib.errors.CalibError: The report folder 'calib-demo' holds the input ...
    """
    out = Path(out_dir)
    if out.is_symlink():
        if not out.exists():
            raise CalibError(f"The report folder '{out}' is a link to '{os.readlink(out)}', "
                             "which does not exist.", code="invalid_path")
        out = Path(os.path.realpath(out))
    if out.exists() and not out.is_dir():
        raise CalibError(f"The report folder '{out}' exists and is not a folder.", code="exists")
    real = Path(os.path.realpath(out))
    for i in inputs:
        if i is None:
            continue
        ireal = Path(os.path.realpath(i))
        if ireal == real or real in ireal.parents:
            raise CalibError(f"The report folder '{out}' holds the input '{i}'; calib replaces "
                             "the whole report folder and never touches its input.",
                             code="overwrites_input",
                             suggestion="Use another --out or [report] out.")
    near = next(p for p in (out.parent, *out.parent.parents) if p.exists())
    if not os.access(near, os.W_OK | os.X_OK):
        raise CalibError(f"Cannot write the report folder '{out}': '{near}' is not writable.",
                         code="unwritable", suggestion="Choose another --out or [report] out.")
    if out.exists():
        marker = out / MARKER
        try:
            owner = marker.read_text(encoding="utf-8").strip() if marker.is_file() else None
            occupied = any(out.iterdir())
        except OSError as e:
            raise CalibError(f"Cannot read the report folder '{out}': {e.strerror or e}.",
                             code="unreadable") from None
        if not force and occupied and owner != name:
            what = f"the report of experiment '{owner}'" if owner else "files calib did not write"
            raise CalibError(f"The folder '{out}' holds {what}.", code="exists",
                             suggestion="Use another [report] out or name, or add --force.")
    return out


def write_report(res, out_dir, *, force: bool = False, inputs=()) -> Path:
    """Write the report folder of a run, atomically.

    Parameters
    ----------
    res : ExperimentResult
        What :func:`calib.run_experiment` returned.
    out_dir : str or Path
        The report folder (see :func:`check_report_folder`).
    force : bool
        Replace another experiment's report.
    inputs : sequence of paths
        The run's inputs, which the report folder must not hold.

    Returns
    -------
    Path
        The folder written.

    Examples
    --------
    What ``calib run`` writes, for a quick run of the demo's current rules:

    >>> from calib import load_experiment, run_experiment
    >>> _ = open("calib-demo/review.toml", "w").write('name = "review"\\n[data]\\npath = "data"'
    ...     '\\n[rules]\\nbaseline = "current.toml"\\n[fit]\\nenabled = false\\n')
    >>> res = run_experiment(load_experiment("calib-demo/review.toml"))
    >>> folder = write_report(res, "calib-demo/reports/review")
    >>> sorted(p.name for p in folder.iterdir() if p.suffix in (".md", ".json"))
    ['report.md', 'summary.json']
    """
    from calib.io import clean_stale_temporaries, temp_prefix

    out = check_report_folder(out_dir, res.experiment.name, force=force, inputs=inputs)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CalibError(f"Cannot create the report folder '{out}': {e.strerror or e}.",
                         code="unwritable") from None
    clean_stale_temporaries(out.parent, out.name)
    context, figures, tables = build(res)
    md, html = render(context, figures)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=temp_prefix(out), dir=out.parent))
    except OSError as e:
        raise CalibError(f"Cannot write the report folder '{out}': {e.strerror or e}.",
                         code="unwritable") from None
    try:
        _write_files(tmp, res, md, html, figures, tables)
        os.chmod(tmp, 0o755)
        old = None
        if out.exists():
            old = out.with_name(f"{temp_prefix(out)}old")
            os.replace(out, old)
        os.replace(tmp, out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise CalibError(f"Cannot write the report folder '{out}': {e.strerror or e}.",
                         code="unwritable") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _write_files(tmp: Path, res, md: str, html: str, figures: dict, tables: dict) -> None:
    """Every file of the report folder, into the temporary folder ``tmp``."""
    (tmp / "figures").mkdir()
    (tmp / "tables").mkdir()
    for name, png in figures.items():
        (tmp / "figures" / f"{name}.png").write_bytes(png)
    for name, table in tables.items():
        write_table(table, tmp / "tables" / f"{name}.csv")
    (tmp / "report.md").write_text(md, encoding="utf-8")
    (tmp / "report.html").write_text(html, encoding="utf-8")
    (tmp / "proposed_rules.toml").write_text(dumps_rules(res.proposed), encoding="utf-8")
    (tmp / "summary.json").write_text(json.dumps(json_safe(res.to_dict()), indent=1),
                                      encoding="utf-8")
    if getattr(res, "explorer", None) is not None:
        from calib.explorer import write_explorer

        write_explorer(res.explorer, tmp / "explorer.html")
    (tmp / MARKER).write_text(res.experiment.name + "\n", encoding="utf-8")
