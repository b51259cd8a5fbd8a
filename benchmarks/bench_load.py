"""Benchmark: generating a demo data set and loading it, against pyarrow's bare read.

What it measures, for ``--leads N`` and each ``--format`` (Parquet and CSV by default):

1. ``calib demo --out DIR --leads N --format F --seed S --force --no-run`` (the CLI,
   writing the data set only), in a subprocess under ``/usr/bin/time -v``: wall-clock
   seconds and peak RSS. With ``--full-demo`` also the plain ``calib demo`` command,
   which after writing the data runs the demo's experiment end to end into a report.
   ``--reuse`` skips the generation when the folder already holds a data set.
2. In fresh subprocesses, one after the other in each round (so that a busy machine
   slows all three alike):

   - **bare read**: pyarrow reads the same table files and nothing else
     (``pyarrow.parquet.read_table`` / ``pyarrow.csv.read_csv`` with default options):
     the baseline;
   - **first load**: ``calib.data.load_dataset(DIR/data, cache=False)``: reading,
     validating and encoding, as the first command on new data pays it;
   - **cached load**: ``load_dataset(DIR/data)`` from calib's data cache (written by a
     load before the timed ones, in a private cache folder under ``--data-dir``): what
     every later command on unchanged data pays.

   Each reports seconds (imports not timed), events per second, CPU seconds (all
   threads; less sensitive than wall time to other work on the machine), peak RSS
   (``ru_maxrss`` at the end of the child) and, for calib, the in-memory size of the
   encoded events (bytes per event, and for the whole data set).

Each timing runs ``--repeat`` times (default 3); the best time and the highest peak RSS
are reported, with the ratio of each load's time to the bare read's. Generated data
sets are written to ``--data-dir/load-N[-csv]/`` (default ``<repo>/bench-data``, which
git ignores) and left there unless ``--clean``.

Usage (from the repository root)::

    python benchmarks/bench_load.py --leads 200000
    python benchmarks/bench_load.py --leads 1000000 --format parquet
    python benchmarks/bench_load.py --leads 200000 --reuse --repeat 5
"""

from __future__ import annotations

import argparse
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
MODES = ("bare", "first", "cached")
LABELS = {"bare": "pyarrow bare read (baseline)", "first": "`load_dataset`, first load",
          "cached": "`load_dataset`, from the data cache"}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def cpu_seconds() -> float:
    """User plus system CPU time of this process so far (all its threads)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def peak_rss_gb() -> float:
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if sys.platform == "darwin":
        kb /= 1024
    return kb * 1024 / 1e9


def time_v(cmd: list[str]) -> tuple[int, dict]:
    """Run ``cmd`` under GNU ``time -v`` (when present): exit code, seconds, peak RSS."""
    gnu = shutil.which("time") or "/usr/bin/time"
    facts = {"seconds": None, "peak_rss_gb": None}
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        full = [gnu, "-v", "-o", tf.name, *cmd] if os.path.exists(gnu) else cmd
        t0 = time.perf_counter()
        proc = subprocess.run(full, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        facts["seconds"] = time.perf_counter() - t0
        for line in tf.read().splitlines():
            if "Maximum resident set size" in line:
                facts["peak_rss_gb"] = int(line.split(":")[-1]) * 1024 / 1e9
    if proc.returncode != 0:
        log(proc.stderr.strip()[-2000:])
    return proc.returncode, facts


def calib_cli() -> str:
    """The ``calib`` console script of this interpreter's environment."""
    here = Path(sys.executable).parent / "calib"
    return str(here) if here.exists() else (shutil.which("calib") or "calib")


# ------------------------------------------------------------------ in the child process
def child_bare(data: str) -> dict:
    """pyarrow reading every table file of the folder, nothing else."""
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq

    files = [p for p in sorted(Path(data).iterdir()) if p.name.split(".")[0] in TABLES]
    t0, c0 = time.perf_counter(), cpu_seconds()
    rows = {p.name.split(".")[0]: (pq.read_table(p) if p.suffix == ".parquet"
                                   else pa_csv.read_csv(p)).num_rows for p in files}
    return {"seconds": time.perf_counter() - t0, "cpu": cpu_seconds() - c0,
            "events": rows.get("events", 0),
            "leads": rows["leads"], "peak_rss_gb": peak_rss_gb()}


def child_load(data: str, cache: bool) -> dict:
    """``load_dataset`` timed, with the in-memory size of what it returns."""
    from calib.data import load_dataset

    t0, c0 = time.perf_counter(), cpu_seconds()
    ds = load_dataset(data, cache=cache)
    seconds, cpu = time.perf_counter() - t0, cpu_seconds() - c0
    ev_bytes = int(ds.events.memory_usage(deep=True).sum())
    total = ev_bytes + sum(int(df.memory_usage(deep=True).sum())
                           for df in (ds.leads, ds.outcomes, ds.assignments) if df is not None)
    return {"seconds": seconds, "cpu": cpu, "events": len(ds.events), "leads": ds.n_leads,
            "events_bytes": ev_bytes, "dataset_bytes": total,
            "bytes_per_event": ev_bytes / max(len(ds.events), 1),
            "dtypes": {c: str(t) for c, t in ds.events.dtypes.items()},
            "peak_rss_gb": peak_rss_gb()}


def run_child(mode: str, data: Path, env: dict) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child", mode, str(data)],
                          stdout=subprocess.PIPE, text=True, env=env, check=False)
    if proc.returncode != 0:
        sys.exit(f"the {mode} load of {data} failed (exit {proc.returncode})")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------ in the parent
def generate(args, fmt: str) -> tuple[Path, list]:
    """The demo world in ``fmt`` (written through the CLI unless reused) and the
    timings of writing it."""
    out = args.data_dir / (f"load-{args.leads}" if fmt == "parquet"
                           else f"load-{args.leads}-{fmt}")
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.reuse and any((out / "data" / f"events.{ext}").exists() for ext in ("parquet", "csv")):
        log(f"  reusing {out}")
        return out, []
    variants = [("data only", ["--no-run"])] + ([("full", [])] if args.full_demo else [])
    rows = []
    for label, extra in variants:
        cmd = [calib_cli(), "demo", "--out", str(out), "--leads", str(args.leads),
               "--format", fmt, "--seed", str(args.seed), "--force", *extra]
        how = "`" + " ".join(["calib", *cmd[1:]]).replace(str(out), "DIR") + "`"
        runs = []
        for i in range(args.repeat if args.time_generation else 1):
            code, facts = time_v(cmd)
            if code != 0:
                sys.exit(f"`{' '.join(cmd)}` failed (exit {code})")
            log(f"  demo ({label}, {fmt}) run {i + 1}: {facts['seconds']:.1f} s")
            runs.append(facts)
        rows.append((how, {"seconds": min(r["seconds"] for r in runs),
                           "peak_rss_gb": max((r["peak_rss_gb"] or 0) for r in runs) or None}))
    return out, rows


def measure(args, data: Path) -> dict:
    """Best time (and highest peak RSS) of each mode, the modes interleaved per round."""
    env = dict(os.environ, CALIB_CACHE_DIR=str(args.data_dir / "calib-cache-bench-load"))
    env.pop("CALIB_NO_CACHE", None)
    shutil.rmtree(env["CALIB_CACHE_DIR"], ignore_errors=True)
    run_child("cached", data, env)  # writes the cache entry (and loads numba's cache)
    runs = {m: [] for m in MODES}
    for i in range(args.repeat):
        for mode in MODES:
            r = run_child(mode, data, env)
            log(f"  {data.parent.name} {mode} run {i + 1}/{args.repeat}: {r['seconds']:.2f} s")
            runs[mode].append(r)
    shutil.rmtree(env["CALIB_CACHE_DIR"], ignore_errors=True)
    return {m: dict(min(rs, key=lambda r: r["seconds"]),
                    peak_rss_gb=max(r["peak_rss_gb"] for r in rs)) for m, rs in runs.items()}


def report(args, results: dict, gen_rows: dict) -> None:
    import numpy
    import pandas
    import pyarrow

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print("## Environment\n")
    print(f"- python {platform.python_version()}, numpy {numpy.__version__}, pandas "
          f"{pandas.__version__}, pyarrow {pyarrow.__version__}; {cores} cores; load "
          f"average {os.getloadavg()[0]:.1f} at the end")
    print(f"- repeats per timing: {args.repeat}, modes interleaved (best time, highest peak RSS)")
    for fmt, (data, res) in results.items():
        size_mb = sum(p.stat().st_size for p in data.iterdir()) / 1e6
        print(f"- {fmt}: {size_mb:,.0f} MB on disk; in-memory event columns "
              + ", ".join(f"{c} {t}" for c, t in res["first"]["dtypes"].items()))
    print()
    print("| step | format | events | seconds | events/s | time / bare read | CPU seconds "
          "| CPU / bare read | peak RSS (GB) | bytes/event in memory |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for fmt, (data, res) in results.items():
        ev = res["first"]["events"]
        for how, gen in gen_rows.get(fmt, []):
            print(f"| {how} | {fmt} | {ev:,} | {gen['seconds']:.1f} | "
                  f"{ev / gen['seconds'] / 1e6:.2f}M | - | - | - | {gen['peak_rss_gb'] or 0:.2f} "
                  "| - |")
        bare, bare_cpu = res["bare"]["seconds"], res["bare"]["cpu"]
        for mode in MODES:
            r = res[mode]
            mem = (f"{r['bytes_per_event']:.1f} (whole data set: "
                   f"{r['dataset_bytes'] / max(ev, 1):.1f})" if "bytes_per_event" in r else "-")
            print(f"| {LABELS[mode]} | {fmt} | {ev:,} | {r['seconds']:.2f} | "
                  f"{ev / r['seconds'] / 1e6:.2f}M | {r['seconds'] / bare:.2f}x | "
                  f"{r['cpu']:.2f} | {r['cpu'] / bare_cpu:.2f}x | {r['peak_rss_gb']:.2f} | {mem} |")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--leads", type=int, help="number of demo leads (required)")
    ap.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR,
                    help="where to write the data sets (default: <repo>/bench-data)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3, help="runs per timing; the best counts")
    ap.add_argument("--format", nargs="+", choices=("parquet", "csv"),
                    default=["parquet", "csv"], help="formats of the demo tables")
    for flag, text in (
            ("--reuse", "keep a data set already generated in --data-dir"),
            ("--time-generation", "generate --repeat times (default once)"),
            ("--clean", "delete the data sets afterwards"),
            ("--full-demo", "also time plain `calib demo` (data + the experiment end to end)")):
        ap.add_argument(flag, action="store_true", help=text)
    ap.add_argument("--child", nargs=2, metavar=("MODE", "DATA"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        mode, data = args.child
        out = child_bare(data) if mode == "bare" else child_load(data, mode == "cached")
        print(json.dumps(out))
        return 0
    if not args.leads or args.leads < 100:
        ap.error("--leads N (at least 100) is required")
    results, gen_rows = {}, {}
    for fmt in args.format:
        out, gen_rows[fmt] = generate(args, fmt)
        results[fmt] = (out / "data", measure(args, out / "data"))
    report(args, results, gen_rows)
    if args.clean:
        for data, _ in results.values():
            shutil.rmtree(data.parent)
    return 0


if __name__ == "__main__":
    sys.exit(main())
