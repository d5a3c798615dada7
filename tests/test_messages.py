"""How problems show values from the input, and the neutral policy's sector warning.

A value in a message has its non-printable characters escaped (kanji stay readable) and
is cut when long; sectors that look like typos under a policy without a sector list get
one warning that names only sectors.
"""

from __future__ import annotations

import logging
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from matcher import InputError, Instance, Problem
from matcher.errors import MAX_SHOWN_CHARS, escape_unprintable, show
from tests.helpers import instance_of

Frames = dict[str, pl.DataFrame]


def _instance(frames: Frames, policy: Path | None = None) -> Instance:
    return instance_of(frames, policy)


def _error(frames: Frames) -> InputError:
    with pytest.raises(InputError) as info:
        _instance(frames)
    return info.value


def _set_first(frames: Frames, stem: str, column: str, value: str) -> Frames:
    out = dict(frames)
    out[stem] = out[stem].with_columns(
        pl.when(pl.int_range(pl.len()) == 0).then(pl.lit(value)).otherwise(pl.col(column)).alias(column)
    )
    return out


# ---- show / escape_unprintable ----------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("C1", "C1"),
        ("a\x00b", "a\\x00b"),
        ("a\tb\nc\r", "a\\tb\\nc\\r"),
        ("東京都", "東京都"),
        ("ベトナム", "ベトナム"),
        ("Ｂ１", "Ｂ１"),
        ("Tōkyō", "Tōkyō"),
        ("C1\u200b", "C1\\u200b"),  # zero-width space
        ("\u3000C1", "\\u3000C1"),  # ideographic space
        ("\ufeffid", "\\ufeffid"),  # byte order mark
        ("\x7f", "\\x7f"),
        ("a\\x00", "a\\x00"),  # a literal backslash stays as it is
    ],
)
def test_show_escapes_only_unprintable_characters(value: str, shown: str) -> None:
    assert show(value) == shown
    assert escape_unprintable(value) == shown


def test_show_cuts_long_values_with_their_length() -> None:
    assert show("x" * MAX_SHOWN_CHARS) == "x" * MAX_SHOWN_CHARS
    assert show("x" * 61) == "x" * 60 + "… (61 characters)"
    assert show("東" * 5000) == "東" * 60 + "… (5,000 characters)"
    assert show("x" * 200, limit=10) == "x" * 10 + "… (200 characters)"


def test_show_never_cuts_inside_an_escape() -> None:
    shown = show("\x00" * 100)
    assert shown == "\\x00" * 15 + "… (100 characters)"
    shown = show("x" * 58 + "\x00" + "y")
    assert shown == "x" * 58 + "… (60 characters)"


@given(st.text(max_size=300))
def test_shown_values_are_printable_and_bounded(value: str) -> None:
    shown = show(value)
    assert shown.isprintable()
    head = shown.split("… (")[0]
    assert len(head) <= MAX_SHOWN_CHARS
    assert escape_unprintable(shown) == shown  # escaping twice changes nothing
    if value.isprintable() and len(value) <= MAX_SHOWN_CHARS:
        assert shown == value


def test_problem_text_escapes_and_cuts_the_id_and_escapes_the_message() -> None:
    p = Problem("candidates.csv", "unknown track: 'es\tdp'", row=3, column="track", id="C\x001")
    assert str(p) == "candidates.csv, row 3, column track, id C\\x001: unknown track: 'es\\tdp'"
    long_id = "C" * 500
    text = str(Problem("candidates.csv", "empty value", row=1, id=long_id))
    assert long_id not in text
    assert f"id {'C' * 60}… (500 characters): empty value" in text
    assert str(Problem("employers.csv", "unknown prefecture: '東京府'", id="株式会社")).endswith(
        "id 株式会社: unknown prefecture: '東京府'"
    )


# ---- messages built by validation --------------------------------------------------------
def test_control_characters_in_a_bad_value_are_escaped(tiny_frames: Frames) -> None:
    exc = _error(_set_first(tiny_frames, "candidates", "japanese_level", "B\x001"))
    (p,) = exc.problems
    assert "unknown Japanese level: 'B\\x001'" in p.message
    assert "\x00" not in str(exc)


def test_control_characters_in_an_id_are_escaped(tiny_frames: Frames) -> None:
    frames = _set_first(tiny_frames, "candidates", "candidate_id", "C\t1")
    frames = _set_first(frames, "candidates", "track", "tit")
    exc = _error(frames)
    p = next(p for p in exc.problems if p.column == "track")
    assert p.id == "C\t1"  # kept as given
    assert "id C\\t1: unknown track: 'tit'" in str(p)
    assert "\t" not in str(exc)


def test_long_bad_value_is_cut_in_the_message(tiny_frames: Frames) -> None:
    value = "ssw" + "9" * 997
    exc = _error(_set_first(tiny_frames, "candidates", "track", value))
    (p,) = exc.problems
    assert value not in p.message
    assert f"unknown track: '{value[:60]}… (1,000 characters)' (allowed: " in p.message
    assert len(str(exc)) < 400


def test_long_id_is_cut_in_the_problem_and_its_duplicate_message(tiny_frames: Frames) -> None:
    long_id = "C" + "7" * 300
    frames = dict(tiny_frames)
    frames["employers"] = pl.concat([frames["employers"], frames["employers"].head(1)]).with_columns(
        pl.when(pl.int_range(pl.len()) >= pl.len() - 1)
        .then(pl.lit(long_id))
        .otherwise(pl.col("employer_id"))
        .alias("employer_id")
    )
    frames["employers"] = pl.concat([frames["employers"], frames["employers"].tail(1)])
    exc = _error(frames)
    dups = [p for p in exc.problems if "duplicate employer_id" in p.message]
    assert len(dups) == 2
    for p in dups:
        assert p.id == long_id
        assert long_id not in str(p)
        assert f"{long_id[:60]}… (301 characters)" in p.message
        assert f"id {long_id[:60]}… (301 characters)" in str(p)


def test_kanji_values_stay_readable(tiny_frames: Frames) -> None:
    exc = _error(_set_first(tiny_frames, "employers", "prefecture", "東京府"))
    assert "unknown prefecture: '東京府'" in str(exc)
    assert "\\u" not in str(exc)


# ---- the neutral policy's sector warning ---------------------------------------------------
@pytest.fixture
def matcher_warnings(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> pytest.LogCaptureFixture:
    """caplog for the "matcher" logger at WARNING (the CLI may have stopped it propagating)."""
    monkeypatch.setattr(logging.getLogger("matcher"), "propagate", True)
    caplog.set_level(logging.WARNING, logger="matcher")
    return caplog


def _sector_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "matcher" and r.levelno == logging.WARNING and "sectors" in r.getMessage()
    ]


def _with_aptitudes(frames: Frames, rows: list[tuple[str, str, str]]) -> Frames:
    out = dict(frames)
    extra = pl.DataFrame(
        {
            "candidate_id": [r[0] for r in rows],
            "sector": [r[1] for r in rows],
            "score": [r[2] for r in rows],
            "skills_test": ["false"] * len(rows),
        }
    )
    out["aptitudes"] = pl.concat([out["aptitudes"], extra])
    return out


def test_no_sector_warning_for_a_clean_instance(
    tiny_frames: Frames, matcher_warnings: pytest.LogCaptureFixture
) -> None:
    _instance(tiny_frames)
    assert _sector_warnings(matcher_warnings) == []


def test_one_warning_names_look_alike_and_unoffered_sectors(
    tiny_frames: Frames, matcher_warnings: pytest.LogCaptureFixture
) -> None:
    frames = _with_aptitudes(
        tiny_frames,
        [("C4", "Food Service", "77.25"), ("C5", "food-service", "66.5"), ("C4", "fishing", "55.75")],
    )
    inst = _instance(frames)  # sectors are free text: a warning, no error
    assert "Food Service" in set(inst.aptitudes.get_column("sector"))
    (message,) = _sector_warnings(matcher_warnings)
    assert "'Food Service' / 'food-service' / 'food_service'" in message
    assert "'fishing'" in message
    assert "neutral" in message
    # Nothing about candidates: no ids, scores or nationalities.
    for personal in ("C4", "C5", "77.25", "66.5", "55.75", "PH", "VN"):
        assert personal not in message


def test_slot_sectors_spelled_two_ways_are_named(
    tiny_frames: Frames, matcher_warnings: pytest.LogCaptureFixture
) -> None:
    frames = dict(tiny_frames)
    frames["slots"] = pl.concat(
        [
            frames["slots"],
            pl.DataFrame(
                {"employer_id": ["E1"], "sector": ["Agriculture"], "track": ["esdp"], "capacity": ["1"]}
            ),
        ]
    )
    _instance(frames)
    (message,) = _sector_warnings(matcher_warnings)
    assert "'Agriculture' / 'agriculture'" in message
    assert "no slot offers" not in message


def test_sector_warning_is_bounded(tiny_frames: Frames, matcher_warnings: pytest.LogCaptureFixture) -> None:
    rows = [("C4", f"sector_{i:02d}", "50") for i in range(25)]
    _instance(_with_aptitudes(tiny_frames, rows))
    (message,) = _sector_warnings(matcher_warnings)
    assert "25 sectors in aptitudes that no slot offers" in message
    assert "'sector_09'" in message and "'sector_10'" not in message
    assert "and 15 more" in message


def test_no_sector_warning_under_a_policy_with_sectors(
    tiny_frames: Frames, japan_policy_path: Path, matcher_warnings: pytest.LogCaptureFixture
) -> None:
    """A policy that lists sectors makes unknown sectors errors instead."""
    try:
        _instance(tiny_frames, japan_policy_path)
    except InputError:
        pytest.skip("the tiny instance is not valid under the japan policy")
    frames = _with_aptitudes(tiny_frames, [("C4", "fishery", "50")])  # a sector no slot offers
    _instance(frames, japan_policy_path)
    assert _sector_warnings(matcher_warnings) == []
