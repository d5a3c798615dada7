"""What each cap of the tree is worth at a core optimum: score duals and one-more-seat flags.

Read-only: it takes a finished :class:`CoreSolution` and the edges it solved, and neither
changes nor re-solves anything.

Shadow prices
-------------
The score level of a core solve is the linear program "minimum cost ``-score`` over the
flows of value ``F``" (``F`` the maximum flow), and :attr:`CoreSolution.score_potentials`
are exact optimal potentials ``p`` of it (costs in units of ``10**-score_decimals``
points, no rank tie-break in them, no minimum-cut shift). For an arc of cost ``c`` from
``u`` to ``v`` with capacity ``k`` the reduced cost is ``r = c + p[u] - p[v]``, and
``y = max(0, -r)`` is the optimal dual value of its constraint ``x <= k`` (complementary
slackness: an arc of negative reduced cost is saturated). Cap arcs cost 0, so a cap's
dual is ``max(0, p[v] - p[u])``. Dual feasibility does not depend on ``k``, so the dual
objective at ``(p, y)`` bounds the optimum of every capacity: with ``V(k)`` the greatest
total score of a flow of value ``F``, ``V(k + 1) - V(k) <= y`` and
``V(k) - V(k - 1) >= y`` (the latter when value ``F`` stays feasible). The price is exact
(both differences equal to ``y``) when that dual is unique; when it is not, the potentials
pick one dual in the interval and only the bounds are claimed.

One more placement
------------------
Raising a saturated cap arc ``u -> v`` by one seat raises the maximum flow (by exactly
one: the cut capacity grows by one) if and only if, in the residual network of the
current maximum flow, ``u`` is reachable from the source and the sink is reachable from
``v``: a new augmenting path must use the new unit, and its two halves use only arcs the
current residual network has. Two breadth-first searches (from the source, and from the
sink on the reversed network) answer it for every cap at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from numba import njit
from scipy.sparse.csgraph import breadth_first_order

from matcher.eligibility.edges import Edges
from matcher.solvers.core.solution import CoreSolution

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
B1 = npt.NDArray[np.bool_]

#: The tree levels in node order (the numbering of :mod:`matcher.solvers.core`).
LEVELS: tuple[str, ...] = ("slot", "intake", "national", "total")


@dataclass(frozen=True)
class TreeDuals:
    """Per tree level (:data:`LEVELS`), one entry per node of that level.

    ``flow``: placements counted under the node. ``price``: the score dual of the node's
    cap arc in score points (0 for an unlimited or slack cap), or None when the solution
    has no score-level potentials (a warm start by shortest paths). ``one_more``: whether
    one more seat in the cap would place one more candidate.
    """

    flow: dict[str, I64]
    price: dict[str, F64] | None
    one_more: dict[str, B1]


def _tree(edges: Edges) -> tuple[list[I64], list[I64], list[I64]]:
    """Per level: the parent index of each node (within the next level; -1 = sink), the
    cap (-1 = unlimited), and the offset of the level's first node in the numbering."""
    caps = edges.caps
    n_slot = edges.slots.height
    parents = [
        caps.slot_intake.astype(np.int64),
        caps.intake_national.astype(np.int64),
        caps.national_total.astype(np.int64),
        np.full(len(caps.total_cap), -1, np.int64),
    ]
    limits = [
        edges.slots.get_column("capacity").to_numpy().astype(np.int64),
        caps.intake_cap.astype(np.int64),
        caps.national_cap.astype(np.int64),
        caps.total_cap.astype(np.int64),
    ]
    sizes = [n_slot, len(caps.intake_cap), len(caps.national_cap), len(caps.total_cap)]
    start = 2 + int(edges.candidate_ids.len())
    offsets = [np.int64(start + sum(sizes[:k])) for k in range(len(sizes))]
    return parents, limits, [np.asarray(o) for o in offsets]


@njit(cache=True)
def _bucket(tail: I64, head: I64, n: int) -> tuple[I64, I64]:
    """CSR (pointers, heads) of the arcs ``tail -> head`` by a counting sort: linear, where
    scipy's construction sorts and sums duplicates (about half the table's time)."""
    ptr = np.zeros(n + 1, dtype=np.int64)
    for i in range(tail.size):
        ptr[tail[i] + 1] += 1
    for v in range(n):
        ptr[v + 1] += ptr[v]
    pos = ptr[:-1].copy()
    out = np.empty(tail.size, dtype=np.int64)
    for i in range(tail.size):
        out[pos[tail[i]]] = head[i]
        pos[tail[i]] += 1
    return ptr, out


def _reachable(tail: I64, head: I64, n: int, start: int) -> B1:
    """Whether each node is reachable from ``start`` along the arcs ``tail -> head``."""
    ptr, idx = _bucket(tail, head, n)
    graph = sp.csr_matrix((np.ones(idx.size), idx, ptr), shape=(n, n))
    seen = np.zeros(n, dtype=bool)
    seen[breadth_first_order(graph, start, directed=True, return_predecessors=False)] = True
    return seen


def tree_duals(edges: Edges, solution: CoreSolution, *, score_decimals: int) -> TreeDuals:
    """Flows, score duals and one-more-seat flags of every cap of the tree.

    Parameters
    ----------
    edges : Edges
        The edges the solution was solved on (its node numbering).
    solution : CoreSolution
        An optimal core solution: ``chosen`` a maximum flow of greatest score.
    score_decimals : int
        The scale of its costs (``10**score_decimals`` units per point).

    Returns
    -------
    TreeDuals
        See the module docstring for what the prices and flags mean.
    """
    parents, limits, offsets = _tree(edges)
    n_cand = int(edges.candidate_ids.len())
    chosen = np.asarray(solution.chosen, dtype=np.int64)
    placed = np.zeros(edges.n_pairs, dtype=bool)
    placed[chosen] = True
    flows: list[I64] = [np.bincount(edges.slot[chosen], minlength=limits[0].size).astype(np.int64)]
    for level in range(1, len(LEVELS)):
        flows.append(
            np.bincount(parents[level - 1], weights=flows[-1], minlength=limits[level].size).astype(np.int64)
        )
    heads = [
        offsets[k + 1] + parents[k] if k + 1 < len(LEVELS) else np.ones(limits[k].size, np.int64)
        for k in range(len(LEVELS))
    ]
    tails = [offsets[k] + np.arange(limits[k].size, dtype=np.int64) for k in range(len(LEVELS))]
    n_nodes = int(offsets[-1]) + limits[-1].size

    # The residual network as (tail, head) arrays: pair arcs, source arcs, cap arcs.
    cand = 2 + edges.cand.astype(np.int64)
    slot = int(offsets[0]) + edges.slot.astype(np.int64)
    with_pairs = edges.candidates_with_pairs()
    cand_placed = np.zeros(n_cand, dtype=bool)
    cand_placed[edges.cand[chosen]] = True
    src_open = with_pairs[~cand_placed[with_pairs]] + 2
    src_used = with_pairs[cand_placed[with_pairs]] + 2
    t_parts = [cand[~placed], slot[placed], np.zeros(src_open.size, np.int64), src_used]
    h_parts = [slot[~placed], cand[placed], src_open, np.zeros(src_used.size, np.int64)]
    for k in range(len(LEVELS)):
        room = (limits[k] < 0) | (flows[k] < limits[k])
        used = flows[k] > 0
        t_parts += [tails[k][room], heads[k][used]]
        h_parts += [heads[k][room], tails[k][used]]
    tail = np.concatenate(t_parts)
    head = np.concatenate(h_parts)
    from_source = _reachable(tail, head, n_nodes, 0)
    to_sink = _reachable(head, tail, n_nodes, 1)

    pot = np.asarray(solution.score_potentials, dtype=np.int64)
    have_prices = pot.shape == (n_nodes,)
    unit = float(10**score_decimals)
    flow_out: dict[str, I64] = {}
    price_out: dict[str, F64] = {}
    more_out: dict[str, B1] = {}
    for k, name in enumerate(LEVELS):
        limited = limits[k] >= 0
        full = limited & (flows[k] >= limits[k])
        flow_out[name] = flows[k]
        more_out[name] = full & from_source[tails[k]] & to_sink[heads[k]]
        if have_prices:
            dual = np.maximum(pot[heads[k]] - pot[tails[k]], 0)
            price_out[name] = np.where(limited, dual, 0).astype(np.float64) / unit
    return TreeDuals(flow_out, price_out if have_prices else None, more_out)
