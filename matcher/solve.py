"""The library's entry points for solving: method dispatch, timing, verification."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

from matcher.eligibility import build_edges
from matcher.model import Instance
from matcher.report import assignments_frame, build_summary, objective_of, unmatched_frame
from matcher.result import MatchResult
from matcher.solvers.status import Status
from matcher.verify import verify_assignment

log = logging.getLogger("matcher")

#: Methods ``solve`` accepts.
METHODS: Final[tuple[str, ...]] = ("optimal",)


class VerificationError(RuntimeError):
    """A solver returned an assignment the independent verifier rejects (a bug)."""


@contextmanager
def _phase(timings: dict[str, float], name: str) -> Iterator[None]:
    start = time.perf_counter()
    log.info("%s ...", name)
    yield
    timings[name] = time.perf_counter() - start
    log.info("%s done in %.2f s", name, timings[name])


def solve(
    instance: Instance,
    *,
    method: str = "optimal",
    max_pairs: int | None = None,
    seed: int = 0,
    verify: bool = True,
    timings: dict[str, float] | None = None,
) -> MatchResult:
    """Assign candidates to employers' slots.

    Parameters
    ----------
    instance : Instance
        A validated instance (see :func:`matcher.load_instance`).
    method : {"optimal"}
        ``optimal``: lexicographic welfare optimum (most placed, then highest total
        score, then lowest rank sum), exact, by min-cost flow.
    max_pairs : int, optional
        Refuse instances with more eligible pairs (default: what fits in memory).
    seed : int
        Seeds the pair sampling of ``[limits] max_pairs_per_candidate``.
    verify : bool
        Recheck the result with the independent verifier (default True).
    timings : dict, optional
        Earlier phase times (e.g. loading) to report in the summary.

    Returns
    -------
    MatchResult

    Examples
    --------
    >>> import matcher
    >>> inst = matcher.load_instance("instances/tiny")
    >>> res = matcher.solve(inst)
    >>> res.status.value, res.objective.matched, res.objective.total_score
    ('optimal', 4, 330.0)
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    from matcher.solvers.flow import solve_flow

    timings = dict(timings or {})
    with _phase(timings, "eligibility"):
        edges = build_edges(instance, max_pairs=max_pairs, seed=seed)
    with _phase(timings, "solve"):
        sol = solve_flow(edges, score_decimals=instance.policy.objective.score_decimals)
    with _phase(timings, "report"):
        assignments = assignments_frame(edges, sol.chosen)
        unmatched = unmatched_frame(instance, edges, assignments)
        objective = objective_of(assignments)
    extra: dict[str, object] = {}
    if verify and sol.status.success:
        with _phase(timings, "verify"):
            check = verify_assignment(instance, assignments, objective=objective.as_dict())
        if not check.ok:
            raise VerificationError(f"solver {method} produced an invalid assignment:\n{check}")
        extra["verified"] = True
    else:
        extra["verified"] = False
    summary = build_summary(
        instance=instance,
        status=sol.status.value,
        message=sol.message,
        method=method,
        objective=objective,
        edges=edges,
        unmatched=unmatched,
        assignments=assignments,
        timings=timings,
        extra=extra,
    )
    log.info("%s: %s placed of %s candidates", sol.status.value, objective.matched, instance.n_candidates)
    return MatchResult(
        status=Status(sol.status),
        message=sol.message,
        method=method,
        objective=objective,
        assignments=assignments,
        unmatched=unmatched,
        summary=summary,
    )
