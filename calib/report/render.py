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
import shutil
import tempfile
from pathlib import Path

import jinja2
import markupsafe
import numpy as np
import pandas as pd

from calib.errors import CalibError
from calib.io import json_safe, write_table
from calib.report import context as ctx
from calib.report import figures as fig
from calib.rules import dumps_rules

MARKER = ".calib-report"
TEMPLATES = Path(__file__).parent / "templates"


# ---------------------------------------------------------------- number formats (one place)
def pct(x, digits: int = 1) -> str:
    return "–" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{100 * x:.{digits}f}%"


def pp(x, digits: int = 1) -> str:
    return "–" if x is None or (isinstance(x, float) and np.isnan(x)) else \
        f"{100 * x:+.{digits}f} pts"


def num(x, digits: int = 1) -> str:
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return "–"
    return f"{x:,.{digits}f}"


def signed(x, digits: int = 1) -> str:
    return "–" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{x:+,.{digits}f}"


def count(x) -> str:
    return "–" if x is None else f"{int(x):,}"


FILTERS = {"pct": pct, "pp": pp, "num": num, "signed": signed, "count": count}


def why(change, primary: str) -> str:
    """A short reason for the recommendations table; the numbers are in its columns."""
    if change.verdict != "recommend":
        return "; ".join(change.reasons)
    e = change.effect
    r, hits = e.rates[primary], e.hits_per_week[primary]
    parts = []
    rate_up = r[3] == r[3] and r[3] > 0
    hits_up = hits[3] == hits[3] and hits[3] > 0
    if rate_up and hits_up:
        parts.append(f"higher {primary} rate per MQL and more {primary}s")
    elif rate_up:
        parts.append(f"higher {primary} rate per MQL")
    elif hits_up:
        parts.append(f"more {primary}s")
    if e.mql_per_week[2] < 0:
        parts.append(f"{-e.mql_per_week[2]:.1f} fewer MQLs for sales")
    return "; ".join(parts) or "; ".join(change.reasons)


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
    env.globals["why"] = why
    return env


def build(res) -> tuple[dict, dict, dict]:
    """(context, figures {name: png bytes}, tables {name: DataFrame})."""
    figures, tables, captions = {}, {}, {}

    def add(name, table, png, caption):
        tables[name] = table
        figures[name] = png
        captions[name] = caption

    primary = res.primary
    f = ctx.funnel_table(res)
    snap = res.test_replays["baseline"].snapshot
    add("funnel", f, fig.funnel(f, "leads (snapshot)" if snap else "per week (evaluation period)"),
        "MQLs and outcomes " + ("in the data set." if snap else "per week in the evaluation "
                                                              "period."))
    t = res.tradeoff
    add("tradeoff", t, fig.tradeoff(t, primary, res.experiment.capacity_mql_per_week,
                                     ctx.tradeoff_marks(res)),
        f"Moving the MQL cutoff trades volume for {primary} rate and recall; stars mark the "
        "current and proposed cutoffs; the dashed line is sales capacity.")
    h = ctx.score_hist_table(res)
    if not h.empty:
        add("score_distribution", h, fig.score_distribution(h, primary),
            f"Peak score of leads with and without a {primary} (each group sums to 100%).")
    b = ctx.band_table(res)
    if not b.empty:
        add("bands", b, fig.bands(b, primary), f"Share of leads with a {primary} by the highest "
            "band their score reached.")
    d = ctx.decay_table(res)
    if d is not None:
        table, x, y, xl, yl, chosen, title = d
        truth = None
        add("decay", table, fig.curve(table, x, y, title, xl, yl, mark=chosen, truth=truth),
            "How fast interest fades: the half-life the evidence supports.")
    cal = res.calibration
    rel = getattr(cal, "reliability", None) if cal is not None else None
    if isinstance(rel, pd.DataFrame) and {"mean_predicted", "observed", "count"} <= set(rel):
        rel = rel.rename(columns={"mean_predicted": "predicted", "count": "n"})
        add("reliability", rel, fig.reliability(rel, primary),
            "Calibrated probability against the observed share, out of time (dot size = leads).")
    comp = res.comparison
    wm = getattr(comp, "who_moves", None) if comp is not None else None
    if isinstance(wm, pd.DataFrame) and "leads" in wm.columns:
        cells = wm[wm["label"].astype(str).str.startswith("MQL")]
        if not cells.empty:
            wt = pd.DataFrame({"cell": cells["label"].astype(str), "leads": cells["leads"]})
            add("who_moves", wm, fig.who_moves(wt), "Leads that are MQLs under both rule sets, "
                "only one, or neither.")
    ft = ctx.forest_table(res.abtest)
    if ft is not None and not ft.empty:
        add("abtest", ft, fig.forest(ft), "Live test: difference of each arm from control.")

    comp_diffs, who_rows = ctx.comparison_rows(comp, primary)
    srm, ab_rows = ctx.abtest_rows(res.abtest)
    points = ctx.points_table(res)
    tables["points"] = points
    recs = res.recommendations
    tables["recommendations"] = recs.to_frame()
    data = res.data.to_dict()
    context = {
        "title": res.experiment.report_title or f"Lead scoring review: {res.experiment.name}",
        "name": res.experiment.name, "description": res.experiment.description,
        "primary": primary, "outcomes": list(res.outcomes), "evaluation": res.evaluation,
        "capacity": res.experiment.capacity_mql_per_week, "baseline": res.baseline.name,
        "proposed": res.proposed.name, "proposed_source": res.proposed_source,
        "recs": recs, "package": recs.package, "changes": recs.changes,
        "caveats": recs.caveats, "diff": recs.diff, "data": data,
        "replays": {k: v.to_dict() for k, v in res.test_replays.items()},
        "full_replays": {k: v.to_dict() for k, v in res.replays.items()},
        "points": points.to_dict("records"), "captions": captions,
        "figures": list(figures), "provenance": res.provenance,
        "comparison": comp is not None, "comp_diffs": comp_diffs, "who_rows": who_rows,
        "mcnemar": getattr(comp, "mcnemar", None),
        "abtest": res.abtest is not None, "srm": srm, "ab_rows": ab_rows,
        "fit": res.fit.summary() if res.fit is not None and hasattr(res.fit, "summary") else None,
        "calibration": cal.summary() if cal is not None and hasattr(cal, "summary") else None,
        "warnings": list(res.warnings),
        "proposed_toml": dumps_rules(res.proposed),
    }
    return context, figures, tables


def render(context: dict, figures: dict) -> tuple[str, str]:
    """(markdown, html) from one context."""
    code = {k: markupsafe.Markup(context[k]) for k in ("diff", "fit", "calibration")
            if isinstance(context.get(k), str)}  # shown in code blocks, verbatim
    md = _env(False).get_template("report.md.j2").render(**{**context, **code})
    embedded = {k: "data:image/png;base64," + base64.b64encode(v).decode() for k, v in
                figures.items()}
    html = _env(True).get_template("report.html.j2").render(**context, embedded=embedded)
    return md, html


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
