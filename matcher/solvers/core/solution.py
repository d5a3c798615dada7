"""What a solve returns (:class:`CoreSolution`) and the node tables that name its nodes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from matcher.eligibility.edges import Edges
from matcher.solvers.core.constants import I64
from matcher.solvers.network import FlowNetwork
from matcher.status import Status


@dataclass(frozen=True)
class CoreSolution:
    """Result of :func:`solve_core`.

    Attributes
    ----------
    status : Status
        ``OPTIMAL`` on success (``FEASIBLE`` when the rank tie-break had to be dropped).
    message : str
        Human-readable outcome.
    chosen : numpy.ndarray of int64
        Indices into the edge arrays that carry flow (the placed pairs).
    potentials : numpy.ndarray of int64
        One potential per node (numbering in the :mod:`matcher.solvers.core` docstring) proving optimality.
    stats : dict of str to float
        Phases and precision per level, pushes, relabels and seconds per step.
    chosen_pairs : numpy.ndarray of int64, shape (2, k)
        (candidate, slot) index of each placed pair: the placements a warm start reloads
        even when the edge arrays changed (candidate -1 after a translation to another
        instance: that candidate is gone, only the unit above its slot is reloaded).
    rank_weight : int
        ``B`` of the costs ``-B * score + rank`` the potentials are stated in (1 when the
        rank level was dropped); a warm start needs the same.
    score_potentials : numpy.ndarray of int64
        Exact potentials of the score level (costs ``-score``), one per node, from which
        a warm start's cost scaling starts; empty when the solve did not run by levels
        (a warm start by shortest paths).
    rank_potentials : numpy.ndarray of int64
        Exact potentials of the rank level (costs ``rank`` on the score-tight arcs), from
        which a warm start's rank level starts; empty like ``score_potentials``.
    node_frames : tuple
        What names the nodes: the candidate ids and the slot, intake, national and total
        tables of the edges solved (references, not copies), so that a warm start on
        another instance (an employer added or gone) finds the nodes it shares.
    score_decimals : int or None
        The score scale the costs and potentials are stated in (``10**score_decimals``
        units per point); a warm start needs the same. None: not recorded (a state saved
        before the scale was), taken to be the scale of the solve it starts.
    """

    status: Status
    message: str
    chosen: I64
    potentials: I64
    stats: dict[str, float] = field(default_factory=dict)
    chosen_pairs: I64 = field(default_factory=lambda: np.zeros((2, 0), dtype=np.int64))
    rank_weight: int = 0
    score_potentials: I64 = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    node_frames: tuple[Any, ...] = ()
    rank_potentials: I64 = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    score_decimals: int | None = None


#: Key columns naming the slots, intakes, nationals and totals (the candidates: their ids).
_NODE_KEYS = (
    ("employer_id", "sector", "track"),
    ("employer_id", "sector", "group"),
    ("sector", "group"),
    ("group",),
)


def _node_frames(edges: Edges) -> tuple[Any, ...]:
    caps = edges.caps
    return (edges.candidate_ids, edges.slots, caps.intakes, caps.nationals, caps.totals)


def _finish(
    edges: Edges,
    net: FlowNetwork,
    chosen: I64,
    pot: I64,
    stats: dict[str, float],
    score_pot: I64 | None = None,
    rank_pot: I64 | None = None,
    *,
    score_decimals: int,
) -> CoreSolution:
    """The solution of a solve that found ``chosen`` and proved it by ``pot`` (and, when it
    ran by levels, by the score level's ``score_pot`` and the rank level's ``rank_pot``)."""
    pairs = np.stack([edges.cand[chosen].astype(np.int64), edges.slot[chosen].astype(np.int64)])
    status, message = Status.OPTIMAL, "optimal"
    if not net.rank_kept:
        status = Status.FEASIBLE
        message = (
            "optimal for placed count and total score; the rank tie-break was skipped because "
            "its weights would overflow 64-bit costs (shorten preference lists)"
        )
    return CoreSolution(
        status,
        message,
        chosen,
        pot,
        stats,
        chosen_pairs=pairs,
        rank_weight=net.rank_weight,
        score_potentials=np.zeros(0, dtype=np.int64) if score_pot is None else score_pot,
        node_frames=_node_frames(edges),
        rank_potentials=np.zeros(0, dtype=np.int64) if rank_pot is None else rank_pot,
        score_decimals=score_decimals,
    )
