"""Benchmark: whole ``calib`` commands, as a user waits for them, against DuckDB.

``bench_replay.py`` times the engine inside one process; this script times what a
user waits for: a whole process, from the shell prompt back to the prompt (Python
start, imports, loading, the work, printing), against a whole process that runs the
same replay as one DuckDB SQL query (``bench_replay.replay_sql``), in the same run.

What it measures
----------------
1. Start-up: ``calib --help``, ``python -c "import calib"`` and ``python -c "pass"``
   (the interpreter alone), best of ``--repeat``; then ``python -X importtime`` of
   ``import calib``, of ``calib --help`` and of a ``calib replay`` command (the slowest
   top-level imports).
2. For each ``--leads`` N (a demo world generated once with ``bench_replay``'s cache):

   - DuckDB: one query in a fresh process (``threads = 2``);
   - ``calib replay DATA --rules truth.toml --json``, with ``truth.toml``'s cutoffs
     moved up by 0.5 (no score of its integer points ties with them, so SQL's and
     calib's sums cannot round to different sides of a cutoff), three ways: the first
     command on the data (an empty data-set cache, so the files are read, validated and
     the cache written), warm (the cache written by an earlier command), and
     ``--no-cache``; then the seconds to the first line a warm replay prints on a
     terminal (stderr on a pseudo-terminal), and the first command after installing
     calib (numba's compiled kernels not cached yet: an empty ``NUMBA_CACHE_DIR``);
   - lower bounds: processes that only import the libraries a replay uses (numpy,
     pandas, pyarrow, numba), only read the Parquet tables with pyarrow, or both. DuckDB's
     time over theirs is the highest ratio a replay built on these libraries could reach
     (the bare read bounds the first command, which must read the files);
   - with ``--configs`` > 1: ``calib sweep`` of that many configurations (the grid of
     ``bench_replay.grid_for``; data cache warm) against one DuckDB process running one
     query per configuration. When the DuckDB queries would take more than
     ``--max-duckdb-minutes``, an evenly spaced ``--sample`` of them runs and the time is
     scaled up (the report says so). The grid's MQL cutoffs are moved up by 0.5 too.

   All runs are interleaved ``--repeat`` times (so background load on a shared machine
   hits all alike) and the best is reported, with CPU seconds and peak RSS of each
   child (from ``wait4``). Every DuckDB result is checked against calib's (MQL and SQL
   counts, hits / late / misses / immature per outcome); a difference prints
   ``MISMATCH`` and the script exits with status 1.

"First command" here means the first after the data were written: the files are in the
operating system's page cache and numba's compiled kernels are on disk (as after any
earlier run of calib); the data-set cache is empty. The run ends with a table of the
ratios alone (DuckDB's seconds divided by calib's), the one the README shows.

Usage (from the repository root, with ``pip install -e '.[bench]'``)::

    python benchmarks/bench_commands.py --leads 200000 --data-dir /tmp/calib-bench
    python benchmarks/bench_commands.py --leads 1000000 --configs 1 --data-dir /tmp/calib-bench
"""

from __future__ import annotations

import argparse
import json
import math
import os
import pty
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_replay as br

HEAVY = ("pandas", "numpy", "pyarrow", "numba", "scipy", "statsmodels", "matplotlib", "jinja2",
         "dask", "duckdb")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def calib_cmd() -> list[str]:
    script = Path(sys.executable).with_name("calib")
    return [str(script)] if script.exists() else [sys.executable, "-m", "calib"]


def run(cmd: list[str], env: dict | None = None) -> dict:
    """Run a whole process: its wall seconds, exit status and output."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    out, err = proc.communicate()
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "returncode": proc.returncode, "stdout": out, "stderr": err}


def run_measured(cmd: list[str], env: dict | None = None) -> dict:
    """Like :func:`run`, with the child's CPU seconds and peak RSS (via ``wait4``)."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as fo, tempfile.TemporaryFile("w+") as fe:
        proc = subprocess.Popen(cmd, env=env, stdout=fo, stderr=fe, text=True)
        _, status, ru = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        fo.seek(0)
        fe.seek(0)
        out, err = fo.read(), fe.read()
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed (exit {proc.returncode}):\n{err[-2000:]}")
    return {"seconds": seconds, "cpu_seconds": ru.ru_utime + ru.ru_stime,
            "peak_rss_gb": ru.ru_maxrss * 1024 / 1e9, "stdout": out, "stderr": err}


def best_of(cmd: list[str], repeat: int, env: dict | None = None) -> tuple[float, list[float]]:
    times = []
    for _ in range(repeat):
        r = run(cmd, env)
        if r["returncode"] not in (0,):
            sys.exit(f"{' '.join(cmd)} failed (exit {r['returncode']}):\n{r['stderr'][-2000:]}")
        times.append(r["seconds"])
    return min(times), times


def importtime(cmd: list[str], env: dict, top: int = 8) -> list[tuple[str, float]]:
    """The slowest top-level imports (cumulative seconds) of a command run with
    ``python -X importtime``."""
    r = run(cmd, dict(env, PYTHONPROFILEIMPORTTIME="1"))
    rows = []
    for line in r["stderr"].splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cum, name = line.split("|")
        if name.startswith(" ") and not name.startswith("  "):  # depth 0: one space
            try:
                rows.append((name.strip(), int(cum) / 1e6))
            except ValueError:
                continue
    return sorted(rows, key=lambda r: -r[1])[:top]


def first_line(cmd: list[str], env: dict) -> float:
    """Seconds from starting ``cmd`` to the first line it writes to stderr when stderr
    is a terminal (a pseudo-terminal here); the command then runs to its end."""
    master, slave = pty.openpty()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=slave)
    os.close(slave)
    seen, first = b"", None
    while True:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
            if first is None and b"\n" in seen:
                first = time.perf_counter() - t0
        elif proc.poll() is not None:
            break
    proc.wait()
    os.close(master)
    if proc.returncode != 0 or first is None:
        sys.exit(f"{' '.join(cmd)} printed no line on a terminal (exit {proc.returncode})")
    return first


def half_cutoffs(rules, path: Path):
    """``rules`` with its cutoffs 0.5 higher, written to ``path`` (for calib)."""
    from calib.rules import write_rules

    th = rules.thresholds
    params = {"thresholds.mql": th.mql + 0.5}
    if th.sql is not None:
        params["thresholds.sql"] = th.sql + 0.5
    moved = rules.with_params(params)
    write_rules(moved, path)
    return moved


def replay_counts(d: dict) -> dict:
    return {"mql_count": d["mql"]["count"],
            "sql_count": d["sql"]["count"] if d["sql"] else 0,
            "outcomes": {x: {k: o[k] for k in ("hits", "late", "misses", "immature")}
                         for x, o in d["outcomes"].items()}}


def sweep_counts(path: Path, grid: dict) -> dict:
    import pyarrow.parquet as pq

    frame = pq.read_table(path).to_pandas()
    outcomes = sorted({c[: -len("_immature")] for c in frame.columns if c.endswith("_immature")})
    rows = {}
    for rec in frame.to_dict("records"):
        sql = rec.get("sql_count")
        rows[tuple(float(rec[p]) for p in grid)] = {
            "mql_count": int(rec["mql_count"]),
            "sql_count": 0 if sql is None or math.isnan(sql) else int(sql),
            "outcomes": {x: {k: int(rec[f"{x}_{k}"]) for k in ("hits", "late", "misses", "immature")}
                         for x in outcomes}}
    return rows


def duckdb_child(queries: list[str], threads: int, tmp: str, fresh: bool) -> list[str]:
    fd, spec = tempfile.mkstemp(suffix=".json", dir=tmp)
    with os.fdopen(fd, "w") as f:
        json.dump({"queries": queries, "threads": threads, "temp_directory": tmp,
                   "fresh_connection": fresh}, f)
    return [sys.executable, br.__file__, "--child", "duckdb", spec]


def touch_memory(gb: float) -> float:
    """Write ``gb`` gigabytes once, 1 GB at a time, and free them; returns the seconds.

    On a freshly started virtual machine the host maps each page of the guest's memory
    on its first use, which made allocating memory 10-20x slower (about 10-17 us a 4 KiB
    page against 0.7 us after this, measured with numpy on the 2-core benchmark machine)
    for whichever process got such pages first, DuckDB or calib. Touching most of the
    free memory once makes every later run pay what it pays on a machine that has been
    up a while.
    """
    import numpy as np

    t0 = time.perf_counter()
    left = gb
    while left > 0:
        block = np.ones(int(min(left, 1.0) * 1e9) // 8)
        del block
        left -= 1.0
    return time.perf_counter() - t0


def fmt(x: float) -> str:
    return f"{x:.2f}" if x < 100 else f"{x:,.0f}"


# ------------------------------------------------------------------ start-up
def startup(args, env: dict) -> None:
    calib = calib_cmd()
    print(f"## Start-up (whole processes, best of {args.repeat})\n")
    print("| command | seconds | all runs |")
    print("|---|---:|---|")
    for label, cmd in (("python -c pass (the interpreter alone)", [sys.executable, "-c", "pass"]),
                       ("python -c \"import calib\"", [sys.executable, "-c", "import calib"]),
                       ("calib --help", [*calib, "--help"])):
        b, all_ = best_of(cmd, args.repeat, env)
        print(f"| `{label}` | {b:.3f} | {', '.join(f'{t:.3f}' for t in all_)} |")
    code = ("import sys, calib; from calib.cli.main import build_parser; build_parser(); "
            f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))")
    loaded = run([sys.executable, "-c", code], env)["stdout"].strip()
    print(f"\nHeavy libraries in `sys.modules` after `import calib` and building the command "
          f"line parser: {loaded or 'none'}.\n")
    rows = importtime([sys.executable, "-c", "import calib"], env)
    print("`python -X importtime -c \"import calib\"`, slowest top-level imports (cumulative s): "
          + ", ".join(f"{n} {s:.3f}" for n, s in rows) + "\n")
    rows = importtime([*calib, "--help"], env)
    print("`python -X importtime` of `calib --help`, slowest top-level imports (cumulative s): "
          + ", ".join(f"{n} {s:.3f}" for n, s in rows) + "\n")


# ------------------------------------------------------------------ one world
class World:
    """One generated world and what every measurement on it shares."""

    def __init__(self, args, n_leads: int, env: dict):
        import pyarrow.parquet as pq

        from calib.rules import load_rules

        self.args, self.n_leads, self.env = args, n_leads, env
        self.root, _ = br.ensure_data(args.data_dir, n_leads, args.seed)
        self.data = self.root / "data"
        self.paths = br.parquet_paths(self.root)
        self.rows = br.count_rows(self.paths)
        self.work = Path(tempfile.mkdtemp(prefix="calib-bench-", dir=args.data_dir))
        self.truth = self.work / "truth-half.toml"
        self.rules = half_cutoffs(load_rules(self.root / "truth.toml"), self.truth)
        types = {f.name: str(f.type) for f in pq.read_schema(self.paths["leads"])}
        self.lead_types = {k: {"string": "VARCHAR", "large_string": "VARCHAR",
                               "int64": "BIGINT", "int32": "INTEGER", "double": "DOUBLE",
                               "float": "FLOAT", "bool": "BOOLEAN"}.get(v, v)
                           for k, v in types.items()}
        self.duck_tmp = str(args.data_dir / "duckdb-tmp")
        os.makedirs(self.duck_tmp, exist_ok=True)
        self.warm_cache = self.work / "cache-warm"
        self.calib = calib_cmd()
        self.replay = [*self.calib, "replay", str(self.data), "--rules", str(self.truth),
                       "--json", "--window-days", f"{args.window_days:g}"]

    def env_for(self, cache: str | None, i: int) -> dict:
        """The environment of one run: ``cold`` an empty data cache, ``install`` also
        an empty numba cache, ``warm`` the data cache an earlier command wrote."""
        e = dict(self.env)
        if cache in ("cold", "install"):
            cold = self.work / f"cache-{cache}-{i}"
            shutil.rmtree(cold, ignore_errors=True)
            e["CALIB_CACHE_DIR"] = str(cold)
            if cache == "install":
                e["NUMBA_CACHE_DIR"] = str(cold / "numba")
        elif cache == "warm":
            e["CALIB_CACHE_DIR"] = str(self.warm_cache)
        return e

    def interleave(self, jobs: list[tuple[str, list[str], str | None]]) -> dict:
        """Run every job ``--repeat`` times, alternating; all runs per job name."""
        results: dict[str, list[dict]] = {name: [] for name, _, _ in jobs}
        for i in range(self.args.repeat):
            for name, cmd, cache in jobs:
                load = os.getloadavg()[0]
                r = run_measured(cmd, self.env_for(cache, i))
                log(f"  {name} run {i + 1}: {r['seconds']:.2f} s (CPU {r['cpu_seconds']:.1f} "
                    f"s), peak RSS {r['peak_rss_gb']:.2f} GB, load average before {load:.1f}")
                r["load"] = load
                results[name].append(r)
        return results


FLOOR = "lower bound"
LIBRARIES = "import numpy, pandas, pyarrow.parquet, numba"


def floor_jobs(w: World) -> list[tuple[str, list[str], None]]:
    """Processes that do only part of what any replay built on calib's libraries must
    do: import them; read the Parquet tables with pyarrow and nothing else; both. DuckDB's
    time divided by theirs is the most a replay on these libraries could reach."""
    read = "; ".join(f"pq.read_table({str(p)!r})" for p in w.paths.values())
    return [(f"{FLOOR}: `{LIBRARIES}` (nothing else)", [sys.executable, "-c", LIBRARIES], None),
            (f"{FLOOR}: pyarrow reads the Parquet tables (nothing else)",
             [sys.executable, "-c", f"import pyarrow.parquet as pq; {read}"], None),
            (f"{FLOOR}: both", [sys.executable, "-c", f"{LIBRARIES}; import pyarrow.parquet "
                                f"as pq; {read}"], None)]


def replay_runs(w: World, problems: list[str]) -> tuple[list, dict, list[float]]:
    """One replay: DuckDB and calib's ways, interleaved; the seconds to the first line."""
    run_measured(w.replay, w.env_for("warm", 0))  # writes the warm cache
    q = br.replay_sql(w.rules, w.paths, w.lead_types, w.args.window_days)
    jobs = [("DuckDB, one query (whole process)",
             duckdb_child([q], w.args.threads, w.duck_tmp, True), None),
            ("calib replay, first command (empty data cache)", w.replay, "cold"),
            ("calib replay, warm (data cache)", w.replay, "warm"),
            ("calib replay, warm, --no-cache", [*w.replay, "--no-cache"], "warm"),
            ("calib replay, first command after installing (no compiled kernels, empty "
             "data cache)", w.replay, "install"),
            *floor_jobs(w)]
    results = w.interleave(jobs)
    firsts = [first_line(w.replay, w.env_for("warm", 0)) for _ in range(w.args.repeat)]
    log(f"  calib replay, warm, to the first line on a terminal: "
        f"{', '.join(f'{x:.2f}' for x in firsts)} s")
    duck = json.loads(results[jobs[0][0]][0]["stdout"].strip().splitlines()[-1])
    for name, _, _ in jobs[1:]:
        if name.startswith(FLOOR):
            continue
        for r in results[name]:
            problems += br.compare_counts(f"{w.n_leads:,} leads, {name}",
                                          replay_counts(json.loads(r["stdout"])),
                                          duck["results"][0])
    return jobs, results, firsts


def sweep_runs(w: World, duck_one: float, problems: list[str]) -> tuple:
    """The sweep of ``--configs`` configurations against DuckDB's queries (sampled when
    they would take longer than ``--max-duckdb-minutes``)."""
    import tomli_w

    grid = br.grid_for(w.args.configs)
    grid["thresholds.mql"] = [v + 0.5 for v in grid["thresholds.mql"]]
    configs = br.configs_of(grid)
    grid_file = w.work / "grid.toml"
    grid_file.write_text(tomli_w.dumps(grid), encoding="utf-8")
    out = w.work / "sweep-rows.parquet"
    sweep = [*w.calib, "sweep", str(w.data), "--rules", str(w.truth), "--grid", str(grid_file),
             "--window-days", f"{w.args.window_days:g}", "--out", str(out)]
    run_idx = list(range(len(configs)))
    if duck_one * len(configs) > w.args.max_duckdb_minutes * 60:
        step = len(configs) / w.args.sample
        run_idx = sorted({int(i * step) for i in range(w.args.sample)})
    queries = [br.replay_sql(w.rules.with_params(configs[i]), w.paths, w.lead_types,
                             w.args.window_days) for i in run_idx]
    s_jobs = [("DuckDB, one query per configuration (one process)",
               duckdb_child(queries, w.args.threads, w.duck_tmp, False), "warm"),
              (f"calib sweep, {len(configs)} configurations, warm (data cache)", sweep, "warm")]
    s_res = w.interleave(s_jobs)
    calib_rows = sweep_counts(out, grid)
    dres = json.loads(s_res[s_jobs[0][0]][0]["stdout"].strip().splitlines()[-1])["results"]
    for i, res in zip(run_idx, dres):
        key = tuple(float(configs[i][p]) for p in grid)
        problems += br.compare_counts(f"sweep {configs[i]}", calib_rows[key], res)
    return s_jobs, s_res, len(configs) / len(run_idx), len(run_idx), len(configs)


def report_replays(jobs, results, firsts, d_best: float) -> dict:
    """The table of the replay runs; returns the ratios by job name."""
    print("| whole process | best s | CPU s | peak RSS GB | DuckDB s / calib s | all runs (s) |")
    print("|---|---:|---:|---:|---:|---|")
    ratios = {}
    for name, _, _ in jobs:
        rs = results[name]
        b = min(rs, key=lambda r: r["seconds"])
        ratio = "-" if name.startswith("DuckDB") else f"{d_best / b['seconds']:.2f}"
        if ratio != "-":
            ratios[name] = d_best / b["seconds"]
        print(f"| {name} | {fmt(b['seconds'])} | {b['cpu_seconds']:.1f} | "
              f"{max(r['peak_rss_gb'] for r in rs):.2f} | {ratio} | "
              f"{', '.join(fmt(r['seconds']) for r in rs)} |")
    print(f"| calib replay, warm, seconds to its first line on a terminal | {min(firsts):.2f} "
          f"| | | | {', '.join(f'{x:.2f}' for x in firsts)} |")
    return ratios


def report_sweep(sweep_rows) -> float:
    """The sweep's rows of the table; returns its ratio."""
    s_jobs, s_res, scale, ran, total = sweep_rows
    d_runs = [r["seconds"] * scale for r in s_res[s_jobs[0][0]]]
    c_runs = [r["seconds"] for r in s_res[s_jobs[1][0]]]
    note = f" (extrapolated from {ran} of {total} queries)" if ran < total else ""
    d_cpu = min(r["cpu_seconds"] for r in s_res[s_jobs[0][0]]) * scale
    c_b = min(s_res[s_jobs[1][0]], key=lambda r: r["seconds"])
    print(f"| {s_jobs[0][0]}{note} | {fmt(min(d_runs))} | {d_cpu:.1f} | "
          f"{max(r['peak_rss_gb'] for r in s_res[s_jobs[0][0]]):.2f} | - | "
          f"{', '.join(fmt(x) for x in d_runs)} |")
    print(f"| {s_jobs[1][0]} | {fmt(c_b['seconds'])} | {c_b['cpu_seconds']:.1f} | "
          f"{max(r['peak_rss_gb'] for r in s_res[s_jobs[1][0]]):.2f} | "
          f"{min(d_runs) / c_b['seconds']:.1f} | {', '.join(fmt(x) for x in c_runs)} |")
    return min(d_runs) / c_b["seconds"]


def world(args, n_leads: int, env: dict) -> tuple[list[str], dict]:
    """Measure one world; returns the problems found and the ratios by row."""
    w = World(args, n_leads, env)
    problems: list[str] = []
    log(f"world: {n_leads:,} leads, {w.rows['events']:,} events ({w.root})")
    jobs, results, firsts = replay_runs(w, problems)
    d_best = min(r["seconds"] for r in results[jobs[0][0]])
    sweep_rows = sweep_runs(w, d_best, problems) if args.configs > 1 else None

    print(f"## {n_leads:,} leads ({w.rows['events']:,} events, Parquet)\n")
    ratios = report_replays(jobs, results, firsts, d_best)
    if sweep_rows:
        ratios[f"{sweep_rows[4]}-configuration sweep, warm"] = report_sweep(sweep_rows)
    loads = [r["load"] for rs in results.values() for r in rs]
    print(f"\n1-minute load average before the runs: {min(loads):.1f} to {max(loads):.1f} "
          f"(2 cores; above ~0.5 other work competed).\n")
    rows_ = importtime(w.replay, w.env_for("warm", 0))
    print("`calib replay` (warm), slowest top-level imports (cumulative s): "
          + ", ".join(f"{n} {s:.3f}" for n, s in rows_) + "\n")
    shutil.rmtree(w.work, ignore_errors=True)
    return problems, ratios


def report_ratios(by_world: dict) -> None:
    """The ratios alone (DuckDB's seconds / calib's), one column per world."""
    names = list(dict.fromkeys(n for r in by_world.values() for n in r))
    print("## Ratios (DuckDB s / calib s, above 1: calib is faster)\n")
    print("| Parquet world | " + " | ".join(f"{n:,} leads" for n in by_world) + " |")
    print("|---|" + "---:|" * len(by_world))
    for name in names:
        cells = [f"{r[name]:.2f}" if name in r else "not run" for r in by_world.values()]
        print(f"| {name} | " + " | ".join(cells) + " |")
    print()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--leads", type=int, nargs="+", default=[200_000],
                    help="world sizes (default 200000)")
    ap.add_argument("--configs", type=int, default=100, help="sweep size (1: no sweep)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per measurement (best counts)")
    ap.add_argument("--threads", type=int, default=2, help="DuckDB threads (default 2)")
    ap.add_argument("--window-days", type=float, default=90)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--max-duckdb-minutes", type=float, default=10)
    ap.add_argument("--sample", type=int, default=5, help="DuckDB sweep queries when sampling")
    ap.add_argument("--data-dir", type=Path, default=br.DEFAULT_DATA_DIR,
                    help="where generated worlds are kept (default bench-data/)")
    ap.add_argument("--touch-memory-gb", type=float, default=0,
                    help="first write this many GB of memory once, then free it (see "
                         "touch_memory)")
    args = ap.parse_args(argv)
    args.data_dir = args.data_dir.resolve()
    args.data_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.pop("CALIB_NO_CACHE", None)
    # Python as installed writes and reuses bytecode; without it every command compiles
    # calib's modules from source again (about 0.1 s a command)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.setdefault("CALIB_CACHE_DIR", str(args.data_dir / "calib-cache"))

    for k, v in br.environment().items():
        print(f"- {k}: {v}")
    if args.touch_memory_gb:
        print(f"- memory touched once before the runs: {args.touch_memory_gb:g} GB "
              f"({touch_memory(args.touch_memory_gb):.1f} s)")
    print()
    startup(args, env)
    problems: list[str] = []
    by_world = {}
    for n in args.leads:
        found, by_world[n] = world(args, n, env)
        problems += found
    report_ratios(by_world)
    for p in problems:
        print(p)
    if problems:
        return 1
    print("All results checked: every DuckDB result equals calib's.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
