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
2. *Most total score*: scores are rounded to ``score_decimals`` (default 2) and made
   integers ``s`` in [0, 100 * 10**d].
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

from matcher.eligibility import Edges
from matcher.solvers.status import Status, translate

log = logging.getLogger("matcher")

_LIMIT = 1 << 62


@dataclass(frozen=True)
class FlowSolution:
    """Chosen edges (indices into the edge arrays) and the solve status."""

    status: Status
    message: str
    chosen: npt.NDArray[np.int64]
    rank_weight: int


def lexicographic_costs(
    edges: Edges, *, score_decimals: int, num_nodes: int, max_flow: int
) -> tuple[npt.NDArray[np.int64], int, bool]:
    """Arc costs for the candidate->slot arcs; returns (costs, B, rank level kept)."""
    s = np.rint(edges.score * 10**score_decimals).astype(np.int64)
    rank = edges.rank.astype(np.int64)
    if rank.size:
        max_rank = np.zeros(int(edges.cand.max()) + 1, dtype=np.int64)
        np.maximum.at(max_rank, edges.cand, rank)
        r_total = int(max_rank.sum())
    else:
        r_total = 0
    b = r_total + 1
    s_max = 100 * 10**score_decimals
    worst = b * s_max + (int(rank.max()) if rank.size else 0)
    if worst * (num_nodes + 1) < _LIMIT and worst * max(max_flow, 1) < _LIMIT:
        return -b * s + rank, b, True
    return -s, 1, False


def solve_flow(edges: Edges, *, score_decimals: int = 2) -> FlowSolution:
    """Solve the welfare problem on ``edges`` exactly with OR-Tools min-cost flow."""
    caps = edges.caps
    n_cand = int(edges.candidate_ids.len())
    n_slot = edges.slots.height
    n_int, n_nat, n_tot = len(caps.intake_cap), len(caps.national_cap), len(caps.total_cap)
    source, sink = 0, 1
    cand0 = 2
    slot0 = cand0 + n_cand
    int0 = slot0 + n_slot
    nat0 = int0 + n_int
    tot0 = nat0 + n_nat
    num_nodes = tot0 + n_tot
    capacity = edges.slots.get_column("capacity").to_numpy().astype(np.int64)
    big = int(capacity.sum()) + 1

    def unlimited(cap: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        return np.where(cap < 0, big, cap).astype(np.int64)

    cands = np.unique(edges.cand).astype(np.int64)
    max_flow = min(len(cands), big - 1)
    costs, b, rank_kept = lexicographic_costs(
        edges, score_decimals=score_decimals, num_nodes=num_nodes, max_flow=max_flow
    )
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
