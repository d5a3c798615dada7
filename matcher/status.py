"""The one translation table from solver statuses to matcher's statuses."""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class Status(StrEnum):
    """Outcome of a solve, as reported in results and ``summary.json``."""

    OPTIMAL = "optimal"  # proven optimal for the whole lexicographic objective
    FEASIBLE = "feasible"  # a valid assignment, optimality not proven (message says why)
    INFEASIBLE = "infeasible"  # no assignment satisfies the constraints
    TIME_LIMIT = "time_limit"  # stopped by a time limit before any assignment
    ERROR = "error"  # the solver failed; the message says how

    @property
    def success(self) -> bool:
        return self in (Status.OPTIMAL, Status.FEASIBLE)


#: (solver, solver's status name) -> matcher status.
_TABLE: Final[dict[tuple[str, str], Status]] = {
    ("ortools_min_cost_flow", "OPTIMAL"): Status.OPTIMAL,
    ("ortools_min_cost_flow", "FEASIBLE"): Status.FEASIBLE,
    ("ortools_min_cost_flow", "INFEASIBLE"): Status.INFEASIBLE,
    ("ortools_min_cost_flow", "UNBALANCED"): Status.INFEASIBLE,
    ("ortools_min_cost_flow", "NOT_SOLVED"): Status.ERROR,
    ("ortools_min_cost_flow", "BAD_RESULT"): Status.ERROR,
    ("ortools_min_cost_flow", "BAD_COST_RANGE"): Status.ERROR,
    ("ortools_min_cost_flow", "BAD_CAPACITY_RANGE"): Status.ERROR,
    ("ortools_cp_sat", "OPTIMAL"): Status.OPTIMAL,
    ("ortools_cp_sat", "FEASIBLE"): Status.FEASIBLE,
    ("ortools_cp_sat", "INFEASIBLE"): Status.INFEASIBLE,
    ("ortools_cp_sat", "UNKNOWN"): Status.TIME_LIMIT,
    ("ortools_cp_sat", "MODEL_INVALID"): Status.ERROR,
    ("ortools_model_builder", "OPTIMAL"): Status.OPTIMAL,
    ("ortools_model_builder", "FEASIBLE"): Status.FEASIBLE,
    ("ortools_model_builder", "INFEASIBLE"): Status.INFEASIBLE,
    ("ortools_model_builder", "NOT_SOLVED"): Status.TIME_LIMIT,
    ("ortools_model_builder", "CANCELLED_BY_USER"): Status.TIME_LIMIT,
    ("ortools_model_builder", "UNBOUNDED"): Status.ERROR,
    ("ortools_model_builder", "ABNORMAL"): Status.ERROR,
    ("ortools_model_builder", "MODEL_INVALID"): Status.ERROR,
    # The process the MIP solver runs in (matcher.solvers.mip.solve_rows).
    ("mip_process", "DEADLINE"): Status.TIME_LIMIT,
    ("mip_process", "CRASHED"): Status.ERROR,
}


def translate(solver: str, status_name: str) -> Status:
    """Matcher status for a solver's status; an unknown pair is an error status."""
    return _TABLE.get((solver, status_name), Status.ERROR)
