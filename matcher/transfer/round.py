"""Transfer rounds: ESDP job changes without anyone worse off.

Who may move
------------
Incumbents (the ``incumbents`` table: a worker, its employer and its program (sector,
track), ``months_served``, optional ``transferred_in``) in a track of the round
(``[transfer] tracks``; Japan: ``esdp``) may apply when

- ``months_served`` >= the sector's restriction period (``sector_period_months``, else
  ``period_months``);
- they passed the sector's skills test (``aptitudes.skills_test``; a worker without an
  aptitude row in its sector has not) when ``skills_test_required``;
- their Japanese level (``candidates.japanese_level``) is at least ``min_japanese_level``.

Everyone else stays (``not_eligible``, reasons ``period``, ``skills_test``, ``language``,
comma-separated when several fail, or ``track`` when the round does not cover the track).

Where they may go
-----------------
Moves stay in the worker's sector and track, to another employer that declared that
program in ``slots`` and whose ``min_japanese_level`` the worker meets. Preferences are the
worker's ``preferences`` rows: a listed employer ranked better than the current one is
preferred; when the current employer is not listed every listed employer is preferred;
an unlisted employer never is. A worker without rows stays.

The mechanism
-------------
Worker-proposing deferred acceptance (:func:`matcher.transfer.kernel.transfer_da`)
where every worker's current position is its last choice and it has top priority there:
no one is worse off, seats left by movers are offered in the same round (chains and
cycles of moves), and the outcome is the worker-optimal stable one. A program's capacity
in the round is its incumbents (all of them, movers included) plus the slot's declared
``capacity``, read as *open vacancies*. Other priorities as in stable matching: the
employer's ``employer_rankings`` rank, else the worker's aptitude score in the sector
(higher first; no aptitude row = 0), then the seeded lottery (:mod:`matcher.eligibility.lottery`).

How the ratio limits are counted
--------------------------------
For each receiving employer *e*, on the state **before the round**:

- ``W_e`` = its incumbents in the round's tracks, all sectors (workers who leave in the
  round still count; arrivals do not);
- ``T_e`` = those of them with ``transferred_in`` = true (earlier transferees);
- it may receive ``Q_e = max(0, floor(W_e * max_transferee_share) - T_e)`` transferees;
- when its head office (``employers.prefecture``) is in ``other_prefecture_region``, at
  most ``X_e = max(0, floor(W_e * max_other_prefecture_share) - T_e)`` of them from an
  employer in another prefecture. Every earlier transferee counts against this limit
  too: the table does not say where it came from, so the count errs on the safe side.

``floor`` is exact (shares are fractions such as ``1/3``). With Japan's policy an
employer with 9 ESDP workers and 1 earlier transferee may receive 2 (3 - 1); in Tokyo,
at most 0 (1 - 1) of them from another prefecture.

Each program *p* of the round applies a share ``q_p`` of ``Q_e`` and ``x_p <= q_p`` of
``X_e`` and chooses greedily by priority (its own incumbents first) under nested caps:
cross-prefecture transferees <= ``x_p``, transferees <= ``q_p``, everyone <= its round
capacity. The shares sum to at most the employer's limits, so those always hold.
``[transfer] limit_shares`` says how they are shared (:func:`_shares`):

- ``"seats"`` (default): a program's *reach* is its open vacancies plus its incumbents
  who may move; no outcome gives it more transferees. When an employer's reaches sum to
  at most the limit, each program's share is its reach, so the limit never binds and
  applies exactly; otherwise the limit is split in proportion to reach (largest
  remainders, ties to the first program in (sector, track) order), never above it. A
  program with no incumbents has its vacancies as reach and so gets a share.
- ``"incumbents"``: in proportion to the programs' incumbents.

Worked example: the employer above (9 workers in food service, 1 earlier transferee, in
Tokyo: ``Q = 2``, ``X = 0``) opens agriculture with 3 vacancies, none of the 9 free to
move yet: reaches 0 and 3 sum to 3 > 2, so agriculture's share is 2 (food service 0) and
both cross-prefecture shares are 0.

Why shares: a chain of caps at one program, under one priority order, is a laminar
matroid, so each program's choice is substitutable and satisfies the law of aggregate
demand, and deferred acceptance finds the worker-optimal stable outcome and is
strategy-proof for workers (the shares never depend on preferences). One employer-wide
cap would cross the programs' seats (shared with incumbents, who are not transferees): a
worker returning to its seat pushes a transferee out and frees room for an applicant to
another program already refused. Applied employer-wide without waste the limits can leave
no stable outcome at all (docs/methods/transfer.md gives an instance), so where reaches
exceed a limit the shares are conservative: a program may refuse a transferee while its
employer has room. :func:`matcher.transfer.verify.employer_wide_blocking_pairs` lists
those refusals.

Outputs
-------
``moves``, ``chains``, ``vacancies``, ``outcomes`` and ``summary.json``
(docs/methods/transfer.md). Every round is rechecked by :mod:`matcher.transfer.verify`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import polars as pl

from matcher._version import __version__
from matcher.data.model import Instance
from matcher.data.reference import JAPANESE_LEVELS
from matcher.eligibility.lottery import lottery_numbers
from matcher.eligibility.priorities import Priorities, priority_key
from matcher.errors import InputError, Problem
from matcher.output.files import write_result
from matcher.output.result import tail_rows
from matcher.status import Status
from matcher.transfer.kernel import label_chains, transfer_da

log = logging.getLogger("matcher")

I64 = npt.NDArray[np.int64]

#: Outcome of every incumbent.
OUTCOMES: Final[tuple[str, ...]] = ("moved", "stayed", "not_eligible")
#: Reasons in ``outcomes.reason``: why a worker could not apply, or why it stayed.
REASONS: Final[tuple[str, ...]] = (
    "period",
    "skills_test",
    "language",
    "track",
    "no_better_option",
    "not_admitted",
)

MOVES_SCHEMA: Final[dict[str, type[pl.DataType]]] = {
    "candidate_id": pl.String,
    "from_employer": pl.String,
    "to_employer": pl.String,
    "sector": pl.String,
    "track": pl.String,
}
CHAINS_SCHEMA: Final[dict[str, type[pl.DataType]]] = {
    "chain_id": pl.Int64,
    "step": pl.Int64,
    "kind": pl.String,
    "candidate_id": pl.String,
    "from_employer": pl.String,
    "to_employer": pl.String,
    "sector": pl.String,
    "track": pl.String,
}


@dataclass
class TransferResult:
    """Outcome of :func:`transfer_round`.

    Attributes
    ----------
    status : Status
        ``optimal``: the worker-optimal stable outcome was found (and verified).
    message : str
        Plain-English account of the status.
    moves, chains, vacancies, outcomes : polars.DataFrame
        The output tables (docs/methods/transfer.md).
    summary : dict
        Everything written to ``summary.json``.
    """

    status: Status
    message: str
    moves: pl.DataFrame
    chains: pl.DataFrame
    vacancies: pl.DataFrame
    outcomes: pl.DataFrame
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def success(self) -> bool:
        """True when the tables are a valid round outcome."""
        return self.status.success

    @property
    def tables(self) -> dict[str, pl.DataFrame]:
        """The output tables by file stem."""
        return {
            "moves": self.moves,
            "chains": self.chains,
            "vacancies": self.vacancies,
            "outcomes": self.outcomes,
        }

    def write(self, out: str | Path, *, format: str = "csv") -> Path:
        """Write the tables and ``summary.json`` to ``out`` atomically.

        Parameters
        ----------
        out : str or Path
            Directory: absent, empty or an earlier transfer output (:mod:`matcher.output.directories`);
            replaced only once the new content is complete.
        format : {"csv", "parquet", "xlsx"}
            Table format (CSV text cells that would run as formulas get a leading ``'``).
        """
        return write_result(
            out, format, self.tables, self.summary, kind="transfer", success=self.status.success
        )

    def summary_rows(self, policy: str) -> list[tuple[str, str]]:
        """The summary as (label, value) rows, as ``matcher transfer`` prints it."""
        s = self.summary
        c, ch, lim = s["counts"], s["chains"], s["limits"]
        rows = [
            ("status", f"{self.status.value} ({self.message})"),
            ("policy", policy),
            ("incumbents", f"{c['incumbents']:,}"),
            ("eligible to move", f"{c['eligible']:,}"),
            ("applied", f"{c['applied']:,}"),
            ("moved", f"{c['moved']:,}"),
            ("stayed", f"{c['stayed']:,}"),
            ("not eligible", f"{c['not_eligible']:,}"),
        ]
        rows += [(f"not eligible: {k}", f"{v:,}") for k, v in c["not_eligible_by_reason"].items()]

        def limit(key: str) -> str:
            return (
                f"{lim[f'employers_with_{key}']:,} employers, {lim[f'employers_at_{key}']:,} reached it, "
                f"{lim[f'employers_with_zero_{key}']:,} at 0"
            )

        rows += [
            ("chains / cycles", f"{ch['chains']:,} / {ch['cycles']:,} (longest {ch['longest']})"),
            ("open vacancies", f"{c['open_vacancies_before']:,} before, {c['open_vacancies_after']:,} after"),
            ("transferee limit", limit("transferee_limit")),
            ("other-prefecture limit", limit("other_prefecture_limit")),
        ]
        rows.append(("blocking pairs", f"{s.get('blocking_pairs', 0):,}"))
        return rows + tail_rows(s)

    def __repr__(self) -> str:
        c = self.summary.get("counts", {})
        return (
            f"TransferResult(status={self.status.value!r}, moved={c.get('moved')}, "
            f"incumbents={c.get('incumbents')}, message={self.message!r})"
        )


def _level(col: str) -> pl.Expr:
    return (
        pl.col(col)
        .replace_strict({lv: i for i, lv in enumerate(JAPANESE_LEVELS)}, default=0, return_dtype=pl.Int64)
        .fill_null(0)
    )


def _floor_share(count: I64, share: Fraction) -> I64:
    """``floor(count * share)``, exactly, in integers."""
    return (count * share.numerator) // share.denominator


def _apportion(total: I64, weight: I64, emp: I64, emp_weight: I64) -> I64:
    """Split ``total[e]`` over the programs of each employer in proportion to ``weight``.

    Largest remainders; ties to the lower program index. Programs of an employer with
    zero total weight get 0.
    """
    n = weight.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    ew = emp_weight[emp]
    num = total[emp] * weight
    safe = np.where(ew > 0, ew, 1)
    base = np.where(ew > 0, num // safe, 0)
    rem = np.where(ew > 0, num % safe, 0)
    short = total - np.bincount(emp, weights=base, minlength=total.shape[0]).astype(np.int64)
    order = np.lexsort((np.arange(n), -rem, emp))
    emp_sorted = emp[order]
    first = np.searchsorted(emp_sorted, emp_sorted, side="left")
    pos = np.empty(n, dtype=np.int64)
    pos[order] = np.arange(n) - first
    return base + ((pos < short[emp]) & (rem > 0)).astype(np.int64)


def _shares(limit: I64, weight: I64, reach: I64, emp: I64, rule: str) -> I64:
    """Each program's share of its employer's limit (``limit[e]``, -1 = none).

    ``"seats"``: a program's ``reach`` is the most transferees it could receive (open
    vacancies + incumbents free to move). When an employer's programs together cannot
    reach its limit, each program's share is its reach, so the limit never binds and is
    applied exactly; otherwise the limit is split in proportion to reach (largest
    remainders), which never exceeds a program's reach. ``"incumbents"``: split in
    proportion to ``weight`` (the program's incumbents). Shares sum to at most the limit.
    """
    lim = np.maximum(limit, 0)
    if rule == "incumbents":
        total_w = np.bincount(emp, weights=weight, minlength=lim.shape[0]).astype(np.int64)
        return _apportion(lim, weight, emp, total_w)
    total_r = np.bincount(emp, weights=reach, minlength=lim.shape[0]).astype(np.int64)
    return np.minimum(_apportion(lim, reach, emp, total_r), reach)


def _ptr(index: I64, n: int) -> I64:
    return np.concatenate([[0], np.cumsum(np.bincount(index, minlength=n))]).astype(np.int64)


@dataclass(frozen=True)
class _Round:
    """The round's arrays and frames, built with polars joins."""

    workers: pl.DataFrame  # one row per incumbent, sorted by candidate_id; column w
    programs: pl.DataFrame  # the slots with prog index, round capacity and quotas
    edges: pl.DataFrame  # acceptable moves, sorted by (w, rank)
    emp_limits: pl.DataFrame  # per employer: W, T, Q, X


def _build_round(instance: Instance, seed: int) -> _Round:
    policy = instance.policy
    tp = policy.transfer
    t_share = tp.share("transferee")
    x_share = tp.share("other_prefecture")
    region = set(policy.regions.get(tp.other_prefecture_region or "", []))
    emp = instance.employers.select(
        "employer_id", "prefecture", _level("min_japanese_level").alias("e_level")
    ).with_columns(pl.int_range(pl.len(), dtype=pl.Int64).alias("emp"))
    slots = instance.slots.select("employer_id", "sector", "track", "capacity").with_columns(
        pl.int_range(pl.len(), dtype=pl.Int64).alias("prog"),
        pl.col("track").is_in(tp.tracks).alias("in_round"),
    )
    lot = pl.DataFrame(
        {
            "candidate_id": instance.candidates.get_column("candidate_id"),
            "lottery": lottery_numbers(instance.candidates.get_column("candidate_id"), seed),
        }
    )
    need_level = JAPANESE_LEVELS.index(tp.min_japanese_level) if tp.min_japanese_level else 0
    workers = (
        instance.incumbents.select(
            "candidate_id", "employer_id", "sector", "track", "months_served", "transferred_in"
        )
        .with_columns(pl.int_range(pl.len(), dtype=pl.Int64).alias("w"))
        .join(slots.select("employer_id", "sector", "track", "prog"), on=["employer_id", "sector", "track"])
        .join(emp.select("employer_id", pl.col("prefecture").alias("home_pref"), "emp"), on="employer_id")
        .join(
            instance.candidates.select("candidate_id", _level("japanese_level").alias("level")),
            on="candidate_id",
        )
        .join(
            instance.aptitudes.select("candidate_id", "sector", "score", "skills_test"),
            on=["candidate_id", "sector"],
            how="left",
        )
        .join(lot, on="candidate_id")
        .with_columns(
            pl.col("score").fill_null(0.0),
            pl.col("skills_test").fill_null(False),
            pl.col("track").is_in(tp.tracks).alias("in_round"),
            pl.col("sector")
            .replace_strict(tp.sector_period_months, default=tp.period_months, return_dtype=pl.Int64)
            .alias("period"),
        )
        .with_columns(
            (pl.col("months_served") >= pl.col("period")).alias("period_ok"),
            (pl.col("skills_test") | pl.lit(not tp.skills_test_required)).alias("skills_ok"),
            (pl.col("level") >= need_level).alias("language_ok"),
        )
        .with_columns(
            (pl.col("in_round") & pl.col("period_ok") & pl.col("skills_ok") & pl.col("language_ok")).alias(
                "eligible"
            ),
            pl.when(~pl.col("in_round"))
            .then(pl.lit("track"))
            .otherwise(
                pl.concat_str(
                    [
                        pl.when(~pl.col("period_ok")).then(pl.lit("period")),
                        pl.when(~pl.col("skills_ok")).then(pl.lit("skills_test")),
                        pl.when(~pl.col("language_ok")).then(pl.lit("language")),
                    ],
                    separator=",",
                    ignore_nulls=True,
                )
            )
            .replace("", None)
            .alias("ineligible_reason"),
        )
        .sort("w")
    )
    # Programs: round capacity = incumbents + declared capacity (open vacancies).
    n_prog = slots.height
    n_emp = emp.height
    prog = workers.get_column("prog").to_numpy().astype(np.int64)
    inc_p = np.bincount(prog, minlength=n_prog).astype(np.int64)
    prog_emp = slots.join(emp.select("employer_id", "emp"), on="employer_id").sort("prog")
    p_emp = prog_emp.get_column("emp").to_numpy().astype(np.int64)
    p_round = slots.get_column("in_round").to_numpy().astype(bool)
    in_round_w = workers.get_column("in_round").to_numpy().astype(bool)
    w_emp = workers.get_column("emp").to_numpy().astype(np.int64)
    w_cap = np.bincount(w_emp[in_round_w], minlength=n_emp).astype(np.int64)
    t_in = np.bincount(
        w_emp[in_round_w],
        weights=workers.get_column("transferred_in").to_numpy().astype(np.int64)[in_round_w],
        minlength=n_emp,
    ).astype(np.int64)
    # What each program of the round could take in: its open vacancies plus the seats of
    # its incumbents who are free to move (no outcome gives it more transferees).
    elig_w = workers.get_column("eligible").to_numpy().astype(bool)
    elig_p = np.bincount(prog[elig_w], minlength=n_prog).astype(np.int64)
    reach = np.where(p_round, slots.get_column("capacity").to_numpy().astype(np.int64) + elig_p, 0)
    weight = reach if tp.limit_shares == "seats" else np.where(p_round, inc_p, 0)
    unlimited = np.full(n_emp, -1, dtype=np.int64)
    q_e = np.maximum(_floor_share(w_cap, t_share) - t_in, 0) if t_share is not None else unlimited
    in_region = emp.get_column("prefecture").is_in(sorted(region)).to_numpy().astype(bool)
    x_e = (
        np.where(in_region, np.maximum(_floor_share(w_cap, x_share) - t_in, 0), -1)
        if x_share is not None
        else unlimited
    )
    q_p = np.where(p_round & (q_e[p_emp] >= 0), _shares(q_e, weight, reach, p_emp, tp.limit_shares), -1)
    x_p = np.where(p_round & (x_e[p_emp] >= 0), _shares(x_e, weight, reach, p_emp, tp.limit_shares), -1)
    x_p = np.where((x_p >= 0) & (q_p >= 0), np.minimum(x_p, q_p), x_p)
    programs = slots.with_columns(
        pl.Series("incumbents", inc_p),
        pl.Series("round_capacity", inc_p + slots.get_column("capacity").to_numpy().astype(np.int64)),
        pl.Series("emp", p_emp),
        pl.Series("q", q_p),
        pl.Series("x", x_p),
    )
    emp_limits = emp.select("employer_id", "prefecture").with_columns(
        pl.Series("workers", w_cap),
        pl.Series("earlier_transferees", t_in),
        pl.Series("transferee_limit", q_e),
        pl.Series("other_prefecture_limit", x_e),
    )
    # Acceptable moves: listed, better than the current employer, same program elsewhere.
    movers = workers.filter(pl.col("eligible")).select(
        "w", "candidate_id", pl.col("employer_id").alias("home_emp"), "sector", "track", "home_pref",
        "level", "score", "lottery",
    )  # fmt: skip
    prefs = instance.preferences.select("candidate_id", "employer_id", "rank")
    current = prefs.select(
        "candidate_id", pl.col("employer_id").alias("home_emp"), pl.col("rank").alias("current_rank")
    )
    rule = Priorities.of(instance, seed)
    edges = (
        movers.join(prefs, on="candidate_id")
        .filter(pl.col("employer_id") != pl.col("home_emp"))
        .join(current, on=["candidate_id", "home_emp"], how="left")
        .filter(pl.col("current_rank").is_null() | (pl.col("rank") < pl.col("current_rank")))
        .join(
            programs.filter(pl.col("in_round")).select("employer_id", "sector", "track", "prog"),
            on=["employer_id", "sector", "track"],
        )
        .join(emp.select("employer_id", pl.col("prefecture").alias("dest_pref"), "e_level"), on="employer_id")
        .filter(pl.col("level") >= pl.col("e_level"))
        .join(rule.rankings, on=["employer_id", "candidate_id"], how="left")
        .with_columns(
            priority_key(rule.unit, rule.n, rule.r_max).alias("key"),
            (pl.col("dest_pref") != pl.col("home_pref")).alias("cross"),
        )
        .select("w", "prog", "rank", "key", "cross")
        .sort("w", "rank")
    )
    return _Round(workers=workers, programs=programs, edges=edges, emp_limits=emp_limits)


def _chains(moves: pl.DataFrame) -> pl.DataFrame:
    """Chains of moves following vacancies (see docs/methods/transfer.md)."""
    n = moves.height
    if n == 0:
        return pl.DataFrame(schema=CHAINS_SCHEMA)
    m = moves.with_columns(pl.int_range(pl.len(), dtype=pl.Int64).alias("m"))
    # At each program the i-th departure (candidate order) is followed by the i-th arrival.
    dep = m.select("m", pl.col("from_employer").alias("employer_id"), "sector", "track").with_columns(
        pl.int_range(pl.len()).over("employer_id", "sector", "track").alias("i")
    )
    arr = m.select(
        pl.col("m").alias("next"), pl.col("to_employer").alias("employer_id"), "sector", "track"
    ).with_columns(pl.int_range(pl.len()).over("employer_id", "sector", "track").alias("i"))
    link = dep.join(arr, on=["employer_id", "sector", "track", "i"]).select("m", "next")
    succ = np.full(n, -1, dtype=np.int64)
    has_pred = np.zeros(n, dtype=bool)
    mi = link.get_column("m").to_numpy().astype(np.int64)
    ni = link.get_column("next").to_numpy().astype(np.int64)
    succ[mi] = ni
    has_pred[ni] = True
    chain, step, cycle = label_chains(succ, has_pred)
    return (
        moves.with_columns(
            pl.Series("chain_id", chain + 1, dtype=pl.Int64),
            pl.Series("step", step, dtype=pl.Int64),
            pl.Series("kind", np.where(cycle, "cycle", "chain"), dtype=pl.String),
        )
        .select(list(CHAINS_SCHEMA))
        .sort("chain_id", "step")
    )


def _chain_stats(chains: pl.DataFrame) -> dict[str, Any]:
    lengths = chains.group_by("chain_id", "kind").agg(pl.len().cast(pl.Int64).alias("length"))
    by_len = lengths.group_by("length").agg(pl.len().cast(pl.Int64).alias("n")).sort("length")
    return {
        "chains": int((lengths.get_column("kind") == "chain").sum()),
        "cycles": int((lengths.get_column("kind") == "cycle").sum()),
        "longest": int(lengths.get_column("length").max() or 0),  # type: ignore[arg-type]
        "mean_length": round(float(lengths.get_column("length").mean() or 0.0), 4),  # type: ignore[arg-type]
        "by_length": {str(k): int(v) for k, v in by_len.iter_rows()},
    }


def transfer_round(
    instance: Instance,
    *,
    seed: int = 0,
    verify: bool = True,
    timings: dict[str, float] | None = None,
) -> TransferResult:
    """Run one transfer round (ESDP job changes); see the module docstring for the rules.

    Parameters
    ----------
    instance : Instance
        A validated instance with an ``incumbents`` table; its policy's ``[transfer]``
        section gives the rules (none beyond capacities without it).
    seed : int
        Seed of the lottery that breaks priority ties.
    verify : bool
        Recheck the outcome with :func:`matcher.transfer.verify.verify_transfer` and
        count blocking pairs (default True); a violation raises
        :class:`matcher.VerificationError`.
    timings : dict, optional
        Earlier phase times (e.g. loading) to report in the summary.

    Returns
    -------
    TransferResult

    Raises
    ------
    InputError
        When the instance has no incumbents.

    Examples
    --------
    >>> import matcher
    >>> inst = matcher.load_instance("instances/transfer-tiny")
    >>> res = matcher.transfer_round(inst)
    >>> res.moves.get_column("candidate_id").to_list()
    ['W1', 'W2', 'W3', 'W4', 'W5']
    >>> res.summary["chains"]["chains"], res.summary["chains"]["cycles"]
    (1, 1)
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a whole number of at least 0 (it seeds the lottery), got {seed!r}")
    if instance.incumbents.height == 0:
        raise InputError(
            [Problem("incumbents", "no incumbents: a transfer round needs an incumbents table with rows")],
            what="instance",
        )
    timings = dict(timings or {})
    start = time.perf_counter()
    log.info("transfer round: building edges ...")
    rnd = _build_round(instance, seed)
    timings["edges"] = time.perf_counter() - start
    workers, programs, edges = rnd.workers, rnd.programs, rnd.edges
    n_w = workers.height
    ew = edges.get_column("w").to_numpy().astype(np.int64)
    ep = edges.get_column("prog").to_numpy().astype(np.int64)
    w_ptr = _ptr(ew, n_w)
    movers = np.unique(ew).astype(np.int64)
    home = workers.get_column("prog").to_numpy().astype(np.int64)
    inc_p = programs.get_column("incumbents").to_numpy().astype(np.int64)
    home0 = inc_p - np.bincount(home[movers], minlength=programs.height).astype(np.int64)
    start = time.perf_counter()
    log.info("transfer round: deferred acceptance on %s acceptable moves ...", len(ew))
    held, proposals = transfer_da(
        w_ptr,
        ew,
        ep,
        edges.get_column("key").to_numpy().astype(np.int64),
        edges.get_column("cross").to_numpy().astype(np.bool_),
        home,
        movers,
        programs.get_column("round_capacity").to_numpy().astype(np.int64),
        home0,
        programs.get_column("q").to_numpy().astype(np.int64),
        programs.get_column("x").to_numpy().astype(np.int64),
    )
    timings["solve"] = time.perf_counter() - start
    start = time.perf_counter()
    moved_w = np.flatnonzero(held >= 0)
    dest = np.full(n_w, -1, dtype=np.int64)
    dest[moved_w] = ep[held[moved_w]]
    applied = np.zeros(n_w, dtype=bool)
    applied[movers] = True
    prog_emp_ids = programs.get_column("employer_id")
    w = workers.with_columns(
        pl.Series("dest", dest),
        pl.Series("applied", applied),
    ).with_columns(
        pl.when(pl.col("dest") >= 0)
        .then(prog_emp_ids.gather(np.maximum(dest, 0)))
        .otherwise(None)
        .alias("to_employer")
    )
    moves = (
        w.filter(pl.col("dest") >= 0)
        .select(
            "candidate_id",
            pl.col("employer_id").alias("from_employer"),
            "to_employer",
            "sector",
            "track",
        )
        .cast(MOVES_SCHEMA)  # type: ignore[arg-type]
        .sort("candidate_id")
    )
    outcomes = w.select(
        "candidate_id",
        "employer_id",
        "sector",
        "track",
        "months_served",
        pl.when(pl.col("dest") >= 0)
        .then(pl.lit("moved"))
        .when(~pl.col("eligible"))
        .then(pl.lit("not_eligible"))
        .otherwise(pl.lit("stayed"))
        .alias("outcome"),
        pl.when(pl.col("dest") >= 0)
        .then(None)
        .when(~pl.col("eligible"))
        .then(pl.col("ineligible_reason"))
        .when(pl.col("applied"))
        .then(pl.lit("not_admitted"))
        .otherwise(pl.lit("no_better_option"))
        .alias("reason"),
        "to_employer",
    ).sort("candidate_id")
    chains = _chains(moves)
    departed = np.bincount(home[moved_w], minlength=programs.height)
    arrived = np.bincount(dest[moved_w], minlength=programs.height)
    vacancies = (
        programs.with_columns(pl.Series("departed", departed), pl.Series("arrived", arrived))
        .filter(pl.col("in_round"))
        .select(
            "employer_id",
            "sector",
            "track",
            pl.col("capacity").alias("declared_vacancies"),
            "incumbents",
            pl.col("departed").cast(pl.Int64),
            pl.col("arrived").cast(pl.Int64),
            (pl.col("round_capacity") - pl.col("incumbents") + pl.col("departed") - pl.col("arrived"))
            .cast(pl.Int64)
            .alias("open"),
        )
        .sort("employer_id", "sector", "track")
    )
    timings["report"] = time.perf_counter() - start
    summary = _summary(instance, rnd, outcomes, moves, chains, vacancies, seed, int(proposals))
    if verify:
        from matcher.errors import VerificationError
        from matcher.transfer.verify import transfer_blocking_pairs, verify_transfer

        start = time.perf_counter()
        check = verify_transfer(instance, moves)
        if not check.ok:
            raise VerificationError(f"the transfer round produced an invalid outcome:\n{check}")
        blocking = transfer_blocking_pairs(instance, moves, seed=seed)
        timings["verify"] = time.perf_counter() - start
        summary["verified"] = True
        summary["blocking_pairs"] = blocking.height
    else:
        summary["verified"] = False
    summary["timings_s"] = {k: round(v, 3) for k, v in timings.items()}
    c = summary["counts"]
    message = (
        f"worker-optimal stable transfer round: {c['moved']} of {c['incumbents']} incumbents moved "
        f"({summary['chains']['chains']} chains, {summary['chains']['cycles']} cycles)"
    )
    summary["message"] = message
    log.info("%s", message)
    return TransferResult(
        status=Status.OPTIMAL,
        message=message,
        moves=moves,
        chains=chains,
        vacancies=vacancies,
        outcomes=outcomes,
        summary=summary,
    )


def _summary(
    instance: Instance,
    rnd: _Round,
    outcomes: pl.DataFrame,
    moves: pl.DataFrame,
    chains: pl.DataFrame,
    vacancies: pl.DataFrame,
    seed: int,
    proposals: int,
) -> dict[str, Any]:
    """Everything ``summary.json`` holds; deterministic except ``timings_s``."""
    tp = instance.policy.transfer
    by_outcome = dict(outcomes.group_by("outcome").agg(pl.len()).sort("outcome").iter_rows())
    ne = outcomes.filter(pl.col("outcome") == "not_eligible")
    ne_reasons = (
        ne.select(pl.col("reason").str.split(",").alias("r"))
        .explode("r")
        .group_by("r")
        .agg(pl.len())
        .sort("r")
    )
    stayed = outcomes.filter(pl.col("outcome") == "stayed").group_by("reason").agg(pl.len()).sort("reason")
    # Limits used: transferees received per employer against its limit.
    to = moves.join(
        instance.employers.select("employer_id", "prefecture"),
        left_on="from_employer",
        right_on="employer_id",
    ).rename({"prefecture": "from_pref"})
    got = to.group_by(pl.col("to_employer").alias("employer_id")).agg(
        pl.len().cast(pl.Int64).alias("received")
    )
    lim = rnd.emp_limits.join(got, on="employer_id", how="left").with_columns(pl.col("received").fill_null(0))
    cross = (
        to.join(
            instance.employers.select("employer_id", pl.col("prefecture").alias("to_pref")),
            left_on="to_employer",
            right_on="employer_id",
        )
        .filter(pl.col("from_pref") != pl.col("to_pref"))
        .group_by(pl.col("to_employer").alias("employer_id"))
        .agg(pl.len().cast(pl.Int64).alias("cross_received"))
    )
    lim = lim.join(cross, on="employer_id", how="left").with_columns(pl.col("cross_received").fill_null(0))
    t_lim = lim.filter(pl.col("transferee_limit") >= 0)
    x_lim = lim.filter(pl.col("other_prefecture_limit") >= 0)
    moved_by_sector = moves.group_by("sector").agg(pl.len()).sort("sector")
    return {
        "status": Status.OPTIMAL.value,
        "message": "",
        "method": "transfer",
        "seed": seed,
        "counts": {
            "incumbents": outcomes.height,
            "in_round": int(rnd.workers.get_column("in_round").sum()),
            "eligible": int(rnd.workers.get_column("eligible").sum()),
            "applied": int(rnd.edges.get_column("w").n_unique()) if rnd.edges.height else 0,
            "acceptable_moves": rnd.edges.height,
            "proposals": proposals,
            "moved": int(by_outcome.get("moved", 0)),
            "stayed": int(by_outcome.get("stayed", 0)),
            "not_eligible": int(by_outcome.get("not_eligible", 0)),
            "not_eligible_by_reason": {str(r): int(k) for r, k in ne_reasons.iter_rows()},
            "stayed_by_reason": {str(r): int(k) for r, k in stayed.iter_rows()},
            "moved_by_sector": {str(s): int(k) for s, k in moved_by_sector.iter_rows()},
            "open_vacancies_before": int(vacancies.get_column("declared_vacancies").sum()),
            "open_vacancies_after": int(vacancies.get_column("open").sum()),
        },
        "chains": _chain_stats(chains),
        "limits": {
            "transferee_share": tp.max_transferee_share,
            "other_prefecture_share": tp.max_other_prefecture_share,
            "other_prefecture_region": tp.other_prefecture_region,
            "employers_with_transferee_limit": t_lim.height,
            "transferee_limit_total": int(t_lim.get_column("transferee_limit").sum()),
            "transferees_received": int(lim.get_column("received").sum()),
            "employers_at_transferee_limit": int(
                (
                    (t_lim.get_column("received") >= t_lim.get_column("transferee_limit"))
                    & (t_lim.get_column("transferee_limit") > 0)
                ).sum()
            ),
            "employers_with_zero_transferee_limit": int((t_lim.get_column("transferee_limit") == 0).sum()),
            "employers_with_other_prefecture_limit": x_lim.height,
            "other_prefecture_limit_total": int(x_lim.get_column("other_prefecture_limit").sum()),
            "other_prefecture_received": int(x_lim.get_column("cross_received").sum()),
            "employers_at_other_prefecture_limit": int(
                (
                    (x_lim.get_column("cross_received") >= x_lim.get_column("other_prefecture_limit"))
                    & (x_lim.get_column("other_prefecture_limit") > 0)
                ).sum()
            ),
            "employers_with_zero_other_prefecture_limit": int(
                (x_lim.get_column("other_prefecture_limit") == 0).sum()
            ),
        },
        "matcher_version": __version__,
        "instance": {"source": instance.source, "content_hash": instance.content_hash},
        "policy": instance.policy.model_dump(mode="json"),
    }
