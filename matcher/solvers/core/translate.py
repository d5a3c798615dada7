"""An earlier solution restated in the node numbering of another instance (warm start)."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from matcher.eligibility.edges import Edges
from matcher.solvers.core.constants import I64
from matcher.solvers.core.solution import _NODE_KEYS, CoreSolution, _node_frames


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
