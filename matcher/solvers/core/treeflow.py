"""Min-cost flows under any tree of caps: the Lagrangian backend's relaxed flows.

Solved like :func:`matcher.solvers.core.solve_core`'s levels (exact, cost scaling at unit
precision, proven by exact potentials), one level, warm from the previous iteration's
flow and potentials when only the pair costs changed.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from matcher.solvers.core.constants import I64, SCALE_FACTOR, WARM_TREE_PCT, WORK_SLOTS
from matcher.solvers.core.csr import _build_arcs, _chosen, _reset
from matcher.solvers.core.levels import _exact_level, _Level, _tie_break_level
from matcher.solvers.core.maxflow import _max_flow


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
