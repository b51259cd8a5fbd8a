"""Benchmark: calib's replay engine against the same replay written as DuckDB SQL.

What it does
------------
1. Generates (once, cached in ``--data-dir/leads-N/``) a demo world of N leads as
   Parquet with :func:`calib.demo.generate_demo` (seed 1), in a subprocess whose time
   and peak memory are reported.
2. Takes the demo's ``truth.toml`` (exponential decay, fit rules, 12 behaviour rules,
   MQL and SQL cutoffs) as the base rule set and translates it into one DuckDB SQL
   query that implements SPEC section 3 for it (see :func:`replay_sql`): fit points per
   lead; per behaviour rule the events it counts, thinned by ``max_per_day`` (first N
   per lead per UTC day); evaluation times = ``created_at`` and each distinct event time
   at or after it (an event dropped by ``max_per_day`` from every rule that counts it is
   not one; an event no rule counts is); at each evaluation time the exponentially
   decayed sum of each rule (a window SUM of a per-lead anchored weight
   ``2^((t_i - c)/h)`` times ``2^(-(t - c)/h)``, RANGE framing so that events sharing a
   timestamp apply together), capped, plus fit, clamped to ``[limits]``; the MQL (SQL)
   time is the first evaluation time with ``score >= cutoff - 1e-9`` (and
   ``fit >= mql_min_fit - 1e-9``); then per outcome X (first occurrence ``o``) each MQL
   is late (``o < m``), a hit (``m <= o <= m + W``), immature (otherwise, when
   ``m + W`` is after the end of the data) or a miss. Uncapped rules are folded into
   one decayed sum (their points multiply the weight inside the SUM), which is
   mathematically identical and the fastest formulation for SQL.
3. Measures, each in a fresh subprocess (peak RSS = ``ru_maxrss`` of the child):

   (a) one replay end to end from Parquet: calib ``load_dataset`` + ``replay`` versus
       one DuckDB query on a fresh connection (``threads = 2``);
   (b) a sweep of ``--configs`` configurations (default 100 = 5 MQL cutoffs x 5
       half-lives x 4 values of ``behavior.pricing_page_view.points``): calib
       ``load_dataset`` + ``sweep`` versus one DuckDB query per configuration (all read
       Parquet). When the DuckDB queries would take more than ``--max-duckdb-minutes``
       (estimated from the single replay), only ``--sample`` of them are run and the
       total is extrapolated; the output says so.

   Every timing is run ``--repeat`` times (default 2) and the best is reported.
4. Checks that every DuckDB configuration gives calib's MQL count, SQL count and, for
   every outcome, hits / late / misses / immature; prints ``MISMATCH`` lines and exits
   with status 1 otherwise.
5. Prints environment facts and a Markdown table.

Usage (from the repository root, with ``pip install -e '.[bench]'``)::

    python benchmarks/bench_replay.py --leads 200000
    python benchmarks/bench_replay.py --leads 1000000
    python benchmarks/bench_replay.py --leads 5000000 --skip-duckdb --configs 1

calib's numba kernels are compiled on first use and cached; the script warms the
cache on a tiny data set first so that no timing includes compilation.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = REPO / "bench-data"
TABLES = ("leads", "events", "outcomes", "assignments")
TOL = 1e-9
DAY_US = 86_400 * 1_000_000
SWEEP_RULE = "pricing_page_view"   # the behaviour rule whose points the sweep varies
MQL_VALUES = [30, 35, 41, 45, 50]  # all below truth.toml's sql cutoff (56)
HALF_LIVES = [7.0, 10.0, 14.0, 21.0, 30.0]
POINT_VALUES = [5, 9, 15, 20, 25, 30, 35, 40]


# ------------------------------------------------------------------ utilities
def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def peak_rss_gb() -> float:
    """Peak resident set size of this process in GB (ru_maxrss is KiB on Linux)."""
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if sys.platform == "darwin":  # bytes there
        kb /= 1024
    return kb * 1024 / 1e9


def cpu_seconds() -> float:
    """User + system CPU seconds of this process so far (all threads)."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def time_v(cmd: list[str], **kw) -> tuple[subprocess.CompletedProcess, dict]:
    """Run ``cmd`` under ``/usr/bin/time -v`` when available; returns the process and
    {"seconds", "peak_rss_gb"} (``None`` values when GNU time is missing)."""
    gnu = shutil.which("time") or "/usr/bin/time"
    facts = {"seconds": None, "peak_rss_gb": None}
    if os.path.exists(gnu):
        with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
            t0 = time.perf_counter()
            proc = subprocess.run([gnu, "-v", "-o", tf.name, *cmd], **kw)
            facts["seconds"] = time.perf_counter() - t0
            for line in tf.read().splitlines():
                if "Maximum resident set size" in line:
                    facts["peak_rss_gb"] = int(line.split(":")[-1]) * 1024 / 1e9
        return proc, facts
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, **kw)
    facts["seconds"] = time.perf_counter() - t0
    return proc, facts


def environment() -> dict:
    import duckdb
    import numba
    import numpy
    import pandas
    import pyarrow

    mem = "?"
    try:
        with open("/proc/meminfo") as f:
            kb = int(next(ln for ln in f if ln.startswith("MemTotal")).split()[1])
        mem = f"{kb / 2**20:.1f} GiB"
    except (OSError, StopIteration):
        pass
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(ln for ln in f if ln.startswith("model name")).split(":", 1)[1].strip()
    except (OSError, StopIteration):
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    commit = "?"
    try:
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--", "calib"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        commit = (head + (" + uncommitted changes under calib/" if dirty else "")) or "?"
    except (OSError, subprocess.SubprocessError):
        pass
    return {"calib": commit, "python": platform.python_version(), "numpy": numpy.__version__,
            "pandas": pandas.__version__, "pyarrow": pyarrow.__version__,
            "numba": numba.__version__, "duckdb": duckdb.__version__,
            "cores": cores, "cpu": cpu, "memory": mem, "os": platform.platform()}


# ------------------------------------------------------------------ data
def ensure_data(data_dir: Path, n_leads: int, seed: int) -> tuple[Path, dict | None]:
    """The cached demo world of ``n_leads`` leads (generated in a subprocess)."""
    root = data_dir / f"leads-{n_leads}"
    done = root / ".complete"
    if done.exists():
        return root, json.loads(done.read_text() or "null")
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    log(f"generating a demo world of {n_leads:,} leads in {root} ...")
    code = ("import sys; from calib.demo import generate_demo; "
            "generate_demo(sys.argv[1], n_leads=int(sys.argv[2]), seed=int(sys.argv[3]), "
            "fmt='parquet')")
    proc, facts = time_v([sys.executable, "-c", code, str(root), str(n_leads), str(seed)])
    if proc.returncode != 0:
        sys.exit(f"generating the demo world failed (exit {proc.returncode})")
    done.write_text(json.dumps(facts))
    return root, facts


def parquet_paths(root: Path) -> dict[str, str]:
    return {t: str(root / "data" / f"{t}.parquet") for t in TABLES}


def count_rows(paths: dict) -> dict[str, int]:
    import pyarrow.parquet as pq

    return {t: pq.read_metadata(p).num_rows for t, p in paths.items() if os.path.exists(p)}


# ------------------------------------------------------------------ the SQL
def _q(value) -> str:
    """A SQL literal."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        return repr(float(value)) if isinstance(value, float) else str(value)
    return "'" + str(value).replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _fit_condition(rule, col_type: str) -> str:
    """SQL for calib's fit-rule semantics (calib.engine.prepare.fit_matches)."""
    col = _ident(rule.field)
    t = col_type.upper()
    is_text = t in ("VARCHAR", "STRING", "TEXT") or t.startswith("VARCHAR")
    is_bool = t == "BOOLEAN"
    is_float = t in ("DOUBLE", "FLOAT", "REAL") or t.startswith("DECIMAL")
    missing = f"({col} IS NULL"
    if is_text:
        missing += f" OR trim({col}) = ''"
    if is_float:
        missing += f" OR isnan({col})"
    missing += ")"
    conds = []

    def equal_to(values) -> str:
        if is_bool:
            vals = [v for v in values if isinstance(v, bool)]
        elif is_text:
            vals = [str(v).lower() if isinstance(v, bool) else str(v) for v in values]
        else:
            vals = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if not vals:
            return "FALSE"
        return f"{col} IN ({', '.join(_q(v) for v in vals)})"

    if rule.in_ is not None:
        conds.append(equal_to(rule.in_))
    if rule.equals is not None:
        conds.append(equal_to([rule.equals]))
    if rule.min is not None or rule.max is not None:
        num = f"TRY_CAST({col} AS DOUBLE)"
        if rule.min is not None:
            conds.append(f"{num} >= {_q(float(rule.min))}")
        if rule.max is not None:
            conds.append(f"{num} <= {_q(float(rule.max))}")
        conds.append(f"{num} IS NOT NULL AND NOT isnan({num})")
    if rule.missing is True:
        conds.append(missing)
    else:
        conds.append(f"NOT {missing}")
    return "COALESCE(" + " AND ".join(f"({c})" for c in conds) + ", FALSE)"


def replay_sql(rules, paths: dict, lead_types: dict, window_days: float = 90,
               tol: float = TOL) -> str:
    """One DuckDB query replaying ``rules`` (a calib RuleSet) over the Parquet tables.

    Returns one row per outcome name: outcome, hits, late, misses, immature, plus the
    MQL and SQL counts (repeated on every row).
    """
    kind = rules.decay.kind
    if kind not in ("exponential", "none"):
        raise NotImplementedError(f"the SQL replay covers decay kinds exponential and none, "
                                  f"not {kind!r}")
    h_us = float(rules.decay.half_life_days) * DAY_US if kind == "exponential" else None
    L, E, O, A = (f"read_parquet({_q(paths[t])})" for t in TABLES)  # noqa: E741 (the tables' initials, as in the SQL)

    fit_terms = [f"CASE WHEN {_fit_condition(r, lead_types[r.field])} THEN {_q(float(r.points))} "
                 "ELSE 0.0 END" for r in rules.fit if r.field in lead_types]
    missing_fields = [r.field for r in rules.fit if r.field not in lead_types]
    if missing_fields:
        raise ValueError(f"fit rules on columns the leads table lacks: {missing_fields}")
    fit_expr = " + ".join(fit_terms) if fit_terms else "0.0"

    # per behaviour rule: matched flag, kept flag (after max_per_day)
    matched, kept, windows = [], [], []
    for i, r in enumerate(rules.behavior):
        m = f"(event_type IN ({', '.join(_q(e) for e in r.events)}))"
        matched.append(m)
        if r.max_per_day is not None:
            windows.append(f"{m} AND row_number() OVER (PARTITION BY lead_id, t // {DAY_US}, {m} "
                           f"ORDER BY t) <= {int(r.max_per_day)} AS k{i}")
        else:
            windows.append(f"{m} AS k{i}")
        kept.append(f"k{i}")
    any_matched = " OR ".join(matched) if matched else "FALSE"
    any_kept = " OR ".join(kept) if kept else "FALSE"
    uncapped = [(i, r) for i, r in enumerate(rules.behavior) if r.cap is None]
    capped = [(i, r) for i, r in enumerate(rules.behavior) if r.cap is not None]
    u_expr = " + ".join(f"CASE WHEN k{i} THEN {_q(float(r.points))} ELSE 0.0 END"
                        for i, r in uncapped) or "0.0"
    cap_cols = [f"CASE WHEN k{i} THEN 1.0 ELSE 0.0 END AS c{i}" for i, _ in capped]
    weight = f"power(2.0, (t - c) / {_q(h_us)})" if h_us else "1.0"
    back = f"power(2.0, -(t - c) / {_q(h_us)})" if h_us else "1.0"
    sums = [f"SUM(u * {weight}) OVER w AS su"] + \
        [f"SUM(c{i} * {weight}) OVER w AS s{i}" for i, _ in capped]
    score = f"fit + su * {back}"
    for i, r in capped:
        cap = _q(float(r.cap))
        score += f" + least(greatest({_q(float(r.points))} * s{i} * {back}, -{cap}), {cap})"
    lim = rules.limits
    if lim.max is not None:
        score = f"least({score}, {_q(float(lim.max))})"
    if lim.min is not None:
        score = f"greatest({score}, {_q(float(lim.min))})"
    th = rules.thresholds
    fit_ok = f" AND fit >= {_q(float(th.mql_min_fit) - tol)}" if th.mql_min_fit is not None else ""
    mql_cut = _q(float(th.mql) - tol)
    sql_col = (f"min(t) FILTER (WHERE score >= {_q(float(th.sql) - tol)}{fit_ok})"
               if th.sql is not None else "NULL::BIGINT")
    w_us = int(round(window_days * DAY_US))
    zero_caps = "".join(f", 0.0 AS c{i}" for i, _ in capped)
    cap_sel = "".join(f", c{i}" for i, _ in capped)
    ends = [f"(SELECT max(epoch_us(created_at)) FROM {L})",
            f"(SELECT max(epoch_us(occurred_at)) FROM {E})",
            f"(SELECT max(epoch_us(occurred_at)) FROM {O})"]
    if os.path.exists(paths["assignments"]):
        ends.append(f"(SELECT max(epoch_us(assigned_at)) FROM {A})")
    return f"""
WITH leads AS (
    SELECT lead_id, epoch_us(created_at) AS c, {fit_expr} AS fit FROM {L}
), ev AS (
    SELECT lead_id, epoch_us(occurred_at) AS t, event_type FROM {E}
), flagged AS (
    SELECT lead_id, t, {any_matched} AS matched_any, {', '.join(windows) or 'NULL AS k_'} FROM ev
), ev_rows AS (
    SELECT f.lead_id, f.t, l.c, l.fit, {u_expr} AS u{''.join(', ' + c for c in cap_cols)},
           (({any_kept}) OR NOT matched_any) AND f.t >= l.c AS is_eval
    FROM flagged f JOIN leads l ON f.lead_id = l.lead_id
    WHERE ({any_kept}) OR (NOT matched_any AND f.t >= l.c)
), all_rows AS (
    SELECT lead_id, t, c, fit, u{cap_sel}, is_eval FROM ev_rows
    UNION ALL
    SELECT lead_id, c AS t, c, fit, 0.0 AS u{zero_caps}, TRUE AS is_eval FROM leads
), summed AS (
    SELECT lead_id, t, c, fit, is_eval, {', '.join(sums)}
    FROM all_rows
    WINDOW w AS (PARTITION BY lead_id ORDER BY t RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
), scored AS (
    SELECT lead_id, t, fit, {score} AS score FROM summed WHERE is_eval
), stage AS (
    SELECT lead_id,
           min(t) FILTER (WHERE score >= {mql_cut}{fit_ok}) AS m,
           {sql_col} AS s
    FROM scored GROUP BY lead_id
), mqls AS (
    SELECT lead_id, m FROM stage WHERE m IS NOT NULL
), first_out AS (
    SELECT lead_id, lower(trim(outcome)) AS x, min(epoch_us(occurred_at)) AS o
    FROM {O} GROUP BY ALL
), names AS (
    SELECT DISTINCT x FROM first_out
), eod AS (
    SELECT greatest({', '.join(ends)}) AS e
), status AS (
    SELECT n.x,
           CASE WHEN fo.o < q.m THEN 'late'
                WHEN fo.o - q.m <= {w_us} THEN 'hit'
                WHEN q.m > (SELECT e FROM eod) - {w_us} THEN 'immature'
                ELSE 'miss' END AS st
    FROM mqls q CROSS JOIN names n
    LEFT JOIN first_out fo ON fo.lead_id = q.lead_id AND fo.x = n.x
)
SELECT x AS outcome,
       count(*) FILTER (WHERE st = 'hit') AS hits,
       count(*) FILTER (WHERE st = 'late') AS late,
       count(*) FILTER (WHERE st = 'miss') AS misses,
       count(*) FILTER (WHERE st = 'immature') AS immature,
       (SELECT count(*) FROM mqls) AS mql_count,
       (SELECT count(s) FROM stage) AS sql_count
FROM status GROUP BY x ORDER BY x
"""


def rows_to_counts(rows) -> dict:
    """DuckDB result rows -> {"mql_count", "sql_count", "outcomes": {x: {...}}}."""
    out = {"mql_count": 0, "sql_count": 0, "outcomes": {}}
    for x, hits, late, misses, immature, mql_count, sql_count in rows:
        out["mql_count"], out["sql_count"] = int(mql_count), int(sql_count)
        out["outcomes"][x] = {"hits": int(hits), "late": int(late), "misses": int(misses),
                              "immature": int(immature)}
    return out


# ------------------------------------------------------------------ the grid
def grid_for(n_configs: int) -> dict:
    """A grid of ``n_configs`` combinations: MQL cutoffs x half-lives x points of
    ``behavior.SWEEP_RULE.points`` (5 x 5 x 4 for 100)."""
    a = max(d for d in range(1, 6) if n_configs % d == 0)
    b = max(d for d in range(1, 6) if (n_configs // a) % d == 0)
    c = n_configs // (a * b)
    points = POINT_VALUES[:c] if c <= len(POINT_VALUES) else [5 + 5 * k for k in range(c)]
    return {"thresholds.mql": MQL_VALUES[:a], "decay.half_life_days": HALF_LIVES[:b],
            f"behavior.{SWEEP_RULE}.points": points}


def configs_of(grid: dict) -> list[dict]:
    return [dict(zip(grid, combo)) for combo in itertools.product(*grid.values())]


# ------------------------------------------------------------------ children
def child_calib_replay(spec: dict) -> dict:
    from calib.data import load_dataset
    from calib.engine import replay
    from calib.rules import load_rules

    rules = load_rules(spec["rules"])
    cpu0 = cpu_seconds()
    t0 = time.perf_counter()
    ds = load_dataset(spec["data"], cache=False)  # the engine from the files, as before
    t1 = time.perf_counter()
    res = replay(ds, rules, window_days=spec["window_days"])
    t2 = time.perf_counter()
    cpu = cpu_seconds() - cpu0
    d = res.to_dict()
    return {"seconds": t2 - t0, "cpu_seconds": cpu, "load_seconds": t1 - t0, "replay_seconds": t2 - t1,
            "events": len(ds.events), "leads": ds.n_leads,
            "counts": {"mql_count": d["mql"]["count"],
                       "sql_count": d["sql"]["count"] if d["sql"] else 0,
                       "outcomes": {x: {k: o[k] for k in ("hits", "late", "misses", "immature")}
                                    for x, o in d["outcomes"].items()}},
            "peak_rss_gb": peak_rss_gb()}


def child_calib_sweep(spec: dict) -> dict:
    from calib.data import load_dataset
    from calib.engine.sweep import sweep
    from calib.rules import load_rules

    rules = load_rules(spec["rules"])
    cpu0 = cpu_seconds()
    t0 = time.perf_counter()
    ds = load_dataset(spec["data"], cache=False)  # the engine from the files, as before
    t1 = time.perf_counter()
    res = sweep(ds, rules, spec["grid"], window_days=spec["window_days"], progress=False)
    t2 = time.perf_counter()
    cpu = cpu_seconds() - cpu0
    f = res.frame
    rows = []
    for rec in f.to_dict("records"):
        sql_count = rec.get("sql_count")
        counts = {"mql_count": int(rec["mql_count"]),
                  "sql_count": int(sql_count) if sql_count is not None and sql_count == sql_count else 0,
                  "outcomes": {x: {k: int(rec[f"{x}_{k}"]) for k in ("hits", "late", "misses", "immature")}
                               for x in res.outcomes}}
        rows.append({"params": [float(rec[p]) for p in spec["grid"]], "counts": counts})
    return {"seconds": t2 - t0, "cpu_seconds": cpu, "load_seconds": t1 - t0,
            "sweep_seconds": t2 - t1,
            "configs": len(f), "skipped": res.skipped, "rows": rows,
            "peak_rss_gb": peak_rss_gb()}


def child_duckdb(spec: dict) -> dict:
    import duckdb

    results, seconds = [], []
    cpu0 = cpu_seconds()
    t_all = time.perf_counter()
    con = None
    for q in spec["queries"]:
        t0 = time.perf_counter()
        if con is None or spec.get("fresh_connection"):
            if con is not None:
                con.close()
            con = duckdb.connect()
            con.execute(f"SET threads = {int(spec['threads'])}")
            con.execute("SET preserve_insertion_order = false")
            con.execute(f"SET temp_directory = {_q(spec['temp_directory'])}")
        rows = con.execute(q).fetchall()
        seconds.append(time.perf_counter() - t0)
        results.append(rows_to_counts(rows))
    total = time.perf_counter() - t_all
    cpu = cpu_seconds() - cpu0
    threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
    con.close()
    return {"seconds": total, "cpu_seconds": cpu, "query_seconds": seconds, "results": results,
            "threads": int(threads), "peak_rss_gb": peak_rss_gb()}


CHILDREN = {"calib-replay": child_calib_replay, "calib-sweep": child_calib_sweep,
            "duckdb": child_duckdb}


def run_child(kind: str, spec: dict) -> dict:
    """Run one measurement in a fresh interpreter; returns its JSON result."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(spec, f)
        spec_path = f.name
    try:
        proc = subprocess.run([sys.executable, __file__, "--child", kind, spec_path],
                              stdout=subprocess.PIPE, text=True)
    finally:
        os.unlink(spec_path)
    if proc.returncode != 0:
        sys.exit(f"the {kind} measurement failed (exit {proc.returncode})")
    return json.loads(proc.stdout.strip().splitlines()[-1])


LOADAVG: list[float] = []


def interleaved(jobs: list[tuple[str, str, dict]], repeat: int) -> dict:
    """Run each (name, kind, spec) job ``repeat`` times, alternating between the jobs so
    that background load on a shared machine hits all of them alike. Returns, per name,
    the best run (by wall-clock seconds) with the highest peak RSS of all runs, and
    the list of all runs' seconds."""
    runs: dict[str, list] = {name: [] for name, _, _ in jobs}
    for i in range(repeat):
        for name, kind, spec in jobs:
            load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
            LOADAVG.append(load)
            r = run_child(kind, spec)
            log(f"  {name} run {i + 1}/{repeat}: {r['seconds']:.2f} s (CPU {r['cpu_seconds']:.1f} s), "
                f"peak RSS {r['peak_rss_gb']:.2f} GB, load average before {load:.1f}")
            runs[name].append(r)
    out = {}
    for name, rs in runs.items():
        best = min(rs, key=lambda r: r["seconds"])
        out[name] = (dict(best, peak_rss_gb=max(r["peak_rss_gb"] for r in rs)),
                     [r["seconds"] for r in rs])
    return out


# ------------------------------------------------------------------ checks
def compare_counts(label: str, calib_counts: dict, duck_counts: dict) -> list[str]:
    problems = []
    for key in ("mql_count", "sql_count"):
        if calib_counts[key] != duck_counts[key]:
            problems.append(f"MISMATCH {label}: {key} calib={calib_counts[key]} "
                            f"duckdb={duck_counts[key]}")
    for x in sorted(set(calib_counts["outcomes"]) | set(duck_counts["outcomes"])):
        c = calib_counts["outcomes"].get(x)
        d = duck_counts["outcomes"].get(x)
        if c != d:
            problems.append(f"MISMATCH {label}: outcome {x} calib={c} duckdb={d}")
    return problems


# ------------------------------------------------------------------ main
def fmt_s(x) -> str:
    return "-" if x is None else (f"{x:,.1f}" if x >= 100 else f"{x:.2f}")


def fmt_rate(x) -> str:
    if x is None:
        return "-"
    if x >= 1e6:
        return f"{x / 1e6:.2f}M"
    if x >= 1e3:
        return f"{x / 1e3:.1f}k"
    return f"{x:.2f}" if x < 10 else f"{x:.0f}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--leads", type=int, help="number of demo leads (required)")
    ap.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR,
                    help="cache of generated worlds (default: <repo>/bench-data)")
    ap.add_argument("--configs", type=int, default=100,
                    help="sweep size (default 100 = 5 x 5 x 4); 1 skips the sweep")
    ap.add_argument("--skip-duckdb", action="store_true", help="measure calib only")
    ap.add_argument("--repeat", type=int, default=2, help="runs per timing; the best counts")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--window-days", type=float, default=90)
    ap.add_argument("--threads", type=int, default=2, help="DuckDB threads (default 2)")
    ap.add_argument("--max-duckdb-minutes", type=float, default=30,
                    help="above this estimated time, run a sample of the DuckDB sweep queries")
    ap.add_argument("--sample", type=int, default=10, help="DuckDB queries run when sampling")
    ap.add_argument("--child", nargs=2, metavar=("KIND", "SPEC"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.child:
        kind, spec_path = args.child
        with open(spec_path) as f:
            spec = json.load(f)
        print(json.dumps(CHILDREN[kind](spec)))
        return 0
    if not args.leads or args.leads < 100:
        ap.error("--leads N (at least 100) is required")

    from calib.rules import load_rules
    import pyarrow.parquet as pq

    env = environment()
    root, gen = ensure_data(args.data_dir, args.leads, args.seed)
    paths = parquet_paths(root)
    rows = count_rows(paths)
    n_events, n_leads = rows["events"], rows["leads"]
    truth = root / "truth.toml"
    rules = load_rules(truth)
    lead_types = {f.name: str(f.type) for f in pq.read_schema(paths["leads"])}
    lead_types = {k: {"string": "VARCHAR", "large_string": "VARCHAR", "int64": "BIGINT",
                      "int32": "INTEGER", "double": "DOUBLE", "float": "FLOAT",
                      "bool": "BOOLEAN"}.get(v, v) for k, v in lead_types.items()}
    duck_tmp = str(args.data_dir / "duckdb-tmp")
    os.makedirs(duck_tmp, exist_ok=True)

    # warm numba's on-disk cache so that no timing includes compilation
    warm_root, _ = ensure_data(args.data_dir, 2000, args.seed)
    run_child("calib-replay", {"data": str(warm_root / "data"), "rules": str(warm_root / "truth.toml"),
                               "window_days": args.window_days})

    problems: list[str] = []
    log(f"world: {n_leads:,} leads, {n_events:,} events ({root})")

    # (a) one replay end to end
    jobs = [("calib replay", "calib-replay", {"data": str(root / "data"), "rules": str(truth),
                                              "window_days": args.window_days})]
    if not args.skip_duckdb:
        q = replay_sql(rules, paths, lead_types, args.window_days)
        jobs.append(("DuckDB replay", "duckdb", {"queries": [q], "threads": args.threads,
                                                 "temp_directory": duck_tmp,
                                                 "fresh_connection": True}))
    log("(a) one replay: calib load_dataset + replay"
        + ("" if args.skip_duckdb else " vs one DuckDB query (fresh connection)"))
    res_a = interleaved(jobs, args.repeat)
    c1, c1_all = res_a["calib replay"]
    d1 = None
    if not args.skip_duckdb:
        d1, d1_all = res_a["DuckDB replay"]
        problems += compare_counts("one replay (truth.toml)", c1["counts"], d1["results"][0])

    # (b) the sweep
    cs = ds_ = None
    grid = None
    sampled = None
    if args.configs > 1:
        grid = grid_for(args.configs)
        configs = configs_of(grid)
        jobs = [("calib sweep", "calib-sweep", {"data": str(root / "data"), "rules": str(truth),
                                                "grid": grid, "window_days": args.window_days})]
        if not args.skip_duckdb:
            queries = [replay_sql(rules.with_params(p), paths, lead_types, args.window_days)
                       for p in configs]
            estimate = d1["seconds"] * len(queries)
            run_idx = list(range(len(queries)))
            if estimate > args.max_duckdb_minutes * 60:
                step = len(queries) / args.sample
                run_idx = sorted({int(i * step) for i in range(args.sample)})
                sampled = (len(run_idx), len(queries), estimate)
                log(f"(b) DuckDB: {len(queries)} queries would take ~{estimate / 60:.0f} min; "
                    f"running a sample of {len(run_idx)} and extrapolating")
            jobs.append(("DuckDB sweep", "duckdb", {"queries": [queries[i] for i in run_idx],
                                                    "threads": args.threads,
                                                    "temp_directory": duck_tmp}))
        log(f"(b) sweep of {len(configs)} configurations: calib load_dataset + sweep"
            + ("" if args.skip_duckdb else " vs one DuckDB query per configuration (one connection)"))
        res_b = interleaved(jobs, args.repeat)
        cs, cs_all = res_b["calib sweep"]
        calib_rows = {tuple(r["params"]): r["counts"] for r in cs["rows"]}
        if not args.skip_duckdb:
            ds_, ds_all = res_b["DuckDB sweep"]
            for i, res in zip(run_idx, ds_["results"]):
                key = tuple(float(configs[i][p]) for p in grid)
                if key not in calib_rows:
                    problems.append(f"MISMATCH sweep: calib has no row for {configs[i]}")
                    continue
                problems += compare_counts(f"sweep {configs[i]}", calib_rows[key], res)
            if sampled:
                scale = len(queries) / len(run_idx)
                ds_["measured_seconds"] = ds_["seconds"]
                ds_["seconds"] = ds_["seconds"] * scale
                ds_["cpu_seconds"] = ds_["cpu_seconds"] * scale

    # ------------------------------------------------------------ report
    print("## Environment\n")
    for k, v in env.items():
        print(f"- {k}: {v}")
    print(f"- DuckDB threads: {d1['threads'] if d1 else args.threads} "
          f"(calib's kernels run on one core)")
    print(f"- repeats per timing: {args.repeat}, calib and DuckDB runs interleaved (best "
          f"wall-clock time reported; peak RSS is the max over runs)")
    if LOADAVG:
        print(f"- 1-minute load average before the runs: {min(LOADAVG):.1f} to {max(LOADAVG):.1f} "
              f"(the machine is shared: values above ~0.5 mean other work competed for the 2 cores)")
    if gen and gen.get("seconds"):
        print(f"- generating the world: {gen['seconds']:.0f} s, peak RSS "
              f"{gen['peak_rss_gb'] or 0:.2f} GB (generate_demo, Parquet)")
    print(f"- data: {n_leads:,} leads, {n_events:,} events, {rows.get('outcomes', 0):,} outcome "
          f"rows; rule set truth.toml ({len(rules.fit)} fit rules, {len(rules.behavior)} "
          f"behaviour rules, exponential decay {rules.decay.half_life_days:g} d, "
          f"mql {rules.thresholds.mql:g}, sql {rules.thresholds.sql})")
    if grid:
        print("- sweep grid: " + ", ".join(f"{k} = {v}" for k, v in grid.items()))
    print()
    print("| measurement | events | leads | calib s | DuckDB s | DuckDB s / calib s | "
          "events/s calib | events/s DuckDB | configs/s calib | configs/s DuckDB | "
          "peak RSS calib (GB) | peak RSS DuckDB (GB) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")

    def row(name, c, d, n_cfg):
        cs_ = c["seconds"]
        dsec = d["seconds"] if d else None
        ratio = f"{dsec / cs_:.2f}" if dsec else "-"
        print(f"| {name} | {n_events:,} | {n_leads:,} | {fmt_s(cs_)} | {fmt_s(dsec)}"
              f"{' (extrapolated)' if d and 'measured_seconds' in d else ''} | {ratio} | "
              f"{fmt_rate(n_events * n_cfg / cs_)} | "
              f"{fmt_rate(n_events * n_cfg / dsec) if dsec else '-'} | "
              f"{fmt_rate(n_cfg / cs_)} | {fmt_rate(n_cfg / dsec) if dsec else '-'} | "
              f"{c['peak_rss_gb']:.2f} | {d['peak_rss_gb']:.2f} |" if d else
              f"| {name} | {n_events:,} | {n_leads:,} | {fmt_s(cs_)} | - | - | "
              f"{fmt_rate(n_events * n_cfg / cs_)} | - | {fmt_rate(n_cfg / cs_)} | - | "
              f"{c['peak_rss_gb']:.2f} | - |")

    row("one replay (load + replay)", c1, d1, 1)
    if cs:
        row(f"{cs['configs']}-config sweep (load + sweep)", cs, ds_, cs["configs"])
    print()
    runs = lambda xs: ", ".join(f"{x:.2f}" for x in xs)  # noqa: E731
    print(f"- calib one replay: load_dataset {c1['load_seconds']:.2f} s + replay "
          f"{c1['replay_seconds']:.2f} s; CPU {c1['cpu_seconds']:.1f} s (all runs: {runs(c1_all)} s)")
    if d1:
        print(f"- DuckDB one replay: CPU {d1['cpu_seconds']:.1f} s (all runs: {runs(d1_all)} s)")
    if cs:
        print(f"- calib sweep: load_dataset {cs['load_seconds']:.2f} s + sweep "
              f"{cs['sweep_seconds']:.2f} s; CPU {cs['cpu_seconds']:.1f} s (all runs: {runs(cs_all)} s)")
    if ds_:
        qs = ds_["query_seconds"]
        print(f"- DuckDB sweep: {len(qs)} queries, {min(qs):.2f}-{max(qs):.2f} s each; CPU "
              f"{ds_['cpu_seconds']:.1f} s (all runs: {runs(ds_all)} s)")
        if sampled:
            print(f"NOTE: the DuckDB sweep is EXTRAPOLATED: {sampled[0]} of {sampled[1]} queries "
                  f"were run ({ds_['measured_seconds']:.1f} s) because all {sampled[1]} were "
                  f"estimated at ~{sampled[2] / 60:.0f} min (> {args.max_duckdb_minutes:g} min).")
    if d1 or ds_:
        print(f"\nTargets (set for 1M leads / ~20M events): one replay calib <= DuckDB: "
              f"{'met' if d1 and c1['seconds'] <= d1['seconds'] else 'NOT met' if d1 else '-'}"
              + (f"; sweep >= 20x faster: {'met' if ds_['seconds'] / cs['seconds'] >= 20 else 'NOT met'} "
                 f"({ds_['seconds'] / cs['seconds']:.1f}x)" if ds_ else ""))
    print(f"calib peak RSS of one replay: {c1['peak_rss_gb']:.2f} GB")
    if not args.skip_duckdb:
        n_checked = 1 + (len(ds_["results"]) if ds_ else 0)
        if problems:
            print()
            for p in problems:
                print(p)
            print(f"\n{len(problems)} MISMATCH(ES) between calib and DuckDB")
            return 1
        print(f"\nCheck: all {n_checked} DuckDB configurations equal calib's MQL count, SQL count "
              f"and hits/late/misses/immature of every outcome.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
