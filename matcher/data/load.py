"""Reading an instance: a directory of tables (CSV, Parquet, Excel) or one workbook, or
data frames; validated into an :class:`~matcher.data.model.Instance`.

An instance directory holds ``candidates``, ``aptitudes``, ``employers``, ``slots`` and
optionally ``preferences``, ``employer_rankings``, ``incumbents`` and ``joint`` (same
stems), and optionally ``policy.toml``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from pathlib import Path
from typing import Any

import polars as pl

from matcher.data.model import SCHEMA, TABLES, Instance
from matcher.data.policy import Policy, load_policy, neutral_policy
from matcher.data.readers import TABLE_SUFFIXES, check_encoding, read_table_file, sheet_names
from matcher.data.validate import RawTable, validate_tables
from matcher.errors import InputError, Problem, ProblemList

log = logging.getLogger("matcher")

POLICY_FILE = "policy.toml"


def _table_sources(
    directory: Path,
) -> tuple[dict[str, list[tuple[Path, str | None]]], list[Path], list[Problem]]:
    """Where each table is: ``<stem>.csv|.parquet|.xlsx`` files, and sheets named after a
    table in any other workbook of the directory (or in ``directory`` itself when it is a
    workbook). Returns the places found per stem, the workbooks, and a problem for each
    workbook that cannot be opened."""
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
    unopened: list[Problem] = []
    for book in workbooks:
        names, bad = sheet_names(book, book.name)
        if bad is not None:
            unopened.append(bad)
        for sheet in names:
            if sheet.strip() in found:
                found[sheet.strip()].append((book, sheet))
    return found, workbooks, unopened


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
    tables: dict[str, RawTable | None] = {}
    unreadable: set[str] = set()
    digest = hashlib.sha256()
    found, workbooks, problems = _table_sources(directory)
    for book in workbooks:
        _hash_file(digest, book)
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
