"""Blocking pairs of an assignment, recomputed from the instance's tables.

Independent of the DA code: eligible pairs come from their own polars joins, priorities
from the documented rule (employer rank, else aptitude; then the seeded lottery).

A pair (c, p) *blocks* when candidate c strictly prefers program p to what it got, and
p's employer would take c: p has a free seat and so does the employer's intake for that
sector, or c has a better priority than p's lowest admitted candidate (p full), or than
the intake's lowest (p has room, the intake is full). Candidates without a preference
list are indifferent between eligible programs: once placed they never block.

Under distributional caps a blocking pair that needs a *free* seat in a national sector
cap (or a track-group total) that is already full, for a candidate coming from outside
it, is **cap-forbidden**: no assignment respecting the cap could satisfy it. Every other
blocking pair is a real instability.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from matcher.data.model import Instance
from matcher.data.policy import IntakeRule
from matcher.data.reference import TRACKS, level_rank
from matcher.eligibility.priorities import Priorities


def _eligible(instance: Instance, candidates: pl.DataFrame) -> pl.DataFrame:
    """All eligible (candidate, slot) pairs of the given candidates, with score and rank."""
    policy = instance.policy
    cand = candidates.select("candidate_id", "track", level_rank("japanese_level").alias("level"))
    apt = instance.aptitudes.select("candidate_id", "sector", "score", "skills_test").join(
        cand, on="candidate_id"
    )
    programs = apt.select("sector", "track").unique()
    rules = policy.rules_frame(programs)
    apt = apt.join(rules, on=["sector", "track"]).filter(
        (pl.col("level") >= pl.col("min_level"))
        & (pl.col("skills_test") | ~pl.col("skills_required"))
        & (pl.col("score") >= pl.col("min_score"))
    )
    slots = instance.slots.filter(pl.col("capacity") > 0).join(
        instance.employers.select("employer_id", level_rank("min_japanese_level").alias("e_level")),
        on="employer_id",
    )
    pairs = apt.join(slots, on=["sector", "track"]).filter(pl.col("level") >= pl.col("e_level"))
    prefs = instance.preferences.select("candidate_id", "employer_id", "rank")
    listed = prefs.select("candidate_id").unique().with_columns(pl.lit(True).alias("listed"))
    pairs = (
        pairs.join(prefs, on=["candidate_id", "employer_id"], how="left")
        .join(listed, on="candidate_id", how="left")
        .with_columns(pl.col("listed").fill_null(False))
        .filter(~pl.col("listed") | pl.col("rank").is_not_null())
    )
    return pairs.select("candidate_id", "employer_id", "sector", "track", "score", "rank", "listed")


def blocking_pairs(instance: Instance, assignments: pl.DataFrame, *, seed: int) -> pl.DataFrame:
    """Every blocking pair: candidate, program, ``reason`` and whether a cap forbids it.

    Employers' priorities compare scores exactly: in units of ``10**-d``, ``d`` the fewest
    decimals that hold every aptitude score (at least the policy's ``score_decimals``).
    """
    policy = instance.policy
    groups = {t: policy.group_of(t) for t in TRACKS}
    with_key = Priorities.of(instance, seed).keyed

    a = with_key(assignments.select("candidate_id", "employer_id", "sector", "track", "score"))
    a = a.with_columns(pl.col("track").replace_strict(groups, return_dtype=pl.String).alias("group"))
    # Who may block: listed candidates, and unlisted ones left unmatched.
    listed = instance.preferences.select("candidate_id").unique()
    placed = a.select("candidate_id")
    may_block = instance.candidates.filter(
        pl.col("candidate_id").is_in(listed.get_column("candidate_id").implode())
        | ~pl.col("candidate_id").is_in(placed.get_column("candidate_id").implode())
    )
    pairs = with_key(_eligible(instance, may_block))
    # The candidate's own outcome, in the same order DA used: rank, then aptitude, then sector.
    own = a.join(
        instance.preferences.select("candidate_id", "employer_id", pl.col("rank").alias("own_rank")),
        on=["candidate_id", "employer_id"],
        how="left",
    ).select(
        "candidate_id",
        pl.col("employer_id").alias("own_employer"),
        pl.col("sector").alias("own_sector"),
        pl.col("track").alias("own_track"),
        pl.col("score").alias("own_score"),
        "own_rank",
        pl.col("group").alias("own_group"),
    )
    pairs = pairs.join(own, on="candidate_id", how="left")
    better = pl.col("own_employer").is_null() | (
        pl.col("listed")
        & (
            (pl.col("rank") < pl.col("own_rank"))
            | ((pl.col("rank") == pl.col("own_rank")) & (pl.col("score") > pl.col("own_score")))
            | (
                (pl.col("rank") == pl.col("own_rank"))
                & (pl.col("score") == pl.col("own_score"))
                & (pl.col("sector") < pl.col("own_sector"))
            )
        )
    )
    same_program = (
        (pl.col("employer_id") == pl.col("own_employer"))
        & (pl.col("sector") == pl.col("own_sector"))
        & (pl.col("track") == pl.col("own_track"))
    ).fill_null(False)
    pairs = pairs.filter(better.fill_null(False) & ~same_program)
    # Program and intake state.
    pairs = pairs.with_columns(pl.col("track").replace_strict(groups, return_dtype=pl.String).alias("group"))
    per_slot = a.group_by("employer_id", "sector", "track").agg(
        pl.len().alias("p_count"), pl.col("key").max().alias("p_worst")
    )
    per_group = a.group_by("employer_id", "sector", "group").agg(
        pl.len().alias("g_count"), pl.col("key").max().alias("g_worst")
    )
    emp = instance.employers
    intake_rows = (
        pairs.select("employer_id", "sector", "group").unique().sort("employer_id", "sector", "group")
    )
    pos = emp.select("employer_id", pl.int_range(pl.len()).alias("pos"))
    intake_rows = intake_rows.join(pos, on="employer_id")
    caps = np.full(intake_rows.height, -1, dtype=np.int64)
    staff = emp.get_column("full_time_staff").to_numpy().astype(np.int64)
    exc = emp.get_column("excellent").to_numpy().astype(bool)
    pref = emp.get_column("prefecture").to_numpy()
    for sector, group in intake_rows.select("sector", "group").unique().iter_rows():
        c = policy.intake_caps(str(sector), str(group), full_time_staff=staff, excellent=exc, prefecture=pref)
        if c is not None:
            mask = (
                (intake_rows.get_column("sector") == sector) & (intake_rows.get_column("group") == group)
            ).to_numpy()
            caps[mask] = c[intake_rows.get_column("pos").to_numpy()[mask]]
    intake_rows = intake_rows.with_columns(pl.Series("g_cap", caps)).drop("pos")
    pairs = (
        pairs.join(
            instance.slots.select("employer_id", "sector", "track", "capacity"),
            on=["employer_id", "sector", "track"],
        )
        .join(per_slot, on=["employer_id", "sector", "track"], how="left")
        .join(per_group, on=["employer_id", "sector", "group"], how="left")
        .join(intake_rows, on=["employer_id", "sector", "group"], how="left")
        .with_columns(pl.col("p_count").fill_null(0), pl.col("g_count").fill_null(0))
    )
    group_room = (pl.col("g_cap") < 0) | (pl.col("g_count") < pl.col("g_cap"))
    p_room = pl.col("p_count") < pl.col("capacity")
    free_seat = p_room & group_room
    displace = (~p_room & (pl.col("key") < pl.col("p_worst"))) | (
        p_room & ~group_room & (pl.col("key") < pl.col("g_worst"))
    )
    pairs = pairs.filter(free_seat | displace).with_columns(
        pl.when(free_seat).then(pl.lit("free_seat")).otherwise(pl.lit("displaces")).alias("reason")
    )
    # Distributional caps: a free seat for someone from outside a full national/total cap.
    nat_count = a.group_by("sector", "group").agg(pl.len().alias("nat_count"))
    tot_count = a.group_by("group").agg(pl.len().alias("tot_count"))
    nat_caps = pl.DataFrame(
        [
            {"sector": s, "group": g, "nat_cap": c}
            for s, sp in policy.sectors.items()
            for g, c in sp.caps.items()
        ],
        schema={"sector": pl.String, "group": pl.String, "nat_cap": pl.Int64},
    )
    tot_caps = pl.DataFrame(
        [{"group": g, "tot_cap": c} for g, c in policy.total_caps.items()],
        schema={"group": pl.String, "tot_cap": pl.Int64},
    )
    pairs = (
        pairs.join(nat_count, on=["sector", "group"], how="left")
        .join(tot_count, on="group", how="left")
        .join(nat_caps, on=["sector", "group"], how="left")
        .join(tot_caps, on="group", how="left")
    )
    outside_nat = (
        pl.col("own_employer").is_null()
        | (pl.col("own_sector") != pl.col("sector"))
        | (pl.col("own_group") != pl.col("group"))
    )
    outside_tot = pl.col("own_employer").is_null() | (pl.col("own_group") != pl.col("group"))
    nat_full = pl.col("nat_cap").is_not_null() & (pl.col("nat_count").fill_null(0) >= pl.col("nat_cap"))
    tot_full = pl.col("tot_cap").is_not_null() & (pl.col("tot_count").fill_null(0) >= pl.col("tot_cap"))
    is_free = pl.col("reason") == "free_seat"
    forbidden = is_free & ((outside_nat & nat_full) | (outside_tot & tot_full))
    cap_name = (
        pl.when(is_free & outside_nat & nat_full)
        .then(pl.format("national {}/{}", "sector", "group"))
        .when(is_free & outside_tot & tot_full)
        .then(pl.format("total {}", "group"))
        .otherwise(pl.lit(None, pl.String))
    )
    # Regional caps: a free seat in a full one, for a candidate it does not count yet.
    emp_pref = instance.employers.select("employer_id", "prefecture")
    pairs = pairs.join(emp_pref, on="employer_id", how="left").join(
        emp_pref.rename({"employer_id": "own_employer", "prefecture": "own_prefecture"}),
        on="own_employer",
        how="left",
    )
    a_pref = a.join(emp_pref, on="employer_id", how="left")
    for k, rc in enumerate(policy.regional_caps):
        hit = is_free & _counted(policy.regional_prefectures(rc), rc.sectors, rc.groups, "")
        hit = hit & ~_counted(policy.regional_prefectures(rc), rc.sectors, rc.groups, "own_")
        count = a_pref.filter(_counted(policy.regional_prefectures(rc), rc.sectors, rc.groups, "")).height
        if count < rc.cap:
            continue
        forbidden = forbidden | hit
        cap_name = pl.when(hit).then(pl.lit(f"regional {rc.name or k}")).otherwise(cap_name)
    # Employer caps across sectors: a free seat at a full employer, for a candidate it
    # does not count yet (placed elsewhere, or there outside the rule's scope).
    for rule in policy.employer_rules:
        limit = policy.employer_cap(rule, full_time_staff=staff, excellent=exc, prefecture=pref)
        counted = a.filter(_in_rule(rule, ""))
        n_at = np.bincount(
            counted.join(pos, on="employer_id").get_column("pos").to_numpy(), minlength=emp.height
        )
        full_ids = emp.get_column("employer_id").filter(pl.Series(n_at >= limit)).implode()
        already = _in_rule(rule, "own_") & (pl.col("own_employer") == pl.col("employer_id"))
        hit = is_free & _in_rule(rule, "") & pl.col("employer_id").is_in(full_ids) & ~already.fill_null(False)
        forbidden = forbidden | hit
        name = f"employer {policy.employer_rule_name(rule)}"
        cap_name = pl.when(hit).then(pl.lit(name)).otherwise(cap_name)
    return (
        pairs.with_columns(forbidden.alias("cap_forbidden"), cap_name.alias("cap"))
        .select("candidate_id", "employer_id", "sector", "track", "reason", "cap_forbidden", "cap")
        .sort("candidate_id", "employer_id", "sector", "track")
    )


def _in_rule(rule: IntakeRule, prefix: str) -> pl.Expr:
    """Whether a placement (columns ``{prefix}sector``, ``{prefix}group``) counts in a
    per-employer intake rule."""
    e = pl.col(f"{prefix}group") == rule.group
    if rule.sectors:
        e = e & pl.col(f"{prefix}sector").is_in(rule.sectors)
    return e.fill_null(False)


def _counted(prefectures: list[str], sectors: list[str], groups: list[str], prefix: str) -> pl.Expr:
    """Whether a placement (columns ``{prefix}prefecture``, ``sector``, ``group``) counts."""
    e = pl.col(f"{prefix}prefecture").is_in(prefectures)
    if sectors:
        e = e & pl.col(f"{prefix}sector").is_in(sectors)
    if groups:
        e = e & pl.col(f"{prefix}group").is_in(groups)
    return e.fill_null(False)


def blocking_summary(pairs: pl.DataFrame) -> dict[str, int]:
    """Counts of blocking pairs by kind."""
    forbidden = int(pairs.get_column("cap_forbidden").sum())
    return {
        "blocking_pairs": pairs.height,
        "satisfiable": pairs.height - forbidden,
        "cap_forbidden": forbidden,
        "free_seat": int((pairs.get_column("reason") == "free_seat").sum()),
        "displaces": int((pairs.get_column("reason") == "displaces").sum()),
    }
