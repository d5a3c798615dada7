"""Validation at the boundary: raw tables in, a normalized :class:`Instance` out.

Every check is a vectorized polars expression; problems are collected across all tables
(file, row, column, id) and raised together as one :class:`InputError`. Tables are
sorted by their ids so that results never depend on the row order of an export.

Japanese office software often exports full-width characters (``８５``, ``Ｂ１``,
``ＥＳＤＰ``, ``ｔｒｕｅ``, ideographic spaces ``　``). Numbers, levels, tracks,
prefectures, booleans and sectors are therefore parsed after NFKC normalisation, which
turns them into their ASCII forms. Ids (``candidate_id``, ``employer_id``, ``group_id``)
and ``nationality`` are not normalised, only stripped: they are matched exactly as given,
so ``Ｃ１`` and ``C1`` are two different candidates. Messages about a bad value show the
value as given.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import polars as pl

from matcher.data.model import SCHEMA, TABLES, Instance, rows_by_runs
from matcher.data.policy import Policy
from matcher.data.reference import (
    JAPANESE_LEVELS,
    JLPT_ALIASES,
    PREFECTURE_SPELLINGS,
    TRACKS,
)
from matcher.errors import MAX_EXAMPLES_PER_KIND, InputError, Problem, ProblemList, show

log = logging.getLogger("matcher")

_ROW = "__row"
#: Booleans as exports write them, Japanese ones included (はい/いいえ, 有/無, あり/なし,
#: and the ○/× of paper forms).
_TRUE = ("true", "t", "yes", "y", "1", "はい", "有", "あり", "○")
_FALSE = ("false", "f", "no", "n", "0", "いいえ", "無", "なし", "×")

#: Accepted spellings (lower case) of each Japanese level, mapped to the CEFR name.
LEVEL_SPELLINGS: dict[str, str] = {lv.lower(): lv for lv in JAPANESE_LEVELS} | {
    k.lower(): v for k, v in JLPT_ALIASES.items()
}
#: Accepted spellings (lower case) of each prefecture, shared with
#: :func:`matcher.data.reference.prefecture_name`.
_PREFECTURE_SPELLINGS: dict[str, str] = PREFECTURE_SPELLINGS
_LEVELS_ALLOWED = "none, A1, A2, B1, B2, C1 (or JLPT N5..N1)"
_PREFECTURES_ALLOWED = "a prefecture name (romanised or kanji) or JIS code 1-47"
#: How many sectors the neutral policy's sector warning names before counting the rest.
MAX_SECTORS_NAMED = 10
#: Largest count (capacity, staff, rank) accepted; keeps sums far from int64 overflow.
MAX_INT = 2**31 - 1


@dataclass(frozen=True)
class RawTable:
    """A table as read from a file (or given as a DataFrame) before validation."""

    frame: pl.DataFrame
    file: str


class _Checker:
    """Runs the column checks of one table and records what fails."""

    def __init__(self, table: str, raw: RawTable, id_col: str, problems: ProblemList) -> None:
        self.table = table
        self.file = raw.file
        self.problems = problems
        self.df = raw.frame  # row numbers are added only where a check finds a problem
        self.id_col = id_col
        #: Column -> name of the column added to ``df`` with its NFKC-normalised text ("" for
        #: a column that needs none: numbers, booleans, ASCII text).
        self.normalized: dict[str, str] = {}

    def report(
        self,
        bad: pl.Series | pl.Expr,
        column: str | None,
        kind: str,
        value: pl.Expr | None,
        *,
        quote: bool = False,
        note: str = "",
    ) -> None:
        """Record one problem per row where ``bad`` is true (bounded examples).

        The message is ``kind``, then (where ``value`` is not null) ``value`` as
        :func:`matcher.errors.show` shows it (escaped, long values cut), in quotes if
        ``quote``, followed by ``note``.
        """
        mask = (bad if isinstance(bad, pl.Expr) else pl.lit(bad, dtype=pl.Boolean)).fill_null(False)
        total = self.df.lazy().filter(mask).select(pl.len()).collect().item()
        if total == 0:
            return
        hits = self.df.lazy().with_row_index(_ROW, offset=1).filter(mask)
        cols = [pl.col(_ROW)]
        cols.append(
            pl.col(self.id_col).cast(pl.String).alias("__id")
            if self.id_col in self.df.columns
            else pl.lit(None, pl.String).alias("__id")
        )
        cols.append((value if value is not None else pl.lit(None)).cast(pl.String).alias("__value"))
        ex = hits.head(MAX_EXAMPLES_PER_KIND).select(cols).collect()
        q = "'" if quote else ""
        examples = [
            Problem(
                self.file,
                kind if v is None else f"{kind}: {q}{show(v)}{q}{note}",
                row=int(r),
                column=column,
                id=i or None,
            )
            for r, i, v in ex.iter_rows()
        ]
        self.problems.add_bulk(kind, examples, total)

    # ---- column parsers: each returns the normalized expression -----------------
    def text(self, col: str) -> pl.Expr:
        """The column's text as given, stripped (empty -> null): what messages show."""
        return pl.col(col).cast(pl.String).str.strip_chars().replace("", None)

    def parsed(self, col: str) -> pl.Expr:
        """The column's text as parsed: :meth:`text` after NFKC normalisation, so full-width
        digits, letters and spaces read as ASCII (``１３`` as ``13``), and the minus sign
        U+2212 as a hyphen-minus.

        Normalisation runs only on a column holding some non-ASCII character (a test that
        costs about a third of stripping the column: 11 ms against 36 ms for 2M values), so
        ASCII exports pay almost nothing; its result is kept as a column of ``df`` (dropped
        by :meth:`finish`) because the checks of one column read it several times. A value
        is empty after normalisation only if it was empty before: NFKC maps no character to
        nothing, and the characters it maps to spaces are stripped as whitespace anyway.
        """
        if col in self.normalized:
            return pl.col(self.normalized[col]) if self.normalized[col] else self.text(col)
        dtype = self.df.schema[col]
        if dtype.is_numeric() or dtype == pl.Boolean or self._ascii(col):
            self.normalized[col] = ""
            return self.text(col)
        name = self.normalized[col] = f"__nfkc_{col}"
        self.df = self.df.with_columns(
            pl.col(col)
            .cast(pl.String)
            .str.normalize("NFKC")
            .str.replace_all("\u2212", "-", literal=True)  # the minus sign, which NFKC keeps
            .str.strip_chars()
            .replace("", None)
            .alias(name)
        )
        return pl.col(name)

    def _ascii(self, col: str) -> bool:
        """Whether every value of a text column is ASCII: as many bytes as characters."""
        strings = self.df.get_column(col).cast(pl.String)
        return bool(strings.str.len_bytes().sum() == strings.str.len_chars().sum())

    def ident(self, col: str) -> pl.Expr:
        return self._normalized_text(col, "empty id")

    def required_text(self, col: str) -> pl.Expr:
        return self._normalized_text(col, "empty value")

    def required_code(self, col: str) -> pl.Expr:
        """A required text column compared as a code (a sector): NFKC-normalised."""
        self._normalized_text(col, "empty value")
        return self.parsed(col)

    def _normalized_text(self, col: str, kind: str) -> pl.Expr:
        """Normalize a text column once, in place: its checks, later checks and
        :meth:`finish` read the result (at 20M preference rows each normalization of an
        id column is a pass over 20M strings)."""
        self.df = self.df.with_columns(self.text(col))
        if self.df.get_column(col).null_count():
            self.report(pl.col(col).is_null(), col, kind, None)
        return pl.col(col)

    def enum(self, col: str, mapping: dict[str, str], what: str, allowed: str, *, nullable: bool) -> pl.Expr:
        raw = self.parsed(col)
        value = raw.str.to_lowercase().replace_strict(mapping, default=None, return_dtype=pl.String)
        bad = value.is_null() if not nullable else (value.is_null() & raw.is_not_null())
        shown = self.text(col).fill_null("")
        self.report(bad, col, f"unknown {what}", shown, quote=True, note=f" (allowed: {allowed})")
        return value

    def integer(self, col: str, *, minimum: int | None = 0) -> pl.Expr:
        dtype = self.df.schema[col]
        if dtype.is_integer():
            self.report(pl.col(col).is_null(), col, "missing value", None)
            too_large = pl.col(col).cast(pl.Float64).abs() > MAX_INT  # also UInt64 beyond Int64
            value = pl.when(~too_large).then(pl.col(col)).cast(pl.Int64, strict=False)
        else:
            as_float = (
                pl.col(col).cast(pl.Float64)
                if dtype.is_float()
                else self.parsed(col).cast(pl.Float64, strict=False)
            )
            present = pl.col(col).is_not_null() & (
                self.parsed(col).is_not_null() if dtype == pl.String else pl.lit(True)
            )
            self.report(present & as_float.is_null() | as_float.is_nan(), col, "not a number", self.text(col))
            self.report(~present, col, "missing value", None)
            self.report(as_float.is_infinite(), col, "not a finite number", self.text(col))
            self.report(
                as_float.is_finite() & (as_float != as_float.floor()),
                col,
                "not a whole number",
                self.text(col),
            )
            too_large = as_float.is_finite() & (as_float.abs() > MAX_INT)
            value = (
                pl.when(as_float.is_finite() & (as_float == as_float.floor()) & ~too_large)
                .then(as_float)
                .cast(pl.Int64, strict=False)
            )
        self.report(too_large, col, f"too large (at most {MAX_INT})", self.text(col))
        if minimum is not None:
            self.report(value < minimum, col, f"must be >= {minimum}", self.text(col))
        return value

    def number(self, col: str, *, low: float, high: float) -> pl.Expr:
        dtype = self.df.schema[col]
        value = (
            pl.col(col).cast(pl.Float64)
            if dtype.is_numeric()
            else self.parsed(col).cast(pl.Float64, strict=False)
        )
        raw_present = pl.col(col).is_not_null() if dtype.is_numeric() else self.parsed(col).is_not_null()
        self.report(~raw_present, col, "missing value", None)
        self.report(raw_present & (value.is_null() | value.is_nan()), col, "not a number", self.text(col))
        self.report(
            value.is_not_nan() & ((value < low) | (value > high)),
            col,
            f"outside [{low:g}, {high:g}]",
            self.text(col),
        )
        return value

    def boolean(self, col: str) -> pl.Expr:
        if col not in self.df.columns:
            return pl.lit(False)
        dtype = self.df.schema[col]
        if dtype == pl.Boolean:
            return pl.col(col).fill_null(False)
        raw = self.parsed(col).str.to_lowercase()
        mapping = dict.fromkeys(_TRUE, "1") | dict.fromkeys(_FALSE, "0")
        value = raw.replace_strict(mapping, default=None, return_dtype=pl.String)
        self.report(
            raw.is_not_null() & value.is_null(),
            col,
            "not a boolean",
            self.text(col),
            quote=True,
            note=" (use true/false, yes/no, 1/0 or はい/いいえ)",
        )
        return (value == "1").fill_null(False)

    def finish(self, exprs: dict[str, pl.Expr]) -> pl.DataFrame:
        """Apply the normalized columns, keep extra columns, drop the row index."""
        return (
            self.df.with_columns(**exprs)
            .select(
                [c for c in SCHEMA[self.table] if c in exprs]
                + [
                    c
                    for c in self.df.columns
                    if c not in exprs
                    and c != _ROW
                    and c not in SCHEMA[self.table]
                    and c not in self.normalized.values()
                ]
            )
            .cast({c: t for c, t in SCHEMA[self.table].items() if c in exprs})
        )

    def duplicates(self, keys: list[str], normalized: pl.DataFrame, what: str) -> None:
        """Report every row whose (complete) key another row has too.

        Rows are first compared by a 64-bit hash of the key: when no two complete keys
        share a hash (the usual case) there is no duplicate. Otherwise only the rows whose
        hash repeats are compared by the key itself (equal keys have equal hashes, so this
        finds exactly the duplicates). Measured on 20M preference rows: comparing the
        string keys directly took 2.9 s and held 3 GB more; counting distinct hashes 0.4 s.
        """
        complete = pl.all_horizontal([pl.col(k).is_not_null() for k in keys])
        hashes = normalized.select(pl.when(complete).then(pl.struct(keys).hash(seed=0))).to_series()
        present = hashes.drop_nulls()
        if present.n_unique() == present.len():
            return
        hashed = hashes.is_duplicated() & hashes.is_not_null()
        same = normalized.filter(hashed).select(pl.struct(keys).is_duplicated()).to_series()
        dup = hashed.scatter(hashed.arg_true(), same)
        desc = pl.concat_str([pl.col(k).fill_null("") for k in keys], separator=", ")
        self.report(pl.lit(dup), keys[-1] if len(keys) == 1 else ",".join(keys), f"duplicate {what}", desc)


def _readable(dtype: pl.DataType) -> bool:
    """Whether a contract column of this type can be read as text or a number: not nested,
    not raw bytes (which may be no text at all), not an object or a duration."""
    return not (dtype.is_nested() or isinstance(dtype, pl.Binary | pl.Object | pl.Duration))


def _missing_columns(name: str, raw: RawTable, problems: ProblemList) -> bool:
    """Report missing required columns and contract columns of a type that is neither text
    nor a number (nested values, bytes, objects, durations)."""
    _, required, optional = TABLES[name]
    missing = [c for c in required if c not in raw.frame.columns]
    for c in missing:
        problems.add(
            Problem(
                raw.file,
                f"missing required column (found: {', '.join(raw.frame.columns) or 'none'})",
                column=c,
            )
        )
    nested = [
        c for c in (*required, *optional) if c in raw.frame.columns and not _readable(raw.frame.schema[c])
    ]
    for c in nested:
        problems.add(
            Problem(raw.file, f"has type {raw.frame.schema[c]}; expected text or a number", column=c)
        )
    return bool(missing or nested)


def validate_tables(
    raw: dict[str, RawTable | None],
    policy: Policy,
    *,
    source: str,
    content_hash: str,
    unreadable: set[str] | None = None,
) -> Instance:
    """Check every table against the contract and the policy; return the normalized instance.

    Raises
    ------
    InputError
        Listing every problem found (missing tables or columns, bad values, duplicate
        ids, references to unknown ids, sectors or programs).
    """
    problems = ProblemList()
    for name, (required, _, _) in TABLES.items():
        if raw.get(name) is None and required and name not in (unreadable or set()):
            problems.add(
                Problem(
                    f"{name}.csv", f"required table missing (expected <dir>/{name}.csv or {name}.parquet)"
                )
            )
    usable = {
        name: table
        for name, table in raw.items()
        if table is not None and name in TABLES and not _missing_columns(name, table, problems)
    }
    frames: dict[str, pl.DataFrame] = {}
    checkers: dict[str, _Checker] = {}
    level_map = LEVEL_SPELLINGS
    track_map = {t: t for t in TRACKS}

    if (t := usable.get("candidates")) is not None:
        c = checkers["candidates"] = _Checker("candidates", t, "candidate_id", problems)
        exprs = {
            "candidate_id": c.ident("candidate_id"),
            "nationality": c.required_text("nationality"),
            "japanese_level": c.enum(
                "japanese_level", level_map, "Japanese level", _LEVELS_ALLOWED, nullable=False
            ),
            "track": c.enum("track", track_map, "track", ", ".join(TRACKS), nullable=False),
        }
        if "prefecture" in c.df.columns:
            exprs["prefecture"] = c.enum(
                "prefecture",
                _PREFECTURE_SPELLINGS,
                "prefecture",
                _PREFECTURES_ALLOWED,
                nullable=True,
            )
        else:
            exprs["prefecture"] = pl.lit(None, pl.String)
        frames["candidates"] = c.finish(exprs)
        c.duplicates(["candidate_id"], frames["candidates"], "candidate_id")

    if (t := usable.get("employers")) is not None:
        c = checkers["employers"] = _Checker("employers", t, "employer_id", problems)
        exprs = {
            "employer_id": c.ident("employer_id"),
            "prefecture": c.enum(
                "prefecture",
                _PREFECTURE_SPELLINGS,
                "prefecture",
                _PREFECTURES_ALLOWED,
                nullable=False,
            ),
            "full_time_staff": c.integer("full_time_staff"),
            "excellent": c.boolean("excellent"),
            "min_japanese_level": (
                c.enum("min_japanese_level", level_map, "Japanese level", _LEVELS_ALLOWED, nullable=True)
                if "min_japanese_level" in c.df.columns
                else pl.lit(None, pl.String)
            ),
        }
        frames["employers"] = c.finish(exprs)
        c.duplicates(["employer_id"], frames["employers"], "employer_id")

    if (t := usable.get("aptitudes")) is not None:
        c = checkers["aptitudes"] = _Checker("aptitudes", t, "candidate_id", problems)
        frames["aptitudes"] = c.finish(
            {
                "candidate_id": c.ident("candidate_id"),
                "sector": c.required_code("sector"),
                "score": c.number("score", low=0.0, high=100.0),
                "skills_test": c.boolean("skills_test"),
            }
        )
        c.duplicates(
            ["candidate_id", "sector"], frames["aptitudes"], "aptitude row for this candidate and sector"
        )

    if (t := usable.get("slots")) is not None:
        c = checkers["slots"] = _Checker("slots", t, "employer_id", problems)
        frames["slots"] = c.finish(
            {
                "employer_id": c.ident("employer_id"),
                "sector": c.required_code("sector"),
                "track": c.enum("track", track_map, "track", ", ".join(TRACKS), nullable=False),
                "capacity": c.integer("capacity"),
            }
        )
        c.duplicates(["employer_id", "sector", "track"], frames["slots"], "slot (employer, sector, track)")

    # Rank lists: one side ranks the other, 1 = best, no pair or rank twice per owner.
    for name, owner, other, pair_what, rank_what in (
        ("preferences", "candidate_id", "employer_id", "preference for this candidate and employer",
         "rank for this candidate"),
        ("employer_rankings", "employer_id", "candidate_id", "ranking of this candidate by this employer",
         "rank for this employer"),
    ):  # fmt: skip
        if (t := usable.get(name)) is None:
            frames[name] = pl.DataFrame(schema=SCHEMA[name])
            continue
        c = checkers[name] = _Checker(name, t, owner, problems)
        frames[name] = c.finish(
            {owner: c.ident(owner), other: c.ident(other), "rank": c.integer("rank", minimum=1)}
        )
        c.duplicates([owner, other], frames[name], pair_what)
        c.duplicates([owner, "rank"], frames[name], rank_what)

    if (t := usable.get("incumbents")) is not None:
        c = checkers["incumbents"] = _Checker("incumbents", t, "candidate_id", problems)
        frames["incumbents"] = c.finish(
            {
                "candidate_id": c.ident("candidate_id"),
                "employer_id": c.ident("employer_id"),
                "sector": c.required_code("sector"),
                "track": c.enum("track", track_map, "track", ", ".join(TRACKS), nullable=False),
                "months_served": c.integer("months_served"),
                "transferred_in": c.boolean("transferred_in"),
            }
        )
        c.duplicates(["candidate_id"], frames["incumbents"], "incumbent (candidate listed twice)")
    else:
        frames["incumbents"] = pl.DataFrame(schema=SCHEMA["incumbents"])

    if (t := usable.get("joint")) is not None:
        c = checkers["joint"] = _Checker("joint", t, "candidate_id", problems)
        frames["joint"] = c.finish({"group_id": c.ident("group_id"), "candidate_id": c.ident("candidate_id")})
        c.duplicates(["candidate_id"], frames["joint"], "joint-group member (candidate in two groups)")
        alone = pl.col("group_id").is_not_null() & (pl.len().over("group_id") == 1)
        c.report(
            pl.lit(frames["joint"].select(alone).to_series()),
            "group_id",
            "joint group with one member",
            c.text("group_id"),
            quote=True,
        )
    else:
        frames["joint"] = pl.DataFrame(schema=SCHEMA["joint"])

    _check_references(frames, checkers, policy)
    problems.raise_if_any("instance")
    if any(name not in frames for name, (required, _, _) in TABLES.items() if required):
        # A required table could not be read: the caller (``unreadable``) reports why.
        raise InputError(problems, what="instance")
    if not policy.knows_sectors():
        _warn_sector_spellings(frames["aptitudes"], frames["slots"], policy)
    return Instance(
        candidates=_sorted(frames["candidates"], "candidate_id"),
        aptitudes=_sorted(frames["aptitudes"], "candidate_id", "sector"),
        employers=_sorted(frames["employers"], "employer_id"),
        slots=_sorted(frames["slots"], "employer_id", "sector", "track"),
        preferences=_sorted(frames["preferences"], "candidate_id", "rank"),
        employer_rankings=_sorted(frames["employer_rankings"], "employer_id", "rank"),
        incumbents=_sorted(frames["incumbents"], "candidate_id"),
        joint=_sorted(frames["joint"], "group_id", "candidate_id"),
        policy=policy,
        source=source,
        content_hash=content_hash,
    )


def _sorted(frame: pl.DataFrame, *keys: str) -> pl.DataFrame:
    """``frame`` sorted by ``keys`` (no nulls there after validation); unchanged when it
    already is, which exports usually are: checking costs one comparison per row, where
    sorting 20M preference rows by a string id held 1.4 GB more."""
    if frame.height < 2:
        return frame
    # Row i+1 is not before row i: compared on the last key, then each earlier key decides
    # unless it ties.
    later = pl.col(keys[-1]).shift(-1) >= pl.col(keys[-1])
    for k in reversed(keys[:-1]):
        nxt = pl.col(k).shift(-1)
        later = (nxt > pl.col(k)) | ((nxt == pl.col(k)) & later)
    ordered = frame.select(later.head(frame.height - 1).all()).item()
    return frame if ordered else frame.sort(*keys)


def _sector_key(sector: str) -> str:
    """A sector compared without case, spaces, underscores and hyphens."""
    return re.sub(r"[\s_\-]+", "", sector.casefold())


def _named(values: list[str]) -> str:
    """Up to :data:`MAX_SECTORS_NAMED` of ``values``, quoted, then how many more."""
    named = ", ".join(f"'{show(v)}'" for v in values[:MAX_SECTORS_NAMED])
    more = len(values) - MAX_SECTORS_NAMED
    return f"{named} and {more} more" if more > 0 else named


def _warn_sector_spellings(aptitudes: pl.DataFrame, slots: pl.DataFrame, policy: Policy) -> None:
    """Log one warning naming the sectors that look like typos under a policy without a
    sector list, where sectors are free text matched exactly: spellings of one sector that
    differ only by case, spaces, underscores or hyphens (``Nursing Care``, ``nursing-care``,
    ``nursing_care``) where a slot uses one of them, and the other aptitude sectors no slot
    offers (nobody can be placed there). Only sector names are logged, nothing about a
    candidate."""
    offered = set(slots.get_column("sector").unique().to_list())
    named = set(aptitudes.get_column("sector").unique().to_list())
    by_key: dict[str, set[str]] = {}
    for sector in offered | named:
        by_key.setdefault(_sector_key(sector), set()).add(sector)
    alike = sorted(sorted(group) for group in by_key.values() if len(group) > 1 and group & offered)
    in_alike = {s for group in alike for s in group}
    unoffered = sorted(named - offered - in_alike)
    if not alike and not unoffered:
        return
    parts = []
    if alike:
        groups = [" / ".join(f"'{show(s)}'" for s in g) for g in alike[:MAX_SECTORS_NAMED]]
        more = len(alike) - MAX_SECTORS_NAMED
        parts.append(
            f"{len(alike)} sector{'s' if len(alike) != 1 else ''} spelled in ways that differ only by "
            f"case, spaces, '_' or '-': {'; '.join(groups)}{f' and {more} more' if more > 0 else ''}"
        )
    if unoffered:
        parts.append(
            f"{len(unoffered)} {'other ' if alike else ''}sector{'s' if len(unoffered) != 1 else ''} "
            f"in aptitudes that no slot offers: {_named(unoffered)}"
        )
    log.warning(
        "policy %r lists no sectors, so sectors are free text and match only when spelled exactly alike; %s",
        policy.name,
        "; ".join(parts),
    )


def _all_known(values: pl.Series, known: pl.Series) -> bool:
    """Whether every value is among ``known``, proven cheaply when both are sorted (exports
    usually are) by :func:`matcher.data.model.rows_by_runs` (20M preference rows against 1M
    candidates: 0.35 s against 0.61 s for a hash lookup per row). False when unproven:
    the caller then checks row by row and reports the rows."""
    found = rows_by_runs(values, known)
    return found is not None and bool((found[0] >= 0).all())


def _check_references(frames: dict[str, pl.DataFrame], checkers: dict[str, _Checker], policy: Policy) -> None:
    """Ids, sectors and programs referenced by one table must exist."""

    def unknown(table: str, col: str, known: pl.Series | None, what: str) -> None:
        if table not in checkers or known is None:
            return
        c = checkers[table]
        values = frames[table].get_column(col)
        if _all_known(values, known):
            return
        bad = values.is_not_null() & ~values.is_in(known.implode())
        c.report(bad, col, f"unknown {what}", c.text(col), quote=True)

    cand_ids = frames["candidates"].get_column("candidate_id") if "candidates" in frames else None
    emp_ids = frames["employers"].get_column("employer_id") if "employers" in frames else None
    unknown("aptitudes", "candidate_id", cand_ids, "candidate (not in candidates)")
    unknown("preferences", "candidate_id", cand_ids, "candidate (not in candidates)")
    unknown("slots", "employer_id", emp_ids, "employer (not in employers)")
    unknown("preferences", "employer_id", emp_ids, "employer (not in employers)")
    unknown("employer_rankings", "employer_id", emp_ids, "employer (not in employers)")
    unknown("employer_rankings", "candidate_id", cand_ids, "candidate (not in candidates)")
    unknown("incumbents", "candidate_id", cand_ids, "candidate (not in candidates)")
    unknown("incumbents", "employer_id", emp_ids, "employer (not in employers)")
    unknown("joint", "candidate_id", cand_ids, "candidate (not in candidates)")
    if "incumbents" in checkers and "slots" in frames:
        # An incumbent works in a program its employer declared in slots.
        inc = frames["incumbents"]
        declared = frames["slots"].select("employer_id", "sector", "track").unique()
        known_emp = (
            inc.get_column("employer_id").is_in(emp_ids.implode())
            if emp_ids is not None
            else pl.Series(values=[True] * inc.height, dtype=pl.Boolean)
        )
        found = (
            inc.with_row_index("__i")
            .join(
                declared.with_columns(pl.lit(True).alias("__ok")),
                on=["employer_id", "sector", "track"],
                how="left",
            )
            .sort("__i")
            .get_column("__ok")
            .is_not_null()
        )
        keys = inc.select(
            pl.all_horizontal(pl.col(k).is_not_null() for k in ("employer_id", "sector", "track"))
        )
        c = checkers["incumbents"]
        c.report(
            pl.lit(~found & known_emp & keys.to_series()),
            "sector",
            "employer did not declare this program in slots",
            pl.concat_str(
                [c.text("employer_id"), pl.lit(" / "), c.text("sector"), pl.lit(" / "), c.text("track")]
            ),
        )
    if policy.knows_sectors():
        sectors = pl.Series(sorted(policy.sectors), dtype=pl.String)
        unknown("aptitudes", "sector", sectors, f"sector for policy {policy.name!r}")
        unknown("slots", "sector", sectors, f"sector for policy {policy.name!r}")
    if "slots" in frames and "slots" in checkers:
        slots = frames["slots"]
        programs = slots.select("sector", "track").unique()
        closed = [
            (s, t)
            for s, t in programs.iter_rows()
            if s is not None
            and t is not None
            and (not policy.knows_sectors() or s in policy.sectors)
            and not policy.allows(s, t)
        ]
        if closed:
            bad = pl.lit(False)
            for s, t in closed:
                bad = bad | ((pl.col("sector") == s) & (pl.col("track") == t))
            c = checkers["slots"]
            c.report(
                pl.lit(slots.select(bad).to_series()),
                "track",
                f"program not offered under policy {policy.name!r}",
                pl.concat_str([c.text("sector"), pl.lit(" / "), c.text("track")]),
            )
