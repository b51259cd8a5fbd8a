"""The folder tree is the architecture: packages import only the layers below them.

Each top-level package of ``calib`` has a rank; a module may import calib packages of a
lower rank (and its own package), never one of the same or a higher rank. Ranks that only
go down also rule out import cycles between packages. A new package must be given a rank
here, so that its place in the layers is a decision, not an accident.
"""

import ast
from pathlib import Path

import calib

PACKAGE = Path(calib.__file__).parent

RANK = {
    "errors": 0, "_lazy": 0, "_numba": 0,
    "io": 1, "stats": 1,
    "data": 2,
    "rules": 3,
    "engine": 4, "importers": 4,
    "fit": 5, "compare": 5, "abtest": 5,
    "calibration": 6, "refine": 6,
    "distributed": 7,
    "explorer": 7,
    "report": 8, "demo": 8,
    "pipeline": 9,
    "cli": 10,
    "__init__": 11, "__main__": 11,
    "conftest": 12,  # the doctests' fixtures (a demo world to run in)
}


def _imports(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "calib":  # `from calib import distributed, __version__`
                for alias in node.names:
                    if alias.name != "__version__":  # the version string is no layer
                        yield node.lineno, f"calib.{alias.name}"
            else:
                yield node.lineno, node.module


def _package(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0].removesuffix(".py")


def test_every_package_has_a_rank():
    packages = {_package(p) for p in PACKAGE.rglob("*.py")}
    assert packages - set(RANK) == set()


def test_no_package_imports_its_own_layer_or_one_above():
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        own = _package(path)
        for line, module in _imports(path):
            parts = module.split(".")
            if parts[0] != "calib":
                continue
            if len(parts) == 1:  # `import calib` / `from calib import __version__`
                target = "__init__"
            else:
                target = parts[1]
            if target == own:
                continue
            if RANK[target] >= RANK[own]:
                upward.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {module} "
                              f"({own} rank {RANK[own]} -> {target} rank {RANK[target]})")
    assert upward == [], "\n".join(upward)
