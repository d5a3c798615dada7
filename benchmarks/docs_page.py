"""Write ``docs/benchmarks.md`` from the saved benchmark results.

The page shows every table of ``benchmarks/results/*.md`` as it is, with a short
paragraph on what the benchmark measures and the date of its run. A result file records
no date of its own, so a run's date is the commit date of the result: for a table whose
rows can come from several runs (``--append`` merges rows), each row and each method of
a row is dated by the oldest commit from which its entry in the ``.json`` is unchanged.
The output depends only on the committed results, never on the clock, so
``tests/test_docs.py`` can check that the page is current.

    python -m benchmarks.docs_page            # (re)write docs/benchmarks.md
    python -m benchmarks.docs_page --check    # exit 1 when the page is out of date

Commit new results first, then regenerate the page: results that are not committed yet
are marked so on the page.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
PAGE = ROOT / "docs" / "benchmarks.md"
NOT_COMMITTED = "not committed yet"


@dataclass(frozen=True)
class Benchmark:
    """One benchmark's section of the page."""

    stem: str  # results/<stem>.md and results/<stem>.json
    title: str
    command: str
    measures: str
    row_key: tuple[str, ...] = ()  # fields naming a row of the json (empty: the file is one run)
    methods: tuple[str, ...] = ()  # entries of a row dated separately (those that ran)


BENCHMARKS: tuple[Benchmark, ...] = (
    Benchmark(
        "latest",
        "The whole pipeline",
        "python -m benchmarks.run",
        "Generates seeded instances (candidates list 20 employers), writes them as Parquet "
        "and runs the whole pipeline under the Japan policy with the default backend (the "
        "core), each size in its own process: load, eligibility, solve, certificate check, "
        "verification and writing the outputs, with the peak resident memory. Generating "
        "the instance runs in a process of its own, so the peak is the pipeline's alone. "
        "Measured on the project's machine (2 cores that behave like one, 24 GiB, Python "
        "3.11, OR-Tools 9.15, polars 2.1, numba 0.68), Japan policy, seed 1; "
        "`benchmarks/results/latest.json` has every phase. Times in seconds. The numba code "
        "compiles once after installing (about 6 s, then cached on disk); each process then "
        "loads it in about 0.3 s. This machine's speed drifts by 10-30% within hours, so "
        "compare runs made together. `make test` runs the quick mode (2k and 10k), which "
        "fails if networkx's network simplex disagrees with the core's optimum on the same "
        "network; it never fails on time.",
        row_key=("size",),
    ),
    Benchmark(
        "core",
        "The welfare core against OR-Tools, SciPy and networkx",
        "python -m benchmarks.core",
        "Every method solves the *same* edge arrays, each in its own process (so each peak "
        "RSS is its own; `base MiB` is the RSS right after loading the arrays, included in "
        "every peak), in one run per table row. `japan`: the Japan policy's caps (employer "
        "intakes, national sector caps, track totals); `slots`: the same instance with only "
        "slot capacities, the classic capacitated assignment problem, where SciPy's "
        "`min_weight_full_bipartite_matching` applies (on the expanded matrix: one column "
        'per unit of slot capacity plus one "unplaced" column per candidate; score-only '
        "objective, so it is compared on placed count and total score). networkx is network "
        "simplex on the full network (up to 400,000 pairs). `k` is the number of employers "
        "each candidate lists. Times are wall seconds of the solve; the core's process "
        "loads numba's compiled kernels first (a cold and a warm solve of the tiny "
        "instance, not counted). Warm columns: 1% and then 0.01% of the candidates "
        "withdraw, the changed instance is solved cold and then warm from the first solve; "
        "both must reach the same objective and the warm certificate must hold; "
        '"(levels)" marks a warm start whose shortest paths handed over to the levels '
        '(warm from the earlier score prices), "(cold)" one that went on to a cold solve '
        "past the levels' budget. The run fails (exit 1) when an objective differs or a "
        "certificate is rejected; `make test` runs its quick mode (2k, both scenarios, every "
        "method).",
        row_key=("size", "caps", "list_length"),
        methods=("ortools", "core", "scipy", "networkx"),
    ),
    Benchmark(
        "policy",
        "Policy-constrained optimization: regional caps, floors, employer caps",
        "python -m benchmarks.policy",
        "Binding prefecture caps (each prefecture capped at 70% of what the unconstrained "
        "optimum placed there) and, in the `prefecture+sector` scenario, binding national "
        "sector caps too (80% of the unconstrained placements per sector and track group), "
        "on generated instances (Japan policy, seed 1, 20 employers listed). The `floors` "
        "scenario keeps those sector caps, has no prefecture caps, and adds floors: a hard "
        "floor on the six Tohoku prefectures at 110% of what the optimum under the sector "
        "caps placed there, and a soft floor for every employer outside the metro "
        "prefectures of 60% of its declared capacity (penalty 1: 257 floors at 10k, 2,727 "
        "at 100k, 27,130 at 1M). The `employer` scenario is `prefecture+sector` plus the "
        "ESDP staff tiers applied to each employer's total across its sectors "
        '(`per = "employer"`). `matcher` is the `lagrange` backend\'s solver on the total '
        "score, less 100 points per placement a soft floor misses (eligibility included); "
        "`cp-sat` a plain CP-SAT model of the same problem (boolean per pair, every cap and "
        "floor, the same objective, one worker), same time limit (60 s after its model is "
        "built); `highs` the same model for the MIP solver HiGHS (the rows of the `mip` "
        "backend, one level, one thread, same limit; run up to 10k). Gap = (best proven "
        "bound of the row - objective) / bound. `--append` adds a run's rows to the saved "
        "table: a rerun row updates the methods it ran and keeps the ones it skipped (e.g. "
        "with `--no-cpsat-above 2k --no-highs-above 2k`), so the rows below come from "
        "several runs. `make test` runs the quick mode (2k, 5 s limit), which fails if a "
        "result breaks a cap or exceeds a proven bound.",
        row_key=("size", "scenario"),
        methods=("matcher", "cp-sat", "highs"),
    ),
    Benchmark(
        "quality",
        "Solution quality on two instance generators",
        "python -m benchmarks.quality",
        "The policy-constrained solvers on instances of both generators: the realistic one "
        "with the `prefecture+sector` and `floors` caps and floors of the policy benchmark "
        "above, and the contested one (`generate_contested`, one employer per 5 candidates: "
        "3% of the employers hold half the capacity, Zipf-popular employers and lists of 1-5, "
        "scores near a pass mark, regional and national caps at 50-70% of what could be "
        "placed, a hard rural floor and soft per-employer floors, all in the policy it "
        "writes). `default` is `matcher.solve` with the backend the registry picks, "
        "`lagrange` the Lagrangian backend, both with a 60 s limit; `mip` the MIP backend "
        "(lexicographic: most placed first) and `highs` the policy benchmark's score model "
        "for HiGHS, both with a 600 s limit, whose proven optimum is the reference. Every "
        "assignment is scored the same way (total score less 100 points per placement a "
        "soft floor misses) and verified; the run fails (exit 1) on a broken rule or a "
        "value above a proven bound. Seed 1.",
        row_key=("generator", "scenario", "size"),
        methods=("default", "lagrange", "mip", "highs"),
    ),
    Benchmark(
        "stable",
        "Stable matching against the matching package",
        "python -m benchmarks.stable",
        "Plain hospital-residents instances: every candidate ranks 20 employers, one "
        "sector; the `matching` package runs in the same process on the same instance (one "
        "run). The 1M line below the table is a generated instance under the Japan policy "
        "with its national caps, from edge arrays, including sorting, best of 3.",
    ),
    Benchmark(
        "caps",
        "Naive against flexible caps",
        "python -m benchmarks.caps",
        "A generated instance under the Japan policy with every national cap set to 30% of "
        "the sector's declared room; naive (shrunk intakes) and flexible (Kamada-Kojima) "
        "deferred acceptance with the same lottery; blocking pairs counted by the "
        "independent checker; the welfare optimum's placed count for reference.",
    ),
    Benchmark(
        "transfer",
        "Transfer rounds",
        "python -m benchmarks.transfer",
        "Synthetic ESDP workforces: one employer per 20 incumbents, 35% in metro "
        "prefectures, 0-2 open vacancies per program, 70% of workers list 5 employers of "
        "their sector. `round s` is the whole library call: edges, DA, output tables, "
        "verification and the blocking-pair check; `DA s` the compiled kernel; "
        "`validate s` reading and validating the tables, which comes on top.",
        row_key=("incumbents", "policy"),
    ),
)


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
    except OSError:
        return None
    return done.stdout if done.returncode == 0 else None


@cache
def _history(rel: str) -> tuple[tuple[str, str], ...]:
    """(commit, date) of every commit that changed ``rel``, newest first."""
    out = _git("log", "--format=%H %cs", "--", rel) or ""
    return tuple((line.split()[0], line.split()[1]) for line in out.splitlines() if line.strip())


@cache
def _version(commit: str, rel: str) -> Any:
    text = _git("show", f"{commit}:{rel}")
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return None


def _rows(data: Any) -> list[dict[str, Any]]:
    rows = data.get("rows", []) if isinstance(data, dict) else data
    return [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []


def _entry(data: Any, bench: Benchmark, key: tuple[Any, ...] | None, method: str | None) -> Any:
    """The part of a results file that one date belongs to."""
    if key is None:
        return data
    for row in _rows(data):
        if tuple(row.get(k) for k in bench.row_key) == key:
            return row if method is None else row.get(method)
    return None


def _ran(entry: Any) -> bool:
    """Whether a method's entry is a run (a skipped or absent method has no date)."""
    return isinstance(entry, dict) and "seconds" in entry


def _date(bench: Benchmark, current: Any, key: tuple[Any, ...] | None, method: str | None) -> str:
    """Commit date from which this entry is unchanged (or a date the json records)."""
    entry = _entry(current, bench, key, method)
    for holder in (entry, current):
        if isinstance(holder, dict) and isinstance(holder.get("date"), str):
            return str(holder["date"])
    rel = f"benchmarks/results/{bench.stem}.json"
    date = NOT_COMMITTED
    for commit, day in _history(rel):
        if _entry(_version(commit, rel), bench, key, method) != entry:
            break
        date = day
    return date


def _label(bench: Benchmark, key: tuple[Any, ...], method: str | None) -> str:
    text = " ".join(str(k) for k in key)
    return f"{text} ({method})" if method else text


def _dates(bench: Benchmark, current: Any) -> dict[str, list[str]]:
    """Date -> the rows (and methods) recorded that day; one key when all share a date."""
    found: dict[str, list[str]] = {}
    if not bench.row_key:
        found[_date(bench, current, None, None)] = []
        return found
    for row in _rows(current):
        key = tuple(row.get(k) for k in bench.row_key)
        if not bench.methods:
            found.setdefault(_date(bench, current, key, None), []).append(_label(bench, key, None))
            continue
        for method in bench.methods:
            if _ran(row.get(method)):
                day = _date(bench, current, key, method)
                found.setdefault(day, []).append(_label(bench, key, method))
    return found


def _date_line(found: dict[str, list[str]]) -> str:
    if len(found) == 1:
        (day,) = found
        return f"Run of {day}." if day != NOT_COMMITTED else "Run not committed yet."
    lines = ["Rows from several runs, by date:", ""]
    for day in sorted(found, key=lambda d: (d == NOT_COMMITTED, d)):
        item = f"- {day}: " + ", ".join(found[day])
        lines.append(textwrap.fill(item, width=90, subsequent_indent="  ", break_on_hyphens=False))
    return "\n".join(lines)


def _sections() -> Iterator[str]:
    known = {b.stem for b in BENCHMARKS}
    extra = [
        Benchmark(p.stem, p.stem, f"python -m benchmarks.{p.stem}", "")
        for p in sorted(RESULTS.glob("*.md"))
        if p.stem not in known
    ]
    for bench in (*BENCHMARKS, *extra):
        table = RESULTS / f"{bench.stem}.md"
        if not table.is_file():
            continue
        data_file = RESULTS / f"{bench.stem}.json"
        current = json.loads(data_file.read_text(encoding="utf-8")) if data_file.is_file() else None
        parts = [f"## {bench.title}", "", f"`{bench.command}`"]
        if bench.measures:
            parts += ["", _wrap(bench.measures)]
        if current is not None:
            parts += ["", _date_line(_dates(bench, current))]
        parts += ["", table.read_text(encoding="utf-8").strip()]
        yield "\n".join(parts)


def _wrap(text: str) -> str:
    return textwrap.fill(text, width=90, break_long_words=False, break_on_hyphens=False)


def render() -> str:
    """The page's text."""
    intro = _wrap(
        "The latest saved table of every benchmark, as the benchmark wrote it to "
        "`benchmarks/results/`. A run's date is the commit date of its results. Times are "
        "reported, never asserted: they vary by 10-30% on the machine that ran them, so "
        "compare rows of one run. What the numbers mean for each method is discussed on "
        "its page ([index](index.md)); earlier runs and the alternatives measured on the "
        "way are in [benchmarks/NOTES.md](../benchmarks/NOTES.md)."
    )
    head = (
        "# Benchmarks\n\n"
        "<!-- Generated by `python -m benchmarks.docs_page` from benchmarks/results/; "
        "do not edit by hand. -->\n\n" + intro + "\n"
    )
    return head + "\n" + "\n\n".join(_sections()) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="exit 1 when the page is out of date")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = PAGE.read_text(encoding="utf-8") if PAGE.is_file() else ""
        if current != text:
            print(f"{PAGE.relative_to(ROOT)} is out of date: run python -m benchmarks.docs_page")
            return 1
        return 0
    PAGE.parent.mkdir(parents=True, exist_ok=True)
    PAGE.write_text(text, encoding="utf-8")
    print(f"wrote {PAGE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
