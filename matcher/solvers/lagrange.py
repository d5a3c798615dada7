"""Regional caps at national scale: Lagrangian relaxation around the min-cost flow.

The caps that nest (slot, employer intake, national sector, track-group total) stay in
the flow; the regional caps, which cross them, are moved into the costs with one
multiplier each (there are few: 47 prefectures and a handful of groups). For multipliers
``mu >= 0`` the flow with costs ``-score + sum of mu over the caps a pair counts in`` is
solved exactly by matcher's core (:func:`matcher.solvers.core.solve_tree_flow`), and
its value ``L(mu) = max sum (s - mu A) x + mu cap`` is an
upper bound on every assignment that keeps the caps (weak duality), so the best ``L``
seen is a *proven* bound. Each flow solution is repaired into one that keeps every cap
(the lowest-score placements above a cap leave; then the freed room is refilled by a
second flow on the residual capacities, with regions already full closed) and the best
repaired assignment is kept. The multipliers follow the projected subgradient with
Polyak steps toward the best repaired value. It stops at the gap target or time limit.

First, though, the cap families are arranged so that as few caps as possible cross: the
regional caps, when they are laminar (nested or disjoint, e.g. prefectures inside a
metro group), can be the tree above the employers instead of the sector caps, and a cap
that can never bind (more room than candidates or declared capacity below it) is dropped.
When no binding cap is left outside the tree, one min-cost flow with the foundation's
lexicographic costs is the exact optimum (status ``optimal``).

Soft floors are kept exactly in the flow where the tree allows: a floor on one slot by a
bonus leaf beside the slot, a floor over whole intakes below one tree node by a new node
above them with a bonus arc beside its up-arc. A per-employer floor over several sectors
crosses the sector caps, so with many of them the layout without sector caps in the tree
leaves far fewer multipliers (a few dozen sector caps instead of thousands of floors);
the layout is chosen by that count. On the floors benchmark (sector caps, a hard
regional floor, 2,727 per-employer floors at 100k, 27,130 at 1M) one iteration then comes
within about 0.1% of the bound at 100k and 1M (docs/benchmarks.md), because the sector
caps' multipliers start at their shadow prices from one flow that keeps them.

Otherwise the objective is the total score (rank sums are not part of it at this scale)
and the status is ``feasible`` with ``bound`` and ``gap``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from matcher.eligibility.constraints import FloorUnit
from matcher.eligibility.edges import CapStructure, Edges
from matcher.solvers.core import solve_tree_flow
from matcher.solvers.registry import Bound, SolveRequest, SolverResult, SolverStats, floor_conflict, stage
from matcher.status import Status

log = logging.getLogger("matcher")
I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
#: Costs are scores in units of 1 / (10**decimals * COST_SCALE), so multipliers keep precision.
COST_SCALE = 16
#: A soft floor's missing placement costs its penalty times this many points of total score:
#: the top of the score scale, so one missing placement outweighs any one placement's score.
PLACEMENT_WORTH = 100


@dataclass(frozen=True)
class LagrangeSolution:
    """Best assignment that keeps every cap, the proven bound and the history."""

    status: Status
    message: str
    chosen: I64
    value: float  # the objective of chosen
    bound: float  # proven upper bound on the objective of any feasible assignment
    gap: float  # (bound - value) / bound
    stats: dict[str, Any] = field(default_factory=dict)
    objective: str = "total score"  # what value and bound measure


@dataclass(frozen=True)
class _Layout:
    """Upper tree nodes above the intakes, and the caps left out of the tree.

    ``intake_parent``: tree node above each intake (index into ``upper``; -1 = sink);
    ``upper_parent``, ``upper_cap``: the upper nodes; ``relaxed``: (intake ids, cap) of
    every cap that is not in the tree; ``name``: which family the tree holds.
    ``floor_node``, ``floor_index``: upper nodes inserted for soft floors over several
    slots (:func:`_with_floor_nodes`), and the floor (index into the floors) each carries.
    """

    name: str
    intake_parent: I64
    upper_parent: I64
    upper_cap: I64
    relaxed: list[tuple[I64, int]]
    floor_node: I64 = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    floor_index: I64 = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    sector_caps_relaxed: bool = False


def _sector_layout(edges: Edges, regional: list[I64]) -> _Layout:
    """National and total caps in the tree; the regional caps relaxed."""
    caps = edges.caps
    n_nat = len(caps.national_cap)
    upper_parent = np.concatenate(
        [n_nat + caps.national_total.astype(np.int64), np.full(len(caps.total_cap), -1, np.int64)]
    )
    upper_cap = np.concatenate([caps.national_cap, caps.total_cap]).astype(np.int64)
    relaxed = [(ids, int(c)) for ids, c in zip(regional, caps.regional_cap, strict=True)]
    return _Layout(
        "sector caps in the flow", caps.intake_national.astype(np.int64), upper_parent, upper_cap, relaxed
    )


def _regional_layout(edges: Edges, regional: list[I64]) -> _Layout | None:
    """Regional caps in the tree (when they are laminar); national and total caps relaxed."""
    caps = edges.caps
    n_int = len(caps.intake_cap)
    size = np.array([ids.size for ids in regional], dtype=np.int64)
    chains: list[list[int]] = [[] for _ in range(n_int)]
    for k in np.lexsort((np.arange(len(regional)), size)):  # smallest caps first
        for i in regional[int(k)]:
            chains[int(i)].append(int(k))
    parent = np.full(len(regional), -2, dtype=np.int64)
    intake_parent = np.full(n_int, -1, dtype=np.int64)
    for i, chain in enumerate(chains):
        if chain:
            intake_parent[i] = chain[0]
        for a, b in zip(chain, [*chain[1:], -1][: len(chain)], strict=True):
            if parent[a] == -2:
                parent[a] = b
            elif parent[a] != b:
                return None  # two caps overlap without nesting: not a tree
    parent[parent == -2] = -1
    # Sector caps as relaxed constraints over intakes.
    nat = caps.intake_national.astype(np.int64)
    tot = caps.national_total.astype(np.int64)[nat]
    relaxed = [(np.flatnonzero(nat == k), int(c)) for k, c in enumerate(caps.national_cap) if c >= 0]
    relaxed += [(np.flatnonzero(tot == k), int(c)) for k, c in enumerate(caps.total_cap) if c >= 0]
    name = _crossing_name(caps) + " in the flow" if regional else "no caps above the intakes"
    return _Layout(
        name, intake_parent, parent, caps.regional_cap.astype(np.int64), relaxed, sector_caps_relaxed=True
    )


def _crossing_name(caps: CapStructure) -> str:
    """What the crossing caps are: regional caps, employer caps, or both."""
    kinds = [
        ("regional caps", caps.regional_cap.size > caps.employer_caps),
        ("employer caps", caps.employer_caps > 0),
    ]
    return " and ".join(name for name, present in kinds if present) or "regional caps"


def _regional_intakes(edges: Edges) -> list[I64]:
    """Intake ids counted by each regional cap."""
    return edges.caps.regional_members()


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


def _binding(edges: Edges, relaxed: list[tuple[I64, int]]) -> list[tuple[I64, int]]:
    """The relaxed caps that can bind, as (edge ids, cap): fewer candidates or less
    declared capacity below a cap than the cap itself means it never binds."""
    capacity = edges.slots.get_column("capacity").to_numpy().astype(np.int64)
    n_int = len(edges.caps.intake_cap)
    intake_room = np.bincount(edges.caps.slot_intake, weights=capacity, minlength=n_int).astype(np.int64)
    ptr, pairs = edges.pairs_of([intakes for intakes, _ in relaxed])
    owner = np.repeat(np.arange(len(relaxed), dtype=np.int64), np.diff(ptr))
    n_cand = len(edges.candidate_ids) + 1
    key = np.unique(owner * n_cand + edges.cand[pairs])  # distinct (cap, candidate)
    candidates = np.bincount(key // n_cand, minlength=len(relaxed))
    out = []
    for k, (intakes, cap) in enumerate(relaxed):
        room = int(intake_room[intakes].sum())
        if cap < min(room, int(candidates[k])):
            out.append((pairs[ptr[k] : ptr[k + 1]], cap))
    return out


#: A layout and the binding caps it leaves outside the tree (edge ids, cap).
Arrangement = tuple[_Layout, list[tuple[I64, int]]]


def choose_layout(edges: Edges, floors: list[FloorUnit] | None = None) -> Arrangement:
    """Which cap family the flow holds: the one that leaves fewer multipliers.

    The regional caps can be the tree only when they are laminar (nested or disjoint).
    With ``floors``, a soft floor over whole intakes below one tree node is kept in the
    flow (:func:`_with_floor_nodes`), so it needs no multiplier; the others do. Per-employer
    floors over several sectors cross the sector caps, so with many of them the layout
    without sector caps in the tree (sector caps relaxed: a few dozen multipliers) wins.
    """
    regional = _regional_intakes(edges)
    options = [_sector_layout(edges, regional)]
    reg = _regional_layout(edges, regional)
    if reg is not None:
        options.append(reg)
    floors = [u for u in floors or [] if u.required > 0]
    if floors:
        options = [_with_floor_nodes(edges, lay, floors) for lay in options]
    scored = []
    for k, lay in enumerate(options):
        relaxed_floors = (
            len(floors) - lay.floor_index.size - len(_one_slot_floors(edges.slot, floors, lay.floor_index))
        )
        scored.append((len(_binding(edges, lay.relaxed)) + relaxed_floors, k))
    best = options[min(scored)[1]]
    return best, _binding(edges, best.relaxed)


def _one_slot_floors(slot: npt.NDArray[np.integer], floors: list[FloorUnit], taken: I64) -> list[int]:
    """Indices of the ``floors`` bonus leaves keep (:func:`_floors_in_flow`): soft, with
    pairs all on one slot (``slot`` of each pair), the first such floor on its slot, and
    not ``taken`` (kept by the layout)."""
    skip = set(taken.tolist())
    seen: set[int] = set()
    out = []
    for k, u in enumerate(floors):
        if k in skip or u.penalty == 0 or u.edges.size == 0:
            continue
        slots = slot[u.edges]
        if slots.min() == slots.max() and int(slots[0]) not in seen:
            seen.add(int(slots[0]))
            out.append(k)
    return out


def _with_floor_nodes(edges: Edges, layout: _Layout, floors: list[FloorUnit]) -> _Layout:
    """``layout`` with a new node for each soft floor over several slots that it can keep.

    Such a floor is kept when its pairs are exactly the pairs of whole intakes that have
    the same parent in the layout's tree, and no earlier floor took one of them: a new
    node (no cap of its own) then sits between those intakes and their parent, and the
    relaxed flow pays the floor's bonus on an arc beside its up-arc, with the floor's
    requirement as capacity (a concave reward on the placements there: exact).
    """
    caps = edges.caps
    n_int = len(caps.intake_cap)
    slot_intake = caps.slot_intake.astype(np.int64)
    pair_intake = slot_intake[edges.slot]
    pairs_per_intake = np.bincount(pair_intake, minlength=n_int)
    claimed = np.zeros(n_int, dtype=bool)
    group = np.full(n_int, -1, dtype=np.int64)
    new_parent: list[int] = []
    index: list[int] = []
    for k, u in enumerate(floors):
        if u.penalty == 0 or u.edges.size == 0:
            continue
        intakes = np.unique(pair_intake[u.edges])
        if np.unique(edges.slot[u.edges]).size < 2 or claimed[intakes].any():
            continue  # one slot: a bonus leaf keeps it (_floors_in_flow)
        parents = layout.intake_parent[intakes]
        if parents.min() != parents.max() or int(pairs_per_intake[intakes].sum()) != u.edges.size:
            continue  # not whole intakes under one node
        claimed[intakes] = True
        group[intakes] = len(index)
        new_parent.append(int(parents[0]))
        index.append(k)
    if not index:
        return layout
    # The new nodes come first among the upper nodes, so that parents keep larger numbers.
    n_new = len(index)

    def shift(p: I64) -> I64:
        return np.where(p < 0, -1, p + n_new).astype(np.int64)

    return _Layout(
        layout.name + ", with floors over several slots",
        np.where(claimed, group, shift(layout.intake_parent)).astype(np.int64),
        np.concatenate([shift(np.array(new_parent, dtype=np.int64)), shift(layout.upper_parent)]),
        np.concatenate([np.full(n_new, -1, dtype=np.int64), layout.upper_cap]),
        layout.relaxed,
        np.arange(n_new, dtype=np.int64),
        np.array(index, dtype=np.int64),
        layout.sector_caps_relaxed,
    )


#: Soft floors' first multipliers, as a share of their worth (measured on the floors
#: benchmark at 10k, 15 s: gap 0.39% from 1/4, 0.42% from 1/2, 0.86% from 0).
SOFT_START = 0.25
#: Progress lines (bound, best value, gap) at most this often, besides the first and last.
LOG_EVERY_S = 5.0
#: Weight of the previous direction in the deflected subgradient (the usual 1.5).
DEFLECTION = 1.5
#: How many floors' shadow prices (the highest) the summary lists.
FLOOR_PRICES_SHOWN = 20
#: Rounds of the floor fill in a repair (each is one flow; it stops when one does not help).
FILL_ROUNDS = 3
#: The supply check (:func:`unsupplied_floors`) runs one flow per hard floor, for at most this many.
SUPPLY_CHECKS = 100


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


@dataclass(frozen=True)
class _Rows:
    """The constraints moved into the costs, each ``sign * (placements on its pairs) <= rhs``.

    Caps come first (sign +1, rhs the cap), then floors (sign -1, rhs minus the floor).
    A multiplier lies in ``[0, upper]``: unbounded for caps and hard floors; for a soft
    floor, the worth of one missing placement (a larger multiplier would pay more for
    meeting the floor than falling short costs, so the bound would no longer hold); 0
    for a soft floor the flow keeps exactly (``in_flow``: a bonus leaf, see
    :meth:`_Tree.bonus_tree`), which is listed only to count its shortfall. ``weight``:
    per floor, what one missing placement costs (infinite for a hard floor).
    ``unit`` / ``edge``: the incidence, one entry per (row, pair); a pair may count in
    several rows.
    """

    unit: I64
    edge: I64
    sign: F64
    rhs: I64
    upper: F64
    weight: F64
    n_caps: int
    labels: list[str]
    n_edges: int

    @classmethod
    def build(
        cls,
        caps: list[tuple[I64, int]],
        floors: list[FloorUnit],
        n_edges: int,
        worth: int,
        in_flow: npt.NDArray[np.bool_] | None = None,
    ) -> _Rows:
        members = [ids for ids, _ in caps] + [u.edges for u in floors]
        size = np.array([m.size for m in members], dtype=np.int64)
        weight = np.array([np.inf if u.penalty == 0 else float(u.penalty * worth) for u in floors])
        kept = np.zeros(len(floors), dtype=bool) if in_flow is None else in_flow
        return cls(
            unit=np.repeat(np.arange(len(members), dtype=np.int64), size),
            edge=np.concatenate([*members, np.zeros(0, np.int64)]).astype(np.int64),
            sign=np.array([1.0] * len(caps) + [-1.0] * len(floors)),
            rhs=np.array([c for _, c in caps] + [-u.required for u in floors], dtype=np.int64),
            upper=np.concatenate([np.full(len(caps), np.inf), np.where(kept, 0.0, weight)]),
            weight=weight,
            n_caps=len(caps),
            labels=[f"cap {k}" for k in range(len(caps))] + [u.label for u in floors],
            n_edges=n_edges,
        )

    def usage(self, chosen: I64) -> I64:
        """Placements of ``chosen`` (edge ids) counted by each row."""
        on = np.zeros(self.n_edges, dtype=bool)
        on[chosen] = True
        return np.bincount(self.unit[on[self.edge]], minlength=self.rhs.size).astype(np.int64)

    def penalty(self, mu: F64) -> F64:
        """Per pair: the multipliers of the rows it counts in, signed (floors pay a bonus)."""
        w = (mu * self.sign)[self.unit]
        return np.bincount(self.edge, weights=w, minlength=self.n_edges).astype(np.float64)

    def shortfall(self, chosen: I64) -> I64:
        """Per floor (rows after the caps): placements missing."""
        excess = self.sign * self.usage(chosen) - self.rhs  # placements missing, for a floor
        return np.maximum(0, excess[self.n_caps :]).astype(np.int64)

    def kept_bonus(self, usage: I64) -> F64:
        """Per pair: what the floors kept in the flow (multiplier 0) pay for it while they
        are not above their requirement, so that a repair does not drop it lightly."""
        weight = np.concatenate([np.zeros(self.n_caps), self.weight])  # 0 for the caps
        kept = (self.upper == 0) & np.isfinite(weight) & (weight > 0) & (usage <= -self.rhs)
        w = np.where(kept, weight, 0.0)[self.unit]
        return np.bincount(self.edge, weights=w, minlength=self.n_edges).astype(np.float64)

    @property
    def hard(self) -> npt.NDArray[np.bool_]:
        """Per floor: is it hard (an unbounded multiplier)?"""
        return ~np.isfinite(self.weight)

    def merit(self, chosen: I64, score: I64) -> tuple[int, float]:
        """(-placements missing under hard floors, score less soft-floor costs): larger is better."""
        short = self.shortfall(chosen)
        soft = ~self.hard
        return -int(short[self.hard].sum()), float(score[chosen].sum() - self.weight[soft] @ short[soft])


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


def solve_lagrangian(
    edges: Edges,
    *,
    score_decimals: int = 2,
    time_limit_s: float = 60.0,
    gap_target: float = 0.001,
    max_iterations: int = 200,
    objective: str = "lexicographic",
    arrangement: Arrangement | None = None,
    floors: list[FloorUnit] | None = None,
) -> LagrangeSolution:
    """Best assignment under every cap (regional ones included) and floor, with a proven bound.

    Parameters
    ----------
    edges : Edges
        Eligible pairs and caps, regional caps in ``edges.caps.regional_cap``.
    score_decimals : int
        Score scale: scores become integers in units of ``10**-score_decimals``, which
        must hold every score exactly (:func:`matcher.eligibility.edges.score_scale`).
    time_limit_s : float
        Stop before an iteration that would end past this many seconds, judged by the
        last one's duration (the first iteration always runs).
    gap_target : float
        Stop once ``(bound - value) / bound`` is at most this.
    objective : {"lexicographic", "score"}
        For the exact case (every binding cap nests, no floors): the foundation's
        objective (most placed, then score, then rank), or the total score alone (what
        the relaxation bounds; benchmarks compare on it). The relaxation itself always
        bounds the score.
    floors : list of FloorUnit, optional
        Floors (:func:`matcher.eligibility.constraints.floor_units`): a soft floor on one slot is kept
        exactly in the flow (a bonus leaf), the others are relaxed. The objective is
        then the total score minus ``penalty * PLACEMENT_WORTH`` points per placement a
        soft floor misses; hard floors must be met (status ``time_limit`` with no
        assignment if no repaired solution met them in time).
    """
    if objective not in ("lexicographic", "score"):
        raise ValueError(f"objective must be one of lexicographic, score, got {objective!r}")
    if max_iterations < 1:
        raise ValueError(f"max_iterations must be at least 1, got {max_iterations}")
    t0 = time.perf_counter()
    n_edges = edges.n_pairs
    unit = 10**score_decimals
    score = np.rint(edges.score * unit).astype(np.int64)
    floors = [u for u in floors or [] if u.required > 0]
    if floors:
        # The floors change which layout needs fewest multipliers (choose_layout).
        layout, relaxed = choose_layout(edges, floors)
    else:
        layout, relaxed = arrangement if arrangement is not None else choose_layout(edges)
    tree = _Tree(edges, layout)
    cands = edges.candidates_with_pairs()
    all_pairs = np.arange(n_edges, dtype=np.int64)
    if not relaxed and not floors:
        # Every cap that can bind is in the tree: one exact flow, the foundation's objective.
        if objective == "score":
            chosen = np.sort(tree.solve(all_pairs, -score, cands, tree.tree_caps))
        else:
            # Most placed, then score, then rank: the core solves the levels one by one.
            levels = [-score, edges.rank.astype(np.int64)]
            chosen = np.sort(tree.solve(all_pairs, levels, cands, tree.tree_caps, max_flow_first=True))
        value = float(score[chosen].sum()) / unit
        msg = f"optimal ({objective}): every binding cap nests ({layout.name}), one min-cost flow"
        stats = {"iterations": 1, "seconds": time.perf_counter() - t0, "layout": layout.name}
        return LagrangeSolution(Status.OPTIMAL, msg, chosen, value, value, 0.0, stats)
    members = [ids for ids, _ in relaxed]
    rcap = np.array([c for _, c in relaxed], dtype=np.int64)
    worth = PLACEMENT_WORTH * unit
    # Soft floors on one slot are kept exactly in the flow (a bonus leaf beside the slot
    # pays the floor's bonus for the placements it asks for, and no more); only the
    # others get multipliers.
    in_flow, btree, bsrc, bonus, owed = _floors_in_flow(tree, floors, worth, layout.floor_index)
    # Soft floors over whole intakes below one node: a bonus arc beside that node's up-arc.
    group_node = tree.n_slot + len(edges.caps.intake_cap) + layout.floor_node
    group_need = np.array([floors[k].required for k in layout.floor_index], dtype=np.int64)
    group_worth = np.array([float(floors[k].penalty * worth) for k in layout.floor_index])
    in_flow[layout.floor_index] = True
    owed += float(group_worth @ group_need)
    arcs_at = group_node + (2 * (btree[2] - tree.n_slot) if btree is not None else 0)  # bonus_tree numbering
    group_arcs = (arcs_at, group_need, -np.rint(group_worth * COST_SCALE).astype(np.int64))
    rows = _Rows.build(relaxed, floors, n_edges, worth, in_flow)
    ext_pairs = np.arange(n_edges + bsrc.size, dtype=np.int64)
    bonus_cost = np.rint(bonus * COST_SCALE).astype(np.int64)
    # Each relaxed flow starts from the last one's flow and potentials (only costs move).
    warm: dict[str, Any] = {}
    # Soft floors start at a share of their worth, caps and hard floors at 0.
    soft = np.isfinite(rows.upper)
    mu = np.zeros(rows.rhs.size, dtype=np.float64)
    mu[soft] = np.round(rows.upper[soft] * SOFT_START)
    # The repair's flows keep the sector caps in their tree even when the relaxed flow
    # does not (the floors over several slots are then in it): otherwise a refill could
    # overfill a sector with room left and lose the placements above its cap. The regional
    # caps are then enforced and closed like relaxed ones.
    fill_tree, fill_members, fill_rcap = tree, members, rcap
    if layout.floor_node.size and layout.sector_caps_relaxed:
        sector = _sector_layout(edges, _regional_intakes(edges))
        fill_tree = _Tree(edges, sector)
        regional = _binding(edges, sector.relaxed)
        fill_members = members + [ids for ids, _ in regional]
        fill_rcap = np.concatenate([rcap, np.array([c for _, c in regional], dtype=np.int64)])
        if rows.n_caps:
            # Sector caps relaxed to keep floors in the flow: start them at their shadow
            # prices in one flow that keeps them (and relaxes the floors), not at 0.
            mu[: rows.n_caps] = _cap_prices(fill_tree, edges, members, score, rows, cands)
    bound = float("inf")
    best: I64 | None = None
    best_value = -float("inf")
    theta, stall = 1.0, 0
    history: list[dict[str, float]] = []
    best_mu = mu
    prev: F64 | None = None
    logged = t0
    it = 0
    while it < max_iterations:
        it += 1
        started = time.perf_counter()
        penalty = rows.penalty(mu)
        costs = np.rint((-score + penalty) * COST_SCALE).astype(np.int64)
        kept = -owed  # the floors kept in the flow: bonus earned less bonus owed
        if btree is None:
            x = tree.solve(all_pairs, costs, cands, tree.tree_caps, state=warm, bonus=group_arcs)
        else:
            ext_costs = np.concatenate([costs, costs[bsrc] - bonus_cost])
            xe = tree.solve(ext_pairs, ext_costs, cands, btree[1], tree=btree, state=warm, bonus=group_arcs)
            copy = xe >= n_edges
            kept += float(bonus[xe[copy] - n_edges].sum())
            x = np.where(copy, bsrc[np.maximum(xe - n_edges, 0)], xe)
        if group_node.size:
            # The flow fills each such floor's bonus arc first (it pays), up to the floor.
            kept += float(group_worth @ np.minimum(tree.loads(x)[group_node], group_need))
        usage = rows.usage(x)
        lag = float(score[x].sum() - penalty[x].sum()) + float(mu @ rows.rhs) + kept
        if lag < bound:
            bound, stall, best_mu = lag, 0, mu
        else:
            stall += 1
        # Repair: keep every cap, refill the room left, then fill the floors still short.
        worth_now = score - penalty + rows.kept_bonus(usage)
        y = _repair(fill_tree, x, score, worth_now, fill_members, fill_rcap, rows, cands)
        hard_missing, value = rows.merit(y, score)
        if hard_missing == 0 and value > best_value:
            best, best_value = y, value
        gap = (bound - best_value) / abs(bound) if best is not None and bound != 0 else 1.0
        history.append({"iteration": it, "lagrangian": lag, "bound": bound, "value": value, "gap": gap})
        # Stop at the gap target, or when one more iteration as long as this one would end
        # past the time limit (at national scale an iteration takes minutes).
        now = time.perf_counter()
        done = gap <= gap_target or now - t0 + (now - started) > time_limit_s
        if done or it == 1 or time.perf_counter() - logged >= LOG_EVERY_S:
            logged = time.perf_counter()
            best_txt = f"{best_value / unit:,.2f}" if best is not None else "none yet"
            log.info(
                "lagrangian %d: bound %s, best %s, gap %.4f%%",
                it,
                f"{bound / unit:,.2f}",
                best_txt,
                100 * gap,
            )
        if done:
            break
        # Projected subgradient: a multiplier at a bound of its range only moves inward.
        g = (rows.sign * usage - rows.rhs).astype(np.float64)
        g[((mu <= 0) & (g < 0)) | ((mu >= rows.upper) & (g > 0))] = 0.0
        if float(g @ g) == 0:
            break  # the relaxed solution keeps every row: it is optimal for these multipliers
        if prev is not None and float(prev @ prev) > 0:
            # Deflected direction (Camerini, Fratta and Maffioli): damps the zig-zag of plain
            # subgradient steps (floors benchmark, 10k, 20 s: bound 0.22% above the best
            # value instead of 0.38%).
            g = g + max(0.0, -DEFLECTION * float(g @ prev) / float(prev @ prev)) * prev
        prev = g
        norm = float(g @ g)
        if stall >= 3:
            theta, stall = theta / 2, 0
        # Polyak target: the best feasible value; until one is found, the repaired value
        # with each hard-floor shortfall priced like a soft one (steps of the right size).
        target = best_value if best is not None else value + PLACEMENT_WORTH * unit * hard_missing
        step = theta * max(lag - target, 1.0) / norm
        # Multipliers on the cost grid, so that the costs are exact and L(mu) a proven bound.
        mu = np.clip(np.round((mu + step * g) * COST_SCALE) / COST_SCALE, 0.0, rows.upper)
    stats = {
        "iterations": it, "seconds": time.perf_counter() - t0, "layout": layout.name,
        "warm_flows": int(warm.get("warm_solves", 0)),
        "history": history, "caps": len(members), "floors": len(floors),
        "multipliers": dict(zip(rows.labels, (best_mu / unit).tolist(), strict=True)),
    }  # fmt: skip
    if floors:
        stats["floor_prices"] = _floor_prices(rows, best_mu / unit, unit)
    objective_name = "total score" + (" minus soft-floor penalties" if bool(soft.any()) else "")
    what = f"{len(members)} caps" + (f" and {len(floors)} floors" if floors else "")
    if best is None:
        short = rows.shortfall(y)
        missing = [
            f"{floors[k].label} ({int(short[k])} short)" for k in np.flatnonzero(rows.hard & (short > 0))
        ]
        msg = (
            f"no assignment meeting every hard floor found in {it} iterations (Lagrangian "
            f"relaxation of {what}); still short: {'; '.join(missing[:5])}"
        )
        empty = np.zeros(0, dtype=np.int64)
        return LagrangeSolution(Status.TIME_LIMIT, msg, empty, 0.0, bound / unit, 1.0, stats, objective_name)
    gap = max(0.0, (bound - best_value) / abs(bound)) if bound != 0 else 0.0
    # Optimal for the total score when the gap closes, but not proven for the foundation's
    # lexicographic objective (most placed first): always reported as feasible.
    msg = (
        f"{objective_name} {best_value / unit:,.2f} within {gap:.3%} of the bound {bound / unit:,.2f} "
        f"(Lagrangian relaxation of {what}, {layout.name}, {it} iterations)"
    )
    return LagrangeSolution(
        Status.FEASIBLE, msg, np.sort(best), best_value / unit, bound / unit, gap, stats, objective_name
    )


def _floors_in_flow(
    tree: _Tree, floors: list[FloorUnit], worth: int, taken: I64
) -> tuple[npt.NDArray[np.bool_], tuple[I64, I64, int] | None, I64, F64, float]:
    """The soft floors the relaxed flow keeps exactly with bonus leaves: those on one slot
    (the first on each slot; not ``taken``, which the layout keeps), and those without
    pairs (always short by their requirement). Returns
    their mask, the tree with bonus leaves for the first kind (:meth:`_Tree.bonus_tree`,
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


def solve_request(request: SolveRequest) -> SolverResult:
    """The registry's ``lagrange`` backend: the policy's floors (a hard floor that its
    eligible pairs or candidates cannot supply is infeasible before any solve), then
    :func:`solve_lagrangian` on the request's cap layout within its time limit; the bound
    and gap unless proven optimal."""
    from matcher.eligibility.constraints import floor_units

    times: dict[str, float] = {}
    floors = floor_units(request.instance, request.edges)
    refused = floor_conflict(request, floors, times, supply=True)
    if refused is not None:
        return refused
    with stage(times, "solve"):
        lg = solve_lagrangian(
            request.edges,
            score_decimals=request.decimals,
            time_limit_s=request.time_limit,
            arrangement=request.arrangement,
            floors=floors,
        )
    bound = None
    if lg.status is not Status.OPTIMAL:
        bound = Bound(lg.objective, lg.value, lg.bound, round(lg.gap, 6))
    stats = SolverStats(
        times=times,
        iterations=lg.stats["iterations"],
        layout=lg.stats["layout"],
        floor_prices=lg.stats.get("floor_prices"),
        raw=lg.stats,
    )
    return SolverResult(lg.status, lg.message, lg.chosen, bound=bound, stats=stats)
