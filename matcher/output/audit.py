"""The fairness audit: placement rates of groups of candidates, and the four-fifths flag.

A national match has to be explainable to the people it places and to those it does not.
The audit answers the first question a programme office asks of it: were some groups of
candidates (a nationality, a prefecture, a Japanese level, a track, a sector) placed at a
very different rate than others? It is a table of aggregates, one row per (dimension,
group), written beside the assignments as ``audit``, and a short section of
``summary.json``.

Rates are counted among the *eligible* (candidates with at least one eligible pair), so
that a group whose members mostly qualify for nothing does not look disadvantaged by the
solve: what the solver decided is separated from what the rules and the data decided.
Groups smaller than ``min_group`` are suppressed (their outcomes are not shown), so that
no row describes what happened to one or a few identifiable people.

Everything is vectorized polars (one lazy plan: a group-by per dimension over the
candidates, a join of the assignments to the aptitude rows for the sectors); no Python
loop over candidates.
"""

from __future__ import annotations

import logging
from typing import Any, Final

import polars as pl

from matcher.data.model import Instance
from matcher.data.policy import Policy
from matcher.data.reference import METRO_PREFECTURES

log = logging.getLogger("matcher")

#: The audit's dimensions, in the order of the table's rows. All but ``sector`` partition
#: the candidates; a candidate counts in every sector it has an aptitude row for.
DIMENSIONS: Final[tuple[str, ...]] = (
    "nationality",
    "prefecture_group",
    "prefecture",
    "japanese_level",
    "track",
    "sector",
)
#: Groups with fewer candidates are suppressed.
AUDIT_MIN_GROUP: Final[int] = 10
#: The four-fifths rule of thumb: a rate below this share of the highest is flagged.
FOUR_FIFTHS: Final[float] = 0.8
#: The group of candidates who live outside Japan (no prefecture of residence).
ABROAD: Final[str] = "abroad"
#: The region of the policy the ``prefecture_group`` dimension calls metro.
METRO: Final[str] = "metro"

AUDIT_SCHEMA: Final[dict[str, type[pl.DataType]]] = {
    "dimension": pl.String,
    "group": pl.String,
    "candidates": pl.Int64,
    "eligible": pl.Int64,
    "placed": pl.Int64,
    "placement_rate": pl.Float64,
    "mean_score_placed": pl.Float64,
    "rate_ratio": pl.Float64,
    "below_four_fifths": pl.Boolean,
    "suppressed": pl.Boolean,
}

#: Rates, ratios and means are rounded to this many decimals (exact enough to read, and
#: the same bytes on every platform).
_DECIMALS: Final[int] = 6
#: The partitioning dimensions (every candidate in exactly one group of each).
_PARTITIONS: Final[tuple[str, ...]] = DIMENSIONS[:-1]


def metro_prefectures(policy: Policy) -> tuple[str, ...]:
    """The prefectures the audit groups as ``metro``.

    The policy's region ``metro`` when it defines one (the Japan policy does), so that the
    audit speaks of the same metro as the caps and transfer rules; otherwise the eight
    metro prefectures of the ESDP transfer rules (:data:`METRO_PREFECTURES`).
    """
    return tuple(policy.regions.get(METRO, METRO_PREFECTURES))


def audit_table(
    instance: Instance,
    assignments: pl.DataFrame,
    unmatched: pl.DataFrame,
    *,
    min_group: int = AUDIT_MIN_GROUP,
) -> pl.DataFrame:
    """Placement rates by group of candidates, one row per (dimension, group).

    Parameters
    ----------
    instance : Instance
        The instance solved; its candidates and aptitude rows define the groups.
    assignments : polars.DataFrame
        The solve's assignments (``candidate_id``, ``score``): who was placed, with the
        aptitude score in the sector they were placed in.
    unmatched : polars.DataFrame
        The solve's unmatched table (``candidate_id``, ``reason``): a candidate with the
        reason ``no_eligible_slot`` had no eligible pair, every other candidate had one.
        Taking eligibility from it (instead of recomputing pairs) keeps the audit
        consistent with the rest of the result and lets it be recomputed from a result
        alone.
    min_group : int
        Groups with fewer candidates, or with some but fewer eligible candidates, are
        suppressed (default 10).

    Returns
    -------
    polars.DataFrame
        Columns of :data:`AUDIT_SCHEMA`, rows by dimension (in :data:`DIMENSIONS` order)
        then group (sorted). ``eligible``, ``placed``, the rate, the mean score, the ratio
        and the flag are null for suppressed groups; ``candidates`` is kept so the reader
        knows the group exists and how large it is. In a partitioning dimension, and
        among the prefectures of one prefecture group, where exactly one group is
        suppressed, the smallest other group is suppressed too (repeated until none is
        alone): otherwise its numbers would follow by subtraction from the totals in
        ``summary.json`` or from the prefecture group's row. ``rate_ratio`` is the rate over the highest unsuppressed rate of the
        dimension (null when that is 0), ``below_four_fifths`` whether it is below 0.8.

    Raises
    ------
    ValueError
        If ``min_group`` is below 1.
    """
    if min_group < 1:
        raise ValueError(f"min_group must be at least 1, got {min_group}")
    metro = pl.Series(metro_prefectures(instance.policy), dtype=pl.String)
    without = unmatched.filter(pl.col("reason") == "no_eligible_slot").get_column("candidate_id")
    eligible = (~pl.col("candidate_id").is_in(without.implode())).alias("eligible")
    scores = assignments.lazy().select("candidate_id", "score")
    people = (
        instance.candidates.lazy()
        .select(
            "candidate_id",
            "nationality",
            pl.when(pl.col("prefecture").is_null())
            .then(pl.lit(ABROAD))
            .when(pl.col("prefecture").is_in(metro.implode()))
            .then(pl.lit(METRO))
            .otherwise(pl.lit("other"))
            .alias("prefecture_group"),
            pl.col("prefecture").fill_null(ABROAD),
            "japanese_level",
            "track",
            eligible,
        )
        .join(scores, on="candidate_id", how="left")
    )
    # One group-by per dimension over the same plan (polars computes ``people`` once and
    # runs the branches in parallel); ``score`` is null for the unplaced.
    parts = [
        people.group_by(pl.col(dim).alias("group"))
        .agg(
            pl.len().alias("candidates"),
            pl.col("eligible").sum(),
            pl.col("score").count().alias("placed"),
            pl.col("score").mean().alias("mean_score_placed"),
        )
        .with_columns(pl.lit(dim).alias("dimension"))
        for dim in _PARTITIONS
    ]
    # Sectors: one membership per aptitude row ((candidate, sector) is unique in a
    # validated instance); the placed and their scores by joining the assignments (the
    # smaller table) to those rows.
    rows = instance.aptitudes.lazy().select("candidate_id", pl.col("sector").alias("group"), eligible)
    placed = (
        scores.join(rows.select("candidate_id", "group"), on="candidate_id", how="inner")
        .group_by("group")
        .agg(pl.len().alias("placed"), pl.col("score").mean().alias("mean_score_placed"))
    )
    parts.append(
        rows.group_by("group")
        .agg(pl.len().alias("candidates"), pl.col("eligible").sum())
        .join(placed, on="group", how="left")
        .with_columns(pl.col("placed").fill_null(0), pl.lit("sector").alias("dimension"))
    )
    columns = ["dimension", "group", "candidates", "eligible", "placed", "mean_score_placed"]
    order = pl.col("dimension").replace_strict(list(DIMENSIONS), list(range(len(DIMENSIONS))))
    counts = (
        pl.concat([p.select(pl.col(c).cast(AUDIT_SCHEMA[c]) for c in columns) for p in parts])
        .sort(order, "group")
        .collect()
    )
    return _finish(counts, min_group, tuple(metro.to_list()))


def _suppressed(counts: pl.DataFrame, min_group: int, metro: tuple[str, ...]) -> pl.Series:
    """Which rows to hide: fewer than ``min_group`` candidates, or from 1 to ``min_group``
    - 1 eligible (primary), then,
    until nothing changes, in every block of rows bound by a sum (the groups of a
    partitioning dimension, whose total ``summary.json`` has; a prefecture group's row and
    the rows of its prefectures) where exactly one row is hidden, the smallest other row
    too (ties by name): otherwise the hidden row would follow by subtraction. The table has a few
    hundred rows at most, so plain loops over rows are fine."""
    dims = counts.get_column("dimension").to_list()
    groups = counts.get_column("group").to_list()
    sizes = counts.get_column("candidates").to_list()
    eligible = counts.get_column("eligible")
    # A rate among 1 to min_group - 1 eligible describes those few people; 0 eligible has no rate.
    hidden = (
        (counts.get_column("candidates") < min_group) | ((eligible > 0) & (eligible < min_group))
    ).to_list()

    def parent(prefecture: str) -> str:
        return ABROAD if prefecture == ABROAD else METRO if prefecture in metro else "other"

    blocks: dict[tuple[str, str], list[int]] = {}
    for i, (dim, group) in enumerate(zip(dims, groups, strict=True)):
        if dim in _PARTITIONS:
            blocks.setdefault((dim, ""), []).append(i)
        if dim == "prefecture":
            blocks.setdefault(("prefecture in", parent(group)), []).append(i)
        if dim == "prefecture_group":  # the group's row is the sum of its prefectures' rows
            blocks.setdefault(("prefecture in", group), []).append(i)
    changed = True
    while changed:
        changed = False
        for rows in blocks.values():
            if sum(hidden[i] for i in rows) == 1:
                others = [i for i in rows if not hidden[i]]
                if others:
                    hidden[min(others, key=lambda i: (sizes[i], groups[i]))] = True
                    changed = True
    return pl.Series("suppressed", hidden, dtype=pl.Boolean)


def _finish(counts: pl.DataFrame, min_group: int, metro: tuple[str, ...]) -> pl.DataFrame:
    """Suppression (primary and complementary), rates, ratios and the four-fifths flag."""
    counts = counts.with_columns(_suppressed(counts, min_group, metro).alias("suppressed"))
    shown = ~pl.col("suppressed")
    rate = pl.when(shown & (pl.col("eligible") > 0)).then(pl.col("placed") / pl.col("eligible"))
    counts = counts.with_columns(rate.alias("placement_rate"))
    top = pl.col("placement_rate").max().over("dimension")
    ratio = pl.when(top > 0).then(pl.col("placement_rate") / top)
    return counts.with_columns(
        pl.when(shown).then(pl.col("eligible")).alias("eligible"),
        pl.when(shown).then(pl.col("placed")).alias("placed"),
        pl.col("placement_rate").round(_DECIMALS),
        pl.when(shown).then(pl.col("mean_score_placed")).round(_DECIMALS).alias("mean_score_placed"),
        ratio.round(_DECIMALS).alias("rate_ratio"),
        (ratio < FOUR_FIFTHS).alias("below_four_fifths"),
    ).select([pl.col(c).cast(t) for c, t in AUDIT_SCHEMA.items()])


def audit_summary(table: pl.DataFrame, *, min_group: int = AUDIT_MIN_GROUP) -> dict[str, Any]:
    """The audit's section of ``summary.json``: what a reader looks at first.

    Parameters
    ----------
    table : polars.DataFrame
        An :func:`audit_table`.
    min_group : int
        The threshold the table was built with (recorded so the reader knows it).

    Returns
    -------
    dict
        ``min_group``, ``groups`` and ``suppressed`` (row counts), and ``dimensions``: per
        dimension the ``highest`` and ``lowest`` rate group (``{"group", "placement_rate"}``,
        ties to the first group by name; null when no group has a rate) and the groups
        ``below_four_fifths``, by name.
    """
    rated = table.filter(pl.col("placement_rate").is_not_null())
    dimensions: dict[str, Any] = {}
    for dim in DIMENSIONS:  # six dimensions, not candidates
        rows = rated.filter(pl.col("dimension") == dim)
        high = rows.sort(pl.col("placement_rate"), "group", descending=[True, False]).head(1)
        low = rows.sort("placement_rate", "group").head(1)
        dimensions[dim] = {
            "highest": high.select("group", "placement_rate").to_dicts()[0] if high.height else None,
            "lowest": low.select("group", "placement_rate").to_dicts()[0] if low.height else None,
            "below_four_fifths": rows.filter(pl.col("below_four_fifths")).get_column("group").to_list(),
        }
    return {
        "min_group": min_group,
        "groups": table.height,
        "suppressed": int(table.get_column("suppressed").sum()),
        "dimensions": dimensions,
    }


def add_audit(
    instance: Instance,
    tables: dict[str, pl.DataFrame],
    summary: dict[str, Any],
    assignments: pl.DataFrame,
    unmatched: pl.DataFrame,
    *,
    min_group: int = AUDIT_MIN_GROUP,
) -> None:
    """Put the audit into a result's ``tables`` (``audit``) and ``summary`` (``audit``).

    :func:`matcher.solve` calls it with its ``audit_min_group`` (the command line's
    ``--audit-min-group``); the audit needs only the result's tables, so it can also be
    recomputed for a finished result with another threshold.
    """
    table = audit_table(instance, assignments, unmatched, min_group=min_group)
    tables["audit"] = table
    summary["audit"] = section = audit_summary(table, min_group=min_group)
    flagged = sum(len(d["below_four_fifths"]) for d in section["dimensions"].values())
    log.info(
        "fairness audit: %d groups, %d suppressed (under %d candidates), %d below four-fifths",
        section["groups"],
        section["suppressed"],
        min_group,
        flagged,
    )
