"""Reading and writing rule-set TOML files."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import tomli_w

from calib.errors import ConfigError
from calib.rules.config import RuleSet


def read_toml(path: str | os.PathLike, *, what: str = "file") -> dict:
    """Parse a TOML file into a dict, turning every failure into a :class:`ConfigError`."""
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
    """The TOML text of a rule set, laid out as SPEC section 2 shows it: one
    ``[[fit]]`` / ``[[behavior]]`` block per rule (never inline tables)."""
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
    """Write a rule set as TOML (atomically: a temporary file moved into place)."""
    from calib.io import write_text

    write_text(dumps_rules(rules), path)
