"""The registry adapter: :func:`solve_request`, the ``lagrange`` backend's one entry point.

Two phases. The Lagrangian relaxation (:func:`solve_lagrangian`) gives an assignment
that keeps every cap and a proven bound at any size. Where the instance is within the
MIP backend's size (:data:`matcher.solvers.registry.MIP_MAX_PAIRS`), the relaxation gets
:data:`LAGRANGE_SHARE` of the time limit and the MIP (HiGHS) the rest, on the same
objective (total score less soft-floor penalties): the better assignment is kept and the
smaller bound reported. The relaxation's repair can stay well short of the optimum when
caps that cross bind hard (measured: 0.7-1.5% below it on instances from the contested
generator, docs/benchmarks.md), where the MIP proves the optimum of such instances in
seconds to a minute; beyond its size the relaxation alone runs, with the whole limit.
"""

from __future__ import annotations

import logging
import time
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

#: The relaxation's share of the time limit when the MIP follows it.
LAGRANGE_SHARE: Final[float] = 0.3
#: The MIP follows only with at least this many seconds left.
MIP_MIN_S: Final[float] = 1.0
#: The relaxation's gap target: at or below it the MIP does not run.
GAP_TARGET: Final[float] = 0.001


def solve_request(request: SolveRequest) -> SolverResult:
    """The registry's ``lagrange`` backend: the policy's floors (a hard floor that its
    eligible pairs or candidates cannot supply is infeasible before any solve), then
    :func:`solve_lagrangian` on the request's cap layout, then, within the MIP's size and
    while the gap is above :data:`GAP_TARGET`, the MIP on the same objective in the time
    left; the bound and gap unless proven optimal."""
    start = time.monotonic()
    times: dict[str, float] = {}
    floors, refused = floors_of(request, times, supply=True)
    if refused is not None:
        return refused
    mip_fits = request.edges.n_pairs <= MIP_MAX_PAIRS
    left = request.time_limit - (time.monotonic() - start)
    with stage(times, "solve"):
        lg = solve_lagrangian(
            request.edges,
            score_decimals=request.decimals,
            time_limit_s=left * LAGRANGE_SHARE if mip_fits else left,
            gap_target=GAP_TARGET,
            arrangement=request.arrangement,
            floors=floors,
        )
    left = request.time_limit - (time.monotonic() - start)
    if lg.status is Status.OPTIMAL or not mip_fits or left < MIP_MIN_S or lg.gap <= GAP_TARGET:
        return _result(lg, times)
    log.info(
        "lagrangian gap %.3f%%: the MIP solves the same objective in the %.1f s left", 100 * lg.gap, left
    )
    with stage(times, "mip"):
        return _with_mip(request, lg, floors, left, times)


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


def _with_mip(
    request: SolveRequest, lg: LagrangeSolution, floors: list[FloorUnit], left: float, times: dict[str, float]
) -> SolverResult:
    """The MIP on the relaxation's objective in ``left`` seconds; the better assignment,
    the smaller bound."""
    from matcher.solvers.mip import solve_mip

    mp = solve_mip(
        request.edges, score_decimals=request.decimals, time_limit_s=left, floors=floors, objective="score"
    )
    found = lg.chosen.size > 0 or lg.status.success
    if mp.status is Status.INFEASIBLE and not found:
        stats = SolverStats(times=times, iterations=lg.stats["iterations"], layout=lg.stats["layout"])
        return SolverResult(mp.status, mp.message, mp.chosen, conflict=mp.conflict or None, stats=stats)
    mip_info: dict[str, Any] = {"status": mp.status.value, "message": mp.message}
    if not mp.status.success:
        if found:
            return _result(lg, times, {"mip": mip_info})
        msg = f"{lg.message}; the MIP found none in the {left:.1f} s left ({mp.message})"
        return _result(_replace(lg, message=msg), times, {"mip": mip_info})
    value = _value(request, mp.chosen, floors)
    mip_bound = (
        value if mp.status is Status.OPTIMAL else float(mp.bound["bound"]) if mp.bound else float("inf")
    )
    bound = min(lg.bound, mip_bound) if found else mip_bound
    mip_info.update(value=value, bound=mip_bound)
    if found and lg.value >= value:
        best, chosen, by = lg.value, lg.chosen, "the Lagrangian relaxation"
    else:
        best, chosen, by = value, mp.chosen, "the MIP"
    gap = max(0.0, (bound - best) / abs(bound)) if bound not in (0.0, float("inf")) else 0.0
    proven = "proven optimal" if gap == 0 else f"within {gap:.3%} of the bound {bound:,.2f}"
    msg = (
        f"{lg.objective} {best:,.2f} {proven} (assignment by {by}; the Lagrangian relaxation "
        f"{'reached ' + format(lg.value, ',.2f') if found else 'found none'} with bound {lg.bound:,.2f} "
        f"in {lg.stats['iterations']} iterations, stopped: {lg.stats.get('stopped')}; then the MIP: {mp.message})"
    )
    solved = LagrangeSolution(Status.FEASIBLE, msg, np.sort(chosen), best, bound, gap, lg.stats, lg.objective)
    mip_info["used"] = by == "the MIP"
    return _result(solved, times, {"mip": mip_info})


def _replace(lg: LagrangeSolution, *, message: str) -> LagrangeSolution:
    from dataclasses import replace

    return replace(lg, message=message)


def _value(request: SolveRequest, chosen: I64, floors: list[FloorUnit]) -> float:
    """Total score of ``chosen`` less ``penalty * PLACEMENT_WORTH`` per placement a soft
    floor misses: the relaxation's objective, in score units."""
    unit = float(10**request.decimals)
    score = np.rint(request.edges.score * unit).astype(np.int64)
    placed = np.zeros(request.edges.n_pairs, dtype=bool)
    placed[chosen] = True
    missing = sum(
        float(u.penalty) * max(0, int(u.required) - int(placed[u.edges].sum()))
        for u in floors
        if u.penalty > 0
    )
    return (float(score[chosen].sum()) - missing * PLACEMENT_WORTH * unit) / unit
