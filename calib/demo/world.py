"""The demo world: a synthetic B2B lead history with a known ground truth.

:func:`generate_demo` writes a data set (SPEC section 1) together with the rule set the
company really used (``current.toml``), the true model written as a rule set
(``truth.toml``), every true parameter (``truth.json``), each lead's latent outcome
(``truth_outcomes``) and an experiment file. Everything is vectorised numpy on one
``numpy.random.default_rng(seed)``; the same seed gives byte-identical files.

Files
-----
``out_dir/data/{leads,events,outcomes,assignments}.{csv,parquet}``
    The data set. CSV timestamps look like ``2025-03-04T13:22:05Z``; Parquet timestamps
    are tz-aware UTC. Events are in time order, like an activity export.
``out_dir/current.toml``, ``truth.toml``, ``experiment.toml``
    The historical rule set, the true model as a rule set, and an experiment file whose
    paths are relative to ``out_dir``.
``out_dir/legacy.toml``, ``previous_review/summary.json``
    The rule set live before ``current.toml`` (which replaced it on ``ADOPTED_AT``, as
    the experiment's ``[rules] history`` says) and the prediction fields of the review
    made just before the switch (both rule sets replayed on the data as it was then).
    Sales' first touches are ``contacted`` outcome rows, appended after the others from
    their own random stream: every other row is the same as without them.
``out_dir/truth.json``, ``truth_outcomes.{csv,parquet}``
    Every true parameter with summary counts, and per lead the latent state: buyer and
    buying window, true fit log-odds, latent meeting and its trigger time (also when
    unrecorded or after the end), latent sql/won, when and why sales worked the lead,
    and whether its meeting is recorded under each arm of the live test.

The world
---------
Time
    Leads are created from 2025-01-01 to the end of the history, 2026-07-01T00:00:00Z
    (exclusive), with growth over time, a weekly rhythm and summer / year-end dips.
    Nothing at or after the end is recorded (right-censoring). All times are whole
    seconds.
Leads
    ``seniority``, ``employees`` (log-normal, heavy-tailed), ``industry`` (about 3%
    missing), ``country``, ``source`` and ``exploration_holdout``.
Events
    15 event types. Every lead gets a creation event (the form that created it) at
    ``created_at``, some anonymous activity in the 21 days before it, a nurture stream of
    email opens (fading over time, stopped by an unsubscribe or a bounce, sometimes opened
    twice), low-intent web noise and occasional research. A latent share of *buyers*
    enter a buying window (start near creation for inbound buyers, later for the others;
    a few weeks long) in which research and high-intent events cluster. Some non-buyers
    have a research-only "false start"; job seekers view the careers page.
True meeting model (what ``truth.toml`` encodes)
    At every distinct event timestamp ``t`` of a lead at or after ``created_at`` (one
    trial per timestamp, events sharing a timestamp apply together) a meeting is booked
    with probability ``sigmoid(eta(t))``::

        eta(t) = intercept + fit_j + sum_i beta[type_i] * 0.5 ** ((t - t_i) / half_life)

    summed over the lead's events with ``t_i <= t`` (anonymous events before
    ``created_at`` included). The first success (its time is the *trigger*) books the
    latent meeting, held ``0.5 + Gamma(2, 1)`` days later. ``fit_j`` adds true log-odds effects of
    seniority, company-size bins and industry; ``country`` and ``source`` have no direct
    effect. ``truth.toml`` writes ``points = round(POINTS_PER_LOGIT * beta)``, so its
    score is ``POINTS_PER_LOGIT * (eta - intercept)`` up to rounding (rules that round to
    0 points are left out and listed in ``truth.json``).
Downstream (latent for everyone, recorded only when worked)
    After a meeting: ``sql`` with probability ``sigmoid(0.3 + 0.8 fit_j)``, else
    ``disqualified`` with probability 0.5; after ``sql``, ``opportunity`` with 0.75;
    after an opportunity ``won`` with ``sigmoid(-1 + 0.8 fit_j)`` (positive ``amount``
    growing with company size) else ``lost``. Worked leads without a recorded meeting are
    ``disqualified`` with probability 0.25 (0.75 for job seekers).
Historical scoring and selective labels
    ``mql`` rows are the times each lead first reached the ``current.toml`` MQL cutoff,
    computed exactly as a replay (SPEC section 3). Sales works a lead from the earliest
    of: its routing time (the ``mql`` time; in the ``strict`` arm of the live test, the
    time its current.toml score first reached the strict cutoff), its first
    ``demo_request`` or ``contact_form`` (self-booked, at or after ``created_at``), or its
    ``created_at`` if it is in the exploration holdout (a random ``EXPLORATION_SHARE`` of
    all leads, drawn when the lead is created, whatever its score: the only routing that
    does not depend on the rules, so it shows what the leads the rules route late or never
    would have done). A latent meeting is recorded only if the lead was
    worked at or before the meeting; everything downstream of an unrecorded meeting is
    missing too. ``truth_outcomes`` keeps every lead's latent meeting and trigger.
Live threshold test
    Leads created from ``AB_START`` on are assigned 50/50 (by the rng) to ``control`` and
    ``strict`` (``assigned_at = created_at``). ``strict`` routes leads to sales only at a
    current.toml score of ``STRICT_MQL`` instead of the MQL cutoff; the marketing
    automation's ``mql`` flag itself is unchanged, so ``mql`` rows follow current.toml in
    both arms. Fewer leads are worked in ``strict`` (about 28% against 39%), but sales,
    with fewer leads each, works them harder: from a lead's worked time on, its per-trial
    meeting log-odds rise by ``STRICT_UPLIFT`` (the only departure from the true model,
    and only for worked leads of the ``strict`` arm, all created after ``TRAIN_UNTIL``).
    Net, ``strict`` records more meetings per lead (about +2 percentage points).
    Both potential outcomes of every assigned lead are simulated with the same random
    draws, and ``truth.json`` states the true effect (strict minus control) on the share
    of assigned leads with a recorded meeting within ``window_days`` of ``assigned_at``
    and before the end of the history, over all assigned leads and over the mature ones
    (``assigned_at + window_days`` before the end).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import tomli_w

from calib.errors import ConfigError
from calib.io import write_table
from calib.rules.config import RuleSet
from calib.rules.io import dumps_rules

__all__ = ["DemoWorld", "generate_demo", "CURRENT_RULES"]

# ----------------------------------------------------------------------------- time

DAY_S = 86_400
START_S = int(np.datetime64("2025-01-01T00:00:00", "s").astype(np.int64))
END_S = int(np.datetime64("2026-07-01T00:00:00", "s").astype(np.int64))  # exclusive
AB_START_S = int(np.datetime64("2026-03-01T00:00:00", "s").astype(np.int64))
TRAIN_UNTIL = "2026-01-01"
PRE_CREATION_DAYS = 21

# --------------------------------------------------------------------- vocabularies

SENIORITY = ("ic", "manager", "director", "vp", "c_level")
SENIORITY_P = (0.45, 0.28, 0.15, 0.08, 0.04)
INDUSTRY = ("software", "financial_services", "healthcare", "manufacturing", "retail",
            "education", "government", "media")
INDUSTRY_P = (0.24, 0.14, 0.12, 0.14, 0.10, 0.10, 0.06, 0.10)
INDUSTRY_MISSING = 0.03
COUNTRY = ("US", "GB", "DE", "FR", "CA", "AU", "IN", "BR")
COUNTRY_P = (0.42, 0.12, 0.10, 0.07, 0.08, 0.06, 0.09, 0.06)
SOURCE = ("organic", "paid_search", "paid_social", "events", "referral", "partner",
          "content_syndication")
SOURCE_P = (0.26, 0.20, 0.16, 0.08, 0.07, 0.08, 0.15)
# log-odds shift of being a buyer (source has no direct effect on meetings)
SOURCE_BUYER = (0.0, 0.2, -0.5, 0.3, 0.8, 0.6, -0.8)

EVENT_TYPES = (
    # low intent
    "email_open", "blog_view", "newsletter_signup", "social_click",
    # research
    "ebook_download", "case_study_view", "webinar_attended", "whitepaper_download",
    # high intent
    "pricing_page_view", "demo_request", "contact_form", "trial_signup",
    # negative
    "unsubscribe", "email_bounce", "careers_page_view",
)
_CODE = {name: i for i, name in enumerate(EVENT_TYPES)}
OUTCOMES = ("mql", "meeting", "sql", "opportunity", "won", "lost", "disqualified")

# ------------------------------------------------------------------------ the truth

HALF_LIFE_DAYS = 14.0
INTERCEPT = -7.0          # per-trial log-odds of a meeting at the reference profile
POINTS_PER_LOGIT = 10.0   # truth.toml points per unit of log-odds
# True effect of one fresh event on the log-odds of a meeting (decays with HALF_LIFE_DAYS).
EVENT_EFFECTS = {
    "email_open": 0.02, "blog_view": 0.04, "newsletter_signup": 0.1, "social_click": 0.0,
    "ebook_download": 0.3, "case_study_view": 0.5, "webinar_attended": 0.6,
    "whitepaper_download": 0.4,
    "pricing_page_view": 0.9, "demo_request": 1.8, "contact_form": 1.4, "trial_signup": 1.2,
    "unsubscribe": -1.5, "email_bounce": -0.8, "careers_page_view": -0.6,
}
SENIORITY_EFFECTS = {"ic": 0.0, "manager": 0.3, "director": 0.7, "vp": 0.9, "c_level": 0.8}
# company-size bins on employees, both ends inclusive; 50-199 is the reference
EMPLOYEE_BINS = ((1, 49, -0.6), (50, 199, 0.0), (200, 999, 0.4), (1000, 4999, 0.6),
                 (5000, None, 0.5))
INDUSTRY_EFFECTS = {"software": 0.4, "financial_services": 0.3, "healthcare": 0.2,
                    "manufacturing": 0.0, "retail": -0.1, "education": -0.5,
                    "government": -0.3, "media": -0.2}   # missing industry: 0
MEETING_DELAY = {"offset_days": 0.5, "gamma_shape": 2.0, "gamma_scale_days": 1.0}
DOWNSTREAM = {
    "sql": {"intercept": 0.3, "fit_slope": 0.8, "delay_days": "1 + Gamma(2, 3)"},
    "disqualified_after_meeting": {"p": 0.5, "delay_days": "1 + Gamma(2, 4)"},
    "opportunity": {"p": 0.75, "delay_days": "1 + Gamma(2, 5)"},
    "won": {"intercept": -1.0, "fit_slope": 0.8, "delay_days": "5 + Gamma(3, 15)"},
    "amount": "round(3000 * employees ** 0.3 * LogNormal(0, 0.5), -2), at least 500",
    "disqualified_without_meeting": {"p": 0.25, "p_job_seeker": 0.75,
                                     "delay_days": "1 + Gamma(2, 7)"},
}
EXPLORATION_SHARE = 0.10  # of all leads, drawn at creation and worked from then on
STRICT_MQL = 100          # current.toml score at which the strict arm routes to sales
# in the strict arm sales works each (rarer) lead harder: per-trial log-odds uplift from
# the time the lead is worked on
STRICT_UPLIFT = 1.0
WINDOW_DAYS = 90

# ------------------------------------------------------ the historical rule set

CURRENT_RULES: dict = {
    "name": "current",
    "fit": [
        {"field": "seniority", "in": ["director", "vp", "c_level"], "points": 10},
        {"field": "employees", "min": 200, "points": 5},
        {"field": "industry", "in": ["software", "financial_services"], "points": 5},
        {"field": "country", "equals": "US", "points": 5},
    ],
    "behavior": [
        {"event": "email_open", "points": 5, "cap": 30, "max_per_day": 1},
        {"event": "blog_view", "points": 2, "cap": 10},
        {"event": "social_click", "points": 2, "cap": 6},
        {"event": "newsletter_signup", "points": 5},
        {"name": "content", "events": ["ebook_download", "whitepaper_download"],
         "points": 8, "cap": 16},
        {"event": "webinar_attended", "points": 10, "cap": 20},
        {"event": "case_study_view", "points": 5, "cap": 15},
        {"event": "pricing_page_view", "points": 5, "cap": 10, "max_per_day": 1},
        {"event": "demo_request", "points": 30},
        {"event": "contact_form", "points": 20},
        {"event": "trial_signup", "points": 20},
        {"event": "unsubscribe", "points": -20},
    ],
    "decay": {"kind": "none"},
    "limits": {"min": 0},
    "thresholds": {"mql": 85, "sql": 115},
}

_NONE = np.int64(-1)  # "no time" in int64-second arrays
# ------------------------------------------------- the rule set before current.toml

# current.toml went live on ADOPTED_AT; before that the older rule set LEGACY_RULES
# (more points for email opens and blog views, a lower cutoff) was live. A review made
# just before the switch (previous_review/summary.json) predicted what current.toml would
# do. The marketing automation's ``mql`` rows and sales' routing follow current.toml over
# the whole history either way (the tables do not change with the history).
ADOPTED_AT = TRAIN_UNTIL
LEGACY_SINCE = "2025-01-01"
LEGACY_RULES: dict = {
    **CURRENT_RULES, "name": "legacy",
    "behavior": [dict(r, points=8, cap=48) if r.get("event") == "email_open"
                 else dict(r, points=4, cap=20) if r.get("event") == "blog_view" else r
                 for r in CURRENT_RULES["behavior"]],
    "thresholds": {"mql": 75, "sql": 105},
}
# sales' first touch of a worked lead (outcome ``contacted``): a log-normal response time
# from the moment the lead is worked, never after its recorded meeting. It is drawn from
# its own stream (numpy.random.default_rng([seed, 19])), so the other tables are the same
# as without it, and it has no effect on any outcome.
FIRST_TOUCH = {"outcome": "contacted", "median_hours": 3.0, "sigma": 1.3,
               "service_level_hours": 4}



@dataclass(frozen=True)
class DemoWorld:
    """The files :func:`generate_demo` wrote, and the truth behind them.

    Every path is absolute or relative as ``out_dir`` was given; the data set in
    ``data_dir`` is what any other data set would be, and everything else (the truth,
    the latent outcomes) is kept beside it, so that calib never reads it by mistake.

    Attributes
    ----------
    root : Path
        The output folder.
    data_dir : Path
        The data set folder (``root / "data"``).
    leads, events, outcomes, assignments : Path
        The four tables.
    current_rules, truth_rules, experiment, grid : Path
        ``current.toml``, ``truth.toml``, ``experiment.toml`` and ``grid.toml``.
    truth_json, truth_outcomes : Path
        ``truth.json`` (every true parameter and summary counts) and the per-lead latent
        outcomes (beside ``data/``, not inside it).
    truth : dict
        The content of ``truth.json``.
    legacy_rules, previous_review : Path or None
        ``legacy.toml`` (the rule set before ``current.toml``) and
        ``previous_review/summary.json`` (the review made just before the switch).

    Examples
    --------
    >>> import tempfile
    >>> world = generate_demo(tempfile.mkdtemp(), n_leads=300, seed=2)
    >>> world.data_dir.name, world.current_rules.name
    ('data', 'current.toml')
    """

    root: Path
    data_dir: Path
    leads: Path
    events: Path
    outcomes: Path
    assignments: Path
    current_rules: Path
    truth_rules: Path
    truth_json: Path
    truth_outcomes: Path
    experiment: Path
    grid: Path
    truth: dict = field(repr=False, compare=False)
    legacy_rules: Path | None = None
    previous_review: Path | None = None

    def to_dict(self) -> dict:
        """The paths written and headline counts (what ``calib demo --json`` prints).

        Returns
        -------
        dict
            JSON-safe: the paths as strings, the seed, the numbers of leads and events
            and the true half-life.

        Examples
        --------
        >>> import tempfile
        >>> world = generate_demo(tempfile.mkdtemp(), n_leads=300, seed=2)
        >>> d = world.to_dict()
        >>> d["leads"], d["seed"], d["true_half_life_days"]
        (300, 2, 14.0)
        """
        counts = self.truth.get("counts", {})
        return {
            "root": str(self.root), "data": str(self.data_dir),
            "current_rules": str(self.current_rules), "truth_rules": str(self.truth_rules),
            "grid": str(self.grid), "experiment": str(self.experiment),
            "truth_json": str(self.truth_json), "seed": self.truth.get("seed"),
            "legacy_rules": str(self.legacy_rules) if self.legacy_rules else None,
            "previous_review": str(self.previous_review) if self.previous_review else None,
            "leads": self.truth.get("n_leads"), "events": counts.get("events"),
            "true_half_life_days": self.truth.get("half_life_days"),
        }

    def latent_dataset(self):
        """The world's leads and events with every lead's *latent* meeting as its outcome.

        The meetings come from ``truth_outcomes`` (those before the end of the history),
        whether or not sales worked the lead: what a replay would show if nothing were
        missing. No real team has this; it is the ground truth that calib's corrections
        for selective labels are checked against.

        Returns
        -------
        Dataset
            The leads and events of the world, and ``meeting`` outcomes only.

        Examples
        --------
        >>> import tempfile
        >>> world = generate_demo(tempfile.mkdtemp(), n_leads=300, seed=2)
        >>> latent = world.latent_dataset()
        >>> latent.outcome_types, latent.n_leads
        (('meeting',), 300)
        """
        from calib.data import from_frames

        def read(path):
            path = Path(path)
            return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)

        tr = read(self.truth_outcomes)
        at = pd.to_datetime(tr["latent_meeting_at"], utc=True)
        end = pd.Timestamp(self.truth["history_end"])
        lat = tr.loc[at.notna() & (at < end), ["lead_id", "latent_meeting_at"]]
        lat = lat.rename(columns={"latent_meeting_at": "occurred_at"}).assign(outcome="meeting")
        return from_frames(read(self.leads), read(self.events), lat)

    def summary(self) -> str:
        """What was written and the commands to try next, as ``calib demo`` prints it.

        Returns
        -------
        str
            A few lines of text.

        Examples
        --------
        >>> import tempfile
        >>> world = generate_demo(tempfile.mkdtemp(), n_leads=300, seed=2)
        >>> print(world.summary().splitlines()[-4])
        Next:
        """
        d = self.to_dict()
        data = d["data"]
        return "\n".join([
            f"Demo world written to {d['root']} (seed {d['seed']}): {d['leads']:,} leads, "
            f"{d['events']:,} events; the true half-life is {d['true_half_life_days']:g} days.",
            f"  data set      {data}",
            f"  rule sets     {d['current_rules']} (historical), {d['truth_rules']} (the truth)",
            f"  sweep grid    {d['grid']}",
            f"  experiment    {d['experiment']}",
            f"  last review   {d['previous_review']} (legacy.toml until {ADOPTED_AT})",
            f"  ground truth  {d['truth_json']}",
            "Next:",
            f"  calib validate {data}",
            f"  calib replay {data} --rules {d['current_rules']}",
            f"  calib sweep {data} --rules {d['current_rules']} --grid {d['grid']} --capacity "
            f"{self.truth.get('capacity_mql_per_week', 60)}",
        ])


def generate_demo(out_dir: str | os.PathLike, *, n_leads: int = 50_000, seed: int = 0,
                  fmt: Literal["csv", "parquet"] = "csv") -> DemoWorld:
    """Write a synthetic B2B lead history with a known ground truth.

    The world, the true meeting model, the selective labels and the live threshold test
    are described in the docstring of :mod:`calib.demo.world`.

    Parameters
    ----------
    out_dir : str or path-like
        Folder to write into (created if needed; files of a previous demo are replaced).
    n_leads : int, default 50_000
        Number of leads. About 20 events are simulated per lead; 1,000,000 leads take
        about a minute and under 3 GB of memory.
    seed : int, default 0
        Seed of ``numpy.random.default_rng``. The same seed writes byte-identical files.
    fmt : {"csv", "parquet"}, default "csv"
        Table format. CSV timestamps are ISO 8601 UTC with a ``Z`` suffix in whole
        seconds; Parquet timestamps are tz-aware UTC.

    Returns
    -------
    DemoWorld
        The paths written and the truth (``truth.json`` as a dict).

    Examples
    --------
    >>> import tempfile
    >>> world = generate_demo(tempfile.mkdtemp(), n_leads=500, seed=1)
    >>> world.truth["half_life_days"]
    14.0
    >>> sorted(p.name for p in world.data_dir.iterdir())
    ['assignments.csv', 'events.csv', 'leads.csv', 'outcomes.csv']
    """
    n, seed = _check_arguments(n_leads, seed, fmt)
    sim = _simulate_world(n, seed)
    root = Path(out_dir)
    paths = _table_paths(root, fmt)
    _write_tables(paths, _lead_ids(n), sim["leads"], sim["ev"], sim["world"])
    truth = _truth_dict(seed=seed, n=n, **sim)
    experiment = _experiment(sim["world"], sim["mql_t"], sim["leads"], paths["leads"].suffix[1:])
    truth["truth_rules_omitted"] = [e for e, b in EVENT_EFFECTS.items()
                                    if round(POINTS_PER_LOGIT * b) == 0]
    truth["capacity_mql_per_week"] = experiment["capacity_mql_per_week"]
    truth["refinement"] = _refinement(sim["world"])
    files = _write_files(root, truth, experiment)
    files["previous_review"] = _previous_review(root, paths["leads"].parent, experiment)
    return DemoWorld(root=root, data_dir=paths["leads"].parent, leads=paths["leads"],
                     events=paths["events"], outcomes=paths["outcomes"],
                     assignments=paths["assignments"], truth_outcomes=paths["truth_outcomes"],
                     truth=truth, **files)


def _check_arguments(n_leads, seed, fmt) -> tuple[int, int]:
    if fmt not in ("csv", "parquet"):
        raise ConfigError(f"The format 'fmt' of the demo must be 'csv' or 'parquet'. Got {fmt!r}.",
                          code="invalid_value")
    if isinstance(n_leads, bool) or not isinstance(n_leads, (int, np.integer)) or n_leads < 1:
        raise ConfigError(f"The number of leads 'n_leads' of the demo must be a whole number "
                          f">= 1. Got {n_leads!r}.", code="invalid_value")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"The 'seed' of the demo must be a whole number >= 0. Got {seed!r}.",
                          code="invalid_value")
    return int(n_leads), int(seed)


def _simulate_world(n: int, seed: int) -> dict:
    """Every simulated array, in the order the draws are made from the seed's stream."""
    rng = np.random.default_rng(seed)
    leads = _simulate_leads(rng, n)
    ev = _simulate_events(rng, leads)
    latent = _simulate_meetings(rng, leads, ev)
    attrs = {k: leads[k] for k in ("seniority", "employees", "industry", "country", "source")}
    crossing = _crossing_times(RuleSet.from_dict(CURRENT_RULES), attrs, leads["created_at"],
                               ev["lead"], ev["t"], ev["code"], EVENT_TYPES,
                               [CURRENT_RULES["thresholds"]["mql"], STRICT_MQL])
    mql_t, strict_t = crossing[0], crossing[1]
    world = _simulate_sales(rng, leads, ev, latent, mql_t, strict_t)
    world["first_touch"] = _first_touches(np.random.default_rng([seed, 19]), world)
    return {"leads": leads, "ev": ev, "latent": latent, "world": world, "mql_t": mql_t}


def _table_paths(root: Path, fmt: str) -> dict[str, Path]:
    """Where the tables go, with a previous demo's tables in the other format removed."""
    data_dir = root / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    other = "parquet" if fmt == "csv" else "csv"
    paths = {name: data_dir / f"{name}.{fmt}"
             for name in ("leads", "events", "outcomes", "assignments")}
    paths["truth_outcomes"] = root / f"truth_outcomes.{fmt}"
    for path in paths.values():  # a previous demo in the other format would be ambiguous
        path.with_suffix(f".{other}").unlink(missing_ok=True)
    return paths


def _refinement(world: dict) -> dict:
    """The part of ``truth.json`` about the rule-set history and sales' first touches."""
    return {
        "history": [{"since": LEGACY_SINCE, "file": "legacy.toml"},
                    {"since": ADOPTED_AT, "file": "current.toml"}],
        "first_touch": dict(FIRST_TOUCH, note="lognormal(log(median_hours), sigma) hours after "
                            "the lead is worked, at most its recorded meeting time; no effect on "
                            "outcomes"),
        "previous_review": "previous_review/summary.json: legacy (baseline) and current "
                           "(proposed) replayed on the data as it was at the adoption date",
        "first_touches": int(world["first_touch"][0].size),
    }


def _write_files(root: Path, truth: dict, experiment: dict) -> dict[str, Path]:
    """The rule sets (through :class:`RuleSet`, so they are valid by construction), the
    experiment, the sweep grid and ``truth.json``."""
    texts = {
        "legacy_rules": ("legacy.toml", dumps_rules(RuleSet.from_dict(LEGACY_RULES))),
        "current_rules": ("current.toml", dumps_rules(RuleSet.from_dict(CURRENT_RULES))),
        "truth_rules": ("truth.toml", dumps_rules(RuleSet.from_dict(_truth_rules()))),
        "experiment": ("experiment.toml", tomli_w.dumps(experiment)),
        "grid": ("grid.toml", tomli_w.dumps(SWEEP_GRID)),
        "truth_json": ("truth.json", json.dumps(truth, indent=2) + "\n"),
    }
    files = {}
    for key, (name, text) in texts.items():
        files[key] = root / name
        files[key].write_bytes(text.encode("utf-8"))
    return files


def _first_touches(rng: np.random.Generator, world: dict) -> tuple[np.ndarray, np.ndarray]:
    """(lead, time) of sales' first touch of every worked lead, before the end."""
    worked = world["worked"]
    hours = rng.lognormal(np.log(FIRST_TOUCH["median_hours"]), FIRST_TOUCH["sigma"],
                          worked.size)
    t = worked + (hours * 3600).astype(np.int64)
    meeting = world["latent_meeting"]
    t = np.where(world["recorded"], np.maximum(np.minimum(t, meeting), worked), t)
    keep = np.flatnonzero((worked >= 0) & (t < END_S))
    return keep, t[keep]


def _previous_review(root: Path, data_dir: Path, experiment: dict) -> Path:
    """previous_review/summary.json: the prediction fields of the review made just before
    current.toml replaced the legacy rule set, computed on the data as it was then."""
    from calib.data import load_dataset
    from calib.refine import as_of, review_summary

    rules = {"baseline": RuleSet.from_dict(LEGACY_RULES),
             "proposed": RuleSet.from_dict(CURRENT_RULES)}
    ds = as_of(load_dataset(data_dir), ADOPTED_AT)
    summary = review_summary(ds, rules, primary="meeting", window_days=WINDOW_DAYS,
                             name="demo-before-" + ADOPTED_AT)
    folder = root / "previous_review"
    folder.mkdir(exist_ok=True)
    path = folder / "summary.json"
    path.write_bytes((json.dumps(summary, indent=2) + "\n").encode("utf-8"))
    return path


# ---------------------------------------------------------------------------- leads


def _simulate_leads(rng: np.random.Generator, n: int) -> dict:
    """Lead attributes and creation times, sorted by ``created_at``."""
    n_days = (END_S - START_S) // DAY_S
    day = np.arange(n_days)
    weekday = (day + 2) % 7  # 2025-01-01 is a Wednesday; 0 = Monday
    weight = (1.0 + 0.8 * day / n_days) * np.where(weekday >= 5, 0.35, 1.0)
    date = START_S + day * DAY_S
    month_day = np.datetime64("1970-01-01") + (date // DAY_S).astype("timedelta64[D]")
    month = (month_day.astype("datetime64[M]").astype(int) % 12) + 1
    weight = weight * np.where(month == 8, 0.8, 1.0)
    dom = (month_day - month_day.astype("datetime64[M]")).astype(int) + 1
    weight = weight * np.where((month == 12) & (dom >= 20), 0.5, 1.0)
    created_day = rng.choice(n_days, size=n, p=weight / weight.sum())
    # business hours in UTC (Europe and the Americas), with a flat floor
    hours = np.where(rng.random(n) < 0.8, rng.normal(14.5, 3.5, n), rng.uniform(0, 24, n))
    seconds = np.clip(hours * 3600, 0, DAY_S - 1).astype(np.int64)
    created = START_S + created_day.astype(np.int64) * DAY_S + seconds
    created = np.sort(created)  # lead ids follow creation order

    seniority = rng.choice(len(SENIORITY), size=n, p=SENIORITY_P)
    employees = np.clip(np.floor(np.exp(rng.normal(4.2, 1.7, n))), 1, 300_000).astype(np.int64)
    industry = rng.choice(len(INDUSTRY), size=n, p=INDUSTRY_P)
    industry = np.where(rng.random(n) < INDUSTRY_MISSING, -1, industry)
    country = rng.choice(len(COUNTRY), size=n, p=COUNTRY_P)
    source = rng.choice(len(SOURCE), size=n, p=SOURCE_P)

    sen_names = np.array(SENIORITY, dtype=object)[seniority]
    ind_names = np.array(INDUSTRY + (None,), dtype=object)[industry]  # -1: missing
    industry_effect = np.array([INDUSTRY_EFFECTS[i] for i in INDUSTRY] + [0.0])[industry]
    fit_lp = (np.array([SENIORITY_EFFECTS[s] for s in SENIORITY])[seniority]
              + _employee_effect(employees) + industry_effect)
    return {
        "n": n,
        "created_at": created,
        "seniority": sen_names,
        "seniority_code": seniority,
        "employees": employees,
        "industry": ind_names,
        "country": np.array(COUNTRY, dtype=object)[country],
        "source": np.array(SOURCE, dtype=object)[source],
        "source_code": source,
        "fit_lp": fit_lp,
    }


def _employee_effect(employees: np.ndarray) -> np.ndarray:
    out = np.zeros(employees.shape, dtype=float)
    for lo, hi, effect in EMPLOYEE_BINS:
        inside = employees >= lo
        if hi is not None:
            inside &= employees <= hi
        out[inside] = effect
    return out


# --------------------------------------------------------------------------- events


def _spread(rng, counts, lo, hi, power=1.0):
    """``counts[j]`` times per lead, uniform in ``[lo[j], hi[j])`` (``u ** power``)."""
    counts = np.where(hi > lo, counts, 0)
    lead = np.repeat(np.arange(counts.size, dtype=np.int64), counts)
    u = rng.random(lead.size)
    if power != 1.0:
        u = u ** power
    t = lo[lead] + (u * (hi - lo)[lead]).astype(np.int64)
    return lead, t


def _fading(rng, rate_per_day, lo, hi, tau_days):
    """A Poisson process of intensity ``rate * exp(-(t - lo) / tau)`` on ``[lo, hi)``."""
    tau = tau_days * DAY_S
    span = np.maximum(hi - lo, 0).astype(float)
    mass = 1.0 - np.exp(-span / tau)
    counts = rng.poisson(rate_per_day * tau_days * mass)
    lead = np.repeat(np.arange(counts.size, dtype=np.int64), counts)
    u = rng.random(lead.size)
    t = lo[lead] + np.floor(-tau * np.log1p(-u * mass[lead])).astype(np.int64)
    return lead, np.minimum(t, hi[lead] - 1)


def _pick(table, u):
    """Event-type code drawn from ``[(name or None, probability), ...]`` (-1 for None)."""
    codes = np.array([_CODE[name] if name else -1 for name, _ in table], dtype=np.int8)
    cum = np.cumsum([p for _, p in table])
    return codes[np.searchsorted(cum / cum[-1], u, side="right").clip(max=len(table) - 1)]


def _simulate_events(rng: np.random.Generator, leads: dict) -> dict:
    """All events, sorted by lead, time and event type; plus the latent buyer state."""
    n = leads["n"]
    c = leads["created_at"]
    end = np.full(n, END_S, dtype=np.int64)
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def add(lead, t, code):
        code = np.broadcast_to(np.asarray(code, dtype=np.int8), lead.shape)
        parts.append((lead, t, np.array(code, dtype=np.int8)))

    # who is a buyer, and when
    senior = leads["seniority_code"] >= 2
    big = leads["employees"] >= 200
    z = -1.4 + 0.3 * senior + 0.4 * big + np.array(SOURCE_BUYER)[leads["source_code"]]
    buyer = rng.random(n) < 1 / (1 + np.exp(-z))
    inbound = buyer & (rng.random(n) < 0.4)
    w_start = np.where(inbound, c - (rng.random(n) * 7 * DAY_S).astype(np.int64),
                       c + (rng.exponential(100.0, n) * DAY_S).astype(np.int64))
    w_len = ((7 + rng.gamma(2.0, 10.0, n)) * DAY_S).astype(np.int64)
    w_end = w_start + w_len
    job_seeker = (~buyer) & (rng.random(n) < 0.04)
    false_start = (~buyer) & (~job_seeker) & (rng.random(n) < 0.10)
    fs_start = c + (rng.exponential(120.0, n) * DAY_S).astype(np.int64)
    fs_end = fs_start + ((5 + rng.gamma(2.0, 7.0, n)) * DAY_S).astype(np.int64)

    # the form that created the lead (none for list imports and badge scans)
    u = rng.random(n)
    inbound_forms = [("demo_request", 0.30), ("contact_form", 0.25), ("trial_signup", 0.20),
                     ("ebook_download", 0.15), ("webinar_attended", 0.10)]
    other_forms = [(None, 0.25), ("newsletter_signup", 0.25), ("ebook_download", 0.22),
                   ("whitepaper_download", 0.12), ("webinar_attended", 0.08),
                   ("contact_form", 0.04), ("trial_signup", 0.04)]
    form = np.where(inbound, _pick(inbound_forms, u), _pick(other_forms, u))
    idx = np.arange(n, dtype=np.int64)
    add(idx[form >= 0], c[form >= 0], form[form >= 0])
    # the newsletter opt-in box ticked on the same form: same second
    tick = (((form == _CODE["contact_form"]) | (form == _CODE["demo_request"]))
            & (rng.random(n) < 0.3))
    add(idx[tick], c[tick], _CODE["newsletter_signup"])

    # anonymous activity before created_at
    pre_lo = c - PRE_CREATION_DAYS * DAY_S
    lead, t = _spread(rng, rng.poisson(0.8, n), pre_lo, c)
    add(lead, t, np.array([_CODE["blog_view"], _CODE["case_study_view"],
                           _CODE["pricing_page_view"]], dtype=np.int8)[
        np.searchsorted([0.7, 0.85], rng.random(lead.size), side="right")])
    lead, t = _spread(rng, np.where(inbound, rng.poisson(1.5, n), 0),
                      np.maximum(pre_lo, w_start), c)
    add(lead, t, np.where(rng.random(lead.size) < 0.6, _CODE["pricing_page_view"],
                          _CODE["case_study_view"]))

    # stop times of the email stream
    unsub_p = np.where(buyer, 0.04, 0.12)
    unsub = rng.random(n) < unsub_p
    unsub_t = c + (rng.random(n) * (END_S - c)).astype(np.int64)
    unsub_t = np.where(unsub, unsub_t, END_S)
    bounce = rng.random(n) < 0.04
    bounce_t = c + (rng.random(n) * (END_S - c)).astype(np.int64)
    bounce_t = np.where(bounce, bounce_t, END_S)
    add(idx[unsub & (unsub_t < END_S)], unsub_t[unsub & (unsub_t < END_S)], _CODE["unsubscribe"])
    n_bounces = np.where(bounce, 1 + rng.poisson(0.8, n), 0)
    lead = np.repeat(idx, n_bounces)
    k = np.arange(lead.size) - np.repeat(np.cumsum(n_bounces) - n_bounces, n_bounces)
    add(lead, bounce_t[lead] + k * 7 * DAY_S + rng.integers(0, 3600, lead.size),
        _CODE["email_bounce"])
    mail_stop = np.minimum(unsub_t, bounce_t)

    # nurture email opens, fading; some opened twice the same hour
    engagement = rng.gamma(0.3, 1.0 / 0.3, n)  # heavy-tailed: a few leads open everything
    lead, t = _fading(rng, 0.1 * engagement, c, mail_stop, 150.0)
    add(lead, t, _CODE["email_open"])
    again = rng.random(lead.size) < 0.15
    add(lead[again], t[again] + rng.integers(30, 3600, int(again.sum())), _CODE["email_open"])

    # low-intent web noise
    web = engagement * rng.gamma(2.0, 0.5, n)
    lead, t = _fading(rng, 0.02 * web, c, end, 120.0)
    add(lead, t, _CODE["blog_view"])
    lead, t = _fading(rng, 0.006 * web, c, end, 120.0)
    add(lead, t, _CODE["social_click"])
    lead, t = _spread(rng, (rng.random(n) < 0.08).astype(np.int64), c, end)
    add(lead, t, _CODE["newsletter_signup"])

    # background research by anyone (students, consultants, tire kickers)
    for name, rate in (("ebook_download", 0.004), ("whitepaper_download", 0.0025),
                       ("case_study_view", 0.004), ("webinar_attended", 0.0025),
                       ("pricing_page_view", 0.003)):
        lead, t = _fading(rng, rate * web, c, end, 90.0)
        add(lead, t, _CODE[name])

    # buying windows: research throughout, high intent towards the end
    lo = np.where(buyer, w_start, 0)  # inbound windows open up to 7 days before creation
    hi = np.where(buyer, np.minimum(w_end, END_S), 0)
    for name, mean, power in (("pricing_page_view", 3.0, 0.6), ("case_study_view", 1.8, 1.0),
                              ("webinar_attended", 0.6, 1.0), ("whitepaper_download", 0.8, 1.0),
                              ("ebook_download", 0.8, 1.0), ("blog_view", 2.0, 1.0),
                              ("email_open", 1.0, 1.0)):
        lead, t = _spread(rng, np.where(buyer, rng.poisson(mean, n), 0), lo, hi, power)
        # no emails before the lead exists or after the stream stopped
        keep = ((t >= c[lead]) & (t < mail_stop[lead])) | (name != "email_open")
        add(lead[keep], t[keep], _CODE[name])
    for name, p, power in (("demo_request", 0.30, 0.5), ("contact_form", 0.15, 0.5),
                           ("trial_signup", 0.25, 0.8)):
        lead, t = _spread(rng, (buyer & (rng.random(n) < p)).astype(np.int64), lo, hi, power)
        t = np.maximum(t, c[lead])  # a form fill identifies the lead
        add(lead, t, _CODE[name])

    # research-only false starts of non-buyers
    hi_fs = np.where(false_start, np.minimum(fs_end, END_S), 0)
    lo_fs = np.where(false_start, fs_start, 0)
    for name, mean in (("case_study_view", 1.5), ("ebook_download", 1.0),
                       ("whitepaper_download", 1.0), ("webinar_attended", 0.5),
                       ("pricing_page_view", 0.7)):
        lead, t = _spread(rng, np.where(false_start, rng.poisson(mean, n), 0), lo_fs, hi_fs)
        add(lead, t, _CODE[name])

    # careers page: job seekers soon after creation, and a few others once
    lead, t = _spread(rng, np.where(job_seeker, 1 + rng.poisson(3.0, n), 0), c,
                      np.minimum(c + 60 * DAY_S, END_S))
    add(lead, t, _CODE["careers_page_view"])
    lead, t = _spread(rng, (rng.random(n) < 0.015).astype(np.int64), c, end)
    add(lead, t, _CODE["careers_page_view"])

    lead = np.concatenate([p[0] for p in parts])
    t = np.concatenate([p[1] for p in parts])
    code = np.concatenate([p[2] for p in parts])
    parts.clear()  # the pieces are freed; the closure above keeps only an empty list
    keep = t < END_S
    lead, t, code = lead[keep], t[keep], code[keep]
    # sort by (lead, time, type) through one packed integer key
    t0 = START_S - (PRE_CREATION_DAYS + 10) * DAY_S
    t_bits = int(END_S - t0).bit_length()
    key = (lead << (t_bits + 4)) | ((t - t0) << 4) | code.astype(np.int64)
    del lead, t, code
    key.sort()
    code = (key & 15).astype(np.int8)
    t = ((key >> 4) & ((1 << t_bits) - 1)) + t0
    lead = (key >> (t_bits + 4)).astype(np.int32)
    del key
    counts = np.bincount(lead, minlength=n)
    return {
        "lead": lead, "t": t, "code": code, "counts": counts,
        "buyer": buyer, "inbound": inbound, "window_start": w_start, "window_end": w_end,
        "job_seeker": job_seeker,
    }


# ------------------------------------------------------------------ true meetings


def _behaviour_log_odds(ev: dict) -> np.ndarray:
    """``sum_i beta_i 0.5 ** ((t_k - t_i) / h)`` over each lead's events up to event k.

    A recursion along each lead's events, vectorised across leads: step k updates the
    k-th event of every lead that has more than k events (leads sorted by event count,
    so those are a prefix).
    """
    t, code = ev["t"], ev["code"]
    beta = np.array([EVENT_EFFECTS[e] for e in EVENT_TYPES])[code]
    out = beta.copy()
    if t.size == 0:
        return out
    factor = np.zeros(t.size)  # only used within a lead (k >= 1 below)
    factor[1:] = np.exp2(-np.maximum(t[1:] - t[:-1], 0) / (HALF_LIFE_DAYS * DAY_S))
    counts = ev["counts"]
    starts = np.cumsum(counts) - counts
    order = np.argsort(-counts, kind="stable")
    neg_counts = -counts[order]  # ascending
    sorted_starts = starts[order]
    for k in range(1, int(-neg_counts[0])):
        m = int(np.searchsorted(neg_counts, -k, side="left"))  # leads with more than k events
        pos = sorted_starts[:m] + k
        out[pos] = out[pos - 1] * factor[pos] + beta[pos]
    return out


def _simulate_meetings(rng: np.random.Generator, leads: dict, ev: dict) -> dict:
    """The latent meeting of every lead (or none) under the true model."""
    n = leads["n"]
    lead, t = ev["lead"], ev["t"]
    behaviour = _behaviour_log_odds(ev)
    # one trial per distinct timestamp at or after created_at, with all tied events applied
    last_of_group = np.ones(t.size, dtype=bool)
    if t.size > 1:
        last_of_group[:-1] = (lead[1:] != lead[:-1]) | (t[1:] != t[:-1])
    trial = last_of_group & (t >= leads["created_at"][lead])
    tl, tt = lead[trial], t[trial]
    eta = INTERCEPT + leads["fit_lp"][tl] + behaviour[trial]
    u = rng.random(tl.size)
    success = u < 1.0 / (1.0 + np.exp(-eta))
    hit = np.flatnonzero(success)
    first = hit[np.r_[True, tl[hit][1:] != tl[hit][:-1]]] if hit.size else hit
    trigger = np.full(n, _NONE)
    trigger[tl[first]] = tt[first]
    delay = _days(MEETING_DELAY["offset_days"]
                  + rng.gamma(MEETING_DELAY["gamma_shape"], MEETING_DELAY["gamma_scale_days"], n))
    meeting = np.where(trigger >= 0, trigger + delay, _NONE)
    # the live test's leads: keep their trials to simulate the strict arm's uplift
    test = leads["created_at"][tl] >= AB_START_S
    return {"meeting": meeting, "trigger": trigger, "delay": delay, "n_trials": int(tl.size),
            "test_trials": {"lead": tl[test], "t": tt[test], "eta": eta[test],
                            "u": u[test]}}


# --------------------------------------------------------------- replaying rules


def _crossing_times(rules: RuleSet, attributes: dict, created_at: np.ndarray,
                    lead: np.ndarray, t: np.ndarray, code: np.ndarray, event_types,
                    cutoffs) -> list[np.ndarray]:
    """First time each lead's score under ``rules`` reaches each cutoff, by calib's replay.

    The arrays are handed to the engine as a data set (lead codes, UTC times, the event
    types as categories), so the demo's ``mql`` rows are what ``calib replay`` computes
    (SPEC section 3). ``t`` and ``created_at`` are int64 seconds; events are sorted by
    lead then time. Returns, per cutoff, each lead's crossing time in seconds, ``-1``
    for never.
    """
    from calib.data import Dataset
    from calib.engine.prepare import prepare
    from calib.engine.replay import combine_scores, stage_crossings

    def utc(seconds):
        return pd.to_datetime(np.asarray(seconds, dtype=np.int64) * 10**9, utc=True)

    leads = pd.DataFrame({"created_at": utc(created_at), **attributes})
    events = pd.DataFrame({"lead": np.asarray(lead, dtype=np.int32), "occurred_at": utc(t),
                           "event_type": pd.Categorical.from_codes(code, list(event_types))})
    ds = Dataset(leads=leads, events=events, outcomes=pd.DataFrame())
    prep = prepare(ds, rules)
    score, fit = combine_scores(prep.decayed(rules.decay), prep, rules)
    cross = stage_crossings(prep, score, fit, cutoffs, rules.thresholds.mql_min_fit)
    return [np.where(k >= 0, prep.eval_t[k] // 10**9, _NONE) for k in cross.T]


# ---------------------------------------------------------- sales and outcomes


def _days(x) -> np.ndarray:
    return (np.asarray(x) * DAY_S).astype(np.int64)


def _simulate_sales(rng, leads, ev, latent, mql_t, strict_t) -> dict:
    """Who sales worked, which outcomes got recorded, and the live test."""
    n = leads["n"]
    c = leads["created_at"]
    fit_lp = leads["fit_lp"]
    sig = lambda z: 1.0 / (1.0 + np.exp(-z))  # noqa: E731

    # self-booked: the first demo request or contact form, counted from created_at
    lead, t, code = ev["lead"], ev["t"], ev["code"]
    booking = np.flatnonzero((code == _CODE["demo_request"]) | (code == _CODE["contact_form"]))
    self_t = np.full(n, _NONE)
    if booking.size:
        bl = lead[booking]
        first = booking[np.r_[True, bl[1:] != bl[:-1]]]
        self_t[lead[first]] = np.maximum(t[first], c[lead[first]])

    holdout = rng.random(n) < EXPLORATION_SHARE
    assigned = c >= AB_START_S
    strict = assigned & (rng.random(n) < 0.5)
    arm = np.where(assigned, np.where(strict, "strict", "control"), "")

    def worked_time(route_t):
        never = np.iinfo(np.int64).max
        times = np.stack([np.where(route_t >= 0, route_t, never),
                          np.where(self_t >= 0, self_t, never),
                          np.where(holdout, c, never)])
        w = times.min(axis=0)
        via = np.array(["mql", "self_booked", "holdout"], dtype=object)[times.argmin(axis=0)]
        none = w == never
        return np.where(none, _NONE, w), np.where(none, None, via)

    worked_control, via_control = worked_time(mql_t)
    worked_strict, via_strict = worked_time(strict_t)
    worked = np.where(strict, worked_strict, worked_control)
    via = np.where(strict, via_strict, via_control)

    # potential outcomes: the latent meeting without (control) and with the strict uplift
    meeting_control = latent["meeting"]
    meeting_strict = meeting_control.copy()
    tr = latent["test_trials"]
    if tr["lead"].size:
        w_tr = worked_strict[tr["lead"]]
        eta = tr["eta"] + np.where((w_tr >= 0) & (tr["t"] >= w_tr), STRICT_UPLIFT, 0.0)
        hit = np.flatnonzero(tr["u"] < 1.0 / (1.0 + np.exp(-eta)))
        first = hit[np.r_[True, tr["lead"][hit][1:] != tr["lead"][hit][:-1]]] if hit.size else hit
        trigger = np.full(n, _NONE)
        trigger[tr["lead"][first]] = tr["t"][first]
        test = c >= AB_START_S
        meeting_strict[test] = np.where(trigger[test] >= 0, trigger[test] + latent["delay"][test],
                                        _NONE)
        trigger_strict = np.where(test, trigger, latent["trigger"])
    else:
        trigger_strict = latent["trigger"]

    def recorded(m, w):
        return (m >= 0) & (w >= 0) & (m >= w)

    rec_control = recorded(meeting_control, worked_control)
    rec_strict = recorded(meeting_strict, worked_strict)
    meeting = np.where(strict, meeting_strict, meeting_control)
    rec = np.where(strict, rec_strict, rec_control)

    # latent downstream funnel, drawn for every lead
    sql = rng.random(n) < sig(DOWNSTREAM["sql"]["intercept"]
                              + DOWNSTREAM["sql"]["fit_slope"] * fit_lp)
    sql_t = meeting + _days(1 + rng.gamma(2.0, 3.0, n))
    dq_after = (~sql) & (rng.random(n) < DOWNSTREAM["disqualified_after_meeting"]["p"])
    dq_after_t = meeting + _days(1 + rng.gamma(2.0, 4.0, n))
    opp = sql & (rng.random(n) < DOWNSTREAM["opportunity"]["p"])
    opp_t = sql_t + _days(1 + rng.gamma(2.0, 5.0, n))
    won = opp & (rng.random(n) < sig(DOWNSTREAM["won"]["intercept"]
                                     + DOWNSTREAM["won"]["fit_slope"] * fit_lp))
    close_t = opp_t + _days(5 + rng.gamma(3.0, 15.0, n))
    amount = np.maximum(
        np.round(3000.0 * leads["employees"] ** 0.3 * rng.lognormal(0.0, 0.5, n), -2), 500.0)
    p_dq = np.where(ev["job_seeker"], DOWNSTREAM["disqualified_without_meeting"]["p_job_seeker"],
                    DOWNSTREAM["disqualified_without_meeting"]["p"])
    dq_no_meeting = rng.random(n) < p_dq
    dq_no_meeting_t = worked + _days(1 + rng.gamma(2.0, 7.0, n))

    rows_lead, rows_outcome, rows_t, rows_amount = [], [], [], []

    def emit(mask, name, times, amounts=None):
        mask = mask & (times < END_S)
        idx = np.flatnonzero(mask)
        rows_lead.append(idx)
        rows_outcome.append(np.full(idx.size, OUTCOMES.index(name), dtype=np.int8))
        rows_t.append(times[idx])
        rows_amount.append(amounts[idx] if amounts is not None else np.full(idx.size, np.nan))

    emit(mql_t >= 0, "mql", mql_t)
    emit(rec, "meeting", meeting)
    emit(rec & sql, "sql", sql_t)
    emit(rec & dq_after, "disqualified", dq_after_t)
    emit(rec & opp, "opportunity", opp_t)
    emit(rec & won, "won", close_t, amount)
    emit(rec & opp & ~won, "lost", close_t)
    emit((worked >= 0) & ~rec & dq_no_meeting, "disqualified", dq_no_meeting_t)
    out_lead = np.concatenate(rows_lead)
    out_code = np.concatenate(rows_outcome)
    out_t = np.concatenate(rows_t)
    out_amount = np.concatenate(rows_amount)
    order = np.lexsort((out_code, out_lead, out_t))

    # live test potential outcomes: a meeting recorded within the window of assignment
    window = _days(WINDOW_DAYS)

    def rate(rec_arm, m, mask):
        return float((rec_arm & (m <= c + window) & (m < END_S))[mask].mean())

    ab = {}
    if assigned.any():
        mature = assigned & (c + window <= END_S)
        for label, mask in (("all", assigned), ("mature", mature)):
            if not mask.any():
                continue
            r_c = rate(rec_control, meeting_control, mask)
            r_s = rate(rec_strict, meeting_strict, mask)
            ab[label] = {"leads": int(mask.sum()), "control_meeting_rate": r_c,
                         "strict_meeting_rate": r_s, "effect": r_s - r_c}
        ab["worked_share"] = {"control": float((worked_control >= 0)[assigned].mean()),
                              "strict": float((worked_strict >= 0)[assigned].mean())}
    return {
        "self_t": self_t, "holdout": holdout, "assigned": assigned, "arm": arm,
        "worked": worked, "via": via,
        # recorded = in the outcomes table (worked in time, and before the end)
        "recorded": rec & (meeting < END_S),
        "rec_control": rec_control & (meeting_control < END_S),
        "rec_strict": rec_strict & (meeting_strict < END_S),
        "sql": sql, "won": won, "opp": opp,
        "latent_meeting": meeting,
        "latent_trigger": np.where(strict, trigger_strict, latent["trigger"]),
        "out_lead": out_lead[order], "out_code": out_code[order], "out_t": out_t[order],
        "out_amount": out_amount[order], "ab": ab,
    }

# ----------------------------------------------------------------------- writing


def _lead_ids(n: int) -> pa.Array:
    width = max(7, len(str(n)))
    digits = pa.array(np.arange(1, n + 1, dtype=np.int64)).cast(pa.string())
    return pc.binary_join_element_wise("L", pc.utf8_lpad(digits, width=width, padding="0"), "")


def _ts(seconds: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    """Seconds since the epoch as tz-aware UTC microsecond timestamps."""
    arr = pa.array(seconds.astype(np.int64) * 1_000_000, mask=mask, type=pa.int64())
    return arr.cast(pa.timestamp("us", tz="UTC"))


def _write_tables(paths, lead_ids, leads, ev, world) -> None:
    n = leads["n"]
    write_table(pa.table({
        "lead_id": lead_ids,
        "created_at": _ts(leads["created_at"]),
        "seniority": pa.array(leads["seniority"], type=pa.string()),
        "employees": pa.array(leads["employees"], type=pa.int64()),
        "industry": pa.array(leads["industry"], type=pa.string()),
        "country": pa.array(leads["country"], type=pa.string()),
        "source": pa.array(leads["source"], type=pa.string()),
        "exploration_holdout": pa.array(world["holdout"], type=pa.bool_()),
    }), paths["leads"])

    # events in time order, like an activity export
    t0 = START_S - (PRE_CREATION_DAYS + 10) * DAY_S
    lead_bits = max(int(n).bit_length(), 1)
    key = (((ev["t"] - t0) << (lead_bits + 4)) | (ev["lead"].astype(np.int64) << 4)
           | ev["code"].astype(np.int64))
    order = np.argsort(key, kind="stable")
    del key
    types = pa.array(list(EVENT_TYPES), type=pa.string())
    write_table(pa.table({
        "lead_id": lead_ids.take(pa.array(ev["lead"][order])),
        "occurred_at": _ts(ev["t"][order]),
        "event_type": types.take(pa.array(ev["code"][order])),
    }), paths["events"])
    del order

    amount = world["out_amount"]
    outcomes = pa.table({
        "lead_id": lead_ids.take(pa.array(world["out_lead"])),
        "outcome": pa.array(list(OUTCOMES), type=pa.string()).take(pa.array(world["out_code"])),
        "occurred_at": _ts(world["out_t"]),
        "amount": pa.array(amount, mask=np.isnan(amount), type=pa.float64()),
    })
    touch_lead, touch_t = world["first_touch"]
    touches = pa.table({  # appended after the other rows, which stay as they were
        "lead_id": lead_ids.take(pa.array(touch_lead)),
        "outcome": pa.array(np.full(touch_lead.size, FIRST_TOUCH["outcome"], dtype=object),
                            type=pa.string()),
        "occurred_at": _ts(touch_t),
        "amount": pa.nulls(touch_lead.size, type=pa.float64()),
    })
    write_table(pa.concat_tables([outcomes, touches]), paths["outcomes"])

    a = np.flatnonzero(world["assigned"])
    write_table(pa.table({
        "lead_id": lead_ids.take(pa.array(a)),
        "arm": pa.array(world["arm"][a].astype(object), type=pa.string()),
        "assigned_at": _ts(leads["created_at"][a]),
    }), paths["assignments"])

    write_table(pa.table({
        "lead_id": lead_ids,
        "buyer": pa.array(ev["buyer"]),
        "buying_window_start": _ts(ev["window_start"], ~ev["buyer"]),
        "buying_window_end": _ts(ev["window_end"], ~ev["buyer"]),
        "job_seeker": pa.array(ev["job_seeker"]),
        "true_fit_log_odds": pa.array(np.round(leads["fit_lp"], 6)),
        "latent_trigger_at": _ts(world["latent_trigger"], world["latent_trigger"] < 0),
        "latent_meeting_at": _ts(world["latent_meeting"], world["latent_meeting"] < 0),
        "latent_sql": pa.array((world["latent_meeting"] >= 0) & world["sql"]),
        "latent_won": pa.array((world["latent_meeting"] >= 0) & world["won"]),
        "worked_at": _ts(world["worked"], world["worked"] < 0),
        "worked_via": pa.array(world["via"], type=pa.string()),
        "meeting_recorded": pa.array(world["recorded"]),
        "meeting_recorded_if_control": pa.array(world["rec_control"]),
        "meeting_recorded_if_strict": pa.array(world["rec_strict"]),
    }), paths["truth_outcomes"])


# ------------------------------------------------------------------ truth & toml


def _iso(seconds: int) -> str:
    return str(np.datetime64(int(seconds), "s")) + "Z"


def _truth_rules() -> dict:
    pts = lambda b: int(round(POINTS_PER_LOGIT * b))  # noqa: E731
    fit = []
    for level, effect in SENIORITY_EFFECTS.items():
        if pts(effect):
            fit.append({"name": f"seniority_{level}", "field": "seniority", "equals": level,
                        "points": pts(effect)})
    for lo, hi, effect in EMPLOYEE_BINS:
        if pts(effect):
            rule = {"name": f"employees_{lo}_{hi if hi is not None else 'plus'}",
                    "field": "employees", "min": lo}
            if hi is not None:
                rule["max"] = hi
            rule["points"] = pts(effect)
            fit.append(rule)
    for level, effect in INDUSTRY_EFFECTS.items():
        if pts(effect):
            fit.append({"name": f"industry_{level}", "field": "industry", "equals": level,
                        "points": pts(effect)})
    behavior = [{"event": e, "points": pts(b)} for e, b in EVENT_EFFECTS.items() if pts(b)]
    # per-trial meeting probability of 5% (MQL) and 20% (SQL)
    logit = lambda p: float(np.log(p / (1 - p)))  # noqa: E731
    mql = int(round(POINTS_PER_LOGIT * (logit(0.05) - INTERCEPT)))
    sql = int(round(POINTS_PER_LOGIT * (logit(0.20) - INTERCEPT)))
    return {"name": "truth", "fit": fit, "behavior": behavior,
            "decay": {"kind": "exponential", "half_life_days": HALF_LIFE_DAYS},
            "thresholds": {"mql": mql, "sql": sql}}


# A grid users can sweep on the demo: cutoffs x half-lives x the over-weighted email rule.
SWEEP_GRID = {
    "thresholds.mql": [65, 75, 85, 95, 105],
    "decay.kind": ["exponential"],
    "decay.half_life_days": [7, 14, 30, 60],
    "behavior.email_open.points": [1, 5],
}


def _experiment(world, mql_t, leads, ext) -> dict:
    c = leads["created_at"]
    period_days = (END_S - int(c.min())) / DAY_S if c.size else 1.0
    per_week = float((mql_t >= 0).sum()) / max(period_days / 7, 1e-9)
    capacity = max(1, int(5 * np.floor(0.6 * per_week / 5))) if per_week >= 10 \
        else max(1, int(np.floor(0.6 * per_week)))
    exp = {
        "name": "demo",
        "outcomes": ["meeting", "sql", "won"],
        "window_days": WINDOW_DAYS,
        "train_until": TRAIN_UNTIL,
        "capacity_mql_per_week": capacity,
        "data": {"path": "data"},
        "rules": {"baseline": "current.toml", "candidates": ["truth.toml"]},
        "sweep": SWEEP_GRID,
        "abtest": {"assignments": f"data/assignments.{ext}", "control": "control",
                   "guardrails": ["unsubscribe", "disqualified"],
                   "arms": {"control": "routes a lead to sales when its current.toml score "
                                       f"reaches {CURRENT_RULES['thresholds']['mql']} (as "
                                       "today)",
                            "strict": "routes a lead to sales only when its current.toml "
                                      f"score reaches {STRICT_MQL}"}},
        "report": {"out": "reports", "title": "Lead scoring review: demo world",
                   "previous": "previous_review"},
        "refine": {"first_touch": FIRST_TOUCH["outcome"],
                   "service_level_hours": FIRST_TOUCH["service_level_hours"],
                   "rejected": "disqualified"},
    }
    exp["rules"]["history"] = [{"since": LEGACY_SINCE, "file": "legacy.toml"},
                               {"since": ADOPTED_AT, "file": "current.toml"}]
    return exp


def _truth_dict(*, seed, n, ev, leads, latent, world, mql_t) -> dict:
    meeting = latent["meeting"]
    codes = world["out_code"]
    counts = {name: int((codes == i).sum()) for i, name in enumerate(OUTCOMES)}
    never_mql = int((mql_t < 0).sum())
    return {
        "seed": seed,
        "n_leads": n,
        "history_start": _iso(START_S),
        "history_end": _iso(END_S),
        "history_end_note": "exclusive: nothing at or after it is recorded (right-censoring)",
        "half_life_days": HALF_LIFE_DAYS,
        "intercept": INTERCEPT,
        "event_effects": dict(EVENT_EFFECTS),
        "fit_effects": {
            "seniority": dict(SENIORITY_EFFECTS),
            "employees_bins": [{"min": lo, "max": hi, "effect": e} for lo, hi, e in EMPLOYEE_BINS],
            "industry": dict(INDUSTRY_EFFECTS),
            "industry_missing": 0.0,
            "country": "no effect",
            "source": "no direct effect (shifts the chance of being a buyer)",
        },
        "points_per_logit": POINTS_PER_LOGIT,
        "truth_rules": ("truth.toml points = round(points_per_logit * effect); its score is "
                        "points_per_logit * (log-odds - intercept). Cutoffs: mql where the "
                        "per-trial meeting probability reaches 5%, sql where it reaches 20%"),
        "meeting_model": (
            "at each distinct event timestamp t >= created_at a meeting is booked with "
            "probability sigmoid(intercept + fit + sum_i event_effects[type_i] * "
            "0.5 ** ((t - t_i) / half_life_days)); the first success books it, held "
            "offset_days + Gamma(gamma_shape, gamma_scale_days) later"),
        "meeting_delay": dict(MEETING_DELAY),
        "downstream": DOWNSTREAM,
        "exploration_share": EXPLORATION_SHARE,
        "exploration_share_of": "all leads, drawn at creation; worked from created_at",
        "current_mql_cutoff": CURRENT_RULES["thresholds"]["mql"],
        "abtest": {
            "start": _iso(AB_START_S),
            "arms": {"control": CURRENT_RULES["thresholds"]["mql"], "strict": STRICT_MQL},
            "share_strict": 0.5,
            "assigned_at": "created_at",
            "mechanism": ("strict routes leads to sales only when their current.toml score "
                          f"reaches {STRICT_MQL} (self-booked and holdout leads are worked as "
                          "before); mql rows are unchanged in both arms. Sales works the "
                          "fewer strict leads harder: from a lead's worked time on, its "
                          "per-trial meeting log-odds rise by strict_uplift_log_odds"),
            "strict_uplift_log_odds": STRICT_UPLIFT,
            "outcome": "meeting recorded within window_days of assigned_at, before history_end",
            "window_days": WINDOW_DAYS,
            "true_effect_meeting_rate": world["ab"].get("all", {}).get("effect"),
            "potential_outcomes": world["ab"],
        },
        "counts": {
            "events": int(ev["t"].size),
            "events_by_type": {name: int((ev["code"] == i).sum())
                               for i, name in enumerate(EVENT_TYPES)},
            "buyers": int(ev["buyer"].sum()),
            "mql_current": int((mql_t >= 0).sum()),
            "never_mql": never_mql,
            "exploration_holdout": int(world["holdout"].sum()),
            "worked": int((world["worked"] >= 0).sum()),
            "latent_meetings": int((meeting >= 0).sum()),
            "latent_meetings_before_end": int(((meeting >= 0) & (meeting < END_S)).sum()),
            "meetings_recorded": counts["meeting"],
            "outcome_rows": counts,
            "assigned": int(world["assigned"].sum()),
        },
    }
