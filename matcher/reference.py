"""Reference vocabularies: prefectures, Japanese levels, tracks, sectors.

These are facts about Japan, not policy. Policy (caps, minimum levels, intake rules) lives
in policy files; see :mod:`matcher.policy`.
"""

from __future__ import annotations

from typing import Final

import polars as pl

#: Japan's 47 prefectures in JIS X 0401 order: index + 1 is the JIS code.
PREFECTURES: Final[tuple[str, ...]] = (
    "Hokkaido", "Aomori", "Iwate", "Miyagi", "Akita", "Yamagata", "Fukushima",
    "Ibaraki", "Tochigi", "Gunma", "Saitama", "Chiba", "Tokyo", "Kanagawa",
    "Niigata", "Toyama", "Ishikawa", "Fukui", "Yamanashi", "Nagano", "Gifu",
    "Shizuoka", "Aichi", "Mie", "Shiga", "Kyoto", "Osaka", "Hyogo", "Nara",
    "Wakayama", "Tottori", "Shimane", "Okayama", "Hiroshima", "Yamaguchi",
    "Tokushima", "Kagawa", "Ehime", "Kochi", "Fukuoka", "Saga", "Nagasaki",
    "Kumamoto", "Oita", "Miyazaki", "Kagoshima", "Okinawa",
)  # fmt: skip

#: The eight metro prefectures named in the ESDP transfer rules (DOMAIN.md).
METRO_PREFECTURES: Final[tuple[str, ...]] = (
    "Saitama", "Chiba", "Tokyo", "Kanagawa", "Aichi", "Kyoto", "Osaka", "Hyogo",
)  # fmt: skip

#: Japanese levels on the CEFR scale, lowest first. The position is the level's rank.
JAPANESE_LEVELS: Final[tuple[str, ...]] = ("none", "A1", "A2", "B1", "B2", "C1")

#: JLPT levels accepted as aliases of CEFR levels.
JLPT_ALIASES: Final[dict[str, str]] = {"N5": "A1", "N4": "A2", "N3": "B1", "N2": "B2", "N1": "C1"}

#: Programs a candidate can apply for.
TRACKS: Final[tuple[str, ...]] = ("esdp", "ssw1", "ssw2")

#: The 19 SSW sectors of the January 2026 cabinet decision (ids used in files).
SECTORS: Final[tuple[str, ...]] = (
    "nursing_care", "building_cleaning", "industrial_products_manufacturing",
    "construction", "shipbuilding", "automobile_maintenance", "aviation",
    "accommodation", "agriculture", "fishery", "food_beverage_manufacturing",
    "food_service", "automobile_transport", "railway", "forestry", "wood_industry",
    "logistics_warehousing", "resource_recycling", "linen_supply",
)  # fmt: skip

_PREFECTURE_BY_KEY: Final[dict[str, str]] = {p.lower(): p for p in PREFECTURES}


def japanese_level_rank(value: str) -> int | None:
    """Rank of a Japanese level (0 = none ... 5 = C1), or None when unknown.

    CEFR names are matched case-insensitively; JLPT N5..N1 are aliases.
    """
    v = value.strip()
    v = JLPT_ALIASES.get(v.upper(), v)
    for i, level in enumerate(JAPANESE_LEVELS):
        if v.lower() == level.lower():
            return i
    return None


def prefecture_name(value: str) -> str | None:
    """Canonical prefecture name for a name (any case) or JIS code 1-47, else None."""
    v = value.strip()
    if v.isdigit():
        code = int(v)
        return PREFECTURES[code - 1] if 1 <= code <= len(PREFECTURES) else None
    return _PREFECTURE_BY_KEY.get(v.lower())


def level_rank(column: str) -> pl.Expr:
    """Rank of a column of canonical CEFR levels (0 = none ... 5 = C1; null counts as 0)."""
    mapping = {lv: i for i, lv in enumerate(JAPANESE_LEVELS)}
    return pl.col(column).replace_strict(mapping, default=0, return_dtype=pl.Int8)
