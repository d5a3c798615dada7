"""Policy as data: caps, eligibility rules, per-employer intake rules, objective.

A policy is a TOML file validated by pydantic; an unknown key is an error. Without a
policy file the neutral policy applies: only slot capacities, track equality, the
employer's minimum Japanese level and the aptitude rows decide. Every key is documented
in docs/policy.md; ``instances/policies/japan-2026.toml`` encodes docs/domain.md.

Caps form a laminar (nested) family so that the welfare problem stays a min-cost flow:
slot (employer, sector, track) inside the employer's intake for (employer, sector, track
group) inside the national cap of (sector, track group) inside the total cap of the track
group. Employer-wide caps across sectors (intake rules with ``per = "employer"``) cross
that nesting where an employer has several sectors: they fold into the intake cap of an
employer with one sector in scope, and are crossing caps otherwise
(:func:`matcher.eligibility.edges.cap_structure`).
"""

from __future__ import annotations

import itertools
import math
import tomllib
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import numpy.typing as npt
import polars as pl
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator

from matcher.data.reference import JAPANESE_LEVELS, PREFECTURES, TRACKS, japanese_level_rank
from matcher.errors import InputError, Problem

NonNegInt = Annotated[int, Field(ge=0)]


def _canonical_level(v: str) -> str:
    """A Japanese level as its CEFR name: "N4" and "a2" become "A2"."""
    rank = japanese_level_rank(v)
    if rank is None:
        raise ValueError(f"unknown Japanese level {v!r} (allowed: none, A1..C1, N5..N1)")
    return JAPANESE_LEVELS[rank]


JapaneseLevel = Annotated[str, AfterValidator(_canonical_level)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Rule(_Strict):
    """Eligibility rule for a program (sector, track); unset fields inherit."""

    min_japanese_level: JapaneseLevel | None = None
    skills_test_required: bool | None = None
    min_score: Annotated[float, Field(ge=0, le=100)] | None = None

    def over(self, base: Rule) -> Rule:
        """This rule with its unset fields taken from ``base``."""
        return Rule(
            min_japanese_level=self.min_japanese_level or base.min_japanese_level,
            skills_test_required=(
                self.skills_test_required
                if self.skills_test_required is not None
                else base.skills_test_required
            ),
            min_score=self.min_score if self.min_score is not None else base.min_score,
        )


class SectorPolicy(_Strict):
    """What the policy says about one sector."""

    label: str | None = None
    tracks: list[str] = Field(default_factory=lambda: list(TRACKS))
    caps: dict[str, NonNegInt] = Field(default_factory=dict)
    rules: dict[str, Rule] = Field(default_factory=dict)


class IntakeRule(_Strict):
    """Per-employer intake cap for one track group, in some or all sectors.

    The cap of employer *e* in sector *s* for the group is the minimum over every rule
    that applies: ``tiers`` maps full-time staff to an intake (``[max_staff, intake]``
    rows, ascending; above the last row ``staff // staff_per_worker_above``), multiplied
    by ``excellent_multiplier`` for excellent employers and by ``bonus_multiplier``
    outside ``bonus_outside_region``, rounded down; ``max_staff_ratio`` caps it at
    ``floor(ratio * full_time_staff)``.

    ``per = "sector"`` (the default) applies the cap to each sector separately;
    ``per = "employer"`` to the employer's total over the rule's sectors (every sector
    when ``sectors`` is empty) for the group, as Technical Intern Training counts it
    ("never more than full-time staff in total").
    """

    name: str = ""
    group: str
    per: Literal["sector", "employer"] = "sector"
    sectors: list[str] = Field(default_factory=list)
    tiers: list[tuple[NonNegInt, NonNegInt]] = Field(default_factory=list)
    staff_per_worker_above: Annotated[int, Field(gt=0)] | None = None
    excellent_multiplier: Annotated[float, Field(ge=0)] = 1.0
    bonus_multiplier: Annotated[float, Field(ge=0)] = 1.0
    bonus_outside_region: str | None = None
    max_staff_ratio: Annotated[float, Field(ge=0)] | None = None


class RegionalCap(_Strict):
    """At most ``cap`` placements at employers in a set of prefectures.

    The set is a named ``region`` or an explicit ``prefectures`` list (one of the two);
    ``sectors`` and ``groups`` (track groups) narrow what counts (default: all).
    Regional caps cross the sector caps: stable matching keeps them; the min-cost-flow
    optimizer cannot, and refuses a policy that has them.
    """

    name: str = ""
    region: str | None = None
    prefectures: list[str] = Field(default_factory=list)
    cap: NonNegInt
    sectors: list[str] = Field(default_factory=list)
    groups: list[str] = Field(default_factory=list)


class Floor(_Strict):
    """At least ``min`` placements (or ``min_share`` of declared capacity) in a set of prefectures.

    The set is a named ``region``, an explicit ``prefectures`` list, or every prefecture
    outside a region (``outside_region``): exactly one of the three. ``per = "region"``
    counts the whole set; ``per = "employer"`` applies the floor to each employer there
    (``min_share`` of that employer's declared capacity). ``sectors`` and ``groups`` narrow
    what counts (default: all). ``penalty = 0``: a hard floor (a policy that cannot meet
    it is infeasible); ``penalty = k > 0``: soft, each missing placement costs as much as
    ``k`` placements in the first objective level.
    """

    name: str = ""
    region: str | None = None
    prefectures: list[str] = Field(default_factory=list)
    outside_region: str | None = None
    min: NonNegInt | None = None
    min_share: Annotated[float, Field(ge=0, le=1)] | None = None
    per: Literal["region", "employer"] = "region"
    sectors: list[str] = Field(default_factory=list)
    groups: list[str] = Field(default_factory=list)
    penalty: NonNegInt = 0

    @property
    def hard(self) -> bool:
        return self.penalty == 0


class Diversity(_Strict):
    """Nationality rules per employer (all its sectors together); off unless set.

    ``max_share``: at most this share of an employer's placements from one nationality,
    i.e. ``n(employer, nationality) <= max(floor(max_share * n(employer)), exempt_up_to)``
    (``exempt_up_to`` lets a small employer take a few of one nationality at all).
    ``peer_support``: an employer that receives a worker of a nationality receives at
    least two of it (nobody is the only one of their nationality there).
    Both cross the sector caps: ``--method optimal`` keeps them through CP-SAT.
    """

    max_share: Annotated[float, Field(gt=0, le=1)] | None = None
    exempt_up_to: NonNegInt = 1
    peer_support: bool = False

    @property
    def active(self) -> bool:
        return self.max_share is not None or self.peer_support

    def share_fraction(self) -> Fraction | None:
        """``max_share`` as an exact fraction (denominator at most 1000)."""
        if self.max_share is None:
            return None
        return Fraction(self.max_share).limit_denominator(1000)


class Limits(_Strict):
    """Limits that keep national-scale instances in memory."""

    max_pairs_per_candidate: Annotated[int, Field(gt=0)] | None = None


class Objective(_Strict):
    """The objective. ``welfare``: most placed, then most total score, then least rank sum.

    Fairness objectives come first and welfare breaks their ties: ``max_min_fill``
    maximizes the lowest fill rate (placed / declared capacity) over the prefectures (or
    sectors, ``fill_over``) that have capacity and an eligible pair; ``max_min_nationality_score``
    maximizes the lowest mean outcome over nationalities (total score of a nationality's
    placed candidates divided by its candidates with an eligible pair).

    ``score_decimals``: the fewest decimals scores are optimized at; when a score has
    more, the solve uses as many as the scores need (up to 6), so every score counts
    exactly as given (:func:`matcher.eligibility.scale.score_scale`).
    """

    kind: Literal["welfare", "max_min_fill", "max_min_nationality_score"] = "welfare"
    fill_over: Literal["prefecture", "sector"] = "prefecture"
    score_decimals: Annotated[int, Field(ge=0, le=4)] = 2


def parse_share(text: str) -> Fraction:
    """A share written as a fraction (``"1/3"``) or a decimal (``"0.25"``), in [0, 1].

    Examples
    --------
    >>> parse_share("1/3"), parse_share("0.5")
    (Fraction(1, 3), Fraction(1, 2))
    """
    value = Fraction(text.strip())
    if not 0 <= value <= 1:
        raise ValueError(f"share {text!r} is outside [0, 1]")
    return value


class TransferPolicy(_Strict):
    """Rules of a transfer round (ESDP job changes); see :mod:`matcher.transfer.round`.

    Without a ``[transfer]`` section a round has no rules beyond capacities: period 0,
    no tests, no ratio limits, every track. Shares are exact fractions written as
    strings (``"1/3"``) so that ``floor(workers * share)`` has no rounding error.
    """

    tracks: list[str] = Field(default_factory=lambda: list(TRACKS))
    period_months: NonNegInt = 0
    sector_period_months: dict[str, NonNegInt] = Field(default_factory=dict)
    skills_test_required: bool = False
    min_japanese_level: JapaneseLevel | None = None
    max_transferee_share: str | None = None
    max_other_prefecture_share: str | None = None
    other_prefecture_region: str | None = None
    #: How an employer's two limits are shared among its programs in the round:
    #: ``"seats"`` in proportion to the transferees each program could take (open
    #: vacancies + incumbents free to move), exact whenever those fit within the limit;
    #: ``"incumbents"`` in proportion to their incumbents.
    limit_shares: Literal["seats", "incumbents"] = "seats"

    @field_validator("max_transferee_share", "max_other_prefecture_share")
    @classmethod
    def _share(cls, v: str | None) -> str | None:
        if v is None:
            return None
        try:
            value = parse_share(v)
        except (ValueError, ZeroDivisionError) as exc:
            raise ValueError(f'not a share in [0, 1] such as "1/3": {exc}') from None
        return f"{value.numerator}/{value.denominator}"

    def period(self, sector: str) -> int:
        """Restriction period of a sector in months (its override, else the default)."""
        return self.sector_period_months.get(sector, self.period_months)

    def share(self, which: Literal["transferee", "other_prefecture"]) -> Fraction | None:
        """The ratio limit as an exact fraction, None when there is no limit."""
        text = self.max_transferee_share if which == "transferee" else self.max_other_prefecture_share
        return None if text is None else parse_share(text)


class Policy(_Strict):
    """A validated policy. Build with :func:`load_policy` or :func:`neutral_policy`."""

    name: str = "neutral"
    description: str = ""
    track_groups: dict[str, list[str]] = Field(default_factory=dict)
    regions: dict[str, list[str]] = Field(default_factory=dict)
    rules: dict[str, Rule] = Field(default_factory=dict)
    total_caps: dict[str, NonNegInt] = Field(default_factory=dict)
    sectors: dict[str, SectorPolicy] = Field(default_factory=dict)
    intake: list[IntakeRule] = Field(default_factory=list)
    regional_caps: list[RegionalCap] = Field(default_factory=list)
    floors: list[Floor] = Field(default_factory=list)
    diversity: Diversity = Field(default_factory=Diversity)
    limits: Limits = Field(default_factory=Limits)
    objective: Objective = Field(default_factory=Objective)
    transfer: TransferPolicy = Field(default_factory=TransferPolicy)

    # ---- derived views -------------------------------------------------------------
    @property
    def crossing_rules(self) -> list[str]:
        """The rules that cross the cap tree (a min-cost flow cannot keep them)."""
        out = []
        if self.regional_caps:
            out.append("regional caps")
        if self.employer_rules:
            out.append("employer caps")
        if self.floors:
            out.append("floors")
        if self.diversity.max_share is not None:
            out.append("a nationality share cap")
        if self.diversity.peer_support:
            out.append("peer support")
        if self.objective.kind != "welfare":
            out.append(f"a fairness objective ({self.objective.kind})")
        return out

    def regional_prefectures(self, rc: RegionalCap) -> list[str]:
        """The prefectures a regional cap counts."""
        return list(self.regions[rc.region]) if rc.region is not None else list(rc.prefectures)

    def floor_prefectures(self, fl: Floor) -> list[str]:
        """The prefectures a floor counts."""
        if fl.region is not None:
            return list(self.regions[fl.region])
        if fl.outside_region is not None:
            inside = set(self.regions[fl.outside_region])
            return [p for p in PREFECTURES if p not in inside]
        return list(fl.prefectures)

    def scope(self, prefectures: list[str], sectors: list[str], groups: list[str]) -> pl.Expr:
        """Rows (with ``prefecture``, ``sector``, ``group`` columns) a regional cap or floor counts."""
        counted = pl.col("prefecture").is_in(prefectures)
        if sectors:
            counted = counted & pl.col("sector").is_in(sectors)
        if groups:
            counted = counted & pl.col("group").is_in(groups)
        return counted

    def floor_name(self, k: int) -> str:
        return self.floors[k].name or f"floors[{k}]"

    def group_of(self, track: str) -> str:
        """Track group of a track (a track outside every group is its own group)."""
        for group, tracks in self.track_groups.items():
            if track in tracks:
                return group
        return track

    def knows_sectors(self) -> bool:
        """True when the policy lists sectors, which then are the only valid ones."""
        return bool(self.sectors)

    def allows(self, sector: str, track: str) -> bool:
        """Whether a (sector, track) program exists under this policy."""
        if not self.sectors:
            return track in TRACKS
        sp = self.sectors.get(sector)
        return sp is not None and track in sp.tracks

    def rule(self, sector: str, track: str) -> Rule:
        """Effective eligibility rule of a program: sector override, then track default."""
        base = self.rules.get(track, Rule())
        sp = self.sectors.get(sector)
        if sp is not None and track in sp.rules:
            return sp.rules[track].over(base)
        return base

    def rules_frame(self, programs: pl.DataFrame) -> pl.DataFrame:
        """Effective rule of each (sector, track) in ``programs``, one row each.

        Columns: sector, track, offered, min_level (rank in JAPANESE_LEVELS),
        skills_required, min_score. Eligibility, the verifier and the stability checker
        all join on this table, so the rules have one reading.
        """
        rows = []
        for sector, track in programs.select("sector", "track").unique().sort("sector", "track").iter_rows():
            rule = self.rule(sector, track)
            level = rule.min_japanese_level
            rows.append(
                {
                    "sector": sector,
                    "track": track,
                    "offered": self.allows(sector, track),
                    "min_level": JAPANESE_LEVELS.index(level) if level else 0,
                    "skills_required": bool(rule.skills_test_required),
                    "min_score": float(rule.min_score or 0.0),
                }
            )
        schema = {
            "sector": pl.String,
            "track": pl.String,
            "offered": pl.Boolean,
            "min_level": pl.Int8,
            "skills_required": pl.Boolean,
            "min_score": pl.Float64,
        }
        return pl.DataFrame(rows, schema=schema)

    def national_cap(self, sector: str, group: str) -> int | None:
        sp = self.sectors.get(sector)
        return None if sp is None else sp.caps.get(group)

    def intake_caps(
        self,
        sector: str,
        group: str,
        *,
        full_time_staff: npt.NDArray[np.int64],
        excellent: npt.NDArray[np.bool_],
        prefecture: Sequence[str] | npt.NDArray[np.object_],
    ) -> npt.NDArray[np.int64] | None:
        """Intake cap per employer for (sector, group), vectorized; None when unlimited.

        Only the rules per sector; see :meth:`employer_cap` for the rules per employer.
        """
        caps: npt.NDArray[np.int64] | None = None
        staff = np.asarray(full_time_staff, dtype=np.int64)
        for rule in self.intake:
            if rule.per != "sector" or rule.group != group or (rule.sectors and sector not in rule.sectors):
                continue
            cap = _rule_cap(rule, staff, np.asarray(excellent, dtype=bool), prefecture, self)
            caps = cap if caps is None else np.minimum(caps, cap)
        return caps

    @property
    def employer_rules(self) -> list[IntakeRule]:
        """The intake rules that cap an employer's total over several sectors."""
        return [r for r in self.intake if r.per == "employer"]

    def employer_rule_name(self, rule: IntakeRule) -> str:
        """A rule's name, or ``intake[i]`` (its place in the file) when it has none."""
        return rule.name or f"intake[{self.intake.index(rule)}]"

    def employer_cap(
        self,
        rule: IntakeRule,
        *,
        full_time_staff: npt.NDArray[np.int64],
        excellent: npt.NDArray[np.bool_],
        prefecture: Sequence[str] | npt.NDArray[np.object_],
    ) -> npt.NDArray[np.int64]:
        """A per-employer rule's cap on each employer's total, vectorized."""
        staff = np.asarray(full_time_staff, dtype=np.int64)
        return _rule_cap(rule, staff, np.asarray(excellent, dtype=bool), prefecture, self)


def _rule_cap(
    rule: IntakeRule,
    staff: npt.NDArray[np.int64],
    excellent: npt.NDArray[np.bool_],
    prefecture: Sequence[str] | npt.NDArray[np.object_],
    policy: Policy,
) -> npt.NDArray[np.int64]:
    big = np.iinfo(np.int64).max // 4
    cap = np.full(staff.shape, big, dtype=np.int64)
    if rule.tiers:
        bounds = np.array([t[0] for t in rule.tiers], dtype=np.int64)
        values = np.array([t[1] for t in rule.tiers], dtype=np.int64)
        idx = np.searchsorted(bounds, staff, side="left")
        above = idx >= len(bounds)
        base = values[np.minimum(idx, len(bounds) - 1)].astype(np.float64)
        if rule.staff_per_worker_above is not None:
            base = np.where(above, staff // rule.staff_per_worker_above, base)
        mult = np.where(excellent, rule.excellent_multiplier, 1.0)
        if rule.bonus_outside_region is not None and rule.bonus_multiplier != 1.0:
            region = policy.regions[rule.bonus_outside_region]
            outside = ~np.isin(np.asarray(prefecture, dtype=object), region)
            mult = mult * np.where(outside, rule.bonus_multiplier, 1.0)
        # A tiny epsilon keeps 3 * 1.5 = 4.5 -> 4 but 2 * 1.5 = 3.0 from becoming 2.
        cap = np.floor(base * mult + 1e-9).astype(np.int64)
    if rule.max_staff_ratio is not None:
        cap = np.minimum(cap, np.floor(staff * rule.max_staff_ratio + 1e-9).astype(np.int64))
    return cap


def neutral_policy() -> Policy:
    """The policy used without a policy file: no caps or rules beyond the instance's."""
    return Policy()


def load_policy(path: str | Path) -> Policy:
    """Read and validate a policy TOML file; every problem is reported at once.

    Raises
    ------
    InputError
        When the file is missing, not TOML, has unknown keys or inconsistent values.

    Examples
    --------
    >>> p = load_policy("instances/policies/japan-2026.toml")
    >>> p.national_cap("nursing_care", "esdp"), p.rule("food_service", "ssw2").min_japanese_level
    (33800, 'B1')
    >>> policy_from_dict({"limits": {"max_pairs": 5}})
    Traceback (most recent call last):
    ...
    matcher.errors.InputError: 1 problem in the policy:
      - policy, column limits.max_pairs: Extra inputs are not permitted
    """
    path = Path(path)
    name = str(path)
    if path.is_dir():
        raise InputError([Problem(name, "is a directory, not a policy file (.toml)")], what="policy")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError([Problem(name, "policy file not found")], what="policy") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError([Problem(name, f"not valid TOML: {exc}")], what="policy") from None
    except OSError as exc:
        raise InputError([Problem(name, f"cannot be read: {exc.strerror}")], what="policy") from None
    return policy_from_dict(data, source=name)


def policy_from_dict(data: dict[str, object], *, source: str = "policy") -> Policy:
    """Validate a policy given as a dict (the parsed TOML)."""
    try:
        policy = Policy.model_validate(data)
    except ValidationError as exc:
        problems = [
            Problem(source, err["msg"], column=".".join(str(p) for p in err["loc"])) for err in exc.errors()
        ]
        raise InputError(problems, what="policy") from None
    problems = _check_consistency(policy, source)
    if problems:
        raise InputError(problems, what="policy")
    return policy


def _check_consistency(policy: Policy, source: str) -> list[Problem]:
    """Cross-field checks pydantic cannot express; messages name the key."""
    out: list[Problem] = []

    def bad(key: str, msg: str) -> None:
        out.append(Problem(source, msg, column=key))

    seen: dict[str, str] = {}
    for group, tracks in policy.track_groups.items():
        if group in TRACKS and tracks != [group]:
            bad(f"track_groups.{group}", "a group may not be named after a track it does not equal")
        for t in tracks:
            if t not in TRACKS:
                bad(f"track_groups.{group}", f"unknown track {t!r} (allowed: {', '.join(TRACKS)})")
            elif t in seen:
                bad(f"track_groups.{group}", f"track {t!r} is already in group {seen[t]!r}")
            else:
                seen[t] = group
    groups = {policy.group_of(t) for t in TRACKS}

    def scope(key: str, sectors: list[str], track_groups: list[str]) -> None:
        """The sectors and track groups a cap or floor counts must exist."""
        for sec in sectors:
            if policy.sectors and sec not in policy.sectors:
                bad(f"{key}.sectors", f"unknown sector {sec!r}")
        for g in track_groups:
            if g not in groups:
                bad(f"{key}.groups", f"unknown track group {g!r} (allowed: {', '.join(sorted(groups))})")

    for region, prefs in policy.regions.items():
        for p in prefs:
            if p not in PREFECTURES:
                bad(f"regions.{region}", f"unknown prefecture {p!r}")
    for track in policy.rules:
        if track not in TRACKS:
            bad(f"rules.{track}", f"unknown track (allowed: {', '.join(TRACKS)})")
    for g in policy.total_caps:
        if g not in groups:
            bad(f"total_caps.{g}", f"unknown track group (allowed: {', '.join(sorted(groups))})")
    for s, sp in policy.sectors.items():
        for t in sp.tracks:
            if t not in TRACKS:
                bad(f"sectors.{s}.tracks", f"unknown track {t!r} (allowed: {', '.join(TRACKS)})")
        for g in sp.caps:
            if g not in groups:
                bad(f"sectors.{s}.caps.{g}", f"unknown track group (allowed: {', '.join(sorted(groups))})")
        for t in sp.rules:
            if t not in TRACKS:
                bad(f"sectors.{s}.rules.{t}", f"unknown track (allowed: {', '.join(TRACKS)})")
    for i, rule in enumerate(policy.intake):
        key = f"intake[{i}]"
        if rule.group not in groups:
            bad(f"{key}.group", f"unknown track group {rule.group!r} (allowed: {', '.join(sorted(groups))})")
        for s in rule.sectors:
            if policy.sectors and s not in policy.sectors:
                bad(f"{key}.sectors", f"unknown sector {s!r}")
        bounds = [t[0] for t in rule.tiers]
        if any(b2 <= b1 for b1, b2 in itertools.pairwise(bounds)):
            bad(f"{key}.tiers", "max_staff must increase from row to row")
        if not rule.tiers and rule.max_staff_ratio is None:
            bad(key, "an intake rule needs tiers or max_staff_ratio")
        if rule.bonus_outside_region is not None and rule.bonus_outside_region not in policy.regions:
            bad(f"{key}.bonus_outside_region", f"unknown region {rule.bonus_outside_region!r}")
        if not math.isfinite(rule.excellent_multiplier) or not math.isfinite(rule.bonus_multiplier):
            bad(key, "multipliers must be finite")
    for i, rc in enumerate(policy.regional_caps):
        key = f"regional_caps[{i}]"
        if (rc.region is None) == (not rc.prefectures):
            bad(key, "give either region or prefectures")
        if rc.region is not None and rc.region not in policy.regions:
            bad(f"{key}.region", f"unknown region {rc.region!r}")
        for p in rc.prefectures:
            if p not in PREFECTURES:
                bad(f"{key}.prefectures", f"unknown prefecture {p!r}")
        scope(key, rc.sectors, rc.groups)
    for i, fl in enumerate(policy.floors):
        key = f"floors[{i}]"
        if sum(x is not None and x != [] for x in (fl.region, fl.prefectures, fl.outside_region)) != 1:
            bad(key, "give exactly one of region, prefectures or outside_region")
        for name in (fl.region, fl.outside_region):
            if name is not None and name not in policy.regions:
                bad(f"{key}.region", f"unknown region {name!r}")
        for p in fl.prefectures:
            if p not in PREFECTURES:
                bad(f"{key}.prefectures", f"unknown prefecture {p!r}")
        if (fl.min is None) == (fl.min_share is None):
            bad(key, "give either min or min_share")
        if fl.per == "employer" and fl.min_share is None:
            bad(f"{key}.per", "a floor per employer needs min_share (a share of its declared capacity)")
        scope(key, fl.sectors, fl.groups)
    # Names label caps and floors in messages, conflicts and shadow prices: one each.
    families = (
        ("regional_caps", [rc.name for rc in policy.regional_caps]),
        ("floors", [fl.name for fl in policy.floors]),
    )
    for family, names in families:
        for i, name in enumerate(names):
            if name and name in names[:i]:
                bad(f"{family}[{i}].name", f"duplicate name {name!r}")
    tp = policy.transfer
    for t in tp.tracks:
        if t not in TRACKS:
            bad("transfer.tracks", f"unknown track {t!r} (allowed: {', '.join(TRACKS)})")
    for s in tp.sector_period_months:
        if policy.sectors and s not in policy.sectors:
            bad(f"transfer.sector_period_months.{s}", f"unknown sector {s!r}")
    if tp.other_prefecture_region is not None and tp.other_prefecture_region not in policy.regions:
        bad("transfer.other_prefecture_region", f"unknown region {tp.other_prefecture_region!r}")
    if tp.max_other_prefecture_share is not None and tp.other_prefecture_region is None:
        bad("transfer.other_prefecture_region", "max_other_prefecture_share needs the region it applies in")
    return out
