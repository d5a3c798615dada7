"""Maximum flow value: a greedy start, then FIFO push-relabel with global relabeling.

Step 1 of :func:`matcher.solvers.core.solve_core` (and of max-flow-first tree flows):
only the value is needed, so only the first phase (a maximum preflow) runs.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from matcher.solvers.core.constants import I32, I64


@njit(cache=True)
def _bfs_labels(first: I64, head: I32, rcap: I32, rev: I32, t: int, d: I32, queue: I32) -> None:
    """Exact distance labels to ``t`` in the residual network (n = unreachable)."""
    n = first.shape[0] - 1
    d[:] = n
    d[t] = 0
    qh = 0
    qt = 0
    queue[qt] = t
    qt += 1
    while qh < qt:
        v = queue[qh]
        qh += 1
        dv = d[v] + 1
        for j in range(first[v], first[v + 1]):
            u = head[j]
            if d[u] == n and rcap[rev[j]] > 0:
                d[u] = dv
                queue[qt] = u
                qt += 1


@njit(cache=True)
def _greedy(first: I64, head: I32, rcap: I32, rev: I32, up_of: I64, s: int, t: int) -> int:
    """Send one unit per candidate along its first arc whose whole path up the tree has room.

    A flow to start the maximum-flow phase from: most units find a path here in one
    pass, so push-relabel only has to route the rest. Returns the units sent.
    """
    sent = 0
    for i0 in range(first[s], first[s + 1]):
        if rcap[i0] < 1:
            continue
        c = head[i0]
        for i in range(first[c], first[c + 1]):
            v = head[i]
            if rcap[i] < 1 or up_of[v] < 0:
                continue
            room = True
            while v != t:
                a = up_of[v]
                if rcap[a] < 1:
                    room = False
                    break
                v = head[a]
            if not room:
                continue
            rcap[i0] -= 1
            rcap[rev[i0]] += 1
            rcap[i] -= 1
            rcap[rev[i]] += 1
            v = head[i]
            while v != t:
                a = up_of[v]
                rcap[a] -= 1
                rcap[rev[a]] += 1
                v = head[a]
            sent += 1
            break
    return sent


@njit(cache=True)
def _max_flow(first: I64, head: I32, rcap: I32, rev: I32, up_of: I64, s: int, t: int) -> tuple[int, int, int]:
    """Value of a maximum s-t flow (FIFO push-relabel, global relabeling); modifies rcap.

    Starts from :func:`_greedy`'s flow. Returns (value, pushes, relabels). Only the first
    phase (a maximum preflow) is run: its sink excess, plus the greedy units, is the
    maximum flow value.
    """
    n = first.shape[0] - 1
    sent = _greedy(first, head, rcap, rev, up_of, s, t)
    excess = np.zeros(n, dtype=np.int64)
    d = np.empty(n, dtype=np.int32)
    queue = np.empty(n, dtype=np.int32)
    inq = np.zeros(n, dtype=np.bool_)
    current = first[:-1].copy()
    for i in range(first[s], first[s + 1]):
        r = rcap[i]
        if r > 0:
            v = head[i]
            rcap[i] = 0
            rcap[rev[i]] += r
            excess[v] += r
            excess[s] -= r
    _bfs_labels(first, head, rcap, rev, t, d, queue)
    d[s] = n
    fifo = np.empty(n + 1, dtype=np.int32)
    qh = 0
    qt = 0
    size = n + 1
    for v in range(n):
        if excess[v] > 0 and v not in (t, s) and d[v] < n:
            fifo[qt] = v
            qt = (qt + 1) % size
            inq[v] = True
    pushes = 0
    relabels = 0
    work = 0
    m = first[n]
    threshold = 6 * n + m // 2
    while qh != qt:
        u = fifo[qh]
        qh = (qh + 1) % size
        inq[u] = False
        while excess[u] > 0 and d[u] < n:
            du = d[u] - 1
            i = current[u]
            end = first[u + 1]
            while i < end:
                if rcap[i] > 0:
                    v = head[i]
                    if d[v] == du:
                        r = rcap[i]
                        delta = excess[u] if excess[u] < r else r
                        rcap[i] -= delta
                        rcap[rev[i]] += delta
                        excess[u] -= delta
                        excess[v] += delta
                        pushes += 1
                        if v not in (t, s) and not inq[v] and d[v] < n:
                            fifo[qt] = v
                            qt = (qt + 1) % size
                            inq[v] = True
                        if excess[u] == 0:
                            break
                i += 1
            current[u] = i
            if excess[u] > 0:
                best = n
                for j in range(first[u], end):
                    if rcap[j] > 0 and d[head[j]] + 1 < best:
                        best = d[head[j]] + 1
                work += end - first[u] + 12
                d[u] = best
                current[u] = first[u]
                relabels += 1
                if work > threshold:
                    work = 0
                    _bfs_labels(first, head, rcap, rev, t, d, queue)
                    d[s] = n
                    if d[u] >= n:
                        break
    return int(excess[t]) + sent, pushes, relabels
