"""Soft and hard floors: those the flow keeps exactly, the supply check, first prices.

Soft floors are kept exactly in the flow where the tree allows: a floor on one slot by a
bonus leaf beside the slot, a floor over whole intakes below one tree node by a new node
above them with a bonus arc beside its up-arc. A per-employer floor over several sectors
crosses the sector caps, so with many of them the layout without sector caps in the tree
leaves far fewer multipliers (a few dozen sector caps instead of thousands of floors);
the layout is chosen by that count. On the floors benchmark (sector caps, a hard
regional floor, 2,727 per-employer floors at 100k, 27,130 at 1M) one iteration then comes
within about 0.1% of the bound at 100k and 1M (docs/benchmarks.md), because the sector
caps' multipliers start at their shadow prices from one flow that keeps them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from matcher.eligibility.constraints import FloorUnit
from matcher.eligibility.edges import Edges
from matcher.solvers.lagrange.constants import (
    COST_SCALE,
    F64,
    FLOOR_PRICES_SHOWN,
    I64,
    SOFT_START,
    SUPPLY_CHECKS,
)
from matcher.solvers.lagrange.layout import Arrangement, _one_slot_floors
from matcher.solvers.lagrange.rows import _Rows
from matcher.solvers.lagrange.tree import _Tree


def unsupplied_floors(edges: Edges, floors: list[FloorUnit], arrangement: Arrangement) -> list[str]:
    """Hard floors that cannot be met even alone: their pairs' maximum flow under the caps
    that nest is below the floor (exact, unlike counting candidates and capacity), as
    messages. One flow per hard floor, for the first :data:`SUPPLY_CHECKS` of them."""
    tree = _Tree(edges, arrangement[0])
    out = []
    for u in [u for u in floors if u.penalty == 0 and u.required > 0][:SUPPLY_CHECKS]:
        zero = np.zeros(u.edges.size, dtype=np.int64)
        cands = np.unique(tree.cand[u.edges])
        supply = tree.solve(u.edges, [zero], cands, tree.tree_caps, max_flow_first=True).size
        if supply < u.required:
            out.append(
                f"{u.label}: needs {u.required} placements, at most {supply} possible under the "
                "sector and employer caps"
            )
    return out


def _floors_in_flow(
    tree: _Tree, floors: list[FloorUnit], worth: int, taken: I64
) -> tuple[npt.NDArray[np.bool_], tuple[I64, I64, int] | None, I64, F64, float]:
    """The soft floors the relaxed flow keeps exactly with bonus leaves: those on one slot
    (the first on each slot; not ``taken``, which the layout keeps), and those without
    pairs (always short by their requirement). Returns
    their mask, the tree with bonus leaves for the first kind (:meth:`.tree._Tree.bonus_tree`,
    None without any), the pair each bonus copy copies, each copy's bonus (the floor's
    worth of one placement) and the bonus owed in total (worth times requirement, summed
    over both kinds: the relaxation's constant)."""
    mask = np.zeros(len(floors), dtype=bool)
    empty = [k for k, u in enumerate(floors) if u.penalty > 0 and u.edges.size == 0]
    mask[empty] = True
    owed = float(sum(floors[k].penalty * worth * floors[k].required for k in empty))
    one_slot = _one_slot_floors(tree.slot, floors, taken)
    mask[one_slot] = True
    picked = [floors[k] for k in one_slot]
    if not picked:
        return mask, None, np.zeros(0, np.int64), np.zeros(0, np.float64), owed
    slots = np.array([tree.slot[u.edges[0]] for u in picked], dtype=np.int64)
    need = np.array([u.required for u in picked], dtype=np.int64)
    sizes = [u.edges.size for u in picked]
    source = np.concatenate([u.edges for u in picked]).astype(np.int64)
    tree.add_bonus_pairs(source, np.repeat(tree.n_slot + np.arange(len(picked), dtype=np.int64), sizes))
    each = np.array([float(u.penalty * worth) for u in picked])
    return mask, tree.bonus_tree(slots, need), source, np.repeat(each, sizes), owed + float(each @ need)


def _cap_prices(tree: _Tree, edges: Edges, members: list[I64], score: I64, rows: _Rows, cands: I64) -> F64:
    """Shadow prices of the relaxed national and total caps, for a first multiplier.

    One flow on ``tree`` (the sector caps in it), every soft floor relaxed at its first
    multiplier (also those the relaxed flow keeps): the exact potentials price each
    saturated cap (the potential step across its node's up-arc). A relaxed cap that is
    not one tree node's cap gets 0.
    """
    mu = np.zeros(rows.rhs.size, dtype=np.float64)
    weight = rows.weight
    mu[rows.n_caps :] = np.where(np.isfinite(weight), np.round(weight * SOFT_START), 0.0)
    costs = np.rint((-score + rows.penalty(mu)) * COST_SCALE).astype(np.int64)
    state: dict[str, Any] = {}
    tree.solve(np.arange(rows.n_edges, dtype=np.int64), costs, cands, tree.tree_caps, state=state)
    n_tree = tree.parent.size
    pot = state["pot"][-n_tree:] if "pot" in state else np.zeros(n_tree, dtype=np.int64)
    sink = int(state["pot"][1]) if "pot" in state else 0
    step = np.where(tree.parent >= 0, pot[np.maximum(tree.parent, 0)], sink) - pot
    # The tree node whose subtree holds exactly each relaxed cap's pairs (national or total).
    nat = tree.parent[edges.caps.slot_intake.astype(np.int64)[edges.slot] + tree.n_slot]
    under = tree.loads(np.arange(rows.n_edges, dtype=np.int64))  # pairs below each node
    out = np.zeros(len(members), dtype=np.float64)
    for r, ids in enumerate(members):
        if ids.size == 0:
            continue
        for node in (nat[ids], tree.parent[nat[ids]]):
            if node.min() == node.max() and node[0] >= 0 and under[node[0]] == ids.size:
                out[r] = max(0.0, float(step[node[0]]) / COST_SCALE)
                break
    return out


def _floor_prices(rows: _Rows, prices: F64, unit: int) -> dict[str, Any]:
    """The floors' shadow prices (points of total score per placement a floor demands).

    Soft floors priced at their full worth are left short by choice and only counted; the
    highest prices of the others (hard floors, soft ones below their worth) are listed.
    """
    floor_price = prices[rows.n_caps :]
    in_flow = (rows.upper[rows.n_caps :] == 0) & np.isfinite(rows.weight)
    at_worth = (floor_price >= rows.upper[rows.n_caps :] / unit - 1e-9) & ~in_flow
    labels = rows.labels[rows.n_caps :]
    rest = sorted(
        ((labels[k], float(floor_price[k])) for k in np.flatnonzero((floor_price > 0) & ~at_worth)),
        key=lambda kv: (-kv[1], kv[0]),
    )
    return {
        "nonzero": int((floor_price > 0).sum()),
        "soft_at_penalty": int(at_worth.sum()),
        "kept_in_flow": int(in_flow.sum()),
        "highest": {k: round(v, 4) for k, v in rest[:FLOOR_PRICES_SHOWN]},
    }
