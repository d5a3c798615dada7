"""The optimality certificate: the path cost bound, the minimum cut, and the checker.

A solve's potentials prove the flow of minimum cost (no residual arc of negative
reduced cost) and maximum (``p[sink] - p[source]`` above :func:`path_cost_bound`);
:func:`check_certificate` checks both independently of the solver.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit

from matcher.eligibility.edges import Edges
from matcher.solvers.core.constants import I32, I64
from matcher.solvers.network import flow_network


def path_cost_bound(costs: I64, n_cands: int) -> int:
    """An upper bound on the cost of any simple source-sink path of the residual network.

    A simple path visits each candidate at most once; it enters the first from the
    source (cost 0) and every other one from a slot through a backward pair arc (cost
    ``-c``), and leaves each through a forward pair arc (cost ``c``): its cost is at most
    ``cmax + (k - 1) * (cmax - cmin)`` with ``k <= n_cands`` candidates. Exact Python int.
    """
    if n_cands == 0 or costs.size == 0:
        return -1
    cmax, cmin = int(costs.max()), int(costs.min())
    return cmax + (n_cands - 1) * (cmax - cmin)


@njit(cache=True)
def _source_side(first: I64, head: I32, rcap: I32, s: int) -> npt.NDArray[np.bool_]:
    """Nodes reachable from s in the residual network."""
    n = first.shape[0] - 1
    seen = np.zeros(n, dtype=np.bool_)
    stack = np.empty(n, dtype=np.int32)
    top = 0
    stack[top] = s
    top += 1
    seen[s] = True
    while top > 0:
        top -= 1
        u = stack[top]
        for i in range(first[u], first[u + 1]):
            if rcap[i] > 0:
                v = head[i]
                if not seen[v]:
                    seen[v] = True
                    stack[top] = v
                    top += 1
    return seen


def check_certificate(  # noqa: PLR0911 - one return per failed precondition
    edges: Edges,
    chosen: npt.NDArray[np.integer],
    potentials: npt.NDArray[np.integer],
    *,
    score_decimals: int = 2,
    rank_weight: int | None = None,
) -> list[str]:
    """Check that ``chosen`` is a maximum flow of minimum cost, proven by ``potentials``.

    The costs are ``-B * score + rank`` with ``B`` the instance's own weight or
    ``rank_weight`` (:attr:`CoreSolution.rank_weight`; any weight above the rank range
    states the same lexicographic objective).

    Independent of the solver: the network is rebuilt from ``edges`` with numpy, the
    flow from ``chosen``, and three things are checked (vectorized):

    1. *Feasible*: chosen indices valid and distinct, no candidate twice, no slot, intake,
       national or total cap exceeded.
    2. *Minimum cost among flows of its value*: no residual arc has a negative reduced
       cost ``c(u, v) + p[u] - p[v]`` (complementary slackness).
    3. *Maximum*: summing reduced costs along any residual source-sink path ``P`` gives
       ``c(P) >= p[sink] - p[source]``; a simple path costs at most
       :func:`path_cost_bound`, so ``p[sink] - p[source]`` above that bound proves that
       no augmenting path exists.

    Returns
    -------
    list of str
        The problems found; empty when the certificate is valid.
    """
    net = flow_network(edges, score_decimals=score_decimals)
    if rank_weight is not None and rank_weight != net.rank_weight:
        try:
            net = flow_network(edges, score_decimals=score_decimals, rank_weight=rank_weight)
        except ValueError as exc:
            return [str(exc)]
    caps = edges.caps
    problems: list[str] = []
    chosen = np.asarray(chosen, dtype=np.int64)
    pot = np.asarray(potentials, dtype=np.int64)
    n_edges = edges.n_pairs
    if pot.shape != (net.num_nodes,):
        return [f"potentials have shape {pot.shape}, expected ({net.num_nodes},)"]
    if chosen.size and (chosen.min() < 0 or chosen.max() >= n_edges):
        return ["chosen holds an index outside the edge arrays"]
    if chosen.size and (np.diff(np.sort(chosen)) == 0).any():
        return ["chosen holds an edge twice"]
    if int(np.abs(pot).max(initial=0)) >= (1 << 61) or int(np.abs(net.costs).max(initial=0)) >= (1 << 61):
        return ["potentials or costs too large to check without overflow"]
    x = np.zeros(n_edges, dtype=np.int64)
    x[chosen] = 1
    n_slot = edges.slots.height
    n_int, n_nat, n_tot = len(caps.intake_cap), len(caps.national_cap), len(caps.total_cap)
    cand_flow = np.bincount(edges.cand, weights=x, minlength=net.n_cand).astype(np.int64)
    slot_flow = np.bincount(edges.slot, weights=x, minlength=n_slot).astype(np.int64)
    int_flow = np.bincount(caps.slot_intake, weights=slot_flow, minlength=n_int).astype(np.int64)
    nat_flow = np.bincount(caps.intake_national, weights=int_flow, minlength=n_nat).astype(np.int64)
    tot_flow = np.bincount(caps.national_total, weights=nat_flow, minlength=n_tot).astype(np.int64)
    slot_cap = edges.slots.get_column("capacity").to_numpy().astype(np.int64)
    if (cand_flow > 1).any():
        problems.append(f"{int((cand_flow > 1).sum())} candidates placed more than once")
    levels = [
        ("slot", slot_flow, slot_cap),
        ("intake", int_flow, caps.intake_cap),
        ("national", nat_flow, caps.national_cap),
        ("total", tot_flow, caps.total_cap),
    ]
    for name, flow, cap in levels:
        over = (cap >= 0) & (flow > cap)
        if over.any():
            problems.append(f"{int(over.sum())} {name} caps exceeded")
    if problems:
        return problems
    # Residual arcs and their reduced costs, per arc group: (tail, head, cost, flow, cap).
    src_c = net.cands
    one, zero = np.ones(1, np.int64), np.zeros(1, np.int64)  # broadcast over a group's arcs
    groups = [
        ("pair", net.cand0 + edges.cand.astype(np.int64), net.slot0 + edges.slot.astype(np.int64), net.costs, x, one),
        ("source", zero, net.cand0 + src_c, zero, cand_flow[src_c], one),
        ("slot", net.slot0 + np.arange(n_slot), net.int0 + caps.slot_intake.astype(np.int64), np.zeros(n_slot, np.int64), slot_flow, slot_cap),
        ("intake", net.int0 + np.arange(n_int), net.nat0 + caps.intake_national.astype(np.int64), np.zeros(n_int, np.int64), int_flow, caps.intake_cap),
        ("national", net.nat0 + np.arange(n_nat), net.tot0 + caps.national_total.astype(np.int64), np.zeros(n_nat, np.int64), nat_flow, caps.national_cap),
        ("total", net.tot0 + np.arange(n_tot), np.ones(n_tot, np.int64), np.zeros(n_tot, np.int64), tot_flow, caps.total_cap),
    ]  # fmt: skip
    for name, tail, hd, c, flow, cap in groups:
        red = c + pot[tail] - pot[hd]
        fwd_open = (cap < 0) | (flow < cap)
        bad_fwd = fwd_open & (red < 0)
        bad_bwd = (flow > 0) & (red > 0)
        if bad_fwd.any():
            problems.append(
                f"{int(bad_fwd.sum())} {name} arcs with spare capacity have negative reduced cost"
            )
        if bad_bwd.any():
            problems.append(f"{int(bad_bwd.sum())} {name} arcs with flow have positive reduced cost")
    bound = path_cost_bound(net.costs, len(src_c))
    gap = int(pot[1]) - int(pot[0])
    if gap <= bound:
        problems.append(
            f"potentials do not prove the flow maximum: p[sink] - p[source] = {gap} <= {bound}, "
            "the largest cost of a simple residual path"
        )
    return problems
