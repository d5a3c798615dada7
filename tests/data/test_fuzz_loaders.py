"""Fuzzing the loaders: whatever the files or frames hold, loading either succeeds or
raises :class:`matcher.InputError` with a clean list of problems.

Users hand matcher exports from office software, damaged downloads and hand-edited
spreadsheets. No such input may surface a parser's own exception (polars, pyarrow,
fastexcel, ``UnicodeDecodeError``, ``KeyError``, a Rust panic) or hang: each problem
must name a file of the instance and read as plain text, without traceback text or raw
control characters. The tests start from the shipped tiny instance and damage one table
at a time (random bytes, mutated CSV text, Parquet columns of random types, random
Excel sheets, random data frames), so that the other tables stay valid and the damaged
one is what the loader has to cope with.

Column types that have no text form (Duration, Binary that is no UTF-8, Object) are
reported by name; tests below pin that.
Each test draws a modest number of examples so that the whole file stays well under a
minute in ``make test``.
"""

from __future__ import annotations

import faulthandler
import io
import math
import re
import tempfile
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import polars as pl
import pytest
from hypothesis import HealthCheck, currently_in_test_context, event, given, settings
from hypothesis import strategies as st

from matcher import InputError, Instance, instance_from_frames, load_instance
from matcher.data.model import SCHEMA, TABLES
from matcher.data.readers import ENCODINGS, TABLE_SUFFIXES
from tests.strategies import examples

TINY = Path(__file__).resolve().parents[2] / "instances" / "tiny"
#: The tiny instance's files (all CSV), by table stem.
TINY_CSV: dict[str, bytes] = {p.stem: p.read_bytes() for p in sorted(TINY.glob("*.csv"))}
TINY_FRAMES: dict[str, pl.DataFrame] = {
    stem: pl.read_csv(io.BytesIO(data), infer_schema=False) for stem, data in TINY_CSV.items()
}
#: Contract columns of the optional tables the tiny instance lacks, as text frames of
#: plausible rows (they name the tiny instance's candidates and employers).
EXTRA_FRAMES: dict[str, pl.DataFrame] = {
    "employer_rankings": pl.DataFrame(
        {"employer_id": ["E1", "E1"], "candidate_id": ["C1", "C2"], "rank": ["1", "2"]}
    ),
    "incumbents": pl.DataFrame(
        {
            "candidate_id": ["C3"],
            "employer_id": ["E3"],
            "sector": ["food_service"],
            "track": ["ssw1"],
            "months_served": ["6"],
            "transferred_in": ["false"],
        }
    ),
    "joint": pl.DataFrame({"group_id": ["G1", "G1"], "candidate_id": ["C1", "C2"]}),
}
ALL_FRAMES = TINY_FRAMES | EXTRA_FRAMES
STEMS = tuple(TABLES)

#: A load of the tiny instance, however damaged, takes well under a second; a load that
#: takes longer than this is a pathological slowdown, one that takes longer than
#: ``HANG_S`` is stopped with a traceback of every thread (the test run ends there).
SLOW_S = 20.0
HANG_S = 120.0

FUZZ = settings(
    max_examples=examples(60),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
#: For the tests that write and load two workbooks per example.
FUZZ_TWICE = settings(FUZZ, max_examples=examples(30))


#: Text a parser or Python leaks when its exception is passed on as it comes.
LEAK_MARKERS = (
    "Traceback",
    'File "',
    "polars.exceptions",
    "pyo3_runtime",
    "pyarrow",
    "fastexcel",
    "panicked",
)
LEAK_PATTERN = re.compile(r"\b[A-Z][A-Za-z]*(Error|Exception|Panic)\b:")


# ---- checking one load ----------------------------------------------------------------


@contextmanager
def watchdog() -> Iterator[None]:
    """Fail on a slow load; end the run with every thread's traceback on a hang (a
    Rust-side loop never returns to Python, so no exception could stop it)."""
    faulthandler.dump_traceback_later(HANG_S, exit=True)
    start = time.perf_counter()
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()
    elapsed = time.perf_counter() - start
    assert elapsed < SLOW_S, f"loading took {elapsed:.1f} s"


@contextmanager
def no_panic() -> Iterator[None]:
    """Turn a Rust panic (pyo3's ``PanicException``, a BaseException) into a failure that
    Hypothesis shrinks and reports; it lets other BaseExceptions through."""
    try:
        yield
    except Exception:
        raise
    except (KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except BaseException as exc:
        raise AssertionError(f"{type(exc).__module__}.{type(exc).__name__}: {exc}") from exc


def file_names(directory: Path) -> set[str]:
    """The names a problem may give as its file: the instance's files, a sheet of one of
    its workbooks, a missing required table, or a table found in two places."""
    tables = {f"{stem}.csv" for stem in STEMS} | {f"{stem}.*" for stem in STEMS}
    if directory.is_file():
        return {directory.name} | tables
    return {p.name for p in directory.iterdir()} | tables


def names_known_file(file: str, known: set[str]) -> bool:
    if file in known:
        return True
    book, sep, _ = file.partition(" (sheet ")
    return bool(sep) and file.endswith(")") and book in known


def check_input_error(exc: InputError, known: set[str]) -> None:
    """An InputError reads as a clean list of problems, each naming a file of the input."""
    text = str(exc)
    assert text.strip(), "the error has a message"
    assert re.match(r"\d+ problems? in the (policy and )?instance:\n", text), text
    assert exc.problems, "the error lists its problems"
    assert exc.count >= len(exc.problems)
    for p in exc.problems:
        assert p.message.strip(), f"a problem without a message: {p!r}"
        assert names_known_file(p.file, known), f"problem names no file of the input: {p!r}"
        assert f"  - {p}" in text, "every kept problem is listed in the message"
    for marker in LEAK_MARKERS:
        assert marker not in text, f"{marker!r} leaked into the message:\n{text}"
    assert not LEAK_PATTERN.search(text), f"an exception's text leaked into the message:\n{text}"
    # Data values and column names may hold NUL, tabs, CR or invisible spaces; the message
    # escapes them (matcher.errors), so every line of it is printable text.
    for line in text.split("\n"):
        assert line.isprintable(), f"unprintable characters in {line!r}"


def check_instance(inst: Instance) -> None:
    """A loaded instance has the contract's dtypes in the columns matcher reads."""
    for stem, frame in inst.tables().items():
        for col, dtype in SCHEMA[stem].items():
            if col in frame.columns:
                assert frame.schema[col] == dtype, f"{stem}.{col} is {frame.schema[col]}, not {dtype}"


def tally(outcome: str) -> None:
    """Count outcomes in Hypothesis' statistics (``--hypothesis-show-statistics``)."""
    if currently_in_test_context():
        event(outcome)


def load(directory: Path, *, encoding: str = "auto") -> Instance | InputError:
    """Load ``directory``; an InputError is checked and returned, anything else raises."""
    known = file_names(directory)
    with watchdog(), no_panic():
        try:
            inst = load_instance(directory, encoding=encoding)
        except InputError as exc:
            check_input_error(exc, known)
            tally("InputError")
            return exc
    check_instance(inst)
    tally("loaded")
    return inst


def tiny_copy(root: Path, *, without: tuple[str, ...] = ()) -> Path:
    """A copy of the tiny instance under ``root`` (leaving out the tables ``without``)."""
    directory = root / "inst"
    directory.mkdir()
    for stem, data in TINY_CSV.items():
        if stem not in without:
            (directory / f"{stem}.csv").write_bytes(data)
    return directory


def problem_files(result: Instance | InputError) -> set[str]:
    return {p.file for p in result.problems} if isinstance(result, InputError) else set()


# ---- 1. random bytes as a table file ---------------------------------------------------


def _parquet_bytes(frame: pl.DataFrame) -> bytes:
    buf = io.BytesIO()
    frame.write_parquet(buf)
    return buf.getvalue()


def _xlsx_bytes(frame: pl.DataFrame, sheet: str) -> bytes:
    buf = io.BytesIO()
    frame.write_excel(buf, worksheet=sheet)
    return buf.getvalue()


#: A valid file of each format (the tiny candidates), for damage that keeps most of it.
VALID_BYTES = {
    ".csv": TINY_CSV["candidates"],
    ".parquet": _parquet_bytes(TINY_FRAMES["candidates"]),
    ".xlsx": _xlsx_bytes(TINY_FRAMES["candidates"], "candidates"),
}


@st.composite
def damaged(draw: st.DrawFn, valid: bytes) -> bytes:
    """``valid`` with a few bytes flipped, a slice cut out or its tail cut off."""
    data = bytearray(valid)
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            break
        kind = draw(st.sampled_from(["flip", "cut", "truncate"]))
        at = draw(st.integers(0, len(data) - 1))
        if kind == "flip":
            data[at] ^= draw(st.integers(1, 255))
        elif kind == "cut":
            del data[at : at + draw(st.integers(1, 64))]
        else:
            del data[at:]
    return bytes(data)


@st.composite
def zip_bytes(draw: st.DrawFn) -> bytes:
    """A zip archive (what an .xlsx is) of random members, some named like a workbook's."""
    names = ["[Content_Types].xml", "xl/workbook.xml", "xl/worksheets/sheet1.xml", "_rels/.rels", "x"]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name in draw(st.lists(st.sampled_from(names), unique=True, max_size=4)):
            z.writestr(name, draw(st.binary(max_size=200)))
    return buf.getvalue()


def random_file_bytes(suffix: str) -> st.SearchStrategy[bytes]:
    """Bytes for a file of ``suffix``: random, text-like, with the format's magic, or a
    valid file of the format damaged."""
    text = st.text(max_size=300).map(lambda s: s.encode("utf-8"))
    magic = {
        ".csv": st.binary(max_size=300).map(lambda b: b"candidate_id,nationality\n" + b),
        ".parquet": st.binary(max_size=300).map(lambda b: b"PAR1" + b + b"PAR1"),
        ".xlsx": zip_bytes(),
    }[suffix]
    return st.one_of(st.binary(max_size=2000), text, magic, damaged(VALID_BYTES[suffix]))


@FUZZ
@given(st.sampled_from(STEMS), st.sampled_from(TABLE_SUFFIXES), st.data())
def test_random_bytes_as_a_table_file(stem: str, suffix: str, data: st.DataObject) -> None:
    """Random bytes in one table's file load or give an InputError. Its problems name
    that file, unless the file was read as a table whose ids other tables miss."""
    content = data.draw(random_file_bytes(suffix), label="content")
    with tempfile.TemporaryDirectory() as root:
        directory = tiny_copy(Path(root), without=(stem,))
        (directory / f"{stem}{suffix}").write_bytes(content)
        result = load(directory)
    if isinstance(result, InputError):
        named = any(f.startswith(f"{stem}{suffix}") for f in problem_files(result))
        assert named or all(p.message.startswith("unknown") for p in result.problems), str(result)


@FUZZ
@given(random_file_bytes(".xlsx"))
def test_random_bytes_as_a_workbook_of_sheets(content: bytes) -> None:
    """Random bytes in a workbook that is no table's file (it may hold tables as sheets)
    and in a workbook given instead of a directory: the load succeeds, or its problems
    name the workbook or a table found twice; a workbook alone is never a whole instance."""
    with tempfile.TemporaryDirectory() as root:
        directory = tiny_copy(Path(root))
        (directory / "book.xlsx").write_bytes(content)
        result = load(directory)
        book = Path(root) / "instance.xlsx"
        book.write_bytes(content)
        alone = load(book)
    if isinstance(result, InputError):
        assert any(f.startswith("book.xlsx") or f.endswith(".*") for f in problem_files(result)), str(result)
    assert isinstance(alone, InputError), "random bytes hold no complete instance"


@pytest.mark.parametrize(
    "content",
    [
        b"candidate_id,nationality,japanese_level,track\rC1,VN,A1,esdp\r",
        b"\rcandidate_id,nationality,japanese_level,track\nC1,VN,A1,esdp\n",
        b"c" * 200_000 + b",nationality\nC1,VN\n",
    ],
    ids=["CR line ends", "CR before the header", "header field beyond the csv module's limit"],
)
def test_header_line_the_csv_module_refuses(content: bytes) -> None:
    """A header line Python's csv module cannot split (a bare CR, a field of more than
    131,072 characters) is reported as an unreadable file."""
    with tempfile.TemporaryDirectory() as root:
        directory = tiny_copy(Path(root), without=("candidates",))
        (directory / "candidates.csv").write_bytes(content)
        result = load(directory)
    assert isinstance(result, InputError)
    assert any(p.file == "candidates.csv" and p.message.startswith("cannot be read") for p in result.problems)


def test_parquet_file_that_makes_polars_panic() -> None:
    """A Parquet file with one byte changed on which polars' reader panics (a Rust panic
    is no Exception) is reported as an unreadable file."""
    content = bytearray(VALID_BYTES[".parquet"])
    content[92] ^= 0xFF
    with tempfile.TemporaryDirectory() as root:
        directory = tiny_copy(Path(root), without=("candidates",))
        (directory / "candidates.parquet").write_bytes(content)
        result = load(directory)
    assert isinstance(result, InputError)
    assert problem_files(result) == {"candidates.parquet"}, str(result)


# ---- 2. mutated CSV text ---------------------------------------------------------------

BOM = "\ufeff".encode()
#: Pieces of text that trouble CSV readers: quotes, separators, line ends, NUL, a BOM,
#: kanji and full-width digits in cp932 and UTF-8, an ideographic space, stray bytes.
TOKENS = (
    b'"',
    b'""',
    b",",
    b"\t",
    b";",
    b"|",
    b"\r",
    b"\n",
    b"\r\n",
    b"\n\n",
    b",,,\n",
    b"\x00",
    b"\x1b",
    b"\\",
    BOM,
    "東京都".encode("cp932"),
    "東京都".encode(),
    "１２３".encode("cp932"),
    "１２３".encode(),
    "\u3000".encode(),
    "\u200b".encode(),
    b"\xff",
    b"\x81",
    b"=1+1",
)


@st.composite
def mutated_csv(draw: st.DrawFn, stem: str) -> tuple[bytes, str, int]:
    """The tiny table's CSV text, saved as UTF-8 (with or without a BOM) or as cp932 with
    kanji prefectures and full-width digits, with LF or CRLF line ends, after a few random
    mutations. Returns the bytes, how they were saved and how many mutations they had."""
    source = TINY_CSV[stem] if stem in TINY_CSV else ALL_FRAMES[stem].write_csv().encode()
    text = source.decode()
    if draw(st.booleans()):
        text = text.replace("\n", "\r\n")
    saved = draw(st.sampled_from(["utf-8", "utf-8-sig", "cp932"]))
    if saved == "cp932":  # an export from Japanese office software
        text = text.replace("Tokyo", "東京都").replace("Osaka", "大阪府").replace(",1\r", ",１\r")
        text = text.replace(",1\n", ",１\n")
    data = bytearray(text.encode(saved))
    mutations = draw(st.integers(0, 6))
    for _ in range(mutations):
        kind = draw(
            st.sampled_from(
                ["flip", "insert", "token", "delete", "truncate", "dup_header", "blank", "wide", "quote"]
            )
        )
        at = draw(st.integers(0, len(data)))
        if kind == "flip" and data:
            data[min(at, len(data) - 1)] ^= draw(st.integers(1, 255))
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "token":
            data[at:at] = draw(st.sampled_from(TOKENS)) * draw(st.integers(1, 3))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 16))]
        elif kind == "truncate":
            del data[at:]
        elif kind == "dup_header":  # a header name twice, added or in another's place
            end = data.find(b"\n")
            end = len(data) if end < 0 else end - data[:end].endswith(b"\r")
            fields = bytes(data[:end]).split(b",")
            name = draw(st.sampled_from(fields))
            if draw(st.booleans()):
                fields.insert(draw(st.integers(0, len(fields))), name)
            else:
                fields[draw(st.integers(0, len(fields) - 1))] = name
            data[:end] = b",".join(fields)
        elif kind == "blank":  # a blank line at the start of some line
            starts = [0] + [i + 1 for i, b in enumerate(data) if b == ord("\n")]
            pos = draw(st.sampled_from(starts))
            data[pos:pos] = draw(st.sampled_from([b"\n", b"\r\n", b" \n", b",,\n"]))
        elif kind == "wide":  # ASCII digits as full-width ones (UTF-8 or cp932 bytes)
            enc = draw(st.sampled_from(["utf-8", "cp932"]))
            digits = [i for i, b in enumerate(data) if 0x30 <= b <= 0x39]
            if digits:
                i = draw(st.sampled_from(digits))
                data[i : i + 1] = chr(0xFF10 + data[i] - 0x30).encode(enc)
        elif kind == "quote":  # a quote opened and maybe never closed
            data[at:at] = b'"'
            if draw(st.booleans()):
                end = min(len(data), at + draw(st.integers(1, 12)))
                data[end:end] = b'"'
    return bytes(data), saved, mutations


def decodes(data: bytes, encoding: str) -> bool:
    try:
        data.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


@FUZZ
@given(st.sampled_from(STEMS), st.sampled_from(ENCODINGS), st.data())
def test_mutated_csv_text(stem: str, encoding: str, data: st.DataObject) -> None:
    """A table's CSV text with quotes, separators, line ends, NUL, BOMs, kanji in cp932
    or UTF-8, full-width digits, duplicate headers, blank lines or a cut-off tail loads
    or gives an InputError; text in no encoding asked for is reported as such, and the
    unmutated text loads in each encoding it may be read in."""
    content, saved, mutations = data.draw(mutated_csv(stem), label="content")
    with tempfile.TemporaryDirectory() as root:
        directory = tiny_copy(Path(root), without=(stem,))
        (directory / f"{stem}.csv").write_bytes(content)
        result = load(directory, encoding=encoding)
    readable = {
        "auto": decodes(content, "utf-8") or decodes(content, "cp932"),
        "utf-8": decodes(content, "utf-8"),
        "cp932": decodes(content, "cp932"),
        "shift_jis": decodes(content, "cp932"),
    }[encoding]
    if not readable:
        assert isinstance(result, InputError)
        assert any(p.file == f"{stem}.csv" and "text" in p.message for p in result.problems), str(result)
    if isinstance(result, InputError) and stem not in TINY_CSV:
        # An optional table only refers to the others, so only its own file can be wrong.
        assert problem_files(result) == {f"{stem}.csv"}, str(result)
    if mutations == 0 and (encoding == "auto" or (encoding == "utf-8") == saved.startswith("utf-8")):
        assert isinstance(result, Instance), str(result)


# ---- 3. Parquet columns of random types ------------------------------------------------

#: Text values a table may plausibly hold (ids, codes, numbers in several spellings).
PLAUSIBLE = st.sampled_from(
    [
        *("C1", "C2", "E1", "E3", "G1", "food_service", "esdp", "ssw1", "Tokyo", "東京都", "27", "A1"),
        *("N5", "none", "true", "no", "1", "１０", "0", "-1", "1.5", "1e3", "nan", "inf"),
        *("", " ", "\x00", "\u3000"),
    ]
)
BIG = 2**63


def column(height: int) -> st.SearchStrategy[pl.Series]:
    """A column of ``height`` values of a random dtype, with nulls here and there.

    Leaves out the dtypes that validation cannot yet turn into text (Duration, Binary
    holding bytes that are no UTF-8, Object): :data:`UNCASTABLE` holds them.
    """

    def of(
        values: st.SearchStrategy[Any], dtype: pl.DataType | type[pl.DataType]
    ) -> st.SearchStrategy[pl.Series]:
        cells = st.lists(st.none() | values, min_size=height, max_size=height)
        return cells.map(lambda xs: pl.Series(xs, dtype=dtype))

    floats = st.floats(allow_nan=True, allow_infinity=True)
    return st.one_of(
        of(PLAUSIBLE, pl.String),
        of(st.text(max_size=20), pl.String),
        of(st.integers(-BIG, BIG - 1), pl.Int64),
        of(st.integers(-128, 127), pl.Int8),
        of(st.integers(0, 2**64 - 1), pl.UInt64),
        of(st.integers(0, 2**32 - 1), pl.UInt32),
        of(st.integers(-(2**100), 2**100), pl.Int128),
        of(st.integers(0, 2**128 - 1), pl.UInt128),
        of(floats, pl.Float64),
        of(floats, pl.Float32),
        of(floats, pl.Float16),
        of(st.sampled_from([0.0, -0.0, 1.0, 2.5, 1e300, math.nan, math.inf, -math.inf]), pl.Float64),
        of(st.booleans(), pl.Boolean),
        st.just(pl.Series([None] * height, dtype=pl.Null)),
        of(st.lists(st.integers(-5, 5), max_size=3), pl.List(pl.Int64)),
        of(st.lists(PLAUSIBLE, max_size=3), pl.List(pl.String)),
        of(st.lists(st.integers(0, 9), min_size=2, max_size=2), pl.Array(pl.Int64, 2)),
        of(
            st.fixed_dictionaries({"a": st.integers(0, 9), "b": PLAUSIBLE}),
            pl.Struct({"a": pl.Int64, "b": pl.String}),
        ),
        of(st.dates(), pl.Date),
        of(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1)), pl.Datetime("us")),
        of(st.datetimes(min_value=datetime(2000, 1, 1)), pl.Datetime("ms", "Asia/Tokyo")),
        of(st.times(), pl.Time),
        of(st.decimals(min_value=-(10**6), max_value=10**6, places=2), pl.Decimal(10, 2)),
        of(PLAUSIBLE, pl.Categorical),
        of(st.sampled_from(["C1", "E1", "esdp", "1"]), pl.Enum(["C1", "E1", "esdp", "1"])),
        of(st.binary(max_size=6).map(lambda b: b.hex().encode()), pl.Binary),
        of(st.binary(max_size=6), pl.Binary),
        of(st.timedeltas(min_value=timedelta(days=-9), max_value=timedelta(days=9)), pl.Duration("us")),
    )


@st.composite
def random_frame(draw: st.DrawFn, stem: str) -> pl.DataFrame:
    """The table's frame with some contract columns replaced by columns of random dtypes,
    some dropped and an extra one added; or a frame of a new height, all of it random."""
    base = ALL_FRAMES[stem]
    _, required, optional = TABLES[stem]
    names = [*required, *optional]
    same_height = draw(st.booleans())
    height = base.height if same_height else draw(st.integers(0, 6))
    out: dict[str, pl.Series] = {}
    for name in names:
        fate = draw(
            st.sampled_from(["keep", "random", "random", "drop"] if same_height else ["random", "drop"])
        )
        if fate == "keep" and name in base.columns:
            out[name] = base.get_column(name)
        elif fate != "drop" or (name in required and draw(st.booleans())):
            out[name] = draw(column(height)).alias(name)
    if draw(st.booleans()):
        out["note"] = draw(column(height)).alias("note")
    return pl.DataFrame(list(out.values()))


def nested_contract_columns(frame: pl.DataFrame, stem: str) -> list[str]:
    _, required, optional = TABLES[stem]
    return [c for c in (*required, *optional) if c in frame.columns and frame.schema[c].is_nested()]


@FUZZ
@given(st.sampled_from(STEMS), st.data())
def test_parquet_columns_of_random_types(stem: str, data: st.DataObject) -> None:
    """A Parquet table whose contract columns hold ints, 128-bit ints, UInt64, floats with
    NaN and infinities, booleans, text, nulls, lists, arrays, structs, dates, times,
    datetimes, decimals, categoricals, enums or bytes, with columns missing or added,
    loads or gives an InputError; a nested column is reported by name."""
    frame = data.draw(random_frame(stem), label="frame")
    with tempfile.TemporaryDirectory() as root:
        directory = tiny_copy(Path(root), without=(stem,))
        frame.write_parquet(directory / f"{stem}.parquet")
        result = load(directory)
    for col in nested_contract_columns(frame, stem):
        assert isinstance(result, InputError)
        assert any(p.column == col and "has type" in p.message for p in result.problems), str(result)


#: Columns that have no text form: validation reports them by name.
UNCASTABLE = {
    "duration": pl.Series("nationality", [timedelta(days=1)] * 5, dtype=pl.Duration("us")),
    "bytes that are no UTF-8": pl.Series("nationality", [b"\xff"] * 5, dtype=pl.Binary),
}


@pytest.mark.parametrize("kind", sorted(UNCASTABLE))
def test_parquet_column_that_is_no_text(kind: str) -> None:
    """A contract column of a type that has no text form is reported by name."""
    frame = TINY_FRAMES["candidates"].with_columns(UNCASTABLE[kind])
    with tempfile.TemporaryDirectory() as root:
        directory = tiny_copy(Path(root), without=("candidates",))
        frame.write_parquet(directory / "candidates.parquet")
        result = load(directory)
    assert isinstance(result, InputError)
    assert any(p.column == "nationality" for p in result.problems), str(result)


# ---- 4. Excel sheets -------------------------------------------------------------------


@dataclass(frozen=True)
class Formula:
    text: str


#: What a cell of an export may hold: blanks, numbers (NaN and infinities become Excel
#: error cells), booleans, text, dates and formulas.
CELL = st.one_of(
    st.none(),
    st.integers(-(10**15), 10**15),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    PLAUSIBLE,
    st.text(max_size=30),
    st.datetimes(min_value=datetime(1900, 3, 1), max_value=datetime(2100, 1, 1)),
    st.sampled_from([Formula("=1/0"), Formula("=A1"), Formula('="C"&1'), Formula("=NA()")]),
)
#: Sheet names: no table's, but with spaces, digits, kanji and full-width digits.
SHEET_NAME = st.text(alphabet="abcXYZ _-01東京１", min_size=1, max_size=12)


@dataclass(frozen=True)
class Sheet:
    name: str
    rows: list[list[Any]]


@st.composite
def table_rows(draw: st.DrawFn, stem: str) -> list[list[Any]]:
    """The table's header and rows, with random cells, a duplicated or blank header and
    rows added or cut."""
    base = ALL_FRAMES[stem]
    header: list[Any] = list(base.columns)
    rows: list[list[Any]] = [list(r) for r in base.iter_rows()]
    for _ in range(draw(st.integers(0, 5))):
        kind = draw(
            st.sampled_from(["cell", "cell", "header", "dup_header", "add_row", "cut_rows", "blank_row"])
        )
        if kind == "cell" and any(rows):
            row = draw(st.sampled_from([r for r in rows if r]))
            row[draw(st.integers(0, len(row) - 1))] = draw(CELL)
        elif kind == "header":
            header[draw(st.integers(0, len(header) - 1))] = draw(CELL)
        elif kind == "dup_header":
            header.insert(draw(st.integers(0, len(header))), draw(st.sampled_from(list(base.columns))))
        elif kind == "add_row":
            rows.append(draw(st.lists(CELL, max_size=len(header) + 2)))
        elif kind == "cut_rows":
            del rows[draw(st.integers(0, len(rows))) :]
        else:
            rows.insert(draw(st.integers(0, len(rows))), [])
    return [header, *rows]


@st.composite
def other_sheets(draw: st.DrawFn, taken: set[str]) -> list[Sheet]:
    """Zero to two sheets of random cells under names not in ``taken`` (case ignored)."""
    sheets = []
    for name in draw(st.lists(SHEET_NAME, max_size=2)):
        if name.lower() not in taken:
            taken.add(name.lower())
            sheets.append(Sheet(name, draw(st.lists(st.lists(CELL, max_size=4), max_size=4))))
    return sheets


def write_workbook(path: Path, sheets: list[Sheet]) -> None:
    from xlsxwriter import Workbook

    with Workbook(str(path), {"nan_inf_to_errors": True}) as book:
        dates = book.add_format({"num_format": "yyyy-mm-dd hh:mm"})
        for sheet in sheets:
            ws = book.add_worksheet(sheet.name)
            for r, row in enumerate(sheet.rows):
                for c, v in enumerate(row):
                    if v is None:
                        continue
                    if isinstance(v, bool):
                        ws.write_boolean(r, c, v)
                    elif isinstance(v, int | float):
                        ws.write_number(r, c, v)
                    elif isinstance(v, datetime):
                        ws.write_datetime(r, c, v, dates)
                    elif isinstance(v, Formula):
                        ws.write_formula(r, c, v.text)
                    else:
                        ws.write_string(r, c, v)


def duplicated_name(header: list[Any]) -> bool:
    names = [h.strip() for h in header if isinstance(h, str) and h.strip()]
    return len(names) != len(set(names))


@FUZZ
@given(st.sampled_from(STEMS), st.data())
def test_excel_table_file(stem: str, data: st.DataObject) -> None:
    """``<table>.xlsx`` of random cells (numbers, text, booleans, blanks, dates, error
    cells, formulas), duplicated headers and other sheets loads or gives an InputError;
    a header naming a column twice in the sheet read is reported."""
    rows = data.draw(table_rows(stem), label="rows")
    name = data.draw(st.sampled_from([stem, "Sheet1"]), label="sheet name")
    sheets = [Sheet(name, rows), *data.draw(other_sheets({name.lower()}), label="other sheets")]
    with tempfile.TemporaryDirectory() as root:
        directory = tiny_copy(Path(root), without=(stem,))
        write_workbook(directory / f"{stem}.xlsx", sheets)
        result = load(directory)
    if (name == stem or len(sheets) == 1) and duplicated_name(rows[0]):
        assert isinstance(result, InputError)
        assert any("appears" in p.message for p in result.problems), str(result)


@FUZZ_TWICE
@given(st.lists(st.sampled_from(STEMS), unique=True, min_size=1, max_size=4), st.booleans(), st.data())
def test_excel_sheets_named_after_tables(stems: list[str], keep_csv: bool, data: st.DataObject) -> None:
    """A workbook whose sheets are named after tables (spaces around the name allowed),
    next to the other tables' files, and the same sheets plus the tiny tables as a
    workbook alone: each loads or gives an InputError; a table in both a file and a sheet
    is reported as such."""
    sheets = [
        Sheet(
            data.draw(st.sampled_from([stem, f" {stem}", f"{stem} "])),
            data.draw(table_rows(stem), label=stem),
        )
        for stem in stems
    ]
    sheets += data.draw(other_sheets(set(STEMS)), label="other sheets")
    with tempfile.TemporaryDirectory() as root:
        directory = tiny_copy(Path(root), without=() if keep_csv else tuple(stems))
        write_workbook(directory / "book.xlsx", sheets)
        result = load(directory)
        rest = [
            Sheet(stem, [list(frame.columns), *map(list, frame.rows())])
            for stem, frame in TINY_FRAMES.items()
            if stem not in stems
        ]
        book = Path(root) / "instance.xlsx"
        write_workbook(book, sheets + rest)
        load(book)
    twice = [stem for stem in stems if stem in TINY_CSV] if keep_csv else []
    for stem in twice:
        assert isinstance(result, InputError)
        assert any(p.file == f"{stem}.*" and "keep one" in p.message for p in result.problems), str(result)


# ---- 5. data frames --------------------------------------------------------------------

#: How problems name a table given as a frame (or a required one not given).
FRAME_NAMES = {f"{stem} (DataFrame)" for stem in STEMS} | {f"{stem}.csv" for stem in STEMS}
NOT_FRAMES = st.sampled_from(
    [{"candidate_id": ["C1"]}, [["C1", "VN"]], "candidates.csv", 1, b"C1", pl.Series("candidate_id", ["C1"])]
)


@FUZZ
@given(st.lists(st.sampled_from(STEMS), unique=True, min_size=1, max_size=3), st.data())
def test_instance_from_random_frames(stems: list[str], data: st.DataObject) -> None:
    """``instance_from_frames`` with tables of random dtypes (polars, lazy or pandas
    frames) validates or raises InputError whose problems name the tables; an argument
    that is no data frame raises TypeError naming the argument."""
    tables: dict[str, Any] = dict(TINY_FRAMES)
    for stem in stems:
        frame = data.draw(random_frame(stem), label=stem)
        given_as = data.draw(st.sampled_from(["polars", "lazy", "pandas"]), label="given as")
        if given_as == "lazy":
            tables[stem] = frame.lazy()
        elif given_as == "pandas":  # object columns of the frame's Python values
            tables[stem] = pd.DataFrame({c: frame.get_column(c).to_list() for c in frame.columns})
        else:
            tables[stem] = frame
    wrong = data.draw(st.sampled_from((None, None, None, *STEMS)), label="argument that is no frame")
    if wrong is not None:
        tables[wrong] = data.draw(NOT_FRAMES, label="not a frame")
    with watchdog(), no_panic():
        try:
            inst = instance_from_frames(**tables)
        except TypeError as exc:
            assert wrong is not None, f"TypeError for frames: {exc}"
            assert str(exc).startswith(f"{wrong}:"), str(exc)
            return
        except InputError as exc:
            check_input_error(exc, FRAME_NAMES)
            tally("InputError")
            return
    assert wrong is None, "an argument that is no data frame was accepted"
    check_instance(inst)
    tally("validated")


@pytest.mark.parametrize("kind", [*sorted(UNCASTABLE), "object"])
def test_frame_column_that_is_no_text(kind: str) -> None:
    """A contract column of a type that has no text form is reported by name."""
    column = (
        pl.Series("nationality", [object()] * 5, dtype=pl.Object) if kind == "object" else UNCASTABLE[kind]
    )
    tables: dict[str, Any] = TINY_FRAMES | {"candidates": TINY_FRAMES["candidates"].with_columns(column)}
    with pytest.raises(InputError) as info:
        instance_from_frames(**tables)
    assert any(p.column == "nationality" for p in info.value.problems), str(info.value)
