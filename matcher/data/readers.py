"""Reading one table from a file: CSV (UTF-8 or cp932), Parquet or an Excel sheet.

Program offices export from Japanese office software: CSV in cp932 (Shift-JIS) as often
as UTF-8, with or without a byte-order mark, and Excel workbooks. Every reader returns
the table as text columns (validation parses them and reports bad rows) or a problem
that names the file and, where it can, the line; parser messages are translated, never
passed on as they come.

Row numbers: a table's *data row* N is the N-th row below the header. In a CSV file
without quoted line breaks it stands on line N + 1; in a sheet, on sheet row N + 1
counted from the header row.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import polars as pl

from matcher.errors import Problem

#: Encodings a CSV file may be read in: ``auto`` tries UTF-8 (with or without a BOM),
#: then cp932. ``shift_jis`` is read as cp932, its superset used by Windows.
ENCODINGS: Final[tuple[str, ...]] = ("auto", "utf-8", "cp932", "shift_jis")
#: File suffixes a table may have, in the order they are looked for.
TABLE_SUFFIXES: Final[tuple[str, ...]] = (".csv", ".parquet", ".xlsx")
_SEPARATORS: Final[dict[str, str]] = {"\t": "tab", ";": "semicolon", "|": "vertical bar"}
_HEADER_BYTES = 1 << 20
#: What polars may raise on a damaged file: its own exception types, and a panic of its
#: Rust code, which is a BaseException (``PanicException``), not an Exception.
_PARSE_ERRORS: Final = (Exception, pl.exceptions.PanicException)
#: What Python's cp932 codec makes of the bytes 0x80, 0xA0 and 0xFD-0xFF, which no
#: Japanese text contains: a file with them is taken for neither encoding.
_NOT_CP932_TEXT = re.compile("[\x80\uf8f0-\uf8f3]")


@dataclass(frozen=True)
class ReadTable:
    """A table read from a file, or why it could not be."""

    frame: pl.DataFrame | None
    problems: tuple[Problem, ...] = ()
    encoding: str | None = None


def check_encoding(encoding: str) -> str:
    """The canonical encoding name; ValueError listing the allowed ones otherwise."""
    key = encoding.strip().lower().replace("_", "-")
    aliases = {"auto": "auto", "utf-8": "utf-8", "utf8": "utf-8", "utf-8-sig": "utf-8"}
    aliases |= {
        "cp932": "cp932",
        "shift-jis": "cp932",
        "sjis": "cp932",
        "ms932": "cp932",
        "windows-31j": "cp932",
    }
    if key not in aliases:
        raise ValueError(f"encoding must be one of {', '.join(ENCODINGS)}, got {encoding!r}")
    return aliases[key]


def read_table_file(path: Path, name: str, *, encoding: str = "auto", sheet: str | None = None) -> ReadTable:
    """Read one table file; ``name`` is how problems name it (``candidates.csv``)."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return read_csv(path, name, encoding=encoding)
    if suffix == ".xlsx":
        return read_sheet(path, name, sheet=sheet)
    try:
        return ReadTable(pl.read_parquet(path))
    except _PARSE_ERRORS:  # polars and pyarrow raise several types for damaged files
        return ReadTable(None, (Problem(name, "cannot be read: not a Parquet file, or a damaged one"),))


# ---- CSV ------------------------------------------------------------------------------


def read_csv(path: Path, name: str, *, encoding: str = "auto") -> ReadTable:
    """Read a CSV file as text columns, detecting UTF-8 or cp932 unless told which."""
    enc = check_encoding(encoding)
    source: Path | io.BytesIO = path
    used = "utf-8"
    if enc == "cp932" or (enc == "auto" and not _is_utf8(path)):
        data = path.read_bytes()
        text, bad = _decode(data, "cp932", name) if enc == "cp932" else _decode_auto(data, name)
        if text is None:
            return ReadTable(None, (bad,) if bad else ())
        source, used = io.BytesIO(text.encode("utf-8")), "cp932"
    elif enc == "utf-8" and not _is_utf8(path):
        _, bad = _decode(path.read_bytes(), "utf-8", name)
        return ReadTable(None, (bad,) if bad else ())
    header, problems = _check_header(_first_line(source), name)
    if problems:
        return ReadTable(None, tuple(problems), used)
    try:
        frame = pl.read_csv(source, infer_schema=False)
    except pl.exceptions.NoDataError:
        return ReadTable(None, (Problem(name, "cannot be read: the file is empty (no header line)"),), used)
    except _PARSE_ERRORS:  # polars raises several types for malformed CSV
        return ReadTable(None, (_locate_csv_error(source, name, len(header)),), used)
    frame, blank = _drop_blank_rows(frame, name)
    return ReadTable(frame, tuple(blank), used)


def _is_utf8(path: Path) -> bool:
    """Whether the whole file is valid UTF-8, checked in chunks (no full copy)."""
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with path.open("rb") as fh:
            while chunk := fh.read(1 << 24):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _decode_auto(data: bytes, name: str) -> tuple[str | None, Problem | None]:
    """Text of a file that is not UTF-8: cp932 if it decodes so, else where UTF-8 fails."""
    text, _ = _decode(data, "cp932", name)
    if text is not None and not _NOT_CP932_TEXT.search(text):
        return text, None
    return _decode(data, "utf-8", name, what="neither UTF-8 nor cp932 (Shift-JIS) text")


def _decode(
    data: bytes, encoding: str, name: str, *, what: str | None = None
) -> tuple[str | None, Problem | None]:
    try:
        return data.decode("utf-8-sig" if encoding == "utf-8" else encoding), None
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        return None, Problem(
            name,
            f"cannot be read: {what or f'not {encoding} text'}: the first bad byte is on line {line} "
            f"(byte {exc.start:,}); save the file as UTF-8, or give the encoding it has "
            f"({', '.join(ENCODINGS[1:])})",
        )


def _first_line(source: Path | io.BytesIO) -> str:
    if isinstance(source, Path):
        with source.open("rb") as fh:
            head = fh.read(_HEADER_BYTES)
    else:
        head = source.getvalue()[:_HEADER_BYTES]
    return head.split(b"\n", 1)[0].decode("utf-8-sig", errors="replace").rstrip("\r")


def _check_header(line: str, name: str) -> tuple[list[str], list[Problem]]:
    """The header's fields, and problems with them (separator, duplicates)."""
    try:
        fields = next(csv.reader([line]), [])
    except csv.Error:  # a bare CR in the line (old Mac line ends), or a field beyond csv's limit
        why = (
            "the header line has a carriage return (CR) without a line feed (old Mac line "
            "ends?): save it with CRLF or LF line ends"
            if "\r" in line
            else f"a header field is longer than {csv.field_size_limit():,} characters (not a CSV table)"
        )
        return [], [Problem(name, f"cannot be read: {why}")]
    if not any(f.strip() for f in fields):
        return fields, [Problem(name, "cannot be read: the header line is empty")]
    if len(fields) == 1:
        for sep, what in _SEPARATORS.items():
            if sep in line:
                return fields, [
                    Problem(
                        name,
                        f"cannot be read: the file is {what}-separated (the header has {what}s "
                        "and no commas): save it as comma-separated CSV",
                    )
                ]
    seen: dict[str, list[int]] = {}
    for i, f in enumerate(fields, start=1):
        seen.setdefault(f, []).append(i)
    problems = [
        Problem(
            name,
            f"column header appears {len(at)} times (columns {', '.join(map(str, at))}): keep one",
            column=header,
        )
        for header, at in seen.items()
        if len(at) > 1
    ]
    return fields, problems


def _lines(source: Path | io.BytesIO) -> Iterator[str]:
    if isinstance(source, Path):
        with source.open(encoding="utf-8-sig", errors="replace", newline="") as fh:
            yield from fh
    else:
        yield from io.StringIO(source.getvalue().decode("utf-8-sig", errors="replace"), newline="")


def _locate_csv_error(source: Path | io.BytesIO, name: str, width: int) -> Problem:
    """Find where a CSV file that the fast parser refused goes wrong (error path only)."""
    reader = csv.reader(_lines(source), strict=True)
    try:
        for row in reader:
            if reader.line_num > 1 and len(row) > width:
                return Problem(
                    name,
                    f"cannot be read: line {reader.line_num} has {len(row)} fields, the header {width} "
                    "(a stray comma, or a value with a comma that needs quotes)",
                )
    except csv.Error:
        return Problem(
            name,
            f"cannot be read: line {reader.line_num}: a quoted value is not closed or is followed by text",
        )
    return Problem(name, "cannot be read: not a CSV table (a quote is not closed, or rows are ragged)")


def _drop_blank_rows(frame: pl.DataFrame, name: str) -> tuple[pl.DataFrame, list[Problem]]:
    """Drop blank lines at the end; report blank lines between rows (they shift nothing)."""
    if frame.height == 0 or frame.width == 0:
        return frame, []
    blank = frame.select(pl.all_horizontal(pl.all().is_null())).to_series()
    if not blank[-1]:
        return frame, []
    keep = frame.height - _trailing_true(blank)
    frame = frame.head(keep)
    blank = blank.head(keep)
    rows = (blank.arg_true() + 1).to_list()
    return frame, [Problem(name, "blank line between rows: delete it", row=r) for r in rows[:20]]


def _trailing_true(mask: pl.Series) -> int:
    values = mask.to_numpy()
    n = 0
    for v in values[::-1]:
        if not v:
            break
        n += 1
    return n


# ---- Excel ----------------------------------------------------------------------------


_NOT_A_WORKBOOK = "cannot be read: not an Excel workbook (.xlsx), or a damaged one"


def sheet_names(path: Path, name: str) -> tuple[list[str], Problem | None]:
    """The sheet names of a workbook, or why it cannot be opened."""
    import fastexcel

    try:
        return list(fastexcel.read_excel(str(path)).sheet_names), None
    except Exception:  # fastexcel raises its own types for damaged or encrypted files
        return [], Problem(name, _NOT_A_WORKBOOK)


def read_sheet(path: Path, name: str, *, sheet: str | None = None) -> ReadTable:
    """Read one sheet (by name; else the only sheet) as text columns, header in row 1."""
    import fastexcel

    try:
        book = fastexcel.read_excel(str(path))
    except Exception:  # fastexcel raises its own types for damaged or encrypted files
        return ReadTable(None, (Problem(name, _NOT_A_WORKBOOK),))
    names = list(book.sheet_names)
    if sheet is None:
        stem = path.stem
        if stem in names:
            sheet = stem
        elif len(names) == 1:
            sheet = names[0]
        else:
            return ReadTable(
                None,
                (Problem(name, f"has sheets {', '.join(map(repr, names))}: name one of them {stem!r}"),),
            )
    try:
        raw = book.load_sheet(sheet, header_row=None, dtypes="string").to_polars()
    except Exception:  # fastexcel raises its own types
        return ReadTable(None, (Problem(name, f"sheet {sheet!r} cannot be read"),))
    if raw.height == 0:
        return ReadTable(None, (Problem(name, f"sheet {sheet!r} is empty (no header row)"),))
    header = ["" if v is None else str(v).strip() for v in raw.row(0)]
    while header and header[-1] == "":
        header.pop()
    _, problems = _check_header(",".join(_quote(h) for h in header), name)
    if problems:
        return ReadTable(None, tuple(problems))
    frame = raw.slice(1).select(raw.columns[: len(header)])
    frame.columns = header
    frame, blank = _drop_blank_rows(frame, name)
    return ReadTable(frame, tuple(blank))


def _quote(field: str) -> str:
    return '"' + field.replace('"', '""') + '"' if re.search(r'[",\n\r]', field) else field
