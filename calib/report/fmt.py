"""Number formats of the report, in one place: what a person reads.

Counts are whole numbers with thousands separators, rates percentages with one decimal,
differences of rates percentage points ("pts"), points whole numbers, volumes per week
one decimal. A value that does not exist is written "–" (the text around it says why);
``nan``, ``None`` and ``inf`` never reach a reader.

Each number format takes the value ``x`` (and, where it has one, ``digits``: the
decimals) and returns the text, "–" for a missing value (see :func:`missing`).
"""

from __future__ import annotations

import math
import re

DASH = "–"


def missing(x) -> bool:
    """Whether ``x`` has no number to show (None, NaN, infinite or not a number).

    Examples
    --------
    >>> missing(None), missing(float("nan")), missing("12"), missing(0)
    (True, True, False, False)
    """
    if x is None:
        return True
    try:
        return not math.isfinite(float(x))
    except (TypeError, ValueError):
        return True


def pct(x, digits: int = 1) -> str:
    """A rate as a percentage: 0.4071 -> '40.7%'.

    Examples
    --------
    >>> pct(0.4071), pct(None)
    ('40.7%', '–')
    """
    return DASH if missing(x) else f"{100 * float(x):.{digits}f}%"


def pp(x, digits: int = 1) -> str:
    """A difference of two rates in percentage points: 0.25 -> '+25.0 pts'.

    Examples
    --------
    >>> pp(0.25), pp(-0.031)
    ('+25.0 pts', '−3.1 pts')
    """
    return DASH if missing(x) else f"{_minus(f'{100 * float(x):+.{digits}f}')} pts"


def num(x, digits: int = 1) -> str:
    """A measured quantity (per week, days): 70.24 -> '70.2'.

    Examples
    --------
    >>> num(70.24), num(1234.56, 0)
    ('70.2', '1,235')
    """
    return DASH if missing(x) else _minus(f"{float(x):,.{digits}f}")


def signed(x, digits: int = 1) -> str:
    """A difference, with its sign: 15.64 -> '+15.6'.

    Examples
    --------
    >>> signed(15.64), signed(-0.04)
    ('+15.6', '0.0')
    """
    return DASH if missing(x) else _minus(f"{float(x):+,.{digits}f}")


def count(x) -> str:
    """A count, whole, with thousands separators: 3056.0 -> '3,056'.

    Examples
    --------
    >>> count(3056.0), count(float('inf'))
    ('3,056', '–')
    """
    return DASH if missing(x) else _minus(f"{int(round(float(x))):,}")


def points(x, sign: bool = True) -> str:
    """Score points, whole: 11.44 -> '+11'.

    Parameters
    ----------
    x : float or None
        The value; None, NaN and infinities are missing.
    sign : bool
        Write '+' before positive points.

    Returns
    -------
    str
        '–' when ``x`` is missing.

    Examples
    --------
    >>> points(11.44), points(-7.6), points(85, sign=False)
    ('+11', '−8', '85')
    """
    if missing(x):
        return DASH
    v = int(round(float(x)))
    return _minus(f"{v:+d}" if sign else f"{v:d}")


def days(x) -> str:
    """A duration in days, to 0.1 day: 11.4418 -> '11.4 days'.

    Examples
    --------
    >>> days(11.4418)
    '11.4 days'
    """
    return DASH if missing(x) else f"{float(x):.1f} days"


def pvalue(x) -> str:
    """A p-value: 0.00012 -> '< 0.001', 0.0412 -> '0.041', 1.0 -> '1.00'.

    Examples
    --------
    >>> pvalue(0.00012), pvalue(0.0412), pvalue(1.0)
    ('< 0.001', '0.041', '1.00')
    """
    if missing(x):
        return DASH
    x = float(x)
    if x < 0.001:
        return "< 0.001"
    return f"{x:.3f}" if x < 0.1 else f"{x:.2f}"


def interval(lo, hi, f=signed) -> str:
    """An interval: '+7.5 to +23.9', '+1.0 to +3.0 pts' (the unit once).

    Parameters
    ----------
    lo, hi : float or None
        The ends.
    f : callable
        The format of each end (e.g. :func:`pp`).

    Returns
    -------
    str
        '–' when either end is missing.

    Examples
    --------
    >>> interval(7.46, 23.9), interval(0.01, 0.03, pp), interval(None, 2)
    ('+7.5 to +23.9', '+1.0 to +3.0 pts', '–')
    """
    if missing(lo) or missing(hi):
        return DASH
    a, b = f(lo), f(hi)
    unit = " pts" if a.endswith(" pts") and b.endswith(" pts") else ""
    if unit:
        a = a[:-len(unit)]
    return f"{a} to {b}"


def _minus(s: str) -> str:
    """A typographic minus, so '-0.0' style artefacts read as numbers; '-0.0' -> '0.0'."""
    if re.fullmatch(r"[-+]0(\.0+)?", s.split(" ")[0]):
        s = s[1:] if s[0] in "+-" else s
    return s.replace("-", "−", 1) if s.startswith("-") else s


FLOAT_NOISE = re.compile(r"(?<![\w.])\d+\.\d{5,}(?![\w])")
RAW = re.compile(r"\b(nan|NaN|None|inf|Infinity)\b")


def unreadable(text: str) -> list[str]:
    """The raw values a person should never read in ``text``: nan/None/inf and floats
    with five or more decimals (the checks of the report tests).

    Parameters
    ----------
    text : str
        Anything written for a reader: a summary, a report's Markdown or HTML.

    Returns
    -------
    list of str
        The offending pieces, the raw values first, then the long floats; empty when
        the text reads well.

    Examples
    --------
    >>> unreadable("rate nan, half-life 11.441787 days, 12.5%")
    ['nan', '11.441787']
    """
    return RAW.findall(text) + FLOAT_NOISE.findall(text)


def _short(v: float) -> str:
    """Four significant digits, at most four decimals: 11.4417879 -> '11.44',
    0.0117249 -> '0.0117'."""
    s = f"{v:.4g}"
    return f"{v:.4f}" if "e" in s or len(s.partition(".")[2]) > 4 else s


def tidy(text: str) -> str:
    """Text written by other parts of calib, with float noise rounded (11.441787978 ->
    11.44) and raw nan/None/inf written as '–'.

    Examples
    --------
    >>> tidy("half-life 11.441787978 days, rate nan")
    'half-life 11.44 days, rate –'
    """
    text = FLOAT_NOISE.sub(lambda m: _short(float(m.group())), text)
    return RAW.sub(DASH, text)


def words(text: str) -> str:
    """A sentence written elsewhere in calib, for people: whole numbers without '.0'
    ('cutoff 85 -> 98.0' -> 'cutoff 85 → 98') and noise rounded.

    Examples
    --------
    >>> words("cutoff 85 -> 98.0")
    'cutoff 85 → 98'
    """
    text = re.sub(r"(?<=[\s(])(\d+)\.0(?![\d.%])", r"\1", tidy(text))
    return text.replace(" -> ", " → ")
