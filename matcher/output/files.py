"""The files of an output directory: tables in CSV (formula cells neutralised), Parquet or
Excel, ``summary.json``, and the solver state for a later warm start.

Directories are replaced through :mod:`matcher.output.directories`: atomically, and never
over anything matcher did not write.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import polars as pl

from matcher.data.load import _first_line
from matcher.errors import InputError, OutputError, Problem
from matcher.output.directories import Kind, write_output

Format = Literal["csv", "parquet", "xlsx"]
FORMATS: tuple[Format, ...] = ("csv", "parquet", "xlsx")
#: Where a result keeps the solver state for a later warm start, and its header file.
STATE_DIR = "state"
STATE_HEADER = "state.json"


def write_table(frame: pl.DataFrame, path: Path, fmt: Format, *, neutralise: bool = False) -> None:
    """Write one table in the given format (deterministic bytes for the same frame).

    With ``neutralise``, CSV text cells that a spreadsheet would run as a formula get a
    leading apostrophe (:func:`neutralise_cells`); Parquet and Excel keep raw values
    (an Excel cell written as text is never a formula).
    """
    if fmt == "csv":
        (neutralise_cells(frame) if neutralise else frame).write_csv(path)
    elif fmt == "xlsx":
        _write_xlsx(frame, path)
    else:
        frame.write_parquet(path, statistics=False)


#: Excel's sheet size, less the header row.
XLSX_MAX_ROWS = 1_048_575
#: First characters that make a spreadsheet read a cell as a formula (OWASP's list), and
#: the apostrophe itself, so that the escape can be undone exactly.
_FORMULA_START = r"^[=+\-@\t\r']"


def neutralise_cells(frame: pl.DataFrame) -> pl.DataFrame:
    """Prefix ``'`` to text cells that begin with ``= + - @``, tab, CR or ``'``.

    Spreadsheets run such cells as formulas (CSV injection); the apostrophe makes them
    text and is not shown. :func:`restore_cells` undoes it exactly.
    """
    text = [c for c, t in frame.schema.items() if t == pl.String]
    return frame.with_columns(
        pl.when(pl.col(c).str.contains(_FORMULA_START))
        .then(pl.lit("'") + pl.col(c))
        .otherwise(pl.col(c))
        .alias(c)
        for c in text
    )


def restore_cells(frame: pl.DataFrame) -> pl.DataFrame:
    """Undo :func:`neutralise_cells` on a table read back from a CSV output."""
    text = [c for c, t in frame.schema.items() if t == pl.String]
    return frame.with_columns(
        pl.when(pl.col(c).str.contains(r"^'[=+\-@\t\r']"))
        .then(pl.col(c).str.slice(1))
        .otherwise(pl.col(c))
        .alias(c)
        for c in text
    )


def _write_xlsx(frame: pl.DataFrame, path: Path) -> None:
    """One sheet named after the file, header in row 1; text is always written as text
    (never as a formula, link or number), so an id like ``=HYPERLINK(...)`` stays inert."""
    import math
    from datetime import datetime

    from xlsxwriter import Workbook

    _check_sheet_rows(path.name, frame)
    options = {
        "constant_memory": True,
        "strings_to_formulas": False,
        "strings_to_urls": False,
        "strings_to_numbers": False,
    }
    with Workbook(str(path), options) as book:
        book.set_properties({"created": datetime(2000, 1, 1)})  # same bytes for the same table
        sheet = book.add_worksheet(path.stem[:31])
        sheet.write_row(0, 0, frame.columns, book.add_format({"bold": True}))
        sheet.freeze_panes(1, 0)
        for r, row in enumerate(frame.iter_rows(), start=1):
            for c, v in enumerate(row):
                if v is None:
                    continue
                if isinstance(v, bool):
                    sheet.write_boolean(r, c, v)
                elif isinstance(v, int | float) and math.isfinite(v):
                    sheet.write_number(r, c, v)
                else:
                    sheet.write_string(r, c, str(v))
        if frame.width:
            sheet.autofilter(0, 0, max(frame.height, 1), frame.width - 1)


def _check_sheet_rows(name: str, frame: pl.DataFrame) -> None:
    if frame.height > XLSX_MAX_ROWS:
        raise OutputError(
            f"{name}: {frame.height:,} rows do not fit an Excel sheet ({XLSX_MAX_ROWS:,} at most): "
            "use --format csv or parquet"
        )


def check_format(fmt: str) -> Format:
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    return fmt


def write_tables(
    tables: Mapping[str, pl.DataFrame],
    out: str | Path,
    fmt: str = "csv",
    *,
    kind: Kind = "instance",
    extra: Mapping[str, object] | None = None,
    texts: Mapping[str, str] | None = None,
) -> Path:
    """Write tables, JSON documents (``extra``) and text files to ``out`` atomically
    (:func:`matcher.output.directories.write_output`: only an empty directory or an earlier output
    of the same kind is replaced)."""
    f = check_format(fmt)

    def writer(tmp: Path) -> None:
        for name, frame in tables.items():
            write_table(frame, tmp / f"{name}.{f}", f)
        for name, doc in (extra or {}).items():
            (tmp / name).write_text(json.dumps(doc, indent=2, sort_keys=False) + "\n", encoding="utf-8")
        for name, text in (texts or {}).items():
            (tmp / name).write_text(text, encoding="utf-8")

    return write_output(out, kind, writer)


def write_result(
    out: str | Path,
    fmt: str,
    tables: Mapping[str, pl.DataFrame],
    summary: dict[str, Any],
    *,
    kind: Kind = "result",
    success: bool = True,
    state: tuple[Mapping[str, pl.DataFrame], Mapping[str, Any]] | None = None,
) -> Path:
    """Write a result's tables and ``summary.json`` (with the write time) atomically.

    The output may neither be nor contain the instance it was solved from, and an
    unsuccessful result never replaces a successful one (:mod:`matcher.output.directories`).
    ``state`` (tables and a header) goes to ``out/state/`` as Parquet and ``state.json``,
    whatever ``fmt`` is: it is for a later warm start (:func:`read_state`), not for people.
    """
    f = check_format(fmt)
    if f == "xlsx":  # before anything is written
        for name, frame in tables.items():
            _check_sheet_rows(name, frame)
    source = summary.get("instance", {}).get("source") if isinstance(summary.get("instance"), dict) else None
    protect = [source] if source and source != "<frames>" and Path(source).exists() else []

    def writer(tmp: Path) -> None:
        start = time.perf_counter()
        for name, frame in tables.items():
            write_table(frame, tmp / f"{name}.{f}", f, neutralise=True)
        if state is not None:
            folder = tmp / STATE_DIR
            folder.mkdir()
            for name, frame in state[0].items():
                write_table(frame, folder / f"{name}.parquet", "parquet")
            (folder / STATE_HEADER).write_text(json.dumps(state[1], indent=2) + "\n", encoding="utf-8")
        summary.setdefault("timings_s", {})["write"] = round(time.perf_counter() - start, 3)
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")

    return write_output(out, kind, writer, success=success, protect=protect)


def read_state(
    path: str | Path, names: Iterable[str]
) -> tuple[dict[str, pl.DataFrame], dict[str, Any], list[Problem], Path]:
    """The tables ``names`` and the header of a saved solver state, for a warm start.

    ``path`` is the ``--out`` directory of an earlier ``matcher solve --save-state``, or
    its ``state`` directory. Returns the tables and header that could be read (a table
    whose file is absent is left out), a problem
    for each file that could not (so that the solver reading them reports those together
    with what it finds in the rest), and the state directory. Raises InputError when
    ``path`` is not a directory.
    """
    folder = Path(path)
    if (folder / STATE_DIR / STATE_HEADER).is_file():
        folder = folder / STATE_DIR
    what = "warm-start state"
    if not folder.is_dir():
        raise InputError(
            [
                Problem(
                    str(folder),
                    "no such directory (give the --out of a run with --save-state, or its state/)",
                )
            ],
            what=what,
        )
    problems: list[Problem] = []
    header: dict[str, Any] = {}
    head = folder / STATE_HEADER
    if not head.is_file():
        problems.append(
            Problem(str(head), "missing: not a saved state (solve with --save-state to make one)")
        )
    else:
        try:
            loaded = json.loads(head.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            problems.append(Problem(str(head), f"cannot be read: {_first_line(exc)}"))
        else:
            if isinstance(loaded, dict):
                header = loaded
            else:
                problems.append(Problem(str(head), "is not a JSON object"))
    tables: dict[str, pl.DataFrame] = {}
    for name in names:
        file = folder / f"{name}.parquet"
        if not file.is_file():
            continue
        try:
            tables[name] = pl.read_parquet(file)
        except Exception as exc:  # polars raises several types for unreadable files
            problems.append(Problem(str(file), f"cannot be read: {_first_line(exc)}"))
    return tables, header, problems, folder
