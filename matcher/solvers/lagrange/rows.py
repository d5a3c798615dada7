"""The relaxed constraints and their multipliers' ranges: :class:`_Rows`.

Caps and floors moved into the costs, as rows ``sign * (placements on its pairs) <= rhs``
with their incidence on the pairs; what a solution uses of each row, what it misses,
and what it is worth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from matcher.eligibility.constraints import FloorUnit
from matcher.solvers.lagrange.constants import F64, I64


@dataclass(frozen=True)
class _Rows:
    """The constraints moved into the costs, each ``sign * (placements on its pairs) <= rhs``.

    Caps come first (sign +1, rhs the cap), then floors (sign -1, rhs minus the floor).
    A multiplier lies in ``[0, upper]``: unbounded for caps and hard floors; for a soft
    floor, the worth of one missing placement (a larger multiplier would pay more for
    meeting the floor than falling short costs, so the bound would no longer hold); 0
    for a soft floor the flow keeps exactly (``in_flow``: a bonus leaf, see
    :meth:`.tree._Tree.bonus_tree`), which is listed only to count its shortfall. ``weight``:
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
