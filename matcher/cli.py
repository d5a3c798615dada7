"""Command-line interface (typer). The only module that prints or exits.

Exit codes: 0 success; 1 the solve or the verification failed; 2 bad input (every
problem listed, nothing written).
"""

from __future__ import annotations

import contextlib
import json
import logging
import signal
import sys
import time
from pathlib import Path
from typing import Annotated, Any, NoReturn

import polars as pl
import typer

from matcher._version import __version__
from matcher.data.load import load_instance
from matcher.data.policy import load_policy, policy_from_dict
from matcher.data.readers import ENCODINGS, check_encoding
from matcher.errors import InputError, MatcherError, OutputError, Problem
from matcher.output.audit import AUDIT_MIN_GROUP
from matcher.output.directories import Kind, check_output_dir
from matcher.output.files import FORMATS, restore_cells, write_tables
from matcher.output.report import ASSIGNMENT_SCHEMA
from matcher.solve import BACKENDS, METHODS, MIP_DEFAULT_MAX_PAIRS, OptionsError, check_options, solve
from matcher.stable.mechanism import CAP_MODES, PROPOSING
from matcher.verification.assignment import verify_assignment

app = typer.Typer(
    name="matcher",
    help="Assign aptitude-scored candidates to employers' declared training slots.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: flags shown as flags, not as "<bool>" values
)

Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Show no progress on stderr.")]
PolicyOpt = Annotated[
    Path | None,
    typer.Option("--policy", "-p", help="Policy TOML (default: INSTANCE/policy.toml, else neutral)."),
]
EncodingOpt = Annotated[
    str,
    typer.Option(
        "--encoding",
        help=f"Of the CSV files, one of {', '.join(ENCODINGS)}: auto reads UTF-8 (with or without "
        "a byte-order mark), else cp932 (Shift-JIS).",
    ),
]
FormatOpt = Annotated[
    str,
    typer.Option(
        "--format",
        "-f",
        help="csv, parquet or xlsx (one workbook per table). CSV text cells that a spreadsheet "
        "would run as formulas get a leading apostrophe.",
    ),
]
_INSTANCE_HELP = "Instance directory (CSV, Parquet or .xlsx tables), or one .xlsx workbook."
_OUT_HELP = (
    "Directory for the outputs: created if absent; an existing one is replaced only when it "
    "is empty or an earlier output of the same command."
)


class _Elapsed(logging.Formatter):
    def __init__(self) -> None:
        super().__init__()
        self.start = time.perf_counter()

    def format(self, record: logging.LogRecord) -> str:
        return f"[{time.perf_counter() - self.start:7.2f}s] {record.getMessage()}"


class _StderrHandler(logging.Handler):
    """Writes to whatever ``sys.stderr`` is at the time (test runners swap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(ValueError, OSError):  # a closed stream: progress is best effort
            sys.stderr.write(self.format(record) + "\n")


def _setup_logging(quiet: bool) -> None:
    logger = logging.getLogger("matcher")
    logger.handlers.clear()
    handler = _StderrHandler()
    handler.setFormatter(_Elapsed())
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING if quiet else logging.INFO)
    logger.propagate = False


def _fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _note_first_compile() -> None:
    """Say so when the compiled kernels are not in numba's cache yet: the first solve after
    an install compiles them (once), which takes longer than the solve itself."""
    package = Path(__file__).parent
    if not any(package.glob("**/__pycache__/*.nbi")):
        logging.getLogger("matcher").info("compiling the solver kernels (once after installing; 10-60 s) ...")


def _check_out(out: Path | None, kind: Kind, *inputs: Path | None) -> None:
    """Refuse an --out that would replace what matcher did not write (exit 2), before work."""
    if out is None:
        return
    try:
        check_output_dir(out, kind, protect=[p for p in inputs if p is not None])
    except OutputError as exc:
        _fail(f"--out {exc}")


def _check_encoding(encoding: str) -> None:
    try:
        check_encoding(encoding)
    except ValueError as exc:
        _fail(f"--encoding: {exc}")


def _check_solve_options(
    options: dict[str, Any], *, format: str, encoding: str, save_state: bool, out: Path | None
) -> None:
    """Every problem with solve's options at once (exit 2): the library's own check
    (:func:`matcher.solve.check_options`, naming flags) and the command line's."""
    problems: list[Problem] = []
    try:
        check_options(**options, cli=True)
    except OptionsError as exc:
        problems += exc.problems
    if format not in FORMATS:
        problems.append(Problem("--format", f"--format must be one of {', '.join(FORMATS)}, got {format!r}"))
    try:
        check_encoding(encoding)
    except ValueError as exc:
        problems.append(Problem("--encoding", f"--encoding: {exc}"))
    if save_state and out is None:
        problems.append(
            Problem("--save-state", "--save-state needs --out (the state is written to OUT/state/)")
        )
    if save_state and (options["method"] != "optimal" or options["backend"] not in (None, "core")):
        problems.append(Problem("--save-state", "--save-state needs --method optimal with the core backend"))
    if problems:
        _fail(str(OptionsError(problems)))


def _choice(value: str, allowed: tuple[str, ...], option: str) -> str:
    if value not in allowed:
        _fail(f"{option} must be one of {', '.join(allowed)}, got {value!r}")
    return value


def _table(rows: list[tuple[str, str]]) -> str:
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"  {k.ljust(width)}  {v}" for k, v in rows)


@app.command()
def generate(
    out: Annotated[
        Path,
        typer.Argument(
            metavar="OUT",
            help="Directory to write the instance to: created if absent; an existing one is "
            "replaced only when it is empty or an instance generate wrote earlier.",
        ),
    ],
    candidates: Annotated[int, typer.Option(help="Number of candidates.")] = 2000,
    employers: Annotated[int, typer.Option(help="Number of employers.")] = 100,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same bytes.")] = 0,
    unlisted_share: Annotated[
        float, typer.Option(help="Share of candidates without a preference list.")
    ] = 0.0,
    list_length: Annotated[
        int, typer.Option(help="Longest preference list: employers a listing candidate ranks.")
    ] = 20,
    format: Annotated[
        str, typer.Option("--format", "-f", help="csv, parquet or xlsx (one workbook per table).")
    ] = "csv",
    policy: Annotated[
        Path | None,
        typer.Option(
            "--policy", "-p", help="Policy TOML to check and copy into OUT as policy.toml (default: none)."
        ),
    ] = None,
    family: Annotated[
        str,
        typer.Option(
            "--family",
            help="realistic (the programme mixes) or contested (few large employers, skewed short "
            "lists, binding crossing caps and competing floors, written as OUT/policy.toml).",
        ),
    ] = "realistic",
    quiet: Quiet = False,
) -> None:
    """Write a realistic synthetic instance (programme mixes of docs/domain.md) to OUT, or
    with --family contested a concentrated one with its binding policy."""
    _setup_logging(quiet)
    from matcher.data.generate import generate_contested, generate_instance

    _choice(format, FORMATS, "--format")
    _choice(family, ("realistic", "contested"), "--family")
    if family == "contested":
        if policy is not None:
            _fail("--policy cannot be used with --family contested (it writes its own policy.toml)")
        if unlisted_share != 0.0 or list_length != 20:
            _fail("--unlisted-share and --list-length apply to --family realistic only")
    _check_out(out, "instance", policy)
    texts: dict[str, str] = {}
    try:
        if family == "contested":
            contested = generate_contested(candidates=candidates, employers=employers, seed=seed)
            tables = contested.tables
            texts["policy.toml"] = contested.policy_toml
        else:
            tables = generate_instance(
                candidates=candidates,
                employers=employers,
                seed=seed,
                unlisted_share=unlisted_share,
                list_length=list_length,
            )
    except ValueError as exc:
        _fail(str(exc))
    except InputError as exc:
        _fail(str(exc))
    if policy is not None:
        try:
            load_policy(policy)  # a generated instance never carries an invalid policy
            texts["policy.toml"] = policy.read_text(encoding="utf-8")
        except InputError as exc:
            _fail(str(exc))
    logging.getLogger("matcher").info("writing %s tables to %s", len(tables), out)
    try:
        write_tables(tables, out, format, kind="instance", texts=texts)
    except OutputError as exc:
        _fail(f"--out {exc}")
    except (OSError, ValueError) as exc:
        _fail(str(exc))
    typer.echo(
        f"wrote {out}: {candidates:,} candidates, {employers:,} employers, "
        f"{tables['slots'].height:,} slots, {tables['preferences'].height:,} preference rows"
    )


@app.command()
def validate(
    instance: Annotated[Path, typer.Argument(metavar="INSTANCE", help=_INSTANCE_HELP)],
    policy: PolicyOpt = None,
    encoding: EncodingOpt = "auto",
    quiet: Quiet = False,
) -> None:
    """Check an instance and report every problem at once (exit 2 if any)."""
    _setup_logging(quiet)
    from matcher.eligibility.edges import count_pairs

    _check_encoding(encoding)
    try:
        inst = load_instance(instance, policy=policy, encoding=encoding)
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
    instance: Annotated[Path, typer.Argument(metavar="INSTANCE", help=_INSTANCE_HELP)],
    out: Annotated[Path | None, typer.Option("--out", "-o", help=_OUT_HELP)] = None,
    method: Annotated[str, typer.Option("--method", "-m", help=f"One of: {', '.join(METHODS)}.")] = "optimal",
    format: FormatOpt = "csv",
    policy: PolicyOpt = None,
    encoding: EncodingOpt = "auto",
    max_pairs: Annotated[int | None, typer.Option(help="Refuse more eligible pairs than this.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the lottery (stable) and of pair sampling.")] = 0,
    backend: Annotated[
        str | None,
        typer.Option(
            help=f"Optimal: exact backend, one of {', '.join(BACKENDS)} "
            "(default: core when the caps nest; with regional caps or floors that cross them, mip "
            f"up to {MIP_DEFAULT_MAX_PAIRS:,} pairs, else lagrange; with other crossing rules, cpsat)."
        ),
    ] = None,
    time_limit: Annotated[
        float,
        typer.Option(
            "--time-limit",
            help="CP-SAT, MIP and Lagrangian backends: seconds for the whole solve; when they run out the best "
            "assignment is returned as feasible, with its bound and gap.",
        ),
    ] = 60.0,
    proposing: Annotated[
        str, typer.Option(help=f"Stable: who proposes, one of {', '.join(PROPOSING)}.")
    ] = "candidate",
    caps: Annotated[
        str | None,
        typer.Option(
            help=f"Stable: cap handling, one of {', '.join(CAP_MODES)} "
            "(default: flexible when candidates propose, else naive)."
        ),
    ] = None,
    compare_optimal: Annotated[
        bool | None,
        typer.Option(
            "--compare-optimal/--no-compare-optimal",
            help="Stable: also solve the welfare optimum for the price of stability "
            "(default: up to 2M eligible pairs).",
        ),
    ] = None,
    save_state: Annotated[
        bool,
        typer.Option(
            "--save-state",
            help="Core backend: also write the solver state to OUT/state/, for a later --warm-start.",
        ),
    ] = False,
    warm_start: Annotated[
        Path | None,
        typer.Option(
            "--warm-start",
            help="Core backend: start from the state an earlier --save-state wrote (its --out "
            "directory), e.g. after candidates withdrew; the result is exact either way.",
        ),
    ] = None,
    audit_min_group: Annotated[
        int,
        typer.Option(
            "--audit-min-group",
            min=1,
            help="Fairness audit: groups of fewer candidates are suppressed (their outcomes not shown).",
        ),
    ] = AUDIT_MIN_GROUP,
    quiet: Quiet = False,
) -> None:
    """Solve an instance; write assignments, unmatched, audit, caps and summary.json to --out."""
    _setup_logging(quiet)
    options: dict[str, Any] = {
        "method": method,
        "backend": backend,
        "proposing": proposing,
        "caps": caps,
        "compare_optimal": compare_optimal,
        "max_pairs": max_pairs,
        "seed": seed,
        "time_limit": time_limit,
        "warm_start": warm_start,
        "audit_min_group": audit_min_group,
    }
    _check_solve_options(options, format=format, encoding=encoding, save_state=save_state, out=out)
    _check_out(out, "result", instance, policy)
    timings: dict[str, float] = {}
    start = time.perf_counter()
    kept: str | None = None
    try:
        inst = load_instance(instance, policy=policy, encoding=encoding)
        timings["load"] = time.perf_counter() - start
        _note_first_compile()
        result = solve(inst, **options, timings=timings)
        keep_state = save_state and result.state is not None
        if save_state and not keep_state:
            if result.success:
                _fail(
                    f"--save-state: the {result.summary.get('backend', 'chosen')} backend solved this "
                    "instance and keeps no state (only the core backend does)"
                )
            logging.getLogger("matcher").warning("no state to save: the solve did not succeed")
        if out is not None:
            try:
                result.write(out, format=format, state=keep_state)
            except OutputError as exc:
                if result.success:
                    raise
                kept = str(exc)
    except OutputError as exc:
        _fail(f"--out {exc}")
    except (InputError, MatcherError) as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"cannot write {out}: {exc}")
    rows = result.summary_rows(inst.policy.name)
    if kept is not None:
        rows.append(("not written", kept))
    elif out is not None:
        rows.append(("written to", str(out)))
    typer.echo(_table(rows))
    if not result.success:
        raise typer.Exit(1)


def _read_result_table(directory: Path, stem: str) -> pl.DataFrame:
    """A result table as written by solve: CSV (apostrophe escapes undone), Parquet or xlsx."""
    from matcher.data.readers import read_sheet

    found = [directory / f"{stem}.{ext}" for ext in FORMATS if (directory / f"{stem}.{ext}").is_file()]
    if not found:
        _fail(f"{directory}: no {stem}.csv, {stem}.parquet or {stem}.xlsx (is it a result directory?)")
    path = found[0]
    if path.suffix == ".parquet":
        return pl.read_parquet(path)
    if path.suffix == ".csv":
        return restore_cells(pl.read_csv(path, schema_overrides=ASSIGNMENT_SCHEMA))
    sheet = read_sheet(path, path.name)
    if sheet.frame is None:
        _fail("; ".join(str(p) for p in sheet.problems))
    return sheet.frame.cast({c: t for c, t in ASSIGNMENT_SCHEMA.items() if c in sheet.frame.columns})


def _read_summary(result: Path) -> dict[str, Any]:
    """``RESULT/summary.json`` as a dict ({} when absent); exit 2 when it is damaged."""
    path = result / "summary.json"
    if not result.is_dir():
        _fail(f"{result}: result directory not found")
    if not path.is_file():
        return {}
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        _fail(f"{path}: cannot be read ({exc.__class__.__name__})")
    except json.JSONDecodeError as exc:
        _fail(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})")
    if not isinstance(doc, dict):
        _fail(f"{path}: not a summary (a JSON object is expected, found a {type(doc).__name__})")
    problems = [
        f"{key} should be {what}"
        for key, kind, what in (
            ("policy", dict, "an object"),
            ("objective", dict, "an object"),
            ("fairness", dict, "an object"),
            ("stable", dict, "an object"),
            ("instance", dict, "an object"),
            ("method", str, "a string"),
        )
        if key in doc and not isinstance(doc[key], kind)
    ]
    if doc.get("method") == "stable" and not isinstance(doc.get("stable", {}).get("seed"), int):
        problems.append("stable.seed should be a whole number")
    if problems:
        _fail(f"{path}: damaged summary: {'; '.join(problems)}")
    return doc


@app.command()
def verify(
    instance: Annotated[Path, typer.Argument(metavar="INSTANCE", help=_INSTANCE_HELP)],
    result: Annotated[Path, typer.Argument(metavar="RESULT", help="Result directory written by solve.")],
    policy: Annotated[
        Path | None,
        typer.Option(
            "--policy", "-p", help="Policy TOML (default: the policy recorded in RESULT/summary.json)."
        ),
    ] = None,
    encoding: EncodingOpt = "auto",
    quiet: Quiet = False,
) -> None:
    """Recheck a result from the raw tables: eligibility, capacities, caps, objective."""
    _setup_logging(quiet)
    _check_encoding(encoding)
    summary = _read_summary(result)
    summary_path = result / "summary.json"
    try:
        pol = (
            policy
            if policy is not None
            else (
                policy_from_dict(summary["policy"], source=str(summary_path)) if "policy" in summary else None
            )
        )
        inst = load_instance(instance, policy=pol, encoding=encoding)
        assignments = _read_result_table(result, "assignments")
        check = verify_assignment(
            inst, assignments, objective=summary.get("objective"), fairness=summary.get("fairness")
        )
        blocking = None
        if summary.get("method") == "stable":
            from matcher.verification.stability import blocking_pairs, blocking_summary

            blocking = blocking_summary(
                blocking_pairs(inst, assignments, seed=int(summary["stable"]["seed"]))
            )
    except (InputError, MatcherError) as exc:
        _fail(str(exc))
    except (pl.exceptions.PolarsError, OSError) as exc:
        _fail(f"{result}: cannot read the assignments: {_first_line(exc)}")
    solved_from = summary.get("instance", {}).get("content_hash")
    changed = bool(solved_from) and solved_from != inst.content_hash
    if changed:
        logging.getLogger("matcher").warning(
            "the instance's files differ from those the result was solved from (content hash "
            "in summary.json); the checks below are against the files as they are now"
        )
    typer.echo(str(check))
    o = check.objective
    rows = [(k, str(v)) for k, v in o.items()]
    if blocking is not None:
        rows += [(f"blocking: {k}", str(v)) for k, v in blocking.items()]
    if solved_from:
        rows.append(("instance files", "changed since the solve" if changed else "as solved"))
    typer.echo(_table(rows))
    if not check.ok:
        raise typer.Exit(1)


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


@app.command("transfer")
def transfer_cmd(
    instance: Annotated[
        Path,
        typer.Argument(metavar="INSTANCE", help="Instance directory (or workbook) with an incumbents table."),
    ],
    out: Annotated[Path | None, typer.Option("--out", "-o", help=_OUT_HELP)] = None,
    format: FormatOpt = "csv",
    policy: PolicyOpt = None,
    encoding: EncodingOpt = "auto",
    seed: Annotated[int, typer.Option(help="Seed of the lottery that breaks priority ties.")] = 0,
    quiet: Quiet = False,
) -> None:
    """Run a transfer round (ESDP job changes); write moves, chains, vacancies, outcomes."""
    _setup_logging(quiet)
    from matcher.errors import VerificationError
    from matcher.transfer.round import transfer_round

    _choice(format, FORMATS, "--format")
    _check_encoding(encoding)
    try:
        check_options(seed=seed, cli=True)  # the lottery's seed, checked as solve checks it
    except OptionsError as exc:
        _fail(str(exc))
    _check_out(out, "transfer", instance, policy)
    start = time.perf_counter()
    try:
        inst = load_instance(instance, policy=policy, encoding=encoding)
        _note_first_compile()
        result = transfer_round(inst, seed=seed, timings={"load": time.perf_counter() - start})
        if out is not None:
            result.write(out, format=format)
    except OutputError as exc:
        _fail(f"--out {exc}")
    except (InputError, MatcherError) as exc:
        _fail(str(exc))
    except VerificationError as exc:
        _fail(str(exc), code=1)
    except OSError as exc:
        _fail(f"cannot write {out}: {exc}")
    rows = result.summary_rows(inst.policy.name)
    if out is not None:
        rows.append(("written to", str(out)))
    typer.echo(_table(rows))


@app.callback(invoke_without_command=True)
def _root(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    if version:
        typer.echo(f"matcher {__version__}")
        raise typer.Exit(0)


_SIGNALLED: list[int] = []


def _terminate(signum: int, frame: object) -> None:
    """SIGTERM ends a run the way Ctrl-C does: partial outputs are removed on the way out."""
    _SIGNALLED.append(signum)
    raise KeyboardInterrupt


def main() -> None:
    """Console-script entry point. An interrupted run (Ctrl-C, SIGTERM) leaves no partial
    output and exits 130 (Ctrl-C) or 143 (SIGTERM)."""
    signal.signal(signal.SIGTERM, _terminate)
    try:
        app()
    except SystemExit as exc:
        if exc.code != 130:
            raise
        typer.echo("interrupted: no partial output was left", err=True)
        sys.exit(143 if _SIGNALLED else 130)
