"""What Japanese program offices export: cp932 and UTF-8 CSV, Excel workbooks, and the
structural faults of hand-edited files (separators, duplicate headers, blank lines, ragged
rows), each reported with its file and line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import polars as pl
import pytest
from typer.testing import CliRunner
from xlsxwriter import Workbook

import matcher
from matcher import InputError, instance_from_frames, load_instance
from matcher.cli import app

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "instances" / "tiny"
STEMS = ("candidates", "aptitudes", "employers", "slots", "preferences")
runner = CliRunner()


def _frames() -> dict[str, pl.DataFrame]:
    """The tiny instance with kanji in a free-text column (nationality)."""
    frames = {s: pl.read_csv(TINY / f"{s}.csv", infer_schema=False) for s in STEMS}
    kanji = {"VN": "ベトナム", "ID": "インドネシア", "MM": "ミャンマー", "PH": "フィリピン"}
    frames["candidates"] = frames["candidates"].with_columns(
        pl.col("nationality").replace_strict(kanji, default="中国")
    )
    return frames


def _write_csv(directory: Path, frames: dict[str, pl.DataFrame], encoding: str) -> Path:
    directory.mkdir()
    for stem, frame in frames.items():
        (directory / f"{stem}.csv").write_bytes(frame.write_csv().encode(encoding))
    return directory


def _same(a: matcher.Instance, b: matcher.Instance) -> None:
    for name, table in a.tables().items():
        assert table.equals(b.tables()[name]), name


@pytest.mark.parametrize("encoding", ["cp932", "utf-8-sig", "shift_jis"])
def test_encodings_load_the_same_instance(tmp_path: Path, encoding: str) -> None:
    frames = _frames()
    base = load_instance(_write_csv(tmp_path / "utf8", frames, "utf-8"))
    other = load_instance(_write_csv(tmp_path / "other", frames, encoding))
    _same(base, other)
    assert "ベトナム" in other.candidates.get_column("nationality").to_list()
    named = "cp932" if encoding != "utf-8-sig" else "utf-8"
    _same(base, load_instance(tmp_path / "other", encoding=named))


def test_wrong_or_unknown_encoding_names_file_and_line(tmp_path: Path) -> None:
    inst = _write_csv(tmp_path / "sjis", _frames(), "cp932")
    with pytest.raises(InputError) as info:
        load_instance(inst, encoding="utf-8")
    assert "candidates.csv: cannot be read: not utf-8 text: the first bad byte is on line 2" in str(
        info.value
    )
    bad = tmp_path / "bad"
    shutil.copytree(TINY, bad)
    lines = (bad / "slots.csv").read_bytes().split(b"\n")
    lines[2] = lines[2] + b"\x80\xff"
    (bad / "slots.csv").write_bytes(b"\n".join(lines))
    with pytest.raises(InputError) as info:
        load_instance(bad)
    assert "slots.csv: cannot be read: neither UTF-8 nor cp932 (Shift-JIS) text" in str(info.value)
    assert "line 3" in str(info.value)
    with pytest.raises(ValueError, match="encoding must be one of auto, utf-8, cp932, shift_jis"):
        load_instance(TINY, encoding="latin-1")


def test_cli_reads_cp932_and_refuses_unknown_encoding(tmp_path: Path) -> None:
    inst = _write_csv(tmp_path / "sjis", _frames(), "cp932")
    for extra in ([], ["--encoding", "cp932"], ["--encoding", "shift_jis"]):
        res = runner.invoke(app, ["validate", str(inst), *extra])
        assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["solve", str(inst), "--encoding", "euc-jp"])
    assert res.exit_code == 2 and "--encoding" in res.stderr and "Traceback" not in res.output


def _replace(inst: Path, stem: str, text: str) -> None:
    (inst / f"{stem}.csv").write_text(text, encoding="utf-8")


@pytest.fixture
def inst(tmp_path: Path) -> Path:
    shutil.copytree(TINY, tmp_path / "inst")
    return tmp_path / "inst"


@pytest.mark.parametrize(("sep", "name"), [("\t", "tab"), (";", "semicolon")])
def test_other_separators_are_named(inst: Path, sep: str, name: str) -> None:
    text = (inst / "slots.csv").read_text().replace(",", sep)
    _replace(inst, "slots", text)
    with pytest.raises(InputError, match=f"slots.csv: cannot be read: the file is {name}-separated"):
        load_instance(inst)


def test_duplicate_header_is_an_error(inst: Path) -> None:
    _replace(inst, "slots", "employer_id,sector,track,capacity,capacity\nE1,food_service,esdp,1,2\n")
    with pytest.raises(InputError) as info:
        load_instance(inst)
    assert "slots.csv, column capacity: column header appears 2 times (columns 4, 5)" in str(info.value)


def test_trailing_blank_lines_are_ignored_and_inner_ones_reported(inst: Path) -> None:
    text = (inst / "slots.csv").read_text()
    _replace(inst, "slots", text + "\n\n\r\n")
    _same(load_instance(TINY), load_instance(inst))
    lines = text.splitlines()
    _replace(inst, "slots", "\n".join([*lines[:2], "", *lines[2:]]) + "\n\n")
    with pytest.raises(InputError) as info:
        load_instance(inst)
    assert "slots.csv, row 2: blank line between rows: delete it" in str(info.value)


def test_ragged_row_and_open_quote_give_the_line(inst: Path) -> None:
    text = (inst / "slots.csv").read_text().splitlines()
    _replace(inst, "slots", "\n".join([*text[:2], text[2] + ",7,8", *text[3:]]) + "\n")
    with pytest.raises(InputError, match=r"slots\.csv: cannot be read: line 3 has 6 fields, the header 4"):
        load_instance(inst)
    _replace(inst, "slots", "\n".join([*text[:2], '"' + text[2], *text[3:]]) + "\n")
    with pytest.raises(
        InputError, match=r"slots.csv: cannot be read: line \d+: a quoted value is not closed"
    ):
        load_instance(inst)


def test_policy_problems_come_with_the_table_problems(inst: Path, tmp_path: Path) -> None:
    _replace(inst, "slots", "employer_id,sector,track,capacity\nE1,food_service,esdp,-1\n")
    policy = tmp_path / "bad.toml"
    policy.write_text("[limits]\nmax_pairs = 5\n")
    with pytest.raises(InputError) as info:
        load_instance(inst, policy=policy)
    text = str(info.value)
    assert "problems in the policy and instance" in text
    assert "limits.max_pairs" in text and "slots.csv, row 1, column capacity" in text
    res = runner.invoke(app, ["validate", str(inst), "--policy", str(policy)])
    assert res.exit_code == 2 and "limits.max_pairs" in res.stderr and "capacity" in res.stderr
    res = runner.invoke(app, ["solve", str(inst), "--policy", str(tmp_path)])
    assert res.exit_code == 2 and "is a directory, not a policy file" in res.stderr


# ---- Excel --------------------------------------------------------------------------


def _sheet(book: Workbook, name: str, frame: pl.DataFrame) -> None:
    """A sheet as an office would type it: numbers as numbers, text as text."""
    sheet = book.add_worksheet(name)
    sheet.write_row(0, 0, frame.columns)
    for r, row in enumerate(frame.iter_rows(), start=1):
        for c, value in enumerate(row):
            if value is None:
                continue
            try:
                number = float(value)
            except ValueError:
                sheet.write_string(r, c, value)
            else:
                sheet.write_number(r, c, number)


def test_excel_files_sheets_and_workbooks_load_like_csv(tmp_path: Path) -> None:
    frames = _frames()
    base = load_instance(_write_csv(tmp_path / "csv", frames, "utf-8"))
    per_table = tmp_path / "per-table"
    per_table.mkdir()
    for stem, frame in frames.items():
        with Workbook(str(per_table / f"{stem}.xlsx")) as book:
            _sheet(book, "Sheet1", frame)
    _same(base, load_instance(per_table))
    one = tmp_path / "office.xlsx"
    with Workbook(str(one)) as book:
        _sheet(book, "README", pl.DataFrame({"note": ["exported by the office"]}))
        for stem, frame in frames.items():
            _sheet(book, stem, frame)
    _same(base, load_instance(one))
    in_dir = tmp_path / "in-dir"
    in_dir.mkdir()
    shutil.copy(one, in_dir / "office.xlsx")
    (in_dir / "policy.toml").write_text('name = "from the folder"\n')
    loaded = load_instance(in_dir)
    _same(base, loaded)
    assert loaded.policy.name == "from the folder"
    res = runner.invoke(app, ["solve", str(one), "--out", str(tmp_path / "out"), "--format", "xlsx", "-q"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["verify", str(one), str(tmp_path / "out"), "-q"])
    assert res.exit_code == 0 and "no violation" in res.stdout


def test_excel_problems_name_file_sheet_and_row(tmp_path: Path) -> None:
    frames = _frames()
    inst = _write_csv(tmp_path / "inst", {k: v for k, v in frames.items() if k != "slots"}, "utf-8")
    slots = frames["slots"].with_columns(
        pl.when(pl.int_range(pl.len()) == 1).then(pl.lit("x")).otherwise(pl.col("capacity")).alias("capacity")
    )
    with Workbook(str(inst / "office.xlsx")) as book:
        _sheet(book, "slots", slots)
        sheet = book.add_worksheet("candidates")
        sheet.write_row(0, 0, ["candidate_id", "candidate_id"])
    with pytest.raises(InputError) as info:
        load_instance(inst)
    text = str(info.value)
    assert "office.xlsx (sheet slots), row 2, column capacity" in text and "not a number" in text
    assert "candidates.* : the table is in candidates.csv and office.xlsx (sheet candidates)" not in text
    assert "the table is in candidates.csv and office.xlsx (sheet candidates): keep one" in text
    (inst / "broken.xlsx").write_bytes(b"PK\x03\x04 not really a workbook")
    with pytest.raises(InputError, match=r"broken\.xlsx: cannot be read: not an Excel workbook"):
        load_instance(inst)


# ---- data frames ----------------------------------------------------------------------


def test_frames_from_pandas_and_lazy_polars() -> None:
    frames = _frames()
    base = instance_from_frames(**frames)
    _same(base, instance_from_frames(**{k: v.lazy() for k, v in frames.items()}))
    as_pandas = {
        k: pd.DataFrame({c: v.get_column(c).to_list() for c in v.columns}) for k, v in frames.items()
    }
    _same(base, instance_from_frames(**as_pandas))
    with pytest.raises(
        TypeError, match="slots: expected a polars DataFrame or LazyFrame or a pandas DataFrame"
    ):
        instance_from_frames(**{**frames, "slots": [1, 2]})


# ---- verify against changed files ------------------------------------------------------------


def test_verify_says_when_the_instance_changed(inst: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert runner.invoke(app, ["solve", str(inst), "--out", str(out), "-q"]).exit_code == 0
    res = runner.invoke(app, ["verify", str(inst), str(out), "-q"])
    assert "instance files  as solved" in res.stdout
    with (inst / "employers.csv").open("a") as fh:
        fh.write("E9,Tokyo,10\n")
    res = runner.invoke(app, ["verify", str(inst), str(out)])
    assert (
        "changed since the solve" in res.stdout
        and "differ from those the result was solved from" in res.stderr
    )
    for damaged in ("[1, 2]", "{not json", '{"method": "stable", "stable": {}}', '{"policy": 3}'):
        (out / "summary.json").write_text(damaged)
        res = runner.invoke(app, ["verify", str(inst), str(out)])
        assert res.exit_code == 2 and "summary.json" in res.stderr and "Traceback" not in res.output
    assert json.loads((out / ".matcher-output.json").read_text())["kind"] == "result"
