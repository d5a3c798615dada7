"""Eligibility: which candidate may take which slot, as sparse edge arrays.

A candidate-slot pair is eligible when the tracks are equal, the candidate has an aptitude
row for the slot's sector meeting the program's minimum score, meets the program's
language and skills-test rules and the employer's minimum Japanese level, and, when it
gave a preference list, listed the employer. Slots with zero capacity are not slots.

Everything is computed with polars joins, numpy and one numba kernel (the listed
pairs); there is no Python loop over candidates, employers or pairs. Candidates without
a list are eligible at every slot of their program, so pairs are *counted* before they are built and the build refuses (with
:class:`matcher.errors.TooManyPairsError`) what would not fit in memory.

The slot structure the caps need (slot -> employer intake -> national sector cap ->
track-group total) is built here too, as index arrays with -1 for "no cap".
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
from numba import njit

from matcher.data.model import Instance, rows_by_runs
from matcher.data.reference import JAPANESE_LEVELS, TRACKS, level_rank
from matcher.errors import TooManyPairsError

log = logging.getLogger("matcher")

#: Bytes one eligible pair costs end to end (edge arrays, join intermediates, the flow
#: solver's arcs), measured on the 1M-candidate benchmark; used for the default limit.
BYTES_PER_PAIR = 160

I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


def default_max_pairs() -> int:
    """Pairs that fit in half of this machine's physical memory."""
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        mem = 8 << 30
    return int(mem // 2 // BYTES_PER_PAIR)


@dataclass(frozen=True)
class CapStructure:
    """The laminar cap family above the slots, as index arrays (-1 = no cap)."""

    slot_intake: I32  # slot -> intake node
    intake_cap: I64  # per intake node (employer, sector, group); -1 = unlimited
    intake_national: I32  # intake node -> national node
    national_cap: I64  # per national node (sector, group); -1 = unlimited
    national_total: I32  # national node -> total node
    total_cap: I64  # per total node (track group); -1 = unlimited
    regional_cap: I64  # per crossing cap: the policy's regional caps, then employer caps
    intake_regional_ptr: I64  # CSR: intake node -> the crossing caps that count it
    intake_regional: I64
    intakes: pl.DataFrame  # employer_id, sector, group, cap (for reports)
    nationals: pl.DataFrame  # sector, group, cap
    totals: pl.DataFrame  # group, cap
    regional_labels: list[str] = field(default_factory=list)  # one per crossing cap
    employer_caps: int = 0  # how many of the crossing caps (the last ones) are employer caps

    def regional_members(self) -> list[I64]:
        """The intake nodes each crossing cap counts (one sort, not one scan per cap)."""
        counts = np.diff(self.intake_regional_ptr)
        member = np.repeat(np.arange(counts.size, dtype=np.int64), counts)
        order = np.argsort(self.intake_regional, kind="stable")
        cut = np.searchsorted(self.intake_regional[order], np.arange(self.regional_cap.size + 1))
        return [member[order[cut[k] : cut[k + 1]]] for k in range(self.regional_cap.size)]


@dataclass(frozen=True)
class Edges:
    """Eligible pairs as parallel arrays, sorted by (candidate, slot).

    ``rank`` is the candidate's preference rank of the slot's employer, 0 when the
    candidate gave no list. ``slots`` is the instance's slot table with an index.
    """

    cand: I32
    slot: I32
    score: F64
    rank: I32
    candidate_ids: pl.Series
    slots: pl.DataFrame
    caps: CapStructure
    stats: dict[str, int] = field(default_factory=dict)

    @property
    def n_pairs(self) -> int:
        return int(self.cand.shape[0])

    def candidates_with_pairs(self) -> I64:
        """Indices of the candidates with at least one pair, ascending (a bincount: at 16M
        pairs a hash-based ``np.unique`` took about 1 s)."""
        return np.flatnonzero(np.bincount(self.cand, minlength=self.candidate_ids.len())).astype(np.int64)

    def cap_path(self) -> tuple[I64, I64, I64, I64]:
        """The slot, intake, national and total node of every pair (the caps it counts in)."""
        slot = self.slot.astype(np.int64)
        intake = self.caps.slot_intake.astype(np.int64)[slot]
        national = self.caps.intake_national.astype(np.int64)[intake]
        return slot, intake, national, self.caps.national_total.astype(np.int64)[national]

    def nested_only(self) -> Edges:
        """These edges without the crossing caps (a relaxation the flow solvers take)."""
        caps = replace(
            self.caps,
            regional_cap=np.zeros(0, np.int64),
            intake_regional_ptr=np.zeros(len(self.caps.intake_cap) + 1, np.int64),
            intake_regional=np.zeros(0, np.int64),
            regional_labels=[],
            employer_caps=0,
        )
        return replace(self, caps=caps)

    def regional_pairs(self) -> tuple[I64, I64]:
        """CSR from each crossing cap to the pairs it counts: (pointers, pair ids)."""
        return self.pairs_of(self.caps.regional_members())

    def pairs_of(self, intake_sets: list[I64]) -> tuple[I64, I64]:
        """CSR from each set of intake nodes to the pairs under it: (pointers, pair ids,
        ascending within a set). One sort for all sets, so thousands of employer caps
        cost no more than a few."""
        intake = self.caps.slot_intake.astype(np.int64)[self.slot]
        order = np.argsort(intake, kind="stable")  # pair ids ascending within an intake
        start = np.searchsorted(intake[order], np.arange(len(self.caps.intake_cap) + 1))
        nodes = np.concatenate([*intake_sets, np.zeros(0, np.int64)]).astype(np.int64)
        owner = np.repeat(np.arange(len(intake_sets), dtype=np.int64), [s.size for s in intake_sets])
        sizes = start[nodes + 1] - start[nodes]
        pair = order[np.repeat(start[nodes], sizes) + _ranges(sizes)].astype(np.int64)
        owner = np.repeat(owner, sizes)
        pair = pair[np.lexsort((pair, owner))]
        ptr = np.concatenate([[0], np.cumsum(np.bincount(owner, minlength=len(intake_sets)))])
        return ptr.astype(np.int64), pair

    def without_candidates(self, cands: npt.ArrayLike) -> Edges:
        """These edges without the pairs of candidates ``cands`` (indices; ids kept).

        What a withdrawal looks like to a warm re-solve: same candidates and slots.
        """
        keep = ~np.isin(self.cand, np.asarray(cands))
        return replace(
            self, cand=self.cand[keep], slot=self.slot[keep], score=self.score[keep], rank=self.rank[keep]
        )


def qualified_aptitudes(instance: Instance) -> pl.DataFrame:
    """Aptitude rows (candidate, sector) that pass the program rules of the candidate's track.

    Columns: cand (index), sector, track, level, score, listed (has a preference list).
    """
    # Preferences are sorted by candidate_id (validation sorts them), so the run values
    # are the distinct listing candidates (0.07 s at 20M rows; unique took 0.5 s). Were
    # they not sorted, an id would only repeat.
    listed = instance.preferences.select(pl.col("candidate_id").rle().struct.field("value")).to_series()
    cand = instance.candidates.select(
        pl.col("track"),
        level_rank("japanese_level").alias("level"),
        pl.col("candidate_id").is_in(listed.implode()).alias("listed"),
    )
    apt = instance.aptitudes.select(
        _index_of("candidate_id", instance.candidates, instance.aptitudes).alias("cand"),
        "sector",
        "score",
        "skills_test",
    ).drop_nulls("cand")
    apt = apt.with_columns(cand[apt.get_column("cand")])
    rules = instance.policy.rules_frame(apt.select("sector", "track"))
    return (
        apt.join(rules, on=["sector", "track"], how="left")
        .filter(
            (pl.col("level") >= pl.col("min_level"))
            & (pl.col("skills_test") | ~pl.col("skills_required"))
            & (pl.col("score") >= pl.col("min_score"))
        )
        .select("cand", "sector", "track", "level", "score", "listed")
    )


def slot_table(instance: Instance) -> pl.DataFrame:
    """Slots with an index, the employer's index and minimum level, and the track group."""
    emp = instance.employers.select(
        "employer_id",
        pl.int_range(pl.len(), dtype=pl.Int32).alias("emp"),
        level_rank("min_japanese_level").alias("emp_min_level"),
    )
    groups = {t: instance.policy.group_of(t) for t in ("esdp", "ssw1", "ssw2")}
    return (
        instance.slots.select("employer_id", "sector", "track", "capacity")
        .with_row_index("slot")
        .with_columns(pl.col("slot").cast(pl.Int32))
        .join(emp, on="employer_id", how="left", maintain_order="left")
        .with_columns(pl.col("track").replace_strict(groups, return_dtype=pl.String).alias("group"))
    )


def count_pairs(instance: Instance) -> dict[str, int]:
    """Count eligible pairs without building them (cheap: group-bys only)."""
    q = qualified_aptitudes(instance)
    slots = slot_table(instance).filter(pl.col("capacity") > 0)
    unlisted = _unlisted_counts(q.filter(~pl.col("listed")), slots)
    listed = _listed_pairs(instance, q.filter(pl.col("listed")), slots, limit=None)
    return {
        "unlisted_pairs": int(unlisted.get_column("m").sum()),
        "listed_pairs": listed.height,
        "unlisted_candidates": int(unlisted.get_column("cand").n_unique()),
    }


def _unlisted_counts(q: pl.DataFrame, slots: pl.DataFrame) -> pl.DataFrame:
    """For each unlisted qualified row, m = number of slots it is eligible at.

    Slots of a program sorted by the employer's minimum level make every candidate's
    eligible slots a prefix of that list, of length m (the slots with min level <= its).
    """
    per_level = (
        slots.group_by("sector", "track", "emp_min_level")
        .agg(pl.len().alias("n"))
        .join(
            pl.DataFrame({"level": list(range(len(JAPANESE_LEVELS)))}, schema={"level": pl.Int8}), how="cross"
        )
        .filter(pl.col("emp_min_level") <= pl.col("level"))
        .group_by("sector", "track", "level")
        .agg(pl.col("n").sum().cast(pl.Int64).alias("m"))
    )
    return q.join(per_level, on=["sector", "track", "level"], how="inner").filter(pl.col("m") > 0)


def _listed_pairs(
    instance: Instance, q: pl.DataFrame, slots: pl.DataFrame, *, limit: int | None
) -> pl.DataFrame:
    """Pairs of listed candidates: slots of employers they listed, in a qualified program.

    Sorted by (cand, slot). The string ids become row indices (:func:`_index_of`); then
    :func:`_expand_listed` goes from each preference row to the slots of the listed
    employer *in the candidate's track* and keeps those in a sector where the candidate
    qualified. At 20M preference rows (1M candidates) the kernel takes 1.2 s, where
    the same three joins in polars took 5-7 s (``build_edges``: 5.1-6.7 s against
    6.9-7.0 s; its peak 1.0 GB above the loaded instance against 0.9 GB). A
    preference whose candidate or employer is unknown (not possible after validation)
    meets no slot.
    """
    track_code = {t: k for k, t in enumerate(TRACKS)}
    cand = instance.candidates.select(
        _code("track", track_code).cast(pl.Int64).alias("trk"),
        level_rank("japanese_level").cast(pl.Int32).alias("level"),
    )
    sector_code = _sector_codes(q, slots)
    prefs = instance.preferences.select(
        _index_of("candidate_id", instance.candidates, instance.preferences).alias("cand"),
        _index_of("employer_id", instance.employers, instance.preferences).alias("emp"),
        pl.col("rank").cast(pl.Int32),
    ).drop_nulls()
    p_cand = prefs.get_column("cand").to_numpy()
    n_keys = max(instance.employers.height, 1) * len(TRACKS)
    s_key = (
        slots.get_column("emp").to_numpy().astype(np.int64) * len(TRACKS)
        + slots.select(_code("track", track_code)).to_series().to_numpy()
    )
    s_order = np.argsort(s_key, kind="stable")
    s_first = np.searchsorted(s_key[s_order], np.arange(n_keys + 1)).astype(np.int64)
    q_cand = q.get_column("cand").to_numpy().astype(np.int64)
    q_order = np.argsort(q_cand, kind="stable")
    q_first = np.searchsorted(q_cand[q_order], np.arange(cand.height + 1)).astype(np.int64)
    col = prefs.get_column
    out_cand, out_slot, out_score, out_rank = _expand_listed(
        p_cand,
        col("emp").to_numpy().astype(np.int64) * len(TRACKS) + cand.get_column("trk").to_numpy()[p_cand],
        cand.get_column("level").to_numpy()[p_cand],
        col("rank").to_numpy().astype(np.int32, copy=False),
        s_first,
        slots.get_column("slot").to_numpy().astype(np.int32)[s_order],
        slots.get_column("emp_min_level").to_numpy().astype(np.int32)[s_order],
        slots.select(_code("sector", sector_code)).to_series().to_numpy().astype(np.int32)[s_order],
        q_first,
        q.select(_code("sector", sector_code)).to_series().to_numpy().astype(np.int32)[q_order],
        q.get_column("score").to_numpy().astype(np.float64)[q_order],
    )
    pairs = pl.DataFrame({"cand": out_cand, "slot": out_slot, "score": out_score, "rank": out_rank})
    if limit is not None:
        pairs = (
            pairs.sort("cand", "rank", "slot")
            .filter(pl.int_range(pl.len()).over("cand") < limit)
            .sort("cand", "slot")
        )
    return pairs


@njit(cache=True)
def _expand_listed(
    p_cand: I32, p_key: I64, p_level: I32, p_rank: I32,
    s_first: I64, s_slot: I32, s_min: I32, s_sec: I32,
    q_first: I64, q_sec: I32, q_score: F64,
) -> tuple[I32, I32, F64, I32]:  # fmt: skip
    """(cand, slot, score, rank) of every eligible listed pair, sorted by (cand, slot).

    Preference row r (candidate ``p_cand[r]`` listing the employer and track of key
    ``p_key[r]``) meets the slots ``s_first[key]:s_first[key + 1]`` of that key whose
    minimum level the candidate meets, and keeps those whose sector the candidate
    qualified in (rows ``q_first[cand]:q_first[cand + 1]``). Two passes: count per
    candidate, then fill; each candidate's run is then sorted by slot.
    """
    n_cand = q_first.shape[0] - 1
    keys = (p_cand, p_key, p_level, s_first, s_min, s_sec, q_first, q_sec)
    count = np.zeros(n_cand, dtype=np.int64)
    no_i32, no_f64 = np.empty(0, dtype=np.int32), np.empty(0, dtype=np.float64)
    _listed_rows(*keys, count, False, p_rank, s_slot, q_score, no_i32, no_i32, no_f64, no_i32)
    start = np.zeros(n_cand + 1, dtype=np.int64)
    start[1:] = np.cumsum(count)
    total = start[-1]
    cand = np.empty(total, dtype=np.int32)
    slot = np.empty(total, dtype=np.int32)
    score = np.empty(total, dtype=np.float64)
    rank = np.empty(total, dtype=np.int32)
    _listed_rows(*keys, start[:-1].copy(), True, p_rank, s_slot, q_score, cand, slot, score, rank)
    order = order_within_runs(cand, slot)  # slots are distinct within a candidate's run
    return cand, slot[order], score[order], rank[order]


@njit(cache=True)
def order_within_runs(run: I32, key: npt.NDArray[np.integer[Any]]) -> I32:
    """The stable permutation that sorts each run of equal consecutive ``run`` values by
    ``key`` and leaves the runs where they are (an insertion sort for the short runs most
    candidates have, a merge sort for long ones). The edge arrays are sorted by candidate;
    this orders each candidate's edges (by slot here, by preference rank in the core)."""
    n = run.shape[0]
    order = np.arange(n).astype(np.int32)
    start = 0
    while start < n:
        end = start + 1
        while end < n and run[end] == run[start]:
            end += 1
        if end - start > 64:
            sub = np.argsort(key[start:end], kind="mergesort")
            for k in range(end - start):
                order[start + k] = start + sub[k]
        else:
            for k in range(start + 1, end):
                e = order[k]
                j = k - 1
                while j >= start and key[order[j]] > key[e]:
                    order[j + 1] = order[j]
                    j -= 1
                order[j + 1] = e
        start = end
    return order


@njit(cache=True)
def _listed_rows(
    p_cand: I32, p_key: I64, p_level: I32, s_first: I64, s_min: I32, s_sec: I32, q_first: I64, q_sec: I32,
    pos: I64, fill: bool, p_rank: I32, s_slot: I32, q_score: F64,
    cand: I32, slot: I32, score: F64, rank: I32,
) -> None:  # fmt: skip
    """One pass of :func:`_expand_listed`: each match advances ``pos[cand]``, and with
    ``fill`` the row goes there (the counting pass passes empty output arrays)."""
    for r in range(p_cand.shape[0]):
        c = p_cand[r]
        for i in range(s_first[p_key[r]], s_first[p_key[r] + 1]):
            if p_level[r] >= s_min[i]:
                for j in range(q_first[c], q_first[c + 1]):
                    if q_sec[j] == s_sec[i]:
                        k = pos[c]
                        if fill:
                            cand[k] = c
                            slot[k] = s_slot[i]
                            score[k] = q_score[j]
                            rank[k] = p_rank[r]
                        pos[c] = k + 1


def _index_of(col: str, table: pl.DataFrame, frame: pl.DataFrame) -> pl.Series:
    """Row index (Int32) in ``table`` of each id in ``frame[col]``; null where it is not there.

    A validated table is sorted by its id (unique, never null): where ``frame`` is sorted
    by that id too (aptitudes and preferences by candidate), each run of equal ids is
    found once by binary search (:func:`matcher.data.model.rows_by_runs`). Otherwise (the
    preferences' employers) the ids make an enum whose codes are the row indices: faster
    than the enum everywhere, than binary search for every value (the 20M unsorted
    employer ids), and than joins on the string ids (timings in benchmarks/NOTES.md).
    """
    ids, values = table.get_column(col), frame.get_column(col)
    found = rows_by_runs(values, ids)
    if found is None:
        return values.cast(pl.Enum(ids), strict=False).to_physical().cast(pl.Int32)
    index, lengths = found
    out = pl.Series(col, np.repeat(index, lengths), dtype=pl.Int32)
    return out if index.min(initial=0) >= 0 else out.replace(-1, None)


def _sector_codes(q: pl.DataFrame, slots: pl.DataFrame) -> dict[str, int]:
    sectors = set(q.get_column("sector").unique().to_list()) | set(
        slots.get_column("sector").unique().to_list()
    )
    return {name: i for i, name in enumerate(sorted(sectors))}


def _code(col: str, codes: dict[str, int]) -> pl.Expr:
    """Integer code of a sector (or track): joins on small integers are several times faster."""
    return pl.col(col).replace_strict(codes, return_dtype=pl.Int32).alias("sec")


def _unlisted_pairs(q: pl.DataFrame, slots: pl.DataFrame, *, limit: int | None, seed: int) -> pl.DataFrame:
    """Explode unlisted rows into pairs with numpy; sample when a per-candidate limit binds.

    With a limit k, a candidate with s qualified sectors keeps ceil(k / s) slots per
    sector, drawn by seeded stratified sampling over a seeded permutation of the program's
    slots (each slot equally likely; no two draws alike).
    """
    counts = _unlisted_counts(q, slots).sort("cand", "sector")
    rng = np.random.default_rng(seed)
    # Program slot lists: sorted by the employer's minimum level (prefix property), in a
    # seeded random order within each level so sampling is not biased by employer id.
    prog = (
        slots.select("sector", "track", "emp_min_level", "slot")
        .with_columns(pl.Series("shuffle", rng.permutation(slots.height), dtype=pl.Int64))
        .sort("sector", "track", "emp_min_level", "shuffle")
    )
    offsets = (
        prog.with_row_index("pos")
        .group_by("sector", "track")
        .agg(pl.col("pos").min().cast(pl.Int64).alias("offset"))
    )
    counts = counts.join(offsets, on=["sector", "track"], how="left").sort("cand", "sector")
    m = counts.get_column("m").to_numpy().astype(np.int64)
    if limit is not None:
        per_cand = counts.group_by("cand").agg(pl.len().alias("ns"))
        ns = counts.join(per_cand, on="cand", how="left").get_column("ns").to_numpy().astype(np.int64)
        k = -(-limit // ns)
        n = np.minimum(m, k)
    else:
        n = m
    total = int(n.sum())
    row = np.repeat(np.arange(len(n), dtype=np.int64), n)
    starts = np.cumsum(n) - n
    j = np.arange(total, dtype=np.int64) - np.repeat(starts, n)
    if limit is not None:
        u = rng.random(len(n))
        sampled = m > n
        pos_sampled = np.floor((u[row] + j) * (m[row] / np.maximum(n[row], 1))).astype(np.int64)
        j = np.where(sampled[row], np.minimum(pos_sampled, m[row] - 1), j)
    prog_slot = prog.get_column("slot").to_numpy()
    offset = counts.get_column("offset").to_numpy().astype(np.int64)
    return pl.DataFrame(
        {
            "cand": counts.get_column("cand").to_numpy()[row],
            "slot": prog_slot[offset[row] + j],
            "score": counts.get_column("score").to_numpy()[row],
            "rank": np.zeros(total, dtype=np.int32),
        }
    )


def build_edges(instance: Instance, *, max_pairs: int | None = None, seed: int = 0) -> Edges:
    """Build the eligible pairs and cap structure of an instance.

    Parameters
    ----------
    instance : Instance
        A validated instance (its policy decides the rules and caps).
    max_pairs : int, optional
        Refuse to build more pairs than this (default: what fits in half the memory).
    seed : int
        Seeds the sampling used only when the policy sets ``max_pairs_per_candidate``.

    Raises
    ------
    TooManyPairsError
        Before building, when the pairs would exceed ``max_pairs``.
    """
    policy = instance.policy
    limit = policy.limits.max_pairs_per_candidate
    max_pairs = default_max_pairs() if max_pairs is None else max_pairs
    q = qualified_aptitudes(instance)
    slots = slot_table(instance)
    open_slots = slots.filter(pl.col("capacity") > 0)
    q_unlisted = q.filter(~pl.col("listed"))
    unlisted_counts = _unlisted_counts(q_unlisted, open_slots)
    n_unlisted = int(unlisted_counts.get_column("m").sum())
    if limit is not None:
        n_unlisted = int(
            unlisted_counts.group_by("cand")
            .agg(pl.col("m").sum().clip(upper_bound=limit))
            .get_column("m")
            .sum()
        )
    listed = _listed_pairs(instance, q.filter(pl.col("listed")), open_slots, limit=limit)
    n_total = n_unlisted + listed.height
    log.info(
        "eligible pairs: %s (%s from preference lists, %s from candidates without lists)",
        n_total,
        listed.height,
        n_unlisted,
    )
    if n_total > max_pairs:
        raise TooManyPairsError(n_total, max_pairs, int(unlisted_counts.get_column("cand").n_unique()))
    unlisted = _unlisted_pairs(q_unlisted, open_slots, limit=limit, seed=seed)
    pairs = pl.concat(
        [
            listed.select(
                pl.col("cand").cast(pl.Int32),
                pl.col("slot").cast(pl.Int32),
                pl.col("score").cast(pl.Float64),
                pl.col("rank").cast(pl.Int32),
            ),
            unlisted.select(
                pl.col("cand").cast(pl.Int32),
                pl.col("slot").cast(pl.Int32),
                pl.col("score").cast(pl.Float64),
                pl.col("rank").cast(pl.Int32),
            ),
        ]
    )
    if unlisted.height:  # the listed pairs come sorted by (cand, slot); these do not
        pairs = pairs.sort("cand", "slot")
    caps = cap_structure(instance, slots)
    return Edges(
        cand=pairs.get_column("cand").to_numpy().astype(np.int32, copy=False),
        slot=pairs.get_column("slot").to_numpy().astype(np.int32, copy=False),
        score=pairs.get_column("score").to_numpy().astype(np.float64, copy=False),
        rank=pairs.get_column("rank").to_numpy().astype(np.int32, copy=False),
        candidate_ids=instance.candidates.get_column("candidate_id"),
        slots=slots,
        caps=caps,
        stats={
            "pairs": pairs.height,
            "listed_pairs": listed.height,
            "unlisted_pairs": unlisted.height,
            "candidates_with_pairs": int(pairs.get_column("cand").n_unique()),
        },
    )


def cap_structure(instance: Instance, slots: pl.DataFrame) -> CapStructure:
    """Intake, national and total caps over the slots, laminar by construction."""
    policy = instance.policy
    emp = instance.employers
    staff = emp.get_column("full_time_staff").to_numpy().astype(np.int64)
    excellent = emp.get_column("excellent").to_numpy().astype(bool)
    prefecture = emp.get_column("prefecture").to_numpy()
    # Intake nodes: one per (employer, sector, group) that has a slot.
    intakes = slots.select("employer_id", "emp", "sector", "group").unique().sort("emp", "sector", "group")
    cap_parts = []
    for (sector, group), part in intakes.group_by(["sector", "group"], maintain_order=True):
        caps = policy.intake_caps(
            str(sector), str(group), full_time_staff=staff, excellent=excellent, prefecture=prefecture
        )
        emp_idx = part.get_column("emp").to_numpy()
        values = np.full(part.height, -1, dtype=np.int64) if caps is None else caps[emp_idx]
        cap_parts.append(part.with_columns(pl.Series("cap", values, dtype=pl.Int64)))
    intakes = (
        (pl.concat(cap_parts) if cap_parts else intakes.with_columns(pl.lit(0, pl.Int64).alias("cap")))
        .sort("emp", "sector", "group")
        .with_row_index("intake")
        .with_columns(pl.col("intake").cast(pl.Int32))
    )
    slot_intake = slots.join(
        intakes.select("emp", "sector", "group", "intake"),
        on=["emp", "sector", "group"],
        how="left",
        maintain_order="left",
    )
    intake_of_slot = slot_intake.get_column("intake").to_numpy().astype(np.int64)
    capacity = slots.get_column("capacity").to_numpy()
    intake_cap, employer_caps = _employer_caps(
        instance, intakes, np.bincount(intake_of_slot, weights=capacity, minlength=intakes.height).astype(np.int64),
        staff, excellent, prefecture,
    )  # fmt: skip
    intakes = intakes.with_columns(pl.Series("cap", intake_cap, dtype=pl.Int64))
    nationals = intakes.select("sector", "group").unique().sort("sector", "group").with_row_index("national")
    nationals = nationals.with_columns(
        pl.col("national").cast(pl.Int32),
        pl.Series(
            "cap",
            [
                _or_minus1(policy.national_cap(s, g))
                for s, g in nationals.select("sector", "group").iter_rows()
            ],
            dtype=pl.Int64,
        ),
    )
    totals = nationals.select("group").unique().sort("group").with_row_index("total")
    totals = totals.with_columns(
        pl.col("total").cast(pl.Int32),
        pl.Series(
            "cap", [_or_minus1(policy.total_caps.get(g)) for g in totals.get_column("group")], dtype=pl.Int64
        ),
    )
    intake_nat = intakes.join(
        nationals.select("sector", "group", "national"),
        on=["sector", "group"],
        how="left",
        maintain_order="left",
    )
    nat_tot = nationals.join(totals.select("group", "total"), on="group", how="left", maintain_order="left")
    reg_ptr, reg_idx = _regional_membership(instance, intakes, [ids for ids, _, _ in employer_caps])
    return CapStructure(
        regional_cap=np.array(
            [rc.cap for rc in policy.regional_caps] + [c for _, c, _ in employer_caps], dtype=np.int64
        ),
        regional_labels=[rc.name or f"regional_caps[{k}]" for k, rc in enumerate(policy.regional_caps)]
        + [label for _, _, label in employer_caps],
        employer_caps=len(employer_caps),
        intake_regional_ptr=reg_ptr,
        intake_regional=reg_idx,
        slot_intake=intake_of_slot.astype(np.int32),
        intake_cap=intakes.get_column("cap").to_numpy().astype(np.int64),
        intake_national=intake_nat.get_column("national").to_numpy().astype(np.int32),
        national_cap=nationals.get_column("cap").to_numpy().astype(np.int64),
        national_total=nat_tot.get_column("total").to_numpy().astype(np.int32),
        total_cap=totals.get_column("cap").to_numpy().astype(np.int64),
        intakes=intakes.select("employer_id", "sector", "group", "cap"),
        nationals=nationals.select("sector", "group", "cap"),
        totals=totals.select("group", "cap"),
    )


def _employer_caps(
    instance: Instance,
    intakes: pl.DataFrame,
    declared: I64,
    staff: I64,
    excellent: npt.NDArray[np.bool_],
    prefecture: npt.NDArray[np.object_],
) -> tuple[I64, list[tuple[I64, int, str]]]:
    """Intake caps with the per-employer rules folded in, and the employer caps that cross.

    A rule per employer caps the employer's total over the intake nodes in its scope
    (group, sectors). With one such node the cap simply lowers that node's intake cap;
    with several it is a crossing cap over them, kept only when it can bind (below the
    room of those nodes: their intake caps, or declared capacity where that is lower).
    ``declared``: the declared capacity under each intake node. Returns the new intake
    caps and (intake nodes, cap, label) per crossing cap, by rule and then employer.
    """
    policy = instance.policy
    cap = intakes.get_column("cap").to_numpy().astype(np.int64)
    rules = policy.employer_rules
    if not rules or intakes.height == 0:
        return cap, []
    emp = intakes.get_column("emp").to_numpy().astype(np.int64)
    sector = intakes.get_column("sector").to_numpy()
    group = intakes.get_column("group").to_numpy()
    employer_ids = instance.employers.get_column("employer_id").to_numpy()
    out: list[tuple[I64, int, str]] = []
    for rule in rules:
        limit = policy.employer_cap(rule, full_time_staff=staff, excellent=excellent, prefecture=prefecture)
        scoped = group == rule.group
        if rule.sectors:
            scoped &= np.isin(sector, rule.sectors)
        nodes = np.flatnonzero(scoped)
        per_emp = np.bincount(emp[nodes], minlength=staff.size)
        lone = nodes[per_emp[emp[nodes]] == 1]
        cap[lone] = np.where(cap[lone] < 0, limit[emp[lone]], np.minimum(cap[lone], limit[emp[lone]]))
        shared = nodes[per_emp[emp[nodes]] > 1]  # sorted by employer (intakes are)
        room = np.where(cap[shared] < 0, declared[shared], np.minimum(cap[shared], declared[shared]))
        owners, start = np.unique(emp[shared], return_index=True)
        total = np.add.reduceat(room, start) if shared.size else np.zeros(0, np.int64)
        bounds = np.append(start, shared.size)
        name = policy.employer_rule_name(rule)
        for k in np.flatnonzero(limit[owners] < total):
            e = int(owners[k])
            out.append((shared[bounds[k] : bounds[k + 1]], int(limit[e]), f"{name}/{employer_ids[e]}"))
    return cap, out


def _regional_membership(
    instance: Instance, intakes: pl.DataFrame, extra: list[I64] | None = None
) -> tuple[I64, I64]:
    """CSR from intake nodes to the crossing caps that count them: the policy's regional
    caps (policy order), then the ``extra`` caps (intake nodes of each)."""
    policy = instance.policy
    pref = intakes.join(instance.employers.select("employer_id", "prefecture"), on="employer_id", how="left")
    pairs_i: list[npt.NDArray[np.int64]] = []
    pairs_k: list[npt.NDArray[np.int64]] = []
    for k, rc in enumerate(policy.regional_caps):
        mask = policy.scope(policy.regional_prefectures(rc), rc.sectors, rc.groups)
        hit = np.flatnonzero(pref.select(mask).to_series().to_numpy())
        pairs_i.append(hit.astype(np.int64))
        pairs_k.append(np.full(len(hit), k, dtype=np.int64))
    base = len(policy.regional_caps)
    for j, ids in enumerate(extra or []):
        pairs_i.append(ids.astype(np.int64))
        pairs_k.append(np.full(ids.size, base + j, dtype=np.int64))
    n = intakes.height
    if not pairs_i:
        return np.zeros(n + 1, dtype=np.int64), np.zeros(0, dtype=np.int64)
    intake = np.concatenate(pairs_i)
    cap_of = np.concatenate(pairs_k)
    order = np.lexsort((cap_of, intake))
    ptr = np.concatenate([[0], np.cumsum(np.bincount(intake, minlength=n))]).astype(np.int64)
    return ptr, cap_of[order]


def _ranges(sizes: I64) -> I64:
    """``0..size-1`` for every size, concatenated."""
    ends = np.cumsum(sizes)
    return np.arange(int(ends[-1]) if sizes.size else 0, dtype=np.int64) - np.repeat(ends - sizes, sizes)


def _or_minus1(v: int | None) -> int:
    return -1 if v is None else int(v)
