"""Figures of the report as Display objects.

Each figure is a class holding the table it draws (as scikit-learn's
``CalibrationDisplay`` does): ``from_result(res)`` builds it from an
:class:`~calib.pipeline.run.ExperimentResult` (the same table the report writes beside
the figure; a display never computes), and ``plot(ax=None)`` draws on the given
matplotlib Axes, or on a new figure, and returns the display with ``ax_`` and
``figure_`` set. The report draws every figure through :func:`png`, which
writes the display at the report's size; the same table is written beside it as CSV.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from calib.report import _context as ctx

DPI = 130  # pixels per inch of the PNGs
BLUE, ORANGE, GREY, GREEN, RED = "#1f5fa8", "#e07b1a", "#8a8a8a", "#2e8b57", "#c0392b"
COLORS = {"baseline": BLUE, "proposed": ORANGE}
# Figures are drawn at most 6 inches wide with 11-point text: shown 360 px wide on a phone,
# their text stays about 9 px tall.
plt.rcParams.update({"font.size": 11, "axes.spines.top": False, "axes.spines.right": False,
                     "axes.titlesize": 12, "figure.dpi": 110, "legend.fontsize": 10})


class Display:
    """What every figure of the report shares: built from a result, drawn on Axes.

    A subclass holds the figure's data as fields, builds them in ``from_result`` and
    draws them in ``_draw(axes)``; ``_layout()`` says the number of panels (stacked
    Axes), the figure size the report draws it at and other arguments of ``subplots``.

    Attributes
    ----------
    ax_ : matplotlib Axes, or array of Axes
        Where :meth:`plot` drew: the Axes of a single-panel display, an array of Axes
        for the displays of several panels (``panels = True``).
    figure_ : matplotlib Figure
        Their figure.

    Examples
    --------
    >>> from calib.report import Display, TradeoffDisplay
    >>> issubclass(TradeoffDisplay, Display), TradeoffDisplay.panels
    (True, True)
    """

    panels = False  # True: several Axes, ``ax_`` is an array

    @classmethod
    def from_result(cls, res) -> Display:
        """The display of a run's figure.

        Parameters
        ----------
        res : ExperimentResult
            The result of :func:`calib.run_experiment` (some displays also take the
            part of it they draw, e.g. a ``DriftResult``).

        Returns
        -------
        Display
            The display of that figure, with the data the report draws.

        Raises
        ------
        ValueError
            When the run computed nothing to draw in this figure (e.g. no live test).
        """
        raise NotImplementedError

    def plot(self, ax=None, **kwargs) -> Display:
        """Draw the figure.

        Parameters
        ----------
        ax : matplotlib Axes or sequence of Axes, optional
            Where to draw (one Axes per panel); a new figure of the report's size when
            None.
        **kwargs
            Passed to :func:`matplotlib.pyplot.subplots` for a new figure (e.g.
            ``figsize``).

        Returns
        -------
        Display
            ``self``, with ``ax_`` and ``figure_`` set.
        """
        self._draw(self._axes(ax, kwargs))
        return self

    def _draw(self, axes) -> None:
        raise NotImplementedError

    def _layout(self) -> tuple[int, tuple[float, float], dict]:
        raise NotImplementedError

    def _axes(self, ax, kwargs: dict) -> np.ndarray:
        """The Axes to draw on (given, or a new pyplot figure of the report's size);
        sets ``ax_`` and ``figure_``."""
        n, size, kw = self._layout()
        if ax is None:
            _, axes = plt.subplots(n, 1, squeeze=False, **{"figsize": size, **kw, **kwargs})
            axes = axes[:, 0]
        else:
            axes = np.ravel(np.asarray(ax, dtype=object))
            if len(axes) != n:
                raise ValueError(f"{type(self).__name__} draws on {n} Axes; got {len(axes)}.")
        self.ax_ = axes if self.panels else axes[0]
        self.figure_ = axes[0].figure
        return axes


class _PanelPerRuleSet(Display):
    """A display of one panel per rule set: the rule sets are the values of the column
    ``_by`` of its data field ``_data``, in order of appearance."""

    panels = True
    _data, _by, _size = "table", "rules", (5.6, 2.8)  # width, height per panel

    def _rule_sets(self) -> list:
        return list(dict.fromkeys(getattr(self, self._data)[self._by]))

    def _layout(self):
        n = len(self._rule_sets())
        return n, (self._size[0], self._size[1] * n), {}


def png(display: Display) -> bytes:
    """PNG bytes of ``display`` drawn at the report's size and resolution.

    The figure is made without pyplot (no global figure to close, no interactive
    backend involved), so a report draws the same pixels wherever it runs.

    Parameters
    ----------
    display : Display
        Any display of :mod:`calib.report`; its ``ax_`` and ``figure_`` are set to
        the report's figure.

    Returns
    -------
    bytes
        The PNG file, at ``DPI`` pixels per inch.

    Examples
    --------
    >>> import pandas as pd
    >>> from calib.report.figures import WhoMovesDisplay, png
    >>> table = pd.DataFrame({"cell": ["MQL under both", "MQL only now"], "leads": [40, 7]})
    >>> png(WhoMovesDisplay(table))[:4]
    b'\\x89PNG'
    """
    from matplotlib.figure import Figure

    n, size, kw = display._layout()
    fig = Figure(figsize=size)
    display.plot(ax=fig.subplots(n, 1, squeeze=False, **kw)[:, 0])
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def _label(rules: str) -> str:
    return "current" if rules == "baseline" else rules


@dataclass(eq=False, repr=False)
class FunnelDisplay(Display):
    """Current against proposed per stage, with the 95% interval of each change.

    Parameters
    ----------
    table : DataFrame
        Columns ``stage``, ``baseline``, ``proposed`` and optionally ``diff_low``,
        ``diff_high`` (the interval of the change, drawn as a bar under the pair).
    unit : str
        The x-axis label.

    Examples
    --------
    >>> import pandas as pd
    >>> from calib.report import FunnelDisplay
    >>> table = pd.DataFrame({"stage": ["MQLs", "meetings"], "baseline": [118.0, 46.0],
    ...                       "proposed": [82.0, 48.0]})
    >>> d = FunnelDisplay(table).plot()
    >>> len(d.ax_.patches)  # two bars per stage
    4
    >>> import matplotlib.pyplot as plt; plt.close(d.figure_)
    """

    table: pd.DataFrame
    unit: str = "per week"

    @classmethod
    def from_result(cls, res) -> FunnelDisplay:
        """The funnel of page 1 of a run: MQLs and outcomes per week within capacity
        (parameters as :meth:`Display.from_result`)."""
        view = ctx.recommendations_view(res.recommendations)
        cap = res.experiment.capacity_mql_per_week
        unit = f"per {view['per']}" + (" (outcomes: within capacity)" if cap else "")
        return cls(ctx.funnel_rows(view, res.outcomes), unit)

    def _layout(self):
        return 1, (5.6, 0.9 * len(self.table) + 1.1), {}

    def _draw(self, axes) -> None:
        ax = axes[0]
        table = self.table
        y = np.arange(len(table))
        h = 0.36
        ax.barh(y - h / 2, table["baseline"], h, color=BLUE, label="current")
        ax.barh(y + h / 2, table["proposed"], h, color=ORANGE, label="proposed")
        for i, (a, b) in enumerate(zip(table["baseline"], table["proposed"])):
            ax.text(a, i - h / 2, f" {a:,.1f}", va="center", fontsize=10)
            ax.text(b, i + h / 2, f" {b:,.1f}", va="center", fontsize=10)
        if {"diff_low", "diff_high"} <= set(table):
            lows = pd.to_numeric(table["diff_low"], errors="coerce")  # None: no interval
            highs = pd.to_numeric(table["diff_high"], errors="coerce")
            for i, (r, dl, dh) in enumerate(zip(table.itertuples(), lows, highs)):
                if np.isfinite(dl) and np.isfinite(dh):
                    lo, hi = r.baseline + dl, r.baseline + dh
                    ax.plot([max(lo, 0), hi], [i + h + 0.06] * 2, color=ORANGE, lw=2.5,
                            solid_capstyle="butt")
        ax.set_yticks(y, table["stage"])
        ax.invert_yaxis()
        ax.set_xlim(0, float(np.nanmax(table[["baseline", "proposed"]].to_numpy())) * 1.25)
        ax.set_xlabel(self.unit)
        ax.legend(loc="lower right", frameon=False)
        ax.set_title("Current vs proposed")


@dataclass(eq=False, repr=False)
class TradeoffDisplay(Display):
    """Rate (with its 95% interval) and recall against MQL volume as the cutoff moves.

    Two panels, one line per rule set; rows whose ``shown`` is False (too few decided
    MQLs) are left out, stars mark the chosen cutoffs and a dashed line the capacity.

    Parameters
    ----------
    table : DataFrame
        One row per rule set (``rules``) and cutoff: ``mql_per_week`` (or ``mql_count``
        on a snapshot), ``{primary}_rate``, ``{primary}_recall``, optionally
        ``{primary}_ci_low``/``{primary}_ci_high`` and ``shown``.
    primary : str
        The outcome (e.g. ``"meeting"``).
    capacity : float or None
        Sales capacity in MQLs per week.
    marks : dict
        Rule set label -> ``(mql_per_week, rate, recall, cutoff)`` of its chosen cutoff.

    Examples
    --------
    >>> import pandas as pd
    >>> from calib.report import TradeoffDisplay
    >>> table = pd.DataFrame({"rules": "baseline", "mql_per_week": [120.0, 90.0, 60.0],
    ...                       "meeting_rate": [0.35, 0.41, 0.48],
    ...                       "meeting_recall": [0.80, 0.70, 0.55]})
    >>> d = TradeoffDisplay(table, "meeting", capacity=75,
    ...                     marks={"baseline": (90.0, 0.41, 0.70, 60)}).plot()
    >>> [len(ax.lines) for ax in d.ax_]  # a line, a star and the capacity on each
    [3, 3]
    >>> import matplotlib.pyplot as plt; plt.close(d.figure_)
    """

    table: pd.DataFrame
    primary: str
    capacity: float | None = None
    marks: dict | None = None
    panels = True

    @classmethod
    def from_result(cls, res) -> TradeoffDisplay:
        """The trade-off of a run: its sweep of the MQL cutoff, as recorded (parameters
        as :meth:`Display.from_result`)."""
        return cls(ctx.tradeoff_view(res.tradeoff, res.primary), res.primary,
                   res.experiment.capacity_mql_per_week, ctx.tradeoff_marks(res))

    def _layout(self):
        return 2, (5.6, 6.4), {"sharex": True}

    def _draw(self, axes) -> None:
        ax1, ax2 = axes
        table, primary, capacity = self.table, self.primary, self.capacity
        if "shown" in table:
            table = table[table["shown"]]
        table = table.copy()
        for col in table.columns:  # missing values (None) as NaN, e.g. per week on a snapshot
            if col != "rules" and table[col].dtype == object:
                table[col] = pd.to_numeric(table[col], errors="coerce")
        # a snapshot has no weeks: volume is the number of MQLs
        xcol, xlabel = ("mql_per_week", "MQLs per week")
        if table["mql_per_week"].isna().all() and "mql_count" in table:
            xcol, xlabel = ("mql_count", "MQLs")
        for label, g in table.groupby("rules", sort=False):
            g = g.sort_values(xcol)
            c = COLORS.get(label, GREY)
            x = g[xcol]
            ax1.plot(x, g[f"{primary}_rate"] * 100, "-o", ms=3, color=c, label=_label(label))
            if f"{primary}_ci_low" in g:
                ax1.fill_between(x, g[f"{primary}_ci_low"] * 100,
                                 g[f"{primary}_ci_high"] * 100, color=c, alpha=0.15, lw=0)
            ax2.plot(x, g[f"{primary}_recall"] * 100, "-o", ms=3, color=c, label=_label(label))
        for label, (x, rate, recall, cut) in (self.marks or {}).items():
            c = COLORS.get(label, GREY)
            ax1.plot([x], [rate * 100], marker="*", ms=14, color=c, mec="black", mew=0.6,
                     ls="none")
            ax1.annotate(f"cutoff {cut:.0f}", (x, rate * 100), textcoords="offset points",
                         xytext=(6, 6), fontsize=10)
            ax2.plot([x], [recall * 100], marker="*", ms=14, color=c, mec="black", mew=0.6,
                     ls="none")
        for ax in (ax1, ax2):
            if capacity is not None:
                ax.axvline(capacity, color=GREY, ls="--", lw=1)
                ax.text(capacity, ax.get_ylim()[0], " capacity", color=GREY, va="bottom",
                        fontsize=10)
        ax2.set_xlabel(xlabel)
        ax1.set_ylabel(f"{primary} rate (%)")
        ax2.set_ylabel(f"{primary} recall (%)")
        ax1.set_title(f"{primary} rate per MQL vs volume (as recorded)")
        ax2.set_title(f"share of all {primary}s caught")
        ax1.legend(frameon=False)


@dataclass(eq=False, repr=False)
class ScoreDistributionDisplay(_PanelPerRuleSet):
    """Histograms of peak scores of leads with and without the outcome, one panel per
    rule set, with the MQL cutoff.

    Parameters
    ----------
    table : DataFrame
        Columns ``rules``, ``bin_left``, ``bin_right``, ``with_outcome``,
        ``without_outcome`` and ``mql_cutoff``.
    primary : str
        The outcome that splits the leads into the two histograms.

    Examples
    --------
    >>> import pandas as pd
    >>> from calib.report import ScoreDistributionDisplay
    >>> table = pd.DataFrame({"rules": "baseline", "bin_left": [0, 50], "bin_right": [50, 100],
    ...                       "with_outcome": [2, 8], "without_outcome": [30, 10],
    ...                       "mql_cutoff": 60})
    >>> d = ScoreDistributionDisplay(table, "meeting").plot()
    >>> len(d.ax_[0].patches)  # two bins, with and without the outcome
    4
    >>> import matplotlib.pyplot as plt; plt.close(d.figure_)
    """

    table: pd.DataFrame
    primary: str

    @classmethod
    def from_result(cls, res) -> ScoreDistributionDisplay:
        """Peak scores of a run's evaluation period under the current and the proposed
        rules (parameters as :meth:`Display.from_result`)."""
        return cls(ctx.score_hist_table(res), res.primary)

    def _draw(self, axes) -> None:
        table, primary = self.table, self.primary
        for ax, label in zip(axes, self._rule_sets()):
            g = table[table["rules"] == label]
            width = (g["bin_right"] - g["bin_left"]).to_numpy()
            n_with = max(g["with_outcome"].sum(), 1)
            n_without = max(g["without_outcome"].sum(), 1)
            ax.bar(g["bin_left"], g["without_outcome"] / n_without * 100, width=width,
                   align="edge", color=GREY, alpha=0.6, label=f"no {primary}")
            ax.bar(g["bin_left"], g["with_outcome"] / n_with * 100, width=width, align="edge",
                   color=COLORS.get(label, BLUE), alpha=0.6, label=primary)
            thr = g["mql_cutoff"].iloc[0]
            ax.axvline(thr, color="black", lw=1, ls="--")
            ax.text(thr, ax.get_ylim()[1], " MQL", va="top")
            ax.set_title(_label(label))
            ax.set_xlabel("peak score")
            ax.set_ylabel("% of leads")
            ax.legend(frameon=False)


@dataclass(eq=False, repr=False)
class BandsDisplay(Display):
    """Outcome rate by the highest score band reached, per rule set.

    Parameters
    ----------
    table : DataFrame
        Columns ``rules``, ``band`` (cold, warm, mql, sql), ``leads`` and ``rate``.
    primary : str
        The outcome whose rate the bars show.

    Examples
    --------
    >>> from calib.report import BandsDisplay
    >>> import pandas as pd
    >>> table = pd.DataFrame({"rules": ["baseline"] * 3, "band": ["cold", "warm", "mql"],
    ...                       "leads": [500, 200, 80], "rate": [0.02, 0.10, 0.40]})
    >>> d = BandsDisplay(table, "meeting").plot()
    >>> [round(p.get_height()) for p in d.ax_.patches]  # percent
    [2, 10, 40]
    >>> import matplotlib.pyplot as plt; plt.close(d.figure_)
    """

    table: pd.DataFrame
    primary: str

    @classmethod
    def from_result(cls, res) -> BandsDisplay:
        """The outcome rate per band of a run's evaluation period, current and proposed
        (parameters as :meth:`Display.from_result`)."""
        return cls(ctx.band_table(res), res.primary)

    def _layout(self):
        return 1, (5.6, 3.2), {}

    def _draw(self, axes) -> None:
        ax = axes[0]
        table = self.table
        labels = list(dict.fromkeys(table["rules"]))
        order = [b for b in ("cold", "warm", "mql", "sql") if b in set(table["band"])]
        x = np.arange(len(order))
        w = 0.8 / max(len(labels), 1)
        for i, label in enumerate(labels):
            g = table[table["rules"] == label].set_index("band").reindex(order)
            ax.bar(x + i * w - 0.4 + w / 2, g["rate"] * 100, w, color=COLORS.get(label, GREY),
                   label=_label(label))
        ax.set_xticks(x, order)
        ax.set_ylabel(f"% with {self.primary}")
        ax.set_title(f"{self.primary} by highest score band reached")
        ax.legend(frameon=False)


@dataclass(eq=False, repr=False)
class DecayDisplay(Display):
    """How fast interest fades: a line of the evidence against the decay parameter,
    with the chosen value (and a known truth) marked.

    Parameters
    ----------
    table : DataFrame
        Holds the columns ``x`` and ``y``.
    x, y : str
        The columns drawn (e.g. ``"parameter_days"`` and ``"loglik"``).
    title, xlabel, ylabel : str
        The texts of the Axes.
    mark : float, optional
        The chosen value, a vertical line.
    truth : float, optional
        A known true value (synthetic data), a dotted line.

    Examples
    --------
    >>> import pandas as pd
    >>> from calib.report import DecayDisplay
    >>> table = pd.DataFrame({"parameter_days": [5.0, 10.0, 20.0], "loglik": [-530, -512, -520]})
    >>> d = DecayDisplay(table, "parameter_days", "loglik", "Decay profile", "half-life (days)",
    ...                  "profile log-likelihood", mark=10.0).plot()
    >>> d.ax_.lines[0].get_ydata().tolist()
    [-530, -512, -520]
    >>> import matplotlib.pyplot as plt; plt.close(d.figure_)
    """

    table: pd.DataFrame
    x: str
    y: str
    title: str
    xlabel: str
    ylabel: str
    mark: float | None = None
    truth: float | None = None

    @classmethod
    def from_result(cls, res) -> DecayDisplay:
        """The fit's decay profile of a run, or its sweep's best hits per half-life
        (parameters as :meth:`Display.from_result`; a ValueError when neither varied
        the decay)."""
        d = ctx.decay_table(res)
        if d is None:
            raise ValueError("The run has no decay profile: neither the fit nor the sweep "
                             "varied the decay.")
        table, x, y, xlabel, ylabel, chosen, title = d
        return cls(table, x, y, title, xlabel, ylabel, mark=chosen)

    def _layout(self):
        return 1, (5.6, 3.2), {}

    def _draw(self, axes) -> None:
        ax = axes[0]
        mark, truth = self.mark, self.truth
        ax.plot(self.table[self.x], self.table[self.y], "-o", ms=3, color=BLUE)
        if mark is not None:
            ax.axvline(mark, color=ORANGE, lw=1.2, label=f"chosen {mark:.1f}")
        if truth is not None:
            ax.axvline(truth, color=GREEN, lw=1, ls=":", label=f"truth {truth:.1f}")
        if mark is not None or truth is not None:
            ax.legend(frameon=False)
        ax.set_xlabel(self.xlabel)
        ax.set_ylabel(self.ylabel)
        ax.set_title(self.title)


@dataclass(eq=False, repr=False)
class ReliabilityDisplay(Display):
    """Predicted probability against the observed share, out of time.

    Parameters
    ----------
    table : DataFrame
        Columns ``predicted``, ``observed``, ``count`` (or ``n``: the dot sizes) and
        optionally ``predicted_after``: the same bins after a recalibration.
    primary : str
        The outcome the score predicts.

    Examples
    --------
    >>> import pandas as pd
    >>> from calib.report import ReliabilityDisplay
    >>> table = pd.DataFrame({"predicted": [0.1, 0.3, 0.6], "observed": [0.08, 0.25, 0.5],
    ...                       "count": [400, 200, 50]})
    >>> d = ReliabilityDisplay(table, "meeting").plot()
    >>> d.ax_.collections[0].get_offsets().tolist()
    [[0.1, 0.08], [0.3, 0.25], [0.6, 0.5]]
    >>> import matplotlib.pyplot as plt; plt.close(d.figure_)
    """

    table: pd.DataFrame
    primary: str

    @classmethod
    def from_result(cls, res) -> ReliabilityDisplay:
        """The out-of-time reliability of a run's calibration check (before and after
        the recalibration on recent weeks), else of its calibration (parameters as
        :meth:`Display.from_result`; a ValueError when it checked no calibration)."""
        table = _reliability_table(res)
        if table is None:
            raise ValueError("The run has no reliability table: no calibration was checked.")
        return cls(table, res.primary)

    def _layout(self):
        return 1, (4.6, 4.3), {}

    def _draw(self, axes) -> None:
        ax = axes[0]
        table = self.table
        ax.plot([0, 1], [0, 1], color=GREY, lw=1, ls="--")
        n = table["count"] if "count" in table else table["n"]
        s = 20 + 180 * n / max(n.max(), 1)
        ax.scatter(table["predicted"], table["observed"], s=s, color=BLUE, alpha=0.8,
                   label="calibrated on training")
        cols = ["predicted", "observed"]
        if "predicted_after" in table:
            ax.scatter(table["predicted_after"], table["observed"], s=s, color=ORANGE,
                       alpha=0.8, marker="D", label="recalibrated on recent weeks")
            cols.append("predicted_after")
            ax.legend(frameon=False, loc="upper left")
        hi = max(float(table[cols].max().max()) * 1.1, 0.05)
        ax.set_xlim(0, min(1, hi))
        ax.set_ylim(0, min(1, hi))
        ax.set_xlabel("predicted probability")
        ax.set_ylabel("observed share")
        ax.set_title(f"Reliability: {self.primary}, out of time")


def _reliability_table(res) -> pd.DataFrame | None:
    """The reliability bins of the calibration check, else of the calibration."""
    chk = getattr(res, "calibration_check", None)
    if chk is not None:
        return chk.reliability
    cal = res.calibration
    rel = getattr(cal, "reliability", None) if cal is not None else None
    if isinstance(rel, pd.DataFrame) and {"mean_predicted", "observed", "count"} <= set(rel):
        return rel.rename(columns={"mean_predicted": "predicted"})
    return None


@dataclass(eq=False, repr=False)
class WhoMovesDisplay(Display):
    """Leads per who-moves cell: MQLs under both rule sets, only one, or neither.

    Parameters
    ----------
    table : DataFrame
        Columns ``cell`` and ``leads``.

    Examples
    --------
    >>> import pandas as pd
    >>> from calib.report import WhoMovesDisplay
    >>> table = pd.DataFrame({"cell": ["MQL under both", "MQL only before"], "leads": [40, 7]})
    >>> d = WhoMovesDisplay(table).plot()
    >>> [int(p.get_width()) for p in d.ax_.patches]
    [40, 7]
    >>> import matplotlib.pyplot as plt; plt.close(d.figure_)
    """

    table: pd.DataFrame

    @classmethod
    def from_result(cls, res) -> WhoMovesDisplay:
        """The MQL cells of a run's paired comparison (parameters as
        :meth:`Display.from_result`; a ValueError when it compared no rule sets lead by
        lead)."""
        table = _who_moves_table(res.comparison)
        if table is None:
            raise ValueError("The run has no who-moves table: no paired comparison ran.")
        return cls(table)

    def _layout(self):
        return 1, (5.6, 2.6), {}

    def _draw(self, axes) -> None:
        ax = axes[0]
        table = self.table
        ax.barh(table["cell"], table["leads"], color=[BLUE, ORANGE, GREEN, GREY][:len(table)])
        for i, v in enumerate(table["leads"]):
            ax.text(v, i, f" {int(v):,}", va="center", fontsize=10)
        ax.invert_yaxis()
        ax.set_xlabel("leads")
        ax.set_title("Who becomes an MQL: current vs proposed")


def _who_moves_table(comp) -> pd.DataFrame | None:
    """The MQL cells (``cell``, ``leads``) of a comparison's who-moves table."""
    wm = getattr(comp, "who_moves", None) if comp is not None else None
    if not isinstance(wm, pd.DataFrame) or "leads" not in wm.columns:
        return None
    cells = wm[wm["label"].astype(str).str.startswith("MQL")]
    if cells.empty:
        return None
    return pd.DataFrame({"cell": cells["label"].astype(str), "leads": cells["leads"]})


@dataclass(eq=False, repr=False)
class ABTestDisplay(Display):
    """A live test's differences from control with their 95% intervals.

    Parameters
    ----------
    table : DataFrame
        Columns ``label``, ``diff``, ``ci_low``, ``ci_high`` (proportions) and
        ``significant`` (green when True).

    Examples
    --------
    >>> import pandas as pd
    >>> from calib.report import ABTestDisplay
    >>> table = pd.DataFrame({"label": ["meeting · proposed"], "diff": [0.04],
    ...                       "ci_low": [0.01], "ci_high": [0.07], "significant": [True]})
    >>> d = ABTestDisplay(table).plot()
    >>> d.ax_.lines[0].get_xdata().tolist()  # the interval, in points
    [1.0, 7.000000000000001]
    >>> import matplotlib.pyplot as plt; plt.close(d.figure_)
    """

    table: pd.DataFrame

    @classmethod
    def from_result(cls, res) -> ABTestDisplay:
        """The rows of a run's live test that the report shows: the experiment's
        outcomes and guardrails (parameters as :meth:`Display.from_result`; a ValueError
        when it analysed no live test)."""
        table = _forest_table(res)
        if table is None:
            raise ValueError("The run has no live test to draw.")
        return cls(table)

    def _layout(self):
        return 1, (5.6, 0.5 * len(self.table) + 1.2), {}

    def _draw(self, axes) -> None:
        ax = axes[0]
        for i, row in enumerate(self.table.itertuples()):
            c = GREEN if row.significant else GREY
            ax.plot([row.ci_low * 100, row.ci_high * 100], [i, i], color=c, lw=2)
            ax.plot([row.diff * 100], [i], "o", color=c, zorder=3)
        ax.axvline(0, color="black", lw=0.8)
        ax.set_yticks(np.arange(len(self.table)), self.table["label"])
        ax.invert_yaxis()
        ax.set_xlabel("vs control (pts, 95% interval)")
        ax.set_title("Live test")


def _forest_table(res) -> pd.DataFrame | None:
    """The live test's differences, only of the metrics the report's A/B section shows."""
    ab = ctx.abtest_view(res)
    ft = ctx.forest_table(res.abtest)
    if ft is None or ft.empty or ab is None:
        return None
    keep = {r["metric"] for r in ab["rows"]}
    ft = ft[ft["label"].str.split(" · ").str[0].isin(keep)].reset_index(drop=True)
    return None if ft.empty else ft
