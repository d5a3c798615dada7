"""Solution quality of the policy-constrained solvers on two instance generators.

The solvers for regional caps and floors were first measured on instances of one
generator with caps set from its own optimum (:mod:`benchmarks.policy`). This benchmark
runs them on both families:

* ``realistic``: :func:`generate_instance` (Japan policy, 20 employers listed) with the
  caps and floors of :func:`benchmarks.policy.instance`, scenarios ``prefecture+sector``
  (prefecture caps at 70% and sector caps at 80% of the unconstrained optimum) and
  ``floors`` (those sector caps, a hard Tohoku floor and soft per-employer floors);
* ``contested``: :func:`generate_contested` (one employer per 5 candidates) under the
  policy it writes: binding crossing regional and national caps, a hard rural floor
  and soft per-employer floors competing with them.

On each instance:

* ``default``: ``matcher.solve(inst, time_limit=LIMIT)``, the backend the registry picks
  (recorded with its status and message);
* ``lagrange``: the same with ``backend="lagrange"`` (when the default is the
  ``lagrange`` backend, its row repeats the default's instead of solving again);
* ``mip``: ``backend="mip"`` with ``--exact-limit`` (600 s): the lexicographic optimum
  (most placed, then total score), status ``optimal`` when proven;
* ``highs``: the score model of :func:`benchmarks.policy.run_mip` (one boolean per pair,
  every cap and floor, maximize the total score less 100 points per placement a soft
  floor misses), with ``--exact-limit``: the *true optimum* of the objective the
  Lagrangian maximizes, when HiGHS proves it.

Every method's result is scored the same way, from its assignment: the total score less
``penalty x 100`` points per placement a soft floor misses (the ``lagrange`` objective).
The gap to the bound uses the best proven bound of the row (``highs`` and ``lagrange``
bound that objective); the gap to the optimum uses the ``highs`` value when it is proven
optimal. The lexicographic methods (``mip``, and the default when it is ``mip``) place as
many as possible first, so their score objective can be below the optimum by design; their
placed count is the most any assignment can place. The run fails (exit 1) if a result
breaks a rule (the independent verifier) or scores above a proven bound; times are
reported, never asserted.

    python -m benchmarks.quality --quick             # 2k, short limits, both generators, no files (CI)
    python -m benchmarks.quality                     # 2k and 10k: results/quality.json and quality.md
    python -m benchmarks.quality --sizes 100k --append  # larger sizes (no exact methods above 10k)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import numpy as np
import polars as pl

from benchmarks import publish
from benchmarks.policy import SIZES, run_mip
from benchmarks.policy import instance as realistic_instance

#: Instances of a run: (generator, scenario).
CASES = (("realistic", "prefecture+sector"), ("realistic", "floors"), ("contested", "contested"))
#: Methods of a row, in table order.
METHODS = ("default", "lagrange", "mip", "highs")
#: Sizes at which the exact methods run by default.
EXACT_SIZES = ("2k", "10k")


def contested_instance(size: str, seed: int) -> Any:
    """The contested instance of a size (one employer per 5 candidates) under its policy."""
    from matcher.data.generate import generate_contested
    from matcher.data.load import instance_from_frames

    n = SIZES[size][0]
    inst = generate_contested(candidates=n, employers=max(1, n // 5), seed=seed)
    return instance_from_frames(**inst.tables, policy=inst.validated_policy())


def score_objective(inst: Any, assignments: pl.DataFrame) -> tuple[float, int]:
    """Total score less 100 x penalty points per missed soft-floor placement, and the misses."""
    from matcher.eligibility.constraints import floor_units
    from matcher.eligibility.edges import build_edges
    from matcher.solvers.lagrange import PLACEMENT_WORTH

    edges = build_edges(inst)
    slots = edges.slots.select("slot", "employer_id", "sector", "track")
    pairs = (
        pl.DataFrame(
            {
                "candidate_id": edges.candidate_ids.gather(edges.cand.astype(np.int64)),
                "slot": edges.slot.astype(np.int64),
            }
        )
        .with_row_index("pair")
        .join(slots.with_columns(pl.col("slot").cast(pl.Int64)), on="slot")
    )
    chosen = assignments.select("candidate_id", "employer_id", "sector", "track").join(
        pairs, on=["candidate_id", "employer_id", "sector", "track"]
    )
    if chosen.height != assignments.height:
        raise AssertionError("an assignment row is not an eligible pair")
    placed = np.zeros(edges.n_pairs, dtype=np.bool_)
    placed[chosen["pair"].to_numpy()] = True
    penalty = 0.0
    missed = 0
    for unit in floor_units(inst, edges):
        if unit.penalty > 0:
            short = max(0, unit.required - int(placed[unit.edges].sum()))
            missed += short
            penalty += short * unit.penalty * PLACEMENT_WORTH
    total = float(assignments["score"].sum()) if assignments.height else 0.0
    return round(total - penalty, 2), missed


def run_solve(inst: Any, backend: str | None, limit: float) -> dict[str, Any]:
    """``matcher.solve`` with a backend (None: the registry's default), scored and verified."""
    import matcher
    from matcher.verification.assignment import verify_assignment

    start = time.perf_counter()
    result = matcher.solve(inst, backend=backend, time_limit=limit, verify=False)
    seconds = time.perf_counter() - start
    out: dict[str, Any] = {
        "seconds": round(seconds, 2),
        "backend": result.summary.get("backend", backend),
        "status": result.status.value,
        "message": result.message,
        "placed": result.objective.matched,
        "total_score": round(result.objective.total_score, 2),
    }
    if not result.success:
        return {**out, "objective": None, "missed": None, "bound": None, "verified": True, "proven": False}
    objective, missed = score_objective(inst, result.assignments)
    bound = result.summary.get("bound")
    score_bound = None
    if isinstance(bound, dict) and str(bound.get("level", "")).startswith("total score"):
        score_bound = round(float(bound["bound"]), 2)
    return {
        **out,
        "objective": objective,
        "missed": missed,
        "bound": score_bound,
        "verified": verify_assignment(inst, result.assignments).ok,
        "proven": result.status.value == "optimal",
    }


def run_highs(inst: Any, limit: float) -> dict[str, Any]:
    """The score model for HiGHS (:func:`benchmarks.policy.run_mip`), its optimum when proven."""
    r = run_mip(inst, limit)
    status = str(r["status"])
    proven = status.upper() in ("OPTIMAL", "OPTIMAL_STATUS") or status.lower() == "optimal"
    return {
        "seconds": r["seconds"],
        "backend": "highs (score model)",
        "status": status,
        "message": "",
        "placed": r["placed"],
        "total_score": None,
        "objective": r["score"],
        "missed": None,
        "bound": r["bound"],
        "verified": r["verified"],
        "proven": proven and r["score"] is not None,
    }


def run(
    generator: str, scenario: str, size: str, seed: int, limit: float, exact_limit: float, exact: bool
) -> dict[str, Any]:
    """One instance, every method; gaps and the pass/fail check in :func:`finish`."""
    start = time.perf_counter()
    inst = (
        contested_instance(size, seed)
        if generator == "contested"
        else realistic_instance(size, scenario, seed)
    )
    row: dict[str, Any] = {
        "generator": generator,
        "scenario": scenario,
        "size": size,
        "seed": seed,
        "limit": limit,
        "exact_limit": exact_limit if exact else None,
        "build_s": round(time.perf_counter() - start, 2),
        "default": run_solve(inst, None, limit),
    }
    # The same backend with the same limit is not run twice: the row repeats the default's.
    same = row["default"]["backend"] == "lagrange"
    row["lagrange"] = dict(row["default"]) if same else run_solve(inst, "lagrange", limit)
    if exact:
        row["mip"] = run_solve(inst, "mip", exact_limit)
        row["highs"] = run_highs(inst, exact_limit)
    return finish(row)


def finish(row: dict[str, Any]) -> dict[str, Any]:
    """Gaps to the best proven bound and to the proven optimum; ok unless a rule or a bound is broken."""
    bounds = [row[k]["bound"] for k in METHODS if k in row and row[k].get("bound") is not None]
    best_bound = min(bounds) if bounds else None
    highs = row.get("highs")
    optimum = highs["objective"] if highs and highs["proven"] else None
    row["best_bound"] = best_bound
    row["optimum"] = optimum
    ok = True
    for k in METHODS:
        if k not in row:
            continue
        r = row[k]
        value = r["objective"]
        r["gap_bound"] = _gap(best_bound, value)
        r["gap_optimum"] = _gap(optimum, value)
        ok &= bool(r["verified"])
        ok &= value is None or best_bound is None or value <= best_bound + 1e-6 * max(1.0, abs(best_bound))
    row["ok"] = bool(ok)
    return row


def _gap(reference: float | None, value: float | None) -> float | None:
    if reference is None or value is None or reference == 0:
        return None
    return round((reference - value) / abs(reference), 6)


def _pct(gap: float | None) -> str:
    return "-" if gap is None else f"{100 * gap:.2f}%"


def _markdown(rows: list[dict[str, Any]], machine: dict[str, Any]) -> str:
    lines = [
        f"Machine: {machine['processor'] or machine['machine']}, {machine['cpus']} CPUs, Python {machine['python']}. "
        "Objective = total score less 100 points per placement a soft floor misses (the `lagrange` "
        "objective), computed from each assignment; bound = that method's proven bound on it; "
        "gap to bound = (best proven bound of the instance - objective) / bound; gap to optimum "
        "= (the `highs` value when proven optimal - objective) / optimum. `default` and "
        "`lagrange` run with the time limit, `mip` and `highs` with the exact limit; `mip` "
        "(and `default` when it picks `mip`) maximizes the placed count first.",
        "",
        "| generator | scenario | size | method | backend | status | s | placed | objective | bound | gap to bound | gap to optimum |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        for k in METHODS:
            if k not in r:
                continue
            m = r[k]
            value = "none found" if m["objective"] is None else f"{m['objective']:,.1f}"
            bound = "-" if m["bound"] is None else f"{m['bound']:,.1f}"
            lines.append(
                f"| {r['generator']} | {r['scenario']} | {r['size']} | {k} | {m['backend']} | {m['status']} "
                f"| {m['seconds']:.1f} | {m['placed']:,} | {value} | {bound} | {_pct(m['gap_bound'])} "
                f"| {_pct(m['gap_optimum'])} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="2k only, short limits, no files (CI)")
    ap.add_argument("--sizes", nargs="*", choices=sorted(SIZES))
    ap.add_argument("--limit", type=float, default=60.0, help="time limit of default and lagrange")
    ap.add_argument("--exact-limit", type=float, default=600.0, help="time limit of mip and highs")
    ap.add_argument(
        "--exact-sizes", nargs="*", default=list(EXACT_SIZES), help="sizes at which mip and highs run"
    )
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--generators", nargs="*", default=["realistic", "contested"])
    ap.add_argument(
        "--append", action="store_true", help="add the rows to the existing results (replacing reruns)"
    )
    args = ap.parse_args(argv)
    sizes = args.sizes or (["2k"] if args.quick else ["2k", "10k"])
    limit = 10.0 if args.quick else args.limit
    exact_limit = 60.0 if args.quick else args.exact_limit
    rows = []
    for size in sizes:
        for generator, scenario in CASES:
            if generator not in args.generators:
                continue
            row = run(generator, scenario, size, args.seed, limit, exact_limit, size in args.exact_sizes)
            rows.append(row)
            print(json.dumps(row), flush=True)
    rows = publish(
        "quality",
        rows,
        _markdown,
        write=not args.quick,
        append=args.append,
        key=lambda r: (r["generator"], r["scenario"], r["size"]),
    )
    if not all(r["ok"] for r in rows):
        print("benchmark FAILED: a rule broken or a value above a proven bound", file=sys.stderr)
        return 1
    print("benchmark ok: every result verified, no value above a proven bound")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
