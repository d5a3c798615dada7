"""The independent verifier catches a planted violation of every kind it knows.

Every case starts from a correct solve of the tiny instance, plants one violation and
checks that exactly the expected kinds are reported. The tiny instance's neutral optimum:

    C1 -> E2 agriculture esdp  70  rank 2
    C2 -> E1 food_service esdp 85
    C3 -> E3 food_service ssw1 80
    C4 -> E2 agriculture esdp  95
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from typer.testing import CliRunner

from matcher import Instance, instance_from_frames, load_instance, solve
from matcher.cli import app
from matcher.data.policy import load_policy, policy_from_dict
from matcher.verification.assignment import KINDS, verify_assignment

runner = CliRunner()
Rows = list[dict[str, Any]]


@pytest.fixture(scope="module")
def neutral_rows() -> Rows:
    return solve(
        load_instance(Path(__file__).resolve().parents[2] / "instances" / "tiny")
    ).assignments.to_dicts()


def _frame(rows: Rows) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={
            "candidate_id": pl.String,
            "employer_id": pl.String,
            "sector": pl.String,
            "track": pl.String,
            "score": pl.Float64,
            "pref_rank": pl.Int64,
        },
    )


def _move(rows: Rows, cand: str, **changes: Any) -> Rows:
    """The rows with candidate ``cand``'s row changed."""
    assert any(r["candidate_id"] == cand for r in rows)
    return [({**r, **changes} if r["candidate_id"] == cand else dict(r)) for r in rows]


def _drop(rows: Rows, cand: str) -> Rows:
    return [dict(r) for r in rows if r["candidate_id"] != cand]


def _row(
    cand: str, emp: str, sector: str, track: str, score: float, rank: int | None = None
) -> dict[str, Any]:
    return {
        "candidate_id": cand,
        "employer_id": emp,
        "sector": sector,
        "track": track,
        "score": score,
        "pref_rank": rank,
    }


def test_correct_result_verifies_clean(tiny_dir: Path, japan_policy_path: Path) -> None:
    for policy in (None, japan_policy_path):
        inst = load_instance(tiny_dir, policy=policy)
        res = solve(inst, verify=False)
        check = verify_assignment(inst, res.assignments, objective=res.objective.as_dict())
        assert check.ok, str(check)
        assert check.violations == [] and str(check) == "verified: no violation"
        assert check.objective == res.objective.as_dict()
    assert check.objective == {"matched": 3, "total_score": 235.0, "rank_sum": 2}


def test_empty_assignment_verifies_clean(tiny_dir: Path) -> None:
    inst = load_instance(tiny_dir)
    check = verify_assignment(inst, _frame([]), objective={"matched": 0, "total_score": 0.0, "rank_sum": 0})
    assert check.ok, str(check)


# ---- one planted violation per kind -------------------------------------------------
Plant = Callable[[Rows], Rows]
PolicySpec = dict[str, Any] | str | None

CAPPED_INTAKE_TOML = """
name = "one-esdp-per-employer"
[[intake]]
group = "esdp"
tiers = [[100, 1]]
"""

#: id, policy (dict / "japan" / TOML text), planted change, expected kinds, substring of an example.
CASES: list[tuple[str, PolicySpec, Plant, set[str], str]] = [
    ("malformed", None, lambda r: [{k: v for k, v in x.items() if k != "score"} for x in r], {"malformed"}, "missing column score"),
    ("unknown_candidate", None, lambda r: _move(r, "C2", candidate_id="C9"), {"unknown_candidate", "no_aptitude"}, "C9 at E1"),
    ("unknown_slot", None, lambda r: _move(r, "C1", employer_id="E1", pref_rank=1), {"unknown_slot"}, "C1 at E1"),
    ("duplicate_candidate", None, lambda r: [*_drop(r, "C2"), _row("C1", "E1", "food_service", "esdp", 90, 1)], {"duplicate_candidate"}, "C1 at E"),
    ("track_mismatch", None, lambda r: [*_drop(r, "C2"), _row("C5", "E1", "food_service", "esdp", 60)], {"track_mismatch"}, "C5 at E1"),
    ("no_aptitude", None, lambda r: _move(_drop(r, "C2"), "C4", employer_id="E1", sector="food_service"), {"no_aptitude"}, "C4 at E1"),
    ("below_min_score", {"rules": {"esdp": {"min_score": 75}}}, lambda r: r, {"below_min_score"}, "C1 at E2"),
    ("language", "japan", lambda r: [*r, _row("C4", "E2", "agriculture", "esdp", 95)], {"language"}, "C4 at E2"),
    ("skills_test_passed", {"rules": {"ssw1": {"skills_test_required": True}}}, lambda r: [*_drop(r, "C3"), _row("C3", "E3", "food_service", "ssw1", 80)], set(), ""),
    ("skills_test", {"rules": {"esdp": {"skills_test_required": True}}}, lambda r: r, {"skills_test"}, "C2 at E1"),
    ("employer_language", None, lambda r: [*_drop(r, "C3"), _row("C5", "E3", "food_service", "ssw1", 60)], {"employer_language"}, "C5 at E3"),
    ("program_not_offered", {"sectors": {"food_service": {"tracks": ["ssw1"]}, "agriculture": {}}}, lambda r: r, {"program_not_offered"}, "C2 at E1"),
    ("score_mismatch", None, lambda r: _move(r, "C2", score=99.0), {"score_mismatch"}, "C2 at E1"),
    ("rank_mismatch", None, lambda r: _move(r, "C1", pref_rank=1), {"rank_mismatch"}, "C1 at E2"),
    ("rank_mismatch", None, lambda r: _move(r, "C2", pref_rank=1), {"rank_mismatch"}, "C2 at E1"),
    ("slot_capacity", None, lambda r: _move(r, "C1", employer_id="E1", sector="food_service", score=90.0, pref_rank=1), {"slot_capacity"}, "E1/food_service/esdp: 2 > 1"),
    ("intake_cap", CAPPED_INTAKE_TOML, lambda r: r, {"intake_cap"}, "E2/agriculture/esdp: 2 > 1"),
    ("national_cap", {"sectors": {"agriculture": {"caps": {"esdp": 1}}, "food_service": {}}}, lambda r: r, {"national_cap"}, "agriculture/esdp: 2 > 1"),
    ("total_cap", {"total_caps": {"esdp": 2}}, lambda r: r, {"total_cap"}, "esdp: 3 > 2"),
    ("employer_cap", {"intake": [{"name": "staff", "group": "esdp", "per": "employer", "tiers": [[100, 1]]}]}, lambda r: r, {"employer_cap"}, "E2 (staff): 2 > 1"),
    ("regional_cap", {"regions": {"north": ["Hokkaido"]}, "regional_caps": [{"name": "north", "region": "north", "cap": 1}]}, lambda r: r, {"regional_cap"}, "north: 2 > 1"),
    ("regional_cap", {"regional_caps": [{"prefectures": ["Tokyo", "Hokkaido"], "cap": 2, "groups": ["esdp"]}]}, lambda r: r, {"regional_cap"}, "regional_caps[0]: 3 > 2"),
    ("nationality_share", {"diversity": {"max_share": 0.5, "exempt_up_to": 0}}, lambda r: r, {"nationality_share"}, "E1/ID: 1 of 1"),
    ("nationality_share", {"diversity": {"max_share": 0.5}}, lambda r: [*r, _row("C5", "E2", "agriculture", "esdp", 60)], {"nationality_share", "track_mismatch", "no_aptitude", "slot_capacity"}, "E2/VN: 2 of 3"),
    ("peer_support", {"diversity": {"peer_support": True}}, lambda r: r, {"peer_support"}, "E1/ID: 1 < 2"),
    ("floor", {"floors": [{"prefectures": ["Tokyo"], "min": 2}]}, lambda r: r, {"floor"}, "floors[0]: 1 < 2"),
    ("floor", {"regions": {"metro": ["Tokyo"]}, "floors": [{"name": "rural", "outside_region": "metro", "min_share": 1.0, "per": "employer"}]}, lambda r: _drop(r, "C4"), {"floor"}, "rural/E2: 1 < 2"),
    ("floor_soft_is_no_violation", {"floors": [{"prefectures": ["Tokyo"], "min": 2, "penalty": 1}]}, lambda r: r, set(), ""),
]  # fmt: skip


def _instance(tiny_dir: Path, japan: Path, spec: PolicySpec, tmp_path: Path) -> Instance:
    if spec == "japan":
        return load_instance(tiny_dir, policy=japan)
    if isinstance(spec, str):
        path = tmp_path / "policy.toml"
        path.write_text(spec, encoding="utf-8")
        return load_instance(tiny_dir, policy=load_policy(path))
    if spec is not None and "sectors" in spec:
        # A program the policy does not offer cannot pass validation; verify a result made
        # under the neutral policy against this one (the assignment is checked, not the input).
        inst = load_instance(tiny_dir)
        if any("tracks" in s for s in spec["sectors"].values()):
            return dataclasses.replace(inst, policy=policy_from_dict(spec))
    return load_instance(tiny_dir, policy=None if spec is None else policy_from_dict(spec))


def _base_rows(inst: Instance, neutral_rows: Rows) -> Rows:
    return solve(inst).assignments.to_dicts() if inst.policy.name == "japan-2026" else neutral_rows


@pytest.mark.parametrize(
    ("spec", "plant", "expected", "example"),
    [pytest.param(*c[1:], id=f"{c[0]}-{i}") for i, c in enumerate(CASES)],
)
def test_planted_violation(
    tiny_dir: Path,
    japan_policy_path: Path,
    tmp_path: Path,
    neutral_rows: Rows,
    spec: PolicySpec,
    plant: Plant,
    expected: set[str],
    example: str,
) -> None:
    inst = _instance(tiny_dir, japan_policy_path, spec, tmp_path)
    base = _base_rows(inst, neutral_rows)
    planted = plant(base)
    a = pl.DataFrame(planted) if planted and "score" not in planted[0] else _frame(planted)
    check = verify_assignment(inst, a)
    assert check.kinds() == expected, str(check)
    assert check.ok == (not expected)
    if expected:
        assert any(example in ex for v in check.violations for ex in v.examples), str(check)
        assert all(kind in str(check) for kind in expected)


def test_every_kind_is_planted() -> None:
    # objective, not_listed, joint and fairness are planted by the tests below (they need other inputs).
    planted = set().union(*(c[3] for c in CASES)) | {"objective", "not_listed", "joint", "fairness"}
    assert planted == set(KINDS)


def test_planted_violation_counts(tiny_dir: Path, neutral_rows: Rows) -> None:
    inst = load_instance(
        tiny_dir, policy=policy_from_dict({"rules": {"esdp": {"skills_test_required": True}}})
    )
    check = verify_assignment(inst, _frame(neutral_rows))
    (v,) = check.violations
    assert v.kind == "skills_test" and v.count == 3
    assert sorted(v.examples) == ["C1 at E2", "C2 at E1", "C4 at E2"]


@pytest.mark.parametrize(
    ("objective", "fragment"),
    [
        ({"matched": 5, "total_score": 330.0, "rank_sum": 2}, "matched: reported 5, recomputed 4"),
        (
            {"matched": 4, "total_score": 331.0, "rank_sum": 2},
            "total_score: reported 331.0, recomputed 330.0",
        ),
        ({"matched": 4, "total_score": 330.0, "rank_sum": 1}, "rank_sum: reported 1, recomputed 2"),
        ({"matched": 4, "rank_sum": 2}, "total_score: reported None"),
    ],
)
def test_objective_mismatch(
    tiny_dir: Path, neutral_rows: Rows, objective: dict[str, Any], fragment: str
) -> None:
    inst = load_instance(tiny_dir)
    check = verify_assignment(inst, _frame(neutral_rows), objective=objective)
    assert check.kinds() == {"objective"}, str(check)
    (v,) = check.violations
    assert v.count == 1 and fragment in v.examples[0]


def test_objective_within_rounding_tolerance(tiny_dir: Path, neutral_rows: Rows) -> None:
    inst = load_instance(tiny_dir)
    check = verify_assignment(
        inst, _frame(neutral_rows), objective={"matched": 4, "total_score": 330.0 + 1e-7, "rank_sum": 2}
    )
    assert check.ok, str(check)


def test_not_listed_when_candidate_has_a_list(
    tiny_frames: dict[str, pl.DataFrame], neutral_rows: Rows
) -> None:
    # C1 lists only E1 now; the neutral optimum placed C1 at E2.
    tiny_frames["preferences"] = tiny_frames["preferences"].head(1)
    inst = instance_from_frames(**tiny_frames)
    check = verify_assignment(inst, _frame(_move(neutral_rows, "C1", pref_rank=None)))
    assert check.kinds() == {"not_listed"}, str(check)
    assert check.violations[0].examples == ["C1 at E2"]


# ---- the CLI ------------------------------------------------------------------------
def _solve_to(out: Path, instance: Path, *args: str) -> None:
    res = runner.invoke(app, ["solve", str(instance), "--out", str(out), "--quiet", *args])
    assert res.exit_code == 0, res.output


def test_cli_verify_clean_then_planted(tiny_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "res"
    _solve_to(out, tiny_dir)
    res = runner.invoke(app, ["verify", str(tiny_dir), str(out), "--quiet"])
    assert res.exit_code == 0, res.output
    assert "verified: no violation" in res.stdout

    # Move C1 into E1's single food-service seat next to C2.
    a = pl.read_csv(out / "assignments.csv", schema_overrides={"pref_rank": pl.Int64})
    a = a.with_columns(
        pl.when(pl.col("candidate_id") == "C1")
        .then(pl.lit("E1"))
        .otherwise("employer_id")
        .alias("employer_id"),
        pl.when(pl.col("candidate_id") == "C1")
        .then(pl.lit("food_service"))
        .otherwise("sector")
        .alias("sector"),
        pl.when(pl.col("candidate_id") == "C1").then(90.0).otherwise("score").alias("score"),
        pl.when(pl.col("candidate_id") == "C1").then(1).otherwise("pref_rank").alias("pref_rank"),
    )
    a.write_csv(out / "assignments.csv")
    res = runner.invoke(app, ["verify", str(tiny_dir), str(out), "--quiet"])
    assert res.exit_code == 1, res.output
    assert "slot_capacity: 1 (E1/food_service/esdp: 2 > 1)" in res.stdout
    # summary.json still reports the old objective: total score 330 vs 350 now.
    assert "objective" in res.stdout and "recomputed 350.0" in res.stdout
    assert "Traceback" not in res.output


def test_cli_verify_uses_policy_from_summary(tiny_dir: Path, japan_policy_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "res"
    _solve_to(out, tiny_dir, "--policy", str(japan_policy_path))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["policy"]["name"] == "japan-2026"
    res = runner.invoke(app, ["verify", str(tiny_dir), str(out), "--quiet"])
    assert res.exit_code == 0, res.output

    # C4 (no Japanese) placed in ESDP: fine under neutral, a language violation under Japan.
    with (out / "assignments.csv").open("a") as fh:
        fh.write("C4,E2,agriculture,esdp,95.0,\n")
    summary["objective"] = {"matched": 4, "total_score": 330.0, "rank_sum": 2}
    (out / "summary.json").write_text(json.dumps(summary))
    res = runner.invoke(app, ["verify", str(tiny_dir), str(out), "--quiet"])
    assert res.exit_code == 1, res.output
    assert "language: 1 (C4 at E2)" in res.stdout
    assert "objective" not in res.stdout  # the edited summary's objective is right
    # --policy overrides the summary's policy: under neutral the same result is valid.
    neutral = tmp_path / "neutral.toml"
    neutral.write_text('name = "neutral"\n')
    res = runner.invoke(app, ["verify", str(tiny_dir), str(out), "--policy", str(neutral), "--quiet"])
    assert res.exit_code == 0, res.output


def test_cli_verify_parquet_result(tiny_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "res"
    _solve_to(out, tiny_dir, "--format", "parquet")
    assert (out / "assignments.parquet").is_file()
    res = runner.invoke(app, ["verify", str(tiny_dir), str(out), "--quiet"])
    assert res.exit_code == 0, res.output
    a = pl.read_parquet(out / "assignments.parquet")
    pl.concat([a, a.filter(pl.col("candidate_id") == "C2")]).write_parquet(out / "assignments.parquet")
    res = runner.invoke(app, ["verify", str(tiny_dir), str(out), "--quiet"])
    assert res.exit_code == 1, res.output
    assert "duplicate_candidate" in res.stdout and "slot_capacity" in res.stdout


def test_cli_verify_missing_assignments(tiny_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "res"
    out.mkdir()
    res = runner.invoke(app, ["verify", str(tiny_dir), str(out)])
    assert res.exit_code == 2
    assert "no assignments.csv, assignments.parquet or assignments.xlsx" in res.stderr


def test_planted_joint_violations(tiny_dir: Path, neutral_rows: Rows) -> None:
    """Members placed in two prefectures, and a group placed in part, are both caught."""
    inst = load_instance(tiny_dir)
    joint = pl.DataFrame({"group_id": ["G1", "G1", "G2", "G2"], "candidate_id": ["C1", "C2", "C4", "C5"]})
    inst = dataclasses.replace(inst, joint=joint)
    res = verify_assignment(inst, pl.DataFrame(neutral_rows))
    assert res.kinds() == {"joint"}
    found = next(v for v in res.violations if v.kind == "joint")
    assert found.count == 2
    assert "G1: 2 of 2 placed, 2 prefectures" in found.examples
    assert "G2: 1 of 2 placed, 1 prefectures" in found.examples
    ok = [r for r in neutral_rows if r["candidate_id"] not in ("C1", "C2", "C4")]
    assert verify_assignment(inst, pl.DataFrame(ok)).kinds() == set()


def test_planted_fairness_report_is_caught(tiny_dir: Path) -> None:
    inst = load_instance(tiny_dir, policy=policy_from_dict({"objective": {"kind": "max_min_fill"}}))
    res = solve(inst)
    fair = res.summary["fairness"]
    assert verify_assignment(inst, res.assignments, fairness=fair).ok
    wrong = {**fair, "groups": {**fair["groups"], "Tokyo": 0.5}}
    check = verify_assignment(inst, res.assignments, fairness=wrong)
    assert check.kinds() == {"fairness"}
    assert any("Tokyo: reported 0.5, recomputed 1.0" in e for v in check.violations for e in v.examples)
