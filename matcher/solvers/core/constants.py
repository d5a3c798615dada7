"""The core's constants: array types, tuned values, and the slots of its counter arrays.

The numba kernels read these names as compile-time constants. numba's on-disk cache of a
module is keyed to that module's own source file, so after changing a value here the
cached kernels of the modules that read it must be rebuilt (delete their ``__pycache__``
entries ``*.nbi`` / ``*.nbc``).

The warm start's budgets and thresholds are also the fields of :class:`CoreParams`,
which :func:`matcher.solvers.core.solve_core` takes (by default from the package-level
names of the same constants, read at each call).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]

#: Prices must stay within +-PRICE_LIMIT (scaled units) so no reduced cost overflows.
PRICE_LIMIT = 1 << 62
#: Epsilon is divided by this factor between cost-scaling phases.
SCALE_FACTOR = 8
#: Label-correcting passes tried on a level before its precision is raised.
QUICK_PASSES = 6
#: Starting precision of the rank level: 64 suffices on generated instances (with 32 the
#: potentials failed at 1M and one more phase followed).
RANK_PRECISION = 64
#: Levels run with ``early`` (the score level; the Lagrangian's relaxed flows) try exact
#: potentials already after a phase at this epsilon or below (above 1): the flow is
#: usually optimal there (see :func:`matcher.solvers.core.levels._exact_level`).
EARLY_EXACT_EPS = 3
#: A warm start gives up (and solves cold) after scanning this many times the arcs.
WARM_BUDGET = 8
#: ... plus this many, so that small instances always finish warm.
WARM_BUDGET_MIN = 1 << 20
#: Paths after which a warm start projects its total work and may give up early.
WARM_PROBE = 8
#: A warm :func:`matcher.solvers.core.treeflow.solve_tree_flow` starts cost scaling at
#: this percentile of the pair cost changes, not their maximum: the few large moves are
#: saturated at once and repaired by relabels that jump (the median was fastest; timings
#: in benchmarks/NOTES.md).
WARM_TREE_PCT = 50.0
#: A warm solve by levels gives up (and solves cold) after its relabels scanned this
#: many times the arcs (a cold solve at 1M scans about 30 times, a warm one after 1%
#: withdrew about 15).
WARM_LEVEL_BUDGET = 20
#: Epsilon of the first score-level phase of a warm solve by levels: at 1 prices crawl
#: through tied plateaus; at 3 one phase suffices for exact potentials (``EARLY_EXACT_EPS``).
WARM_SCORE_EPS = 3
#: Epsilon (in ranks) the rank level of a warm solve by levels starts from, with the
#: earlier rank potentials (its first phase at an eighth of it in the scaled costs).
WARM_RANK_EPS = 1
#: ... but only when the warm score level moved little of the flow: at most this many
#: pushes per placed unit. Past it the earlier rank prices are far off: the rank level runs cold.
WARM_RANK_MAX_PUSHES = 3
#: In that first phase, a global price update
#: (:func:`matcher.solvers.core.phases._global_update`) runs after every this many times
#: the arcs in relabel scans, so the last excesses run straight to far deficits instead of
#: crawling over ties (only there: elsewhere one costs more than it saves).
WARM_UPDATE_INTERVAL = 1.0
#: Price refinement (:func:`matcher.solvers.core.phases._price_refine`) before each phase
#: that starts from a flow but the last (score level, relaxed flows):
#: label-correcting passes it may spend (in scans of the whole network), and the most
#: epsilons it lowers one price by.
PRICE_REFINE_PASSES = 6
PRICE_REFINE_CLAMP = 32
#: Shift added to the sink side of the final minimum cut (see check_certificate).
CUT_SHIFT = 1 << 59
_INF = np.int64(1 << 62)

# Slots of the ``work`` counters that the cost-scaling phases update
# (:func:`matcher.solvers.core.phases._refine`) and the level drivers set and read.
#: Pushes.
W_PUSHES = 0
#: Relabels.
W_RELABELS = 1
#: Global price updates run.
W_UPDATES = 2
#: Arcs scanned by relabels.
W_RELABEL_SCANS = 3
#: Limit on the relabels' arc scans (the phase fails past it), or 0 for none.
W_SCAN_LIMIT = 4
#: Relabel scans between two global price updates, or 0 for none.
W_UPDATE_EVERY = 5
#: Arcs scanned by global price updates.
W_UPDATE_SCANS = 6
#: Epsilon of the phase that runs global price updates (the others run none).
W_UPDATE_EPS = 7
#: Arcs scanned by price refinements.
W_REFINE_SCANS = 8
#: Phases that price refinement alone made eps-optimal.
W_REFINED_PHASES = 9
#: Slots of the solver's ``work`` counters.
WORK_SLOTS = 10

# Slots of the ``info`` counters of the warm start's shortest paths
# (:func:`matcher.solvers.core.warm._warm_repair`).
#: Paths found.
INFO_PATHS = 0
#: Arcs scanned by the searches.
INFO_SCANS = 1
#: Paths ending at the source.
INFO_TO_SOURCE = 2
#: Paths ending at the sink.
INFO_TO_SINK = 3
#: Paths ending elsewhere (at a tree node holding an excess).
INFO_TO_TREE = 4
#: Scans of the source's arcs.
INFO_SOURCE_SCANS = 5
#: Slots of the ``info`` counters.
INFO_SLOTS = 6


@dataclass(frozen=True)
class CoreParams:
    """The warm start's tuning knobs (defaults: the constants of the same names).

    Attributes
    ----------
    warm_budget : int
        Shortest paths give up (the levels run) after scanning this many times the arcs.
    warm_budget_min : int
        ... plus this many, so that small instances always finish by shortest paths.
    warm_level_budget : int
        The warm levels give up (a cold solve runs) after their relabels scanned this
        many times the arcs.
    warm_score_eps : int
        Epsilon of the warm score level's first phase.
    warm_rank_eps : int
        Epsilon (in ranks) the warm rank level starts from.
    warm_rank_max_pushes : int
        The rank level runs warm only when the warm score level made at most this many
        pushes per placed unit.
    warm_update_interval : float
        Global price updates of the warm score level's first phase: one after every this
        many times the arcs in relabel scans.
    """

    warm_budget: int = WARM_BUDGET
    warm_budget_min: int = WARM_BUDGET_MIN
    warm_level_budget: int = WARM_LEVEL_BUDGET
    warm_score_eps: int = WARM_SCORE_EPS
    warm_rank_eps: int = WARM_RANK_EPS
    warm_rank_max_pushes: int = WARM_RANK_MAX_PUSHES
    warm_update_interval: float = WARM_UPDATE_INTERVAL
