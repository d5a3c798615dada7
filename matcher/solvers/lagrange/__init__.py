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
Polyak steps toward the best repaired value. It stops at the gap target, the time limit,
converged steps or a caller's iteration limit, and says which (``stats["stopped"]``).

First, though, the cap families are arranged so that as few caps as possible cross: the
regional caps, when they are laminar (nested or disjoint, e.g. prefectures inside a
metro group), can be the tree above the employers instead of the sector caps, and a cap
that can never bind (more room than candidates or declared capacity below it) is dropped.
When no binding cap is left outside the tree, one min-cost flow with the foundation's
lexicographic costs is the exact optimum (status ``optimal``).

Soft floors are kept exactly in the flow where the tree allows, and the layout is chosen
by the multipliers it leaves, floors included (:mod:`.floors` says how and what it gains
on the floors benchmark).

Otherwise the objective is the total score (rank sums are not part of it at this scale)
and the status is ``feasible`` with ``bound`` and ``gap``.

Units
-----
* :mod:`.constants`: array types and tuned constants;
* :mod:`.solution`: :class:`LagrangeSolution`;
* :mod:`.layout`: the cap families' arrangement, :func:`choose_layout`;
* :mod:`.tree`: the tree flow interface to matcher's core;
* :mod:`.rows`: the relaxed caps and floors, their usage and multiplier ranges;
* :mod:`.floors`: the floors kept in the flow, :func:`unsupplied_floors`, first prices
  and the floors' shadow prices;
* :mod:`.repair`: a solution that keeps every cap, from a relaxed one;
* :mod:`.relaxation`: :func:`solve_lagrangian`, the subgradient loop;
* :mod:`.backend`: :func:`solve_request`, the registry's ``lagrange`` backend: the
  relaxation, then a neighbourhood search and, within its size, the MIP.
"""

from __future__ import annotations

from matcher.solvers.lagrange.backend import solve_request
from matcher.solvers.lagrange.constants import (
    COST_SCALE,
    DEFLECTION,
    F64,
    FILL_ROUNDS,
    FLOOR_PRICES_SHOWN,
    I64,
    LOG_EVERY_S,
    PLACEMENT_WORTH,
    SOFT_START,
    STALL_HALVINGS,
    SUPPLY_CHECKS,
)
from matcher.solvers.lagrange.floors import _cap_prices as _cap_prices
from matcher.solvers.lagrange.floors import _floor_prices as _floor_prices
from matcher.solvers.lagrange.floors import _floors_in_flow as _floors_in_flow
from matcher.solvers.lagrange.floors import unsupplied_floors
from matcher.solvers.lagrange.layout import Arrangement, choose_layout
from matcher.solvers.lagrange.layout import _binding as _binding
from matcher.solvers.lagrange.layout import _crossing_name as _crossing_name
from matcher.solvers.lagrange.layout import _Layout as _Layout
from matcher.solvers.lagrange.layout import _one_slot_floors as _one_slot_floors
from matcher.solvers.lagrange.layout import _regional_intakes as _regional_intakes
from matcher.solvers.lagrange.layout import _regional_layout as _regional_layout
from matcher.solvers.lagrange.layout import _sector_layout as _sector_layout
from matcher.solvers.lagrange.layout import _with_floor_nodes as _with_floor_nodes
from matcher.solvers.lagrange.relaxation import solve_lagrangian
from matcher.solvers.lagrange.repair import _enforce as _enforce
from matcher.solvers.lagrange.repair import _fill_floors as _fill_floors
from matcher.solvers.lagrange.repair import _full as _full
from matcher.solvers.lagrange.repair import _open_pairs as _open_pairs
from matcher.solvers.lagrange.repair import _refill as _refill
from matcher.solvers.lagrange.repair import _repair as _repair
from matcher.solvers.lagrange.rows import _Rows as _Rows
from matcher.solvers.lagrange.solution import LagrangeSolution
from matcher.solvers.lagrange.tree import _Tree as _Tree

__all__ = [
    "COST_SCALE",
    "DEFLECTION",
    "F64",
    "FILL_ROUNDS",
    "FLOOR_PRICES_SHOWN",
    "I64",
    "LOG_EVERY_S",
    "PLACEMENT_WORTH",
    "SOFT_START",
    "STALL_HALVINGS",
    "SUPPLY_CHECKS",
    "Arrangement",
    "LagrangeSolution",
    "choose_layout",
    "solve_lagrangian",
    "solve_request",
    "unsupplied_floors",
]
