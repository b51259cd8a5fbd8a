"""Experiment files (SPEC section 5): what ``calib run`` does, as a frozen config.

An experiment file is TOML; relative paths in it are relative to the file itself::

    name = "demo"
    outcomes = ["meeting", "sql", "won"]    # default: every outcome in the data
    primary_outcome = "meeting"             # what recommendations optimise
    window_days = 90                        # default: measured from the data
    train_until = "2026-01-01"              # optional time split
    capacity_mql_per_week = 70              # optional: what sales can work
    seed = 0

    [data]
    path = "data"                           # plus optional files / columns / exclude
    [data.columns.leads]
    lead_id = "Record ID"

    [rules]
    baseline = "current.toml"
    candidates = ["truth.toml"]             # optional
    history = [{since = "2025-01-01", file = "legacy.toml"},   # optional: what was live
               {since = "2026-01-01", file = "current.toml"}]  # (or a CSV since,file)

    [sweep]                                 # optional grid (see calib sweep)
    "thresholds.mql" = [40, 50, 60]

    [fit]                                   # optional; learn a proposed rule set
    enabled = true
    horizon_days = 30                       # any option of calib.fit.FitConfig but those
                                            # at the top (train_until, window_days, ...)

    [abtest]                                # optional live test
    assignments = "data/assignments.csv"
    control = "control"
    arms = { control = "current rules", strict = "MQL at 100 points" }  # optional, for the report

    [report]
    out = "reports"                         # <out>/<name>/; default ./reports/<name>/
    previous = "reports/q4"                 # optional: the last review, to check it

    [refine]                                # optional; see calib.refine.RefineConfig
    first_touch = "contacted"
    service_level_hours = 4

    [engine]                                # optional; [data] path written by calib partition
    scheduler = "local:2"                   # or "tcp://host:8786", "scheduler.json", "sync"
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from calib.data.mapping import ColumnMapping
from calib.errors import CalibError, ConfigError
from calib.rules.config import _suggest
from calib.rules.io import read_toml

TOP = ("name", "description", "outcomes", "primary_outcome", "window_days", "train_until",
       "capacity_mql_per_week", "seed", "data", "rules", "sweep", "fit", "abtest", "report",
       "engine", "refine")
DATA_KEYS = ("path", "files", "columns", "exclude", "preset", "url", "tables", "queries")
RULES_KEYS = ("baseline", "candidates", "history")
FIT_AT_TOP = ("train_until", "window_days", "capacity_mql_per_week", "seed")  # not in [fit]
ABTEST_KEYS = ("assignments", "control", "outcomes", "planned", "guardrails", "window_days",
               "correction", "arms")
REPORT_KEYS = ("out", "title", "bootstrap", "previous")
ENGINE_KEYS = ("scheduler",)
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def _check(d: dict, allowed, section: str, source: str) -> None:
    if not isinstance(d, dict):
        raise ConfigError(f"{section} in {source} must be a table.", code="wrong_type")
    for k in d:
        if k not in allowed:
            raise ConfigError(f"Unknown key '{k}' of {section} in {source}.", code="unknown_key",
                              suggestion=_suggest(k, allowed))


@dataclass(frozen=True)
class AbTestConfig:
    assignments: Path | None = None
    control: str | None = None
    outcomes: tuple[str, ...] | None = None
    planned: dict | None = None
    guardrails: tuple[str, ...] = ()
    window_days: float | None = None
    correction: str = "holm"
    arms: dict | None = None  # arm -> what it does, in words, for the report


@dataclass(frozen=True)
class Experiment:
    """A validated experiment file."""

    name: str
    source: Path
    data_path: Path
    mapping: ColumnMapping
    baseline: Path
    candidates: tuple[Path, ...] = ()
    outcomes: tuple[str, ...] | None = None
    primary_outcome: str | None = None
    window_days: float | None = None  # None: measured from the data
    train_until: str | None = None
    capacity_mql_per_week: float | None = None
    seed: int = 0
    description: str = ""
    sweep: dict = field(default_factory=dict)
    fit: bool = True
    fit_options: dict = field(default_factory=dict)  # [fit]: FitConfig fields, checked
    abtest: AbTestConfig | None = None
    report_out: Path = Path("reports")
    report_title: str | None = None
    bootstrap: int = 500
    preset: str | None = None
    url: str | None = None
    tables: dict | None = None
    queries: dict | None = None
    scheduler: str | None = None  # [engine] scheduler (see calib.distributed.backend)
    history: object = None   # [rules] history: a calib.refine.RuleHistory
    previous: Path | None = None  # [report] previous: an earlier report's folder
    refine: object = None    # [refine]: a calib.refine.RefineConfig

    @property
    def report_dir(self) -> Path:
        return self.report_out / self.name


def _arm_descriptions(arms, src) -> dict | None:
    if arms is None:
        return None
    if not isinstance(arms, dict) or not all(isinstance(v, str) for v in arms.values()):
        raise ConfigError(f"'arms' of [abtest] in {src} must be a table of arm = \"what it "
                          f"does\". Got {arms!r}.", code="invalid_value")
    return dict(arms)


def load_experiment(path) -> Experiment:
    """Read and check an experiment file; every path is resolved against its folder.

    Examples
    --------
    >>> from calib import load_experiment
    >>> exp = load_experiment("calib-demo/experiment.toml")
    >>> exp.name, exp.outcomes, exp.window_days
    ('demo', ('meeting', 'sql', 'won'), 90)
    """
    path = Path(path)
    src = str(path)
    d = read_toml(path, what="experiment file")
    _check(d, TOP, "the experiment", src)
    base = path.parent

    name = d.get("name", path.stem)
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise ConfigError(f"The 'name' of the experiment in {src} must be 1-64 letters, digits, "
                          f"'_', '-' or '.', starting with a letter or digit (it names the "
                          f"report folder). Got {name!r}.", code="invalid_value")

    data = d.get("data")
    if data is None:
        raise ConfigError(f"The experiment {src} needs a [data] table with 'path'.",
                          code="missing_key")
    _check(data, DATA_KEYS, "[data]", src)
    url = data.get("url")
    if url is not None and not isinstance(url, str):
        raise ConfigError(f"The 'url' of [data] in {src} must be a database URL such as "
                          f"postgresql://user@host/db.", code="wrong_type")
    if url is None and ("path" not in data or not isinstance(data["path"], str)):
        raise ConfigError(f"The 'path' of [data] in {src} must name the data set folder "
                          f"(or give a database 'url').", code="missing_key")
    for key in ("tables", "queries"):
        if key in data and not (isinstance(data[key], dict) and all(
                isinstance(v, str) for v in data[key].values())):
            raise ConfigError(f"'{key}' of [data] in {src} must be a table of "
                              f'table = "{"name" if key == "tables" else "SELECT ..."}".',
                              code="wrong_type")
    mapping = ColumnMapping.from_dict({k: v for k, v in data.items()
                                       if k in ("files", "columns", "exclude")}, source=src)
    preset = data.get("preset")

    rules = d.get("rules")
    if not isinstance(rules, dict) or "baseline" not in rules:
        raise ConfigError(f"The experiment {src} needs [rules] with 'baseline' (the rule set "
                          f"in use today).", code="missing_key")
    _check(rules, RULES_KEYS, "[rules]", src)
    cands = rules.get("candidates", [])
    if isinstance(cands, str):
        cands = [cands]
    if not isinstance(cands, list) or not all(isinstance(c, str) for c in cands):
        raise ConfigError(f"'candidates' of [rules] in {src} must be a list of rule files.",
                          code="wrong_type")

    def num(key, value, positive=True):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(
                value) or (positive and value <= 0):
            raise ConfigError(f"The '{key}' in {src} must be a {'positive ' if positive else ''}"
                              f"number. Got {value!r}.", code="wrong_type")
        return value

    outcomes = d.get("outcomes")
    if outcomes is not None:
        if not isinstance(outcomes, list) or not outcomes or not all(
                isinstance(o, str) for o in outcomes):
            raise ConfigError(f"'outcomes' in {src} must be a non-empty list of outcome names.",
                              code="wrong_type")
        outcomes = tuple(o.lower() for o in outcomes)
    primary = d.get("primary_outcome")
    if primary is not None and not isinstance(primary, str):
        raise ConfigError(f"'primary_outcome' in {src} must be an outcome name.", code="wrong_type")

    sweep = d.get("sweep", {})
    if sweep:
        from calib.engine.sweep import check_grid

        sweep = check_grid(sweep, source=src)

    fit_d = d.get("fit", {})
    fit_options = _fit_options(fit_d, src)
    ab = None
    if "abtest" in d:
        a = d["abtest"]
        _check(a, ABTEST_KEYS, "[abtest]", src)
        ab = AbTestConfig(
            assignments=(base / a["assignments"]) if "assignments" in a else None,
            control=a.get("control"),
            outcomes=tuple(a["outcomes"]) if "outcomes" in a else None,
            planned=a.get("planned"), guardrails=tuple(a.get("guardrails", ())),
            window_days=_days(num("abtest.window_days", a["window_days"]), "abtest.window_days",
                              src) if "window_days" in a else None,
            correction=a.get("correction", "holm"),
            arms=_arm_descriptions(a.get("arms"), src),
        )
        if ab.correction not in ("holm", "bh"):
            raise ConfigError(f"'correction' of [abtest] in {src} must be 'holm' or 'bh'. Got "
                              f"{ab.correction!r}.", code="invalid_value")
    rep = d.get("report", {})
    _check(rep, REPORT_KEYS, "[report]", src)
    scheduler = _scheduler(d.get("engine", {}), base, src)
    train_until = d.get("train_until")
    if train_until is not None:
        train_until = str(train_until)
        from calib.engine.replay import _timestamp

        try:
            _timestamp(train_until, "train_until")
        except CalibError as e:
            raise ConfigError(f"'train_until' in {src}: {e.message}", code="invalid_date",
                              suggestion=e.suggestion) from None
    return Experiment(
        name=name, source=path, data_path=base / data.get("path", "."), mapping=mapping,
        url=url, tables=data.get("tables"), queries=data.get("queries"),
        baseline=base / rules["baseline"], candidates=tuple(base / c for c in cands),
        outcomes=outcomes, primary_outcome=primary.lower() if primary else None,
        window_days=(_days(num("window_days", d["window_days"]), "window_days", src)
                     if "window_days" in d else None),
        train_until=train_until,
        capacity_mql_per_week=(num("capacity_mql_per_week", d["capacity_mql_per_week"])
                               if "capacity_mql_per_week" in d else None),
        seed=int(num("seed", d.get("seed", 0), positive=False)),
        description=str(d.get("description", "")), sweep=sweep,
        fit=bool(fit_d.get("enabled", True)),
        fit_options=fit_options, abtest=ab,
        report_out=(base / rep["out"]) if "out" in rep else Path("reports"),
        report_title=rep.get("title"),
        bootstrap=_bootstrap(rep.get("bootstrap", 500), src), preset=preset, scheduler=scheduler,
        **_refinement(d, base, src),
    )


def _fit_options(fit_d: dict, src: str) -> dict:
    """[fit]: ``enabled`` and options of :class:`calib.fit.FitConfig`, checked when the
    file is read; the options set at the top of the file (``FIT_AT_TOP``) serve every
    step and are not repeated here."""
    from calib.fit.config import FitConfig

    _check(fit_d, ("enabled",) + tuple(k for k in FitConfig.__dataclass_fields__
                                       if k not in FIT_AT_TOP) + FIT_AT_TOP, "[fit]", src)
    opts = {k: v for k, v in fit_d.items() if k != "enabled"}
    for k in FIT_AT_TOP:
        if k in opts:
            raise ConfigError(f"'{k}' of [fit] in {src} is set at the top of the experiment "
                              "file, for every step.", code="unknown_key",
                              suggestion=f"Move '{k} = ...' above the first table.")
    cfg = FitConfig.from_dict(opts, source=f"[fit] in {src}")
    return {k: getattr(cfg, k) for k in opts}


def _refinement(d: dict, base: Path, src: str) -> dict:
    """[rules] history, [report] previous and [refine] (see calib.refine)."""
    from calib.refine.config import RefineConfig
    from calib.refine.history import RuleHistory

    out = {}
    hist = d["rules"].get("history")
    if isinstance(hist, str):
        out["history"] = RuleHistory.read_csv(base / hist)
    elif hist is not None:
        out["history"] = RuleHistory.from_records(hist, base=base, source=f"[rules] of {src}")
    prev = d.get("report", {}).get("previous")
    if prev is not None:
        if not isinstance(prev, str):
            raise ConfigError(f"'previous' of [report] in {src} must name the folder of an "
                              f"earlier report. Got {prev!r}.", code="wrong_type")
        out["previous"] = base / prev
    if "refine" in d or "history" in out or "previous" in out:
        out["refine"] = RefineConfig.from_dict(d.get("refine", {}), source=src)
    return out


def _days(value, key: str, src: str):
    """A window in days: at most 100 years (longer ones overflow the time arithmetic)."""
    if value > 36_500:
        raise ConfigError(f"The '{key}' in {src} must be at most 36,500 days. Got {value!r}.",
                          code="out_of_range")
    return value


def _bootstrap(value, src: str) -> int:
    """``[report] bootstrap``: resamples of the comparison, a whole number 0-100,000."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100_000:
        raise ConfigError(f"'bootstrap' of [report] in {src} must be a whole number from 0 to "
                          f"100,000. Got {value!r}.", code="out_of_range")
    return value


def _scheduler(engine: dict, base: Path, src: str) -> str | None:
    """``[engine] scheduler``: where the partitions of a partitioned data set run (the
    forms of :mod:`calib.distributed.backend`); a scheduler file is relative to the
    experiment file."""
    _check(engine, ENGINE_KEYS, "[engine]", src)
    s = engine.get("scheduler")
    if s is None:
        return None
    forms = ("a scheduler address such as 'tcp://host:8786', 'local:N' (N worker processes "
             "on this machine), a scheduler .json file or 'sync' (this process)")
    if not isinstance(s, str) or not s.strip():
        raise ConfigError(f"The 'scheduler' of [engine] in {src} must be {forms}. Got {s!r}.",
                          code="wrong_type")
    s = s.strip()
    if s == "local" or s.startswith("local:"):
        n = s.partition(":")[2]
        if n and not (n.isdigit() and int(n) >= 1):
            raise ConfigError(f"The 'scheduler' of [engine] in {src} must give 'local:N' a "
                              f"number of workers >= 1. Got {s!r}.", code="invalid_value")
    elif s.endswith(".json") and "://" not in s:
        s = str(base / s)
    return s
