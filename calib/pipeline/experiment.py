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

Each table is read into its own frozen config, checked when it is made: ``[data]`` a
:class:`DataConfig`, ``[sweep]`` a :class:`calib.engine.config.SweepConfig`, ``[report]``
a :class:`ReportConfig`, ``[refine]`` a :class:`calib.refine.RefineConfig`. An unknown key
in any table is an error that names the closest allowed key.
:meth:`Experiment.from_dict` reads the whole file's table and :meth:`Experiment.to_dict`
writes it back.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from calib.data.mapping import ColumnMapping
from calib.engine.config import SweepConfig
from calib.errors import CalibError, ConfigError
from calib.rules.config import _suggest
from calib.rules.io import read_toml

if TYPE_CHECKING:
    from calib.abtest.config import ABTestConfig

TOP = ("name", "description", "outcomes", "primary_outcome", "window_days", "train_until",
       "capacity_mql_per_week", "seed", "data", "rules", "sweep", "fit", "abtest", "report",
       "engine", "refine")
DATA_KEYS = ("path", "files", "columns", "exclude", "preset", "url", "tables", "queries")
RULES_KEYS = ("baseline", "candidates", "history")
FIT_AT_TOP = ("train_until", "window_days", "capacity_mql_per_week", "seed")  # not in [fit]
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
class DataConfig:
    """``[data]``: where an experiment's data set is and how to read it.

    Parameters
    ----------
    path : Path, default "."
        The data set folder (or, with ``preset``, the export to import).
    mapping : ColumnMapping
        ``[data.files]``, ``[data.columns.*]`` and ``[data.exclude]``.
    preset : str, optional
        An export format to read ``path`` through (as ``calib import``).
    url : str, optional
        A database URL to read the tables from instead of ``path``.
    tables, queries : dict, optional
        With ``url``: table -> database table name, or table -> ``SELECT ...``.

    Examples
    --------
    >>> from calib.pipeline.experiment import DataConfig
    >>> cfg = DataConfig.from_dict({"path": "data", "columns": {"leads": {"lead_id": "ID"}}})
    >>> cfg.path.as_posix(), cfg.mapping.source_column("leads", "lead_id")
    ('data', 'ID')
    >>> cfg.to_dict()
    {'path': 'data', 'columns': {'leads': {'lead_id': 'ID'}}}
    """

    path: Path = Path(".")
    mapping: ColumnMapping = field(default_factory=ColumnMapping)
    preset: str | None = None
    url: str | None = None
    tables: dict | None = None
    queries: dict | None = None

    def __post_init__(self):
        object.__setattr__(self, "path", Path(self.path))

    @classmethod
    def from_dict(cls, data: dict, *, base: Path = Path("."),
                  source: str = "the experiment") -> DataConfig:
        """Check a ``[data]`` table; ``path`` is resolved against ``base``.

        Parameters
        ----------
        data : dict
            The table, as TOML reads it.
        base : Path, default "."
            The experiment file's folder.
        source : str
            The experiment file, for error messages.

        Returns
        -------
        DataConfig

        Examples
        --------
        >>> DataConfig.from_dict({"path": "data"}, base=Path("calib-demo")).path.as_posix()
        'calib-demo/data'
        """
        src = source
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
        return cls(path=base / data.get("path", "."), mapping=mapping, preset=data.get("preset"),
                   url=url, tables=data.get("tables"), queries=data.get("queries"))

    def to_dict(self, base: Path = Path(".")) -> dict:
        """The ``[data]`` table, ``path`` relative to ``base``.

        Examples
        --------
        >>> DataConfig(path="calib-demo/data").to_dict(base=Path("calib-demo"))
        {'path': 'data'}
        """
        d = {"path": _relative(self.path, base), **self.mapping.to_dict(),
             "preset": self.preset, "url": self.url, "tables": self.tables,
             "queries": self.queries}
        return {k: v for k, v in d.items() if v is not None}


@dataclass(frozen=True)
class ReportConfig:
    """``[report]``: where the report goes, its title, its bootstrap, the last review.

    Parameters
    ----------
    out : Path, optional
        The folder that holds the report folder ``<out>/<name>/`` (default:
        ``./reports``).
    title : str, optional
        The report's title (default: the experiment's name).
    bootstrap : int, default 500
        Resamples of the paired comparison, a whole number from 0 to 100,000.
    previous : Path, optional
        The folder of an earlier report, to check its prediction ("Since the last
        review").

    Examples
    --------
    >>> from calib.pipeline.experiment import ReportConfig
    >>> ReportConfig.from_dict({"out": "reports", "bootstrap": 200}).bootstrap
    200
    >>> ReportConfig(bootstrap=-1)
    Traceback (most recent call last):
    ...
    calib.errors.ConfigError: 'bootstrap' of [report] in the experiment must be a whole number from 0 to 100,000. Got -1.
    """

    out: Path | None = None
    title: str | None = None
    bootstrap: int = 500
    previous: Path | None = None
    source: str = field(default="the experiment", compare=False, repr=False)

    def __post_init__(self):
        _bootstrap(self.bootstrap, self.source)
        for key in ("out", "previous"):
            if getattr(self, key) is not None:
                object.__setattr__(self, key, Path(getattr(self, key)))

    @classmethod
    def from_dict(cls, rep: dict, *, base: Path = Path("."),
                  source: str = "the experiment") -> ReportConfig:
        """Check a ``[report]`` table; ``out`` and ``previous`` are resolved against
        ``base``.

        Parameters
        ----------
        rep : dict
            The ``[report]`` table.
        base, source
            As for :meth:`DataConfig.from_dict`.

        Returns
        -------
        ReportConfig

        Examples
        --------
        >>> cfg = ReportConfig.from_dict({"previous": "q4"}, base=Path("reviews"))
        >>> cfg.previous.as_posix(), cfg.bootstrap
        ('reviews/q4', 500)
        """
        _check(rep, REPORT_KEYS, "[report]", source)
        prev = rep.get("previous")
        if prev is not None and not isinstance(prev, str):
            raise ConfigError(f"'previous' of [report] in {source} must name the folder of an "
                              f"earlier report. Got {prev!r}.", code="wrong_type")
        return cls(out=(base / rep["out"]) if "out" in rep else None, title=rep.get("title"),
                   bootstrap=rep.get("bootstrap", 500),
                   previous=base / prev if prev is not None else None, source=source)

    def to_dict(self, base: Path = Path(".")) -> dict:
        """The ``[report]`` table, paths relative to ``base``.

        Examples
        --------
        >>> ReportConfig(out="reports", bootstrap=200).to_dict()
        {'out': 'reports', 'bootstrap': 200}
        """
        d = {"out": _relative(self.out, base) if self.out is not None else None,
             "title": self.title, "bootstrap": self.bootstrap,
             "previous": _relative(self.previous, base) if self.previous is not None else None}
        return {k: v for k, v in d.items() if v is not None}


@dataclass(frozen=True)
class Experiment:
    """A validated experiment file: what ``calib run`` does.

    Paths are resolved against the folder of ``source``; each table of the file is
    its own config (``data``, ``sweep``, ``abtest``, ``report``, ``refine``).
    :meth:`from_dict` reads a table as TOML gives it, :meth:`to_dict` writes it back.

    Examples
    --------
    >>> from calib import load_experiment
    >>> exp = load_experiment("calib-demo/experiment.toml")
    >>> exp.data.path.as_posix(), exp.sweep.n_configs, exp.report_dir.as_posix()
    ('calib-demo/data', 40, 'calib-demo/reports/demo')
    >>> Experiment.from_dict(exp.to_dict(), source=exp.source) == exp
    True
    """

    name: str
    source: Path
    data: DataConfig
    baseline: Path
    candidates: tuple[Path, ...] = ()
    outcomes: tuple[str, ...] | None = None
    primary_outcome: str | None = None
    window_days: float | None = None  # None: measured from the data
    train_until: str | None = None
    capacity_mql_per_week: float | None = None
    seed: int = 0
    description: str = ""
    sweep: SweepConfig = field(default_factory=SweepConfig)
    fit: bool = True
    fit_options: dict = field(default_factory=dict)
    abtest: ABTestConfig | None = None  # [abtest]
    report: ReportConfig = field(default_factory=ReportConfig)
    scheduler: str | None = None  # [engine] scheduler (see calib.distributed.backend)
    history: object = None   # [rules] history: a calib.refine.RuleHistory
    refine: object = None    # [refine]: a calib.refine.RefineConfig

    @property
    def report_dir(self) -> Path:
        """The report folder: ``<[report] out>/<name>/`` (``./reports/<name>/`` by
        default)."""
        return (self.report.out or Path("reports")) / self.name

    @classmethod
    def from_dict(cls, d: dict, *, source: str | Path = "experiment.toml") -> Experiment:
        """Check an experiment table as TOML reads it.

        Parameters
        ----------
        d : dict
            The experiment file's contents.
        source : str or Path, default "experiment.toml"
            The file it was read from: paths are relative to its folder, errors name
            it, and ``name`` defaults to its stem.

        Returns
        -------
        Experiment

        Raises
        ------
        calib.errors.ConfigError
            For an unknown key (with the closest allowed one), a missing table, a value
            of the wrong type or out of range.

        Examples
        --------
        >>> exp = Experiment.from_dict({"data": {"path": "data"},
        ...                             "rules": {"baseline": "current.toml"}},
        ...                            source="calib-demo/quick.toml")
        >>> exp.name, exp.baseline.as_posix(), exp.fit
        ('quick', 'calib-demo/current.toml', True)
        """
        return _experiment(d, Path(source))

    def to_dict(self) -> dict:
        """The experiment as an experiment file's table, paths relative to the folder
        of ``source``; :meth:`from_dict` reads it back to an equal experiment.

        Examples
        --------
        >>> exp = load_experiment("calib-demo/experiment.toml")
        >>> d = exp.to_dict()
        >>> d["data"], d["rules"]["baseline"], d["report"]["out"]
        ({'path': 'data'}, 'current.toml', 'reports')
        """
        base = self.source.parent
        top = {"name": self.name, "description": self.description or None,
               "outcomes": list(self.outcomes) if self.outcomes is not None else None,
               "primary_outcome": self.primary_outcome, "window_days": self.window_days,
               "train_until": self.train_until,
               "capacity_mql_per_week": self.capacity_mql_per_week, "seed": self.seed}
        tables = {"data": self.data.to_dict(base), "rules": self._rules_dict(base),
                  "sweep": self.sweep.to_dict() or None,
                  "fit": {"enabled": self.fit, **self.fit_options},
                  "abtest": _abtest_dict(self.abtest, base),
                  "report": self.report.to_dict(base) or None,
                  "refine": self.refine.to_dict() if self.refine is not None else None,
                  "engine": ({"scheduler": _scheduler_dict(self.scheduler, base)}
                             if self.scheduler is not None else None)}
        return {k: v for k, v in {**top, **tables}.items() if v is not None}

    def _rules_dict(self, base: Path) -> dict:
        d = {"baseline": _relative(self.baseline, base),
             "candidates": [_relative(c, base) for c in self.candidates]}
        if self.history is not None:
            d["history"] = [{"since": e.since.isoformat(), "file": _relative(e.file, base),
                             **({"until": e.until.isoformat()} if e.until is not None else {})}
                            for e in self.history.entries]
        return d

    def with_previous(self, previous) -> Experiment:
        """This experiment checked against an earlier report (``calib run --previous``).

        Parameters
        ----------
        previous : str or Path
            The earlier report's folder; it overrides ``[report] previous``.

        Returns
        -------
        Experiment
            With ``report.previous`` set and a ``refine`` config (the defaults when the
            file has none).

        Examples
        --------
        >>> exp = load_experiment("calib-demo/experiment.toml").with_previous("q4")
        >>> exp.report.previous.as_posix(), exp.refine is not None
        ('q4', True)
        """
        from calib.refine import RefineConfig

        return replace(self, report=replace(self.report, previous=Path(previous)),
                       refine=self.refine or RefineConfig())


def load_experiment(path) -> Experiment:
    """Read and check an experiment file; every path is resolved against its folder.

    Parameters
    ----------
    path : str or Path
        The experiment file (TOML; see the module docstring).

    Returns
    -------
    Experiment
        With every path resolved against the file's folder.

    Raises
    ------
    calib.errors.ConfigError
        For a file that cannot be read or a table that is not valid (see
        :meth:`Experiment.from_dict`).

    Examples
    --------
    >>> from calib import load_experiment
    >>> exp = load_experiment("calib-demo/experiment.toml")
    >>> exp.name, exp.outcomes, exp.window_days
    ('demo', ('meeting', 'sql', 'won'), 90)
    """
    path = Path(path)
    return Experiment.from_dict(read_toml(path, what="experiment file"), source=path)


def _experiment(d: dict, path: Path) -> Experiment:
    """:meth:`Experiment.from_dict`: each table checked by its own reader."""
    src = str(path)
    _check(d, TOP, "the experiment", src)
    base = path.parent
    num = functools.partial(_number, src=src)
    name = _name(d, path)
    data = d.get("data")
    if data is None:
        raise ConfigError(f"The experiment {src} needs a [data] table with 'path'.",
                          code="missing_key")
    data = DataConfig.from_dict(data, base=base, source=src)
    rules, cands = _rules(d, src)
    outcomes, primary = _outcomes(d, src)
    sweep = SweepConfig.from_dict(d.get("sweep"), source=src)

    fit_d = d.get("fit", {})
    fit_options = _fit_options(fit_d, src)
    ab = None
    if "abtest" in d:
        from calib.abtest.config import ABTestConfig

        ab = ABTestConfig.from_dict(d["abtest"], source=src, base=base)
    report = ReportConfig.from_dict(d.get("report", {}), base=base, source=src)
    scheduler = _scheduler(d.get("engine", {}), base, src)
    return Experiment(
        name=name, source=path, data=data,
        baseline=base / rules["baseline"], candidates=tuple(base / c for c in cands),
        outcomes=outcomes, primary_outcome=primary,
        window_days=(_days(num("window_days", d["window_days"]), "window_days", src)
                     if "window_days" in d else None),
        train_until=_train_until(d.get("train_until"), src),
        capacity_mql_per_week=(num("capacity_mql_per_week", d["capacity_mql_per_week"])
                               if "capacity_mql_per_week" in d else None),
        seed=int(num("seed", d.get("seed", 0), positive=False)),
        description=str(d.get("description", "")), sweep=sweep,
        fit=bool(fit_d.get("enabled", True)),
        fit_options=fit_options, abtest=ab,
        report=report, scheduler=scheduler, **_refinement(d, base, src, report.previous),
    )


def _name(d: dict, path: Path) -> str:
    """The experiment's name (default: the file's stem); it names the report folder."""
    name = d.get("name", path.stem)
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise ConfigError(f"The 'name' of the experiment in {path} must be 1-64 letters, "
                          f"digits, '_', '-' or '.', starting with a letter or digit (it names "
                          f"the report folder). Got {name!r}.", code="invalid_value")
    return name


def _rules(d: dict, src: str) -> tuple[dict, list[str]]:
    """``[rules]``: the table (it needs a ``baseline``) and its candidates as a list."""
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
    return rules, cands


def _outcomes(d: dict, src: str) -> tuple[tuple[str, ...] | None, str | None]:
    """``outcomes`` and ``primary_outcome``, in lower case."""
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
    return outcomes, primary.lower() if primary else None


def _number(key: str, value, positive: bool = True, *, src: str):
    """A finite number (> 0 unless ``positive`` is false), not a boolean."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(
            value) or (positive and value <= 0):
        raise ConfigError(f"The '{key}' in {src} must be a {'positive ' if positive else ''}"
                          f"number. Got {value!r}.", code="wrong_type")
    return value


def _train_until(value, src: str) -> str | None:
    """``train_until``: a date or time the engine can parse, kept as written."""
    if value is None:
        return None
    value = str(value)
    from calib.engine.replay import _timestamp

    try:
        _timestamp(value, "train_until")
    except CalibError as e:
        raise ConfigError(f"'train_until' in {src}: {e.message}", code="invalid_date",
                          suggestion=e.suggestion) from None
    return value


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


def _refinement(d: dict, base: Path, src: str, previous: Path | None) -> dict:
    """[rules] history and [refine] (see calib.refine); a refinement is set up whenever
    there is a history or an earlier report to check."""
    from calib.refine.config import RefineConfig
    from calib.refine.history import RuleHistory

    out = {}
    hist = d["rules"].get("history")
    if isinstance(hist, str):
        out["history"] = RuleHistory.read_csv(base / hist)
    elif hist is not None:
        out["history"] = RuleHistory.from_records(hist, base=base, source=f"[rules] of {src}")
    if "refine" in d or "history" in out or previous is not None:
        out["refine"] = RefineConfig.from_dict(d.get("refine", {}), source=src)
    return out


def _relative(path: Path, base: Path) -> str:
    """``path`` as the file wrote it: relative to ``base`` when it lies below it."""
    try:
        return Path(path).relative_to(base).as_posix()
    except ValueError:
        return Path(path).as_posix()


def _abtest_dict(a: ABTestConfig | None, base: Path) -> dict | None:
    """The ``[abtest]`` table of a live-test config (None without one), its assignments
    file relative to ``base`` as the experiment file writes it."""
    if a is None:
        return None
    d = a.to_dict()
    if a.assignments is not None:
        d["assignments"] = _relative(a.assignments, base)
    return d


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


def _scheduler_dict(s: str, base: Path) -> str:
    """A scheduler as the file writes it: a scheduler file relative to the experiment."""
    return _relative(Path(s), base) if s.endswith(".json") and "://" not in s else s
