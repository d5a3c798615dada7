"""Tests for :func:`matcher.data.generate.generate_contested` and ``matcher generate --family contested``.

The contested family must differ from :func:`generate_instance` where it matters to the
solvers (concentrated capacity, binding crossing caps, competing floors) while keeping its
table contract, and every instance must be feasible (the docstring's witness argument).
"""

from __future__ import annotations

import copy
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

import matcher
from matcher.cli import app
from matcher.data.generate import generate_contested, generate_instance
from matcher.data.generate.contested import RURAL_FLOOR_PREFECTURES, ContestedInstance, policy_toml
from matcher.data.load import instance_from_frames, load_instance
from matcher.data.model import Instance
from matcher.data.policy import policy_from_dict
from matcher.errors import InputError
from matcher.verification.assignment import verify_assignment

JAPAN = Path("instances/policies/japan-2026.toml")
GROUP = {"esdp": "esdp", "ssw1": "ssw", "ssw2": "ssw"}
runner = CliRunner()


@cache
def _contested(candidates: int, employers: int, seed: int) -> ContestedInstance:
    return generate_contested(candidates=candidates, employers=employers, seed=seed)


def _instance(inst: ContestedInstance, policy: dict[str, Any] | None = None) -> Instance:
    return instance_from_frames(**inst.tables, policy=policy_from_dict(policy or inst.policy))


def test_same_seed_same_bytes_other_seed_other_tables() -> None:
    a = generate_contested(candidates=400, employers=80, seed=5)
    b = generate_contested(candidates=400, employers=80, seed=5)
    c = generate_contested(candidates=400, employers=80, seed=6)
    for name, frame in a.tables.items():
        assert frame.write_csv() == b.tables[name].write_csv(), name
    assert a.policy_toml == b.policy_toml
    assert any(a.tables[k].write_csv() != c.tables[k].write_csv() for k in a.tables)
    assert a.preferences.write_csv() != c.preferences.write_csv()


def test_schema_and_order_equal_to_the_realistic_generator() -> None:
    realistic = generate_instance(candidates=200, employers=30, seed=1)
    contested = _contested(500, 100, 1).tables
    assert sorted(contested) == sorted(realistic)
    for name, frame in realistic.items():
        assert contested[name].schema == frame.schema, name
    sort_keys = {
        "candidates": ["candidate_id"],
        "aptitudes": ["candidate_id", "sector"],
        "employers": ["employer_id"],
        "slots": ["employer_id", "sector", "track"],
        "preferences": ["candidate_id", "rank"],
    }
    for name, keys in sort_keys.items():
        assert contested[name].equals(contested[name].sort(keys)), name
    assert contested["candidates"]["candidate_id"][0] == "C001"
    assert contested["employers"]["employer_id"][0] == "E000001"


def test_policy_toml_is_the_policy_and_the_tables_validate_under_it() -> None:
    inst = _contested(500, 100, 1)
    assert tomllib.loads(inst.policy_toml) == inst.policy
    validated = _instance(inst)
    assert validated.policy.name == "japan-2026 contested"
    assert validated.candidates.height == 500
    floors = {f.name: f for f in validated.policy.floors}
    assert floors["rural hard floor"].hard and floors["rural hard floor"].min == inst.hard_floor > 0
    assert floors["rural hard floor"].prefectures == list(RURAL_FLOOR_PREFECTURES)
    assert not floors["rural fill"].hard and floors["rural fill"].per == "employer"
    assert validated.policy.regional_caps


def test_policy_toml_writes_nested_tables_and_escapes() -> None:
    data = {"name": 'a "b"\n', "x": {"y": [1, 2.5], "z": {"w": True}}, "t": [{"k": [[1, 2]]}, {"k": []}]}
    assert tomllib.loads(policy_toml(data)) == data


def test_base_policy_as_dict_or_path() -> None:
    base = tomllib.loads(JAPAN.read_text(encoding="utf-8"))
    from_dict = generate_contested(candidates=100, employers=20, seed=1, base_policy=base)
    from_path = generate_contested(candidates=100, employers=20, seed=1, base_policy=JAPAN)
    assert from_dict.policy_toml == from_path.policy_toml == _contested(100, 20, 1).policy_toml
    with pytest.raises(InputError):
        generate_contested(candidates=100, employers=20, seed=1, base_policy="no/such/policy.toml")
    without_metro = {k: v for k, v in base.items() if k != "regions"}
    for intake in without_metro["intake"]:
        intake.pop("bonus_outside_region", None)
    with pytest.raises(ValueError, match="metro"):
        generate_contested(candidates=100, employers=20, seed=1, base_policy=without_metro)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"candidates": 0, "employers": 5, "seed": 0}, ValueError),
        ({"candidates": 5, "employers": 0, "seed": 0}, ValueError),
        ({"candidates": 5, "employers": 5, "seed": -1}, ValueError),
        ({"candidates": 5.0, "employers": 5, "seed": 0}, TypeError),
        ({"candidates": True, "employers": 5, "seed": 0}, TypeError),
    ],
)
def test_bad_arguments(kwargs: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        generate_contested(**kwargs)


@pytest.mark.parametrize(("candidates", "employers"), [(1, 1), (50, 10), (50, 200)])
def test_tiny_and_odd_sizes_validate(candidates: int, employers: int) -> None:
    inst = generate_contested(candidates=candidates, employers=employers, seed=2)
    assert _instance(inst).candidates.height == candidates


def test_capacity_and_popularity_are_concentrated() -> None:
    inst = _contested(2000, 400, 1)
    capacity = np.sort(
        inst.slots.group_by("employer_id").agg(pl.col("capacity").sum())["capacity"].to_numpy()
    )
    large = capacity[::-1][: round(0.03 * len(capacity))]
    assert large.sum() >= capacity.sum() / 2  # 3% of the employers hold half the places
    assert np.median(capacity) <= 2 and np.mean(capacity <= 3) >= 0.9
    # Gini coefficient of employer capacity: the realistic generator's is far lower.
    n = len(capacity)
    gini = float((2 * np.arange(1, n + 1) - n - 1) @ capacity / (n * capacity.sum()))
    assert gini > 0.6
    listed = inst.preferences["employer_id"].value_counts()["count"].to_numpy()
    top = np.sort(listed)[::-1][: round(0.03 * len(capacity))]
    assert top.sum() >= 0.5 * inst.preferences.height  # most lists name the same few employers
    lengths = inst.preferences.group_by("candidate_id").len()["len"].to_numpy()
    assert lengths.max() <= 5 and lengths.mean() < 3  # short lists
    scores = inst.aptitudes["score"].to_numpy()
    assert np.median(scores) < 56 and np.quantile(scores, 0.99) > 70  # many near the pass mark, few high


def _unconstrained_breaks(inst: ContestedInstance) -> tuple[int, int]:
    """Prefecture and sector caps that the welfare optimum without caps and floors breaks."""
    data = copy.deepcopy(inst.policy)
    data.pop("regional_caps")
    data.pop("floors")
    for sector in data["sectors"].values():
        sector.pop("caps", None)
    free = _instance(inst, data)
    placed = matcher.solve(free, backend="core", verify=False).assignments.join(
        free.employers.select("employer_id", "prefecture"), on="employer_id"
    )
    by_pref = dict(placed.group_by("prefecture").len().iter_rows())
    prefecture = sum(by_pref.get(c["name"], 0) > c["cap"] for c in inst.policy["regional_caps"])
    by_sector = placed.group_by("sector", pl.col("track").replace_strict(GROUP).alias("group")).len()
    sector = sum(
        count > inst.policy["sectors"][s].get("caps", {}).get(g, count)
        for s, g, count in by_sector.iter_rows()
    )
    return prefecture, sector


@pytest.mark.parametrize("seed", [1, 2])
def test_caps_bind_against_the_unconstrained_optimum(seed: int) -> None:
    prefecture, sector = _unconstrained_breaks(_contested(1000, 200, seed))
    assert prefecture >= 1 and sector >= 1


@pytest.mark.parametrize(("candidates", "seed"), [(200, 0), (300, 1), (400, 2), (500, 3)])
def test_feasible_and_solved_exactly(candidates: int, seed: int) -> None:
    inst = _contested(candidates, candidates // 5, seed)
    assert inst.hard_floor > 0
    validated = _instance(inst)
    result = matcher.solve(validated, backend="mip", time_limit=30)
    assert result.status.value == "optimal", result.message
    assert verify_assignment(validated, result.assignments).ok
    rural = result.assignments.join(validated.employers.select("employer_id", "prefecture"), on="employer_id")
    assert rural.filter(pl.col("prefecture").is_in(RURAL_FLOOR_PREFECTURES)).height >= inst.hard_floor


def test_cli_writes_tables_and_policy(tmp_path: Path) -> None:
    out = tmp_path / "contested"
    args = ["generate", str(out), "--family", "contested", "--candidates", "300", "--employers", "60"]
    res = runner.invoke(app, [*args, "--seed", "4", "--quiet"])
    assert res.exit_code == 0, res.output
    inst = generate_contested(candidates=300, employers=60, seed=4)
    assert (out / "policy.toml").read_text(encoding="utf-8") == inst.policy_toml
    loaded = load_instance(out)  # the instance's own policy.toml applies
    assert loaded.policy.name == "japan-2026 contested"
    assert loaded.preferences is not None and loaded.preferences.height == inst.preferences.height
    res = runner.invoke(app, ["solve", str(out), "--out", str(tmp_path / "res"), "--quiet"])
    assert res.exit_code == 0, res.output


def test_cli_default_family_is_realistic(tmp_path: Path) -> None:
    out = tmp_path / "realistic"
    res = runner.invoke(app, ["generate", str(out), "--candidates", "50", "--employers", "5", "--quiet"])
    assert res.exit_code == 0, res.output
    assert not (out / "policy.toml").exists()
    expected = generate_instance(candidates=50, employers=5, seed=0)
    assert pl.read_csv(out / "slots.csv")["capacity"].sum() == expected["slots"]["capacity"].sum()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--family", "nope"], "--family must be one of realistic, contested, got 'nope'"),
        (
            ["--family", "contested", "--policy", str(JAPAN)],
            "--policy cannot be used with --family contested",
        ),
        (["--family", "contested", "--list-length", "5"], "apply to --family realistic only"),
    ],
)
def test_cli_errors(tmp_path: Path, extra: list[str], message: str) -> None:
    out = tmp_path / "never"
    res = runner.invoke(app, ["generate", str(out), "--candidates", "50", "--employers", "5", *extra])
    assert res.exit_code == 2
    assert message in res.output
    assert not out.exists()
