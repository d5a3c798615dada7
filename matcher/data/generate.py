"""Synthetic matching instances: candidates, aptitudes, employers, slots, preferences.

Modelling choices (numbers are realistic defaults from docs/domain.md, not legal facts):

* **Candidates.** Track mix esdp 45% / ssw1 50% / ssw2 5%. Nationality follows the June 2025
  SSW i mix (Vietnam 43.9%, Indonesia 20.8%, ...; "other" is split over a few countries).
  The Japanese level depends on the track (esdp mostly A1, ssw1 mostly A2/B1, ssw2 mostly
  B1+). Most ESDP candidates are still abroad (null prefecture); SSW candidates often live
  in Japan, distributed like foreign workers (Aichi ~7.8%, the Kanto and Kansai metros
  ~6-7% each, long tail elsewhere).
* **Aptitudes.** 1-3 distinct sectors per candidate (mostly 1), drawn without replacement
  from the national SSW sector mix (stock of holders by sector), excluding sectors that
  the candidate's track cannot use (no ESDP in automobile transport or aviation, no SSW ii
  in nursing care). Scores grow with the Japanese level plus a personal ability term and
  noise; skills tests are mostly passed by SSW candidates, rarely by ESDP ones.
* **Employers.** Located like the foreign workforce; full-time staff is log-normal
  (median ~10, a few hundred-plus); ~10% are "excellent"; a minority demand A2 or B1.
* **Slots.** 1-3 sectors per employer (mostly 1), drawn from the national mix reweighted by
  prefecture (agriculture in Hokkaido/Ibaraki, shipbuilding in Hiroshima/Ehime/Kagawa,
  manufacturing in Aichi, ...), and 1-2 policy-allowed tracks per sector. An employer's
  demand follows the Technical Intern Training intake table (doubled when excellent) with
  log-normal noise and is split over its slots; every slot gets one place (when the total
  allows it) and the rest is shared in proportion to demand so that the total is exactly
  ``round(0.8 * candidates)``: at least a fifth of the candidates cannot be placed.
  Capacities are the employers' wishes; legal intake caps are left to the policy layer.
* **Preferences.** A random ``unlisted_share`` of candidates lists nothing. Every other
  candidate ranks up to ``list_length`` distinct employers having a slot for the candidate's
  track in one of its aptitude sectors. Each list is a weighted sample without replacement:
  the candidate first picks one of its sectors (favouring its main one), then, if it lives
  in Japan, with probability 0.3 an employer of its own prefecture, otherwise any employer
  of that sector and track; employers weigh more in metro prefectures and with more
  capacity. Lists ignore employers' minimum Japanese levels (eligibility is the solver's
  job). Large pools are sampled by repeated draws with replacement, keeping first
  occurrences (which is exactly successive sampling without replacement); small pools are
  enumerated and sampled with Efraimidis-Spirakis keys for the *same* weights.

Ids are ``C`` + the number zero-padded to the width of ``candidates`` and ``E`` + at least
six digits. Everything is vectorized with numpy (one ``numpy.random.Generator`` seeded
with ``seed``; loops run only over rounds, list positions or fixed-size blocks) and turned
into polars frames at the end, so the output depends only on the arguments.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
import polars as pl

from matcher.data.reference import (
    JAPANESE_LEVELS,
    METRO_PREFECTURES,
    PREFECTURES,
    SECTORS,
    TRACKS,
)

__all__ = ["generate_instance"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

# --------------------------------------------------------------------------------------
# Modelling constants
# --------------------------------------------------------------------------------------

#: Nationality mix of SSW i holders (June 2025); "other" (2.1%) split over five countries.
NATIONALITY_SHARES: Final[dict[str, float]] = {
    "VN": 43.9, "ID": 20.8, "MM": 10.7, "PH": 9.7, "CN": 6.0, "NP": 2.8, "KH": 2.1,
    "TH": 1.9, "LK": 0.7, "MN": 0.4, "UZ": 0.4, "BD": 0.3, "IN": 0.3,
}  # fmt: skip

#: Share of each track among candidates (order of ``TRACKS``).
TRACK_SHARES: Final[tuple[float, ...]] = (0.45, 0.50, 0.05)

#: P(Japanese level | track); columns follow ``JAPANESE_LEVELS`` (none, A1 ... C1).
LEVEL_PROBS_BY_TRACK: Final[dict[str, tuple[float, ...]]] = {
    "esdp": (0.06, 0.82, 0.12, 0.00, 0.00, 0.00),
    "ssw1": (0.00, 0.03, 0.60, 0.30, 0.06, 0.01),
    "ssw2": (0.00, 0.00, 0.05, 0.55, 0.32, 0.08),
}

#: P(candidate is still abroad | track): most ESDP entrants are recruited abroad.
ABROAD_SHARE_BY_TRACK: Final[dict[str, float]] = {
    "esdp": 0.90,
    "ssw1": 0.40,
    "ssw2": 0.05,
}

#: National sector mix: SSW holders by sector, June 2025; (~) entries are estimates.
SECTOR_MIX: Final[dict[str, float]] = {
    "nursing_care": 54_916, "building_cleaning": 6_000, "industrial_products_manufacturing": 51_473,
    "construction": 44_000, "shipbuilding": 9_500, "automobile_maintenance": 3_500,
    "aviation": 1_200, "accommodation": 1_000, "agriculture": 35_454, "fishery": 3_800,
    "food_beverage_manufacturing": 84_892, "food_service": 36_281, "automobile_transport": 300,
    "railway": 100, "forestry": 100, "wood_industry": 300, "logistics_warehousing": 1_000,
    "resource_recycling": 1_000, "linen_supply": 1_000,
}  # fmt: skip

#: (sector, track) pairs that policy rules out: no slots, no aptitudes on that track.
FORBIDDEN_SECTOR_TRACKS: Final[frozenset[tuple[str, str]]] = frozenset(
    {("nursing_care", "ssw2"), ("automobile_transport", "esdp"), ("aviation", "esdp")}
)

#: Share (%) of each prefecture among employers and resident foreign workers.
PREFECTURE_WEIGHTS: Final[dict[str, float]] = {
    "Hokkaido": 3.1, "Aomori": 0.6, "Iwate": 0.7, "Miyagi": 1.3, "Akita": 0.4,
    "Yamagata": 0.6, "Fukushima": 1.1, "Ibaraki": 3.6, "Tochigi": 2.0, "Gunma": 2.4,
    "Saitama": 6.4, "Chiba": 6.1, "Tokyo": 6.9, "Kanagawa": 6.0, "Niigata": 1.2,
    "Toyama": 1.1, "Ishikawa": 1.0, "Fukui": 0.7, "Yamanashi": 0.6, "Nagano": 1.6,
    "Gifu": 2.6, "Shizuoka": 3.6, "Aichi": 7.8, "Mie": 2.2, "Shiga": 1.4, "Kyoto": 1.8,
    "Osaka": 6.6, "Hyogo": 3.9, "Nara": 0.6, "Wakayama": 0.5, "Tottori": 0.4,
    "Shimane": 0.5, "Okayama": 1.8, "Hiroshima": 2.9, "Yamaguchi": 1.0, "Tokushima": 0.5,
    "Kagawa": 1.2, "Ehime": 1.4, "Kochi": 0.5, "Fukuoka": 4.1, "Saga": 0.6,
    "Nagasaki": 1.0, "Kumamoto": 1.9, "Oita": 0.8, "Miyazaki": 0.8, "Kagoshima": 1.5,
    "Okinawa": 0.7,
}  # fmt: skip

#: Regional specialisation: factor on a sector's national weight in a prefecture (default 1).
REGIONAL_SECTOR_FACTORS: Final[dict[str, dict[str, float]]] = {
    "agriculture": {
        "Hokkaido": 5, "Ibaraki": 5, "Chiba": 2, "Gunma": 2, "Tochigi": 2, "Nagano": 2.5,
        "Kumamoto": 3, "Kagoshima": 3, "Miyazaki": 3, "Kochi": 2.5,
        "Tokyo": 0.1, "Osaka": 0.2, "Kanagawa": 0.3,
    },
    "shipbuilding": {
        "Hiroshima": 12, "Ehime": 14, "Kagawa": 12, "Nagasaki": 8, "Okayama": 5,
        "Yamaguchi": 4, "Oita": 4, "Kochi": 2, "Gifu": 0, "Nagano": 0, "Yamanashi": 0,
        "Tochigi": 0, "Gunma": 0, "Saitama": 0, "Nara": 0, "Shiga": 0,
    },
    "industrial_products_manufacturing": {
        "Aichi": 2.5, "Shizuoka": 2, "Gifu": 2, "Mie": 2, "Shiga": 1.8, "Gunma": 1.6,
        "Tochigi": 1.5, "Toyama": 1.6, "Tokyo": 0.5, "Okinawa": 0.3,
    },
    "automobile_maintenance": {"Aichi": 1.5},
    "fishery": {
        "Hokkaido": 6, "Miyagi": 5, "Iwate": 5, "Aomori": 4, "Nagasaki": 4, "Kagoshima": 3,
        "Ehime": 3, "Kochi": 3, "Shizuoka": 2, "Tokyo": 0.2, "Tochigi": 0, "Gunma": 0,
        "Saitama": 0, "Yamanashi": 0, "Nagano": 0, "Gifu": 0, "Shiga": 0, "Nara": 0,
    },
    "food_beverage_manufacturing": {"Hokkaido": 1.5, "Kagoshima": 1.3, "Miyazaki": 1.3},
    "food_service": {"Tokyo": 2, "Osaka": 1.6, "Kanagawa": 1.3, "Fukuoka": 1.3},
    "building_cleaning": {"Tokyo": 2, "Osaka": 1.6, "Kanagawa": 1.3},
    "accommodation": {
        "Okinawa": 4, "Kyoto": 2.5, "Hokkaido": 2, "Nagano": 2, "Shizuoka": 1.5, "Tokyo": 1.5,
    },
    "aviation": {
        "Chiba": 6, "Tokyo": 4, "Osaka": 4, "Aichi": 3, "Fukuoka": 3, "Okinawa": 3,
        "Hokkaido": 2,
    },
    "forestry": {
        "Hokkaido": 4, "Iwate": 4, "Akita": 4, "Miyazaki": 4, "Kochi": 4, "Oita": 4,
        "Tokyo": 0.2, "Osaka": 0.2, "Kanagawa": 0.2,
    },
    "wood_industry": {"Miyazaki": 3, "Akita": 3, "Oita": 3, "Hokkaido": 3},
    "railway": {"Tokyo": 2, "Osaka": 2},
    "logistics_warehousing": {
        "Saitama": 2, "Chiba": 2, "Kanagawa": 2, "Osaka": 2, "Aichi": 2, "Hyogo": 2,
    },
}  # fmt: skip

#: P(1, 2, 3 aptitude sectors) per candidate and P(1, 2, 3 sectors) per employer.
APTITUDE_COUNT_PROBS: Final[tuple[float, ...]] = (0.70, 0.22, 0.08)
EMPLOYER_SECTOR_COUNT_PROBS: Final[tuple[float, ...]] = (0.80, 0.15, 0.05)
#: P(1, 2 tracks) declared per employer sector.
TRACKS_PER_SECTOR_PROBS: Final[tuple[float, ...]] = (0.65, 0.35)

#: P(skills test passed | track) in the main aptitude sector; halved for other sectors.
SKILLS_TEST_BY_TRACK: Final[dict[str, float]] = {
    "esdp": 0.12,
    "ssw1": 0.92,
    "ssw2": 0.98,
}

#: Employer minimum Japanese level (None = no requirement) and its probabilities.
MIN_LEVEL_CHOICES: Final[tuple[str | None, ...]] = (None, "A2", "B1")
MIN_LEVEL_PROBS: Final[tuple[float, ...]] = (0.82, 0.12, 0.06)
EXCELLENT_SHARE: Final[float] = 0.10

#: Technical Intern Training first-year intake: staff upper bounds and intake; 301+ -> /20.
INTAKE_STAFF_BOUNDS: Final[tuple[int, ...]] = (30, 40, 50, 100, 200, 300)
INTAKE_VALUES: Final[tuple[float, ...]] = (3, 4, 5, 6, 10, 15)

#: Total capacity as a share of the number of candidates.
CAPACITY_PER_CANDIDATE: Final[float] = 0.8

#: Preference model: how candidates choose among their sectors (main one first), the
#: probability that a resident candidate draws from its own prefecture, and the extra
#: weight of metro employers.
SECTOR_PICK_WEIGHTS: Final[tuple[float, ...]] = (0.60, 0.25, 0.15)
OWN_PREFECTURE_PULL: Final[float] = 0.3
METRO_WEIGHT: Final[float] = 2.5

_MAX_APTITUDES: Final[int] = len(APTITUDE_COUNT_PROBS)
_N_PREF: Final[int] = len(PREFECTURES)
_N_TRACK: Final[int] = len(TRACKS)
_N_GROUP: Final[int] = len(SECTORS) * _N_TRACK  # slot group = sector * 3 + track
_DRAW_ROUNDS: Final[int] = 6
_BLOCK_CANDIDATES: Final[int] = 1 << 15


# --------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------


def generate_instance(
    *,
    candidates: int,
    employers: int,
    seed: int,
    unlisted_share: float = 0.0,
    list_length: int = 20,
) -> dict[str, pl.DataFrame]:
    """Generate a reproducible synthetic matching instance.

    Parameters
    ----------
    candidates : int
        Number of candidates (>= 1).
    employers : int
        Number of employers (>= 1).
    seed : int
        Seed of the random generator (>= 0); equal arguments give equal tables.
    unlisted_share : float, default 0.0
        Share of candidates, chosen at random, that submit no preference list (they accept
        any eligible employer). Between 0 and 1.
    list_length : int, default 20
        Maximum length of a preference list (>= 1).

    Returns
    -------
    dict[str, polars.DataFrame]
        Tables keyed ``"candidates"``, ``"aptitudes"``, ``"employers"``, ``"slots"`` and
        ``"preferences"``, sorted by their key columns (``candidate_id``/``employer_id``,
        then ``sector`` and ``track``; preferences by ``candidate_id`` then ``rank``).

    Raises
    ------
    ValueError
        If an argument is out of range (the message names it).
    TypeError
        If an argument has the wrong type.

    Examples
    --------
    >>> tables = generate_instance(candidates=200, employers=30, seed=7, unlisted_share=0.1)
    >>> sorted(tables)
    ['aptitudes', 'candidates', 'employers', 'preferences', 'slots']
    >>> tables["candidates"].columns
    ['candidate_id', 'nationality', 'japanese_level', 'track', 'prefecture']
    >>> tables["candidates"]["candidate_id"][0], tables["employers"]["employer_id"][0]
    ('C001', 'E000001')
    >>> int(tables["slots"]["capacity"].sum())
    160
    >>> tables["preferences"].columns
    ['candidate_id', 'employer_id', 'rank']
    """
    _validate(candidates, employers, seed, unlisted_share, list_length)
    rng = np.random.default_rng(seed)

    cand = _draw_candidates(rng, candidates)
    apt = _draw_aptitudes(rng, cand)
    emp = _draw_employers(rng, employers)
    slots = _draw_slots(rng, emp, total_capacity=round(CAPACITY_PER_CANDIDATE * candidates))
    unlisted = np.zeros(candidates, dtype=np.bool_)
    unlisted[rng.permutation(candidates)[: round(unlisted_share * candidates)]] = True
    prefs = _draw_preferences(rng, cand, apt, emp, slots, unlisted, list_length)

    cand_ids = _ids("C", candidates, len(str(candidates)))
    emp_ids = _ids("E", employers, max(6, len(str(employers))))
    return {
        "candidates": _candidates_frame(cand, cand_ids),
        "aptitudes": _aptitudes_frame(apt, cand_ids),
        "employers": _employers_frame(emp, emp_ids),
        "slots": _slots_frame(slots, emp_ids),
        "preferences": _preferences_frame(prefs, cand_ids, emp_ids),
    }


def _validate(candidates: int, employers: int, seed: int, unlisted_share: float, list_length: int) -> None:
    for name, value, minimum in (
        ("candidates", candidates, 1),
        ("employers", employers, 1),
        ("seed", seed, 0),
        ("list_length", list_length, 1),
    ):
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise TypeError(f"{name} must be an int, got {type(value).__name__}")
        if value < minimum:
            raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if isinstance(unlisted_share, bool) or not isinstance(unlisted_share, int | float):
        raise TypeError(f"unlisted_share must be a float, got {type(unlisted_share).__name__}")
    if not 0.0 <= unlisted_share <= 1.0:  # also rejects NaN
        raise ValueError(f"unlisted_share must be between 0 and 1, got {unlisted_share}")


# --------------------------------------------------------------------------------------
# Sampling helpers
# --------------------------------------------------------------------------------------


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


def _allowed_sector_tracks() -> BoolArray:
    """``allowed[sector, track]``: whether policy allows that sector on that track."""
    return np.array(
        [[(s, t) not in FORBIDDEN_SECTOR_TRACKS for t in TRACKS] for s in SECTORS],
        dtype=np.bool_,
    )


def _regional_sector_weights() -> FloatArray:
    """Sector mix of employers in each prefecture, shape (47, 19), rows sum to 1."""
    weights = np.tile(_vector(SECTOR_MIX, SECTORS), (_N_PREF, 1))
    for s, sector in enumerate(SECTORS):
        for prefecture, factor in REGIONAL_SECTOR_FACTORS.get(sector, {}).items():
            weights[PREFECTURES.index(prefecture), s] *= factor
    return _probabilities(weights)


# --------------------------------------------------------------------------------------
# Entities (numpy columns; codes index the reference vocabularies, -1 means null)
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Candidates:
    nationality: IntArray
    track: IntArray
    level: IntArray
    prefecture: IntArray  # -1 = abroad


@dataclass(frozen=True)
class _Aptitudes:
    candidate: IntArray  # sorted; position 0 (main sector) first within a candidate
    position: IntArray
    sector: IntArray
    score: FloatArray
    skills_test: BoolArray


@dataclass(frozen=True)
class _Employers:
    prefecture: IntArray
    staff: IntArray
    excellent: BoolArray
    min_level: IntArray  # -1 = no requirement


@dataclass(frozen=True)
class _Slots:
    employer: IntArray
    sector: IntArray
    track: IntArray
    capacity: IntArray


@dataclass(frozen=True)
class _Preferences:
    candidate: IntArray
    employer: IntArray
    rank: IntArray


def _draw_candidates(rng: np.random.Generator, n: int) -> _Candidates:
    track = _choose(rng, _probabilities(TRACK_SHARES), n)
    nationality = _choose(rng, _probabilities(list(NATIONALITY_SHARES.values())), n)
    level_p = _probabilities([LEVEL_PROBS_BY_TRACK[t] for t in TRACKS])
    level = _categorical(rng, level_p, track)
    abroad = rng.random(n) < _vector(ABROAD_SHARE_BY_TRACK, TRACKS)[track]
    prefecture = _choose(rng, _probabilities(_vector(PREFECTURE_WEIGHTS, PREFECTURES)), n)
    prefecture[abroad] = -1
    return _Candidates(nationality, track, level, prefecture)


def _draw_aptitudes(rng: np.random.Generator, cand: _Candidates) -> _Aptitudes:
    n = len(cand.track)
    count = 1 + _choose(rng, _probabilities(APTITUDE_COUNT_PROBS), n)
    track_mix = _vector(SECTOR_MIX, SECTORS)[:, None] * _allowed_sector_tracks()
    row, position, sector = _top_k(rng, _log(track_mix.T)[cand.track], count)

    # Score: level effect + personal ability + noise, lower outside the main sector.
    ability = rng.normal(0.0, 9.0, size=n)
    noise = rng.normal(0.0, 6.0, size=len(row))
    raw = 38.0 + 8.0 * cand.level[row] + ability[row] + noise - 5.0 * position
    score = np.round(np.clip(raw, 0.0, 100.0), 1)
    pass_p = _vector(SKILLS_TEST_BY_TRACK, TRACKS)[cand.track[row]]
    skills_test = rng.random(len(row)) < np.where(position > 0, pass_p / 2, pass_p)
    return _Aptitudes(row, position, sector, score, skills_test)


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


# --------------------------------------------------------------------------------------
# Preferences
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _SlotIndex:
    """Slots sorted by (group, prefecture, employer) with cumulative draw weights.

    ``group = sector * 3 + track``. The slots of a group are contiguous, and so are those
    of a (group, prefecture) pair ("subgroup", index ``group * 47 + prefecture``).
    """

    employer: IntArray
    prefecture: IntArray
    weight: FloatArray
    cum: FloatArray  # cum[i] = weight of slots before i; cum[-2] = total, cum[-1] = inf
    group_start: IntArray
    group_end: IntArray
    sub_start: IntArray
    sub_end: IntArray
    guide: IntArray  # guide[k]: a slot at or before the one holding weight k * total / len(guide)

    @classmethod
    def build(cls, emp: _Employers, slots: _Slots) -> _SlotIndex:
        group = slots.sector * _N_TRACK + slots.track
        prefecture = emp.prefecture[slots.employer]
        order = np.lexsort((slots.employer, prefecture, group))
        group, prefecture = group[order], prefecture[order]
        metro = np.isin(np.arange(_N_PREF), [PREFECTURES.index(p) for p in METRO_PREFECTURES])
        weight = np.where(metro[prefecture], METRO_WEIGHT, 1.0) * np.sqrt(1.0 + slots.capacity[order])
        cum = np.concatenate(([0.0], np.cumsum(weight), [np.inf]))
        n_buckets = 2 * len(weight)
        edges = np.arange(n_buckets) * (cum[-2] / n_buckets)
        # One slot back guards against rounding at bucket edges.
        guide = np.maximum(np.searchsorted(cum, edges, side="right") - 2, 0)
        sub = group * _N_PREF + prefecture
        all_groups = np.arange(_N_GROUP)
        all_subs = np.arange(_N_GROUP * _N_PREF)
        return cls(
            employer=slots.employer[order],
            prefecture=prefecture,
            weight=weight,
            cum=cum,
            group_start=np.searchsorted(group, all_groups, side="left"),
            group_end=np.searchsorted(group, all_groups, side="right"),
            sub_start=np.searchsorted(sub, all_subs, side="left"),
            sub_end=np.searchsorted(sub, all_subs, side="right"),
            guide=guide,
        )

    def slot_at(self, x: FloatArray) -> IntArray:
        """Slot ``j`` with ``cum[j] <= x < cum[j + 1]`` for each ``x`` in ``[0, total)``.

        Inverse CDF by guide table: start from the bucket's guide slot and step forward;
        a few vectorized steps replace a binary search per value (about 6x faster).
        """
        bucket = (x * (len(self.guide) / self.cum[-2])).astype(np.int64)
        slot: IntArray = self.guide[np.minimum(bucket, len(self.guide) - 1)]
        while True:
            step = self.cum[slot + 1] <= x
            if not step.any():
                return slot
            slot += step


@dataclass(frozen=True)
class _Choice:
    """Per candidate and aptitude position (shape (n, 3)): how a draw picks an employer.

    A draw picks position ``r`` with probability ``pick[:, r]``, then with probability
    ``own[:, r]`` an employer of the candidate's prefecture in slot group ``group[:, r]``,
    otherwise any employer of that group, each proportionally to its slot weight.
    """

    group: IntArray  # -1 where the candidate has no aptitude at that position
    pick: FloatArray
    own: FloatArray
    prefecture: IntArray  # (n,), -1 = abroad


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


# --------------------------------------------------------------------------------------
# polars output
# --------------------------------------------------------------------------------------


def _ids(prefix: str, n: int, width: int) -> pl.Series:
    number = pl.int_range(1, n + 1, dtype=pl.Int64).cast(pl.String).str.zfill(width)
    return pl.select((pl.lit(prefix) + number).alias("id")).to_series()


def _labels(name: str, vocabulary: tuple[str, ...], codes: IntArray) -> pl.Series:
    """String column from vocabulary codes; code -1 becomes null."""
    index = pl.Series(name, codes, dtype=pl.Int64)
    missing = np.flatnonzero(codes < 0)
    if len(missing):
        index = index.scatter(missing, None)
    return pl.Series(name, vocabulary, dtype=pl.String).gather(index).alias(name)


def _candidates_frame(cand: _Candidates, ids: pl.Series) -> pl.DataFrame:
    return pl.DataFrame(
        [
            ids.alias("candidate_id"),
            _labels("nationality", tuple(NATIONALITY_SHARES), cand.nationality),
            _labels("japanese_level", JAPANESE_LEVELS, cand.level),
            _labels("track", TRACKS, cand.track),
            _labels("prefecture", PREFECTURES, cand.prefecture),
        ]
    )


def _aptitudes_frame(apt: _Aptitudes, cand_ids: pl.Series) -> pl.DataFrame:
    frame = pl.DataFrame(
        [
            cand_ids.gather(apt.candidate).alias("candidate_id"),
            _labels("sector", SECTORS, apt.sector),
            pl.Series("score", apt.score, dtype=pl.Float64),
            pl.Series("skills_test", apt.skills_test, dtype=pl.Boolean),
        ]
    )
    return frame.sort("candidate_id", "sector")


def _employers_frame(emp: _Employers, ids: pl.Series) -> pl.DataFrame:
    return pl.DataFrame(
        [
            ids.alias("employer_id"),
            _labels("prefecture", PREFECTURES, emp.prefecture),
            pl.Series("full_time_staff", emp.staff, dtype=pl.Int64),
            pl.Series("excellent", emp.excellent, dtype=pl.Boolean),
            _labels("min_japanese_level", JAPANESE_LEVELS, emp.min_level),
        ]
    )


def _slots_frame(slots: _Slots, emp_ids: pl.Series) -> pl.DataFrame:
    frame = pl.DataFrame(
        [
            emp_ids.gather(slots.employer).alias("employer_id"),
            _labels("sector", SECTORS, slots.sector),
            _labels("track", TRACKS, slots.track),
            pl.Series("capacity", slots.capacity, dtype=pl.Int64),
        ]
    )
    return frame.sort("employer_id", "sector", "track")


def _preferences_frame(prefs: _Preferences, cand_ids: pl.Series, emp_ids: pl.Series) -> pl.DataFrame:
    # Already sorted by (candidate, rank); candidate codes sort like their ids.
    return pl.DataFrame(
        [
            cand_ids.gather(prefs.candidate).alias("candidate_id"),
            emp_ids.gather(prefs.employer).alias("employer_id"),
            pl.Series("rank", prefs.rank, dtype=pl.Int64),
        ]
    )
