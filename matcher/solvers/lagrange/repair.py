"""The repair step: a solution that keeps every cap, from a relaxed one.

The lowest-worth placements above a cap leave (:func:`_enforce`); then the freed room is
refilled by a second flow on the residual capacities, with regions already full closed
(:func:`_refill`); then, while floors are short, placements move to fill them
(:func:`_fill_floors`).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from matcher.solvers.lagrange.constants import COST_SCALE, F64, FILL_ROUNDS, I64
from matcher.solvers.lagrange.rows import _Rows
from matcher.solvers.lagrange.tree import _Tree


def _enforce(chosen: I64, worth: F64, members: list[I64], cap: I64, n_edges: int) -> I64:
    """Drop the placements of least ``worth`` above each regional cap (in cap order)."""
    keep = np.zeros(n_edges, dtype=bool)
    keep[chosen] = True
    for ids, c in zip(members, cap, strict=True):
        inside = ids[keep[ids]]
        excess = inside.size - int(c)
        if excess > 0:
            order = np.lexsort((inside, worth[inside]))  # least worth first, then edge id
            keep[inside[order[:excess]]] = False
    return np.flatnonzero(keep).astype(np.int64)


def _repair(
    tree: _Tree, x: I64, score: I64, worth: F64, members: list[I64], rcap: I64, rows: _Rows, cands: I64,
) -> I64:  # fmt: skip
    """A solution that keeps every cap, from the relaxed one ``x``.

    Placements of least ``worth`` (score less the multipliers) leave every cap that ``x``
    breaks; a second flow places unplaced candidates in the room left, with the regions
    already full closed; then, while floors are short, :func:`_fill_floors`.
    """
    n_edges = rows.n_edges
    y = _enforce(x, worth, members, rcap, n_edges)
    y = _refill(tree, y, worth, members, rcap, cands, n_edges)
    for _ in range(FILL_ROUNDS if rows.n_caps < rows.rhs.size else 0):
        if not rows.shortfall(y).any():
            break
        filled = _fill_floors(tree, y, score, worth, members, rcap, rows)
        if rows.merit(filled, score) <= rows.merit(y, score):
            if not rows.shortfall(y)[rows.hard].any():
                break
            # A hard floor still short: let placements leave soft floors they exactly
            # meet too (a hard floor outranks any soft one).
            filled = _fill_floors(tree, y, score, worth, members, rcap, rows, protect_soft=False)
            if rows.merit(filled, score) <= rows.merit(y, score):
                break
        y = filled
    return y


def _full(y: I64, members: list[I64], rcap: I64, n_edges: int) -> npt.NDArray[np.bool_]:
    """Pairs in a region that ``y`` already fills to its cap."""
    in_y = np.zeros(n_edges, dtype=bool)
    in_y[y] = True
    full = np.zeros(n_edges, dtype=bool)
    for ids, c in zip(members, rcap, strict=True):
        if int(in_y[ids].sum()) >= c:
            full[ids] = True
    return full


def _open_pairs(tree: _Tree, y: I64, members: list[I64], rcap: I64, n_edges: int) -> npt.NDArray[np.bool_]:
    """Pairs of candidates ``y`` leaves unplaced, outside the regions ``y`` already fills."""
    placed = np.zeros(tree.n_cand, dtype=bool)
    placed[tree.cand[y]] = True
    return ~placed[tree.cand] & ~_full(y, members, rcap, n_edges)


def _refill(tree: _Tree, y: I64, worth: F64, members: list[I64], rcap: I64, cands: I64, n_edges: int) -> I64:
    """Place more of the unplaced candidates in the room ``y`` leaves, keeping every cap."""
    pairs = np.flatnonzero(_open_pairs(tree, y, members, rcap, n_edges)).astype(np.int64)
    if pairs.size == 0:
        return y
    room = np.maximum(tree.tree_caps - tree.loads(y), 0)
    costs = np.rint(-worth[pairs] * COST_SCALE).astype(np.int64)
    extra = tree.solve(pairs, costs, np.unique(tree.cand[pairs]), room)
    return _enforce(np.concatenate([y, extra]), worth, members, rcap, n_edges)


def _fill_floors(
    tree: _Tree, y: I64, score: I64, worth: F64, members: list[I64], rcap: I64, rows: _Rows,
    *, protect_soft: bool = True,
) -> I64:  # fmt: skip
    """Fill the floors ``y`` leaves short, from unplaced candidates or by moving placed ones.

    Movers: placed candidates with a pair in a short floor whose own pair counts in no floor
    that has no placement to spare (with ``protect_soft`` False: no *hard* floor). They and the unplaced candidates with such pairs are
    placed again by one flow on the room ``y`` leaves without the movers (full regions
    closed; a mover may also keep its pair): most placed, then most placements in short
    floors, then the least loss of score. The result may overfill a floor, so the caller
    keeps it only when it is worth more.
    """
    n_edges = rows.n_edges
    n_rows = rows.rhs.size
    if n_edges == 0:
        return y
    excess = rows.sign * rows.usage(y) - rows.rhs  # > 0: short; < 0: to spare (floors)
    is_floor = np.arange(n_rows) >= rows.n_caps
    in_short = np.zeros(n_edges, dtype=bool)
    in_short[rows.edge[(is_floor & (excess > 0))[rows.unit]]] = True
    guarded = is_floor & (excess >= 0)
    if not protect_soft:
        guarded &= np.concatenate([np.zeros(rows.n_caps, dtype=bool), rows.hard])
    pair_tight = np.zeros(n_edges, dtype=bool)
    pair_tight[rows.edge[guarded[rows.unit]]] = True
    old = np.full(tree.n_cand, -1, dtype=np.int64)
    old[tree.cand[y]] = y
    old_score = np.where(old >= 0, score[np.maximum(old, 0)], 0)
    free = (old < 0) | ~pair_tight[np.maximum(old, 0)]
    open_short = in_short & ~_full(y, members, rcap, n_edges)
    reach = np.zeros(tree.n_cand, dtype=bool)
    reach[tree.cand[open_short]] = True
    movers = free & reach & (old >= 0)
    new_pairs = np.flatnonzero(open_short & free[tree.cand])
    kept_pairs = old[movers]
    pairs = np.union1d(new_pairs, kept_pairs).astype(np.int64)
    if new_pairs.size == 0:
        return y
    fixed = np.setdiff1d(y, kept_pairs, assume_unique=True)
    room = np.maximum(tree.tree_caps - tree.loads(fixed), 0)
    # A slot of a short floor takes at most what the floor misses (exact for one-slot floors;
    # a floor over several slots may still be overfilled).
    short_ent = np.flatnonzero((rows.unit >= rows.n_caps) & (excess[rows.unit] > 0))
    quota = np.full(tree.n_slot, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(quota, tree.slot[rows.edge[short_ent]], excess[rows.unit[short_ent]])
    room[: tree.n_slot] = np.minimum(room[: tree.n_slot], quota)
    bonus = -in_short[pairs].astype(np.int64)
    loss = np.where(pairs == old[tree.cand[pairs]], 0, old_score[tree.cand[pairs]] - score[pairs])
    placed = tree.solve(pairs, [bonus, loss], np.unique(tree.cand[pairs]), room, max_flow_first=True)
    return _enforce(np.concatenate([fixed, placed]), worth, members, rcap, n_edges)
