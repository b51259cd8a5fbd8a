"""``explorer.html``: the what-if explorer as one self-contained page.

Drawn with Vega-Lite through Altair, the Vega renderer inlined
(``Chart.to_html(inline=True)``, which needs ``vl-convert-python``): the page opens from
disk with no server and no request outside the file. Every control is a Vega-Lite
parameter bound to an input; the charts filter the precomputed grid of
:class:`calib.explorer.ExplorerData` (nothing is computed in the browser but the
choice of the grid point nearest the cutoff slider). About 1.8 MB on the demo, of which
0.9 MB is the renderer.
"""

from __future__ import annotations

import html
import math
from pathlib import Path

import numpy as np
import pandas as pd

WIDTH = 300
HEIGHT = 150
BLUE, ORANGE, GREY, RED = "#1f5fa8", "#e07b1a", "#8a8a8a", "#c0392b"


def _alt():
    try:
        import altair as alt
        import vl_convert  # noqa: F401 - Altair inlines the Vega renderer with it
    except ImportError as e:  # pragma: no cover - a core dependency
        raise ImportError("explorer.html needs altair and vl-convert-python: "
                          "pip install altair vl-convert-python") from e
    return alt


def _fmt(x, pattern: str) -> str:
    return "–" if x is None or (isinstance(x, float) and not math.isfinite(x)) else pattern.format(x)


def _figures_text(r, primary: str, capacity) -> str:
    """The selected grid point's figures, one per line (the page's text block)."""
    def ci(lo, hi, pattern):
        if not (np.isfinite(lo) and np.isfinite(hi)):
            return ""
        return f" (95% CI {pattern.format(lo)} to {pattern.format(hi)})"
    cap = f" (capacity {capacity:g})" if capacity is not None else ""
    within = " within capacity" if capacity is not None else ""
    lines = [
        (f"MQLs per week: {_fmt(r.mql_per_week, '{:,.1f}')}"
         f"{ci(r.mql_per_week_low, r.mql_per_week_high, '{:,.1f}')}{cap}"),
        (f"{primary} rate per MQL: {_fmt(100 * r.rate, '{:.1f}%')}"
         f"{ci(100 * r.rate_low, 100 * r.rate_high, '{:.1f}%')}"),
        (f"{primary}s per week{within}: {_fmt(r.hits_per_week, '{:,.1f}')}"
         f"{ci(r.hits_per_week_low, r.hits_per_week_high, '{:,.1f}')}"),
        "basis: the report's (intervals: bootstrap over leads)" if r.basis == "report" else
        "basis: the sweep's recorded outcomes (Wilson interval of the rate)",
    ]
    return "\n".join(lines)


def _page_frame(data) -> tuple[pd.DataFrame, dict]:
    """The grid as the page uses it: rule columns renamed ``r0``, ``r1``... (Vega reads
    dots in field names as nesting) and the text of each point."""
    f = data.frame.copy()
    rename = {path: f"r{i}" for i, (path, _) in enumerate(data.rules)}
    f = f.rename(columns=rename)
    f["figures"] = [_figures_text(r, data.primary, data.capacity_mql_per_week)
                    for r in f.itertuples(index=False)]
    f["sentence"] = f["sentence"].str.replace("; ", ";\n", regex=False)
    keep = ["points", "decay", "cutoff", "min_fit", *rename.values(), "mql_per_week",
            "mql_per_week_low", "mql_per_week_high", "rate", "rate_low", "rate_high",
            "hits_per_week", "hits_per_week_low", "hits_per_week_high", "basis",
            "recorded_rate", "sentence", "figures"]
    return f[keep], rename


def _explorer_chart(data):
    """The Altair chart of the explorer (controls, three curves, text, grid)."""
    alt = _alt()
    f, rename = _page_frame(data)
    primary, cap = data.primary, data.capacity_mql_per_week
    cut_lo, cut_hi = min(data.controls["cutoff"]), max(data.controls["cutoff"])
    p_cut = alt.param(name="cutoff", value=data.proposed["cutoff"],
                      bind=alt.binding_range(min=cut_lo, max=cut_hi, step=1,
                                             name="MQL cutoff "))
    p_points = alt.param(name="points", value="proposed",
                         bind=alt.binding_radio(options=["current", "proposed"],
                                                name="points of the other rules "))
    p_decay = alt.param(name="decay", value=data.proposed["decay"],
                        bind=alt.binding_select(options=data.controls["decay"],
                                                name="decay "))
    p_fit = alt.param(name="min_fit", value=data.proposed["min_fit"],
                      bind=alt.binding_select(options=data.controls["min_fit"],
                                              name="minimum fit for an MQL "))
    params = [p_cut, p_points, p_decay, p_fit]
    for (path, label), col in zip(data.rules, rename.values()):
        params.append(alt.param(name=col, value=data.proposed[path],
                                bind=alt.binding_select(options=data.controls[path],
                                                        name=f"points of {label} ")))
    same = " && ".join([f"datum.{k} == {k}" for k in ("points", "decay", "min_fit")]
                       + [f"datum.{c} == {c}" for c in rename.values()])
    base = alt.Chart(f).transform_filter(same)
    chosen = base.transform_calculate(dist="abs(datum.cutoff - cutoff)").transform_window(
        rank="row_number()", sort=[alt.SortField("dist"), alt.SortField("cutoff")]
    ).transform_filter("datum.rank == 1")
    fixed = pd.DataFrame([{**data.row(s).to_dict(), "setting": name}
                          for name, s in (("current", data.current),
                                          ("proposed", data.proposed))])
    fixed = fixed[["setting", "cutoff", "mql_per_week", "rate", "hits_per_week"]]
    x = alt.X("cutoff:Q", title="MQL cutoff", scale=alt.Scale(domain=[cut_lo, cut_hi]))

    def panel(y, lo, hi, title, fmt, rule=None):
        band = base.mark_area(opacity=0.25, color=BLUE).encode(
            x=x, y=alt.Y(f"{lo}:Q", title=title, axis=alt.Axis(format=fmt)), y2=f"{hi}:Q")
        line = base.mark_line(color=BLUE).encode(x=x, y=f"{y}:Q")
        err = base.mark_rule(color=BLUE, opacity=0.35).encode(x=x, y=f"{lo}:Q", y2=f"{hi}:Q")
        dot = chosen.mark_point(size=120, filled=True, color=RED).encode(
            x=x, y=f"{y}:Q", tooltip=[alt.Tooltip("sentence:N")])
        marks = alt.Chart(fixed).mark_point(shape="diamond", size=110, filled=True).encode(
            x=x, y=f"{y}:Q", color=alt.Color(
                "setting:N", title="fixed markers",
                scale=alt.Scale(domain=["current", "proposed"], range=[GREY, ORANGE]),
                legend=alt.Legend(orient="top")))
        layers = [band, err, line, marks, dot]
        if rule is not None:
            layers.insert(0, alt.Chart(pd.DataFrame({"y": [rule]})).mark_rule(
                strokeDash=[4, 3], color=GREY).encode(y="y:Q"))
        return alt.layer(*layers).properties(width=WIDTH, height=HEIGHT)

    per = "within capacity" if cap is not None else ""
    text = chosen.mark_text(align="left", baseline="top", lineBreak="\n", fontSize=13,
                            dx=0).encode(x=alt.value(0), y=alt.value(0), text="sentence:N")
    figs = chosen.mark_text(align="left", baseline="top", lineBreak="\n", fontSize=11,
                            color="#333").encode(x=alt.value(0), y=alt.value(0),
                                                 text="figures:N")
    charts = [
        text.properties(width=WIDTH, height=60, title="The chosen setting"),
        figs.properties(width=WIDTH, height=62),
        panel("mql_per_week", "mql_per_week_low", "mql_per_week_high", "MQLs per week",
              ",.0f", rule=cap).properties(title="MQLs per week (dashed: capacity)"),
        panel("rate", "rate_low", "rate_high", f"{primary} rate per MQL", ".0%").properties(
            title=f"{primary} rate per MQL, 95% interval"),
        panel("hits_per_week", "hits_per_week_low", "hits_per_week_high",
              f"{primary}s per week", ",.1f").properties(
            title=f"{primary}s per week {per}".strip()),
        _grid_chart(data, alt),
    ]
    return alt.vconcat(*charts, spacing=18).add_params(*params).configure_view(
        stroke=None).configure_axis(labelFontSize=10, titleFontSize=10)


def _grid_chart(data, alt):
    """Fit band x engagement band: leads per week and rate per cell, with the two-way
    cutoff (score >= MQL cutoff and fit >= minimum fit) drawn on it."""
    c = data.cells.copy()
    fit_bottom, fit_top = float(c["x"].min()), float(c["x2"].max())
    eng_top = float(c["y2"].max())
    c["label"] = [f"{r.cell}: {r.leads_per_week:,.1f}/wk\n" + (
        f"{100 * r.rate:.0f}% ({100 * r.rate_low:.0f}-{100 * r.rate_high:.0f}%)"
        if np.isfinite(r.rate) else "rate –") for r in c.itertuples()]
    c["xm"], c["ym"] = (c["x"] + c["x2"]) / 2, (c["y"] + c["y2"]) / 2
    c = c.drop(columns=["fit_low", "engagement_low"]).replace([np.inf, -np.inf], np.nan)
    cells = alt.Chart(c).transform_filter("datum.points == points")
    xs = alt.X("x:Q", title="fit points", scale=alt.Scale(domain=[fit_bottom, fit_top]))
    ys = alt.Y("y:Q", title="engagement (peak behaviour points)",
               scale=alt.Scale(domain=[float(c["y"].min()), eng_top]))
    basis = ("holdout leads of the cell" if (c["rate_basis"] == "holdout").any()
             else "recorded outcomes")
    rect = cells.mark_rect(stroke="white").encode(
        x=xs, x2="x2:Q", y=ys, y2="y2:Q",
        color=alt.Color("rate:Q", title=f"{data.primary} rate",
                        scale=alt.Scale(scheme="blues"),
                        legend=alt.Legend(format=".0%", orient="bottom")),
        tooltip=["cell:N", alt.Tooltip("leads_per_week:Q", format=",.1f"),
                 alt.Tooltip("rate:Q", format=".1%"), alt.Tooltip("rate_low:Q", format=".1%"),
                 alt.Tooltip("rate_high:Q", format=".1%"), "rated_leads:Q"])
    label = cells.mark_text(fontSize=9, lineBreak="\n", color="#111").encode(
        x="xm:Q", y="ym:Q", text="label:N")
    line = alt.Chart(pd.DataFrame({"x": np.linspace(fit_bottom, fit_top, 50)})).transform_calculate(
        y="cutoff - datum.x").mark_line(color="#c0392b", strokeWidth=2, clip=True).encode(
        x="x:Q", y="y:Q")
    vline = alt.Chart(pd.DataFrame({"k": [0]})).transform_filter(
        "min_fit != 'none'").transform_calculate(x="toNumber(min_fit)").mark_rule(
        color="#c0392b", strokeDash=[5, 3], strokeWidth=2).encode(x="x:Q")
    return alt.layer(rect, label, line, vline).properties(
        width=WIDTH, height=WIDTH,
        title=alt.TitleParams(f"Fit x engagement: leads per week and {data.primary} rate",
                              subtitle=[f"rate among the {basis};",
                                        ("red: MQL cutoff (fit + engagement), dashed: "
                                         "minimum fit")]))


def _header(data) -> str:
    e = html.escape
    cap = (f"Sales capacity: {data.capacity_mql_per_week:g} MQLs a week. "
           if data.capacity_mql_per_week is not None else "")
    rules = "".join(f"<li>{e(label)}: current {data.current[p]:g}, proposed "
                    f"{data.proposed[p]:g}</li>" for p, label in data.rules)
    return (
        "<header><h1>What if? The cutoff, the decay and the points</h1>"
        f"<p>Move the controls: every figure below follows them. {e(cap)}Evaluation: {e(data.evaluation)}. "
        f"Rates on the report's basis: {e(data.basis)}.</p>"
        f"<p class='note'>{e(data.note)} The fit x engagement cells follow the rule set "
        "chosen by 'points of the other rules'; the red line moves with the cutoff and the "
        "minimum fit.</p>"
        + (f"<p class='note'>Rule points (the rules the recommendation changes most); they "
           f"vary at each rule set's own decay and minimum fit only, and other combinations "
           f"show no figures:</p><ul class='note'>{rules}</ul>" if rules else "")
        + "</header>")


CSS = """<meta name="viewport" content="width=device-width, initial-scale=1">
<title>What-if explorer</title>
<style>
  body { font-family: system-ui, sans-serif; margin: 8px; max-width: 760px; color: #222; }
  header h1 { font-size: 1.2em; margin: 0.2em 0; }
  header p, header ul { font-size: 0.85em; margin: 0.3em 0; overflow-wrap: anywhere; }
  .note { color: #555; }
  #vis.vega-embed { flex-direction: column-reverse; }
  .vega-bindings { display: flex; flex-direction: column; gap: 4px; font-size: 0.9em; }
  .vega-bind { max-width: 100%; }
  .vega-bind input[type=range] { width: 180px; max-width: 60vw; }
  .vega-bind select { max-width: 100%; }
</style>
"""


def _write_explorer(data, path) -> Path:
    """Write ``explorer.html`` for ``data`` (see :func:`calib.explorer.write_explorer`)."""
    alt = _alt()
    with alt.data_transformers.disable_max_rows():
        chart = _explorer_chart(data)
        page = chart.to_html(inline=True, embed_options={"renderer": "svg", "actions": False})
    page = page.replace("<head>", "<head>\n" + CSS, 1)
    div = '<div class="vega-visualization"'
    i = page.rindex(div)
    page = page[:i] + _header(data) + "\n" + page[i:]
    path = Path(path)
    path.write_text(page, encoding="utf-8")
    return path
