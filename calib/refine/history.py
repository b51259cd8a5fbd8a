"""Rule-set history, and whether the last change delivered what was predicted.

A history lists the rule sets that were live and since when. The latest change (the
rule set live now and the one before it) is what a new review checks:

* with the earlier review's ``summary.json``, :func:`check_prediction` sets what that
  review predicted for the rule set then adopted (MQLs per week, the primary outcome's
  rate, outcomes per week, with their intervals) against what a replay of the same rule
  set shows for the leads created since adoption;
* with or without it, :func:`before_after` replays the history under both rule sets, so
  that the change between the periods splits into a calendar part (the old rule set,
  before vs after) and a rule part (old vs new rules on the same later leads).
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import itertools
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from calib.data.dataset import Dataset
from calib.engine import replay
from calib.errors import ConfigError
from calib.rules import RuleSet

WEEK = pd.Timedelta(days=7)


# --------------------------------------------------------------------------- history
@dataclass(frozen=True)
class HistoryEntry:
    """One rule set and the time it went live (``until``: when it stopped, optional)."""

    since: pd.Timestamp
    file: Path
    until: pd.Timestamp | None = None

    def to_dict(self) -> dict:
        """The entry as JSON values, the file by its name only."""
        # a report names rule sets, not the folders of the machine it ran on
        return {"since": self.since.isoformat(), "file": self.file.name,
                "until": self.until.isoformat() if self.until is not None else None}


def _when(value, what: str, problems: list) -> pd.Timestamp | None:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        value = value.isoformat()
    try:
        ts = pd.Timestamp(value)
        if pd.isna(ts):
            raise ValueError
    except (ValueError, TypeError):
        problems.append(f"{what} is not an ISO 8601 date: {value!r}")
        return None
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


@dataclass(frozen=True)
class RuleHistory:
    """The rule sets that were live, in time order.

    Build it with :meth:`from_records` (the ``[[rules.history]]`` tables of an experiment
    file) or :meth:`read_csv` (a ``rules_history`` table with columns ``since``, ``file``
    and optionally ``until``). Every problem is reported at once: dates that do not
    parse, entries out of order or sharing a ``since``, an ``until`` that overlaps the
    next entry or leaves a gap before it, and rule files that do not exist.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "old.toml").write_text(""), (d / "new.toml").write_text("")
    >>> h = RuleHistory.from_records([{"since": "2025-01-01", "file": "old.toml"},
    ...                               {"since": "2026-01-01", "file": "new.toml"}], base=d)
    >>> h.latest_change()[1].since.date().isoformat()
    '2026-01-01'
    """

    entries: tuple[HistoryEntry, ...]
    source: str = ""

    @classmethod
    def from_records(cls, records, *, base=".", source: str = "the rule-set history"
                     ) -> RuleHistory:
        """The history of ``[[rules.history]]`` tables (``since``, ``file``), files relative
        to ``base``; ``source`` names the file in errors."""
        if not isinstance(records, list) or not records:
            raise ConfigError(f"The rule-set history in {source} must be a non-empty list of "
                              f"tables with 'since' and 'file'.", code="wrong_type")
        problems: list[str] = []
        entries = []
        for i, r in enumerate(records, start=1):
            where = f"entry {i}"
            if not isinstance(r, dict):
                problems.append(f"{where} is not a table with 'since' and 'file'")
                continue
            unknown = sorted(set(r) - {"since", "file", "until"})
            if unknown:
                problems.append(f"{where} has unknown key(s) {', '.join(unknown)} "
                                f"(allowed: since, file, until)")
            if "since" not in r or "file" not in r:
                problems.append(f"{where} needs both 'since' and 'file'")
                continue
            since = _when(r["since"], f"'since' of {where}", problems)
            until = (_when(r["until"], f"'until' of {where}", problems)
                     if r.get("until") not in (None, "") else None)
            if not isinstance(r["file"], str) or not r["file"].strip():
                problems.append(f"'file' of {where} must name a rule file")
                continue
            path = Path(base) / r["file"].strip()
            if not path.is_file():
                problems.append(f"the rule file of {where} does not exist: {r['file']}")
            if since is not None and until is not None and until <= since:
                problems.append(f"{where} ends ('until' {until.date()}) before it starts "
                                f"('since' {since.date()})")
            if since is not None:
                entries.append((i, HistoryEntry(since, path, until)))
        for (i, a), (j, b) in itertools.pairwise(entries):
            if b.since <= a.since:
                problems.append(f"entry {j} (since {b.since.date()}) does not start after "
                                f"entry {i} (since {a.since.date()}): entries overlap or are "
                                f"out of order")
            elif a.until is not None and a.until > b.since:
                problems.append(f"entry {i} runs until {a.until.date()}, after entry {j} "
                                f"starts ({b.since.date()}): two rule sets overlap")
            elif a.until is not None and a.until < b.since:
                problems.append(f"entry {i} ends {a.until.date()} but entry {j} starts only "
                                f"{b.since.date()}: no rule set was live in between")
        if problems:
            raise ConfigError(f"The rule-set history in {source} is not valid: "
                              + "; ".join(problems) + ".", code="invalid_history",
                              suggestion="List the rule sets in time order, each with the "
                                         "date it went live ('since') and its rule file.")
        return cls(tuple(e for _, e in entries), source)

    @classmethod
    def read_csv(cls, path) -> RuleHistory:
        """A ``rules_history`` table: ``since,file[,until]``, paths relative to the table."""
        path = Path(path)
        try:
            with open(path, newline="", encoding="utf-8") as f:
                rows = list(csv.DictReader(f))
        except OSError as e:
            raise ConfigError(f"Cannot read the rule-set history {path}: {e.strerror}.",
                              code="missing_file") from None
        return cls.from_records([{k: v for k, v in r.items() if k} for r in rows],
                                base=path.parent, source=str(path))

    def latest_change(self) -> tuple[HistoryEntry, HistoryEntry] | None:
        """(the rule set replaced last, the rule set live since); None without a change."""
        if len(self.entries) < 2:
            return None
        return self.entries[-2], self.entries[-1]

    def to_dict(self) -> dict:
        """The entries as JSON values."""
        return {"entries": [e.to_dict() for e in self.entries]}


# ------------------------------------------------------------------------- metrics
def _poisson_ci(count: int, weeks: float) -> tuple[float, float]:
    """Exact (Garwood) 95% interval of a weekly rate from a count over ``weeks``."""
    from statsmodels.stats.rates import confint_poisson

    if not weeks:
        return (np.nan, np.nan)
    low, high = confint_poisson(count, weeks, method="exact-c", alpha=0.05)
    return float(low), float(high)


def replay_metrics(d: dict, primary: str) -> dict:
    """MQLs per week, the primary outcome's rate per MQL and outcomes per week, each as
    (value, low, high), from a replay's ``to_dict()`` (as stored in ``summary.json``).

    MQLs per week carry an exact Poisson interval on the MQL count; outcomes per week are
    MQLs per week times the rate, with the interval from the product of the bounds (which
    covers at least the nominal 95%).

    Parameters
    ----------
    d : dict
        A replay's ``to_dict()``.
    primary : str
        The outcome.

    Returns
    -------
    dict
        ``{"mql_per_week": (value, low, high), "rate": ..., "per_week": ...}``.

    Examples
    --------
    >>> from calib.refine import load_previous
    >>> d = load_previous("calib-demo/previous_review")["replays"]["baseline"]
    >>> {k: round(v[0], 2) for k, v in replay_metrics(d, "meeting").items()}
    {'mql_per_week': 8.52, 'rate': 0.23, 'per_week': 1.97}
    """
    m = d.get("mql") or {}
    count, per_week = m.get("count") or 0, m.get("per_week")
    nan3 = (np.nan, np.nan, np.nan)
    if per_week is None:
        return {"mql_per_week": nan3, "rate": nan3, "per_week": nan3}
    weeks = count / per_week if per_week else (
        (pd.Timestamp(d["period_end"]) - pd.Timestamp(d["period_start"])) / WEEK)
    lo, hi = _poisson_ci(count, weeks)
    o = (d.get("outcomes") or {}).get(primary) or {}
    rate = tuple(np.nan if o.get(k) is None else float(o[k])
                 for k in ("rate", "ci_low", "ci_high"))
    return {"mql_per_week": (float(per_week), lo, hi), "rate": rate,
            "per_week": (per_week * rate[0], lo * rate[1], hi * rate[2])}


def _verdict(value, low, high) -> str:
    if any(x is None or np.isnan(x) for x in (value, low, high)):
        return "unknown"
    return "inside" if low <= value <= high else ("above" if value > high else "below")


def _label(metric: str, primary: str) -> str:
    p = primary.replace("_", " ")
    return {"mql_per_week": "MQLs per week", "rate": f"{p[:1].upper()}{p[1:]} rate per MQL",
            "per_week": f"{p[:1].upper()}{p[1:]}s per week"}[metric]


@dataclass(frozen=True)
class MetricCheck:
    """One predicted metric against what happened."""

    metric: str
    label: str
    predicted: float
    predicted_low: float
    predicted_high: float
    realised: float
    realised_low: float
    realised_high: float
    verdict: str  # "inside", "above", "below" or "unknown"

    def to_dict(self) -> dict:
        """The fields as JSON values (NaN as None)."""
        return {k: (None if isinstance(v, float) and np.isnan(v) else v)
                for k, v in dataclasses.asdict(self).items()}


# ---------------------------------------------------------------- before and after
@dataclass(frozen=True)
class BeforeAfter:
    """The history replayed under the old and the new rule set, before and after the
    change: ``frame`` has one row per (rules, period) with MQLs per week and the primary
    outcome's rate and count per week."""

    old: str
    new: str
    since: str
    primary: str
    frame: pd.DataFrame
    rule_effect: dict      # metric -> new minus old rules, on the leads after the change
    calendar_effect: dict  # metric -> after minus before, under the old rules
    observed_change: dict  # metric -> new rules after minus old rules before
    caveat: str

    def to_frame(self) -> pd.DataFrame:
        """One row per rule set and period (``frame``)."""
        return self.frame

    def to_dict(self) -> dict:
        """The fields as JSON values (missing effects as None)."""
        def clean(d): return {k: (None if np.isnan(v) else float(v)) for k, v in d.items()}
        return {"old": self.old, "new": self.new, "since": self.since, "primary": self.primary,
                "rows": json.loads(self.frame.to_json(orient="records")),
                "rule_effect": clean(self.rule_effect),
                "calendar_effect": clean(self.calendar_effect),
                "observed_change": clean(self.observed_change), "caveat": self.caveat}

    def summary(self) -> str:
        """The observed change split into the rule change and the calendar, in words."""
        r, c, o = self.rule_effect, self.calendar_effect, self.observed_change
        return (f"From before to after {self.since[:10]}, MQLs per week changed by "
                f"{o['mql_per_week']:+.1f}: {r['mql_per_week']:+.1f} from the rule change "
                f"('{self.old}' -> '{self.new}' on the same later leads) and "
                f"{c['mql_per_week']:+.1f} from the calendar (the old rules, before vs after). "
                f"The {self.primary} rate per MQL changed by {100 * o['rate']:+.1f} points "
                f"({100 * r['rate']:+.1f} rules, {100 * c['rate']:+.1f} calendar).")


def _last_created(ds: Dataset):
    return None if ds.snapshot else ds.leads["created_at"].max()


def _check_sides(ds: Dataset, since: pd.Timestamp, name: str, before: bool) -> None:
    """A change needs leads after it (and before it, to compare with)."""
    created = ds.leads["created_at"]
    sides = [("after", int((created >= since).sum()))]
    if before:
        sides.append(("before", int((created < since).sum())))
    for side, n in sides:
        if n == 0:
            raise ConfigError(f"The rule-set history says '{name}' went live on "
                              f"{since.date()}, but the data has no leads created {side} "
                              f"that date: there is nothing to compare.", code="out_of_range",
                              suggestion="Check the 'since' dates of the history against the "
                                         "data's date range.")


def before_after(ds: Dataset, old: RuleSet, new: RuleSet, since, *, primary: str,
                 window_days: float = 90) -> BeforeAfter:
    """Replay leads created before and after ``since`` under both rule sets.

    Parameters
    ----------
    ds : Dataset
    old, new : RuleSet
        The rule sets before and after the change.
    since : str or Timestamp
        When ``new`` went live.
    primary : str
        The outcome whose rate and count per week are compared.
    window_days : float
        Attribution window.

    Returns
    -------
    BeforeAfter
        The observed change split into the rule change and the calendar.

    Examples
    --------
    >>> from calib import load_dataset, load_rules
    >>> ds = load_dataset("calib-demo/data")
    >>> rules = load_rules("calib-demo/current.toml")
    >>> ba = before_after(ds, load_rules("calib-demo/legacy.toml"), rules, "2026-01-01",
    ...                   primary="meeting")
    >>> print(ba.summary())  # doctest: +ELLIPSIS
    From before to after 2026-01-01, MQLs per week changed by -6.2: -6.0 from the rule change ...
    """
    since = _when(since, "since", []) if not isinstance(since, pd.Timestamp) else since
    _check_sides(ds, since, new.name, before=True)
    end = _last_created(ds)
    before_end = since - pd.Timedelta(seconds=1)
    rows, m = [], {}
    for label, rules in (("old", old), ("new", new)):
        for period, (s, e) in (("before", (None, before_end)), ("after", (since, end))):
            d = replay(ds, rules, window_days=window_days, start=s, end=e).to_dict()
            mm = replay_metrics(d, primary)
            m[label, period] = mm
            rows.append({"rules": rules.name, "role": label, "period": period,
                         "leads": d["leads"], "mql": d["mql"]["count"],
                         "mql_per_week": mm["mql_per_week"][0], "rate": mm["rate"][0],
                         "rate_low": mm["rate"][1], "rate_high": mm["rate"][2],
                         "per_week": mm["per_week"][0], "coverage": d["coverage"]})
            m[label, period]["coverage"] = d["coverage"]
    keys = ("mql_per_week", "rate", "per_week")
    rule = {k: m["new", "after"][k][0] - m["old", "after"][k][0] for k in keys}
    cal = {k: m["old", "after"][k][0] - m["old", "before"][k][0] for k in keys}
    obs = {k: m["new", "after"][k][0] - m["old", "before"][k][0] for k in keys}
    cov_old, cov_new = m["old", "after"]["coverage"], m["new", "after"]["coverage"]
    how_far = ""
    if cov_old is not None and cov_new is not None:
        how_far = (f" After the change {100 * cov_old:.0f}% of the old rules' MQLs have a "
                   f"recorded sales outcome, against {100 * cov_new:.0f}% of the new rules'.")
    caveat = ("The replay separates the calendar from the rules only as far as outcomes "
              "allow: after the change sales worked the leads the new rules flagged, so "
              "leads only the old rules would have flagged were worked less and their "
              "outcomes are under-recorded; lead mix and seasonality enter the calendar part."
              + how_far)
    return BeforeAfter(old.name, new.name, since.isoformat(), primary, pd.DataFrame(rows),
                       rule, cal, obs, caveat)


# ----------------------------------------------------------- predicted vs realised
@dataclass(frozen=True)
class PredictionCheck:
    """What the earlier review predicted for the adopted rule set, against a replay of
    the same rule set over the leads created since it went live.

    ``status`` is ``"checked"``, or ``"not_predicted"`` (the earlier review has no
    replay of the adopted rule set) with the reason in ``reason``."""

    adopted: str
    since: str
    previous: str
    primary: str
    status: str
    reason: str = ""
    metrics: tuple[MetricCheck, ...] = ()
    realised_leads: int = 0
    realised_period: str = ""
    before_after: BeforeAfter | None = None
    caveat: str = ""

    def to_frame(self) -> pd.DataFrame:
        """One row per metric: predicted and realised with their intervals, verdict."""
        return pd.DataFrame([m.to_dict() for m in self.metrics])

    def to_dict(self) -> dict:
        """Every field as JSON values."""
        return {"adopted": self.adopted, "since": self.since, "previous": self.previous,
                "primary": self.primary, "status": self.status, "reason": self.reason,
                "realised_leads": self.realised_leads, "realised_period": self.realised_period,
                "caveat": self.caveat,
                "metrics": [m.to_dict() for m in self.metrics],
                "before_after": self.before_after.to_dict() if self.before_after else None}

    def sentences(self) -> list[str]:
        """One sentence per metric (or the reason it could not be checked)."""
        if self.status != "checked":
            return [self.reason]
        out = []
        for m in self.metrics:
            fmt = (lambda x: f"{100 * x:.1f}%") if m.metric == "rate" else (
                lambda x: f"{x:,.1f}")
            word = {"inside": "inside the prediction", "above": "above the prediction",
                    "below": "below the prediction", "unknown": "not comparable"}[m.verdict]
            out.append(f"{m.label}: predicted {fmt(m.predicted)} ({fmt(m.predicted_low)}–"
                       f"{fmt(m.predicted_high)}), realised {fmt(m.realised)} "
                       f"({fmt(m.realised_low)}–{fmt(m.realised_high)}): {word}.")
        return out

    def headline(self) -> str:
        """How many predictions held, and which came in above or below."""
        if self.status != "checked":
            return self.reason
        held = [m for m in self.metrics if m.verdict == "inside"]
        missed = [m for m in self.metrics if m.verdict in ("above", "below")]
        text = (f"'{self.adopted}', adopted {self.since[:10]}: {len(held)} of "
                f"{len(self.metrics)} predictions held (the realised value fell inside the "
                f"predicted 95% interval)")
        if missed:
            text += "; " + ", ".join(
                f"{m.label if m.label.startswith('MQL') else m.label[:1].lower() + m.label[1:]} came in "
                f"{m.verdict} it" for m in missed)
        return text + "."

    def summary(self) -> str:
        """The headline, the sentences, the caveat and the before/after."""
        lines = [self.headline()] + ["  " + s for s in self.sentences()]
        if self.caveat:
            lines.append("  " + self.caveat)
        if self.before_after is not None:
            lines.append("  " + self.before_after.summary())
        return "\n".join(lines)


def load_previous(path) -> dict:
    """The ``summary.json`` of an earlier report.

    Parameters
    ----------
    path : str or Path
        The earlier report's folder, or its ``summary.json``.

    Returns
    -------
    dict

    Raises
    ------
    ConfigError
        ``missing_file``, ``invalid_json`` or when it holds no replays.

    Examples
    --------
    >>> previous = load_previous("calib-demo/previous_review")
    >>> previous["baseline"], previous["proposed"]
    ('legacy', 'current')
    """
    path = Path(path)
    file = path / "summary.json" if path.is_dir() else path
    try:
        d = json.loads(file.read_text(encoding="utf-8"))
    except OSError:
        raise ConfigError(f"The previous report {path} has no readable summary.json.",
                          code="missing_file",
                          suggestion="Point --previous (or [report] previous) at the folder "
                                     "of an earlier calib report.") from None
    except json.JSONDecodeError as e:
        raise ConfigError(f"The summary.json of the previous report {path} is not valid JSON "
                          f"(line {e.lineno}).", code="invalid_json") from None
    if not isinstance(d, dict) or not isinstance(d.get("replays", d.get("test_replays")), dict):
        raise ConfigError(f"The summary.json of {path} is not a calib report summary (it has "
                          f"no 'replays').", code="invalid_json")
    return d


def _predicted_entry(previous: dict, name: str) -> dict | None:
    for key in ("test_replays", "replays"):
        for entry in (previous.get(key) or {}).values():
            if isinstance(entry, dict) and entry.get("rules") == name:
                return entry
    return None


def check_prediction(ds: Dataset, adopted: RuleSet, since, previous: dict, *,
                     primary: str | None = None, window_days: float | None = None,
                     old: RuleSet | None = None) -> PredictionCheck:
    """Set the earlier review's prediction for ``adopted`` against what happened.

    Parameters
    ----------
    ds : Dataset
    adopted : RuleSet
        The rule set live since ``since`` (found in ``previous`` by its name).
    since : str or Timestamp
        When it went live; leads created from then on are the realised period.
    previous : dict
        The earlier report's ``summary.json`` (:func:`load_previous`).
    primary : str, optional
        The outcome to check; default the earlier review's primary outcome.
    window_days : float, optional
        Attribution window; default the one of the earlier prediction.
    old : RuleSet, optional
        The rule set it replaced: adds :func:`before_after` to split calendar and rules.

    Examples
    --------
    >>> from calib import check_prediction, load_dataset, load_rules
    >>> from calib.refine import load_previous
    >>> check = check_prediction(load_dataset("calib-demo/data"),
    ...                          load_rules("calib-demo/current.toml"), "2026-01-01",
    ...                          load_previous("calib-demo/previous_review"))
    >>> print(check.summary().splitlines()[0])  # doctest: +ELLIPSIS
    'current', adopted 2026-01-01: 3 of 3 predictions held (the realised value fell inside ...
    """
    since = _when(since, "since", []) if not isinstance(since, pd.Timestamp) else since
    _check_sides(ds, since, adopted.name, before=False)
    primary = primary or previous.get("primary_outcome") or "meeting"
    name = str(previous.get("experiment", "the previous review"))
    entry = _predicted_entry(previous, adopted.name)
    W = window_days or (entry or {}).get("window_days") or 90
    ba = (before_after(ds, old, adopted, since, primary=primary, window_days=W)
          if old is not None and (ds.leads["created_at"] < since).any() else None)
    if entry is None:
        return PredictionCheck(adopted.name, since.isoformat(), name, primary, "not_predicted",
                               f"The previous review '{name}' has no replay of '{adopted.name}', "
                               f"so there is no prediction to check; the change is judged "
                               f"before/after instead.", before_after=ba)
    pred = replay_metrics(entry, primary)
    rep = replay(ds, adopted, window_days=W, start=since, end=_last_created(ds), per_lead=True)
    res = rep.to_dict()
    real = replay_metrics(res, primary)
    real["rate"], n_mature = _mature_rate(rep.per_lead, primary, W, ds.end_of_data)
    lo, hi = real["mql_per_week"][1:]
    real["per_week"] = (real["mql_per_week"][0] * real["rate"][0], lo * real["rate"][1],
                        hi * real["rate"][2])
    checks = tuple(
        MetricCheck(k, _label(k, primary), *pred[k], *real[k],
                    _verdict(real[k][0], *pred[k][1:]))
        for k in ("mql_per_week", "rate", "per_week"))
    period = (f"leads created {since.date()} .. {str(res['period_end'])[:10]} (rates over the "
              f"{n_mature:,} MQLs whose whole window is observed)")
    return PredictionCheck(adopted.name, since.isoformat(), name, primary, "checked",
                           metrics=checks, realised_leads=int(res["leads"]),
                           realised_period=period, before_after=ba,
                           caveat=_immature_caveat(entry, res, primary))


def _mature_rate(per_lead: pd.DataFrame, primary: str, window_days: float, end_of_data):
    """The primary rate (Wilson interval) over the MQLs whose whole window is observed,
    and their number: early outcomes of MQLs whose window is still open do not count."""
    from calib.stats import proportion_ci

    m = per_lead["mql_at"]
    mature = (m.notna() & (m + pd.Timedelta(days=window_days) <= end_of_data)).to_numpy()
    status = per_lead[f"status_{primary}"].astype(str).to_numpy()
    hits = int((mature & (status == "hit")).sum())
    decided = int((mature & np.isin(status, ("hit", "miss", "late"))).sum())
    if not decided:
        return (np.nan, np.nan, np.nan), int(mature.sum())
    low, high = proportion_ci(hits, decided)
    return (hits / decided, float(low), float(high)), int(mature.sum())


def _immature_caveat(entry: dict, realised: dict, primary: str) -> str:
    """Rates leave out MQLs whose window is still open, but not the early outcomes of
    their peers, so a rate with many such MQLs leans high (the realised rate counts
    only MQLs whose whole window is observed)."""
    parts = []
    for what, d in (("predicted", entry),):
        o = (d.get("outcomes") or {}).get(primary) or {}
        open_, decided = o.get("immature") or 0, sum(o.get(k) or 0 for k in ("hits", "misses",
                                                                               "late"))
        if open_ and open_ >= 0.1 * (open_ + decided):
            parts.append(f"{open_:,} of the {what} MQLs ({100 * open_ / (open_ + decided):.0f}%)")
    if not parts:
        return ""
    return (f"The {primary} windows of {' and '.join(parts)} were still open when the earlier "
            f"review was made: its rate counts the early {primary}s of those MQLs but not the "
            f"others, so it leans high.")


# ------------------------------------------------------- a review as of an earlier date
def as_of(ds: Dataset, when) -> Dataset:
    """The data set as it looked at ``when``: leads created before it, and only the events
    and outcomes that had happened by then (the end of the data is ``when``).

    Unlike the fit's out-of-time cut, the moment itself is left out: what happened at
    exactly ``when`` was not yet known to a review made then.

    Parameters
    ----------
    ds : Dataset
        The data as they are today.
    when : str or Timestamp
        The day of the earlier review: an ISO date (``"2026-01-01"``, midnight UTC) or
        a tz-aware Timestamp.

    Returns
    -------
    Dataset
        What the earlier review could see (without the test assignments): the input of
        :func:`review_summary`.

    Examples
    --------
    >>> from calib import load_dataset
    >>> earlier = as_of(load_dataset("calib-demo/data"), "2026-01-01")
    >>> earlier.n_leads, str(earlier.end_of_data.date())
    (1193, '2026-01-01')
    """
    when = _when(when, "as_of", []) if not isinstance(when, pd.Timestamp) else when
    codes = np.flatnonzero((ds.leads["created_at"] < when).to_numpy())
    sub = ds.subset(codes)
    ev = sub.events[sub.events["occurred_at"] < when].reset_index(drop=True)
    out = sub.outcomes[sub.outcomes["occurred_at"] < when].reset_index(drop=True)
    return dataclasses.replace(sub, events=ev, outcomes=out, end_of_data=when,
                               assignments=None)


def review_summary(ds: Dataset, rule_sets: dict, *, primary: str, window_days: float = 90,
                   name: str = "previous-review") -> dict:
    """The prediction fields of a report's ``summary.json`` (``replays`` and
    ``test_replays`` of each rule set, keyed by role) computed on ``ds``: what
    :func:`check_prediction` reads.

    Parameters
    ----------
    ds : Dataset
        The data as it was at the review (see :func:`as_of`).
    rule_sets : dict
        Role (``baseline``, ``proposed``) -> RuleSet.
    primary : str
        The outcome.
    window_days : float
        Attribution window.
    name : str
        The experiment's name in the summary.

    Returns
    -------
    dict
        The fields of ``summary.json`` that :func:`load_previous` checks.

    Examples
    --------
    >>> from calib import load_dataset, load_rules
    >>> ds = as_of(load_dataset("calib-demo/data"), "2026-01-01")
    >>> s = review_summary(ds, {"baseline": load_rules("calib-demo/legacy.toml")},
    ...                    primary="meeting")
    >>> s["baseline"], s["proposed"], sorted(s["replays"])
    ('legacy', 'legacy', ['baseline'])
    """
    end = _last_created(ds)
    replays = {k: replay(ds, r, window_days=window_days, end=end).to_dict()
               for k, r in rule_sets.items()}
    return {"experiment": name, "primary_outcome": primary,
            "baseline": rule_sets["baseline"].name,
            "proposed": rule_sets.get("proposed", rule_sets["baseline"]).name,
            "evaluation": "in sample", "replays": replays, "test_replays": replays}
