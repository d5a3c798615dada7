"""The welfare backends, each declaring what it keeps, and the choice among them.

Every backend is a :class:`Backend`: the rules crossing the cap tree it keeps, the most
eligible pairs it takes, whether it warm-starts and honours a time limit, and a
``solve`` callable with one signature: it takes a :class:`SolveRequest` (the instance,
its edges, the score scale, the options), prepares its own inputs (floors, hints, the
cap layout) and returns one :class:`SolverResult`. :data:`BACKENDS` maps names to
backends; :func:`refusal` words a refusal from the declared capabilities and
:func:`default_backend` picks the backend ``method="optimal"`` uses when none is given.
Each backend's module is imported only when it solves (OR-Tools and the compiled core
load on first use).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, get_args

import numpy as np
import numpy.typing as npt

from matcher.data.policy import Objective
from matcher.errors import UnsupportedPolicyError, VerificationError
from matcher.status import Status

if TYPE_CHECKING:
    from matcher.data.model import Instance
    from matcher.eligibility.constraints import FloorUnit
    from matcher.eligibility.edges import Edges
    from matcher.eligibility.scale import ScoreScale
    from matcher.solvers.core import CoreSolution
    from matcher.solvers.lagrange import Arrangement

log = logging.getLogger("matcher")

I64 = npt.NDArray[np.int64]

#: The rules a flow on the nested caps cannot keep, as ``Policy.crossing_rules`` names
#: them (and "joint applications" for an instance with a joint table), in the order
#: messages list them.
REGIONAL_CAPS: Final[str] = "regional caps"
EMPLOYER_CAPS: Final[str] = "employer caps"
FLOORS: Final[str] = "floors"
NATIONALITY_RULES: Final[frozenset[str]] = frozenset({"a nationality share cap", "peer support"})
JOINT_APPLICATIONS: Final[str] = "joint applications"
FAIRNESS_OBJECTIVES: Final[frozenset[str]] = frozenset(
    f"a fairness objective ({kind})"
    for kind in get_args(Objective.model_fields["kind"].annotation)
    if kind != "welfare"
)
#: Regional caps, employer caps and floors: the rules a decomposition around the flow keeps.
DECOMPOSABLE: Final[frozenset[str]] = frozenset({REGIONAL_CAPS, EMPLOYER_CAPS, FLOORS})
#: Every crossing rule.
ALL_RULES: Final[frozenset[str]] = (
    DECOMPOSABLE | NATIONALITY_RULES | {JOINT_APPLICATIONS} | FAIRNESS_OBJECTIVES
)
#: Rules the eligible pairs can still drop: an employer cap folds into an intake cap
#: when one sector is in scope, or cannot bind.
FOLDABLE: Final[frozenset[str]] = frozenset({EMPLOYER_CAPS})

#: The most eligible pairs CP-SAT takes (its model is built pair by pair in Python).
CPSAT_MAX_PAIRS: Final[int] = 200_000
#: The most eligible pairs the MIP backend takes.
MIP_MAX_PAIRS: Final[int] = 400_000
#: With regional caps or floors that do not nest, the MIP backend is the default up to
#: this many pairs, the Lagrangian above, which runs the MIP itself after its relaxation
#: within MIP_MAX_PAIRS (benchmarks/quality.py, 2026-12-07: the lexicographic MIP took
#: 16-31 s at 10k with 158,000-180,000 pairs, where the Lagrangian backend was within
#: 0.04% of the optimum in 1.8-14 s).
MIP_DEFAULT_MAX_PAIRS: Final[int] = 50_000


@dataclass(frozen=True)
class SolveRequest:
    """What every backend is given: the instance, its eligible pairs and the options.

    ``rules``: the crossing rules of the instance (after the pairs folded what they
    could). ``arrangement``: how the cap families nest
    (:func:`matcher.solvers.lagrange.choose_layout`), when already computed for the
    backend choice. ``warm_start``: an earlier core solution (core backend only).
    ``verify``: also check what the backend certifies itself (the core's certificate).
    """

    instance: Instance
    edges: Edges
    scale: ScoreScale
    rules: tuple[str, ...] = ()
    time_limit: float = 60.0
    verify: bool = True
    arrangement: Arrangement | None = None
    warm_start: CoreSolution | None = None

    @property
    def decimals(self) -> int:
        """The decimals scores are optimized at."""
        return self.scale.decimals


@dataclass(frozen=True)
class Bound:
    """The first level a time limit left unproven: its value and proven bound."""

    level: str
    objective: float
    bound: float
    gap: float

    def as_dict(self) -> dict[str, Any]:
        return {"level": self.level, "objective": self.objective, "bound": self.bound, "gap": self.gap}


@dataclass(frozen=True)
class WarmStartStats:
    """How the core used a warm start: ``used`` is "shortest paths", "levels" or
    "none (solved cold)"; ``paths`` the shortest-path searches, ``new_nodes`` the nodes
    the earlier solve did not have."""

    used: str
    paths: int
    new_nodes: int


@dataclass(frozen=True)
class Fairness:
    """A fairness objective's outcome: the group ratios and the price of fairness (what
    the welfare optimum under the same rules places and scores more; None when that
    optimum was not found)."""

    groups: dict[str, Any]
    price: dict[str, Any] | None


@dataclass(frozen=True)
class SolverStats:
    """What a backend reports besides the assignment.

    ``times``: seconds per stage, in order (``solve``, and ``floor_check``, ``mip``,
    ``welfare_optimum`` or ``certificate`` where they ran). ``iterations``, ``layout``,
    ``stopped`` and ``floor_prices``: the Lagrangian's subgradient iterations, the cap
    family its flow holds, why its loop stopped and the prices of the floors it relaxed. ``warm_start``: the core's use of
    a warm start. ``certificate``: the core's optimality certificate was checked and
    holds. ``raw``: the backend's own statistics.
    """

    times: dict[str, float] = field(default_factory=dict)
    iterations: int | None = None
    layout: str | None = None
    stopped: str | None = None
    floor_prices: dict[str, Any] | None = None
    warm_start: WarmStartStats | None = None
    certificate: bool = False
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SolverResult:
    """One backend's outcome.

    ``chosen``: indices of the placed pairs in the edge arrays. ``bound``: the unproven
    level when a time limit struck (None when every level is proven). ``conflict``: the
    hard floors that together cannot be met (None unless infeasible for that reason).
    ``solution``: the core's solution with its certificate, the state a warm start
    starts from (None from other backends or without success).
    """

    status: Status
    message: str
    chosen: I64
    bound: Bound | None = None
    conflict: list[str] | None = None
    stats: SolverStats = field(default_factory=SolverStats)
    fairness: Fairness | None = None
    solution: CoreSolution | None = None

    def summary(self) -> dict[str, Any]:
        """The entries this outcome adds to ``summary.json``."""
        out: dict[str, Any] = {}
        st = self.stats
        if st.layout is not None:
            out["lagrangian"] = {"layout": st.layout, "iterations": st.iterations, "stopped": st.stopped}
            for phase in ("neighbourhood", "mip"):
                if phase in st.raw:
                    out["lagrangian"][phase] = st.raw[phase]
            if st.floor_prices is not None:
                out["lagrangian"]["floor_prices"] = st.floor_prices
        if st.warm_start is not None:
            w = st.warm_start
            out["warm_start"] = {"used": w.used, "paths": w.paths, "new_nodes": w.new_nodes}
        if self.bound is not None:
            out["bound"] = self.bound.as_dict()
        if self.fairness is not None:
            out["fairness"] = self.fairness.groups
            out["price_of_fairness"] = self.fairness.price
        if self.conflict:
            out["conflict"] = self.conflict
        if st.certificate:
            out["certificate"] = "valid"
        return out


@contextmanager
def stage(times: dict[str, float], name: str) -> Iterator[None]:
    """Time a stage of a solve into ``times`` (and log its start and end)."""
    start = time.perf_counter()
    log.info("%s ...", name)
    yield
    times[name] = time.perf_counter() - start
    log.info("%s done in %.2f s", name, times[name])


@dataclass(frozen=True)
class Backend:
    """A welfare backend and what it declares.

    ``keeps``: the crossing rules it keeps (none: a flow on the nested caps).
    ``max_pairs``: the most eligible pairs it takes (None: any). ``warm_starts``: it
    starts from an earlier solution. ``time_limit``: it honours ``time_limit``.
    ``label``: its name in messages. ``solve``: the solve, from a :class:`SolveRequest`.
    """

    name: str
    label: str
    keeps: frozenset[str]
    max_pairs: int | None
    warm_starts: bool
    time_limit: bool
    solve: Callable[[SolveRequest], SolverResult] = field(repr=False, compare=False)


def _solve_core(request: SolveRequest) -> SolverResult:
    """The compiled core: exact, with an optimality certificate (checked with ``verify``)."""
    from matcher.solvers.core import check_certificate, solve_core

    check_flow_scale(request)
    edges, decimals, warm = request.edges, request.decimals, request.warm_start
    times: dict[str, float] = {}
    with stage(times, "solve"):
        core = solve_core(edges, score_decimals=decimals, warm_start=warm)
    warm_stats = None
    if warm is not None:
        st = core.stats
        how = (
            "shortest paths"
            if st.get("warm")
            else "levels"
            if st.get("warm_levels")
            else "none (solved cold)"
        )
        warm_stats = WarmStartStats(how, int(st.get("warm_paths", 0)), int(st.get("warm_new_nodes", 0)))
        log.info("warm start: %s, %d paths, %d new nodes", how, warm_stats.paths, warm_stats.new_nodes)
    certified = False
    if request.verify and core.status.success:
        with stage(times, "certificate"):
            problems = check_certificate(
                edges, core.chosen, core.potentials, score_decimals=decimals, rank_weight=core.rank_weight
            )
        if problems:
            raise VerificationError("the core's optimality certificate fails:\n" + "\n".join(problems))
        certified = True
    return SolverResult(
        core.status,
        core.message,
        core.chosen,
        stats=SolverStats(times=times, warm_start=warm_stats, certificate=certified, raw=dict(core.stats)),
        solution=core if core.status.success else None,
    )


def _solve_ortools(request: SolveRequest) -> SolverResult:
    from matcher.solvers.flow import solve_request

    return solve_request(request)


def _solve_cpsat(request: SolveRequest) -> SolverResult:
    from matcher.solvers.cpsat import solve_request

    return solve_request(request)


def _solve_mip(request: SolveRequest) -> SolverResult:
    from matcher.solvers.mip import solve_request

    return solve_request(request)


def _solve_lagrange(request: SolveRequest) -> SolverResult:
    from matcher.solvers.lagrange import solve_request

    return solve_request(request)


#: The welfare backends by name, in the order options list them.
BACKENDS: Final[dict[str, Backend]] = {
    b.name: b
    for b in (
        Backend("ortools", "OR-Tools min-cost flow", frozenset(), None, False, False, _solve_ortools),
        Backend("core", "the core", frozenset(), None, True, False, _solve_core),
        Backend("cpsat", "CP-SAT", ALL_RULES, CPSAT_MAX_PAIRS, False, True, _solve_cpsat),
        Backend("mip", "HiGHS", DECOMPOSABLE, MIP_MAX_PAIRS, False, True, _solve_mip),
        Backend("lagrange", "the Lagrangian decomposition", DECOMPOSABLE, None, False, True, _solve_lagrange),
    )
}


def backend(name: str) -> Backend:
    """The backend called ``name``; a ValueError lists the allowed names otherwise."""
    try:
        return BACKENDS[name]
    except KeyError:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {name!r}") from None


def _in_order(rules: Collection[str]) -> list[str]:
    """``rules`` in the order messages name them."""
    order = [REGIONAL_CAPS, EMPLOYER_CAPS, FLOORS]
    return [r for r in order if r in rules] + sorted(r for r in rules if r not in order)


def _keeps_wording(b: Backend) -> str:
    kept = _in_order(b.keeps - {EMPLOYER_CAPS})
    across = " (and employer caps across sectors)" if EMPLOYER_CAPS in b.keeps else ""
    return f"{' and '.join(kept)} only{across}"


def _any_size() -> Backend:
    """The backend that keeps the most rules at any size."""
    return max((b for b in BACKENDS.values() if b.max_pairs is None), key=lambda b: len(b.keeps))


def _keeping(rules: Collection[str]) -> Backend:
    """The backend that keeps ``rules`` at the largest size."""
    fits = [b for b in BACKENDS.values() if set(rules) <= b.keeps]
    return max(fits, key=lambda b: b.max_pairs if b.max_pairs is not None else float("inf"))


def refusal(b: Backend, policy: str, rules: Collection[str], n_pairs: int | None = None) -> str | None:
    """Why ``b`` cannot solve an instance of policy ``policy`` with crossing ``rules``
    (in the order the policy lists them) and ``n_pairs`` eligible pairs (None: not known
    yet), or None when it can. Every rule the backend does not declare is named."""
    missing = [r for r in rules if r not in b.keeps]
    if missing and not b.keeps:
        stable_ok = set(rules) <= {REGIONAL_CAPS, EMPLOYER_CAPS}
        return (
            f"policy {policy!r} has {' and '.join(rules)}, which cross the sector caps: the {b.name} "
            f"backend (a min-cost flow) cannot keep them. Use --backend {_keeping(ALL_RULES).name} "
            "(small instances)" + (" or --method stable." if stable_ok else ".")
        )
    if missing:
        return (
            f"the {b.name} backend keeps {_keeps_wording(b)}; policy {policy!r} also has "
            f"{', '.join(missing)}. Use --backend {_keeping(ALL_RULES).name} (small instances)."
        )
    if n_pairs is not None and b.max_pairs is not None and n_pairs > b.max_pairs:
        large = _any_size()
        others = [r for r in rules if r not in large.keeps]
        kept = _in_order(large.keeps)
        return (
            f"the {b.name} backend takes at most {b.max_pairs:,} eligible pairs; this instance has "
            f"{n_pairs:,}. At this size only {', '.join(kept[:-1])} and {kept[-1]} are kept (--backend "
            f"{large.name})" + (f"; {', '.join(others)} need {_keeping(others).label}." if others else ".")
        )
    return None


def early_refusal(b: Backend, policy: str, rules: Collection[str]) -> str | None:
    """:func:`refusal` before the eligible pairs are built: only when it cannot change
    (no rule it rests on is one the pairs may still drop)."""
    if b.keeps and not (set(rules) - b.keeps) & FOLDABLE:
        return refusal(b, policy, rules)
    return None


def needs_layout(b: Backend | None, rules: Collection[str]) -> bool:
    """Whether choosing or running ``b`` (None: the default) uses how the cap families
    nest (:func:`matcher.solvers.lagrange.choose_layout`)."""
    return bool(rules) and set(rules) <= DECOMPOSABLE and (b is None or b.keeps == DECOMPOSABLE)


def default_backend(rules: Collection[str], n_pairs: int, arrangement: Arrangement | None) -> Backend:
    """The backend ``method="optimal"`` uses for an instance with crossing ``rules`` and
    ``n_pairs`` eligible pairs: the core without crossing rules; the backend keeping
    every rule when one falls outside a decomposition; else the Lagrangian decomposition
    when its one flow is exact (the binding caps nest, ``arrangement`` relaxes none, no
    floors) or the instance is above :data:`MIP_DEFAULT_MAX_PAIRS`, the MIP below."""
    if not rules:
        return BACKENDS["core"]
    large = _any_size()
    if not set(rules) <= large.keeps:
        return _keeping(rules)
    relaxed = arrangement[1] if arrangement is not None else True
    exact = not relaxed and FLOORS not in rules
    return large if exact or n_pairs > MIP_DEFAULT_MAX_PAIRS else BACKENDS["mip"]


def choose(
    name: str | None,
    *,
    policy: str,
    rules: Collection[str],
    edges: Edges,
    warm_start: bool = False,
) -> tuple[Backend, Arrangement | None]:
    """The backend to solve with (``name``, or the default) and, when it uses one, how
    the cap families nest; an :class:`UnsupportedPolicyError` when the backend's
    declared capabilities do not cover the rules or the size."""
    chosen = backend(name) if name is not None else None
    if chosen is not None and (why := refusal(chosen, policy, rules)) is not None:
        raise UnsupportedPolicyError(why)
    arrangement = None
    if needs_layout(chosen, rules):
        from matcher.solvers.lagrange import choose_layout

        arrangement = choose_layout(edges)
    if chosen is None:
        chosen = default_backend(rules, edges.n_pairs, arrangement)
        if warm_start and not chosen.warm_starts:
            raise UnsupportedPolicyError(
                f"warm_start needs the core backend, but policy {policy!r} has "
                f"{' and '.join(rules)}, which the core cannot keep (the {chosen.name} backend solves it)"
            )
    why = refusal(chosen, policy, rules, edges.n_pairs)
    if why is not None:
        raise UnsupportedPolicyError(why)
    return chosen, arrangement


def check_flow_scale(request: SolveRequest) -> None:
    """Refuse scores with more decimals than the flow backends' 64-bit costs hold with the
    rank tie-break (costs ``-B * score + rank``, see
    :func:`matcher.solvers.network.lexicographic_costs`), when the policy's decimals hold it."""
    scale = request.scale
    if scale.source != "data":
        return
    from matcher.solvers.network import rank_level_decimals

    most = rank_level_decimals(request.edges, least=scale.policy_decimals, most=scale.decimals)
    if most < scale.decimals:
        raise scale.refusal(
            request.instance,
            most,
            " at this instance's size (more would overflow the 64-bit costs that also carry "
            "the rank tie-break)",
        )


def welfare_flow(edges: Edges, decimals: int) -> Any:
    """The welfare optimum under the nested caps, by the core; OR-Tools if the core fails."""
    from matcher.solvers.core import solve_core

    sol = solve_core(edges, score_decimals=decimals)
    if sol.status.success:
        return sol
    log.warning("the core failed (%s); using OR-Tools min-cost flow", sol.message)
    from matcher.solvers.flow import solve_flow

    return solve_flow(edges, score_decimals=decimals)


def floors_of(
    request: SolveRequest, times: dict[str, float], *, supply: bool
) -> tuple[list[FloorUnit], SolverResult | None]:
    """The policy's floors as units over the request's pairs, and the infeasible outcome
    when a hard floor is above what could ever fill it, found before any solve: above its
    eligible pairs, or (``supply``) above what the eligible candidates can supply under the
    caps (timed into ``times``); None otherwise."""
    from matcher.eligibility import constraints

    floors = constraints.floor_units(request.instance, request.edges)
    return floors, _floor_conflict(request, floors, times, supply=supply)


def _floor_conflict(
    request: SolveRequest, floors: list[FloorUnit], times: dict[str, float], *, supply: bool
) -> SolverResult | None:
    from matcher.eligibility import constraints

    unreachable = constraints.unreachable_floors(floors)
    if not unreachable and floors and supply:
        from matcher.solvers.lagrange import choose_layout, unsupplied_floors

        arrangement = request.arrangement if request.arrangement is not None else choose_layout(request.edges)
        with stage(times, "floor_check"):
            unreachable = unsupplied_floors(request.edges, floors, arrangement)
    if not unreachable:
        return None
    message = f"infeasible: {len(unreachable)} hard floors cannot be met: " + "; ".join(unreachable[:5])
    return SolverResult(
        Status.INFEASIBLE,
        message,
        np.zeros(0, dtype=np.int64),
        conflict=unreachable[:20],
        stats=SolverStats(times=times),
    )
