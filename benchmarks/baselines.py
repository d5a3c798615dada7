"""Independent baselines the benchmarks check matcher's flow solvers against.

``networkx_flow`` solves the welfare network (the layout of
:func:`matcher.solvers.network.flow_network`, with its lexicographic costs) by networkx's
network simplex; the flow value, the placed count, comes first from SciPy's maximum flow.
``scipy_assignment`` solves the same instance, when only slot capacities bind, as a
rectangular assignment problem with SciPy's ``min_weight_full_bipartite_matching``.
Both are slow, so the benchmarks call them only at the sizes where they fit.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

I64 = npt.NDArray[np.int64]

#: float64 represents every integer below this exactly.
_EXACT = 2**53


def network_arcs(edges: Any, score_decimals: int = 2) -> tuple[int, int, I64, I64, I64, I64]:
    """Arcs of the welfare network: (num_nodes, max_flow, tails, heads, capacities, costs).

    Node 0 is the source, node 1 the sink; zero-capacity arcs are left out.
    """
    from matcher.solvers.network import flow_network

    net = flow_network(edges, score_decimals=score_decimals)
    caps = edges.caps

    def unlimited(cap: I64) -> I64:
        return np.where(cap < 0, net.big, cap).astype(np.int64)

    tails = np.concatenate(
        [
            net.cand0 + edges.cand.astype(np.int64),
            np.zeros(len(net.cands), dtype=np.int64),
            net.slot0 + np.arange(net.n_slot, dtype=np.int64),
            net.int0 + np.arange(net.n_int, dtype=np.int64),
            net.nat0 + np.arange(net.n_nat, dtype=np.int64),
            net.tot0 + np.arange(net.n_tot, dtype=np.int64),
        ]
    )
    heads = np.concatenate(
        [
            net.slot0 + edges.slot.astype(np.int64),
            net.cand0 + net.cands,
            net.int0 + caps.slot_intake.astype(np.int64),
            net.nat0 + caps.intake_national.astype(np.int64),
            net.tot0 + caps.national_total.astype(np.int64),
            np.ones(net.n_tot, dtype=np.int64),
        ]
    )
    arc_caps = np.concatenate(
        [
            np.ones(edges.n_pairs + len(net.cands), dtype=np.int64),
            net.capacity,
            unlimited(caps.intake_cap),
            unlimited(caps.national_cap),
            unlimited(caps.total_cap),
        ]
    )
    costs = np.concatenate([net.costs, np.zeros(len(tails) - edges.n_pairs, dtype=np.int64)])
    keep = arc_caps > 0
    return net.num_nodes, net.max_flow, tails[keep], heads[keep], arc_caps[keep], costs[keep]


def networkx_flow(edges: Any, score_decimals: int = 2) -> dict[str, Any]:
    """Max flow (SciPy), then min cost at that flow (networkx network simplex).

    Returns ``placed`` (the flow value), ``cost`` (the lexicographic cost of the flow, as
    ``flow_network``'s costs count it) and the seconds of each step.
    """
    import time

    import networkx as nx
    from scipy.sparse import csr_array
    from scipy.sparse.csgraph import maximum_flow

    t0 = time.perf_counter()
    n, _, tails, heads, arc_caps, costs = network_arcs(edges, score_decimals)
    # SciPy wants int32 capacities: no arc can carry more than the max flow bound anyway.
    clip = min(int(arc_caps.max(initial=1)), 2**31 - 1)
    graph = csr_array((np.minimum(arc_caps, clip).astype(np.int32), (tails, heads)), shape=(n, n))
    value = int(maximum_flow(graph, 0, 1).flow_value)
    t1 = time.perf_counter()
    g = nx.DiGraph()
    g.add_nodes_from(range(n))
    g.add_edges_from(
        (u, v, {"capacity": c, "weight": w})
        for u, v, c, w in zip(tails.tolist(), heads.tolist(), arc_caps.tolist(), costs.tolist(), strict=True)
    )
    g.nodes[0]["demand"] = -value
    g.nodes[1]["demand"] = value
    t2 = time.perf_counter()
    cost, flow = nx.network_simplex(g)
    t3 = time.perf_counter()
    placed = sum(flow[0].values())
    return {
        "placed": int(placed),
        "cost": int(cost),
        "max_flow_s": round(t1 - t0, 3),
        "graph_s": round(t2 - t1, 3),
        "simplex_s": round(t3 - t2, 3),
    }


def assignment_size(edges: Any) -> tuple[int, int]:
    """(rows, nonzeros) of the expansion ``scipy_assignment`` would solve."""
    capacity = edges.slots.get_column("capacity").to_numpy().astype(np.int64)
    count = np.bincount(edges.slot, minlength=len(capacity)).astype(np.int64)
    rows = len(np.unique(edges.cand))
    return rows, int((count * np.clip(np.minimum(capacity, count), 0, None)).sum()) + rows


def scipy_assignment(edges: Any, score_decimals: int = 2) -> dict[str, Any]:
    """Max placed, then max total score, when only slot capacities bind (SciPy).

    Rows are the candidates with an eligible pair; columns are one per unit of slot
    capacity (clipped to the slot's eligible candidates) and one private "unplaced" column
    per row, so a full matching of the rows always exists. Maximizing placed * M + score
    with M above any total score difference is minimizing ``W - (M + s)`` per placed pair
    and ``W`` per unplaced row, with W = M + max(s) + 1 so that no weight is zero (SciPy
    reads a stored zero as no edge). Every weight and sum stays an integer below 2**53,
    so float64 is exact; ``ValueError`` otherwise. The caps above the slots are ignored:
    call it on instances without them.
    """
    import time

    from scipy.sparse import csr_array
    from scipy.sparse.csgraph import min_weight_full_bipartite_matching

    t0 = time.perf_counter()
    s = np.rint(edges.score * 10**score_decimals).astype(np.int64)
    cands, row_of = np.unique(edges.cand, return_inverse=True)
    n_rows = len(cands)
    if n_rows == 0:
        return {"placed": 0, "score": 0, "build_s": 0.0, "match_s": 0.0}
    capacity = edges.slots.get_column("capacity").to_numpy().astype(np.int64)
    count = np.bincount(edges.slot, minlength=len(capacity)).astype(np.int64)
    unit = np.clip(np.minimum(capacity, count), 0, None)  # columns per slot
    col0 = np.concatenate([[0], np.cumsum(unit)])  # first column of each slot
    n_unit = int(col0[-1])
    s_hi, s_lo = int(s.max()), min(int(s.min()), 0)
    big_m = n_rows * (s_hi - s_lo) + 1
    w = big_m + s_hi + 1
    if n_rows * (w + 1) >= _EXACT:
        raise ValueError(f"weights up to {n_rows * w:,} are not exact in float64")
    # CSR built directly: each row's pairs sorted by slot, then its unplaced column last.
    order = np.lexsort((edges.slot, row_of))
    row_sorted = row_of[order].astype(np.int64)
    slot_sorted = edges.slot[order].astype(np.int64)
    rep = unit[slot_sorted]
    n_pair_nz = int(rep.sum())
    per_row = np.bincount(row_sorted, weights=rep, minlength=n_rows).astype(np.int64) + 1
    indptr = np.concatenate([[0], np.cumsum(per_row)])
    nnz = int(indptr[-1])
    indices = np.empty(nnz, dtype=np.int32)
    data = np.empty(nnz, dtype=np.float64)
    # Entry k of the pairs' expansion sits after one unplaced entry per earlier row.
    e_row = np.repeat(row_sorted, rep)
    start = np.repeat(np.cumsum(rep) - rep, rep)  # first expanded entry of its pair
    k = np.arange(n_pair_nz, dtype=np.int64)
    pos = k + e_row
    indices[pos] = np.repeat(col0[slot_sorted], rep) + (k - start)
    data[pos] = np.repeat(s_hi + 1 - s[order], rep)
    del e_row, start, k, pos
    indices[indptr[1:] - 1] = n_unit + np.arange(n_rows, dtype=np.int32)
    data[indptr[1:] - 1] = w
    graph = csr_array((data, indices, indptr), shape=(n_rows, n_unit + n_rows))
    t1 = time.perf_counter()
    row_ind, col_ind = min_weight_full_bipartite_matching(graph)
    t2 = time.perf_counter()
    placed = col_ind < n_unit
    col_slot = np.repeat(np.arange(len(unit), dtype=np.int64), unit)
    # The score of each placed (candidate, slot): look the pair up by a sorted key.
    n_slot = len(capacity)
    key = edges.cand.astype(np.int64) * n_slot + edges.slot.astype(np.int64)
    by_key = np.argsort(key)
    want = cands[row_ind[placed]].astype(np.int64) * n_slot + col_slot[col_ind[placed]]
    at = by_key[np.searchsorted(key, want, sorter=by_key)]
    if not np.array_equal(key[at], want):
        raise RuntimeError("SciPy matched a pair that is not eligible")
    return {
        "placed": int(placed.sum()),
        "score": int(s[at].sum()),
        "nonzeros": nnz,
        "build_s": round(t1 - t0, 3),
        "match_s": round(t2 - t1, 3),
    }
