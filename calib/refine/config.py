"""Options of a refinement review, as one frozen config.

The same config serves the ``[refine]`` table of an experiment file, the flags of
``calib refine`` and the Python call::

    [refine]
    first_touch = "contacted"        # outcome (or event type) that records sales' first touch
                                     # (false: none is recorded; likewise for rejected)
    service_level_hours = 4          # target: MQLs contacted within this many hours
    service_level_share = 0.9        # ... for at least this share of MQLs
    rejected = "disqualified"        # outcome by which sales reject a lead
    drift_by = "month"               # or "week": periods of lead creation
    reference_periods = 3            # the first N periods are the drift reference
    score_age_days = 30              # scores and event mix are compared at this lead age
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

from calib.errors import ConfigError

KEYS = ("first_touch", "service_level_hours", "service_level_share", "rejected", "drift_by",
        "reference_periods", "score_age_days")
NAMED = ("first_touch", "rejected")  # outcome names; false in the file: none recorded


@dataclass(frozen=True)
class RefineConfig:
    """What a refinement review looks at (see the module docstring for each option).

    Examples
    --------
    >>> RefineConfig.from_dict({"service_level_hours": 4}).service_level_hours
    4.0
    """

    first_touch: str | None = "contacted"
    service_level_hours: float | None = None
    service_level_share: float = 0.9
    rejected: str | None = "disqualified"
    drift_by: Literal["month", "week"] = "month"
    reference_periods: int = 3
    score_age_days: float = 30.0

    def __post_init__(self):
        where = "[refine]"
        for key in NAMED:
            v = getattr(self, key)
            if v is not None and (not isinstance(v, str) or not v.strip()):
                raise ConfigError(f"The '{key}' of {where} must be an outcome or event name. "
                                  f"Got {v!r}.", code="wrong_type")
            if v is not None:
                object.__setattr__(self, key, v.strip().lower())
        h = self.service_level_hours
        if h is not None:
            if isinstance(h, bool) or not isinstance(h, (int, float)) or h <= 0:
                raise ConfigError(f"The 'service_level_hours' of {where} must be a number of "
                                  f"hours > 0. Got {h!r}.", code="invalid_value")
            object.__setattr__(self, "service_level_hours", float(h))
        s = self.service_level_share
        if isinstance(s, bool) or not isinstance(s, (int, float)) or not 0 < s <= 1:
            raise ConfigError(f"The 'service_level_share' of {where} must be in (0, 1]. "
                              f"Got {s!r}.", code="invalid_value")
        if self.drift_by not in ("month", "week"):
            raise ConfigError(f"The 'drift_by' of {where} must be 'month' or 'week'. Got "
                              f"{self.drift_by!r}.", code="invalid_value")
        r = self.reference_periods
        if isinstance(r, bool) or not isinstance(r, int) or r < 1:
            raise ConfigError(f"The 'reference_periods' of {where} must be a whole number "
                              f">= 1. Got {r!r}.", code="invalid_value")
        a = self.score_age_days
        if isinstance(a, bool) or not isinstance(a, (int, float)) or a <= 0:
            raise ConfigError(f"The 'score_age_days' of {where} must be a number of days > 0. "
                              f"Got {a!r}.", code="invalid_value")
        object.__setattr__(self, "score_age_days", float(a))

    @classmethod
    def from_dict(cls, d: dict, source: str = "the experiment file") -> RefineConfig:
        """The config of a ``[refine]`` table; ``source`` names the file in errors."""
        if not isinstance(d, dict):
            raise ConfigError(f"[refine] in {source} must be a table.", code="wrong_type")
        unknown = [k for k in d if k not in KEYS]
        if unknown:
            from calib.rules.config import _suggest

            raise ConfigError(f"Unknown key '{unknown[0]}' of [refine] in {source}.",
                              code="unknown_key", suggestion=_suggest(unknown[0], KEYS))
        # TOML has no null: false says "not recorded" for the two outcome names
        return cls(**{k: (None if k in NAMED and v is False else v) for k, v in d.items()})

    def to_dict(self) -> dict:
        """The ``[refine]`` table (unset options left out): ``from_dict`` reads it back."""
        d = asdict(self)
        return {k: (False if v is None and k in NAMED else v) for k, v in d.items()
                if v is not None or k in NAMED}
