"""The result object every solve returns (modelled on ``scipy.optimize.OptimizeResult``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from matcher.output.files import write_result
from matcher.status import Status

if TYPE_CHECKING:
    from matcher.solvers.core import CoreSolution


@dataclass(frozen=True)
class Objective:
    """The lexicographic welfare objective's three levels."""

    matched: int
    total_score: float
    rank_sum: int

    def as_dict(self) -> dict[str, int | float]:
        return {"matched": self.matched, "total_score": self.total_score, "rank_sum": self.rank_sum}


@dataclass
class MatchResult:
    """Outcome of :func:`matcher.solve`.

    Attributes
    ----------
    status : Status
        ``optimal``, ``feasible``, ``infeasible``, ``time_limit`` or ``error``.
    success : bool
        True when ``assignments`` is a valid assignment (optimal or feasible).
    message : str
        Plain-English account of the status.
    method : str
        The method that produced it (``optimal``).
    objective : Objective
        Placed count, total score and rank sum of ``assignments``.
    assignments, unmatched : polars.DataFrame
        The output tables (see docs/user-guide.md, "Outputs").
    summary : dict
        Everything written to ``summary.json``.
    tables : dict of polars.DataFrame
        Method-specific tables written beside the others (stable: ``cutoffs``,
        ``blocking_pairs``).
    state : CoreSolution or None
        The core backend's solution with its certificate (``None`` from other backends and
        methods): pass it as ``warm_start`` to re-solve a changed instance, or save it
        with ``write(..., state=True)``.
    """

    status: Status
    message: str
    method: str
    objective: Objective
    assignments: pl.DataFrame
    unmatched: pl.DataFrame
    summary: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, pl.DataFrame] = field(default_factory=dict)
    state: CoreSolution | None = field(default=None, repr=False)

    @property
    def success(self) -> bool:
        return self.status.success

    def write(self, out: str | Path, *, format: str = "csv", state: bool = False) -> Path:
        """Write ``assignments``, ``unmatched`` and ``summary.json`` to ``out`` atomically.

        ``format`` is ``csv`` (text cells that a spreadsheet would run as formulas get a
        leading apostrophe), ``parquet`` or ``xlsx`` (one workbook per table). ``out``
        must be empty, absent or an earlier result (:mod:`matcher.output.directories`); a result
        that did not succeed never replaces a successful one (``OutputError``).

        With ``state``, also the solver state (``out/state/``) that a later solve can
        start from (``warm_start=out``); only the core backend has one (ValueError
        otherwise, before anything is written).
        """
        tables = {"assignments": self.assignments, "unmatched": self.unmatched, **self.tables}
        saved = None
        if state:
            if self.state is None:
                raise ValueError(
                    "state=True: this result has no solver state (only the core backend's "
                    "welfare solve, method 'optimal', keeps one)"
                )
            from matcher.solvers.core import state_tables

            saved = state_tables(self.state)
        return write_result(out, format, tables, self.summary, success=self.success, state=saved)

    def __repr__(self) -> str:
        o = self.objective
        return (
            f"MatchResult(status={self.status.value!r}, method={self.method!r}, matched={o.matched}, "
            f"total_score={o.total_score}, rank_sum={o.rank_sum}, message={self.message!r})"
        )
