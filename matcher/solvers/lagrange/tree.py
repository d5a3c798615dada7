"""The tree flow interface: the caps in the tree as one min-cost flow for matcher's core.

:class:`_Tree` numbers the tree nodes (slots, intakes, then the layout's upper nodes),
counts the load through each, adds bonus leaves for soft floors on one slot, and solves
each flow by :func:`matcher.solvers.core.solve_tree_flow`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from matcher.eligibility.edges import Edges
from matcher.solvers.core import solve_tree_flow
from matcher.solvers.lagrange.constants import I64
from matcher.solvers.lagrange.layout import _Layout


class _Tree:
    """A tree of caps (slots, intakes, then the layout's upper nodes) for the core's flows."""

    def __init__(self, edges: Edges, layout: _Layout) -> None:
        caps = edges.caps
        self.n_cand = len(edges.candidate_ids)
        self.n_slot = n_slot = edges.slots.height
        n_int = len(caps.intake_cap)
        self.cand = edges.cand.astype(np.int64)
        self.slot = edges.slot.astype(np.int64)
        self.bonus_cand, self.bonus_slot = self.cand, self.slot  # with copies: add_bonus_pairs
        big = self.n_cand + 1

        def cap(c: npt.NDArray[np.integer]) -> I64:
            return np.where(c < 0, big, np.minimum(c, big)).astype(np.int64)

        def above(p: I64, base: int) -> I64:
            return np.where(p < 0, -1, base + p).astype(np.int64)

        # Parent of every tree node, in tree-node numbering (slots, intakes, upper nodes).
        self.parent = np.concatenate(
            [
                n_slot + caps.slot_intake.astype(np.int64),
                above(layout.intake_parent, n_slot + n_int),
                above(layout.upper_parent, n_slot + n_int),
            ]
        )
        self.tree_caps = np.concatenate(
            [cap(edges.slots.get_column("capacity").to_numpy()), cap(caps.intake_cap), cap(layout.upper_cap)]
        )
        # Tree nodes from the leaves up (slots, intakes, upper nodes in decreasing depth).
        depth = np.zeros(self.parent.size, dtype=np.int64)
        for _ in range(self.parent.size):
            nxt = np.where(self.parent >= 0, depth[np.maximum(self.parent, 0)] + 1, 0)
            if np.array_equal(nxt, depth):
                break
            depth = nxt
        self.bottom_up = np.argsort(-depth, kind="stable")

    def loads(self, chosen: I64) -> I64:
        """Units through each tree node for the placed pairs ``chosen``."""
        load = np.zeros(self.parent.size, dtype=np.int64)
        load[: self.n_slot] = np.bincount(self.slot[chosen], minlength=self.n_slot)
        for x in self.bottom_up:
            if self.parent[x] >= 0:
                load[self.parent[x]] += load[x]
        return load

    def bonus_tree(self, slots: I64, need: I64) -> tuple[I64, I64, int]:
        """The tree with a *bonus leaf* beside each of ``slots``: (parent, caps, leaves).

        Each such slot and its bonus leaf (capacity ``need``) hang below a new node with
        the slot's capacity, in the slot's place; a pair copied onto the bonus leaf
        carries a floor's bonus, which therefore pays for at most ``need`` placements
        (a soft floor on one slot, kept exactly in the flow). Numbering: the slots, the
        bonus leaves, the new nodes, then the tree's other nodes (parents stay above
        their children).
        """
        ns, nb = self.n_slot, int(slots.size)
        shifted = np.where(self.parent < 0, -1, self.parent + 2 * nb)
        leaf_parent = shifted[:ns].copy()
        joint = ns + nb + np.arange(nb, dtype=np.int64)
        joint_parent = leaf_parent[slots].copy()
        leaf_parent[slots] = joint
        parent = np.concatenate([leaf_parent, joint, joint_parent, shifted[ns:]])
        caps = np.concatenate([self.tree_caps[:ns], need, self.tree_caps[slots], self.tree_caps[ns:]])
        return parent.astype(np.int64), caps.astype(np.int64), ns + nb

    def solve(
        self,
        pairs: I64,
        costs: I64 | list[I64],
        cands: I64,
        tree_caps: I64,
        *,
        max_flow_first: bool = False,
        tree: tuple[I64, I64, int] | None = None,
        state: dict[str, Any] | None = None,
        bonus: tuple[I64, I64, I64] | None = None,
    ) -> I64:
        """Min-cost flow: each of ``cands`` placed on one of ``pairs`` (or not); the chosen pairs.

        ``costs``: one cost per pair, or a list of lexicographic levels. ``max_flow_first``:
        most placed first (the foundation's objective), else costs only. ``tree``: another
        tree (:meth:`bonus_tree`), with ``pairs`` then indexing the pairs with their copies.
        ``state``: carried from one relaxed flow to the next (a warm start), ``bonus``:
        arcs beside tree nodes' up-arcs (both: :func:`matcher.solvers.core.solve_tree_flow`).
        Solved by matcher's core (:func:`matcher.solvers.core.solve_tree_flow`).
        """
        levels = [costs] if isinstance(costs, np.ndarray) else list(costs)
        parent, n_slot, cand, slot = self.parent, self.n_slot, self.cand, self.slot
        if tree is not None:
            parent, tree_caps, n_slot = tree
            cand, slot = self.bonus_cand, self.bonus_slot
        chosen = solve_tree_flow(
            cand[pairs], slot[pairs], levels, cands, self.n_cand, n_slot, parent,
            tree_caps, max_flow_first=max_flow_first, state=state, bonus=bonus,
        )  # fmt: skip
        return pairs[chosen]

    def add_bonus_pairs(self, source: I64, leaf: I64) -> None:
        """Pairs ``len(slot) + k`` copy pair ``source[k]`` onto bonus leaf ``leaf[k]``
        (tree numbering of :meth:`bonus_tree`); :attr:`bonus_cand` and :attr:`bonus_slot`
        hold every pair's candidate and slot, copies included."""
        self.bonus_slot = np.concatenate([self.slot, leaf]).astype(np.int64)
        self.bonus_cand = np.concatenate([self.cand, self.cand[source]]).astype(np.int64)
