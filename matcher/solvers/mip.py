"""Exact welfare optimum by a MIP solver (HiGHS, through OR-Tools' model_builder).

For regional caps and floors on small and medium instances. The model is CP-SAT's (one
binary per eligible pair, one row per capacity or cap, a shortfall column per soft
floor), but assembled with numpy as one sparse matrix and solved by branch and bound on
its linear relaxation, which for these transportation-like models is nearly integral.
Measured against CP-SAT on the same model (``benchmarks/policy.py``, total-score
objective, one thread, 60 s): 2,000 candidates with floors, HiGHS proves the optimum in
1.4-1.9 s and SCIP in 2.2 s, where CP-SAT ends 0.16% short of it; 10,000 candidates (about
180k pairs), HiGHS proves it in 43-65 s, SCIP in 41 s with floors but not at all with
prefecture and sector caps, and CP-SAT finds no assignment. Hence HiGHS, run without
presolve and in its own process (:data:`PARAMETERS`, :func:`solve_rows`): then HiGHS
proves the total-score optimum of the same 10,000-candidate instances in 12-13 s, and the
lexicographic objective of this backend takes 16-31 s (``benchmarks/quality.py``,
2026-12-07). The Lagrangian backend remains the path beyond this size, and hands this
module its neighbourhoods (:func:`solve_neighbourhood`) and, within the size, the whole
instance on its own objective (``objective="score"``).

The lexicographic objective (most placed less soft-floor penalties, then most total
score, then least rank sum) is one weighted objective while its values fit float64
exactly (below 2**51: up to 2,000-3,000 candidates); beyond, the first two levels are
solved exactly and the rank tie-break is skipped (status ``feasible``, as the flow
backends do when rank weights would overflow; see :func:`_levels`). Every objective is
integer, and the solver is asked for an absolute gap below one, so "optimal" is exact.
(Starting a level from the previous level's assignment would help, but solution hints
crash HiGHS through model_builder in ortools 9.15: a segmentation fault.)
"""

from __future__ import annotations

import pickle
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from matcher.eligibility.constraints import FloorUnit
from matcher.eligibility.edges import Edges
from matcher.solvers.lagrange.constants import PLACEMENT_WORTH
from matcher.solvers.registry import (
    MIP_MAX_PAIRS,
    Bound,
    SolveRequest,
    SolverResult,
    SolverStats,
    floors_of,
    stage,
)
from matcher.status import Status, translate

#: Largest instance (eligible pairs) this backend accepts.
MAX_PAIRS: Final[int] = MIP_MAX_PAIRS
#: The MIP solver (a model_builder solver name).
SOLVER: Final[str] = "highs"
#: Objective values stay below this, so that float64 holds them exactly and an absolute
#: gap below one proves the integer optimum.
EXACT: Final[float] = 2.0**51
#: An infeasible model's conflict is searched among at most this many hard floors.
CONFLICT_MAX_FLOORS: Final[int] = 30
#: Exact for integer objectives, one thread (the machine has one usable core), no presolve:
#: on these transportation-like models HiGHS's presolve removes little and its probing
#: takes long (10,000 candidates with floors, 158,479 pairs: optimal in 10.8 s without
#: presolve; with it, no assignment and 61.9 s elapsed for a time limit of 15 s).
PARAMETERS: Final[str] = (
    "mip_rel_gap = 0\nmip_abs_gap = 0.5\nthreads = 1\noutput_flag = false\npresolve = off"
)

I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class MipSolution:
    """Status, chosen edges, and (when a level was not proven) its bound and gap.

    ``bound``: ``{"level", "objective", "bound", "gap"}`` of the first unproven level,
    or None when every level is optimal. ``conflict``: for an infeasible model, hard
    floors that together cannot be met (a minimal set).
    """

    status: Status
    message: str
    chosen: I64
    bound: dict[str, Any] | None = None
    stats: dict[str, float] = field(default_factory=dict)
    conflict: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class CapRows:
    """Every cap and floor of an instance as rows ``lower <= A x <= upper`` over the pairs.

    Columns ``0..n_pairs-1`` are the pairs; one more column per soft floor in ``soft``
    (its shortfall, from 0 to the floor's requirement).
    """

    matrix: sp.csr_matrix
    lower: npt.NDArray[np.float64]
    upper: npt.NDArray[np.float64]
    soft: list[FloorUnit]
    n_pairs: int

    @property
    def n_cols(self) -> int:
        return self.n_pairs + len(self.soft)


def cap_rows(edges: Edges, floors: list[FloorUnit]) -> CapRows:
    """The rows of every capacity, cap and floor (vectorized; no per-pair Python)."""
    caps = edges.caps
    n = edges.n_pairs
    slot, intake, nat, tot = edges.cap_path()
    capacity = edges.slots.get_column("capacity").to_numpy().astype(np.int64)
    rows: list[I64] = []
    cols: list[I64] = []
    lower: list[npt.NDArray[np.float64]] = []
    upper: list[npt.NDArray[np.float64]] = []
    count = 0

    def add(row: I64, col: I64, lo: npt.ArrayLike, hi: npt.ArrayLike) -> None:
        """Rows ``count + row`` (row: 0..k-1 per entry) over columns ``col``."""
        nonlocal count
        lo_a, hi_a = np.atleast_1d(np.asarray(lo, np.float64)), np.atleast_1d(np.asarray(hi, np.float64))
        rows.append(count + row)
        cols.append(col)
        lower.append(lo_a)
        upper.append(hi_a)
        count += lo_a.size

    every = np.arange(n, dtype=np.int64)
    # Each candidate placed at most once; slot capacities; intake, national and total caps.
    for key, cap in (
        (edges.cand.astype(np.int64), np.ones(len(edges.candidate_ids), np.int64)),
        (slot, capacity),
        (intake, caps.intake_cap),
        (nat, caps.national_cap),
        (tot, caps.total_cap),
    ):
        add(key, every, np.full(cap.size, -np.inf), np.where(cap >= 0, cap, n))
    # Regional and employer caps: every pair whose intake node the cap counts.
    if caps.intake_regional.size:
        ptr, pair = edges.regional_pairs()
        add(
            np.repeat(np.arange(caps.regional_cap.size, dtype=np.int64), np.diff(ptr)),
            pair,
            np.full(caps.regional_cap.size, -np.inf),
            caps.regional_cap,
        )
    # Floors: hard ones as rows >= the requirement; a soft one also counts its shortfall.
    soft = [u for u in floors if u.penalty > 0 and u.required > 0]
    for u in floors:
        if u.penalty == 0:
            add(np.zeros(u.edges.size, np.int64), u.edges.astype(np.int64), u.required, np.inf)
    for j, u in enumerate(soft):
        ids = np.append(u.edges.astype(np.int64), n + j)
        add(np.zeros(ids.size, np.int64), ids, u.required, np.inf)
    row = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    col = np.concatenate(cols) if cols else np.zeros(0, np.int64)
    matrix = sp.csr_matrix((np.ones(row.size), (row, col)), shape=(count, n + len(soft)))
    empty = np.zeros(0, np.float64)
    return CapRows(
        matrix,
        np.concatenate(lower) if lower else empty,
        np.concatenate(upper) if upper else empty,
        soft,
        n,
    )


#: A solve that ends this close to its deadline without an assignment ran out of time,
#: whatever status the solver reports.
TIME_SLACK_S = 0.05
#: HiGHS is asked to stop this long before the deadline, so that it returns its best
#: assignment itself; the process it runs in is ended at the deadline plus the grace
#: below. HiGHS does not look at its clock while it solves the root LP (10,000
#: candidates with floors: 9.7 s for a 3 s limit), hence the separate process.
HIGHS_EARLY_S = 0.5
#: The solver process is ended this long after the deadline if it has not answered.
KILL_GRACE_S = 0.5
#: The script the solver process runs.
CHILD = Path(__file__).with_name("highs_child.py")
#: Models of at most this many columns are solved in this process: their root LP takes
#: well under a second (2,000 candidates with floors, 25,000 pairs: the whole solve 1.1 s),
#: so the deadline holds without a process, whose start costs about half a second.
IN_PROCESS_MAX_COLS = 30_000

RowsOutcome = tuple[Status, str, "npt.NDArray[np.float64] | None", float, float]


def solve_rows(rows: CapRows, objective: npt.NDArray[np.float64], *, time_limit_s: float) -> RowsOutcome:
    """One MIP solve maximizing ``objective`` over ``rows`` (extra rows included); (status,
    solver status, values, objective, bound). Values are None when no solution was found.

    Above :data:`IN_PROCESS_MAX_COLS` columns HiGHS runs in its own process
    (:mod:`matcher.solvers.highs_child`), asked to stop ``HIGHS_EARLY_S`` before the
    deadline and ended if it has not answered ``KILL_GRACE_S`` after it: status
    ``time_limit``, solver status ``DEADLINE``. A crash of the solver there comes back as
    status ``error`` (``CRASHED``), not as the end of the caller's process.
    """
    m = rows.matrix.tocsr()
    task = {
        "matrix": (m.indptr, m.indices, m.data, m.shape),
        "lower": rows.lower,
        "upper": rows.upper,
        "col_upper": np.concatenate([np.ones(rows.n_pairs), [float(u.required) for u in rows.soft]]),
        "objective": np.asarray(objective, dtype=np.float64),
        "time_limit": max(0.01, time_limit_s),
        "parameters": PARAMETERS,
    }
    if rows.n_cols <= IN_PROCESS_MAX_COLS:
        from matcher.solvers.highs_child import solve as solve_here

        return _outcome(*solve_here(task))
    task["time_limit"] = max(0.01, time_limit_s - HIGHS_EARLY_S)  # it answers before the kill
    proc = subprocess.Popen(
        [sys.executable, str(CHILD)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        out, _ = proc.communicate(pickle.dumps(task, protocol=pickle.HIGHEST_PROTOCOL),
                                  timeout=max(0.0, time_limit_s) + KILL_GRACE_S)  # fmt: skip
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return _no_answer("DEADLINE")
    finally:
        if proc.poll() is None:  # interrupted (Ctrl-C): the solver does not outlive its caller
            proc.kill()
            proc.wait()
    if proc.returncode != 0 or not out:
        return _no_answer("CRASHED")
    return _outcome(*pickle.loads(out))


def _outcome(raw: str, values: npt.NDArray[np.float64] | None, value: float, bound: float) -> RowsOutcome:
    """A HiGHS answer as (status, solver status, values, objective, bound)."""
    status = translate("ortools_model_builder", raw)
    if not status.success or values is None:
        return status, raw, None, float("nan"), float("nan")
    return status, raw, values, value, bound


def _no_answer(raw: str) -> RowsOutcome:
    """The outcome of a solver process that did not answer (``DEADLINE`` or ``CRASHED``)."""
    return translate("mip_process", raw), raw, None, float("nan"), float("nan")


def _levels(
    edges: Edges, rows: CapRows, score: npt.NDArray[np.float64]
) -> list[tuple[str, npt.NDArray[np.float64], float]]:
    """The lexicographic objective as (name, column weights, unit) solves, each maximized.

    One weighted objective when its values stay below :data:`EXACT` (measured at 2,000
    candidates with floors: 1.9 s, against 38 s for three solves, where each kept level
    is a dense row that makes the next relaxation much harder); else the first two levels
    weighted, or solved one after the other, and no rank level: with the first two kept
    as a dense row with large weights, HiGHS neither solved the rank level nor kept its
    time limit (4,000 candidates: 77 s against a 25 s limit, then an error). The weights
    are exact: the score weight exceeds the rank sums' range, the first level's exceeds
    the score's. ``unit`` divides a value back into the first part's units (for a
    time-limit report).
    """
    n, pad = edges.n_pairs, np.zeros(len(rows.soft))
    first = "placed count" + (" minus floor penalties" if rows.soft else "")
    placed = np.concatenate([np.ones(n), [-float(u.penalty) for u in rows.soft]])
    total = np.concatenate([score, pad])
    ranks = np.concatenate([edges.rank.astype(np.float64), pad])
    starts = np.flatnonzero(np.diff(edges.cand, prepend=-1))  # pairs are sorted by candidate
    w_rank = float(np.maximum.reduceat(ranks[:n], starts).sum()) + 1  # above any rank-sum range
    w_first = float(np.maximum.reduceat(score, starts).sum()) + 1  # above any score range
    reach = starts.size + sum(u.penalty * u.required for u in rows.soft) + 1
    if w_rank * w_first * reach < EXACT:
        name = f"{first}, total score and rank sum (one weighted objective)"
        return [(name, w_rank * (w_first * placed + total) - ranks, w_rank * w_first)]
    if w_first * reach < EXACT:
        return [(f"{first} and total score (one weighted objective)", w_first * placed + total, w_first)]
    return [(first, placed, 1.0), ("total score", total, 1.0)]


def _conflict(edges: Edges, floors: list[FloorUnit], deadline: float) -> list[str]:
    """A minimal set of hard floors that cannot all be met (a deletion filter: drop each
    floor whose removal leaves the rest infeasible), sorted; [] when there are too many
    hard floors, the caps alone are infeasible, or time runs out."""
    hard = [u for u in floors if u.penalty == 0 and u.required > 0]
    if not hard or len(hard) > CONFLICT_MAX_FLOORS:
        return []

    def infeasible(kept: list[FloorUnit]) -> bool | None:
        rows = cap_rows(edges, kept)
        status = solve_rows(rows, np.zeros(rows.n_cols), time_limit_s=deadline - time.monotonic())[0]
        return None if not status.success and status is not Status.INFEASIBLE else status is Status.INFEASIBLE

    if infeasible([]) is not False:
        return []
    kept = list(hard)
    for u in hard:
        trial = [v for v in kept if v is not u]
        verdict = infeasible(trial)
        if verdict is None:
            return []
        if verdict:
            kept = trial
    return sorted(u.label for u in kept)


def solve_mip(
    edges: Edges,
    *,
    score_decimals: int = 2,
    time_limit_s: float = 60.0,
    floors: list[FloorUnit] | None = None,
    objective: str = "lexicographic",
) -> MipSolution:
    """Lexicographic welfare optimum under every cap, regional caps and floors included.

    Parameters
    ----------
    edges : Edges
        Eligible pairs and caps (regional caps in ``edges.caps``).
    score_decimals : int, default 2
        Score scale: scores become integers in units of ``10**-score_decimals``, which
        must hold every score exactly (:func:`matcher.eligibility.scale.score_scale`).
    time_limit_s : float, default 60
        Budget of the whole solve (all levels). When it runs out, the best assignment so
        far comes back ``feasible`` with the unproven level's bound.
    floors : list of FloorUnit, optional
        Hard floors are rows; a soft one subtracts ``penalty`` per missing placement from
        the first level.
    objective : {"lexicographic", "score"}
        The foundation's objective (most placed less soft-floor penalties, then total
        score, then least rank sum), or the total score less ``penalty * PLACEMENT_WORTH``
        points per placement a soft floor misses: the Lagrangian backend's objective,
        which it solves with this one when the instance is within size. With
        ``"score"``, ``optimal`` means optimal for that objective alone.

    Returns
    -------
    MipSolution
        ``optimal``, ``feasible`` (time limit, with ``bound``), ``infeasible`` (no
        assignment keeps every cap and hard floor) or ``time_limit`` (none found).

    Raises
    ------
    ValueError
        If the instance has more than :data:`MAX_PAIRS` pairs.

    Examples
    --------
    >>> import matcher
    >>> from matcher.eligibility.edges import build_edges
    >>> sol = solve_mip(build_edges(matcher.load_instance("instances/tiny")))
    >>> sol.status.value, len(sol.chosen)
    ('optimal', 4)
    """
    n = edges.n_pairs
    if n > MAX_PAIRS:
        raise ValueError(f"the MIP backend takes at most {MAX_PAIRS:,} eligible pairs, got {n:,}")
    if objective not in ("lexicographic", "score"):
        raise ValueError(f"objective must be one of lexicographic, score, got {objective!r}")
    empty = np.zeros(0, dtype=np.int64)
    if n == 0:
        return MipSolution(Status.OPTIMAL, "no eligible pair: nothing to place", empty)
    t0 = time.perf_counter()
    deadline = time.monotonic() + time_limit_s
    rows = cap_rows(edges, list(floors or []))
    score = np.rint(edges.score * 10**score_decimals)
    if objective == "score":
        worth = [-float(u.penalty * PLACEMENT_WORTH * 10**score_decimals) for u in rows.soft]
        name = "total score" + (" minus soft-floor penalties" if rows.soft else "")
        levels = [(name, np.concatenate([score, worth]), float(10**score_decimals))]
    else:
        levels = _levels(edges, rows, score)
    stats: dict[str, float] = {"build_s": time.perf_counter() - t0, "levels": float(len(levels))}
    values: npt.NDArray[np.float64] | None = None
    for level, (name, weights, unit) in enumerate(levels):
        start = time.perf_counter()
        status, raw, found, value, bound = solve_rows(rows, weights, time_limit_s=deadline - time.monotonic())
        stats[f"level{level}_s"] = time.perf_counter() - start
        if status is Status.INFEASIBLE:
            conflict = _conflict(edges, list(floors or []), deadline)
            why = (
                "these hard floors cannot all be met under the caps: " + "; ".join(conflict)
                if conflict
                else "the caps and hard floors admit no assignment"
            )
            return MipSolution(Status.INFEASIBLE, why, empty, stats=stats, conflict=conflict)
        if found is None and values is None:
            # HiGHS stopped by its time limit may report UNKNOWN_STATUS: the clock decides.
            out_of_time = status is Status.TIME_LIMIT or time.monotonic() >= deadline - TIME_SLACK_S
            why = (
                f"no assignment found within the time limit of {time_limit_s:g} s ({SOLVER}: {raw})"
                if out_of_time
                else f"{SOLVER} returned {raw}"
            )
            return MipSolution(Status.TIME_LIMIT if out_of_time else status, why, empty, stats=stats)
        values = found if found is not None else values
        assert values is not None
        chosen = np.flatnonzero(values[:n] > 0.5).astype(np.int64)
        if status is Status.ERROR:
            # The solver failed on a later level: the earlier level's assignment, said so.
            why = (
                f"{SOLVER} failed on level {level} of {len(levels)} ({raw}); optimal up to level {level - 1}"
            )
            return MipSolution(Status.FEASIBLE, why, chosen, stats=stats)
        if status is not Status.OPTIMAL:
            # The time limit struck: the best assignment so far, optimal up to this level.
            if found is None:  # nothing new on this level: the previous level's assignment
                proven = None
            else:  # reported in the units of the level's first part
                value, bound = value / unit, bound / unit
                gap = abs(bound - value) / max(1.0, abs(bound))
                proven = {"level": name, "objective": value, "bound": bound, "gap": round(gap, 6)}
            within = "" if proven is None else f"; {name} within {proven['gap']:.2%} of its bound"
            return MipSolution(
                Status.FEASIBLE,
                f"time limit: optimal up to level {level} of {len(levels)}{within}",
                chosen,
                bound=proven,
                stats=stats,
            )
        # Keep this level (its value is an integer) while the next one is optimized.
        target = round(value)
        keep = sp.csr_matrix(weights.reshape(1, -1))
        rows = CapRows(
            sp.vstack([rows.matrix, keep], format="csr"),
            np.append(rows.lower, target),
            np.append(rows.upper, np.inf),
            rows.soft,
            n,
        )
    assert values is not None
    chosen = np.flatnonzero(values[:n] > 0.5).astype(np.int64)
    status, message = Status.OPTIMAL, f"optimal ({SOLVER})"
    if objective == "score":
        message = f"optimal for the {levels[0][0]} ({SOLVER})"
    elif "rank sum" not in levels[-1][0]:
        status = Status.FEASIBLE
        message = (
            f"optimal for placed count and total score ({SOLVER}); the rank tie-break was skipped "
            "because the three levels do not fit one exact objective at this size"
        )
    return MipSolution(status, message, chosen, stats=stats)


def solve_neighbourhood(
    edges: Edges,
    fixed: I64,
    free: I64,
    *,
    score_decimals: int = 2,
    time_limit_s: float = 60.0,
    floors: list[FloorUnit] | None = None,
) -> MipSolution:
    """The best total score (less soft-floor penalties, as ``objective="score"``) with the
    pairs ``fixed`` placed, any of the pairs ``free`` and no other pair.

    The fixed pairs' use of every row is taken off its bounds, and only the free pairs'
    columns (and the soft floors' shortfalls) reach the solver, so its size is that of
    the neighbourhood, not of the instance: how the Lagrangian backend improves its
    assignment beyond the MIP's size (relaxation induced neighbourhood search: the pairs
    where the relaxed and the repaired assignments disagree are set free). ``chosen`` holds the fixed pairs too. ``infeasible`` means no choice among
    the free pairs keeps every cap and hard floor with the fixed ones.
    """
    floors = list(floors or [])
    rows = cap_rows(edges, floors)
    n = edges.n_pairs
    soft_cols = n + np.arange(len(rows.soft), dtype=np.int64)
    matrix = rows.matrix.tocsc()
    used = np.asarray(matrix[:, fixed].sum(axis=1)).ravel()
    lower, upper = rows.lower - used, rows.upper - used
    sub = matrix[:, np.concatenate([free, soft_cols])].tocsr()
    active = np.diff(sub.indptr) > 0
    empty = np.zeros(0, dtype=np.int64)
    if bool(((lower[~active] > 0) | (upper[~active] < 0)).any()):
        return MipSolution(Status.INFEASIBLE, "the fixed pairs break a cap or floor", empty)
    part = CapRows(sub[active], lower[active], upper[active], rows.soft, int(free.size))
    unit = 10**score_decimals
    weights = np.concatenate(
        [np.rint(edges.score[free] * unit), [-float(u.penalty * PLACEMENT_WORTH * unit) for u in rows.soft]]
    )
    start = time.perf_counter()
    status, raw, values, _, _ = solve_rows(part, weights, time_limit_s=time_limit_s)
    stats = {
        "pairs": float(free.size),
        "rows": float(part.lower.size),
        "solve_s": time.perf_counter() - start,
    }
    if values is None:
        return MipSolution(status, f"{SOLVER}: {raw}", empty, stats=stats)
    chosen = np.sort(np.concatenate([fixed, free[values[: free.size] > 0.5]])).astype(np.int64)
    return MipSolution(status, f"{status.value} in the neighbourhood ({SOLVER})", chosen, stats=stats)


def solve_request(request: SolveRequest) -> SolverResult:
    """The registry's ``mip`` backend: the policy's floors (a hard floor that its eligible
    pairs or candidates cannot supply is infeasible before any solve), then
    :func:`solve_mip` within the request's time limit."""
    times: dict[str, float] = {}
    floors, refused = floors_of(request, times, supply=True)
    if refused is not None:
        return refused
    with stage(times, "solve"):
        mp = solve_mip(
            request.edges, score_decimals=request.decimals, time_limit_s=request.time_limit, floors=floors
        )
    return SolverResult(
        mp.status,
        mp.message,
        mp.chosen,
        bound=Bound(**mp.bound) if mp.bound is not None else None,
        conflict=mp.conflict or None,
        stats=SolverStats(times=times, raw=dict(mp.stats)),
    )
