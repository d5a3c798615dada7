"""The independent verifier of transfer rounds, and its blocking-pair check.

Everything is recomputed from the instance's tables with its own polars joins; nothing
comes from the mechanism's arrays. :func:`verify_transfer` checks a ``moves`` table:

- ``unknown_worker``: the mover is not an incumbent;
- ``moved_twice``: a worker appears in more than one move;
- ``wrong_origin``: ``from_employer`` is not the worker's current employer;
- ``program_changed``: the move leaves the worker's sector or track, stays at the same
  employer, or goes to an employer that did not declare the program in ``slots``;
- ``not_eligible``: the round does not cover the track, the restriction period has not
  passed, or a transfer test (skills, Japanese) is not met;
- ``employer_level``: the worker is below the receiving employer's minimum Japanese level;
- ``worse_off``: the worker did not list the new employer, or listed its current employer
  at least as well (no one may end worse off, nor move sideways);
- ``capacity``: a program ends with more workers than incumbents + open vacancies;
- ``transferee_limit`` / ``other_prefecture_limit``: an employer received more
  transferees (from other prefectures, in the region) than the ratio limits allow, counted
  as :mod:`matcher.transfer.round` documents (employer-wide, on the state before the round).

:func:`transfer_blocking_pairs` lists the pairs (worker, program) that block the outcome:
the worker may move there, prefers it to where it ended, and the program's greedy choice
under its nested caps (its shares of the employer's limits, recomputed here from the
tables under ``[transfer] limit_shares``) would take it.

:func:`employer_wide_blocking_pairs` is a diagnostic: the pairs an employer would take if
it applied its limits employer-wide without waste, i.e. the moves the shares refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import polars as pl

from matcher.data.model import Instance
from matcher.data.reference import JAPANESE_LEVELS
from matcher.eligibility.priorities import Priorities

KINDS: Final[tuple[str, ...]] = (
    "unknown_worker",
    "moved_twice",
    "wrong_origin",
    "program_changed",
    "not_eligible",
    "employer_level",
    "worse_off",
    "capacity",
    "transferee_limit",
    "other_prefecture_limit",
)

_VIOLATION_SCHEMA: Final[dict[str, type[pl.DataType]]] = {
    "kind": pl.String,
    "candidate_id": pl.String,
    "employer_id": pl.String,
    "detail": pl.String,
}


@dataclass(frozen=True)
class TransferVerification:
    """Result of :func:`verify_transfer`: ``ok`` and one row per violation found."""

    violations: pl.DataFrame

    @property
    def ok(self) -> bool:
        return self.violations.height == 0

    def count(self, kind: str) -> int:
        """Number of violations of one kind."""
        return int((self.violations.get_column("kind") == kind).sum())

    def __str__(self) -> str:
        if self.ok:
            return "verified: no violation"
        lines = [f"{self.violations.height} violation(s):"]
        for kind, cand, emp, detail in self.violations.head(50).iter_rows():
            who = ", ".join(x for x in (cand, emp) if x)
            lines.append(f"  - {kind} ({who}): {detail}")
        return "\n".join(lines)


def _lv(col: str) -> pl.Expr:
    ranks = {lv: i for i, lv in enumerate(JAPANESE_LEVELS)}
    return pl.col(col).replace_strict(ranks, default=0, return_dtype=pl.Int64).fill_null(0)


def _limits(instance: Instance) -> pl.DataFrame:
    """Per employer: ESDP (round-track) workers, earlier transferees, and the two limits."""
    tp = instance.policy.transfer
    region = instance.policy.regions.get(tp.other_prefecture_region or "", [])
    counted = instance.incumbents.filter(pl.col("track").is_in(tp.tracks))
    per = counted.group_by("employer_id").agg(
        pl.len().cast(pl.Int64).alias("W"), pl.col("transferred_in").cast(pl.Int64).sum().alias("T")
    )
    frame = instance.employers.select("employer_id", "prefecture").join(per, on="employer_id", how="left")
    frame = frame.with_columns(pl.col("W").fill_null(0), pl.col("T").fill_null(0))
    t_share = tp.share("transferee")
    x_share = tp.share("other_prefecture")
    q = (
        pl.max_horizontal((pl.col("W") * t_share.numerator) // t_share.denominator - pl.col("T"), pl.lit(0))
        if t_share is not None
        else pl.lit(None, pl.Int64)
    )
    x = (
        pl.when(pl.col("prefecture").is_in(region))
        .then(
            pl.max_horizontal(
                (pl.col("W") * x_share.numerator) // x_share.denominator - pl.col("T"), pl.lit(0)
            )
        )
        .otherwise(None)
        if x_share is not None
        else pl.lit(None, pl.Int64)
    )
    return frame.with_columns(q.cast(pl.Int64).alias("Q"), x.cast(pl.Int64).alias("X"))


def _worker_facts(instance: Instance) -> pl.DataFrame:
    """Each incumbent with what the checks need (level, skills test, period, prefecture)."""
    tp = instance.policy.transfer
    need = JAPANESE_LEVELS.index(tp.min_japanese_level) if tp.min_japanese_level else 0
    periods = pl.DataFrame(
        {
            "sector": list(tp.sector_period_months),
            "period": list(tp.sector_period_months.values()),
        },
        schema={"sector": pl.String, "period": pl.Int64},
    )
    return (
        instance.incumbents.join(periods, on="sector", how="left")
        .with_columns(pl.col("period").fill_null(tp.period_months))
        .join(
            instance.candidates.select("candidate_id", _lv("japanese_level").alias("level")),
            on="candidate_id",
            how="left",
        )
        .join(
            instance.aptitudes.select("candidate_id", "sector", "skills_test", "score"),
            on=["candidate_id", "sector"],
            how="left",
        )
        .join(
            instance.employers.select("employer_id", pl.col("prefecture").alias("home_pref")),
            on="employer_id",
            how="left",
        )
        .with_columns(
            pl.col("skills_test").fill_null(False),
            pl.col("score").fill_null(0.0),
            (
                pl.col("track").is_in(tp.tracks)
                & (pl.col("months_served") >= pl.col("period"))
                & (pl.col("skills_test") | (not tp.skills_test_required))
                & (pl.col("level").fill_null(0) >= need)
            ).alias("may_move"),
        )
    )


def verify_transfer(instance: Instance, moves: pl.DataFrame) -> TransferVerification:
    """Check a transfer round's ``moves`` against the instance; see the module docstring.

    Parameters
    ----------
    instance : Instance
        The instance the round ran on (with its policy).
    moves : polars.DataFrame
        ``candidate_id``, ``from_employer``, ``to_employer``, ``sector``, ``track``.

    Returns
    -------
    TransferVerification
    """
    found: list[pl.DataFrame] = []

    def add(kind: str, frame: pl.DataFrame, employer: str, detail: pl.Expr) -> None:
        if frame.height:
            found.append(
                frame.select(
                    pl.lit(kind).alias("kind"),
                    pl.col("candidate_id").cast(pl.String)
                    if "candidate_id" in frame.columns
                    else pl.lit(None),
                    pl.col(employer).cast(pl.String).alias("employer_id"),
                    detail.cast(pl.String).alias("detail"),
                ).cast(_VIOLATION_SCHEMA)  # type: ignore[arg-type]
            )

    m = moves.select("candidate_id", "from_employer", "to_employer", "sector", "track").cast(pl.String)
    facts = _worker_facts(instance)
    j = m.join(
        facts.select(
            "candidate_id",
            pl.col("employer_id").alias("cur_employer"),
            pl.col("sector").alias("cur_sector"),
            pl.col("track").alias("cur_track"),
            "months_served",
            "period",
            "may_move",
            "level",
        ),
        on="candidate_id",
        how="left",
    )
    add(
        "unknown_worker",
        j.filter(pl.col("cur_employer").is_null()),
        "from_employer",
        pl.lit("not an incumbent"),
    )
    add(
        "moved_twice",
        m.filter(pl.col("candidate_id").is_duplicated()),
        "to_employer",
        pl.lit("appears in several moves"),
    )
    known = j.filter(pl.col("cur_employer").is_not_null())
    add(
        "wrong_origin",
        known.filter(pl.col("from_employer") != pl.col("cur_employer")),
        "from_employer",
        pl.format("works at {}", "cur_employer"),
    )
    declared = instance.slots.select("employer_id", "sector", "track").with_columns(pl.lit(True).alias("d"))
    prog = known.join(
        declared,
        left_on=["to_employer", "cur_sector", "cur_track"],
        right_on=["employer_id", "sector", "track"],
        how="left",
    )
    add(
        "program_changed",
        prog.filter(
            (pl.col("sector") != pl.col("cur_sector"))
            | (pl.col("track") != pl.col("cur_track"))
            | (pl.col("to_employer") == pl.col("cur_employer"))
            | pl.col("d").is_null()
        ),
        "to_employer",
        pl.format("from {} / {} to {} / {}", "cur_sector", "cur_track", "sector", "track"),
    )
    add(
        "not_eligible",
        known.filter(~pl.col("may_move")),
        "from_employer",
        pl.format("{} months served, period {}, or a test or track rule not met", "months_served", "period"),
    )
    levels = known.join(
        instance.employers.select("employer_id", _lv("min_japanese_level").alias("e_level")),
        left_on="to_employer",
        right_on="employer_id",
        how="left",
    )
    add(
        "employer_level",
        levels.filter(pl.col("level").fill_null(0) < pl.col("e_level").fill_null(0)),
        "to_employer",
        pl.lit("below the employer's minimum Japanese level"),
    )
    prefs = instance.preferences.select("candidate_id", "employer_id", "rank")
    ranked = known.join(
        prefs.rename({"employer_id": "to_employer", "rank": "to_rank"}),
        on=["candidate_id", "to_employer"],
        how="left",
    ).join(
        prefs.rename({"employer_id": "cur_employer", "rank": "cur_rank"}),
        on=["candidate_id", "cur_employer"],
        how="left",
    )
    add(
        "worse_off",
        ranked.filter(
            pl.col("to_rank").is_null()
            | (pl.col("cur_rank").is_not_null() & (pl.col("cur_rank") <= pl.col("to_rank")))
        ),
        "to_employer",
        pl.format("new employer rank {}, current employer rank {}", "to_rank", "cur_rank"),
    )
    # Capacities: arrivals - departures <= open vacancies, per program.
    arr = m.group_by(pl.col("to_employer").alias("employer_id"), "sector", "track").agg(
        pl.len().cast(pl.Int64).alias("arrived")
    )
    dep = known.group_by(pl.col("cur_employer").alias("employer_id"), pl.col("cur_sector").alias("sector"),
                         pl.col("cur_track").alias("track")).agg(pl.len().cast(pl.Int64).alias("departed"))  # fmt: skip
    cap = (
        arr.join(dep, on=["employer_id", "sector", "track"], how="full", coalesce=True)
        .fill_null(0)
        .join(
            instance.slots.select("employer_id", "sector", "track", "capacity"),
            on=["employer_id", "sector", "track"],
            how="left",
        )
        .filter(pl.col("arrived") - pl.col("departed") > pl.col("capacity").fill_null(0))
        .with_columns(pl.lit(None, pl.String).alias("candidate_id"))
    )
    add(
        "capacity",
        cap,
        "employer_id",
        pl.format(
            "{} / {}: {} arrived, {} left, {} open vacancies",
            "sector",
            "track",
            "arrived",
            "departed",
            "capacity",
        ),
    )
    # Ratio limits, employer-wide.
    limits = _limits(instance)
    got = m.join(
        instance.employers.select("employer_id", pl.col("prefecture").alias("from_pref")),
        left_on="from_employer",
        right_on="employer_id",
        how="left",
    ).join(
        instance.employers.select("employer_id", pl.col("prefecture").alias("to_pref")),
        left_on="to_employer",
        right_on="employer_id",
        how="left",
    )
    per = got.group_by(pl.col("to_employer").alias("employer_id")).agg(
        pl.len().cast(pl.Int64).alias("received"),
        (pl.col("from_pref") != pl.col("to_pref")).sum().alias("cross"),
    )
    lim = per.join(limits, on="employer_id", how="left").with_columns(
        pl.lit(None, pl.String).alias("candidate_id")
    )
    add(
        "transferee_limit",
        lim.filter(pl.col("Q").is_not_null() & (pl.col("received") > pl.col("Q"))),
        "employer_id",
        pl.format(
            "{} transferees received, limit {} ({} workers, {} earlier transferees)",
            "received",
            "Q",
            "W",
            "T",
        ),
    )
    add(
        "other_prefecture_limit",
        lim.filter(pl.col("X").is_not_null() & (pl.col("cross") > pl.col("X"))),
        "employer_id",
        pl.format(
            "{} from other prefectures, limit {} ({} workers, {} earlier transferees)", "cross", "X", "W", "T"
        ),
    )
    violations = (
        pl.concat(found).sort("kind", "candidate_id", "employer_id", nulls_last=True)
        if found
        else pl.DataFrame(schema=_VIOLATION_SCHEMA)
    )
    return TransferVerification(violations=violations)


def _program_shares(instance: Instance, limits: pl.DataFrame, facts: pl.DataFrame) -> pl.DataFrame:
    """Per program of the round: round capacity and its shares of the employer's limits.

    ``[transfer] limit_shares = "seats"``: a program's reach is its open vacancies plus
    its incumbents free to move; an employer whose programs' reaches sum to at most a
    limit gives each program its reach, otherwise the limit is split in proportion to
    reach (largest remainders, ties to the first program by sector, track) and capped at
    it. ``"incumbents"``: split in proportion to incumbents.
    """
    tp = instance.policy.transfer
    inc = facts.group_by("employer_id", "sector", "track").agg(
        pl.len().cast(pl.Int64).alias("inc"), pl.col("may_move").cast(pl.Int64).sum().alias("free")
    )
    progs = (
        instance.slots.filter(pl.col("track").is_in(tp.tracks))
        .select("employer_id", "sector", "track", "capacity")
        .join(inc, on=["employer_id", "sector", "track"], how="left")
        .with_columns(pl.col("inc", "free").fill_null(0))
        .join(limits.select("employer_id", "Q", "X"), on="employer_id", how="left")
        .with_columns((pl.col("capacity") + pl.col("free")).alias("reach"))
    )
    by = "reach" if tp.limit_shares == "seats" else "inc"
    progs = progs.with_columns(pl.col(by).alias("wt"), pl.col(by).sum().over("employer_id").alias("total"))

    def share(col: str) -> pl.Expr:
        num = pl.col(col) * pl.col("wt")
        base = pl.when(pl.col("total") > 0).then(num // pl.col("total")).otherwise(0)
        rem = pl.when(pl.col("total") > 0).then(num % pl.col("total")).otherwise(0)
        return pl.struct(base.alias("b"), rem.alias("r"))

    out = progs
    for col in ("Q", "X"):
        out = (
            out.with_columns(share(col).struct.unnest())
            .sort("employer_id", pl.col("r"), "sector", "track", descending=[False, True, False, False])
            .with_columns(
                pl.int_range(pl.len()).over("employer_id").alias("pos"),
                (pl.col(col) - pl.col("b").sum().over("employer_id")).alias("short"),
            )
            .with_columns(
                pl.when(pl.col(col).is_null())
                .then(None)
                .otherwise(
                    pl.col("b") + ((pl.col("pos") < pl.col("short")) & (pl.col("r") > 0)).cast(pl.Int64)
                )
                .alias(f"{col.lower()}_share")
            )
            .drop("b", "r", "pos", "short")
        )
        if by == "reach":
            name = f"{col.lower()}_share"
            out = out.with_columns(
                pl.when(pl.col(name).is_null())
                .then(None)
                .otherwise(pl.min_horizontal(name, "reach"))
                .alias(name)
            )
    return out.with_columns(
        pl.when(pl.col("x_share").is_not_null() & pl.col("q_share").is_not_null())
        .then(pl.min_horizontal("x_share", "q_share"))
        .otherwise(pl.col("x_share"))
        .alias("x_share"),
        (pl.col("inc") + pl.col("capacity")).alias("round_cap"),
    ).sort("employer_id", "sector", "track")


def _pairs(instance: Instance, moves: pl.DataFrame, seed: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The pairs that could block (the worker may move there and prefers it), keyed, with
    their program's final state; and the arrivals (keyed at their new employer)."""
    facts = _worker_facts(instance)
    limits = _limits(instance)
    progs = _program_shares(instance, limits, facts)
    keyed = Priorities.of(instance, seed).keyed

    m = moves.select("candidate_id", "to_employer").cast(pl.String)
    state = facts.join(m, on="candidate_id", how="left").with_columns(
        pl.coalesce("to_employer", "employer_id").alias("final_employer")
    )
    # The program's final state: who stayed, who arrived (and from where), worst keys.
    emp_pref = instance.employers.select("employer_id", pl.col("prefecture").alias("pref"))
    arrivals = keyed(
        state.filter(pl.col("to_employer").is_not_null()).select(
            "candidate_id",
            pl.col("to_employer").alias("employer_id"),
            "sector",
            "track",
            "score",
            "home_pref",
        )
    ).join(emp_pref, on="employer_id", how="left")
    arrivals = arrivals.with_columns((pl.col("home_pref") != pl.col("pref")).alias("cross"))
    t_state = arrivals.group_by("employer_id", "sector", "track").agg(
        pl.len().cast(pl.Int64).alias("t_count"),
        pl.col("key").max().alias("t_worst"),
        pl.col("cross").sum().alias("x_count"),
        pl.col("key").filter(pl.col("cross")).max().alias("x_worst"),
    )
    stay = (
        state.filter(pl.col("to_employer").is_null())
        .group_by("employer_id", "sector", "track")
        .agg(pl.len().cast(pl.Int64).alias("stay"))
    )
    p_state = (
        progs.join(t_state, on=["employer_id", "sector", "track"], how="left")
        .join(stay, on=["employer_id", "sector", "track"], how="left")
        .with_columns(pl.col("t_count", "x_count", "stay").fill_null(0))
    )
    # Candidate pairs: listed, better than the final employer (and the starting one).
    prefs = instance.preferences.select("candidate_id", "employer_id", "rank")
    movers = state.filter(pl.col("may_move")).select(
        "candidate_id",
        pl.col("employer_id").alias("home_employer"),
        "final_employer",
        "sector",
        "track",
        "score",
        "level",
        "home_pref",
    )
    pairs = (
        movers.join(prefs, on="candidate_id")
        .join(
            prefs.select(
                "candidate_id", pl.col("employer_id").alias("final_employer"), pl.col("rank").alias("f_rank")
            ),
            on=["candidate_id", "final_employer"],
            how="left",
        )
        .join(
            prefs.select(
                "candidate_id", pl.col("employer_id").alias("home_employer"), pl.col("rank").alias("h_rank")
            ),
            on=["candidate_id", "home_employer"],
            how="left",
        )
        .filter(
            (pl.col("employer_id") != pl.col("final_employer"))
            & (pl.col("employer_id") != pl.col("home_employer"))
            & (pl.col("f_rank").is_null() | (pl.col("rank") < pl.col("f_rank")))
            & (pl.col("h_rank").is_null() | (pl.col("rank") < pl.col("h_rank")))
        )
        .join(p_state, on=["employer_id", "sector", "track"])
        .join(
            instance.employers.select(
                "employer_id", "prefecture", _lv("min_japanese_level").alias("e_level")
            ),
            on="employer_id",
        )
        .filter(pl.col("level").fill_null(0) >= pl.col("e_level"))
        .with_columns((pl.col("home_pref") != pl.col("prefecture")).alias("cross"))
    )
    pairs = keyed(pairs)
    return pairs, arrivals


def transfer_blocking_pairs(instance: Instance, moves: pl.DataFrame, *, seed: int) -> pl.DataFrame:
    """Every (worker, program) pair that blocks the round's outcome.

    A worker allowed to move blocks with a program of its sector and track at another
    employer it listed better than where it ended (and better than where it started),
    whose minimum Japanese level it meets, when the program's greedy choice would take
    it: free room under its capacity and its transferee share, or a better priority than
    the worst transferee the binding cap holds (the cross-prefecture share for a worker
    from another prefecture when that share is full, else all transferees).

    Returns
    -------
    polars.DataFrame
        ``candidate_id``, ``employer_id``, ``sector``, ``track``, ``reason``
        (``free_seat`` or ``displaces``).
    """
    pairs, _ = _pairs(instance, moves, seed)
    x_full = pl.col("cross") & pl.col("x_share").is_not_null() & (pl.col("x_count") >= pl.col("x_share"))
    t_full = (pl.col("q_share").is_not_null() & (pl.col("t_count") >= pl.col("q_share"))) | (
        pl.col("stay") + pl.col("t_count") >= pl.col("round_cap")
    )
    beats_x = pl.col("x_worst").is_not_null() & (pl.col("key") < pl.col("x_worst"))
    beats_t = pl.col("t_worst").is_not_null() & (pl.col("key") < pl.col("t_worst"))
    blocks = pl.when(x_full).then(beats_x).when(t_full).then(beats_t).otherwise(pl.lit(True))
    return (
        pairs.filter(blocks)
        .with_columns(
            pl.when(x_full | t_full).then(pl.lit("displaces")).otherwise(pl.lit("free_seat")).alias("reason")
        )
        .select("candidate_id", "employer_id", "sector", "track", "reason")
        .sort("candidate_id", "employer_id")
    )


def employer_wide_blocking_pairs(instance: Instance, moves: pl.DataFrame, *, seed: int) -> pl.DataFrame:
    """Pairs that block the outcome when an employer applies its limits employer-wide and
    never wastefully: a diagnostic of what the per-program shares cost.

    That choice takes the employer's staying incumbents, then its applicants in one
    priority order over all its programs (the programs' keys, which compare across
    programs), each one whose program has a seat and for whom the transferee limit (and,
    from another prefecture, the other-prefecture limit) has room. Its outcomes need not
    be stable at all (docs/methods/transfer.md), so the round cannot promise zero here;
    the pairs listed are moves the rule would allow that the shares refused.

    Returns
    -------
    polars.DataFrame
        ``candidate_id``, ``employer_id``, ``sector``, ``track``.
    """
    pairs, arrivals = _pairs(instance, moves, seed)
    limits = _limits(instance)
    p = pairs.select(
        "candidate_id", "employer_id", "sector", "track", "key", "cross", "round_cap", "stay"
    ).with_row_index("pair")
    better = (
        p.select("pair", "employer_id", "sector", "track", "key")
        .join(
            arrivals.select(
                "employer_id",
                pl.col("sector").alias("a_sector"),
                pl.col("track").alias("a_track"),
                pl.col("key").alias("a_key"),
                pl.col("cross").alias("a_cross"),
            ),
            on="employer_id",
        )
        .filter(pl.col("a_key") < pl.col("key"))
        .group_by("pair")
        .agg(
            ((pl.col("a_sector") == pl.col("sector")) & (pl.col("a_track") == pl.col("track")))
            .sum()
            .cast(pl.Int64)
            .alias("b_prog"),
            pl.len().cast(pl.Int64).alias("b_all"),
            pl.col("a_cross").sum().cast(pl.Int64).alias("b_cross"),
        )
    )
    judged = (
        p.join(better, on="pair", how="left")
        .with_columns(pl.col("b_prog", "b_all", "b_cross").fill_null(0))
        .join(limits.select("employer_id", "Q", "X"), on="employer_id", how="left")
    )
    takes = (
        (pl.col("b_prog") < pl.col("round_cap") - pl.col("stay"))
        & (pl.col("Q").is_null() | (pl.col("b_all") < pl.col("Q")))
        & (~pl.col("cross") | pl.col("X").is_null() | (pl.col("b_cross") < pl.col("X")))
    )
    return (
        judged.filter(takes)
        .select("candidate_id", "employer_id", "sector", "track")
        .sort("candidate_id", "employer_id")
    )
