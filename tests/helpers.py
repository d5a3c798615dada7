"""Helpers shared by test modules of several packages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

import matcher
from matcher import Instance, instance_from_frames
from matcher.data.policy import policy_from_dict

#: An instance's tables by stem, as data frames.
Frames = dict[str, pl.DataFrame]


def instance_of(frames: Frames, policy: Path | None = None) -> Instance:
    """Validate the tables of ``frames`` (candidates, aptitudes, employers, slots and
    optionally preferences) as an instance."""
    return instance_from_frames(
        candidates=frames["candidates"],
        aptitudes=frames["aptitudes"],
        employers=frames["employers"],
        slots=frames["slots"],
        preferences=frames.get("preferences"),
        policy=policy,
    )


def objective_key(res: matcher.MatchResult) -> tuple[int, int, int]:
    """The lexicographic objective as comparable integers (placed, score in hundredths,
    minus the rank sum): larger is better."""
    o = res.objective
    return o.matched, round(o.total_score * 100), -o.rank_sum


def employer_caps_instance(policy: dict[str, Any]) -> Instance:
    """A has one sector, B two (capacity 3 each), C two with a cap that cannot bind."""
    cands = [f"c{i}" for i in range(8)]
    return instance_from_frames(
        candidates=pl.DataFrame(
            {
                "candidate_id": cands,
                "nationality": ["VN"] * 8,
                "japanese_level": ["A1"] * 8,
                "track": ["esdp"] * 8,
            }
        ),
        aptitudes=pl.DataFrame(
            {
                "candidate_id": [c for c in cands for _ in range(2)],
                "sector": ["agriculture", "food_service"] * 8,
                "score": [90.0 - i for i in range(16)],
            }
        ),
        employers=pl.DataFrame(
            {
                "employer_id": ["A", "B", "C"],
                "prefecture": ["Tokyo", "Iwate", "Osaka"],
                "full_time_staff": [20, 20, 200],
                "excellent": [False, False, False],
            }
        ),
        slots=pl.DataFrame(
            {
                "employer_id": ["A", "B", "B", "C", "C"],
                "sector": ["agriculture", "agriculture", "food_service", "agriculture", "food_service"],
                "track": ["esdp"] * 5,
                "capacity": [3, 3, 3, 1, 1],
            }
        ),
        policy=policy_from_dict(policy),
    )
