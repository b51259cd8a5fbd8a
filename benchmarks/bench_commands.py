"""Benchmark: whole ``calib`` commands, as a user waits for them, against DuckDB.

``bench_replay.py`` times the engine inside one process; this script times what a
user waits for: a whole process, from the shell prompt back to the prompt (Python
start, imports, loading, the work, printing), against a whole process that runs the
same replay as one DuckDB SQL query (``bench_replay.replay_sql``), in the same run.

What it measures
----------------
1. Start-up: ``calib --help``, ``python -c "import calib"`` and ``python -c "pass"``
   (the interpreter alone), best of ``--repeat``; then ``python -X importtime`` of
   ``import calib`` and of a ``calib replay`` command (the slowest top-level imports).
2. For each ``--leads`` N (a demo world generated once with ``bench_replay``'s cache):

   - DuckDB: one query in a fresh process (``threads = 2``);
   - ``calib replay DATA --rules truth.toml --json``, three ways: the first command on
     the data (an empty data-set cache, so the files are read, validated and the cache
     written), warm (the cache written by an earlier command), and ``--no-cache``;
   - with ``--configs`` > 1: ``calib sweep`` of that many configurations (the grid of
     ``bench_replay.grid_for``; data cache warm) against one DuckDB process running one
     query per configuration. When the DuckDB queries would take more than
     ``--max-duckdb-minutes``, an evenly spaced ``--sample`` of them runs and the time is
     scaled up (the report says so).

   All runs are interleaved ``--repeat`` times (so background load on a shared machine
   hits all alike) and the best is reported, with CPU seconds and peak RSS of each
   child (from ``wait4``). Every DuckDB result is checked against calib's (MQL and SQL
   counts, hits / late / misses / immature per outcome); a difference prints
   ``MISMATCH`` and the script exits with status 1.

"First command" here means the first after the data were written: the files are in the
operating system's page cache and numba's compiled kernels are on disk (as after any
earlier run of calib); the data-set cache is empty.

Usage (from the repository root, with ``pip install -e '.[bench]'``)::

    python benchmarks/bench_commands.py --leads 200000 --data-dir /tmp/calib-bench
    python benchmarks/bench_commands.py --leads 1000000 --configs 1 --data-dir /tmp/calib-bench
"""

from __future__ import annotations

import argparse
import json
import math
import os
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


# ------------------------------------------------------------------ one world
def world(args, n_leads: int, env: dict) -> list[str]:
    import pyarrow.parquet as pq
    import tomli_w

    from calib.rules import load_rules

    root, _ = br.ensure_data(args.data_dir, n_leads, args.seed)
    data, truth = root / "data", root / "truth.toml"
    paths = br.parquet_paths(root)
    rows = br.count_rows(paths)
    rules = load_rules(truth)
    lead_types = {f.name: str(f.type) for f in pq.read_schema(paths["leads"])}
    lead_types = {k: {"string": "VARCHAR", "large_string": "VARCHAR", "int64": "BIGINT",
                      "int32": "INTEGER", "double": "DOUBLE", "float": "FLOAT",
                      "bool": "BOOLEAN"}.get(v, v) for k, v in lead_types.items()}
    duck_tmp = str(args.data_dir / "duckdb-tmp")
    os.makedirs(duck_tmp, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="calib-bench-", dir=args.data_dir))
    warm_cache = work / "cache-warm"
    calib = calib_cmd()
    replay = [*calib, "replay", str(data), "--rules", str(truth), "--json",
              "--window-days", f"{args.window_days:g}"]
    problems: list[str] = []

    log(f"world: {n_leads:,} leads, {rows['events']:,} events ({root})")
    run_measured(replay, dict(env, CALIB_CACHE_DIR=str(warm_cache)))  # writes the warm cache
    q = br.replay_sql(rules, paths, lead_types, args.window_days)
    jobs = [("DuckDB, one query (whole process)", duckdb_child([q], args.threads, duck_tmp, True),
             None),
            ("calib replay, first command (empty data cache)", replay, "cold"),
            ("calib replay, warm (data cache)", replay, str(warm_cache)),
            ("calib replay, warm, --no-cache", [*replay, "--no-cache"], str(warm_cache))]
    results: dict[str, list[dict]] = {name: [] for name, _, _ in jobs}
    for i in range(args.repeat):
        for name, cmd, cache in jobs:
            e = dict(env)
            if cache == "cold":
                cold = work / f"cache-cold-{i}"
                shutil.rmtree(cold, ignore_errors=True)
                e["CALIB_CACHE_DIR"] = str(cold)
            elif cache:
                e["CALIB_CACHE_DIR"] = cache
            load = os.getloadavg()[0]
            r = run_measured(cmd, e)
            log(f"  {name} run {i + 1}: {r['seconds']:.2f} s (CPU {r['cpu_seconds']:.1f} s), "
                f"peak RSS {r['peak_rss_gb']:.2f} GB, load average before {load:.1f}")
            r["load"] = load
            results[name].append(r)
    duck = [json.loads(r["stdout"].strip().splitlines()[-1]) for r in results[jobs[0][0]]]
    for name, _, _ in jobs[1:]:
        for r in results[name]:
            problems += br.compare_counts(f"{n_leads:,} leads, {name}",
                                          replay_counts(json.loads(r["stdout"])),
                                          duck[0]["results"][0])

    sweep_rows = None
    if args.configs > 1:
        grid = br.grid_for(args.configs)
        configs = br.configs_of(grid)
        grid_file = work / "grid.toml"
        grid_file.write_text(tomli_w.dumps(grid), encoding="utf-8")
        out = work / "sweep-rows.parquet"
        sweep = [*calib, "sweep", str(data), "--rules", str(truth), "--grid", str(grid_file),
                 "--window-days", f"{args.window_days:g}", "--out", str(out)]
        duck_one = min(r["seconds"] for r in results[jobs[0][0]])
        run_idx = list(range(len(configs)))
        if duck_one * len(configs) > args.max_duckdb_minutes * 60:
            step = len(configs) / args.sample
            run_idx = sorted({int(i * step) for i in range(args.sample)})
        queries = [br.replay_sql(rules.with_params(configs[i]), paths, lead_types,
                                 args.window_days) for i in run_idx]
        s_jobs = [("DuckDB, one query per configuration (one process)",
                   duckdb_child(queries, args.threads, duck_tmp, False)),
                  (f"calib sweep, {len(configs)} configurations, warm (data cache)", sweep)]
        s_res: dict[str, list[dict]] = {name: [] for name, _ in s_jobs}
        for i in range(args.repeat):
            for name, cmd in s_jobs:
                load = os.getloadavg()[0]
                r = run_measured(cmd, dict(env, CALIB_CACHE_DIR=str(warm_cache)))
                log(f"  {name} run {i + 1}: {r['seconds']:.2f} s (CPU {r['cpu_seconds']:.1f} s), "
                    f"load average before {load:.1f}")
                r["load"] = load
                s_res[name].append(r)
        calib_rows = sweep_counts(out, grid)
        dres = json.loads(s_res[s_jobs[0][0]][0]["stdout"].strip().splitlines()[-1])["results"]
        for i, res in zip(run_idx, dres):
            key = tuple(float(configs[i][p]) for p in grid)
            problems += br.compare_counts(f"sweep {configs[i]}", calib_rows[key], res)
        scale = len(configs) / len(run_idx)
        sweep_rows = (s_jobs, s_res, scale, len(run_idx), len(configs))

    # ------------------------------------------------------------ report
    print(f"## {n_leads:,} leads ({rows['events']:,} events, Parquet)\n")
    d_best = min(r["seconds"] for r in results[jobs[0][0]])
    print("| whole process | best s | CPU s | peak RSS GB | DuckDB s / calib s | all runs (s) |")
    print("|---|---:|---:|---:|---:|---|")
    for name, _, _ in jobs:
        rs = results[name]
        b = min(rs, key=lambda r: r["seconds"])
        ratio = "-" if name.startswith("DuckDB") else f"{d_best / b['seconds']:.2f}"
        print(f"| {name} | {fmt(b['seconds'])} | {b['cpu_seconds']:.1f} | "
              f"{max(r['peak_rss_gb'] for r in rs):.2f} | {ratio} | "
              f"{', '.join(fmt(r['seconds']) for r in rs)} |")
    if sweep_rows:
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
    loads = [r["load"] for rs in results.values() for r in rs]
    print(f"\n1-minute load average before the runs: {min(loads):.1f} to {max(loads):.1f} "
          f"(2 cores; above ~0.5 other work competed).\n")
    rows_ = importtime(replay, dict(env, CALIB_CACHE_DIR=str(warm_cache)))
    print("`calib replay` (warm), slowest top-level imports (cumulative s): "
          + ", ".join(f"{n} {s:.3f}" for n, s in rows_) + "\n")
    shutil.rmtree(work, ignore_errors=True)
    return problems


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
    args = ap.parse_args(argv)
    args.data_dir = args.data_dir.resolve()
    args.data_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.pop("CALIB_NO_CACHE", None)
    env.setdefault("CALIB_CACHE_DIR", str(args.data_dir / "calib-cache"))

    for k, v in br.environment().items():
        print(f"- {k}: {v}")
    print()
    startup(args, env)
    problems: list[str] = []
    for n in args.leads:
        problems += world(args, n, env)
    for p in problems:
        print(p)
    if problems:
        return 1
    print("All results checked: every DuckDB result equals calib's.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
