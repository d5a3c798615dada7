"""Reading instances from files and writing results atomically.

An instance directory holds ``candidates``, ``aptitudes``, ``employers``, ``slots`` and
optionally ``preferences``, ``employer_rankings``, ``incumbents`` and ``joint`` as CSV or Parquet
(same stems), and optionally ``policy.toml``.
Outputs go to a temporary sibling directory that is renamed into place only when every
file is written, so a failed run never leaves partial results.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import polars as pl

from matcher.errors import InputError, Problem
from matcher.model import SCHEMA, TABLES, Instance
from matcher.policy import Policy, load_policy, neutral_policy
from matcher.validate import RawTable, validate_tables

log = logging.getLogger("matcher")

Format = Literal["csv", "parquet"]
FORMATS: tuple[Format, ...] = ("csv", "parquet")
POLICY_FILE = "policy.toml"
#: Where a result keeps the solver state for a later warm start, and its header file.
STATE_DIR = "state"
STATE_HEADER = "state.json"


def _read_one(path: Path) -> pl.DataFrame:
    if path.suffix == ".csv":
        # Everything is read as text; validation parses each column and reports bad rows.
        return pl.read_csv(path, infer_schema=False)
    return pl.read_parquet(path)


def read_raw_tables(directory: Path) -> tuple[dict[str, RawTable | None], list[Problem], str]:
    """Read every table file present; return tables, read problems and a content hash."""
    problems: list[Problem] = []
    tables: dict[str, RawTable | None] = {}
    digest = hashlib.sha256()
    for stem in TABLES:
        found = [directory / f"{stem}.{ext}" for ext in FORMATS if (directory / f"{stem}.{ext}").is_file()]
        if len(found) > 1:
            problems.append(Problem(f"{stem}.*", "both a CSV and a Parquet file: keep one"))
            tables[stem] = None
            continue
        if not found:
            tables[stem] = None
            continue
        path = found[0]
        _hash_file(digest, path)
        try:
            tables[stem] = RawTable(_read_one(path), path.name)
        except Exception as exc:  # polars raises several types for unreadable files
            problems.append(Problem(path.name, f"cannot be read: {_first_line(exc)}"))
            tables[stem] = None
    policy_path = directory / POLICY_FILE
    if policy_path.is_file():
        _hash_file(digest, policy_path)
    return tables, problems, digest.hexdigest()


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


def load_instance(path: str | Path, *, policy: Policy | str | Path | None = None) -> Instance:
    """Load and validate an instance directory.

    Parameters
    ----------
    path : str or Path
        Directory with the table files (CSV or Parquet) and optionally ``policy.toml``.
    policy : Policy, str or Path, optional
        Overrides the directory's ``policy.toml``; without either, the neutral policy.

    Raises
    ------
    InputError
        Listing every problem in the files (missing, unreadable, bad values, unknown ids).

    Examples
    --------
    >>> import matcher
    >>> inst = matcher.load_instance("instances/tiny")
    >>> inst.n_candidates, inst.n_employers, inst.policy.name
    (5, 3, 'neutral')
    """
    directory = Path(path)
    if not directory.is_dir():
        raise InputError([Problem(str(directory), "instance directory not found")], what="instance")
    pol = resolve_policy(directory, policy)
    raw, problems, digest = read_raw_tables(directory)
    try:
        unreadable = {p.file.split(".")[0] for p in problems}
        instance = validate_tables(
            raw, pol, source=str(directory), content_hash=digest, unreadable=unreadable
        )
    except InputError as exc:
        if problems:
            for p in problems:
                exc.problem_list.add(p)
            raise InputError(exc.problem_list, what="instance") from None
        raise
    if problems:
        raise InputError(problems, what="instance")
    log.info(
        "loaded %s candidates, %s employers, %s slots, %s preference rows",
        instance.n_candidates,
        instance.n_employers,
        instance.slots.height,
        instance.preferences.height,
    )
    return instance


def instance_from_frames(
    *,
    candidates: pl.DataFrame,
    aptitudes: pl.DataFrame,
    employers: pl.DataFrame,
    slots: pl.DataFrame,
    preferences: pl.DataFrame | None = None,
    employer_rankings: pl.DataFrame | None = None,
    incumbents: pl.DataFrame | None = None,
    joint: pl.DataFrame | None = None,
    policy: Policy | str | Path | None = None,
) -> Instance:
    """Validate an instance given as polars DataFrames (the same columns as the files)."""
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
    raw = {k: (RawTable(v, f"{k} (DataFrame)") if v is not None else None) for k, v in frames.items()}
    pol = resolve_policy(None, policy)
    instance = validate_tables(raw, pol, source="<frames>", content_hash="")
    # Hash the validated contract columns: the same data gives the same hash.
    digest = hashlib.sha256()
    for k, v in instance.tables().items():
        digest.update(k.encode())
        digest.update(v.select(c for c in SCHEMA[k] if c in v.columns).write_csv().encode())
    return dataclasses.replace(instance, content_hash=digest.hexdigest())


def write_table(frame: pl.DataFrame, path: Path, fmt: Format) -> None:
    """Write one table in the given format (deterministic bytes for the same frame)."""
    if fmt == "csv":
        frame.write_csv(path)
    else:
        frame.write_parquet(path, statistics=False)


def check_format(fmt: str) -> Format:
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    return fmt


def write_atomically(
    out: str | Path,
    writer: Callable[[Path], None],
    *,
    overwrite: bool = True,
) -> Path:
    """Run ``writer(tmpdir)`` then move the directory to ``out``; nothing is left on error.

    An existing ``out`` is replaced only after the new content is complete.
    """
    target = Path(out)
    if target.exists() and not target.is_dir():
        raise FileExistsError(f"--out {target} exists and is not a directory")
    if target.exists() and any(target.iterdir()) and not overwrite:
        raise FileExistsError(f"--out {target} is not empty")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        writer(tmp)
        if target.exists():
            old = target.with_name(f".{target.name}.old-{os.getpid()}")
            target.rename(old)
            tmp.rename(target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def write_tables(
    tables: Mapping[str, pl.DataFrame],
    out: str | Path,
    fmt: str = "csv",
    *,
    extra: Mapping[str, object] | None = None,
    texts: Mapping[str, str] | None = None,
) -> Path:
    """Write tables, JSON documents (``extra``) and text files to ``out`` atomically."""
    f = check_format(fmt)

    def writer(tmp: Path) -> None:
        for name, frame in tables.items():
            write_table(frame, tmp / f"{name}.{f}", f)
        for name, doc in (extra or {}).items():
            (tmp / name).write_text(json.dumps(doc, indent=2, sort_keys=False) + "\n", encoding="utf-8")
        for name, text in (texts or {}).items():
            (tmp / name).write_text(text, encoding="utf-8")

    return write_atomically(out, writer)


def write_result(
    out: str | Path,
    fmt: str,
    tables: Mapping[str, pl.DataFrame],
    summary: dict[str, Any],
    *,
    state: tuple[Mapping[str, pl.DataFrame], Mapping[str, Any]] | None = None,
) -> Path:
    """Write a result's tables and ``summary.json`` (with the write time) atomically.

    ``state`` (tables and a header) goes to ``out/state/`` as Parquet and ``state.json``,
    whatever ``fmt`` is: it is for a later warm start (:func:`read_state`), not for people.
    """
    f = check_format(fmt)

    def writer(tmp: Path) -> None:
        start = time.perf_counter()
        for name, frame in tables.items():
            write_table(frame, tmp / f"{name}.{f}", f)
        if state is not None:
            folder = tmp / STATE_DIR
            folder.mkdir()
            for name, frame in state[0].items():
                write_table(frame, folder / f"{name}.parquet", "parquet")
            (folder / STATE_HEADER).write_text(json.dumps(state[1], indent=2) + "\n", encoding="utf-8")
        summary.setdefault("timings_s", {})["write"] = round(time.perf_counter() - start, 3)
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")

    return write_atomically(out, writer)


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
