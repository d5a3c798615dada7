"""The data model: a validated instance and the table contract it follows.

An :class:`Instance` holds polars DataFrames whose required columns are normalized
(canonical Japanese levels, prefecture names, typed numbers); extra columns a user's
export carries are kept as they came and ignored by matcher.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

import numpy as np
import numpy.typing as npt
import polars as pl

from matcher.data.policy import Policy

#: Table stems, whether the table is required, its required and optional columns.
TABLES: Final[dict[str, tuple[bool, tuple[str, ...], tuple[str, ...]]]] = {
    "candidates": (
        True,
        ("candidate_id", "nationality", "japanese_level", "track"),
        ("prefecture",),
    ),
    "aptitudes": (True, ("candidate_id", "sector", "score"), ("skills_test",)),
    "employers": (
        True,
        ("employer_id", "prefecture", "full_time_staff"),
        ("excellent", "min_japanese_level"),
    ),
    "slots": (True, ("employer_id", "sector", "track", "capacity"), ()),
    "preferences": (False, ("candidate_id", "employer_id", "rank"), ()),
    "employer_rankings": (False, ("employer_id", "candidate_id", "rank"), ()),
    "incumbents": (
        False,
        ("candidate_id", "employer_id", "sector", "track", "months_served"),
        ("transferred_in",),
    ),
    "joint": (False, ("group_id", "candidate_id"), ()),
}

#: Normalized dtypes of the columns matcher reads.
SCHEMA: Final[dict[str, dict[str, type[pl.DataType] | pl.DataType]]] = {
    "candidates": {
        "candidate_id": pl.String,
        "nationality": pl.String,
        "japanese_level": pl.String,
        "track": pl.String,
        "prefecture": pl.String,
    },
    "aptitudes": {
        "candidate_id": pl.String,
        "sector": pl.String,
        "score": pl.Float64,
        "skills_test": pl.Boolean,
    },
    "employers": {
        "employer_id": pl.String,
        "prefecture": pl.String,
        "full_time_staff": pl.Int64,
        "excellent": pl.Boolean,
        "min_japanese_level": pl.String,
    },
    "slots": {
        "employer_id": pl.String,
        "sector": pl.String,
        "track": pl.String,
        "capacity": pl.Int64,
    },
    "preferences": {"candidate_id": pl.String, "employer_id": pl.String, "rank": pl.Int64},
    "employer_rankings": {"employer_id": pl.String, "candidate_id": pl.String, "rank": pl.Int64},
    "incumbents": {
        "candidate_id": pl.String,
        "employer_id": pl.String,
        "sector": pl.String,
        "track": pl.String,
        "months_served": pl.Int64,
        "transferred_in": pl.Boolean,
    },
    "joint": {"group_id": pl.String, "candidate_id": pl.String},
}


@dataclass(frozen=True)
class Instance:
    """A validated matching instance.

    Build it with :func:`matcher.load_instance` (a directory of CSV / Parquet files) or
    :func:`matcher.instance_from_frames` (polars DataFrames); both validate everything and
    raise :class:`matcher.InputError` listing every problem.
    """

    candidates: pl.DataFrame
    aptitudes: pl.DataFrame
    employers: pl.DataFrame
    slots: pl.DataFrame
    preferences: pl.DataFrame
    policy: Policy
    source: str
    content_hash: str
    employer_rankings: pl.DataFrame = field(
        default_factory=lambda: pl.DataFrame(schema=SCHEMA["employer_rankings"])
    )
    incumbents: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=SCHEMA["incumbents"]))
    #: Joint applications: candidates of one group are placed in one prefecture, or none.
    joint: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=SCHEMA["joint"]))

    @property
    def n_candidates(self) -> int:
        return self.candidates.height

    @property
    def n_employers(self) -> int:
        return self.employers.height

    def tables(self) -> dict[str, pl.DataFrame]:
        """The tables by stem, as they would be written back to files."""
        return {
            "candidates": self.candidates,
            "aptitudes": self.aptitudes,
            "employers": self.employers,
            "slots": self.slots,
            "preferences": self.preferences,
            "employer_rankings": self.employer_rankings,
            "incumbents": self.incumbents,
            "joint": self.joint,
        }


def rows_by_runs(
    values: pl.Series, ids: pl.Series
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int64]] | None:
    """Row of each run of equal ``values`` in ``ids`` (-1 where absent) and the run lengths.

    Validated tables are sorted by their ids (:func:`matcher.data.validate.validate_tables`),
    and so are the columns that refer to them in exports (aptitudes and preferences by
    candidate): one binary search per run then replaces a hash lookup per row. None
    unless both columns are sorted and free of nulls and ``ids`` is not empty.
    """
    if ids.len() == 0 or ids.has_nulls() or values.has_nulls():
        return None
    if not (ids.is_sorted() and values.is_sorted()):
        return None
    runs = values.rle()
    found = runs.struct.field("value")
    pos = np.minimum(ids.search_sorted(found).to_numpy(), ids.len() - 1)
    index = np.where((ids.gather(pos) == found).to_numpy(), pos, -1).astype(np.int32)
    return index, runs.struct.field("len").to_numpy().astype(np.int64)
