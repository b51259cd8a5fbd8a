"""No function of calib is longer than a reader can hold: 80 lines at most, docstring
included. The demo world's simulator is the one exception: it is a story told in one
place (how leads behave and how sales answers), read from top to bottom."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIMIT = 80
EXEMPT = {("calib/demo/world.py", "_simulate_events"), ("calib/demo/world.py", "_simulate_sales")}


def long_functions(source: str, path: str, limit: int = LIMIT) -> list[tuple[str, str, int]]:
    """(path, name, lines) of every function in ``source`` longer than ``limit`` lines."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            n = node.end_lineno - node.lineno + 1
            if n > limit and (path, node.name) not in EXEMPT:
                out.append((path, node.name, n))
    return out


def test_the_length_check_finds_a_long_function():
    body = "\n".join(f"    x{i} = {i}" for i in range(LIMIT))
    src = f"def short():\n    return 1\n\n\ndef long():\n{body}\n"
    assert long_functions(src, "m.py") == [("m.py", "long", LIMIT + 1)]


def test_no_function_of_calib_is_over_80_lines():
    found = []
    for p in sorted((ROOT / "calib").rglob("*.py")):
        rel = p.relative_to(ROOT).as_posix()
        found += long_functions(p.read_text(encoding="utf-8"), rel)
    assert not found, "functions over 80 lines: " + ", ".join(
        f"{path}::{name} ({n})" for path, name, n in found)


def test_the_exempt_functions_exist():
    """An exemption for a function that is gone (renamed, split) is removed with it."""
    for path, name in EXEMPT:
        tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
        assert any(isinstance(n, ast.FunctionDef) and n.name == name for n in ast.walk(tree)), \
            f"{path}::{name}"
