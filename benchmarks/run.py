"""End-to-end benchmark: generate, write, load, eligibility, solve, verify, write.

Each size runs in its own subprocess so its peak RSS is its own. Baselines solve the
*same* flow network in the same run and must reach the same optimal cost, else the
run fails (times are reported, never asserted: they are noisy here).

    python -m benchmarks.run --quick          # a few seconds; CI (fails on disagreement)
    python -m benchmarks.run                  # 10k, 100k, 1M; writes results/latest.*
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import machine_info
from benchmarks.baselines import networkx_flow

RESULTS = Path(__file__).parent / "results"
#: (candidates, employers) per size; candidates list 20 employers, 5% list none.
SIZES = {"2k": (2_000, 150), "10k": (10_000, 600), "100k": (100_000, 5_000), "1M": (1_000_000, 50_000)}
QUICK = ("2k", "10k")
NETWORKX_MAX = 2_000


def generate_one(size: str, seed: int, directory: Path) -> dict[str, Any]:
    """Generate one size's instance as Parquet into ``directory`` (its own process)."""
    from matcher.data.generate import generate_instance
    from matcher.output.files import write_tables

    n, m = SIZES[size]
    t: dict[str, float] = {}
    start = time.perf_counter()
    tables = generate_instance(
        candidates=n, employers=m, seed=seed, unlisted_share=0.05 if n <= 10_000 else 0.0
    )
    t["generate"] = time.perf_counter() - start
    start = time.perf_counter()
    write_tables(tables, directory, "parquet")
    t["write_instance"] = time.perf_counter() - start
    peak = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return {"timings_s": {k: round(v, 3) for k, v in t.items()}, "peak_rss_mib": peak}


def run_one(size: str, baselines: bool, inst_dir: Path) -> dict[str, Any]:
    """The pipeline on one generated instance, in this process (a fresh one, so that its
    peak RSS is the pipeline's alone, as for ``matcher solve``): timings, objective, checks."""
    import matcher
    from matcher.eligibility.edges import build_edges
    from matcher.solvers.core import solve_core
    from matcher.solvers.network import flow_network

    n, m = SIZES[size]
    t: dict[str, float] = {}
    policy = Path(__file__).parent.parent / "instances" / "policies" / "japan-2026.toml"
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        inst = matcher.load_instance(inst_dir, policy=policy)
        t["load"] = time.perf_counter() - start
        res = matcher.solve(inst, timings=t)
        res.write(Path(tmp) / "out", format="parquet")
        t = {k: float(v) for k, v in res.summary["timings_s"].items()}
        out: dict[str, Any] = {
            "size": size,
            "candidates": n,
            "employers": m,
            "status": res.status.value,
            "pairs": res.summary["counts"]["eligible_pairs"],
            "objective": res.objective.as_dict(),
            "timings_s": {k: round(v, 3) for k, v in t.items()},
        }
        if baselines and n <= NETWORKX_MAX:
            edges = build_edges(inst)
            sol = solve_core(edges)  # the default backend, as in the solve above
            ours = int(flow_network(edges, score_decimals=2).costs[sol.chosen].sum())
            start = time.perf_counter()
            theirs = networkx_flow(edges, 2)
            out["networkx"] = {
                "cost": theirs["cost"],
                "ours": ours,
                "agree": (theirs["placed"], theirs["cost"]) == (len(sol.chosen), ours),
                "seconds": round(time.perf_counter() - start, 3),
            }
    out["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return out


def _child(args: list[str]) -> dict[str, Any] | None:
    """Run ``benchmarks.run`` with ``args`` in a fresh process; its JSON line, or None."""
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", *args], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        print(proc.stderr, file=sys.stderr)
        return None
    out: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


def _markdown(rows: list[dict[str, Any]]) -> str:
    head = (
        "| size | pairs | placed | load s | eligibility s | solve s | certificate s | verify s | write s | total s "
        "| peak RSS MiB |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|"
    )
    lines = [head]
    for r in rows:
        tt = r["timings_s"]
        phases = ("load", "eligibility", "solve", "certificate", "report", "verify", "write")
        total = sum(tt.get(k, 0.0) for k in phases)
        lines.append(
            f"| {r['size']} | {r['pairs']:,} | {r['objective']['matched']:,} | {tt['load']:.2f} | {tt['eligibility']:.2f} "
            f"| {tt['solve']:.2f} | {tt.get('certificate', 0):.2f} | {tt.get('verify', 0):.2f} "
            f"| {tt.get('write', 0):.2f} | {total:.2f} | {r['peak_rss_mib']:,.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes only, no result files (CI)")
    ap.add_argument("--sizes", nargs="*", choices=sorted(SIZES), help="sizes to run")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--one", choices=sorted(SIZES), help=argparse.SUPPRESS)
    ap.add_argument("--generate", choices=sorted(SIZES), help=argparse.SUPPRESS)
    ap.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.generate:
        print(json.dumps(generate_one(args.generate, args.seed, args.dir)))
        return 0
    if args.one:
        print(json.dumps(run_one(args.one, baselines=True, inst_dir=args.dir)))
        return 0
    sizes = args.sizes or (list(QUICK) if args.quick else ["10k", "100k", "1M"])
    rows = []
    failed = False
    # Compile the core's numba code (or check its on-disk cache) once, outside the timed
    # runs: a first run after installing pays it once (about 6 s).
    subprocess.run([sys.executable, "-m", "benchmarks.core", "--warmup"], capture_output=True, check=True)
    for size in sizes:
        # Generation and the pipeline run in separate processes: the pipeline's peak RSS
        # is then its own (the target is `matcher solve` of a generated instance).
        with tempfile.TemporaryDirectory() as tmp:
            inst_dir = Path(tmp) / "inst"
            made = _child(["--generate", size, "--seed", str(args.seed), "--dir", str(inst_dir)])
            row = _child(["--one", size, "--dir", str(inst_dir)])
        if made is None or row is None:
            return 1
        row["timings_s"] = made["timings_s"] | row["timings_s"]
        row["generate_peak_rss_mib"] = made["peak_rss_mib"]
        rows.append(row)
        nx_note = ""
        if "networkx" in row:
            nx_note = f"; networkx {'agrees' if row['networkx']['agree'] else 'DISAGREES'} ({row['networkx']['seconds']} s)"
            failed |= not row["networkx"]["agree"]
        failed |= row["status"] != "optimal"
        print(
            f"{size}: {row['status']}, {row['pairs']:,} pairs, placed {row['objective']['matched']:,}, "
            f"timings {row['timings_s']}, peak {row['peak_rss_mib']} MiB{nx_note}",
            flush=True,
        )
    md = _markdown(rows)
    print(md)
    if not args.quick:
        RESULTS.mkdir(exist_ok=True)
        machine = machine_info()
        (RESULTS / "latest.json").write_text(json.dumps({"machine": machine, "rows": rows}, indent=2) + "\n")
        (RESULTS / "latest.md").write_text(md + "\n")
    if failed:
        print("benchmark FAILED: a baseline disagrees or a solve was not optimal", file=sys.stderr)
        return 1
    print("benchmark ok: baselines agree")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
