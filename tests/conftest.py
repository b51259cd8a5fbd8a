"""Shared fixtures: small data sets written as files, the way users have them."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from small_world import RULES, write_dataset  # noqa: E402 (after the path above)


@pytest.fixture
def small_data(tmp_path) -> Path:
    return write_dataset(tmp_path / "data")


@pytest.fixture
def small_rules(tmp_path) -> Path:
    p = tmp_path / "rules.toml"
    p.write_text(RULES, encoding="utf-8")
    return p


@pytest.fixture(scope="session")
def demo_report(tmp_path_factory):
    """A small demo world run end to end into a report folder, once per test session
    (the report tests and the browser tests read the same one)."""
    from calib.demo import generate_demo
    from calib.pipeline.experiment import load_experiment
    from calib.pipeline.run import run_experiment
    from calib.report.render import write_report

    root = tmp_path_factory.mktemp("report")
    world = generate_demo(root / "w", n_leads=4000, seed=2)
    res = run_experiment(load_experiment(world.experiment))
    folder = write_report(res, root / "out" / "demo")
    return world, res, folder


@pytest.fixture(autouse=True)
def _private_data_cache(tmp_path_factory, monkeypatch):
    """Every test gets its own, empty data-set cache: the suite never reads or writes
    the user's cache folder, and no test sees another's entries."""
    monkeypatch.setenv("CALIB_CACHE_DIR", str(tmp_path_factory.mktemp("calib-cache")))
    monkeypatch.delenv("CALIB_NO_CACHE", raising=False)
