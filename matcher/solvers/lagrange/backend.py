"""The registry adapter: :func:`solve_request`, the ``lagrange`` backend's one entry point."""

from __future__ import annotations

from matcher.solvers.lagrange.relaxation import solve_lagrangian
from matcher.solvers.registry import Bound, SolveRequest, SolverResult, SolverStats, floors_of, stage
from matcher.status import Status


def solve_request(request: SolveRequest) -> SolverResult:
    """The registry's ``lagrange`` backend: the policy's floors (a hard floor that its
    eligible pairs or candidates cannot supply is infeasible before any solve), then
    :func:`solve_lagrangian` on the request's cap layout within its time limit; the bound
    and gap unless proven optimal."""
    times: dict[str, float] = {}
    floors, refused = floors_of(request, times, supply=True)
    if refused is not None:
        return refused
    with stage(times, "solve"):
        lg = solve_lagrangian(
            request.edges,
            score_decimals=request.decimals,
            time_limit_s=request.time_limit,
            arrangement=request.arrangement,
            floors=floors,
        )
    bound = None
    if lg.status is not Status.OPTIMAL:
        bound = Bound(lg.objective, lg.value, lg.bound, round(lg.gap, 6))
    stats = SolverStats(
        times=times,
        iterations=lg.stats["iterations"],
        layout=lg.stats["layout"],
        floor_prices=lg.stats.get("floor_prices"),
        raw=lg.stats,
    )
    return SolverResult(lg.status, lg.message, lg.chosen, bound=bound, stats=stats)
