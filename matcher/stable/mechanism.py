"""Stable matching: preference and priority arrays for the compiled DA, cap handling,
cutoffs.

Candidates' preferences: their ``preferences`` ranks (several eligible programs at one
listed employer are ordered by the candidate's aptitude, then slot order). A candidate
without a list finds every eligible program equally good; its ties are broken by a
seeded random order (one draw per pair).

Employers' priorities: the candidate's aptitude score in the program's sector, higher
first, or the employer's own ``employer_rankings`` rank when it gave one (ranked
candidates come before unranked ones, who follow by score); remaining ties by the seeded
lottery (:mod:`matcher.eligibility.lottery`). The key is common to an employer's programs.

Distributional caps (national sector caps, track-group totals):

- ``flexible`` (default): Kamada and Kojima's flexible deferred acceptance. Each national
  cap is a region; employers' intakes get target capacities (the naive shares below)
  and may exceed them, round-robin, while the region has room. It keeps the caps
  without the naive method's empty seats and instabilities.
- ``naive``: the method Japan's residency match used: before DA, each employer's intake
  (per sector and track group) is shrunk in proportion so that every cap holds (largest
  remainders, ties to the lower index); DA then runs on the shrunk capacities.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

import numpy as np
import numpy.typing as npt
import polars as pl
from numba import njit

from matcher.data.model import Instance
from matcher.eligibility.edges import Edges
from matcher.eligibility.lottery import lottery_numbers
from matcher.eligibility.priorities import priority_key, score_units
from matcher.eligibility.scale import score_scale
from matcher.stable.kernels import candidate_proposing, employer_proposing, flexible

I64 = npt.NDArray[np.int64]

PROPOSING: Final[tuple[str, ...]] = ("candidate", "employer")
CAP_MODES: Final[tuple[str, ...]] = ("flexible", "naive")


@dataclass(frozen=True)
class StableSolution:
    """Held edge indices, the cutoffs table and counters of one DA run."""

    chosen: I64
    cutoffs: pl.DataFrame
    lottery: I64
    stats: dict[str, int] = field(default_factory=dict)


@njit(cache=True)
def _segment_sort(ptr: I64, key: I64) -> tuple[I64, I64]:
    """Edge ids sorted by ``key`` within each segment (stable insertion sort: segments
    are short lists), and each edge's position in its segment."""
    n = key.shape[0]
    out = np.empty(n, dtype=np.int64)
    pos = np.empty(n, dtype=np.int64)
    for c in range(ptr.shape[0] - 1):
        lo, hi = ptr[c], ptr[c + 1]
        for i in range(lo, hi):
            e = i
            j = i
            while j > lo and key[out[j - 1]] > key[e]:
                out[j] = out[j - 1]
                j -= 1
            out[j] = e
        for i in range(lo, hi):
            pos[out[i]] = i - lo
    return out, pos


def _ptr(index: I64, n: int) -> I64:
    """CSR pointer of a sorted index array."""
    return np.concatenate([[0], np.cumsum(np.bincount(index, minlength=n))]).astype(np.int64)


def candidate_order(edges: Edges, seed: int, decimals: int = 2) -> tuple[I64, I64, I64]:
    """Candidates' lists in CSR: (pointer, edge ids best first, rank of each edge in its list)."""
    n_cand = len(edges.candidate_ids)
    # Listed: by rank, then higher aptitude (programs of one employer). Unlisted: a seeded
    # tie-break, drawn only for the unlisted candidates' pairs (in edge order).
    unit, s_max = score_units(decimals)
    score = np.rint(edges.score * unit).astype(np.int64)
    key = (edges.rank.astype(np.int64) << s_max.bit_length()) + (s_max - score)
    unlisted = np.flatnonzero(edges.rank == 0)
    if len(unlisted):
        key[unlisted] = np.random.default_rng(np.random.PCG64([seed, 1])).integers(
            0, 1 << 30, size=len(unlisted)
        )
    ptr = _ptr(edges.cand.astype(np.int64), n_cand)  # edges are sorted by candidate already
    order, crank = _segment_sort(ptr, key)
    return ptr, order, crank


def priority_keys(instance: Instance, edges: Edges, lottery: I64, decimals: int = 2) -> I64:
    """Employer priority of each edge (lower is better), common to an employer's programs:
    the rule of :mod:`matcher.eligibility.priorities` (employer rank, else higher score
    compared at ``decimals``, then the lottery)."""
    n = max(len(lottery), 1)
    cand = edges.cand.astype(np.int64)
    unit, _ = score_units(decimals)
    rankings = instance.employer_rankings
    frame = pl.DataFrame({"score": edges.score, "lottery": lottery[cand]})
    if rankings.height == 0:
        keyed = frame.with_columns(e_rank=pl.lit(None, pl.Int64)).select(priority_key(unit, n, 0))
        return keyed.to_series().to_numpy().astype(np.int64)
    emp = edges.slots.get_column("emp").to_numpy().astype(np.int64)[edges.slot]
    cand_pos = instance.candidates.select("candidate_id", pl.int_range(pl.len()).alias("cand"))
    emp_pos = instance.employers.select("employer_id", pl.int_range(pl.len()).alias("emp"))
    r = rankings.join(cand_pos, on="candidate_id").join(emp_pos, on="employer_id")
    r_max = int(r.get_column("rank").max() or 0)  # type: ignore[arg-type]
    pairs = pl.DataFrame({"emp": emp, "cand": cand, "i": np.arange(len(cand))})
    ranked = pairs.join(
        r.select(pl.col("emp").cast(pl.Int64), pl.col("cand").cast(pl.Int64), "rank"),
        on=["emp", "cand"],
        how="left",
    ).sort("i")
    keys = frame.with_columns(e_rank=ranked.get_column("rank")).select(priority_key(unit, n, r_max))
    return keys.to_series().to_numpy().astype(np.int64)


def _largest_remainder(values: I64, cap: int) -> I64:
    """Shrink ``values`` proportionally so they sum to at most ``cap`` (integers)."""
    total = int(values.sum())
    if total <= cap:
        return values.copy()
    exact = values.astype(np.float64) * cap / total
    out = np.floor(exact).astype(np.int64)
    short = cap - int(out.sum())
    if short > 0:
        frac = exact - out
        order = np.lexsort((np.arange(len(values)), -frac))
        out[order[:short]] += 1
    return out


def naive_group_caps(edges: Edges) -> I64:
    """Intake caps per group, shrunk so national, total and regional caps hold."""
    caps = edges.caps
    cap = edges.slots.get_column("capacity").to_numpy().astype(np.int64)
    n_group = len(caps.intake_cap)
    room = np.bincount(caps.slot_intake, weights=cap, minlength=n_group).astype(np.int64)
    gcap = np.where(caps.intake_cap < 0, room, np.minimum(caps.intake_cap, room))
    # National caps, then totals: each shrink only lowers, so earlier caps keep holding.
    for upper, cap_of, parent in (
        (len(caps.national_cap), caps.national_cap, caps.intake_national),
        (len(caps.total_cap), caps.total_cap, caps.national_total[caps.intake_national]),
    ):
        for node in range(upper):
            if cap_of[node] < 0:
                continue
            members = np.flatnonzero(parent == node)
            gcap[members] = _largest_remainder(gcap[members], int(cap_of[node]))
    # Regional caps (prefecture sets) cross the sector caps; shrinking keeps all of them.
    for members, cap_k in zip(caps.regional_members(), caps.regional_cap, strict=True):
        gcap[members] = _largest_remainder(gcap[members], int(cap_k))
    return gcap


def flexible_regions(edges: Edges) -> dict[str, I64]:
    """Caps and targets for flexible DA.

    Regions are the national nodes (sector, track group) inside the track-group totals.
    Their caps are the policy's (a missing cap is the room of the region's intakes).
    Targets split the caps over the employers' intakes in proportion to their room (the
    naive method's shares, national caps first, then totals), so targets respect every
    cap, as Kamada and Kojima require; intakes may exceed them in the round-robin phase.
    """
    caps = edges.caps
    cap = edges.slots.get_column("capacity").to_numpy().astype(np.int64)
    n_group = len(caps.intake_cap)
    room = np.bincount(caps.slot_intake, weights=cap, minlength=n_group).astype(np.int64)
    room = np.where(caps.intake_cap < 0, room, np.minimum(caps.intake_cap, room))
    big = int(room.sum()) + 1
    region_cap = np.where(caps.national_cap < 0, big, caps.national_cap).astype(np.int64)
    top_cap = np.where(caps.total_cap < 0, big, caps.total_cap).astype(np.int64)
    return {
        "room": room,
        "target": naive_group_caps(edges),
        "region_cap": region_cap,
        "region_top": caps.national_total.astype(np.int64),
        "top_cap": top_cap,
    }


def stable_match(
    instance: Instance,
    edges: Edges,
    *,
    seed: int = 0,
    proposing: str = "candidate",
    caps: str | None = None,
) -> StableSolution:
    """Run deferred acceptance on the eligible pairs; see the module docstring.

    ``caps`` defaults to ``flexible`` when candidates propose, ``naive`` otherwise.
    """
    if caps is None:
        caps = "flexible" if proposing == "candidate" else "naive"
    if proposing not in PROPOSING:
        raise ValueError(f"proposing must be one of {', '.join(PROPOSING)}, got {proposing!r}")
    if caps not in CAP_MODES:
        raise ValueError(f"caps must be one of {', '.join(CAP_MODES)}, got {caps!r}")
    n_cand = len(edges.candidate_ids)
    lottery = lottery_numbers(edges.candidate_ids, seed)
    cand = edges.cand.astype(np.int64)
    slot = edges.slot.astype(np.int64)
    slot_cap = edges.slots.get_column("capacity").to_numpy().astype(np.int64)
    slot_group = edges.caps.slot_intake.astype(np.int64)
    if caps == "naive":
        group_cap = naive_group_caps(edges)
    else:
        regions = flexible_regions(edges)
        group_cap = regions["room"]
    n_group = len(group_cap)
    group_order = np.argsort(slot_group, kind="stable").astype(np.int64)
    group_ptr = _ptr(slot_group, n_group)
    decimals = score_scale(instance).decimals
    pkey = priority_keys(instance, edges, lottery, decimals)
    cptr, clist, crank = candidate_order(edges, seed, decimals)
    capped = bool(
        (edges.caps.national_cap >= 0).any()
        or (edges.caps.total_cap >= 0).any()
        or len(edges.caps.regional_cap)
    )
    # Without distributional caps flexible DA is plain DA: run the fast kernel.
    caps_run = "none" if caps == "flexible" and not capped else caps
    if caps_run == "flexible":
        if proposing != "candidate":
            raise ValueError(
                "flexible caps need candidate-proposing DA (Kamada and Kojima); use caps='naive'"
            )
        region_of = edges.caps.intake_national.astype(np.int64)
        top_of = regions["region_top"][region_of]
        top_order = np.argsort(top_of, kind="stable").astype(np.int64)
        top_ptr = _ptr(top_of, len(regions["top_cap"]))
        held, steps = flexible(
            cptr,
            clist,
            cand,
            slot,
            pkey,
            slot_cap,
            slot_group,
            group_cap,
            regions["target"],
            region_of,
            regions["region_cap"],
            regions["region_top"],
            regions["top_cap"],
            top_ptr,
            top_order,
            edges.caps.intake_regional_ptr,
            edges.caps.intake_regional,
            edges.caps.regional_cap,
        )
    elif proposing == "candidate":
        held, steps = candidate_proposing(
            cptr, clist, cand, slot, pkey, slot_cap, slot_group, group_cap, group_ptr, group_order
        )
    else:
        n_slot = len(slot_cap)
        # By slot, then priority (a combined slot * span + key would overflow 64 bits
        # with 6-decimal scores at national scale).
        plist = np.lexsort((pkey, slot)).astype(np.int64)
        sptr = _ptr(slot, n_slot)
        held, steps = employer_proposing(
            sptr,
            plist,
            cand,
            slot,
            crank,
            pkey,
            n_cand,
            slot_cap,
            slot_group,
            group_cap,
            group_ptr,
            group_order,
        )
    chosen = np.sort(held[held >= 0])
    cutoffs = cutoff_table(edges, chosen, pkey, lottery, crank, group_cap, instance)
    return StableSolution(
        chosen=chosen,
        cutoffs=cutoffs,
        lottery=lottery,
        stats={
            (
                "rounds" if caps_run == "flexible" else "proposals" if proposing == "candidate" else "offers"
            ): int(steps),
            "groups": n_group,
        },
    )


def cutoff_table(
    edges: Edges, chosen: I64, pkey: I64, lottery: I64, crank: I64, group_cap: I64, instance: Instance
) -> pl.DataFrame:
    """For every program: admitted, filled, and the lowest admitted priority.

    The cutoff is the program's lowest admitted candidate when the program is full; when
    only the employer's intake for the sector is full, the lowest admitted across that
    intake; otherwise the program is open (no cutoff). A candidate clears a cutoff when
    its priority is at least as good; with candidate-proposing DA each candidate is
    placed at the best program in its list whose cutoff it clears.
    """
    slots = edges.slots
    n_slot = slots.height
    slot_cap = slots.get_column("capacity").to_numpy().astype(np.int64)
    slot_group = edges.caps.slot_intake.astype(np.int64)
    s = edges.slot[chosen].astype(np.int64)
    admitted = np.bincount(s, minlength=n_slot).astype(np.int64)
    g_admitted = np.bincount(slot_group[s], minlength=len(group_cap)).astype(np.int64)
    # Worst admitted edge per program and per group (highest key).
    worst_slot = np.full(n_slot, -1, dtype=np.int64)
    worst_group = np.full(len(group_cap), -1, dtype=np.int64)
    order = chosen[np.argsort(pkey[chosen], kind="stable")]
    worst_slot[edges.slot[order]] = order  # later (worse) writes win
    worst_group[slot_group[edges.slot[order]]] = order
    full = admitted >= slot_cap
    group_full = g_admitted[slot_group] >= group_cap[slot_group]
    cut = np.where(full & (admitted > 0), worst_slot, np.where(group_full, worst_group[slot_group], -1))
    filled = full | group_full
    has = cut >= 0
    cut_safe = np.where(has, cut, 0)
    score = np.where(has, edges.score[cut_safe] if len(edges.score) else 0.0, np.nan)
    lot = np.where(has, lottery[edges.cand[cut_safe]] if len(edges.cand) else 0, -1)
    # Did the lottery decide? Someone with the cutoff score wanted the program and missed.
    held_pos = np.full(len(edges.candidate_ids), np.iinfo(np.int64).max, dtype=np.int64)
    held_pos[edges.cand[chosen]] = crank[chosen]
    wanted = crank < held_pos[edges.cand]
    in_chosen = np.zeros(len(edges.cand), dtype=bool)
    in_chosen[chosen] = True
    missed = wanted & ~in_chosen
    e_slot = edges.slot.astype(np.int64)
    tie = np.zeros(n_slot, dtype=bool)
    if missed.any():
        m = np.flatnonzero(missed)
        same = has[e_slot[m]] & (edges.score[m] == score[e_slot[m]])  # the instance's own numbers
        tie[e_slot[m[same]]] = True
    return pl.DataFrame(
        {
            "employer_id": slots.get_column("employer_id"),
            "sector": slots.get_column("sector"),
            "track": slots.get_column("track"),
            "capacity": slot_cap,
            "intake_cap": group_cap[slot_group],
            "admitted": admitted,
            "filled": filled,
            "cutoff_score": pl.Series(score, dtype=pl.Float64).fill_nan(None),
            "cutoff_lottery": pl.Series(lot, dtype=pl.Int64).replace(-1, None),
            "tie_decided": tie,
        }
    ).sort("employer_id", "sector", "track")
