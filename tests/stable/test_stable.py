"""Stable matching: equals the `matching` package, no blocking pairs, cutoffs explain outcomes."""

from __future__ import annotations

import warnings

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import matcher
from matcher import Instance
from matcher.data.policy import policy_from_dict
from matcher.verification.stability import blocking_pairs
from tests.oracle import eligible_pairs
from tests.strategies import examples, instances

SETTINGS = settings(max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def strict_hr(draw: st.DrawFn) -> tuple[Instance, dict[str, list[str]], dict[str, list[str]], dict[str, int]]:
    """A plain hospital-residents instance with strict preferences on both sides."""
    nc = draw(st.integers(1, 12))
    ne = draw(st.integers(1, 5))
    cids = [f"c{i:02d}" for i in range(nc)]
    eids = [f"e{i}" for i in range(ne)]
    scores = draw(st.permutations(list(range(nc))))  # distinct: strict priorities
    caps = {e: draw(st.integers(1, 3)) for e in eids}  # the package rejects capacity 0
    prefs = {c: list(draw(st.permutations(eids)))[: draw(st.integers(1, ne))] for c in cids}
    inst = matcher.instance_from_frames(
        candidates=pl.DataFrame(
            {"candidate_id": cids, "nationality": "VN", "japanese_level": "A1", "track": "esdp"}
        ),
        aptitudes=pl.DataFrame(
            {"candidate_id": cids, "sector": "agriculture", "score": [float(s) for s in scores]}
        ),
        employers=pl.DataFrame({"employer_id": eids, "prefecture": "Iwate", "full_time_staff": 10}),
        slots=pl.DataFrame(
            {
                "employer_id": eids,
                "sector": "agriculture",
                "track": "esdp",
                "capacity": [caps[e] for e in eids],
            }
        ),
        preferences=pl.DataFrame(
            [
                {"candidate_id": c, "employer_id": e, "rank": r + 1}
                for c, lst in prefs.items()
                for r, e in enumerate(lst)
            ],
            schema={"candidate_id": pl.String, "employer_id": pl.String, "rank": pl.Int64},
        ),
    )
    score = dict(zip(cids, scores, strict=True))
    hospital = {e: sorted((c for c in cids if e in prefs[c]), key=lambda c: -score[c]) for e in eids}
    return inst, prefs, hospital, caps


def _matching_package(
    prefs: dict[str, list[str]], hospital: dict[str, list[str]], caps: dict[str, int], optimal: str
) -> set[tuple[str, str]]:
    from matching.games import HospitalResident

    # The package cannot take a hospital nobody ranked: leave those out (they stay empty).
    hospital = {h: rs for h, rs in hospital.items() if rs}
    caps = {h: c for h, c in caps.items() if h in hospital}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        game = HospitalResident.create_from_dictionaries(prefs, hospital, caps)
        result = game.solve(optimal=optimal)
    return {(str(r), str(h)) for h, rs in result.items() for r in rs}


@SETTINGS
@given(strict_hr())
def test_candidate_proposing_equals_matching_package(
    case: tuple[Instance, dict[str, list[str]], dict[str, list[str]], dict[str, int]],
) -> None:
    inst, prefs, hospital, caps = case
    res = matcher.solve(inst, method="stable", compare_optimal=False)
    got = set(res.assignments.select("candidate_id", "employer_id").iter_rows())
    assert got == _matching_package(prefs, hospital, caps, "resident")
    assert res.summary["stable"]["blocking"]["blocking_pairs"] == 0


@SETTINGS
@given(strict_hr())
def test_employer_proposing_equals_matching_package(
    case: tuple[Instance, dict[str, list[str]], dict[str, list[str]], dict[str, int]],
) -> None:
    inst, prefs, hospital, caps = case
    res = matcher.solve(inst, method="stable", proposing="employer", compare_optimal=False)
    got = set(res.assignments.select("candidate_id", "employer_id").iter_rows())
    assert got == _matching_package(prefs, hospital, caps, "hospital")


def _without_distributional_caps(inst: Instance) -> Instance:
    data = inst.policy.model_dump()
    data["total_caps"] = {}
    for sp in data["sectors"].values():
        sp["caps"] = {}
    return Instance(**{**inst.__dict__, "policy": policy_from_dict(data)})


@SETTINGS
@given(
    instances(max_candidates=10, max_employers=4, fractional=True),
    st.sampled_from(["candidate", "employer"]),
    st.integers(0, 3),
)
def test_no_blocking_pairs_without_caps(inst: Instance, proposing: str, seed: int) -> None:
    inst = _without_distributional_caps(inst)
    res = matcher.solve(inst, method="stable", proposing=proposing, seed=seed)
    assert res.summary["stable"]["blocking"]["blocking_pairs"] == 0, res.tables["blocking_pairs"]


@SETTINGS
@given(instances(max_candidates=10, max_employers=4, fractional=True), st.integers(0, 3))
def test_candidate_placed_at_best_program_whose_cutoff_it_clears(inst: Instance, seed: int) -> None:
    inst = _without_distributional_caps(inst)
    res = matcher.solve(inst, method="stable", seed=seed, compare_optimal=False)
    cut = {
        (r["employer_id"], r["sector"], r["track"]): r for r in res.tables["cutoffs"].iter_rows(named=True)
    }
    lot = dict(
        zip(
            inst.candidates["candidate_id"],
            matcher.eligibility.lottery.lottery_numbers(inst.candidates["candidate_id"], seed),
            strict=True,
        )
    )
    got = {
        r["candidate_id"]: (r["employer_id"], r["sector"], r["track"])
        for r in res.assignments.iter_rows(named=True)
    }
    listed = set(inst.preferences["candidate_id"])
    by_cand: dict[str, list[tuple[int, float, str, tuple[str, str, str]]]] = {}
    for p in eligible_pairs(inst):
        by_cand.setdefault(p.cand, []).append((p.rank, -p.score, p.slot[1], p.slot))
    for c, options in by_cand.items():
        if c not in listed:
            continue  # indifferent: any program it clears is as good
        clears = []
        for _, _, _, slot in sorted(options):
            row = cut[slot]
            score = next(-s / 100 for r, s, _, sl in options if sl == slot)
            ok = not row["filled"] or (
                row["cutoff_score"] is not None
                and (score, -lot[c]) >= (row["cutoff_score"], -row["cutoff_lottery"])
            )
            if ok:
                clears.append(slot)
        assert got.get(c) == (clears[0] if clears else None)


@SETTINGS
@given(instances(max_candidates=8, max_employers=3, with_policy=False), st.integers(0, 4))
def test_blocking_pair_checker_against_brute_force(inst: Instance, seed: int) -> None:
    """On welfare-optimal assignments (often unstable), compare with a plain-loop check."""
    res = matcher.solve(inst, method="optimal")
    got = {(r[0], r[1], r[2], r[3]) for r in blocking_pairs(inst, res.assignments, seed=seed).iter_rows()}
    assert got == _brute_blocking(inst, res.assignments, seed)


def test_blocking_pair_checker_finds_instability() -> None:
    res = matcher.solve(matcher.load_instance("instances/tiny"))  # welfare optimum: C1 at E2
    pairs = blocking_pairs(matcher.load_instance("instances/tiny"), res.assignments, seed=0)
    # C1 prefers E1 (rank 1) and E1 prefers C1 (90) to C2 (85): a blocking pair.
    assert pairs.select("candidate_id", "employer_id", "reason").rows() == [("C1", "E1", "displaces")]


def _brute_blocking(inst: Instance, a: pl.DataFrame, seed: int) -> set[tuple[str, str, str, str]]:
    lot = dict(
        zip(
            inst.candidates["candidate_id"],
            matcher.eligibility.lottery.lottery_numbers(inst.candidates["candidate_id"], seed),
            strict=True,
        )
    )
    own = {r["candidate_id"]: r for r in a.iter_rows(named=True)}
    held: dict[tuple[str, str, str], list[tuple[float, int]]] = {}
    for r in a.iter_rows(named=True):
        held.setdefault((r["employer_id"], r["sector"], r["track"]), []).append(
            (-r["score"], lot[r["candidate_id"]])
        )
    cap = {
        (r["employer_id"], r["sector"], r["track"]): r["capacity"] for r in inst.slots.iter_rows(named=True)
    }
    listed = set(inst.preferences["candidate_id"])
    out = set()
    for p in eligible_pairs(inst):
        o = own.get(p.cand)
        if o is not None:
            if p.cand not in listed:
                continue
            mine = (o["employer_id"], o["sector"], o["track"])
            if mine == p.slot:
                continue
            o_rank = o["pref_rank"]
            better = (p.rank, -p.score, p.slot[1]) < (o_rank, -round(o["score"] * 100), o["sector"])
            if not better:
                continue
        h = held.get(p.slot, [])
        key = (-p.score / 100, lot[p.cand])
        if len(h) < cap[p.slot] or key < max(h):
            out.add((p.cand, *p.slot))
    return out


def test_stable_on_tiny_and_price_of_stability() -> None:
    res = matcher.solve(matcher.load_instance("instances/tiny"), method="stable")
    assert set(res.assignments.select("candidate_id", "employer_id").iter_rows()) == {
        ("C1", "E1"),
        ("C3", "E3"),
        ("C4", "E2"),
    }
    pos = res.summary["price_of_stability"]
    assert pos["optimal"]["matched"] == 4 and pos["matched_lost"] == 1 and pos["score_lost"] == 65.0


def test_naive_caps_hold_and_are_reported() -> None:
    inst = matcher.load_instance("instances/sample", policy="instances/policies/japan-2026.toml")
    data = inst.policy.model_dump()
    data["sectors"]["food_beverage_manufacturing"]["caps"] = {"esdp": 20, "ssw": 30}
    data["total_caps"] = {"esdp": 400}
    inst = Instance(**{**inst.__dict__, "policy": policy_from_dict(data)})
    res = matcher.solve(inst, method="stable", seed=1)
    a = res.assignments
    fb = a.filter(pl.col("sector") == "food_beverage_manufacturing")
    assert fb.filter(pl.col("track") == "esdp").height <= 20
    assert fb.filter(pl.col("track") != "esdp").height <= 30
    assert a.filter(pl.col("track") == "esdp").height <= 400
    b = res.summary["stable"]["blocking"]
    assert b["blocking_pairs"] == b["satisfiable"] + b["cap_forbidden"]


def test_unknown_options_are_refused() -> None:
    inst = matcher.load_instance("instances/tiny")
    with pytest.raises(ValueError, match="proposing must be one of candidate, employer"):
        matcher.solve(inst, method="stable", proposing="both")
    with pytest.raises(ValueError, match="caps must be one of"):
        matcher.solve(inst, method="stable", caps="magic")
    with pytest.raises(ValueError, match="flexible DA is candidate-proposing"):
        matcher.solve(inst, method="stable", caps="flexible", proposing="employer")


def test_cli_refuses_flexible_with_employer_proposing() -> None:
    from typer.testing import CliRunner

    from matcher.cli import app

    res = CliRunner().invoke(
        app,
        ["solve", "instances/tiny", "--method", "stable", "--caps", "flexible", "--proposing", "employer"],
    )
    assert res.exit_code == 2
    assert "needs --proposing candidate" in res.stderr and "Traceback" not in res.output


def _outcome_key(res: matcher.MatchResult) -> dict[str, tuple[int, float, str]]:
    return {
        r["candidate_id"]: (r["pref_rank"] or 0, -r["score"], r["sector"])
        for r in res.assignments.iter_rows(named=True)
    }


@SETTINGS
@given(instances(max_candidates=10, max_employers=4, fractional=True, regional=True), st.integers(0, 3))
def test_flexible_weakly_better_than_naive_for_every_listed_candidate(inst: Instance, seed: int) -> None:
    """Kamada and Kojima: flexible DA (targets = naive shares) makes no candidate worse off."""
    naive = matcher.solve(inst, method="stable", caps="naive", seed=seed, compare_optimal=False)
    flex = matcher.solve(inst, method="stable", caps="flexible", seed=seed, compare_optimal=False)
    assert flex.objective.matched >= naive.objective.matched
    n_key, f_key = _outcome_key(naive), _outcome_key(flex)
    listed = set(inst.preferences["candidate_id"])
    for c, k in n_key.items():
        assert c in f_key, f"{c} placed under naive, not under flexible"
        if c in listed:
            assert f_key[c] <= k


def test_flexible_fills_what_naive_leaves_empty() -> None:
    """Two employers share a cap of 2; naive gives each 1, but only one has applicants."""
    inst = matcher.instance_from_frames(
        candidates=pl.DataFrame(
            {"candidate_id": ["a", "b"], "nationality": "VN", "japanese_level": "A1", "track": "esdp"}
        ),
        aptitudes=pl.DataFrame({"candidate_id": ["a", "b"], "sector": "agriculture", "score": [80.0, 70.0]}),
        employers=pl.DataFrame({"employer_id": ["e1", "e2"], "prefecture": "Iwate", "full_time_staff": 10}),
        slots=pl.DataFrame(
            {"employer_id": ["e1", "e2"], "sector": "agriculture", "track": "esdp", "capacity": [2, 2]}
        ),
        preferences=pl.DataFrame({"candidate_id": ["a", "b"], "employer_id": ["e1", "e1"], "rank": [1, 1]}),
        policy=policy_from_dict({"sectors": {"agriculture": {"caps": {"esdp": 2}}}}),
    )
    naive = matcher.solve(inst, method="stable", caps="naive")
    flex = matcher.solve(inst, method="stable", caps="flexible")
    assert naive.objective.matched == 1 and naive.summary["stable"]["blocking"]["satisfiable"] == 1
    assert flex.objective.matched == 2 and flex.summary["stable"]["blocking"]["blocking_pairs"] == 0


def _with_regional(inst: Instance, caps: list[dict[str, object]]) -> Instance:
    data = inst.policy.model_dump()
    data["regional_caps"] = caps
    return Instance(**{**inst.__dict__, "policy": policy_from_dict(data)})


@pytest.mark.parametrize("caps", ["naive", "flexible"])
def test_regional_caps_hold_in_stable_matching(caps: str) -> None:
    inst = matcher.load_instance("instances/sample", policy="instances/policies/japan-2026.toml")
    inst = _with_regional(
        inst,
        [
            {"name": "metro", "region": "metro", "cap": 300},
            {"prefectures": ["Hokkaido"], "cap": 5, "groups": ["esdp"]},
        ],
    )
    res = matcher.solve(inst, method="stable", caps=caps)  # the verifier checks every cap
    a = res.assignments.join(inst.employers.select("employer_id", "prefecture"), on="employer_id")
    assert a.filter(pl.col("prefecture").is_in(list(inst.policy.regions["metro"]))).height <= 300
    assert a.filter((pl.col("prefecture") == "Hokkaido") & (pl.col("track") == "esdp")).height <= 5
    # The two caps are disjoint, so they nest above the employers: the optimum is one flow.
    pos = res.summary["price_of_stability"]
    assert pos is not None and pos["matched_lost"] >= 0
    assert pos["optimal"]["matched"] == res.objective.matched + pos["matched_lost"]


def test_price_of_stability_under_regional_caps_uses_cpsat() -> None:
    inst = _with_regional(matcher.load_instance("instances/tiny"), [{"prefectures": ["Tokyo"], "cap": 0}])
    res = matcher.solve(inst, method="stable")
    pos = res.summary["price_of_stability"]
    assert pos["optimal"] == {"matched": 3, "total_score": 245.0}
    assert pos["matched_lost"] == 3 - res.objective.matched


def test_regional_cap_forbidden_pairs_are_classified() -> None:
    inst = matcher.load_instance("instances/sample", policy="instances/policies/japan-2026.toml")
    inst = _with_regional(inst, [{"name": "metro", "region": "metro", "cap": 300}])
    flex = matcher.solve(inst, method="stable", caps="flexible")
    naive = matcher.solve(inst, method="stable", caps="naive")
    pairs = flex.tables["blocking_pairs"]
    assert (pairs.filter(pl.col("cap_forbidden"))["cap"] == "regional metro").all()
    assert flex.summary["stable"]["blocking"]["cap_forbidden"] > 0
    assert flex.objective.matched >= naive.objective.matched
    assert (
        flex.summary["stable"]["blocking"]["satisfiable"] < naive.summary["stable"]["blocking"]["satisfiable"]
    )


def test_optimal_keeps_regional_caps_with_cpsat_and_the_flow_refuses_them() -> None:
    inst = _with_regional(matcher.load_instance("instances/tiny"), [{"prefectures": ["Tokyo"], "cap": 0}])
    # One prefecture's cap nests below the employers: one exact flow by default.
    res = matcher.solve(inst)
    assert res.summary["backend"] == "lagrange" and res.status is matcher.Status.OPTIMAL
    # E1 (Tokyo) is closed: C2 has nowhere to go; C1 keeps E2 (70); C3, C4 as before.
    assert (res.objective.matched, res.objective.total_score) == (3, 245.0)
    res = matcher.solve(inst, backend="cpsat")
    assert res.status is matcher.Status.OPTIMAL
    assert (res.objective.matched, res.objective.total_score) == (3, 245.0)
    with pytest.raises(matcher.MatcherError, match="regional caps"):
        matcher.solve(inst, backend="ortools")
