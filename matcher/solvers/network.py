"""The flow network both exact flow solvers share: node numbering and arc costs.

Nodes: 0 source, 1 sink, then candidates, slots, intake, national and total nodes in
that order. ``solve_flow`` (OR-Tools) and ``solve_core`` (matcher's own) build from this
one layout, so the core's potentials are in the numbering docs/methods/welfare-core.md
documents.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from matcher.eligibility.edges import Edges

_LIMIT = 1 << 62

I64 = npt.NDArray[np.int64]


def _rank_range(edges: Edges) -> tuple[int, int]:
    """(``R``, largest rank): ``R`` is the sum over candidates of their largest rank, so
    any two assignments differ in rank sum by at most ``R``."""
    rank = edges.rank.astype(np.int64)
    if not rank.size:
        return 0, 0
    max_rank = np.zeros(int(edges.cand.max()) + 1, dtype=np.int64)
    np.maximum.at(max_rank, edges.cand, rank)
    return int(max_rank.sum()), int(rank.max())


def _costs_fit(b: int, score_decimals: int, max_rank: int, num_nodes: int, max_flow: int) -> bool:
    """Whether costs ``-b * score + rank`` (scores up to 100 points) stay within 64 bits
    once OR-Tools scales them by (nodes + 1) and a path carries up to ``max_flow`` units."""
    worst = b * 100 * int(10**score_decimals) + max_rank
    return worst * (num_nodes + 1) < _LIMIT and worst * max(max_flow, 1) < _LIMIT


def lexicographic_costs(
    edges: Edges, *, score_decimals: int, num_nodes: int, max_flow: int, rank_weight: int | None = None
) -> tuple[npt.NDArray[np.int64], int, bool]:
    """Arc costs for the candidate->slot arcs; returns (costs, B, rank level kept).

    ``B`` is ``R + 1`` (``R`` the sum over candidates of their largest rank), or
    ``rank_weight`` when given: any ``B > R`` states the same lexicographic objective (a
    warm start keeps the earlier instance's ``B`` so that its potentials still apply).
    Scores are integers in units of ``10**-score_decimals``: the scale has to hold every
    score exactly (:func:`matcher.eligibility.scale.score_scale`), so rounding here only removes
    float noise.

    Raises
    ------
    ValueError
        If ``rank_weight`` is not above ``R`` or its costs would overflow.
    """
    s = np.rint(edges.score * 10**score_decimals).astype(np.int64)
    rank = edges.rank.astype(np.int64)
    r_total, max_rank = _rank_range(edges)
    b = r_total + 1 if rank_weight is None else rank_weight
    fits = _costs_fit(b, score_decimals, max_rank, num_nodes, max_flow)
    if rank_weight is not None and (b <= r_total or not fits):
        raise ValueError(
            f"rank_weight {b} must exceed the rank range {r_total} and keep costs within 64 bits"
        )
    if fits:
        return -b * s + rank, b, True
    return -s, 1, False


def rank_level_decimals(edges: Edges, *, least: int, most: int) -> int:
    """The most score decimals, from ``least`` to ``most``, at which the flow network's costs
    keep the rank level; ``most`` when even ``least`` cannot (the rank level is dropped
    either way, and the scores alone fit 64 bits at any supported scale)."""
    r_total, max_rank = _rank_range(edges)
    num_nodes, max_flow = _sizes(edges)
    fits = [d for d in range(least, most + 1) if _costs_fit(r_total + 1, d, max_rank, num_nodes, max_flow)]
    return fits[-1] if fits and fits[0] == least else most


def _sizes(edges: Edges) -> tuple[int, int]:
    """(nodes, an upper bound on the placed count) of the network of ``edges``."""
    caps = edges.caps
    num_nodes = 2 + int(edges.candidate_ids.len()) + edges.slots.height
    num_nodes += len(caps.intake_cap) + len(caps.national_cap) + len(caps.total_cap)
    capacity = int(edges.slots.get_column("capacity").sum())
    return num_nodes, min(len(edges.candidates_with_pairs()), capacity)


@dataclass(frozen=True)
class FlowNetwork:
    """Node offsets, sizes and the candidate->slot arc costs of the welfare network."""

    n_cand: int
    n_slot: int
    n_int: int
    n_nat: int
    n_tot: int
    cand0: int
    slot0: int
    int0: int
    nat0: int
    tot0: int
    num_nodes: int
    capacity: I64  # declared capacity per slot
    big: int  # stands for "no cap": more than can ever flow
    cands: I64  # candidates with at least one eligible pair
    max_flow: int  # an upper bound on the placed count
    costs: I64
    rank_weight: int
    rank_kept: bool


def flow_network(edges: Edges, *, score_decimals: int, rank_weight: int | None = None) -> FlowNetwork:
    """The layout and costs of ``edges``' network (``rank_weight``: see lexicographic_costs)."""
    caps = edges.caps
    n_cand = int(edges.candidate_ids.len())
    n_slot = edges.slots.height
    n_int, n_nat, n_tot = len(caps.intake_cap), len(caps.national_cap), len(caps.total_cap)
    cand0 = 2
    slot0 = cand0 + n_cand
    int0 = slot0 + n_slot
    nat0 = int0 + n_int
    tot0 = nat0 + n_nat
    num_nodes = tot0 + n_tot
    capacity = edges.slots.get_column("capacity").to_numpy().astype(np.int64)
    big = int(capacity.sum()) + 1
    cands = edges.candidates_with_pairs()
    max_flow = min(len(cands), big - 1)
    costs, b, kept = lexicographic_costs(
        edges, score_decimals=score_decimals, num_nodes=num_nodes, max_flow=max_flow, rank_weight=rank_weight
    )
    return FlowNetwork(
        n_cand, n_slot, n_int, n_nat, n_tot, cand0, slot0, int0, nat0, tot0, num_nodes,
        capacity, big, cands, max_flow, costs.astype(np.int64), b, kept,
    )  # fmt: skip
