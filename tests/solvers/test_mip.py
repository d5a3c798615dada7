"""CP-SAT's and the MIP backend's optima under every policy rule equal an independent MIP
(SCIP, built from plain loops in tests/oracle.py).

200 candidates with regional caps, floors and joint groups; nationality rules at 60
candidates (at 200, CP-SAT did not prove the first level within 120 s: 15.5% gap, seed 1).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import matcher
from matcher.data.generate import generate_instance
from matcher.data.load import instance_from_frames
from matcher.data.policy import policy_from_dict
from tests.oracle import floor_key, mip

RULES = {
    "regional+floors": {
        "regions": {"metro": ["Tokyo", "Kanagawa", "Saitama", "Chiba", "Aichi", "Osaka", "Kyoto", "Hyogo"]},
        "regional_caps": [{"region": "metro", "cap": 12}, {"prefectures": ["Tokyo", "Hokkaido"], "cap": 6}],
        "floors": [
            {"name": "rural", "outside_region": "metro", "min": 20},
            {"name": "fill", "outside_region": "metro", "per": "employer", "min_share": 0.5, "penalty": 2},
        ],
    },
    "diversity": {"diversity": {"max_share": 0.5, "exempt_up_to": 1, "peer_support": True}},
    "joint": {},
}


@pytest.mark.parametrize("rules", sorted(RULES))
@pytest.mark.parametrize("seed", [1, 2])
def test_cpsat_equals_mip_at_200_candidates(rules: str, seed: int) -> None:
    n = 60 if rules == "diversity" else 200
    tables = generate_instance(candidates=n, employers=max(8, n // 8), seed=seed, list_length=8)
    if rules == "joint":
        ids = tables["candidates"]["candidate_id"].to_list()[:60]
        tables["joint"] = pl.DataFrame({"group_id": [f"g{i // 2}" for i in range(60)], "candidate_id": ids})
    inst = instance_from_frames(**tables)
    inst = dataclasses.replace(inst, policy=policy_from_dict({"name": rules, **RULES[rules]}))
    res = matcher.solve(inst, backend="cpsat", time_limit=120)
    ref = mip(inst)
    if ref is None:
        assert res.status is matcher.Status.INFEASIBLE
        return
    assert res.status is matcher.Status.OPTIMAL, res.message
    assert floor_key(inst, res) == ref


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_mip_backend_equals_independent_mip_at_200_candidates(seed: int) -> None:
    """The MIP backend (HiGHS, sparse rows built with numpy) keeps regional caps and hard
    and soft floors exactly like the oracle (SCIP, rows built pair by pair)."""
    tables = generate_instance(candidates=200, employers=25, seed=seed, list_length=8)
    inst = dataclasses.replace(
        instance_from_frames(**tables), policy=policy_from_dict({"name": "r", **RULES["regional+floors"]})
    )
    res = matcher.solve(inst, backend="mip")
    ref = mip(inst)
    if ref is None:
        assert res.status is matcher.Status.INFEASIBLE
        return
    assert res.status is matcher.Status.OPTIMAL, res.message
    assert res.summary["backend"] == "mip"
    assert floor_key(inst, res) == ref


def test_mip_backend_refuses_rules_it_cannot_keep() -> None:
    from matcher.errors import UnsupportedPolicyError

    inst = matcher.load_instance("instances/tiny")
    inst = dataclasses.replace(inst, policy=policy_from_dict({"diversity": {"peer_support": True}}))
    with pytest.raises(UnsupportedPolicyError, match="the mip backend keeps regional caps and floors only"):
        matcher.solve(inst, backend="mip")


@pytest.mark.parametrize("exact", [1e9, 1.0])  # first two levels weighted / one after the other
def test_mip_backend_skips_the_rank_level_when_it_does_not_fit(
    monkeypatch: pytest.MonkeyPatch, exact: float
) -> None:
    """Where the three levels do not fit one exact objective, the first two are still
    exact (equal to the full solve's) and the result says the tie-break was skipped."""
    from matcher.solvers import mip as backend

    tables = generate_instance(candidates=120, employers=15, seed=4, list_length=8)
    rules = {
        "name": "soft",
        "regional_caps": [{"prefectures": ["Tokyo", "Osaka"], "cap": 10}],
        "floors": [{"name": "fill", "prefectures": ["Hokkaido", "Aomori"], "min": 8, "penalty": 1}],
    }
    inst = dataclasses.replace(instance_from_frames(**tables), policy=policy_from_dict(rules))
    full = matcher.solve(inst, backend="mip")
    assert full.status is matcher.Status.OPTIMAL, full.message
    monkeypatch.setattr(backend, "EXACT", exact)
    res = matcher.solve(inst, backend="mip")
    assert res.status is matcher.Status.FEASIBLE
    assert "rank tie-break was skipped" in res.message
    assert floor_key(inst, res)[:2] == floor_key(inst, full)[:2] == mip(inst)[:2]  # type: ignore[index]


def test_time_limit_before_any_assignment_is_time_limit() -> None:
    """HiGHS stopped by its time limit before finding an assignment reports UNKNOWN_STATUS:
    the result is ``time_limit`` (not ``error``), within about a second of the limit."""
    import time

    tables = generate_instance(candidates=2000, employers=150, seed=3)
    inst = instance_from_frames(
        **{
            k: v
            for k, v in tables.items()
            if k in ("candidates", "aptitudes", "employers", "slots", "preferences")
        }
    )
    policy = policy_from_dict(
        {
            "floors": [{"name": "north", "prefectures": ["Hokkaido", "Aomori", "Iwate"], "min": 5}],
            "regional_caps": [{"name": "metro", "prefectures": ["Tokyo", "Osaka"], "cap": 50}],
        }
    )
    start = time.perf_counter()
    res = matcher.solve(dataclasses.replace(inst, policy=policy), backend="mip", time_limit=0.05)
    assert time.perf_counter() - start < 15  # eligibility and the model build come first
    assert res.status is matcher.Status.TIME_LIMIT, res.message
    assert "no assignment found within the time limit of 0.05 s" in res.message
    assert res.assignments.height == 0 and not res.success


def test_a_solver_that_overruns_its_deadline_is_ended(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HiGHS does not look at its clock while it solves the root LP: its process is ended
    at the deadline plus a grace, and the outcome is ``time_limit`` (solver status
    DEADLINE); a solver process that dies is an ``error`` (CRASHED), not the caller's end;
    the process and the in-process solve of a small model give the same answer."""
    import time

    from matcher.eligibility.edges import build_edges
    from matcher.solvers import mip as mip_module

    edges = build_edges(matcher.load_instance("instances/tiny"))
    rows = mip_module.cap_rows(edges, [])
    objective = np.ones(rows.n_cols)
    child = mip_module.CHILD
    monkeypatch.setattr(mip_module, "IN_PROCESS_MAX_COLS", 0)  # even this small model in a process
    slow = tmp_path / "slow.py"
    slow.write_text("import time\ntime.sleep(60)\n")
    monkeypatch.setattr(mip_module, "CHILD", slow)
    start = time.monotonic()
    status, raw, values, _, _ = mip_module.solve_rows(rows, objective, time_limit_s=0.5)
    assert (status, raw, values) == (matcher.Status.TIME_LIMIT, "DEADLINE", None)
    assert time.monotonic() - start < 0.5 + mip_module.KILL_GRACE_S + 5  # ended, not waited for
    crash = tmp_path / "crash.py"
    crash.write_text("import os\nos._exit(3)\n")
    monkeypatch.setattr(mip_module, "CHILD", crash)
    status, raw, values, _, _ = mip_module.solve_rows(rows, objective, time_limit_s=5)
    assert (status, raw, values) == (matcher.Status.ERROR, "CRASHED", None)
    monkeypatch.setattr(mip_module, "CHILD", child)
    in_child = mip_module.solve_rows(rows, objective, time_limit_s=30)
    monkeypatch.undo()
    in_process = mip_module.solve_rows(rows, objective, time_limit_s=30)
    assert in_child[0] is in_process[0] is matcher.Status.OPTIMAL
    assert np.array_equal(in_child[2], in_process[2])
