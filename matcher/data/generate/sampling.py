"""Vectorized sampling helpers of the generator: categorical draws, Gumbel-top-k, runs.

Codes index the reference vocabularies; every draw comes from the one
``numpy.random.Generator`` passed in, so the order of calls fixes the output.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


def _probabilities(weights: object) -> FloatArray:
    """Normalise non-negative weights (any array-like) to probabilities."""
    w = np.asarray(weights, dtype=np.float64)
    probs: FloatArray = w / w.sum(axis=-1, keepdims=True)
    return probs


def _choose(rng: np.random.Generator, probs: FloatArray, size: int) -> IntArray:
    """``size`` independent draws of a category with probabilities ``probs``."""
    cum = np.cumsum(probs)
    choice = np.searchsorted(cum[:-1], rng.random(size), side="right")
    return choice.astype(np.int64)


def _log(weights: FloatArray) -> FloatArray:
    """Natural log with log(0) = -inf and no warning."""
    out = np.full(weights.shape, -np.inf)
    np.log(weights, out=out, where=weights > 0)
    return out


def _categorical(rng: np.random.Generator, probs: FloatArray, rows: IntArray) -> IntArray:
    """Draw one category per element, element ``i`` using the distribution ``probs[rows[i]]``."""
    cum = np.cumsum(probs, axis=1)
    u = rng.random(len(rows))
    choice: IntArray = (u[:, None] >= cum[rows, :-1]).sum(axis=1, dtype=np.int64)
    return choice


def _top_k(
    rng: np.random.Generator, log_weights: FloatArray, k: IntArray
) -> tuple[IntArray, IntArray, IntArray]:
    """Weighted sampling without replacement of ``k[i]`` columns for each row ``i``.

    Uses the Gumbel-top-k trick. Returns ``(row, position, column)`` in row-major order,
    position 0 being the first item drawn. Rows need at least ``k[i]`` positive weights.
    """
    keys = rng.gumbel(size=log_weights.shape)
    keys += log_weights
    k_max = int(k.max())
    top = np.argpartition(-keys, k_max - 1, axis=1)[:, :k_max]
    order = np.argsort(-np.take_along_axis(keys, top, axis=1), axis=1)
    top = np.take_along_axis(top, order, axis=1)
    row, pos = np.nonzero(np.arange(k_max)[None, :] < k[:, None])
    return row.astype(np.int64), pos.astype(np.int64), top[row, pos].astype(np.int64)


def _ranges(starts: IntArray, lengths: IntArray) -> IntArray:
    """Concatenation of ``arange(s, s + n)`` for each start ``s`` and length ``n``."""
    offsets = np.cumsum(lengths) - lengths
    return np.repeat(starts - offsets, lengths) + np.arange(int(lengths.sum()), dtype=np.int64)


def _run_positions(sorted_keys: IntArray) -> IntArray:
    """Position of each element inside its run of equal keys (keys must be grouped)."""
    n = len(sorted_keys)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    is_start = np.empty(n, dtype=np.bool_)
    is_start[0] = True
    np.not_equal(sorted_keys[1:], sorted_keys[:-1], out=is_start[1:])
    starts = np.flatnonzero(is_start)
    run = np.cumsum(is_start) - 1
    position: IntArray = np.arange(n, dtype=np.int64) - starts[run]
    return position


def _first_occurrences(keys: IntArray) -> IntArray:
    """Indices of the first occurrence of each distinct key, in increasing order."""
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    is_first = np.ones(len(keys), dtype=np.bool_)
    np.not_equal(sorted_keys[1:], sorted_keys[:-1], out=is_first[1:])
    first = np.zeros(len(keys), dtype=np.bool_)
    first[order[is_first]] = True
    return np.flatnonzero(first)


def _vector(table: dict[str, float], keys: tuple[str, ...]) -> FloatArray:
    return np.array([table[k] for k in keys], dtype=np.float64)


def _check_counts(**minimums: tuple[object, int]) -> None:
    """The generators' integer arguments: ``name=(value, minimum)``; a TypeError for a
    non-integer (a bool is none), a ValueError naming the argument below its minimum."""
    for name, (value, minimum) in minimums.items():
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise TypeError(f"{name} must be an int, got {type(value).__name__}")
        if value < minimum:
            raise ValueError(f"{name} must be >= {minimum}, got {value}")
