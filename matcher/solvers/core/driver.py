"""The welfare problem solved exactly by levels: the body of :func:`matcher.solvers.core.solve_core`."""

from __future__ import annotations

import logging
import time

import numpy as np

from matcher.eligibility.edges import Edges
from matcher.solvers.core.certificate import _source_side, path_cost_bound
from matcher.solvers.core.constants import (
    CUT_SHIFT,
    I64,
    SCALE_FACTOR,
    W_PUSHES,
    W_REFINE_SCANS,
    W_REFINED_PHASES,
    W_RELABEL_SCANS,
    W_RELABELS,
    W_SCAN_LIMIT,
    W_UPDATE_EPS,
    W_UPDATE_EVERY,
    W_UPDATE_SCANS,
    W_UPDATES,
    WORK_SLOTS,
    CoreParams,
)
from matcher.solvers.core.csr import (
    _arc_order,
    _build,
    _chosen,
    _Network,
    _node_map,
    _reset,
    _set_pair_costs,
    _to_inner,
)
from matcher.solvers.core.levels import _exact_level, _exact_potentials, _Level, _tie_break_level
from matcher.solvers.core.maxflow import _max_flow
from matcher.solvers.core.solution import CoreSolution, _finish
from matcher.solvers.core.translate import _translated
from matcher.solvers.core.warm import _load_flow, _rank_prices, _score_prices, _warm_solve
from matcher.solvers.network import flow_network
from matcher.status import Status

log = logging.getLogger("matcher")


def _solve_core_impl(  # noqa: PLR0911 - one return per outcome
    edges: Edges, *, score_decimals: int, warm_start: CoreSolution | None, params: CoreParams
) -> CoreSolution:
    """:func:`matcher.solvers.core.solve_core` with its warm-start knobs ``params``.

    The steps in order: the CSR network in the solver's node order
    (:mod:`~matcher.solvers.core.csr`), the warm start by shortest paths when one is
    given (:mod:`~matcher.solvers.core.warm`), the maximum flow value
    (:mod:`~matcher.solvers.core.maxflow`), the score level and the rank level
    (:mod:`~matcher.solvers.core.levels`), warm from the earlier prices when they fit,
    and the certificate potentials (:mod:`~matcher.solvers.core.certificate`).
    """
    t0 = time.perf_counter()
    stats: dict[str, float] = {}
    empty = np.zeros(0, dtype=np.int64)
    regional = getattr(edges.caps, "regional_cap", None)
    if regional is not None and len(regional) > 0:
        return CoreSolution(
            Status.ERROR, "regional caps cross the cap tree: not supported by this solver", empty, empty
        )
    net = flow_network(edges, score_decimals=score_decimals)
    caps = edges.caps
    n = net.num_nodes
    n_edges = edges.n_pairs
    n_src = len(net.cands)
    clip = n_src + 1  # never saturated: at most clip - 1 units flow
    rank = edges.rank.astype(np.int64) if net.rank_kept else np.zeros(n_edges, dtype=np.int64)
    # The integer scores, read back from the network's costs -B * score + rank: rank - cost
    # is B * score exactly (B is 1 and rank 0 without the rank level). Rounding the floats
    # a second time took 0.1-0.6 s at 1M.
    score = (rank - net.costs) // net.rank_weight
    e_cand, e_slot = edges.cand.astype(np.int32, copy=False), edges.slot.astype(np.int32, copy=False)
    node_map = _node_map(net, edges, rank)
    first, head, rcap, cost_a, rev, fwd = _build(
        n, net.cand0, net.slot0, net.int0, net.nat0, net.tot0, e_cand, e_slot, -score, net.cands, net.capacity,
        caps.slot_intake.astype(np.int32, copy=False), caps.intake_cap.astype(np.int64, copy=False),
        caps.intake_national.astype(np.int32, copy=False), caps.national_cap.astype(np.int64, copy=False),
        caps.national_total.astype(np.int32, copy=False), caps.total_cap.astype(np.int64, copy=False),
        1, clip, _arc_order(e_cand, e_slot, rank, node_map, net.cand0, net.slot0), node_map,
        np.argsort(node_map[net.cand0 + net.cands], kind="stable"),
    )  # fmt: skip
    t1 = time.perf_counter()
    stats["build_s"] = t1 - t0
    start_prices: I64 | None = None
    if warm_start is not None and warm_start.score_decimals not in (None, score_decimals):
        # Its potentials are stated in another score unit: they bound nothing here.
        log.info(
            "core: the warm start was solved at %d score decimals, this solve at %d: cold solve",
            warm_start.score_decimals,
            score_decimals,
        )
        stats["warm_scale_mismatch"] = 1.0
        warm_start = None
    if warm_start is not None:
        warm_start = _translated(warm_start, edges, stats)
        network = _Network(first, head, rcap, cost_a, rev, fwd)
        solved = _warm_solve(edges, net, network, warm_start, stats, score_decimals, node_map, params)
        if solved is not None:
            stats["seconds"] = time.perf_counter() - t0
            log.info("core: warm start, %d shortest paths (%.1f s)", stats["warm_paths"], stats["seconds"])
            return _finish(edges, *solved, stats, score_decimals=score_decimals)
        # Back to the zero flow and the score level's costs; the levels follow, from the
        # earlier prices when they fit this network.
        _reset(rcap, rev, fwd)
        _set_pair_costs(cost_a, fwd, rev, -score)
        start_prices = _score_prices(warm_start, n)
        t1 = time.perf_counter()
    up = fwd[n_edges + n_src :]  # slot, intake, national and total nodes, in documented order
    up_in = np.empty_like(up)  # the same in the solver's node order
    up_in[node_map[net.slot0 :] - net.slot0] = up
    up_of = np.full(n, -1, dtype=np.int64)
    up_of[net.slot0 :] = up_in
    kept = 0
    excess = np.zeros(n, dtype=np.int64)
    # Only the maximum flow's value is needed: it runs on a copy of the capacities
    # (a copy is ten times cheaper than resetting the flow afterwards).
    mf_rcap = rcap.copy()
    if start_prices is not None:
        assert warm_start is not None
        # The earlier placements that still exist are a flow: the maximum flow only has
        # to add to it.
        kept = _load_flow(edges, net, warm_start.chosen_pairs, mf_rcap, rev, fwd, up)
    value, mf_pushes, mf_relabels = _max_flow(first, head, mf_rcap, rev, up_of, 0, 1)
    value += kept
    del mf_rcap
    t2 = time.perf_counter()
    stats.update(max_flow_s=t2 - t1, max_flow=float(value), max_flow_pushes=float(mf_pushes))
    stats["max_flow_relabels"] = float(mf_relabels)
    # Progress for long solves (1M candidates: a minute or more); counts only.
    log.info("core: %s nodes, %s arcs; at most %s placed (%.1f s)", n, int(first[n]) // 2, value, t2 - t0)
    eps_a = int(score.max(initial=1))  # the cold solve's first epsilon (scaled down first)
    eps_b = int(rank.max()) if n_edges else 1
    work = np.zeros(WORK_SLOTS, dtype=np.int64)
    level = _Level(
        first, head, rcap, cost_a, rev, np.zeros(n, dtype=np.int64), excess, net.slot0, net.int0, up_in
    )
    pot_a: I64 | None = None
    if start_prices is not None:
        # Warm: the earlier placements and score-level prices, which are exact wherever
        # the change did not reach, so the phases start at a small epsilon, within a
        # budget of relabel scans (prices far from this network's can crawl for long).
        # The rank level below reuses its earlier prices only if this level moved little.
        assert warm_start is not None
        level.price[:] = _to_inner(start_prices, node_map)
        held = np.zeros(n, dtype=np.int64)
        routed = _load_flow(edges, net, warm_start.chosen_pairs, rcap, rev, fwd, up, held)
        excess += _to_inner(held, node_map)
        excess[0] += value - routed
        excess[1] += routed - value
        work[W_SCAN_LIMIT] = params.warm_level_budget * int(first[n])
        start = min(eps_a, params.warm_score_eps * SCALE_FACTOR)
        work[W_UPDATE_EVERY] = max(1, int(params.warm_update_interval * int(first[n])))
        work[W_UPDATE_EPS] = max(1, -(-start // SCALE_FACTOR))  # the first phase's epsilon
        pot_a = _exact_level(level, start, n, work, stats, "score", refine=True, early=True)
        work[W_SCAN_LIMIT] = 0  # the budget is the warm score level's only
        work[W_UPDATE_EVERY] = work[W_UPDATE_EPS] = 0
        stats["warm_update_scans"] = float(work[W_UPDATE_SCANS])
        stats["warm_updates"] = float(work[W_UPDATES])
        stats["warm_levels"] = 1.0 if pot_a is not None else 0.0
        if pot_a is None:  # over budget: a cold solve from the zero flow
            _reset(rcap, rev, fwd)
            work[:] = 0
    if pot_a is None:
        # Levels 1-2: most placed (the flow value), then most total score (costs -score).
        # Each candidate starts at its best score, so no pair arc is admissible before
        # the candidate holds a unit: the first phase then places the best candidates
        # first instead of saturating every pair arc and sending most units back.
        level.price[:] = 0
        np.maximum.at(level.price, node_map[net.cand0 + edges.cand.astype(np.int64)], score)
        level.price[0] = int(level.price.max(initial=0))
        excess[:] = 0
        excess[0], excess[1] = value, -value
        pot_a = _exact_level(level, eps_a, n, work, stats, "score", refine=True, early=True)
    t3 = time.perf_counter()
    stats["score_level_s"] = t3 - t2
    stats["score_relabel_scans"] = float(work[W_RELABEL_SCANS])
    stats["price_refine_scans"] = float(work[W_REFINE_SCANS])
    stats["price_refined_phases"] = float(work[W_REFINED_PHASES])
    log.info("core: score level %s in %.1f s", "optimal" if pot_a is not None else "failed", t3 - t2)
    if pot_a is None:
        return CoreSolution(
            Status.ERROR, "no exact score-level potentials (internal error)", empty, empty, stats
        )
    # Level 3: least rank sum among the score-optimal flows. Those are the flows of this
    # value that use only arcs of zero reduced cost under pot_a (complementary
    # slackness), so level 3 runs on that subgraph, starting from the current flow.
    found_b: I64 | None = None
    stats["score_pushes"] = float(work[W_PUSHES])
    moved_little = int(work[W_PUSHES]) <= params.warm_rank_max_pushes * max(value, 1)
    rank_start = _rank_prices(warm_start, n) if start_prices is not None and moved_little else None
    rank_start = _to_inner(rank_start, node_map) if rank_start is not None else None
    if rank_start is not None:
        # Warm: the earlier rank potentials, exact wherever neither the change nor the
        # score level's moves reached; the phases start at a small epsilon from a price
        # refinement, within a budget of relabel scans, else the rank level runs cold.
        work[W_SCAN_LIMIT] = work[W_RELABEL_SCANS] + params.warm_level_budget * int(first[n])
        found_b = _tie_break_level(
            level, fwd, pot_a, rank, rank_start.copy(), params.warm_rank_eps, n, work, stats, refine=True
        )
        work[W_SCAN_LIMIT] = 0
        stats["warm_rank"] = 1.0 if found_b is not None else 0.0
    if found_b is None:
        found_b = _tie_break_level(
            level, fwd, pot_a, rank, np.zeros(n, dtype=np.int64), eps_b, n, work, stats
        )
    if found_b is None:
        return CoreSolution(
            Status.ERROR, "no exact rank-level potentials (internal error)", empty, empty, stats
        )
    pot_b = found_b
    t4 = time.perf_counter()
    stats["rank_level_s"] = t4 - t3
    log.info("core: rank level optimal in %.1f s", t4 - t3)
    stats.update(
        pushes=float(work[W_PUSHES]),
        relabels=float(work[W_RELABELS]),
        relabel_scans=float(work[W_RELABEL_SCANS]),
    )
    # One certificate for the lexicographic costs -B * score + rank (built in place: the
    # pair arcs take the network's costs, every other arc costs 0 on every level).
    costs_lex = cost_a
    _set_pair_costs(costs_lex, fwd, rev, net.costs)
    pot, converged = _exact_potentials(first, head, rcap, costs_lex, net.rank_weight * pot_a + pot_b, 1, 200)
    if not converged:
        return CoreSolution(Status.ERROR, "no exact potentials (internal error)", empty, pot, stats)
    side = _source_side(first, head, rcap, 0)
    if side[1]:
        return CoreSolution(Status.ERROR, "flow is not maximum (internal error)", empty, pot, stats)
    bound = path_cost_bound(net.costs, n_src)
    gap = int(pot[1]) - int(pot[0])
    shift = max(CUT_SHIFT, bound + 1 - gap)
    if int(np.abs(pot).max(initial=0)) + shift >= (1 << 61):
        return CoreSolution(Status.ERROR, "certificate potentials overflow int64", empty, pot, stats)
    pot[~side] += shift
    chosen = _chosen(rcap, fwd, n_edges)
    t5 = time.perf_counter()
    stats.update(certificate_s=t5 - t4, seconds=t5 - t0)
    return _finish(
        edges,
        net,
        chosen,
        pot[node_map],
        stats,
        pot_a[node_map],
        pot_b[node_map],
        score_decimals=score_decimals,
    )
