"""Independent reference solvers for tests: eligibility by plain Python loops over the
raw tables, then brute force (tiny) or CP-SAT solved lexicographically (small)."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
from ortools.sat.python import cp_model

from matcher.data.model import Instance
from matcher.data.reference import JAPANESE_LEVELS


@dataclass(frozen=True)
class Pair:
    cand: str
    slot: tuple[str, str, str]  # employer, sector, track
    score: int  # hundredths
    rank: int


def eligible_pairs(inst: Instance) -> list[Pair]:
    """All eligible (candidate, slot) pairs, by the rules as written in docs/user-guide.md (Eligibility)."""
    pol = inst.policy
    lv = {x: i for i, x in enumerate(JAPANESE_LEVELS)}
    apt = {(r["candidate_id"], r["sector"]): r for r in inst.aptitudes.iter_rows(named=True)}
    emp = {r["employer_id"]: r for r in inst.employers.iter_rows(named=True)}
    prefs: dict[str, dict[str, int]] = {}
    for r in inst.preferences.iter_rows(named=True):
        prefs.setdefault(r["candidate_id"], {})[r["employer_id"]] = r["rank"]
    out = []
    for c in inst.candidates.iter_rows(named=True):
        for s in inst.slots.iter_rows(named=True):
            if s["capacity"] <= 0 or s["track"] != c["track"]:
                continue
            a = apt.get((c["candidate_id"], s["sector"]))
            if a is None:
                continue
            rule = pol.rule(s["sector"], s["track"])
            level = lv[c["japanese_level"]]
            if rule.min_japanese_level and level < lv[rule.min_japanese_level]:
                continue
            if rule.skills_test_required and not a["skills_test"]:
                continue
            if rule.min_score is not None and a["score"] < rule.min_score:
                continue
            e = emp[s["employer_id"]]
            if e["min_japanese_level"] and level < lv[e["min_japanese_level"]]:
                continue
            listed = prefs.get(c["candidate_id"])
            if listed is not None and s["employer_id"] not in listed:
                continue
            rank = listed[s["employer_id"]] if listed is not None else 0
            out.append(
                Pair(
                    c["candidate_id"],
                    (s["employer_id"], s["sector"], s["track"]),
                    round(a["score"] * 100),
                    rank,
                )
            )
    return out


def cap_groups(inst: Instance, pairs: list[Pair]) -> list[tuple[list[int], int]]:
    """(pair indices, cap) for every capacity and cap constraint."""
    pol = inst.policy
    emp = inst.employers
    groups: list[tuple[list[int], int]] = []
    slots = {
        (r["employer_id"], r["sector"], r["track"]): r["capacity"] for r in inst.slots.iter_rows(named=True)
    }
    by_slot: dict[tuple[str, str, str], list[int]] = {}
    by_intake: dict[tuple[str, str, str], list[int]] = {}
    by_nat: dict[tuple[str, str], list[int]] = {}
    by_tot: dict[str, list[int]] = {}
    for i, p in enumerate(pairs):
        e, s, t = p.slot
        g = pol.group_of(t)
        by_slot.setdefault(p.slot, []).append(i)
        by_intake.setdefault((e, s, g), []).append(i)
        by_nat.setdefault((s, g), []).append(i)
        by_tot.setdefault(g, []).append(i)
    for k, idx in by_slot.items():
        groups.append((idx, slots[k]))
    pos = {eid: i for i, eid in enumerate(emp.get_column("employer_id").to_list())}
    staff = emp.get_column("full_time_staff").to_numpy().astype(np.int64)
    exc = emp.get_column("excellent").to_numpy().astype(bool)
    pref = emp.get_column("prefecture").to_numpy()
    for (e, s, g), idx in by_intake.items():
        caps = pol.intake_caps(s, g, full_time_staff=staff, excellent=exc, prefecture=pref)
        if caps is not None:
            groups.append((idx, int(caps[pos[e]])))
    for (s, g), idx in by_nat.items():
        cap = pol.national_cap(s, g)
        if cap is not None:
            groups.append((idx, cap))
    for g, idx in by_tot.items():
        cap = pol.total_caps.get(g)
        if cap is not None:
            groups.append((idx, cap))
    # Employer caps across sectors: pairs at the employer in the rule's group (and sectors).
    for rule in pol.employer_rules:
        limit = pol.employer_cap(rule, full_time_staff=staff, excellent=exc, prefecture=pref)
        for e, i in pos.items():
            idx = [
                k
                for k, p in enumerate(pairs)
                if p.slot[0] == e
                and pol.group_of(p.slot[2]) == rule.group
                and (not rule.sectors or p.slot[1] in rule.sectors)
            ]
            groups.append((idx, int(limit[i])))
    # Regional caps: pairs at employers in the cap's prefectures (and sectors/groups).
    pref_of = dict(
        zip(emp.get_column("employer_id").to_list(), emp.get_column("prefecture").to_list(), strict=True)
    )
    for rc in pol.regional_caps:
        prefs = set(pol.regions[rc.region]) if rc.region is not None else set(rc.prefectures)
        idx = [
            i
            for i, p in enumerate(pairs)
            if pref_of[p.slot[0]] in prefs
            and (not rc.sectors or p.slot[1] in rc.sectors)
            and (not rc.groups or pol.group_of(p.slot[2]) in rc.groups)
        ]
        groups.append((idx, rc.cap))
    return groups


def diversity_ok(inst: Instance, chosen: list[Pair]) -> bool:
    """The policy's nationality rules per employer, counted directly."""
    div = inst.policy.diversity
    if not div.active:
        return True
    nat = dict(
        zip(inst.candidates["candidate_id"].to_list(), inst.candidates["nationality"].to_list(), strict=True)
    )
    per: dict[str, dict[str, int]] = {}
    for p in chosen:
        counts = per.setdefault(p.slot[0], {})
        counts[nat[p.cand]] = counts.get(nat[p.cand], 0) + 1
    for counts in per.values():
        total = sum(counts.values())
        for n in counts.values():
            if div.peer_support and n == 1:
                return False
            if div.max_share is not None and n > max(div.exempt_up_to, int(div.max_share * total + 1e-9)):
                return False
    return True


def joint_ok(inst: Instance, chosen: list[Pair]) -> bool:
    """Every joint group placed whole in one prefecture, or not at all."""
    if inst.joint.height == 0:
        return True
    pref = dict(
        zip(inst.employers["employer_id"].to_list(), inst.employers["prefecture"].to_list(), strict=True)
    )
    where = {p.cand: pref[p.slot[0]] for p in chosen}
    groups: dict[str, list[str]] = {}
    for g, c in inst.joint.select("group_id", "candidate_id").iter_rows():
        groups.setdefault(g, []).append(c)
    for members in groups.values():
        placed = [where[c] for c in members if c in where]
        if placed and (len(placed) < len(members) or len(set(placed)) > 1):
            return False
    return True


def floor_units(inst: Instance, pairs: list[Pair]) -> list[tuple[list[int], int, int]]:
    """(pair indices, required, penalty) for every floor unit of the policy, counted directly."""
    pol = inst.policy
    pref = dict(
        zip(inst.employers["employer_id"].to_list(), inst.employers["prefecture"].to_list(), strict=True)
    )
    units: list[tuple[list[int], int, int]] = []
    for fl in pol.floors:
        if fl.region is not None:
            prefs = set(pol.regions[fl.region])
        elif fl.outside_region is not None:
            prefs = {p for p in set(pref.values()) if p not in set(pol.regions[fl.outside_region])}
        else:
            prefs = set(fl.prefectures)

        def counts(e: str, s: str, t: str, prefs: set[str] = prefs, fl: Any = fl) -> bool:
            return (
                pref[e] in prefs
                and (not fl.sectors or s in fl.sectors)
                and (not fl.groups or pol.group_of(t) in fl.groups)
            )

        slots = [
            (r["employer_id"], r["sector"], r["track"], r["capacity"])
            for r in inst.slots.iter_rows(named=True)
        ]
        owners = sorted({e for e, s, t, _ in slots if counts(e, s, t)}) if fl.per == "employer" else [None]
        for owner in owners:
            mine = [(e, s, t, c) for e, s, t, c in slots if counts(e, s, t) and owner in (None, e)]
            capacity = sum(c for *_, c in mine)
            keys = {(e, s, t) for e, s, t, _ in mine}
            idx = [i for i, p in enumerate(pairs) if p.slot in keys]
            share = Fraction(fl.min_share).limit_denominator(1000) if fl.min_share is not None else None
            required = fl.min if fl.min is not None else math.ceil((share or 0) * capacity)
            units.append((idx, int(required), fl.penalty))
    return units


def placed_pairs(pairs: list[Pair], assignments: Any) -> set[int]:
    """Indices into ``pairs`` of an assignments table's rows."""
    index = {(p.cand, p.slot): i for i, p in enumerate(pairs)}
    return {
        index[(r["candidate_id"], (r["employer_id"], r["sector"], r["track"]))]
        for r in assignments.iter_rows(named=True)
    }


def floor_penalty(units: list[tuple[list[int], int, int]], chosen: set[int]) -> int | None:
    """Total penalty of soft floors, or None if a hard floor is not met."""
    total = 0
    for idx, required, penalty in units:
        short = max(0, required - len(chosen.intersection(idx)))
        if short and penalty == 0:
            return None
        total += penalty * short
    return total


FAIR_SCALE = 10_000


def floor_key(inst: Instance, res: Any) -> tuple[int, int, int]:
    """A solve result's (placed - soft-floor penalty, score in hundredths, -rank sum).

    The objective an exact solver with floors maximizes, comparable with the oracles'.
    """
    pairs = eligible_pairs(inst)
    pen = floor_penalty(floor_units(inst, pairs), placed_pairs(pairs, res.assignments))
    assert pen is not None, "the result breaks a hard floor"
    o = res.objective
    return o.matched - pen, round(o.total_score * 100), -o.rank_sum


def fair_level(inst: Instance, pairs: list[Pair], chosen: set[int]) -> int:
    """floor(FAIR_SCALE * lowest group ratio) of the policy's fairness objective, counted directly."""
    obj = inst.policy.objective
    ratios: list[Fraction] = []
    if obj.kind == "max_min_fill":
        pref = dict(
            zip(inst.employers["employer_id"].to_list(), inst.employers["prefecture"].to_list(), strict=True)
        )

        def key(e: str, s: str) -> str:
            return pref[e] if obj.fill_over == "prefecture" else s

        cap: dict[str, int] = {}
        for r in inst.slots.iter_rows(named=True):
            k = key(r["employer_id"], r["sector"])
            cap[k] = cap.get(k, 0) + r["capacity"]
        with_pairs = {key(p.slot[0], p.slot[1]) for p in pairs}
        for k, c in cap.items():
            if c > 0 and k in with_pairs:
                got = sum(1 for i in chosen if key(pairs[i].slot[0], pairs[i].slot[1]) == k)
                ratios.append(Fraction(got, c))
    else:
        nat = dict(
            zip(
                inst.candidates["candidate_id"].to_list(),
                inst.candidates["nationality"].to_list(),
                strict=True,
            )
        )
        members: dict[str, set[str]] = {}
        for p in pairs:
            members.setdefault(nat[p.cand], set()).add(p.cand)
        for n, cands in members.items():
            total = sum(pairs[i].score for i in chosen if nat[pairs[i].cand] == n)
            ratios.append(Fraction(total, len(cands) * 100))
    return math.floor(min(ratios) * FAIR_SCALE) if ratios else 0


def brute_force_fair(inst: Instance) -> tuple[int, int, int, int]:
    """Lexicographic optimum (fairness level, matched, score, -rank sum) by enumeration."""
    pairs = eligible_pairs(inst)
    groups = cap_groups(inst, pairs)
    by_cand: dict[str, list[int]] = {}
    for i, p in enumerate(pairs):
        by_cand.setdefault(p.cand, []).append(i)
    best = (-1, 0, 0, 0)
    for choice in itertools.product(*[[None, *idx] for idx in by_cand.values()]):
        chosen = [i for i in choice if i is not None]
        cs = set(chosen)
        if any(len(cs.intersection(idx)) > cap for idx, cap in groups):
            continue
        key = (
            fair_level(inst, pairs, cs),
            len(chosen),
            sum(pairs[i].score for i in chosen),
            -sum(pairs[i].rank for i in chosen),
        )
        best = max(best, key)
    return best


def brute_force_score(inst: Instance, worth: int = 0) -> int | None:
    """Largest total score (hundredths) of any assignment that keeps every cap and hard
    floor, less ``worth`` hundredths per placement missing under a soft floor per unit of
    its penalty; None when no assignment meets the hard floors."""
    pairs = eligible_pairs(inst)
    groups = cap_groups(inst, pairs)
    floors = floor_units(inst, pairs)
    by_cand: dict[str, list[int]] = {}
    for i, p in enumerate(pairs):
        by_cand.setdefault(p.cand, []).append(i)
    best: int | None = None
    for choice in itertools.product(*[[None, *idx] for idx in by_cand.values()]):
        cs = {i for i in choice if i is not None}
        if any(len(cs.intersection(idx)) > cap for idx, cap in groups):
            continue
        pen = floor_penalty(floors, cs)
        if pen is not None:
            value = sum(pairs[i].score for i in cs) - worth * pen
            best = value if best is None else max(best, value)
    return best


def brute_force(inst: Instance) -> tuple[int, int, int] | None:
    """Lexicographic optimum (matched minus floor penalties, score in hundredths, -rank sum)
    by enumeration; None when no assignment meets the hard floors."""
    pairs = eligible_pairs(inst)
    groups = cap_groups(inst, pairs)
    floors = floor_units(inst, pairs)
    by_cand: dict[str, list[int]] = {}
    for i, p in enumerate(pairs):
        by_cand.setdefault(p.cand, []).append(i)
    options = [[None, *idx] for idx in by_cand.values()]
    best: tuple[int, int, int] | None = None
    for choice in itertools.product(*options):
        chosen = [i for i in choice if i is not None]
        cs = set(chosen)
        if any(len(cs.intersection(idx)) > cap for idx, cap in groups):
            continue
        if not diversity_ok(inst, [pairs[i] for i in chosen]) or not joint_ok(
            inst, [pairs[i] for i in chosen]
        ):
            continue
        pen = floor_penalty(floors, cs)
        if pen is None:
            continue
        key = (len(chosen) - pen, sum(pairs[i].score for i in chosen), -sum(pairs[i].rank for i in chosen))
        best = key if best is None else max(best, key)
    return best


def cp_sat(inst: Instance) -> tuple[int, int, int]:
    """Lexicographic optimum by three CP-SAT solves, each fixing the previous level."""
    pairs = eligible_pairs(inst)
    if not pairs:
        return 0, 0, 0
    groups = cap_groups(inst, pairs)
    model = cp_model.CpModel()
    x = {i: model.new_bool_var(f"x{i}") for i in range(len(pairs))}
    by_cand: dict[str, list[int]] = {}
    for i, p in enumerate(pairs):
        by_cand.setdefault(p.cand, []).append(i)
    # Each candidate at most once.
    for idx in by_cand.values():
        model.add_at_most_one(x[i] for i in idx)
    # Capacities and caps.
    for idx, cap in groups:
        model.add(sum(x[i] for i in idx) <= cap)
    levels = [
        sum(x.values()),
        sum(pairs[i].score * x[i] for i in x),
        -sum(pairs[i].rank * x[i] for i in x),
    ]
    values = []
    for expr in levels:
        model.maximize(expr)
        solver = cp_model.CpSolver()
        solver.parameters.num_workers = 1
        status = solver.solve(model)
        assert status == cp_model.OPTIMAL
        v = round(solver.objective_value)
        values.append(v)
        model.add(expr == v)
    return values[0], values[1], values[2]


def mip(inst: Instance, time_limit_s: float = 120.0) -> tuple[int, int, int] | None:
    """Lexicographic optimum (placed minus floor penalties, score, -rank) by a MIP (SCIP
    through OR-Tools' linear solver), built from the plain-loop pairs: every cap, regional
    caps, floors (hard and soft), nationality share cap and peer support, joint groups.
    None when the hard floors make it infeasible."""
    from ortools.linear_solver import pywraplp

    pairs = eligible_pairs(inst)
    pol = inst.policy
    solver = pywraplp.Solver.CreateSolver("SCIP")
    assert solver is not None
    solver.SetTimeLimit(int(time_limit_s * 1000))
    x = [solver.BoolVar(f"x{i}") for i in range(len(pairs))]
    by_cand: dict[str, list[int]] = {}
    for i, p in enumerate(pairs):
        by_cand.setdefault(p.cand, []).append(i)
    for idx in by_cand.values():
        solver.Add(sum(x[i] for i in idx) <= 1)
    for idx, cap in cap_groups(inst, pairs):
        solver.Add(sum(x[i] for i in idx) <= cap)
    shortfall = []
    for idx, required, penalty in floor_units(inst, pairs):
        if penalty == 0:
            solver.Add(sum(x[i] for i in idx) >= required)
        else:
            s = solver.IntVar(0, required, "")
            solver.Add(sum(x[i] for i in idx) + s >= required)
            shortfall.append((s, penalty))
    nat = dict(
        zip(inst.candidates["candidate_id"].to_list(), inst.candidates["nationality"].to_list(), strict=True)
    )
    div = pol.diversity
    if div.active:
        per_emp: dict[str, list[int]] = {}
        for i, p in enumerate(pairs):
            per_emp.setdefault(p.slot[0], []).append(i)
        for idx in per_emp.values():
            big = len(idx)
            total = sum(x[i] for i in idx)
            for n in {nat[pairs[i].cand] for i in idx}:
                mine = [i for i in idx if nat[pairs[i].cand] == n]
                count = sum(x[i] for i in mine)
                if div.max_share is not None:
                    share = Fraction(div.max_share).limit_denominator(1000)
                    b = solver.BoolVar("")  # b = 1: within the share; b = 0: at most exempt_up_to
                    solver.Add(
                        share.denominator * count
                        <= share.numerator * total + share.denominator * big * (1 - b)
                    )
                    solver.Add(count <= div.exempt_up_to + big * b)
                if div.peer_support:
                    z = solver.BoolVar("")
                    solver.Add(count >= 2 * z)
                    solver.Add(count <= big * z)
    if inst.joint.height:
        pref = dict(
            zip(inst.employers["employer_id"].to_list(), inst.employers["prefecture"].to_list(), strict=True)
        )
        groups: dict[str, list[str]] = {}
        for g, c in inst.joint.select("group_id", "candidate_id").iter_rows():
            groups.setdefault(g, []).append(c)
        for members in groups.values():
            prefs = {pref[pairs[i].slot[0]] for c in members for i in by_cand.get(c, [])}
            for pr in prefs:
                ys = [sum(x[i] for i in by_cand.get(c, []) if pref[pairs[i].slot[0]] == pr) for c in members]
                for y in ys[1:]:
                    solver.Add(y == ys[0])
    levels = [
        sum(x) - sum(p * s for s, p in shortfall),
        sum(pairs[i].score * x[i] for i in range(len(pairs))),
        -sum(pairs[i].rank * x[i] for i in range(len(pairs))),
    ]
    values = []
    for expr in levels:
        solver.Maximize(expr)
        status = solver.Solve()
        if status == pywraplp.Solver.INFEASIBLE:
            return None
        assert status == pywraplp.Solver.OPTIMAL, status
        v = round(solver.Objective().Value())
        values.append(v)
        solver.Add(expr >= v)
    return values[0], values[1], values[2]
