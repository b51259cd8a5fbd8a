"""Reading and writing rule-set TOML files."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import tomli_w

from calib.errors import ConfigError
from calib.rules.config import RuleSet


def read_toml(path: str | os.PathLike, *, what: str = "file") -> dict:
    """Parse a TOML file into a dict, turning every failure into a :class:`ConfigError`.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    what : str
        What the file is, for messages (``"rule set"``, ``"column mapping"``...).

    Returns
    -------
    dict

    Raises
    ------
    calib.errors.ConfigError
        Code ``"missing_file"``, ``"not_utf8"`` or ``"invalid_toml"``.

    Examples
    --------
    >>> read_toml("calib-demo/current.toml")["thresholds"]
    {'mql': 85, 'sql': 115}
    >>> read_toml("nowhere.toml", what="grid")
    Traceback (most recent call last):
    calib.errors.ConfigError: The grid 'nowhere.toml' does not exist.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"The {what} '{path}' does not exist.", code="missing_file")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"The {what} '{path}' is not UTF-8 text (byte {e.start}).",
                          code="not_utf8") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"The {what} '{path}' is not valid TOML: {e}.", code="invalid_toml") from None


def load_rules(path: str | os.PathLike) -> RuleSet:
    """Load and validate a rule set from a TOML file.

    Examples
    --------
    >>> from calib import load_rules
    >>> rs = load_rules("calib-demo/current.toml")
    >>> rs.name, rs.thresholds.mql, rs.thresholds.sql
    ('current', 85, 115)
    """
    return RuleSet.from_dict(read_toml(path, what="rule set"), source=str(path))


def _value(v) -> str:
    return tomli_w.dumps({"v": v}).split("=", 1)[1].strip()


def dumps_rules(rules: RuleSet) -> str:
    """The TOML text of a rule set, laid out as SPEC section 2 shows it.

    One ``[[fit]]`` / ``[[behavior]]`` block per rule (never inline tables), then
    ``[decay]``, ``[limits]`` and ``[thresholds]``.

    Parameters
    ----------
    rules : RuleSet
        The rule set to lay out.

    Returns
    -------
    str

    Examples
    --------
    >>> rs = RuleSet.from_dict({"name": "r", "behavior": [{"event": "demo", "points": 30}],
    ...                         "thresholds": {"mql": 30}})
    >>> print(dumps_rules(rs))
    name = "r"
    <BLANKLINE>
    [[behavior]]
    event = "demo"
    points = 30
    <BLANKLINE>
    [decay]
    kind = "none"
    <BLANKLINE>
    [thresholds]
    mql = 30
    <BLANKLINE>
    """
    d = rules.to_dict()
    lines = [f"name = {_value(d['name'])}", ""]
    for kind in ("fit", "behavior"):
        for rule in d.get(kind, []):
            lines.append(f"[[{kind}]]")
            lines += [f"{k} = {_value(v)}" for k, v in rule.items()]
            lines.append("")
    for table in ("decay", "limits", "thresholds"):
        if table in d:
            lines.append(f"[{table}]")
            lines += [f"{k} = {_value(v)}" for k, v in d[table].items()]
            lines.append("")
    return "\n".join(lines)


def write_rules(rules: RuleSet, path: str | os.PathLike) -> None:
    """Write a rule set as TOML, atomically (a temporary file moved into place).

    Parameters
    ----------
    rules : RuleSet
        The rule set to write.
    path : str or os.PathLike
        The file, in a folder that exists.

    Raises
    ------
    calib.errors.CalibError
        When the file cannot be written.

    Examples
    --------
    >>> rs = load_rules("calib-demo/truth.toml")
    >>> write_rules(rs, "example-truth.toml")
    >>> load_rules("example-truth.toml") == rs
    True
    """
    from calib.io import write_text

    write_text(dumps_rules(rules), path)
