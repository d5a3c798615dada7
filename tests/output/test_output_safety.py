"""Outputs never cost a user a file: what may be replaced, failed runs, interruptions,
permissions, and CSV cells that a spreadsheet would run as formulas."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

import matcher
from matcher.cli import app
from matcher.errors import OutputError
from matcher.output.directories import MARKER, write_output
from matcher.output.files import neutralise_cells, restore_cells

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "instances" / "tiny"
runner = CliRunner()

#: A policy under which the tiny instance has no feasible assignment (a floor of 3 in
#: Tokyo, where at most 1 candidate can go).
INFEASIBLE = '[[floors]]\nname = "capital"\nprefectures = ["Tokyo"]\nmin = 3\n'


def _tree(root: Path) -> dict[str, tuple[bytes | None, int]]:
    """Every entry below ``root`` (hidden ones too): its bytes (None for a directory) and mode."""
    return {
        str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None, p.stat().st_mode)
        for p in sorted(root.rglob("*"))
    }


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory with a copy of the tiny instance (``inst``), a user's
    documents folder, and an earlier result (``res``); the test runs inside it."""
    shutil.copytree(TINY, tmp_path / "inst")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "thesis.docx").write_bytes(b"PK\x03\x04 a thesis")
    (tmp_path / "notes.txt").write_text("notes\n")
    (tmp_path / "infeasible.toml").write_text(INFEASIBLE)
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, ["solve", "inst", "--out", "res", "--quiet"])
    assert res.exit_code == 0, res.output
    return tmp_path


REFUSED = [
    ("instance itself", ["solve", "inst", "--out", "inst"], "is the input"),
    ("parent of the instance", ["solve", "inst", "--out", "."], "current directory"),
    ("parent by absolute path", ["solve", "{work}/inst", "--out", "{work}"], "current directory"),
    ("folder with other files", ["solve", "inst", "--out", "docs"], "thesis.docx"),
    ("a file", ["solve", "inst", "--out", "notes.txt"], "not a directory"),
    ("a result as transfer output", ["transfer", "inst", "--out", "res"], "not a transfer output"),
    ("a result as generate output", ["generate", "res", "--candidates", "5"], "not an instance output"),
    ("generate over a folder", ["generate", "docs", "--candidates", "5"], "thesis.docx"),
    ("generate over the cwd", ["generate", ".", "--candidates", "5"], "current directory"),
    ("policy file's folder", ["solve", "inst", "--policy", "docs/p.toml", "--out", "docs"], "docs"),
]


@pytest.mark.parametrize(("argv", "says"), [pytest.param(a, s, id=i) for i, a, s in REFUSED])
def test_refused_output_leaves_every_file_unchanged(work: Path, argv: list[str], says: str) -> None:
    before = _tree(work)
    res = runner.invoke(app, [a.format(work=work) for a in argv])
    assert res.exit_code == 2, res.output
    assert res.stderr.startswith("error: --out") and says in res.stderr
    assert "Traceback" not in res.output
    assert _tree(work) == before


def test_file_added_to_an_earlier_result_stops_the_run(work: Path) -> None:
    (work / "res" / "my-analysis.xlsx").write_bytes(b"mine")
    before = _tree(work)
    res = runner.invoke(app, ["solve", "inst", "--out", "res", "--quiet"])
    assert res.exit_code == 2 and "my-analysis.xlsx" in res.stderr
    assert _tree(work) == before


def test_earlier_result_is_replaced_and_marked(work: Path) -> None:
    marker = json.loads((work / "res" / MARKER).read_text())
    assert marker["kind"] == "result" and marker["success"] is True
    assert marker["files"] == ["assignments.csv", "audit.csv", "caps.csv", "summary.json", "unmatched.csv"]
    res = runner.invoke(app, ["solve", "inst", "--out", "res", "--format", "parquet", "--quiet"])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in (work / "res").iterdir()) == sorted(
        [MARKER, "assignments.parquet", "audit.parquet", "caps.parquet", "summary.json", "unmatched.parquet"]
    )
    assert not [p for p in work.iterdir() if p.name.startswith(".")]


def test_failed_run_never_replaces_a_successful_result(work: Path) -> None:
    before = _tree(work)
    res = runner.invoke(app, ["solve", "inst", "--policy", "infeasible.toml", "--out", "res", "--quiet"])
    assert res.exit_code == 1, res.output
    assert "infeasible" in res.stdout and "not written" in res.stdout
    assert _tree(work) == before
    # Into a new directory the failed run's summary is written, marked as unsuccessful ...
    res = runner.invoke(app, ["solve", "inst", "--policy", "infeasible.toml", "--out", "failed", "--quiet"])
    assert res.exit_code == 1 and "written to" in res.stdout
    assert json.loads((work / "failed" / MARKER).read_text())["success"] is False
    assert json.loads((work / "failed" / "summary.json").read_text())["status"] == "infeasible"
    # ... and a later successful run replaces it.
    res = runner.invoke(app, ["solve", "inst", "--out", "failed", "--quiet"])
    assert res.exit_code == 0
    assert json.loads((work / "failed" / MARKER).read_text())["success"] is True


def test_library_write_refuses_the_same_targets(work: Path) -> None:
    result = matcher.solve(matcher.load_instance("inst"))
    for target, says in (("inst", "is the input"), ("docs", "thesis.docx"), (".", "current directory")):
        before = _tree(work)
        with pytest.raises(OutputError, match=says):
            result.write(target)
        assert _tree(work) == before
    failed = matcher.solve(matcher.load_instance("inst", policy="infeasible.toml"))
    assert not failed.success
    with pytest.raises(OutputError, match="does not replace it"):
        failed.write("res")


def test_interrupted_write_leaves_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"

    def writer(tmp: Path) -> None:
        (tmp / "assignments.csv").write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_output(out, "result", writer)
    assert list(tmp_path.iterdir()) == []


def test_stale_temporaries_of_a_killed_run_are_removed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    dead = _dead_pid()
    stale = tmp_path / f".out.matcher-tmp-{dead}-0a1b2c3d"
    stale.mkdir()
    (stale / "assignments.csv").write_text("placements of a killed run")
    unrelated = tmp_path / ".out.backup"
    unrelated.mkdir()
    write_output(tmp_path / "out", "result", lambda d: (d / "summary.json").write_text("{}"))
    assert not stale.exists() and unrelated.exists()
    assert "left by an interrupted run" in caplog.text


def test_output_moved_aside_by_a_killed_run_is_put_back(tmp_path: Path) -> None:
    """A run killed between moving the earlier output aside and renaming the new one in:
    the next run puts the earlier output back before anything else."""
    dead = _dead_pid()
    aside = tmp_path / f".out.matcher-old-{dead}-0a1b2c3d"
    aside.mkdir()
    (aside / "summary.json").write_text('{"earlier": true}')
    (aside / MARKER).write_text(json.dumps({"kind": "result", "success": True, "files": ["summary.json"]}))

    def fail(tmp: Path) -> None:
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_output(tmp_path / "out", "result", fail)
    assert json.loads((tmp_path / "out" / "summary.json").read_text()) == {"earlier": True}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.mark.parametrize(("umask", "dir_mode", "file_mode"), [(0o022, 0o755, 0o644), (0o077, 0o700, 0o600)])
def test_outputs_follow_the_umask(tmp_path: Path, umask: int, dir_mode: int, file_mode: int) -> None:
    old = os.umask(umask)
    try:
        matcher.solve(matcher.load_instance(TINY)).write(tmp_path / "out")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "out").stat().st_mode) == dir_mode
    for f in (tmp_path / "out").iterdir():
        assert stat.S_IMODE(f.stat().st_mode) == file_mode, f.name


def test_sigterm_during_write_leaves_no_partial_output(tmp_path: Path) -> None:
    """A SIGTERM while the outputs are being written ends the run as Ctrl-C does: the
    temporary directory is removed and ``out`` is not created."""
    script = textwrap.dedent(
        """
        import sys, time
        from pathlib import Path
        from matcher.cli import main
        from matcher.output import directories

        def slow(out, kind, writer, **kw):
            def slower(tmp):
                writer(tmp)
                (tmp / "written").touch()
                time.sleep(30)
            return real(out, kind, slower, **kw)

        real = directories.write_output
        import matcher.output.files
        matcher.output.files.write_output = slow
        sys.argv = ["matcher", "solve", sys.argv[1], "--out", sys.argv[2], "--quiet"]
        main()
        """
    )
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(TINY), str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob(".out.matcher-tmp-*/written")):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "interrupted" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


# ---- CSV cells a spreadsheet would run ----------------------------------------------

HOSTILE = ['=HYPERLINK("http://x","y")', "+cmd|' /C calc'!A0", "@SUM(1+1)", "-2+3", "\tTAB", "'quoted", "ok"]


def test_neutralise_and_restore_are_inverse() -> None:
    frame = pl.DataFrame({"id": [*HOSTILE, None], "n": list(range(len(HOSTILE) + 1))})
    safe = neutralise_cells(frame)
    shown = safe.get_column("id").to_list()
    assert shown[:6] == ["'" + v for v in HOSTILE[:6]] and shown[6] == "ok" and shown[7] is None
    assert restore_cells(safe).equals(frame)


def test_formula_ids_are_neutralised_in_csv_and_raw_elsewhere(tmp_path: Path) -> None:
    """Ids that a spreadsheet would run: CSV outputs carry them behind an apostrophe,
    Parquet and xlsx as given, and verify reads the CSV back to the same ids."""
    inst = tmp_path / "inst"
    shutil.copytree(TINY, inst)
    ids = {"C1": HOSTILE[0], "C2": HOSTILE[1], "C3": HOSTILE[2], "C4": HOSTILE[3]}
    for stem in ("candidates", "aptitudes", "preferences"):
        frame = pl.read_csv(inst / f"{stem}.csv", infer_schema=False)
        frame.with_columns(pl.col("candidate_id").replace(ids)).write_csv(inst / f"{stem}.csv")
    outs = {}
    for fmt in ("csv", "parquet", "xlsx"):
        res = runner.invoke(app, ["solve", str(inst), "--out", str(tmp_path / fmt), "--format", fmt, "-q"])
        assert res.exit_code == 0, res.output
        outs[fmt] = tmp_path / fmt
        check = runner.invoke(app, ["verify", str(inst), str(tmp_path / fmt), "-q"])
        assert check.exit_code == 0 and "no violation" in check.stdout, check.output
    cells = pl.read_csv(outs["csv"] / "assignments.csv", infer_schema=False).get_column("candidate_id")
    placed = pl.read_parquet(outs["parquet"] / "assignments.parquet").get_column("candidate_id").to_list()
    assert sum(v in ids.values() for v in placed) >= 3
    assert cells.to_list() == [f"'{v}" if v in ids.values() else v for v in placed]
    import fastexcel

    sheet = fastexcel.read_excel(str(outs["xlsx"] / "assignments.xlsx")).load_sheet(0, dtypes="string")
    assert sheet.to_polars().get_column("candidate_id").to_list() == placed


def test_xlsx_outputs_are_deterministic(tmp_path: Path) -> None:
    result = matcher.solve(matcher.load_instance(TINY))
    result.write(tmp_path / "a", format="xlsx")
    time.sleep(1.1)
    result.write(tmp_path / "b", format="xlsx")
    for name in ("assignments.xlsx", "unmatched.xlsx", MARKER):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
