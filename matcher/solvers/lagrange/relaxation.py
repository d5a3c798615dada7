"""The Lagrangian relaxation loop and its multipliers: :func:`solve_lagrangian`.

For multipliers ``mu >= 0`` the flow with costs ``-score + sum of mu over the caps a pair
counts in`` is solved exactly by matcher's core, and its value
``L(mu) = max sum (s - mu A) x + mu cap`` is an upper bound on every assignment that
keeps the caps (weak duality), so the best ``L`` seen is a *proven* bound. Each flow
solution is repaired (:mod:`.repair`) and the best repaired assignment is kept. The
multipliers follow the projected subgradient with Polyak steps toward the best repaired
value. It stops at the gap target, the time limit, converged steps or a caller's
iteration limit, and says which (``stats["stopped"]``). When no binding cap is left outside
the tree, one min-cost flow with the foundation's lexicographic costs is the exact
optimum (status ``optimal``).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from matcher.eligibility.constraints import FloorUnit
from matcher.eligibility.edges import Edges
from matcher.solvers.lagrange.constants import (
    COST_SCALE,
    DEFLECTION,
    F64,
    I64,
    LOG_EVERY_S,
    PLACEMENT_WORTH,
    SOFT_START,
    STALL_HALVINGS,
)
from matcher.solvers.lagrange.floors import _cap_prices, _floor_prices, _floors_in_flow
from matcher.solvers.lagrange.layout import (
    Arrangement,
    _binding,
    _regional_intakes,
    _sector_layout,
    choose_layout,
)
from matcher.solvers.lagrange.repair import _repair
from matcher.solvers.lagrange.rows import _Rows
from matcher.solvers.lagrange.solution import LagrangeSolution
from matcher.solvers.lagrange.tree import _Tree
from matcher.status import Status

log = logging.getLogger("matcher")


def solve_lagrangian(
    edges: Edges,
    *,
    score_decimals: int = 2,
    time_limit_s: float = 60.0,
    gap_target: float = 0.001,
    max_iterations: int | None = None,
    objective: str = "lexicographic",
    arrangement: Arrangement | None = None,
    floors: list[FloorUnit] | None = None,
) -> LagrangeSolution:
    """Best assignment under every cap (regional ones included) and floor, with a proven bound.

    Parameters
    ----------
    edges : Edges
        Eligible pairs and caps, regional caps in ``edges.caps.regional_cap``.
    score_decimals : int
        Score scale: scores become integers in units of ``10**-score_decimals``, which
        must hold every score exactly (:func:`matcher.eligibility.scale.score_scale`).
    time_limit_s : float
        Stop before an iteration that would end past this many seconds, judged by the
        last one's duration (the first iteration always runs).
    gap_target : float
        Stop once ``(bound - value) / bound`` is at most this.
    max_iterations : int, optional
        Stop after this many iterations (default: no limit; the time limit, the gap
        target or converged steps end the loop). The solution's ``stats["stopped"]``
        and message say which ended it.
    objective : {"lexicographic", "score"}
        For the exact case (every binding cap nests, no floors): the foundation's
        objective (most placed, then score, then rank), or the total score alone (what
        the relaxation bounds; benchmarks compare on it). The relaxation itself always
        bounds the score.
    floors : list of FloorUnit, optional
        Floors (:func:`matcher.eligibility.constraints.floor_units`): a soft floor on one slot is kept
        exactly in the flow (a bonus leaf), the others are relaxed. The objective is
        then the total score minus ``penalty * PLACEMENT_WORTH`` points per placement a
        soft floor misses; hard floors must be met (status ``time_limit`` with no
        assignment if no repaired solution met them in time).
    """
    if objective not in ("lexicographic", "score"):
        raise ValueError(f"objective must be one of lexicographic, score, got {objective!r}")
    if max_iterations is not None and max_iterations < 1:
        raise ValueError(f"max_iterations must be at least 1, got {max_iterations}")
    return _solve_lagrangian_impl(
        edges, score_decimals, time_limit_s, gap_target, max_iterations, objective, arrangement, floors
    )


def _solve_lagrangian_impl(
    edges: Edges,
    score_decimals: int,
    time_limit_s: float,
    gap_target: float,
    max_iterations: int | None,
    objective: str,
    arrangement: Arrangement | None,
    floors: list[FloorUnit] | None,
) -> LagrangeSolution:
    """The body of :func:`solve_lagrangian`, its arguments checked: the exact flow when every
    binding cap nests, else the subgradient loop with a repair at each iteration."""
    t0 = time.perf_counter()
    n_edges = edges.n_pairs
    unit = 10**score_decimals
    score = np.rint(edges.score * unit).astype(np.int64)
    floors = [u for u in floors or [] if u.required > 0]
    if floors:
        # The floors change which layout needs fewest multipliers (choose_layout).
        layout, relaxed = choose_layout(edges, floors)
    else:
        layout, relaxed = arrangement if arrangement is not None else choose_layout(edges)
    tree = _Tree(edges, layout)
    cands = edges.candidates_with_pairs()
    all_pairs = np.arange(n_edges, dtype=np.int64)
    if not relaxed and not floors:
        # Every cap that can bind is in the tree: one exact flow, the foundation's objective.
        if objective == "score":
            chosen = np.sort(tree.solve(all_pairs, -score, cands, tree.tree_caps))
        else:
            # Most placed, then score, then rank: the core solves the levels one by one.
            levels = [-score, edges.rank.astype(np.int64)]
            chosen = np.sort(tree.solve(all_pairs, levels, cands, tree.tree_caps, max_flow_first=True))
        value = float(score[chosen].sum()) / unit
        msg = f"optimal ({objective}): every binding cap nests ({layout.name}), one min-cost flow"
        stats = {"iterations": 1, "seconds": time.perf_counter() - t0, "layout": layout.name}
        return LagrangeSolution(Status.OPTIMAL, msg, chosen, value, value, 0.0, stats)
    members = [ids for ids, _ in relaxed]
    rcap = np.array([c for _, c in relaxed], dtype=np.int64)
    worth = PLACEMENT_WORTH * unit
    # Soft floors on one slot are kept exactly in the flow (a bonus leaf beside the slot
    # pays the floor's bonus for the placements it asks for, and no more); only the
    # others get multipliers.
    in_flow, btree, bsrc, bonus, owed = _floors_in_flow(tree, floors, worth, layout.floor_index)
    # Soft floors over whole intakes below one node: a bonus arc beside that node's up-arc.
    group_node = tree.n_slot + len(edges.caps.intake_cap) + layout.floor_node
    group_need = np.array([floors[k].required for k in layout.floor_index], dtype=np.int64)
    group_worth = np.array([float(floors[k].penalty * worth) for k in layout.floor_index])
    in_flow[layout.floor_index] = True
    owed += float(group_worth @ group_need)
    arcs_at = group_node + (2 * (btree[2] - tree.n_slot) if btree is not None else 0)  # bonus_tree numbering
    group_arcs = (arcs_at, group_need, -np.rint(group_worth * COST_SCALE).astype(np.int64))
    rows = _Rows.build(relaxed, floors, n_edges, worth, in_flow)
    ext_pairs = np.arange(n_edges + bsrc.size, dtype=np.int64)
    bonus_cost = np.rint(bonus * COST_SCALE).astype(np.int64)
    # Each relaxed flow starts from the last one's flow and potentials (only costs move).
    warm: dict[str, Any] = {}
    # Soft floors start at a share of their worth, caps and hard floors at 0.
    soft = np.isfinite(rows.upper)
    mu = np.zeros(rows.rhs.size, dtype=np.float64)
    mu[soft] = np.round(rows.upper[soft] * SOFT_START)
    # The repair's flows keep the sector caps in their tree even when the relaxed flow
    # does not (the floors over several slots are then in it): otherwise a refill could
    # overfill a sector with room left and lose the placements above its cap. The regional
    # caps are then enforced and closed like relaxed ones.
    fill_tree, fill_members, fill_rcap = tree, members, rcap
    if layout.floor_node.size and layout.sector_caps_relaxed:
        sector = _sector_layout(edges, _regional_intakes(edges))
        fill_tree = _Tree(edges, sector)
        regional = _binding(edges, sector.relaxed)
        fill_members = members + [ids for ids, _ in regional]
        fill_rcap = np.concatenate([rcap, np.array([c for _, c in regional], dtype=np.int64)])
        if rows.n_caps:
            # Sector caps relaxed to keep floors in the flow: start them at their shadow
            # prices in one flow that keeps them (and relaxes the floors), not at 0.
            mu[: rows.n_caps] = _cap_prices(fill_tree, edges, members, score, rows, cands)
    bound = float("inf")
    best: I64 | None = None
    best_value = -float("inf")
    theta, stall = 1.0, 0
    history: list[dict[str, float]] = []
    best_mu = mu
    best_x = np.zeros(0, dtype=np.int64)
    prev: F64 | None = None
    logged = t0
    it = 0
    stopped = ""
    while not stopped:
        it += 1
        started = time.perf_counter()
        penalty = rows.penalty(mu)
        costs = np.rint((-score + penalty) * COST_SCALE).astype(np.int64)
        kept = -owed  # the floors kept in the flow: bonus earned less bonus owed
        if btree is None:
            x = tree.solve(all_pairs, costs, cands, tree.tree_caps, state=warm, bonus=group_arcs)
        else:
            ext_costs = np.concatenate([costs, costs[bsrc] - bonus_cost])
            xe = tree.solve(ext_pairs, ext_costs, cands, btree[1], tree=btree, state=warm, bonus=group_arcs)
            copy = xe >= n_edges
            kept += float(bonus[xe[copy] - n_edges].sum())
            x = np.where(copy, bsrc[np.maximum(xe - n_edges, 0)], xe)
        if group_node.size:
            # The flow fills each such floor's bonus arc first (it pays), up to the floor.
            kept += float(group_worth @ np.minimum(tree.loads(x)[group_node], group_need))
        usage = rows.usage(x)
        lag = float(score[x].sum() - penalty[x].sum()) + float(mu @ rows.rhs) + kept
        if lag < bound:
            bound, stall, best_mu, best_x = lag, 0, mu, x
        else:
            stall += 1
        # Repair: keep every cap, refill the room left, then fill the floors still short.
        worth_now = score - penalty + rows.kept_bonus(usage)
        y = _repair(fill_tree, x, score, worth_now, fill_members, fill_rcap, rows, cands)
        hard_missing, value = rows.merit(y, score)
        if hard_missing == 0 and value > best_value:
            best, best_value = y, value
        gap = (bound - best_value) / abs(bound) if best is not None and bound != 0 else 1.0
        history.append({"iteration": it, "lagrangian": lag, "bound": bound, "value": value, "gap": gap})
        # Stop at the gap target, or when one more iteration as long as this one would end
        # past the time limit (at national scale an iteration takes minutes).
        now = time.perf_counter()
        if gap <= gap_target:
            stopped = f"gap target {gap_target:.2%} reached"
        elif now - t0 + (now - started) > time_limit_s:
            stopped = f"time limit {time_limit_s:.1f} s"
        elif max_iterations is not None and it >= max_iterations:
            stopped = f"iteration limit {max_iterations}"
        else:
            # Projected subgradient: a multiplier at a bound of its range only moves inward.
            g = (rows.sign * usage - rows.rhs).astype(np.float64)
            g[((mu <= 0) & (g < 0)) | ((mu >= rows.upper) & (g > 0))] = 0.0
            if float(g @ g) == 0:
                # The relaxed solution keeps every row: its multipliers are optimal.
                stopped = "the relaxed solution keeps every cap and floor"
            elif theta < 0.5**STALL_HALVINGS:
                stopped = f"converged (the step factor halved {STALL_HALVINGS} times)"
        if stopped or it == 1 or time.perf_counter() - logged >= LOG_EVERY_S:
            logged = time.perf_counter()
            best_txt = f"{best_value / unit:,.2f}" if best is not None else "none yet"
            log.info(
                "lagrangian %d: bound %s, best %s, gap %.4f%%",
                it,
                f"{bound / unit:,.2f}",
                best_txt,
                100 * gap,
            )
        if stopped:
            break
        if prev is not None and float(prev @ prev) > 0:
            # Deflected direction (Camerini, Fratta and Maffioli): damps the zig-zag of plain
            # subgradient steps (floors benchmark, 10k, 20 s: bound 0.22% above the best
            # value instead of 0.38%).
            g = g + max(0.0, -DEFLECTION * float(g @ prev) / float(prev @ prev)) * prev
        prev = g
        norm = float(g @ g)
        if stall >= 3:
            theta, stall = theta / 2, 0
        # Polyak target: the best feasible value; until one is found, the repaired value
        # with each hard-floor shortfall priced like a soft one (steps of the right size).
        target = best_value if best is not None else value + PLACEMENT_WORTH * unit * hard_missing
        step = theta * max(lag - target, 1.0) / norm
        # Multipliers on the cost grid, so that the costs are exact and L(mu) a proven bound.
        mu = np.clip(np.round((mu + step * g) * COST_SCALE) / COST_SCALE, 0.0, rows.upper)
    stats = {
        "iterations": it, "seconds": time.perf_counter() - t0, "layout": layout.name,
        "stopped": stopped, "warm_flows": int(warm.get("warm_solves", 0)),
        "history": history, "caps": len(members), "floors": len(floors),
        "multipliers": dict(zip(rows.labels, (best_mu / unit).tolist(), strict=True)),
    }  # fmt: skip
    if floors:
        stats["floor_prices"] = _floor_prices(rows, best_mu / unit, unit)
    objective_name = "total score" + (" minus soft-floor penalties" if bool(soft.any()) else "")
    what = f"{len(members)} caps" + (f" and {len(floors)} floors" if floors else "")
    if best is None:
        short = rows.shortfall(y)
        missing = [
            f"{floors[k].label} ({int(short[k])} short)" for k in np.flatnonzero(rows.hard & (short > 0))
        ]
        msg = (
            f"no assignment meeting every hard floor found in {it} iteration{'s' * (it != 1)} (Lagrangian "
            f"relaxation of {what}; stopped: {stopped}); still short: {'; '.join(missing[:5])}"
        )
        empty = np.zeros(0, dtype=np.int64)
        return LagrangeSolution(
            Status.TIME_LIMIT, msg, empty, 0.0, bound / unit, 1.0, stats, objective_name, np.sort(best_x)
        )
    gap = max(0.0, (bound - best_value) / abs(bound)) if bound != 0 else 0.0
    # Optimal for the total score when the gap closes, but not proven for the foundation's
    # lexicographic objective (most placed first): always reported as feasible.
    msg = (
        f"{objective_name} {best_value / unit:,.2f} within {gap:.3%} of the bound {bound / unit:,.2f} "
        f"(Lagrangian relaxation of {what}, {layout.name}, {it} iteration{'s' * (it != 1)}; stopped: {stopped})"
    )
    return LagrangeSolution(
        Status.FEASIBLE, msg, np.sort(best), best_value / unit, bound / unit, gap, stats, objective_name,
        np.sort(best_x),
    )  # fmt: skip
