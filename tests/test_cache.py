"""The data-set cache: reused when nothing changed, never stale, safe when commands
run at once, and off on request; plus start-up that imports no heavy library."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from small_world import EVENTS, write_dataset

import calib.data.dataset as dataset_module
from calib.data import load_dataset
from calib.data.cache import cache_dir
from calib.errors import ConfigError, DataError

REPO = Path(__file__).resolve().parent.parent
HEAVY = ("pandas", "scipy", "statsmodels", "matplotlib", "jinja2", "dask", "numba")


def entries() -> list[Path]:
    root = cache_dir() / "datasets"
    return sorted(root.iterdir()) if root.exists() else []


def assert_same(a, b) -> None:
    for table in ("leads", "events", "outcomes", "assignments"):
        x, y = getattr(a, table), getattr(b, table)
        if x is None or y is None:
            assert x is None and y is None, table
        else:
            pd.testing.assert_frame_equal(x, y, check_exact=True, obj=table)
    for attr in ("path", "files", "snapshot", "end_of_data", "warnings", "event_types",
                 "outcome_types"):
        assert getattr(a, attr) == getattr(b, attr), attr


def forbid_source_reads(monkeypatch) -> None:
    def fail(*a, **k):
        raise AssertionError("the data set was read from its files, not from the cache")

    monkeypatch.setattr(dataset_module, "_build", fail)


@pytest.fixture
def demo_world(tmp_path_factory):
    """A small seeded demo world as Parquet (dictionary ids, timezone-aware times,
    assignments, extra lead attributes of several types)."""
    from calib.demo import generate_demo

    root = tmp_path_factory.mktemp("demo")
    generate_demo(root, n_leads=600, seed=3, fmt="parquet")
    return root / "data"


@pytest.mark.parametrize("world", ["small_data", "demo_world"])
def test_cached_load_equals_uncached_and_is_used(world, request, monkeypatch):
    folder = request.getfixturevalue(world)
    first = load_dataset(folder)
    assert len(entries()) == 1
    fresh = load_dataset(folder, cache=False)
    assert_same(first, fresh)
    forbid_source_reads(monkeypatch)
    again = load_dataset(folder)
    assert_same(again, fresh)
    # every column of the cached tables can be written into, like a fresh load's
    for table in ("leads", "events", "outcomes", "assignments"):
        df = getattr(again, table)
        for c in [] if df is None else df.columns:
            df.loc[0, c] = df[c].iloc[len(df) - 1]
            assert df[c].iloc[0] == df[c].iloc[-1] or pd.isna(df[c].iloc[0])


def test_nothing_is_written_into_the_data_folder(small_data):
    before = sorted(p.name for p in small_data.iterdir())
    load_dataset(small_data)
    load_dataset(small_data)
    assert sorted(p.name for p in small_data.iterdir()) == before
    assert entries() and all(cache_dir() in p.parents for p in entries())


def test_a_changed_file_invalidates(small_data):
    assert len(load_dataset(small_data).events) == 6
    with open(small_data / "events.csv", "a", encoding="utf-8") as f:
        f.write("L4,2025-02-02T00:00:00Z,demo_request\n")
    assert len(load_dataset(small_data).events) == 7
    assert len(entries()) == 1  # the entry of the old file version is gone


def test_a_same_size_same_time_edit_invalidates(small_data):
    """Size and modification time alone would miss this edit; the content hash does not."""
    path = small_data / "events.csv"
    assert "demo_request" in load_dataset(small_data).event_types
    st = path.stat()
    path.write_text(EVENTS.replace("demo_request", "demo_requesT"), encoding="utf-8")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_size == st.st_size and path.stat().st_mtime_ns == st.st_mtime_ns
    types = load_dataset(small_data).event_types
    assert "demo_requesT" in types and "demo_request" not in types


def test_the_mapping_is_part_of_the_key(tmp_path):
    folder = write_dataset(tmp_path / "d", events=EVENTS.replace("event_type", "kind"))
    mapping = {"columns": {"events": {"event_type": "kind"}}}
    with pytest.raises(DataError):
        load_dataset(folder)
    ds = load_dataset(folder, mapping)
    assert "pricing_page_view" in ds.event_types
    mapping["exclude"] = {"leads": ["industry"]}
    assert "industry" not in load_dataset(folder, mapping).leads


def test_opting_out(small_data, monkeypatch):
    load_dataset(small_data, cache=False)
    assert entries() == []
    monkeypatch.setenv("CALIB_NO_CACHE", "1")
    load_dataset(small_data)
    assert entries() == []
    monkeypatch.setenv("CALIB_NO_CACHE", "0")
    load_dataset(small_data)
    assert len(entries()) == 1


def test_cli_no_cache_flag(small_data):
    from calib.cli.main import main

    assert main(["validate", str(small_data), "--json", "--no-cache"]) == 0
    assert entries() == []
    assert main(["validate", str(small_data), "--json"]) == 0
    assert len(entries()) == 1


def test_a_damaged_entry_is_ignored(small_data):
    fresh = load_dataset(small_data, cache=False)
    load_dataset(small_data)
    (events,) = entries()[0].glob("events.arrow")
    events.write_bytes(events.read_bytes()[:40])
    assert_same(load_dataset(small_data), fresh)


def test_an_unwritable_cache_is_skipped(small_data, tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.setenv("CALIB_CACHE_DIR", str(blocker))
    assert_same(load_dataset(small_data), load_dataset(small_data, cache=False))


def test_concurrent_commands_leave_one_valid_entry(demo_world):
    code = ("import sys; from calib.data import load_dataset; "
            "print(len(load_dataset(sys.argv[1]).events))")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    procs = [subprocess.Popen([sys.executable, "-c", code, str(demo_world)], env=env,
                              stdout=subprocess.PIPE, text=True) for _ in range(3)]
    outs = [p.communicate(timeout=300)[0].strip() for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0]
    fresh = load_dataset(demo_world, cache=False)
    assert outs == [str(len(fresh.events))] * 3
    names = [p.name for p in (cache_dir() / "datasets").iterdir()]
    assert len(names) == 1 and not names[0].startswith(".tmp"), names
    assert_same(load_dataset(demo_world), fresh)


def test_import_and_help_load_no_heavy_library():
    """``import calib`` and ``calib --help`` must not pay for pandas, scipy & co."""
    code = ("import sys, contextlib, io; import calib; from calib.cli.main import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    try:\n        main(['--help'])\n    except SystemExit:\n        pass\n"
            f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, PYTHONPATH=str(REPO)),
                         capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"imported at start-up: {out}"


def test_numba_starts_without_scipy_linalg_and_leaves_it_importable():
    code = ("import sys\nimport calib.engine.kernels\n"
            "assert 'scipy.linalg' not in sys.modules, 'scipy.linalg was imported'\n"
            "import scipy.linalg\nprint(scipy.linalg.det([[2.0, 0.0], [0.0, 3.0]]))")
    out = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, PYTHONPATH=str(REPO)),
                         capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert float(out.stdout) == pytest.approx(6.0)


def test_kernels_in_numbas_cache_load_without_starting_its_compiler(small_data, small_rules,
                                                                    tmp_path):
    """The first command compiles the kernels (numba's registries loaded, scipy.linalg
    kept out); the next loads them from numba's cache without the registries, with the
    same result."""
    code = ("import sys, contextlib, io; from calib.cli.main import main\n"
            "out = io.StringIO()\n"
            "with contextlib.redirect_stdout(out):\n"
            f"    assert main(['replay', {str(small_data)!r}, '--rules', {str(small_rules)!r},"
            " '--json', '--no-cache']) == 0\n"
            "print(out.getvalue().strip().replace(chr(10), ' '))\n"
            "print('numba.np.arraymath' in sys.modules, 'scipy.linalg' in sys.modules)")
    env = dict(os.environ, PYTHONPATH=str(REPO), NUMBA_CACHE_DIR=str(tmp_path / "numba"))
    runs = [subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                           text=True, check=False) for _ in range(2)]
    assert [r.returncode for r in runs] == [0, 0], runs[0].stderr + runs[1].stderr
    (first, compiled), (second, loaded) = (r.stdout.strip().splitlines() for r in runs)
    assert compiled == "True False"  # compiled: registries loaded, without scipy.linalg
    assert loaded == "False False"   # loaded from numba's cache: no registries
    assert first == second


def test_a_replay_command_imports_only_what_it_uses(small_data, small_rules):
    """A replay needs pandas, pyarrow and numba; not the fit's or the report's
    libraries, nor scipy's statistics."""
    code = ("import sys, contextlib, io; from calib.cli.main import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            f"    assert main(['replay', {str(small_data)!r}, '--rules', {str(small_rules)!r},"
            " '--json']) == 0\n"
            "unused = ('scipy.stats', 'scipy.optimize', 'scipy.integrate', 'scipy.linalg',"
            " 'statsmodels', 'matplotlib', 'jinja2', 'dask', 'calib.fit')\n"
            "print(','.join(m for m in unused if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, PYTHONPATH=str(REPO)),
                         capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"imported by a replay: {out.stdout.strip()}"


def test_a_changed_loader_or_version_invalidates(small_data, monkeypatch):
    import calib.data.cache as cache_module

    load_dataset(small_data)
    (first,) = entries()
    monkeypatch.setattr(cache_module, "code_version", lambda v: f"{v}+another-loader")
    load_dataset(small_data)
    (second,) = entries()
    assert first != second


def _copies(small_data, tmp_path, n) -> list[Path]:
    """``n`` data set folders with the same files (each its own cache entry)."""
    import shutil

    return [Path(shutil.copytree(small_data, tmp_path / f"copy{i}")) for i in range(n)]


def _entry_size() -> int:
    (only,) = entries()
    return sum(f.stat().st_size for f in only.iterdir())


def test_the_cache_keeps_to_its_size_removing_the_least_recently_used(small_data, tmp_path,
                                                                      monkeypatch):
    a, b, c = _copies(small_data, tmp_path, 3)
    load_dataset(a)
    (entry_a,) = entries()
    size = _entry_size()
    monkeypatch.setenv("CALIB_CACHE_MAX_GB", str(2.5 * size / 1e9))  # room for two, not three
    load_dataset(b)
    (entry_b,) = set(entries()) - {entry_a}
    time.sleep(0.05)
    load_dataset(a)  # read from the cache: now used more recently than b's
    time.sleep(0.05)
    load_dataset(c)
    (entry_c,) = set(entries()) - {entry_a, entry_b}
    assert set(entries()) == {entry_a, entry_c}  # b's, the least recently used, went
    forbid_source_reads(monkeypatch)
    load_dataset(a)
    load_dataset(c)


def test_a_data_set_too_large_for_the_cache_is_loaded_but_not_kept(small_data, monkeypatch):
    monkeypatch.setenv("CALIB_CACHE_MAX_GB", "0")
    assert_same(load_dataset(small_data), load_dataset(small_data, cache=False))
    assert entries() == []


def test_a_killed_writers_leftovers_go_and_a_running_writers_stay(small_data, tmp_path):
    a, b = _copies(small_data, tmp_path, 2)
    load_dataset(a)
    root = cache_dir() / "datasets"
    old, fresh = root / ".tmp-old-1-abc", root / ".tmp-new-2-def"
    for d in (old, fresh):
        d.mkdir()
        (d / "events.arrow").write_bytes(b"partial")
    os.utime(old, (time.time() - 2 * 3600,) * 2)
    load_dataset(b)
    assert not old.exists() and fresh.exists()


def test_a_bad_cache_size_is_a_clear_error(small_data, monkeypatch, capsys):
    from calib.cli.main import main

    monkeypatch.setenv("CALIB_CACHE_MAX_GB", "five")
    with pytest.raises(ConfigError, match="CALIB_CACHE_MAX_GB='five'"):
        load_dataset(small_data)
    assert main(["validate", str(small_data)]) != 0
    assert "CALIB_CACHE_MAX_GB" in capsys.readouterr().err
