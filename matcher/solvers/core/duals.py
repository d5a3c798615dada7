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
from numba import njit

from matcher.eligibility.edges import Edges
from matcher.solvers.core.solution import CoreSolution

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]
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
def _searches(
    cptr: I64,
    pslot: I32,
    placed: B1,
    cand_slot: I64,
    slot0: int,
    int0: int,
    parent: I64,
    room: B1,
    used: B1,
    kptr: I64,
    kids: I64,
) -> tuple[B1, B1]:
    """Nodes reachable from the source, and nodes that reach the sink, in the residual
    network of the flow ``placed``, read from its parts without building it: candidate
    ``c`` has pairs ``cptr[c]:cptr[c + 1]`` (slot ``pslot``, placed or not) and sits in
    ``cand_slot[c]`` (-1: unplaced); tree node ``t`` (global number ``slot0 + t``) has
    ``parent[t]`` (global; 1 = sink), room below its cap (``room``) and flow (``used``);
    ``kptr``/``kids`` list the tree children of every node. Linear in the pairs."""
    n_cand = cptr.size - 1
    n = slot0 + parent.size
    # Placed candidates by slot, and unplaced pairs' candidates by slot (counting sorts).
    n_slot = int0 - slot0
    pptr = np.zeros(n_slot + 1, dtype=np.int64)
    uptr = np.zeros(n_slot + 1, dtype=np.int64)
    for c in range(n_cand):
        if cand_slot[c] >= 0:
            pptr[cand_slot[c] + 1] += 1
        for i in range(cptr[c], cptr[c + 1]):
            if not placed[i]:
                uptr[pslot[i] + 1] += 1
    for t in range(n_slot):
        pptr[t + 1] += pptr[t]
        uptr[t + 1] += uptr[t]
    pcand = np.empty(pptr[n_slot], dtype=np.int64)
    ucand = np.empty(uptr[n_slot], dtype=np.int64)
    ppos = pptr[:-1].copy()
    upos = uptr[:-1].copy()
    for c in range(n_cand):
        if cand_slot[c] >= 0:
            pcand[ppos[cand_slot[c]]] = c
            ppos[cand_slot[c]] += 1
        for i in range(cptr[c], cptr[c + 1]):
            if not placed[i]:
                ucand[upos[pslot[i]]] = c
                upos[pslot[i]] += 1
    queue = np.empty(n, dtype=np.int64)
    # From the source: to unplaced candidates with pairs; a candidate to the slots of its
    # free pairs; a slot down to the candidates placed there; a tree node up when it has
    # room and down to the children with flow.
    fwd = np.zeros(n, dtype=np.bool_)
    fwd[0] = True
    head = tail = 0
    for c in range(n_cand):
        if cand_slot[c] < 0 and cptr[c + 1] > cptr[c]:
            fwd[2 + c] = True
            queue[tail] = 2 + c
            tail += 1
    while head < tail:
        u = queue[head]
        head += 1
        if u < slot0:
            c = u - 2
            for i in range(cptr[c], cptr[c + 1]):
                v = slot0 + pslot[i]
                if not placed[i] and not fwd[v]:
                    fwd[v] = True
                    queue[tail] = v
                    tail += 1
            continue
        t = u - slot0
        if u < int0:
            for k in range(pptr[t], pptr[t + 1]):
                v = 2 + pcand[k]
                if not fwd[v]:
                    fwd[v] = True
                    queue[tail] = v
                    tail += 1
        if room[t] and not fwd[parent[t]]:
            fwd[parent[t]] = True
            if parent[t] != 1:
                queue[tail] = parent[t]
                tail += 1
        for k in range(kptr[u], kptr[u + 1]):
            v = kids[k]
            if used[v - slot0] and not fwd[v]:
                fwd[v] = True
                queue[tail] = v
                tail += 1
    # To the sink, backwards: a node's predecessors are its children with room, its parent
    # when it has flow, for a slot the candidates with a free pair to it, for a candidate
    # the slot it sits in. (The source never reaches the sink: the flow is maximum.)
    bwd = np.zeros(n, dtype=np.bool_)
    bwd[1] = True
    queue[0] = 1
    head, tail = 0, 1
    while head < tail:
        w = queue[head]
        head += 1
        if 2 <= w < slot0:
            s = cand_slot[w - 2]
            if s >= 0 and not bwd[slot0 + s]:
                bwd[slot0 + s] = True
                queue[tail] = slot0 + s
                tail += 1
            continue
        for k in range(kptr[w], kptr[w + 1]):
            v = kids[k]
            if room[v - slot0] and not bwd[v]:
                bwd[v] = True
                queue[tail] = v
                tail += 1
        if w == 1:
            continue
        t = w - slot0
        if used[t] and parent[t] != 1 and not bwd[parent[t]]:
            bwd[parent[t]] = True
            queue[tail] = parent[t]
            tail += 1
        if w < int0:
            for k in range(uptr[t], uptr[t + 1]):
                v = 2 + ucand[k]
                if not bwd[v]:
                    bwd[v] = True
                    queue[tail] = v
                    tail += 1
    return fwd, bwd


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

    # The residual network's parts (tree nodes in the global numbering from ``slot0``).
    slot0 = int(offsets[0])
    cptr = np.zeros(n_cand + 1, dtype=np.int64)
    np.cumsum(np.bincount(edges.cand, minlength=n_cand), out=cptr[1:])
    cand_slot = np.full(n_cand, -1, dtype=np.int64)
    cand_slot[edges.cand[chosen]] = edges.slot[chosen]
    parent = np.concatenate(heads)
    room = np.concatenate([(limits[k] < 0) | (flows[k] < limits[k]) for k in range(len(LEVELS))])
    used = np.concatenate([flows[k] > 0 for k in range(len(LEVELS))])
    kptr = np.zeros(n_nodes + 1, dtype=np.int64)
    np.cumsum(np.bincount(parent, minlength=n_nodes), out=kptr[1:])
    kids = slot0 + np.argsort(parent, kind="stable").astype(np.int64)
    from_source, to_sink = _searches(
        cptr, edges.slot, placed, cand_slot, slot0, int(offsets[1]), parent, room, used, kptr, kids
    )

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
