"""Command-line interface (typer). The only module that prints or exits.

Exit codes: 0 success; 1 the solve or the verification failed; 2 bad input (every
problem listed, nothing written).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path
from typing import Annotated, Any, NoReturn

import polars as pl
import typer

from matcher import __version__
from matcher.errors import InputError, MatcherError
from matcher.io import FORMATS, load_instance, write_tables
from matcher.policy import load_policy, policy_from_dict
from matcher.solve import METHODS, solve
from matcher.verify import verify_assignment

app = typer.Typer(
    name="matcher",
    help="Assign aptitude-scored candidates to employers' declared training slots.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Show no progress on stderr.")]
PolicyOpt = Annotated[
    Path | None,
    typer.Option("--policy", "-p", help="Policy TOML (default: INSTANCE/policy.toml, else neutral)."),
]


class _Elapsed(logging.Formatter):
    def __init__(self) -> None:
        super().__init__()
        self.start = time.perf_counter()

    def format(self, record: logging.LogRecord) -> str:
        return f"[{time.perf_counter() - self.start:7.2f}s] {record.getMessage()}"


def _setup_logging(quiet: bool) -> None:
    logger = logging.getLogger("matcher")
    logger.handlers.clear()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Elapsed())
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING if quiet else logging.INFO)
    logger.propagate = False


def _fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _choice(value: str, allowed: tuple[str, ...], option: str) -> str:
    if value not in allowed:
        _fail(f"{option} must be one of {', '.join(allowed)}, got {value!r}")
    return value


def _table(rows: list[tuple[str, str]]) -> str:
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"  {k.ljust(width)}  {v}" for k, v in rows)


@app.command()
def generate(
    out: Annotated[Path, typer.Argument(help="Directory to write the instance to.")],
    candidates: Annotated[int, typer.Option(help="Number of candidates.")] = 2000,
    employers: Annotated[int, typer.Option(help="Number of employers.")] = 100,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same bytes.")] = 0,
    unlisted_share: Annotated[
        float, typer.Option(help="Share of candidates without a preference list.")
    ] = 0.0,
    list_length: Annotated[int, typer.Option(help="Employers each listing candidate ranks.")] = 20,
    format: Annotated[str, typer.Option("--format", "-f", help="csv or parquet.")] = "csv",
    policy: PolicyOpt = None,
    quiet: Quiet = False,
) -> None:
    """Write a realistic synthetic instance (DOMAIN.md mixes) to OUT."""
    _setup_logging(quiet)
    from matcher.generate import generate_instance

    _choice(format, FORMATS, "--format")
    try:
        tables = generate_instance(
            candidates=candidates,
            employers=employers,
            seed=seed,
            unlisted_share=unlisted_share,
            list_length=list_length,
        )
    except ValueError as exc:
        _fail(str(exc))
    texts: dict[str, str] = {}
    if policy is not None:
        try:
            load_policy(policy)  # a generated instance never carries an invalid policy
            texts["policy.toml"] = policy.read_text(encoding="utf-8")
        except InputError as exc:
            _fail(str(exc))
    logging.getLogger("matcher").info("writing %s tables to %s", len(tables), out)
    try:
        write_tables(tables, out, format, texts=texts)
    except (OSError, ValueError) as exc:
        _fail(str(exc))
    typer.echo(
        f"wrote {out}: {candidates:,} candidates, {employers:,} employers, "
        f"{tables['slots'].height:,} slots, {tables['preferences'].height:,} preference rows"
    )


@app.command()
def validate(
    instance: Annotated[Path, typer.Argument(help="Instance directory.")],
    policy: PolicyOpt = None,
    quiet: Quiet = False,
) -> None:
    """Check an instance and report every problem at once (exit 2 if any)."""
    _setup_logging(quiet)
    from matcher.eligibility import count_pairs

    try:
        inst = load_instance(instance, policy=policy)
        pairs = count_pairs(inst)
    except (InputError, MatcherError) as exc:
        _fail(str(exc))
    typer.echo(f"{instance}: valid under policy {inst.policy.name!r}")
    typer.echo(
        _table(
            [
                ("candidates", f"{inst.n_candidates:,}"),
                ("employers", f"{inst.n_employers:,}"),
                ("slots", f"{inst.slots.height:,}"),
                ("declared capacity", f"{int(inst.slots.get_column('capacity').sum()):,}"),
                ("preference rows", f"{inst.preferences.height:,}"),
                ("eligible pairs", f"{pairs['listed_pairs'] + pairs['unlisted_pairs']:,}"),
            ]
        )
    )


@app.command("solve")
def solve_cmd(
    instance: Annotated[Path, typer.Argument(help="Instance directory.")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Directory for the outputs.")] = None,
    method: Annotated[str, typer.Option("--method", "-m", help=f"One of: {', '.join(METHODS)}.")] = "optimal",
    format: Annotated[str, typer.Option("--format", "-f", help="csv or parquet.")] = "csv",
    policy: PolicyOpt = None,
    max_pairs: Annotated[int | None, typer.Option(help="Refuse more eligible pairs than this.")] = None,
    seed: Annotated[int, typer.Option(help="Seed for pair sampling under a pair limit.")] = 0,
    quiet: Quiet = False,
) -> None:
    """Solve an instance; write assignments, unmatched and summary.json to --out."""
    _setup_logging(quiet)
    _choice(method, METHODS, "--method")
    _choice(format, FORMATS, "--format")
    if out is not None and out.exists() and not out.is_dir():
        _fail(f"--out {out} exists and is not a directory")
    timings: dict[str, float] = {}
    start = time.perf_counter()
    try:
        inst = load_instance(instance, policy=policy)
        timings["load"] = time.perf_counter() - start
        result = solve(inst, method=method, max_pairs=max_pairs, seed=seed, timings=timings)
        if out is not None:
            result.write(out, format=format)
    except (InputError, MatcherError) as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"cannot write {out}: {exc}")
    s = result.summary
    c = s["counts"]
    rows = [
        ("status", f"{result.status.value} ({result.message})"),
        ("policy", inst.policy.name),
        ("candidates", f"{c['candidates']:,}"),
        ("eligible pairs", f"{c['eligible_pairs']:,}"),
        ("placed", f"{result.objective.matched:,}"),
        ("total score", f"{result.objective.total_score:,.2f}"),
        ("rank sum", f"{result.objective.rank_sum:,}"),
    ]
    rows += [(f"unmatched: {k}", f"{v:,}") for k, v in c["unmatched_by_reason"].items()]
    rows.append(("verified", "yes" if s.get("verified") else "no"))
    rows.append(("time (s)", ", ".join(f"{k} {v:.2f}" for k, v in s["timings_s"].items())))
    if out is not None:
        rows.append(("written to", str(out)))
    typer.echo(_table(rows))
    if not result.success:
        raise typer.Exit(1)


def _read_result_table(directory: Path, stem: str) -> pl.DataFrame:
    csv, parquet = directory / f"{stem}.csv", directory / f"{stem}.parquet"
    if csv.is_file():
        return pl.read_csv(
            csv,
            schema_overrides={
                "candidate_id": pl.String,
                "employer_id": pl.String,
                "sector": pl.String,
                "track": pl.String,
                "score": pl.Float64,
                "pref_rank": pl.Int64,
            },
        )
    if parquet.is_file():
        return pl.read_parquet(parquet)
    _fail(f"{directory}: no {stem}.csv or {stem}.parquet")


@app.command()
def verify(
    instance: Annotated[Path, typer.Argument(help="Instance directory.")],
    result: Annotated[Path, typer.Argument(help="Result directory written by solve.")],
    policy: PolicyOpt = None,
    quiet: Quiet = False,
) -> None:
    """Recheck a result from the raw tables: eligibility, capacities, caps, objective."""
    _setup_logging(quiet)
    summary_path = result / "summary.json"
    summary: dict[str, Any] = {}
    if summary_path.is_file():
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
    try:
        pol = (
            policy
            if policy is not None
            else (
                policy_from_dict(summary["policy"], source=str(summary_path)) if "policy" in summary else None
            )
        )
        inst = load_instance(instance, policy=pol)
        assignments = _read_result_table(result, "assignments")
        check = verify_assignment(inst, assignments, objective=summary.get("objective"))
    except (InputError, MatcherError) as exc:
        _fail(str(exc))
    except (pl.exceptions.PolarsError, OSError) as exc:
        _fail(f"{result}: cannot read the assignments: {exc}")
    typer.echo(str(check))
    o = check.objective
    typer.echo(_table([(k, str(v)) for k, v in o.items()]))
    if not check.ok:
        raise typer.Exit(1)


@app.callback(invoke_without_command=True)
def _root(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    if version:
        typer.echo(f"matcher {__version__}")
        raise typer.Exit(0)


def main() -> None:
    """Console-script entry point."""
    app()
