"""Indexed binary min-heap of nodes by a key array (global price updates, warm start)."""

from __future__ import annotations

from numba import njit

from matcher.solvers.core.constants import I64


@njit(cache=True)
def _sift_up(heap: I64, hpos: I64, key: I64, k: int) -> None:
    """Indexed binary min-heap of nodes by ``key``: move the entry at ``k`` up."""
    v = heap[k]
    kv = key[v]
    while k > 0:
        p = (k - 1) >> 1
        w = heap[p]
        if key[w] <= kv:
            break
        heap[k] = w
        hpos[w] = k
        k = p
    heap[k] = v
    hpos[v] = k


@njit(cache=True)
def _heap_push(heap: I64, hpos: I64, key: I64, v: int, size: int) -> int:
    """Insert ``v`` or move it up after its key fell; the new size."""
    if hpos[v] < 0:
        heap[size] = v
        hpos[v] = size
        size += 1
    _sift_up(heap, hpos, key, hpos[v])
    return size


@njit(cache=True)
def _heap_pop(heap: I64, hpos: I64, key: I64, size: int) -> int:
    """Remove the top of the heap (its node is ``heap[0]`` before the call); new size."""
    hpos[heap[0]] = -1
    size -= 1
    if size == 0:
        return 0
    v = heap[size]
    kv = key[v]
    k = 0
    while True:
        c = 2 * k + 1
        if c >= size:
            break
        if c + 1 < size and key[heap[c + 1]] < key[heap[c]]:
            c += 1
        if key[heap[c]] >= kv:
            break
        heap[k] = heap[c]
        hpos[heap[k]] = k
        k = c
    heap[k] = v
    hpos[v] = k
    return size
