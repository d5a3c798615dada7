"""matcher's own solver (matcher.solvers.core) against OR-Tools, and its certificate."""

from __future__ import annotations

import dataclasses

import numpy as np
import numpy.typing as npt
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import matcher
from matcher import Instance
from matcher.eligibility.edges import CapStructure, Edges, build_edges
from matcher.solvers.core import CoreSolution, check_certificate, solve_core
from matcher.solvers.flow import solve_flow
from matcher.solvers.network import lexicographic_costs
from matcher.status import Status
from tests.strategies import examples, instances

FAST = settings(max_examples=examples(120), deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _objective(edges: Edges, chosen: npt.NDArray[np.int64]) -> tuple[int, int]:
    """(placed, total cost) under the costs both solvers use."""
    n_nodes = 2 + len(edges.candidate_ids) + edges.slots.height
    n_nodes += len(edges.caps.intake_cap) + len(edges.caps.national_cap) + len(edges.caps.total_cap)
    cap = int(edges.slots.get_column("capacity").sum()) + 1
    max_flow = min(int(np.unique(edges.cand).size), cap - 1)
    costs, _, _ = lexicographic_costs(edges, score_decimals=2, num_nodes=n_nodes, max_flow=max_flow)
    return len(chosen), int(costs[chosen].sum())


def _cross_check(edges: Edges, warm: CoreSolution | None = None) -> CoreSolution:
    sol = solve_core(edges, warm_start=warm)
    ref = solve_flow(edges)
    assert sol.status is ref.status, sol.message
    assert _objective(edges, sol.chosen) == _objective(edges, ref.chosen)
    assert check_certificate(edges, sol.chosen, sol.potentials, rank_weight=sol.rank_weight) == []
    return sol


def make_edges(
    cand: list[int] | npt.NDArray[np.int64],
    slot: list[int] | npt.NDArray[np.int64],
    score: list[float] | npt.NDArray[np.float64],
    *,
    n_cand: int,
    slot_cap: list[int],
    rank: list[int] | npt.NDArray[np.int64] | None = None,
    slot_intake: list[int] | None = None,
    intake_cap: list[int] | None = None,
    intake_national: list[int] | None = None,
    national_cap: list[int] | None = None,
    national_total: list[int] | None = None,
    total_cap: list[int] | None = None,
) -> Edges:
    """Edges built directly from arrays (a default one-node tree level where not given)."""
    n_slot = len(slot_cap)
    slot_intake = list(range(n_slot)) if slot_intake is None else slot_intake
    n_int = max(slot_intake, default=-1) + 1
    intake_cap = [-1] * n_int if intake_cap is None else intake_cap
    intake_national = [0] * n_int if intake_national is None else intake_national
    n_nat = max(intake_national, default=-1) + 1
    national_cap = [-1] * n_nat if national_cap is None else national_cap
    national_total = [0] * n_nat if national_total is None else national_total
    n_tot = max(national_total, default=-1) + 1
    total_cap = [-1] * n_tot if total_cap is None else total_cap
    order = np.lexsort((np.asarray(slot), np.asarray(cand))) if len(cand) else np.zeros(0, np.int64)
    rank_arr = np.zeros(len(cand), np.int64) if rank is None else np.asarray(rank)
    extra: dict[str, npt.NDArray[np.int64]] = {}
    if "regional_cap" in {f.name for f in dataclasses.fields(CapStructure)}:  # newer CapStructure
        extra = {
            "regional_cap": np.zeros(0, np.int64),
            "intake_regional_ptr": np.zeros(n_int + 1, np.int64),
            "intake_regional": np.zeros(0, np.int64),
        }
    caps = CapStructure(
        **extra,
        slot_intake=np.asarray(slot_intake, np.int32),
        intake_cap=np.asarray(intake_cap, np.int64),
        intake_national=np.asarray(intake_national, np.int32),
        national_cap=np.asarray(national_cap, np.int64),
        national_total=np.asarray(national_total, np.int32),
        total_cap=np.asarray(total_cap, np.int64),
        intakes=pl.DataFrame(),
        nationals=pl.DataFrame(),
        totals=pl.DataFrame(),
    )
    return Edges(
        cand=np.asarray(cand, np.int32)[order],
        slot=np.asarray(slot, np.int32)[order],
        score=np.asarray(score, np.float64)[order],
        rank=rank_arr.astype(np.int32)[order],
        candidate_ids=pl.Series("candidate_id", [f"c{i}" for i in range(n_cand)]),
        slots=pl.DataFrame({"capacity": pl.Series(slot_cap, dtype=pl.Int64)}),
        caps=caps,
    )


def random_edges(seed: int, n_cand: int = 40, n_slot: int = 8) -> Edges:
    """A random instance with a random capacity tree, some caps binding, many ties."""
    rng = np.random.default_rng(seed)
    pairs = {
        (int(c), int(s))
        for c, s in zip(rng.integers(0, n_cand, 4 * n_cand), rng.integers(0, n_slot, 4 * n_cand), strict=True)
    }
    cand, slot = (np.array(x, np.int64) for x in zip(*sorted(pairs), strict=True))
    n_int = int(rng.integers(1, n_slot + 1))
    n_nat = int(rng.integers(1, n_int + 1))
    n_tot = int(rng.integers(1, n_nat + 1))

    def cap(k: int, hi: int) -> list[int]:
        return [int(v) for v in np.where(rng.random(k) < 0.3, -1, rng.integers(0, hi, k))]

    return make_edges(
        cand,
        slot,
        rng.integers(0, 5, cand.size) * 10.0 + rng.integers(0, 2, cand.size) * 0.01,
        rank=rng.integers(0, 4, cand.size),
        n_cand=n_cand + 3,
        slot_cap=[int(v) for v in rng.integers(0, 6, n_slot)],
        slot_intake=[int(v) for v in rng.integers(0, n_int, n_slot)],
        intake_cap=cap(n_int, 8),
        intake_national=[int(v) for v in rng.integers(0, n_nat, n_int)],
        national_cap=cap(n_nat, 12),
        national_total=[int(v) for v in rng.integers(0, n_tot, n_nat)],
        total_cap=cap(n_tot, 20),
    )


# -- cross-checks against OR-Tools ------------------------------------------------------


@FAST
@given(instances(max_candidates=8, max_employers=3))
def test_matches_ortools_on_random_instances(inst: Instance) -> None:
    _cross_check(build_edges(inst))


@FAST
@given(instances(max_candidates=10, max_employers=4, fractional=True))
def test_matches_ortools_fractional_scores(inst: Instance) -> None:
    _cross_check(build_edges(inst))


@settings(max_examples=examples(60), deadline=None)
@given(st.integers(0, 2**31), st.integers(1, 60), st.integers(1, 12))
def test_matches_ortools_random_trees(seed: int, n_cand: int, n_slot: int) -> None:
    _cross_check(random_edges(seed, n_cand, n_slot))


@settings(max_examples=examples(60), deadline=None)
@given(st.integers(0, 2**31), st.integers(1, 60), st.integers(1, 12), st.floats(0.0, 0.5))
def test_warm_start_matches_ortools(seed: int, n_cand: int, n_slot: int, share: float) -> None:
    """A re-solve warm from an earlier solution after some candidates withdrew is exact."""
    edges = random_edges(seed, n_cand, n_slot)
    first = solve_core(edges)
    gone = np.flatnonzero(np.random.default_rng(seed).random(len(edges.candidate_ids)) < share)
    warm = _cross_check(edges.without_candidates(gone), warm=first)
    assert warm.stats["warm"] == 1.0


def _changed(edges: Edges, rng: np.random.Generator, share: float) -> Edges:
    """``edges`` with about ``share`` of the candidates withdrawn, slot capacities moved by
    up to 2 and about ``share`` of the scores raised by 10."""
    cap = edges.slots.get_column("capacity").to_numpy()
    changed = dataclasses.replace(
        edges.without_candidates(np.flatnonzero(rng.random(len(edges.candidate_ids)) < share)),
        slots=pl.DataFrame({"capacity": np.maximum(0, cap + rng.integers(-2, 3, cap.size))}),
    )
    bumped = changed.score + np.where(rng.random(changed.score.size) < share, 10.0, 0.0)
    return dataclasses.replace(changed, score=bumped)


@settings(max_examples=examples(60), deadline=None)
@given(st.integers(0, 2**31), st.integers(1, 60), st.integers(1, 12), st.floats(0.0, 0.3))
def test_warm_start_after_any_change(seed: int, n_cand: int, n_slot: int, share: float) -> None:
    """Warm from an unrelated-looking change (capacities, scores, withdrawals) stays exact.

    The earlier potentials no longer fit many arcs then; the warm start must still end
    optimal with a valid certificate (or hand over to a cold solve), and a second warm
    start from the first one too.
    """
    edges = random_edges(seed, n_cand, n_slot)
    rng = np.random.default_rng(seed)
    first = solve_core(edges)
    changed = _changed(edges, rng, share)
    second = _cross_check(changed, warm=first)
    gone = np.flatnonzero(rng.random(len(edges.candidate_ids)) < share)
    _cross_check(changed.without_candidates(gone), warm=second)


def test_warm_start_hands_over_to_the_levels(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past its budget the shortest paths give up; the levels, started from the earlier
    score and rank prices, give the same optimum."""
    from matcher.solvers import core

    edges = random_edges(7, 60, 10)
    first = solve_core(edges)
    assert first.score_potentials.shape == first.potentials.shape
    assert first.rank_potentials.shape == first.potentials.shape
    changed = edges.without_candidates(np.arange(0, 60, 3))
    monkeypatch.setattr(core, "WARM_BUDGET_MIN", 0)
    monkeypatch.setattr(core, "WARM_BUDGET", 0)
    monkeypatch.setattr(core, "WARM_LEVEL_BUDGET", 10**6)  # a third withdrew: more than cold
    monkeypatch.setattr(core, "WARM_RANK_MAX_PUSHES", 10**6)
    sol = _cross_check(changed, warm=first)
    assert sol.stats["warm"] == 0.0 and sol.stats["warm_code"] == 1.0
    assert sol.stats["warm_levels"] == 1.0 and sol.stats["warm_rank"] == 1.0
    # When the score level moved much of the flow, the rank level runs cold: same optimum.
    monkeypatch.setattr(core, "WARM_RANK_MAX_PUSHES", 0)
    cold_rank = _cross_check(changed, warm=first)
    assert cold_rank.stats["warm_levels"] == 1.0 and "warm_rank" not in cold_rank.stats
    assert cold_rank.stats["score_pushes"] > 0
    # Another instance's solution (other node count) is ignored: a cold solve.
    other = _cross_check(random_edges(8, 30, 4), warm=first)
    assert other.stats["warm"] == 0.0 and "warm_levels" not in other.stats


@settings(max_examples=examples(60), deadline=None)
@given(st.integers(0, 2**31), st.integers(1, 60), st.integers(1, 12), st.floats(0.0, 0.3))
def test_warm_levels_after_any_change(seed: int, n_cand: int, n_slot: int, share: float) -> None:
    """The levels warm from earlier score prices are exact after any change (or hand over
    to a cold solve past their budget); a solution found by shortest paths has no score
    prices, so a re-solve from it past the paths' budget is cold."""
    from matcher.solvers import core

    edges = random_edges(seed, n_cand, n_slot)
    rng = np.random.default_rng(seed)
    first = solve_core(edges)
    gone = np.flatnonzero(rng.random(len(edges.candidate_ids)) < share)
    by_paths = _cross_check(edges.without_candidates(gone), warm=first)
    changed = _changed(edges, rng, share)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(core, "WARM_BUDGET_MIN", 0)
        mp.setattr(core, "WARM_BUDGET", 0)
        mp.setattr(core, "WARM_UPDATE_INTERVAL", 0.05)  # global updates early and often
        sol = _cross_check(changed, warm=first)
        assert sol.stats["warm"] == 1.0 or "warm_levels" in sol.stats
        sol = _cross_check(changed, warm=by_paths)
        if by_paths.stats["warm"] == 1.0:
            assert sol.stats["warm"] == 1.0 or "warm_levels" not in sol.stats


@FAST
@given(
    st.lists(st.tuples(st.integers(0, 5), st.integers(0, 300), st.integers(0, 3)), max_size=200),
    st.booleans(),
)
def test_edge_order_sorts_each_candidates_edges_by_rank(
    rows: list[tuple[int, int, int]], one_candidate: bool
) -> None:
    """A permutation that keeps every edge within its candidate's run (long runs take
    the merge sort, short ones the insertion sort) and orders each run by rank."""
    from matcher.solvers.core import _edge_key, _edge_order

    rows = sorted((0 if one_candidate else c, s, r) for c, s, r in rows)
    cand = np.array([r[0] for r in rows], dtype=np.int32)
    slot = np.array([r[1] for r in rows], dtype=np.int32)
    rank = np.array([r[2] for r in rows], dtype=np.int64)
    order = _edge_order(cand, slot, rank)
    assert sorted(order.tolist()) == list(range(len(rows)))
    assert (cand[order] == cand).all()
    keys = [_edge_key(cand, slot, rank, int(e)) for e in order]
    for k in range(1, len(rows)):
        if cand[k] == cand[k - 1]:
            assert rank[order[k]] >= rank[order[k - 1]] and keys[k] >= keys[k - 1]


@FAST
@given(
    st.lists(
        st.tuples(st.integers(0, 7), st.integers(0, 7), st.integers(0, 2), st.integers(-40, 40)),
        max_size=30,
    ),
    st.lists(st.integers(-60, 60), min_size=8, max_size=8),
    st.integers(1, 9),
    st.integers(1, 6),
)
def test_price_refine_contract(
    arcs: list[tuple[int, int, int, int]], prices: list[int], eps: int, clamp: int
) -> None:
    """Prices only fall, by at most ``clamp * eps``; when it reports success, every residual
    arc meets eps-optimality; it reports success exactly when a brute-force search finds
    such prices within the clamp (no negative cycle under lengths floor(rc/eps) + 1)."""
    from matcher.solvers.core import _build_arcs, _price_refine

    n = 8
    tails = np.array([a[0] for a in arcs], dtype=np.int64)
    heads = np.array([a[1] for a in arcs], dtype=np.int64)
    caps = np.array([a[2] for a in arcs], dtype=np.int64)
    costs = np.array([a[3] for a in arcs], dtype=np.int64)
    first, head, rcap, cost, _, _ = _build_arcs(n, tails, heads, caps, costs, 0)
    before = np.array(prices, dtype=np.int64)
    price = before.copy()
    _, clean = _price_refine(first, head, rcap, cost, price, eps, clamp, 50)
    drop = before - price
    assert (drop >= 0).all() and (drop <= clamp * eps).all() and (drop % eps == 0).all()
    tail = np.repeat(np.arange(n), np.diff(first))
    live = rcap > 0
    reduced = cost[live] + price[tail[live]] - price[head[live]]
    assert clean == bool((reduced >= -eps).all())
    # Bellman-Ford on the same system, d in [-clamp, 0]: a solution exists iff clean.
    length = (cost[live] + before[tail[live]] - before[head[live]]) // eps + 1
    d = np.zeros(n, dtype=np.int64)
    for _ in range(n * (clamp + 2)):
        nd = d.copy()
        np.minimum.at(nd, head[live], d[tail[live]] + length)
        nd = np.maximum(nd, -clamp)
        if (nd == d).all():
            break
        d = nd
    feasible = bool((d[head[live]] <= d[tail[live]] + length).all())
    assert clean == feasible


def test_certificate_rank_weight_must_separate_the_levels() -> None:
    edges = random_edges(3, 40, 8)
    sol = solve_core(edges)
    assert check_certificate(edges, sol.chosen, sol.potentials, rank_weight=sol.rank_weight) == []
    problems = check_certificate(edges, sol.chosen, sol.potentials, rank_weight=1)
    assert problems and "must exceed the rank range" in problems[0]


def test_tiny_instance() -> None:
    edges = build_edges(matcher.load_instance("instances/tiny"))
    sol = _cross_check(edges)
    assert sol.status is Status.OPTIMAL
    assert sorted(edges.cand[sol.chosen].tolist()) == [0, 1, 2, 3]


def test_generated_instance() -> None:
    from matcher.data.generate import generate_instance
    from matcher.data.load import instance_from_frames

    tables = generate_instance(candidates=3000, employers=200, seed=3, unlisted_share=0.05)
    inst = instance_from_frames(**tables, policy="instances/policies/japan-2026.toml")
    edges = build_edges(inst)
    sol = _cross_check(edges)
    # Warm start after 1% of the candidates withdrew (their edges removed, ids kept).
    gone = np.random.default_rng(0).choice(3000, 30, replace=False)
    changed = edges.without_candidates(gone)
    warm = _cross_check(changed, warm=sol)
    assert warm.stats["warm"] == 1.0
    # Past the paths' budget the levels run warm within a budget of their own, and past
    # that a cold solve: exact at every budget.
    from matcher.solvers import core

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(core, "WARM_BUDGET_MIN", 0)
        mp.setattr(core, "WARM_BUDGET", 0)
        seen = set()
        for budget in (0, 1, 2, 4, 8, 16, 32):
            mp.setattr(core, "WARM_LEVEL_BUDGET", budget)
            levels = _cross_check(changed, warm=sol)
            seen.add(levels.stats["warm_levels"])
        assert seen == {0.0, 1.0}
        # Global price updates in the warm levels' first phase (they run only after the
        # interval's relabel scans): exact however often they run.
        mp.setattr(core, "WARM_LEVEL_BUDGET", 10**6)
        updates = set()
        for interval in (0.001, 0.01, 0.1):
            mp.setattr(core, "WARM_UPDATE_INTERVAL", interval)
            levels = _cross_check(changed, warm=sol)
            assert levels.stats["warm_levels"] == 1.0
            updates.add(levels.stats["warm_updates"])
        assert max(updates) > 0


# -- degenerate cases -------------------------------------------------------------------


def test_no_edges() -> None:
    edges = make_edges([], [], [], n_cand=3, slot_cap=[2, 1])
    sol = _cross_check(edges)
    assert sol.status is Status.OPTIMAL and sol.chosen.size == 0


def test_no_slots_no_candidates() -> None:
    edges = make_edges([], [], [], n_cand=0, slot_cap=[])
    assert _cross_check(edges).chosen.size == 0


def test_all_capacity_zero() -> None:
    edges = make_edges([0, 0, 1], [0, 1, 1], [50.0, 60.0, 70.0], n_cand=2, slot_cap=[0, 0])
    assert _cross_check(edges).chosen.size == 0


@pytest.mark.parametrize("level", ["intake", "national", "total"])
def test_zero_caps(level: str) -> None:
    kw: dict[str, list[int]] = {f"{level}_cap": [0]}
    if level == "intake":
        kw["slot_intake"] = [0, 0]
    edges = make_edges([0, 1, 2], [0, 1, 1], [50.0, 60.0, 70.0], n_cand=3, slot_cap=[1, 1], **kw)
    assert _cross_check(edges).chosen.size == 0


def test_ties_everywhere() -> None:
    n_cand, n_slot = 30, 6
    cand = np.repeat(np.arange(n_cand), n_slot)
    slot = np.tile(np.arange(n_slot), n_cand)
    edges = make_edges(cand, slot, np.full(cand.size, 70.0), n_cand=n_cand, slot_cap=[3] * n_slot)
    assert _cross_check(edges).chosen.size == 18


def test_one_employer() -> None:
    edges = make_edges([0, 1, 2, 3], [0, 0, 0, 0], [10.0, 90.0, 50.0, 90.0], n_cand=4, slot_cap=[2])
    sol = _cross_check(edges)
    assert sorted(edges.cand[sol.chosen].tolist()) == [1, 3]


def test_huge_capacities() -> None:
    big = 10**15
    edges = make_edges(
        [0, 1, 1, 2], [0, 0, 1, 1], [10.0, 20.0, 30.0, 40.0], n_cand=3, slot_cap=[big, big],
        slot_intake=[0, 0], intake_cap=[big], national_cap=[big], total_cap=[big],
    )  # fmt: skip
    assert _cross_check(edges).chosen.size == 3


def test_candidates_without_edges() -> None:
    edges = make_edges([2, 5], [0, 0], [10.0, 20.0], n_cand=9, slot_cap=[1])
    sol = _cross_check(edges)
    assert edges.cand[sol.chosen].tolist() == [5]


def test_max_flow_beats_score() -> None:
    # C0 scores higher at S0, but placing it there leaves C1 out: two placed beat one.
    edges = make_edges([0, 0, 1], [0, 1, 0], [90.0, 10.0, 50.0], n_cand=2, slot_cap=[1, 1])
    sol = _cross_check(edges)
    assert sorted(zip(edges.cand[sol.chosen].tolist(), edges.slot[sol.chosen].tolist(), strict=True)) == [
        (0, 1),
        (1, 0),
    ]


# -- the certificate checker catches planted errors -------------------------------------


@pytest.fixture(scope="module")
def solved() -> tuple[Edges, CoreSolution]:
    edges = random_edges(7, 60, 10)
    sol = solve_core(edges)
    assert check_certificate(edges, sol.chosen, sol.potentials, rank_weight=sol.rank_weight) == []
    assert sol.chosen.size > 2
    return edges, sol


def test_certificate_catches_wrong_potential(solved: tuple[Edges, CoreSolution]) -> None:
    edges, sol = solved
    pot = sol.potentials.copy()
    pot[2 + int(edges.cand[sol.chosen[0]])] += 10**15  # placed candidate: its pair arc now too costly
    assert any("reduced cost" in p for p in check_certificate(edges, sol.chosen, pot))


def test_certificate_catches_non_maximum_flow(solved: tuple[Edges, CoreSolution]) -> None:
    edges, sol = solved
    assert check_certificate(edges, sol.chosen[1:], sol.potentials) != []
    # Also with potentials that make every reduced cost fine: the max-flow gap fails.
    flat = np.zeros_like(sol.potentials)
    problems = check_certificate(edges, np.zeros(0, np.int64), flat)
    assert any("maximum" in p for p in problems)


def test_certificate_catches_over_capacity(solved: tuple[Edges, CoreSolution]) -> None:
    edges, sol = solved
    placed = set(edges.cand[sol.chosen].tolist())
    extra = next(e for e in range(edges.n_pairs) if int(edges.cand[e]) not in placed)
    cap = edges.slots.get_column("capacity").to_numpy()
    slot = int(edges.slot[extra])
    held = int((edges.slot[sol.chosen] == slot).sum())
    chosen = np.append(sol.chosen, extra)
    problems = check_certificate(edges, chosen, sol.potentials)
    assert problems != []
    if held >= cap[slot]:
        assert any("slot caps exceeded" in p for p in problems)


def test_certificate_catches_double_placement(solved: tuple[Edges, CoreSolution]) -> None:
    edges, sol = solved
    _, other = next(
        (int(e), f)
        for e in sol.chosen
        for f in range(edges.n_pairs)
        if edges.cand[f] == edges.cand[e] and f != e
    )
    problems = check_certificate(edges, np.append(sol.chosen, other), sol.potentials)
    assert any("more than once" in p for p in problems)


def test_certificate_rejects_bad_shapes(solved: tuple[Edges, CoreSolution]) -> None:
    edges, sol = solved
    assert check_certificate(edges, sol.chosen, sol.potentials[:-1]) != []
    assert check_certificate(edges, np.array([edges.n_pairs]), sol.potentials) != []
    assert check_certificate(edges, np.append(sol.chosen, sol.chosen[0]), sol.potentials) != []


@settings(max_examples=examples(60), deadline=None)
@given(st.integers(0, 2**31), st.integers(1, 40), st.integers(1, 8))
def test_tree_flow_warm_start_after_cost_changes(seed: int, n_cand: int, n_slot: int) -> None:
    """``solve_tree_flow`` with a ``state`` (the Lagrangian's relaxed flows) re-solves from
    the last flow and potentials after the pair costs move; each result costs exactly as
    much as a cold solve's and keeps every capacity."""
    from matcher.solvers.core import solve_tree_flow

    rng = np.random.default_rng(seed)
    pairs = [(c, s) for c in range(n_cand) for s in range(n_slot) if rng.random() < 0.5]
    cand = np.array([c for c, _ in pairs], dtype=np.int64)
    slot = np.array([s for _, s in pairs], dtype=np.int64)
    # Slots under two groups under one root; caps small enough to bind.
    parent = np.concatenate([n_slot + rng.integers(0, 2, n_slot), [n_slot + 2, n_slot + 2, -1]])
    caps = np.concatenate([rng.integers(0, 4, n_slot), rng.integers(0, 6, 2), [rng.integers(0, 8)]])
    cands = np.unique(cand)
    state: dict[str, object] = {}
    costs = -rng.integers(0, 100, cand.size)
    for _ in range(4):
        warm = solve_tree_flow(
            cand, slot, [costs], cands, n_cand, n_slot, parent, caps, max_flow_first=False, state=state
        )  # type: ignore[arg-type]
        cold = solve_tree_flow(cand, slot, [costs], cands, n_cand, n_slot, parent, caps, max_flow_first=False)
        assert int(costs[warm].sum()) == int(costs[cold].sum())
        assert np.unique(cand[warm]).size == warm.size
        load = np.bincount(slot[warm], minlength=n_slot)
        assert (load <= caps[:n_slot]).all()
        group = np.bincount(parent[slot[warm]] - n_slot, minlength=2)
        assert (group <= caps[n_slot : n_slot + 2]).all() and warm.size <= caps[-1]
        moved = rng.random(cand.size) < 0.3
        costs = np.where(moved, costs + rng.integers(-60, 61, cand.size), costs)
    assert state.get("warm_solves", 0) == (3 if cand.size else 0)


def _ortools_tree_cost(
    cand: npt.NDArray[np.int64],
    slot: npt.NDArray[np.int64],
    costs: npt.NDArray[np.int64],
    n_cand: int,
    parent: npt.NDArray[np.int64],
    caps: npt.NDArray[np.int64],
    bonus: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]],
) -> int:
    """Least cost of the same network by OR-Tools (each candidate placed or not, at cost 0)."""
    from ortools.graph.python import min_cost_flow

    mcf = min_cost_flow.SimpleMinCostFlow()
    src, sink, base = 0, 1, 2 + n_cand
    for c in range(n_cand):
        mcf.add_arc_with_capacity_and_unit_cost(src, 2 + c, 1, 0)
    mcf.add_arc_with_capacity_and_unit_cost(src, sink, n_cand, 0)
    for c, s, w in zip(cand, slot, costs, strict=True):
        mcf.add_arc_with_capacity_and_unit_cost(2 + int(c), base + int(s), 1, int(w))
    for v, (p, cap) in enumerate(zip(parent, caps, strict=True)):
        mcf.add_arc_with_capacity_and_unit_cost(base + v, sink if p < 0 else base + int(p), int(cap), 0)
    for v, cap, w in zip(*bonus, strict=True):
        p = int(parent[v])
        mcf.add_arc_with_capacity_and_unit_cost(base + int(v), sink if p < 0 else base + p, int(cap), int(w))
    mcf.set_node_supply(src, n_cand)
    mcf.set_node_supply(sink, -n_cand)
    assert mcf.solve() == mcf.OPTIMAL
    return int(mcf.optimal_cost())


@settings(max_examples=examples(80), deadline=None)
@given(st.integers(0, 2**31), st.integers(1, 30), st.integers(1, 8))
def test_tree_flow_bonus_arcs_match_ortools(seed: int, n_cand: int, n_slot: int) -> None:
    """Bonus arcs beside tree nodes' up-arcs (a concave reward on the first units through a
    node: the Lagrangian's floors over several slots) give OR-Tools' least cost, cold and
    warm after the pair costs move."""
    from matcher.solvers.core import solve_tree_flow

    rng = np.random.default_rng(seed)
    pairs = [(c, s) for c in range(n_cand) for s in range(n_slot) if rng.random() < 0.5]
    cand = np.array([c for c, _ in pairs], dtype=np.int64)
    slot = np.array([s for _, s in pairs], dtype=np.int64)
    # Slots under two groups (no caps of their own) under a capped root.
    parent = np.concatenate([n_slot + rng.integers(0, 2, n_slot), [n_slot + 2, n_slot + 2, -1]])
    caps = np.concatenate([rng.integers(0, 4, n_slot), [n_cand + 1, n_cand + 1], [rng.integers(0, 10)]])
    bonus = (
        n_slot + np.arange(2, dtype=np.int64),
        rng.integers(0, 5, 2).astype(np.int64),
        -rng.integers(0, 150, 2).astype(np.int64),
    )
    cands = np.unique(cand)
    state: dict[str, object] = {}
    costs = rng.integers(-100, 20, cand.size).astype(np.int64)
    for _ in range(3):
        chosen = solve_tree_flow(
            cand, slot, [costs], cands, n_cand, n_slot, parent, caps, max_flow_first=False, state=state,
            bonus=bonus,
        )  # type: ignore[arg-type]  # fmt: skip
        assert np.unique(cand[chosen]).size == chosen.size
        load = np.bincount(slot[chosen], minlength=n_slot)
        assert (load <= caps[:n_slot]).all() and chosen.size <= caps[-1]
        group = np.bincount(parent[slot[chosen]] - n_slot, minlength=2)
        got = int(costs[chosen].sum()) + int(bonus[2] @ np.minimum(group, bonus[1]))
        assert got == _ortools_tree_cost(cand, slot, costs, n_cand, parent, caps, bonus)
        costs = costs + np.where(rng.random(cand.size) < 0.3, rng.integers(-60, 61, cand.size), 0)
    assert state.get("warm_solves", 0) == (2 if cand.size else 0)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_warm_start_after_an_employer_joins_or_leaves(seed: int) -> None:
    """Another instance's solution is matched to this one's nodes by key (candidate ids,
    employer and sector): a warm start after an employer joined, or left, is exact."""
    from matcher.data.generate import generate_instance
    from matcher.data.load import instance_from_frames

    tables = generate_instance(candidates=600, employers=40, seed=seed)
    policy = "instances/policies/japan-2026.toml"
    full = build_edges(instance_from_frames(**tables, policy=policy))
    gone = tables["employers"].get_column("employer_id")[seed]
    without = {
        k: (v.filter(pl.col("employer_id") != gone) if "employer_id" in v.columns else v)
        for k, v in tables.items()
    }
    part = build_edges(instance_from_frames(**without, policy=policy))
    assert part.slots.height < full.slots.height
    before = solve_core(part)
    joined = _cross_check(full, warm=before)
    assert joined.stats["warm_new_nodes"] == full.slots.height - part.slots.height + (
        full.caps.intakes.height - part.caps.intakes.height
    )
    # The earlier solution was used: by the shortest paths, or (when they cannot, e.g.
    # a rank weight too small for the longer lists) by the levels.
    assert joined.stats["warm"] == 1.0 or joined.stats["warm_levels"] == 1.0
    left = _cross_check(part, warm=joined)
    assert left.stats["warm"] == 1.0 or left.stats["warm_levels"] == 1.0
    assert left.stats["warm_new_nodes"] == 0


@FAST
@given(instances(max_candidates=10, max_employers=4))
def test_node_map_is_a_permutation_within_each_kind(inst: Instance) -> None:
    """The solver's own node numbering (memory locality) only reorders candidates among
    candidates and slots among slots, so the documented numbering can be restored."""
    from matcher.solvers.core import _node_map
    from matcher.solvers.network import flow_network

    edges = build_edges(inst)
    net = flow_network(edges, score_decimals=2)
    node_map = _node_map(net, edges, edges.rank.astype(np.int64))
    n_slot = edges.slots.height
    assert sorted(node_map.tolist()) == list(range(net.num_nodes))
    cands = node_map[net.cand0 : net.slot0]
    slots = node_map[net.slot0 : net.slot0 + n_slot]
    assert cands.min(initial=net.cand0) >= net.cand0 and cands.max(initial=0) < net.slot0
    assert slots.min(initial=net.slot0) >= net.slot0 and slots.max(initial=0) < net.slot0 + n_slot
    assert (node_map[: net.cand0] == np.arange(net.cand0)).all()
    assert (node_map[net.slot0 + n_slot :] == np.arange(net.slot0 + n_slot, net.num_nodes)).all()


@settings(max_examples=examples(40), deadline=None)
@given(st.integers(0, 2**31), st.integers(1, 60), st.integers(1, 12))
def test_early_exact_score_level_matches_ortools(seed: int, n_cand: int, n_slot: int) -> None:
    """Scores up to 96 put a phase at epsilon 3 in the score level's schedule, after which
    exact potentials are tried early (``EARLY_EXACT_EPS``); converged or not, the result is
    optimal."""
    edges = random_edges(seed, n_cand, n_slot)
    edges = dataclasses.replace(edges, score=np.round(edges.score * 2.4, 2))
    sol = _cross_check(edges)
    from matcher.solvers.core import EARLY_EXACT_EPS, SCALE_FACTOR

    eps, schedule = int(np.rint(edges.score.max() * 100)), []
    while eps > 1:
        eps = -(-eps // SCALE_FACTOR)
        schedule.append(eps)
    if any(1 < e <= EARLY_EXACT_EPS for e in schedule):
        assert "score_early_exact" in sol.stats
