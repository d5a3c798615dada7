"""Worker-proposing deferred acceptance for transfer rounds, compiled with numba.

Every worker's current position is its last choice, where it has top priority: its home
program never rejects it. A program *p* holds its staying incumbents and the transferees
it accepted; its choice is greedy by priority under three nested caps (a laminar family,
so the choice is substitutable and size-monotone and DA finds the worker-optimal stable
outcome):

``cross_p`` (transferees from another prefecture, ``qx``) inside ``transferees_p``
(``q``) inside ``p`` (round capacity: incumbents + open vacancies).

Workers who may move start *free*: their home seat is empty until they fall back to it,
so their seat can be offered to others in the same round (chains and cycles of moves).
A worker returning home displaces the worst transferee its program holds when the program
would otherwise be over capacity.

When a transferee *x* proposes to *p*, the smallest tight cap containing *x* decides: the
cross-prefecture cap when *x* is from another prefecture and that cap is full (compare
with the worst cross-prefecture transferee held), else the transferee cap or the program
capacity when full (compare with the worst transferee held: incumbents are never the
worst); otherwise *x* is accepted. The worst held transferee is the top of a max-heap on
the priority key; removals are lazy (a heap entry is stale once its edge is no longer
held), so each program keeps two heaps: all its transferees, and the cross-prefecture ones.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit

from matcher.stable.kernels import heap_pop as _pop
from matcher.stable.kernels import heap_push as _push

I64 = npt.NDArray[np.int64]
B1 = npt.NDArray[np.bool_]


@njit(cache=True)
def _worst(heap: I64, hkey: I64, base: int, sizes: I64, p: int, alive: B1) -> int:
    """The held edge with the worst priority in a lazy heap, -1 when none is held."""
    while sizes[p] > 0:
        e: int = heap[base]
        if alive[e]:
            return e
        _pop(heap, hkey, base, sizes[p])
        sizes[p] -= 1
    return -1


@njit(cache=True)
def transfer_da(
    w_ptr: I64,
    edge_worker: I64,
    edge_prog: I64,
    edge_key: I64,
    edge_cross: B1,
    worker_home: I64,
    movers: I64,
    prog_cap: I64,
    prog_home: I64,
    prog_q: I64,
    prog_qx: I64,
) -> tuple[I64, int]:
    """Worker-optimal stable transfer outcome.

    Parameters
    ----------
    w_ptr : int64 array (n_workers + 1)
        CSR pointer: worker *w*'s acceptable moves are edges ``w_ptr[w]:w_ptr[w + 1]``,
        best first (only moves the worker prefers to its current position).
    edge_worker, edge_prog, edge_key, edge_cross : arrays (n_edges)
        The worker, the destination program, the destination's priority key (lower is better; distinct
        per program) and whether the move crosses a prefecture boundary.
    worker_home : int64 array (n_workers)
        Current program of each worker.
    movers : int64 array
        Workers who may move (they start free); every other incumbent stays home.
    prog_cap : int64 array (n_programs)
        Round capacity: incumbents + open vacancies.
    prog_home : int64 array (n_programs)
        Incumbents who cannot move (at home from the start).
    prog_q, prog_qx : int64 arrays (n_programs)
        Transferee cap and cross-prefecture transferee cap, -1 when unlimited.

    Returns
    -------
    held : int64 array (n_workers)
        The edge each worker moves by, -1 when it stays.
    proposals : int
        Number of proposals made.
    """
    n_w = w_ptr.shape[0] - 1
    n_e = edge_prog.shape[0]
    n_p = prog_cap.shape[0]
    indeg = np.zeros(n_p, dtype=np.int64)
    xdeg = np.zeros(n_p, dtype=np.int64)
    for e in range(n_e):
        indeg[edge_prog[e]] += 1
        if edge_cross[e]:
            xdeg[edge_prog[e]] += 1
    hbase = np.zeros(n_p, dtype=np.int64)
    xbase = np.zeros(n_p, dtype=np.int64)
    for p in range(1, n_p):
        hbase[p] = hbase[p - 1] + indeg[p - 1]
        xbase[p] = xbase[p - 1] + xdeg[p - 1]
    heap = np.empty(max(n_e, 1), dtype=np.int64)
    hkey = np.empty(max(n_e, 1), dtype=np.int64)
    xheap = np.empty(max(n_e, 1), dtype=np.int64)
    xkey = np.empty(max(n_e, 1), dtype=np.int64)
    hsize = np.zeros(n_p, dtype=np.int64)
    xsize = np.zeros(n_p, dtype=np.int64)
    alive = np.zeros(max(n_e, 1), dtype=np.bool_)
    home = prog_home.copy()
    tcount = np.zeros(n_p, dtype=np.int64)
    xcount = np.zeros(n_p, dtype=np.int64)
    held = np.full(n_w, -1, dtype=np.int64)
    nxt = w_ptr[:-1].copy()
    stack = np.empty(max(n_w, 1), dtype=np.int64)
    top = 0
    for k in range(movers.shape[0] - 1, -1, -1):
        stack[top] = movers[k]
        top += 1
    proposals = 0
    while top > 0:
        top -= 1
        w = stack[top]
        i = nxt[w]
        end = w_ptr[w + 1]
        placed = False
        while i < end:
            e = i
            i += 1
            proposals += 1
            p = edge_prog[e]
            key = edge_key[e]
            cross = edge_cross[e]
            victim = -2  # -2: room for e; -1: e rejected; >= 0: e displaces this edge
            if cross and prog_qx[p] >= 0 and xcount[p] >= prog_qx[p]:
                victim = _worst(xheap, xkey, xbase[p], xsize, p, alive)
            elif (prog_q[p] >= 0 and tcount[p] >= prog_q[p]) or home[p] + tcount[p] >= prog_cap[p]:
                victim = _worst(heap, hkey, hbase[p], hsize, p, alive)
            if victim == -1 or (victim >= 0 and edge_key[victim] < key):
                continue  # rejected: go on down the list
            if victim >= 0:
                alive[victim] = False
                tcount[p] -= 1
                if edge_cross[victim]:
                    xcount[p] -= 1
                v = edge_worker[victim]  # the displaced worker proposes again
                held[v] = -1
                stack[top] = v
                top += 1
            alive[e] = True
            _push(heap, hkey, hbase[p], hsize[p], e, key)
            hsize[p] += 1
            tcount[p] += 1
            if cross:
                _push(xheap, xkey, xbase[p], xsize[p], e, key)
                xsize[p] += 1
                xcount[p] += 1
            held[w] = e
            placed = True
            break
        nxt[w] = i
        if not placed:
            # Back home, with top priority: the worst transferee goes if there is no room.
            h = worker_home[w]
            home[h] += 1
            if home[h] + tcount[h] > prog_cap[h]:
                victim = _worst(heap, hkey, hbase[h], hsize, h, alive)
                alive[victim] = False
                tcount[h] -= 1
                if edge_cross[victim]:
                    xcount[h] -= 1
                v = edge_worker[victim]
                held[v] = -1
                stack[top] = v
                top += 1
    return held, proposals


@njit(cache=True)
def label_chains(succ: I64, has_pred: B1) -> tuple[I64, I64, B1]:
    """Chain id (0-based), step (1-based) and cycle flag of every move.

    ``succ[m]`` is the move that fills the seat move *m* left (-1: the seat stays open);
    ``has_pred[m]`` tells whether move *m* filled a seat vacated in the round. Chains
    start at moves without a predecessor (they filled an open vacancy), in move order;
    the moves left over form cycles, each started at its lowest move index.
    """
    n = succ.shape[0]
    chain = np.full(n, -1, dtype=np.int64)
    step = np.zeros(n, dtype=np.int64)
    cycle = np.zeros(n, dtype=np.bool_)
    cid = 0
    for m in range(n):
        if not has_pred[m]:
            cur = m
            s = 1
            while cur >= 0:
                chain[cur] = cid
                step[cur] = s
                s += 1
                cur = succ[cur]
            cid += 1
    for m in range(n):
        if chain[m] < 0:
            cur = m
            s = 1
            while chain[cur] < 0:
                chain[cur] = cid
                step[cur] = s
                cycle[cur] = True
                s += 1
                cur = succ[cur]
            cid += 1
    return chain, step, cycle
