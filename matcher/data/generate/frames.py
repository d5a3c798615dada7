"""The generated entities as polars frames, with ``C``/``E`` ids and vocabulary labels."""

from __future__ import annotations

import numpy as np
import polars as pl

from matcher.data.generate.entities import _Aptitudes, _Candidates, _Employers, _Preferences, _Slots
from matcher.data.generate.mixes import NATIONALITY_SHARES
from matcher.data.generate.sampling import IntArray
from matcher.data.reference import JAPANESE_LEVELS, PREFECTURES, SECTORS, TRACKS


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
