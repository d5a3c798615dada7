"""Reference mixes and modelling constants of the programme, and the weight tables built from them.

Numbers are realistic defaults from docs/domain.md, not legal facts.
"""

from __future__ import annotations

from typing import Final

import numpy as np

from matcher.data.generate.sampling import BoolArray, FloatArray, _probabilities, _vector
from matcher.data.reference import PREFECTURES, SECTORS, TRACKS

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
