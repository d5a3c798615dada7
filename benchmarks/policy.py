"""Benchmark of the policy-constrained optimizer: prefecture caps (and sector caps) at scale.

For each size a seeded instance is generated under the Japan policy. Its unconstrained
welfare optimum (OR-Tools flow) fixes the caps so that they bind: every prefecture gets a
cap of 70% of what the optimum placed there; in the ``prefecture+sector`` scenario every
national sector cap is also set to 80% of what the optimum placed in that sector. The
``floors`` scenario has those sector caps but no prefecture caps, and floors instead: a
hard floor on the six Tohoku prefectures at 110% of what the optimum under those sector
caps placed there, and a soft floor per employer outside the metro prefectures of
60% of its declared capacity (penalty 1: a missing placement costs 100 points). The
``employer`` scenario is ``prefecture+sector`` plus the ESDP staff-tier intake table
applied to each employer's total across its sectors (``per = "employer"``), as
Technical Intern Training counts it. Then:

* ``matcher``: the ``lagrange`` backend's solver on the total score (less soft-floor
  penalties) -- one exact flow when the binding caps nest (prefecture caps alone), else
  the Lagrangian relaxation around the flow with its proven bound (time limit 60 s;
  eligibility included);
* ``cp-sat``: a plain CP-SAT model of the same problem (one boolean per pair, every cap
  and floor, maximize the same objective), one worker, the same time limit;
* ``highs``: the same model for the MIP solver HiGHS through OR-Tools (the rows of
  matcher's ``mip`` backend, here with the benchmark's one-level objective), one
  thread, the same time limit; up to 10k by default.

Both report the objective, placed count, the proven bound and the gap to the best bound
either of them proved. The run fails (exit 1) if a result breaks a cap, or a value
exceeds a proven bound; times are reported, never asserted.

    python -m benchmarks.policy --quick            # 2k, seconds; CI
    python -m benchmarks.policy --sizes 10k 100k   # writes results/policy.json and policy.md
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from ortools.sat.python import cp_model

from benchmarks import publish

POLICY = Path(__file__).parent.parent / "instances" / "policies" / "japan-2026.toml"
TOHOKU = ["Aomori", "Iwate", "Miyagi", "Akita", "Yamagata", "Fukushima"]
SIZES = {"2k": (2_000, 100), "10k": (10_000, 500), "100k": (100_000, 5_000), "1M": (1_000_000, 50_000)}
#: Methods of a row, in table order.
METHODS = ("matcher", "cp-sat", "highs")


def instance(size: str, scenario: str, seed: int) -> Any:
    """The generated instance with binding prefecture (and sector) caps."""
    import matcher
    from matcher.data.generate import generate_instance
    from matcher.data.load import instance_from_frames
    from matcher.data.policy import Floor, RegionalCap
    from matcher.eligibility.edges import build_edges

    n, m = SIZES[size]
    inst = instance_from_frames(
        **generate_instance(candidates=n, employers=m, seed=seed, list_length=20), policy=POLICY
    )
    base = matcher.solve(inst, backend="ortools", verify=False)
    placed = base.assignments.join(inst.employers.select("employer_id", "prefecture"), on="employer_id")
    caps = [
        RegionalCap(name=p, prefectures=[p], cap=int(c * 0.7))
        for p, c in placed.group_by("prefecture").len().sort("prefecture").iter_rows()
    ]
    update: dict[str, Any] = {"regional_caps": caps} if scenario != "floors" else {}
    if scenario in ("prefecture+sector", "floors", "employer"):
        edges = build_edges(inst)
        group = dict(zip(edges.slots["track"].to_list(), edges.slots["group"].to_list(), strict=False))
        used = (
            placed.with_columns(pl.col("track").replace_strict(group).alias("group"))
            .group_by("sector", "group")
            .len()
        )
        sectors = {k: v.model_copy(update={"caps": {}}) for k, v in inst.policy.sectors.items()}
        for s, g, c in used.iter_rows():
            sectors[s] = sectors[s].model_copy(update={"caps": {**sectors[s].caps, g: int(c * 0.8)}})
        update["sectors"] = sectors
    if scenario == "employer":
        (tiers,) = [r for r in inst.policy.intake if r.group == "esdp" and not r.sectors]
        update["intake"] = [
            *inst.policy.intake,
            tiers.model_copy(update={"name": "staff tiers per employer", "per": "employer"}),
        ]
    if scenario == "floors":
        # Tohoku gets 10% more than the optimum under the sector caps placed there.
        capped = dataclasses.replace(inst, policy=inst.policy.model_copy(update=update))
        there = matcher.solve(capped, verify=False).assignments.join(
            inst.employers.select("employer_id", "prefecture"), on="employer_id"
        )
        tohoku = int(there.filter(pl.col("prefecture").is_in(TOHOKU)).height * 1.1)
        update["floors"] = [
            Floor(name="tohoku", prefectures=TOHOKU, min=tohoku),
            Floor(name="rural fill", outside_region="metro", per="employer", min_share=0.6, penalty=1),
        ]
    return dataclasses.replace(inst, policy=inst.policy.model_copy(update=update))


def run_matcher(inst: Any, limit: float) -> dict[str, Any]:
    """matcher's decomposition on the same objective as the CP-SAT model (total score)."""
    from matcher.eligibility.constraints import floor_units
    from matcher.eligibility.edges import build_edges
    from matcher.output.report import assignments_frame
    from matcher.solvers.lagrange import solve_lagrangian
    from matcher.verification.assignment import verify_assignment

    start = time.perf_counter()
    edges = build_edges(inst)
    floors = floor_units(inst, edges)
    sol = solve_lagrangian(edges, time_limit_s=limit, objective="score", floors=floors)
    seconds = time.perf_counter() - start
    return {
        "seconds": round(seconds, 2),
        "status": sol.status.value,
        "placed": len(sol.chosen),
        "score": round(sol.value, 2),
        "bound": round(sol.bound, 2),
        "verified": verify_assignment(inst, assignments_frame(edges, sol.chosen)).ok,
        "layout": sol.stats["layout"],
        "iterations": sol.stats["iterations"],
        "floors": len(floors),
        "crossing_caps": int(edges.caps.regional_cap.size),  # regional, then employer caps
        "relaxed_caps": int(sol.stats.get("caps", 0)),  # those left outside the flow's tree
    }


def run_cpsat(inst: Any, limit: float) -> dict[str, Any]:
    """A plain CP-SAT model: boolean per pair, every cap and floor, maximize the total score
    less soft-floor penalties."""
    from matcher.eligibility.constraints import floor_units
    from matcher.eligibility.edges import build_edges
    from matcher.output.report import assignments_frame
    from matcher.solvers.lagrange import PLACEMENT_WORTH
    from matcher.verification.assignment import verify_assignment

    start = time.perf_counter()
    edges = build_edges(inst)
    caps = edges.caps
    model = cp_model.CpModel()
    x = [model.new_bool_var("") for _ in range(edges.n_pairs)]
    slot, intake, nat, tot = edges.cap_path()
    capacity = edges.slots["capacity"].to_numpy()

    def groups(key: np.ndarray, n: int) -> list[np.ndarray]:
        order = np.argsort(key, kind="stable")
        cut = np.searchsorted(key[order], np.arange(n + 1))
        return [order[cut[i] : cut[i + 1]] for i in range(n)]

    for ids in groups(edges.cand.astype(np.int64), len(edges.candidate_ids)):
        if len(ids) > 1:
            model.add_at_most_one(x[i] for i in ids)
    for key, cap in (
        (slot, capacity),
        (intake, caps.intake_cap),
        (nat, caps.national_cap),
        (tot, caps.total_cap),
    ):
        for k, ids in enumerate(groups(key, len(cap))):
            if cap[k] >= 0 and len(ids) > cap[k]:
                model.add(sum(x[i] for i in ids) <= int(cap[k]))
    ptr, pairs = edges.regional_pairs()  # regional caps, then employer caps
    for k, c in enumerate(caps.regional_cap):
        model.add(sum(x[int(i)] for i in pairs[ptr[k] : ptr[k + 1]]) <= int(c))
    # Floors: hard ones as constraints, soft ones with a shortfall variable that costs.
    shortfall = []
    for u in floor_units(inst, edges):
        got = sum(x[int(i)] for i in u.edges)
        if u.penalty == 0:
            model.add(got >= u.required)
        elif u.required > 0:
            short = model.new_int_var(0, u.required, "")
            model.add(got + short >= u.required)
            shortfall.append((short, u.penalty * PLACEMENT_WORTH * 100))
    score = np.rint(edges.score * 100).astype(np.int64)
    model.maximize(
        cp_model.LinearExpr.weighted_sum(x, score.tolist())
        - cp_model.LinearExpr.weighted_sum([v for v, _ in shortfall], [w for _, w in shortfall])
    )
    build = time.perf_counter() - start
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.max_time_in_seconds = limit
    status = solver.solve(model)
    seconds = time.perf_counter() - start
    out: dict[str, Any] = {
        "seconds": round(seconds, 2),
        "build_s": round(build, 2),
        "status": solver.status_name(status),
    }
    if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        chosen = np.flatnonzero([solver.boolean_value(v) for v in x])
        a = assignments_frame(edges, chosen)
        out.update(
            placed=len(chosen),
            score=round(float(solver.objective_value) / 100, 2),
            bound=round(float(solver.best_objective_bound) / 100, 2),
            verified=verify_assignment(inst, a).ok,
        )
    else:
        out.update(
            placed=0,
            score=None,
            bound=round(float(solver.best_objective_bound) / 100, 2) or None,
            verified=True,
        )
    return out


def run_mip(inst: Any, limit: float) -> dict[str, Any]:
    """The same model as :func:`run_cpsat` for a MIP solver reached through OR-Tools (HiGHS,
    the solver of matcher's ``mip`` backend; its rows), one thread, the same time limit."""
    from matcher.eligibility.constraints import floor_units
    from matcher.eligibility.edges import build_edges
    from matcher.output.report import assignments_frame
    from matcher.solvers.lagrange import PLACEMENT_WORTH
    from matcher.solvers.mip import cap_rows, solve_rows
    from matcher.verification.assignment import verify_assignment

    start = time.perf_counter()
    edges = build_edges(inst)
    rows = cap_rows(edges, floor_units(inst, edges))
    penalty = [-float(u.penalty * PLACEMENT_WORTH * 100) for u in rows.soft]
    objective = np.concatenate([np.rint(edges.score * 100), penalty])
    build = time.perf_counter() - start
    _, raw, values, value, bound = solve_rows(rows, objective, time_limit_s=limit)
    out: dict[str, Any] = {
        "seconds": round(time.perf_counter() - start, 2),
        "build_s": round(build, 2),
        "status": raw,
    }
    if values is None:
        return {**out, "placed": 0, "score": None, "bound": None, "verified": True}
    chosen = np.flatnonzero(values[: edges.n_pairs] > 0.5)
    return {
        **out,
        "placed": len(chosen),
        "score": round(value / 100, 2),
        "bound": round(bound / 100, 2),
        "verified": verify_assignment(inst, assignments_frame(edges, chosen)).ok,
    }


def run(size: str, scenario: str, seed: int, limit: float, cpsat: bool, highs: bool) -> dict[str, Any]:
    inst = instance(size, scenario, seed)
    row: dict[str, Any] = {
        "size": size,
        "scenario": scenario,
        "limit": limit,
        "matcher": run_matcher(inst, limit),
    }
    if cpsat:
        row["cp-sat"] = run_cpsat(inst, limit)
    if highs:
        row["highs"] = run_mip(inst, limit)
    return finish(row)


def finish(row: dict[str, Any]) -> dict[str, Any]:
    """Gaps against the best proven bound of the row; ok unless a cap or a bound is broken."""
    bounds = [r["bound"] for k, r in row.items() if k in METHODS and r.get("bound")]
    best_bound = min(bounds) if bounds else None
    ok = True
    for k in METHODS:
        if k in row:
            r = row[k]
            score = r.get("score")
            r["gap"] = (
                round((best_bound - score) / best_bound, 6) if best_bound and score is not None else None
            )
            ok &= r["verified"] and (score is None or best_bound is None or score <= best_bound + 1e-6)
    row["ok"] = bool(ok)
    return row


def _markdown(rows: list[dict[str, Any]], machine: dict[str, Any]) -> str:
    lines = [
        f"Machine: {machine['processor'] or machine['machine']}, {machine['cpus']} CPUs, Python {machine['python']}. "
        "Objective = total score, less 100 points per placement a soft floor misses; gap = (best "
        "proven bound - objective) / bound; limit = each method's time limit.",
        "",
        "| size | rules | method | status | limit s | s | placed | objective | proven bound | gap |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        for k in METHODS:
            if k in r:
                m = r[k]
                score = "none found" if m["score"] is None else f"{m['score']:,.1f}"
                bound = "none" if m["bound"] is None else f"{m['bound']:,.1f}"
                gap = "-" if m["gap"] is None else f"{100 * m['gap']:.2f}%"
                lines.append(
                    f"| {r['size']} | {r['scenario']} | {k} | {m['status']} | {r['limit']:.0f} | {m['seconds']:.1f} "
                    f"| {m['placed']:,} "
                    f"| {score} | {bound} | {gap} |"
                )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="2k only, short limits, no files (CI)")
    ap.add_argument("--sizes", nargs="*", choices=sorted(SIZES))
    ap.add_argument("--limit", type=float, default=60.0)
    ap.add_argument("--no-cpsat-above", default="100k", help="skip CP-SAT above this size")
    ap.add_argument("--no-highs-above", default="10k", help="skip HiGHS above this size")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--from-log", help=argparse.SUPPRESS)  # re-render rows printed by an earlier run
    ap.add_argument(
        "--scenarios", nargs="*", default=["prefecture", "prefecture+sector", "employer", "floors"]
    )
    ap.add_argument(
        "--append", action="store_true", help="add the rows to the existing results (replacing reruns)"
    )
    args = ap.parse_args(argv)
    sizes = args.sizes or (["2k"] if args.quick else ["10k", "100k"])
    limit = 5.0 if args.quick else args.limit
    order = list(SIZES)
    rows = []
    if args.from_log:
        for line in Path(args.from_log).read_text().splitlines():
            if line.startswith("{"):
                row = json.loads(line)
                row.setdefault("limit", limit)
                for k in METHODS:
                    if k in row and row[k]["status"] in ("UNKNOWN", "NOT_SOLVED"):
                        row[k]["score"] = None
                        row[k]["bound"] = row[k]["bound"] or None
                rows.append(finish(row))
        sizes = []
    for size in sizes:
        for scenario in args.scenarios:
            cpsat = order.index(size) <= order.index(args.no_cpsat_above)
            highs = order.index(size) <= order.index(args.no_highs_above)
            row = run(size, scenario, args.seed, limit, cpsat, highs)
            rows.append(row)
            print(json.dumps(row), flush=True)
    rows = publish(
        "policy",
        rows,
        _markdown,
        write=not args.quick,
        append=args.append,
        key=lambda r: (r["size"], r["scenario"]),
        merge=True,  # a rerun without CP-SAT or HiGHS keeps their saved results
    )
    if not all(r["ok"] for r in rows):
        print("benchmark FAILED: a cap broken or a value above a proven bound", file=sys.stderr)
        return 1
    print("benchmark ok: caps kept, values within the proven bounds")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
