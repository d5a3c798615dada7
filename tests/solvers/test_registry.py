"""The backend registry: what each backend declares, and every default choice and
refusal following from those declarations."""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import numpy as np
import pytest

import matcher
from matcher.data.generate import generate_instance
from matcher.data.load import instance_from_frames
from matcher.data.model import Instance
from matcher.data.policy import policy_from_dict
from matcher.eligibility.edges import build_edges
from matcher.eligibility.scale import score_scale
from matcher.errors import UnsupportedPolicyError
from matcher.solve import BACKENDS as OPTION_BACKENDS
from matcher.solvers import registry
from matcher.solvers.registry import BACKENDS, DECOMPOSABLE, MIP_DEFAULT_MAX_PAIRS, default_backend, refusal
from matcher.status import Status

REGIONS = {"metro": ["Tokyo", "Kanagawa", "Saitama", "Chiba", "Aichi", "Osaka", "Kyoto", "Hyogo"]}
REGIONAL = {"regions": REGIONS, "regional_caps": [{"region": "metro", "cap": 12}, {"prefectures": ["Tokyo", "Hokkaido"], "cap": 6}]}  # fmt: skip
NESTED = object()  # stands for a layout: only its relaxed caps matter to the choice


def _arrangement(relaxed: bool) -> tuple[object, list[object]]:
    return (NESTED, [object()] if relaxed else [])


def _instance(policy: dict[str, object], candidates: int = 200) -> Instance:
    tables = generate_instance(candidates=candidates, employers=25, seed=1, list_length=8)
    return dataclasses.replace(
        instance_from_frames(**tables), policy=policy_from_dict({"name": "p", **policy})
    )


def test_each_backend_declares_what_it_keeps() -> None:
    assert list(BACKENDS) == ["ortools", "core", "cpsat", "mip", "lagrange"]
    assert list(OPTION_BACKENDS) == list(BACKENDS)
    flows = [b for b in BACKENDS.values() if not b.keeps]
    assert {b.name for b in flows} == {"core", "ortools"}
    assert all(b.max_pairs is None and not b.time_limit for b in flows)
    assert BACKENDS["cpsat"].keeps == registry.ALL_RULES
    assert BACKENDS["mip"].keeps == BACKENDS["lagrange"].keeps == DECOMPOSABLE
    assert {
        "regional caps",
        "employer caps",
        "floors",
        "joint applications",
        "peer support",
    } <= registry.ALL_RULES
    assert "a fairness objective (max_min_fill)" in registry.ALL_RULES
    assert BACKENDS["cpsat"].max_pairs is not None and BACKENDS["mip"].max_pairs is not None
    assert BACKENDS["cpsat"].max_pairs < BACKENDS["mip"].max_pairs
    assert BACKENDS["lagrange"].max_pairs is None
    assert [b.name for b in BACKENDS.values() if b.warm_starts] == ["core"]
    assert {b.name for b in BACKENDS.values() if b.time_limit} == {"cpsat", "mip", "lagrange"}


def test_unknown_backend_lists_the_allowed_ones() -> None:
    with pytest.raises(
        ValueError, match="backend must be one of ortools, core, cpsat, mip, lagrange, got 'gurobi'"
    ):
        registry.backend("gurobi")


@pytest.mark.parametrize(
    ("rules", "n_pairs", "relaxed", "expected"),
    [
        ([], 10, False, "core"),
        ([], 10_000_000, True, "core"),
        (["regional caps"], 1_000, True, "mip"),
        (["regional caps"], MIP_DEFAULT_MAX_PAIRS + 1, True, "lagrange"),
        (["regional caps"], 1_000, False, "lagrange"),  # nested: one exact flow
        (["regional caps", "floors"], 1_000, False, "mip"),  # floors: not exact by one flow
        (["floors"], MIP_DEFAULT_MAX_PAIRS + 1, False, "lagrange"),
        (["employer caps"], 1_000, True, "mip"),
        (["peer support"], 1_000, True, "cpsat"),
        (["a nationality share cap", "regional caps"], 1_000, True, "cpsat"),
        (["joint applications"], 1_000, True, "cpsat"),
        (["a fairness objective (max_min_fill)"], 1_000, True, "cpsat"),
    ],
)
def test_default_choice(rules: list[str], n_pairs: int, relaxed: bool, expected: str) -> None:
    assert default_backend(rules, n_pairs, _arrangement(relaxed)).name == expected  # type: ignore[arg-type]


@pytest.mark.parametrize("n_pairs", [1_000, MIP_DEFAULT_MAX_PAIRS + 1])
def test_default_keeps_every_rule(n_pairs: int) -> None:
    rules = sorted(registry.ALL_RULES)
    for k in range(len(rules) + 1):
        for subset in itertools.combinations(rules, k):
            for relaxed in (False, True):
                chosen = default_backend(list(subset), n_pairs, _arrangement(relaxed))  # type: ignore[arg-type]
                assert set(subset) <= chosen.keeps
                assert refusal(chosen, "p", subset, n_pairs) is None


def test_refusals_name_what_a_backend_does_not_declare() -> None:
    why = refusal(BACKENDS["mip"], "p", ["regional caps", "peer support"])
    assert why is not None
    assert why.startswith(
        "the mip backend keeps regional caps and floors only (and employer caps across sectors)"
    )
    assert "also has peer support" in why and "regional caps" not in why.split("also has")[1]
    why = refusal(BACKENDS["core"], "p", ["regional caps"])
    assert why is not None and "has regional caps, which cross the sector caps" in why
    assert why.endswith("Use --backend cpsat (small instances) or --method stable.")
    for name, b in BACKENDS.items():
        for rule in registry.ALL_RULES - b.keeps:
            why = refusal(b, "p", [rule])
            assert why is not None and rule in why and name in why
        assert refusal(b, "p", sorted(b.keeps), 10) is None


def test_size_refusals_follow_the_declared_limits() -> None:
    cpsat = BACKENDS["cpsat"]
    assert cpsat.max_pairs is not None
    assert refusal(cpsat, "p", ["regional caps"], cpsat.max_pairs) is None
    why = refusal(cpsat, "p", ["regional caps", "peer support"], cpsat.max_pairs + 1)
    assert why == (
        f"the cpsat backend takes at most {cpsat.max_pairs:,} eligible pairs; this instance has "
        f"{cpsat.max_pairs + 1:,}. At this size only regional caps, employer caps and floors are kept "
        "(--backend lagrange); peer support need CP-SAT."
    )
    assert refusal(BACKENDS["lagrange"], "p", ["regional caps"], 10**9) is None


def test_solve_picks_from_the_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    inst = _instance(REGIONAL)
    res = matcher.solve(inst)
    assert res.summary["backend"] == "mip"
    monkeypatch.setattr(registry, "MIP_DEFAULT_MAX_PAIRS", 0)
    res = matcher.solve(inst, time_limit=5)
    assert res.summary["backend"] == "lagrange"
    assert matcher.solve(_instance({"diversity": {"peer_support": True}}, 60)).summary["backend"] == "cpsat"
    assert matcher.solve(_instance({})).summary["backend"] == "core"


def test_solve_refuses_with_the_registry_message() -> None:
    inst = _instance({"diversity": {"peer_support": True}}, 60)
    with pytest.raises(
        UnsupportedPolicyError, match="the lagrange backend keeps regional caps and floors only"
    ):
        matcher.solve(inst, backend="lagrange")
    with pytest.raises(
        UnsupportedPolicyError, match="has peer support, which cross the sector caps: the ortools"
    ):
        matcher.solve(inst, backend="ortools")


@pytest.mark.parametrize("name", list(BACKENDS))
def test_solver_results_carry_status_values(name: str) -> None:
    inst = matcher.load_instance("instances/tiny")
    edges = build_edges(inst)
    request = registry.SolveRequest(inst, edges, score_scale(inst))
    result = BACKENDS[name].solve(request)
    assert isinstance(result.status, Status)
    assert result.status is Status.OPTIMAL
    assert result.chosen.dtype == np.int64
    assert "solve" in result.stats.times
    assert (result.solution is not None) == (name == "core")
    assert result.stats.certificate == (name == "core")


def test_lagrange_without_an_assignment_falls_back_to_the_mip(monkeypatch: pytest.MonkeyPatch) -> None:
    """When the Lagrangian's repair finds no assignment and time remains, the MIP solves
    the instance in the time left: a feasible instance is not ``time_limit``."""
    import dataclasses

    import numpy as np

    from matcher.solvers.lagrange import LagrangeSolution, backend

    def no_assignment(edges: Any, **kwargs: Any) -> LagrangeSolution:
        stats = {"iterations": 3, "layout": "sector caps in the flow", "stopped": "time limit 1 s"}
        empty = np.empty(0, dtype=np.int64)
        return LagrangeSolution(matcher.Status.TIME_LIMIT, "north (1 short)", empty, 0.0, 1e9, 1.0, stats)

    monkeypatch.setattr(backend, "solve_lagrangian", no_assignment)
    inst = matcher.load_instance("instances/tiny")
    floors = policy_from_dict({"floors": [{"name": "north", "prefectures": ["Hokkaido"], "min": 1}]})
    res = matcher.solve(dataclasses.replace(inst, policy=floors), backend="lagrange", time_limit=30)
    assert res.status is matcher.Status.FEASIBLE, res.message
    assert (
        "assignment by the MIP" in res.message
        and "found none" in res.message
        and "proven optimal" in res.message
    )
    assert res.summary["lagrangian"]["mip"]["status"] == "optimal"
    mip = matcher.solve(dataclasses.replace(inst, policy=floors), backend="mip")
    assert res.objective.total_score == mip.objective.total_score
    short = matcher.solve(dataclasses.replace(inst, policy=floors), backend="lagrange", time_limit=0.5)
    assert short.status is matcher.Status.TIME_LIMIT  # under a second left: no MIP
    assert "north (1 short)" in short.message


def test_lagrange_says_why_it_stopped() -> None:
    """No hidden iteration cap: the loop ends at the gap target, the time limit, converged
    steps or an iteration limit the caller sets, and the summary says which."""
    from matcher.data.generate import generate_contested
    from matcher.eligibility.constraints import floor_units
    from matcher.solvers.lagrange import solve_lagrangian

    drawn = generate_contested(candidates=400, employers=80, seed=2)
    inst = instance_from_frames(**drawn.tables, policy=drawn.validated_policy())
    edges = build_edges(inst)
    one = solve_lagrangian(edges, max_iterations=1, gap_target=0.0, floors=floor_units(inst, edges))
    assert one.stats["stopped"] == "iteration limit 1" and "stopped: iteration limit 1" in one.message
    res = matcher.solve(inst, backend="lagrange", time_limit=20)
    assert res.summary["lagrangian"]["stopped"], res.summary
