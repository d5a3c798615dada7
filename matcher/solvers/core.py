"""matcher's own exact welfare solver: cost-scaling push-relabel, compiled with numba.

The problem
-----------
Unit-demand candidates, eligible candidate -> slot pairs with integer costs (from
:func:`matcher.solvers.network.lexicographic_costs`, ``-B * score + rank``) and a *tree* of
capacities above the slots (slot -> intake -> national -> total -> sink). Objective:
the maximum flow (most candidates placed), and among maximum flows the minimum cost.
This is exactly the network :func:`matcher.solvers.flow.solve_flow` gives OR-Tools.

Node numbering (also the numbering of :attr:`CoreSolution.potentials`)
----------------------------------------------------------------------
``0`` source, ``1`` sink, then ``2 + c`` for every candidate ``c`` (``len(candidate_ids)``
of them, also those without edges), then the slots (``edges.slots`` rows), the intake
nodes, the national nodes and the total nodes, in the order of
:class:`matcher.eligibility.CapStructure` -- the numbering of ``solve_flow``. Arcs:
``source -> candidate`` (capacity 1, only candidates with at least one edge), one
``candidate -> slot`` arc per edge (capacity 1, cost of the edge), ``slot -> intake``
(declared capacity), ``intake -> national`` (intake cap), ``national -> total``
(national cap), ``total -> sink`` (total cap); caps of -1 are unlimited.

The algorithm, and why
----------------------
1. *Maximum flow value* ``F`` by FIFO push-relabel with global relabeling (breadth-first
   search from the sink) on the residual network in CSR form. Only the value is needed.
2. *Minimum cost flow of value F* by Goldberg's cost-scaling push-relabel: supplies
   ``F`` at the source and ``-F`` at the sink, costs multiplied by ``alpha = nodes + 1``,
   epsilon divided by a constant factor per phase down to 1 (then every residual cycle
   costs more than -1 in the original units: the flow is optimal). Each phase
   (``refine``) saturates every arc of negative reduced cost and discharges excesses in
   FIFO order along admissible arcs, relabeling with the largest valid price drop. Global
   price updates (a Dijkstra on reduced costs / epsilon from the deficit nodes, stopped
   once every excess node is labelled) keep prices close to their final values.
3. *Exact potentials*: the scaled prices are divided by ``alpha`` and repaired with a
   label-correcting shortest-path pass on the original costs (it converges only when no
   residual cycle is negative, so it is also an internal optimality check); then every
   node that the source cannot reach in the residual network (the sink side of a
   minimum cut) is raised by a constant so that ``p[sink] - p[source]`` exceeds the cost
   of any simple residual path, which certifies that the flow is maximum (see
   :func:`check_certificate`).

Why this and not an auction: the capacity tree couples slots (a full intake or national
cap raises the price of every slot below it), which a candidate-side auction only
handles with per-node priority queues; push-relabel treats the tree nodes as ordinary
nodes and is exact with the same epsilon argument. Separating "max flow first" into its
own phase avoids a return arc with a cost larger than any path gain (about
``nodes * max|cost|``, 1e17 at 1M candidates), which would overflow once multiplied by
``alpha``. Measured numbers are in ``benchmarks/results/core.md``.

What was measured (100k candidates, k = 20, cost-scaling phase only): plain FIFO 38 s;
with global price updates 26-29 s (each Dijkstra update costs ~0.16 s, eating most of
its gain); with push look-ahead 12.6 s (kept; price updates then hurt and are off by
default); keeping each slot's held candidates in a compact prefix of its arc list cut
relabel scans 3x but not the time; aligning non-binding tree nodes with their parent
at each phase start 14 -> 12 s. An epsilon-scaling auction was *not* implemented, so
the choice between the two is not settled by measurement. The solver is exact and
certified but, as measured, not faster than OR-Tools (see the benchmark table), and a
warm start from earlier potentials does not yet pay off.

Overflow safety (int64)
-----------------------
Costs are used scaled only when ``max|cost| * (nodes + 1) < 2**62``, the same guard as
``solve_flow`` (otherwise the rank tie-break is dropped and the status is ``feasible``,
exactly as there). Prices are checked during the solve: a price leaving
``[-2**62, 2**62]`` stops it with status ``error`` (never a wrong answer). Capacities
are clipped to one more than the number of candidates with an edge (more can never
flow, and a clipped arc is never saturated), so residual capacities fit int32.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from numba import njit

from matcher.eligibility import Edges
from matcher.solvers.network import flow_network
from matcher.solvers.status import Status

I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]

#: Prices must stay within +-PRICE_LIMIT (scaled units) so no reduced cost overflows.
PRICE_LIMIT = 1 << 62
#: Epsilon is divided by this factor between cost-scaling phases.
SCALE_FACTOR = 8
#: Shift added to the sink side of the final minimum cut (see check_certificate).
CUT_SHIFT = 1 << 59
_INF = np.int64(1 << 62)


@dataclass(frozen=True)
class CoreSolution:
    """Result of :func:`solve_core`.

    Attributes
    ----------
    status : Status
        ``OPTIMAL`` on success (``FEASIBLE`` when the rank tie-break had to be dropped).
    message : str
        Human-readable outcome.
    chosen : numpy.ndarray of int64
        Indices into the edge arrays that carry flow (the placed pairs).
    potentials : numpy.ndarray of int64
        One potential per node (numbering in the module docstring) proving optimality.
    stats : dict of str to float
        Phases, pushes, relabels, price updates and seconds per step.
    """

    status: Status
    message: str
    chosen: I64
    potentials: I64
    stats: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class _Network:
    """The flow network of an :class:`Edges`, in original arc order."""

    n_nodes: int
    n_cand: int
    cand0: int
    slot0: int
    int0: int
    nat0: int
    tot0: int
    costs: I64  # per edge
    rank_kept: bool
    cands_with_edges: I64


def _network(edges: Edges, score_decimals: int) -> _Network:
    """Node layout and edge costs, computed exactly as ``solve_flow`` does."""
    n = flow_network(edges, score_decimals=score_decimals)
    return _Network(
        n.num_nodes, n.n_cand, n.cand0, n.slot0, n.int0, n.nat0, n.tot0, n.costs, n.rank_kept, n.cands
    )


# --------------------------------------------------------------------------------------
# numba kernels
# --------------------------------------------------------------------------------------


@njit(cache=True)
def _build(
    n_nodes: int,
    cand0: int,
    slot0: int,
    int0: int,
    nat0: int,
    tot0: int,
    e_cand: I32,
    e_slot: I32,
    e_cost: I64,
    src_cands: I64,
    slot_cap: I64,
    slot_intake: I32,
    intake_cap: I64,
    intake_nat: I32,
    nat_cap: I64,
    nat_tot: I32,
    tot_cap: I64,
    alpha: int,
    clip: int,
) -> tuple[I64, I32, I32, I64, I32, I32]:
    """CSR residual network: (first, head, rcap, cost, rev, fwd position of each arc)."""
    n_e = e_cand.shape[0]
    n_s = src_cands.shape[0]
    n_slot = slot_cap.shape[0]
    n_int = intake_cap.shape[0]
    n_nat = nat_cap.shape[0]
    n_tot = tot_cap.shape[0]
    m = n_e + n_s + n_slot + n_int + n_nat + n_tot
    first = np.zeros(n_nodes + 1, dtype=np.int64)
    for a in range(m):
        u, v, _, _ = _arc(
            a, cand0, slot0, int0, nat0, tot0, e_cand, e_slot, e_cost, src_cands,
            slot_cap, slot_intake, intake_cap, intake_nat, nat_cap, nat_tot, tot_cap, clip,
        )  # fmt: skip
        first[u + 1] += 1
        first[v + 1] += 1
    for u in range(n_nodes):
        first[u + 1] += first[u]
    pos = first[:-1].copy()
    head = np.empty(2 * m, dtype=np.int32)
    rcap = np.empty(2 * m, dtype=np.int32)
    cost = np.empty(2 * m, dtype=np.int64)
    rev = np.empty(2 * m, dtype=np.int32)
    fwd = np.empty(m, dtype=np.int32)
    for k in range(m):
        a = (k + n_e) % m  # tree and source arcs first: a slot's up-arc heads its list
        u, v, cap, c = _arc(
            a, cand0, slot0, int0, nat0, tot0, e_cand, e_slot, e_cost, src_cands,
            slot_cap, slot_intake, intake_cap, intake_nat, nat_cap, nat_tot, tot_cap, clip,
        )  # fmt: skip
        i = pos[u]
        pos[u] += 1
        j = pos[v]
        pos[v] += 1
        head[i] = v
        rcap[i] = cap
        cost[i] = c * alpha
        rev[i] = j
        head[j] = u
        rcap[j] = 0
        cost[j] = -c * alpha
        rev[j] = i
        fwd[a] = i
    return first, head, rcap, cost, rev, fwd


@njit(cache=True)
def _arc(
    a: int,
    cand0: int,
    slot0: int,
    int0: int,
    nat0: int,
    tot0: int,
    e_cand: I32,
    e_slot: I32,
    e_cost: I64,
    src_cands: I64,
    slot_cap: I64,
    slot_intake: I32,
    intake_cap: I64,
    intake_nat: I32,
    nat_cap: I64,
    nat_tot: I32,
    tot_cap: I64,
    clip: int,
) -> tuple[int, int, int, int]:
    """Original arc ``a``: (tail, head, clipped capacity, cost), in solve_flow's order."""
    n_e = e_cand.shape[0]
    if a < n_e:
        return cand0 + e_cand[a], slot0 + e_slot[a], 1, e_cost[a]
    a -= n_e
    if a < src_cands.shape[0]:
        return 0, cand0 + src_cands[a], 1, 0
    a -= src_cands.shape[0]
    if a < slot_cap.shape[0]:
        return slot0 + a, int0 + slot_intake[a], _clip(slot_cap[a], clip), 0
    a -= slot_cap.shape[0]
    if a < intake_cap.shape[0]:
        return int0 + a, nat0 + intake_nat[a], _clip(intake_cap[a], clip), 0
    a -= intake_cap.shape[0]
    if a < nat_cap.shape[0]:
        return nat0 + a, tot0 + nat_tot[a], _clip(nat_cap[a], clip), 0
    a -= nat_cap.shape[0]
    return tot0 + a, 1, _clip(tot_cap[a], clip), 0


@njit(cache=True)
def _clip(cap: int, clip: int) -> int:
    if cap < 0 or cap > clip:
        return clip
    return cap


@njit(cache=True)
def _bfs_labels(first: I64, head: I32, rcap: I32, rev: I32, t: int, d: I32, queue: I32) -> None:
    """Exact distance labels to ``t`` in the residual network (n = unreachable)."""
    n = first.shape[0] - 1
    d[:] = n
    d[t] = 0
    qh = 0
    qt = 0
    queue[qt] = t
    qt += 1
    while qh < qt:
        v = queue[qh]
        qh += 1
        dv = d[v] + 1
        for j in range(first[v], first[v + 1]):
            u = head[j]
            if d[u] == n and rcap[rev[j]] > 0:
                d[u] = dv
                queue[qt] = u
                qt += 1


@njit(cache=True)
def _max_flow(first: I64, head: I32, rcap: I32, rev: I32, s: int, t: int) -> tuple[int, int, int]:
    """Value of a maximum s-t flow (FIFO push-relabel, global relabeling); modifies rcap.

    Returns (value, pushes, relabels). Only the first phase (a maximum preflow) is run:
    its sink excess is the maximum flow value.
    """
    n = first.shape[0] - 1
    excess = np.zeros(n, dtype=np.int64)
    d = np.empty(n, dtype=np.int32)
    queue = np.empty(n, dtype=np.int32)
    inq = np.zeros(n, dtype=np.bool_)
    current = first[:-1].copy()
    for i in range(first[s], first[s + 1]):
        r = rcap[i]
        if r > 0:
            v = head[i]
            rcap[i] = 0
            rcap[rev[i]] += r
            excess[v] += r
            excess[s] -= r
    _bfs_labels(first, head, rcap, rev, t, d, queue)
    d[s] = n
    fifo = np.empty(n + 1, dtype=np.int32)
    qh = 0
    qt = 0
    size = n + 1
    for v in range(n):
        if excess[v] > 0 and v not in (t, s) and d[v] < n:
            fifo[qt] = v
            qt = (qt + 1) % size
            inq[v] = True
    pushes = 0
    relabels = 0
    work = 0
    m = first[n]
    threshold = 6 * n + m // 2
    while qh != qt:
        u = fifo[qh]
        qh = (qh + 1) % size
        inq[u] = False
        while excess[u] > 0 and d[u] < n:
            du = d[u] - 1
            i = current[u]
            end = first[u + 1]
            while i < end:
                if rcap[i] > 0:
                    v = head[i]
                    if d[v] == du:
                        r = rcap[i]
                        delta = excess[u] if excess[u] < r else r
                        rcap[i] -= delta
                        rcap[rev[i]] += delta
                        excess[u] -= delta
                        excess[v] += delta
                        pushes += 1
                        if v not in (t, s) and not inq[v] and d[v] < n:
                            fifo[qt] = v
                            qt = (qt + 1) % size
                            inq[v] = True
                        if excess[u] == 0:
                            break
                i += 1
            current[u] = i
            if excess[u] > 0:
                best = n
                for j in range(first[u], end):
                    if rcap[j] > 0 and d[head[j]] + 1 < best:
                        best = d[head[j]] + 1
                work += end - first[u] + 12
                d[u] = best
                current[u] = first[u]
                relabels += 1
                if work > threshold:
                    work = 0
                    _bfs_labels(first, head, rcap, rev, t, d, queue)
                    d[s] = n
                    if d[u] >= n:
                        break
    return int(excess[t]), pushes, relabels


@njit(cache=True)
def _reset(rcap: I32, rev: I32, fwd: I32) -> None:
    """Back to the zero flow (forward arcs get their capacity back)."""
    for a in range(fwd.shape[0]):
        i = fwd[a]
        j = rev[i]
        rcap[i] += rcap[j]
        rcap[j] = 0


@njit(cache=True)
def _heap_push(hk: I64, hv: I32, size: int, key: int, val: int) -> int:
    i = size
    hk[i] = key
    hv[i] = val
    while i > 0:
        p = (i - 1) >> 1
        if hk[p] <= hk[i]:
            break
        hk[p], hk[i] = hk[i], hk[p]
        hv[p], hv[i] = hv[i], hv[p]
        i = p
    return size + 1


@njit(cache=True)
def _heap_pop(hk: I64, hv: I32, size: int) -> int:
    size -= 1
    hk[0] = hk[size]
    hv[0] = hv[size]
    i = 0
    while True:
        left = 2 * i + 1
        if left >= size:
            break
        c = left
        if left + 1 < size and hk[left + 1] < hk[left]:
            c = left + 1
        if hk[i] <= hk[c]:
            break
        hk[c], hk[i] = hk[i], hk[c]
        hv[c], hv[i] = hv[i], hv[c]
        i = c
    return size


@njit(cache=True)
def _price_update(
    first: I64,
    head: I32,
    rcap: I32,
    cost: I64,
    rev: I32,
    price: I64,
    excess: I64,
    eps: int,
    rank: I64,
    hk: I64,
    hv: I32,
) -> None:
    """Goldberg's global price update: Dijkstra from the deficits on ceil(c_p / eps).

    Arc lengths ``floor(c_p / eps) + 1 >= 0`` (epsilon-optimality); prices drop by
    ``rank * eps``, which keeps epsilon-optimality and gives every labelled node an
    admissible path to a deficit. Stops once every excess node is labelled; the others
    drop by the last rank reached.
    """
    n = first.shape[0] - 1
    n_excess = 0
    size = 0
    for v in range(n):
        rank[v] = _INF
    for v in range(n):
        if excess[v] > 0:
            n_excess += 1
        elif excess[v] < 0:
            rank[v] = 0
            size = _heap_push(hk, hv, size, 0, v)
    last = 0
    while size > 0 and n_excess > 0:
        r = hk[0]
        v = hv[0]
        size = _heap_pop(hk, hv, size)
        if r > rank[v]:
            continue
        last = r
        rank[v] = -r - 1  # scanned (negative marker)
        if excess[v] > 0:
            n_excess -= 1
            if n_excess == 0:
                break
        pv = price[v]
        for j in range(first[v], first[v + 1]):
            i = rev[j]
            if rcap[i] > 0:
                u = head[j]
                ru = rank[u]
                if ru < 0:
                    continue
                cp = cost[i] + price[u] - pv
                nr = r + cp // eps + 1
                if nr < ru:
                    rank[u] = nr
                    size = _heap_push(hk, hv, size, nr, u)
    for v in range(n):
        rv = rank[v]
        if rv < 0:
            price[v] -= (-rv - 1) * eps
        else:
            price[v] -= last * eps


@njit(cache=True)
def _swap(head: I32, rcap: I32, cost: I64, rev: I32, a: int, b: int) -> None:
    """Exchange arcs a and b of one node's list, keeping the rev pairing."""
    if a == b:
        return
    head[a], head[b] = head[b], head[a]
    rcap[a], rcap[b] = rcap[b], rcap[a]
    cost[a], cost[b] = cost[b], cost[a]
    ra = rev[a]
    rb = rev[b]
    rev[a] = rb
    rev[b] = ra
    rev[rb] = a
    rev[ra] = b


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
    update_every: float,
    up: I32,
) -> bool:
    """One cost-scaling phase: make the flow eps-optimal and feasible. False on overflow.

    FIFO discharge with push look-ahead (a push to a node with no admissible arc relabels
    that node instead). A slot's residual pair arcs (the candidates it holds) are kept
    right after its up-arc, so its scans and relabels only see those.
    ``work``: [pushes, relabels, price updates, arcs scanned by relabels], updated.
    """
    n = first.shape[0] - 1
    if up.shape[0] > 0:
        _tree_prices(rcap, head, rev, price, up, slot0)
    for u in range(n):
        pu = price[u]
        for i in range(first[u], first[u + 1]):
            r = rcap[i]
            if r > 0 and cost[i] + pu - price[head[i]] < 0:
                v = head[i]
                rcap[i] = 0
                rcap[rev[i]] += r
                excess[u] -= r
                excess[v] += r
    last = np.empty(n, dtype=np.int64)
    _partition_slots(first, head, rcap, cost, rev, last, slot0, int0)
    rank = np.empty(0, dtype=np.int64)
    hk = np.empty(0, dtype=np.int64)
    hv = np.empty(0, dtype=np.int32)
    if update_every > 0:
        rank = np.empty(n, dtype=np.int64)
        hk = np.empty(first[n] + n + 1, dtype=np.int64)
        hv = np.empty(first[n] + n + 1, dtype=np.int32)
        _price_update(first, head, rcap, cost, rev, price, excess, eps, rank, hk, hv)
        work[2] += 1
    size = n + 1
    fifo = np.empty(size, dtype=np.int32)
    inq = np.zeros(n, dtype=np.bool_)
    current = first[:-1].copy()
    qh = 0
    qt = 0
    for v in range(n):
        if excess[v] > 0:
            fifo[qt] = v
            qt += 1
            inq[v] = True
    limit = update_every * n
    since = 0
    while qh != qt:
        u = fifo[qh]
        qh = (qh + 1) % size
        inq[u] = False
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
                            work[1] += 1
                            work[3] += scanned
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
                        work[0] += 1
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
                work[1] += 1
                work[3] += scanned
                since += 1
                if update_every > 0 and since > limit:
                    since = 0
                    _price_update(first, head, rcap, cost, rev, price, excess, eps, rank, hk, hv)
                    work[2] += 1
                    for v in range(n):
                        current[v] = first[v]
    return True


@njit(cache=True)
def _exact_potentials(
    first: I64, head: I32, rcap: I32, cost: I64, price: I64, alpha: int, max_passes: int
) -> tuple[I64, bool]:
    """Potentials in original units with no negative reduced cost on a residual arc.

    Starts from floor(price / alpha) and corrects by FIFO label-correcting; returns
    (potentials, converged). Not converging means a negative residual cycle.
    """
    n = first.shape[0] - 1
    p = np.empty(n, dtype=np.int64)
    for v in range(n):
        p[v] = price[v] // alpha
    size = n + 1
    fifo = np.empty(size, dtype=np.int32)
    inq = np.ones(n, dtype=np.bool_)
    for v in range(n):
        fifo[v] = v
    qh = 0
    qt = n
    budget = np.int64(max_passes) * (first[n] + n)
    work = 0
    while qh != qt:
        u = fifo[qh]
        qh = (qh + 1) % size
        inq[u] = False
        pu = p[u]
        for i in range(first[u], first[u + 1]):
            if rcap[i] > 0:
                v = head[i]
                nv = pu + cost[i] // alpha
                if nv < p[v]:
                    p[v] = nv
                    if not inq[v]:
                        fifo[qt] = v
                        qt = (qt + 1) % size
                        inq[v] = True
        work += first[u + 1] - first[u] + 1
        if work > budget:
            return p, False
    return p, True


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


@njit(cache=True)
def _chosen(rcap: I32, fwd: I32, n_edges: int) -> I64:
    count = 0
    for e in range(n_edges):
        if rcap[fwd[e]] == 0:
            count += 1
    out = np.empty(count, dtype=np.int64)
    k = 0
    for e in range(n_edges):
        if rcap[fwd[e]] == 0:
            out[k] = e
            k += 1
    return out


# --------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------


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


def solve_core(  # noqa: PLR0911 - one return per outcome
    edges: Edges, *, score_decimals: int = 2, warm_start: npt.NDArray[np.int64] | None = None
) -> CoreSolution:
    """Solve the welfare problem on ``edges`` exactly (max placed, then min cost).

    Parameters
    ----------
    edges : Edges
        Eligible pairs and the cap structure (from :func:`matcher.eligibility.build_edges`).
    score_decimals : int, default 2
        Score resolution, as for :func:`matcher.solvers.flow.solve_flow`.
    warm_start : numpy.ndarray of int64, optional
        Potentials of an earlier solve (``CoreSolution.potentials``) with the same node
        numbering, e.g. after candidates withdrew (their edges removed, ids kept). Used as
        starting prices; an array of another length is ignored (cold start).

    Returns
    -------
    CoreSolution
        Status ``OPTIMAL`` with the chosen edges and certificate potentials; ``FEASIBLE``
        when the rank tie-break was dropped to avoid overflow (as ``solve_flow`` does);
        ``ERROR`` if an internal check failed (prices out of range, no convergence).

    Examples
    --------
    >>> import matcher
    >>> from matcher.eligibility import build_edges
    >>> edges = build_edges(matcher.load_instance("instances/tiny"))
    >>> sol = solve_core(edges)
    >>> sol.status.value, len(sol.chosen), check_certificate(edges, sol.chosen, sol.potentials)
    ('optimal', 4, [])
    """
    t0 = time.perf_counter()
    stats: dict[str, float] = {}
    regional = getattr(edges.caps, "regional_cap", None)
    if regional is not None and len(regional) > 0:
        empty0 = np.zeros(0, dtype=np.int64)
        return CoreSolution(
            Status.ERROR, "regional caps cross the cap tree: not supported by this solver", empty0, empty0
        )
    net = _network(edges, score_decimals)
    caps = edges.caps
    n = net.n_nodes
    alpha = n + 1
    n_edges = edges.n_pairs
    clip = len(net.cands_with_edges) + 1  # never saturated: at most clip - 1 units flow
    slot_cap = edges.slots.get_column("capacity").to_numpy().astype(np.int64)
    first, head, rcap, cost, rev, fwd = _build(
        n, net.cand0, net.slot0, net.int0, net.nat0, net.tot0,
        edges.cand.astype(np.int32, copy=False), edges.slot.astype(np.int32, copy=False),
        net.costs, net.cands_with_edges, slot_cap,
        caps.slot_intake.astype(np.int32, copy=False), caps.intake_cap.astype(np.int64, copy=False),
        caps.intake_national.astype(np.int32, copy=False), caps.national_cap.astype(np.int64, copy=False),
        caps.national_total.astype(np.int32, copy=False), caps.total_cap.astype(np.int64, copy=False),
        alpha, clip,
    )  # fmt: skip
    t1 = time.perf_counter()
    stats["build_s"] = t1 - t0
    value, mf_pushes, mf_relabels = _max_flow(first, head, rcap, rev, 0, 1)
    _reset(rcap, rev, fwd)
    t2 = time.perf_counter()
    stats.update(max_flow_s=t2 - t1, max_flow=float(value), max_flow_pushes=float(mf_pushes))
    stats["max_flow_relabels"] = float(mf_relabels)
    up = fwd[n_edges + len(net.cands_with_edges) :]
    price = np.zeros(n, dtype=np.int64)
    cmax = int(np.abs(net.costs).max()) * alpha if n_edges else 0
    warm = warm_start is not None and warm_start.shape == (n,)
    if warm:
        assert warm_start is not None
        price, eps = _warm_prices(warm_start, alpha, cmax)
    else:
        eps = cmax
    stats["warm"] = float(warm)
    excess = np.zeros(n, dtype=np.int64)
    excess[0] = value
    excess[1] = -value
    work = np.zeros(4, dtype=np.int64)
    phases = 0
    ok = True
    if value > 0:
        while True:
            eps = max(1, -(-eps // SCALE_FACTOR)) if eps > 1 else 1
            ok = _refine(first, head, rcap, cost, rev, price, excess, eps, work, net.slot0, net.int0, 0.0, up)
            phases += 1
            if not ok or eps == 1:
                break
    t3 = time.perf_counter()
    stats.update(cost_scaling_s=t3 - t2, phases=float(phases), pushes=float(work[0]))
    stats.update(relabels=float(work[1]), price_updates=float(work[2]), relabel_scans=float(work[3]))
    empty = np.zeros(0, dtype=np.int64)
    if not ok:
        return CoreSolution(Status.ERROR, "prices left the int64-safe range", empty, price, stats)
    pot, converged = _exact_potentials(first, head, rcap, cost, price, alpha, 200)
    if not converged:
        return CoreSolution(Status.ERROR, "no exact potentials (internal error)", empty, pot, stats)
    side = _source_side(first, head, rcap, 0)
    if side[1]:
        return CoreSolution(Status.ERROR, "flow is not maximum (internal error)", empty, pot, stats)
    bound = path_cost_bound(net.costs, len(net.cands_with_edges))
    gap = int(pot[1]) - int(pot[0])
    shift = max(CUT_SHIFT, bound + 1 - gap)
    if int(np.abs(pot).max(initial=0)) + shift >= (1 << 61):
        return CoreSolution(Status.ERROR, "certificate potentials overflow int64", empty, pot, stats)
    pot[~side] += shift
    chosen = _chosen(rcap, fwd, n_edges)
    t4 = time.perf_counter()
    stats.update(certificate_s=t4 - t3, seconds=t4 - t0)
    if not net.rank_kept:
        return CoreSolution(
            Status.FEASIBLE,
            "optimal for placed count and total score; the rank tie-break was skipped because "
            "its weights would overflow 64-bit costs (shorten preference lists)",
            chosen,
            pot,
            stats,
        )
    return CoreSolution(Status.OPTIMAL, "optimal", chosen, pot, stats)


def _warm_prices(warm: I64, alpha: int, cmax: int) -> tuple[I64, int]:
    """Scaled starting prices from earlier potentials, and the starting epsilon.

    The sink side of the earlier cut was raised by at least ``CUT_SHIFT``; it is lowered
    back, then prices are clipped so that scaling by ``alpha`` cannot overflow.
    """
    p = warm.astype(np.int64) - np.int64(warm[0])
    p = np.where(p >= CUT_SHIFT // 2, p - CUT_SHIFT, p)
    lim = (PRICE_LIMIT // 4) // alpha
    p = np.clip(p, -lim, lim) * np.int64(alpha)
    return p, max(1, cmax // (SCALE_FACTOR**4))


def check_certificate(
    edges: Edges,
    chosen: npt.NDArray[np.integer],
    potentials: npt.NDArray[np.integer],
    *,
    score_decimals: int = 2,
) -> list[str]:
    """Check that ``chosen`` is a maximum flow of minimum cost, proven by ``potentials``.

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
    net = _network(edges, score_decimals)
    caps = edges.caps
    problems: list[str] = []
    chosen = np.asarray(chosen, dtype=np.int64)
    pot = np.asarray(potentials, dtype=np.int64)
    n_edges = edges.n_pairs
    if pot.shape != (net.n_nodes,):
        return [f"potentials have shape {pot.shape}, expected ({net.n_nodes},)"]
    if chosen.size and (chosen.min() < 0 or chosen.max() >= n_edges):
        return ["chosen holds an index outside the edge arrays"]
    if np.unique(chosen).size != chosen.size:
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
    src_c = net.cands_with_edges
    groups = [
        ("pair", net.cand0 + edges.cand.astype(np.int64), net.slot0 + edges.slot.astype(np.int64), net.costs, x, np.ones(n_edges, np.int64)),
        ("source", np.zeros(src_c.size, np.int64), net.cand0 + src_c, np.zeros(src_c.size, np.int64), cand_flow[src_c], np.ones(src_c.size, np.int64)),
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
