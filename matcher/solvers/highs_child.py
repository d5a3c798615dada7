"""The MIP solver's own process: reads one model from stdin, solves it with HiGHS, writes
the outcome to stdout (both pickled).

Run as a script by :func:`matcher.solvers.mip.solve_rows` (``python highs_child.py``,
so that only numpy, scipy and OR-Tools are imported, not matcher), which ends the process
when it overruns its deadline: HiGHS does not look at its clock while it solves the root
LP. Nothing here logs or prints; the parent reads the outcome or, if the process dies,
reports that.
"""

from __future__ import annotations

import pickle
import sys
from typing import Any

import numpy as np
import scipy.sparse as sp
from ortools.linear_solver.python import model_builder as mb


def solve(task: dict[str, Any]) -> tuple[str, Any, float, float]:
    """(solver status name, values or None, objective, bound) of the model in ``task``:
    ``matrix`` (CSR parts), ``lower``/``upper`` (rows), ``col_upper``, ``objective``
    (maximized), ``time_limit`` (seconds), ``parameters`` (HiGHS options)."""
    indptr, indices, data, shape = task["matrix"]
    matrix = sp.csr_matrix((data, indices, indptr), shape=shape)
    n_cols = shape[1]
    model = mb.Model()  # type: ignore[no-untyped-call]
    helper: Any = model.helper  # its stubs mistype numpy arrays
    helper.fill_model_from_sparse_data(
        np.zeros(n_cols), task["col_upper"], task["objective"], task["lower"], task["upper"], matrix
    )
    for col in range(n_cols):
        helper.set_var_integrality(col, True)
    helper.set_maximize(True)
    solver = mb.Solver("highs")
    solver.set_time_limit_in_seconds(max(0.01, float(task["time_limit"])))
    solver.set_solver_specific_parameters(task["parameters"])
    raw = solver.solve(model)
    if raw.name not in ("OPTIMAL", "FEASIBLE"):
        return raw.name, None, float("nan"), float("nan")
    values = np.rint(solver.values(model.get_variables()).to_numpy())
    return raw.name, values, float(solver.objective_value), float(solver.best_objective_bound)


def main() -> None:
    task = pickle.load(sys.stdin.buffer)
    out = solve(task)
    pickle.dump(out, sys.stdout.buffer, protocol=pickle.HIGHEST_PROTOCOL)
    sys.stdout.buffer.flush()


if __name__ == "__main__":
    main()
