"""Preference lists: weighted sampling without replacement, by repeated draws or by enumeration."""

from __future__ import annotations

from typing import Final

import numpy as np

from matcher.data.generate.entities import _Aptitudes, _Candidates, _Employers, _Preferences, _Slots
from matcher.data.generate.mixes import (
    _MAX_APTITUDES,
    _N_PREF,
    _N_TRACK,
    OWN_PREFECTURE_PULL,
    SECTOR_PICK_WEIGHTS,
)
from matcher.data.generate.sampling import (
    BoolArray,
    FloatArray,
    IntArray,
    _first_occurrences,
    _ranges,
    _run_positions,
)
from matcher.data.generate.slot_index import _Choice, _SlotIndex

#: Rounds of repeated draws before a list still short is enumerated.
_DRAW_ROUNDS: Final[int] = 6
#: Candidates per block of list sampling (bounds the size of temporaries).
_BLOCK_CANDIDATES: Final[int] = 1 << 15


def _draw_preferences(
    rng: np.random.Generator,
    cand: _Candidates,
    apt: _Aptitudes,
    emp: _Employers,
    slots: _Slots,
    unlisted: BoolArray,
    list_length: int,
) -> _Preferences:
    index = _SlotIndex.build(emp, slots)
    n = len(cand.track)

    group = np.full((n, _MAX_APTITUDES), -1, dtype=np.int64)
    group[apt.candidate, apt.position] = apt.sector * _N_TRACK + cand.track[apt.candidate]
    valid = group >= 0
    safe_group = np.where(valid, group, 0)
    pool = np.where(valid, index.group_end[safe_group] - index.group_start[safe_group], 0)
    pick = np.where(pool > 0, np.array(SECTOR_PICK_WEIGHTS), 0.0)
    pick[unlisted] = 0.0
    total = pick.sum(axis=1)
    listing = total > 0
    pick[listing] /= total[listing, None]

    sub = safe_group * _N_PREF + np.maximum(cand.prefecture, 0)[:, None]
    own_pool = (index.sub_end[sub] - index.sub_start[sub]) * (cand.prefecture >= 0)[:, None]
    own = np.where(valid & (own_pool > 0), OWN_PREFECTURE_PULL, 0.0)
    choice = _Choice(group, pick, own, cand.prefecture)

    # Candidates whose largest pool is comfortably longer than the list are served by
    # repeated draws; the others (and any still short after a few rounds) are enumerated.
    # Candidates go in blocks so that temporaries stay small (faster, lower memory peak).
    large = listing & (pool.max(axis=1) >= 2 * list_length)
    listed = np.flatnonzero(listing)
    blocks = np.array_split(listed, max(1, -(-len(listed) // _BLOCK_CANDIDATES)))
    lists = [_lists_for(rng, index, choice, block, large[block], list_length) for block in blocks]
    return _Preferences(
        np.concatenate([p.candidate for p in lists]),
        np.concatenate([p.employer for p in lists]),
        np.concatenate([p.rank for p in lists]),
    )


def _lists_for(
    rng: np.random.Generator,
    index: _SlotIndex,
    choice: _Choice,
    cands: IntArray,
    large: BoolArray,
    list_length: int,
) -> _Preferences:
    """Preference lists of some candidates, sorted by candidate then rank."""
    parts: list[_Preferences] = []
    short = _sample_by_draws(rng, index, choice, cands[large], list_length, parts)
    small = np.union1d(cands[~large], short)
    parts.append(_sample_by_enumeration(rng, index, choice, small, list_length))
    # Each list lies in one part, in rank order: a stable sort by candidate suffices.
    cand = np.concatenate([p.candidate for p in parts])
    order = np.argsort(cand, kind="stable")
    return _Preferences(
        cand[order],
        np.concatenate([p.employer for p in parts])[order],
        np.concatenate([p.rank for p in parts])[order],
    )


def _draw_employers_for(
    rng: np.random.Generator,
    index: _SlotIndex,
    choice: _Choice,
    active: IntArray,
    draws: int,
) -> tuple[IntArray, IntArray]:
    """``draws`` employer draws (with replacement) for each active candidate.

    Returns ``(candidate, employer)``, grouped by candidate in draw order.
    """
    pick = choice.pick[active]
    threshold = np.cumsum(pick, axis=1)[:, :-1]
    # Rounding may push u past the last positive pick weight: fall back to that one.
    last = _MAX_APTITUDES - 1 - np.argmax(pick[:, ::-1] > 0, axis=1)
    local = np.repeat(np.arange(len(active)), draws)
    who = active[local]

    u = rng.random(len(who))
    r = np.minimum((u[:, None] >= threshold[local]).sum(axis=1), last[local])
    group = choice.group[who, r]
    own = rng.random(len(who)) < choice.own[who, r]
    sub = group * _N_PREF + np.maximum(choice.prefecture[who], 0)
    start = np.where(own, index.sub_start[sub], index.group_start[group])
    end = np.where(own, index.sub_end[sub], index.group_end[group])

    lo = index.cum[start]
    x = lo + rng.random(len(who)) * (index.cum[end] - lo)
    slot = np.clip(index.slot_at(x), start, end - 1)  # clip guards against rounding
    return who, index.employer[slot]


def _sample_by_draws(
    rng: np.random.Generator,
    index: _SlotIndex,
    choice: _Choice,
    active: IntArray,
    list_length: int,
    done: list[_Preferences],
) -> IntArray:
    """Fill lists by draws with replacement, keeping each employer's first occurrence.

    Completed lists are appended to ``done``; returns the candidates still short after
    ``_DRAW_ROUNDS`` rounds.
    """
    n_employers = int(index.employer.max(initial=0)) + 1
    kept_cand = np.zeros(0, dtype=np.int64)
    kept_emp = np.zeros(0, dtype=np.int64)
    draws = list_length + list_length // 10 + 2  # leaves ~1% of the lists short
    for _ in range(_DRAW_ROUNDS):
        if len(active) == 0:
            break
        who, drawn = _draw_employers_for(rng, index, choice, active, draws)
        # Kept draws come before new ones, and a stable sort by candidate preserves
        # that order, so first occurrences follow the draw order within each list.
        cand, employer = who, drawn
        if len(kept_cand):
            cand = np.concatenate((kept_cand, who))
            employer = np.concatenate((kept_emp, drawn))
            order = np.argsort(cand, kind="stable")
            cand, employer = cand[order], employer[order]
        first = _first_occurrences(cand * n_employers + employer)
        cand, employer = cand[first], employer[first]
        position = _run_positions(cand)

        run_length = np.unique(cand, return_counts=True)[1]  # cand is sorted: runs in order
        full = np.repeat(run_length >= list_length, run_length)
        keep = full & (position < list_length)
        done.append(_Preferences(cand[keep], employer[keep], position[keep] + 1))
        kept_cand, kept_emp = cand[~full], employer[~full]
        active = np.unique(kept_cand)
        draws = list_length
    return active


def _sample_by_enumeration(
    rng: np.random.Generator,
    index: _SlotIndex,
    choice: _Choice,
    cands: IntArray,
    list_length: int,
) -> _Preferences:
    """Exact weighted sampling without replacement over each candidate's whole pool.

    Weights are the single-draw probabilities of :func:`_pool_probabilities`, so this
    sampler and :func:`_sample_by_draws` produce the same distribution of lists.
    """
    cand, employer, probability = _pool_probabilities(index, choice, cands)
    # Efraimidis-Spirakis: sorting by log(u) / p, largest first, is successive sampling.
    es_key = np.log(rng.random(len(cand))) / probability
    order = np.lexsort((-es_key, cand))
    cand, employer = cand[order], employer[order]
    position = _run_positions(cand)
    keep = position < list_length
    return _Preferences(cand[keep], employer[keep], position[keep] + 1)


def _pool_probabilities(
    index: _SlotIndex, choice: _Choice, cands: IntArray
) -> tuple[IntArray, IntArray, FloatArray]:
    """Each candidate's eligible employers with the probability that one draw hits them.

    Returns ``(candidate, employer, probability)`` sorted by candidate then employer.
    """
    owners: list[IntArray] = []
    slots: list[IntArray] = []
    masses: list[FloatArray] = []
    for r in range(_MAX_APTITUDES):
        c = cands[choice.pick[cands, r] > 0]
        group = choice.group[c, r]
        start, end = index.group_start[group], index.group_end[group]
        sub = group * _N_PREF + np.maximum(choice.prefecture[c], 0)
        own_total = index.cum[index.sub_end[sub]] - index.cum[index.sub_start[sub]]
        pick, own = choice.pick[c, r], choice.own[c, r]
        # Probability per unit of slot weight: from the whole group, and extra at home.
        any_rate = pick * (1.0 - own) / (index.cum[end] - index.cum[start])
        home_rate = pick * own / np.where(own > 0, own_total, 1.0)

        size = end - start
        slot = _ranges(start, size)
        home = index.prefecture[slot] == np.repeat(choice.prefecture[c], size)
        rate = np.repeat(any_rate, size) + np.where(home, np.repeat(home_rate, size), 0.0)
        owners.append(np.repeat(c, size))
        slots.append(slot)
        masses.append(index.weight[slot] * rate)

    n_employers = int(index.employer.max(initial=0)) + 1
    key = np.concatenate(owners) * n_employers + index.employer[np.concatenate(slots)]
    unique_key, inverse = np.unique(key, return_inverse=True)
    mass = np.bincount(inverse, weights=np.concatenate(masses), minlength=len(unique_key))
    probability = mass.astype(np.float64, copy=False)  # float already; for the type checker
    return unique_key // n_employers, unique_key % n_employers, probability
