"""The Lagrangian backend's phases after the relaxation: the neighbourhood search and the
full MIP, on instances of both generators and on random small ones against enumeration."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

import matcher
from matcher.data.generate import generate_contested
from matcher.data.load import instance_from_frames
from matcher.data.model import Instance
from matcher.eligibility.constraints import floor_units
from matcher.eligibility.edges import build_edges
from matcher.eligibility.scale import score_scale
from matcher.solvers.lagrange import backend
from matcher.solvers.mip import solve_mip, solve_neighbourhood
from matcher.solvers.registry import SolveRequest
from tests.strategies import examples, instances


def contested(candidates: int, seed: int) -> Instance:
    drawn = generate_contested(candidates=candidates, employers=max(1, candidates // 5), seed=seed)
    return instance_from_frames(**drawn.tables, policy=drawn.validated_policy())


def _value(inst: Instance, chosen: np.ndarray) -> float:
    """The ``lagrange`` backend's objective of ``chosen``."""
    edges = build_edges(inst)
    request = SolveRequest(inst, edges, score_scale(inst))
    return backend._value(request, chosen, floor_units(inst, edges))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_neighbourhood_with_the_optimum_outside_it_fixed_is_the_optimum(seed: int) -> None:
    """Half of the candidates keep their pairs of the MIP's optimum, the other half are
    free: the neighbourhood's optimum is the instance's (it contains the optimum, and
    nothing is better); with nothing fixed it is the whole instance."""
    inst = contested(300, seed)
    edges = build_edges(inst)
    floors = floor_units(inst, edges)
    decimals = score_scale(inst).decimals
    full = solve_mip(edges, score_decimals=decimals, floors=floors, objective="score")
    assert full.status is matcher.Status.OPTIMAL
    free_cand = np.arange(len(edges.candidate_ids)) % 2 == 0
    fixed = full.chosen[~free_cand[edges.cand[full.chosen]]]
    free = np.flatnonzero(free_cand[edges.cand]).astype(np.int64)
    part = solve_neighbourhood(edges, fixed, free, score_decimals=decimals, floors=floors)
    assert part.status is matcher.Status.OPTIMAL
    assert set(fixed.tolist()) <= set(part.chosen.tolist())
    assert _value(inst, part.chosen) == pytest.approx(_value(inst, full.chosen))
    whole = solve_neighbourhood(
        edges,
        np.zeros(0, np.int64),
        np.arange(edges.n_pairs, dtype=np.int64),
        score_decimals=decimals,
        floors=floors,
    )
    assert _value(inst, whole.chosen) == pytest.approx(_value(inst, full.chosen))


@pytest.mark.parametrize("seed", range(6))
def test_contested_300_candidates_with_floors_never_time_limit(seed: int) -> None:
    """Feasible by construction (the contested generator's witness): the default and the
    ``lagrange`` backend return a verified assignment, never ``time_limit`` before the
    limit; the ``lagrange`` backend's value is the MIP's optimum of its objective."""
    inst = contested(300, seed)
    edges = build_edges(inst)
    decimals = score_scale(inst).decimals
    optimum = solve_mip(edges, score_decimals=decimals, floors=floor_units(inst, edges), objective="score")
    for name in (None, "lagrange"):
        res = matcher.solve(inst, backend=name, time_limit=30)
        assert res.success and res.summary["verified"], res.message
        if name == "lagrange" and res.status is matcher.Status.FEASIBLE:
            assert res.summary["bound"]["objective"] == pytest.approx(_value(inst, optimum.chosen))


def test_beyond_the_mip_size_the_neighbourhood_search_improves_the_relaxation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With the MIP's size limit below the instance, the neighbourhood search is the only
    phase after the relaxation: its assignment keeps every rule (verified), is at least
    as good as the relaxation's, and the summary says what it did."""
    monkeypatch.setattr(backend, "MIP_MAX_PAIRS", 10)
    inst = contested(2000, 1)
    res = matcher.solve(inst, backend="lagrange", time_limit=20)
    assert res.success and res.summary["verified"], res.message
    lag = res.summary["lagrangian"]
    assert "mip" not in lag
    if "neighbourhood" in lag:  # the relaxation alone may already reach the gap target
        assert lag["neighbourhood"]["pairs"] <= 10 or lag["neighbourhood"]["candidates"] >= 1
        assert res.summary["bound"]["objective"] >= lag["neighbourhood"].get("value", -np.inf) - 1e-6


@settings(max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(max_candidates=5, max_employers=3, regional=True, floors=True))
def test_neighbourhood_only_keeps_the_bound(inst: Instance) -> None:
    """Forced to the path beyond the MIP's size on random small instances: every cap and
    hard floor kept (verified), and the best score (enumerated) lies between the value
    and the proven bound."""
    from tests.oracle import brute_force_score

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(backend, "MIP_MAX_PAIRS", 0)
        res = matcher.solve(inst, backend="lagrange")
    if not res.success:
        assert res.status in (matcher.Status.INFEASIBLE, matcher.Status.TIME_LIMIT)
        return
    assert res.summary["verified"]
    if res.status is matcher.Status.FEASIBLE and not inst.policy.floors:
        best = brute_force_score(inst)
        got = round(res.objective.total_score * 100)
        assert got <= best <= round(res.summary["bound"]["bound"] * 100) + 1e-6
