"""matcher's own exact welfare solver: cost scaling by objective level, compiled with numba.

The problem
-----------
Unit-demand candidates, eligible candidate -> slot pairs with integer costs (from
:func:`matcher.solvers.network.lexicographic_costs`, ``-B * score + rank``) and a *tree* of
capacities above the slots (slot -> intake -> national -> total -> sink). Objective:
the maximum flow (most candidates placed), and among maximum flows the minimum cost.
This is exactly the network :func:`matcher.solvers.flow.solve_flow` gives OR-Tools.

Node numbering (also the numbering of :attr:`CoreSolution.potentials`)
----------------------------------------------------------------------
``0`` source, ``1`` sink, then ``2 + c`` for every candidate ``c`` (``len(candidate_ids)``
of them, also those without edges), then the slots (``edges.slots`` rows), the intake
nodes, the national nodes and the total nodes, in the order of
:class:`matcher.eligibility.edges.CapStructure` -- the numbering of ``solve_flow``. Arcs:
``source -> candidate`` (capacity 1, only candidates with at least one edge), one
``candidate -> slot`` arc per edge (capacity 1, cost of the edge), ``slot -> intake``
(declared capacity), ``intake -> national`` (intake cap), ``national -> total``
(national cap), ``total -> sink`` (total cap); caps of -1 are unlimited. Inside a solve
the candidates and the slots are renumbered among themselves for memory locality
(:func:`.csr._node_map`); everything a solve returns or takes (potentials, warm starts) is in
the numbering above.

The algorithm, and why
----------------------
1. *Maximum flow value* ``F`` by FIFO push-relabel with global relabeling (breadth-first
   search from the sink) on the residual network in CSR form. Only the value is needed.
2. *Score level*: a minimum-cost flow of value ``F`` under the costs ``-score`` alone, by
   Goldberg's cost-scaling push-relabel (``refine`` phases: saturate every arc of
   negative reduced cost, then discharge excesses in FIFO order with push look-ahead and
   the largest valid price drop; a slot's held candidates are kept at the front of its
   arc list so its scans only see those; a candidate's arcs are in preference-rank
   order, :func:`.csr._edge_order`, so that the first phases do not all crowd the same
   low-numbered slots). Epsilon falls by ``SCALE_FACTOR`` per phase from the largest
   score *down to 1 in score units*, not to ``1/n``: five phases instead of ten to
   twenty. Such a flow is usually already optimal, and exact potentials
   (label-correcting from the prices, ``QUICK_PASSES`` passes) prove it; they are tried
   first after the phase at ``EARLY_EXACT_EPS``, where the flow usually is optimal
   already, which saves the phase at 1. If they do not exist yet, costs and prices are
   multiplied by ``SCALE_FACTOR`` and one more phase runs, until ``epsilon < 1/n`` in
   score units, where optimality is guaranteed by the theory of cost scaling
   (:func:`.levels._exact_level`). Every score-level phase but the first and the last starts with
   Goldberg's *price refinement* (:func:`.phases._price_refine`): prices that make the current
   flow as nearly ``epsilon``-optimal as they can, so the phase only re-routes the units
   on arcs that no prices fix, instead of most of the flow. Not in the last phase, which
   must end exactly optimal; not on the rank level, whose later phases it slows down.
3. *Rank level*: the score-optimal flows are exactly the flows of value ``F`` that use
   only arcs of zero reduced cost under the score potentials (complementary slackness).
   The least rank sum among them is a min-cost circulation on that subgraph (about half
   of the arcs), costs ``rank``, started from the score-level flow, by the same scaling
   (first precision ``RANK_PRECISION``; raised when needed).
4. *Certificate*: potentials ``B * p_score + p_rank`` repaired by one label-correcting
   pass on the lexicographic costs ``-B * score + rank`` (it converges only when no
   residual cycle is negative, so it is also an internal optimality check); then every
   node that the source cannot reach in the residual network (the sink side of a
   minimum cut) is raised by a constant (``CUT_SHIFT``) so that ``p[sink] - p[source]``
   exceeds the cost of any simple residual path, which certifies that the flow is
   maximum (see :func:`check_certificate`).

Why levels: the single lexicographic cost ``-B * score + rank`` needs ``B`` larger than
any rank-sum difference (about ``20 * n``); cost scaling then spends a phase per factor
of 8 of that range, and every phase costs about the same (each re-routes most of the
flow). Splitting the levels and stopping each at unit precision cuts the phases to
5 + 2-4, the second ones on a smaller graph. Every phase relabels each placed candidate
about eight times (the price walk of a factor-8 step) and waits on memory, hence the
solver's own node numbering (:func:`.csr._node_map`), which keeps neighbours close in memory.
The :func:`solve_tree_flow` entry point solves the Lagrangian backend's relaxed flows
(any tree of caps) the same way, one level, warm from the previous iteration's flow and
potentials. The alternatives measured, and the timings behind each choice, are in
benchmarks/NOTES.md.

Units
-----
One step per module, each kernel compiled with ``@njit(cache=True)``:

* :mod:`.constants`: array types, tuned constants, the slots of the ``work`` and
  ``info`` counter arrays (``W_*``, ``INFO_*``), and :class:`CoreParams` (the warm
  start's knobs);
* :mod:`.solution`: :class:`CoreSolution` and the node tables that name its nodes;
* :mod:`.csr`: the residual network in CSR form, the solver's node map and arc order;
* :mod:`.heap`: an indexed binary min-heap of nodes;
* :mod:`.maxflow`: step 1 (greedy start, FIFO push-relabel, global relabeling);
* :mod:`.phases`: one cost-scaling phase and its steps (tree prices, price refinement,
  saturation, global price update, discharge with push look-ahead, relabel);
* :mod:`.levels`: steps 2-3 (a level by cost scaling at unit precision, exact
  potentials, the tie-break level on the tight subgraph);
* :mod:`.certificate`: step 4's minimum cut and path bound, and
  :func:`check_certificate`;
* :mod:`.warm`: the warm start (its docstring says how and why); :mod:`.translate`:
  an earlier solution restated for another instance's nodes;
* :mod:`.state`: a solution as tables to save and read back;
* :mod:`.treeflow`: :func:`solve_tree_flow`, the Lagrangian backend's relaxed flows;
* :mod:`.driver`: :func:`solve_core`'s body, the steps above in order.

Overflow safety (int64)
-----------------------
Costs are used scaled only when ``max|cost| * (nodes + 1) < 2**62``, the same guard as
``solve_flow`` (otherwise the rank tie-break is dropped and the status is ``feasible``,
exactly as there). Prices are checked during the solve: a price leaving
``[-2**62, 2**62]`` stops it with status ``error`` (never a wrong answer). Capacities
are clipped to one more than the number of candidates with an edge (more can never
flow, and a clipped arc is never saturated), so residual capacities fit int32.
"""

from __future__ import annotations

from matcher.eligibility.edges import Edges
from matcher.solvers.core.certificate import check_certificate, path_cost_bound
from matcher.solvers.core.constants import (
    CUT_SHIFT,
    EARLY_EXACT_EPS,
    PRICE_LIMIT,
    PRICE_REFINE_CLAMP,
    PRICE_REFINE_PASSES,
    QUICK_PASSES,
    RANK_PRECISION,
    SCALE_FACTOR,
    WARM_BUDGET,
    WARM_BUDGET_MIN,
    WARM_LEVEL_BUDGET,
    WARM_PROBE,
    WARM_RANK_EPS,
    WARM_RANK_MAX_PUSHES,
    WARM_SCORE_EPS,
    WARM_TREE_PCT,
    WARM_UPDATE_INTERVAL,
    WORK_SLOTS,
    CoreParams,
)
from matcher.solvers.core.csr import _build_arcs as _build_arcs
from matcher.solvers.core.csr import _edge_key as _edge_key
from matcher.solvers.core.csr import _edge_order as _edge_order
from matcher.solvers.core.csr import _node_map as _node_map
from matcher.solvers.core.driver import _solve_core_impl
from matcher.solvers.core.phases import _price_refine as _price_refine
from matcher.solvers.core.solution import CoreSolution
from matcher.solvers.core.state import (
    STATE_COLUMNS,
    STATE_FORMAT,
    STATE_NODE_TABLES,
    state_from_tables,
    state_tables,
)
from matcher.solvers.core.treeflow import solve_tree_flow

__all__ = [
    "CUT_SHIFT",
    "EARLY_EXACT_EPS",
    "PRICE_LIMIT",
    "PRICE_REFINE_CLAMP",
    "PRICE_REFINE_PASSES",
    "QUICK_PASSES",
    "RANK_PRECISION",
    "SCALE_FACTOR",
    "STATE_COLUMNS",
    "STATE_FORMAT",
    "STATE_NODE_TABLES",
    "WARM_BUDGET",
    "WARM_BUDGET_MIN",
    "WARM_LEVEL_BUDGET",
    "WARM_PROBE",
    "WARM_RANK_EPS",
    "WARM_RANK_MAX_PUSHES",
    "WARM_SCORE_EPS",
    "WARM_TREE_PCT",
    "WARM_UPDATE_INTERVAL",
    "WORK_SLOTS",
    "CoreParams",
    "CoreSolution",
    "check_certificate",
    "path_cost_bound",
    "solve_core",
    "solve_tree_flow",
    "state_from_tables",
    "state_tables",
]


def _package_params() -> CoreParams:
    """The warm start's knobs as this package's names of them hold them now (read at each
    call, so that assigning e.g. ``matcher.solvers.core.WARM_BUDGET`` takes effect)."""
    return CoreParams(
        warm_budget=WARM_BUDGET,
        warm_budget_min=WARM_BUDGET_MIN,
        warm_level_budget=WARM_LEVEL_BUDGET,
        warm_score_eps=WARM_SCORE_EPS,
        warm_rank_eps=WARM_RANK_EPS,
        warm_rank_max_pushes=WARM_RANK_MAX_PUSHES,
        warm_update_interval=WARM_UPDATE_INTERVAL,
    )


def solve_core(
    edges: Edges,
    *,
    score_decimals: int = 2,
    warm_start: CoreSolution | None = None,
    params: CoreParams | None = None,
) -> CoreSolution:
    """Solve the welfare problem on ``edges`` exactly (max placed, then min cost).

    Parameters
    ----------
    edges : Edges
        Eligible pairs and the cap structure (from :func:`matcher.eligibility.edges.build_edges`).
    score_decimals : int, default 2
        Score resolution, as for :func:`matcher.solvers.flow.solve_flow`.
    warm_start : CoreSolution, optional
        An earlier solve of a changed instance (e.g. candidates withdrew: their edges
        removed, ids kept; or an employer joined or left: its nodes are matched to this
        instance's by key, see :func:`.translate._translated`). Its placements and
        certificate potentials start the solve, which then costs about one shortest-path
        search per freed unit (:mod:`.warm`); when that would cost more than about a
        third of a cold solve, the levels run from its placements and score potentials
        instead (``stats["warm"]`` is 0 and ``stats["warm_levels"]`` 1), and past their
        own budget, or when the solution does not fit (another node count, another
        ``score_decimals``), a cold solve runs. Any change is allowed; the result is exact
        either way.
    params : CoreParams, optional
        The warm start's budgets and thresholds; by default this package's
        ``WARM_BUDGET``, ``WARM_BUDGET_MIN``, ``WARM_LEVEL_BUDGET``, ``WARM_SCORE_EPS``,
        ``WARM_RANK_EPS``, ``WARM_RANK_MAX_PUSHES`` and ``WARM_UPDATE_INTERVAL`` as they
        are at the call.

    Returns
    -------
    CoreSolution
        Status ``OPTIMAL`` with the chosen edges and certificate potentials; ``FEASIBLE``
        when the rank tie-break was dropped to avoid overflow (as ``solve_flow`` does);
        ``ERROR`` if an internal check failed (prices out of range, no convergence).

    Examples
    --------
    >>> import matcher
    >>> from matcher.eligibility.edges import build_edges
    >>> edges = build_edges(matcher.load_instance("instances/tiny"))
    >>> sol = solve_core(edges)
    >>> sol.status.value, len(sol.chosen), check_certificate(edges, sol.chosen, sol.potentials)
    ('optimal', 4, [])
    """
    return _solve_core_impl(
        edges,
        score_decimals=score_decimals,
        warm_start=warm_start,
        params=_package_params() if params is None else params,
    )
