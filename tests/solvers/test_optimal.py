"""The flow optimum equals independent solvers' (brute force, CP-SAT) on random instances."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings

import matcher
from matcher import Instance
from tests.helpers import objective_key as _key
from tests.oracle import brute_force, cp_sat
from tests.strategies import examples, instances

FAST = settings(max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(instances(max_candidates=4, max_employers=2))
def test_matches_brute_force(inst: Instance) -> None:
    res = matcher.solve(inst)
    assert res.status is matcher.Status.OPTIMAL
    assert _key(res) == brute_force(inst)


@FAST
@given(instances(max_candidates=10, max_employers=4, fractional=True))
def test_matches_cp_sat(inst: Instance) -> None:
    res = matcher.solve(inst)
    assert res.status is matcher.Status.OPTIMAL
    assert _key(res) == cp_sat(inst)
    # Every solve is already verified inside solve(); recheck explicitly anyway.
    assert matcher.verify_assignment(inst, res.assignments, objective=res.objective.as_dict()).ok


def test_tiny_optimum_neutral() -> None:
    res = matcher.solve(matcher.load_instance("instances/tiny"))
    assert (res.objective.matched, res.objective.total_score, res.objective.rank_sum) == (4, 330.0, 2)
    assert res.assignments.select("candidate_id", "employer_id").rows() == [
        ("C1", "E2"),
        ("C2", "E1"),
        ("C3", "E3"),
        ("C4", "E2"),
    ]
    assert res.unmatched.rows() == [("C5", "no_eligible_slot")]


def test_tiny_optimum_japan_policy() -> None:
    inst = matcher.load_instance("instances/tiny", policy="instances/policies/japan-2026.toml")
    res = matcher.solve(inst)
    # C4 has no Japanese (ESDP needs A1). C1 would score more at E1 (90), but then C2
    # has nowhere to go: placing three (C2 at E1, C1 at E2, C3 at E3) beats two.
    assert (res.objective.matched, res.objective.total_score, res.objective.rank_sum) == (3, 235.0, 2)
    assert sorted(res.unmatched.rows()) == [("C4", "no_eligible_slot"), ("C5", "no_eligible_slot")]


@settings(max_examples=examples(40), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(max_candidates=10, max_employers=4, fractional=True))
def test_core_backend_equals_ortools_end_to_end(inst: Instance) -> None:
    a = matcher.solve(inst, backend="ortools")
    b = matcher.solve(inst, backend="core")  # its certificate is checked inside solve
    assert _key(a) == _key(b)
    assert b.summary["certificate"] == "valid" or b.objective.matched == 0


def test_unknown_backend_is_refused() -> None:
    import pytest

    with pytest.raises(ValueError, match="backend must be one of ortools, core, cpsat"):
        matcher.solve(matcher.load_instance("instances/tiny"), backend="gurobi")


@FAST
@given(instances(max_candidates=4, max_employers=2, regional=True, employer=True))
def test_regional_caps_optimum_matches_brute_force(inst: Instance) -> None:
    """With regional caps and employer caps across sectors the default backend (small) is
    the MIP; brute force is independent."""
    res = matcher.solve(inst)
    assert res.status is matcher.Status.OPTIMAL
    assert _key(res) == brute_force(inst)


@settings(max_examples=examples(40), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(max_candidates=10, max_employers=4, fractional=True))
def test_cpsat_backend_equals_ortools(inst: Instance) -> None:
    assert _key(matcher.solve(inst, backend="cpsat")) == _key(matcher.solve(inst, backend="ortools"))


@FAST
@given(instances(max_candidates=5, max_employers=2, diversity=True))
def test_diversity_optimum_matches_brute_force(inst: Instance) -> None:
    """Nationality share cap and peer support (CP-SAT) against plain enumeration."""
    res = matcher.solve(inst)
    assert res.status is matcher.Status.OPTIMAL
    assert _key(res) == brute_force(inst)


def test_diversity_is_refused_where_it_cannot_be_kept() -> None:
    import dataclasses

    import pytest

    from matcher.data.policy import policy_from_dict
    from matcher.errors import UnsupportedPolicyError

    inst = matcher.load_instance("instances/tiny")
    inst = dataclasses.replace(inst, policy=policy_from_dict({"diversity": {"peer_support": True}}))
    for kwargs in ({"backend": "ortools"}, {"backend": "core"}, {"method": "stable"}):
        with pytest.raises(UnsupportedPolicyError, match=r"peer support|nationality"):
            matcher.solve(inst, **kwargs)  # type: ignore[arg-type]


@FAST
@given(instances(max_candidates=5, max_employers=3, joint=True))
def test_joint_optimum_matches_brute_force(inst: Instance) -> None:
    """Joint groups (one prefecture or none, CP-SAT) against plain enumeration."""
    res = matcher.solve(inst)
    assert res.status is matcher.Status.OPTIMAL
    assert _key(res) == brute_force(inst)


@FAST
@given(instances(max_candidates=5, max_employers=3, floors=True))
def test_floors_optimum_matches_brute_force(inst: Instance) -> None:
    """Hard and soft floors (the default backend: the MIP) against plain enumeration;
    infeasible when no assignment meets the hard floors, with the conflicting floors named."""
    from tests.oracle import floor_key

    best = brute_force(inst)
    res = matcher.solve(inst)
    if best is None:
        assert res.status is matcher.Status.INFEASIBLE
        assert res.summary.get("conflict")
        return
    assert res.status is matcher.Status.OPTIMAL, res.message
    assert floor_key(inst, res) == best


@FAST
@given(instances(max_candidates=6, max_employers=3, floors=True, regional=True, employer=True))
def test_mip_and_cpsat_backends_agree(inst: Instance) -> None:
    """Two independent exact models of regional caps and floors reach the same optimum."""
    from tests.oracle import floor_key

    a, b = matcher.solve(inst, backend="mip"), matcher.solve(inst, backend="cpsat")
    assert a.status is b.status
    if a.status is matcher.Status.OPTIMAL:
        assert floor_key(inst, a) == floor_key(inst, b)


def test_floor_conflict_is_named_and_time_limit_reports_a_bound() -> None:
    import dataclasses

    from matcher.data.policy import policy_from_dict

    inst = matcher.load_instance("instances/tiny")
    pol = {
        "track_groups": {"esdp": ["esdp"], "ssw": ["ssw1", "ssw2"]},
        "total_caps": {"esdp": 1},
        "floors": [
            {"name": "north", "prefectures": ["Hokkaido"], "min": 1, "groups": ["esdp"]},
            {"name": "capital", "prefectures": ["Tokyo"], "min": 1, "groups": ["esdp"]},
        ],
    }
    res = matcher.solve(dataclasses.replace(inst, policy=policy_from_dict(pol)))
    assert res.status is matcher.Status.INFEASIBLE
    assert res.summary["conflict"] == ["capital", "north"]
    assert "capital; north" in res.message
    # A floor above what the eligible candidates can supply is found before any solve.
    pol2 = {"floors": [{"name": "capital", "prefectures": ["Tokyo"], "min": 3}]}
    res2 = matcher.solve(dataclasses.replace(inst, policy=policy_from_dict(pol2)))
    assert res2.status is matcher.Status.INFEASIBLE
    assert "capital: needs 3 placements, at most 1 possible" in res2.message
    assert "solve" not in res2.summary["timings_s"]


def test_lagrange_floors_supply_check_and_hard_floor() -> None:
    """The Lagrangian backend meets a hard floor that costs score, and names a hard floor
    that the caps leave short before any solve (one flow per floor, not just counting)."""
    import dataclasses

    from matcher.data.policy import policy_from_dict

    inst = matcher.load_instance("instances/tiny")
    groups = {"esdp": ["esdp"], "ssw": ["ssw1", "ssw2"]}
    pol = {
        "track_groups": groups,
        "total_caps": {"esdp": 1},
        "floors": [{"name": "capital", "prefectures": ["Tokyo"], "min": 1, "groups": ["esdp"]}],
    }
    res = matcher.solve(dataclasses.replace(inst, policy=policy_from_dict(pol)), backend="lagrange")
    assert res.status is matcher.Status.FEASIBLE, res.message
    # Without the floor C4 would go to Hokkaido (95); with it the one ESDP place is in Tokyo.
    placed = dict(res.assignments.select("candidate_id", "employer_id").iter_rows())
    assert placed.get("C1") == "E1" and "C4" not in placed
    assert res.summary["bound"]["gap"] <= 1e-9
    # The floor's shadow price: meeting it costs score (C1's 90 instead of C4's 95).
    assert res.summary["lagrangian"]["floor_prices"]["nonzero"] == 1
    assert res.summary["lagrangian"]["floor_prices"]["highest"]["capital"] > 0
    # Two candidates and two places in Hokkaido, but only one ESDP placement in all.
    pol2 = {**pol, "floors": [{"name": "north", "prefectures": ["Hokkaido"], "min": 2}]}
    res2 = matcher.solve(dataclasses.replace(inst, policy=policy_from_dict(pol2)), backend="lagrange")
    assert res2.status is matcher.Status.INFEASIBLE
    assert "north: needs 2 placements, at most 1 possible under the sector and employer caps" in res2.message
    assert res2.summary["conflict"] and "solve" not in res2.summary["timings_s"]


@FAST
@given(instances(max_candidates=5, max_employers=3, fair=True))
def test_fairness_objectives_match_brute_force(inst: Instance) -> None:
    """Max-min fill (prefectures, sectors) and max-min nationality score, then welfare,
    against plain enumeration; the price of fairness is never negative."""
    from tests.oracle import brute_force_fair, eligible_pairs, fair_level, placed_pairs

    res = matcher.solve(inst)
    assert res.status is matcher.Status.OPTIMAL, res.message
    pairs = eligible_pairs(inst)
    chosen = placed_pairs(pairs, res.assignments)
    assert (fair_level(inst, pairs, chosen), *_key(res)) == brute_force_fair(inst)
    pof = res.summary["price_of_fairness"]
    assert (pof["matched_lost"], pof["score_lost"]) >= (0, 0.0) or pof["matched_lost"] > 0


@settings(max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(max_candidates=5, max_employers=3, regional=True, employer=True))
def test_lagrange_backend_bound_and_feasibility(inst: Instance) -> None:
    """The Lagrangian backend keeps every cap, employer caps included (verified), and its
    bound is proven: the best
    total score of any feasible assignment (enumerated) lies between its value and bound;
    when the caps nest it is the exact lexicographic optimum."""
    from tests.oracle import brute_force_score

    res = matcher.solve(inst, backend="lagrange")
    assert res.status in (matcher.Status.OPTIMAL, matcher.Status.FEASIBLE)
    best = brute_force_score(inst)
    got = round(res.objective.total_score * 100)
    if res.status is matcher.Status.OPTIMAL:
        assert _key(res) == brute_force(inst)
    else:
        bound = res.summary["bound"]
        assert got <= best <= round(bound["bound"] * 100) + 1e-6
        assert bound["gap"] >= 0


def test_lagrange_hard_floor_takes_a_placement_from_a_soft_one() -> None:
    """Found by hypothesis: the only candidate exactly meets a soft floor (Tokyo) in the
    relaxed flow, and the only assignment meeting the hard floor (outside the metro
    region) moves it away. The repair must make that move (a hard floor outranks a soft
    one) instead of reporting that no assignment meets the hard floors."""
    import polars as pl

    from matcher.data.policy import policy_from_dict
    from matcher.solvers.lagrange import PLACEMENT_WORTH

    nulls = {"prefecture": pl.String, "min_japanese_level": pl.String}
    sectors = ["agriculture", "food_service"]
    inst = matcher.instance_from_frames(
        candidates=pl.DataFrame(
            {"candidate_id": ["c0", "c1"], "nationality": ["VN"] * 2, "japanese_level": ["none"] * 2,
             "track": ["esdp"] * 2, "prefecture": [None] * 2},
            schema_overrides=nulls,
        ),
        aptitudes=pl.DataFrame(
            {"candidate_id": ["c1", "c1"], "sector": sectors, "score": [60.0, 60.0], "skills_test": [False] * 2}
        ),
        employers=pl.DataFrame(
            {"employer_id": ["e1", "e2"], "prefecture": ["Tokyo", "Iwate"], "full_time_staff": [0, 0],
             "excellent": [False] * 2, "min_japanese_level": [None] * 2},
            schema_overrides=nulls,
        ),
        slots=pl.DataFrame(
            {"employer_id": ["e1", "e2"], "sector": ["food_service", "agriculture"], "track": ["esdp"] * 2,
             "capacity": [1, 1]}
        ),
        policy=policy_from_dict(
            {"name": "hard-over-soft", "regions": {"metro": ["Tokyo", "Osaka"]},
             "sectors": {s: {"tracks": ["esdp"]} for s in sectors},
             "floors": [{"outside_region": "metro", "min_share": 0.25},
                        {"prefectures": ["Tokyo"], "min_share": 0.25, "penalty": 3}]}
        ),
    )  # fmt: skip
    res = matcher.solve(inst, backend="lagrange")
    assert res.status is matcher.Status.FEASIBLE, res.message
    assert res.assignments.get_column("employer_id").to_list() == ["e2"]
    assert round(res.summary["bound"]["objective"] * 100) == 6000 - 3 * PLACEMENT_WORTH * 100


@settings(max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(max_candidates=5, max_employers=3, regional=True, floors=True))
def test_lagrange_backend_with_floors(inst: Instance) -> None:
    """With floors (hard and soft) the Lagrangian backend keeps every cap and hard floor
    (verified), and its bound is proven: the best total score less soft-floor penalties
    of any assignment that keeps the rules (enumerated) lies between its value and bound.
    When no assignment meets the hard floors it never returns one."""
    from matcher.solvers.lagrange import PLACEMENT_WORTH
    from tests.oracle import brute_force_score, eligible_pairs, floor_penalty, floor_units, placed_pairs

    res = matcher.solve(inst, backend="lagrange")
    best = brute_force_score(inst, worth=PLACEMENT_WORTH * 100)
    if best is None:
        assert res.status in (matcher.Status.INFEASIBLE, matcher.Status.TIME_LIMIT)
        assert res.assignments.height == 0
        return
    if res.status is matcher.Status.OPTIMAL:  # no floor asks for anything, the caps nest
        assert _key(res) == brute_force(inst)
        return
    assert res.status is matcher.Status.FEASIBLE, res.message
    pairs = eligible_pairs(inst)
    pen = floor_penalty(floor_units(inst, pairs), placed_pairs(pairs, res.assignments))
    assert pen is not None, "a hard floor is broken"
    got = round(res.objective.total_score * 100) - PLACEMENT_WORTH * 100 * pen
    bound = res.summary["bound"]
    assert got == round(bound["objective"] * 100)
    assert got <= best <= round(bound["bound"] * 100)


@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(max_candidates=7, max_employers=3, regional=True, diversity=True, joint=True))
def test_cpsat_hint_keeps_every_rule(inst: Instance) -> None:
    """The flow optimum cut down to the crossing rules (CP-SAT's start, and what a time limit
    returns when CP-SAT found nothing) passes the independent verifier."""
    from matcher.eligibility.constraints import drop_to_feasible
    from matcher.eligibility.edges import build_edges
    from matcher.output.report import assignments_frame
    from matcher.solvers.flow import solve_flow

    edges = build_edges(inst)
    chosen = drop_to_feasible(inst, edges, solve_flow(edges).chosen)
    check = matcher.verify_assignment(inst, assignments_frame(edges, chosen))
    assert check.ok, str(check)


def _first_flow_with_employer_floors(inst: Instance, share: float) -> tuple[Any, list[Any], Any, int]:
    """``inst`` with a soft floor per employer (``share`` of its capacity) in three
    prefectures: its edges, floors, the Lagrangian after one flow and brute force's optimum,
    which must lie between the Lagrangian's value and bound."""
    from matcher.data.policy import policy_from_dict
    from matcher.eligibility.constraints import floor_units
    from matcher.eligibility.edges import build_edges
    from matcher.solvers.lagrange import PLACEMENT_WORTH, solve_lagrangian
    from tests.oracle import brute_force_score

    data = inst.policy.model_dump()
    data["floors"] = [
        {"prefectures": ["Tokyo", "Iwate", "Osaka"], "per": "employer", "min_share": share, "penalty": 1}
    ]
    data["regions"] = data.get("regions") or {}
    inst = Instance(**{**inst.__dict__, "policy": policy_from_dict(data)})
    edges = build_edges(inst)
    floors = [u for u in floor_units(inst, edges) if u.required > 0]
    sol = solve_lagrangian(edges, objective="score", floors=floors, gap_target=0.0, max_iterations=1)
    best = brute_force_score(inst, worth=PLACEMENT_WORTH * 100)
    assert best is not None
    assert round(sol.value * 100) <= best <= round(sol.bound * 100)
    return edges, floors, sol, best


@settings(max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(max_candidates=5, max_employers=3))
def test_soft_floors_on_one_slot_are_exact_in_the_flow(inst: Instance) -> None:
    """A soft floor on a single slot is kept exactly by the relaxed flow (a bonus leaf), so
    with only such floors the first flow is optimal and its bound closes the gap."""
    edges, floors, sol, best = _first_flow_with_employer_floors(inst, 1.0)
    one_slot = all(np.unique(edges.slot[u.edges]).size <= 1 for u in floors)
    if one_slot and not edges.caps.regional_cap.size:
        assert round(sol.bound * 100) == best  # the relaxation is the problem itself


@settings(max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(max_candidates=5, max_employers=3))
def test_soft_floors_over_several_slots_are_exact_in_the_flow(inst: Instance) -> None:
    """A soft floor over whole intakes of one employer (several sectors or tracks) is kept
    exactly by the relaxed flow (a bonus arc beside a node above them); when every floor
    is kept and no relaxed cap can bind, the first flow's bound is the optimum."""
    _, floors, sol, best = _first_flow_with_employer_floors(inst, 0.8)
    if floors and sol.stats["floor_prices"]["kept_in_flow"] == len(floors) and sol.stats["caps"] == 0:
        assert round(sol.bound * 100) == best  # the relaxation is the problem itself


def test_floor_over_two_sectors_kept_in_the_flow() -> None:
    """An employer's floor over its two sectors: the layout puts a node above both intakes
    (no sector cap binds, so none is relaxed) and the first flow is optimal, its bound
    equal to brute force's optimum."""
    from matcher.eligibility.constraints import floor_units
    from matcher.eligibility.edges import build_edges
    from matcher.solvers.lagrange import PLACEMENT_WORTH, choose_layout, solve_lagrangian
    from tests.helpers import employer_caps_instance as _instance
    from tests.oracle import brute_force_score

    policy = {
        "name": "floor over sectors",
        "floors": [{"prefectures": ["Iwate"], "per": "employer", "min_share": 1.0, "penalty": 1}],
    }
    inst = _instance(policy)
    edges = build_edges(inst)
    floors = [u for u in floor_units(inst, edges) if u.required > 0]
    assert [u.required for u in floors] == [6] and np.unique(edges.slot[floors[0].edges]).size == 2
    layout, relaxed = choose_layout(edges, floors)
    assert layout.floor_index.tolist() == [0] and relaxed == []
    assert layout.name.endswith("with floors over several slots")
    sol = solve_lagrangian(edges, objective="score", floors=floors, gap_target=0.0, max_iterations=1)
    best = brute_force_score(inst, worth=PLACEMENT_WORTH * 100)
    assert round(sol.value * 100) == best == round(sol.bound * 100)
