"""Independent verifier: recheck an assignment from the instance's tables alone.

It shares nothing with the solver path (no edge arrays, no flow network): every rule is
re-derived from the validated tables and the policy with its own joins, so a bug in
eligibility or in a solver cannot hide itself. Used after every solve and by
``matcher verify INSTANCE RESULT``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np
import polars as pl

from matcher.data.model import Instance
from matcher.data.reference import level_rank

#: Every kind of violation the verifier reports.
KINDS = (
    "malformed",
    "unknown_candidate",
    "unknown_slot",
    "duplicate_candidate",
    "track_mismatch",
    "no_aptitude",
    "below_min_score",
    "language",
    "skills_test",
    "employer_language",
    "not_listed",
    "program_not_offered",
    "score_mismatch",
    "rank_mismatch",
    "slot_capacity",
    "intake_cap",
    "national_cap",
    "total_cap",
    "employer_cap",
    "regional_cap",
    "nationality_share",
    "peer_support",
    "floor",
    "joint",
    "fairness",
    "objective",
)

MAX_LISTED = 20
#: Decimals of the scores, counted up to this many (beyond, float noise decides anyway).
MAX_DECIMALS = 9


def score_decimals(scores: np.ndarray[Any, np.dtype[np.float64]]) -> int:
    """The fewest decimals ``d`` (up to :data:`MAX_DECIMALS`) with every score times
    ``10**d`` an integer, up to float noise (a relative 1e-12).

    >>> score_decimals(np.array([80.5, 71.25, 0.1 + 0.2]))
    2
    """
    scores = scores[np.isfinite(scores)]
    for d in range(MAX_DECIMALS):
        y = scores * 10**d
        if bool((np.abs(y - np.rint(y)) <= 1e-12 * np.maximum(1.0, np.abs(y))).all()):
            return d
    return MAX_DECIMALS


@dataclass(frozen=True)
class Violation:
    kind: str
    count: int
    examples: list[str]

    def __str__(self) -> str:
        more = f" (+{self.count - len(self.examples)} more)" if self.count > len(self.examples) else ""
        return f"{self.kind}: {self.count} ({'; '.join(self.examples)}{more})"


@dataclass
class Verification:
    """Outcome of :func:`verify_assignment`: ``ok`` when there is no violation."""

    violations: list[Violation] = field(default_factory=list)
    objective: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.violations

    def kinds(self) -> set[str]:
        return {v.kind for v in self.violations}

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "objective": self.objective,
            "violations": [
                {"kind": v.kind, "count": v.count, "examples": v.examples} for v in self.violations
            ],
        }

    def __str__(self) -> str:
        if self.ok:
            return "verified: no violation"
        return "violations:\n" + "\n".join(f"  - {v}" for v in self.violations)


def verify_assignment(
    instance: Instance,
    assignments: pl.DataFrame,
    *,
    objective: dict[str, Any] | None = None,
    fairness: dict[str, Any] | None = None,
    tolerance: float = 1e-6,
) -> Verification:
    """Check feasibility, eligibility and (optionally) a reported objective.

    Scores are compared at the precision they are given with: a reported score or total
    score off by half a unit of the scores' last decimal (as the instance gives them) is
    a mismatch even where ``tolerance`` (also the tolerance of fairness ratios) is looser.

    Parameters
    ----------
    instance : Instance
        The validated instance, with the policy the assignment was made under.
    assignments : polars.DataFrame
        ``candidate_id, employer_id, sector, track, score, pref_rank`` rows.
    objective : dict, optional
        Reported ``matched``, ``total_score``, ``rank_sum``; each is recomputed.
    fairness : dict, optional
        A reported fairness summary (``kind``, ``lowest``, ``groups``): the lowest must be
        the smallest group ratio, and for ``max_min_fill`` every group's fill rate is
        recomputed (placed / declared capacity).

    Examples
    --------
    >>> import matcher, polars as pl
    >>> inst = matcher.load_instance("instances/tiny")
    >>> res = matcher.solve(inst, verify=False)
    >>> matcher.verify_assignment(inst, res.assignments).ok
    True
    >>> everyone_at_e1 = res.assignments.with_columns(employer_id=pl.lit("E1"))
    >>> sorted(matcher.verify_assignment(inst, everyone_at_e1).kinds())
    ['rank_mismatch', 'unknown_slot']
    """
    out = Verification()
    needed = ["candidate_id", "employer_id", "sector", "track", "score", "pref_rank"]
    missing = [c for c in needed if c not in assignments.columns]
    if missing:
        out.violations.append(Violation("malformed", len(missing), [f"missing column {c}" for c in missing]))
        return out
    a = assignments.select(needed).with_columns(
        pl.col("score").cast(pl.Float64, strict=False),
        pl.col("pref_rank").cast(pl.Int64, strict=False),
    )
    policy = instance.policy

    def flag(kind: str, mask: pl.Series | pl.Expr, frame: pl.DataFrame, label: pl.Expr | None = None) -> None:
        hits = frame.filter(mask)
        if hits.height:
            lab = (
                label
                if label is not None
                else pl.format("{} at {}", pl.col("candidate_id"), pl.col("employer_id"))
            )
            ex = hits.head(MAX_LISTED).select(lab.alias("x")).get_column("x").to_list()
            out.violations.append(Violation(kind, hits.height, [str(x) for x in ex]))

    # Each candidate is placed at most once.
    flag("duplicate_candidate", pl.col("candidate_id").is_duplicated(), a)
    # Every candidate exists.
    cands = instance.candidates.select(
        "candidate_id", pl.col("track").alias("c_track"), level_rank("japanese_level").alias("c_level")
    )
    j = a.join(cands, on="candidate_id", how="left")
    flag("unknown_candidate", pl.col("c_track").is_null(), j)
    # Every slot exists, with the employer's minimum level.
    emp = instance.employers.select("employer_id", level_rank("min_japanese_level").alias("e_level"))
    slots = instance.slots.select("employer_id", "sector", "track", "capacity").join(
        emp, on="employer_id", how="left"
    )
    j = j.join(slots, on=["employer_id", "sector", "track"], how="left")
    flag("unknown_slot", pl.col("capacity").is_null(), j)
    # Track equality, aptitude row, program rules, employer language, preference list.
    flag("track_mismatch", pl.col("c_track").is_not_null() & (pl.col("c_track") != pl.col("track")), j)
    apt = instance.aptitudes.select("candidate_id", "sector", pl.col("score").alias("a_score"), "skills_test")
    j = j.join(apt, on=["candidate_id", "sector"], how="left")
    flag("no_aptitude", pl.col("a_score").is_null(), j)
    programs = j.select("sector", "track").unique()
    rules = policy.rules_frame(programs).rename(
        {"min_level": "r_level", "skills_required": "r_skills", "min_score": "r_score"}
    )
    j = j.join(rules, on=["sector", "track"], how="left")
    flag("program_not_offered", ~pl.col("offered"), j)
    flag("below_min_score", pl.col("a_score") < pl.col("r_score"), j)
    flag("language", pl.col("c_level") < pl.col("r_level"), j)
    flag("skills_test", pl.col("r_skills") & ~pl.col("skills_test").fill_null(False), j)
    flag("employer_language", pl.col("c_level") < pl.col("e_level"), j)
    # Only the placed candidates' lists matter: select them first (joining the whole table
    # hashed its 20M rows at national scale; RSS rose by about 2.5 GB), then only the
    # rows of the placed pairs (at 1M candidates a left join on the 10M rows of those
    # lists took 1.6-2.7 s; this semi join and the left join on its 513k rows, 0.4-0.5 s).
    placed_lists = instance.preferences.join(a.select("candidate_id").unique(), on="candidate_id", how="semi")
    listed = placed_lists.select("candidate_id").unique().with_columns(pl.lit(True).alias("has_list"))
    prefs = placed_lists.join(
        a.select("candidate_id", "employer_id"), on=["candidate_id", "employer_id"], how="semi"
    ).select("candidate_id", "employer_id", pl.col("rank").alias("p_rank"))
    j = j.join(prefs, on=["candidate_id", "employer_id"], how="left").join(
        listed, on="candidate_id", how="left"
    )
    flag("not_listed", pl.col("has_list").fill_null(False) & pl.col("p_rank").is_null(), j)
    # Reported score and rank are the candidate's own, to half a unit of the scores' last
    # decimal (a score with 6 decimals off by 1e-6 is another score).
    half_unit = 0.5 * 10.0 ** -score_decimals(j.get_column("a_score").drop_nulls().to_numpy())
    score_tol = min(tolerance, half_unit)
    flag(
        "score_mismatch",
        pl.col("a_score").is_not_null()
        & ((pl.col("score") - pl.col("a_score")).abs() > score_tol).fill_null(True),
        j,
    )
    flag("rank_mismatch", pl.col("pref_rank").fill_null(0) != pl.col("p_rank").fill_null(0), j)

    # Slot capacities.
    per_slot = (
        a.group_by("employer_id", "sector", "track")
        .agg(pl.len().alias("n"))
        .join(slots, on=["employer_id", "sector", "track"], how="inner")
    )
    flag(
        "slot_capacity",
        pl.col("n") > pl.col("capacity"),
        per_slot,
        pl.format("{}/{}/{}: {} > {}", "employer_id", "sector", "track", "n", "capacity"),
    )
    # Employer intake caps per (employer, sector, track group), from the policy's rules.
    groups = {t: policy.group_of(t) for t in ("esdp", "ssw1", "ssw2")}
    ag = a.with_columns(
        pl.col("track").replace_strict(groups, default=None, return_dtype=pl.String).alias("group")
    )
    per_intake = (
        ag.group_by("employer_id", "sector", "group")
        .agg(pl.len().alias("n"))
        .sort("employer_id", "sector", "group")
    )
    e = instance.employers
    emp_pos = e.select("employer_id", pl.int_range(pl.len()).alias("pos"))
    per_intake = per_intake.join(emp_pos, on="employer_id", how="inner")
    caps = np.full(per_intake.height, -1, dtype=np.int64)
    staff = e.get_column("full_time_staff").to_numpy().astype(np.int64)
    excellent = e.get_column("excellent").to_numpy().astype(bool)
    pref = e.get_column("prefecture").to_numpy()
    keys = per_intake.select("sector", "group").unique().sort("sector", "group")
    for sector, group in keys.iter_rows():
        c = policy.intake_caps(
            str(sector), str(group), full_time_staff=staff, excellent=excellent, prefecture=pref
        )
        if c is None:
            continue
        mask = (
            (per_intake.get_column("sector") == sector) & (per_intake.get_column("group") == group)
        ).to_numpy()
        caps[mask] = c[per_intake.get_column("pos").to_numpy()[mask]]
    per_intake = per_intake.with_columns(pl.Series("cap", caps))
    flag(
        "intake_cap",
        (pl.col("cap") >= 0) & (pl.col("n") > pl.col("cap")),
        per_intake,
        pl.format("{}/{}/{}: {} > {}", "employer_id", "sector", "group", "n", "cap"),
    )
    # Employer caps across sectors (intake rules per employer): the employer's total in
    # the rule's track group and sectors.
    per_emp_parts = []
    for rule in policy.employer_rules:
        counted = pl.col("group") == rule.group
        if rule.sectors:
            counted = counted & pl.col("sector").is_in(rule.sectors)
        part = (
            ag.filter(counted)
            .group_by("employer_id")
            .agg(pl.len().alias("n"))
            .join(emp_pos, on="employer_id")
        )
        limit = policy.employer_cap(rule, full_time_staff=staff, excellent=excellent, prefecture=pref)
        pos = part.get_column("pos").to_numpy()
        per_emp_parts.append(
            part.with_columns(
                pl.Series("cap", limit[pos], dtype=pl.Int64),
                pl.lit(policy.employer_rule_name(rule)).alias("rule"),
            ).select("employer_id", "n", "cap", "rule")
        )
    if per_emp_parts:
        flag(
            "employer_cap",
            pl.col("n") > pl.col("cap"),
            pl.concat(per_emp_parts).sort("rule", "employer_id"),
            pl.format("{} ({}): {} > {}", "employer_id", "rule", "n", "cap"),
        )
    # National caps per (sector, track group), then totals per track group.
    per_nat = ag.group_by("sector", "group").agg(pl.len().alias("n"))
    nat_caps = [policy.national_cap(s, g) for s, g in per_nat.select("sector", "group").iter_rows()]
    per_nat = per_nat.with_columns(
        pl.Series("cap", [-1 if c is None else c for c in nat_caps], dtype=pl.Int64)
    )
    flag(
        "national_cap",
        (pl.col("cap") >= 0) & (pl.col("n") > pl.col("cap")),
        per_nat,
        pl.format("{}/{}: {} > {}", "sector", "group", "n", "cap"),
    )
    per_tot = ag.group_by("group").agg(pl.len().alias("n"))
    tot_caps = [policy.total_caps.get(g) for g in per_tot.get_column("group").to_list()]
    per_tot = per_tot.with_columns(
        pl.Series("cap", [-1 if c is None else c for c in tot_caps], dtype=pl.Int64)
    )
    flag(
        "total_cap",
        (pl.col("cap") >= 0) & (pl.col("n") > pl.col("cap")),
        per_tot,
        pl.format("{}: {} > {}", "group", "n", "cap"),
    )

    # Regional caps: placements at employers in the cap's prefectures (and sectors/groups).
    ar = ag.join(instance.employers.select("employer_id", "prefecture"), on="employer_id", how="left")
    over = []
    for k, rc in enumerate(policy.regional_caps):
        counted = policy.scope(policy.regional_prefectures(rc), rc.sectors, rc.groups)
        n = ar.filter(counted).height
        if n > rc.cap:
            over.append(f"{rc.name or f'regional_caps[{k}]'}: {n} > {rc.cap}")
    if over:
        out.violations.append(Violation("regional_cap", len(over), over))

    # Nationality rules per employer (all sectors together).
    div = policy.diversity
    if div.active:
        per = (
            a.join(instance.candidates.select("candidate_id", "nationality"), on="candidate_id", how="left")
            .with_columns(pl.col("nationality").fill_null(""))
            .group_by("employer_id", "nationality")
            .agg(pl.len().alias("n"))
            .with_columns(pl.col("n").sum().over("employer_id").alias("total"))
        )
        share = div.share_fraction()
        if share is not None:
            allowed = pl.max_horizontal(
                (pl.col("total") * share.numerator) // share.denominator, pl.lit(div.exempt_up_to)
            )
            flag(
                "nationality_share",
                pl.col("n") > allowed,
                per,
                pl.format("{}/{}: {} of {}", "employer_id", "nationality", "n", "total"),
            )
        if div.peer_support:
            flag(
                "peer_support",
                pl.col("n") == 1,
                per,
                pl.format("{}/{}: 1 < 2", "employer_id", "nationality"),
            )

    # Hard floors: placements (per region or per employer) at least the floor, which is
    # recomputed from the declared capacity of the counted slots.
    if policy.floors:
        emp_pref = instance.employers.select("employer_id", "prefecture")
        placed = ag.join(emp_pref, on="employer_id", how="left")
        declared = instance.slots.join(emp_pref, on="employer_id", how="left").with_columns(
            pl.col("track").replace_strict(groups, default=None, return_dtype=pl.String).alias("group")
        )
        short: list[str] = []
        for k, fl in enumerate(policy.floors):
            if not fl.hard:
                continue
            counted = policy.scope(policy.floor_prefectures(fl), fl.sectors, fl.groups)
            cap = declared.filter(counted)
            got = placed.filter(counted)
            if fl.per == "employer":
                table = (
                    cap.group_by("employer_id")
                    .agg(pl.col("capacity").sum())
                    .join(got.group_by("employer_id").agg(pl.len().alias("n")), on="employer_id", how="left")
                    .with_columns(pl.col("n").fill_null(0))
                    .sort("employer_id")
                )
                rows = [(f"{policy.floor_name(k)}/{e}", int(n), int(c)) for e, c, n in table.iter_rows()]
            else:
                rows = [(policy.floor_name(k), got.height, int(cap.get_column("capacity").sum()))]
            for label, n, capacity in rows:
                need = (
                    fl.min
                    if fl.min is not None
                    else math.ceil(Fraction(fl.min_share or 0).limit_denominator(1000) * capacity)
                )
                if n < need:
                    short.append(f"{label}: {n} < {need}")
        if short:
            out.violations.append(Violation("floor", len(short), short[:MAX_LISTED]))

    # Joint applications: a group is placed whole, in one prefecture, or not at all.
    if instance.joint.height:
        per_group = (
            instance.joint.join(a.select("candidate_id", "employer_id"), on="candidate_id", how="left")
            .join(instance.employers.select("employer_id", "prefecture"), on="employer_id", how="left")
            .group_by("group_id")
            .agg(
                pl.len().alias("members"),
                pl.col("employer_id").is_not_null().sum().alias("placed"),
                pl.col("prefecture").drop_nulls().n_unique().alias("prefectures"),
            )
            .sort("group_id")
        )
        flag(
            "joint",
            ((pl.col("placed") > 0) & (pl.col("placed") < pl.col("members"))) | (pl.col("prefectures") > 1),
            per_group,
            pl.format("{}: {} of {} placed, {} prefectures", "group_id", "placed", "members", "prefectures"),
        )

    if fairness is not None and fairness.get("groups"):
        bad_fair: list[str] = []
        reported = {str(k): float(v) for k, v in fairness["groups"].items()}
        if abs(float(fairness.get("lowest", float("nan"))) - min(reported.values())) > tolerance:
            bad_fair.append(
                f"lowest {fairness.get('lowest')} is not the smallest group ratio {min(reported.values())}"
            )
        if fairness.get("kind") == "max_min_fill":
            fill_key = policy.objective.fill_over
            emp_pref = instance.employers.select("employer_id", "prefecture")
            cap = (
                instance.slots.join(emp_pref, on="employer_id", how="left")
                .group_by(fill_key)
                .agg(pl.col("capacity").sum())
            )
            got = a.join(emp_pref, on="employer_id", how="left").group_by(fill_key).agg(pl.len().alias("n"))
            rate = cap.join(got, on=fill_key, how="left").with_columns(pl.col("n").fill_null(0))
            actual = {str(k): n / c for k, c, n in rate.iter_rows() if c > 0}
            for label, value in sorted(reported.items()):
                if label not in actual or abs(actual[label] - value) > tolerance:
                    bad_fair.append(f"{label}: reported {value}, recomputed {actual.get(label)}")
        if bad_fair:
            out.violations.append(Violation("fairness", len(bad_fair), bad_fair[:MAX_LISTED]))

    # The objective, recomputed from the instance's own scores and ranks.
    recomputed = {
        "matched": a.height,
        "total_score": round(float(j.sort("candidate_id").get_column("a_score").fill_null(0.0).sum()), 6),
        "rank_sum": int(j.get_column("p_rank").fill_null(0).sum()),
    }
    out.objective = recomputed
    if objective is not None:
        bad = []
        for key in ("matched", "rank_sum"):
            if int(objective.get(key, -1)) != recomputed[key]:
                bad.append(f"{key}: reported {objective.get(key)}, recomputed {recomputed[key]}")
        # Within half a unit of the scores' last decimal (the total has as many), and the
        # float resolution of a sum that large; no looser than ``tolerance`` per row.
        total = float(recomputed["total_score"])
        total_tol = min(tolerance * max(1, a.height), max(half_unit, 16 * np.finfo(float).eps * abs(total)))
        if (
            not abs(float(objective.get("total_score", float("nan"))) - float(recomputed["total_score"]))
            <= total_tol
        ):
            bad.append(
                f"total_score: reported {objective.get('total_score')}, recomputed {recomputed['total_score']}"
            )
        if bad:
            out.violations.append(Violation("objective", len(bad), bad))
    return out
