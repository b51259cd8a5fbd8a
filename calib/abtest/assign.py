"""Deterministic arm assignment for a live test (``calib assign``).

The arm of a lead depends only on the experiment name, the lead's id and the arm
weights, so every system (the marketing-automation platform, the CRM, a SQL job, calib)
computes the same arm for the same lead on every run, without sharing state:

1. ``key = UTF-8 bytes of "<experiment>:<lead_id>"`` (lead ids stripped of surrounding
   blanks, as the data loader does);
2. ``h = the first 8 bytes of SHA-256(key), read as a big-endian unsigned 64-bit
   integer``, and ``u = h / 2**64`` (uniform on [0, 1));
3. with arms in the order given and cumulative weights ``c_1 < c_2 < ... < c_k = 1``,
   the arm is the first ``i`` with ``u < c_i``.

Step 3 is done in exact integer arithmetic (``u < c_i`` if and only if
``h < ceil(c_i * 2**64)``, computed with Python integers from the exact binary value of
``c_i``), so two implementations agree on every lead, even one whose ``u`` falls
within rounding of a boundary. The
same lead lands in different arms of different experiments (the name salts the hash),
so consecutive tests are not correlated.

Adding an arm or changing weights moves some leads between arms; for leads already in a
running test, pass the previous assignments as ``existing``: those leads keep their arm
and assignment time, and only leads not assigned before get a new arm.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
import pandas as pd

from calib.data.dataset import parse_timestamps
from calib.engine.replay import _timestamp
from calib.errors import CalibError, ConfigError, DataError, Problem
from calib.io import unneutralise_text

#: Allowed difference between the sum of the weights and 1.
WEIGHT_TOLERANCE = 1e-9
# arm names as CRMs write them ("Control Group", "contrôle"): any text of up to 64
# characters without control characters, '=' or ',' (the --arms syntax) or blanks at the ends
_ARM_NAME = re.compile(r"^(?!\s)[^\x00-\x1f\x7f=,]{1,64}(?<!\s)$")
_TWO_64 = 1 << 64


# ------------------------------------------------------------------------- allocation
@dataclass(frozen=True)
class ArmAllocation:
    """Arms of a live test and the share of leads each one gets.

    Parameters
    ----------
    arms : tuple of str
        Arm names in order (the order matters for the hash-to-arm mapping).
    weights : tuple of float
        Positive shares summing to 1 (within ``1e-9``).
    source : str, default "--arms"
        Where the allocation came from, for error messages.

    Examples
    --------
    >>> alloc = ArmAllocation.parse("control=0.5,strict=0.5")
    >>> alloc.arms, alloc.weights
    (('control', 'strict'), (0.5, 0.5))
    >>> alloc.to_dict()
    {'control': 0.5, 'strict': 0.5}
    """

    arms: tuple[str, ...]
    weights: tuple[float, ...]
    source: str = field(default="--arms", compare=False)

    def __post_init__(self):
        src = self.source
        if len(self.arms) != len(self.weights):
            raise ConfigError(f"The arms and weights of {src} must have the same length. "
                              f"Got {len(self.arms)} arms and {len(self.weights)} weights.",
                              code="shape_mismatch")
        if len(self.arms) < 2:
            raise ConfigError(f"{src} must name at least 2 arms. Got {list(self.arms)}.",
                              code="too_few_arms",
                              suggestion="Write it like control=0.5,strict=0.5.")
        seen = set()
        for a in self.arms:
            if not isinstance(a, str) or not _ARM_NAME.match(a):
                raise ConfigError(f"The arm name {a!r} in {src} is not allowed: use up to 64 "
                                  "characters without '=' or ',' and no blanks at the ends.",
                                  code="invalid_name")
            if a in seen:
                raise ConfigError(f"The arm '{a}' appears twice in {src}.",
                                  code="duplicate_name")
            seen.add(a)
        bad = [(a, w) for a, w in zip(self.arms, self.weights)
               if not (isinstance(w, (int, float)) and math.isfinite(w) and w > 0)]
        if bad:
            raise ConfigError(
                f"Every weight of {src} must be a number > 0. Got "
                + ", ".join(f"{a}={w!r}" for a, w in bad) + ".", code="not_positive",
                suggestion="Leave an arm that should get no leads out of the list.")
        total = math.fsum(self.weights)
        if abs(total - 1.0) > WEIGHT_TOLERANCE:
            raise ConfigError(
                f"The weights of {src} must sum to 1 (within {WEIGHT_TOLERANCE:g}). Got "
                f"{total!r} ({self.describe()}).", code="weights_sum",
                suggestion="Write shares such as control=0.5,strict=0.5 or "
                           "control=0.8,strict=0.2.")

    @classmethod
    def parse(cls, text: str, *, source: str = "--arms") -> "ArmAllocation":
        """Parse ``"name=weight,name=weight"`` (blanks around items are ignored).

        Parameters
        ----------
        text : str
            The arms and their shares, e.g. ``"control=0.5,strict=0.5"``.
        source : str, default "--arms"
            Where the text came from, for error messages.

        Returns
        -------
        ArmAllocation
        """
        if not isinstance(text, str) or not text.strip():
            raise ConfigError(f"{source} is empty.", code="missing_value",
                              suggestion="Write it like control=0.5,strict=0.5.")
        arms, weights = [], []
        for item in text.split(","):
            name, sep, value = item.partition("=")
            name, value = name.strip(), value.strip()
            if not sep or not name or not value:
                raise ConfigError(f"Cannot read {item.strip()!r} in {source}: each arm is "
                                  "written name=weight.", code="invalid_format",
                                  suggestion="Write it like control=0.5,strict=0.5.")
            try:
                w = float(value)
            except ValueError:
                raise ConfigError(f"The weight of arm '{name}' in {source} must be a "
                                  f"number. Got {value!r}.", code="wrong_type") from None
            arms.append(name)
            weights.append(w)
        return cls(tuple(arms), tuple(weights), source=source)

    @classmethod
    def from_dict(cls, d: dict, *, source: str = "arms") -> "ArmAllocation":
        """From ``{"control": 0.5, "strict": 0.5}`` (the TOML/JSON form).

        Parameters
        ----------
        d : dict
            Arm name to share, in order.
        source : str, default "arms"
            Where the table came from, for error messages.

        Returns
        -------
        ArmAllocation
        """
        if not isinstance(d, dict):
            raise ConfigError(f"{source} must be a table of arm = weight. Got {d!r}.",
                              code="wrong_type")
        return cls(tuple(str(k) for k in d), tuple(d.values()), source=source)

    @classmethod
    def equal(cls, arms) -> "ArmAllocation":
        """Equal shares for the given arms.

        Parameters
        ----------
        arms : iterable of str
            Arm names, in order.

        Returns
        -------
        ArmAllocation
        """
        arms = tuple(arms)
        return cls(arms, tuple(1.0 / len(arms) for _ in arms), source="equal allocation")

    def to_dict(self) -> dict:
        """Arm name to share, in order (the TOML/JSON form :meth:`from_dict` reads)."""
        return {a: float(w) for a, w in zip(self.arms, self.weights)}

    def describe(self) -> str:
        """The allocation as ``--arms`` text, e.g. ``control=0.5, strict=0.5``."""
        return ", ".join(f"{a}={w:g}" for a, w in zip(self.arms, self.weights))

    def bucket_bounds(self) -> list[int]:
        """Exclusive upper bounds of each arm's bucket on the 64-bit hash range.

        Arm ``i`` holds hashes ``h`` with ``bounds[i-1] <= h < bounds[i]``, where
        ``bounds[i] = ceil(c_i * 2**64)`` for the exact binary value of the cumulative
        weight ``c_i`` (renormalised so that the last one is exactly 1), i.e.
        ``h < bounds[i]`` if and only if ``h / 2**64 < c_i``.
        """
        w = [Fraction(x) for x in self.weights]
        total = sum(w)
        cum, acc = [], Fraction(0)
        for x in w:
            acc += x
            cum.append(acc / total)
        return [math.ceil(c * _TWO_64) for c in cum]


# ------------------------------------------------------------------------- hashing
def hash_units(experiment: str, lead_ids) -> np.ndarray:
    """The 64-bit hash ``h`` of each lead for an experiment (see the module docstring).

    Parameters
    ----------
    experiment : str
        The experiment name (the salt).
    lead_ids : iterable of str
        Lead ids; surrounding blanks are removed.

    Returns
    -------
    ndarray of uint64
        ``h``; divide by ``2**64`` for the uniform ``u``.

    Examples
    --------
    >>> import hashlib
    >>> h = hash_units("t1", ["L1"])[0]
    >>> int(h) == int.from_bytes(hashlib.sha256(b"t1:L1").digest()[:8], "big")
    True
    """
    prefix = f"{experiment}:".encode("utf-8")
    sha = hashlib.sha256
    # hashlib has no vectorised form; one C call per id (about 1 s per million ids)
    digests = b"".join(sha(prefix + str(i).strip().encode("utf-8")).digest()[:8]
                       for i in lead_ids)
    return np.frombuffer(digests, dtype=">u8").astype(np.uint64)


def assign_arms(experiment: str, lead_ids, allocation: ArmAllocation) -> np.ndarray:
    """The arm of each lead: deterministic, stateless, the same on every system.

    Parameters
    ----------
    experiment : str
        The experiment name; the same lead gets independent arms in different
        experiments.
    lead_ids : iterable of str
        Lead ids.
    allocation : ArmAllocation
        Arms and weights.

    Returns
    -------
    ndarray of str (object)
        One arm name per lead.

    Examples
    --------
    >>> alloc = ArmAllocation.parse("control=0.5,strict=0.5")
    >>> list(assign_arms("threshold-test", ["L1", "L2", "L3"], alloc))
    ['strict', 'control', 'control']
    """
    _check_experiment(experiment)
    h = hash_units(experiment, lead_ids)
    bounds = allocation.bucket_bounds()
    # the last bound is 2**64, beyond uint64: every hash falls below it
    inner = np.array(bounds[:-1], dtype=np.uint64)
    idx = np.searchsorted(inner, h, side="right")
    return np.asarray(allocation.arms, dtype=object)[idx]


def _check_experiment(experiment) -> None:
    if not isinstance(experiment, str) or not experiment.strip():
        raise ConfigError("The experiment name must be a non-empty text. Got "
                          f"{experiment!r}.", code="missing_value",
                          suggestion="Use a stable name such as mql-threshold-2026q3; the "
                                     "name salts the hash, so keep it for the whole test.")


# ------------------------------------------------------------------------- result
@dataclass(frozen=True, eq=False)
class AssignmentResult:
    """The assignments of a live test: who is in which arm since when.

    Attributes
    ----------
    experiment : str
    allocation : ArmAllocation
    frame : DataFrame
        ``lead_id``, ``arm``, ``assigned_at`` (UTC; missing for a snapshot data set):
        the rows of ``existing`` first (unchanged), then the newly assigned leads in the
        order of the leads table.
    new : int
        Leads assigned by this run.
    kept : int
        Leads of ``existing`` kept as they were.
    warnings : tuple of str
    """

    experiment: str
    allocation: ArmAllocation
    frame: pd.DataFrame
    new: int
    kept: int
    warnings: tuple[str, ...] = ()

    def counts(self) -> dict:
        """Leads per arm (planned arms first, in order)."""
        vc = self.frame["arm"].astype(str).value_counts()
        order = list(self.allocation.arms) + sorted(set(vc.index) - set(self.allocation.arms))
        return {a: int(vc.get(a, 0)) for a in order}

    def to_frame(self) -> pd.DataFrame:
        """The assignments: ``lead_id``, ``arm``, ``assigned_at``."""
        return self.frame

    def to_dict(self) -> dict:
        """JSON-safe summary: leads per arm, new and kept, and how arms are hashed."""
        return {"experiment": self.experiment, "arms": self.allocation.to_dict(),
                "leads": int(len(self.frame)), "new": self.new, "kept": self.kept,
                "counts": self.counts(),
                "hash": "sha256('<experiment>:<lead_id>')[:8] as big-endian uint64 / 2^64, "
                        "first arm whose cumulative weight exceeds it",
                "warnings": list(self.warnings)}

    def summary(self) -> str:
        """Leads per arm against the planned shares, as text."""
        total = max(len(self.frame), 1)
        lines = [f"Experiment '{self.experiment}': {len(self.frame):,} leads assigned "
                 f"({self.new:,} new, {self.kept:,} kept from the existing assignments)"]
        planned = self.allocation.to_dict()
        for arm, n in self.counts().items():
            p = planned.get(arm)
            lines.append(f"  {arm:<16}{n:>10,}  {n / total:6.1%}"
                         + (f"  (planned {p:.1%})" if p is not None else "  (not planned)"))
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def read_assignment_table(path) -> pd.DataFrame:
    """Read an assignments file (CSV or Parquet) of a live test.

    Parameters
    ----------
    path : str or path
        A ``.csv`` or ``.parquet`` file with ``lead_id``, ``arm`` and optional
        ``assigned_at``.

    Returns
    -------
    DataFrame
        Ids and arms as stripped text, ``assigned_at`` (if given) as UTC.

    Raises
    ------
    DataError
        Naming the file, for a missing column, a missing value, a duplicate lead or an
        unparseable timestamp (all problems at once).

    Examples
    --------
    >>> table = read_assignment_table("calib-demo/data/assignments.csv")
    >>> list(table.columns)
    ['lead_id', 'arm', 'assigned_at']
    """
    from pathlib import Path

    p = Path(path)
    name = p.name
    if not p.exists():
        raise DataError(f"The assignments file '{path}' does not exist.", code="missing_table")
    try:
        if p.suffix.lower() == ".parquet":
            raw = pd.read_parquet(p)
        else:
            raw = pd.read_csv(p, dtype={"lead_id": "string", "arm": "string"},
                              keep_default_na=True)
    except Exception as e:  # noqa: BLE001 - any reader failure is a data problem
        raise DataError(f"Cannot read the assignments file '{path}': {e}",
                        code="unreadable") from None
    raw.columns = [str(c).lstrip("\ufeff").strip() for c in raw.columns]
    problems = []
    for c in ("lead_id", "arm"):
        if c not in raw.columns:
            problems.append(Problem(name, "missing_column", f"required column '{c}' is "
                                    f"missing; the file has: {', '.join(raw.columns[:12])}",
                                    column=c))
    if problems:
        raise DataError(f"The assignments file '{path}' is invalid.", problems=problems)
    # a CSV calib wrote guards ids and arms like "=A1" with an apostrophe against
    # spreadsheet formulas; read back, they are the same leads and arms again
    un = unneutralise_text if p.suffix.lower() != ".parquet" else (lambda s: s)
    out = pd.DataFrame({"lead_id": un(raw["lead_id"].astype("string").str.strip()),
                        "arm": un(raw["arm"].astype("string").str.strip())})
    for c in ("lead_id", "arm"):
        bad = out[c].isna() | (out[c] == "")
        if bad.any():
            problems.append(Problem(name, "missing_value", f"{int(bad.sum())} row(s) have no "
                                    f"{c}", column=c, count=int(bad.sum()),
                                    rows=_rows(raw, bad, ["lead_id", "arm"])))
    dup = out["lead_id"].duplicated(keep=False) & out["lead_id"].notna()
    if dup.any():
        problems.append(Problem(name, "duplicate_lead_id", f"{int(dup.sum())} row(s) assign a "
                                "lead more than once", column="lead_id", count=int(dup.sum()),
                                rows=_rows(raw, dup, ["lead_id", "arm"])))
    if "assigned_at" in raw.columns:
        # the same parsing and problem reports as the data set's own tables
        out["assigned_at"] = parse_timestamps(raw, name, "assigned_at", problems,
                                              allow_missing=True)
    if problems:
        raise DataError(f"The assignments file '{path}' is invalid.", problems=problems)
    return out


def _rows(df, mask, cols) -> tuple:
    idx = np.flatnonzero(np.asarray(mask))[:3]
    return tuple({"row": int(i) + 2, **{c: (None if pd.isna(df[c].iloc[i]) else str(df[c].iloc[i]))
                                        for c in cols if c in df}} for i in idx)


def assign(ds, experiment: str, allocation: ArmAllocation, *, existing: pd.DataFrame | None = None,
           start=None) -> AssignmentResult:
    """Assign the leads of a data set to the arms of a live test.

    Parameters
    ----------
    ds : Dataset
        The leads to assign (``ds.leads``).
    experiment : str
        Experiment name (the hash salt; keep it for the whole test).
    allocation : ArmAllocation
        Arms and weights.
    existing : DataFrame, optional
        Earlier assignments (``lead_id``, ``arm``, optional ``assigned_at``), e.g. from
        :func:`read_assignment_table`. These leads keep their arm and assignment time;
        only the others are assigned.
    start : str or Timestamp, optional
        Only assign leads created at or after ``start`` (the test's launch).

    Returns
    -------
    AssignmentResult
        ``assigned_at`` of new leads is their ``created_at``.

    Examples
    --------
    >>> import pandas as pd
    >>> from calib.data import from_frames
    >>> ds = from_frames(pd.DataFrame({"lead_id": ["L1", "L2", "L3"],
    ...                                "created_at": ["2026-01-01"] * 3}),
    ...                  outcomes=pd.DataFrame({"lead_id": ["L1"], "outcome": ["won"],
    ...                                         "occurred_at": ["2026-02-01"]}))
    >>> res = assign(ds, "threshold-test", ArmAllocation.parse("control=0.5,strict=0.5"))
    >>> res.frame["arm"].tolist()
    ['strict', 'control', 'control']
    """
    _check_experiment(experiment)
    leads = ds.leads
    keep = _created_since(leads, start)
    warnings: list[str] = []
    frames = []
    if existing is not None:
        existing, already = _existing_rows(existing, leads, allocation, warnings)
        frames.append(existing)
        keep &= ~already
    new = _new_rows(leads, np.flatnonzero(keep), experiment, allocation)
    frames.append(new)
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else new
    frame["arm"] = frame["arm"].astype(str)
    return AssignmentResult(experiment=experiment, allocation=allocation, frame=frame,
                            new=int(len(new)), kept=len(existing) if existing is not None else 0,
                            warnings=tuple(warnings))


def _created_since(leads: pd.DataFrame, start) -> np.ndarray:
    """Which leads were created at or after ``start`` (all of them without one)."""
    keep = np.ones(len(leads), dtype=bool)
    if start is None:
        return keep
    if "created_at" not in leads:
        raise CalibError("--start needs leads with created_at; this data set is a "
                         "snapshot.", code="invalid_date")
    ts = _timestamp(start, "--start")
    keep &= (leads["created_at"] >= ts).to_numpy()
    if not keep.any():
        raise CalibError(f"No lead was created on or after --start {ts.date()}: the leads "
                         f"of the data were created up to "
                         f"{leads['created_at'].max().date()}.", code="empty_period")
    return keep


def _existing_rows(existing: pd.DataFrame, leads: pd.DataFrame, allocation: ArmAllocation,
                   warnings: list) -> tuple[pd.DataFrame, np.ndarray]:
    """The earlier assignments, kept as they are (a missing time filled with the lead's
    creation), and which leads of the data set they cover."""
    existing = existing.copy()
    existing["lead_id"] = existing["lead_id"].astype("string").str.strip()
    if "assigned_at" not in existing:
        existing["assigned_at"] = pd.Series(pd.NaT, index=existing.index,
                                            dtype="datetime64[ns, UTC]")
    ids = leads["lead_id"].astype("string")
    already = ids.isin(set(existing["lead_id"].dropna())).to_numpy()
    unknown = ~existing["lead_id"].isin(set(ids.dropna()))
    if unknown.any():
        warnings.append(f"{int(unknown.sum())} existing assignment(s) refer to leads that "
                        "are not in this data set; they are kept unchanged.")
    off_plan = sorted(set(existing["arm"].astype(str)) - set(allocation.arms))
    if off_plan:
        warnings.append("Existing assignments use arm(s) not in the allocation, kept "
                        f"unchanged: {', '.join(off_plan)}.")
    missing_time = existing["assigned_at"].isna()
    if "created_at" in leads and missing_time.any():
        # fill a missing assignment time with the lead's creation, as for new leads
        created = pd.Series(leads["created_at"].to_numpy(), index=ids.to_numpy())
        fill = existing.loc[missing_time, "lead_id"].map(created)
        existing.loc[missing_time, "assigned_at"] = fill
    return existing[["lead_id", "arm", "assigned_at"]], already


def _new_rows(leads: pd.DataFrame, new_idx: np.ndarray, experiment: str,
              allocation: ArmAllocation) -> pd.DataFrame:
    """The newly assigned leads, assigned when they were created."""
    new_ids = leads["lead_id"].to_numpy()[new_idx]
    arms = assign_arms(experiment, new_ids, allocation)
    new = pd.DataFrame({"lead_id": pd.array(new_ids, dtype="string"), "arm": arms})
    if "created_at" in leads:
        new["assigned_at"] = leads["created_at"].to_numpy()[new_idx]
        new["assigned_at"] = new["assigned_at"].astype("datetime64[ns, UTC]")
    else:
        new["assigned_at"] = pd.Series(pd.NaT, index=new.index, dtype="datetime64[ns, UTC]")
    return new
