"""The CLI end to end: solve, outputs, verify, determinism, python -m matcher."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
from typer.testing import CliRunner

from matcher.cli import app

TINY = Path("instances/tiny")
JAPAN = Path("instances/policies/japan-2026.toml")
runner = CliRunner()


def _solve(out: Path, *args: str) -> None:
    res = runner.invoke(app, ["solve", str(TINY), "--out", str(out), "--quiet", *args])
    assert res.exit_code == 0, res.output


def test_solve_writes_outputs_and_verifies(tmp_path: Path) -> None:
    out = tmp_path / "res"
    _solve(out)
    assert sorted(p.name for p in out.iterdir()) == [
        ".matcher-output.json",
        "assignments.csv",
        "audit.csv",
        "caps.csv",
        "summary.json",
        "unmatched.csv",
    ]
    a = pl.read_csv(out / "assignments.csv")
    assert a.columns == ["candidate_id", "employer_id", "sector", "track", "score", "pref_rank"]
    assert a.height == 4
    s = json.loads((out / "summary.json").read_text())
    assert s["status"] == "optimal" and s["method"] == "optimal"
    assert s["objective"] == {"matched": 4, "total_score": 330.0, "rank_sum": 2}
    assert s["counts"]["unmatched_by_reason"] == {"no_eligible_slot": 1}
    assert {"load", "eligibility", "solve", "write"} <= set(s["timings_s"])
    assert len(s["instance"]["content_hash"]) == 64 and s["policy"]["name"] == "neutral"
    assert {r["sector"] for r in s["fill_by_sector"]} == {"agriculture", "food_service"}
    res = runner.invoke(app, ["verify", str(TINY), str(out)])
    assert res.exit_code == 0, res.output
    assert "no violation" in res.output


def test_summary_table_printed(tmp_path: Path) -> None:
    res = runner.invoke(app, ["solve", str(TINY), "--policy", str(JAPAN), "--quiet"])
    assert res.exit_code == 0
    assert "placed" in res.output and "japan-2026" in res.output


def test_deterministic_bytes(tmp_path: Path) -> None:
    for fmt in ("csv", "parquet"):
        a, b = tmp_path / f"a-{fmt}", tmp_path / f"b-{fmt}"
        _solve(a, "--format", fmt)
        _solve(b, "--format", fmt)
        for name in (f"assignments.{fmt}", f"unmatched.{fmt}"):
            assert (a / name).read_bytes() == (b / name).read_bytes()
        sa, sb = (json.loads((d / "summary.json").read_text()) for d in (a, b))
        sa.pop("timings_s"), sb.pop("timings_s")
        assert sa == sb


def test_parquet_instance_same_result_as_csv(tmp_path: Path) -> None:
    inst = tmp_path / "pq"
    inst.mkdir()
    for f in TINY.glob("*.csv"):
        # Shuffle rows too: results must not depend on row order.
        pl.read_csv(f, infer_schema=False).reverse().write_parquet(inst / f"{f.stem}.parquet")
    out_csv, out_pq = tmp_path / "o1", tmp_path / "o2"
    _solve(out_csv)
    res = runner.invoke(app, ["solve", str(inst), "--out", str(out_pq), "--quiet"])
    assert res.exit_code == 0, res.output
    assert (out_csv / "assignments.csv").read_bytes() == (out_pq / "assignments.csv").read_bytes()


def test_rerun_replaces_out_atomically(tmp_path: Path) -> None:
    """An earlier result is replaced whole; a file the user put into it stops the run."""
    out = tmp_path / "res"
    _solve(out)
    (out / "assignments.csv").write_text("old")
    _solve(out)
    assert (out / "assignments.csv").read_text() != "old"
    (out / "notes.txt").write_text("mine")
    res = runner.invoke(app, ["solve", str(TINY), "--out", str(out), "--quiet"])
    assert res.exit_code == 2 and "notes.txt" in res.stderr
    assert (out / "notes.txt").read_text() == "mine"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_python_dash_m(tmp_path: Path) -> None:
    inst = tmp_path / "tiny"
    shutil.copytree(TINY, inst)
    proc = subprocess.run(
        [sys.executable, "-m", "matcher", "validate", str(inst)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert "valid" in proc.stdout and "eligible pairs" in proc.stdout


def test_generate_then_solve(tmp_path: Path) -> None:
    inst = tmp_path / "gen"
    res = runner.invoke(
        app,
        [
            "generate",
            str(inst),
            "--candidates",
            "300",
            "--employers",
            "30",
            "--seed",
            "7",
            "--unlisted-share",
            "0.2",
            "--policy",
            str(JAPAN),
            "--quiet",
        ],
    )
    assert res.exit_code == 0, res.output
    assert (inst / "policy.toml").is_file()
    out = tmp_path / "out"
    res = runner.invoke(app, ["solve", str(inst), "--out", str(out), "--format", "parquet", "--quiet"])
    assert res.exit_code == 0, res.output
    assert runner.invoke(app, ["verify", str(inst), str(out)]).exit_code == 0
    again = tmp_path / "gen2"
    runner.invoke(
        app,
        [
            "generate",
            str(again),
            "--candidates",
            "300",
            "--employers",
            "30",
            "--seed",
            "7",
            "--unlisted-share",
            "0.2",
            "--quiet",
        ],
    )
    for f in ("candidates.csv", "preferences.csv", "slots.csv"):
        assert (inst / f).read_bytes() == (again / f).read_bytes()


def test_solve_with_the_mip_backend(tmp_path: Path) -> None:
    """``--backend mip`` from the command line: optimal, the floor kept and verified."""
    policy = tmp_path / "floor.toml"
    policy.write_text('name = "north"\n[[floors]]\nname = "north"\nprefectures = ["Hokkaido"]\nmin = 2\n')
    out = tmp_path / "res"
    _solve(out, "--policy", str(policy), "--backend", "mip")
    s = json.loads((out / "summary.json").read_text())
    assert s["status"] == "optimal" and s["backend"] == "mip"
    a = pl.read_csv(out / "assignments.csv")
    assert a.filter(pl.col("employer_id") == "E2").height == 2  # E2 is the Hokkaido employer
    res = runner.invoke(app, ["verify", str(TINY), str(out), "--policy", str(policy)])
    assert res.exit_code == 0, res.output


def test_employer_cap_from_a_policy_file(tmp_path: Path) -> None:
    """An intake rule per employer (``per = "employer"``): kept by the solve, and a result
    that breaks it fails ``matcher verify`` (exit 1) naming the employer and the rule."""
    policy = tmp_path / "employer.toml"
    policy.write_text(
        'name = "one each"\n[[intake]]\nname = "one per employer"\ngroup = "esdp"\n'
        'per = "employer"\ntiers = [[100, 1]]\n'
    )
    free = tmp_path / "free"
    _solve(free)
    assert pl.read_csv(free / "assignments.csv").filter(pl.col("employer_id") == "E2").height == 2
    res = runner.invoke(app, ["verify", str(TINY), str(free), "--policy", str(policy)])
    assert (
        res.exit_code == 1 and "employer_cap" in res.output and "E2 (one per employer): 2 > 1" in res.output
    )
    capped = tmp_path / "capped"
    _solve(capped, "--policy", str(policy))  # one sector per employer: the core keeps it
    a = pl.read_csv(capped / "assignments.csv")
    assert a.group_by("employer_id").len()["len"].max() == 1
    s = json.loads((capped / "summary.json").read_text())
    assert s["status"] == "optimal" and s["backend"] == "core"
    res = runner.invoke(app, ["verify", str(TINY), str(capped), "--policy", str(policy)])
    assert res.exit_code == 0, res.output
