"""Benchmark of the welfare core: matcher's own solver against exact baselines.

For each size a seeded instance is generated (as ``benchmarks.run`` does) under the Japan
policy and its edge arrays are built *once* and saved; every solver then runs in its own
subprocess on those same arrays, so each peak RSS is its own (the arrays themselves are
in every peak; ``base MiB`` is the RSS right after loading them). The run fails (exit 1)
when an objective differs between methods or a certificate is rejected; times are
reported, never asserted.

Scenarios (``--caps``):

* ``japan`` (default): the instance as generated, with the policy's intake, national and
  total caps above the slots.
* ``slots``: the same instance with every cap above the slots removed (intake, national
  and total caps unlimited, no regional caps), i.e. the classic capacitated assignment
  problem.

Methods and what their objectives must match:

* ``ortools``: OR-Tools min-cost flow (max flow, then min lexicographic cost), the
  reference: placed count, total cost (``-B*score + rank``) and status.
* ``core``: ``matcher.solvers.core.solve_core``; same placed count, cost and status, and
  its certificate must be valid.
* ``networkx``: network simplex on the same network and costs (flow value from SciPy's
  maximum flow); same placed count and cost. Pure Python: only up to
  ``NETWORKX_MAX_PAIRS`` pairs.
* ``scipy``: ``min_weight_full_bipartite_matching`` on the expansion of the ``slots``
  scenario (a column per unit of slot capacity, a private "unplaced" column per
  candidate) with the score-only objective, exact in float64; same placed count and
  total score (levels 1-2 of the lexicographic objective). Only up to
  ``SCIPY_MAX_NONZEROS`` nonzeros.

A baseline that does not fit (or does not apply) is skipped and the reason recorded. The
ratios in the table are the core's time over each baseline's.

    python -m benchmarks.core --quick                 # a few seconds; CI; both scenarios at 2k
    python -m benchmarks.core --sizes 10k 100k 1M     # writes results/core.json and core.md
    python -m benchmarks.core --sizes 10k --list-length 50 --caps japan slots

Warm start: after the cold solve, 1% (a large change) and then 0.01% (a small one) of the candidates
withdraw (their edges are removed, ids kept); each changed instance is solved cold and
then warm from the first solve (its placements and certificate). Both must reach the
same objective, the warm certificate must hold, and the ratio is warm time over cold
time on the changed instance; "(levels)" marks a warm start whose shortest paths
handed over (past their budget) to the levels warm from the earlier score prices, and
"(cold)" one that went on to a cold solve. The core's child process loads numba's compiled cache before the clock starts
(``jit_load_s``, a cold and a warm solve of the tiny instance: a fixed cost per
process).
"""

from __future__ import annotations

import argparse
import dataclasses
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

from benchmarks import publish

POLICY = Path(__file__).parent.parent / "instances" / "policies" / "japan-2026.toml"
#: (candidates, employers) per size, as in benchmarks.run.
SIZES = {"2k": (2_000, 150), "10k": (10_000, 600), "100k": (100_000, 5_000), "1M": (1_000_000, 50_000)}
QUICK = ("2k",)
SCENARIOS = ("japan", "slots")
#: Shares of the candidates withdrawn before each warm re-solve.
WITHDRAWN = (0.01, 0.0001)
#: networkx's network simplex is pure Python: about 40 s at 10k (180k pairs) here.
NETWORKX_MAX_PAIRS = 400_000
#: SciPy's expansion: a float64 and an int32 per nonzero, plus temporaries while building.
SCIPY_MAX_NONZEROS = 20_000_000


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def slots_only(edges: Any) -> Any:
    """``edges`` with every cap above the slots removed: only slot capacities bind."""
    import polars as pl

    caps = edges.caps
    unlimited = pl.lit(-1, dtype=pl.Int64).alias("cap")
    plain = dataclasses.replace(
        caps,
        intake_cap=np.full(len(caps.intake_cap), -1, dtype=np.int64),
        national_cap=np.full(len(caps.national_cap), -1, dtype=np.int64),
        total_cap=np.full(len(caps.total_cap), -1, dtype=np.int64),
        regional_cap=np.zeros(0, dtype=np.int64),
        intake_regional_ptr=np.zeros(len(caps.intake_cap) + 1, dtype=np.int64),
        intake_regional=np.zeros(0, dtype=np.int64),
        intakes=caps.intakes.with_columns(unlimited),
        nationals=caps.nationals.with_columns(unlimited),
        totals=caps.totals.with_columns(unlimited),
    )
    return dataclasses.replace(edges, caps=plain)


def prepare(size: str, list_length: int, seed: int, path: Path, caps: str = "japan") -> dict[str, Any]:
    """Generate the instance, build its edges (for scenario ``caps``) and pickle them to ``path``."""
    from benchmarks.baselines import assignment_size
    from matcher.data.generate import generate_instance
    from matcher.data.load import instance_from_frames
    from matcher.eligibility.edges import build_edges

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
    if caps == "slots":
        edges = slots_only(edges)
    with path.open("wb") as f:
        pickle.dump(edges, f, protocol=5)
    out: dict[str, Any] = {"pairs": edges.n_pairs, "prepare_s": round(time.perf_counter() - start, 2)}
    if caps == "slots":
        out["scipy_nonzeros"] = assignment_size(edges)[1]
    return out


def _objective(edges: Any, chosen: Any) -> tuple[int, int, int]:
    """(placed, lexicographic cost, total score at the solvers' 2 decimals) of ``chosen``."""
    from matcher.solvers.network import flow_network

    costs = flow_network(edges, score_decimals=2).costs
    score = np.rint(edges.score[chosen] * 100).astype(np.int64)
    return len(chosen), int(costs[chosen].sum()), int(score.sum())


def _tiny_edges() -> Any:
    import matcher
    from matcher.eligibility.edges import build_edges

    return build_edges(matcher.load_instance(Path(__file__).parent.parent / "instances" / "tiny"))


def _load_kernels() -> None:
    """Compile (or load from numba's cache) the core's kernels: a cold solve and a warm
    one on the tiny instance, so that no timed solve pays for loading them."""
    from matcher.solvers.core import solve_core

    tiny = _tiny_edges()
    solve_core(tiny.without_candidates([0]), warm_start=solve_core(tiny))


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
        out["placed"], out["cost"], out["score"] = _objective(edges, sol.chosen)
    elif method == "networkx":
        from benchmarks.baselines import networkx_flow

        start = time.perf_counter()
        res = networkx_flow(edges, 2)
        out["seconds"] = round(time.perf_counter() - start, 3)
        out["status"] = "optimal"
        out["placed"], out["cost"] = res.pop("placed"), res.pop("cost")
        out["stats"] = res
    elif method == "scipy":
        from benchmarks.baselines import scipy_assignment

        start = time.perf_counter()
        try:
            res = scipy_assignment(edges, 2)
        except ValueError as exc:  # weights not exact in float64
            return {"method": method, "skipped": str(exc)}
        out["seconds"] = round(time.perf_counter() - start, 3)
        out["status"] = "optimal"
        out["placed"], out["score"] = res.pop("placed"), res.pop("score")
        out["stats"] = res
    else:
        from matcher.solvers.core import check_certificate, solve_core

        # Load the compiled kernels (numba's cache) before the clock starts: a fixed
        # per-process cost, reported on its own.
        start = time.perf_counter()
        _load_kernels()
        out["jit_load_s"] = round(time.perf_counter() - start, 3)
        start = time.perf_counter()
        sol2 = solve_core(edges)
        out["seconds"] = round(time.perf_counter() - start, 3)
        out["peak_solve_mib"] = round(_peak_mib(), 1)
        out["status"] = sol2.status.value
        out["placed"], out["cost"], out["score"] = _objective(edges, sol2.chosen)
        out["stats"] = {k: round(v, 3) for k, v in sol2.stats.items()}
        start = time.perf_counter()
        out["certificate"] = check_certificate(
            edges, sol2.chosen, sol2.potentials, rank_weight=sol2.rank_weight
        )
        out["certificate_s"] = round(time.perf_counter() - start, 3)
        if method == "core+warm":
            out["warm"] = [_warm_run(edges, sol2, share) for share in WITHDRAWN]
    out["peak_mib"] = round(_peak_mib(), 1)
    return out


def _warm_run(edges: Any, first: Any, share: float) -> dict[str, Any]:
    """Withdraw ``share`` of the candidates; solve cold, then warm from ``first``."""
    from matcher.solvers.core import check_certificate, solve_core

    n = len(edges.candidate_ids)
    gone = np.random.default_rng(0).choice(n, max(1, round(n * share)), replace=False)
    changed = edges.without_candidates(gone)
    start = time.perf_counter()
    cold = solve_core(changed)
    cold_s = time.perf_counter() - start
    start = time.perf_counter()
    warm = solve_core(changed, warm_start=first)
    warm_s = time.perf_counter() - start
    return {
        "share": share,
        "withdrawn": int(gone.size),
        "cold_s": round(cold_s, 3),
        "warm_s": round(warm_s, 3),
        "ratio": round(warm_s / max(cold_s, 1e-9), 3),
        "used_warm": warm.stats.get("warm") == 1.0,
        "used_levels": warm.stats.get("warm_levels") == 1.0,
        "stats": {k: round(v, 3) for k, v in warm.stats.items() if k.startswith("warm")},
        "same_objective": _objective(changed, warm.chosen) == _objective(changed, cold.chosen),
        "status": warm.status.value,
        "certificate": check_certificate(changed, warm.chosen, warm.potentials, rank_weight=warm.rank_weight),
    }


def _child(args: list[str]) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.core", *args], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"benchmarks.core {' '.join(args)} failed:\n{proc.stderr}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def _skip_reason(method: str, caps: str, prep: dict[str, Any]) -> str | None:
    """Why ``method`` does not run on this instance, or None."""
    if method == "networkx" and prep["pairs"] > NETWORKX_MAX_PAIRS:
        return f"{prep['pairs']:,} pairs > {NETWORKX_MAX_PAIRS:,}"
    if method == "scipy":
        if caps != "slots":
            return "caps above the slots (slots scenario only)"
        if prep["scipy_nonzeros"] > SCIPY_MAX_NONZEROS:
            return f"{prep['scipy_nonzeros']:,} nonzeros > {SCIPY_MAX_NONZEROS:,}"
    return None


def run_size(size: str, list_length: int, seed: int, caps: str = "japan") -> dict[str, Any]:
    """Prepare once, then every method, each in its own subprocess (after ``--warmup``)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "edges.pkl"
        row: dict[str, Any] = {"size": size, "caps": caps, "list_length": list_length}
        args = ["--prepare", size, "--list-length", str(list_length), "--caps", caps, "--seed", str(seed)]
        row.update(_child([*args, str(path)]))
        row["ortools"] = _child(["--solve", "ortools", str(path)])
        row["core"] = _child(["--solve", "core+warm", str(path)])
        for method in ("scipy", "networkx"):
            reason = _skip_reason(method, caps, row)
            row[method] = (
                _child(["--solve", method, str(path)])
                if reason is None
                else {"method": method, "skipped": reason}
            )
    o, c = row["ortools"], row["core"]
    row["agree"] = (o["placed"], o["cost"], o["status"]) == (c["placed"], c["cost"], c["status"])
    row["ratio"] = round(c["seconds"] / o["seconds"], 3) if o["seconds"] > 0 else None
    # What each baseline's objective must equal: (placed, score) for SciPy, (placed, cost) for networkx.
    for method, key in (("scipy", "score"), ("networkx", "cost")):
        b = row[method]
        if "skipped" in b:
            row[f"agree_{method}"] = row[f"ratio_{method}"] = None
            continue
        row[f"agree_{method}"] = (b["placed"], b[key]) == (c["placed"], c[key]) == (o["placed"], o[key])
        row[f"ratio_{method}"] = round(c["seconds"] / b["seconds"], 3) if b["seconds"] > 0 else None
    row["ok"] = bool(
        row["agree"]
        and row["agree_scipy"] is not False
        and row["agree_networkx"] is not False
        and not c["certificate"]
        and all(
            w["status"] == c["status"] and w["same_objective"] and not w["certificate"] for w in c["warm"]
        )
    )
    return row


def _objectives(row: dict[str, Any]) -> str:
    differ = [
        name
        for name, agree in (
            ("OR-Tools", row["agree"]),
            ("SciPy", row["agree_scipy"]),
            ("networkx", row["agree_networkx"]),
        )
        if agree is False
    ]
    return f"DIFFER ({', '.join(differ)})" if differ else "equal"


def _warm_mark(w: dict[str, Any]) -> str:
    """'' (shortest paths), ' (levels)' (their warm hand-over) or ' (cold)'."""
    if w["used_warm"]:
        return ""
    return " (levels)" if w.get("used_levels") else " (cold)"


def _markdown(rows: list[dict[str, Any]], machine: dict[str, Any]) -> str:
    def num(x: float | None, fmt: str) -> str:
        return "—" if x is None else format(x, fmt)

    lines = [
        f"Machine: {machine['processor'] or machine['machine']}, {machine['cpus']} CPUs, Python {machine['python']}.",
        "",
        "| size | caps | k | pairs | placed | OR-Tools s | core s | core/OR-Tools | SciPy s | core/SciPy "
        "| networkx s | core/networkx | OR-Tools peak MiB | core peak MiB | SciPy peak MiB | networkx peak MiB "
        "| base MiB "
        + "".join(f"| warm {share:.2%} s | warm/cold {share:.2%} " for share in WITHDRAWN)
        + "| objectives | certificate |",
        "|---" * (19 + 2 * len(WITHDRAWN)) + "|",
    ]
    notes = []
    for r in rows:
        o, c, sp, nx = r["ortools"], r["core"], r["scipy"], r["networkx"]
        warm = " ".join(f"| {w['warm_s']:.2f} | {w['ratio']:.2f}{_warm_mark(w)}" for w in c["warm"])
        lines.append(
            f"| {r['size']} | {r['caps']} | {r['list_length']} | {r['pairs']:,} | {o['placed']:,} "
            f"| {o['seconds']:.2f} | {c['seconds']:.2f} | {num(r['ratio'], '.2f')} "
            f"| {num(sp.get('seconds'), '.2f')} | {num(r['ratio_scipy'], '.2f')} "
            f"| {num(nx.get('seconds'), '.2f')} | {num(r['ratio_networkx'], '.2f')} "
            f"| {o['peak_mib']:,.0f} | {c['peak_solve_mib']:,.0f} | {num(sp.get('peak_mib'), ',.0f')} "
            f"| {num(nx.get('peak_mib'), ',.0f')} | {c['base_mib']:,.0f} {warm} "
            f"| {_objectives(r)} | {'valid' if not c['certificate'] else 'INVALID'} |"
        )
        for name, b in (("SciPy", sp), ("networkx", nx)):
            if "skipped" in b and not (name == "SciPy" and r["caps"] != "slots"):
                notes.append(
                    f"{name} skipped at {r['size']}, caps {r['caps']}, k {r['list_length']}: {b['skipped']}."
                )
    lines.append("")
    lines.append(
        "Ratios are the core's seconds over the baseline's. OR-Tools, the core and networkx must agree on "
        "placed count and lexicographic cost; SciPy (slots scenario only: score-only objective) on placed "
        "count and total score. — : not run."
    )
    lines.extend(["", *notes] if notes else [])
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit code."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small size, both scenarios, no result files (CI)")
    ap.add_argument("--sizes", nargs="*", choices=sorted(SIZES), help="sizes to run")
    ap.add_argument(
        "--list-length", nargs="*", type=int, default=[20], help="preference list lengths (20, 50)"
    )
    ap.add_argument("--caps", nargs="+", choices=SCENARIOS, help="scenarios (default japan; --quick: both)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--append", action="store_true", help="add the rows to results/core.json (replacing reruns)"
    )
    ap.add_argument("--prepare", help=argparse.SUPPRESS)
    ap.add_argument("--warmup", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--solve", help=argparse.SUPPRESS)
    ap.add_argument("path", nargs="?", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    scenarios = args.caps or (list(SCENARIOS) if args.quick else ["japan"])
    if args.prepare:
        print(
            json.dumps(prepare(args.prepare, args.list_length[0], args.seed, Path(args.path), scenarios[0]))
        )
        return 0
    if args.warmup:
        _load_kernels()
        print("{}")
        return 0
    if args.solve:
        print(json.dumps(solve(args.solve, Path(args.path))))
        return 0
    sizes = args.sizes or (list(QUICK) if args.quick else ["10k", "100k", "1M"])
    rows = []
    # Compile the numba code (or check its on-disk cache) once, outside the timed runs.
    _child(["--warmup"])
    for size in sizes:
        for k in args.list_length:
            for caps in scenarios:
                row = run_size(size, k, args.seed, caps)
                rows.append(row)
                o, c = row["ortools"], row["core"]
                extra = "".join(
                    f"; {name} "
                    + (
                        f"skipped ({b['skipped']})"
                        if "skipped" in b
                        else f"{b['seconds']:.2f} s ({b['peak_mib']:,.0f} MiB)"
                    )
                    for name, b in (("SciPy", row["scipy"]), ("networkx", row["networkx"]))
                    if not (name == "SciPy" and caps != "slots")
                )
                print(
                    f"{size} caps={caps} k={k}: {row['pairs']:,} pairs; OR-Tools {o['seconds']:.2f} s "
                    f"({o['peak_mib']:,.0f} MiB), core {c['seconds']:.2f} s ({c['peak_solve_mib']:,.0f} MiB), "
                    f"ratio {row['ratio']}{extra}; warm/cold {[w['ratio'] for w in c['warm']]}; objectives {_objectives(row)}; "
                    f"certificate {'valid' if not c['certificate'] else c['certificate']}",
                    flush=True,
                )
    rows = publish(
        "core",
        rows,
        _markdown,
        write=not args.quick,
        append=args.append,
        key=lambda r: (r["size"], r["caps"], r["list_length"]),
    )
    if not all(r["ok"] for r in rows):
        print("benchmark FAILED: objectives differ or a certificate was rejected", file=sys.stderr)
        return 1
    print("benchmark ok: objectives equal, certificates valid")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
