"""Scores are optimized exactly as given: the scale comes from the data when the policy's
``score_decimals`` would round a score, every backend uses it, and what cannot be held
exactly is refused."""

from __future__ import annotations

import dataclasses
import itertools
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linear_sum_assignment

import matcher
from matcher.data.policy import policy_from_dict
from matcher.eligibility.scale import MAX_SCORE_DECIMALS, score_decimals_needed, score_scale
from matcher.output.files import read_state
from matcher.solvers.core import STATE_COLUMNS, state_from_tables, state_tables
from tests import oracle
from tests.strategies import examples, instances

BACKENDS = ("core", "ortools", "cpsat", "mip", "lagrange")


def two_sectors(scores: dict[tuple[str, str], float], *, policy: Any = None, ranks: int | None = None) -> Any:
    """Candidates C1, C2 and employers Ea (sector a) and Eb (sector b), one place each;
    ``scores[(candidate, sector)]`` is the aptitude."""
    cands = sorted({c for c, _ in scores})
    rows = [
        {"candidate_id": c, "sector": s, "score": v, "skills_test": False} for (c, s), v in scores.items()
    ]
    return matcher.instance_from_frames(
        candidates=pl.DataFrame(
            {
                "candidate_id": cands,
                "nationality": ["VN" if k % 2 == 0 else "PH" for k in range(len(cands))],
                "japanese_level": ["A1"] * len(cands),
                "track": ["esdp"] * len(cands),
            }
        ),
        aptitudes=pl.DataFrame(rows),
        employers=pl.DataFrame(
            {"employer_id": ["Ea", "Eb"], "prefecture": ["Tokyo", "Osaka"], "full_time_staff": [10, 10]}
        ),
        slots=pl.DataFrame(
            {"employer_id": ["Ea", "Eb"], "sector": ["a", "b"], "track": ["esdp", "esdp"], "capacity": [1, 1]}
        ),
        preferences=None
        if ranks is None
        else pl.DataFrame(
            {"candidate_id": cands, "employer_id": ["Ea"] * len(cands), "rank": [ranks] * len(cands)}
        ),
        policy=policy,
    )


# Exact: C1->a, C2->b scores 160.008, C1->b, C2->a 160.006. Rounded to hundredths the
# first is 160.00 and the second 160.01, so rounding picks the worse one.
TRAP = {("C1", "a"): 80.004, ("C1", "b"): 80.006, ("C2", "a"): 80.0, ("C2", "b"): 80.004}


def test_trap_rounding_to_the_policy_decimals_would_pick_the_worse_assignment() -> None:
    matrix = np.array([[TRAP[("C1", "a")], TRAP[("C1", "b")]], [TRAP[("C2", "a")], TRAP[("C2", "b")]]])
    rows, cols = linear_sum_assignment(np.round(matrix, 2), maximize=True)
    assert matrix[rows, cols].sum() == pytest.approx(160.006)
    rows, cols = linear_sum_assignment(matrix, maximize=True)
    assert matrix[rows, cols].sum() == pytest.approx(160.008)


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_backend_finds_the_true_optimum(backend: str) -> None:
    res = matcher.solve(two_sectors(TRAP), backend=backend)
    assert res.status.value == "optimal"
    assert res.objective.matched == 2
    assert res.objective.total_score == pytest.approx(160.008, abs=1e-9)
    placed = dict(res.assignments.select("candidate_id", "employer_id").iter_rows())
    assert placed == {"C1": "Ea", "C2": "Eb"}
    assert res.summary["score_decimals"] == 3
    assert res.summary["score_decimals_from"] == "data"
    assert res.summary["verified"] is True


def test_price_of_stability_compares_with_the_exact_optimum() -> None:
    res = matcher.solve(two_sectors(TRAP), method="stable", compare_optimal=True)
    assert res.summary["score_decimals"] == 3
    assert res.summary["price_of_stability"]["optimal"]["total_score"] == pytest.approx(160.008, abs=1e-9)


def test_fairness_groups_weigh_the_exact_scores() -> None:
    policy = policy_from_dict({"name": "fair", "objective": {"kind": "max_min_nationality_score"}})
    # C1 (VN) and C2 (PH), one each: the lowest group outcome is the lower placed score,
    # 80.004 with C1 at a and C2 at b, 80.0 the other way; in hundredths both are 80.00.
    res = matcher.solve(two_sectors(TRAP, policy=policy), backend="cpsat")
    assert res.status.value == "optimal"
    assert res.summary["fairness"]["lowest"] == pytest.approx(80.004, abs=1e-9)
    assert res.objective.total_score == pytest.approx(160.008, abs=1e-9)


def test_policy_decimals_are_kept_when_the_data_has_no_more() -> None:
    res = matcher.solve(two_sectors({k: round(v, 2) for k, v in TRAP.items()}))
    assert (res.summary["score_decimals"], res.summary["score_decimals_from"]) == (2, "policy")
    res = matcher.solve(two_sectors({k: round(v) for k, v in TRAP.items()}))
    assert (res.summary["score_decimals"], res.summary["score_decimals_from"]) == (2, "policy")


def test_the_policy_may_ask_for_more_decimals_than_the_data_has() -> None:
    policy = policy_from_dict({"name": "fine", "objective": {"score_decimals": 4}})
    res = matcher.solve(two_sectors(TRAP, policy=policy))
    assert (res.summary["score_decimals"], res.summary["score_decimals_from"]) == (4, "policy")
    assert res.objective.total_score == pytest.approx(160.008, abs=1e-9)


def test_decimals_are_counted_up_to_float_noise() -> None:
    values = np.array([80.0, 80.1, 0.1 + 0.2, 80.12, 80.123, 99.9999, 12.345678, 1 / 3, np.nan])
    assert score_decimals_needed(values, least=2).tolist() == [2, 2, 2, 2, 3, 4, 6, 7, 7]
    assert score_decimals_needed(values[:3], least=0).tolist() == [0, 1, 1]


def test_too_many_decimals_are_refused_naming_candidate_and_sector() -> None:
    scores = dict(TRAP)
    scores[("C2", "a")] = 80.123456789
    scores[("C3", "b")] = 70.1234567
    inst = two_sectors(scores)
    with pytest.raises(matcher.InputError) as err:
        score_scale(inst)
    problems = sorted(err.value.problems, key=lambda p: str(p.id))
    assert [(p.file, p.row, p.column, p.id) for p in problems] == [
        ("aptitudes", None, "score", "C2"),
        ("aptitudes", None, "score", "C3"),
    ]
    assert "80.123456789 (sector a) has 9 decimals; at most 6 are supported" in problems[0].message
    assert "has 7 decimals" in problems[1].message
    assert "round the scores in the file" in str(err.value)
    with pytest.raises(matcher.InputError, match="at most 6 are supported"):
        matcher.solve(inst)
    with pytest.raises(matcher.InputError, match="at most 6 are supported"):
        matcher.solve(inst, method="stable")


def test_refusal_counts_the_rows_beyond_the_examples() -> None:
    scores = {(f"C{k}", "a"): 50 + k / 1e7 for k in range(1, 9)}
    with pytest.raises(matcher.InputError) as err:
        score_scale(two_sectors(scores))
    problems = err.value.problems
    assert sorted(p.id for p in problems if p.id is not None) == ["C1", "C2", "C3", "C4", "C5"]
    (more,) = [p for p in problems if p.id is None]
    assert more.message == "3 more rows have scores with more than 6 decimals"


def test_flow_backends_refuse_decimals_their_costs_cannot_hold_with_the_rank_level() -> None:
    # Rank 2e9 for 20 candidates: B = 4e10 + 1, so -B * score fits 64 bits (times the
    # nodes) at 4 decimals but not at 6.
    scores = {(f"C{k:02d}", "a"): 60.0 for k in range(20)}
    scores[("C00", "a")] = 60.123456
    inst = two_sectors(scores, ranks=2_000_000_000)
    with pytest.raises(matcher.InputError) as err:
        matcher.solve(inst)
    (problem,) = err.value.problems
    assert problem.id == "C00"
    assert "has 6 decimals; at most 4 are supported at this instance's size" in problem.message
    # Backends that solve the levels one by one hold them.
    res = matcher.solve(inst, backend="mip")
    assert res.objective.total_score == pytest.approx(60.123456, abs=1e-9)
    assert res.summary["score_decimals"] == 6
    # Within the limit, the core solves at the data's scale.
    scores[("C00", "a")] = 60.1234
    res = matcher.solve(two_sectors(scores, ranks=2_000_000_000))
    assert (res.status.value, res.summary["score_decimals"]) == ("optimal", 4)
    assert res.objective.total_score == pytest.approx(60.1234, abs=1e-9)


def test_warm_start_from_another_scale_solves_cold(tmp_path: Path) -> None:
    first = matcher.solve(two_sectors({k: round(v, 2) for k, v in TRAP.items()}))
    assert first.state is not None and first.state.score_decimals == 2
    tables, header = state_tables(first.state)
    assert header["score_decimals"] == 2
    assert state_from_tables(tables, header).score_decimals == 2
    first.write(tmp_path / "out", state=True)
    saved, head, unreadable, folder = read_state(tmp_path / "out", STATE_COLUMNS)
    assert state_from_tables(saved, head, source=folder, unreadable=unreadable).score_decimals == 2
    for warm in (first.state, tmp_path / "out"):
        res = matcher.solve(two_sectors(TRAP), warm_start=warm)
        assert res.summary["warm_start"]["used"] == "none (solved cold)"
        assert res.objective.total_score == pytest.approx(160.008, abs=1e-9)
        assert res.summary["certificate"] == "valid"


def test_verifier_compares_scores_at_their_precision() -> None:
    scores = {("C1", "a"): 80.000001, ("C2", "b"): 70.000002}
    inst = two_sectors(scores)
    res = matcher.solve(inst)
    objective = res.objective.as_dict()
    assert matcher.verify_assignment(inst, res.assignments, objective=objective).ok
    # One unit of the sixth decimal off is another total, another score.
    off = {**objective, "total_score": objective["total_score"] + 1e-6}
    assert matcher.verify_assignment(inst, res.assignments, objective=off).kinds() == {"objective"}
    moved = res.assignments.with_columns(pl.col("score") + pl.lit(1e-6))
    assert "score_mismatch" in matcher.verify_assignment(inst, moved).kinds()


# ---------------------------------------------------------------------------------------
# Property: the optimum of random instances with 3-4 decimal scores, against brute force
# ---------------------------------------------------------------------------------------

UNIT = 10**4  # every drawn score is a whole number of these


def brute_force_exact(inst: matcher.Instance) -> tuple[int, int, int]:
    """(placed, total score in 1e-4 units, -rank sum) by enumeration, from the oracle's
    plain-loop pairs and caps, with the scores read exactly from the aptitudes."""
    pairs = oracle.eligible_pairs(inst)
    groups = oracle.cap_groups(inst, pairs)
    exact = {
        (c, s): int(Fraction(str(v)) * UNIT)
        for c, s, v in inst.aptitudes.select("candidate_id", "sector", "score").iter_rows()
    }
    score = [exact[(p.cand, p.slot[1])] for p in pairs]
    by_cand: dict[str, list[int]] = {}
    for i, p in enumerate(pairs):
        by_cand.setdefault(p.cand, []).append(i)
    best = (0, 0, 0)
    for choice in itertools.product(*[[None, *idx] for idx in by_cand.values()]):
        chosen = [i for i in choice if i is not None]
        taken = set(chosen)
        if any(len(taken.intersection(idx)) > cap for idx, cap in groups):
            continue
        best = max(best, (len(chosen), sum(score[i] for i in chosen), -sum(pairs[i].rank for i in chosen)))
    return best


@st.composite
def fine_instances(draw: st.DrawFn) -> matcher.Instance:
    """A small random instance whose scores have 3 or 4 decimals: a few points apart, then
    a few thousandths or ten-thousandths, so that scores rounded to hundredths often tie
    or change order."""
    inst = draw(instances(max_candidates=5, max_employers=3))
    n = inst.aptitudes.height
    decimals = draw(st.sampled_from([3, 4]))
    base = st.sampled_from([60, 70, 80]).map(lambda v: v * 10**decimals)
    units = [draw(base) + draw(st.integers(0, 30)) for _ in range(n)]
    if n:
        units[draw(st.integers(0, n - 1))] = 70 * 10**decimals + 7  # 70.007 or 70.0007
    scores = pl.Series("score", [u / 10**decimals for u in units], dtype=pl.Float64)
    return dataclasses.replace(inst, aptitudes=inst.aptitudes.with_columns(scores))


@settings(max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inst=fine_instances(), backend=st.sampled_from(BACKENDS))
def test_optimum_of_fine_scores_matches_brute_force(inst: matcher.Instance, backend: str) -> None:
    res = matcher.solve(inst, backend=backend)
    assert res.status.value == "optimal"
    assert res.summary["verified"] is True
    placed, units, neg_rank = brute_force_exact(inst)
    assert res.objective.matched == placed
    assert round(res.objective.total_score * UNIT) == units
    assert res.objective.rank_sum == -neg_rank
    if inst.aptitudes.height:
        assert res.summary["score_decimals"] in (3, 4)
        assert res.summary["score_decimals"] <= MAX_SCORE_DECIMALS


@pytest.mark.parametrize("seed", range(6))
def test_stable_priorities_compare_scores_as_given(seed: int) -> None:
    """Employers' priorities in deferred acceptance: 80.124 beats 80.123 whatever the
    lottery, and the independent blocking-pair check agrees (at hundredths the two would
    tie and the lottery would decide)."""
    from matcher.verification.stability import blocking_pairs

    inst = two_sectors({("C1", "a"): 80.123, ("C2", "a"): 80.124})
    for caps in ("flexible", "naive"):
        res = matcher.solve(inst, method="stable", seed=seed, caps=caps)
        assert res.assignments.get_column("candidate_id").to_list() == ["C2"]
        assert blocking_pairs(inst, res.assignments, seed=seed).height == 0
    # The same placement handed the other way is blocked by C2 at Ea.
    wrong = res.assignments.with_columns(candidate_id=pl.lit("C1"), score=pl.lit(80.123))
    blocked = blocking_pairs(inst, wrong, seed=seed)
    assert blocked.get_column("candidate_id").to_list() == ["C2"]
