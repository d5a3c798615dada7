"""The core's solver state saved to disk and a later solve warm-started from it (library and CLI)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import matcher
from matcher.cli import app
from matcher.data.generate import generate_instance
from matcher.data.load import instance_from_frames
from matcher.errors import InputError
from matcher.output.files import read_state
from matcher.solvers.core import state_from_tables, state_tables
from tests.conftest import JAPAN_POLICY
from tests.strategies import examples

runner = CliRunner()

CANDIDATE_TABLES = ("candidates", "aptitudes", "preferences")


def _withdraw(tables: dict[str, pl.DataFrame], share: float, seed: int) -> dict[str, pl.DataFrame]:
    """The instance's tables without a random share of its candidates (all their rows)."""
    ids = tables["candidates"].get_column("candidate_id")
    gone = ids.sample(n=round(share * ids.len()), seed=seed)
    return {
        k: (v.filter(~pl.col("candidate_id").is_in(gone.implode())) if k in CANDIDATE_TABLES else v)
        for k, v in tables.items()
    }


def _objective(res: matcher.MatchResult) -> tuple[int, float, int]:
    o = res.objective
    return o.matched, o.total_score, o.rank_sum


@settings(max_examples=examples(12), deadline=None)
@given(st.integers(0, 2**16), st.floats(0.0, 0.3))
def test_saved_state_warm_start_matches_a_cold_solve(seed: int, share: float) -> None:
    """Solve, save the state, withdraw candidates, re-solve from the saved state: the
    same objective as a cold solve of the changed instance, and the state round-trips."""
    tables = generate_instance(candidates=300, employers=25, seed=seed)
    first = matcher.solve(instance_from_frames(**tables, policy=JAPAN_POLICY))
    assert first.state is not None
    saved, header = state_tables(first.state)
    back = state_from_tables(saved, header)
    for name in ("potentials", "score_potentials", "rank_potentials", "chosen_pairs"):
        assert np.array_equal(getattr(back, name), getattr(first.state, name)), name
    assert (back.status, back.rank_weight) == (first.state.status, first.state.rank_weight)
    changed = instance_from_frames(**_withdraw(tables, share, seed), policy=JAPAN_POLICY)
    cold = matcher.solve(changed)
    warm = matcher.solve(changed, warm_start=back)
    assert _objective(warm) == _objective(cold)
    assert warm.summary["verified"] and warm.summary["warm_start"]["used"]


def test_write_and_warm_start_from_a_directory(tmp_path: Path) -> None:
    tables = generate_instance(candidates=400, employers=30, seed=7)
    first = matcher.solve(instance_from_frames(**tables, policy=JAPAN_POLICY))
    first.write(tmp_path / "out", state=True)
    assert sorted(p.name for p in (tmp_path / "out" / "state").iterdir()) == [
        "candidates.parquet",
        "intakes.parquet",
        "nationals.parquet",
        "placements.parquet",
        "potentials.parquet",
        "slots.parquet",
        "state.json",
        "totals.parquet",
    ]
    changed = instance_from_frames(**_withdraw(tables, 0.02, 1), policy=JAPAN_POLICY)
    cold = matcher.solve(changed)
    for source in (tmp_path / "out", tmp_path / "out" / "state", str(tmp_path / "out")):
        warm = matcher.solve(changed, warm_start=source)
        assert _objective(warm) == _objective(cold)
        assert warm.summary["warm_start"]["used"] == "shortest paths"
    again = matcher.solve(changed, warm_start=first.state)  # in memory, no files
    assert _objective(again) == _objective(cold)


def test_state_only_from_the_core(tmp_path: Path) -> None:
    inst = matcher.load_instance("instances/tiny")
    stable = matcher.solve(inst, method="stable")
    assert stable.state is None
    with pytest.raises(ValueError, match="no solver state"):
        stable.write(tmp_path / "out", state=True)
    assert not (tmp_path / "out").exists()  # nothing written
    assert matcher.solve(inst, backend="ortools").state is None
    with pytest.raises(ValueError, match="warm_start needs method 'optimal' with the core backend"):
        matcher.solve(inst, backend="ortools", warm_start=tmp_path)
    with pytest.raises(ValueError, match="warm_start needs method 'optimal'"):
        matcher.solve(inst, method="stable", warm_start=tmp_path)
    with pytest.raises(TypeError, match="warm_start must be a CoreSolution or a path"):
        matcher.solve(inst, warm_start=42)  # type: ignore[arg-type]


def test_bad_state_lists_every_problem(tmp_path: Path) -> None:
    inst = matcher.load_instance("instances/tiny")
    matcher.solve(inst).write(tmp_path / "out", state=True)
    state = tmp_path / "out" / "state"
    (state / "potentials.parquet").unlink()
    (state / "slots.parquet").write_bytes(b"not parquet")
    (state / "state.json").write_text(json.dumps({"format": 99, "solver": "core", "status": "optimal"}))
    pl.read_parquet(state / "placements.parquet").drop("slot").write_parquet(state / "placements.parquet")
    with pytest.raises(InputError) as err:
        matcher.solve(inst, warm_start=tmp_path / "out")
    text = str(err.value)
    assert "problems in the warm-start state" in text
    for part in (
        "potentials.parquet: missing",
        "slots.parquet: cannot be read",
        "state.json: format 99",
        "rank_weight None",
        "placements.parquet, column slot: missing column",
    ):
        assert part in text, part
    with pytest.raises(InputError, match="no such directory"):
        read_state(tmp_path / "nowhere", ["potentials"])


def test_inconsistent_sizes_are_reported(tmp_path: Path) -> None:
    inst = matcher.load_instance("instances/tiny")
    matcher.solve(inst).write(tmp_path / "out", state=True)
    state = tmp_path / "out" / "state"
    pl.read_parquet(state / "potentials.parquet").head(3).write_parquet(state / "potentials.parquet")
    p = pl.read_parquet(state / "placements.parquet")
    p.with_columns(pl.col("slot") + 1000).write_parquet(state / "placements.parquet")
    with pytest.raises(InputError) as err:
        matcher.solve(inst, warm_start=state)
    assert "potentials.parquet: 3 rows; the node tables name" in str(err.value)
    assert "placements.parquet: a candidate or slot number outside" in str(err.value)


def test_cli_save_state_and_warm_start(tmp_path: Path) -> None:
    tables = generate_instance(candidates=400, employers=30, seed=3)
    first_dir, changed_dir = tmp_path / "first", tmp_path / "changed"
    for directory, frames in ((first_dir, tables), (changed_dir, _withdraw(tables, 0.05, 2))):
        directory.mkdir()
        for name, frame in frames.items():
            frame.write_csv(directory / f"{name}.csv")
    policy = ["--policy", str(JAPAN_POLICY), "-q"]
    ok = runner.invoke(app, ["solve", str(first_dir), "-o", str(tmp_path / "a"), "--save-state", *policy])
    assert ok.exit_code == 0, ok.output
    assert (tmp_path / "a" / "state" / "state.json").is_file()
    cold = runner.invoke(app, ["solve", str(changed_dir), "-o", str(tmp_path / "cold"), *policy])
    warm = runner.invoke(
        app,
        [
            "solve",
            str(changed_dir),
            "-o",
            str(tmp_path / "warm"),
            "--warm-start",
            str(tmp_path / "a"),
            *policy,
        ],
    )
    assert cold.exit_code == 0 and warm.exit_code == 0, warm.output
    summaries = [json.loads((tmp_path / d / "summary.json").read_text()) for d in ("cold", "warm")]
    assert summaries[0]["objective"] == summaries[1]["objective"]
    assert summaries[1]["warm_start"]["used"] == "shortest paths"
    assert "warm_start" not in summaries[0]
    assert not (tmp_path / "cold" / "state").exists()  # only with --save-state


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--save-state"], "--save-state needs --out"),
        (["-o", "{out}", "--save-state", "--method", "stable"], "--save-state needs --method optimal"),
        (
            ["-o", "{out}", "--warm-start", "{tiny}", "--backend", "ortools"],
            "--warm-start needs --method optimal",
        ),
        (["-o", "{out}", "--warm-start", "{nowhere}"], "no such directory"),
        (["-o", "{out}", "--warm-start", "{tiny}"], "state.json: missing: not a saved state"),
    ],
)
def test_cli_state_errors(tmp_path: Path, tiny_dir: Path, args: list[str], message: str) -> None:
    fill = {"out": str(tmp_path / "out"), "tiny": str(tiny_dir), "nowhere": str(tmp_path / "nowhere")}
    res = runner.invoke(app, ["solve", str(tiny_dir), *[a.format(**fill) for a in args]])
    assert res.exit_code == 2, res.output
    assert message in res.output
    assert "problems in" not in res.output  # one problem each: not a list of consequences
    assert "Traceback" not in res.output
    assert not (tmp_path / "out").exists()  # nothing written


def test_cli_corrupt_state_exits_2(tmp_path: Path, tiny_dir: Path) -> None:
    ok = runner.invoke(app, ["solve", str(tiny_dir), "-o", str(tmp_path / "a"), "--save-state", "-q"])
    assert ok.exit_code == 0, ok.output
    (tmp_path / "a" / "state" / "potentials.parquet").unlink(missing_ok=True)
    res = runner.invoke(
        app, ["solve", str(tiny_dir), "-o", str(tmp_path / "b"), "--warm-start", str(tmp_path / "a")]
    )
    assert res.exit_code == 2 and "potentials.parquet: missing" in res.output
    assert not (tmp_path / "b").exists()


def test_withdrawn_candidates_leave_their_slots_short() -> None:
    """A state from the instance before candidates withdrew (they are gone from the tables,
    so every candidate is renumbered): their units stay above their slots, which the
    shortest paths then refill, instead of being dropped (which left the deficit at the
    sink, where the searches cross the whole cap tree)."""
    from matcher.eligibility.edges import build_edges
    from matcher.solvers.core import solve_core

    tables = generate_instance(candidates=400, employers=30, seed=11)
    first = matcher.solve(instance_from_frames(**tables, policy=JAPAN_POLICY))
    changed = _withdraw(tables, 0.05, 3)
    gone = set(tables["candidates"].get_column("candidate_id")) - set(
        changed["candidates"].get_column("candidate_id")
    )
    placed_gone = first.assignments.filter(pl.col("candidate_id").is_in(sorted(gone))).height
    edges = build_edges(instance_from_frames(**changed, policy=JAPAN_POLICY))
    assert first.state is not None
    sol = solve_core(edges, warm_start=first.state)
    assert placed_gone > 0
    assert sol.stats["warm_deficits"] == placed_gone
    assert sol.stats["warm"] == 1.0
    assert sol.stats["warm_to_sink"] == 0
