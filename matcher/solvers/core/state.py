"""A solution as plain tables to save (:func:`state_tables`) and read back (:func:`state_from_tables`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from matcher.errors import InputError, Problem
from matcher.solvers.core.constants import I64
from matcher.solvers.core.solution import _NODE_KEYS, CoreSolution
from matcher.status import Status

#: Version of the saved state (:func:`state_tables`); another version is refused on load.
STATE_FORMAT = 1
#: The state's node tables, in node-group order (candidates, then the cap tree bottom up).
STATE_NODE_TABLES = ("candidates", "slots", "intakes", "nationals", "totals")
_STATE_POTENTIALS = ("potential", "score_potential", "rank_potential")
#: Every table of a saved state and its columns (the node tables: their keys).
STATE_COLUMNS: dict[str, tuple[str, ...]] = {
    "candidates": ("candidate_id",),
    **dict(zip(STATE_NODE_TABLES[1:], _NODE_KEYS, strict=True)),
    "potentials": _STATE_POTENTIALS,
    "placements": ("candidate", "slot"),
}


def state_tables(sol: CoreSolution) -> tuple[dict[str, pl.DataFrame], dict[str, Any]]:
    """``sol`` as plain tables and a header, to save and warm-start a later solve from.

    The tables name every node by its key (candidate id; employer, sector, track or group
    of the cap tree's nodes), so that a later instance with other candidates or employers
    is matched node by node (:func:`_translated`). ``potentials`` has one row per node in
    the documented numbering (source, sink, candidates, slots, intakes, nationals,
    totals); ``placements`` the (candidate, slot) row numbers of the placed pairs.
    Raises ValueError for a solution without a certificate (not ``optimal`` or
    ``feasible``, or solved without node names).
    """
    if not sol.status.success or len(sol.node_frames) != len(STATE_NODE_TABLES) or sol.potentials.size == 0:
        raise ValueError(f"a {sol.status.value} solution without a certificate cannot be saved")
    ids, *tree = sol.node_frames
    tables = {"candidates": pl.DataFrame({"candidate_id": pl.Series(ids, dtype=pl.String)})}
    for name, frame in zip(STATE_NODE_TABLES[1:], tree, strict=True):
        tables[name] = frame.select(STATE_COLUMNS[name])
    n = sol.potentials.size
    columns = {}
    for name, values in zip(
        _STATE_POTENTIALS, (sol.potentials, sol.score_potentials, sol.rank_potentials), strict=True
    ):
        columns[name] = pl.Series(name, values if values.size == n else [None] * n, dtype=pl.Int64)
    tables["potentials"] = pl.DataFrame(columns)
    tables["placements"] = pl.DataFrame(
        {"candidate": sol.chosen_pairs[0], "slot": sol.chosen_pairs[1]},
        schema={"candidate": pl.Int64, "slot": pl.Int64},
    )
    header = {
        "format": STATE_FORMAT,
        "solver": "core",
        "status": sol.status.value,
        "message": sol.message,
        "rank_weight": sol.rank_weight,
        **({} if sol.score_decimals is None else {"score_decimals": sol.score_decimals}),
        "nodes": n,
        "placements": int(sol.chosen_pairs.shape[1]),
    }
    return tables, header


def state_from_tables(
    tables: dict[str, pl.DataFrame],
    header: dict[str, Any],
    *,
    source: str | Path = "",
    unreadable: list[Problem] | None = None,
) -> CoreSolution:
    """The :class:`CoreSolution` that :func:`state_tables` saved, checked for consistency.

    Raises InputError listing every problem (another format version, missing tables or
    columns, sizes that do not add up, placements outside the node tables), each naming
    its file in the state directory ``source``, together with the ``unreadable`` files
    (whose absence is then not reported again).
    """
    problems: list[Problem] = list(unreadable or [])
    bad = {Path(p.file).name for p in problems}

    def where(name: str) -> str:
        return str(Path(source) / name)

    if "state.json" not in bad:  # the header was read: check what it says
        if header.get("format") != STATE_FORMAT or header.get("solver") != "core":
            problems.append(
                Problem(
                    where("state.json"),
                    f"format {header.get('format')!r} of solver {header.get('solver')!r}; "
                    f"this version reads format {STATE_FORMAT} of solver 'core'",
                )
            )
        if header.get("status") not in ("optimal", "feasible"):
            problems.append(
                Problem(where("state.json"), f"status {header.get('status')!r}; expected optimal or feasible")
            )
        weight = header.get("rank_weight")
        if not isinstance(weight, int) or weight < 1:
            problems.append(
                Problem(where("state.json"), f"rank_weight {weight!r}; expected a positive integer")
            )
        decimals = header.get("score_decimals")
        if decimals is not None and (
            not isinstance(decimals, int) or isinstance(decimals, bool) or decimals < 0
        ):
            problems.append(
                Problem(where("state.json"), f"score_decimals {decimals!r}; expected a non-negative integer")
            )
    if "state.json" in bad and not set(STATE_COLUMNS) & set(tables):
        raise InputError(problems, what="warm-start state")  # not a state at all: say only that
    for name, cols in STATE_COLUMNS.items():
        if name not in tables:
            if f"{name}.parquet" not in bad:
                problems.append(Problem(where(f"{name}.parquet"), "missing"))
            continue
        missing = [c for c in cols if c not in tables[name].columns]
        if missing:
            problems += [Problem(where(f"{name}.parquet"), "missing column", column=c) for c in missing]
    if any(name not in tables for name in STATE_COLUMNS):
        raise InputError(problems, what="warm-start state")
    sizes = [tables[name].height for name in STATE_NODE_TABLES]
    pot = tables["potentials"]
    n = 2 + sum(sizes)
    if pot.height != n:
        problems.append(
            Problem(
                where("potentials.parquet"),
                f"{pot.height} rows; the node tables name {n} nodes (with source and sink)",
            )
        )
    for name in (c for c in _STATE_POTENTIALS if c in pot.columns):
        col = pot.get_column(name)
        empty = col.null_count()
        if col.cast(pl.Int64, strict=False).null_count() != empty:
            problems.append(
                Problem(where("potentials.parquet"), "values that are not 64-bit integers", column=name)
            )
        elif empty and (name == "potential" or empty < pot.height):
            problems.append(Problem(where("potentials.parquet"), f"{empty} empty values", column=name))
    pairs = tables["placements"].select(
        pl.col(c).cast(pl.Int64, strict=False) if c in tables["placements"].columns else pl.lit(0).alias(c)
        for c in ("candidate", "slot")
    )
    cand, slot = pairs.get_column("candidate"), pairs.get_column("slot")
    if (
        cand.null_count()
        or slot.null_count()
        or not (cand.is_between(0, sizes[0] - 1).all() and slot.is_between(0, sizes[1] - 1).all())
    ):
        problems.append(
            Problem(
                where("placements.parquet"),
                "a candidate or slot number outside candidates.parquet or slots.parquet",
            )
        )
    if problems:
        raise InputError(problems, what="warm-start state")

    def column(name: str) -> I64:
        col = pot.get_column(name)
        if col.null_count() == n:
            return np.zeros(0, dtype=np.int64)
        return col.cast(pl.Int64).to_numpy().astype(np.int64, copy=False)

    frames = tuple(
        [tables["candidates"].get_column("candidate_id").cast(pl.String)]
        + [tables[name].select(STATE_COLUMNS[name]) for name in STATE_NODE_TABLES[1:]]
    )
    return CoreSolution(
        Status(header["status"]),
        str(header.get("message", "")),
        np.zeros(0, dtype=np.int64),
        column("potential"),
        chosen_pairs=pairs.to_numpy().T.astype(np.int64).reshape(2, -1),
        rank_weight=int(header["rank_weight"]),
        score_potentials=column("score_potential"),
        node_frames=frames,
        rank_potentials=column("rank_potential"),
        score_decimals=header.get("score_decimals"),
    )
