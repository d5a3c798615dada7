"""Stable matching benchmark: matcher's compiled DA vs the `matching` package.

Plain hospital-residents instances (strict preferences both sides: every candidate ranks
20 employers, distinct scores), at sizes where the package runs, then matcher alone at
national scale from edge arrays (sorting included). Both must return the same
resident-optimal matching; the run fails otherwise (never on time).

    python -m benchmarks.stable --quick      # CI: small sizes, correctness only
    python -m benchmarks.stable              # 1k .. 1M; writes results/stable.{json,md}
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

import matcher
from matcher.eligibility.edges import build_edges
from matcher.stable.mechanism import stable_match

RESULTS = Path(__file__).parent / "results"
LIST_LEN = 20


def hr_instance(
    n: int, seed: int
) -> tuple[matcher.Instance, dict[str, list[str]], dict[str, list[str]], dict[str, int]]:
    """n candidates, n/10 employers with capacity 1-10, 20-employer lists, distinct scores."""
    rng = np.random.default_rng(seed)
    m = max(2, n // 10)
    k = min(LIST_LEN, m)
    cids = np.array([f"c{i:07d}" for i in range(n)])
    eids = np.array([f"e{j:06d}" for j in range(m)])
    caps = rng.integers(1, 11, size=m)
    # Each candidate lists k distinct employers (argsort of random keys: vectorized).
    picks = np.argsort(rng.random((n, m)), axis=1)[:, :k] if m <= 2000 else _distinct(rng, n, m, k)
    scores = rng.permutation(n).astype(np.float64) * (100.0 / max(n, 1))
    prefs = pl.DataFrame(
        {
            "candidate_id": np.repeat(cids, k),
            "employer_id": eids[picks.ravel()],
            "rank": np.tile(np.arange(1, k + 1), n),
        }
    )
    inst = matcher.instance_from_frames(
        candidates=pl.DataFrame(
            {"candidate_id": cids, "nationality": "VN", "japanese_level": "A1", "track": "esdp"}
        ),
        aptitudes=pl.DataFrame({"candidate_id": cids, "sector": "agriculture", "score": np.round(scores, 4)}),
        employers=pl.DataFrame({"employer_id": eids, "prefecture": "Iwate", "full_time_staff": 100}),
        slots=pl.DataFrame({"employer_id": eids, "sector": "agriculture", "track": "esdp", "capacity": caps}),
        preferences=prefs,
    )
    resident: dict[str, list[str]] = {}
    hospital: dict[str, list[str]] = {}
    if n <= 20_000:
        resident = {str(c): [str(e) for e in eids[row]] for c, row in zip(cids, picks, strict=True)}
        order = np.argsort(-scores)
        for c in cids[order]:
            for e in resident[str(c)]:
                hospital.setdefault(e, []).append(str(c))
    return inst, resident, hospital, {str(e): int(c) for e, c in zip(eids, caps, strict=True)}


def _distinct(rng: np.random.Generator, n: int, m: int, k: int) -> np.ndarray[Any, Any]:
    """k distinct employers per candidate out of m, by stratified offsets (fast at scale)."""
    u = rng.random(n)
    j = np.arange(k)
    step = m / k
    out = (
        np.floor((u[:, None] + j[None, :]) * step).astype(np.int64) + rng.integers(0, m, size=n)[:, None]
    ) % m
    return rng.permuted(out, axis=1)


def run_package(
    resident: dict[str, list[str]], hospital: dict[str, list[str]], caps: dict[str, int]
) -> tuple[set[tuple[str, str]] | None, float, str]:
    from matching.games import HospitalResident

    hospital = {h: rs for h, rs in hospital.items() if rs}
    caps = {h: c for h, c in caps.items() if h in hospital}
    start = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            game = HospitalResident.create_from_dictionaries(resident, hospital, caps)
            res = game.solve(optimal="resident")
    except RecursionError:
        return None, time.perf_counter() - start, "RecursionError"
    return {(str(r), str(h)) for h, rs in res.items() for r in rs}, time.perf_counter() - start, "ok"


def bench(n: int, seed: int, package: bool) -> dict[str, Any]:
    inst, resident, hospital, caps = hr_instance(n, seed)
    edges = build_edges(inst)
    stable_match(inst, edges, seed=seed)  # compile (cached on disk after the first run)
    start = time.perf_counter()
    sol = stable_match(inst, edges, seed=seed)
    ours_s = time.perf_counter() - start
    row: dict[str, Any] = {
        "candidates": n,
        "pairs": edges.n_pairs,
        "placed": len(sol.chosen),
        "matcher_s": round(ours_s, 4),
    }
    if package:
        theirs, t_s, status = run_package(resident, hospital, caps)
        row["package_s"] = round(t_s, 4)
        row["package_status"] = status
        if theirs is not None:
            ours = {
                (
                    str(edges.candidate_ids[int(edges.cand[e])]),
                    str(edges.slots["employer_id"][int(edges.slot[e])]),
                )
                for e in sol.chosen
            }
            row["agree"] = ours == theirs
            row["ratio"] = round(t_s / ours_s, 1) if ours_s > 0 else None
    return row


def national(seed: int) -> dict[str, Any]:
    """1M candidates x 20 employers from the generator, Japan policy: DA from edge arrays."""
    from matcher.data.generate import generate_instance
    from matcher.data.validate import RawTable, validate_tables

    tables = generate_instance(candidates=1_000_000, employers=50_000, seed=seed)
    policy = matcher.load_policy(Path(__file__).parent.parent / "instances/policies/japan-2026.toml")
    inst = validate_tables(
        {k: RawTable(v, k) for k, v in tables.items()}, policy, source="generated", content_hash=""
    )
    edges = build_edges(inst)
    out: dict[str, Any] = {"candidates": 1_000_000, "pairs": edges.n_pairs}
    for proposing, caps in (("candidate", "naive"), ("candidate", "flexible"), ("employer", "naive")):
        times = []
        for _ in range(3):
            start = time.perf_counter()
            sol = stable_match(inst, edges, seed=seed, proposing=proposing, caps=caps)
            times.append(time.perf_counter() - start)
        out[f"{proposing}_{caps}_s"] = round(min(times), 3)
        out[f"{proposing}_{caps}_placed"] = len(sol.chosen)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    sizes = [200, 400] if args.quick else [250, 500, 750, 1_000, 2_000, 3_000, 10_000, 100_000]
    rows = []
    ok = True
    for n in sizes:
        row = bench(n, args.seed, package=n <= 3_000)
        rows.append(row)
        ok &= row.get("agree", True)
        print(json.dumps(row), flush=True)
    nat = None if args.quick else national(args.seed)
    if nat:
        print(json.dumps(nat), flush=True)
    lines = [
        "| candidates | pairs | placed | matcher s | matching pkg s | ratio | same result |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        pkg = (
            f"{r['package_s']:.3f}" if r.get("package_status") == "ok" else r.get("package_status", "not run")
        )
        lines.append(
            f"| {r['candidates']:,} | {r['pairs']:,} | {r['placed']:,} | {r['matcher_s']:.4f} | {pkg} | {r.get('ratio', '')} | {r.get('agree', '')} |"
        )
    md = "\n".join(lines)
    if nat:
        md += (
            f"\n\n1M candidates (generator, Japan policy, national caps), {nat['pairs']:,} pairs, from edge "
            f"arrays with sorting, best of 3: candidate-proposing DA with naive caps {nat['candidate_naive_s']} s "
            f"({nat['candidate_naive_placed']:,} placed), with flexible caps {nat['candidate_flexible_s']} s "
            f"({nat['candidate_flexible_placed']:,} placed); employer-proposing {nat['employer_naive_s']} s."
        )
    print(md)
    if not args.quick:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "stable.json").write_text(json.dumps({"rows": rows, "national": nat}, indent=2) + "\n")
        (RESULTS / "stable.md").write_text(md + "\n")
    if not ok:
        print("stable benchmark FAILED: matcher and the matching package disagree", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
