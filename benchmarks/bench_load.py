"""Benchmark: generating a demo data set and loading it.

What it measures, for ``--leads N``:

1. ``calib demo --out DIR --leads N --format parquet --seed S --force --no-run`` (the
   CLI, writing the data set only), in a subprocess under ``/usr/bin/time -v``:
   wall-clock seconds and peak RSS. With ``--full-demo`` also the plain ``calib demo``
   command, which after writing the data runs the demo's experiment end to end into a
   report (replays, sweep, fit, calibration, A/B test). If the CLI's ``demo`` command
   fails, the script says so and times
   ``calib.demo.generate_demo(DIR, n_leads=N, seed=S, fmt="parquet")`` in a subprocess
   instead. (A CLI without ``--no-run`` is timed as it is.)
2. ``calib.data.load_dataset(DIR/data, cache=False)`` in a fresh subprocess: seconds,
   events per second, peak RSS (``ru_maxrss`` at the end of the child), and the
   in-memory size of the encoded events:
   ``ds.events.memory_usage(deep=True).sum() / len(ds.events)`` bytes per event (and the
   same for the whole data set).
3. ``load_dataset(DIR/data)`` from calib's data cache (written by a load before the
   timed ones, in a private cache folder under ``--data-dir``): what every command after
   the first one on unchanged data pays.

Each timing runs ``--repeat`` times (default 2); the best time and the highest peak RSS
are reported. The generated data set is written to ``--data-dir/load-N/`` (default
``<repo>/bench-data``, which git ignores) and left there unless ``--clean``.

Usage (from the repository root)::

    python benchmarks/bench_load.py --leads 200000
    python benchmarks/bench_load.py --leads 1000000
    python benchmarks/bench_load.py --leads 200000 --format csv
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


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


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


def child_load(data: str, cache: bool) -> dict:
    from calib.data import load_dataset

    t0 = time.perf_counter()
    ds = load_dataset(data, cache=cache)
    seconds = time.perf_counter() - t0
    ev_bytes = int(ds.events.memory_usage(deep=True).sum())
    total = ev_bytes + sum(int(df.memory_usage(deep=True).sum())
                           for df in (ds.leads, ds.outcomes, ds.assignments) if df is not None)
    return {"seconds": seconds, "events": len(ds.events), "leads": ds.n_leads,
            "outcomes": len(ds.outcomes), "events_bytes": ev_bytes, "dataset_bytes": total,
            "bytes_per_event": ev_bytes / max(len(ds.events), 1),
            "dtypes": {c: str(t) for c, t in ds.events.dtypes.items()},
            "peak_rss_gb": peak_rss_gb()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--leads", type=int, help="number of demo leads (required)")
    ap.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR,
                    help="where to write the data set (default: <repo>/bench-data)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=2, help="runs per timing; the best counts")
    ap.add_argument("--clean", action="store_true", help="delete the data set afterwards")
    ap.add_argument("--full-demo", action="store_true",
                    help="also time plain `calib demo` (data + the experiment end to end)")
    ap.add_argument("--format", choices=("parquet", "csv"), default="parquet",
                    help="format of the demo tables (default parquet)")
    ap.add_argument("--child-load", metavar="DATA", help=argparse.SUPPRESS)
    ap.add_argument("--child-cache", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child_load:
        print(json.dumps(child_load(args.child_load, args.child_cache)))
        return 0
    if not args.leads or args.leads < 100:
        ap.error("--leads N (at least 100) is required")

    import numpy
    import pandas
    import pyarrow

    out = args.data_dir / (f"load-{args.leads}" if args.format == "parquet"
                           else f"load-{args.leads}-{args.format}")
    out.parent.mkdir(parents=True, exist_ok=True)

    # 1. generation through the CLI
    help_text = subprocess.run([calib_cli(), "demo", "--help"], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True).stdout
    no_run = ["--no-run"] if "--no-run" in help_text else []
    variants = [("data only", no_run)] if no_run else [("as is", [])]
    if args.full_demo and no_run:
        variants.append(("full", []))
    gen_rows = []
    for label, extra in variants:
        base = [calib_cli(), "demo", "--out", str(out), "--leads", str(args.leads),
                "--format", args.format, "--seed", str(args.seed), "--force", *extra]
        how = "`" + " ".join(["calib", *base[1:]]).replace(str(out), "DIR") + "`"
        gens = []
        for i in range(args.repeat):
            code, facts = time_v(base)
            if code != 0:
                log(f"`{' '.join(base)}` failed (exit {code}); timing generate_demo in a "
                    "subprocess instead")
                how = "generate_demo() in a subprocess (the CLI's demo failed)"
                py = ("import sys; from calib.demo import generate_demo; "
                      "generate_demo(sys.argv[1], n_leads=int(sys.argv[2]), "
                      "seed=int(sys.argv[3]), fmt=sys.argv[4])")
                code, facts = time_v([sys.executable, "-c", py, str(out), str(args.leads),
                                      str(args.seed), args.format])
                if code != 0:
                    sys.exit(f"generate_demo failed too (exit {code})")
            log(f"  demo ({label}) run {i + 1}/{args.repeat}: {facts['seconds']:.1f} s, peak RSS "
                f"{facts['peak_rss_gb'] or 0:.2f} GB")
            gens.append(facts)
        gen_rows.append((how, {"seconds": min(g["seconds"] for g in gens),
                               "peak_rss_gb": max((g["peak_rss_gb"] or 0) for g in gens) or None}))
    data = out / "data"
    size_mb = sum(p.stat().st_size for p in data.iterdir()) / 1e6

    # 2. load_dataset in a fresh process, from the files and from the data cache
    env = dict(os.environ, CALIB_CACHE_DIR=str(args.data_dir / "calib-cache-bench-load"))
    env.pop("CALIB_NO_CACHE", None)

    def timed_loads(cached: bool, label: str) -> dict:
        loads = []
        for i in range(args.repeat):
            proc = subprocess.run([sys.executable, __file__, "--child-load", str(data),
                                   *(["--child-cache"] if cached else [])],
                                  stdout=subprocess.PIPE, text=True, env=env, check=False)
            if proc.returncode != 0:
                sys.exit(f"load_dataset failed (exit {proc.returncode})")
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            log(f"  load_dataset ({label}) run {i + 1}/{args.repeat}: {r['seconds']:.2f} s, "
                f"peak RSS {r['peak_rss_gb']:.2f} GB")
            loads.append(r)
        return dict(min(loads, key=lambda r: r["seconds"]),
                    peak_rss_gb=max(r["peak_rss_gb"] for r in loads))

    load = timed_loads(False, "from the files")
    subprocess.run([sys.executable, __file__, "--child-load", str(data), "--child-cache"],
                   stdout=subprocess.DEVNULL, env=env, check=True)  # writes the cache entry
    cached = timed_loads(True, "from the data cache")

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print("## Environment\n")
    print(f"- python {platform.python_version()}, numpy {numpy.__version__}, pandas "
          f"{pandas.__version__}, pyarrow {pyarrow.__version__}; {cores} cores")
    print(f"- repeats per timing: {args.repeat} (best time, highest peak RSS)")
    print(f"- {args.format} tables on disk: {size_mb:,.0f} MB")
    print("- in-memory event columns: "
          + ", ".join(f"{c} {t}" for c, t in load["dtypes"].items()))
    print()
    print("| step | leads | events | seconds | events/s | peak RSS (GB) | bytes/event in memory |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    ev, leads = load["events"], load["leads"]
    for how, gen in gen_rows:
        rss = f"{gen['peak_rss_gb']:.2f}" if gen["peak_rss_gb"] else "?"
        print(f"| {how} | {leads:,} | {ev:,} | {gen['seconds']:.1f} | "
              f"{ev / gen['seconds'] / 1e6:.2f}M | {rss} | - |")
    for how, r in ((f"`load_dataset` ({args.format}, cache=False)", load),
                   ("`load_dataset` (from the data cache)", cached)):
        print(f"| {how} | {leads:,} | {ev:,} | {r['seconds']:.2f} | "
              f"{ev / r['seconds'] / 1e6:.2f}M | {r['peak_rss_gb']:.2f} | "
              f"{r['bytes_per_event']:.1f} (whole data set: "
              f"{r['dataset_bytes'] / max(ev, 1):.1f}) |")
    shutil.rmtree(env["CALIB_CACHE_DIR"], ignore_errors=True)
    if args.clean:
        shutil.rmtree(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
