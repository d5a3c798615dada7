"""The residual network in CSR form: arcs, node map, arc order, and edits of the arc lists.

Each node's arcs are contiguous (``first[v]`` to ``first[v + 1]``) with their head,
residual capacity, cost and the position of the reverse arc (``rev``); ``fwd`` gives
the position of each original arc. Inside a solve the candidates and the slots are
renumbered among themselves for memory locality (:func:`_node_map`), and a candidate's
pair arcs are in preference-rank order (:func:`_edge_order`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl
from numba import njit

from matcher.eligibility.edges import Edges, order_within_runs
from matcher.solvers.core.constants import I32, I64
from matcher.solvers.network import FlowNetwork


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
def _set_pair_costs(cost: I64, fwd: I32, rev: I32, values: I64) -> None:
    """Pair arc ``fwd[k]`` costs ``values[k]`` and its reverse ``-values[k]`` (in place)."""
    for k in range(values.shape[0]):
        a = fwd[k]
        cost[a] = values[k]
        cost[rev[a]] = -values[k]


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


def _forward_mask(m: int, fwd: I32) -> npt.NDArray[np.bool_]:
    mask = np.zeros(m, dtype=np.bool_)
    mask[fwd] = True
    return mask


@dataclass(frozen=True)
class _Network:
    """The residual network in CSR form (see :func:`_build`), mutated by the solve."""

    first: I64
    head: I32
    rcap: I32
    cost: I64
    rev: I32
    fwd: I32
