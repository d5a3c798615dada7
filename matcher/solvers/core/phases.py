"""One cost-scaling phase (Goldberg's ``refine``) and its named steps.

A phase (:func:`_refine`) makes the flow ``eps``-optimal and feasible: tree prices
aligned (:func:`_tree_prices`), optionally a price refinement first
(:func:`_price_refine`), then the initial saturation (:func:`_saturate`) of every arc of
negative reduced cost, then FIFO discharge of the excesses with push look-ahead and the
largest valid price drop (:func:`_relabel`), with global price updates
(:func:`_global_update`) where the ``work`` counters ask for them. A slot's residual pair
arcs (the candidates it holds) are kept right after its up-arc
(:func:`_partition_slots`), so its scans only see those.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit

from matcher.solvers.core.constants import (
    _INF,
    I32,
    I64,
    PRICE_LIMIT,
    PRICE_REFINE_CLAMP,
    W_PUSHES,
    W_REFINE_SCANS,
    W_REFINED_PHASES,
    W_RELABEL_SCANS,
    W_RELABELS,
    W_SCAN_LIMIT,
    W_UPDATE_EPS,
    W_UPDATE_EVERY,
    W_UPDATE_SCANS,
    W_UPDATES,
)
from matcher.solvers.core.csr import _swap
from matcher.solvers.core.heap import _heap_pop, _heap_push


@njit(cache=True)
def _partition_slots(
    first: I64, head: I32, rcap: I32, cost: I64, rev: I32, last: I64, slot0: int, int0: int
) -> None:
    """Put each slot's residual pair arcs right after its up-arc; last = end of those."""
    n = first.shape[0] - 1
    for v in range(n):
        last[v] = first[v + 1]
    for v in range(slot0, int0):
        k = first[v] + 1
        for i in range(first[v] + 1, first[v + 1]):
            if rcap[i] > 0:
                _swap(head, rcap, cost, rev, i, k)
                k += 1
        last[v] = k


@njit(cache=True)
def _has_admissible(head: I32, rcap: I32, cost: I64, price: I64, current: I64, last: I64, v: int) -> bool:
    """Advance v's current arc to its next admissible arc; False when there is none."""
    pv = price[v]
    end = last[v]
    i = current[v]
    while i < end:
        if rcap[i] > 0 and cost[i] + pv - price[head[i]] < 0:
            current[v] = i
            return True
        i += 1
    current[v] = end
    return False


@njit(cache=True)
def _relabel(
    first: I64, head: I32, rcap: I32, cost: I64, price: I64, current: I64, last: I64, v: int, eps: int
) -> int:
    """Largest price drop keeping eps-optimality. Returns arcs scanned, -1 on overflow."""
    best = -_INF
    start = first[v]
    end = last[v]
    for j in range(start, end):
        if rcap[j] > 0:
            val = price[head[j]] - cost[j]
            best = max(best, val)
    scanned = int(end - start)
    if best == -_INF:
        return scanned  # no residual arc: nothing to do (cannot happen with excess)
    newp = best - eps
    if newp < -PRICE_LIMIT or newp > PRICE_LIMIT:
        return -1
    price[v] = newp
    current[v] = start
    return scanned


@njit(cache=True)
def _tree_prices(rcap: I32, head: I32, rev: I32, price: I64, up: I32, slot0: int) -> None:
    """Align each tree node whose up-arc is neither empty nor full with its parent.

    Such a cap is not binding, so its dual (price difference) should be zero; without
    this the phase would saturate or empty the arc and reroute all of its flow unit by
    unit. Top-down (parents have larger indices). Any prices are valid at the start of
    a phase (its first step makes the pseudoflow 0-optimal), so this is only a
    heuristic for speed.
    """
    for k in range(up.shape[0] - 1, -1, -1):
        i = up[k]
        if rcap[i] > 0 and rcap[rev[i]] > 0:
            price[slot0 + k] = price[head[i]]


@njit(cache=True)
def _saturate(
    first: I64, head: I32, rcap: I32, cost: I64, rev: I32, price: I64, excess: I64, below: int = 0
) -> None:
    """Push the whole residual capacity of every arc of reduced cost below ``below`` (a
    phase's or a warm start's first step: afterwards every residual arc's is at least that)."""
    for u in range(first.shape[0] - 1):
        pu = price[u]
        for i in range(first[u], first[u + 1]):
            r = rcap[i]
            if r > 0 and cost[i] + pu - price[head[i]] < below:
                rcap[i] = 0
                rcap[rev[i]] += r
                excess[u] -= r
                excess[head[i]] += r


@njit(cache=True)
def _every_node_queued(n: int) -> tuple[I32, npt.NDArray[np.bool_]]:
    """A circular FIFO (length ``n + 1``) holding every node once, and its membership
    flags: the start of a label-correcting pass over the whole network."""
    fifo = np.empty(n + 1, dtype=np.int32)
    for v in range(n):
        fifo[v] = v
    return fifo, np.ones(n, dtype=np.bool_)


@njit(cache=True)
def _price_refine(
    first: I64, head: I32, rcap: I32, cost: I64, price: I64, eps: int, clamp: int, passes: int
) -> tuple[int, bool]:
    """Lower prices so that the current flow is as nearly ``eps``-optimal as it can be made.

    Goldberg's price refinement: the flow is ``eps``-optimal under prices
    ``price + eps * d`` exactly when ``d[v] <= d[u] + floor(rc(u, v) / eps) + 1`` on every
    residual arc, a shortest-path system (FIFO label-correcting from ``d = 0``). A cost
    scaling phase re-routes most of the flow when it starts from the old prices; after
    this it only has to repair the arcs this cannot fix (negative cycles: the flow is
    not ``eps``-optimal under any prices). ``d`` is kept at ``-clamp`` or above (around
    such a cycle it would fall without end) and the passes are limited to ``passes``
    scans of the network; within those limits any ``d`` is valid, since the phase
    saturates whatever arc is still below ``-eps``. Returns (arcs scanned, whether every
    arc is now ``eps``-optimal).
    """
    n = first.shape[0] - 1
    d = np.zeros(n, dtype=np.int64)
    size = n + 1
    fifo, inq = _every_node_queued(n)
    qh = 0
    qt = n
    budget = np.int64(passes) * (first[n] + n)
    scans = 0
    clean = True
    while qh != qt:
        u = fifo[qh]
        qh = (qh + 1) % size
        inq[u] = False
        du = d[u]
        pu = price[u]
        for i in range(first[u], first[u + 1]):
            if rcap[i] > 0:
                v = head[i]
                nd = du + (cost[i] + pu - price[v]) // eps + 1
                if nd < d[v]:
                    if nd < -clamp:
                        clean = False  # this arc stays below -eps
                        nd = -clamp
                        if d[v] == nd:
                            continue
                    d[v] = nd
                    if not inq[v]:
                        fifo[qt] = v
                        qt = (qt + 1) % size
                        inq[v] = True
        scans += first[u + 1] - first[u] + 1
        if scans > budget:
            clean = False
            break
    if -clamp * eps < -PRICE_LIMIT // 4 or price.min() - clamp * eps < -PRICE_LIMIT:
        return scans, False  # prices would leave their range: no change (only a heuristic)
    for v in range(n):
        price[v] += eps * d[v]
    return scans, clean


@njit(cache=True)
def _global_update(
    first: I64, head: I32, rcap: I32, cost: I64, rev: I32, price: I64, excess: I64, eps: int,
    dist: I64, heap: I64, hpos: I64,
) -> int:  # fmt: skip
    """Lower every price by ``eps`` times the node's distance to the nearest deficit.

    Distances run backwards over residual arcs of length ``rc // eps + 1`` (``rc`` the
    reduced cost, at least ``-eps``), from every deficit until every excess is reached
    (``D`` the last one's); a node farther than ``D`` counts as ``D``. The prices stay
    ``eps``-optimal, and every node within ``D`` gets an admissible arc one step nearer
    a deficit: excesses then run downhill instead of wandering over ties. Returns the
    arcs scanned.
    """
    n = first.shape[0] - 1
    size = 0
    left = 0
    for v in range(n):  # every deficit starts at distance 0 (equal keys: any order is a heap)
        dist[v] = _INF
        hpos[v] = -1
        if excess[v] > 0:
            left += 1
        elif excess[v] < 0:
            dist[v] = 0
            heap[size] = v
            hpos[v] = size
            size += 1
    if left == 0 or size == 0:
        return 0
    lowest = price.min()
    top = 0
    scans = 0
    while size > 0:
        u = heap[0]
        du = dist[u]
        top = du
        size = _heap_pop(heap, hpos, dist, size)
        if excess[u] > 0:
            left -= 1
            if left == 0:
                break
        pu = price[u]
        for j in range(first[u], first[u + 1]):
            i = rev[j]  # the arc w -> u
            if rcap[i] > 0:
                w = head[j]
                nd = du + (cost[i] + price[w] - pu) // eps + 1
                if nd < dist[w]:
                    dist[w] = nd
                    size = _heap_push(heap, hpos, dist, w, size)
        scans += int(first[u + 1] - first[u])
    if top * eps > PRICE_LIMIT // 4 or lowest - top * eps < -PRICE_LIMIT:
        return scans  # prices would leave their range: no update (it is only a heuristic)
    for v in range(n):
        d = dist[v]
        price[v] -= (d if d < top else top) * eps
    return scans


@njit(cache=True)
def _refine(
    first: I64,
    head: I32,
    rcap: I32,
    cost: I64,
    rev: I32,
    price: I64,
    excess: I64,
    eps: int,
    work: I64,
    slot0: int,
    int0: int,
    up: I32,
    refine_passes: int = 0,
) -> bool:
    """One cost-scaling phase: make the flow eps-optimal and feasible. False on overflow.

    FIFO discharge with push look-ahead (a push to a node with no admissible arc relabels
    that node instead). A slot's residual pair arcs (the candidates it holds) are kept
    right after its up-arc, so its scans and relabels only see those.
    ``work``: the counters and settings of the ``W_*`` slots
    (:mod:`matcher.solvers.core.constants`), updated; False also when the relabel scans
    pass ``work[W_SCAN_LIMIT]``. Global updates (:func:`_global_update`) run only in the
    phase at epsilon ``work[W_UPDATE_EPS]``; they only pay where few excesses wander over
    ties to far deficits (a warm start's first phase): the first comes after
    ``work[W_UPDATE_EVERY]`` relabel scans, so a phase that ends sooner runs none.
    With ``refine_passes`` > 0 and a flow (no excess), the phase starts with a price
    refinement (:func:`_price_refine`) and then only saturates the arcs still below
    ``-eps``: the others already meet eps-optimality, which is all a phase needs. The
    admissible arcs may then form cycles, but the phase still ends: between two relabels
    every push takes residual capacity from an admissible arc and gives it only to the
    arc's reverse, which is not admissible (reduced cost above 0).
    """
    n = first.shape[0] - 1
    if up.shape[0] > 0:
        _tree_prices(rcap, head, rev, price, up, slot0)
    below = 0
    if refine_passes > 0 and not np.any(excess):
        scans, clean = _price_refine(first, head, rcap, cost, price, eps, PRICE_REFINE_CLAMP, refine_passes)
        work[W_REFINE_SCANS] += scans
        work[W_REFINED_PHASES] += clean
        below = -eps
    _saturate(first, head, rcap, cost, rev, price, excess, below)
    last = np.empty(n, dtype=np.int64)
    _partition_slots(first, head, rcap, cost, rev, last, slot0, int0)
    size = n + 1
    fifo = np.empty(size, dtype=np.int32)
    inq = np.zeros(n, dtype=np.bool_)
    current = first[:-1].copy()
    interval = work[W_UPDATE_EVERY] if eps == work[W_UPDATE_EPS] else 0
    n_upd = n if interval > 0 else 0
    dist = np.empty(n_upd, dtype=np.int64)
    heap = np.empty(n_upd, dtype=np.int64)
    hpos = np.empty(n_upd, dtype=np.int64)
    next_update = work[W_RELABEL_SCANS] + interval
    qh = 0
    qt = 0
    for v in range(n):
        if excess[v] > 0:
            fifo[qt] = v
            qt += 1
            inq[v] = True
    while qh != qt:
        u = fifo[qh]
        qh = (qh + 1) % size
        inq[u] = False
        if interval > 0 and work[W_RELABEL_SCANS] > next_update:
            work[W_UPDATE_SCANS] += _global_update(
                first, head, rcap, cost, rev, price, excess, eps, dist, heap, hpos
            )
            work[W_UPDATES] += 1
            next_update = work[W_RELABEL_SCANS] + interval
            current[:] = first[:-1]
        u_slot = slot0 <= u < int0
        while excess[u] > 0:
            pu = price[u]
            i = current[u]
            while i < last[u]:
                r = rcap[i]
                if r > 0:
                    v = head[i]
                    if cost[i] + pu - price[v] < 0:
                        if excess[v] >= 0 and not _has_admissible(head, rcap, cost, price, current, last, v):
                            # Look-ahead: v could only push back; relabel it instead.
                            scanned = _relabel(first, head, rcap, cost, price, current, last, v, eps)
                            if scanned < 0:
                                return False
                            work[W_RELABELS] += 1
                            work[W_RELABEL_SCANS] += scanned
                            if cost[i] + pu - price[v] >= 0:
                                i += 1
                                continue
                        delta = excess[u] if excess[u] < r else r
                        j = rev[i]
                        rj = rcap[j]
                        rcap[i] = r - delta
                        rcap[j] = rj + delta
                        excess[u] -= delta
                        ev = excess[v]
                        excess[v] = ev + delta
                        work[W_PUSHES] += 1
                        if rj == 0 and slot0 <= v < int0 and j > first[v]:
                            # v now holds this candidate: append the arc to v's residual part.
                            _swap(head, rcap, cost, rev, j, last[v])
                            last[v] += 1
                        if ev + delta > 0 and not inq[v]:
                            fifo[qt] = v
                            qt = (qt + 1) % size
                            inq[v] = True
                        if r == delta and u_slot and i > first[u]:
                            # u no longer holds that candidate: drop the arc from its residual part.
                            last[u] -= 1
                            _swap(head, rcap, cost, rev, i, last[u])
                            if excess[u] == 0:
                                break
                            continue
                        if excess[u] == 0:
                            break
                i += 1
            current[u] = i
            if excess[u] > 0:
                scanned = _relabel(first, head, rcap, cost, price, current, last, u, eps)
                if scanned < 0:
                    return False
                work[W_RELABELS] += 1
                work[W_RELABEL_SCANS] += scanned
                if 0 < work[W_SCAN_LIMIT] < work[W_RELABEL_SCANS]:
                    return False
    return True
