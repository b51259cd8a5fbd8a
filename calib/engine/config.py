"""The sweep's grid as a frozen config: the ``[sweep]`` table of an experiment file and
the grid file of ``calib sweep --grid`` (SPEC section 4).

A :class:`SweepConfig` is checked when it is made (:func:`calib.engine.sweep.check_grid`:
every entry a non-empty list of finite numbers or names without repeats, at most
``MAX_CONFIGS`` combinations) and reads like the plain grid it replaces: it is a mapping
from parameter path to a list of values, so :func:`calib.sweep` takes either. Whether a
path names a parameter of the rule set is checked when the grid meets the rule set.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from calib.errors import ConfigError

__all__ = ["SweepConfig"]


@dataclass(frozen=True)
class SweepConfig(Mapping):
    """A grid of rule-set parameters to sweep: parameter path -> values.

    Parameters
    ----------
    grid : mapping or sequence of pairs, default empty
        ``{"thresholds.mql": [40, 50, 60], "decay.half_life_days": [14, 30]}``; nested
        tables (``{"thresholds": {"mql": [...]}}``) are flattened to their paths. Empty
        means no sweep.
    source : str, optional
        Where the grid was read from, for error messages.

    Raises
    ------
    calib.errors.ConfigError
        For an entry that is not a non-empty list, a value that is not finite, a
        repeated value, or more combinations than calib sweeps at once.

    Examples
    --------
    >>> from calib.engine.config import SweepConfig
    >>> cfg = SweepConfig({"thresholds.mql": [40, 50, 60], "decay.half_life_days": [14, 30]})
    >>> cfg.n_configs, cfg["thresholds.mql"]
    (6, [40, 50, 60])
    >>> SweepConfig.from_dict(cfg.to_dict()) == cfg
    True
    >>> SweepConfig({"thresholds.mql": []})
    Traceback (most recent call last):
    ...
    calib.errors.ConfigError: The grid entry 'thresholds.mql' must be a non-empty list of values. Got [].
    """

    grid: tuple[tuple[str, tuple], ...] = ()
    source: str | None = field(default=None, compare=False, repr=False)

    def __post_init__(self):
        pairs = self.grid.items() if isinstance(self.grid, Mapping) else self.grid
        d = {k: list(v) if isinstance(v, tuple) else v for k, v in pairs}
        if d:
            from calib.engine.sweep import check_grid

            d = check_grid(d, source=self.source)
        object.__setattr__(self, "grid", tuple((k, tuple(v)) for k, v in d.items()))

    @classmethod
    def from_dict(cls, d: Mapping | None, *, source: str | None = None) -> SweepConfig:
        """The config of a ``[sweep]`` table or a grid file's contents.

        Parameters
        ----------
        d : mapping, optional
            Parameter path -> list of values (None or empty: no sweep).
        source : str, optional
            Where it was read from, for error messages.

        Returns
        -------
        SweepConfig

        Examples
        --------
        >>> SweepConfig.from_dict({"thresholds": {"mql": [40, 50]}}).to_dict()
        {'thresholds.mql': [40, 50]}
        """
        if d is not None and not isinstance(d, Mapping):
            where = f" in {source}" if source else ""
            raise ConfigError(f"The grid{where} must be a table of parameter = [values]. "
                              f"Got {d!r}.", code="wrong_type",
                              suggestion='Write e.g. "thresholds.mql" = [40, 50, 60].')
        return cls(dict(d or {}), source=source)

    def to_dict(self) -> dict[str, list]:
        """The grid as TOML writes it: parameter path -> list of values.

        Examples
        --------
        >>> SweepConfig({"thresholds.mql": [40, 50]}).to_dict()
        {'thresholds.mql': [40, 50]}
        """
        return {k: list(v) for k, v in self.grid}

    @property
    def n_configs(self) -> int:
        """The number of combinations (0 for an empty grid)."""
        return math.prod(len(v) for _, v in self.grid) if self.grid else 0

    def __getitem__(self, key: str) -> list:
        for k, v in self.grid:
            if k == key:
                return list(v)
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return (k for k, _ in self.grid)

    def __len__(self) -> int:
        return len(self.grid)
