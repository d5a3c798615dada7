"""The library's entry points for solving: method dispatch, timing, verification."""

from __future__ import annotations

import logging
import math
import numbers
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeGuard

import numpy as np
import polars as pl

from matcher.data.model import Instance
from matcher.eligibility import constraints
from matcher.eligibility.edges import Edges, build_edges
from matcher.eligibility.scale import score_scale
from matcher.errors import InputError, Problem, UnsupportedPolicyError, VerificationError
from matcher.output.audit import AUDIT_MIN_GROUP, add_audit
from matcher.output.caps import add_caps
from matcher.output.report import assignments_frame, build_summary, objective_of, unmatched_frame
from matcher.output.result import MatchResult
from matcher.solvers import registry
from matcher.status import Status
from matcher.verification.assignment import verify_assignment

if TYPE_CHECKING:
    from matcher.data.policy import Policy
    from matcher.solvers.core import CoreSolution

log = logging.getLogger("matcher")

#: Methods ``solve`` accepts.
METHODS: Final[tuple[str, ...]] = ("optimal", "stable")

#: Welfare backends (:data:`matcher.solvers.registry.BACKENDS`, where each declares the
#: rules it keeps, its size limit, warm start and time limit): matcher's own compiled
#: cost-scaling core (default when the caps nest; with an optimality certificate),
#: OR-Tools min-cost flow, CP-SAT (every rule; small instances), a MIP solver (HiGHS;
#: regional caps and floors, exact on small and medium instances) and the Lagrangian
#: decomposition around the flow (regional caps and floors at any size: exact when the
#: caps nest and there are no floors, else a proven bound and gap).
BACKENDS: Final[tuple[str, ...]] = tuple(registry.BACKENDS)
#: With regional caps or floors that do not nest, the MIP backend is the default up to
#: this many pairs, the Lagrangian above.
MIP_DEFAULT_MAX_PAIRS: Final[int] = registry.MIP_DEFAULT_MAX_PAIRS

#: Up to this many eligible pairs a stable solve also computes the welfare optimum, to
#: report the price of stability (``compare_optimal=None``).
COMPARE_OPTIMAL_MAX_PAIRS: Final[int] = 2_000_000
#: The same with regional caps that do not nest, where the optimum needs the MIP.
COMPARE_MIP_MAX_PAIRS: Final[int] = 10_000


class OptionsError(InputError):
    """Solve options that are unknown, out of range or do not go together. ``problems``
    has one entry per problem (``file`` names the option, ``message`` is a sentence that
    starts with it), all found at once."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(problems, what="options")

    def _render(self) -> str:
        n = self.count
        return "\n".join(
            [f"{n} problem{'s' if n != 1 else ''} in the options:"]
            + [f"  - {p.message}" for p in self.problems]
        )


def check_options(
    *,
    method: object = "optimal",
    backend: object = None,
    proposing: object = "candidate",
    caps: object = None,
    max_pairs: object = None,
    seed: object = 0,
    time_limit: object = 60.0,
    compare_optimal: object = None,
    warm_start: object = None,
    audit_min_group: object = 10,
    cli: bool = False,
) -> None:
    """Check the options of :func:`solve` together; raise one error listing every problem.

    The library (:func:`solve` calls it first) and the command line share it, so both
    accept and refuse the same options with the same words. Checked: ``method``,
    ``backend``, ``proposing`` and ``caps`` are known choices (the error lists the
    allowed ones); ``caps="flexible"`` goes with ``proposing="candidate"`` only;
    ``time_limit`` is a finite number above 0; ``max_pairs`` is None or an integer above
    0; ``audit_min_group`` an integer above 0; ``seed`` is an integer of at least 0 for every method (numpy's generators, which
    draw the lottery and the pair sampling, take no negative seed); ``compare_optimal``
    is None or a bool; a ``warm_start`` goes with method ``optimal`` and the core backend
    (or no backend given). What ``warm_start`` holds is read later (:func:`solve`: a
    ``TypeError`` unless a core solution or a path).

    Parameters
    ----------
    cli : bool
        Name the options as command-line flags (``--time-limit``, ``--caps flexible``)
        instead of keyword arguments (``time_limit``, ``caps 'flexible'``).

    Raises
    ------
    OptionsError
        A :class:`matcher.InputError` (so a ``ValueError``) with every problem found.

    Examples
    --------
    >>> check_options(method="stable", seed=7)
    >>> try:
    ...     check_options(method="fast", time_limit=0)
    ... except OptionsError as exc:
    ...     print(exc)
    2 problems in the options:
      - method must be one of optimal, stable, got 'fast'
      - time_limit must be a finite number of seconds above 0, got 0
    """
    from matcher.stable.mechanism import CAP_MODES, PROPOSING

    def name(option: str) -> str:
        return "--" + option.replace("_", "-") if cli else option

    def setting(option: str, value: object) -> str:
        return f"{name(option)} {value}" if cli else f"{option} {value!r}"

    problems: list[Problem] = []

    def add(option: str, message: str) -> None:
        problems.append(Problem(file=name(option), message=f"{name(option)} {message}"))

    for option, value, allowed, optional in (
        ("method", method, METHODS, False),
        ("backend", backend, BACKENDS, True),
        ("proposing", proposing, PROPOSING, False),
        ("caps", caps, CAP_MODES, True),
    ):
        if not (optional and value is None) and value not in allowed:
            add(option, f"must be one of {', '.join(allowed)}, got {value!r}")
    if caps == "flexible" and proposing == "employer":
        problems.append(
            Problem(
                file=name("caps"),
                message=f"{setting('caps', 'flexible')} needs {setting('proposing', 'candidate')} (flexible DA "
                f"is candidate-proposing); with {setting('proposing', 'employer')} use {setting('caps', 'naive')}",
            )
        )
    if not _is_real(time_limit) or not math.isfinite(float(time_limit)) or float(time_limit) <= 0:
        add("time_limit", f"must be a finite number of seconds above 0, got {time_limit!r}")
    if max_pairs is not None and (not _is_int(max_pairs) or int(max_pairs) <= 0):
        add("max_pairs", f"must be a whole number above 0, got {max_pairs!r}")
    if not _is_int(audit_min_group) or int(audit_min_group) <= 0:
        add("audit_min_group", f"must be a whole number above 0, got {audit_min_group!r}")
    if not _is_int(seed) or int(seed) < 0:
        add(
            "seed",
            "must be a whole number of at least 0 (it seeds numpy's random generators, which take "
            f"no negative seed), got {seed!r}",
        )
    if compare_optimal is not None and not isinstance(compare_optimal, bool):
        add("compare_optimal", f"must be True, False or None, got {compare_optimal!r}")
    if warm_start is not None and (method != "optimal" or backend not in (None, "core")):
        got = setting("method", method) + (
            f" and {setting('backend', backend)}" if backend is not None else ""
        )
        add(
            "warm_start",
            f"needs {setting('method', 'optimal')} with the core backend (the only one that keeps a state), "
            f"got {got}",
        )
    if problems:
        raise OptionsError(problems)


def _is_int(value: object) -> TypeGuard[numbers.Integral]:
    """An integer, not a bool (``True`` is no seed or pair count)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value: object) -> TypeGuard[numbers.Real]:
    """A real number, not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def solve(
    instance: Instance | str | Path,
    *,
    policy: Policy | str | Path | None = None,
    method: str = "optimal",
    backend: str | None = None,
    proposing: str = "candidate",
    caps: str | None = None,
    compare_optimal: bool | None = None,
    max_pairs: int | None = None,
    seed: int = 0,
    verify: bool = True,
    time_limit: float = 60.0,
    timings: dict[str, float] | None = None,
    warm_start: CoreSolution | str | Path | None = None,
    audit_min_group: int = AUDIT_MIN_GROUP,
) -> MatchResult:
    """Assign candidates to employers' slots.

    Parameters
    ----------
    instance : Instance or path
        A validated instance, or the directory of one (loaded by
        :func:`matcher.load_instance`; scores are optimized exactly as given, see Notes).
    policy : Policy or path, optional
        With a directory: the policy to load it under (as ``load_instance(path,
        policy=...)``); an :class:`Instance` carries its policy already.
    method : {"optimal", "stable"}
        ``optimal``: lexicographic welfare optimum (most placed, then highest total
        score, then lowest rank sum), exact, by min-cost flow. ``stable``: deferred
        acceptance (no candidate and employer both prefer each other to what they got).
    backend : {"ortools", "core", "cpsat", "mip", "lagrange"}, optional
        Optimal only: matcher's compiled core (exact, its optimality certificate checked;
        about twice as fast as OR-Tools at 1M candidates); OR-Tools min-cost flow; CP-SAT,
        which also keeps the rules that cross the cap tree (up to 200k pairs); a MIP
        solver (HiGHS) for regional caps and floors (up to 400k pairs, exact where it
        finishes); or the Lagrangian decomposition for regional caps and floors at any
        size. Default: core when the caps nest, else chosen from the policy and the size.
    proposing : {"candidate", "employer"}
        Stable only: which side proposes (candidate-optimal or employer-optimal).
    caps : {"flexible", "naive"}, optional
        Stable only: how national caps are kept: Kamada and Kojima's flexible DA, or
        shrinking intakes before DA (the naive method). Default: flexible when
        candidates propose, naive when employers do (flexible DA is candidate-proposing).
    compare_optimal : bool, optional
        Stable only: also solve the welfare optimum to report the price of stability
        (default: up to 2M eligible pairs; with regional caps that do not nest, which
        need CP-SAT, 10k).
    max_pairs : int, optional
        Refuse instances with more eligible pairs (default: what fits in memory).
    seed : int
        Seeds the lottery (stable) and the pair sampling of ``max_pairs_per_candidate``.
    verify : bool
        Recheck the result with the independent verifier (default True).
    time_limit : float
        CP-SAT, MIP and Lagrangian backends: seconds for the whole solve (default 60). When it runs out
        the best assignment found comes back ``feasible``, with the unproven level's
        bound and gap in the summary (``bound``).
    timings : dict, optional
        Earlier phase times (e.g. loading) to report in the summary.
    warm_start : CoreSolution or path, optional
        Core backend only: start from an earlier solve (its ``state``, or the directory
        it was saved to with ``write(..., state=True)``), e.g. after candidates withdrew
        or an employer joined; nodes are matched by id and key. The result is exact
        either way, and much faster after small changes (docs/methods/welfare-core.md); among
        equally good assignments it may pick another one than a cold solve.
    audit_min_group : int, default 10
        The fairness audit (``tables["audit"]``, ``summary["audit"]``) suppresses groups of
        fewer candidates, so that no one's outcome can be singled out.

    Returns
    -------
    MatchResult

    Raises
    ------
    OptionsError
        Before anything is loaded or solved, listing every problem with the options
        (:func:`check_options`).
    InputError
        When a score has more decimals than the solve can hold exactly (see Notes).

    Notes
    -----
    Scores are optimized at the policy's ``score_decimals`` (default 2), or at more
    decimals when a score has more: the fewest that hold every aptitude score exactly
    (``summary["score_decimals"]``, with ``summary["score_decimals_from"]``: ``policy`` or
    ``data``), up to :data:`matcher.eligibility.scale.MAX_SCORE_DECIMALS`. The core and OR-Tools
    backends can hold fewer on large instances (their 64-bit costs carry the rank
    tie-break too). A score with more decimals than can be held is refused, never
    rounded.

    Examples
    --------
    >>> import matcher
    >>> matcher.solve("instances/tiny").objective.total_score
    330.0
    >>> inst = matcher.load_instance("instances/tiny")
    >>> res = matcher.solve(inst)
    >>> res.status.value, res.objective.matched, res.objective.total_score
    ('optimal', 4, 330.0)
    >>> st = matcher.solve(inst, method="stable")
    >>> st.objective.matched, st.summary["stable"]["blocking"]["blocking_pairs"]
    (3, 0)
    """
    check_options(
        method=method,
        backend=backend,
        proposing=proposing,
        caps=caps,
        max_pairs=max_pairs,
        seed=seed,
        time_limit=time_limit,
        compare_optimal=compare_optimal,
        warm_start=warm_start,
        audit_min_group=audit_min_group,
    )
    if caps is None:
        caps = "flexible" if proposing == "candidate" else "naive"
    if not isinstance(instance, Instance):
        if not isinstance(instance, (str, Path)):
            raise TypeError(f"instance must be an Instance or a directory, got {type(instance).__name__}")
        from matcher.data.load import load_instance

        instance = load_instance(instance, policy=policy)
    elif policy is not None:
        raise TypeError("policy= goes with an instance directory; an Instance carries its policy already")
    rules = instance.policy.crossing_rules + ([registry.JOINT_APPLICATIONS] if instance.joint.height else [])
    earlier = _warm_state(warm_start) if warm_start is not None else None
    if method == "optimal":
        if backend is not None and (
            why := registry.early_refusal(registry.backend(backend), instance.policy.name, rules)
        ):
            raise UnsupportedPolicyError(why)
    else:
        _refuse_stable(instance)
    timings = dict(timings or {})
    scale = score_scale(instance)
    with registry.stage(timings, "eligibility"):
        edges = build_edges(instance, max_pairs=max_pairs, seed=seed)
    if registry.EMPLOYER_CAPS in rules and not edges.caps.employer_caps:
        # Every employer cap folded into an intake cap (one sector in scope) or cannot bind.
        rules.remove(registry.EMPLOYER_CAPS)
    extra: dict[str, Any] = scale.as_summary()
    if scale.source == "data":
        log.info(
            "scores are optimized at %d decimals (the policy's score_decimals is %d; the data has more)",
            scale.decimals,
            scale.policy_decimals,
        )
    tables: dict[str, pl.DataFrame] = {}
    if instance.joint.height:
        never = constraints.never_placeable_groups(instance, edges)
        extra["joint_never_placeable"] = {"count": len(never), "groups": never[:20]}
        if never:
            log.warning(
                "%d joint groups share no eligible prefecture and cannot be placed (first: %s)",
                len(never),
                ", ".join(never[:5]),
            )
    state = None
    if method == "optimal":
        chosen_backend, arrangement = registry.choose(
            backend, policy=instance.policy.name, rules=rules, edges=edges, warm_start=earlier is not None
        )
        extra["backend"] = chosen_backend.name
        request = registry.SolveRequest(
            instance,
            edges,
            scale,
            rules=tuple(rules),
            time_limit=time_limit,
            verify=verify,
            arrangement=arrangement,
            warm_start=earlier,
        )
        result = chosen_backend.solve(request)
        timings.update(result.stats.times)
        extra.update(result.summary())
        status, message, chosen, state = result.status, result.message, result.chosen, result.solution
    else:
        status, message, chosen = _solve_stable(
            instance, edges, timings, proposing=proposing, caps=caps, seed=seed, extra=extra, tables=tables
        )
    with registry.stage(timings, "report"):
        assignments = assignments_frame(edges, chosen)
        unmatched = unmatched_frame(instance, edges, assignments)
        objective = objective_of(assignments)
        if status.success:
            # The fairness audit: aggregates of the result only (docs/user-guide.md, Outputs).
            add_audit(instance, tables, extra, assignments, unmatched, min_group=audit_min_group)
            # Every cap's use, slack and shadow price (docs/user-guide.md, Outputs).
            add_caps(
                instance,
                edges,
                tables,
                extra,
                chosen,
                solution=state,
                backend=extra.get("backend"),
                score_decimals=scale.decimals,
            )
    if verify and status.success:
        with registry.stage(timings, "verify"):
            check = verify_assignment(
                instance, assignments, objective=objective.as_dict(), fairness=extra.get("fairness")
            )
        if not check.ok:
            raise VerificationError(f"solver {method} produced an invalid assignment:\n{check}")
        extra["verified"] = True
    else:
        extra["verified"] = False
    if method == "stable":
        _stability_report(instance, assignments, seed, timings, extra, tables, verify=verify)
        _price_of_stability(edges, scale.decimals, objective.as_dict(), compare_optimal, timings, extra)
    summary = build_summary(
        instance=instance,
        status=status.value,
        message=message,
        method=method,
        objective=objective,
        edges=edges,
        unmatched=unmatched,
        assignments=assignments,
        timings=timings,
        extra=extra,
    )
    log.info("%s: %s placed of %s candidates", status.value, objective.matched, instance.n_candidates)
    return MatchResult(
        status=status,
        message=message,
        method=method,
        objective=objective,
        assignments=assignments,
        unmatched=unmatched,
        summary=summary,
        tables=tables,
        state=state,
    )


def _warm_state(warm_start: CoreSolution | str | Path) -> CoreSolution:
    """The earlier core solution to warm-start from (read and checked when saved to disk)."""
    from matcher.solvers.core import STATE_COLUMNS, CoreSolution, state_from_tables

    if isinstance(warm_start, CoreSolution):
        return warm_start
    if isinstance(warm_start, (str, Path)):
        from matcher.output.files import read_state

        tables, header, unreadable, folder = read_state(warm_start, STATE_COLUMNS)
        return state_from_tables(tables, header, source=folder, unreadable=unreadable)
    raise TypeError(f"warm_start must be a CoreSolution or a path, got {type(warm_start).__name__}")


def _refuse_stable(instance: Instance) -> None:
    """Refuse the rules stable matching does not keep."""
    name = instance.policy.name
    if instance.policy.diversity.active:
        raise UnsupportedPolicyError(
            f"policy {name!r} has nationality rules (share cap or peer support); "
            "stable matching does not keep them yet. Use --method optimal (CP-SAT, small instances)."
        )
    if instance.policy.objective.kind != "welfare":
        raise UnsupportedPolicyError(
            f"policy {name!r} has the fairness objective {instance.policy.objective.kind!r}; "
            "it is an objective of --method optimal (stable matching has no objective to choose)."
        )
    if instance.policy.floors:
        raise UnsupportedPolicyError(
            f"policy {name!r} has floors; stable matching does not keep them yet. "
            "Use --method optimal (CP-SAT, small instances)."
        )
    if instance.joint.height:
        raise UnsupportedPolicyError(
            "the instance has joint applications (a joint table); stable matching does not keep "
            "them yet. Use --method optimal (CP-SAT, small instances)."
        )


def _solve_stable(
    instance: Instance,
    edges: Edges,
    timings: dict[str, float],
    *,
    proposing: str,
    caps: str,
    seed: int,
    extra: dict[str, Any],
    tables: dict[str, pl.DataFrame],
) -> tuple[Status, str, np.ndarray[Any, np.dtype[np.int64]]]:
    from matcher.stable.mechanism import stable_match

    with registry.stage(timings, "solve"):
        sol = stable_match(instance, edges, seed=seed, proposing=proposing, caps=caps)
    tables["cutoffs"] = sol.cutoffs
    extra["stable"] = {"proposing": proposing, "caps": caps, "seed": seed, **sol.stats}
    side = "candidate" if proposing == "candidate" else "employer"
    return Status.OPTIMAL, f"{side}-optimal stable matching ({caps} caps)", sol.chosen


def _stability_report(
    instance: Instance,
    assignments: pl.DataFrame,
    seed: int,
    timings: dict[str, float],
    extra: dict[str, Any],
    tables: dict[str, pl.DataFrame],
    *,
    verify: bool,
) -> None:
    """Blocking pairs by the independent checker (part of verification)."""
    if not verify:
        return
    from matcher.verification.stability import blocking_pairs, blocking_summary

    with registry.stage(timings, "stability"):
        pairs = blocking_pairs(instance, assignments, seed=seed)
    tables["blocking_pairs"] = pairs
    extra["stable"]["blocking"] = blocking_summary(pairs)


def _price_of_stability(
    edges: Edges,
    decimals: int,
    stable: dict[str, Any],
    compare: bool | None,
    timings: dict[str, float],
    extra: dict[str, Any],
) -> None:
    from matcher.solvers.lagrange import choose_layout, solve_lagrangian
    from matcher.solvers.mip import solve_mip

    # Regional and employer caps: exact by one flow when they nest, else the MIP, and
    # only when small.
    regional = bool(edges.caps.regional_cap.size)
    arrangement = choose_layout(edges) if regional else None
    nested = arrangement is not None and not arrangement[1]
    small_only = regional and not nested
    if compare is None:
        compare = edges.n_pairs <= (COMPARE_MIP_MAX_PAIRS if small_only else COMPARE_OPTIMAL_MAX_PAIRS)
    if not compare or (small_only and edges.n_pairs > registry.MIP_MAX_PAIRS):
        extra["price_of_stability"] = None
        return
    with registry.stage(timings, "welfare_optimum"):
        if nested:
            sol: Any = solve_lagrangian(edges, score_decimals=decimals, arrangement=arrangement)
        elif regional:
            sol = solve_mip(edges, score_decimals=decimals)
        else:
            sol = registry.welfare_flow(edges, decimals)
    matched = len(sol.chosen)
    total = round(float(edges.score[sol.chosen].sum()), 6)
    extra["price_of_stability"] = {
        "optimal": {"matched": matched, "total_score": total},
        "stable": {"matched": stable["matched"], "total_score": stable["total_score"]},
        "matched_lost": matched - stable["matched"],
        "score_lost": round(total - stable["total_score"], 6),
    }
