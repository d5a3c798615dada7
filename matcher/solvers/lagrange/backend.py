"""The registry adapter: :func:`solve_request`, the ``lagrange`` backend's one entry point.

Three phases, on one objective (total score less soft-floor penalties):

1. The Lagrangian relaxation (:func:`solve_lagrangian`): an assignment that keeps every
   cap and a proven bound, at any size. Its repair can stay short of the optimum when
   caps that cross bind hard (contested generator, 100k candidates: 1.9% below the bound
   after 30 s, the bound itself 0.14% above the optimum).
2. A neighbourhood search (:func:`matcher.solvers.mip.solve_neighbourhood`): the
   candidates whose pair in the relaxed flow (at the bound's multipliers) differs from
   their pair in the repaired assignment are set free, everyone else keeps their pair,
   and the MIP re-optimizes the free ones exactly. On that instance: 566 candidates,
   1,307 pairs, 1.7 s, and the result is the optimum that the full MIP proves.
3. Within the MIP's size (:data:`matcher.solvers.registry.MIP_MAX_PAIRS`), the full MIP
   in the time left, which also proves the optimum when it finishes.

The relaxation gets :data:`LAGRANGE_SHARE` of the time limit when the full MIP can
follow, :data:`LAGRANGE_SHARE_LARGE` beyond its size; the best assignment is kept and
the smallest bound reported.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from typing import Any, Final

import numpy as np

from matcher.eligibility.constraints import FloorUnit
from matcher.solvers.lagrange.constants import I64, PLACEMENT_WORTH
from matcher.solvers.lagrange.relaxation import solve_lagrangian
from matcher.solvers.lagrange.solution import LagrangeSolution
from matcher.solvers.registry import (
    MIP_MAX_PAIRS,
    Bound,
    SolveRequest,
    SolverResult,
    SolverStats,
    floors_of,
    stage,
)
from matcher.status import Status

log = logging.getLogger("matcher")

#: The relaxation's share of the time limit when the full MIP follows it.
LAGRANGE_SHARE: Final[float] = 0.3
#: Its share beyond the MIP's size, where only the neighbourhood search follows.
LAGRANGE_SHARE_LARGE: Final[float] = 0.85
#: A MIP phase runs only with at least this many seconds left.
MIP_MIN_S: Final[float] = 1.0
#: The gap target: at or below it no MIP phase runs.
GAP_TARGET: Final[float] = 0.001


@dataclass
class _Best:
    """The best assignment so far, its value, the smallest bound, and what found it."""

    chosen: I64
    value: float
    bound: float
    by: str
    found: bool

    @property
    def gap(self) -> float:
        if not self.found or self.bound == float("inf"):
            return 1.0
        return max(0.0, (self.bound - self.value) / max(1.0, abs(self.bound)))

    def offer(self, chosen: I64, value: float, by: str) -> None:
        if not self.found or value > self.value:
            self.chosen, self.value, self.by, self.found = chosen, value, by, True


def solve_request(request: SolveRequest) -> SolverResult:
    """The registry's ``lagrange`` backend: the policy's floors (a hard floor that its
    eligible pairs or candidates cannot supply is infeasible before any solve), then the
    three phases of the module docstring while the gap is above :data:`GAP_TARGET` and
    time is left; the bound and gap unless proven optimal."""
    start = time.monotonic()
    times: dict[str, float] = {}
    floors, refused = floors_of(request, times, supply=True)
    if refused is not None:
        return refused
    mip_fits = request.edges.n_pairs <= MIP_MAX_PAIRS
    left = request.time_limit - (time.monotonic() - start)
    share = LAGRANGE_SHARE if mip_fits else LAGRANGE_SHARE_LARGE
    if left * (1 - share) < MIP_MIN_S:
        share = 1.0  # too little would be left for a MIP phase: all of it to the relaxation
    with stage(times, "solve"):
        lg = solve_lagrangian(
            request.edges,
            score_decimals=request.decimals,
            time_limit_s=left * share,
            gap_target=GAP_TARGET,
            arrangement=request.arrangement,
            floors=floors,
        )
    if lg.status is Status.OPTIMAL or lg.gap <= GAP_TARGET:
        return _result(lg, times)
    best = _Best(lg.chosen, lg.value, lg.bound, "the Lagrangian relaxation", lg.status.success)
    phases: dict[str, Any] = {}

    def left_s() -> float:
        return request.time_limit - (time.monotonic() - start)

    if best.found and lg.relaxed is not None and left_s() >= MIP_MIN_S:
        with stage(times, "neighbourhood"):
            phases["neighbourhood"] = _neighbourhood(request, lg, floors, left_s(), best)
    if mip_fits and best.gap > GAP_TARGET and left_s() >= MIP_MIN_S:
        log.info("gap %.3f%%: the MIP solves the same objective in the %.1f s left", 100 * best.gap, left_s())
        with stage(times, "mip"):
            phases["mip"] = _full_mip(request, floors, left_s(), best)
            if phases["mip"]["status"] == Status.INFEASIBLE.value and not best.found:
                stats = SolverStats(times=times, iterations=lg.stats["iterations"], layout=lg.stats["layout"])
                msg, conflict = phases["mip"]["message"], phases["mip"].get("conflict")
                return SolverResult(Status.INFEASIBLE, msg, best.chosen, conflict=conflict, stats=stats)
    if not phases:
        return _result(lg, times)
    return _result(_combined(lg, best, phases), times, phases)


def _neighbourhood(
    request: SolveRequest, lg: LagrangeSolution, floors: list[FloorUnit], left: float, best: _Best
) -> dict[str, Any]:
    """Phase 2: free the candidates whose relaxed and repaired pairs differ (at most
    :data:`MIP_MAX_PAIRS` pairs, lowest candidate numbers first), re-optimize them."""
    from matcher.solvers.mip import solve_neighbourhood

    edges = request.edges
    assert lg.relaxed is not None
    n_cand = len(edges.candidate_ids)
    relaxed = np.full(n_cand, -1, dtype=np.int64)
    relaxed[edges.cand[lg.relaxed]] = lg.relaxed
    repaired = np.full(n_cand, -1, dtype=np.int64)
    repaired[edges.cand[lg.chosen]] = lg.chosen
    free = relaxed != repaired
    pairs = np.flatnonzero(free[edges.cand]).astype(np.int64)
    if pairs.size > MIP_MAX_PAIRS:  # pairs are sorted by candidate: keep the first candidates whole
        last = edges.cand[pairs[MIP_MAX_PAIRS]]
        free[last:] = False
        pairs = np.flatnonzero(free[edges.cand]).astype(np.int64)
    fixed = lg.chosen[~free[edges.cand[lg.chosen]]].astype(np.int64)
    mp = solve_neighbourhood(
        edges, fixed, pairs, score_decimals=request.decimals, time_limit_s=left, floors=floors
    )
    info: dict[str, Any] = {
        "candidates": int(free.sum()), "pairs": int(pairs.size), "status": mp.status.value,
    }  # fmt: skip
    if mp.status.success:
        info["value"] = _value(request, mp.chosen, floors)
        best.offer(mp.chosen, info["value"], "the neighbourhood search")
    return info


def _full_mip(request: SolveRequest, floors: list[FloorUnit], left: float, best: _Best) -> dict[str, Any]:
    """Phase 3: the whole instance for the MIP on the same objective in ``left`` seconds."""
    from matcher.solvers.mip import solve_mip

    mp = solve_mip(
        request.edges, score_decimals=request.decimals, time_limit_s=left, floors=floors, objective="score"
    )
    info: dict[str, Any] = {"status": mp.status.value, "message": mp.message}
    if mp.conflict:
        info["conflict"] = mp.conflict
    if mp.status.success:
        value = _value(request, mp.chosen, floors)
        proven = (
            value if mp.status is Status.OPTIMAL else float(mp.bound["bound"]) if mp.bound else float("inf")
        )
        info.update(value=value, bound=proven)
        best.bound = min(best.bound, proven) if best.found else proven
        best.offer(mp.chosen, value, "the MIP")
    return info


def _combined(lg: LagrangeSolution, best: _Best, phases: dict[str, Any]) -> LagrangeSolution:
    """The phases' outcome as one solution, its message saying what each phase gave."""
    its = lg.stats["iterations"]
    steps = [
        f"the Lagrangian relaxation {'reached ' + format(lg.value, ',.2f') if lg.status.success else 'found none'} "
        f"with bound {lg.bound:,.2f} in {its} iteration{'s' * (its != 1)} (stopped: {lg.stats.get('stopped')})"
    ]
    if "neighbourhood" in phases:
        nb = phases["neighbourhood"]
        got = format(nb["value"], ",.2f") if "value" in nb else nb["status"]
        steps.append(f"the neighbourhood search over {nb['candidates']:,} candidates {got}")
    if "mip" in phases:
        steps.append(f"the MIP: {phases['mip']['message']}")
    detail = "; ".join(steps)
    if not best.found:
        return replace(lg, message=f"{lg.message}; {detail}")
    gap = best.gap
    proven = "proven optimal" if gap == 0 else f"within {gap:.3%} of the bound {best.bound:,.2f}"
    msg = f"{lg.objective} {best.value:,.2f} {proven} (assignment by {best.by}; {detail})"
    return LagrangeSolution(
        Status.FEASIBLE, msg, np.sort(best.chosen), best.value, best.bound, gap, lg.stats, lg.objective
    )


def _result(
    lg: LagrangeSolution, times: dict[str, float], extra: dict[str, Any] | None = None
) -> SolverResult:
    """The relaxation's outcome as a :class:`SolverResult`."""
    bound = None
    if lg.status is not Status.OPTIMAL:
        bound = Bound(lg.objective, lg.value, lg.bound, round(lg.gap, 6))
    stats = SolverStats(
        times=times,
        iterations=lg.stats["iterations"],
        layout=lg.stats["layout"],
        stopped=lg.stats.get("stopped"),
        floor_prices=lg.stats.get("floor_prices"),
        raw={**lg.stats, **(extra or {})},
    )
    return SolverResult(lg.status, lg.message, lg.chosen, bound=bound, stats=stats)


def _value(request: SolveRequest, chosen: I64, floors: list[FloorUnit]) -> float:
    """Total score of ``chosen`` less ``penalty * PLACEMENT_WORTH`` per placement a soft
    floor misses: the relaxation's objective, in score units."""
    unit = float(10**request.decimals)
    score = np.rint(request.edges.score * unit).astype(np.int64)
    placed = np.zeros(request.edges.n_pairs, dtype=bool)
    placed[chosen] = True
    soft = [u for u in floors if u.penalty > 0]
    missing = 0.0
    if soft:  # one pass over the floors' pairs (200,000 floors at 1M)
        size = np.array([u.edges.size for u in soft], dtype=np.int64)
        pairs = np.concatenate([u.edges for u in soft]).astype(np.int64)
        owner = np.repeat(np.arange(len(soft), dtype=np.int64), size)
        met = np.bincount(owner, weights=placed[pairs], minlength=len(soft))
        required = np.array([u.required for u in soft], dtype=np.float64)
        penalty = np.array([u.penalty for u in soft], dtype=np.float64)
        missing = float(penalty @ np.maximum(required - met, 0.0))
    return (float(score[chosen].sum()) - missing * PLACEMENT_WORTH * unit) / unit
