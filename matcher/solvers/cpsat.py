"""Exact welfare optimum by CP-SAT, for policies whose caps cross (small instances).

Regional caps (prefecture sets) and the nationality rules per employer (share cap, peer
support) cross the sector caps, so the min-cost flow cannot express them. CP-SAT can: one boolean per eligible pair, one linear constraint per
capacity or cap, and the lexicographic objective as three solves, each fixing the level
before (most placed, then most total score, then least rank sum), hinted with the
previous solution. Building the model walks the pairs in Python, so this backend is for
instances of up to :data:`MAX_PAIRS` pairs; the flow (or a decomposition) is the path
for national scale.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from ortools.sat.python import cp_model

from matcher.data.policy import Diversity
from matcher.eligibility import constraints
from matcher.eligibility.constraints import FAIR_SCALE, FairGroups, FloorUnit
from matcher.eligibility.edges import Edges
from matcher.solvers.registry import (
    CPSAT_MAX_PAIRS,
    Bound,
    Fairness,
    SolveRequest,
    SolverResult,
    SolverStats,
    floors_of,
    stage,
    welfare_flow,
)
from matcher.status import Status, translate

#: Largest instance (eligible pairs) this backend accepts.
MAX_PAIRS: Final[int] = CPSAT_MAX_PAIRS


@dataclass(frozen=True)
class CpSatSolution:
    """Status, chosen edges, and (when a level was not proven) its bound and gap.

    ``bound``: ``{"level", "objective", "bound", "gap"}`` of the first unproven level
    (gap relative to the bound), or None when every level is optimal.
    ``conflict``: for an infeasible model, the hard floors that together cannot be met.
    """

    status: Status
    message: str
    chosen: npt.NDArray[np.int64]
    bound: dict[str, Any] | None = None
    conflict: list[str] = field(default_factory=list)


def _groups(index: npt.NDArray[np.int64], n: int) -> list[npt.NDArray[np.int64]]:
    """Edge ids per value of ``index`` (0..n-1), via one stable argsort."""
    order = np.argsort(index, kind="stable")
    bounds = np.searchsorted(index[order], np.arange(n + 1))
    return [order[bounds[i] : bounds[i + 1]] for i in range(n)]


def _diversity(
    model: cp_model.CpModel,
    x: list[cp_model.IntVar],
    edges: Edges,
    nationality: npt.NDArray[np.int64],
    rules: Diversity,
) -> None:
    """Nationality share cap and peer support, per employer (all its sectors together)."""
    emp = edges.slots.get_column("emp").to_numpy().astype(np.int64)[edges.slot]
    nat = nationality[edges.cand]
    share = rules.share_fraction()
    n_emp = int(emp.max()) + 1 if emp.size else 0
    for e, ids in enumerate(_groups(emp, n_emp)):
        if len(ids) == 0:
            continue
        total = cp_model.LinearExpr.sum([x[int(i)] for i in ids])
        codes = nat[ids]
        for code in np.unique(codes):
            members = ids[codes == code]
            count = cp_model.LinearExpr.sum([x[int(i)] for i in members])
            # Share cap: count <= share * total, unless count <= exempt_up_to.
            if share is not None and len(members) > rules.exempt_up_to:
                within = model.new_bool_var(f"share_{e}_{code}")
                model.add(share.denominator * count <= share.numerator * total).only_enforce_if(within)
                model.add(count <= rules.exempt_up_to).only_enforce_if(~within)
            # Peer support: none of a nationality, or at least two.
            if rules.peer_support:
                if len(members) == 1:
                    model.add(count == 0)
                else:
                    some = model.new_bool_var(f"peer_{e}_{code}")
                    model.add(count >= 2).only_enforce_if(some)
                    model.add(count == 0).only_enforce_if(~some)


def _joint(
    model: cp_model.CpModel,
    x: list[cp_model.IntVar],
    edges: Edges,
    group: npt.NDArray[np.int64],
    pref: npt.NDArray[np.int64],
) -> None:
    """Members of a joint group: placed in the same prefecture, or none of them."""
    cand = edges.cand.astype(np.int64)
    ids = np.flatnonzero(group[cand] >= 0)
    members_of: dict[int, list[int]] = {}
    for c in np.flatnonzero(group >= 0):
        members_of.setdefault(int(group[c]), []).append(int(c))
    placed_in: dict[tuple[int, int], list[int]] = {}
    for e in ids.tolist():
        placed_in.setdefault((int(cand[e]), int(pref[e])), []).append(e)
    for _, members in sorted(members_of.items()):
        mset = set(members)
        prefs = sorted({p for (m, p) in placed_in if m in mset})
        # Every member is placed in prefecture p exactly when the first member is (a member
        # without a pair in p, or without any pair, keeps the whole group out of p).
        for p in prefs:
            first = cp_model.LinearExpr.sum([x[e] for e in placed_in.get((members[0], p), [])])
            for m in members[1:]:
                model.add(cp_model.LinearExpr.sum([x[e] for e in placed_in.get((m, p), [])]) == first)


def solve_cpsat(
    edges: Edges,
    *,
    score_decimals: int = 2,
    time_limit_s: float = 60.0,
    nationality: npt.NDArray[np.int64] | None = None,
    diversity: Diversity | None = None,
    joint_group: npt.NDArray[np.int64] | None = None,
    edge_prefecture: npt.NDArray[np.int64] | None = None,
    floors: list[FloorUnit] | None = None,
    fairness: FairGroups | None = None,
    hint: npt.NDArray[np.int64] | None = None,
) -> CpSatSolution:
    """Lexicographic welfare optimum under every cap, regional caps included.

    ``diversity`` (with ``nationality``, a code per candidate index) adds the policy's
    nationality rules per employer. ``joint_group`` (a group index per candidate, -1 for
    none) with ``edge_prefecture`` (a prefecture code per edge) adds joint applications:
    a group's members are placed in one prefecture, or none of them is. ``floors``: hard
    ones are constraints, soft ones subtract ``penalty`` per missing placement from the
    first level. ``fairness``: a level before welfare that maximizes the smallest group
    ratio (times :data:`matcher.eligibility.constraints.FAIR_SCALE`). ``hint``: edges of a starting
    assignment (e.g. the flow optimum cut down to the rules). ``time_limit_s`` is the budget of the whole solve (all levels): when it
    runs out, the best assignment so far comes back ``feasible`` with the level's bound.
    ``score_decimals``: scores become integers in units of ``10**-score_decimals``, a
    scale that must hold every score exactly (:func:`matcher.eligibility.scale.score_scale`).
    """
    n = edges.n_pairs
    if n > MAX_PAIRS:
        raise ValueError(f"the CP-SAT backend takes at most {MAX_PAIRS:,} eligible pairs, got {n:,}")
    if n == 0:
        return CpSatSolution(
            Status.OPTIMAL, "no eligible pair: nothing to place", np.zeros(0, dtype=np.int64)
        )
    caps = edges.caps
    slot, intake, national, total = edges.cap_path()
    capacity = edges.slots.get_column("capacity").to_numpy().astype(np.int64)
    model = cp_model.CpModel()
    x = [model.new_bool_var(f"x{e}") for e in range(n)]

    def at_most(ids: npt.NDArray[np.int64], cap: int) -> None:
        if len(ids) > cap:
            model.add(sum(x[int(e)] for e in ids) <= cap)

    # Each candidate is placed at most once.
    for ids in _groups(edges.cand.astype(np.int64), len(edges.candidate_ids)):
        if len(ids) > 1:
            model.add_at_most_one(x[int(e)] for e in ids)
    # Slot capacities.
    for s, ids in enumerate(_groups(slot, len(capacity))):
        at_most(ids, int(capacity[s]))
    # Employer intake caps, national sector caps, track-group totals (-1: none).
    for index, cap_of in ((intake, caps.intake_cap), (national, caps.national_cap), (total, caps.total_cap)):
        for k, ids in enumerate(_groups(index, len(cap_of))):
            if cap_of[k] >= 0:
                at_most(ids, int(cap_of[k]))
    # Regional and employer caps: every pair whose intake node the cap counts.
    ptr, pairs = edges.regional_pairs()
    for k, cap_k in enumerate(caps.regional_cap):
        at_most(pairs[ptr[k] : ptr[k + 1]], int(cap_k))

    if diversity is not None and diversity.active:
        if nationality is None:
            raise ValueError("diversity rules need the candidates' nationality codes")
        _diversity(model, x, edges, nationality, diversity)

    if joint_group is not None and (joint_group >= 0).any():
        if edge_prefecture is None:
            raise ValueError("joint applications need the prefecture of every edge")
        _joint(model, x, edges, joint_group, edge_prefecture)

    # Floors: hard ones behind an assumption literal (to name them if infeasible), soft
    # ones with a shortfall variable that costs `penalty` placements each.
    hard: dict[int, str] = {}
    shortfall: list[tuple[cp_model.IntVar, int]] = []
    for k, unit in enumerate(floors or []):
        in_floor = cp_model.LinearExpr.weighted_sum([x[int(e)] for e in unit.edges], [1] * len(unit.edges))
        if unit.penalty == 0:
            lit = model.new_bool_var(f"floor{k}")
            model.add_linear_constraint(
                in_floor, unit.required, len(unit.edges) + unit.required
            ).only_enforce_if(lit)
            hard[lit.index] = unit.label
        elif unit.required > 0:
            short = model.new_int_var(0, unit.required, f"short{k}")
            model.add_linear_constraint(in_floor + short, unit.required, len(unit.edges) + unit.required)
            shortfall.append((short, unit.penalty))
    if hard:
        model.add_assumptions([model.get_bool_var_from_proto_index(i) for i in hard])

    score = np.rint(edges.score * 10**score_decimals).astype(np.int64)
    rank = edges.rank.astype(np.int64)
    first = cp_model.LinearExpr.sum(x)
    if shortfall:
        first = first - cp_model.LinearExpr.weighted_sum([v for v, _ in shortfall], [p for _, p in shortfall])
    fair_levels: list[tuple[Any, bool]] = []
    if fairness is not None and fairness.labels:
        top = max(
            -(-int(w.sum()) * FAIR_SCALE // d)
            for w, d in zip(fairness.weight, fairness.denominator, strict=True)
        )
        lowest = model.new_int_var(0, max(top, 0), "fairness")
        # Every group's ratio is at least the fairness level.
        for ids, w, d in zip(fairness.edges, fairness.weight, fairness.denominator, strict=True):
            got = cp_model.LinearExpr.weighted_sum([x[int(e)] for e in ids], (w * FAIR_SCALE).tolist())
            model.add(got >= d * lowest)
        fair_levels.append((lowest, True))
    levels = [
        *fair_levels,
        (first, True),
        (cp_model.LinearExpr.weighted_sum(x, score.tolist()), True),
        (cp_model.LinearExpr.weighted_sum(x, rank.tolist()), False),
    ]
    hint_ok = False
    if hint is not None:
        on = np.zeros(n, dtype=bool)
        on[hint] = True
        for e, var in enumerate(x):
            model.add_hint(var, bool(on[e]))
        # The hint keeps every cap and rule but may leave a hard floor short.
        hint_ok = all(int(on[u.edges].sum()) >= u.required for u in floors or [] if u.penalty == 0)
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    deadline = time.monotonic() + time_limit_s
    names = (["lowest group ratio"] if fair_levels else []) + [
        "placed count" + (" minus floor penalties" if shortfall else ""),
        "total score",
        "rank sum",
    ]
    chosen: npt.NDArray[np.int64] | None = None
    empty = np.zeros(0, dtype=np.int64)
    for level, (expr, maximize) in enumerate(levels):
        if maximize:
            model.maximize(expr)
        else:
            model.minimize(expr)
        solver.parameters.max_time_in_seconds = max(0.01, deadline - time.monotonic())
        raw = solver.solve(model)
        status = translate("ortools_cp_sat", solver.status_name(raw))
        if status.success:
            chosen = np.flatnonzero([solver.boolean_value(v) for v in x]).astype(np.int64)
        if status is Status.INFEASIBLE:
            conflict = sorted(hard[i] for i in solver.sufficient_assumptions_for_infeasibility() if i in hard)
            why = (
                "these hard floors cannot all be met under the caps: " + "; ".join(conflict)
                if conflict
                else "the caps and rules admit no assignment"
            )
            return CpSatSolution(Status.INFEASIBLE, why, empty, conflict=conflict)
        if status is not Status.OPTIMAL:
            if chosen is None and hint_ok:
                assert hint is not None
                # Nothing found in time: the hint is feasible, return it rather than nothing.
                return CpSatSolution(
                    Status.FEASIBLE,
                    f"time limit: CP-SAT found no assignment; returning the starting one (the flow "
                    f"optimum cut down to the rules), not proven on {names[level]}",
                    np.sort(hint),
                )
            if chosen is None:
                return CpSatSolution(
                    status, f"CP-SAT returned {solver.status_name(raw)} (time limit?)", empty
                )
            # The time limit struck: the best assignment so far, optimal up to this level.
            value, bnd = float(solver.objective_value), float(solver.best_objective_bound)
            gap = abs(bnd - value) / max(1.0, abs(bnd))
            return CpSatSolution(
                Status.FEASIBLE,
                f"time limit: optimal up to level {level} of {len(levels)}; {names[level]} within "
                f"{gap:.2%} of its bound",
                chosen,
                bound={"level": names[level], "objective": value, "bound": bnd, "gap": round(gap, 6)},
            )
        model.add(expr == round(solver.objective_value))  # keep this level while improving the next
        model.clear_hints()  # type: ignore[no-untyped-call]
        for var in x:
            model.add_hint(var, solver.boolean_value(var))
    assert chosen is not None
    return CpSatSolution(Status.OPTIMAL, "optimal (CP-SAT)", chosen)


def _hint(request: SolveRequest) -> npt.NDArray[np.int64] | None:
    """The starting point: the flow optimum under the nested caps, cut down to the rules
    that cross them (so a time limit always has a good assignment to return)."""
    edges = request.edges
    if edges.n_pairs == 0:
        return None
    sol = welfare_flow(edges.nested_only(), request.decimals)
    if not sol.status.success:
        return None
    return constraints.drop_to_feasible(request.instance, edges, sol.chosen)


def _fairness(
    request: SolveRequest, inputs: dict[str, Any], chosen: npt.NDArray[np.int64], times: dict[str, float]
) -> Fairness:
    """Group ratios of the fair assignment, and the price of fairness: what the welfare
    optimum under the same rules (fairness objective left out) places and scores more."""
    edges = request.edges
    groups = inputs["fairness"]
    values = constraints.fairness_values(groups, chosen)
    report = {
        "kind": groups.kind,
        "lowest": round(min(values.values()), 6) if values else None,
        "groups": {k: round(v, 6) for k, v in values.items()},
    }
    with stage(times, "welfare_optimum"):
        ref = solve_cpsat(
            edges,
            score_decimals=request.decimals,
            time_limit_s=request.time_limit,
            **{**inputs, "fairness": None},
        )
    if not ref.status.success:
        return Fairness(report, None)
    score = float(edges.score[chosen].sum())
    ref_score = float(edges.score[ref.chosen].sum())
    price = {
        "welfare_status": ref.status.value,
        "optimal": {"matched": len(ref.chosen), "total_score": round(ref_score, 6)},
        "fair": {"matched": len(chosen), "total_score": round(score, 6)},
        "matched_lost": len(ref.chosen) - len(chosen),
        "score_lost": round(ref_score - score, 6),
    }
    return Fairness(report, price)


def solve_request(request: SolveRequest) -> SolverResult:
    """The registry's ``cpsat`` backend: the instance's crossing rules as
    :func:`solve_cpsat` inputs (a hard floor above its eligible pairs is infeasible before
    any solve), hinted with the flow optimum cut down to the rules, within the request's
    time limit; with a fairness objective, also the price of fairness."""
    instance, edges, decimals = request.instance, request.edges, request.decimals
    times: dict[str, float] = {}
    floors, refused = floors_of(request, times, supply=False)
    if refused is not None:
        return refused
    inputs = constraints.crossing_inputs(instance, edges, floors, score_decimals=decimals)
    with stage(times, "solve"):
        hint = _hint(request)
        cp = solve_cpsat(edges, score_decimals=decimals, time_limit_s=request.time_limit, hint=hint, **inputs)
    fairness = None
    if inputs["fairness"] is not None and cp.status.success:
        fairness = _fairness(request, inputs, cp.chosen, times)
    return SolverResult(
        cp.status,
        cp.message,
        cp.chosen,
        bound=Bound(**cp.bound) if cp.bound is not None else None,
        conflict=cp.conflict or None,
        stats=SolverStats(times=times),
        fairness=fairness,
    )
