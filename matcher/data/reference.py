"""Reference vocabularies: prefectures, Japanese levels, tracks, sectors.

These are facts about Japan, not policy. Policy (caps, minimum levels, intake rules) lives
in policy files; see :mod:`matcher.data.policy`.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from typing import Final

import polars as pl

#: Japan's 47 prefectures: JIS X 0401 code, Hepburn romanisation (long vowels with a
#: macron), the kanji name with its suffix (都, 道, 府 or 県) and the reading in hiragana
#: without the suffix (道 is part of Hokkaidō's). Every accepted spelling of a prefecture
#: is generated from this table (see :data:`PREFECTURE_SPELLINGS`).
PREFECTURE_TABLE: Final[tuple[tuple[int, str, str, str], ...]] = (
    (1, "Hokkaidō", "北海道", "ほっかいどう"),
    (2, "Aomori", "青森県", "あおもり"),
    (3, "Iwate", "岩手県", "いわて"),
    (4, "Miyagi", "宮城県", "みやぎ"),
    (5, "Akita", "秋田県", "あきた"),
    (6, "Yamagata", "山形県", "やまがた"),
    (7, "Fukushima", "福島県", "ふくしま"),
    (8, "Ibaraki", "茨城県", "いばらき"),
    (9, "Tochigi", "栃木県", "とちぎ"),
    (10, "Gunma", "群馬県", "ぐんま"),
    (11, "Saitama", "埼玉県", "さいたま"),
    (12, "Chiba", "千葉県", "ちば"),
    (13, "Tōkyō", "東京都", "とうきょう"),
    (14, "Kanagawa", "神奈川県", "かながわ"),
    (15, "Niigata", "新潟県", "にいがた"),
    (16, "Toyama", "富山県", "とやま"),
    (17, "Ishikawa", "石川県", "いしかわ"),
    (18, "Fukui", "福井県", "ふくい"),
    (19, "Yamanashi", "山梨県", "やまなし"),
    (20, "Nagano", "長野県", "ながの"),
    (21, "Gifu", "岐阜県", "ぎふ"),
    (22, "Shizuoka", "静岡県", "しずおか"),
    (23, "Aichi", "愛知県", "あいち"),
    (24, "Mie", "三重県", "みえ"),
    (25, "Shiga", "滋賀県", "しが"),
    (26, "Kyōto", "京都府", "きょうと"),
    (27, "Ōsaka", "大阪府", "おおさか"),
    (28, "Hyōgo", "兵庫県", "ひょうご"),
    (29, "Nara", "奈良県", "なら"),
    (30, "Wakayama", "和歌山県", "わかやま"),
    (31, "Tottori", "鳥取県", "とっとり"),
    (32, "Shimane", "島根県", "しまね"),
    (33, "Okayama", "岡山県", "おかやま"),
    (34, "Hiroshima", "広島県", "ひろしま"),
    (35, "Yamaguchi", "山口県", "やまぐち"),
    (36, "Tokushima", "徳島県", "とくしま"),
    (37, "Kagawa", "香川県", "かがわ"),
    (38, "Ehime", "愛媛県", "えひめ"),
    (39, "Kōchi", "高知県", "こうち"),
    (40, "Fukuoka", "福岡県", "ふくおか"),
    (41, "Saga", "佐賀県", "さが"),
    (42, "Nagasaki", "長崎県", "ながさき"),
    (43, "Kumamoto", "熊本県", "くまもと"),
    (44, "Ōita", "大分県", "おおいた"),
    (45, "Miyazaki", "宮崎県", "みやざき"),
    (46, "Kagoshima", "鹿児島県", "かごしま"),
    (47, "Okinawa", "沖縄県", "おきなわ"),
)  # fmt: skip


def _without_marks(text: str) -> str:
    """``text`` without combining marks (Tōkyō -> Tokyo), via Unicode decomposition."""
    return "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))


#: Japan's 47 prefectures in JIS X 0401 order: index + 1 is the JIS code. These plain
#: romanised names (no macrons) are the canonical values stored after validation.
PREFECTURES: Final[tuple[str, ...]] = tuple(_without_marks(name) for _, name, _, _ in PREFECTURE_TABLE)

#: The eight metro prefectures named in the ESDP transfer rules (docs/domain.md).
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

_MACRON, _CIRCUMFLEX = "\u0304", "\u0302"
#: Romanised prefecture suffixes (県, 府 in Hepburn and Kunrei-shiki, 都) accepted after
#: any prefecture's name, and the separators between name and suffix ("Aichi-ken",
#: "Aichi ken", "Aichiken").
_ROMAJI_SUFFIXES: Final[tuple[str, ...]] = ("ken", "fu", "hu", "to")
_SUFFIX_SEPARATORS: Final[tuple[str, ...]] = ("-", " ", "")
#: English suffixes accepted after any prefecture's name ("Osaka Prefecture").
_ENGLISH_SUFFIXES: Final[tuple[str, ...]] = (" prefecture", "-prefecture", " pref.", " pref")
#: Kanji suffixes that may be left out (東京 for 東京都); 道 may not: 北海 is no prefecture.
_OPTIONAL_KANJI_SUFFIXES: Final[str] = "都府県"
#: The romanised 道 that ends Hokkaidō, also written apart ("Hokkai-dō", "Hokkai do").
_DO: Final[str] = "dō"
#: Hepburn to Kunrei-shiki (ISO 3602), in this order: the syllables in which the two differ
#: in prefecture names (Fukuoka: Hukuoka, Shizuoka: Sizuoka, Kōchi: Kôti, Chiba: Tiba).
_KUNREI: Final[tuple[tuple[str, str], ...]] = (
    ("shi", "si"), ("sh", "sy"), ("chi", "ti"), ("ch", "ty"), ("tsu", "tu"), ("fu", "hu"),
    ("ji", "zi"), ("j", "zy"),
)  # fmt: skip
#: Kana suffixes for 都, 府 and 県 (とうきょうと, おおさかふ, あいちけん).
_KANA_SUFFIXES: Final[dict[str, str]] = {"都": "と", "府": "ふ", "県": "けん"}


def _long_vowel_spellings(char: str) -> tuple[str, ...]:
    """Ways exports spell one character: a vowel with a macron or circumflex (a long vowel
    in Hepburn) is also written with the other mark, plain, doubled, and ``o`` also as
    ``ou`` (kana spelling, Toukyou) or ``oh`` (passport spelling, Ohsaka)."""
    parts = unicodedata.normalize("NFD", char)
    if len(parts) != 2 or parts[1] not in (_MACRON, _CIRCUMFLEX):
        return (char,)
    vowel = parts[0]
    marked = tuple(unicodedata.normalize("NFC", vowel + mark) for mark in (_MACRON, _CIRCUMFLEX))
    extra = ("ou", "oh") if vowel == "o" else ()
    return (*marked, vowel, vowel * 2, *extra)


def romaji_spellings(hepburn: str) -> set[str]:
    """Lower-case spellings of a name given in Hepburn with macrons (Tōkyō): every
    combination of :func:`_long_vowel_spellings` of its long vowels, and with ``m`` for
    ``n`` before b, m, p as traditional Hepburn writes it (Gumma)."""
    options = [_long_vowel_spellings(c) for c in unicodedata.normalize("NFC", hepburn.lower())]
    spellings = {"".join(combo) for combo in itertools.product(*options)}
    return spellings | {re.sub(r"n(?=[bmp])", "m", s) for s in spellings}


def kunrei(hepburn: str) -> str:
    """The Kunrei-shiki spelling (lower case) of a name given in Hepburn: Fukushima ->
    hukusima. Long vowels keep their marks (Kunrei writes them with a circumflex, which
    :func:`romaji_spellings` also accepts)."""
    name = unicodedata.normalize("NFC", hepburn.lower())
    for old, new in _KUNREI:
        name = name.replace(old, new)
    return name


def _katakana(hiragana: str) -> str:
    """The same kana in katakana (the blocks are 0x60 apart)."""
    return "".join(chr(ord(c) + 0x60) if "\u3041" <= c <= "\u3096" else c for c in hiragana)


def _prefecture_keys(code: int, hepburn: str, kanji: str, kana: str) -> set[str]:
    """Every accepted spelling (lower case, NFKC) of one prefecture."""
    names = romaji_spellings(hepburn) | romaji_spellings(kunrei(hepburn))
    keys = set(names)
    for name in names:
        keys |= {name + sep + suffix for sep in _SUFFIX_SEPARATORS for suffix in _ROMAJI_SUFFIXES}
        keys |= {name + suffix for suffix in _ENGLISH_SUFFIXES}
    if hepburn.endswith(_DO):
        stem = hepburn[: -len(_DO)].lower()
        keys |= {stem + sep + do for sep in ("-", " ") for do in romaji_spellings(_DO)}
    keys.add(kanji)
    if kanji[-1] in _OPTIONAL_KANJI_SUFFIXES:
        keys.add(kanji[:-1])
    readings = {kana, kana + _KANA_SUFFIXES[kanji[-1]]} if kanji[-1] in _KANA_SUFFIXES else {kana}
    keys |= readings | {_katakana(r) for r in readings}
    keys |= {str(code), f"{code:02d}", f"jp-{code:02d}"}  # JIS X 0401; ISO 3166-2:JP
    return {unicodedata.normalize("NFKC", k) for k in keys}


def prefecture_spelling_claims() -> dict[str, set[str]]:
    """Each generated spelling (lower case) and the canonical prefectures it spells; an
    unambiguous table has exactly one prefecture per spelling."""
    claims: dict[str, set[str]] = {}
    for (code, hepburn, kanji, kana), canonical in zip(PREFECTURE_TABLE, PREFECTURES, strict=True):
        for key in _prefecture_keys(code, hepburn, kanji, kana):
            claims.setdefault(key, set()).add(canonical)
    return claims


def _prefecture_spellings() -> dict[str, str]:
    claims = prefecture_spelling_claims()
    ambiguous = sorted(k for k, names in claims.items() if len(names) > 1)
    if ambiguous:
        raise ValueError(f"prefecture spellings naming two prefectures: {ambiguous}")
    return {k: next(iter(names)) for k, names in claims.items()}


#: Accepted spellings of each prefecture (lower case, NFKC-normalised), mapped to its
#: canonical name (:data:`PREFECTURES`): the romanised name in Hepburn or Kunrei-shiki,
#: with or without macrons or circumflexes and in kana spelling (Tōkyō, Tôkyô, Tokyo,
#: Toukyou; Fukuoka, Hukuoka), with a romanised or English suffix (Tokyo-to, Aichi-ken,
#: Osaka Prefecture), the kanji name with and without its suffix (東京都, 東京), the
#: reading in hiragana or katakana with and without the suffix (とうきょうと, トウキョウ),
#: and the JIS X 0401 code with or without a leading zero (13, 01) or as ISO 3166-2 (JP-13). Look values up after NFKC normalisation, stripping and
#: lower-casing, as :func:`prefecture_name` does.
PREFECTURE_SPELLINGS: Final[dict[str, str]] = _prefecture_spellings()


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
    """Canonical prefecture name of any spelling in :data:`PREFECTURE_SPELLINGS` (the value
    is NFKC-normalised first, so full-width ``１３`` or ``Ｔｏｋｙｏ`` count), else None."""
    return PREFECTURE_SPELLINGS.get(unicodedata.normalize("NFKC", value).strip().lower())


def level_rank(column: str) -> pl.Expr:
    """Rank of a column of canonical CEFR levels (0 = none ... 5 = C1; null counts as 0)."""
    mapping = {lv: i for i, lv in enumerate(JAPANESE_LEVELS)}
    return pl.col(column).replace_strict(mapping, default=0, return_dtype=pl.Int8)
