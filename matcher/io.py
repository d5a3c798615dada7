"""Reading instances from files and writing results atomically.

An instance directory holds ``candidates``, ``aptitudes``, ``employers``, ``slots`` and
optionally ``preferences``, ``employer_rankings``, ``incumbents`` and ``joint`` as CSV or Parquet
(same stems), and optionally ``policy.toml``.
Outputs are written by :mod:`matcher.outputs`: to a temporary sibling directory renamed
into place only when every file is written, and never over anything matcher did not write.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import polars as pl

from matcher.errors import InputError, OutputError, Problem, ProblemList
from matcher.model import SCHEMA, TABLES, Instance
from matcher.outputs import Kind, write_output
from matcher.policy import Policy, load_policy, neutral_policy
from matcher.readers import TABLE_SUFFIXES, check_encoding, read_table_file, sheet_names
from matcher.validate import RawTable, validate_tables

log = logging.getLogger("matcher")

Format = Literal["csv", "parquet", "xlsx"]
FORMATS: tuple[Format, ...] = ("csv", "parquet", "xlsx")
POLICY_FILE = "policy.toml"
#: Where a result keeps the solver state for a later warm start, and its header file.
STATE_DIR = "state"
STATE_HEADER = "state.json"


def _table_sources(directory: Path) -> tuple[dict[str, list[tuple[Path, str | None]]], list[Path]]:
    """Where each table is: ``<stem>.csv|.parquet|.xlsx`` files, and sheets named after a
    table in any other workbook of the directory (or in ``directory`` itself when it is a
    workbook). Returns the places found per stem and the workbooks read."""
    found: dict[str, list[tuple[Path, str | None]]] = {stem: [] for stem in TABLES}
    if directory.is_file():
        workbooks = [directory]
    else:
        for stem in TABLES:
            for suffix in TABLE_SUFFIXES:
                if (directory / f"{stem}{suffix}").is_file():
                    found[stem].append((directory / f"{stem}{suffix}", None))
        workbooks = sorted(
            p
            for p in directory.glob("*.xlsx")
            if p.is_file() and p.stem not in TABLES and not p.name.startswith(("~$", "."))
        )
    for book in workbooks:
        names, bad = sheet_names(book, book.name)
        if bad is not None:
            continue  # reported when read_raw_tables opens it
        for sheet in names:
            if sheet.strip() in found:
                found[sheet.strip()].append((book, sheet))
    return found, workbooks


def _place(path: Path, sheet: str | None) -> str:
    return f"{path.name} (sheet {sheet})" if sheet is not None else path.name


def read_raw_tables(
    directory: Path, *, encoding: str = "auto"
) -> tuple[dict[str, RawTable | None], list[Problem], str, set[str]]:
    """Read every table present; return tables, read problems, a content hash and the
    tables present but unreadable.

    ``directory`` holds one file per table (CSV, Parquet or Excel) and optionally
    workbooks whose sheets are named after tables; or it is such a workbook itself.
    """
    problems: list[Problem] = []
    tables: dict[str, RawTable | None] = {}
    unreadable: set[str] = set()
    digest = hashlib.sha256()
    found, workbooks = _table_sources(directory)
    for book in workbooks:
        _hash_file(digest, book)
        _, bad = sheet_names(book, book.name)
        if bad is not None:
            problems.append(bad)
    for stem in TABLES:
        places = found[stem]
        tables[stem] = None
        if len(places) > 1:
            where = " and ".join(_place(p, s) for p, s in places)
            problems.append(Problem(f"{stem}.*", f"the table is in {where}: keep one"))
            unreadable.add(stem)
            continue
        if not places:
            continue
        path, sheet = places[0]
        name = _place(path, sheet)
        if sheet is None:
            _hash_file(digest, path)
        read = read_table_file(path, name, encoding=encoding, sheet=sheet)
        problems.extend(read.problems)
        if read.frame is None:
            unreadable.add(stem)
        else:
            tables[stem] = RawTable(read.frame, name)
            if read.encoding not in (None, "utf-8"):
                log.info("read %s as %s", name, read.encoding)
    policy_path = directory / POLICY_FILE
    if policy_path.is_file():
        _hash_file(digest, policy_path)
    return tables, problems, digest.hexdigest(), unreadable


def _hash_file(digest: hashlib._Hash, path: Path) -> None:
    digest.update(path.name.encode())
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 22):
            digest.update(chunk)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def resolve_policy(directory: Path | None, policy: Policy | str | Path | None) -> Policy:
    """The policy to use: explicit argument, else ``<dir>/policy.toml``, else neutral."""
    if isinstance(policy, Policy):
        return policy
    if policy is not None:
        return load_policy(policy)
    if directory is not None and (directory / POLICY_FILE).is_file():
        return load_policy(directory / POLICY_FILE)
    return neutral_policy()


def load_instance(
    path: str | Path, *, policy: Policy | str | Path | None = None, encoding: str = "auto"
) -> Instance:
    """Load and validate an instance directory (or Excel workbook).

    Parameters
    ----------
    path : str or Path
        Directory with the table files (CSV, Parquet or Excel ``.xlsx``; workbooks in it
        may hold tables as sheets named after them) and optionally ``policy.toml``; or
        one workbook with a sheet per table.
    policy : Policy, str or Path, optional
        Overrides the directory's ``policy.toml``; without either, the neutral policy.
    encoding : {"auto", "utf-8", "cp932", "shift_jis"}
        Of the CSV files: ``auto`` reads UTF-8 (with or without a byte-order mark) and
        falls back to cp932 (Shift-JIS), the usual export of Japanese office software.

    Raises
    ------
    InputError
        Listing every problem in the files and the policy together (missing, unreadable,
        bad values, unknown ids).

    Examples
    --------
    >>> import matcher
    >>> inst = matcher.load_instance("instances/tiny")
    >>> inst.n_candidates, inst.n_employers, inst.policy.name
    (5, 3, 'neutral')
    """
    check_encoding(encoding)
    directory = Path(path)
    if not directory.is_dir() and not (directory.is_file() and directory.suffix.lower() == ".xlsx"):
        what = "is a file, not a directory or .xlsx workbook" if directory.exists() else "directory not found"
        raise InputError([Problem(str(directory), f"instance {what}")], what="instance")
    problems = ProblemList()
    what = "instance"
    try:
        pol = resolve_policy(directory if directory.is_dir() else None, policy)
    except InputError as exc:
        # Keep going under the neutral policy so that the tables' problems come too.
        problems.merge(exc.problem_list)
        pol, what = neutral_policy(), "policy and instance"
    raw, read_problems, digest, unreadable = read_raw_tables(directory, encoding=encoding)
    for p in read_problems:
        problems.add(p)
    try:
        instance = validate_tables(
            raw, pol, source=str(directory), content_hash=digest, unreadable=unreadable
        )
    except InputError as exc:
        problems.merge(exc.problem_list)
    problems.raise_if_any(what)
    log.info(
        "loaded %s candidates, %s employers, %s slots, %s preference rows",
        instance.n_candidates,
        instance.n_employers,
        instance.slots.height,
        instance.preferences.height,
    )
    return instance


#: What ``instance_from_frames`` takes as a table.
FrameLike = Any  # polars DataFrame or LazyFrame, or pandas DataFrame


def _as_polars(frame: FrameLike, name: str) -> pl.DataFrame:
    """A polars DataFrame from a polars DataFrame or LazyFrame, or a pandas DataFrame."""
    if isinstance(frame, pl.DataFrame):
        return frame
    if isinstance(frame, pl.LazyFrame):
        return frame.collect()
    if type(frame).__module__.split(".")[0] == "pandas" and hasattr(frame, "columns"):
        try:
            return pl.from_pandas(frame, include_index=False)
        except ImportError:  # text columns need pyarrow there; go through Python objects
            cells = frame.astype(object).where(frame.notna(), None)
            return pl.DataFrame({str(c): cells[c].tolist() for c in cells.columns}, strict=False)
    raise TypeError(
        f"{name}: expected a polars DataFrame or LazyFrame or a pandas DataFrame, got {type(frame).__name__}"
    )


def instance_from_frames(
    *,
    candidates: FrameLike,
    aptitudes: FrameLike,
    employers: FrameLike,
    slots: FrameLike,
    preferences: FrameLike | None = None,
    employer_rankings: FrameLike | None = None,
    incumbents: FrameLike | None = None,
    joint: FrameLike | None = None,
    policy: Policy | str | Path | None = None,
) -> Instance:
    """Validate an instance given as data frames (the same columns as the files).

    Each table is a polars DataFrame or LazyFrame, or a pandas DataFrame (its index is
    ignored).
    """
    frames = {
        "candidates": candidates,
        "aptitudes": aptitudes,
        "employers": employers,
        "slots": slots,
        "preferences": preferences,
        "employer_rankings": employer_rankings,
        "incumbents": incumbents,
        "joint": joint,
    }
    raw = {
        k: (RawTable(_as_polars(v, k), f"{k} (DataFrame)") if v is not None else None)
        for k, v in frames.items()
    }
    pol = resolve_policy(None, policy)
    instance = validate_tables(raw, pol, source="<frames>", content_hash="")
    # Hash the validated contract columns: the same data gives the same hash.
    digest = hashlib.sha256()
    for k, v in instance.tables().items():
        digest.update(k.encode())
        digest.update(v.select(c for c in SCHEMA[k] if c in v.columns).write_csv().encode())
    return dataclasses.replace(instance, content_hash=digest.hexdigest())


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

    if frame.height > XLSX_MAX_ROWS:
        raise OutputError(
            f"{path.name}: {frame.height:,} rows do not fit an Excel sheet ({XLSX_MAX_ROWS:,} at most): "
            "use --format csv or parquet"
        )
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
    (:func:`matcher.outputs.write_output`: only an empty directory or an earlier output
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
    unsuccessful result never replaces a successful one (:mod:`matcher.outputs`).
    ``state`` (tables and a header) goes to ``out/state/`` as Parquet and ``state.json``,
    whatever ``fmt`` is: it is for a later warm start (:func:`read_state`), not for people.
    """
    f = check_format(fmt)
    if f == "xlsx":
        for name, frame in tables.items():
            if frame.height > XLSX_MAX_ROWS:
                raise OutputError(
                    f"{name}: {frame.height:,} rows do not fit an Excel sheet ({XLSX_MAX_ROWS:,} at most): "
                    "use --format csv or parquet"
                )
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
