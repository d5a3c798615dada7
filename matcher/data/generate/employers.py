"""Employers (prefecture, staff, excellence, minimum Japanese level) and their slots with capacities."""

from __future__ import annotations

import numpy as np

from matcher.data.generate.entities import _Employers, _Slots
from matcher.data.generate.mixes import (
    EMPLOYER_SECTOR_COUNT_PROBS,
    EXCELLENT_SHARE,
    INTAKE_STAFF_BOUNDS,
    INTAKE_VALUES,
    MIN_LEVEL_CHOICES,
    MIN_LEVEL_PROBS,
    PREFECTURE_WEIGHTS,
    TRACK_SHARES,
    TRACKS_PER_SECTOR_PROBS,
    _allowed_sector_tracks,
    _regional_sector_weights,
)
from matcher.data.generate.sampling import (
    FloatArray,
    IntArray,
    _choose,
    _log,
    _probabilities,
    _top_k,
    _vector,
)
from matcher.data.reference import JAPANESE_LEVELS, PREFECTURES


def _draw_employers(rng: np.random.Generator, m: int) -> _Employers:
    prefecture = _choose(rng, _probabilities(_vector(PREFECTURE_WEIGHTS, PREFECTURES)), m)
    staff = np.ceil(rng.lognormal(2.2, 1.15, size=m)).clip(1, 20_000).astype(np.int64)
    excellent = rng.random(m) < EXCELLENT_SHARE
    level_codes = np.array(
        [-1 if lv is None else JAPANESE_LEVELS.index(lv) for lv in MIN_LEVEL_CHOICES],
        dtype=np.int64,
    )
    min_level = level_codes[_choose(rng, _probabilities(MIN_LEVEL_PROBS), m)]
    return _Employers(prefecture, staff, excellent, min_level)


def _draw_slots(rng: np.random.Generator, emp: _Employers, total_capacity: int) -> _Slots:
    m = len(emp.prefecture)
    n_sectors = 1 + _choose(rng, _probabilities(EMPLOYER_SECTOR_COUNT_PROBS), m)
    regional_mix = _log(_regional_sector_weights())[emp.prefecture]
    owner, _, sector = _top_k(rng, regional_mix, n_sectors)

    n_tracks = 1 + _choose(rng, _probabilities(TRACKS_PER_SECTOR_PROBS), len(owner))
    track_mix = _log(_probabilities(TRACK_SHARES)[None, :] * _allowed_sector_tracks())
    row, _, track = _top_k(rng, track_mix[sector], n_tracks)
    employer, sector = owner[row], sector[row]

    # Demand per employer from the intake table (x2 if excellent), split over its slots.
    tier = np.searchsorted(np.array(INTAKE_STAFF_BOUNDS), emp.staff, side="left")
    intake = np.append(np.array(INTAKE_VALUES), 0.0)[tier]
    intake = np.where(tier == len(INTAKE_VALUES), emp.staff / 20.0, intake)
    demand = intake * np.where(emp.excellent, 2.0, 1.0) * rng.lognormal(0.0, 0.8, size=m)
    share = rng.gamma(1.5, size=len(employer))
    share = share / np.bincount(employer, weights=share, minlength=m)[employer]
    # Every slot gets at least one place when the total allows it; the rest is shared
    # in proportion to demand.
    base = 1 if total_capacity >= len(employer) else 0
    rest = total_capacity - base * len(employer)
    capacity = base + _round_to_total(demand[employer] * share, rest)
    return _Slots(employer, sector, track, capacity)


def _round_to_total(values: FloatArray, total: int) -> IntArray:
    """Scale ``values`` to sum to ``total`` and round by largest remainder."""
    scaled = values * (total / values.sum())
    floor = np.floor(scaled)
    missing = total - int(floor.sum())
    bump = np.argsort(-(scaled - floor), kind="stable")[:missing]
    floor[bump] += 1.0
    capacity: IntArray = floor.astype(np.int64)
    return capacity
