"""Rules that cross the cap tree, as sets of eligible pairs: floors, joint groups, nationality.

The min-cost flow holds only caps that nest (slot, intake, national, total). Floors,
joint applications and nationality rules cut across them; the CP-SAT backend keeps
them, and it gets them from here as index arrays over the edges of
:func:`matcher.eligibility.edges.build_edges`. Nothing here solves anything.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from matcher.data.model import Instance
from matcher.data.policy import Diversity
from matcher.eligibility.edges import Edges

I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class FloorUnit:
    """One floor to meet: at least ``required`` of the pairs ``edges`` placed.

    ``label`` names it (the floor, and the employer for a floor per employer);
    ``reachable`` is an upper bound on what any assignment can place there (distinct
    candidates with a counted pair, and declared capacity counted).
    """

    label: str
    edges: I64
    required: int
    penalty: int
    reachable: int


def _slot_frame(instance: Instance, edges: Edges) -> pl.DataFrame:
    return edges.slots.select("slot", "employer_id", "sector", "group", "capacity").join(
        instance.employers.select("employer_id", "prefecture"), on="employer_id", how="left"
    )


def floor_units(instance: Instance, edges: Edges) -> list[FloorUnit]:
    """Every floor of the policy, per region or per employer, as pair sets.

    One pass over the pairs per floor (not per employer): each pair gets the unit of its
    slot, and the pairs are grouped by unit with one sort.
    """
    policy = instance.policy
    if not policy.floors:
        return []
    slots = _slot_frame(instance, edges)
    slot_of_edge = edges.slot.astype(np.int64)
    units: list[FloorUnit] = []
    for k, fl in enumerate(policy.floors):
        chosen = slots.filter(policy.scope(policy.floor_prefectures(fl), fl.sectors, fl.groups))
        if fl.per == "region":
            labels = [policy.floor_name(k)]
            unit_of_chosen = np.zeros(chosen.height, dtype=np.int64)
        else:
            owners, unit_of_chosen = np.unique(
                chosen.get_column("employer_id").to_numpy(), return_inverse=True
            )
            labels = [f"{policy.floor_name(k)}/{emp}" for emp in owners]
        n = len(labels)
        unit_of_slot = np.full(edges.slots.height, -1, dtype=np.int64)
        unit_of_slot[chosen.get_column("slot").to_numpy()] = unit_of_chosen
        capacity = np.bincount(unit_of_chosen, weights=chosen.get_column("capacity").to_numpy(), minlength=n)
        unit = unit_of_slot[slot_of_edge]
        ids = np.flatnonzero(unit >= 0).astype(np.int64)
        ids = ids[np.argsort(unit[ids], kind="stable")]
        cut = np.searchsorted(unit[ids], np.arange(n + 1))
        # Distinct candidates per unit: distinct (unit, candidate) keys, counted by unit.
        key = np.unique(unit[ids] * (len(edges.candidate_ids) + 1) + edges.cand[ids])
        candidates = np.bincount(key // (len(edges.candidate_ids) + 1), minlength=n)
        share = Fraction(fl.min_share).limit_denominator(1000) if fl.min_share is not None else None
        for u, label in enumerate(labels):
            cap = int(capacity[u])
            required = fl.min if fl.min is not None else math.ceil((share or Fraction(0)) * cap)
            reachable = min(cap, int(candidates[u]))
            units.append(FloorUnit(label, ids[cut[u] : cut[u + 1]], int(required), fl.penalty, reachable))
    return units


#: Fairness levels are integers: the ratio times this scale (0.0001 resolution).
FAIR_SCALE = 10_000


@dataclass(frozen=True)
class FairGroups:
    """The groups a fairness objective compares: maximize ``min_g sum_e w_e x_e / d_g``.

    ``edges`` and ``weight`` per group, ``denominator`` per group, ``labels`` for reports.
    """

    kind: str
    labels: list[str]
    edges: list[I64]
    weight: list[I64]
    denominator: list[int]


def fair_groups(instance: Instance, edges: Edges, *, score_decimals: int) -> FairGroups | None:
    """The groups of the policy's fairness objective (None for ``welfare``); scores are
    integer weights in units of ``10**-score_decimals`` (the solve's scale)."""
    obj = instance.policy.objective
    if obj.kind == "welfare":
        return None
    labels: list[str] = []
    members: list[I64] = []
    weights: list[I64] = []
    denominators: list[int] = []
    if obj.kind == "max_min_fill":
        slots = _slot_frame(instance, edges)
        key = slots.get_column(obj.fill_over).fill_null("").to_numpy()
        capacity = slots.get_column("capacity").to_numpy()
        of_edge = key[edges.slot]
        for value in sorted(set(key.tolist())):
            ids = np.flatnonzero(of_edge == value).astype(np.int64)
            cap = int(capacity[key == value].sum())
            if cap > 0 and ids.size:
                labels.append(str(value))
                members.append(ids)
                weights.append(np.ones(ids.size, dtype=np.int64))
                denominators.append(cap)
    else:
        names = _nationalities(instance, edges)
        nat = np.unique(names, return_inverse=True)[1].astype(np.int64)
        score = np.rint(edges.score * 10**score_decimals).astype(np.int64)
        of_edge = nat[edges.cand]
        with_pairs = edges.candidates_with_pairs()
        for code in sorted(set(nat[with_pairs].tolist())):
            ids = np.flatnonzero(of_edge == code).astype(np.int64)
            labels.append(str(names[int(with_pairs[nat[with_pairs] == code][0])]))
            members.append(ids)
            weights.append(score[ids])
            denominators.append(int((nat[with_pairs] == code).sum()) * 10**score_decimals)
    return FairGroups(obj.kind, labels, members, weights, denominators)


def fairness_values(groups: FairGroups, chosen: I64) -> dict[str, float]:
    """Each group's ratio under the assignment ``chosen`` (edge ids)."""
    x = np.zeros(max((int(g.max()) for g in groups.edges if g.size), default=-1) + 1, dtype=np.int64)
    x[chosen[chosen < x.size]] = 1
    return {
        label: float((w * x[e]).sum()) / d
        for label, e, w, d in zip(groups.labels, groups.edges, groups.weight, groups.denominator, strict=True)
    }


def unreachable_floors(units: list[FloorUnit]) -> list[str]:
    """Hard floors no assignment can meet (more required than reachable), as messages."""
    return [
        f"{u.label}: needs {u.required} placements, at most {u.reachable} possible "
        "(eligible candidates and declared capacity counted)"
        for u in units
        if u.penalty == 0 and u.required > u.reachable
    ]


def _nationalities(instance: Instance, edges: Edges) -> npt.NDArray[np.str_]:
    """The nationality per candidate index of ``edges`` ("" when missing)."""
    return (
        pl.DataFrame({"candidate_id": edges.candidate_ids})
        .join(instance.candidates.select("candidate_id", "nationality"), on="candidate_id", how="left")
        .get_column("nationality")
        .fill_null("")
        .to_numpy()
    )


def nationality_codes(instance: Instance, edges: Edges) -> I64:
    """A nationality code per candidate index of ``edges`` (for the diversity rules)."""
    return np.unique(_nationalities(instance, edges), return_inverse=True)[1].astype(np.int64)


def joint_groups(instance: Instance, edges: Edges) -> I64:
    """A joint-group index per candidate index of ``edges`` (-1: applies alone)."""
    if instance.joint.height == 0:
        return np.full(len(edges.candidate_ids), -1, dtype=np.int64)
    groups = instance.joint.get_column("group_id").unique().sort()
    code = dict(zip(groups.to_list(), range(groups.len()), strict=True))
    of = dict(
        zip(instance.joint["candidate_id"].to_list(), instance.joint["group_id"].to_list(), strict=True)
    )
    return np.array([code[of[c]] if c in of else -1 for c in edges.candidate_ids.to_list()], dtype=np.int64)


def edge_prefectures(instance: Instance, edges: Edges) -> I64:
    """A prefecture code per edge (the employer's prefecture)."""
    pref = _slot_frame(instance, edges).get_column("prefecture").fill_null("").to_numpy()
    codes = np.unique(pref, return_inverse=True)[1].astype(np.int64)
    return codes[edges.slot]


def never_placeable_groups(instance: Instance, edges: Edges) -> list[str]:
    """Joint groups whose members have no eligible prefecture in common (ids, sorted)."""
    pairs = pl.DataFrame(
        {"candidate_id": edges.candidate_ids.gather(edges.cand), "pref": edge_prefectures(instance, edges)}
    ).unique()
    members = instance.joint.group_by("group_id").agg(pl.len().alias("members"))
    shared = (
        instance.joint.join(pairs, on="candidate_id", how="inner")
        .group_by("group_id", "pref")
        .agg(pl.len().alias("n"))
        .join(members, on="group_id")
        .filter(pl.col("n") == pl.col("members"))
        .get_column("group_id")
        .unique()
    )
    return sorted(set(members.get_column("group_id").to_list()) - set(shared.to_list()))


def crossing_inputs(
    instance: Instance, edges: Edges, floors: list[FloorUnit] | None = None, *, score_decimals: int
) -> dict[str, Any]:
    """Keyword arguments of :func:`matcher.solvers.cpsat.solve_cpsat` for these rules
    (``floors``: already built, else built here; ``score_decimals``: the scale the solve
    uses, :func:`matcher.eligibility.scale.score_scale`)."""
    return {
        "nationality": nationality_codes(instance, edges),
        "diversity": instance.policy.diversity,
        "joint_group": joint_groups(instance, edges),
        "edge_prefecture": edge_prefectures(instance, edges),
        "floors": floor_units(instance, edges) if floors is None else floors,
        "fairness": fair_groups(instance, edges, score_decimals=score_decimals),
    }


def drop_to_feasible(instance: Instance, edges: Edges, chosen: I64) -> I64:
    """Drop placements from ``chosen`` until the crossing rules hold (a solver hint).

    Only drops, so every cap still holds: regional caps (lowest scores first), the
    nationality share cap (lowest scores first) and peer support (lone workers), joint
    groups not placed whole in one prefecture. Hard floors may still be short.
    """
    keep = np.zeros(edges.n_pairs, dtype=bool)
    keep[chosen] = True
    score = edges.score
    ptr, pairs = edges.regional_pairs()
    for k, cap in enumerate(edges.caps.regional_cap):
        inside = pairs[ptr[k] : ptr[k + 1]]  # ascending
        inside = inside[keep[inside]]
        if inside.size > cap:
            keep[inside[np.lexsort((inside, score[inside]))[: inside.size - int(cap)]]] = False
    # Dropping for one rule can break another (a lone worker left behind, a group split):
    # repeat until nothing moves, each round drops at least one placement. If it has not
    # settled after many rounds, joint members lose their placements and then the
    # employers still in breach lose all theirs, which keeps every rule.
    group = joint_groups(instance, edges) if instance.joint.height else None
    div = instance.policy.diversity
    emp = edges.slots.get_column("emp").to_numpy().astype(np.int64)[edges.slot]
    nat = nationality_codes(instance, edges)[edges.cand] if div.active else None
    pref = edge_prefectures(instance, edges) if group is not None else None
    for _ in range(100):
        gone = np.concatenate(
            [
                _joint_breaches(edges, keep, group, pref)
                if group is not None and pref is not None
                else _NONE,
                _diversity_breaches(keep, score, emp, nat, div) if nat is not None else _NONE,
            ]
        )
        if gone.size == 0:
            return np.flatnonzero(keep).astype(np.int64)
        keep[gone] = False
    if group is not None:
        keep &= group[edges.cand] < 0
    if nat is not None:
        keep &= ~np.isin(emp, emp[_diversity_breaches(keep, score, emp, nat, div)])
    return np.flatnonzero(keep).astype(np.int64)


_NONE = np.zeros(0, dtype=np.int64)


def _joint_breaches(edges: Edges, keep: npt.NDArray[np.bool_], group: I64, pref: I64) -> I64:
    """Placed edges of joint groups not placed whole in one prefecture."""
    on = np.flatnonzero(keep)
    placed_pref = np.full(len(edges.candidate_ids), -1, dtype=np.int64)
    placed_pref[edges.cand[on]] = pref[on]
    members = np.flatnonzero(group >= 0)
    frame = pl.DataFrame({"g": group[members], "p": placed_pref[members]})
    ok = frame.group_by("g").agg(((pl.col("p") >= 0).all() & (pl.col("p").n_unique() == 1)).alias("ok"))
    bad = ok.filter(~pl.col("ok")).get_column("g").to_numpy()
    return on[np.isin(group[edges.cand[on]], bad)].astype(np.int64)


def _diversity_breaches(
    keep: npt.NDArray[np.bool_], score: npt.NDArray[np.float64], emp: I64, nat: I64, div: Diversity
) -> I64:
    """Placed edges above the nationality share (lowest scores first) or alone (peer support)."""
    on = np.flatnonzero(keep)
    frame = pl.DataFrame({"e": on, "emp": emp[on], "nat": nat[on], "s": score[on]}).with_columns(
        pl.len().over("emp", "nat").alias("n"),
        pl.len().over("emp").alias("t"),
        pl.col("s").rank("ordinal", descending=True).over("emp", "nat").alias("r"),
    )
    over = pl.lit(False)
    share = div.share_fraction()
    if share is not None:
        limit = pl.max_horizontal(
            (pl.col("t") * share.numerator) // share.denominator, pl.lit(div.exempt_up_to)
        )
        over = pl.col("r") > limit
    if div.peer_support:
        over = over | (pl.col("n") == 1)
    return frame.filter(over).get_column("e").to_numpy().astype(np.int64)
