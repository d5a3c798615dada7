"""The fairness audit: exact rows on a hand-checked instance, suppression (with its
complement), the four-fifths flag, sectors per aptitude row, determinism, the file
``matcher solve --out`` writes, and invariants on random instances."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import matcher
from matcher.cli import app
from matcher.data.policy import policy_from_dict
from matcher.output.audit import AUDIT_SCHEMA, DIMENSIONS, audit_summary, audit_table
from tests.strategies import examples, instances

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "instances" / "tiny"
runner = CliRunner()

#: c1..c6 (nationality, Japanese level, track, prefecture of residence; None = abroad).
PEOPLE = {
    "c1": ("VN", "A1", "esdp", "Tokyo"),
    "c2": ("VN", "A2", "esdp", None),
    "c3": ("ID", "A1", "ssw1", "Osaka"),
    "c4": ("ID", "none", "esdp", "Iwate"),
    "c5": ("PH", "B1", "ssw1", None),
    "c6": ("VN", "A1", "esdp", "Iwate"),
}
#: Aptitude rows: c1 and c5 in two sectors, c6 in none.
APTITUDES = [
    ("c1", "agriculture", 80.0),
    ("c1", "food_service", 60.0),
    ("c2", "agriculture", 70.0),
    ("c3", "food_service", 90.0),
    ("c4", "agriculture", 50.0),
    ("c5", "agriculture", 55.0),
    ("c5", "food_service", 40.0),
]
#: The result audited: c1, c3, c5 placed (with the score of the sector placed in); c6 had
#: no eligible pair, c2 and c4 had one but were not placed.
PLACED = {"c1": 60.0, "c3": 90.0, "c5": 55.0}
UNMATCHED = {"c2": "capacity_taken", "c4": "capacity_taken", "c6": "no_eligible_slot"}


def _instance(
    policy: dict[str, Any] | None = None, people: dict[str, tuple[Any, ...]] = PEOPLE
) -> matcher.Instance:
    pol = policy_from_dict(policy or {"name": "audit", "regions": {"metro": ["Tokyo"]}})
    return matcher.instance_from_frames(
        candidates=pl.DataFrame(
            [(c, *row) for c, row in people.items()],
            schema=["candidate_id", "nationality", "japanese_level", "track", "prefecture"],
            orient="row",
        ),
        aptitudes=pl.DataFrame(
            [r for r in APTITUDES if r[0] in people], schema=["candidate_id", "sector", "score"], orient="row"
        ),
        employers=pl.DataFrame({"employer_id": ["E1"], "prefecture": ["Tokyo"], "full_time_staff": [10]}),
        slots=pl.DataFrame(
            {"employer_id": ["E1"], "sector": ["agriculture"], "track": ["esdp"], "capacity": [1]}
        ),
        policy=pol,
    )


def _result(
    placed: dict[str, float] = PLACED, unmatched: dict[str, str] = UNMATCHED
) -> tuple[pl.DataFrame, pl.DataFrame]:
    assignments = pl.DataFrame(
        {"candidate_id": list(placed), "score": list(placed.values())},
        schema={"candidate_id": pl.String, "score": pl.Float64},
    )
    return assignments, pl.DataFrame(
        {"candidate_id": list(unmatched), "reason": list(unmatched.values())},
        schema={"candidate_id": pl.String, "reason": pl.String},
    )


def _rows(table: pl.DataFrame) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r["dimension"], r["group"]): r for r in table.to_dicts()}


#: (dimension, group, candidates, eligible, placed, rate, mean score placed, ratio, below)
#: worked out by hand from PEOPLE, APTITUDES, PLACED and UNMATCHED; metro = Tokyo.
EXPECTED = [
    ("nationality", "ID", 2, 2, 1, 0.5, 90.0, 0.5, True),
    ("nationality", "PH", 1, 1, 1, 1.0, 55.0, 1.0, False),
    ("nationality", "VN", 3, 2, 1, 0.5, 60.0, 0.5, True),
    ("prefecture_group", "abroad", 2, 2, 1, 0.5, 55.0, 0.5, True),
    ("prefecture_group", "metro", 1, 1, 1, 1.0, 60.0, 1.0, False),
    ("prefecture_group", "other", 3, 2, 1, 0.5, 90.0, 0.5, True),
    ("prefecture", "Iwate", 2, 1, 0, 0.0, None, 0.0, True),
    ("prefecture", "Osaka", 1, 1, 1, 1.0, 90.0, 1.0, False),
    ("prefecture", "Tokyo", 1, 1, 1, 1.0, 60.0, 1.0, False),
    ("prefecture", "abroad", 2, 2, 1, 0.5, 55.0, 0.5, True),
    ("japanese_level", "A1", 3, 2, 2, 1.0, 75.0, 1.0, False),
    ("japanese_level", "A2", 1, 1, 0, 0.0, None, 0.0, True),
    ("japanese_level", "B1", 1, 1, 1, 1.0, 55.0, 1.0, False),
    ("japanese_level", "none", 1, 1, 0, 0.0, None, 0.0, True),
    ("track", "esdp", 4, 3, 1, 0.333333, 60.0, 0.333333, True),
    ("track", "ssw1", 2, 2, 2, 1.0, 72.5, 1.0, False),
    # c1 counts in both sectors, placed in food_service (its score there, 60, in both).
    ("sector", "agriculture", 4, 4, 2, 0.5, 57.5, 0.5, True),
    ("sector", "food_service", 3, 3, 3, 1.0, 68.333333, 1.0, False),
]


def test_hand_checked_rows() -> None:
    table = audit_table(_instance(), *_result(), min_group=1)
    assert table.schema == pl.Schema(AUDIT_SCHEMA)
    want = pl.DataFrame([(*row, False) for row in EXPECTED], schema=list(AUDIT_SCHEMA), orient="row").cast(
        AUDIT_SCHEMA
    )
    assert table.equals(want), table


def test_summary_section() -> None:
    table = audit_table(_instance(), *_result(), min_group=1)
    s = audit_summary(table, min_group=1)
    assert s["min_group"] == 1 and s["groups"] == len(EXPECTED) and s["suppressed"] == 0
    assert list(s["dimensions"]) == list(DIMENSIONS)
    assert s["dimensions"]["nationality"] == {
        "highest": {"group": "PH", "placement_rate": 1.0},
        "lowest": {"group": "ID", "placement_rate": 0.5},  # tie with VN: first by name
        "below_four_fifths": ["ID", "VN"],
    }
    assert s["dimensions"]["prefecture"]["lowest"] == {"group": "Iwate", "placement_rate": 0.0}
    assert s["dimensions"]["track"]["below_four_fifths"] == ["esdp"]
    json.dumps(s)  # goes into summary.json as it is


def test_metro_is_the_policys_region_else_the_eight_prefectures() -> None:
    # The neutral policy has no regions: the eight metro prefectures include Osaka.
    table = audit_table(_instance({"name": "none"}), *_result(), min_group=1)
    groups = _rows(table)
    assert groups[("prefecture_group", "metro")]["candidates"] == 2  # c1 Tokyo, c3 Osaka
    assert groups[("prefecture_group", "other")]["candidates"] == 2  # c4, c6 Iwate


def test_small_groups_are_suppressed_with_their_complement() -> None:
    table = audit_table(_instance(), *_result(), min_group=2)
    rows = _rows(table)
    hidden = ["eligible", "placed", "placement_rate", "mean_score_placed", "rate_ratio", "below_four_fifths"]
    # PH (1 candidate) is suppressed; being the only one, ID (2, the smallest other group)
    # is too, or its numbers would follow from VN's and the totals.
    for key in [("nationality", "PH"), ("nationality", "ID"), ("prefecture_group", "metro")]:
        assert rows[key]["suppressed"] and all(rows[key][c] is None for c in hidden), key
        assert rows[key]["candidates"] > 0
    assert rows[("prefecture_group", "abroad")]["suppressed"]  # the complement of metro
    # PH's rate (1.0) is no longer the reference: VN is the highest shown.
    assert rows[("nationality", "VN")]["rate_ratio"] == 1.0
    assert rows[("nationality", "VN")]["below_four_fifths"] is False
    # Iwate has 2 candidates but 1 eligible: a rate of one person, hidden. Osaka and Tokyo
    # have 1 candidate each. The abroad prefecture is hidden because the abroad group's row
    # is (the complement of metro) and equals it: a prefecture group's row is the sum of
    # its prefectures', so neither may be the only one hidden of them.
    assert [g for (d, g), r in rows.items() if d == "prefecture" and r["suppressed"]] == [
        "Iwate", "Osaka", "Tokyo", "abroad",
    ]  # fmt: skip
    assert not rows[("prefecture_group", "other")]["suppressed"]  # Iwate + Osaka: two hidden
    # The sector dimension is no partition (no subtraction to guard against).
    assert not table.filter(pl.col("dimension") == "sector").get_column("suppressed").any()
    # Every group keeps its row and its size.
    assert table.select("dimension", "group", "candidates").equals(
        audit_table(_instance(), *_result(), min_group=1).select("dimension", "group", "candidates")
    )
    assert audit_summary(table, min_group=2)["suppressed"] == int(table.get_column("suppressed").sum())


def test_all_suppressed_dimension_has_no_highest() -> None:
    table = audit_table(_instance(), *_result(), min_group=100)
    assert table.get_column("suppressed").all()
    assert table.get_column("candidates").null_count() == 0
    s = audit_summary(table, min_group=100)
    assert all(
        d == {"highest": None, "lowest": None, "below_four_fifths": []} for d in s["dimensions"].values()
    )


def test_four_fifths_flag_is_strictly_below() -> None:
    # Ten candidates, five per track: esdp 4 of 5 placed (ratio 0.8), then 3 of 5 (0.6).
    people = {
        f"c{i:02d}": ("VN" if i < 5 else "ID", "A1", "esdp" if i < 5 else "ssw1", None) for i in range(10)
    }
    placed = {c: 70.0 for c in people if c != "c00"}
    inst = _instance(people={**people})
    table = audit_table(inst, *_result(placed, {"c00": "capacity_taken"}), min_group=5)
    rows = _rows(table)
    assert rows[("track", "esdp")]["rate_ratio"] == 0.8
    assert rows[("track", "esdp")]["below_four_fifths"] is False  # exactly 4/5 is not below
    table = audit_table(inst, *_result(dict.fromkeys(list(people)[2:], 70.0), {}), min_group=5)
    rows = _rows(table)
    assert rows[("track", "esdp")]["rate_ratio"] == 0.6
    assert rows[("track", "esdp")]["below_four_fifths"] is True
    assert rows[("track", "ssw1")]["below_four_fifths"] is False
    # Nobody placed: no reference rate, no ratio, no flag.
    rows = _rows(audit_table(inst, *_result({}, {}), min_group=5))
    assert rows[("track", "esdp")]["placement_rate"] == 0.0
    assert (
        rows[("track", "esdp")]["rate_ratio"] is None and rows[("track", "esdp")]["below_four_fifths"] is None
    )


def test_sectors_count_every_aptitude_row() -> None:
    table = audit_table(_instance(), *_result(), min_group=1)
    sectors = table.filter(pl.col("dimension") == "sector")
    per_row = pl.DataFrame(APTITUDES, schema=["candidate_id", "sector", "score"], orient="row")
    want = per_row.group_by("sector").len().sort("sector")
    assert sectors.get_column("candidates").to_list() == want.get_column("len").to_list()
    assert sectors.get_column("candidates").sum() == len(APTITUDES) > len(PEOPLE)


def test_deterministic_whatever_the_row_order() -> None:
    inst = _instance()
    assignments, unmatched = _result()
    first = audit_table(inst, assignments, unmatched, min_group=2)
    again = audit_table(inst, assignments.reverse(), unmatched.reverse(), min_group=2)
    assert first.equals(again)
    shuffled = matcher.instance_from_frames(
        candidates=inst.candidates.reverse(),
        aptitudes=inst.aptitudes.reverse(),
        employers=inst.employers,
        slots=inst.slots,
        policy=inst.policy,
    )
    assert audit_table(shuffled, assignments, unmatched, min_group=2).equals(first)


def test_min_group_must_be_positive() -> None:
    with pytest.raises(ValueError, match="min_group"):
        audit_table(_instance(), *_result(), min_group=0)


@pytest.mark.parametrize("method", ["optimal", "stable"])
def test_every_successful_solve_has_the_audit(method: str) -> None:
    inst = matcher.load_instance(TINY)
    res = matcher.solve(inst, method=method)
    table = res.tables["audit"]
    assert table.equals(audit_table(inst, res.assignments, res.unmatched))
    assert res.summary["audit"] == audit_summary(table)
    assert res.summary["audit"]["min_group"] == 10
    # Five candidates: every group is below 10 and suppressed.
    assert table.get_column("suppressed").all()


def test_cli_writes_the_audit_and_verify_accepts_it(tmp_path: Path) -> None:
    out = tmp_path / "res"
    res = runner.invoke(app, ["solve", str(TINY), "--out", str(out), "--audit-min-group", "1"])
    assert res.exit_code == 0, res.output
    # Tiny under --audit-min-group 1: every rate among the eligible is 1 (C5 had no pair).
    assert "none; 0 of 16 groups under 1 candidates suppressed" in res.stdout
    marker = json.loads((out / ".matcher-output.json").read_text())
    assert "audit.csv" in marker["files"]
    audit = pl.read_csv(out / "audit.csv")
    assert audit.columns == list(AUDIT_SCHEMA)
    # Tiny: C1-C4 placed, C5 (ssw1, A1, Tokyo) without an eligible slot.
    track = audit.filter(pl.col("dimension") == "track").select("group", "candidates", "eligible", "placed")
    assert track.rows() == [("esdp", 3, 3, 3), ("ssw1", 2, 1, 1)]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["audit"]["min_group"] == 1
    assert list(summary).index("audit") < list(summary).index("timings_s")
    assert runner.invoke(app, ["verify", str(TINY), str(out)]).exit_code == 0
    bad = runner.invoke(app, ["solve", str(TINY), "--audit-min-group", "0", "--quiet"])
    assert bad.exit_code == 2


@settings(max_examples=examples(60), deadline=None)
@given(inst=instances(diversity=True), min_group=st.integers(1, 4))
def test_counts_add_up_on_random_instances(inst: matcher.Instance, min_group: int) -> None:
    res = matcher.solve(inst)
    table = audit_table(inst, res.assignments, res.unmatched, min_group=min_group)
    assert res.tables["audit"].equals(audit_table(inst, res.assignments, res.unmatched))
    sizes = table.group_by("dimension").agg(pl.col("candidates").sum()).sort("dimension")
    for dim, total in sizes.iter_rows():
        if dim != "sector":
            assert total == inst.n_candidates, dim
    shown = table.filter(~pl.col("suppressed"))
    assert (shown.get_column("placed") <= shown.get_column("eligible")).all()
    assert (shown.get_column("eligible") <= shown.get_column("candidates")).all()
    assert (table.filter(pl.col("suppressed")).get_column("candidates") > 0).all()
    placed_rows = shown.filter(pl.col("dimension") == "track").get_column("placed").sum()
    if not table.filter((pl.col("dimension") == "track") & pl.col("suppressed")).height:
        assert placed_rows == res.objective.matched
    flagged = shown.filter(pl.col("rate_ratio").is_not_null())
    assert (flagged.get_column("below_four_fifths") == (flagged.get_column("rate_ratio") < 0.8)).all()


def test_library_threshold_and_its_check() -> None:
    """``matcher.solve(..., audit_min_group=N)`` suppresses groups under N; a threshold
    below 1 is an options error naming it, like every other option."""
    import matcher
    from matcher.solve import OptionsError

    res = matcher.solve(TINY, audit_min_group=1)
    assert res.summary["audit"]["min_group"] == 1
    assert not res.tables["audit"].get_column("suppressed").any()
    with pytest.raises(OptionsError, match="audit_min_group must be a whole number above 0"):
        matcher.solve(TINY, audit_min_group=0)


def test_a_prefecture_cannot_be_recovered_from_its_group() -> None:
    """A prefecture group's row is the sum of its prefectures' rows: when exactly one of
    them is hidden, another one (or the group's row) is hidden too, so that no hidden row
    follows by subtraction, across dimensions as within one."""
    table = audit_table(_instance(), *_result(), min_group=2)
    rows = _rows(table)
    groups = {"metro": ["Tokyo"], "other": ["Iwate", "Osaka"], "abroad": ["abroad"]}
    for group, prefectures in groups.items():
        members = [rows[("prefecture_group", group)]] + [rows[("prefecture", p)] for p in prefectures]
        assert sum(r["suppressed"] for r in members) != 1, group
