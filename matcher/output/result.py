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


def tail_rows(summary: dict[str, Any]) -> list[tuple[str, str]]:
    """The rows every command's summary ends with: verified, and the time of each phase."""
    return [
        ("verified", "yes" if summary.get("verified") else "no"),
        ("time (s)", ", ".join(f"{k} {v:.2f}" for k, v in summary["timings_s"].items())),
    ]


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

    def summary_rows(self, policy: str) -> list[tuple[str, str]]:
        """The summary as (label, value) rows, as ``matcher solve`` prints it."""
        s = self.summary
        c = s["counts"]
        o = self.objective
        places = int(s.get("score_decimals", 2))  # the scores' own precision
        rows = [
            ("status", f"{self.status.value} ({self.message})"),
            ("policy", policy),
            ("candidates", f"{c['candidates']:,}"),
            ("eligible pairs", f"{c['eligible_pairs']:,}"),
            ("placed", f"{o.matched:,}"),
            ("total score", f"{o.total_score:,.{places}f}"),
            ("rank sum", f"{o.rank_sum:,}"),
        ]
        rows += [(f"unmatched: {k}", f"{v:,}") for k, v in c["unmatched_by_reason"].items()]
        if "stable" in s and "blocking" in s["stable"]:
            b = s["stable"]["blocking"]
            rows.append(
                ("blocking pairs", f"{b['satisfiable']:,} (+{b['cap_forbidden']:,} forbidden by caps)")
            )
        if s.get("price_of_stability"):
            p = s["price_of_stability"]
            lost = (
                f"{p['matched_lost']:,} fewer placed, {p['score_lost']:,.{places}f} less score than optimal"
            )
            rows.append(("price of stability", lost))
        if s.get("bound"):
            bd = s["bound"]
            gap = f"{bd['level']}: {bd['objective']:,.0f} of at most {bd['bound']:,.0f} (gap {bd['gap']:.2%})"
            rows.append(("bound", gap))
        if s.get("conflict"):
            rows.append(("conflict", "; ".join(s["conflict"][:5])))
        if s.get("audit"):
            # Counts of flagged groups per dimension; the groups are in summary.json and audit.
            flagged = {d: len(v["below_four_fifths"]) for d, v in s["audit"]["dimensions"].items()}
            shown = ", ".join(f"{d} {n:,}" for d, n in flagged.items() if n) or "none"
            a = s["audit"]
            hidden = f"{a['suppressed']:,} of {a['groups']:,} groups under {a['min_group']:,} candidates suppressed"
            rows.append(("audit: below 4/5", f"{shown}; {hidden}"))
        return rows + tail_rows(s)

    def __repr__(self) -> str:
        o = self.objective
        return (
            f"MatchResult(status={self.status.value!r}, method={self.method!r}, matched={o.matched}, "
            f"total_score={o.total_score}, rank_sum={o.rank_sum}, message={self.message!r})"
        )
