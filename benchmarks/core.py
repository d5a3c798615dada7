"""Benchmark of the welfare core: matcher's own solver against OR-Tools min-cost flow.

For each size a seeded instance is generated (as ``benchmarks.run`` does) under the Japan
policy and its edge arrays are built *once* and saved; every solver then runs in its own
subprocess on those same arrays, so each peak RSS is its own (the arrays themselves are
in every peak; ``base MiB`` is the RSS right after loading them). The run fails (exit 1)
when an objective (placed count, total cost) differs from OR-Tools' or a certificate is
rejected; times are reported, never asserted.

    python -m benchmarks.core --quick                 # a few seconds; CI
    python -m benchmarks.core --sizes 10k 100k 1M     # writes results/core.json and core.md
    python -m benchmarks.core --sizes 10k --list-length 50

Warm start: after the cold solve, 1% of the candidates withdraw (their edges are
removed, ids kept) and the changed instance is solved warm from the first solve's
potentials; its certificate proves it optimal, and the ratio is its time over the cold
solve's.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import machine_info

RESULTS = Path(__file__).parent / "results"
POLICY = Path(__file__).parent.parent / "instances" / "policies" / "japan-2026.toml"
#: (candidates, employers) per size, as in benchmarks.run.
SIZES = {"2k": (2_000, 150), "10k": (10_000, 600), "100k": (100_000, 5_000), "1M": (1_000_000, 50_000)}
QUICK = ("2k",)


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def prepare(size: str, list_length: int, seed: int, path: Path) -> dict[str, Any]:
    """Generate the instance, build its edges and pickle them to ``path``."""
    from matcher.eligibility import build_edges
    from matcher.generate import generate_instance
    from matcher.io import instance_from_frames

    n, m = SIZES[size]
    start = time.perf_counter()
    tables = generate_instance(
        candidates=n,
        employers=m,
        seed=seed,
        unlisted_share=0.05 if n <= 10_000 else 0.0,
        list_length=list_length,
    )
    inst = instance_from_frames(**tables, policy=POLICY)
    edges = build_edges(inst)
    with path.open("wb") as f:
        pickle.dump(edges, f, protocol=5)
    return {"pairs": edges.n_pairs, "prepare_s": round(time.perf_counter() - start, 2)}


def _objective(edges: Any, chosen: Any) -> tuple[int, int]:
    from matcher.solvers.core import _network

    costs = _network(edges, 2).costs
    return len(chosen), int(costs[chosen].sum())


def solve(method: str, path: Path) -> dict[str, Any]:
    """Load the pickled edges and solve them with ``method`` (in this process)."""
    with path.open("rb") as f:
        edges = pickle.load(f)
    base = _rss_mib()
    out: dict[str, Any] = {"method": method, "base_mib": round(base, 1)}
    if method == "ortools":
        from matcher.solvers.flow import solve_flow

        start = time.perf_counter()
        sol = solve_flow(edges)
        out["seconds"] = round(time.perf_counter() - start, 3)
        out["status"] = sol.status.value
        out["placed"], out["cost"] = _objective(edges, sol.chosen)
    else:
        from matcher.eligibility import Edges
        from matcher.solvers.core import check_certificate, solve_core

        start = time.perf_counter()
        sol2 = solve_core(edges)
        out["seconds"] = round(time.perf_counter() - start, 3)
        out["peak_solve_mib"] = round(_peak_mib(), 1)
        out["status"] = sol2.status.value
        out["placed"], out["cost"] = _objective(edges, sol2.chosen)
        out["stats"] = {k: round(v, 3) for k, v in sol2.stats.items()}
        start = time.perf_counter()
        out["certificate"] = check_certificate(edges, sol2.chosen, sol2.potentials)
        out["certificate_s"] = round(time.perf_counter() - start, 3)
        if method == "core+warm":
            n = len(edges.candidate_ids)
            gone = np.random.default_rng(0).choice(n, max(1, n // 100), replace=False)
            keep = ~np.isin(edges.cand, gone)
            changed = Edges(
                edges.cand[keep], edges.slot[keep], edges.score[keep], edges.rank[keep],
                edges.candidate_ids, edges.slots, edges.caps,
            )  # fmt: skip
            start = time.perf_counter()
            warm = solve_core(changed, warm_start=sol2)
            warm_s = time.perf_counter() - start
            out["warm"] = {
                "withdrawn": int(gone.size),
                "warm_s": round(warm_s, 3),
                "ratio": round(warm_s / max(out["seconds"], 1e-9), 3),
                "status": warm.status.value,
                "certificate": check_certificate(changed, warm.chosen, warm.potentials),
            }
    out["peak_mib"] = round(_peak_mib(), 1)
    return out


def _child(args: list[str]) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.core", *args], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"benchmarks.core {' '.join(args)} failed:\n{proc.stderr}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def run_size(size: str, list_length: int, seed: int) -> dict[str, Any]:
    """Prepare once, then OR-Tools and the core, each in its own subprocess."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "edges.pkl"
        row: dict[str, Any] = {"size": size, "list_length": list_length}
        row.update(
            _child(["--prepare", size, "--list-length", str(list_length), "--seed", str(seed), str(path)])
        )
        # Compile (or load the numba cache) outside the timed runs.
        _child(["--warmup"])
        row["ortools"] = _child(["--solve", "ortools", str(path)])
        row["core"] = _child(["--solve", "core+warm", str(path)])
    o, c = row["ortools"], row["core"]
    row["agree"] = (o["placed"], o["cost"], o["status"]) == (c["placed"], c["cost"], c["status"])
    row["ratio"] = round(c["seconds"] / o["seconds"], 3) if o["seconds"] > 0 else None
    row["ok"] = bool(
        row["agree"]
        and not c["certificate"]
        and c["warm"]["status"] == c["status"]
        and not c["warm"]["certificate"]
    )
    return row


def _markdown(rows: list[dict[str, Any]], machine: dict[str, Any]) -> str:
    lines = [
        f"Machine: {machine['processor'] or machine['machine']}, {machine['cpus']} CPUs, Python {machine['python']}.",
        "",
        "| size | k | pairs | placed | OR-Tools s | core s | ratio | OR-Tools peak MiB | core peak MiB "
        "| base MiB | warm s | warm/cold | objectives | certificate |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        o, c, w = r["ortools"], r["core"], r["core"]["warm"]
        lines.append(
            f"| {r['size']} | {r['list_length']} | {r['pairs']:,} | {o['placed']:,} | {o['seconds']:.2f} "
            f"| {c['seconds']:.2f} | {r['ratio']:.2f} | {o['peak_mib']:,.0f} | {c['peak_solve_mib']:,.0f} "
            f"| {c['base_mib']:,.0f} | {w['warm_s']:.2f} | {w['ratio']:.2f} "
            f"| {'equal' if r['agree'] else 'DIFFER'} | {'valid' if not c['certificate'] else 'INVALID'} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit code."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small size only, no result files (CI)")
    ap.add_argument("--sizes", nargs="*", choices=sorted(SIZES), help="sizes to run")
    ap.add_argument("--list-length", nargs="*", type=int, default=[20], help="preference list lengths")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--prepare", help=argparse.SUPPRESS)
    ap.add_argument("--warmup", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--solve", help=argparse.SUPPRESS)
    ap.add_argument("path", nargs="?", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.prepare:
        print(json.dumps(prepare(args.prepare, args.list_length[0], args.seed, Path(args.path))))
        return 0
    if args.warmup:
        import matcher
        from matcher.eligibility import build_edges
        from matcher.solvers.core import solve_core

        solve_core(build_edges(matcher.load_instance(Path(__file__).parent.parent / "instances" / "tiny")))
        print("{}")
        return 0
    if args.solve:
        print(json.dumps(solve(args.solve, Path(args.path))))
        return 0
    sizes = args.sizes or (list(QUICK) if args.quick else ["10k", "100k", "1M"])
    rows = []
    for size in sizes:
        for k in args.list_length:
            row = run_size(size, k, args.seed)
            rows.append(row)
            o, c = row["ortools"], row["core"]
            print(
                f"{size} k={k}: {row['pairs']:,} pairs; OR-Tools {o['seconds']:.2f} s ({o['peak_mib']:,.0f} MiB), "
                f"core {c['seconds']:.2f} s ({c['peak_solve_mib']:,.0f} MiB), ratio {row['ratio']}; "
                f"warm/cold {c['warm']['ratio']}; objectives {'equal' if row['agree'] else 'DIFFER'}; "
                f"certificate {'valid' if not c['certificate'] else c['certificate']}",
                flush=True,
            )
    machine = machine_info()
    md = _markdown(rows, machine)
    print(md)
    if not args.quick:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "core.json").write_text(json.dumps({"machine": machine, "rows": rows}, indent=2) + "\n")
        (RESULTS / "core.md").write_text(md + "\n")
    if not all(r["ok"] for r in rows):
        print("benchmark FAILED: objectives differ or a certificate was rejected", file=sys.stderr)
        return 1
    print("benchmark ok: objectives equal, certificates valid")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
