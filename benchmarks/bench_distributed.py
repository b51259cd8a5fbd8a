"""Benchmark: the local engine against a Dask cluster on a partitioned data set.

What it does
------------
1. Uses a demo world of N leads as Parquet (``--data DIR`` to reuse one, e.g. the cache
   of ``bench_replay.py`` in ``bench-data/leads-N/``; otherwise it is generated once into
   ``--work-dir/leads-N/`` with :func:`calib.demo.generate_demo`, seed 1).
2. Measures, each phase in a fresh subprocess (peak RSS = ``ru_maxrss`` of the child,
   numba kernels warmed on a tiny data set first, so no timing includes compilation):

   local      ``load_dataset`` + ``replay`` of the demo's ``truth.toml`` + a ``sweep`` of
              ``--configs`` configurations (MQL cutoffs x half-lives), in one process;
   partition  ``calib partition`` into ``--partitions`` parts (load, hash, write);
   sync       the partitioned replay and sweep, partition after partition, in one
              process (:func:`calib.distributed.replay_partitioned`);
   dask       a ``LocalCluster`` of ``--workers`` single-threaded worker processes
              (startup timed apart, workers warmed), then the same replay and sweep with
              one task per partition; the workers read their partitions themselves.

3. Checks that the sync and Dask results equal the local ones exactly (``to_dict()``);
   prints ``MISMATCH`` and exits 1 otherwise.
4. Prints one JSON object (every timing, events per second per core) and a Markdown
   table.

Usage (from the repository root, ``pip install -e '.[dask]'``)::

    python benchmarks/bench_distributed.py --leads 200000
    python benchmarks/bench_distributed.py --data bench-data/leads-1000000/data --partitions 16
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GRID_CUTOFFS = [20, 25, 30, 35, 40, 45, 50, 55]
GRID_HALF_LIVES = [7, 14, 30, 60]


def grid(n_configs: int) -> dict:
    """About ``n_configs`` configurations: MQL cutoffs x half-lives (decay is the costly
    part of a sweep; cutoffs are nearly free)."""
    hl = GRID_HALF_LIVES[:max(1, min(len(GRID_HALF_LIVES), n_configs // len(GRID_CUTOFFS) or 1))]
    cuts = GRID_CUTOFFS[:max(1, min(len(GRID_CUTOFFS), n_configs // len(hl)))]
    return {"thresholds.mql": cuts, "decay.kind": ["exponential"], "decay.half_life_days": hl}


def _warm():
    """Compile/load the numba kernels on a tiny world so no timing includes it."""
    from calib.data import load_dataset
    from calib.demo import generate_demo
    from calib.engine import replay
    from calib.rules import load_rules

    with tempfile.TemporaryDirectory() as d:
        w = generate_demo(d, n_leads=300, seed=2, fmt="parquet")
        replay(load_dataset(w.data_dir), load_rules(w.truth_rules))


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def phase_local(a) -> dict:
    from calib.data import load_dataset
    from calib.engine import replay
    from calib.engine.sweep import sweep
    from calib.rules import load_rules

    _warm()
    rules = load_rules(a.rules)
    c0, t0 = time.process_time(), time.perf_counter()
    ds = load_dataset(a.data)
    c1, t1 = time.process_time(), time.perf_counter()
    res = replay(ds, rules)
    c2, t2 = time.process_time(), time.perf_counter()
    sw = sweep(ds, rules, grid(a.configs), progress=False)
    c3, t3 = time.process_time(), time.perf_counter()
    return {"load_s": t1 - t0, "replay_s": t2 - t1, "sweep_s": t3 - t2,
            "load_cpu_s": c1 - c0, "replay_cpu_s": c2 - c1, "sweep_cpu_s": c3 - c2,
            "events": len(ds.events), "leads": ds.n_leads, "configs": len(sw.frame),
            "replay": res.to_dict(), "sweep": sw.to_dict(), "peak_rss_mb": _peak_mb()}


def phase_partition(a) -> dict:
    from calib.distributed import partition_dataset

    t0 = time.perf_counter()
    info = partition_dataset(a.data, a.parts, a.partitions, force=True)
    t1 = time.perf_counter()
    return {"partition_s": t1 - t0, "partitions": info.partitions,
            "leads_per_partition": [p["leads"] for p in info.parts][:3],
            "bytes": sum(f.stat().st_size for f in Path(a.parts).rglob("*") if f.is_file()),
            "peak_rss_mb": _peak_mb()}


def phase_sync(a) -> dict:
    from calib.distributed import replay, sweep
    from calib.rules import load_rules

    _warm()
    rules = load_rules(a.rules)
    c0, t0 = time.process_time(), time.perf_counter()
    res = replay(a.parts, rules, scheduler="sync", progress=False)
    c1, t1 = time.process_time(), time.perf_counter()
    sw = sweep(a.parts, rules, grid(a.configs), scheduler="sync", progress=False)
    c2, t2 = time.process_time(), time.perf_counter()
    return {"replay_s": t1 - t0, "sweep_s": t2 - t1, "replay_cpu_s": c1 - c0,
            "sweep_cpu_s": c2 - c1, "replay": res.to_dict(),
            "sweep": sw.to_dict(), "peak_rss_mb": _peak_mb()}


def phase_dask(a) -> dict:
    import distributed

    from calib.distributed import DaskBackend, replay, sweep
    from calib.rules import load_rules

    rules = load_rules(a.rules)
    t0 = time.perf_counter()
    cluster = distributed.LocalCluster(n_workers=a.workers, threads_per_worker=1,
                                       processes=True, host="127.0.0.1",
                                       dashboard_address=None)
    client = distributed.Client(cluster)
    t1 = time.perf_counter()
    client.run(_warm)
    t2 = time.perf_counter()
    import psutil

    def cpu() -> float:  # CPU seconds of the workers and of this client
        w = client.run(lambda: sum(psutil.Process().cpu_times()[:2]))
        return sum(w.values()) + time.process_time()

    backend = DaskBackend(client)
    c2 = cpu()
    t2 = time.perf_counter()
    res = replay(a.parts, rules, scheduler=backend, progress=False)
    t3 = time.perf_counter()
    c3 = cpu()
    t3b = time.perf_counter()
    sw = sweep(a.parts, rules, grid(a.configs), scheduler=backend, progress=False)
    t4 = time.perf_counter()
    c4 = cpu()
    worker_rss = client.run(lambda: psutil.Process().memory_info().rss / 2**20)
    client.close()
    cluster.close()
    return {"startup_s": t1 - t0, "warm_s": t2 - t1, "replay_s": t3 - t2, "sweep_s": t4 - t3b,
            "replay_cpu_s": c3 - c2, "sweep_cpu_s": c4 - c3,
            "replay": res.to_dict(), "sweep": sw.to_dict(),
            "worker_rss_mb_after": sorted(worker_rss.values()),
            "client_peak_rss_mb": _peak_mb()}


PHASES = {"local": phase_local, "partition": phase_partition, "sync": phase_sync,
          "dask": phase_dask}


def run_phase(name: str, a) -> dict:
    cmd = [sys.executable, __file__, "--phase", name, "--data", str(a.data),
           "--rules", str(a.rules), "--parts", str(a.parts), "--partitions",
           str(a.partitions), "--workers", str(a.workers), "--configs", str(a.configs)]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    d = json.loads(out.stdout.strip().splitlines()[-1])
    d["wall_s"] = time.perf_counter() - t0
    print(f"  {name}: {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return d


def ensure_data(a) -> None:
    if a.data is not None:
        a.data = Path(a.data)
        if a.rules is None:
            a.rules = a.data.parent / "truth.toml"
        return
    root = Path(a.work_dir) / f"leads-{a.leads}"
    if not (root / ".complete").exists():
        from calib.demo import generate_demo

        print(f"generating {a.leads:,} leads into {root} ...", file=sys.stderr)
        generate_demo(root, n_leads=a.leads, seed=1, fmt="parquet")
        (root / ".complete").write_text("ok")
    a.data, a.rules = root / "data", root / "truth.toml"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--leads", type=int, default=200_000, help="demo size when generating")
    ap.add_argument("--data", help="an existing data set folder (Parquet demo world)")
    ap.add_argument("--rules", help="rule set (default: the demo's truth.toml)")
    ap.add_argument("--work-dir", default="bench-data/distributed")
    ap.add_argument("--parts", help="partitioned folder (default WORK_DIR/parts-N-P)")
    ap.add_argument("--partitions", type=int, default=16)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--configs", type=int, default=32, help="sweep size (default 32)")
    ap.add_argument("--phase", choices=sorted(PHASES), help=argparse.SUPPRESS)
    ap.add_argument("--skip", nargs="*", default=[], choices=sorted(PHASES))
    a = ap.parse_args()
    if a.phase:
        print(json.dumps(PHASES[a.phase](a), default=str))
        return 0

    ensure_data(a)
    if a.parts is None:
        a.parts = Path(a.work_dir) / f"parts-{a.data.parent.name}-{a.partitions}"
    Path(a.work_dir).mkdir(parents=True, exist_ok=True)
    r = {}
    for name in ("local", "partition", "sync", "dask"):
        if name not in a.skip:
            r[name] = run_phase(name, a)

    ok = True
    ref = r.get("local")
    for name in ("sync", "dask"):
        if ref and name in r:
            for what in ("replay", "sweep"):
                same = json.dumps(r[name][what], sort_keys=True) == json.dumps(ref[what],
                                                                               sort_keys=True)
                if not same:
                    print(f"MISMATCH: {name} {what} differs from the local engine",
                          file=sys.stderr)
                    ok = False
    events = ref["events"] if ref else None
    summary = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_avg_1m": os.getloadavg()[0]},
        "data": str(a.data), "leads": ref and ref["leads"], "events": events,
        "partitions": a.partitions, "workers": a.workers, "configs": ref and ref["configs"],
        "identical_results": ok,
    }
    for name, d in r.items():
        summary[name] = {k: v for k, v in d.items() if k not in ("replay", "sweep")}
    if events:
        for name, cores in (("local", 1), ("sync", 1), ("dask", a.workers)):
            if name in r:
                read = r[name].get("load_s", 0.0)
                read_cpu = r[name].get("load_cpu_s", 0.0)
                summary[name]["replay_events_per_s_per_core"] = \
                    events / (r[name]["replay_s"] + read) / cores
                # CPU time is what a dedicated cluster's wall time divides: robust to a
                # busy benchmark machine
                summary[name]["replay_events_per_cpu_s"] = \
                    events / (r[name]["replay_cpu_s"] + read_cpu)
                summary[name]["sweep_s_per_config"] = (r[name]["sweep_s"] + read) / ref["configs"]
                summary[name]["sweep_cpu_s_per_config"] = \
                    (r[name]["sweep_cpu_s"] + read_cpu) / ref["configs"]
    print(json.dumps(summary, indent=1, default=str))
    if ref:
        rows = [("local (1 process)", r["local"]["load_s"] + r["local"]["replay_s"],
                 r["local"]["load_s"] + r["local"]["sweep_s"])]
        if "sync" in r:
            rows.append(("partitioned, 1 process", r["sync"]["replay_s"], r["sync"]["sweep_s"]))
        if "dask" in r:
            rows.append((f"Dask, {a.workers} workers", r["dask"]["replay_s"],
                         r["dask"]["sweep_s"]))
        cpu = {"local (1 process)": "local", "partitioned, 1 process": "sync"}
        print(f"\n| run ({events:,} events, {ref['leads']:,} leads) | replay incl. read (s) | "
              f"sweep of {ref['configs']} incl. read (s) | replay events per CPU-s |"
              f"\n|---|---:|---:|---:|")
        for name, t_r, t_s in rows:
            key = cpu.get(name, "dask")
            print(f"| {name} | {t_r:.1f} | {t_s:.1f} | "
                  f"{summary[key]['replay_events_per_cpu_s']:,.0f} |")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
