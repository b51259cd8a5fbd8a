"""Point-in-time training examples: a lead at a moment, described only by what was known
then, labelled by what happened next.

The moments are the replay's evaluation points (SPEC section 3): a lead's ``created_at``
and every distinct event time at or after it. That is where a score can change, and so
where a rule set makes its decisions. For moment ``t_k`` of lead ``j``:

* features: per event type, the decayed count of the lead's events with ``t_i <= t_k``
  (anonymous events before ``created_at`` included) and the lead's fit attributes;
* label (a discrete-time hazard, "person-period" design): ``1`` when the outcome
  happens within the next ``H`` days *and before the lead's next moment*, i.e. while the
  lead's state is still the one described:
  ``t_k < o - lag <= min(t_{k+1}, t_k + H)``. ``lag`` (default 1 day) is the time from
  the decisive moment to the recorded outcome (a meeting is booked a day or more before
  it is held); without it a meeting would be credited to whatever the lead did while
  waiting for it;
* a lead whose outcome happened (``o - lag <= t_k``) stops contributing, and moments
  whose label window ends after the end of the (training) data are dropped: their label
  cannot be observed.

Large data sets keep every positive example and a random share ``r`` of the negatives;
the log-odds then shift by ``-log(r)``, which is undone on the intercept (case-control
sampling leaves the slopes unchanged). The sampling does not depend on the decay, so every
point of a decay profile sees the same examples.

The sampling does not depend on how the leads are split into partitions either: ``r``
comes from the counts of all candidates, and a negative is kept when its own uniform
draw is below ``r``. The draw is a hash of the seed, the lead's ``lead_id`` and the
moment's time (:func:`example_draws`), not a position in one random sequence, so
examples built partition by partition (:func:`calib.distributed.fit_examples`) and put
back in lead order are the examples built on the whole data set.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from calib.data.dataset import Dataset, ns
from calib.engine.kernels import NS_PER_DAY
from calib.engine.prepare import Prepared, prepare
from calib.engine.replay import NEVER, first_outcome_times
from calib.errors import CalibError
from calib.rules.config import BehaviorRule, Decay, RuleSet, Thresholds

__all__ = ["Examples", "FeatureSpace", "build_examples", "feature_rules", "truncate",
           "outcome_time", "example_candidates", "sampling_rate", "example_draws",
           "sample_negatives"]


def truncate(ds: Dataset, until: pd.Timestamp) -> Dataset:
    """The data set as it was known at ``until``: leads created by then, events and
    outcomes that had occurred by then, and ``end_of_data = until``.

    Fitting on the truncated data set makes an out-of-time split honest: nothing after
    ``until`` (no later event, no later outcome) can leak into the fit.

    Parameters
    ----------
    ds : Dataset
        The whole data set, later leads and outcomes included.
    until : Timestamp
        The end of the training period (tz-aware, UTC). It is inclusive: a lead created,
        an event or an outcome at exactly ``until`` is kept.

    Returns
    -------
    Dataset
        The training data: the same files and warnings, the assignments of the leads
        kept, and ``end_of_data`` set to ``until`` so that windows still open then
        count as open.

    Examples
    --------
    No event after the cut is left:

    >>> from calib import load_dataset
    >>> ds = load_dataset("calib-demo/data")
    >>> T = ds.leads["created_at"].median()
    >>> past = truncate(ds, T)
    >>> past.end_of_data == T, bool((past.events["occurred_at"] <= T).all())
    (True, True)
    """
    t = until.value
    created = ns(ds.leads["created_at"])
    codes = np.flatnonzero(created <= t)
    sub = ds.subset(codes)
    ev = sub.events
    ev = ev.loc[ns(ev["occurred_at"]) <= t].reset_index(drop=True)
    out = sub.outcomes
    if "occurred_at" in out:
        out = out.loc[ns(out["occurred_at"]) <= t].reset_index(drop=True)
    return Dataset(leads=sub.leads, events=ev, outcomes=out, assignments=sub.assignments,
                   path=ds.path, snapshot=ds.snapshot, end_of_data=until, files=ds.files,
                   warnings=ds.warnings)


def outcome_time(ds: Dataset, outcome: str) -> np.ndarray:
    """Each lead's first time of ``outcome`` in int64 ns (``NEVER`` if it did not occur;
    0 for a snapshot's undated outcome).

    Parameters
    ----------
    ds : Dataset
    outcome : str

    Returns
    -------
    ndarray of int64
        One time per lead.

    Raises
    ------
    CalibError
        ``unknown_outcome`` when the outcome does not occur in the data.

    Examples
    --------
    >>> from calib import load_dataset
    >>> from calib.engine.replay import NEVER
    >>> ds = load_dataset("calib-demo/data")
    >>> o = outcome_time(ds, "meeting")
    >>> len(o) == ds.n_leads, bool((o != NEVER).any())
    (True, True)
    """
    outcome = outcome.lower()
    if outcome not in ds.outcome_types:
        raise CalibError(f"The outcome '{outcome}' does not occur in the data set "
                         f"'{ds.path}'.", code="unknown_outcome",
                         suggestion=f"Outcomes in the data: {', '.join(ds.outcome_types)}.")
    return first_outcome_times(ds, [outcome])[outcome]


def feature_rules(ds: Dataset, current: RuleSet) -> RuleSet:
    """One behaviour rule per event type of the data (1 point, no cap), inheriting
    ``max_per_day`` from the current rule that counts the type (so the fitted features
    and the proposed rules count the same events).

    Parameters
    ----------
    ds : Dataset
        The data; each of its event types becomes a feature.
    current : RuleSet
        The rules in use; where several of its rules count a type with a daily limit,
        the smallest limit is taken.

    Returns
    -------
    RuleSet
        Named ``features``, with one behaviour rule per event type in the data's order
        and an MQL cutoff of 1 (a placeholder: the rules are only counted).

    Examples
    --------
    >>> from calib import load_dataset, load_rules
    >>> ds = load_dataset("calib-demo/data")
    >>> f = feature_rules(ds, load_rules("calib-demo/current.toml"))
    >>> [r.name for r in f.behavior] == list(ds.event_types)
    True
    """
    mpd = {}
    for r in current.behavior:
        if r.max_per_day is not None:
            for e in r.events:
                mpd[e] = min(mpd.get(e, r.max_per_day), r.max_per_day)
    rules = tuple(BehaviorRule(name=e, events=(e,), points=1.0, max_per_day=mpd.get(e))
                  for e in ds.event_types)
    return RuleSet(name="features", thresholds=Thresholds(mql=1.0), behavior=rules)


@dataclass(frozen=True)
class FeatureSpace:
    """Per event type decayed counts at a fixed set of moments.

    ``prepared`` holds the events per type and, as its evaluation points, the moments
    (sorted by lead, time). ``counts(decay)`` is the (n_moments x n_types) matrix.
    """

    prepared: Prepared
    event_types: tuple[str, ...]

    def counts(self, decay: Decay) -> np.ndarray:
        """The (n_moments x n_types) decayed counts at ``decay``."""
        return np.ascontiguousarray(self.prepared.decayed(decay))

    def at(self, lead: np.ndarray, t: np.ndarray) -> "FeatureSpace":
        """The same counts at other moments (sorted by lead, time); only the events of
        their leads are kept, so a few leads' counts cost a few leads' events."""
        lead = np.asarray(lead)
        top = max([int(lead.max()) if len(lead) else 0]
                  + [int(ev[-1]) for ev, _ in self.prepared.rule_events if len(ev)])
        present = np.zeros(top + 1, bool)
        present[lead] = True
        events = tuple((ev_lead[present[ev_lead]], ev_t[present[ev_lead]])
                       for ev_lead, ev_t in self.prepared.rule_events)
        return FeatureSpace(replace(self.prepared, eval_lead=np.ascontiguousarray(lead),
                                    eval_t=np.ascontiguousarray(t), rule_events=events),
                            self.event_types)


@dataclass(frozen=True)
class Examples:
    """Training examples (one row per lead and moment).

    Attributes
    ----------
    lead, t : ndarray
        Lead code and moment (int64 ns) of each example, sorted by lead then time.
    y : ndarray
        1.0 when the outcome happened within ``horizon_days`` after the moment.
    log_sampling : float
        ``log(r)`` for the share ``r`` of negatives kept (0 when all were kept); add it
        to a fitted intercept to get the population intercept.
    weight : ndarray
        Per example weight (inverse-probability weights, 1 otherwise).
    n_candidates, n_positive_all : int
        Examples before sampling, and positives (all kept).
    """

    lead: np.ndarray
    t: np.ndarray
    y: np.ndarray
    weight: np.ndarray
    log_sampling: float
    horizon_days: float
    n_candidates: int
    features: FeatureSpace
    sample_rate: float = 1.0  # share of the subsampled examples kept (1: all kept)

    @property
    def n(self) -> int:
        """The number of examples."""
        return len(self.y)

    @property
    def n_positive(self) -> int:
        """The number of examples with the outcome in their label window."""
        return int(self.y.sum())

    @property
    def n_leads(self) -> int:
        """The number of leads with an example."""
        return int(len(np.unique(self.lead)))


def build_examples(ds: Dataset, current: RuleSet, o_time: np.ndarray, *,
                   horizon_days: float, lag_days: float = 1.0, lead_weight: np.ndarray | None = None,
                   lead_mask: np.ndarray | None = None, max_examples: int = 600_000,
                   seed: int = 0, whole_positive_leads: bool = False) -> Examples:
    """Point-in-time examples of ``ds`` (typically truncated at the training cutoff).

    Parameters
    ----------
    ds : Dataset
        The data as known at the end of training (see :func:`truncate`).
    current : RuleSet
        Only its ``max_per_day`` settings are used (see :func:`feature_rules`).
    o_time : ndarray
        First outcome time per lead of ``ds`` (int64 ns, ``NEVER`` if none).
    horizon_days : float
        Label horizon H (the label window of a moment ends at the lead's next moment
        or H days later, whichever is first).
    lag_days : float
        Time from the decisive moment to the recorded outcome.
    lead_weight : ndarray, optional
        Per lead weight (inverse-probability weights); leads of weight 0 are left out.
    lead_mask : ndarray of bool, optional
        Leads to use (all by default).
    max_examples : int
        Above this, negatives are subsampled (every positive is kept; see
        :func:`sampling_rate` and :func:`example_draws`).
    seed : int
        Seed of the subsampling.
    whole_positive_leads : bool
        Keep every example of the leads with the outcome (the booking-delay model of
        :mod:`calib.fit.booking` needs all of their moments) and subsample only the
        leads without it; the kept examples of those then weigh ``1 / r`` instead of
        shifting the intercept.

    Examples
    --------
    >>> from calib import load_dataset, load_rules
    >>> from calib.refine.speed import first_times
    >>> ds = load_dataset("calib-demo/data")
    >>> ex = build_examples(ds, load_rules("calib-demo/current.toml"),
    ...                     first_times(ds, "meeting"), horizon_days=30)
    >>> ex.n, ex.n_positive
    (26881, 168)
    """
    w_lead = np.ones(ds.n_leads) if lead_weight is None else np.asarray(lead_weight, float)
    ok = w_lead > 0
    if lead_mask is not None:
        ok &= np.asarray(lead_mask, bool)
    prep, y, idx = example_candidates(ds, current, o_time, horizon_days=horizon_days,
                                      lag_days=lag_days, lead_ok=ok)
    lead, t = prep.eval_lead, prep.eval_t
    n_cand = len(idx)
    n_pos = int(np.count_nonzero(y[idx]))
    rate = sampling_rate(n_pos, n_cand - n_pos, max_examples)
    log_r = 0.0
    w_sample = None
    if rate is not None and whole_positive_leads:
        y_all = np.zeros(len(y))  # "positive" here: belongs to a lead with the outcome
        y_all[idx] = (np.asarray(o_time) != NEVER)[lead[idx]]
        idx = sample_negatives(ds, prep, y_all, idx, rate, seed)
        w_sample = np.where((np.asarray(o_time) != NEVER)[lead[idx]], 1.0, 1.0 / rate)
    elif rate is not None:
        idx = sample_negatives(ds, prep, y, idx, rate, seed)
        log_r = float(np.log(rate))
    if len(idx) == 0:
        raise no_examples_error()
    space = FeatureSpace(prep, tuple(r.name for r in prep_rules(prep, ds)))
    weight = w_lead[lead[idx]] if w_sample is None else w_lead[lead[idx]] * w_sample
    return Examples(lead=lead[idx], t=t[idx], y=y[idx], weight=weight,
                    log_sampling=log_r, horizon_days=float(horizon_days),
                    n_candidates=n_cand, features=space.at(lead[idx], t[idx]),
                    sample_rate=1.0 if rate is None else float(rate))


def no_examples_error() -> CalibError:
    """The error raised when the training data hold no example.

    Examples
    --------
    >>> no_examples_error().code
    'no_examples'
    """
    return CalibError("No training examples: no lead has a moment at least the horizon "
                      "before the end of the training data.", code="no_examples",
                      suggestion="Use a later --train-until or a shorter --horizon-days.")


def example_candidates(ds: Dataset, current: RuleSet, o_time: np.ndarray, *,
                       horizon_days: float, lag_days: float = 1.0,
                       lead_ok: np.ndarray | None = None
                       ) -> tuple[Prepared, np.ndarray, np.ndarray]:
    """Every candidate example of ``ds`` before any sampling.

    Returns ``(prep, y, idx)``: the feature space's prepared arrays (one evaluation point
    per moment, see :func:`feature_rules`), the label of every moment (float 0/1), and
    the positions of the moments that are examples (label observable, outcome not yet
    happened, lead allowed by ``lead_ok``), ascending. Each lead's candidates depend on
    that lead's rows only, so this can run on any partition of the leads.

    Examples
    --------
    >>> from calib import load_dataset, load_rules
    >>> ds = load_dataset("calib-demo/data")
    >>> prep, y, idx = example_candidates(ds, load_rules("calib-demo/current.toml"),
    ...                                   outcome_time(ds, "meeting"), horizon_days=30)
    >>> len(y) == len(prep.eval_t), bool(y[idx].sum() > 0)
    (True, True)
    """
    prep = prepare(ds, feature_rules(ds, current))
    lead, t = prep.eval_lead, prep.eval_t
    o = o_time[lead]
    if ds.snapshot:
        keep = np.ones(len(lead), bool)
        y = (o != NEVER).astype(float)
    else:
        h = int(round(horizon_days * NS_PER_DAY))
        lag = int(round(lag_days * NS_PER_DAY))
        end = ds.end_of_data.value
        nxt = np.full(len(t), NEVER, dtype=np.int64)
        same = lead[1:] == lead[:-1]
        nxt[:-1][same] = t[1:][same]
        stop = np.minimum(nxt, t + h)
        o_lag = np.where(o == NEVER, NEVER, o - lag)
        keep = (o_lag > t) & (stop <= end)
        y = ((o_lag > t) & (o_lag <= stop)).astype(float)
    if lead_ok is not None:
        keep &= np.asarray(lead_ok, bool)[lead]
    return prep, y, np.flatnonzero(keep)


def sampling_rate(n_positive: int, n_negative: int, max_examples: int) -> float | None:
    """The share ``r`` of negatives to keep (every positive is kept), or None when all
    ``n_positive + n_negative`` candidates fit in ``max_examples``. At least 1%.

    Examples
    --------
    >>> sampling_rate(100, 900, 5000) is None, sampling_rate(100, 9900, 1090)
    (True, 0.1)
    """
    if n_positive + n_negative <= max_examples:
        return None
    return max(min((max_examples - n_positive) / max(n_negative, 1), 1.0), 0.01)


_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, element-wise on uint64 (wrapping arithmetic)."""
    x = x ^ (x >> np.uint64(30))
    x = x * _M1
    x = x ^ (x >> np.uint64(27))
    x = x * _M2
    return x ^ (x >> np.uint64(31))


def lead_keys(lead_ids) -> np.ndarray:
    """A stable 64-bit key per ``lead_id``: the first 8 bytes of BLAKE2b of its UTF-8
    text (personalised, so unrelated to the partitioning hash).

    Examples
    --------
    >>> k = lead_keys(["L1", "L2", "L1"])
    >>> k.dtype.name, bool(k[0] == k[2]), bool(k[0] != k[1])
    ('uint64', True, True)
    """
    digests = b"".join(hashlib.blake2b(str(s).encode("utf-8"), digest_size=8,
                                       person=b"calib-examples").digest() for s in lead_ids)
    return np.frombuffer(digests, dtype=">u8").astype(np.uint64)


def example_draws(keys: np.ndarray, t: np.ndarray, seed: int, *,
                  snapshot: bool = False) -> np.ndarray:
    """Uniform draws in [0, 1), one per example, from ``(seed, lead key, moment time)``.

    ``keys`` is each example's :func:`lead_keys` value and ``t`` its moment (int64 ns; a
    snapshot has one moment per lead, whose time is not used). The same example gets the
    same draw whatever else is in the data set or the partition.

    Examples
    --------
    >>> k = lead_keys(["L1", "L2"])
    >>> u = example_draws(k, np.array([0, 0]), seed=0)
    >>> bool(((0 <= u) & (u < 1)).all()), bool(u[0] != u[1])
    (True, True)
    """
    s = _mix(np.array([int(seed) % 2**64], dtype=np.uint64) + _GOLDEN)
    moment = (np.zeros(len(keys), dtype=np.uint64) if snapshot
              else np.ascontiguousarray(t, dtype=np.int64).view(np.uint64))
    x = _mix(np.asarray(keys, dtype=np.uint64) ^ _mix(moment ^ s))
    return (x >> np.uint64(11)).astype(np.float64) * 2.0 ** -53


def sample_negatives(ds: Dataset, prep: Prepared, y: np.ndarray, idx: np.ndarray,
                     r: float, seed: int) -> np.ndarray:
    """The candidates ``idx`` that are kept: every positive, and the negatives whose
    :func:`example_draws` value is below ``r`` (ascending positions).

    Examples
    --------
    Keep a tenth of the negative candidates of the demo's meetings:

    >>> import calib
    >>> demo = calib.load_dataset("calib-demo/data")
    >>> rules = calib.load_rules("calib-demo/truth.toml")
    >>> prep, y, idx = example_candidates(demo, rules, outcome_time(demo, "meeting"),
    ...                                   horizon_days=14)
    >>> kept = sample_negatives(demo, prep, y, idx, 0.1, seed=0)
    >>> bool(y[kept].sum() == y[idx].sum()), len(kept) < len(idx)
    (True, True)
    """
    neg = idx[y[idx] == 0]
    leads, inv = np.unique(prep.eval_lead[neg], return_inverse=True)
    keys = lead_keys(ds.leads["lead_id"].to_numpy()[leads])
    u = example_draws(keys[inv], prep.eval_t[neg], seed, snapshot=ds.snapshot)
    keep = np.ones(len(idx), bool)
    keep[y[idx] == 0] = u < r
    return idx[keep]


def prep_rules(prep: Prepared, ds: Dataset):
    """The feature rules in the order of ``prep.rule_events`` (one per event type).

    Examples
    --------
    >>> from calib import load_dataset
    >>> ds = load_dataset("calib-demo/data")
    >>> [r.name for r in prep_rules(None, ds)] == list(ds.event_types)
    True
    """
    return [BehaviorRule(name=e, events=(e,), points=1.0) for e in ds.event_types]
