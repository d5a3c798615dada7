"""Warm start: an earlier solution's placements and certificate start a re-solve.

:func:`_warm_solve` reloads the placements (:func:`_load_flow`) and repairs them by
successive shortest paths (:func:`_warm_repair`); past its budget the caller runs the
levels warm instead, from the earlier score and rank prices (:func:`_score_prices`,
:func:`_rank_prices`).

A re-solve after a small change starts from the earlier *certificate*: its placements
are reloaded (a withdrawn candidate's unit stays on the caps above its slot, so the slot
lacks one unit and the source holds one), and its potentials still give every untouched
residual arc a reduced cost >= 0, while their gap ``p[sink] - p[source]`` exceeds any
path's cost. So the change is a min-cost circulation (a return arc sink -> source of
cost minus that gap places the most first) with a few deficits, which successive
shortest paths close exactly, one Dijkstra per deficit unit, run *backwards* from the
deficit so that a search scans a slot's candidates instead of the source's million
arcs. Each search must label every node closer than its path, and scores depend only
on (candidate, sector), so about half of all unused pairs are tied with the
candidate's placement at the score level and a search covers much of a sector; the
paths are long too (a chain of candidates each moving up a place). Two things make a
search cheaper: it stops as soon as a node tied with the top of the heap holds an
excess or leads to the source by a tight arc; and where the arcs of a node all have
capacity 1 (the source's, a candidate's, a slot's below its up-arc) the arc ``w -> u``
is read through its reverse in ``u``'s list, without random access into ``w``'s arcs.

Once the first ``WARM_PROBE`` paths project more than ``WARM_BUDGET`` scans of the
network (about a third of a cold solve), the paths give up and the *levels* run warm
instead: the earlier placements are reloaded, the score level starts from the earlier
exact score potentials (:attr:`CoreSolution.score_potentials`) at epsilon
``WARM_SCORE_EPS``, and past a budget of relabel scans (``WARM_LEVEL_BUDGET``) they hand
over to a cold solve. Prices can crawl there: a unit the source sends to one of the many
tied unplaced candidates displaces another, each step lowers prices by epsilon, and a
tied plateau is lowered in steps until the units reach the freed slots. The crawl is
worst for the last few excesses, whose deficits are far: after every
``WARM_UPDATE_INTERVAL`` times the arcs in relabel scans of the first warm phase, a
global price update (:func:`matcher.solvers.core.phases._global_update`, distances
from the deficits backwards in units of epsilon, one per hop on a plateau) lowers every
price by its distance, so those excesses run downhill. The rank level of a warm solve by levels starts from the earlier
rank potentials (:attr:`CoreSolution.rank_potentials`, at ``WARM_RANK_EPS``) only when
the warm score level moved little of the flow (``WARM_RANK_MAX_PUSHES`` pushes per
placed unit); otherwise the earlier rank prices are far off and it runs as in a cold
solve.
"""

from __future__ import annotations

import time

import numpy as np
import numpy.typing as npt
from numba import njit

from matcher.eligibility.edges import Edges
from matcher.solvers.core.certificate import path_cost_bound
from matcher.solvers.core.constants import (
    _INF,
    I32,
    I64,
    INFO_PATHS,
    INFO_SCANS,
    INFO_SLOTS,
    INFO_SOURCE_SCANS,
    INFO_TO_SINK,
    INFO_TO_SOURCE,
    INFO_TO_TREE,
    WARM_PROBE,
    CoreParams,
)
from matcher.solvers.core.csr import _chosen, _Network, _set_pair_costs, _to_inner
from matcher.solvers.core.heap import _heap_pop, _heap_push
from matcher.solvers.core.phases import _saturate
from matcher.solvers.core.solution import CoreSolution
from matcher.solvers.network import FlowNetwork, flow_network
from matcher.status import Status


@njit(cache=True)
def _label(
    w: int, nd: int, via: int, dist: I64, succ: I64, heap: I64, hpos: I64, touched: I64, nt: int, size: int
) -> tuple[int, int]:
    """Give node ``w`` the shorter distance ``nd`` through arc ``via``; (touched, heap size)."""
    if dist[w] == _INF:
        touched[nt] = w
        nt += 1
    dist[w] = nd
    succ[w] = via
    return nt, _heap_push(heap, hpos, dist, w, size)


@njit(cache=True)
def _warm_repair(
    first: I64,
    head: I32,
    rcap: I32,
    cost: I64,
    rev: I32,
    price: I64,
    excess: I64,
    ret: I64,
    budget: int,
    info: I64,
    slot0: int,
    int0: int,
) -> int:
    """Successive shortest paths from exact prices: the warm start's whole solve.

    The problem is the min-cost *circulation* with a return arc sink -> source of cost
    ``-ret[0]`` (``M``, the certificate's potential gap, larger than any simple path's
    cost: so it places the most candidates first) and unlimited capacity, carrying
    ``ret[1]`` units. Arcs of negative reduced cost are saturated first; then each
    deficit unit is joined to the nearest excess by a shortest path found by Dijkstra
    *backwards* from the deficit (a freed slot's few hundred candidates are scanned, not
    the source's million arcs), and the nodes labelled below that path's length change
    price so that every reduced cost stays >= 0 and the path becomes tight. With no
    excess left and no negative reduced cost, the flow is optimal and ``price`` proves it.

    Returns 0 when solved, 1 once more than ``budget`` arcs were scanned or the first
    ``WARM_PROBE`` paths project more than that for all deficits, 2 when
    distances or prices would leave the safe range, 3 when the return arc's reduced cost
    is not 0 (the prices do not belong to a solution of this network). ``info`` gets
    the counts of the ``INFO_*`` slots (:mod:`matcher.solvers.core.constants`): paths,
    arcs scanned, paths ending at the source, at the sink, elsewhere, source scans.
    """
    n = first.shape[0] - 1
    big = np.int64(1) << 61
    m_ret = ret[0]
    _saturate(first, head, rcap, cost, rev, price, excess)
    if n < 2 or price[1] - price[0] != m_ret:
        return 3
    dist = np.full(n, _INF, dtype=np.int64)
    succ = np.empty(n, dtype=np.int64)
    hpos = np.full(n, -1, dtype=np.int64)
    heap = np.empty(n, dtype=np.int64)
    touched = np.empty(n, dtype=np.int64)
    done = np.zeros(n, dtype=np.bool_)
    scanned = 0
    units = 0
    need = 0
    for v in range(n):
        if excess[v] < 0:
            need -= excess[v]
    for t in range(n):
        while excess[t] < 0:
            # Backward Dijkstra from t: dist[v] = shortest reduced cost of a path v -> t.
            nt = 0
            dist[t] = 0
            touched[nt] = t
            nt += 1
            heap[0] = t
            hpos[t] = 0
            size = 1
            target = -1
            while size > 0:
                u = heap[0]
                d = dist[u]
                if excess[u] > 0:
                    target = u
                    break
                size = _heap_pop(heap, hpos, dist, size)
                done[u] = True
                scanned += first[u + 1] - first[u]
                if u == 0:
                    info[INFO_SOURCE_SCANS] += 1
                pu = price[u]
                if u == 0:
                    # The return arc sink -> source (reduced cost 0 at the start).
                    nd = d + price[1] - pu - m_ret
                    if nd < dist[1]:
                        nt, size = _label(1, nd, -2, dist, succ, heap, hpos, touched, nt, size)
                    if excess[1] > 0 and dist[1] == d:
                        target = 1  # the sink ties with the top: no need to scan the source
                        break
                elif u == 1 and ret[1] > 0:
                    # The return arc backwards (source -> sink): one placement fewer.
                    nd = d + price[0] - pu + m_ret
                    if nd < dist[0]:
                        nt, size = _label(0, nd, -3, dist, succ, heap, hpos, touched, nt, size)
                # The arcs of the source, of a candidate and of a slot after its up-arc
                # all have capacity 1 (source and pair arcs), so the arc w -> u has room
                # exactly when its reverse u -> w (read in order here) has none, and costs
                # minus that one: no random access into w's arcs.
                if u == 1:
                    unit_from = first[u + 1]
                elif u < slot0:
                    unit_from = first[u]
                elif u < int0:
                    unit_from = first[u] + 1
                else:
                    unit_from = first[u + 1]
                for j in range(first[u], first[u + 1]):
                    if j >= unit_from:
                        if rcap[j] > 0:
                            continue
                        cost_i = -cost[j]
                    else:
                        if rcap[rev[j]] == 0:
                            continue
                        cost_i = cost[rev[j]]
                    w = head[j]
                    if done[w]:
                        continue
                    nd = d + cost_i + price[w] - pu
                    if nd < dist[w]:
                        if nd > big:
                            return 2
                        nt, size = _label(w, nd, rev[j], dist, succ, heap, hpos, touched, nt, size)
                        if nd == d:
                            # w ties with the top of the heap, so its distance is final:
                            # stop at once if it, or the source through w's source arc,
                            # holds an excess (ties are common: a plateau is not scanned
                            # to its end before the source is reached).
                            if excess[w] > 0:
                                target = w
                                break
                            k = first[w]
                            if k < first[w + 1] and head[k] == 0 and excess[0] > 0 and dist[0] > d:
                                i0 = rev[k]  # the arc source -> w
                                if rcap[i0] > 0 and cost[i0] + price[0] - price[w] == 0:
                                    nt, size = _label(0, d, i0, dist, succ, heap, hpos, touched, nt, size)
                                    target = 0
                                    break
                if target >= 0:
                    break
            if target < 0:
                return 2  # no path: cannot happen, a feasible circulation exists
            top = dist[target]
            info[INFO_PATHS] += 1
            info[INFO_TO_SOURCE if target == 0 else INFO_TO_SINK if target == 1 else INFO_TO_TREE] += 1
            info[INFO_SCANS] = scanned
            for k in range(nt):
                v = touched[k]
                if done[v]:
                    price[v] += top - dist[v]
                    if price[v] > big or price[v] < -big:
                        return 2
            # Augment from the excess to t by the bottleneck of the path.
            delta = min(excess[target], -excess[t])
            v = target
            while v != t:
                i = succ[v]
                if i == -2:
                    v = 0
                elif i == -3:
                    delta = min(delta, ret[1])
                    v = 1
                else:
                    delta = min(delta, np.int64(rcap[i]))
                    v = head[i]
            v = target
            while v != t:
                i = succ[v]
                if i == -2:
                    ret[1] += delta
                    v = 0
                elif i == -3:
                    ret[1] -= delta
                    v = 1
                else:
                    rcap[i] -= delta
                    rcap[rev[i]] += delta
                    v = head[i]
            excess[target] -= delta
            excess[t] += delta
            for k in range(nt):
                v = touched[k]
                dist[v] = _INF
                done[v] = False
                hpos[v] = -1
            units += delta
            # Give up once the work so far, extrapolated to every deficit unit, exceeds
            # the budget (a cold solve is cheaper then): after a few paths, or at once.
            if scanned > budget or (info[INFO_PATHS] >= WARM_PROBE and scanned * need > budget * units):
                return 1
    return 0


@njit(cache=True)
def _route_units(rcap: I32, rev: I32, arcs: I64) -> npt.NDArray[np.bool_]:
    """Send one unit along each row of arc positions that still has room on every arc."""
    sent = np.zeros(arcs.shape[0], dtype=np.bool_)
    for k in range(arcs.shape[0]):
        room = True
        for i in arcs[k]:
            if rcap[i] < 1:
                room = False
                break
        if not room:
            continue
        for i in arcs[k]:
            rcap[i] -= 1
            rcap[rev[i]] += 1
        sent[k] = True
    return sent


def _load_flow(
    edges: Edges, net: FlowNetwork, pairs: I64, rcap: I32, rev: I32, fwd: I32, up: I32,
    excess: I64 | None = None,
) -> int:  # fmt: skip
    """Route one unit for each earlier placement (``pairs``: (candidate, slot) rows).

    A placement whose pair still exists gets its whole path; one whose pair is gone (the
    candidate withdrew, or is -1: gone from the instance) only the part above its slot, and the unit is left at the source
    (excess) while the slot lacks it (deficit). So every cap carries what it carried
    before. A unit that would overflow a cap of the changed instance is left out.
    Without ``excess`` the partial paths are left out too (the result is a flow).
    Returns the units routed.
    """
    n_slot, n_edges = edges.slots.height, edges.n_pairs
    if pairs.size == 0:
        return 0
    caps = edges.caps
    if n_edges:
        key = edges.cand.astype(np.int64) * n_slot + edges.slot.astype(np.int64)
        pos = np.minimum(np.searchsorted(key, pairs[0] * n_slot + pairs[1]), n_edges - 1)
        found = key[pos] == pairs[0] * n_slot + pairs[1]
    else:
        pos, found = np.zeros(pairs.shape[1], np.int64), np.zeros(pairs.shape[1], np.bool_)
    slot = pairs[1]
    intake = caps.slot_intake[slot].astype(np.int64)
    nat = caps.intake_national[intake].astype(np.int64)
    n_int, n_nat = len(caps.intake_cap), len(caps.national_cap)
    tree = np.stack(
        [
            up[slot],  # slot -> intake
            up[n_slot + intake],  # intake -> national
            up[n_slot + n_int + nat],  # national -> total
            up[n_slot + n_int + n_nat + caps.national_total[nat].astype(np.int64)],  # total -> sink
        ],
        axis=1,
    ).astype(np.int64)
    e = pos[found]
    whole = np.concatenate(
        [
            fwd[n_edges + np.searchsorted(net.cands, edges.cand[e])][:, None],  # source -> candidate
            fwd[e][:, None],  # candidate -> slot
            tree[found],
        ],
        axis=1,
    ).astype(np.int64)
    sent = int(_route_units(rcap, rev, whole).sum())
    if excess is None:
        return sent
    upper = _route_units(rcap, rev, tree[~found])
    np.subtract.at(excess, net.slot0 + slot[~found][upper], 1)
    excess[0] += int(upper.sum())
    return sent + int(upper.sum())


def _score_prices(warm: CoreSolution, n: int) -> I64 | None:
    """The earlier solution's exact score potentials when it has them for ``n`` nodes.

    (A solution found by shortest paths has none: its certificate is stated in the
    lexicographic costs, with the sink side of the minimum cut raised by ``CUT_SHIFT``,
    which as score prices would take cost scaling ages to cross.)
    """
    ok = warm.status in (Status.OPTIMAL, Status.FEASIBLE) and warm.score_potentials.shape == (n,)
    return warm.score_potentials if ok else None  # read only: the levels copy it into their prices


def _rank_prices(warm: CoreSolution | None, n: int) -> I64 | None:
    """The earlier solution's exact rank potentials when it has them for ``n`` nodes."""
    if warm is None or warm.status is not Status.OPTIMAL or warm.rank_potentials.shape != (n,):
        return None
    return warm.rank_potentials


def _warm_solve(
    edges: Edges,
    net: FlowNetwork,
    network: _Network,
    warm: CoreSolution,
    stats: dict[str, float],
    score_decimals: int,
    node_map: I64,
    params: CoreParams,
) -> tuple[FlowNetwork, I64, I64] | None:
    """(network, chosen, potentials) by shortest paths from ``warm``'s solution, or None.

    ``network`` is in the solver's node order (``node_map``), the potentials returned in
    the documented one.

    The earlier certificate potentials stay exact for every arc the change left alone
    (withdrawn candidates only remove arcs), and their gap ``p[sink] - p[source]`` still
    exceeds any path's cost, so :func:`_warm_repair` only has to refill what changed.
    Falls back (None) when the earlier solution does not fit this network (other node
    count, a rank weight too small for this instance, no certificate) or the repair
    grows past its budget (``params``). The network returned is stated in the earlier rank weight.
    ``stats["warm_code"]``: :func:`_warm_repair`'s return code, or 4 when the earlier
    solution does not fit.
    """
    t0 = time.perf_counter()
    n, n_edges = net.num_nodes, edges.n_pairs
    n_src = len(net.cands)
    old = warm.potentials
    stats["warm"], stats["warm_code"] = 0.0, 4.0
    if net.rank_kept and warm.rank_weight != net.rank_weight and warm.status is Status.OPTIMAL:
        # State the costs in the earlier B (still above this instance's rank range).
        try:
            net = flow_network(edges, score_decimals=score_decimals, rank_weight=warm.rank_weight)
        except ValueError:
            return None
    fits = (
        warm.status in (Status.OPTIMAL, Status.FEASIBLE)
        and old.shape == (n,)
        and warm.rank_weight == net.rank_weight
        and int(old[1]) - int(old[0]) > path_cost_bound(net.costs, n_src)
    )
    if not fits:
        return None
    first, head, rcap, cost, rev, fwd = (
        network.first,
        network.head,
        network.rcap,
        network.cost,
        network.rev,
        network.fwd,
    )
    _set_pair_costs(cost, fwd, rev, net.costs)  # the lexicographic costs the certificate is stated in
    excess = np.zeros(n, dtype=np.int64)
    routed = _load_flow(edges, net, warm.chosen_pairs, rcap, rev, fwd, fwd[n_edges + n_src :], excess)
    excess = _to_inner(excess, node_map)
    t1 = time.perf_counter()
    stats.update(warm_load_s=t1 - t0, warm_deficits=float(-excess[excess < 0].sum()))
    price = _to_inner(old, node_map)
    ret = np.array([int(old[1]) - int(old[0]), routed], dtype=np.int64)
    info = np.zeros(INFO_SLOTS, dtype=np.int64)
    budget = params.warm_budget * int(first[n]) + params.warm_budget_min
    code = _warm_repair(first, head, rcap, cost, rev, price, excess, ret, budget, info, net.slot0, net.int0)
    stats.update(warm_code=float(code), warm_repair_s=time.perf_counter() - t1)
    names = ("paths", "scans", "to_source", "to_sink", "to_tree", "source_scans")
    stats.update({f"warm_{k}": float(v) for k, v in zip(names, info, strict=True)})
    if code != 0 or int(np.abs(price).max(initial=0)) >= (1 << 61):
        return None
    stats["warm"] = 1.0
    return net, _chosen(rcap, fwd, n_edges), price[node_map]
