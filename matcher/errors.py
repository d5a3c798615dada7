"""Exceptions raised for bad input.

Bad input raises; an infeasible or timed-out solve is a *status* on the result instead
(see :mod:`matcher.output.result`). Input problems are collected, never raised one at a time,
so a user fixes a file in one pass.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

#: Said under a list of problems that count rows of a file: what a row number means there.
ROW_NOTE = (
    "(row N is the N-th data row below the header: line N + 1 of a CSV file, "
    "unless a quoted value spans lines above it; row N + 1 of a sheet)"
)
#: How many examples of one kind of problem (same file, column and message) are kept.
MAX_EXAMPLES_PER_KIND = 20
#: How many characters of a value from the input a message shows before cutting it.
MAX_SHOWN_CHARS = 60


def escape_unprintable(text: str) -> str:
    """``text`` with each non-printable character (control characters such as NUL, tab or
    newline, and invisible ones such as a zero-width or full-width space) written as its
    Python escape (``\\x00``, ``\\t``, ``\\u3000``); printable characters, kanji
    included, stay as they are. Backslashes are not doubled, so escaping twice changes
    nothing."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _escape(c) for c in text)


def show(value: str, limit: int = MAX_SHOWN_CHARS) -> str:
    """A value from the input as a message shows it: non-printable characters escaped
    (:func:`escape_unprintable`) and, when the escaped text is longer than ``limit``
    characters, cut there (never inside an escape) and followed by ``…`` and the value's
    full length in characters."""
    if len(value) <= limit and value.isprintable():
        return value
    shown: list[str] = []
    width = 0
    for c in value:
        piece = c if c.isprintable() else _escape(c)
        width += len(piece)
        if width > limit:
            return f"{''.join(shown)}… ({len(value):,} characters)"
        shown.append(piece)
    return "".join(shown)


def _escape(char: str) -> str:
    return char.encode("unicode_escape").decode("ascii")


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with the input, located as precisely as the input allows.

    ``row`` is the 1-based data row (the header is not a row), so in a CSV file the
    problem is on line ``row + 1``. ``id`` is the id as given; the text of a problem shows
    it through :func:`show` (escaped, long ids cut) and escapes any non-printable
    character of ``message`` (values in messages are passed through :func:`show` where
    the message is built).
    """

    file: str
    message: str
    row: int | None = None
    column: str | None = None
    id: str | None = None

    def __str__(self) -> str:
        where = [self.file]
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {show(self.column)}")
        if self.id is not None:
            where.append(f"id {show(self.id)}")
        return f"{', '.join(escape_unprintable(w) for w in where)}: {escape_unprintable(self.message)}"


@dataclass
class ProblemList:
    """Collects problems; keeps a bounded number of examples of each kind, counts all."""

    problems: list[Problem] = field(default_factory=list)
    counts: Counter[tuple[str, str | None, str]] = field(default_factory=Counter)

    def add(self, problem: Problem, *, kind: str | None = None) -> None:
        key = (problem.file, problem.column, kind or problem.message)
        self.counts[key] += 1
        if self.counts[key] <= MAX_EXAMPLES_PER_KIND:
            self.problems.append(problem)

    def add_bulk(self, kind: str, examples: list[Problem], total: int) -> None:
        """Record ``total`` problems of one kind from a vectorized check, with examples."""
        if total <= 0:
            return
        first = examples[0] if examples else None
        key = (first.file if first else "", first.column if first else None, kind)
        room = max(0, MAX_EXAMPLES_PER_KIND - self.counts[key])
        self.problems.extend(examples[:room])
        self.counts[key] += total

    def merge(self, other: ProblemList) -> None:
        """Add another list's examples and counts (kept examples stay bounded per kind)."""
        for key, count in other.counts.items():
            self.counts[key] += count
        self.problems.extend(other.problems)

    def __len__(self) -> int:
        return sum(self.counts.values())

    def __bool__(self) -> bool:
        return len(self) > 0

    def raise_if_any(self, what: str = "input") -> None:
        if self:
            raise InputError(self, what=what)


class MatcherError(Exception):
    """Base class of the errors matcher raises on purpose."""


class InputError(MatcherError, ValueError):
    """The instance or policy is malformed; ``problems`` lists everything found."""

    def __init__(self, problems: ProblemList | list[Problem], *, what: str = "input") -> None:
        if isinstance(problems, list):
            plist = ProblemList()
            for p in problems:
                plist.add(p)
            problems = plist
        self.problem_list = problems
        self.problems: list[Problem] = sorted(problems.problems, key=_sort_key)
        self.what = what
        super().__init__(self._render())

    @property
    def count(self) -> int:
        return len(self.problem_list)

    def _render(self) -> str:
        n = self.count
        lines = [f"{n} problem{'s' if n != 1 else ''} in the {self.what}:"]
        lines += [f"  - {p}" for p in self.problems]
        hidden = [
            (key, c - MAX_EXAMPLES_PER_KIND)
            for key, c in sorted(self.problem_list.counts.items(), key=lambda kv: str(kv[0]))
            if c > MAX_EXAMPLES_PER_KIND
        ]
        for (file, column, kind), extra in hidden:
            col = f", column {show(column)}" if column else ""
            lines.append(escape_unprintable(f"  ... and {extra} more in {file}{col} like: {kind}"))
        if any(p.row is not None and (".csv" in p.file or "(sheet " in p.file) for p in self.problems):
            lines.append(ROW_NOTE)
        return "\n".join(lines)


class UnsupportedPolicyError(MatcherError):
    """The policy asks for something the chosen method cannot keep."""


class VerificationError(RuntimeError):
    """A solver returned an assignment the independent verifier rejects (a bug)."""


class OutputError(MatcherError):
    """An output directory may not be written: it would replace what matcher did not write,
    or a successful earlier result with an unsuccessful one. Nothing was touched."""


class TooManyPairsError(MatcherError):
    """The eligible pairs would not fit in memory; raised before they are built."""

    def __init__(self, pairs: int, limit: int, unlisted: int) -> None:
        self.pairs = pairs
        self.limit = limit
        super().__init__(
            f"the instance has {pairs:,} eligible candidate-slot pairs, more than the limit "
            f"of {limit:,} that fits in memory here ({unlisted:,} candidates without a "
            "preference list are eligible at every employer of their sector and track). "
            "Ways out: give those candidates preference lists, set "
            "[limits] max_pairs_per_candidate in the policy file, or raise the limit with "
            "--max-pairs (library: max_pairs=) if this machine has the memory."
        )


def _sort_key(p: Problem) -> tuple[str, int, str, str]:
    return (p.file, p.row if p.row is not None else -1, p.column or "", p.message)
