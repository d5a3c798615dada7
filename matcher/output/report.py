"""Output tables and the summary, built from chosen edges with polars (no pair loops)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from matcher._version import __version__
from matcher.data.model import Instance
from matcher.eligibility.edges import Edges
from matcher.output.result import Objective

ASSIGNMENT_SCHEMA = {
    "candidate_id": pl.String,
    "employer_id": pl.String,
    "sector": pl.String,
    "track": pl.String,
    "score": pl.Float64,
    "pref_rank": pl.Int64,
}


def assignments_frame(edges: Edges, chosen: npt.NDArray[np.int64]) -> pl.DataFrame:
    """The assignment table, one row per placed candidate, sorted by candidate_id."""
    cand = edges.cand[chosen]
    slot = edges.slot[chosen]
    rank = edges.rank[chosen].astype(np.int64)
    slots = edges.slots
    return pl.DataFrame(
        {
            "candidate_id": edges.candidate_ids.gather(cand),
            "employer_id": slots.get_column("employer_id").gather(slot),
            "sector": slots.get_column("sector").gather(slot),
            "track": slots.get_column("track").gather(slot),
            "score": edges.score[chosen],
            "pref_rank": pl.Series(rank, dtype=pl.Int64).replace(0, None),
        },
        schema=ASSIGNMENT_SCHEMA,
    ).sort("candidate_id")


def unmatched_frame(instance: Instance, edges: Edges, assignments: pl.DataFrame) -> pl.DataFrame:
    """Candidates not placed, with the reason: no eligible slot, joint group, or capacity taken.

    ``joint_group``: the candidate has eligible pairs but belongs to a joint group that was
    not placed (the whole group is kept out when it cannot be placed in one prefecture).
    """
    with_pairs = edges.candidate_ids.gather(edges.candidates_with_pairs())
    in_group = instance.joint.get_column("candidate_id")
    return (
        instance.candidates.select("candidate_id")
        .filter(~pl.col("candidate_id").is_in(assignments.get_column("candidate_id").implode()))
        .with_columns(
            pl.when(~pl.col("candidate_id").is_in(with_pairs.implode()))
            .then(pl.lit("no_eligible_slot"))
            .when(pl.col("candidate_id").is_in(in_group.implode()))
            .then(pl.lit("joint_group"))
            .otherwise(pl.lit("capacity_taken"))
            .alias("reason")
        )
        .sort("candidate_id")
    )


def objective_of(assignments: pl.DataFrame) -> Objective:
    """Objective of an assignment table (total score summed in candidate order)."""
    return Objective(
        matched=assignments.height,
        total_score=round(float(assignments.get_column("score").sum()), 6),
        rank_sum=int(assignments.get_column("pref_rank").fill_null(0).sum()),
    )


def fill_tables(
    instance: Instance, assignments: pl.DataFrame
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Placed vs declared capacity by sector and by employer prefecture."""
    slots = instance.slots.join(
        instance.employers.select("employer_id", "prefecture"), on="employer_id", how="left"
    )
    placed = assignments.join(
        instance.employers.select("employer_id", "prefecture"), on="employer_id", how="left"
    )

    def fill(key: str) -> list[dict[str, Any]]:
        cap = slots.group_by(key).agg(pl.col("capacity").sum().alias("capacity"))
        got = placed.group_by(key).agg(pl.len().cast(pl.Int64).alias("placed"))
        table = (
            cap.join(got, on=key, how="full", coalesce=True)
            .fill_null(0)
            .with_columns(
                (pl.col("placed") / pl.when(pl.col("capacity") > 0).then(pl.col("capacity")))
                .round(4)
                .alias("fill_rate")
            )
            .sort(key)
        )
        return table.to_dicts()

    return fill("sector"), fill("prefecture")


def build_summary(
    *,
    instance: Instance,
    status: str,
    message: str,
    method: str,
    objective: Objective,
    edges: Edges,
    unmatched: pl.DataFrame,
    assignments: pl.DataFrame,
    timings: dict[str, float],
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything ``summary.json`` holds; deterministic except ``timings_s``."""
    by_sector, by_prefecture = fill_tables(instance, assignments)
    reasons = unmatched.group_by("reason").agg(pl.len()).sort("reason")
    summary: dict[str, Any] = {
        "status": status,
        "message": message,
        "method": method,
        "objective": objective.as_dict(),
        "counts": {
            "candidates": instance.n_candidates,
            "employers": instance.n_employers,
            "slots": instance.slots.height,
            "declared_capacity": int(instance.slots.get_column("capacity").sum()),
            "preference_rows": instance.preferences.height,
            "eligible_pairs": edges.n_pairs,
            "candidates_with_pairs": edges.stats.get("candidates_with_pairs", 0),
            "matched": objective.matched,
            "unmatched": unmatched.height,
            "unmatched_by_reason": {r: int(n) for r, n in reasons.iter_rows()},
        },
        "fill_by_sector": by_sector,
        "fill_by_prefecture": by_prefecture,
        "matcher_version": __version__,
        "instance": {"source": instance.source, "content_hash": instance.content_hash},
        "policy": instance.policy.model_dump(mode="json"),
    }
    if extra:
        summary.update(extra)
    summary["timings_s"] = {k: round(v, 3) for k, v in timings.items()}
    return summary
