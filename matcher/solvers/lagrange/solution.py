"""What the Lagrangian backend returns: :class:`LagrangeSolution`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from matcher.solvers.lagrange.constants import I64
from matcher.status import Status


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
    relaxed: I64 | None = None  # the relaxed flow's pairs at the multipliers of the bound
