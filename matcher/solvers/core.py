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
:class:`matcher.eligibility.edges.CapStructure` -- the numbering of ``solve_flow``. Arcs:
``source -> candidate`` (capacity 1, only candidates with at least one edge), one
``candidate -> slot`` arc per edge (capacity 1, cost of the edge), ``slot -> intake``
(declared capacity), ``intake -> national`` (intake cap), ``national -> total``
(national cap), ``total -> sink`` (total cap); caps of -1 are unlimited. Inside a solve
the candidates and the slots are renumbered among themselves for memory locality
(:func:`_node_map`); everything a solve returns or takes (potentials, warm starts) is in
the numbering above.

The algorithm, and why
----------------------
1. *Maximum flow value* ``F`` by FIFO push-relabel with global relabeling (breadth-first
   search from the sink) on the residual network in CSR form. Only the value is needed.
2. *Score level*: a minimum-cost flow of value ``F`` under the costs ``-score`` alone, by
   Goldberg's cost-scaling push-relabel (``refine`` phases: saturate every arc of
   negative reduced cost, then discharge excesses in FIFO order with push look-ahead and
   the largest valid price drop; a slot's held candidates are kept at the front of its
   arc list so its scans only see those; a candidate's arcs are in preference-rank
   order, :func:`_edge_order`, so that the first phases do not all crowd the same
   low-numbered slots). Epsilon falls by ``SCALE_FACTOR`` per phase from the largest
   score *down to 1 in score units*, not to ``1/n``: five phases instead of ten to
   twenty. Such a flow is usually already optimal, and exact potentials
   (label-correcting from the prices, ``QUICK_PASSES`` passes) prove it; they are tried
   first after the phase at ``EARLY_EXACT_EPS``, where the flow usually is optimal
   already, which saves the phase at 1. If they do not exist yet, costs and prices are
   multiplied by ``SCALE_FACTOR`` and one more phase runs, until ``epsilon < 1/n`` in
   score units, where optimality is guaranteed by the theory of cost scaling
   (``_exact_level``). Every score-level phase but the first and the last starts with
   Goldberg's *price refinement* (:func:`_price_refine`): prices that make the current
   flow as nearly ``epsilon``-optimal as they can, so the phase only re-routes the units
   on arcs that no prices fix, instead of most of the flow. Not in the last phase, which
   must end exactly optimal; not on the rank level, whose later phases it slows down.
3. *Rank level*: the score-optimal flows are exactly the flows of value ``F`` that use
   only arcs of zero reduced cost under the score potentials (complementary slackness).
   The least rank sum among them is a min-cost circulation on that subgraph (about half
   of the arcs), costs ``rank``, started from the score-level flow, by the same scaling
   (first precision ``RANK_PRECISION``; raised when needed).
4. *Certificate*: potentials ``B * p_score + p_rank`` repaired by one label-correcting
   pass on the lexicographic costs ``-B * score + rank`` (it converges only when no
   residual cycle is negative, so it is also an internal optimality check); then every
   node that the source cannot reach in the residual network (the sink side of a
   minimum cut) is raised by a constant (``CUT_SHIFT``) so that ``p[sink] - p[source]``
   exceeds the cost of any simple residual path, which certifies that the flow is
   maximum (see :func:`check_certificate`).

Why levels: the single lexicographic cost ``-B * score + rank`` needs ``B`` larger than
any rank-sum difference (about ``20 * n``); cost scaling then spends a phase per factor
of 8 of that range, and every phase costs about the same (each re-routes most of the
flow). Splitting the levels and stopping each at unit precision cuts the phases to
5 + 2-4, the second ones on a smaller graph. Every phase relabels each placed candidate
about eight times (the price walk of a factor-8 step) and waits on memory, hence the
solver's own node numbering (:func:`_node_map`), which keeps neighbours close in memory.
The :func:`solve_tree_flow` entry point solves the Lagrangian backend's relaxed flows
(any tree of caps) the same way, one level, warm from the previous iteration's flow and
potentials. The alternatives measured, and the timings behind each choice, are in
benchmarks/NOTES.md.

Warm start (:func:`_warm_solve`)
--------------------------------
A re-solve after a small change starts from the earlier *certificate*: its placements
are reloaded (a withdrawn candidate's unit stays on the caps above its slot, so the slot
lacks one unit and the source holds one), and its potentials still give every untouched
residual arc a reduced cost >= 0, while their gap ``p[sink] - p[source]`` exceeds any
path's cost. So the change is a min-cost circulation (a return arc sink -> source of
cost minus that gap places the most first) with a few deficits, which successive
shortest paths close exactly, one Dijkstra per deficit unit, run *backwards* from the
deficit so that a search scans a slot's candidates instead of the source's million
arcs. Each search must label every node closer than its path, and scores depend only
on (candidate, sector), so about half of all unused pairs are tied with the
candidate's placement at the score level and a search covers much of a sector; the
paths are long too (a chain of candidates each moving up a place). Two things make a
search cheaper: it stops as soon as a node tied with the top of the heap holds an
excess or leads to the source by a tight arc; and where the arcs of a node all have
capacity 1 (the source's, a candidate's, a slot's below its up-arc) the arc ``w -> u``
is read through its reverse in ``u``'s list, without random access into ``w``'s arcs.

Once the first ``WARM_PROBE`` paths project more than ``WARM_BUDGET`` scans of the
network (about a third of a cold solve), the paths give up and the *levels* run warm
instead: the earlier placements are reloaded, the score level starts from the earlier
exact score potentials (:attr:`CoreSolution.score_potentials`) at epsilon
``WARM_SCORE_EPS``, and past a budget of relabel scans (``WARM_LEVEL_BUDGET``) they hand
over to a cold solve. Prices can crawl there: a unit the source sends to one of the many
tied unplaced candidates displaces another, each step lowers prices by epsilon, and a
tied plateau is lowered in steps until the units reach the freed slots. The crawl is
worst for the last few excesses, whose deficits are far: after every
``WARM_UPDATE_INTERVAL`` times the arcs in relabel scans of the first warm phase, a
global price update (:func:`_global_update`, distances from the deficits backwards in
units of epsilon, one per hop on a plateau) lowers every price by its distance, so those
excesses run downhill. The rank level of a warm solve by levels starts from the earlier
rank potentials (:attr:`CoreSolution.rank_potentials`, at ``WARM_RANK_EPS``) only when
the warm score level moved little of the flow (``WARM_RANK_MAX_PUSHES`` pushes per
placed unit); otherwise the earlier rank prices are far off and it runs as in a cold
solve.

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

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
from numba import njit

from matcher.eligibility.edges import Edges, order_within_runs
from matcher.errors import InputError, Problem
from matcher.solvers.network import FlowNetwork, flow_network
from matcher.status import Status

I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]

log = logging.getLogger("matcher")

#: Prices must stay within +-PRICE_LIMIT (scaled units) so no reduced cost overflows.
PRICE_LIMIT = 1 << 62
#: Epsilon is divided by this factor between cost-scaling phases.
SCALE_FACTOR = 8
#: Label-correcting passes tried on a level before its precision is raised.
QUICK_PASSES = 6
#: Starting precision of the rank level: 64 suffices on generated instances (with 32 the
#: potentials failed at 1M and one more phase followed).
RANK_PRECISION = 64
#: Levels run with ``early`` (the score level; the Lagrangian's relaxed flows) try exact
#: potentials already after a phase at this epsilon or below (above 1): the flow is
#: usually optimal there (see :func:`_exact_level`).
EARLY_EXACT_EPS = 3
#: A warm start gives up (and solves cold) after scanning this many times the arcs.
WARM_BUDGET = 8
#: ... plus this many, so that small instances always finish warm.
WARM_BUDGET_MIN = 1 << 20
#: Paths after which a warm start projects its total work and may give up early.
WARM_PROBE = 8
#: A warm :func:`solve_tree_flow` starts cost scaling at this percentile of the pair cost
#: changes, not their maximum: the few large moves are saturated at once and repaired by
#: relabels that jump (the median was fastest; timings in benchmarks/NOTES.md).
WARM_TREE_PCT = 50.0
#: A warm solve by levels gives up (and solves cold) after its relabels scanned this
#: many times the arcs (a cold solve at 1M scans about 30 times, a warm one after 1%
#: withdrew about 15).
WARM_LEVEL_BUDGET = 20
#: Epsilon of the first score-level phase of a warm solve by levels: at 1 prices crawl
#: through tied plateaus; at 3 one phase suffices for exact potentials (``EARLY_EXACT_EPS``).
WARM_SCORE_EPS = 3
#: Epsilon (in ranks) the rank level of a warm solve by levels starts from, with the
#: earlier rank potentials (its first phase at an eighth of it in the scaled costs).
WARM_RANK_EPS = 1
#: ... but only when the warm score level moved little of the flow: at most this many
#: pushes per placed unit. Past it the earlier rank prices are far off: the rank level runs cold.
WARM_RANK_MAX_PUSHES = 3
#: In that first phase, a global price update (:func:`_global_update`) runs after every
#: this many times the arcs in relabel scans, so the last excesses run straight to far
#: deficits instead of crawling over ties (only there: elsewhere one costs more than it saves).
WARM_UPDATE_INTERVAL = 1.0
#: Price refinement (:func:`_price_refine`) before each phase that starts from a flow but
#: the last (score level, relaxed flows):
#: label-correcting passes it may spend (in scans of the whole network), and the most
#: epsilons it lowers one price by.
PRICE_REFINE_PASSES = 6
PRICE_REFINE_CLAMP = 32
#: Slots of the solver's ``work`` counters (see :func:`_refine`).
WORK_SLOTS = 10
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
    chosen_pairs : numpy.ndarray of int64, shape (2, k)
        (candidate, slot) index of each placed pair: the placements a warm start reloads
        even when the edge arrays changed (candidate -1 after a translation to another
        instance: that candidate is gone, only the unit above its slot is reloaded).
    rank_weight : int
        ``B`` of the costs ``-B * score + rank`` the potentials are stated in (1 when the
        rank level was dropped); a warm start needs the same.
    score_potentials : numpy.ndarray of int64
        Exact potentials of the score level (costs ``-score``), one per node, from which
        a warm start's cost scaling starts; empty when the solve did not run by levels
        (a warm start by shortest paths).
    rank_potentials : numpy.ndarray of int64
        Exact potentials of the rank level (costs ``rank`` on the score-tight arcs), from
        which a warm start's rank level starts; empty like ``score_potentials``.
    node_frames : tuple
        What names the nodes: the candidate ids and the slot, intake, national and total
        tables of the edges solved (references, not copies), so that a warm start on
        another instance (an employer added or gone) finds the nodes it shares.
    score_decimals : int or None
        The score scale the costs and potentials are stated in (``10**score_decimals``
        units per point); a warm start needs the same. None: not recorded (a state saved
        before the scale was), taken to be the scale of the solve it starts.
    """

    status: Status
    message: str
    chosen: I64
    potentials: I64
    stats: dict[str, float] = field(default_factory=dict)
    chosen_pairs: I64 = field(default_factory=lambda: np.zeros((2, 0), dtype=np.int64))
    rank_weight: int = 0
    score_potentials: I64 = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    node_frames: tuple[Any, ...] = ()
    rank_potentials: I64 = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    score_decimals: int | None = None


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
    order: I32,
    node_map: I64,
    src_order: I64,
) -> tuple[I64, I32, I32, I64, I32, I32]:
    """CSR residual network: (first, head, rcap, cost, rev, fwd position of each arc).

    A candidate's pair arcs are placed in the order ``order`` gives the edges (see
    :func:`_edge_order`), the source arcs in the order ``src_order`` gives them; ``fwd``
    is indexed by arc id whatever the order. Node ``v`` of the documented numbering is
    node ``node_map[v]`` of the CSR (:func:`_node_map`).
    """
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
        first[node_map[u] + 1] += 1
        first[node_map[v] + 1] += 1
    pos, head, rcap, cost, rev, fwd = _csr_arrays(first, m)
    for k in range(m):
        a = (k + n_e) % m  # tree and source arcs first: a slot's up-arc heads its list
        if a < n_e:
            a = order[a]
        elif a < n_e + n_s:
            a = n_e + src_order[a - n_e]
        u, v, cap, c = _arc(
            a, cand0, slot0, int0, nat0, tot0, e_cand, e_slot, e_cost, src_cands,
            slot_cap, slot_intake, intake_cap, intake_nat, nat_cap, nat_tot, tot_cap, clip,
        )  # fmt: skip
        _place(a, node_map[u], node_map[v], cap, c * alpha, pos, head, rcap, cost, rev, fwd)
    return first, head, rcap, cost, rev, fwd


@njit(cache=True)
def _edge_key(cand: I32, slot: I32, rank: I64, e: int) -> int:
    """Sort key of edge ``e`` within its candidate: rank, then a hash of the slot."""
    mixed = (int(slot[e]) * 2654435761 + int(cand[e]) * 40503) & 0xFFFFFFFF
    return int(rank[e] << 32) | mixed


@njit(cache=True)
def _edge_order(cand: I32, slot: I32, rank: I64) -> I32:
    """Each candidate's edges by preference rank, ties in a hashed slot order.

    The order of a candidate's arcs is the order its pushes try them. In edge order
    (by slot index) every candidate tries the same low-numbered slots first and the
    first phases fight over them; in rank order the load spreads (timings in
    benchmarks/NOTES.md). The edges need no other order.
    """
    keys = np.empty(cand.shape[0], dtype=np.int64)
    for e in range(cand.shape[0]):
        keys[e] = _edge_key(cand, slot, rank, e)
    return order_within_runs(cand, keys)


@njit(cache=True)
def _first_choices(cand: I32, slot: I32, rank: I64, n_cand: int) -> I64:
    """Per candidate, the slot of its best-ranked edge (the first such edge); -1 without edges."""
    best = np.full(n_cand, -1, dtype=np.int64)
    low = np.zeros(n_cand, dtype=np.int64)
    for e in range(cand.shape[0]):
        c = cand[e]
        if best[c] < 0 or rank[e] < low[c]:
            best[c] = slot[e]
            low[c] = rank[e]
    return best


@njit(cache=True)
def _runs_in_order(order: I32, cand: I32, by: I64) -> I32:
    """``order`` (edges sorted by candidate, each run in its own order) with the runs
    rearranged to follow the candidates ``by`` lists: the pair arcs then enter each slot's
    list in the solver's candidate order (:func:`_node_map`), so a slot's scans run
    forward through memory."""
    start = np.zeros(by.shape[0] + 1, dtype=np.int64)
    for e in range(cand.shape[0]):
        start[cand[e] + 1] += 1
    for c in range(by.shape[0]):
        start[c + 1] += start[c]
    out = np.empty_like(order)
    k = 0
    for c in by:
        for e in range(start[c], start[c + 1]):
            out[k] = order[e]
            k += 1
    return out


def _arc_order(e_cand: I32, e_slot: I32, rank: I64, node_map: I64, cand0: int, slot0: int) -> I32:
    """The order in which ``_build`` places the pair arcs: candidates in the solver's order,
    each one's edges by :func:`_edge_order` on the solver's node numbers (so the network
    is the same as for edges numbered that way from the start)."""
    by = np.empty(slot0 - cand0, dtype=np.int64)  # candidates in the solver's order
    by[node_map[cand0:slot0] - cand0] = np.arange(by.size)
    inner_cand = (node_map[cand0 + e_cand.astype(np.int64)] - cand0).astype(np.int32)
    inner_slot = (node_map[slot0 + e_slot.astype(np.int64)] - slot0).astype(np.int32)
    return _runs_in_order(_edge_order(inner_cand, inner_slot, rank), e_cand, by)


def _node_map(net: FlowNetwork, edges: Edges, rank: I64) -> I64:
    """Where each node of the documented numbering sits in the solver's arrays.

    Cost scaling reads the prices, excesses and arc lists of a node's neighbours at
    random; with slots grouped by sector and candidates by the position of their first
    choice in that slot order, a slot's candidates and a candidate's slots lie close in
    memory. The network is then the same as if the edges had been numbered that way
    (:func:`_arc_order`, the source arcs in that order too): all three matter (with the
    source arcs or the arc-order ties in the documented numbering it was no faster).
    It makes a 1M solve about a tenth faster (timings in benchmarks/NOTES.md).
    """
    n, n_slot = net.num_nodes, edges.slots.height
    n_cand = net.slot0 - net.cand0
    slot_pos = np.arange(n_slot, dtype=np.int64)
    if "sector" in edges.slots.columns:  # hand-made edges may lack it: slots stay in order
        sector = edges.slots.select(pl.col("sector").rank("dense")).to_series().to_numpy()
        slot_pos[np.argsort(sector, kind="stable")] = np.arange(n_slot)
    choice = _first_choices(edges.cand, edges.slot, rank, n_cand)
    key = np.where(choice >= 0, slot_pos[np.maximum(choice, 0)], n_slot)
    cand_pos = np.empty(n_cand, dtype=np.int64)
    cand_pos[np.argsort(key, kind="stable")] = np.arange(n_cand)
    node_map = np.arange(n, dtype=np.int64)
    node_map[net.cand0 : net.slot0] = net.cand0 + cand_pos
    node_map[net.slot0 : net.slot0 + n_slot] = net.slot0 + slot_pos
    return node_map


def _to_inner(x: I64, node_map: I64) -> I64:
    """A node array of the documented numbering, in the solver's (:func:`_node_map`)."""
    y = np.empty_like(x)
    y[node_map] = x
    return y


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
    ``work``: [pushes, relabels, global price updates, arcs scanned by relabels, limit on
    those scans or 0, scans between global updates or 0, arcs scanned by global updates,
    epsilon of the phase that runs them, arcs scanned by price refinements, phases that
    price refinement alone made eps-optimal], updated; False also when
    the limit is passed. Global updates (:func:`_global_update`) only pay where few
    excesses wander over ties to far deficits (a warm start's first phase): the first
    comes after ``work[5]`` relabel scans, so a phase that ends sooner runs none.
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
        work[8] += scans
        work[9] += clean
        below = -eps
    _saturate(first, head, rcap, cost, rev, price, excess, below)
    last = np.empty(n, dtype=np.int64)
    _partition_slots(first, head, rcap, cost, rev, last, slot0, int0)
    size = n + 1
    fifo = np.empty(size, dtype=np.int32)
    inq = np.zeros(n, dtype=np.bool_)
    current = first[:-1].copy()
    interval = work[5] if eps == work[7] else 0
    n_upd = n if interval > 0 else 0
    dist = np.empty(n_upd, dtype=np.int64)
    heap = np.empty(n_upd, dtype=np.int64)
    hpos = np.empty(n_upd, dtype=np.int64)
    next_update = work[3] + interval
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
        if interval > 0 and work[3] > next_update:
            work[6] += _global_update(first, head, rcap, cost, rev, price, excess, eps, dist, heap, hpos)
            work[2] += 1
            next_update = work[3] + interval
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
                if 0 < work[4] < work[3]:
                    return False
    return True


@njit(cache=True)
def _sift_up(heap: I64, hpos: I64, key: I64, k: int) -> None:
    """Indexed binary min-heap of nodes by ``key``: move the entry at ``k`` up."""
    v = heap[k]
    kv = key[v]
    while k > 0:
        p = (k - 1) >> 1
        w = heap[p]
        if key[w] <= kv:
            break
        heap[k] = w
        hpos[w] = k
        k = p
    heap[k] = v
    hpos[v] = k


@njit(cache=True)
def _heap_push(heap: I64, hpos: I64, key: I64, v: int, size: int) -> int:
    """Insert ``v`` or move it up after its key fell; the new size."""
    if hpos[v] < 0:
        heap[size] = v
        hpos[v] = size
        size += 1
    _sift_up(heap, hpos, key, hpos[v])
    return size


@njit(cache=True)
def _heap_pop(heap: I64, hpos: I64, key: I64, size: int) -> int:
    """Remove the top of the heap (its node is ``heap[0]`` before the call); new size."""
    hpos[heap[0]] = -1
    size -= 1
    if size == 0:
        return 0
    v = heap[size]
    kv = key[v]
    k = 0
    while True:
        c = 2 * k + 1
        if c >= size:
            break
        if c + 1 < size and key[heap[c + 1]] < key[heap[c]]:
            c += 1
        if key[heap[c]] >= kv:
            break
        heap[k] = heap[c]
        hpos[heap[k]] = k
        k = c
    heap[k] = v
    hpos[v] = k
    return size


@njit(cache=True)
def _label(
    w: int, nd: int, via: int, dist: I64, succ: I64, heap: I64, hpos: I64, touched: I64, nt: int, size: int
) -> tuple[int, int]:
    """Give node ``w`` the shorter distance ``nd`` through arc ``via``; (touched, heap size)."""
    if dist[w] == _INF:
        touched[nt] = w
        nt += 1
    dist[w] = nd
    succ[w] = via
    return nt, _heap_push(heap, hpos, dist, w, size)


@njit(cache=True)
def _warm_repair(
    first: I64,
    head: I32,
    rcap: I32,
    cost: I64,
    rev: I32,
    price: I64,
    excess: I64,
    ret: I64,
    budget: int,
    info: I64,
    slot0: int,
    int0: int,
) -> int:
    """Successive shortest paths from exact prices: the warm start's whole solve.

    The problem is the min-cost *circulation* with a return arc sink -> source of cost
    ``-ret[0]`` (``M``, the certificate's potential gap, larger than any simple path's
    cost: so it places the most candidates first) and unlimited capacity, carrying
    ``ret[1]`` units. Arcs of negative reduced cost are saturated first; then each
    deficit unit is joined to the nearest excess by a shortest path found by Dijkstra
    *backwards* from the deficit (a freed slot's few hundred candidates are scanned, not
    the source's million arcs), and the nodes labelled below that path's length change
    price so that every reduced cost stays >= 0 and the path becomes tight. With no
    excess left and no negative reduced cost, the flow is optimal and ``price`` proves it.

    Returns 0 when solved, 1 once more than ``budget`` arcs were scanned or the first
    ``WARM_PROBE`` paths project more than that for all deficits, 2 when
    distances or prices would leave the safe range, 3 when the return arc's reduced cost
    is not 0 (the prices do not belong to a solution of this network). ``info`` gets
    [paths, arcs scanned, paths ending at the source, at the sink, elsewhere, source scans].
    """
    n = first.shape[0] - 1
    big = np.int64(1) << 61
    m_ret = ret[0]
    _saturate(first, head, rcap, cost, rev, price, excess)
    if n < 2 or price[1] - price[0] != m_ret:
        return 3
    dist = np.full(n, _INF, dtype=np.int64)
    succ = np.empty(n, dtype=np.int64)
    hpos = np.full(n, -1, dtype=np.int64)
    heap = np.empty(n, dtype=np.int64)
    touched = np.empty(n, dtype=np.int64)
    done = np.zeros(n, dtype=np.bool_)
    scanned = 0
    units = 0
    need = 0
    for v in range(n):
        if excess[v] < 0:
            need -= excess[v]
    for t in range(n):
        while excess[t] < 0:
            # Backward Dijkstra from t: dist[v] = shortest reduced cost of a path v -> t.
            nt = 0
            dist[t] = 0
            touched[nt] = t
            nt += 1
            heap[0] = t
            hpos[t] = 0
            size = 1
            target = -1
            while size > 0:
                u = heap[0]
                d = dist[u]
                if excess[u] > 0:
                    target = u
                    break
                size = _heap_pop(heap, hpos, dist, size)
                done[u] = True
                scanned += first[u + 1] - first[u]
                if u == 0:
                    info[5] += 1
                pu = price[u]
                if u == 0:
                    # The return arc sink -> source (reduced cost 0 at the start).
                    nd = d + price[1] - pu - m_ret
                    if nd < dist[1]:
                        nt, size = _label(1, nd, -2, dist, succ, heap, hpos, touched, nt, size)
                    if excess[1] > 0 and dist[1] == d:
                        target = 1  # the sink ties with the top: no need to scan the source
                        break
                elif u == 1 and ret[1] > 0:
                    # The return arc backwards (source -> sink): one placement fewer.
                    nd = d + price[0] - pu + m_ret
                    if nd < dist[0]:
                        nt, size = _label(0, nd, -3, dist, succ, heap, hpos, touched, nt, size)
                # The arcs of the source, of a candidate and of a slot after its up-arc
                # all have capacity 1 (source and pair arcs), so the arc w -> u has room
                # exactly when its reverse u -> w (read in order here) has none, and costs
                # minus that one: no random access into w's arcs.
                if u == 1:
                    unit_from = first[u + 1]
                elif u < slot0:
                    unit_from = first[u]
                elif u < int0:
                    unit_from = first[u] + 1
                else:
                    unit_from = first[u + 1]
                for j in range(first[u], first[u + 1]):
                    if j >= unit_from:
                        if rcap[j] > 0:
                            continue
                        cost_i = -cost[j]
                    else:
                        if rcap[rev[j]] == 0:
                            continue
                        cost_i = cost[rev[j]]
                    w = head[j]
                    if done[w]:
                        continue
                    nd = d + cost_i + price[w] - pu
                    if nd < dist[w]:
                        if nd > big:
                            return 2
                        nt, size = _label(w, nd, rev[j], dist, succ, heap, hpos, touched, nt, size)
                        if nd == d:
                            # w ties with the top of the heap, so its distance is final:
                            # stop at once if it, or the source through w's source arc,
                            # holds an excess (ties are common: a plateau is not scanned
                            # to its end before the source is reached).
                            if excess[w] > 0:
                                target = w
                                break
                            k = first[w]
                            if k < first[w + 1] and head[k] == 0 and excess[0] > 0 and dist[0] > d:
                                i0 = rev[k]  # the arc source -> w
                                if rcap[i0] > 0 and cost[i0] + price[0] - price[w] == 0:
                                    nt, size = _label(0, d, i0, dist, succ, heap, hpos, touched, nt, size)
                                    target = 0
                                    break
                if target >= 0:
                    break
            if target < 0:
                return 2  # no path: cannot happen, a feasible circulation exists
            top = dist[target]
            info[0] += 1
            info[2 if target == 0 else 3 if target == 1 else 4] += 1
            info[1] = scanned
            for k in range(nt):
                v = touched[k]
                if done[v]:
                    price[v] += top - dist[v]
                    if price[v] > big or price[v] < -big:
                        return 2
            # Augment from the excess to t by the bottleneck of the path.
            delta = min(excess[target], -excess[t])
            v = target
            while v != t:
                i = succ[v]
                if i == -2:
                    v = 0
                elif i == -3:
                    delta = min(delta, ret[1])
                    v = 1
                else:
                    delta = min(delta, np.int64(rcap[i]))
                    v = head[i]
            v = target
            while v != t:
                i = succ[v]
                if i == -2:
                    ret[1] += delta
                    v = 0
                elif i == -3:
                    ret[1] -= delta
                    v = 1
                else:
                    rcap[i] -= delta
                    rcap[rev[i]] += delta
                    v = head[i]
            excess[target] -= delta
            excess[t] += delta
            for k in range(nt):
                v = touched[k]
                dist[v] = _INF
                done[v] = False
                hpos[v] = -1
            units += delta
            # Give up once the work so far, extrapolated to every deficit unit, exceeds
            # the budget (a cold solve is cheaper then): after a few paths, or at once.
            if scanned > budget or (info[0] >= WARM_PROBE and scanned * need > budget * units):
                return 1
    return 0


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
    fifo, inq = _every_node_queued(n)
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
def _route_units(rcap: I32, rev: I32, arcs: I64) -> npt.NDArray[np.bool_]:
    """Send one unit along each row of arc positions that still has room on every arc."""
    sent = np.zeros(arcs.shape[0], dtype=np.bool_)
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
        sent[k] = True
    return sent


@njit(cache=True)
def _tight_subgraph(
    first: I64, head: I32, rcap: I32, cost: I64, rev: I32, pot: I64, fwd: I32, tie: I64
) -> tuple[I64, I32, I32, I64, I32, I32]:
    """CSR of the arcs with zero reduced cost under ``pot``, carrying the costs ``tie``.

    ``tie`` is per pair (the pair arc ``fwd[k]`` costs ``tie[k]``, its reverse
    ``-tie[k]``, every other arc 0), written straight into the subgraph: the full
    network never holds a second cost array (280 MB at 1M). Returns (first, head, rcap,
    costs, rev, old position of each kept arc). An arc and its reverse have opposite
    reduced costs, so both are kept or both dropped.
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
    newpos = np.empty(first[n], dtype=np.int32)  # read only at kept arcs' reverses, all kept
    old = np.empty(m, dtype=np.int32)
    k = 0
    for i in range(first[n]):
        if keep[i]:
            newpos[i] = k
            old[k] = i
            k += 1
    h2 = np.empty(m, dtype=head.dtype)
    r2 = np.empty(m, dtype=rcap.dtype)
    c2 = np.zeros(m, dtype=np.int64)
    v2 = np.empty(m, dtype=rev.dtype)
    for k in range(m):
        i = old[k]
        h2[k] = head[i]
        r2[k] = rcap[i]
        v2[k] = newpos[rev[i]]
    for e in range(tie.shape[0]):
        a = fwd[e]
        if keep[a]:
            c2[newpos[a]] = tie[e]
            c2[newpos[rev[a]]] = -tie[e]
    return nf, h2, r2, c2, v2, old


@njit(cache=True)
def _set_pair_costs(cost: I64, fwd: I32, rev: I32, values: I64) -> None:
    """Pair arc ``fwd[k]`` costs ``values[k]`` and its reverse ``-values[k]`` (in place)."""
    for k in range(values.shape[0]):
        a = fwd[k]
        cost[a] = values[k]
        cost[rev[a]] = -values[k]


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
        Eligible pairs and the cap structure (from :func:`matcher.eligibility.edges.build_edges`).
    score_decimals : int, default 2
        Score resolution, as for :func:`matcher.solvers.flow.solve_flow`.
    warm_start : CoreSolution, optional
        An earlier solve of a changed instance (e.g. candidates withdrew: their edges
        removed, ids kept; or an employer joined or left: its nodes are matched to this
        instance's by key, see :func:`_translated`). Its placements and
        certificate potentials start the solve, which then costs about one shortest-path
        search per freed unit (module docstring); when that would cost more than about a
        third of a cold solve, the levels run from its placements and score potentials
        instead (``stats["warm"]`` is 0 and ``stats["warm_levels"]`` 1), and past their
        own budget, or when the solution does not fit (another node count, another
        ``score_decimals``), a cold solve runs. Any change is allowed; the result is exact
        either way.

    Returns
    -------
    CoreSolution
        Status ``OPTIMAL`` with the chosen edges and certificate potentials; ``FEASIBLE``
        when the rank tie-break was dropped to avoid overflow (as ``solve_flow`` does);
        ``ERROR`` if an internal check failed (prices out of range, no convergence).

    Examples
    --------
    >>> import matcher
    >>> from matcher.eligibility.edges import build_edges
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
    rank = edges.rank.astype(np.int64) if net.rank_kept else np.zeros(n_edges, dtype=np.int64)
    # The integer scores, read back from the network's costs -B * score + rank: rank - cost
    # is B * score exactly (B is 1 and rank 0 without the rank level). Rounding the floats
    # a second time took 0.1-0.6 s at 1M.
    score = (rank - net.costs) // net.rank_weight
    e_cand, e_slot = edges.cand.astype(np.int32, copy=False), edges.slot.astype(np.int32, copy=False)
    node_map = _node_map(net, edges, rank)
    first, head, rcap, cost_a, rev, fwd = _build(
        n, net.cand0, net.slot0, net.int0, net.nat0, net.tot0, e_cand, e_slot, -score, net.cands, net.capacity,
        caps.slot_intake.astype(np.int32, copy=False), caps.intake_cap.astype(np.int64, copy=False),
        caps.intake_national.astype(np.int32, copy=False), caps.national_cap.astype(np.int64, copy=False),
        caps.national_total.astype(np.int32, copy=False), caps.total_cap.astype(np.int64, copy=False),
        1, clip, _arc_order(e_cand, e_slot, rank, node_map, net.cand0, net.slot0), node_map,
        np.argsort(node_map[net.cand0 + net.cands], kind="stable"),
    )  # fmt: skip
    t1 = time.perf_counter()
    stats["build_s"] = t1 - t0
    start_prices: I64 | None = None
    if warm_start is not None and warm_start.score_decimals not in (None, score_decimals):
        # Its potentials are stated in another score unit: they bound nothing here.
        log.info(
            "core: the warm start was solved at %d score decimals, this solve at %d: cold solve",
            warm_start.score_decimals,
            score_decimals,
        )
        stats["warm_scale_mismatch"] = 1.0
        warm_start = None
    if warm_start is not None:
        warm_start = _translated(warm_start, edges, stats)
        network = _Network(first, head, rcap, cost_a, rev, fwd)
        solved = _warm_solve(edges, net, network, warm_start, stats, score_decimals, node_map)
        if solved is not None:
            stats["seconds"] = time.perf_counter() - t0
            log.info("core: warm start, %d shortest paths (%.1f s)", stats["warm_paths"], stats["seconds"])
            return _finish(edges, *solved, stats, score_decimals=score_decimals)
        # Back to the zero flow and the score level's costs; the levels follow, from the
        # earlier prices when they fit this network.
        _reset(rcap, rev, fwd)
        _set_pair_costs(cost_a, fwd, rev, -score)
        start_prices = _score_prices(warm_start, n)
        t1 = time.perf_counter()
    up = fwd[n_edges + n_src :]  # slot, intake, national and total nodes, in documented order
    up_in = np.empty_like(up)  # the same in the solver's node order
    up_in[node_map[net.slot0 :] - net.slot0] = up
    up_of = np.full(n, -1, dtype=np.int64)
    up_of[net.slot0 :] = up_in
    kept = 0
    excess = np.zeros(n, dtype=np.int64)
    # Only the maximum flow's value is needed: it runs on a copy of the capacities
    # (a copy is ten times cheaper than resetting the flow afterwards).
    mf_rcap = rcap.copy()
    if start_prices is not None:
        assert warm_start is not None
        # The earlier placements that still exist are a flow: the maximum flow only has
        # to add to it.
        kept = _load_flow(edges, net, warm_start.chosen_pairs, mf_rcap, rev, fwd, up)
    value, mf_pushes, mf_relabels = _max_flow(first, head, mf_rcap, rev, up_of, 0, 1)
    value += kept
    del mf_rcap
    t2 = time.perf_counter()
    stats.update(max_flow_s=t2 - t1, max_flow=float(value), max_flow_pushes=float(mf_pushes))
    stats["max_flow_relabels"] = float(mf_relabels)
    # Progress for long solves (1M candidates: a minute or more); counts only.
    log.info("core: %s nodes, %s arcs; at most %s placed (%.1f s)", n, int(first[n]) // 2, value, t2 - t0)
    eps_a = int(score.max(initial=1))  # the cold solve's first epsilon (scaled down first)
    eps_b = int(rank.max()) if n_edges else 1
    work = np.zeros(WORK_SLOTS, dtype=np.int64)
    level = _Level(
        first, head, rcap, cost_a, rev, np.zeros(n, dtype=np.int64), excess, net.slot0, net.int0, up_in
    )
    pot_a: I64 | None = None
    if start_prices is not None:
        # Warm: the earlier placements and score-level prices, which are exact wherever
        # the change did not reach, so the phases start at a small epsilon, within a
        # budget of relabel scans (prices far from this network's can crawl for long).
        # The rank level below reuses its earlier prices only if this level moved little.
        assert warm_start is not None
        level.price[:] = _to_inner(start_prices, node_map)
        held = np.zeros(n, dtype=np.int64)
        routed = _load_flow(edges, net, warm_start.chosen_pairs, rcap, rev, fwd, up, held)
        excess += _to_inner(held, node_map)
        excess[0] += value - routed
        excess[1] += routed - value
        work[4] = WARM_LEVEL_BUDGET * int(first[n])
        start = min(eps_a, WARM_SCORE_EPS * SCALE_FACTOR)
        work[5] = max(1, int(WARM_UPDATE_INTERVAL * int(first[n])))
        work[7] = max(1, -(-start // SCALE_FACTOR))  # the first phase's epsilon
        pot_a = _exact_level(level, start, n, work, stats, "score", refine=True, early=True)
        work[4] = 0  # the budget is the warm score level's only
        work[5] = work[7] = 0
        stats["warm_update_scans"] = float(work[6])
        stats["warm_updates"] = float(work[2])
        stats["warm_levels"] = 1.0 if pot_a is not None else 0.0
        if pot_a is None:  # over budget: a cold solve from the zero flow
            _reset(rcap, rev, fwd)
            work[:] = 0
    if pot_a is None:
        # Levels 1-2: most placed (the flow value), then most total score (costs -score).
        # Each candidate starts at its best score, so no pair arc is admissible before
        # the candidate holds a unit: the first phase then places the best candidates
        # first instead of saturating every pair arc and sending most units back.
        level.price[:] = 0
        np.maximum.at(level.price, node_map[net.cand0 + edges.cand.astype(np.int64)], score)
        level.price[0] = int(level.price.max(initial=0))
        excess[:] = 0
        excess[0], excess[1] = value, -value
        pot_a = _exact_level(level, eps_a, n, work, stats, "score", refine=True, early=True)
    t3 = time.perf_counter()
    stats["score_level_s"] = t3 - t2
    stats["score_relabel_scans"] = float(work[3])
    stats["price_refine_scans"] = float(work[8])
    stats["price_refined_phases"] = float(work[9])
    log.info("core: score level %s in %.1f s", "optimal" if pot_a is not None else "failed", t3 - t2)
    if pot_a is None:
        return CoreSolution(
            Status.ERROR, "no exact score-level potentials (internal error)", empty, empty, stats
        )
    # Level 3: least rank sum among the score-optimal flows. Those are the flows of this
    # value that use only arcs of zero reduced cost under pot_a (complementary
    # slackness), so level 3 runs on that subgraph, starting from the current flow.
    found_b: I64 | None = None
    stats["score_pushes"] = float(work[0])
    moved_little = int(work[0]) <= WARM_RANK_MAX_PUSHES * max(value, 1)
    rank_start = _rank_prices(warm_start, n) if start_prices is not None and moved_little else None
    rank_start = _to_inner(rank_start, node_map) if rank_start is not None else None
    if rank_start is not None:
        # Warm: the earlier rank potentials, exact wherever neither the change nor the
        # score level's moves reached; the phases start at a small epsilon from a price
        # refinement, within a budget of relabel scans, else the rank level runs cold.
        work[4] = work[3] + WARM_LEVEL_BUDGET * int(first[n])
        found_b = _tie_break_level(
            level, fwd, pot_a, rank, rank_start.copy(), WARM_RANK_EPS, n, work, stats, refine=True
        )
        work[4] = 0
        stats["warm_rank"] = 1.0 if found_b is not None else 0.0
    if found_b is None:
        found_b = _tie_break_level(
            level, fwd, pot_a, rank, np.zeros(n, dtype=np.int64), eps_b, n, work, stats
        )
    if found_b is None:
        return CoreSolution(
            Status.ERROR, "no exact rank-level potentials (internal error)", empty, empty, stats
        )
    pot_b = found_b
    t4 = time.perf_counter()
    stats["rank_level_s"] = t4 - t3
    log.info("core: rank level optimal in %.1f s", t4 - t3)
    stats.update(pushes=float(work[0]), relabels=float(work[1]), relabel_scans=float(work[3]))
    # One certificate for the lexicographic costs -B * score + rank (built in place: the
    # pair arcs take the network's costs, every other arc costs 0 on every level).
    costs_lex = cost_a
    _set_pair_costs(costs_lex, fwd, rev, net.costs)
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
    return _finish(
        edges,
        net,
        chosen,
        pot[node_map],
        stats,
        pot_a[node_map],
        pot_b[node_map],
        score_decimals=score_decimals,
    )


#: Key columns naming the slots, intakes, nationals and totals (the candidates: their ids).
_NODE_KEYS = (
    ("employer_id", "sector", "track"),
    ("employer_id", "sector", "group"),
    ("sector", "group"),
    ("group",),
)


def _node_frames(edges: Edges) -> tuple[Any, ...]:
    caps = edges.caps
    return (edges.candidate_ids, edges.slots, caps.intakes, caps.nationals, caps.totals)


#: Version of the saved state (:func:`state_tables`); another version is refused on load.
STATE_FORMAT = 1
#: The state's node tables, in node-group order (candidates, then the cap tree bottom up).
STATE_NODE_TABLES = ("candidates", "slots", "intakes", "nationals", "totals")
_STATE_POTENTIALS = ("potential", "score_potential", "rank_potential")
#: Every table of a saved state and its columns (the node tables: their keys).
STATE_COLUMNS: dict[str, tuple[str, ...]] = {
    "candidates": ("candidate_id",),
    **dict(zip(STATE_NODE_TABLES[1:], _NODE_KEYS, strict=True)),
    "potentials": _STATE_POTENTIALS,
    "placements": ("candidate", "slot"),
}


def state_tables(sol: CoreSolution) -> tuple[dict[str, pl.DataFrame], dict[str, Any]]:
    """``sol`` as plain tables and a header, to save and warm-start a later solve from.

    The tables name every node by its key (candidate id; employer, sector, track or group
    of the cap tree's nodes), so that a later instance with other candidates or employers
    is matched node by node (:func:`_translated`). ``potentials`` has one row per node in
    the documented numbering (source, sink, candidates, slots, intakes, nationals,
    totals); ``placements`` the (candidate, slot) row numbers of the placed pairs.
    Raises ValueError for a solution without a certificate (not ``optimal`` or
    ``feasible``, or solved without node names).
    """
    if not sol.status.success or len(sol.node_frames) != len(STATE_NODE_TABLES) or sol.potentials.size == 0:
        raise ValueError(f"a {sol.status.value} solution without a certificate cannot be saved")
    ids, *tree = sol.node_frames
    tables = {"candidates": pl.DataFrame({"candidate_id": pl.Series(ids, dtype=pl.String)})}
    for name, frame in zip(STATE_NODE_TABLES[1:], tree, strict=True):
        tables[name] = frame.select(STATE_COLUMNS[name])
    n = sol.potentials.size
    columns = {}
    for name, values in zip(
        _STATE_POTENTIALS, (sol.potentials, sol.score_potentials, sol.rank_potentials), strict=True
    ):
        columns[name] = pl.Series(name, values if values.size == n else [None] * n, dtype=pl.Int64)
    tables["potentials"] = pl.DataFrame(columns)
    tables["placements"] = pl.DataFrame(
        {"candidate": sol.chosen_pairs[0], "slot": sol.chosen_pairs[1]},
        schema={"candidate": pl.Int64, "slot": pl.Int64},
    )
    header = {
        "format": STATE_FORMAT,
        "solver": "core",
        "status": sol.status.value,
        "message": sol.message,
        "rank_weight": sol.rank_weight,
        **({} if sol.score_decimals is None else {"score_decimals": sol.score_decimals}),
        "nodes": n,
        "placements": int(sol.chosen_pairs.shape[1]),
    }
    return tables, header


def state_from_tables(
    tables: dict[str, pl.DataFrame],
    header: dict[str, Any],
    *,
    source: str | Path = "",
    unreadable: list[Problem] | None = None,
) -> CoreSolution:
    """The :class:`CoreSolution` that :func:`state_tables` saved, checked for consistency.

    Raises InputError listing every problem (another format version, missing tables or
    columns, sizes that do not add up, placements outside the node tables), each naming
    its file in the state directory ``source``, together with the ``unreadable`` files
    (whose absence is then not reported again).
    """
    problems: list[Problem] = list(unreadable or [])
    bad = {Path(p.file).name for p in problems}

    def where(name: str) -> str:
        return str(Path(source) / name)

    if "state.json" not in bad:  # the header was read: check what it says
        if header.get("format") != STATE_FORMAT or header.get("solver") != "core":
            problems.append(
                Problem(
                    where("state.json"),
                    f"format {header.get('format')!r} of solver {header.get('solver')!r}; "
                    f"this version reads format {STATE_FORMAT} of solver 'core'",
                )
            )
        if header.get("status") not in ("optimal", "feasible"):
            problems.append(
                Problem(where("state.json"), f"status {header.get('status')!r}; expected optimal or feasible")
            )
        weight = header.get("rank_weight")
        if not isinstance(weight, int) or weight < 1:
            problems.append(
                Problem(where("state.json"), f"rank_weight {weight!r}; expected a positive integer")
            )
        decimals = header.get("score_decimals")
        if decimals is not None and (
            not isinstance(decimals, int) or isinstance(decimals, bool) or decimals < 0
        ):
            problems.append(
                Problem(where("state.json"), f"score_decimals {decimals!r}; expected a non-negative integer")
            )
    if "state.json" in bad and not set(STATE_COLUMNS) & set(tables):
        raise InputError(problems, what="warm-start state")  # not a state at all: say only that
    for name, cols in STATE_COLUMNS.items():
        if name not in tables:
            if f"{name}.parquet" not in bad:
                problems.append(Problem(where(f"{name}.parquet"), "missing"))
            continue
        missing = [c for c in cols if c not in tables[name].columns]
        if missing:
            problems += [Problem(where(f"{name}.parquet"), "missing column", column=c) for c in missing]
    if any(name not in tables for name in STATE_COLUMNS):
        raise InputError(problems, what="warm-start state")
    sizes = [tables[name].height for name in STATE_NODE_TABLES]
    pot = tables["potentials"]
    n = 2 + sum(sizes)
    if pot.height != n:
        problems.append(
            Problem(
                where("potentials.parquet"),
                f"{pot.height} rows; the node tables name {n} nodes (with source and sink)",
            )
        )
    for name in (c for c in _STATE_POTENTIALS if c in pot.columns):
        col = pot.get_column(name)
        empty = col.null_count()
        if col.cast(pl.Int64, strict=False).null_count() != empty:
            problems.append(
                Problem(where("potentials.parquet"), "values that are not 64-bit integers", column=name)
            )
        elif empty and (name == "potential" or empty < pot.height):
            problems.append(Problem(where("potentials.parquet"), f"{empty} empty values", column=name))
    pairs = tables["placements"].select(
        pl.col(c).cast(pl.Int64, strict=False) if c in tables["placements"].columns else pl.lit(0).alias(c)
        for c in ("candidate", "slot")
    )
    cand, slot = pairs.get_column("candidate"), pairs.get_column("slot")
    if (
        cand.null_count()
        or slot.null_count()
        or not (cand.is_between(0, sizes[0] - 1).all() and slot.is_between(0, sizes[1] - 1).all())
    ):
        problems.append(
            Problem(
                where("placements.parquet"),
                "a candidate or slot number outside candidates.parquet or slots.parquet",
            )
        )
    if problems:
        raise InputError(problems, what="warm-start state")

    def column(name: str) -> I64:
        col = pot.get_column(name)
        if col.null_count() == n:
            return np.zeros(0, dtype=np.int64)
        return col.cast(pl.Int64).to_numpy().astype(np.int64, copy=False)

    frames = tuple(
        [tables["candidates"].get_column("candidate_id").cast(pl.String)]
        + [tables[name].select(STATE_COLUMNS[name]) for name in STATE_NODE_TABLES[1:]]
    )
    return CoreSolution(
        Status(header["status"]),
        str(header.get("message", "")),
        np.zeros(0, dtype=np.int64),
        column("potential"),
        chosen_pairs=pairs.to_numpy().T.astype(np.int64).reshape(2, -1),
        rank_weight=int(header["rank_weight"]),
        score_potentials=column("score_potential"),
        node_frames=frames,
        rank_potentials=column("rank_potential"),
        score_decimals=header.get("score_decimals"),
    )


def _group_map(k: int, old: Any, new: Any) -> I64 | None:
    """Row of each earlier row of node group ``k`` in the new table (-1: gone), or None
    when the tables have no key columns (then only the same numbering can be used)."""
    if k == 0:
        cols, a, b = ["id"], pl.DataFrame({"id": old}), pl.DataFrame({"id": new})
    else:
        cols = list(_NODE_KEYS[k - 1])
        if not (set(cols) <= set(old.columns) and set(cols) <= set(new.columns)):
            return None
        a, b = old.select(cols), new.select(cols)
        if a.is_duplicated().any() or b.is_duplicated().any():
            return None
    pairs = a.with_row_index("old").join(b.with_row_index("new"), on=cols, how="inner")
    out = np.full(a.height, -1, dtype=np.int64)
    out[pairs.get_column("old").to_numpy()] = pairs.get_column("new").to_numpy()
    return out


def _translated(warm: CoreSolution, edges: Edges, stats: dict[str, float]) -> CoreSolution:
    """``warm`` restated in the node numbering of ``edges`` when their nodes differ.

    Nodes are matched by candidate id and by the key columns of the slot, intake,
    national and total tables (:data:`_NODE_KEYS`). A new node starts at its parent's
    price (a candidate at the source's), so its up-arc has reduced cost 0; its pair arcs
    may not, and the warm start repairs those like any other change. Placements on a
    slot that is gone are dropped; those of a candidate that is gone keep candidate -1
    (the unit above the slot is reloaded, the slot lacks it). Unchanged when the tables
    are the same objects or cannot be matched by key.
    """
    new = _node_frames(edges)
    old = warm.node_frames
    if len(old) != len(new) or all(a is b for a, b in zip(old, new, strict=True)):
        return warm
    maps = [_group_map(k, a, b) for k, (a, b) in enumerate(zip(old, new, strict=True))]
    sizes_old = [len(x) for x in old]
    if any(m is None for m in maps) or warm.potentials.size != 2 + sum(sizes_old):
        return warm
    group_maps = [m for m in maps if m is not None]
    sizes = [len(x) for x in new]
    start = 2 + np.concatenate([[0], np.cumsum(sizes)])  # first node of each group
    node_map = np.concatenate(
        [np.array([0, 1], dtype=np.int64)]
        + [np.where(m >= 0, m + start[k], -1) for k, m in enumerate(group_maps)]
    )
    caps = edges.caps
    # Parent of each group's nodes in the new tree (candidates: the source).
    parents = [
        np.zeros(sizes[0], dtype=np.int64),
        start[2] + caps.slot_intake.astype(np.int64),
        start[3] + caps.intake_national.astype(np.int64),
        start[4] + caps.national_total.astype(np.int64),
        np.ones(sizes[4], dtype=np.int64),
    ]
    n = int(start[-1])

    def move(p_old: I64) -> I64:
        p = np.zeros(n, dtype=np.int64)
        known = np.zeros(n, dtype=np.bool_)
        kept = node_map >= 0
        p[node_map[kept]] = p_old[kept]
        known[node_map[kept]] = True
        for k in (4, 3, 2, 1, 0):  # top down: a parent is priced before its children
            nodes = np.arange(start[k], start[k + 1])
            fresh = ~known[nodes]
            p[nodes[fresh]] = p[parents[k][fresh]]
        return p

    # A placement whose candidate is gone (withdrew) keeps candidate -1: its unit stays on
    # the caps above its slot, which lacks it (as after a withdrawal within one instance;
    # see _load_flow), so the shortest paths refill that slot. Dropping it instead left
    # the deficit at the sink, whose searches cross the whole tree (1M, 100 withdrawn: 16
    # paths scanned 86M arcs, then the levels ran; 49.8 s).
    cand = group_maps[0][warm.chosen_pairs[0]]
    slot = group_maps[1][warm.chosen_pairs[1]]
    keep = slot >= 0
    stats["warm_new_nodes"] = float(n - int((node_map >= 0).sum()))
    score = warm.score_potentials
    rank = warm.rank_potentials
    return CoreSolution(
        warm.status,
        warm.message,
        np.zeros(0, dtype=np.int64),
        move(warm.potentials),
        chosen_pairs=np.stack([cand[keep], slot[keep]]),
        rank_weight=warm.rank_weight,
        score_potentials=move(score) if score.size == warm.potentials.size else score[:0],
        node_frames=new,
        rank_potentials=move(rank) if rank.size == warm.potentials.size else rank[:0],
        score_decimals=warm.score_decimals,
    )


def _score_prices(warm: CoreSolution, n: int) -> I64 | None:
    """The earlier solution's exact score potentials when it has them for ``n`` nodes.

    (A solution found by shortest paths has none: its certificate is stated in the
    lexicographic costs, with the sink side of the minimum cut raised by ``CUT_SHIFT``,
    which as score prices would take cost scaling ages to cross.)
    """
    ok = warm.status in (Status.OPTIMAL, Status.FEASIBLE) and warm.score_potentials.shape == (n,)
    return warm.score_potentials if ok else None  # read only: the levels copy it into their prices


def _rank_prices(warm: CoreSolution | None, n: int) -> I64 | None:
    """The earlier solution's exact rank potentials when it has them for ``n`` nodes."""
    if warm is None or warm.status is not Status.OPTIMAL or warm.rank_potentials.shape != (n,):
        return None
    return warm.rank_potentials


def _finish(
    edges: Edges,
    net: FlowNetwork,
    chosen: I64,
    pot: I64,
    stats: dict[str, float],
    score_pot: I64 | None = None,
    rank_pot: I64 | None = None,
    *,
    score_decimals: int,
) -> CoreSolution:
    """The solution of a solve that found ``chosen`` and proved it by ``pot`` (and, when it
    ran by levels, by the score level's ``score_pot`` and the rank level's ``rank_pot``)."""
    pairs = np.stack([edges.cand[chosen].astype(np.int64), edges.slot[chosen].astype(np.int64)])
    status, message = Status.OPTIMAL, "optimal"
    if not net.rank_kept:
        status = Status.FEASIBLE
        message = (
            "optimal for placed count and total score; the rank tie-break was skipped because "
            "its weights would overflow 64-bit costs (shorten preference lists)"
        )
    return CoreSolution(
        status,
        message,
        chosen,
        pot,
        stats,
        chosen_pairs=pairs,
        rank_weight=net.rank_weight,
        score_potentials=np.zeros(0, dtype=np.int64) if score_pot is None else score_pot,
        node_frames=_node_frames(edges),
        rank_potentials=np.zeros(0, dtype=np.int64) if rank_pot is None else rank_pot,
        score_decimals=score_decimals,
    )


@dataclass(frozen=True)
class _Network:
    """The residual network in CSR form (see :func:`_build`), mutated by the solve."""

    first: I64
    head: I32
    rcap: I32
    cost: I64
    rev: I32
    fwd: I32


def _warm_solve(
    edges: Edges,
    net: FlowNetwork,
    network: _Network,
    warm: CoreSolution,
    stats: dict[str, float],
    score_decimals: int,
    node_map: I64,
) -> tuple[FlowNetwork, I64, I64] | None:
    """(network, chosen, potentials) by shortest paths from ``warm``'s solution, or None.

    ``network`` is in the solver's node order (``node_map``), the potentials returned in
    the documented one.

    The earlier certificate potentials stay exact for every arc the change left alone
    (withdrawn candidates only remove arcs), and their gap ``p[sink] - p[source]`` still
    exceeds any path's cost, so :func:`_warm_repair` only has to refill what changed.
    Falls back (None) when the earlier solution does not fit this network (other node
    count, a rank weight too small for this instance, no certificate) or the repair
    grows past its budget. The network returned is stated in the earlier rank weight.
    ``stats["warm_code"]``: :func:`_warm_repair`'s return code, or 4 when the earlier
    solution does not fit.
    """
    t0 = time.perf_counter()
    n, n_edges = net.num_nodes, edges.n_pairs
    n_src = len(net.cands)
    old = warm.potentials
    stats["warm"], stats["warm_code"] = 0.0, 4.0
    if net.rank_kept and warm.rank_weight != net.rank_weight and warm.status is Status.OPTIMAL:
        # State the costs in the earlier B (still above this instance's rank range).
        try:
            net = flow_network(edges, score_decimals=score_decimals, rank_weight=warm.rank_weight)
        except ValueError:
            return None
    fits = (
        warm.status in (Status.OPTIMAL, Status.FEASIBLE)
        and old.shape == (n,)
        and warm.rank_weight == net.rank_weight
        and int(old[1]) - int(old[0]) > path_cost_bound(net.costs, n_src)
    )
    if not fits:
        return None
    first, head, rcap, cost, rev, fwd = (
        network.first,
        network.head,
        network.rcap,
        network.cost,
        network.rev,
        network.fwd,
    )
    _set_pair_costs(cost, fwd, rev, net.costs)  # the lexicographic costs the certificate is stated in
    excess = np.zeros(n, dtype=np.int64)
    routed = _load_flow(edges, net, warm.chosen_pairs, rcap, rev, fwd, fwd[n_edges + n_src :], excess)
    excess = _to_inner(excess, node_map)
    t1 = time.perf_counter()
    stats.update(warm_load_s=t1 - t0, warm_deficits=float(-excess[excess < 0].sum()))
    price = _to_inner(old, node_map)
    ret = np.array([int(old[1]) - int(old[0]), routed], dtype=np.int64)
    info = np.zeros(6, dtype=np.int64)
    budget = WARM_BUDGET * int(first[n]) + WARM_BUDGET_MIN
    code = _warm_repair(first, head, rcap, cost, rev, price, excess, ret, budget, info, net.slot0, net.int0)
    stats.update(warm_code=float(code), warm_repair_s=time.perf_counter() - t1)
    names = ("paths", "scans", "to_source", "to_sink", "to_tree", "source_scans")
    stats.update({f"warm_{k}": float(v) for k, v in zip(names, info, strict=True)})
    if code != 0 or int(np.abs(price).max(initial=0)) >= (1 << 61):
        return None
    stats["warm"] = 1.0
    return net, _chosen(rcap, fwd, n_edges), price[node_map]


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
    state: dict[str, Any] | None = None,
    bonus: tuple[I64, I64, I64] | None = None,
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
    state : dict, optional
        For a sequence of solves that differ only in the pair costs (one level, not
        max-flow-first: the Lagrangian's relaxed flows as its multipliers move). The
        first call stores its network, flow and exact potentials here; a later call with
        the same pairs and tree starts from them: they are ``epsilon``-optimal for the
        new costs with ``epsilon`` the largest cost change, and cost scaling starts at the
        median change (:data:`WARM_TREE_PCT`) instead of the largest cost. Falls back to
        a cold solve when the structure differs or the warm solve fails.
    bonus : tuple of three numpy.ndarray of int64, optional
        ``(node, capacity, cost)``: extra arcs from tree node ``node`` (above the slots)
        to its parent, beside its up-arc. A second arc with a negative cost and the
        capacity of a floor pays a bonus on the first units through that node and no
        more: a concave reward, exact in the flow (the Lagrangian's floors over several
        sectors of one employer). The costs are in the units of the first level.

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
    empty = np.zeros(0, dtype=np.int64)
    b_node, b_cap, b_cost = bonus if bonus is not None else (empty, empty, empty)
    if b_node.size and (int(b_node.min()) < n_slot or int(b_node.max()) >= n_tree):
        raise ValueError("bonus arcs must start at tree nodes above the slots")
    if state is not None and len(levels) == 1 and not max_flow_first:
        chosen = _tree_flow_warm(
            cand, slot, levels[0], cands, n_cand, n_slot, parent, tree_caps, state, (b_node, b_cap, b_cost)
        )
        if chosen is not None:
            return chosen
    clip = n_src + 1
    # Without max-flow-first, units that are not placed go straight from the source to
    # the sink at cost 0 (one bypass arc): a candidate without a unit is unplaced.
    bypass = 0 if max_flow_first else 1
    up_head = np.where(parent < 0, 1, slot0 + parent)
    tails = np.concatenate(
        [2 + cand, slot0 + np.arange(n_tree), np.zeros(n_src + bypass, np.int64), slot0 + b_node]
    )
    heads = np.concatenate([slot0 + slot, up_head, 2 + cands, np.ones(bypass, np.int64), up_head[b_node]])
    caps = np.concatenate(
        [
            np.ones(n_pairs, np.int64),
            np.minimum(tree_caps, clip),
            np.ones(n_src, np.int64),
            np.full(bypass, n_src),
            np.clip(b_cap, 0, clip),
        ]
    )
    costs = np.concatenate([levels[0], np.zeros(tails.size - n_pairs - b_node.size, np.int64), b_cost])
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
    work = np.zeros(WORK_SLOTS, dtype=np.int64)
    stats: dict[str, float] = {}
    # Candidates start at their best gain, as in solve_core: the first phase then places
    # the best first instead of saturating every pair arc.
    price = np.zeros(n, dtype=np.int64)
    np.maximum.at(price, 2 + cand, -levels[0])
    price[0] = int(price.max(initial=0))
    level = _Level(first, head, rcap, cost_a, rev, price, excess, slot0, slot0 + n_slot, up)
    eps = max(1, int(np.abs(levels[0]).max()), int(np.abs(b_cost).max(initial=0)))
    pot = _exact_level(level, eps, n, work, stats, "first", refine=True, early=True)
    if pot is None:
        raise RuntimeError("no exact potentials for the first level (internal error)")
    if len(levels) > 1:
        tie = levels[1]
        found = _tie_break_level(
            level,
            fwd,
            pot,
            tie,
            np.zeros(n, dtype=np.int64),
            max(1, int(tie.max())),
            n,
            work,
            stats,
        )
        if found is None:
            raise RuntimeError("no exact potentials for the second level (internal error)")
    if state is not None and len(levels) == 1 and not max_flow_first:
        state.update(
            key=(n_cand, n_slot, n_pairs, n_src), cand=cand, slot=slot, cands=cands, parent=parent,
            tree_caps=tree_caps, bonus=(b_node, b_cap, b_cost), net=(first, head, rcap, cost_a, rev, fwd),
            costs=levels[0].copy(),
            pot=pot, up=up, warm_solves=state.get("warm_solves", 0),
        )  # fmt: skip
    return _chosen(rcap, fwd, n_pairs)


def _tree_flow_warm(
    cand: I64, slot: I64, costs: I64, cands: I64, n_cand: int, n_slot: int, parent: I64, tree_caps: I64,
    state: dict[str, Any], bonus: tuple[I64, I64, I64],
) -> I64 | None:  # fmt: skip
    """:func:`solve_tree_flow` from the flow and potentials ``state`` holds, after the pair
    costs changed; None when ``state`` holds another structure or the solve fails."""
    same = state.get("key") == (n_cand, n_slot, int(cand.size), int(cands.size)) and all(
        np.array_equal(state[k], v)
        for k, v in (
            ("cand", cand),
            ("slot", slot),
            ("cands", cands),
            ("parent", parent),
            ("tree_caps", tree_caps),
        )
    )
    same = same and all(np.array_equal(a, b) for a, b in zip(state["bonus"], bonus, strict=True))
    if not same:
        return None
    first, head, rcap, cost_a, rev, fwd = state["net"]
    n_pairs = int(cand.size)
    n = first.shape[0] - 1
    delta = np.abs(costs - state["costs"])
    moved = delta[delta > 0]
    change = int(np.percentile(moved, WARM_TREE_PCT)) if moved.size else 0
    cost_a[fwd[:n_pairs]] = costs
    cost_a[rev[fwd[:n_pairs]]] = -costs
    price = state["pot"].copy()  # exact for the old costs: off by the cost changes now
    excess = np.zeros(n, dtype=np.int64)  # the earlier flow is still feasible
    level = _Level(
        first, head, rcap, cost_a, rev, price, excess, 2 + n_cand, 2 + n_cand + n_slot, state["up"]
    )
    work = np.zeros(WORK_SLOTS, dtype=np.int64)
    stats: dict[str, float] = {}
    # The first phase runs at epsilon = change (the loop divides before each phase). When
    # that is 2 or 3, exact potentials are tried right after it (``early``): they usually
    # converge there and save the phase at 1.
    pot = _exact_level(
        level, max(1, change * SCALE_FACTOR) if change else 1, n, work, stats, "warm", refine=True, early=True
    )
    if pot is None:
        state.clear()  # the arrays are mid-solve: the next call starts cold
        return None
    state.update(costs=costs.copy(), pot=pot, warm_solves=state.get("warm_solves", 0) + 1)
    return _chosen(rcap, fwd, n_pairs)


def _tie_break_level(
    lv: _Level, fwd: I32, pot_a: I64, tie: I64, price: I64, eps: int, n: int, work: I64,
    stats: dict[str, float], *, refine: bool = False,
) -> I64 | None:  # fmt: skip
    """The least total ``tie`` (per pair) among the flows optimal for ``lv``'s costs.

    Those flows are exactly the flows of the same value that use only arcs of zero
    reduced cost under ``pot_a`` (complementary slackness), so this level runs on that
    subgraph, started from the current flow, which it updates in ``lv.rcap``. Returns
    the exact potentials of this level, or None on failure.
    """
    if tie.size == 0 or int(tie.max()) <= 0:
        return np.zeros(n, dtype=np.int64)
    f2, h2, r2, c2, v2, old = _tight_subgraph(lv.first, lv.head, lv.rcap, lv.cost, lv.rev, pot_a, fwd, tie)
    lv.excess[:] = 0
    sub = _Level(f2, h2, r2, c2, v2, price, lv.excess, lv.slot0, lv.int0, lv.up[:0])
    found = _exact_level(sub, eps, n, work, stats, "rank", RANK_PRECISION, refine=refine)
    if found is not None:
        _copy_back(lv.rcap, lv.rev, old, r2, v2, _forward_mask(int(lv.first[-1]), fwd))
    return found


def _exact_level(
    lv: _Level, eps: int, n: int, work: I64, stats: dict[str, float], name: str, alpha: int = 1,
    *, refine: bool = False, early: bool = False,
) -> I64 | None:  # fmt: skip
    """Optimal flow for one cost level, and exact potentials proving it; None on failure.

    Cost scaling first at unit precision (epsilon down to 1 in the costs' own units): far
    fewer phases than the textbook ``epsilon < 1/n``, and usually already optimal. Exact
    potentials (label-correcting from the prices, a few passes) then prove it. When none
    exist yet, costs and prices are multiplied by ``SCALE_FACTOR`` and one more phase
    runs, until ``epsilon < 1/n`` in the original units, where the flow is optimal by
    the theory of cost scaling. ``lv.cost`` is scaled in place and restored.

    With ``early``, exact potentials are tried once already after the phase at epsilon
    ``EARLY_EXACT_EPS`` (when one runs): on the score level its flow is usually optimal
    already, and the phase at 1 is skipped: the attempt costs a fraction of that phase.
    When they do not converge, the attempt is lost (QUICK_PASSES network scans). On the
    rank level they do not converge after its phase at 3, so it has no early try. The
    price refinement before the phase at 3 is what makes it work: without it that phase
    takes longer and the early potentials fail (timings in benchmarks/NOTES.md).
    """
    phases = 0

    def proven(pot: I64) -> I64:
        stats[f"{name}_phases"] = float(phases)
        stats[f"{name}_precision"] = float(alpha)
        return pot

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
                refining = PRICE_REFINE_PASSES if refine and eps > 1 else 0
                if not _refine(*args, eps, work, lv.slot0, lv.int0, lv.up, refining):
                    return None
                phases += 1
                if early and alpha == 1 and 1 < eps <= EARLY_EXACT_EPS:
                    early = False  # one try
                    pot, converged = _exact_potentials(
                        lv.first, lv.head, lv.rcap, lv.cost, lv.price, alpha, QUICK_PASSES
                    )
                    stats[f"{name}_early_exact"] = float(converged)
                    if converged:
                        return proven(pot)
            final = alpha > n
            passes = 200 if final else QUICK_PASSES
            pot, converged = _exact_potentials(lv.first, lv.head, lv.rcap, lv.cost, lv.price, alpha, passes)
            if converged:
                return proven(pot)
            if final or alpha * SCALE_FACTOR * cmax * (n + 1) > PRICE_LIMIT // 4:
                return None
            alpha *= SCALE_FACTOR
            np.multiply(lv.cost, SCALE_FACTOR, out=lv.cost)
            np.multiply(lv.price, SCALE_FACTOR, out=lv.price)
            eps = SCALE_FACTOR
    finally:
        if alpha > 1:
            np.floor_divide(lv.cost, alpha, out=lv.cost)


def _load_flow(
    edges: Edges, net: FlowNetwork, pairs: I64, rcap: I32, rev: I32, fwd: I32, up: I32,
    excess: I64 | None = None,
) -> int:  # fmt: skip
    """Route one unit for each earlier placement (``pairs``: (candidate, slot) rows).

    A placement whose pair still exists gets its whole path; one whose pair is gone (the
    candidate withdrew, or is -1: gone from the instance) only the part above its slot, and the unit is left at the source
    (excess) while the slot lacks it (deficit). So every cap carries what it carried
    before. A unit that would overflow a cap of the changed instance is left out.
    Without ``excess`` the partial paths are left out too (the result is a flow).
    Returns the units routed.
    """
    n_slot, n_edges = edges.slots.height, edges.n_pairs
    if pairs.size == 0:
        return 0
    caps = edges.caps
    if n_edges:
        key = edges.cand.astype(np.int64) * n_slot + edges.slot.astype(np.int64)
        pos = np.minimum(np.searchsorted(key, pairs[0] * n_slot + pairs[1]), n_edges - 1)
        found = key[pos] == pairs[0] * n_slot + pairs[1]
    else:
        pos, found = np.zeros(pairs.shape[1], np.int64), np.zeros(pairs.shape[1], np.bool_)
    slot = pairs[1]
    intake = caps.slot_intake[slot].astype(np.int64)
    nat = caps.intake_national[intake].astype(np.int64)
    n_int, n_nat = len(caps.intake_cap), len(caps.national_cap)
    tree = np.stack(
        [
            up[slot],  # slot -> intake
            up[n_slot + intake],  # intake -> national
            up[n_slot + n_int + nat],  # national -> total
            up[n_slot + n_int + n_nat + caps.national_total[nat].astype(np.int64)],  # total -> sink
        ],
        axis=1,
    ).astype(np.int64)
    e = pos[found]
    whole = np.concatenate(
        [
            fwd[n_edges + np.searchsorted(net.cands, edges.cand[e])][:, None],  # source -> candidate
            fwd[e][:, None],  # candidate -> slot
            tree[found],
        ],
        axis=1,
    ).astype(np.int64)
    sent = int(_route_units(rcap, rev, whole).sum())
    if excess is None:
        return sent
    upper = _route_units(rcap, rev, tree[~found])
    np.subtract.at(excess, net.slot0 + slot[~found][upper], 1)
    excess[0] += int(upper.sum())
    return sent + int(upper.sum())


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
