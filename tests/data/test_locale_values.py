"""Values as Japanese program offices export them: prefectures spelled in kanji, with
macrons, in kana spelling or by JIS code, and full-width digits and letters.

Such values load to the same canonical instance as their plain ASCII spelling; ids are
kept exactly as given; a bad value's message shows the value as given.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matcher import InputError, Instance, load_instance
from matcher.data.reference import (
    PREFECTURE_SPELLINGS,
    PREFECTURES,
    prefecture_name,
    prefecture_spelling_claims,
)
from tests.conftest import TABLE_STEMS, TINY_DIR
from tests.helpers import instance_of
from tests.strategies import examples

Frames = dict[str, pl.DataFrame]
WriteInstance = Callable[..., Path]  # the write_instance fixture (conftest.py)

#: The kanji names in JIS X 0401 order, written out here independently of matcher.data.reference.
KANJI = (
    "北海道", "青森県", "岩手県", "宮城県", "秋田県", "山形県", "福島県", "茨城県", "栃木県",
    "群馬県", "埼玉県", "千葉県", "東京都", "神奈川県", "新潟県", "富山県", "石川県", "福井県",
    "山梨県", "長野県", "岐阜県", "静岡県", "愛知県", "三重県", "滋賀県", "京都府", "大阪府",
    "兵庫県", "奈良県", "和歌山県", "鳥取県", "島根県", "岡山県", "広島県", "山口県", "徳島県",
    "香川県", "愛媛県", "高知県", "福岡県", "佐賀県", "長崎県", "熊本県", "大分県", "宮崎県",
    "鹿児島県", "沖縄県",
)  # fmt: skip

#: Named spellings and the prefecture each means.
NAMED = [
    ("Tōkyō", "Tokyo"), ("Tôkyô", "Tokyo"), ("Toukyou", "Tokyo"), ("Tokyo", "Tokyo"),
    ("TOKYO", "Tokyo"), ("tokyo", "Tokyo"), ("Tōkyo", "Tokyo"), ("Tokyo-to", "Tokyo"),
    ("Tokyo to", "Tokyo"), ("Tokyo Prefecture", "Tokyo"), ("Tōkyō-to", "Tokyo"),
    ("Ōsaka", "Osaka"), ("Oosaka", "Osaka"), ("Osaka", "Osaka"), ("Ohsaka", "Osaka"),
    ("Osaka-fu", "Osaka"), ("Hyōgo", "Hyogo"), ("Hyougo", "Hyogo"), ("Hyôgo", "Hyogo"),
    ("Kōchi", "Kochi"), ("Kouchi", "Kochi"), ("Ōita", "Oita"), ("Ooita", "Oita"),
    ("Kyōto", "Kyoto"), ("Kyouto", "Kyoto"), ("Kyoto", "Kyoto"), ("Kyoto-fu", "Kyoto"),
    ("Kyotofu", "Kyoto"), ("Hokkaidō", "Hokkaido"), ("Hokkaidou", "Hokkaido"),
    ("Hokkaido", "Hokkaido"), ("Hokkai-dō", "Hokkaido"), ("Hokkai-do", "Hokkaido"),
    ("Gunma", "Gunma"), ("Gumma", "Gunma"), ("Gunma-ken", "Gunma"), ("Aichi-ken", "Aichi"),
    ("Aichi ken", "Aichi"), ("AICHI-KEN", "Aichi"), ("Aichiken", "Aichi"),
    ("Kanagawa Prefecture", "Kanagawa"),
    ("東京都", "Tokyo"), ("東京", "Tokyo"), ("京都府", "Kyoto"), ("京都", "Kyoto"),
    ("北海道", "Hokkaido"), ("大阪府", "Osaka"), ("大阪", "Osaka"), ("神奈川県", "Kanagawa"),
    ("神奈川", "Kanagawa"), ("鹿児島", "Kagoshima"),
    ("13", "Tokyo"), ("１３", "Tokyo"), ("01", "Hokkaido"), ("1", "Hokkaido"), ("０１", "Hokkaido"),
    ("１", "Hokkaido"), ("47", "Okinawa"), ("４７", "Okinawa"), ("JP-13", "Tokyo"),
    ("Ｔｏｋｙｏ", "Tokyo"), ("　東京都　", "Tokyo"), (" Osaka ", "Osaka"), ("To\u0304kyo\u0304", "Tokyo"),
    # Kunrei-shiki (ISO 3602) and Nihon-shiki romanisations
    ("Hukuoka", "Fukuoka"), ("Hukusima-ken", "Fukushima"), ("Sizuoka", "Shizuoka"), ("Tiba", "Chiba"),
    ("Kôti", "Kochi"), ("Koti", "Kochi"), ("Gihu", "Gifu"), ("Aiti", "Aichi"), ("Totigi", "Tochigi"),
    ("Yamaguti", "Yamaguchi"), ("Kagosima", "Kagoshima"), ("Kyôto-hu", "Kyoto"), ("Tôkyô-to", "Tokyo"),
    # readings in kana, with and without the suffix, full and half width
    ("とうきょうと", "Tokyo"), ("とうきょう", "Tokyo"), ("トウキョウト", "Tokyo"), ("きょうとふ", "Kyoto"),
    ("キョウト", "Kyoto"), ("おおさかふ", "Osaka"), ("ほっかいどう", "Hokkaido"), ("ホッカイドウ", "Hokkaido"),
    ("あいちけん", "Aichi"), ("ｱｲﾁｹﾝ", "Aichi"), ("かごしま", "Kagoshima"), ("オキナワケン", "Okinawa"),
]  # fmt: skip

#: Spellings that name no prefecture.
NOT_PREFECTURES = [
    "北海",
    "Atlantis",
    "0",
    "00",
    "０",
    "48",
    "４８",
    "100",
    "",
    "Kyo",
    "東",
    "Tokyo-shi",
    "13.0",
    "とう",
    "けん",
]


def _fullwidth(text: str) -> str:
    """``text`` with every printable ASCII character as its full-width form (space as the
    ideographic space), as Japanese office software writes them."""
    return "".join("\u3000" if c == " " else chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def _instance(frames: Frames, policy: Path | None = None) -> Instance:
    return instance_of(frames, policy)


def _tiny() -> Frames:
    """The tiny instance as text frames (for hypothesis tests, which take no fixtures)."""
    return {stem: pl.read_csv(TINY_DIR / f"{stem}.csv", infer_schema=False) for stem in TABLE_STEMS}


def _error(frames: Frames) -> InputError:
    with pytest.raises(InputError) as info:
        _instance(frames)
    return info.value


def _employers(prefectures: list[str]) -> pl.DataFrame:
    n = len(prefectures)
    return pl.DataFrame(
        {
            "employer_id": [f"E{i:05d}" for i in range(n)],
            "prefecture": prefectures,
            "full_time_staff": ["10"] * n,
            "excellent": ["false"] * n,
            "min_japanese_level": [""] * n,
        }
    )


def _loaded_prefectures(tiny_frames: Frames, spellings: list[str]) -> list[str]:
    """The canonical prefectures validation gives employers with these spellings."""
    frames = dict(tiny_frames)
    employers = _employers(spellings)
    frames["employers"] = pl.concat([tiny_frames["employers"], employers])
    inst = _instance(frames)
    got = dict(inst.employers.select("employer_id", "prefecture").iter_rows())
    return [got[e] for e in employers.get_column("employer_id")]


# ---- prefectures ----------------------------------------------------------------------
def test_kanji_list_matches_the_reference_table() -> None:
    assert len(KANJI) == len(PREFECTURES) == 47


@pytest.mark.parametrize("code", range(1, 48))
def test_every_prefecture_by_kanji_code_and_romanisation(code: int) -> None:
    name, kanji = PREFECTURES[code - 1], KANJI[code - 1]
    spellings = [
        kanji,
        name,
        name.upper(),
        name.lower(),
        f"{name}-ken",
        f"{name} Prefecture",
        str(code),
        f"{code:02d}",
        _fullwidth(str(code)),
        _fullwidth(f"{code:02d}"),
        _fullwidth(name),
        f"\u3000{kanji}\u3000",
    ]
    if kanji[-1] in "都府県":
        spellings.append(kanji[:-1])
    for spelling in spellings:
        assert prefecture_name(spelling) == name, spelling


@pytest.mark.parametrize(("spelling", "expected"), NAMED)
def test_named_spellings(spelling: str, expected: str) -> None:
    assert prefecture_name(spelling) == expected


@pytest.mark.parametrize("spelling", NOT_PREFECTURES)
def test_not_prefectures(spelling: str) -> None:
    assert prefecture_name(spelling) is None


def test_no_spelling_names_two_prefectures() -> None:
    claims = prefecture_spelling_claims()
    ambiguous = {k: v for k, v in claims.items() if len(v) != 1}
    assert not ambiguous
    assert set(PREFECTURE_SPELLINGS) == set(claims)
    # Every prefecture is reachable, and its canonical name is one of its spellings.
    assert set(PREFECTURE_SPELLINGS.values()) == set(PREFECTURES)
    assert all(PREFECTURE_SPELLINGS[p.lower()] == p for p in PREFECTURES)


def test_kyoto_and_tokyo_kept_apart() -> None:
    assert prefecture_name("京都") == "Kyoto"
    assert prefecture_name("東京都") == "Tokyo"
    assert prefecture_name("京都府") == "Kyoto"
    assert prefecture_name("東京") == "Tokyo"
    assert prefecture_name("Kyoto") == "Kyoto"
    assert prefecture_name("Kyoto-fu") == "Kyoto"
    assert prefecture_name("Tokyo-to") == "Tokyo"


def test_validation_reads_every_spelling_as_prefecture_name_does(tiny_frames: Frames) -> None:
    """Validation and :func:`prefecture_name` agree on every spelling, and on its upper
    and title case."""
    spellings = sorted(PREFECTURE_SPELLINGS)
    spellings += [s.upper() for s in spellings] + [s.title() for s in spellings]
    loaded = _loaded_prefectures(tiny_frames, spellings)
    expected = [prefecture_name(s) for s in spellings]
    assert loaded == expected
    assert None not in expected


def test_validation_reads_named_and_fullwidth_spellings(tiny_frames: Frames) -> None:
    spellings = [s for s, _ in NAMED] + [_fullwidth(f"{c:02d}") for c in range(1, 48)]
    expected = [e for _, e in NAMED] + list(PREFECTURES)
    assert _loaded_prefectures(tiny_frames, spellings) == expected


def test_candidate_prefecture_in_kanji(tiny_frames: Frames) -> None:
    frames = dict(tiny_frames)
    frames["candidates"] = frames["candidates"].with_columns(
        pl.Series("prefecture", ["東京都", "", "大阪", "Ｈｙｏｇｏ", "１３"][: frames["candidates"].height])
    )
    inst = _instance(frames)
    got = inst.candidates.get_column("prefecture").to_list()
    assert got == ["Tokyo", None, "Osaka", "Hyogo", "Tokyo"][: inst.candidates.height]


def test_unknown_prefecture_message_shows_the_value_as_given(tiny_frames: Frames) -> None:
    frames = dict(tiny_frames)
    frames["employers"] = frames["employers"].with_columns(
        pl.when(pl.col("employer_id") == "E1")
        .then(pl.lit("東京府"))
        .otherwise(pl.col("prefecture"))
        .alias("prefecture")
    )
    exc = _error(frames)
    (p,) = exc.problems
    assert p.column == "prefecture" and p.id == "E1"
    assert "unknown prefecture: '東京府'" in p.message
    assert "'東京府'" in str(exc)


# ---- full-width numbers, levels, tracks, booleans, sectors ----------------------------
#: Columns parsed after NFKC normalisation (ids and nationality are not).
PARSED = {
    "candidates": ["japanese_level", "track", "prefecture"],
    "aptitudes": ["sector", "score", "skills_test"],
    "employers": ["prefecture", "full_time_staff", "excellent", "min_japanese_level"],
    "slots": ["sector", "track", "capacity"],
    "preferences": ["rank"],
}


def _fullwidth_frames(frames: Frames) -> Frames:
    """The frames with every parsed value full-width and padded with ideographic spaces."""
    out = {}
    for stem, frame in frames.items():
        out[stem] = frame.with_columns(
            pl.col(c).map_elements(
                lambda v: f"\u3000{_fullwidth(v)}\u3000" if v else v, return_dtype=pl.String
            )
            for c in PARSED.get(stem, [])
        )
    return out


def _assert_same_instance(a: Instance, b: Instance) -> None:
    for name, table in a.tables().items():
        assert table.equals(b.tables()[name]), name
    assert a.content_hash == b.content_hash


def test_fullwidth_values_load_as_their_ascii_form(tiny_frames: Frames) -> None:
    wide = _fullwidth_frames(tiny_frames)
    assert wide["aptitudes"].get_column("score")[0] == "\u3000９０\u3000"
    _assert_same_instance(_instance(wide), _instance(tiny_frames))


def test_fullwidth_values_load_under_the_japan_policy(tiny_frames: Frames, japan_policy_path: Path) -> None:
    try:
        ascii_inst = _instance(tiny_frames, japan_policy_path)
    except InputError:
        pytest.skip("the tiny instance is not valid under the japan policy")
    _assert_same_instance(_instance(_fullwidth_frames(tiny_frames), japan_policy_path), ascii_inst)


def test_fullwidth_levels_tracks_booleans(tiny_frames: Frames) -> None:
    frames = dict(tiny_frames)
    frames["candidates"] = pl.DataFrame(
        {
            "candidate_id": ["C1", "C2", "C3", "C4", "C5"],
            "nationality": ["VN", "ID", "MM", "PH", "VN"],
            "japanese_level": ["Ｂ１", "Ｎ３", "ｎ５", "ＮＯＮＥ", "　Ｃ１　"],
            "track": ["ＥＳＤＰ", "ｅｓｄｐ", "ＳＳＷ１", "esdp", "ｓｓｗ１"],
            "prefecture": ["", "", "", "", ""],
        }
    )
    frames["employers"] = frames["employers"].with_columns(
        pl.Series("excellent", ["ｔｒｕｅ", "ＹＥＳ", "０"]),
        pl.Series("min_japanese_level", ["", "Ｎ４", "Ａ２"]),
    )
    inst = _instance(frames)
    cands = inst.candidates
    assert cands.get_column("japanese_level").to_list() == ["B1", "B1", "A1", "none", "C1"]
    assert cands.get_column("track").to_list() == ["esdp", "esdp", "ssw1", "esdp", "ssw1"]
    assert inst.employers.get_column("excellent").to_list() == [True, True, False]
    assert inst.employers.get_column("min_japanese_level").to_list() == [None, "A2", "A2"]


def test_fullwidth_csv_files_load(tiny_frames: Frames, write_instance: WriteInstance) -> None:
    wide = write_instance(dict(_fullwidth_frames(tiny_frames)), name="wide")
    plain = write_instance(dict(tiny_frames), name="plain")
    a, b = load_instance(wide), load_instance(plain)
    for name, table in a.tables().items():
        assert table.equals(b.tables()[name]), name


@settings(max_examples=examples(60), deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 2**31 - 1), st.lists(st.booleans(), min_size=10, max_size=10)),
        min_size=1,
        max_size=8,
    )
)
def test_any_fullwidth_rendering_of_an_integer_parses_to_it(rows: list[tuple[int, list[bool]]]) -> None:
    """Each digit half- or full-width, in any mix, gives the same count."""
    tiny = _tiny()
    texts = [
        "".join(_fullwidth(d) if wide else d for d, wide in zip(str(n), widths, strict=False))
        for n, widths in rows
    ]
    employers = _employers(["Tokyo"] * len(rows)).with_columns(pl.Series("full_time_staff", texts))
    tiny["employers"] = pl.concat([tiny["employers"], employers])
    inst = _instance(tiny)
    staff = dict(inst.employers.select("employer_id", "full_time_staff").iter_rows())
    assert [staff[e] for e in employers.get_column("employer_id")] == [n for n, _ in rows]


@settings(max_examples=examples(40), deadline=None)
@given(st.decimals(0, 100, places=2, allow_nan=False), st.booleans())
def test_any_fullwidth_score_parses_to_it(score: Decimal, padded: bool) -> None:
    text = _fullwidth(str(score))
    if padded:
        text = f"\u3000{text} "
    tiny = _tiny()
    tiny["aptitudes"] = tiny["aptitudes"].with_columns(
        pl.when(pl.int_range(pl.len()) == 0).then(pl.lit(text)).otherwise(pl.col("score")).alias("score")
    )
    first = tiny["aptitudes"].row(0, named=True)
    inst = _instance(tiny)
    got = inst.aptitudes.filter(
        (pl.col("candidate_id") == first["candidate_id"]) & (pl.col("sector") == first["sector"])
    )
    assert got.get_column("score").to_list() == [float(score)]


# ---- ids and nationality are kept as given -----------------------------------------
def test_ids_and_nationality_are_not_normalized(tiny_frames: Frames) -> None:
    frames = dict(tiny_frames)
    frames["candidates"] = pl.concat(
        [
            frames["candidates"],
            pl.DataFrame(
                {
                    "candidate_id": ["Ｃ１", "　Ｃ２　"],
                    "nationality": ["ＶＮ", "ベトナム"],
                    "japanese_level": ["A1", "A1"],
                    "track": ["esdp", "esdp"],
                    "prefecture": ["", ""],
                }
            ),
        ]
    )
    frames["aptitudes"] = pl.concat(
        [
            frames["aptitudes"],
            pl.DataFrame(
                {
                    "candidate_id": ["Ｃ１", "Ｃ２"],
                    "sector": ["food_service", "food_service"],
                    "score": ["50", "60"],
                    "skills_test": ["false", "false"],
                }
            ),
        ]
    )
    inst = _instance(frames)
    ids = inst.candidates.get_column("candidate_id").to_list()
    assert "Ｃ１" in ids and "C1" in ids and "Ｃ２" in ids  # kept, distinct from C1; only stripped
    nat = dict(inst.candidates.select("candidate_id", "nationality").iter_rows())
    assert nat["Ｃ１"] == "ＶＮ" and nat["Ｃ２"] == "ベトナム"
    assert set(inst.aptitudes.get_column("candidate_id")) >= {"Ｃ１", "Ｃ２"}


def test_fullwidth_id_does_not_match_its_ascii_form(tiny_frames: Frames) -> None:
    frames = dict(tiny_frames)
    frames["preferences"] = pl.concat(
        [
            frames["preferences"],
            pl.DataFrame({"candidate_id": ["Ｃ１"], "employer_id": ["E3"], "rank": ["9"]}),
        ]
    )
    exc = _error(frames)
    (p,) = exc.problems
    assert p.column == "candidate_id" and p.id == "Ｃ１" and "unknown candidate" in p.message


# ---- a bad value's message shows it as given --------------------------------------------
@pytest.mark.parametrize(
    ("stem", "column", "value", "message"),
    [
        ("slots", "capacity", "２ｘ", "not a number: ２ｘ"),
        ("slots", "capacity", "－３", "must be >= 0: －３"),
        ("slots", "capacity", "１．５", "not a whole number: １．５"),
        ("aptitudes", "score", "１０１", "outside [0, 100]: １０１"),
        ("aptitudes", "skills_test", "ｍａｙｂｅ", "not a boolean: 'ｍａｙｂｅ'"),
        ("candidates", "japanese_level", "Ｂ３", "unknown Japanese level: 'Ｂ３'"),
        ("candidates", "track", "ＳＳＷ３", "unknown track: 'ＳＳＷ３'"),
        ("employers", "prefecture", "４８", "unknown prefecture: '４８'"),
        ("employers", "full_time_staff", "十", "not a number: 十"),
    ],
)
def test_bad_fullwidth_value_shown_as_given(
    tiny_frames: Frames, stem: str, column: str, value: str, message: str
) -> None:
    frames = dict(tiny_frames)
    frames[stem] = frames[stem].with_columns(
        pl.when(pl.int_range(pl.len()) == 0).then(pl.lit(value)).otherwise(pl.col(column)).alias(column)
    )
    exc = _error(frames)
    hits = [p for p in exc.problems if p.column == column and p.row == 1]
    assert hits, str(exc)
    assert message in hits[0].message, hits[0].message
    assert message in str(exc)


def test_japanese_booleans_and_the_minus_sign(tiny_frames: Frames) -> None:
    """はい/いいえ, 有/無, あり/なし and ○/× read as booleans; the minus sign U+2212 (which
    NFKC keeps) reads as a hyphen-minus, so a negative count is reported as out of range,
    not as text that is no number."""
    frames = dict(tiny_frames)
    frames["employers"] = frames["employers"].with_columns(pl.Series("excellent", ["はい", "無", "○"]))
    inst = _instance(frames)
    assert inst.employers.get_column("excellent").to_list() == [True, False, True]
    frames["employers"] = frames["employers"].with_columns(
        pl.Series("excellent", ["いいえ", "あり", "×"]),
        pl.Series("full_time_staff", ["\u22123", "10", "10"]),
    )
    message = str(_error(frames))
    assert "must be >= 0" in message and "not a number" not in message
