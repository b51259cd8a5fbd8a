"""Every public definition of calib has a docstring.

Public: a class or function whose name has no leading underscore, in a module whose
path has none either (a package's ``__init__.py`` counts as public), and the public
methods and nested classes of a public class. The source is read with ``ast``: nothing
is imported, so a module that needs an optional dependency is checked as well.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def public_modules() -> list[str]:
    """calib's public modules as paths relative to the repository (``calib/io.py``)."""
    out = []
    for path in sorted((ROOT / "calib").rglob("*.py")):
        rel = path.relative_to(ROOT)
        parts = rel.with_suffix("").parts
        if rel.name == "conftest.py" or any(
                p.startswith("_") and p != "__init__" for p in parts):
            continue
        out.append(rel.as_posix())
    return out


def _is_accessor(node) -> bool:
    """A property's setter or deleter, or a typing overload: documented elsewhere."""
    for d in getattr(node, "decorator_list", ()):
        if isinstance(d, ast.Attribute) and d.attr in ("setter", "deleter"):
            return True
        if (isinstance(d, ast.Name) and d.id == "overload") or (
                isinstance(d, ast.Attribute) and d.attr == "overload"):
            return True
    return False


def undocumented(source: str) -> list[str]:
    """The public definitions of a module's source without a docstring, as
    ``LINE NAME`` (methods as ``Class.method``)."""
    out = []

    def visit(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, DEFINITIONS):
                if child.name.startswith("_") or _is_accessor(child):
                    continue
                name = prefix + child.name
                if ast.get_docstring(child) is None:
                    out.append(f"{child.lineno} {name}")
                if isinstance(child, ast.ClassDef):
                    visit(child, name + ".")
            elif isinstance(child, ast.stmt):  # if/try/with blocks at module or class level
                visit(child, prefix)

    visit(ast.parse(source), "")
    return out


def test_every_public_definition_has_a_docstring():
    missing = [f"{m}:{d}" for m in public_modules()
               for d in undocumented((ROOT / m).read_text(encoding="utf-8"))]
    assert not missing, ("public definitions without a docstring (numpydoc, with an "
                         "Examples section for a function):\n  " + "\n  ".join(missing))


def test_the_check_covers_every_package():
    checked = public_modules()
    assert {"calib/io.py", "calib/errors.py", "calib/engine/results.py",
            "calib/cli/common.py", "calib/rules/config.py",
            "calib/compare/paired.py"} <= set(checked)
    assert {m.split("/")[1] for m in checked if m.count("/") > 1} >= {
        "abtest", "calibration", "data", "demo", "distributed", "engine", "fit", "importers",
        "pipeline", "report", "explorer", "refine", "stats"}


def test_the_walk_finds_every_kind_of_public_definition():
    source = '''
def documented():
    """Yes."""

def bare():
    def inner():  # inside a function: not public
        pass

def _private():
    pass

class Result:
    """Yes."""

    def method(self):
        pass

    def _helper(self):
        pass

    @property
    def value(self):
        """Yes."""

    @value.setter
    def value(self, v):
        pass

    class Nested:
        pass

class _Hidden:
    def method(self):
        pass

if True:
    async def later():
        pass
'''
    found = undocumented(source)
    assert [d.split(" ", 1)[1] for d in found] == ["bare", "Result.method", "Result.Nested",
                                                   "later"]
    assert found[0] == "5 bare"  # the line of the definition
