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
from calib.report import context as ctx
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
    """(context, figures {name: png bytes}, tables {name: DataFrame})."""
    figures, tables, captions = {}, {}, {}

    def add(name, table, png, caption):
        tables[name] = table
        figures[name] = png
        captions[name] = caption

    primary = res.primary
    view = ctx.recommendations_view(res.recommendations)
    per = view["per"]
    cap = res.experiment.capacity_mql_per_week
    mark = " †" if view["corrected"] else ""
    f = ctx.funnel_rows(view, res.outcomes)
    add("funnel", f, fig.funnel(f, f"per {per}" + (" (outcomes: within capacity)" if cap else "")),
        f"MQLs per {per}, and outcomes per {per}" + (" within capacity" if cap else "")
        + (", corrected for selective labels †" if view["corrected"] else ", as recorded")
        + ": the same figures as the table above; the bars under each pair span the 95% "
          "interval of the change.")
    t = ctx.tradeoff_view(res.tradeoff, primary)
    add("tradeoff", t, fig.tradeoff(t, primary, cap, ctx.tradeoff_marks(res)),
        f"Moving the MQL cutoff trades volume for {primary} rate and recall, as recorded (not "
        "corrected for selective labels), with 95% intervals; cutoffs with fewer than 30 "
        f"decided MQLs are left out. Stars mark the current and proposed cutoffs; the dashed "
        f"line is sales capacity.")
    h = ctx.score_hist_table(res)
    if not h.empty:
        add("score_distribution", h, fig.score_distribution(h, primary),
            f"Peak score of leads with and without a {primary}, as recorded (each group sums "
            "to 100%).")
    b = ctx.band_table(res)
    if not b.empty:
        add("bands", b, fig.bands(b, primary), f"Share of leads with a {primary} by the highest "
            "band their score reached, as recorded.")
    d = ctx.decay_table(res)
    if d is not None:
        table, x, y, xl, yl, chosen, title = d
        add("decay", table, fig.curve(table, x, y, title, xl, yl, mark=chosen),
            "How fast interest fades: the half-life the evidence supports"
            + (f" (chosen: {fmt.days(chosen)})." if not fmt.missing(chosen) else "."))
    chk = getattr(res, "calibration_check", None)
    cal = res.calibration
    rel = getattr(cal, "reliability", None) if cal is not None else None
    if chk is not None:
        add("reliability", chk.reliability, fig.reliability(chk.reliability, primary),
            "Predicted probability against the observed share, out of time (dot size = "
            f"snapshots); blue as calibrated on the training period, orange after the "
            f"recalibration on its last {chk.recent_weeks} weeks. On the diagonal, predictions "
            "come true; below it, the score over-predicts.")
    elif isinstance(rel, pd.DataFrame) and {"mean_predicted", "observed", "count"} <= set(rel):
        rel = rel.rename(columns={"mean_predicted": "predicted"})
        add("reliability", rel, fig.reliability(rel, primary),
            "Calibrated probability against the observed share, out of time (dot size = "
            "snapshots); below the diagonal, the score over-predicts.")
    comp = res.comparison
    wm = getattr(comp, "who_moves", None) if comp is not None else None
    if isinstance(wm, pd.DataFrame) and "leads" in wm.columns:
        cells = wm[wm["label"].astype(str).str.startswith("MQL")]
        if not cells.empty:
            wt = pd.DataFrame({"cell": cells["label"].astype(str), "leads": cells["leads"]})
            add("who_moves", wm, fig.who_moves(wt), "Leads that are MQLs under both rule sets, "
                "only one, or neither.")
    add_fit_engagement(res, add)
    ab = ctx.abtest_view(res)
    ft = ctx.forest_table(res.abtest)
    if ft is not None and not ft.empty and ab is not None:
        keep = {r["metric"] for r in ab["rows"]}
        ft = ft[ft["label"].str.split(" · ").str[0].isin(keep)].reset_index(drop=True)
        if not ft.empty:
            add("abtest", ft, fig.forest(ft), "Live test: difference of each arm from "
                "control, as recorded, with 95% intervals (green: significant after the "
                "correction for several metrics).")

    since_last_review = refine_section(res, add, tables)
    comp_diffs, who_rows = ctx.who_moves_rows(comp, primary)
    points = ctx.points_table(res)
    tables["points"] = points
    tables["recommendations"] = res.recommendations.to_frame()
    data = res.data.to_dict()
    fit_text = _fit_text(res)
    cal_text = cal.summary() if cal is not None and hasattr(cal, "summary") else None
    context = {
        "title": res.experiment.report.title or f"Lead scoring review: {res.experiment.name}",
        "name": res.experiment.name, "description": res.experiment.description,
        "primary": primary, "primary_plural": ctx._plural(primary), "outcomes": list(res.outcomes),
        "evaluation": res.evaluation, "capacity": cap, "per": per,
        "baseline": res.baseline.name, "proposed": res.proposed.name,
        "proposed_source": res.proposed_source, "mark": mark,
        "decision": ctx.decision(res, view), "basis_note": ctx.basis_note(view),
        "corrected": view["corrected"], "changes": ctx.change_rows(view),
        "caveats": view["caveats"], "rules": ctx.rules_rows(res, points),
        "side_by_side": ctx.side_by_side(res, view), "data": data,
        "captions": captions, "figures": list(figures), "provenance": res.provenance,
        "comparison": comp is not None, "comp_diffs": comp_diffs, "who_rows": who_rows,
        "mcnemar": getattr(comp, "mcnemar", None), "ab": ab,
        "calibration": ctx.calibration_view(res),
        "fit_text": fmt.tidy(fit_text) if fit_text else None,
        "calibration_text": fmt.tidy(cal_text) if cal_text else None,
        "warnings": list(res.warnings), "glossary": ctx.GLOSSARY,
        "explorer": getattr(res, "explorer", None) is not None,
        "refine": since_last_review,
    }
    return context, figures, tables


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
    """(markdown, html) from one context."""
    code = {k: markupsafe.Markup(context[k]) for k in ("diff", "fit", "calibration")
            if isinstance(context.get(k), str)}  # shown in code blocks, verbatim
    md = _env(False).get_template("report.md.j2").render(**{**context, **code})
    embedded = {k: "data:image/png;base64," + base64.b64encode(v).decode() for k, v in
                figures.items()}
    html = _env(True).get_template("report.html.j2").render(**context, embedded=embedded)
    return md, html


def report_sections(res) -> tuple[dict, dict]:
    """The Markdown report cut at its ``## `` headings, for a notebook to show next to
    the figures: ``({"decision": text, "What changes": text, ...}, {name: png bytes})``.
    Image links are left out of the text (the figures come as bytes)."""
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
    computed (and again at write time): a folder calib wrote for the same experiment,
    an empty or new folder, or (with ``force``) another experiment's; never a file,
    a dangling link, nor a folder that is or holds one of the ``inputs`` (experiment
    file, data set, rule sets). A symbolic link is followed: the report replaces the
    folder it points to and the link stays. Returns the real folder."""
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
    """Write the report folder atomically and return its path."""
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
