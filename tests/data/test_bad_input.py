"""Bad input: every problem the table contract names is reported clearly, all at once.

Each problem must name the file, the 1-based data row, the column and the id of the row
(or, for a problem with the id itself, the offending id), and every problem found in one
instance comes back in a single :class:`InputError`.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from matcher import InputError, Problem, Status, instance_from_frames, load_instance, solve
from matcher.cli import app
from matcher.data.policy import load_policy
from matcher.data.validate import MAX_INT
from tests.helpers import instance_of
from tests.strategies import examples

Frames = dict[str, pl.DataFrame]
WriteInstance = Callable[..., Path]  # the write_instance fixture (conftest.py)
runner = CliRunner()


# ---- helpers ------------------------------------------------------------------------
def find_problem(exc: InputError, file: str, row: int | None, column: str | None, message: str) -> Problem:
    """The problem at (file, row, column) whose message contains ``message``."""
    hits = [
        p
        for p in exc.problems
        if p.file == file and p.row == row and p.column == column and message in p.message
    ]
    assert hits, f"expected {file} row {row} column {column}: {message!r} among:\n{exc}"
    return hits[0]


def assert_problem(
    exc: InputError, file: str, row: int | None, column: str | None, message: str, ident: str | None
) -> None:
    """The problem is present, its text names file, row, column and id, and it is rendered."""
    p = find_problem(exc, file, row, column, message)
    text = str(p)
    assert text.startswith(file)
    if row is not None:
        assert f"row {row}" in text
    if column is not None:
        assert f"column {column}" in text
    if ident is not None:
        assert ident in text, f"{ident!r} not named in {text!r}"
    assert f"  - {text}" in str(exc), "every problem is listed in the error message"


def set_cell(frames: Frames, stem: str, row: int, column: str, value: str | None) -> None:
    """Set one cell (1-based data row) of a text frame, in place in ``frames``."""
    f = frames[stem]
    frames[stem] = f.with_columns(
        pl.when(pl.int_range(pl.len()) == row - 1)
        .then(pl.lit(value, dtype=pl.String))
        .otherwise(pl.col(column))
        .alias(column)
    )


def add_row(frames: Frames, stem: str, **values: str) -> None:
    """Append one row; columns not given are empty."""
    f = frames[stem]
    row = pl.DataFrame({c: [values.get(c)] for c in f.columns}, schema=dict.fromkeys(f.columns, pl.String))
    frames[stem] = pl.concat([f, row])


def from_frames(frames: Frames, policy: Path | None = None) -> InputError:
    with pytest.raises(InputError) as info:
        instance_of(frames, policy)
    return info.value


def _t(columns: list[str], rows: list[list[str]]) -> pl.DataFrame:
    return pl.DataFrame(
        [dict(zip(columns, r, strict=True)) for r in rows], schema=dict.fromkeys(columns, pl.String)
    )


# ---- one instance, many problems ----------------------------------------------------
def _broken_frames() -> Frames:
    return {
        "candidates": _t(
            ["candidate_id", "nationality", "japanese_level", "track", "prefecture"],
            [
                ["C1", "VN", "A1", "esdp", ""],
                ["C2", "ID", "N6", "esdp", "Atlantis"],
                ["C3", "MM", "B3", "ssw3", "48"],
                ["C3", "VN", "N3", "ssw1", "13"],
                ["C5", "VN", "n4", "ssw1", "Tokyo"],
            ],
        ),
        "employers": _t(
            ["employer_id", "prefecture", "full_time_staff", "excellent", "min_japanese_level"],
            [
                ["E1", "Tokyo", "10.5", "maybe", ""],
                ["E2", "Hokkaido", "abc", "false", ""],
                ["E2", "27", "40", "true", "A2"],
                ["E4", "13", "-3", "", "N9"],
                ["E5", "Osaka", "20", "yes", "N4"],
            ],
        ),
        "aptitudes": _t(
            ["candidate_id", "sector", "score", "skills_test"],
            [
                ["C1", "food_service", "90", "false"],
                ["C1", "food_service", "70", "false"],
                ["C2", "food_service", "101", "maybe"],
                ["C3", "food_service", "NaN", "true"],
                ["C5", "food_service", "", "true"],
                ["C9", "food_service", "-1", "true"],
                ["C5", "underwater_basket", "50", "true"],
            ],
        ),
        "slots": _t(
            ["employer_id", "sector", "track", "capacity"],
            [
                ["E1", "food_service", "esdp", "2.5"],
                ["E1", "food_service", "esdp", "1"],
                ["E2", "agriculture", "esdp", "-1"],
                ["E5", "food_service", "ssw1", "x"],
                ["E9", "food_service", "ssw1", "1"],
                ["E5", "nursing_care", "ssw2", "1"],
                ["E5", "aviation", "esdp", "1"],
                ["E5", "fishing_in_space", "esdp", "1"],
                ["E5", "construction", "ssw9", "1"],
                ["E5", "construction", "esdp", ""],
            ],
        ),
        "preferences": _t(
            ["candidate_id", "employer_id", "rank"],
            [
                ["C1", "E1", "1"],
                ["C1", "E1", "2"],
                ["C1", "E2", "2"],
                ["C1", "E99", "3"],
                ["C99", "E1", "1"],
                ["C5", "E1", "0"],
                ["C5", "E2", "1.5"],
                ["C2", "E1", "x"],
            ],
        ),
    }


#: (table, row, column, message fragment, id named) of every problem in _broken_frames.
BROKEN: list[tuple[str, int, str, str, str]] = [
    ("candidates", 2, "japanese_level", "unknown Japanese level: 'N6'", "C2"),
    ("candidates", 2, "prefecture", "unknown prefecture: 'Atlantis'", "C2"),
    ("candidates", 3, "japanese_level", "unknown Japanese level: 'B3'", "C3"),
    ("candidates", 3, "track", "unknown track: 'ssw3'", "C3"),
    ("candidates", 3, "prefecture", "unknown prefecture: '48'", "C3"),
    ("candidates", 3, "candidate_id", "duplicate candidate_id", "C3"),
    ("candidates", 4, "candidate_id", "duplicate candidate_id", "C3"),
    ("employers", 1, "full_time_staff", "not a whole number", "E1"),
    ("employers", 1, "excellent", "not a boolean: 'maybe'", "E1"),
    ("employers", 2, "full_time_staff", "not a number: abc", "E2"),
    ("employers", 2, "employer_id", "duplicate employer_id", "E2"),
    ("employers", 3, "employer_id", "duplicate employer_id", "E2"),
    ("employers", 4, "full_time_staff", "must be >= 0", "E4"),
    ("employers", 4, "min_japanese_level", "unknown Japanese level: 'N9'", "E4"),
    ("aptitudes", 1, "candidate_id,sector", "duplicate aptitude row", "C1"),
    ("aptitudes", 2, "candidate_id,sector", "duplicate aptitude row", "C1"),
    ("aptitudes", 3, "score", "outside [0, 100]", "C2"),
    ("aptitudes", 3, "skills_test", "not a boolean: 'maybe'", "C2"),
    ("aptitudes", 4, "score", "not a number", "C3"),
    ("aptitudes", 5, "score", "missing value", "C5"),
    ("aptitudes", 6, "candidate_id", "unknown candidate", "C9"),
    ("aptitudes", 6, "score", "outside [0, 100]", "C9"),
    ("aptitudes", 7, "sector", "unknown sector for policy 'japan-2026': 'underwater_basket'", "C5"),
    ("slots", 1, "capacity", "not a whole number: 2.5", "E1"),
    ("slots", 1, "employer_id,sector,track", "duplicate slot", "E1"),
    ("slots", 2, "employer_id,sector,track", "duplicate slot", "E1"),
    ("slots", 3, "capacity", "must be >= 0", "E2"),
    ("slots", 4, "capacity", "not a number: x", "E5"),
    ("slots", 5, "employer_id", "unknown employer", "E9"),
    ("slots", 6, "track", "program not offered under policy 'japan-2026': nursing_care / ssw2", "E5"),
    ("slots", 7, "track", "program not offered under policy 'japan-2026': aviation / esdp", "E5"),
    ("slots", 8, "sector", "unknown sector for policy 'japan-2026': 'fishing_in_space'", "E5"),
    ("slots", 9, "track", "unknown track: 'ssw9'", "E5"),
    ("slots", 10, "capacity", "missing value", "E5"),
    ("preferences", 1, "candidate_id,employer_id", "duplicate preference", "C1"),
    ("preferences", 2, "candidate_id,employer_id", "duplicate preference", "C1"),
    ("preferences", 2, "candidate_id,rank", "duplicate rank for this candidate", "C1"),
    ("preferences", 3, "candidate_id,rank", "duplicate rank for this candidate", "C1"),
    ("preferences", 4, "employer_id", "unknown employer", "E99"),
    ("preferences", 5, "candidate_id", "unknown candidate", "C99"),
    ("preferences", 6, "rank", "must be >= 1", "C5"),
    ("preferences", 7, "rank", "not a whole number: 1.5", "C5"),
    ("preferences", 8, "rank", "not a number: x", "C2"),
]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_every_problem_reported_together(
    fmt: str, write_instance: WriteInstance, japan_policy_path: Path
) -> None:
    directory = write_instance(dict(_broken_frames()), fmt)
    with pytest.raises(InputError) as info:
        load_instance(directory, policy=japan_policy_path)
    exc = info.value
    for stem, row, column, message, ident in BROKEN:
        assert_problem(exc, f"{stem}.{fmt}", row, column, message, ident)
    # Nothing else: no spurious problem (accepted spellings N3, n4, N4, "13", "27", yes).
    assert exc.count == len(BROKEN) == len(exc.problems), str(exc)
    assert str(exc).startswith(f"{len(BROKEN)} problems in the instance:")


def test_every_problem_reported_together_from_frames(japan_policy_path: Path) -> None:
    exc = from_frames(_broken_frames(), policy=japan_policy_path)
    for stem, row, column, message, ident in BROKEN:
        assert_problem(exc, f"{stem} (DataFrame)", row, column, message, ident)
    assert exc.count == len(BROKEN)


def test_many_rows_of_one_kind_are_counted_and_summarized(tiny_frames: Frames) -> None:
    n = 30
    tiny_frames["slots"] = pl.DataFrame(
        {
            "employer_id": ["E1"] * n,
            "sector": [f"s{i}" for i in range(n)],
            "track": ["esdp"] * n,
            "capacity": ["-1"] * n,
        }
    )
    exc = from_frames(tiny_frames)
    assert exc.count == n
    assert len(exc.problems) < n  # a bounded number of examples ...
    assert "... and" in str(exc) and "must be >= 0" in str(exc)  # ... and the rest counted


# ---- one problem at a time (clear messages for each case the contract names) --------
Mutation = Callable[[Frames], None]

SINGLE: list[tuple[str, Mutation, str, int, str, str, str]] = [
    # id, mutation, table, row, column, message fragment, id named
    ("capacity-text", lambda f: set_cell(f, "slots", 1, "capacity", "two"), "slots", 1, "capacity", "not a number: two", "E1"),
    ("capacity-negative", lambda f: set_cell(f, "slots", 2, "capacity", "-2"), "slots", 2, "capacity", "must be >= 0", "E2"),
    ("capacity-fraction", lambda f: set_cell(f, "slots", 3, "capacity", "2.5"), "slots", 3, "capacity", "not a whole number: 2.5", "E3"),
    ("capacity-empty", lambda f: set_cell(f, "slots", 1, "capacity", ""), "slots", 1, "capacity", "missing value", "E1"),
    ("capacity-inf", lambda f: set_cell(f, "slots", 1, "capacity", "inf"), "slots", 1, "capacity", "not a finite number", "E1"),
    ("capacity-huge", lambda f: set_cell(f, "slots", 1, "capacity", "1e30"), "slots", 1, "capacity", "too large", "E1"),
    ("staff-text", lambda f: set_cell(f, "employers", 1, "full_time_staff", "ten"), "employers", 1, "full_time_staff", "not a number: ten", "E1"),
    ("staff-fraction", lambda f: set_cell(f, "employers", 2, "full_time_staff", "5.5"), "employers", 2, "full_time_staff", "not a whole number", "E2"),
    ("score-high", lambda f: set_cell(f, "aptitudes", 1, "score", "100.5"), "aptitudes", 1, "score", "outside [0, 100]", "C1"),
    ("score-negative", lambda f: set_cell(f, "aptitudes", 2, "score", "-0.5"), "aptitudes", 2, "score", "outside [0, 100]", "C1"),
    ("score-nan", lambda f: set_cell(f, "aptitudes", 3, "score", "NaN"), "aptitudes", 3, "score", "not a number", "C2"),
    ("score-text", lambda f: set_cell(f, "aptitudes", 3, "score", "high"), "aptitudes", 3, "score", "not a number: high", "C2"),
    ("score-empty", lambda f: set_cell(f, "aptitudes", 4, "score", ""), "aptitudes", 4, "score", "missing value", "C3"),
    ("score-null", lambda f: set_cell(f, "aptitudes", 4, "score", None), "aptitudes", 4, "score", "missing value", "C3"),
    ("level-N6", lambda f: set_cell(f, "candidates", 1, "japanese_level", "N6"), "candidates", 1, "japanese_level", "unknown Japanese level: 'N6'", "C1"),
    ("level-B3", lambda f: set_cell(f, "candidates", 2, "japanese_level", "B3"), "candidates", 2, "japanese_level", "unknown Japanese level: 'B3'", "C2"),
    ("level-empty", lambda f: set_cell(f, "candidates", 2, "japanese_level", ""), "candidates", 2, "japanese_level", "unknown Japanese level", "C2"),
    ("employer-level", lambda f: set_cell(f, "employers", 3, "min_japanese_level", "B3"), "employers", 3, "min_japanese_level", "unknown Japanese level: 'B3'", "E3"),
    ("track", lambda f: set_cell(f, "candidates", 3, "track", "ssw3"), "candidates", 3, "track", "unknown track: 'ssw3'", "C3"),
    ("slot-track", lambda f: set_cell(f, "slots", 1, "track", "tit"), "slots", 1, "track", "unknown track: 'tit'", "E1"),
    ("prefecture-name", lambda f: set_cell(f, "candidates", 5, "prefecture", "Atlantis"), "candidates", 5, "prefecture", "unknown prefecture: 'Atlantis'", "C5"),
    ("prefecture-48", lambda f: set_cell(f, "employers", 1, "prefecture", "48"), "employers", 1, "prefecture", "unknown prefecture: '48'", "E1"),
    ("prefecture-0", lambda f: set_cell(f, "employers", 1, "prefecture", "0"), "employers", 1, "prefecture", "unknown prefecture: '0'", "E1"),
    ("employer-prefecture-empty", lambda f: set_cell(f, "employers", 2, "prefecture", ""), "employers", 2, "prefecture", "unknown prefecture", "E2"),
    ("dup-candidate", lambda f: add_row(f, "candidates", candidate_id="C2", nationality="VN", japanese_level="A1", track="esdp"), "candidates", 6, "candidate_id", "duplicate candidate_id: C2", "C2"),
    ("dup-employer", lambda f: add_row(f, "employers", employer_id="E2", prefecture="Tokyo", full_time_staff="3"), "employers", 4, "employer_id", "duplicate employer_id: E2", "E2"),
    ("dup-aptitude", lambda f: add_row(f, "aptitudes", candidate_id="C4", sector="agriculture", score="1"), "aptitudes", 7, "candidate_id,sector", "duplicate aptitude row for this candidate and sector: C4, agriculture", "C4"),
    ("dup-slot", lambda f: add_row(f, "slots", employer_id="E2", sector="agriculture", track="esdp", capacity="1"), "slots", 4, "employer_id,sector,track", "duplicate slot (employer, sector, track): E2, agriculture, esdp", "E2"),
    ("aptitude-unknown-candidate", lambda f: add_row(f, "aptitudes", candidate_id="C9", sector="agriculture", score="1"), "aptitudes", 7, "candidate_id", "unknown candidate (not in candidates): 'C9'", "C9"),
    ("slot-unknown-employer", lambda f: add_row(f, "slots", employer_id="E9", sector="agriculture", track="esdp", capacity="1"), "slots", 4, "employer_id", "unknown employer (not in employers): 'E9'", "E9"),
    ("pref-unknown-employer", lambda f: add_row(f, "preferences", candidate_id="C2", employer_id="E9", rank="1"), "preferences", 3, "employer_id", "unknown employer (not in employers): 'E9'", "C2"),
    ("pref-unknown-candidate", lambda f: add_row(f, "preferences", candidate_id="C9", employer_id="E1", rank="1"), "preferences", 3, "candidate_id", "unknown candidate (not in candidates): 'C9'", "C9"),
    ("dup-preference", lambda f: add_row(f, "preferences", candidate_id="C1", employer_id="E2", rank="3"), "preferences", 3, "candidate_id,employer_id", "duplicate preference for this candidate and employer: C1, E2", "C1"),
    ("repeated-rank", lambda f: add_row(f, "preferences", candidate_id="C1", employer_id="E3", rank="2"), "preferences", 3, "candidate_id,rank", "duplicate rank for this candidate: C1, 2", "C1"),
    ("rank-0", lambda f: set_cell(f, "preferences", 1, "rank", "0"), "preferences", 1, "rank", "must be >= 1", "C1"),
    ("rank-fraction", lambda f: set_cell(f, "preferences", 2, "rank", "1.5"), "preferences", 2, "rank", "not a whole number: 1.5", "C1"),
    ("skills-maybe", lambda f: set_cell(f, "aptitudes", 5, "skills_test", "maybe"), "aptitudes", 5, "skills_test", "not a boolean: 'maybe'", "C4"),
    ("excellent-maybe", lambda f: set_cell(f, "employers", 3, "excellent", "maybe"), "employers", 3, "excellent", "not a boolean: 'maybe'", "E3"),
    ("empty-id", lambda f: add_row(f, "candidates", candidate_id=" ", nationality="VN", japanese_level="A1", track="esdp"), "candidates", 6, "candidate_id", "empty id", "row 6"),
    ("empty-nationality", lambda f: set_cell(f, "candidates", 4, "nationality", ""), "candidates", 4, "nationality", "empty value", "C4"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("mutate", "stem", "row", "column", "message", "ident"),
    [pytest.param(*case[1:], id=case[0]) for case in SINGLE],
)
def test_single_problem(
    tiny_frames: Frames, mutate: Mutation, stem: str, row: int, column: str, message: str, ident: str
) -> None:
    mutate(tiny_frames)
    exc = from_frames(tiny_frames)
    assert_problem(exc, f"{stem} (DataFrame)", row, column, message, ident)
    # Duplicates are reported on both rows; everything else exactly once.
    expected = 2 if message.startswith("duplicate") else 1
    assert exc.count == expected, str(exc)


JAPAN_SINGLE: list[tuple[str, Mutation, str, int, str, str, str]] = [
    ("aptitude-sector", lambda f: set_cell(f, "aptitudes", 2, "sector", "farming"), "aptitudes", 2, "sector", "unknown sector for policy 'japan-2026': 'farming'", "C1"),
    ("slot-sector", lambda f: set_cell(f, "slots", 2, "sector", "farming"), "slots", 2, "sector", "unknown sector for policy 'japan-2026': 'farming'", "E2"),
    ("nursing-ssw2", lambda f: add_row(f, "slots", employer_id="E3", sector="nursing_care", track="ssw2", capacity="1"), "slots", 4, "track", "program not offered under policy 'japan-2026': nursing_care / ssw2", "E3"),
    ("aviation-esdp", lambda f: add_row(f, "slots", employer_id="E1", sector="aviation", track="esdp", capacity="1"), "slots", 4, "track", "program not offered under policy 'japan-2026': aviation / esdp", "E1"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("mutate", "stem", "row", "column", "message", "ident"),
    [pytest.param(*case[1:], id=case[0]) for case in JAPAN_SINGLE],
)
def test_single_problem_under_japan_policy(
    tiny_frames: Frames,
    japan_policy_path: Path,
    mutate: Mutation,
    stem: str,
    row: int,
    column: str,
    message: str,
    ident: str,
) -> None:
    mutate(tiny_frames)
    exc = from_frames(tiny_frames, policy=japan_policy_path)
    assert_problem(exc, f"{stem} (DataFrame)", row, column, message, ident)
    assert exc.count == 1, str(exc)


def test_same_sector_and_program_are_fine_under_neutral_policy(tiny_frames: Frames) -> None:
    for mutate in (case[1] for case in JAPAN_SINGLE):
        mutate(tiny_frames)
    inst = instance_from_frames(
        candidates=tiny_frames["candidates"],
        aptitudes=tiny_frames["aptitudes"],
        employers=tiny_frames["employers"],
        slots=tiny_frames["slots"],
        preferences=tiny_frames["preferences"],
    )
    assert {"nursing_care", "aviation", "farming"} <= set(inst.slots.get_column("sector"))


# ---- accepted spellings are normalized ----------------------------------------------
def test_jlpt_aliases_and_jis_codes_are_normalized(tiny_frames: Frames) -> None:
    levels = ["N5", "n4", "N3", "N2", "N1"]
    tiny_frames["candidates"] = tiny_frames["candidates"].with_columns(
        japanese_level=pl.Series(levels), prefecture=pl.Series(["13", "01", " 1 ", "tokyo", None])
    )
    tiny_frames["employers"] = tiny_frames["employers"].with_columns(
        prefecture=pl.Series(["13", "47", "OSAKA"]), min_japanese_level=pl.Series(["N4", None, "n3"])
    )
    inst = instance_from_frames(**tiny_frames)
    c = inst.candidates.sort("candidate_id")
    assert c.get_column("japanese_level").to_list() == ["A1", "A2", "B1", "B2", "C1"]
    assert c.get_column("prefecture").to_list() == ["Tokyo", "Hokkaido", "Hokkaido", "Tokyo", None]
    e = inst.employers.sort("employer_id")
    assert e.get_column("prefecture").to_list() == ["Tokyo", "Okinawa", "Osaka"]
    assert e.get_column("min_japanese_level").to_list() == ["A2", None, "B1"]


def test_shipped_tiny_prefecture_code_and_jlpt_alias(tiny_dir: Path) -> None:
    inst = load_instance(tiny_dir)
    assert inst.employers.filter(pl.col("employer_id") == "E3").get_column("prefecture").item() == "Osaka"
    assert inst.candidates.filter(pl.col("candidate_id") == "C2").get_column("japanese_level").item() == "A1"


# ---- files: missing, unreadable, missing columns ------------------------------------
def test_missing_required_file_reported_with_other_problems(
    tiny_frames: Frames, write_instance: WriteInstance
) -> None:
    frames: dict[str, pl.DataFrame | bytes | None] = dict(tiny_frames)
    frames["slots"] = None
    frames["employers"] = None
    set_cell(tiny_frames, "aptitudes", 1, "score", "200")
    frames["aptitudes"] = tiny_frames["aptitudes"]
    directory = write_instance(frames)
    with pytest.raises(InputError) as info:
        load_instance(directory)
    exc = info.value
    assert_problem(exc, "slots.csv", None, None, "required table missing", None)
    assert_problem(exc, "employers.csv", None, None, "required table missing", None)
    assert_problem(exc, "aptitudes.csv", 1, "score", "outside [0, 100]", "C1")
    assert exc.count == 3


def test_missing_preferences_file_is_fine(tiny_frames: Frames, write_instance: WriteInstance) -> None:
    frames: dict[str, pl.DataFrame | bytes | None] = dict(tiny_frames)
    frames["preferences"] = None
    inst = load_instance(write_instance(frames))
    assert inst.preferences.height == 0


def test_missing_instance_directory(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="instance directory not found"):
        load_instance(tmp_path / "nope")


def test_missing_required_columns(tiny_frames: Frames, write_instance: WriteInstance) -> None:
    frames: dict[str, pl.DataFrame | bytes | None] = dict(tiny_frames)
    frames["aptitudes"] = tiny_frames["aptitudes"].drop("score")
    frames["slots"] = tiny_frames["slots"].drop("capacity", "track")
    set_cell(tiny_frames, "candidates", 2, "track", "ssw7")
    frames["candidates"] = tiny_frames["candidates"]
    with pytest.raises(InputError) as info:
        load_instance(write_instance(frames))
    exc = info.value
    assert_problem(exc, "aptitudes.csv", None, "score", "missing required column", None)
    assert_problem(exc, "slots.csv", None, "capacity", "missing required column", None)
    assert_problem(exc, "slots.csv", None, "track", "missing required column", None)
    assert_problem(exc, "candidates.csv", 2, "track", "unknown track: 'ssw7'", "C2")
    assert "found: employer_id, sector" in str(exc)
    assert exc.count == 4


def test_missing_column_in_frames(tiny_frames: Frames) -> None:
    tiny_frames["employers"] = tiny_frames["employers"].drop("full_time_staff")
    exc = from_frames(tiny_frames)
    assert_problem(exc, "employers (DataFrame)", None, "full_time_staff", "missing required column", None)


GARBLED: list[tuple[str, str, bytes, str]] = [
    ("parquet-garbage", "parquet", b"PAR1 this is not parquet \x00\x01\x02", "cannot be read"),
    ("csv-not-utf8", "csv", "employer_id,sector,track,capacity\nE1,f\xe9,esdp,1\n".encode("latin-1"), "cannot be read"),
    ("csv-ragged", "csv", b"employer_id,sector,track,capacity\nE1,food_service,esdp,1,7,8\n", "cannot be read"),
    ("csv-empty", "csv", b"", "cannot be read"),
    ("csv-binary", "csv", b"\xff\xfe\x00\x01garbage\x00,\n\x00\x00", "slots.csv"),
]  # fmt: skip


@pytest.mark.parametrize(("fmt", "content", "message"), [pytest.param(*c[1:], id=c[0]) for c in GARBLED])
def test_unreadable_file(
    tiny_frames: Frames, write_instance: WriteInstance, fmt: str, content: bytes, message: str
) -> None:
    frames: dict[str, pl.DataFrame | bytes | None] = dict(tiny_frames)
    frames["slots"] = None
    directory = write_instance(frames)
    (directory / f"slots.{fmt}").write_bytes(content)
    with pytest.raises(InputError) as info:
        load_instance(directory)
    exc = info.value
    assert all(p.file == f"slots.{fmt}" for p in exc.problems), str(exc)
    assert message in str(exc)
    # The table was present, so it is not also reported as missing.
    assert "required table missing" not in str(exc)


def test_unreadable_file_reported_with_other_problems(
    tiny_frames: Frames, write_instance: WriteInstance
) -> None:
    set_cell(tiny_frames, "candidates", 1, "track", "ssw3")
    frames: dict[str, pl.DataFrame | bytes | None] = dict(tiny_frames)
    frames["slots"] = None
    directory = write_instance(frames)
    (directory / "slots.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(InputError) as info:
        load_instance(directory)
    exc = info.value
    assert_problem(exc, "slots.parquet", None, None, "cannot be read", None)
    assert_problem(exc, "candidates.csv", 1, "track", "unknown track", "C1")
    assert exc.count == 2


def test_csv_and_parquet_of_same_table(tiny_frames: Frames, write_instance: WriteInstance) -> None:
    directory = write_instance(dict(tiny_frames))
    tiny_frames["slots"].write_parquet(directory / "slots.parquet")
    with pytest.raises(InputError, match=r"slots\.csv and slots\.parquet: keep one"):
        load_instance(directory)


# ---- Parquet with real dtypes -------------------------------------------------------
def test_parquet_with_numeric_dtypes_is_valid(tiny_frames: Frames, write_instance: WriteInstance) -> None:
    typed = {
        "candidates": tiny_frames["candidates"],
        "aptitudes": tiny_frames["aptitudes"].with_columns(
            pl.col("score").cast(pl.Float64), pl.col("skills_test") == "true"
        ),
        "employers": tiny_frames["employers"].with_columns(
            pl.col("full_time_staff").cast(pl.Int32), pl.col("excellent") == "true"
        ),
        "slots": tiny_frames["slots"].with_columns(pl.col("capacity").cast(pl.Int64)),
        "preferences": tiny_frames["preferences"].with_columns(pl.col("rank").cast(pl.UInt8)),
    }
    res = solve(load_instance(write_instance(dict(typed), "parquet")))
    assert (res.objective.matched, res.objective.total_score, res.objective.rank_sum) == (4, 330.0, 2)


def test_parquet_numeric_dtypes_with_bad_values(tiny_frames: Frames, write_instance: WriteInstance) -> None:
    frames: dict[str, pl.DataFrame | bytes | None] = dict(tiny_frames)
    frames["slots"] = tiny_frames["slots"].with_columns(capacity=pl.Series([1.0, 2.5, -1.0]))
    frames["aptitudes"] = tiny_frames["aptitudes"].with_columns(
        score=pl.Series([101.0, 70.0, float("nan"), 80.0, None, 60.0])
    )
    frames["employers"] = tiny_frames["employers"].with_columns(
        full_time_staff=pl.Series([10, -3, 40], dtype=pl.Int64)
    )
    frames["preferences"] = tiny_frames["preferences"].with_columns(rank=pl.Series([0, 2], dtype=pl.Int64))
    with pytest.raises(InputError) as info:
        load_instance(write_instance(frames, "parquet"))
    exc = info.value
    assert_problem(exc, "slots.parquet", 2, "capacity", "not a whole number: 2.5", "E2")
    assert_problem(exc, "slots.parquet", 3, "capacity", "must be >= 0", "E3")
    assert_problem(exc, "aptitudes.parquet", 1, "score", "outside [0, 100]", "C1")
    assert_problem(exc, "aptitudes.parquet", 3, "score", "not a number", "C2")
    assert_problem(exc, "aptitudes.parquet", 5, "score", "missing value", "C4")
    assert_problem(exc, "employers.parquet", 2, "full_time_staff", "must be >= 0", "E2")
    assert_problem(exc, "preferences.parquet", 1, "rank", "must be >= 1", "C1")
    assert exc.count == 7, str(exc)


def test_parquet_integer_column_with_null_is_missing(
    tiny_frames: Frames, write_instance: WriteInstance
) -> None:
    frames: dict[str, pl.DataFrame | bytes | None] = dict(tiny_frames)
    frames["slots"] = tiny_frames["slots"].with_columns(capacity=pl.Series([1, None, 1], dtype=pl.Int64))
    with pytest.raises(InputError) as info:
        load_instance(write_instance(frames, "parquet"))
    assert_problem(info.value, "slots.parquet", 2, "capacity", "missing value", "E2")
    assert info.value.count == 1


def test_parquet_integer_ids(tiny_frames: Frames, write_instance: WriteInstance) -> None:
    as_int = pl.col("candidate_id").str.slice(1).cast(pl.Int64)
    frames: dict[str, pl.DataFrame | bytes | None] = {
        "candidates": tiny_frames["candidates"].with_columns(as_int),
        "aptitudes": tiny_frames["aptitudes"].with_columns(as_int, pl.col("score").cast(pl.Float64)),
        "employers": tiny_frames["employers"].with_columns(pl.col("employer_id").str.slice(1).cast(pl.Int32)),
        "slots": tiny_frames["slots"].with_columns(pl.col("employer_id").str.slice(1).cast(pl.Int32)),
        "preferences": tiny_frames["preferences"].with_columns(
            as_int, pl.col("employer_id").str.slice(1).cast(pl.Int64)
        ),
    }
    inst = load_instance(write_instance(frames, "parquet"))
    assert inst.candidates.schema["candidate_id"] == pl.String
    assert inst.candidates.get_column("candidate_id").to_list() == ["1", "2", "3", "4", "5"]
    res = solve(inst)
    assert (res.objective.matched, res.objective.total_score, res.objective.rank_sum) == (4, 330.0, 2)
    assert res.assignments.get_column("employer_id").to_list() == ["2", "1", "3", "2"]


def test_parquet_integer_id_unknown_reference(tiny_frames: Frames, write_instance: WriteInstance) -> None:
    frames: dict[str, pl.DataFrame | bytes | None] = dict(tiny_frames)
    frames["candidates"] = tiny_frames["candidates"].with_columns(
        pl.col("candidate_id").str.slice(1).cast(pl.Int64)
    )
    with pytest.raises(InputError) as info:
        load_instance(write_instance(frames, "parquet"))
    # aptitudes and preferences say "C1".., candidates say 1..: every reference is unknown.
    exc = info.value
    assert_problem(exc, "aptitudes.parquet", 1, "candidate_id", "unknown candidate", "C1")
    assert_problem(exc, "preferences.parquet", 2, "candidate_id", "unknown candidate", "C1")
    assert exc.count == 6 + 2


# ---- instance_from_frames -----------------------------------------------------------
def test_frames_with_typed_columns_are_valid(tiny_frames: Frames) -> None:
    tiny_frames["slots"] = tiny_frames["slots"].with_columns(pl.col("capacity").cast(pl.Int64))
    tiny_frames["aptitudes"] = tiny_frames["aptitudes"].with_columns(pl.col("score").cast(pl.Float32))
    inst = instance_from_frames(**tiny_frames)
    assert inst.slots.schema["capacity"] == pl.Int64
    assert inst.aptitudes.schema["score"] == pl.Float64


def test_frames_with_numeric_problems(tiny_frames: Frames) -> None:
    tiny_frames["slots"] = tiny_frames["slots"].with_columns(capacity=pl.Series([float("inf"), 1e30, 2.0]))
    tiny_frames["employers"] = tiny_frames["employers"].with_columns(
        full_time_staff=pl.Series([True, False, True])
    )
    exc = from_frames(tiny_frames)
    assert_problem(exc, "slots (DataFrame)", 1, "capacity", "not a finite number", "E1")
    assert_problem(exc, "slots (DataFrame)", 2, "capacity", f"too large (at most {MAX_INT})", "E2")
    for row, ident in ((1, "E1"), (2, "E2"), (3, "E3")):
        assert_problem(exc, "employers (DataFrame)", row, "full_time_staff", "not a number", ident)
    assert exc.count == 5


def test_frames_integer_column_too_large(tiny_frames: Frames) -> None:
    tiny_frames["slots"] = tiny_frames["slots"].with_columns(
        capacity=pl.Series([1, 2**40, 1], dtype=pl.Int64)
    )
    tiny_frames["employers"] = tiny_frames["employers"].with_columns(
        full_time_staff=pl.Series([2**63 + 5, 3, None], dtype=pl.UInt64)
    )
    exc = from_frames(tiny_frames)
    assert_problem(exc, "slots (DataFrame)", 2, "capacity", "too large", "E2")
    assert_problem(exc, "employers (DataFrame)", 1, "full_time_staff", "too large", "E1")
    assert_problem(exc, "employers (DataFrame)", 3, "full_time_staff", "missing value", "E3")
    assert exc.count == 3


def test_frames_problems_across_tables(tiny_frames: Frames) -> None:
    tiny_frames["candidates"] = tiny_frames["candidates"].drop("nationality")
    set_cell(tiny_frames, "slots", 1, "employer_id", "E7")
    set_cell(tiny_frames, "preferences", 2, "employer_id", None)
    exc = from_frames(tiny_frames)
    assert_problem(exc, "candidates (DataFrame)", None, "nationality", "missing required column", None)
    assert_problem(exc, "slots (DataFrame)", 1, "employer_id", "unknown employer", "E7")
    assert_problem(exc, "preferences (DataFrame)", 2, "employer_id", "empty id", "C1")
    assert exc.count == 3


# ---- no eligible pair is not an error -----------------------------------------------
def test_no_eligible_pair_solves_to_zero(tiny_frames: Frames) -> None:
    # Every candidate is on a track no employer offers.
    tiny_frames["candidates"] = tiny_frames["candidates"].with_columns(track=pl.lit("ssw2"))
    inst = instance_from_frames(**tiny_frames)
    res = solve(inst)
    assert res.status == Status.OPTIMAL and res.success
    assert (res.objective.matched, res.objective.total_score, res.objective.rank_sum) == (0, 0.0, 0)
    assert res.assignments.height == 0
    assert res.unmatched.get_column("reason").to_list() == ["no_eligible_slot"] * 5


# ---- malformed policy files ---------------------------------------------------------
POLICIES: list[tuple[str, str, str | None, str]] = [
    # id, TOML, key named (Problem.column), message fragment
    ("top-level-key", 'name = "x"\ncolour = "red"\n', "colour", "Extra inputs are not permitted"),
    ("nested-key", "[sectors.food_service]\ncapz = { ssw = 1 }\n", "sectors.food_service.capz", "Extra inputs"),
    ("rule-key", '[rules.esdp]\nmin_level = "A1"\n', "rules.esdp.min_level", "Extra inputs"),
    ("intake-key", '[[intake]]\ngroup = "esdp"\nmax_staff_ratio = 1.0\nbonus = 2\n', "intake.0.bonus", "Extra inputs"),
    ("wrong-type-cap", '[total_caps]\nesdp = "many"\n', "total_caps.esdp", "valid integer"),
    ("wrong-type-tracks", '[sectors.food_service]\ntracks = "esdp"\n', "sectors.food_service.tracks", "valid list"),
    ("negative-cap", "[sectors.food_service]\ncaps = { esdp = -1 }\n", "sectors.food_service.caps.esdp", "greater than or equal to 0"),
    ("bad-level", '[rules.esdp]\nmin_japanese_level = "N6"\n', "rules.esdp.min_japanese_level", "unknown Japanese level"),
    ("unknown-group-caps", '[track_groups]\nssw = ["ssw1", "ssw2"]\n[sectors.food_service]\ncaps = { sssw = 1 }\n', "sectors.food_service.caps.sssw", "unknown track group"),
    ("unknown-group-total", "[total_caps]\nzzz = 1\n", "total_caps.zzz", "unknown track group"),
    ("unknown-track-in-group", '[track_groups]\nssw = ["ssw1", "ssw3"]\n', "track_groups.ssw", "unknown track 'ssw3'"),
    ("intake-no-tiers", '[[intake]]\ngroup = "esdp"\n', "intake[0]", "needs tiers or max_staff_ratio"),
    ("intake-unknown-group", '[[intake]]\ngroup = "zzz"\nmax_staff_ratio = 1.0\n', "intake[0].group", "unknown track group 'zzz'"),
    ("intake-unknown-region", '[[intake]]\ngroup = "esdp"\ntiers = [[30, 3]]\nbonus_outside_region = "metro"\n', "intake[0].bonus_outside_region", "unknown region"),
    ("duplicate-floor-name", '[[floors]]\nname = "north"\nprefectures = ["Hokkaido"]\nmin = 1\n[[floors]]\nname = "north"\nprefectures = ["Aomori"]\nmin = 1\n', "floors[1].name", "duplicate name 'north'"),
    ("bad-toml", 'name = "x\n[sectors\n', None, "not valid TOML"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "key", "message"), [pytest.param(*c[1:], id=c[0]) for c in POLICIES])
def test_malformed_policy(tmp_path: Path, text: str, key: str | None, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as info:
        load_policy(path)
    exc = info.value
    assert exc.what == "policy"
    assert_problem(exc, str(path), None, key, message, key)
    assert exc.count == 1, str(exc)


def test_policy_problems_reported_together(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('colour = "red"\n[total_caps]\nesdp = "many"\n[sectors.x]\nlabl = "X"\n')
    with pytest.raises(InputError) as info:
        load_policy(path)
    exc = info.value
    assert {p.column for p in exc.problems} == {"colour", "total_caps.esdp", "sectors.x.labl"}


def test_missing_policy_file(tmp_path: Path, tiny_dir: Path) -> None:
    with pytest.raises(InputError, match="policy file not found"):
        load_instance(tiny_dir, policy=tmp_path / "nope.toml")


def test_bad_policy_toml_in_instance_directory(tiny_frames: Frames, write_instance: WriteInstance) -> None:
    directory = write_instance(dict(tiny_frames))
    (directory / "policy.toml").write_text("[total_caps]\nesdp = -5\n")
    with pytest.raises(InputError) as info:
        load_instance(directory)
    assert_problem(info.value, str(directory / "policy.toml"), None, "total_caps.esdp", "greater than", None)


# ---- the CLI: exit 2, problems on stderr, nothing written ---------------------------
@pytest.fixture
def bad_dir(write_instance: WriteInstance) -> Path:
    return write_instance(dict(_broken_frames()), "csv", name="bad")


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()
    }


def _assert_reports_problems(stderr: str, stdout: str, japan: bool = False) -> None:
    assert "Traceback" not in stderr and "Traceback" not in stdout
    assert stderr.startswith("error: ")
    assert "problems in the instance" in stderr
    assert "candidates.csv, row 2, column japanese_level, id C2: unknown Japanese level: 'N6'" in stderr
    assert "slots.csv, row 1, column capacity, id E1: not a whole number: 2.5" in stderr
    assert (
        "preferences.csv, row 5, column candidate_id, id C99: unknown candidate (not in candidates): 'C99'"
        in stderr
    )
    if japan:
        assert "program not offered under policy 'japan-2026': aviation / esdp" in stderr


def test_cli_solve_bad_instance_writes_nothing(bad_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "results" / "run1"
    res = runner.invoke(app, ["solve", str(bad_dir), "--out", str(out)])
    assert res.exit_code == 2, res.output
    _assert_reports_problems(res.stderr, res.stdout)
    assert res.stdout == ""
    assert not out.exists() and not out.parent.exists()


def test_cli_solve_bad_instance_leaves_existing_out_untouched(
    bad_dir: Path, tmp_path: Path, japan_policy_path: Path
) -> None:
    out = tmp_path / "out"
    earlier = runner.invoke(app, ["solve", "instances/tiny", "--out", str(out), "--quiet"])
    assert earlier.exit_code == 0, earlier.output
    before = _snapshot(out)
    siblings = sorted(p.name for p in tmp_path.iterdir())
    res = runner.invoke(app, ["solve", str(bad_dir), "--out", str(out), "--policy", str(japan_policy_path)])
    assert res.exit_code == 2, res.output
    _assert_reports_problems(res.stderr, res.stdout, japan=True)
    assert _snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == siblings  # no temporary directory left


def test_cli_validate_bad_instance(bad_dir: Path) -> None:
    res = runner.invoke(app, ["validate", str(bad_dir)])
    assert res.exit_code == 2, res.output
    _assert_reports_problems(res.stderr, res.stdout)


def test_cli_validate_good_instance(tiny_dir: Path) -> None:
    res = runner.invoke(app, ["validate", str(tiny_dir), "--quiet"])
    assert res.exit_code == 0, res.output
    assert "valid under policy 'neutral'" in res.stdout


def test_cli_unreadable_file(tiny_frames: Frames, write_instance: WriteInstance, tmp_path: Path) -> None:
    frames: dict[str, pl.DataFrame | bytes | None] = dict(tiny_frames)
    frames["slots"] = None
    directory = write_instance(frames)
    (directory / "slots.parquet").write_bytes(b"garbage")
    out = tmp_path / "out"
    res = runner.invoke(app, ["solve", str(directory), "--out", str(out)])
    assert res.exit_code == 2, res.output
    assert "slots.parquet: cannot be read" in res.stderr and "Traceback" not in res.stderr
    assert not out.exists()


def test_cli_missing_instance_directory(tmp_path: Path) -> None:
    res = runner.invoke(app, ["solve", str(tmp_path / "nope"), "--out", str(tmp_path / "out")])
    assert res.exit_code == 2
    assert "instance directory not found" in res.stderr
    assert not (tmp_path / "out").exists()


def test_cli_bad_policy(tiny_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[sectors.food_service]\ncapz = { ssw = 1 }\n")
    out = tmp_path / "out"
    for cmd in (["solve", str(tiny_dir), "--out", str(out)], ["validate", str(tiny_dir)]):
        res = runner.invoke(app, [*cmd, "--policy", str(bad)])
        assert res.exit_code == 2, res.output
        assert "sectors.food_service.capz" in res.stderr and "Traceback" not in res.stderr
    assert not out.exists()


@pytest.mark.parametrize(
    ("option", "value", "allowed"),
    [
        ("--method", "greedy", "optimal, stable"),
        ("--format", "ods", "csv, parquet, xlsx"),
        ("--proposing", "both", "candidate, employer"),
        ("--caps", "magic", "flexible, naive"),
        ("--backend", "gurobi", "ortools, core, cpsat, mip, lagrange"),
    ],
)
def test_cli_unknown_choice(tiny_dir: Path, tmp_path: Path, option: str, value: str, allowed: str) -> None:
    out = tmp_path / "out"
    res = runner.invoke(app, ["solve", str(tiny_dir), "--out", str(out), option, value])
    assert res.exit_code == 2, res.output
    assert f"{option} must be one of {allowed}, got '{value}'" in res.stderr
    assert not out.exists()


def test_python_dash_m_bad_instance(bad_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "matcher", "solve", str(bad_dir), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    _assert_reports_problems(proc.stderr, proc.stdout)
    assert not out.exists()


def test_joint_table_problems_reported_together(tiny_frames: Frames, write_instance: WriteInstance) -> None:
    frames: dict[str, pl.DataFrame | bytes | None] = dict(tiny_frames)
    frames["joint"] = pl.DataFrame(
        {"group_id": ["G1", "G1", "G2", "G3", "G3"], "candidate_id": ["C1", "C5", "C2", "C9", "C1"]}
    )
    with pytest.raises(InputError) as err:
        load_instance(write_instance(frames))
    find_problem(err.value, "joint.csv", 1, "candidate_id", "candidate in two groups")
    find_problem(err.value, "joint.csv", 3, "group_id", "joint group with one member")
    find_problem(err.value, "joint.csv", 4, "candidate_id", "unknown candidate")
    find_problem(err.value, "joint.csv", 5, "candidate_id", "candidate in two groups")


@settings(max_examples=examples(150), deadline=None)
@given(
    st.lists(st.sampled_from(["a", "b", "ab", "B", "é", "", None]), max_size=12),
    st.lists(st.sampled_from(["a", "b", "ab", "B", "é", ""]), max_size=6, unique=True),
    st.booleans(),
    st.booleans(),
)
def test_all_known_proves_only_true_references(
    values: list[str | None], known: list[str], sort_values: bool, sort_known: bool
) -> None:
    """The sorted-runs shortcut for reference checks never passes an unknown id, and it
    proves every sorted, complete column whose ids are all known (else the row-by-row
    check runs)."""
    from matcher.data.validate import _all_known

    def ordered(xs: list[str | None], on: bool) -> list[str | None]:
        return sorted(xs, key=lambda x: (x is None, (x or "").encode())) if on else xs

    v = pl.Series(ordered(values, sort_values), dtype=pl.String)
    k = pl.Series(ordered(list(known), sort_known), dtype=pl.String)
    everything_known = all(x in known for x in values if x is not None)
    if _all_known(v, k):
        assert everything_known and None not in values
    elif values and known and None not in values and v.is_sorted() and k.is_sorted():
        assert not everything_known


@settings(max_examples=examples(100), deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "b", "ab", "B", "é", ""]), st.integers(-3, 3)),
        min_size=0,
        max_size=12,
    )
)
def test_sorted_keeps_sorted_frames_and_sorts_the_others(rows: list[tuple[str, int]]) -> None:
    """The validated tables come back sorted by their keys, whether or not the input was
    (an already sorted table is kept as is, not sorted again)."""
    from matcher.data.validate import _sorted

    frame = pl.DataFrame(
        {"id": [r[0] for r in rows], "rank": [r[1] for r in rows]}, schema={"id": pl.String, "rank": pl.Int64}
    )
    expected = frame.sort("id", "rank")
    assert _sorted(frame, "id", "rank").equals(expected)
    assert _sorted(expected, "id", "rank") is expected
    assert _sorted(frame, "id").get_column("id").to_list() == sorted(
        frame.get_column("id").to_list(), key=lambda s: s.encode()
    )
