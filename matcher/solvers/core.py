"""matcher's own exact welfare solver: cost scaling by objective level, compiled with numba.

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
2. *Score level*: a minimum-cost flow of value ``F`` under the costs ``-score`` alone, by
   Goldberg's cost-scaling push-relabel (``refine`` phases: saturate every arc of
   negative reduced cost, then discharge excesses in FIFO order with push look-ahead and
   the largest valid price drop; a slot's held candidates are kept at the front of its
   arc list so its scans only see those). Epsilon falls by ``SCALE_FACTOR`` per phase
   from the largest score *down to 1 in score units*, not to ``1/n``: five phases
   instead of ten to twenty. Such a flow is usually already optimal, and exact
   potentials (label-correcting from the prices, ``QUICK_PASSES`` passes) prove it.
   If they do not exist yet, costs and prices are multiplied by ``SCALE_FACTOR`` and one
   more phase runs, until ``epsilon < 1/n`` in score units, where optimality is
   guaranteed by the theory of cost scaling (``_exact_level``).
3. *Rank level*: the score-optimal flows are exactly the flows of value ``F`` that use
   only arcs of zero reduced cost under the score potentials (complementary slackness).
   The least rank sum among them is a min-cost circulation on that subgraph (about half
   of the arcs), costs ``rank``, started from the score-level flow, by the same scaling
   (first precision ``RANK_PRECISION``; raised when needed).
4. *Certificate*: potentials ``B * p_score + p_rank`` repaired by one label-correcting
   pass on the lexicographic costs ``-B * score + rank`` (it converges only when no
   residual cycle is negative, so it is also an internal optimality check); then every
   node that the source cannot reach in the residual network (the sink side of a
   minimum cut) is raised by a constant so that ``p[sink] - p[source]`` exceeds the cost
   of any simple residual path, which certifies that the flow is maximum (see
   :func:`check_certificate`).

Why levels: the single lexicographic cost ``-B * score + rank`` needs ``B`` larger than
any rank-sum difference (about ``20 * n``); cost scaling then spends a phase per factor
of 8 of that range, and every phase costs about the same (each re-routes most of the
flow: measured 0.5-0.9 s per phase at 100k, 17 phases). Splitting the levels and stopping
each at unit precision cut the phases to 5 + 2-4 on a smaller graph.

What else was measured (100k candidates, k = 20): a larger scale factor does not help
(the work per phase grows with it: factor 32, 2x slower; 256, 8x); global price
updates cost more than they save; successive shortest paths (one Dijkstra per
candidate, pair potentials for the count level) were exact but 9x slower, because
ties make the searches explore large plateaus; an epsilon-scaling auction (branch
``wip/auction``) was exact but not faster than OR-Tools. Warm starts reload the earlier
placements and per-level potentials and run one phase at epsilon 1: half of a cold solve
at 100k, but slower than cold at 1M and without sector caps, because price changes then
spread through the tied plateaus in steps of 1 (80M relabels where a cold solve needs
7M). Starting them at a larger epsilon did not beat a cold solve either; a primal-dual
repair (Dijkstra rounds from the exact prices) needed a round per freed unit.

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
#: Label-correcting passes tried on a level before its precision is raised.
QUICK_PASSES = 6
#: Starting precision of the rank level (measured: 64 suffices on generated instances).
RANK_PRECISION = 64
#: Starting epsilon of a warm start (prices already exact for the earlier instance).
WARM_EPS = 8
#: A warm start's shortest-path repair gives up after labelling this many times the nodes.
REPAIR_BUDGET = 4
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
        Phases and precision per level, pushes, relabels and seconds per step.
    levels : tuple of numpy.ndarray
        Exact potentials of each cost level (score, then rank), before the cut shift:
        the prices a warm start resumes from.
    chosen_pairs : numpy.ndarray of int64, shape (2, k)
        (candidate, slot) index of each placed pair: the placements a warm start reloads
        even when the edge arrays changed.
    """

    status: Status
    message: str
    chosen: I64
    potentials: I64
    stats: dict[str, float] = field(default_factory=dict)
    levels: tuple[I64, ...] = ()
    chosen_pairs: I64 = field(default_factory=lambda: np.zeros((2, 0), dtype=np.int64))


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
    pos, head, rcap, cost, rev, fwd = _csr_arrays(first, m)
    for k in range(m):
        a = (k + n_e) % m  # tree and source arcs first: a slot's up-arc heads its list
        u, v, cap, c = _arc(
            a, cand0, slot0, int0, nat0, tot0, e_cand, e_slot, e_cost, src_cands,
            slot_cap, slot_intake, intake_cap, intake_nat, nat_cap, nat_tot, tot_cap, clip,
        )  # fmt: skip
        _place(a, u, v, cap, c * alpha, pos, head, rcap, cost, rev, fwd)
    return first, head, rcap, cost, rev, fwd


@njit(cache=True)
def _csr_arrays(first: I64, m: int) -> tuple[I64, I32, I32, I64, I32, I32]:
    """Prefix sums of the per-node arc counts in ``first`` (in place) and empty arc arrays."""
    for u in range(first.shape[0] - 1):
        first[u + 1] += first[u]
    pos = first[:-1].copy()
    head = np.empty(2 * m, dtype=np.int32)
    rcap = np.empty(2 * m, dtype=np.int32)
    cost = np.empty(2 * m, dtype=np.int64)
    rev = np.empty(2 * m, dtype=np.int32)
    fwd = np.empty(m, dtype=np.int32)
    return pos, head, rcap, cost, rev, fwd


@njit(cache=True)
def _place(
    a: int, u: int, v: int, cap: int, c: int, pos: I64, head: I32, rcap: I32, cost: I64, rev: I32, fwd: I32
) -> None:
    """Arc ``a`` (u -> v, capacity, cost) and its reverse, each at its node's next position."""
    i = pos[u]
    pos[u] += 1
    j = pos[v]
    pos[v] += 1
    head[i] = v
    rcap[i] = cap
    cost[i] = c
    rev[i] = j
    head[j] = u
    rcap[j] = 0
    cost[j] = -c
    rev[j] = i
    fwd[a] = i


@njit(cache=True)
def _build_arcs(
    n_nodes: int, tails: I64, heads: I64, caps: I64, costs: I64, n_first: int
) -> tuple[I64, I32, I32, I64, I32, I32]:
    """CSR residual network of explicit arcs, like :func:`_build` for any tree of caps.

    Arcs ``n_first`` onwards are added first, so that (when they start with each tree
    node's up-arc, in node order) a slot's up-arc heads its list, as ``_refine`` expects.
    """
    m = tails.shape[0]
    first = np.zeros(n_nodes + 1, dtype=np.int64)
    for a in range(m):
        first[tails[a] + 1] += 1
        first[heads[a] + 1] += 1
    pos, head, rcap, cost, rev, fwd = _csr_arrays(first, m)
    for k in range(m):
        a = (k + n_first) % m
        _place(a, tails[a], heads[a], caps[a], costs[a], pos, head, rcap, cost, rev, fwd)
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
def _greedy(first: I64, head: I32, rcap: I32, rev: I32, up_of: I64, s: int, t: int) -> int:
    """Send one unit per candidate along its first arc whose whole path up the tree has room.

    A flow to start the maximum-flow phase from: most units find a path here in one
    pass, so push-relabel only has to route the rest. Returns the units sent.
    """
    sent = 0
    for i0 in range(first[s], first[s + 1]):
        if rcap[i0] < 1:
            continue
        c = head[i0]
        for i in range(first[c], first[c + 1]):
            v = head[i]
            if rcap[i] < 1 or up_of[v] < 0:
                continue
            room = True
            while v != t:
                a = up_of[v]
                if rcap[a] < 1:
                    room = False
                    break
                v = head[a]
            if not room:
                continue
            rcap[i0] -= 1
            rcap[rev[i0]] += 1
            rcap[i] -= 1
            rcap[rev[i]] += 1
            v = head[i]
            while v != t:
                a = up_of[v]
                rcap[a] -= 1
                rcap[rev[a]] += 1
                v = head[a]
            sent += 1
            break
    return sent


@njit(cache=True)
def _max_flow(first: I64, head: I32, rcap: I32, rev: I32, up_of: I64, s: int, t: int) -> tuple[int, int, int]:
    """Value of a maximum s-t flow (FIFO push-relabel, global relabeling); modifies rcap.

    Starts from :func:`_greedy`'s flow. Returns (value, pushes, relabels). Only the first
    phase (a maximum preflow) is run: its sink excess, plus the greedy units, is the
    maximum flow value.
    """
    n = first.shape[0] - 1
    sent = _greedy(first, head, rcap, rev, up_of, s, t)
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
    return int(excess[t]) + sent, pushes, relabels


@njit(cache=True)
def _reset(rcap: I32, rev: I32, fwd: I32) -> None:
    """Back to the zero flow (forward arcs get their capacity back)."""
    for a in range(fwd.shape[0]):
        i = fwd[a]
        j = rev[i]
        rcap[i] += rcap[j]
        rcap[j] = 0


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
    return True


@njit(cache=True)
def _heap_push(hk: I64, hv: I64, size: int, key: int, val: int) -> int:
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
def _heap_pop(hk: I64, hv: I64, size: int) -> int:
    size -= 1
    hk[0] = hk[size]
    hv[0] = hv[size]
    i = 0
    while True:
        c = 2 * i + 1
        if c >= size:
            break
        if c + 1 < size and hk[c + 1] < hk[c]:
            c += 1
        if hk[i] <= hk[c]:
            break
        hk[c], hk[i] = hk[i], hk[c]
        hv[c], hv[i] = hv[i], hv[c]
        i = c
    return size


@njit(cache=True)
def _shortest_path_repair(
    first: I64, head: I32, rcap: I32, cost: I64, rev: I32, price: I64, excess: I64, budget: int
) -> bool:
    """Make the pseudoflow optimal by successive shortest paths from exact prices.

    For small changes to an optimal flow (a warm start): arcs of negative reduced cost
    are saturated, then each excess unit travels along a shortest path (Dijkstra on
    reduced costs, all >= 0) to a deficit, and the prices of the nodes labelled below
    that path's length rise by their distance (so every reduced cost stays >= 0 and the
    path becomes tight). At the end there is no excess and no negative reduced cost:
    the flow is optimal and ``price`` proves it. Returns False (flow and prices still
    valid as a pseudoflow, excess left) once more than ``budget`` nodes were labelled.
    """
    n = first.shape[0] - 1
    for u in range(n):
        pu = price[u]
        for i in range(first[u], first[u + 1]):
            r = rcap[i]
            if r > 0 and cost[i] + pu - price[head[i]] < 0:
                rcap[i] = 0
                rcap[rev[i]] += r
                excess[u] -= r
                excess[head[i]] += r
    dist = np.full(n, _INF, dtype=np.int64)
    pred = np.full(n, -1, dtype=np.int64)
    done = np.zeros(n, dtype=np.bool_)
    touched = np.empty(n, dtype=np.int64)
    hk = np.empty(first[n] + 1, dtype=np.int64)
    hv = np.empty(first[n] + 1, dtype=np.int64)
    labelled = 0
    for s in range(n):
        while excess[s] > 0:
            nt = 0
            dist[s] = 0
            touched[nt] = s
            nt += 1
            size = _heap_push(hk, hv, 0, 0, s)
            target = -1
            while size > 0:
                d = hk[0]
                u = hv[0]
                size = _heap_pop(hk, hv, size)
                if done[u] or d > dist[u]:
                    continue
                if excess[u] < 0:
                    target = u
                    break
                done[u] = True
                pu = price[u]
                for i in range(first[u], first[u + 1]):
                    if rcap[i] > 0:
                        v = head[i]
                        nd = d + cost[i] + pu - price[v]
                        if nd < dist[v]:
                            if dist[v] == _INF:
                                touched[nt] = v
                                nt += 1
                            dist[v] = nd
                            pred[v] = i
                            size = _heap_push(hk, hv, size, nd, v)
            labelled += nt
            if target < 0:
                return False  # cannot happen for a feasible problem
            top = dist[target]
            for k in range(nt):
                v = touched[k]
                if dist[v] < top:
                    price[v] += dist[v] - top
            # Augment by the bottleneck along the path.
            delta = min(excess[s], -excess[target])
            v = target
            while v != s:
                i = pred[v]
                delta = min(delta, rcap[i])
                v = head[rev[i]]
            v = target
            while v != s:
                i = pred[v]
                rcap[i] -= delta
                rcap[rev[i]] += delta
                v = head[rev[i]]
            excess[s] -= delta
            excess[target] += delta
            for k in range(nt):
                v = touched[k]
                dist[v] = _INF
                done[v] = False
            if labelled > budget:
                return False
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


@njit(cache=True)
def _route_units(rcap: I32, rev: I32, arcs: I64) -> int:
    """Send one unit along each row of arc positions that still has room on every arc."""
    count = 0
    for k in range(arcs.shape[0]):
        room = True
        for i in arcs[k]:
            if rcap[i] < 1:
                room = False
                break
        if not room:
            continue
        for i in arcs[k]:
            rcap[i] -= 1
            rcap[rev[i]] += 1
        count += 1
    return count


@njit(cache=True)
def _tight_subgraph(
    first: I64, head: I32, rcap: I32, cost: I64, rev: I32, pot: I64, cost2: I64
) -> tuple[I64, I32, I32, I64, I32, I32]:
    """CSR of the arcs with zero reduced cost under ``pot``, carrying ``cost2``.

    Returns (first, head, rcap, cost2, rev, old position of each kept arc). An arc and its
    reverse have opposite reduced costs, so both are kept or both dropped.
    """
    n = first.shape[0] - 1
    keep = np.zeros(first[n], dtype=np.bool_)
    nf = np.zeros(n + 1, dtype=np.int64)
    for u in range(n):
        c = 0
        pu = pot[u]
        for i in range(first[u], first[u + 1]):
            if cost[i] + pu - pot[head[i]] == 0:
                keep[i] = True
                c += 1
        nf[u + 1] = nf[u] + c
    m = nf[n]
    newpos = np.full(first[n], -1, dtype=np.int32)
    old = np.empty(m, dtype=np.int32)
    k = 0
    for i in range(first[n]):
        if keep[i]:
            newpos[i] = k
            old[k] = i
            k += 1
    h2 = np.empty(m, dtype=head.dtype)
    r2 = np.empty(m, dtype=rcap.dtype)
    c2 = np.empty(m, dtype=np.int64)
    v2 = np.empty(m, dtype=rev.dtype)
    for k in range(m):
        i = old[k]
        h2[k] = head[i]
        r2[k] = rcap[i]
        c2[k] = cost2[i]
        v2[k] = newpos[rev[i]]
    return nf, h2, r2, c2, v2, old


@njit(cache=True)
def _copy_back(rcap: I32, rev: I32, old: I32, r2: I32, v2: I32, forward: npt.NDArray[np.bool_]) -> None:
    """Write the subgraph's flow back into the full network.

    Forward arcs never move inside their node's list (only a slot's backward pair arcs
    are reordered, and its up-arc stays first), so ``old`` still locates them; each
    one's reverse is found through the current ``rev`` arrays of both networks.
    """
    for k in range(old.shape[0]):
        i = old[k]
        if forward[i]:
            rcap[i] = r2[k]
            rcap[rev[i]] = r2[v2[k]]


def _forward_mask(m: int, fwd: I32) -> npt.NDArray[np.bool_]:
    mask = np.zeros(m, dtype=np.bool_)
    mask[fwd] = True
    return mask


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
    edges: Edges, *, score_decimals: int = 2, warm_start: CoreSolution | None = None
) -> CoreSolution:
    """Solve the welfare problem on ``edges`` exactly (max placed, then min cost).

    Parameters
    ----------
    edges : Edges
        Eligible pairs and the cap structure (from :func:`matcher.eligibility.build_edges`).
    score_decimals : int, default 2
        Score resolution, as for :func:`matcher.solvers.flow.solve_flow`.
    warm_start : CoreSolution, optional
        An earlier solve of a changed instance with the same candidates and slots (e.g.
        candidates withdrew: their edges removed, ids kept). Its placements that still
        exist and fit start the flow, and its per-level potentials start the prices; a
        solution with another node count is ignored (cold start). Experimental: after 1%
        of the candidates withdrew it took 0.47x a cold solve at 100k (Japan caps) but
        2x at 1M and 6.7x on a slot-caps-only 100k instance (``benchmarks/core.py``).

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
    empty = np.zeros(0, dtype=np.int64)
    regional = getattr(edges.caps, "regional_cap", None)
    if regional is not None and len(regional) > 0:
        return CoreSolution(
            Status.ERROR, "regional caps cross the cap tree: not supported by this solver", empty, empty
        )
    net = flow_network(edges, score_decimals=score_decimals)
    caps = edges.caps
    n = net.num_nodes
    n_edges = edges.n_pairs
    n_src = len(net.cands)
    clip = n_src + 1  # never saturated: at most clip - 1 units flow
    score = np.rint(edges.score * 10**score_decimals).astype(np.int64)
    rank = edges.rank.astype(np.int64) if net.rank_kept else np.zeros(n_edges, dtype=np.int64)
    first, head, rcap, cost_a, rev, fwd = _build(
        n, net.cand0, net.slot0, net.int0, net.nat0, net.tot0,
        edges.cand.astype(np.int32, copy=False), edges.slot.astype(np.int32, copy=False),
        -score, net.cands, net.capacity,
        caps.slot_intake.astype(np.int32, copy=False), caps.intake_cap.astype(np.int64, copy=False),
        caps.intake_national.astype(np.int32, copy=False), caps.national_cap.astype(np.int64, copy=False),
        caps.national_total.astype(np.int32, copy=False), caps.total_cap.astype(np.int64, copy=False),
        1, clip,
    )  # fmt: skip
    t1 = time.perf_counter()
    stats["build_s"] = t1 - t0
    up = fwd[n_edges + n_src :]
    up_of = np.full(n, -1, dtype=np.int64)
    up_of[net.slot0 :] = up  # slot, intake, national and total nodes, in node order
    value, mf_pushes, mf_relabels = _max_flow(first, head, rcap, rev, up_of, 0, 1)
    _reset(rcap, rev, fwd)
    t2 = time.perf_counter()
    stats.update(max_flow_s=t2 - t1, max_flow=float(value), max_flow_pushes=float(mf_pushes))
    stats["max_flow_relabels"] = float(mf_relabels)
    warm = warm_start is not None and len(warm_start.levels) == 2 and warm_start.levels[0].shape == (n,)
    stats["warm"] = float(warm)
    loaded = 0
    if warm:
        assert warm_start is not None
        price_a, price_b = warm_start.levels[0].copy(), warm_start.levels[1].copy()
        loaded = _load_flow(edges, warm_start.chosen_pairs, rcap, rev, fwd, n_src, up)
        eps_a = eps_b = WARM_EPS
    else:
        price_a, price_b = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
        # Each candidate starts at its best score, so no pair arc is admissible before
        # the candidate holds a unit: the first phase then places the best candidates
        # first instead of saturating every pair arc and sending most units back.
        np.maximum.at(price_a, net.cand0 + edges.cand.astype(np.int64), score)
        price_a[0] = int(price_a.max(initial=0))
        eps_a = int(score.max()) if n_edges else 1
        eps_b = int(rank.max()) if n_edges else 1
    stats["warm_loaded"] = float(loaded)
    excess = np.zeros(n, dtype=np.int64)
    excess[0], excess[1] = value - loaded, loaded - value
    work = np.zeros(4, dtype=np.int64)
    # Levels 1-2: most placed (the flow value), then most total score (costs -score).
    level = _Level(first, head, rcap, cost_a, rev, price_a, excess, net.slot0, net.int0, up)
    pot_a = _exact_level(level, eps_a, n, work, stats, "score")
    t3 = time.perf_counter()
    stats["score_level_s"] = t3 - t2
    if pot_a is None:
        return CoreSolution(
            Status.ERROR, "no exact score-level potentials (internal error)", empty, empty, stats
        )
    # Level 3: least rank sum among the score-optimal flows. Those are the flows of this
    # value that use only arcs of zero reduced cost under pot_a (complementary
    # slackness), so level 3 runs on that subgraph, starting from the current flow.
    found_b, cost_b = _tie_break_level(level, fwd, pot_a, rank, price_b, eps_b, n, work, stats, repair=warm)
    if found_b is None:
        return CoreSolution(
            Status.ERROR, "no exact rank-level potentials (internal error)", empty, empty, stats
        )
    pot_b = found_b
    t4 = time.perf_counter()
    stats["rank_level_s"] = t4 - t3
    stats.update(pushes=float(work[0]), relabels=float(work[1]), relabel_scans=float(work[3]))
    # One certificate for the lexicographic costs -B * score + rank (built in place).
    costs_lex = cost_a
    np.multiply(costs_lex, net.rank_weight, out=costs_lex)
    costs_lex += cost_b
    del cost_b
    pot, converged = _exact_potentials(first, head, rcap, costs_lex, net.rank_weight * pot_a + pot_b, 1, 200)
    if not converged:
        return CoreSolution(Status.ERROR, "no exact potentials (internal error)", empty, pot, stats)
    side = _source_side(first, head, rcap, 0)
    if side[1]:
        return CoreSolution(Status.ERROR, "flow is not maximum (internal error)", empty, pot, stats)
    bound = path_cost_bound(net.costs, n_src)
    gap = int(pot[1]) - int(pot[0])
    shift = max(CUT_SHIFT, bound + 1 - gap)
    if int(np.abs(pot).max(initial=0)) + shift >= (1 << 61):
        return CoreSolution(Status.ERROR, "certificate potentials overflow int64", empty, pot, stats)
    pot[~side] += shift
    chosen = _chosen(rcap, fwd, n_edges)
    t5 = time.perf_counter()
    stats.update(certificate_s=t5 - t4, seconds=t5 - t0)
    pairs = np.stack([edges.cand[chosen].astype(np.int64), edges.slot[chosen].astype(np.int64)])
    if not net.rank_kept:
        return CoreSolution(
            Status.FEASIBLE,
            "optimal for placed count and total score; the rank tie-break was skipped because "
            "its weights would overflow 64-bit costs (shorten preference lists)",
            chosen,
            pot,
            stats,
            (pot_a, pot_b),
            pairs,
        )
    return CoreSolution(Status.OPTIMAL, "optimal", chosen, pot, stats, (pot_a, pot_b), pairs)


@dataclass(frozen=True)
class _Level:
    """One cost level's residual network (CSR) with its prices and excesses, all mutated."""

    first: I64
    head: I32
    rcap: I32
    cost: I64
    rev: I32
    price: I64
    excess: I64
    slot0: int
    int0: int
    up: I32


def solve_tree_flow(
    cand: I64,
    slot: I64,
    levels: list[I64],
    cands: I64,
    n_cand: int,
    n_slot: int,
    parent: I64,
    tree_caps: I64,
    *,
    max_flow_first: bool,
) -> I64:
    """Min-cost flow of candidates onto slots under any tree of caps; the chosen pairs.

    The subproblem of :mod:`matcher.solvers.lagrange`, solved by this module's method
    (exact, levels by cost scaling at unit precision, proven by exact potentials).

    Parameters
    ----------
    cand, slot : numpy.ndarray of int64
        The pairs (candidate index, slot index) that may be chosen.
    levels : list of numpy.ndarray of int64
        Pair costs, one array per lexicographic level: one, or two with the second
        (a tie-break such as the rank) at least 0.
    cands : numpy.ndarray of int64
        The candidates that may be placed (each at most once).
    n_cand, n_slot : int
        Number of candidates and of slots (the first ``n_slot`` tree nodes).
    parent : numpy.ndarray of int64
        Parent of each tree node (slots first, then the nodes above them), -1 for the
        sink; ``tree_caps`` the capacity of each node's up-arc.
    max_flow_first : bool
        Most placed first (then the levels); else a candidate stays unplaced at cost 0
        whenever no placement costs less.

    Returns
    -------
    numpy.ndarray of int64
        Indices into ``cand`` / ``slot`` of the chosen pairs.

    Raises
    ------
    RuntimeError
        If an internal check fails (cannot happen for valid input).
    """
    n_pairs, n_tree, n_src = int(cand.size), int(parent.size), int(cands.size)
    if n_pairs == 0 or n_src == 0:
        return np.zeros(0, dtype=np.int64)
    slot0 = 2 + n_cand
    n = slot0 + n_tree
    clip = n_src + 1
    # Without max-flow-first, units that are not placed go straight from the source to
    # the sink at cost 0 (one bypass arc): a candidate without a unit is unplaced.
    bypass = 0 if max_flow_first else 1
    tails = np.concatenate([2 + cand, slot0 + np.arange(n_tree), np.zeros(n_src + bypass, np.int64)])
    heads = np.concatenate(
        [slot0 + slot, np.where(parent < 0, 1, slot0 + parent), 2 + cands, np.ones(bypass, np.int64)]
    )
    caps = np.concatenate(
        [
            np.ones(n_pairs, np.int64),
            np.minimum(tree_caps, clip),
            np.ones(n_src, np.int64),
            np.full(bypass, n_src),
        ]
    )
    costs = np.concatenate([levels[0], np.zeros(tails.size - n_pairs, np.int64)])
    first, head, rcap, cost_a, rev, fwd = _build_arcs(n, tails, heads, caps, costs.astype(np.int64), n_pairs)
    up = fwd[n_pairs : n_pairs + n_tree]
    if max_flow_first:
        up_of = np.full(n, -1, dtype=np.int64)
        up_of[slot0:] = up
        value, _, _ = _max_flow(first, head, rcap, rev, up_of, 0, 1)
        _reset(rcap, rev, fwd)
    else:
        value = n_src  # every unit goes somewhere: through a candidate and a slot, or the bypass
    excess = np.zeros(n, dtype=np.int64)
    excess[0], excess[1] = value, -value
    work = np.zeros(4, dtype=np.int64)
    stats: dict[str, float] = {}
    # Candidates start at their best gain, as in solve_core: the first phase then places
    # the best first instead of saturating every pair arc.
    price = np.zeros(n, dtype=np.int64)
    np.maximum.at(price, 2 + cand, -levels[0])
    price[0] = int(price.max(initial=0))
    level = _Level(first, head, rcap, cost_a, rev, price, excess, slot0, slot0 + n_slot, up)
    eps = max(1, int(np.abs(levels[0]).max()))
    pot = _exact_level(level, eps, n, work, stats, "first")
    if pot is None:
        raise RuntimeError("no exact potentials for the first level (internal error)")
    if len(levels) > 1:
        tie = levels[1]
        found, _ = _tie_break_level(
            level,
            fwd,
            pot,
            tie,
            np.zeros(n, dtype=np.int64),
            max(1, int(tie.max())),
            n,
            work,
            stats,
            repair=False,
        )
        if found is None:
            raise RuntimeError("no exact potentials for the second level (internal error)")
    return _chosen(rcap, fwd, n_pairs)


def _tie_break_level(
    lv: _Level, fwd: I32, pot_a: I64, tie: I64, price: I64, eps: int, n: int, work: I64,
    stats: dict[str, float], *, repair: bool,
) -> tuple[I64 | None, I64]:  # fmt: skip
    """The least total ``tie`` (per pair) among the flows optimal for ``lv``'s costs.

    Those flows are exactly the flows of the same value that use only arcs of zero
    reduced cost under ``pot_a`` (complementary slackness), so this level runs on that
    subgraph, started from the current flow, which it updates in ``lv.rcap``. Returns
    (exact potentials of this level or None on failure, its costs on the full network).
    """
    n_pairs = tie.size
    cost_b = np.zeros_like(lv.cost)
    cost_b[fwd[:n_pairs]] = tie
    cost_b[lv.rev[fwd[:n_pairs]]] = -tie
    if n_pairs == 0 or int(tie.max()) <= 0:
        return np.zeros(n, dtype=np.int64), cost_b
    f2, h2, r2, c2, v2, old = _tight_subgraph(lv.first, lv.head, lv.rcap, lv.cost, lv.rev, pot_a, cost_b)
    lv.excess[:] = 0
    sub = _Level(f2, h2, r2, c2, v2, price, lv.excess, lv.slot0, lv.int0, lv.up[:0])
    precision = RANK_PRECISION
    # Warm: shortest paths from the earlier exact prices usually finish this level (few
    # units move); if they label too much, scaling takes over.
    if repair and _shortest_path_repair(f2, h2, r2, c2, v2, price, lv.excess, REPAIR_BUDGET * n):
        precision = 1  # optimal already, with exact potentials: nothing left to scale
        stats["warm_repaired_rank"] = 1.0
    found = _exact_level(sub, eps, n, work, stats, "rank", precision)
    if found is not None:
        _copy_back(lv.rcap, lv.rev, old, r2, v2, _forward_mask(int(lv.first[-1]), fwd))
    return found, cost_b


def _exact_level(
    lv: _Level, eps: int, n: int, work: I64, stats: dict[str, float], name: str, alpha: int = 1
) -> I64 | None:
    """Optimal flow for one cost level, and exact potentials proving it; None on failure.

    Cost scaling first at unit precision (epsilon down to 1 in the costs' own units): far
    fewer phases than the textbook ``epsilon < 1/n``, and usually already optimal. Exact
    potentials (label-correcting from the prices, a few passes) then prove it. When none
    exist yet, costs and prices are multiplied by ``SCALE_FACTOR`` and one more phase
    runs, until ``epsilon < 1/n`` in the original units, where the flow is optimal by
    the theory of cost scaling. ``lv.cost`` is scaled in place and restored.
    """
    phases = 0
    cmax = int(np.abs(lv.cost).max(initial=0)) + 1
    args = (lv.first, lv.head, lv.rcap, lv.cost, lv.rev, lv.price, lv.excess)
    if alpha > 1:
        np.multiply(lv.cost, alpha, out=lv.cost)
        np.multiply(lv.price, alpha, out=lv.price)
        eps *= alpha
    try:
        while True:
            while eps > 1 or (phases == 0 and int(lv.excess.max(initial=0)) > 0):
                eps = max(1, -(-eps // SCALE_FACTOR))
                if not _refine(*args, eps, work, lv.slot0, lv.int0, lv.up):
                    return None
                phases += 1
            final = alpha > n
            passes = 200 if final else QUICK_PASSES
            pot, converged = _exact_potentials(lv.first, lv.head, lv.rcap, lv.cost, lv.price, alpha, passes)
            if converged:
                stats[f"{name}_phases"] = float(phases)
                stats[f"{name}_precision"] = float(alpha)
                return pot
            if final or alpha * SCALE_FACTOR * cmax * (n + 1) > PRICE_LIMIT // 4:
                return None
            alpha *= SCALE_FACTOR
            np.multiply(lv.cost, SCALE_FACTOR, out=lv.cost)
            np.multiply(lv.price, SCALE_FACTOR, out=lv.price)
            eps = SCALE_FACTOR
    finally:
        if alpha > 1:
            np.floor_divide(lv.cost, alpha, out=lv.cost)


def _load_flow(edges: Edges, pairs: I64, rcap: I32, rev: I32, fwd: I32, n_src: int, up: I32) -> int:
    """Route one unit for each earlier placement that still has its edge; returns the count.

    ``pairs`` holds (candidate, slot) rows; a unit that would overflow a cap of the
    changed instance is left out.
    """
    n_slot, n_edges = edges.slots.height, edges.n_pairs
    if pairs.size == 0 or n_edges == 0:
        return 0
    caps = edges.caps
    key = edges.cand.astype(np.int64) * n_slot + edges.slot.astype(np.int64)
    want = pairs[0] * n_slot + pairs[1]
    pos = np.minimum(np.searchsorted(key, want), n_edges - 1)
    e = pos[key[pos] == want]
    cands = np.unique(edges.cand)
    slot = edges.slot[e].astype(np.int64)
    intake = caps.slot_intake[slot].astype(np.int64)
    nat = caps.intake_national[intake].astype(np.int64)
    n_int, n_nat = len(caps.intake_cap), len(caps.national_cap)
    arcs = np.stack(
        [
            fwd[n_edges + np.searchsorted(cands, edges.cand[e])],  # source -> candidate
            fwd[e],  # candidate -> slot
            up[slot],  # slot -> intake
            up[n_slot + intake],  # intake -> national
            up[n_slot + n_int + nat],  # national -> total
            up[n_slot + n_int + n_nat + caps.national_total[nat].astype(np.int64)],  # total -> sink
        ],
        axis=1,
    ).astype(np.int64)
    return int(_route_units(rcap, rev, arcs))


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
    net = flow_network(edges, score_decimals=score_decimals)
    caps = edges.caps
    problems: list[str] = []
    chosen = np.asarray(chosen, dtype=np.int64)
    pot = np.asarray(potentials, dtype=np.int64)
    n_edges = edges.n_pairs
    if pot.shape != (net.num_nodes,):
        return [f"potentials have shape {pot.shape}, expected ({net.num_nodes},)"]
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
    src_c = net.cands
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
