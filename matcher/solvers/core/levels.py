"""One cost level solved exactly: cost scaling at unit precision, then exact potentials.

:func:`_exact_level` runs the phases of :mod:`matcher.solvers.core.phases` down to
epsilon 1 in the costs' own units and proves the flow optimal by exact potentials
(:func:`_exact_potentials`), raising the precision when they do not exist yet;
:func:`_tie_break_level` runs a second level (the rank) on the subgraph of arcs tight
under the first level's potentials (:func:`_tight_subgraph`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from numba import njit

from matcher.solvers.core.constants import (
    EARLY_EXACT_EPS,
    I32,
    I64,
    PRICE_LIMIT,
    PRICE_REFINE_PASSES,
    QUICK_PASSES,
    RANK_PRECISION,
    SCALE_FACTOR,
)
from matcher.solvers.core.csr import _forward_mask
from matcher.solvers.core.phases import _every_node_queued, _refine


@dataclass(frozen=True)
class _Level:
    """One cost level's residual network (CSR) with its prices and excesses, all mutated."""

    first: I64
    head: I32
    rcap: I32
    cost: I64
    rev: I32
    price: I64
    excess: I64
    slot0: int
    int0: int
    up: I32


@njit(cache=True)
def _exact_potentials(
    first: I64, head: I32, rcap: I32, cost: I64, price: I64, alpha: int, max_passes: int
) -> tuple[I64, bool]:
    """Potentials in original units with no negative reduced cost on a residual arc.

    Starts from floor(price / alpha) and corrects by FIFO label-correcting; returns
    (potentials, converged). Not converging means a negative residual cycle.
    """
    n = first.shape[0] - 1
    p = np.empty(n, dtype=np.int64)
    for v in range(n):
        p[v] = price[v] // alpha
    size = n + 1
    fifo, inq = _every_node_queued(n)
    qh = 0
    qt = n
    budget = np.int64(max_passes) * (first[n] + n)
    work = 0
    while qh != qt:
        u = fifo[qh]
        qh = (qh + 1) % size
        inq[u] = False
        pu = p[u]
        for i in range(first[u], first[u + 1]):
            if rcap[i] > 0:
                v = head[i]
                nv = pu + cost[i] // alpha
                if nv < p[v]:
                    p[v] = nv
                    if not inq[v]:
                        fifo[qt] = v
                        qt = (qt + 1) % size
                        inq[v] = True
        work += first[u + 1] - first[u] + 1
        if work > budget:
            return p, False
    return p, True


@njit(cache=True)
def _tight_subgraph(
    first: I64, head: I32, rcap: I32, cost: I64, rev: I32, pot: I64, fwd: I32, tie: I64
) -> tuple[I64, I32, I32, I64, I32, I32]:
    """CSR of the arcs with zero reduced cost under ``pot``, carrying the costs ``tie``.

    ``tie`` is per pair (the pair arc ``fwd[k]`` costs ``tie[k]``, its reverse
    ``-tie[k]``, every other arc 0), written straight into the subgraph: the full
    network never holds a second cost array (280 MB at 1M). Returns (first, head, rcap,
    costs, rev, old position of each kept arc). An arc and its reverse have opposite
    reduced costs, so both are kept or both dropped.
    """
    n = first.shape[0] - 1
    keep = np.zeros(first[n], dtype=np.bool_)
    nf = np.zeros(n + 1, dtype=np.int64)
    for u in range(n):
        c = 0
        pu = pot[u]
        for i in range(first[u], first[u + 1]):
            if cost[i] + pu - pot[head[i]] == 0:
                keep[i] = True
                c += 1
        nf[u + 1] = nf[u] + c
    m = nf[n]
    newpos = np.empty(first[n], dtype=np.int32)  # read only at kept arcs' reverses, all kept
    old = np.empty(m, dtype=np.int32)
    k = 0
    for i in range(first[n]):
        if keep[i]:
            newpos[i] = k
            old[k] = i
            k += 1
    h2 = np.empty(m, dtype=head.dtype)
    r2 = np.empty(m, dtype=rcap.dtype)
    c2 = np.zeros(m, dtype=np.int64)
    v2 = np.empty(m, dtype=rev.dtype)
    for k in range(m):
        i = old[k]
        h2[k] = head[i]
        r2[k] = rcap[i]
        v2[k] = newpos[rev[i]]
    for e in range(tie.shape[0]):
        a = fwd[e]
        if keep[a]:
            c2[newpos[a]] = tie[e]
            c2[newpos[rev[a]]] = -tie[e]
    return nf, h2, r2, c2, v2, old


@njit(cache=True)
def _copy_back(rcap: I32, rev: I32, old: I32, r2: I32, v2: I32, forward: npt.NDArray[np.bool_]) -> None:
    """Write the subgraph's flow back into the full network.

    Forward arcs never move inside their node's list (only a slot's backward pair arcs
    are reordered, and its up-arc stays first), so ``old`` still locates them; each
    one's reverse is found through the current ``rev`` arrays of both networks.
    """
    for k in range(old.shape[0]):
        i = old[k]
        if forward[i]:
            rcap[i] = r2[k]
            rcap[rev[i]] = r2[v2[k]]


def _tie_break_level(
    lv: _Level, fwd: I32, pot_a: I64, tie: I64, price: I64, eps: int, n: int, work: I64,
    stats: dict[str, float], *, refine: bool = False,
) -> I64 | None:  # fmt: skip
    """The least total ``tie`` (per pair) among the flows optimal for ``lv``'s costs.

    Those flows are exactly the flows of the same value that use only arcs of zero
    reduced cost under ``pot_a`` (complementary slackness), so this level runs on that
    subgraph, started from the current flow, which it updates in ``lv.rcap``. Returns
    the exact potentials of this level, or None on failure.
    """
    if tie.size == 0 or int(tie.max()) <= 0:
        return np.zeros(n, dtype=np.int64)
    f2, h2, r2, c2, v2, old = _tight_subgraph(lv.first, lv.head, lv.rcap, lv.cost, lv.rev, pot_a, fwd, tie)
    lv.excess[:] = 0
    sub = _Level(f2, h2, r2, c2, v2, price, lv.excess, lv.slot0, lv.int0, lv.up[:0])
    found = _exact_level(sub, eps, n, work, stats, "rank", RANK_PRECISION, refine=refine)
    if found is not None:
        _copy_back(lv.rcap, lv.rev, old, r2, v2, _forward_mask(int(lv.first[-1]), fwd))
    return found


def _exact_level(
    lv: _Level, eps: int, n: int, work: I64, stats: dict[str, float], name: str, alpha: int = 1,
    *, refine: bool = False, early: bool = False,
) -> I64 | None:  # fmt: skip
    """Optimal flow for one cost level, and exact potentials proving it; None on failure.

    Cost scaling first at unit precision (epsilon down to 1 in the costs' own units): far
    fewer phases than the textbook ``epsilon < 1/n``, and usually already optimal. Exact
    potentials (label-correcting from the prices, a few passes) then prove it. When none
    exist yet, costs and prices are multiplied by ``SCALE_FACTOR`` and one more phase
    runs, until ``epsilon < 1/n`` in the original units, where the flow is optimal by
    the theory of cost scaling. ``lv.cost`` is scaled in place and restored.

    With ``early``, exact potentials are tried once already after the phase at epsilon
    ``EARLY_EXACT_EPS`` (when one runs): on the score level its flow is usually optimal
    already, and the phase at 1 is skipped: the attempt costs a fraction of that phase.
    When they do not converge, the attempt is lost (QUICK_PASSES network scans). On the
    rank level they do not converge after its phase at 3, so it has no early try. The
    price refinement before the phase at 3 is what makes it work: without it that phase
    takes longer and the early potentials fail (timings in benchmarks/NOTES.md).
    """
    phases = 0

    def proven(pot: I64) -> I64:
        stats[f"{name}_phases"] = float(phases)
        stats[f"{name}_precision"] = float(alpha)
        return pot

    cmax = int(np.abs(lv.cost).max(initial=0)) + 1
    args = (lv.first, lv.head, lv.rcap, lv.cost, lv.rev, lv.price, lv.excess)
    if alpha > 1:
        np.multiply(lv.cost, alpha, out=lv.cost)
        np.multiply(lv.price, alpha, out=lv.price)
        eps *= alpha
    try:
        while True:
            while eps > 1 or (phases == 0 and int(lv.excess.max(initial=0)) > 0):
                eps = max(1, -(-eps // SCALE_FACTOR))
                refining = PRICE_REFINE_PASSES if refine and eps > 1 else 0
                if not _refine(*args, eps, work, lv.slot0, lv.int0, lv.up, refining):
                    return None
                phases += 1
                if early and alpha == 1 and 1 < eps <= EARLY_EXACT_EPS:
                    early = False  # one try
                    pot, converged = _exact_potentials(
                        lv.first, lv.head, lv.rcap, lv.cost, lv.price, alpha, QUICK_PASSES
                    )
                    stats[f"{name}_early_exact"] = float(converged)
                    if converged:
                        return proven(pot)
            final = alpha > n
            passes = 200 if final else QUICK_PASSES
            pot, converged = _exact_potentials(lv.first, lv.head, lv.rcap, lv.cost, lv.price, alpha, passes)
            if converged:
                return proven(pot)
            if final or alpha * SCALE_FACTOR * cmax * (n + 1) > PRICE_LIMIT // 4:
                return None
            alpha *= SCALE_FACTOR
            np.multiply(lv.cost, SCALE_FACTOR, out=lv.cost)
            np.multiply(lv.price, SCALE_FACTOR, out=lv.price)
            eps = SCALE_FACTOR
    finally:
        if alpha > 1:
            np.floor_divide(lv.cost, alpha, out=lv.cost)
