"""Benchmarks: seeded synthetic instances, matcher vs baselines, ratios in one run."""

import json
import os
import platform
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"


def machine_info() -> dict[str, object]:
    """What the results record about the machine they were measured on."""
    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "cpus": os.cpu_count(),
    }


def publish(
    name: str,
    rows: list[dict[str, Any]],
    render: Callable[[list[dict[str, Any]], dict[str, object]], str],
    *,
    write: bool,
    append: bool = False,
    key: Callable[[dict[str, Any]], object] | None = None,
    merge: bool = False,
) -> list[dict[str, Any]]:
    """Print the markdown table of ``rows``; with ``write``, save results/NAME.json and .md.

    ``append`` puts the rows after those already saved (several runs, one table); a saved
    row with the same ``key`` as a new one is replaced (a rerun of that row), or with
    ``merge`` updated by it, so that the fields the rerun did not measure (methods it
    skipped) keep their saved values. Returns every row shown.
    """
    path = RESULTS / f"{name}.json"
    if append and path.exists():
        new = {key(r): r for r in rows} if key else {}
        old = json.loads(path.read_text())["rows"]

        def rerun(r: dict[str, Any]) -> dict[str, Any]:
            if not key or key(r) not in new:
                return r
            return {**r, **new[key(r)]} if merge else new[key(r)]

        kept = [rerun(r) for r in old]  # a rerun takes its row's place
        placed = {key(r) for r in old} if key else set()
        rows = kept + [r for r in rows if not key or key(r) not in placed]
    machine = machine_info()
    md = render(rows, machine)
    print(md)
    if write:
        RESULTS.mkdir(exist_ok=True)
        path.write_text(json.dumps({"machine": machine, "rows": rows}, indent=2) + "\n")
        (RESULTS / f"{name}.md").write_text(md + "\n")
    return rows
