"""Employers' priorities over candidates: one rule for every mechanism and checker.

An employer ranks the candidates of its ``employer_rankings`` first, by that rank (1 =
best); then every other candidate by higher aptitude score in the sector; ties go to the
lower lottery number (:mod:`matcher.eligibility.lottery`). Scores are compared exactly:
as integers in units of ``10**-d``, ``d`` the fewest decimals that hold every aptitude
score (:func:`matcher.eligibility.scale.score_scale`). The rule is one integer key per
(candidate, program), lower is better: deferred acceptance, the transfer round and both
blocking-pair checkers compare these keys and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from matcher.data.model import Instance
from matcher.eligibility.lottery import lottery_numbers
from matcher.eligibility.scale import score_scale


def score_units(decimals: int) -> tuple[int, int]:
    """Units per score point at ``decimals``, and the largest score (100) in those units."""
    unit = 10**decimals
    return unit, 100 * unit


def priority_key(unit: int, n: int, r_max: int) -> pl.Expr:
    """The priority key of rows with columns ``score``, ``lottery`` and ``e_rank`` (the
    employer's rank of the candidate, null when unranked): ``n`` is the number of
    candidates (lottery numbers are below it), ``r_max`` the largest employer rank."""
    s_max = 100 * unit
    s_int = (pl.col("score") * unit).round(0).cast(pl.Int64)
    return (
        pl.when(pl.col("e_rank").is_not_null())
        .then(pl.col("e_rank").cast(pl.Int64) * n + pl.col("lottery"))
        .otherwise((r_max + 1 + s_max - s_int) * n + pl.col("lottery"))
    )


@dataclass(frozen=True)
class Priorities:
    """The priority rule of one instance and lottery seed, for tables keyed by ids."""

    lottery: pl.DataFrame  # candidate_id, lottery
    rankings: pl.DataFrame  # employer_id, candidate_id, e_rank
    unit: int
    n: int
    r_max: int

    @classmethod
    def of(cls, instance: Instance, seed: int) -> Priorities:
        ids = instance.candidates.get_column("candidate_id")
        rankings = instance.employer_rankings.select(
            "employer_id", "candidate_id", pl.col("rank").alias("e_rank")
        )
        r_max = int(rankings.get_column("e_rank").max() or 0) if rankings.height else 0  # type: ignore[arg-type]
        unit, _ = score_units(score_scale(instance).decimals)
        return cls(
            lottery=pl.DataFrame({"candidate_id": ids, "lottery": lottery_numbers(ids, seed)}),
            rankings=rankings,
            unit=unit,
            n=max(instance.n_candidates, 1),
            r_max=r_max,
        )

    def keyed(self, frame: pl.DataFrame) -> pl.DataFrame:
        """``frame`` (``candidate_id``, ``employer_id``, ``score``, ...) with ``lottery``,
        ``e_rank`` and its priority ``key``."""
        return (
            frame.join(self.lottery, on="candidate_id", how="left")
            .join(self.rankings, on=["employer_id", "candidate_id"], how="left")
            .with_columns(priority_key(self.unit, self.n, self.r_max).alias("key"))
        )
