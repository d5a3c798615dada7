"""Exact welfare-optimal assignment by OR-Tools min-cost flow.

Network (all arcs added with one vectorized call):

    source -> candidate (cap 1) -> slot (cap 1 per eligible pair, cost below)
           -> slot node -> intake (employer, sector, track group; cap = declared capacity)
           -> national (sector, group; cap = employer intake cap)
           -> total (group; cap = national sector cap) -> sink (cap = group total cap)

Every unit of flow is one placed candidate, and the caps are a laminar family, so an
integral min-cost flow is an optimal assignment.

Lexicographic objective as integer costs, without overflow:

1. *Most placed* is not in the costs at all: ``SolveMaxFlowWithMinCost`` first finds the
   maximum flow, then the cheapest flow of that value.
2. *Most total score*: scores are integers ``s`` in [0, 100 * 10**d], in units of
   ``10**-d`` for ``d = score_decimals``, a scale that holds every score exactly
   (:func:`matcher.eligibility.scale.score_scale`: the policy's decimals, or more when a score
   has more).
3. *Least rank sum*: an arc's cost is ``-B * s + rank`` with ``B = R + 1``, where ``R`` is
   the sum over candidates of their largest eligible rank: any two assignments differ in
   rank sum by at most ``R``, so one unit of score outweighs every rank difference.

OR-Tools scales costs by (nodes + 1) internally, so the costs are used only when
``max|cost| * (nodes + 1)`` and ``max|cost| * max_flow`` stay below 2**62; otherwise the
rank level is dropped (costs ``-s``), the result is exact on levels 1-2 and the status
is ``feasible`` with a message saying so.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from ortools.graph.python import min_cost_flow

from matcher.eligibility.edges import Edges
from matcher.solvers.network import flow_network
from matcher.solvers.registry import SolveRequest, SolverResult, SolverStats, check_flow_scale, stage
from matcher.status import Status, translate

log = logging.getLogger("matcher")


@dataclass(frozen=True)
class FlowSolution:
    """Chosen edges (indices into the edge arrays) and the solve status."""

    status: Status
    message: str
    chosen: npt.NDArray[np.int64]
    rank_weight: int


def solve_flow(edges: Edges, *, score_decimals: int = 2) -> FlowSolution:
    """Solve the welfare problem on ``edges`` exactly with OR-Tools min-cost flow."""
    caps = edges.caps
    net = flow_network(edges, score_decimals=score_decimals)
    source, sink = 0, 1
    n_slot, n_int, n_nat, n_tot = net.n_slot, net.n_int, net.n_nat, net.n_tot
    cand0, slot0, int0, nat0, tot0 = net.cand0, net.slot0, net.int0, net.nat0, net.tot0
    num_nodes, capacity, big, cands = net.num_nodes, net.capacity, net.big, net.cands
    max_flow, costs, b, rank_kept = net.max_flow, net.costs, net.rank_weight, net.rank_kept

    def unlimited(cap: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        return np.where(cap < 0, big, cap).astype(np.int64)

    n_edges = edges.n_pairs
    # Arc groups, in order: pairs first so that arc i is edge i.
    tails = np.concatenate(
        [
            cand0 + edges.cand.astype(np.int64),  # each eligible pair: candidate -> slot
            np.full(len(cands), source, dtype=np.int64),  # each candidate is placed at most once
            slot0 + np.arange(n_slot, dtype=np.int64),  # a slot takes at most its capacity
            int0 + np.arange(n_int, dtype=np.int64),  # the employer's intake cap per sector/group
            nat0 + np.arange(n_nat, dtype=np.int64),  # the national cap per sector/group
            tot0 + np.arange(n_tot, dtype=np.int64),  # the total cap per track group
        ]
    )
    heads = np.concatenate(
        [
            slot0 + edges.slot.astype(np.int64),
            cand0 + cands,
            int0 + caps.slot_intake.astype(np.int64),
            nat0 + caps.intake_national.astype(np.int64),
            tot0 + caps.national_total.astype(np.int64),
            np.full(n_tot, sink, dtype=np.int64),
        ]
    )
    arc_caps = np.concatenate(
        [
            np.ones(n_edges, dtype=np.int64),
            np.ones(len(cands), dtype=np.int64),
            capacity,
            unlimited(caps.intake_cap),
            unlimited(caps.national_cap),
            unlimited(caps.total_cap),
        ]
    )
    arc_costs = np.concatenate([costs, np.zeros(len(tails) - n_edges, dtype=np.int64)])
    if n_edges == 0:
        return FlowSolution(
            Status.OPTIMAL, "no eligible pair: nothing to place", np.zeros(0, dtype=np.int64), b
        )
    mcf = min_cost_flow.SimpleMinCostFlow()
    mcf.add_arcs_with_capacity_and_unit_cost(
        tails.astype(np.int32), heads.astype(np.int32), arc_caps, arc_costs
    )
    # Offer as many units as could possibly be placed; the max-flow step sends what fits.
    mcf.set_node_supply(source, max_flow)
    mcf.set_node_supply(sink, -max_flow)
    log.info("min-cost flow: %s nodes, %s arcs", num_nodes, len(tails))
    raw_status = mcf.solve_max_flow_with_min_cost()
    status = translate("ortools_min_cost_flow", raw_status.name)
    if status is not Status.OPTIMAL:
        return FlowSolution(
            status, f"OR-Tools min-cost flow returned {raw_status.name}", np.zeros(0, dtype=np.int64), b
        )
    flows = mcf.flows(np.arange(n_edges, dtype=np.int32))
    chosen = np.flatnonzero(np.asarray(flows) > 0).astype(np.int64)
    if not rank_kept:
        return FlowSolution(
            Status.FEASIBLE,
            "optimal for placed count and total score; the rank tie-break was skipped because "
            "its weights would overflow 64-bit costs (shorten preference lists)",
            chosen,
            b,
        )
    return FlowSolution(Status.OPTIMAL, "optimal", chosen, b)


def solve_request(request: SolveRequest) -> SolverResult:
    """The registry's ``ortools`` backend: :func:`solve_flow` at the request's score scale,
    after checking that its 64-bit costs hold that scale with the rank tie-break."""
    check_flow_scale(request)
    times: dict[str, float] = {}
    with stage(times, "solve"):
        sol = solve_flow(request.edges, score_decimals=request.decimals)
    return SolverResult(sol.status, sol.message, sol.chosen, stats=SolverStats(times=times))
