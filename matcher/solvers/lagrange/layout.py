"""The cap families' arrangement: which family is the tree of the flow, which caps cross it.

The caps that nest (slot, employer intake, national sector, track-group total) can be
the tree above the slots of one min-cost flow; the caps that cross that tree are
relaxed (one multiplier each). The cap families are arranged so that as few caps as
possible cross: the regional caps, when they are laminar (nested or disjoint, e.g.
prefectures inside a metro group), can be the tree above the employers instead of the
sector caps (:func:`_regional_layout` instead of :func:`_sector_layout`), and a cap that
can never bind (more room than candidates or declared capacity below it) is dropped
(:func:`_binding`). Soft floors over whole intakes below one tree node become nodes of
the tree (:func:`_with_floor_nodes`); :func:`choose_layout` picks the layout that leaves
the fewest multipliers, floors included.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from matcher.eligibility.constraints import FloorUnit
from matcher.eligibility.edges import CapStructure, Edges
from matcher.solvers.lagrange.constants import I64


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
    """Indices of the ``floors`` bonus leaves keep (:func:`.floors._floors_in_flow`): soft, with
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
            continue  # one slot: a bonus leaf keeps it (.floors._floors_in_flow)
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
