"""Argument checks shared by the statistics functions.

Bad input (a negative count, more successes than trials, an unknown method, an alpha
outside (0, 1)) raises :class:`StatsInputError`. A valid input whose result cannot be
estimated (no trials, no variation) is not an error: the functions return ``nan``.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from calib.errors import StatsInputError

__all__ = ["StatsInputError"]


def as_float_array(value, name: str, func: str) -> np.ndarray:
    """Return ``value`` as a float array, raising on non-numeric or non-finite input
    (text such as ``'3'`` is not a number here, even when it looks like one)."""
    raw = np.asarray(value) if not isinstance(value, (str, bytes)) else None
    if raw is None or raw.dtype.kind in "USV" or (raw.dtype.kind == "O" and any(
            isinstance(v, (str, bytes)) for v in raw.ravel())):
        raise StatsInputError(
            f"The '{name}' of {func} must be a number or an array of numbers, not text. "
            f"Got {value!r}.", code="not_numeric")
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise StatsInputError(
            f"The '{name}' of {func} must be a number or an array of numbers. Got {value!r}.",
            code="not_numeric",
        ) from None
    if not np.all(np.isfinite(arr)):
        raise StatsInputError(
            f"The '{name}' of {func} must be finite. Got {_show(arr[~np.isfinite(arr)])}.",
            code="not_finite",
        )
    return arr


def check_whole(arr: np.ndarray, name: str, func: str) -> np.ndarray:
    """Check that counts are whole numbers (leads, not fractions of leads)."""
    frac = arr != np.round(arr)
    if np.any(frac):
        raise StatsInputError(f"The '{name}' of {func} must be whole numbers (counts). Got "
                              f"{_show(arr[frac])}.", code="not_integer")
    return arr


def check_counts(x, n, func: str, suffix: str = "") -> tuple[np.ndarray, np.ndarray]:
    """Check successes ``x`` and trials ``n``: finite, ``0 <= x <= n``; broadcast them."""
    x_name, n_name = f"x{suffix}", f"n{suffix}"
    x = as_float_array(x, x_name, func)
    n = as_float_array(n, n_name, func)
    if np.any(n < 0):
        raise StatsInputError(
            f"The '{n_name}' of {func} must be >= 0. Got {_show(n[n < 0])}.",
            code="negative_count",
        )
    if np.any(x < 0):
        raise StatsInputError(
            f"The '{x_name}' of {func} must be >= 0. Got {_show(x[x < 0])}.",
            code="negative_count",
        )
    x, n = broadcast((x, n), (x_name, n_name), func)
    if np.any(x > n):
        bad = x > n
        raise StatsInputError(
            f"The '{x_name}' of {func} must be <= '{n_name}' (successes cannot exceed "
            f"trials). Got {x_name}={_show(x[bad])} with {n_name}={_show(n[bad])}.",
            code="count_exceeds_trials",
        )
    return x, n


def check_two_arms(x1, n1, x2, n2, func: str) -> list[np.ndarray]:
    """Check the counts of two arms (as :func:`check_counts`) and broadcast all four."""
    x1, n1 = check_counts(x1, n1, func, "1")
    x2, n2 = check_counts(x2, n2, func, "2")
    return broadcast((x1, n1, x2, n2), ("x1", "n1", "x2", "n2"), func)


def broadcast(arrays, names, func: str, must: str = "have broadcastable shapes"):
    """Broadcast arrays against each other, or raise naming them and their shapes."""
    try:
        return np.broadcast_arrays(*arrays)
    except ValueError:
        quoted = " and ".join(f"'{n}'" for n in names)
        shapes = " and ".join(str(np.shape(a)) for a in arrays)
        raise StatsInputError(f"The {quoted} of {func} must {must}. Got shapes {shapes}.",
                              code="shape_mismatch") from None


def check_alpha(alpha, func: str, name: str = "alpha") -> float:
    """Check a probability level strictly inside (0, 1)."""
    try:
        value = float(alpha)
    except (TypeError, ValueError):
        value = float("nan")
    if not 0.0 < value < 1.0:
        raise StatsInputError(
            f"The '{name}' of {func} must be in (0, 1). Got {alpha!r}.",
            code="invalid_probability",
            suggestion="Use e.g. alpha=0.05 for 95% intervals." if name == "alpha" else None,
        )
    return value


def check_choice(value, allowed: Iterable[str], name: str, func: str) -> str:
    """Check that ``value`` is one of ``allowed``."""
    allowed = tuple(allowed)
    if value not in allowed:
        raise StatsInputError(
            f"The '{name}' of {func} must be one of {', '.join(map(repr, allowed))}. "
            f"Got {value!r}.",
            code="unknown_option",
        )
    return value


def check_positive(value, name: str, func: str) -> np.ndarray:
    """Check a strictly positive number or array."""
    arr = as_float_array(value, name, func)
    if np.any(arr <= 0):
        raise StatsInputError(
            f"The '{name}' of {func} must be > 0. Got {_show(arr[arr <= 0])}.",
            code="not_positive",
        )
    return arr


def check_rate(value, name: str, func: str, *, closed: bool = False) -> np.ndarray:
    """Check a rate in (0, 1), or in [0, 1] when ``closed``."""
    arr = as_float_array(value, name, func)
    bad = (arr < 0) | (arr > 1) if closed else (arr <= 0) | (arr >= 1)
    if np.any(bad):
        interval = "[0, 1]" if closed else "(0, 1)"
        raise StatsInputError(
            f"The '{name}' of {func} must be in {interval}. Got {_show(arr[bad])}.",
            code="invalid_probability",
        )
    return arr


def scalar_or_array(arr: np.ndarray):
    """Return a numpy scalar for 0-d results and the array otherwise."""
    arr = np.asarray(arr)
    return arr[()] if arr.ndim == 0 else arr


def _show(values: np.ndarray, limit: int = 3) -> str:
    values = np.ravel(values)
    shown = ", ".join(f"{v:g}" for v in values[:limit])
    return shown + (", ..." if values.size > limit else "")
