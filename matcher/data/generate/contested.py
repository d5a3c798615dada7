"""A second instance family, built to be hard where :func:`generate_instance` is easy.

:func:`generate_instance` draws a balanced market (log-normal employer sizes, lists of up
to 20 employers, scores spread around the level effect) and leaves the caps to the
policy. Solvers tuned on it can still fail on markets that are concentrated, contested
and ruled by caps that cross. :func:`generate_contested` draws such a market and writes
its binding policy along with it, so that tests and benchmarks measure more than one
generator's easy cases. See :func:`generate_contested` for the model.
"""

from __future__ import annotations

import copy
import json
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import polars as pl

from matcher.data.generate.employers import _round_to_total
from matcher.data.generate.entities import _Aptitudes, _Candidates, _Employers, _Preferences, _Slots
from matcher.data.generate.frames import (
    _aptitudes_frame,
    _candidates_frame,
    _employers_frame,
    _ids,
    _preferences_frame,
    _slots_frame,
)
from matcher.data.generate.mixes import (
    ABROAD_SHARE_BY_TRACK,
    APTITUDE_COUNT_PROBS,
    LEVEL_PROBS_BY_TRACK,
    NATIONALITY_SHARES,
    PREFECTURE_WEIGHTS,
    SECTOR_MIX,
    SKILLS_TEST_BY_TRACK,
    _regional_sector_weights,
)
from matcher.data.generate.sampling import (
    BoolArray,
    FloatArray,
    IntArray,
    _categorical,
    _check_counts,
    _choose,
    _log,
    _probabilities,
    _run_positions,
    _top_k,
    _vector,
)
from matcher.data.policy import Policy, policy_from_dict
from matcher.data.reference import JAPANESE_LEVELS, PREFECTURES, SECTORS, TRACKS

__all__ = ["CONTESTED_BASE_POLICY", "RURAL_FLOOR_PREFECTURES", "ContestedInstance", "generate_contested"]

#: The base policy the contested policy is written over: the repository's Japan policy.
#: It is not part of the installed package, so an installation without the repository
#: passes ``base_policy`` explicitly.
CONTESTED_BASE_POLICY: Final[Path] = (
    Path(__file__).resolve().parents[3] / "instances" / "policies" / "japan-2026.toml"
)

#: The rural prefectures of the hard floor.
RURAL_FLOOR_PREFECTURES: Final[tuple[str, ...]] = (
    "Aomori", "Iwate", "Akita", "Yamagata", "Tottori", "Shimane", "Kochi",
)  # fmt: skip

#: Share of employers that are large, and the floor on the share of capacity they hold.
_LARGE_SHARE: Final[float] = 0.03
#: Total declared capacity per candidate (a market with room for most candidates).
_CAPACITY_PER_CANDIDATE: Final[float] = 0.8
#: Places of a small employer (1, 2 or 3) and their probabilities.
_SMALL_CAPACITY_PROBS: Final[tuple[float, ...]] = (0.5, 0.3, 0.2)
#: Number of sectors of a large employer (2, 3 or 4) and their probabilities.
_LARGE_SECTOR_PROBS: Final[tuple[float, ...]] = (0.3, 0.4, 0.3)
#: Share of a small employer's single slot by track (esdp, ssw1, ssw2), before policy.
_SMALL_TRACK_WEIGHTS: Final[tuple[float, ...]] = (0.6, 0.4, 0.0)
#: Zipf exponent of employer popularity, and the extra pull of a metro employer.
_ZIPF_EXPONENT: Final[float] = 1.1
_METRO_PULL: Final[float] = 1.5
#: Preference list lengths (1 to 5 employers) and their probabilities; draws per list.
_LIST_LENGTH_PROBS: Final[tuple[float, ...]] = (0.3, 0.3, 0.2, 0.12, 0.08)
_DRAWS: Final[int] = 8
#: Scores: pass mark of every track, and the mean of the exponential ability above it.
_PASS_MARK: Final[float] = 50.0
_ABILITY_MEAN: Final[float] = 6.0
#: Caps as a share of what could be placed (declared capacity and eligible candidates).
_METRO_CAP_SHARE: Final[float] = 0.5
_OTHER_CAP_SHARE: Final[float] = 0.7
_SECTOR_CAP_SHARE: Final[float] = 0.6
#: Hard floor as a share of the witness assignment; soft per-employer floors.
_HARD_FLOOR_SHARE: Final[float] = 0.9
_RURAL_FILL_SHARE: Final[float] = 0.5
_METRO_ANCHOR_SHARE: Final[float] = 0.7

_N_SECTOR: Final[int] = len(SECTORS)
_N_TRACK: Final[int] = len(TRACKS)
_N_PREF: Final[int] = len(PREFECTURES)
_MAX_APTITUDES: Final[int] = len(APTITUDE_COUNT_PROBS)


@dataclass(frozen=True)
class ContestedInstance:
    """A contested instance: the five tables and the policy that makes them contested.

    Attributes
    ----------
    candidates, aptitudes, employers, slots, preferences : polars.DataFrame
        The tables, with the columns, types and sort order of :func:`generate_instance`.
    policy : dict
        The policy as parsed TOML (:func:`matcher.data.policy.policy_from_dict` accepts it).
    policy_toml : str
        The same policy as TOML text (what ``matcher generate --family contested`` writes
        as ``policy.toml``).
    hard_floor : int
        The hard floor on :data:`RURAL_FLOOR_PREFECTURES`, also in ``policy``.
    """

    candidates: pl.DataFrame
    aptitudes: pl.DataFrame
    employers: pl.DataFrame
    slots: pl.DataFrame
    preferences: pl.DataFrame
    policy: dict[str, Any]
    policy_toml: str
    hard_floor: int

    @property
    def tables(self) -> dict[str, pl.DataFrame]:
        """The five tables keyed by name, as :func:`generate_instance` returns them."""
        return {
            "candidates": self.candidates,
            "aptitudes": self.aptitudes,
            "employers": self.employers,
            "slots": self.slots,
            "preferences": self.preferences,
        }

    def validated_policy(self) -> Policy:
        """The policy, validated."""
        return policy_from_dict(self.policy, source="contested policy")


def generate_contested(
    *,
    candidates: int,
    employers: int,
    seed: int,
    base_policy: str | Path | Mapping[str, Any] | None = None,
) -> ContestedInstance:
    """Generate a reproducible instance whose market is concentrated and whose caps bind.

    The model is deliberately unlike :func:`generate_instance`, so that a solver measured on
    both is not measured only on what one generator makes easy:

    * **Few large employers, many small ones.** 3% of the employers (at least one) are
      large: mostly in the metro prefectures, 2-4 sectors each with every track the policy
      allows, sharing (Zipf-like) at least half of the capacity. The others have one slot
      of 1-3 places (one sector, esdp or ssw1), spread over the prefectures more evenly
      than the workforce (rural prefectures have many small employers). The total is
      ``round(0.8 * candidates)``, or twice the small employers' places if that is more.
    * **Skewed, short preferences.** Employers have a Zipf popularity (exponent 1.1, the
      large ones first, metro employers x1.5); each candidate draws 8 employers with
      replacement and keeps the first 1-5 distinct ones (most lists have 1-3), so most
      candidates list the same few large employers. A candidate's track and main sector
      are those of a slot of its first choice, further aptitude sectors those of its next
      choices: lists are mostly eligible, and contested.
    * **Skewed, correlated scores.** Every track gets a pass mark of 50 (``min_score``);
      a candidate's scores are ``50 + ability + noise`` with one exponential ability
      (mean 6) for all its sectors, so most scores sit just around the pass mark and few
      are high: many near-ties, and some aptitudes below the mark.
    * **Crossing caps that bind.** From the generated tables alone (no solver), the
      placements a prefecture or a national (sector, track group) program could take are
      bounded by ``min(declared capacity, candidates with an eligible pair there)``. Every
      prefecture with capacity gets a regional cap of 50% of that bound (metro) or 70%
      (elsewhere), and every (sector, track group) with capacity a national cap of 60%
      of its bound, replacing the base policy's national caps. Where demand exceeds
      capacity (the large employers) the unconstrained optimum fills close to capacity,
      so these caps cut well into it, and they cross.
    * **Floors that compete with the caps.** A hard floor on the rural prefectures of
      :data:`RURAL_FLOOR_PREFECTURES`, whose small employers are rarely listed, and soft
      per-employer floors (penalty 1): 50% of each employer's capacity outside the metro
      prefectures, 70% inside them, where the regional caps allow at most 50%.

    **Feasible by construction.** Every hard constraint except the hard floor is an upper
    bound, which the empty assignment keeps; soft floors never make a policy infeasible.
    The hard floor is met by a *witness*: every place of a small employer in the floor's
    prefectures is given a distinct candidate (as many as there are candidates) whose
    first choice is that employer, with that slot's track and sector as main aptitude,
    living in that prefecture, with the Japanese level the program requires, the skills
    test passed and a score at least the pass mark. Each witness pair is eligible; a small
    employer's places (at most 3) are within every intake cap (its staff is at least its
    capacity and the staff tiers give at least 3). The witness units are then trimmed to
    the regional cap of their prefecture and to the national cap of their (sector, track
    group), in a random order, which keeps both; the track group totals of the base policy
    exceed any witness. The hard floor is ``floor(0.9 * kept witness)``, so the witness
    meets it within every cap: the instance is feasible, and the floor competes with the
    regional caps of those prefectures for the same candidates.

    Everything is vectorized numpy (loops run over list positions, aptitude positions,
    sectors and tracks only), from one ``numpy.random.Generator`` seeded with ``seed``,
    so the output depends only on the arguments (same arguments, same bytes).

    Parameters
    ----------
    candidates : int
        Number of candidates (>= 1).
    employers : int
        Number of employers (>= 1). About ``candidates / 5`` gives the large employers
        half of the capacity; fewer employers give them more.
    seed : int
        Seed of the random generator (>= 0).
    base_policy : path or dict, optional
        The policy the contested rules are written over (a TOML file, or its parsed
        dict): its sectors, tracks, track groups, eligibility rules, intake rules and the
        ``metro`` region are kept. Default: :data:`CONTESTED_BASE_POLICY`, the repository's
        ``instances/policies/japan-2026.toml`` (not part of the installed package).

    Returns
    -------
    ContestedInstance
        The tables (same columns, types and order as :func:`generate_instance`) and the
        policy as a dict and as TOML text.

    Raises
    ------
    ValueError
        If an argument is out of range, or the base policy has no ``metro`` region.
    TypeError
        If an argument has the wrong type.
    matcher.errors.InputError
        If the base policy file is missing or invalid.

    Examples
    --------
    >>> inst = generate_contested(candidates=500, employers=100, seed=3)
    >>> sorted(inst.tables)
    ['aptitudes', 'candidates', 'employers', 'preferences', 'slots']
    >>> capacity = inst.slots.group_by("employer_id").agg(pl.col("capacity").sum())["capacity"]
    >>> top = capacity.sort(descending=True).head(3)  # 3% of the employers
    >>> bool(top.sum() >= capacity.sum() / 2), int(capacity.median())
    (True, 1)
    >>> [f["name"] for f in inst.policy["floors"]]
    ['rural hard floor', 'rural fill', 'metro anchors']
    >>> inst.hard_floor == inst.policy["floors"][0]["min"]
    True
    >>> from matcher.data.load import instance_from_frames
    >>> instance_from_frames(**inst.tables, policy=inst.validated_policy()).policy.name
    'japan-2026 contested'
    """
    _validate(candidates, employers, seed)
    base = _base_policy(base_policy)
    rng = np.random.default_rng(seed)
    data = copy.deepcopy(base)
    data["name"] = f"{base.get('name', 'policy')} contested"
    data["description"] = (
        "Binding regional and national caps and competing floors, computed from a contested "
        f"generated instance (generate_contested, seed {seed})"
    )
    rules = data.setdefault("rules", {})
    for track in TRACKS:
        rules.setdefault(track, {})["min_score"] = _PASS_MARK
    rule_policy = policy_from_dict(data, source="contested base policy")
    if "metro" not in rule_policy.regions:
        raise ValueError("base_policy must define the region 'metro'")
    metro = np.isin(PREFECTURES, rule_policy.regions["metro"])
    programs = _Programs.of(rule_policy)

    emp, slots, large = _draw_market(rng, candidates, employers, programs, metro)
    slot_start = np.searchsorted(slots.employer, np.arange(employers + 1))
    rural = np.isin(PREFECTURES, RURAL_FLOOR_PREFECTURES)
    witness_slot, witness_cand = _draw_witness(rng, candidates, emp, slots, large, rural)
    first = np.full(candidates, -1, dtype=np.int64)
    first[witness_cand] = slots.employer[witness_slot]
    lists = _draw_lists(rng, candidates, emp, large, metro, first)
    cand, apt = _draw_people(rng, lists, slots, slot_start, emp, programs, witness_cand)
    prefs = _preferences_of(lists)

    pair_slot, pair_cand = _eligible_pairs(prefs, cand, apt, slots, programs)
    regional, national = _caps(pair_slot, pair_cand, emp, slots, metro, programs)
    kept = _trim(rng, witness_slot, emp, slots, programs, regional, national)
    hard_floor = math.floor(_HARD_FLOOR_SHARE * kept)
    _write_caps(data, regional, national, programs, hard_floor)
    policy_from_dict(data, source="contested policy")  # the written policy is valid

    order = rng.permutation(employers)  # large employers get no telling ids
    emp, slots, prefs = _relabel(order, emp, slots, prefs)
    cand_ids = _ids("C", candidates, len(str(candidates)))
    emp_ids = _ids("E", employers, max(6, len(str(employers))))
    return ContestedInstance(
        candidates=_candidates_frame(cand, cand_ids),
        aptitudes=_aptitudes_frame(apt, cand_ids),
        employers=_employers_frame(emp, emp_ids),
        slots=_slots_frame(slots, emp_ids),
        preferences=_preferences_frame(prefs, cand_ids, emp_ids),
        policy=data,
        policy_toml=policy_toml(data),
        hard_floor=hard_floor,
    )


@dataclass(frozen=True)
class _Programs:
    """The base policy's programs as (sector, track) arrays."""

    allowed: BoolArray  # (sectors, tracks)
    min_level: IntArray  # rank in JAPANESE_LEVELS, 0 = none required
    skills: BoolArray
    min_score: FloatArray
    group: IntArray  # (tracks,) index into groups
    groups: tuple[str, ...]

    @classmethod
    def of(cls, policy: Policy) -> _Programs:
        shape = (_N_SECTOR, _N_TRACK)
        allowed = np.zeros(shape, dtype=np.bool_)
        min_level = np.zeros(shape, dtype=np.int64)
        skills = np.zeros(shape, dtype=np.bool_)
        min_score = np.zeros(shape, dtype=np.float64)
        for s, sector in enumerate(SECTORS):
            for t, track in enumerate(TRACKS):
                allowed[s, t] = policy.allows(sector, track)
                rule = policy.rule(sector, track)
                if rule.min_japanese_level is not None:
                    min_level[s, t] = JAPANESE_LEVELS.index(rule.min_japanese_level)
                skills[s, t] = bool(rule.skills_test_required)
                min_score[s, t] = rule.min_score or 0.0
        names = tuple(dict.fromkeys(policy.group_of(t) for t in TRACKS))
        group = np.array([names.index(policy.group_of(t)) for t in TRACKS], dtype=np.int64)
        return cls(allowed, min_level, skills, min_score, group, names)


def _validate(candidates: int, employers: int, seed: int) -> None:
    _check_counts(candidates=(candidates, 1), employers=(employers, 1), seed=(seed, 0))


def _base_policy(base: str | Path | Mapping[str, Any] | None) -> dict[str, Any]:
    """The base policy as a dict, read from a file unless given as one."""
    if isinstance(base, Mapping):
        return copy.deepcopy(dict(base))
    from matcher.data.policy import load_policy

    path = Path(base) if base is not None else CONTESTED_BASE_POLICY
    load_policy(path)  # the file's errors, reported as for any policy file
    data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    return data


def _draw_market(
    rng: np.random.Generator, n: int, m: int, programs: _Programs, metro: BoolArray
) -> tuple[_Employers, _Slots, BoolArray]:
    """Employers and slots (sorted by employer): large employers first, then small ones."""
    n_large = min(m, max(1, round(_LARGE_SHARE * m)))
    n_small = m - n_large
    workforce = _vector(PREFECTURE_WEIGHTS, PREFECTURES)
    metro_mix = _probabilities(np.where(metro, workforce, 0.0))
    large_pref = np.where(
        rng.random(n_large) < 0.85,
        _choose(rng, metro_mix, n_large),
        _choose(rng, _probabilities(workforce), n_large),
    )
    small_pref = _choose(rng, _probabilities(workforce**0.3), n_small)

    # Large employers: 2-4 sectors, each with every track the policy allows.
    n_sectors = 2 + _choose(rng, _probabilities(_LARGE_SECTOR_PROBS), n_large)
    owner, _, sector = _top_k(rng, np.tile(_log(_vector(SECTOR_MIX, SECTORS)), (n_large, 1)), n_sectors)
    row, track = np.nonzero(programs.allowed[sector])
    l_emp, l_sector, l_track = owner[row], sector[row], track.astype(np.int64)
    # Small employers: one slot, a regional sector, esdp or ssw1 as the policy allows.
    s_sector = _categorical(rng, _regional_sector_weights(), small_pref)
    track_w = np.asarray(_SMALL_TRACK_WEIGHTS)[None, :] * programs.allowed
    track_w[track_w.sum(axis=1) == 0] = programs.allowed[track_w.sum(axis=1) == 0]
    s_track = _categorical(rng, _probabilities(track_w), s_sector)
    s_capacity = 1 + _choose(rng, _probabilities(_SMALL_CAPACITY_PROBS), n_small)

    small_total = int(s_capacity.sum())
    large_total = max(small_total, round(_CAPACITY_PER_CANDIDATE * n) - small_total)
    emp_weight = (np.arange(1, n_large + 1, dtype=np.float64) ** -0.7) * rng.lognormal(0.0, 0.3, n_large)
    slot_weight = rng.gamma(2.0, size=len(l_emp)) * np.where(l_track == 2, 0.2, 1.0)
    slot_weight *= (emp_weight / np.bincount(l_emp, weights=slot_weight, minlength=n_large))[l_emp]
    base = 1 if large_total >= len(l_emp) else 0
    l_capacity = base + _round_to_total(slot_weight, large_total - base * len(l_emp))

    employer = np.concatenate((l_emp, n_large + np.arange(n_small)))
    slots = _Slots(
        employer=employer.astype(np.int64),
        sector=np.concatenate((l_sector, s_sector)).astype(np.int64),
        track=np.concatenate((l_track, s_track)).astype(np.int64),
        capacity=np.concatenate((l_capacity, s_capacity)).astype(np.int64),
    )
    order = np.lexsort((slots.track, slots.sector, slots.employer))
    slots = _Slots(
        *(np.asarray(a)[order] for a in (slots.employer, slots.sector, slots.track, slots.capacity))
    )

    # Staff: enough that the intake tables never cut a declared capacity.
    largest = np.zeros(m, dtype=np.int64)
    np.maximum.at(largest, slots.employer, slots.capacity)
    small_staff = np.ceil(rng.lognormal(2.0, 0.6, n_small)).astype(np.int64)
    staff = np.concatenate(
        (
            301 + 20 * largest[:n_large] + rng.integers(0, 500, n_large),
            np.clip(small_staff, np.maximum(largest[n_large:], 3), 30),
        )
    ).astype(np.int64)
    excellent = rng.random(m) < np.where(np.arange(m) < n_large, 0.3, 0.05)
    emp = _Employers(
        prefecture=np.concatenate((large_pref, small_pref)).astype(np.int64),
        staff=staff,
        excellent=excellent,
        min_level=np.full(m, -1, dtype=np.int64),
    )
    return emp, slots, np.arange(m) < n_large


def _draw_witness(
    rng: np.random.Generator, n: int, emp: _Employers, slots: _Slots, large: BoolArray, rural: BoolArray
) -> tuple[IntArray, IntArray]:
    """Witness units: one (slot, distinct candidate) per place of a small rural employer."""
    chosen = ~large[slots.employer] & rural[emp.prefecture[slots.employer]]
    unit_slot = np.repeat(np.flatnonzero(chosen), slots.capacity[chosen])
    unit_slot = unit_slot[rng.permutation(len(unit_slot))][: n // 2]
    witness_cand = np.sort(rng.permutation(n)[: len(unit_slot)])
    return unit_slot.astype(np.int64), witness_cand.astype(np.int64)


def _draw_lists(
    rng: np.random.Generator, n: int, emp: _Employers, large: BoolArray, metro: BoolArray, first: IntArray
) -> IntArray:
    """Preference lists as an (n, 5) employer matrix, -1 past a list's end.

    ``first[c] >= 0`` forces candidate ``c``'s first choice (the witness).
    """
    m = len(large)
    # Popularity order: large employers by index (largest share first), then small ones at random.
    rank = np.empty(m, dtype=np.int64)
    popularity = np.concatenate((np.flatnonzero(large), rng.permutation(np.flatnonzero(~large))))
    rank[popularity] = np.arange(m)
    weight = (1.0 + rank) ** -_ZIPF_EXPONENT * np.where(metro[emp.prefecture], _METRO_PULL, 1.0)
    cum = np.cumsum(weight / weight.sum())
    draws = np.minimum(np.searchsorted(cum, rng.random((n, _DRAWS)), side="right"), m - 1)
    forced = first >= 0
    draws[forced, 0] = first[forced]

    keep = np.ones(draws.shape, dtype=np.bool_)
    for j in range(1, _DRAWS):
        keep[:, j] = ~(draws[:, :j] == draws[:, j : j + 1]).any(axis=1)
    length = 1 + _choose(rng, _probabilities(_LIST_LENGTH_PROBS), n)
    keep &= np.cumsum(keep, axis=1) <= length[:, None]
    max_len = len(_LIST_LENGTH_PROBS)
    lists = np.full((n, max_len), -1, dtype=np.int64)
    row, col = np.nonzero(keep)
    lists[row, _run_positions(row.astype(np.int64))] = draws[row, col]
    return lists


def _draw_people(
    rng: np.random.Generator,
    lists: IntArray,
    slots: _Slots,
    slot_start: IntArray,
    emp: _Employers,
    programs: _Programs,
    witness: IntArray,
) -> tuple[_Candidates, _Aptitudes]:
    """Candidates and aptitudes that follow their lists: track and sectors from listed slots."""
    n = len(lists)
    listed = lists >= 0
    n_slots = slot_start[1:] - slot_start[:-1]
    employer = np.maximum(lists[:, :_MAX_APTITUDES], 0)
    pick = slot_start[employer] + (rng.random(employer.shape) * n_slots[employer]).astype(np.int64)
    track = slots.track[pick[:, 0]]
    sector = np.where(listed[:, :_MAX_APTITUDES], slots.sector[pick], -1)

    count = 1 + _choose(rng, _probabilities(APTITUDE_COUNT_PROBS), n)
    has = (np.arange(_MAX_APTITUDES)[None, :] < count[:, None]) & (sector >= 0)
    for r in range(1, _MAX_APTITUDES):
        has[:, r] &= ~((sector[:, :r] == sector[:, r : r + 1]) & has[:, :r]).any(axis=1)

    nationality = _choose(rng, _probabilities(list(NATIONALITY_SHARES.values())), n)
    level = _categorical(rng, _probabilities([LEVEL_PROBS_BY_TRACK[t] for t in TRACKS]), track)
    abroad = rng.random(n) < _vector(ABROAD_SHARE_BY_TRACK, TRACKS)[track]
    prefecture = np.where(
        abroad, -1, _choose(rng, _probabilities(_vector(PREFECTURE_WEIGHTS, PREFECTURES)), n)
    )
    ability = rng.exponential(_ABILITY_MEAN, n)
    noise = rng.normal(0.0, 1.5, size=sector.shape)
    position_penalty = 1.5 * np.arange(_MAX_APTITUDES)[None, :]
    score = np.round(np.clip(_PASS_MARK + ability[:, None] + noise - position_penalty, 0.0, 100.0), 1)
    pass_p = _vector(SKILLS_TEST_BY_TRACK, TRACKS)[track]
    skills = rng.random(sector.shape) < pass_p[:, None]

    # The witness: eligible at its first choice by construction.
    s0 = sector[witness, 0]
    t0 = track[witness]
    level[witness] = np.maximum(level[witness], programs.min_level[s0, t0])
    prefecture[witness] = emp.prefecture[lists[witness, 0]]
    score[witness, 0] = np.maximum(score[witness, 0], np.ceil(programs.min_score[s0, t0] * 10) / 10)
    skills[witness, 0] = True

    row, position = np.nonzero(has)
    cand = _Candidates(
        nationality, track.astype(np.int64), level.astype(np.int64), prefecture.astype(np.int64)
    )
    apt = _Aptitudes(
        candidate=row.astype(np.int64),
        position=_run_positions(row.astype(np.int64)),
        sector=sector[row, position].astype(np.int64),
        score=score[row, position].astype(np.float64),
        skills_test=skills[row, position],
    )
    return cand, apt


def _preferences_of(lists: IntArray) -> _Preferences:
    row, col = np.nonzero(lists >= 0)
    return _Preferences(row.astype(np.int64), lists[row, col], (col + 1).astype(np.int64))


def _eligible_pairs(
    prefs: _Preferences, cand: _Candidates, apt: _Aptitudes, slots: _Slots, programs: _Programs
) -> tuple[IntArray, IntArray]:
    """(slot, candidate) of every listed pair the policy's rules make eligible (intake caps aside)."""
    slot_key = (slots.employer * _N_SECTOR + slots.sector) * _N_TRACK + slots.track
    apt_start = np.searchsorted(apt.candidate, np.arange(len(cand.track) + 1))
    out_slot: list[IntArray] = []
    out_cand: list[IntArray] = []
    for r in range(_MAX_APTITUDES):
        c = prefs.candidate
        has = apt_start[c] + r < apt_start[c + 1]
        c, e = c[has], prefs.employer[has]
        a = apt_start[c] + r
        s, t = apt.sector[a], cand.track[c]
        key = (e * _N_SECTOR + s) * _N_TRACK + t
        at = np.minimum(np.searchsorted(slot_key, key), len(slot_key) - 1)
        ok = (slot_key[at] == key) & programs.allowed[s, t]
        ok &= cand.level[c] >= programs.min_level[s, t]
        ok &= apt.skills_test[a] | ~programs.skills[s, t]
        ok &= apt.score[a] >= programs.min_score[s, t]
        ok &= slots.capacity[at] > 0
        out_slot.append(at[ok])
        out_cand.append(c[ok])
    return np.concatenate(out_slot), np.concatenate(out_cand)


def _reach(unit: IntArray, cand: IntArray, capacity: npt.NDArray[Any], n_units: int) -> IntArray:
    """Per unit: ``min(capacity, distinct candidates with an eligible pair in it)``."""
    n = int(cand.max(initial=0)) + 1
    distinct = np.unique(unit * n + cand) // n
    people = np.bincount(distinct, minlength=n_units)
    reach: IntArray = np.minimum(capacity, people).astype(np.int64)
    return reach


def _caps(
    pair_slot: IntArray,
    pair_cand: IntArray,
    emp: _Employers,
    slots: _Slots,
    metro: BoolArray,
    programs: _Programs,
) -> tuple[IntArray, IntArray]:
    """Regional caps per prefecture and national caps per (sector, group); -1 = none."""
    slot_pref = emp.prefecture[slots.employer]
    pref_capacity = np.bincount(slot_pref, weights=slots.capacity, minlength=_N_PREF)
    reach = _reach(slot_pref[pair_slot], pair_cand, pref_capacity, _N_PREF)
    share = np.where(metro, _METRO_CAP_SHARE, _OTHER_CAP_SHARE)
    regional = np.where(reach > 0, np.maximum(np.floor(share * reach), 1), -1).astype(np.int64)

    n_groups = len(programs.groups)
    slot_sg = slots.sector * n_groups + programs.group[slots.track]
    sg_capacity = np.bincount(slot_sg, weights=slots.capacity, minlength=_N_SECTOR * n_groups)
    sg_reach = _reach(slot_sg[pair_slot], pair_cand, sg_capacity, _N_SECTOR * n_groups)
    national = np.where(sg_reach > 0, np.maximum(np.floor(_SECTOR_CAP_SHARE * sg_reach), 1), -1).astype(
        np.int64
    )
    return regional, national


def _trim(
    rng: np.random.Generator,
    witness_slot: IntArray,
    emp: _Employers,
    slots: _Slots,
    programs: _Programs,
    regional: IntArray,
    national: IntArray,
) -> int:
    """Witness units left after keeping each prefecture's and each (sector, group)'s cap."""
    slot_pref = emp.prefecture[slots.employer]
    slot_sg = slots.sector * len(programs.groups) + programs.group[slots.track]
    unit = witness_slot[rng.permutation(len(witness_slot))]
    for of_slot, cap in ((slot_pref, regional), (slot_sg, national)):
        key = of_slot[unit]
        order = np.argsort(key, kind="stable")
        rank = np.empty(len(unit), dtype=np.int64)
        rank[order] = _run_positions(key[order])
        unit = unit[(cap[key] < 0) | (rank < cap[key])]
    return len(unit)


def _write_caps(
    data: dict[str, Any], regional: IntArray, national: IntArray, programs: _Programs, floor: int
) -> None:
    """Put the computed caps and floors into the policy dict (replacing national caps)."""
    n_groups = len(programs.groups)
    sectors = data.setdefault("sectors", {})
    for s, sector in enumerate(SECTORS):
        if sector not in sectors and sectors:
            continue
        caps = {
            g: int(national[s * n_groups + k])
            for k, g in enumerate(programs.groups)
            if national[s * n_groups + k] >= 0
        }
        entry = sectors.setdefault(sector, {})
        if caps:
            entry["caps"] = caps
        else:
            entry.pop("caps", None)
    data["regional_caps"] = [
        {"name": PREFECTURES[p], "prefectures": [PREFECTURES[p]], "cap": int(regional[p])}
        for p in range(_N_PREF)
        if regional[p] >= 0
    ]
    data["floors"] = [
        {"name": "rural hard floor", "prefectures": list(RURAL_FLOOR_PREFECTURES), "min": int(floor)},
        {
            "name": "rural fill",
            "outside_region": "metro",
            "per": "employer",
            "min_share": _RURAL_FILL_SHARE,
            "penalty": 1,
        },
        {
            "name": "metro anchors",
            "region": "metro",
            "per": "employer",
            "min_share": _METRO_ANCHOR_SHARE,
            "penalty": 1,
        },
    ]


def _relabel(
    order: IntArray, emp: _Employers, slots: _Slots, prefs: _Preferences
) -> tuple[_Employers, _Slots, _Preferences]:
    """Employer ``i`` becomes employer ``order[i]``; slots sorted again by employer."""
    inverse = np.argsort(order)
    emp = _Employers(
        emp.prefecture[inverse], emp.staff[inverse], emp.excellent[inverse], emp.min_level[inverse]
    )
    employer = order[slots.employer]
    by = np.lexsort((slots.track, slots.sector, employer))
    slots = _Slots(employer[by], slots.sector[by], slots.track[by], slots.capacity[by])
    return emp, slots, _Preferences(prefs.candidate, order[prefs.employer], prefs.rank)


def policy_toml(data: Mapping[str, Any]) -> str:
    """A policy dict as TOML text (the subset policies use: tables, arrays of tables, scalars, lists).

    Examples
    --------
    >>> print(policy_toml({"name": "p", "sectors": {"a": {"caps": {"esdp": 3}}}, "floors": [{"min": 1}]}))
    name = "p"
    <BLANKLINE>
    [sectors.a.caps]
    esdp = 3
    <BLANKLINE>
    [[floors]]
    min = 1
    <BLANKLINE>
    """
    lines: list[str] = []
    _toml_table(data, [], lines)
    return "\n".join(lines).lstrip("\n") + "\n"


def _toml_key(key: str) -> str:
    bare = key.replace("_", "").replace("-", "").isalnum() and key.isascii()
    return key if bare else json.dumps(key, ensure_ascii=False)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # JSON escapes are valid in TOML strings
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def _is_table_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, Mapping) for v in value)


def _toml_table(data: Mapping[str, Any], path: list[str], lines: list[str]) -> None:
    """Scalars of ``data`` first, then its sub-tables and arrays of tables."""
    for key, value in data.items():
        if not isinstance(value, Mapping) and not _is_table_list(value):
            lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
    for key, value in data.items():
        sub = [*path, _toml_key(key)]
        if isinstance(value, Mapping):
            if any(not isinstance(v, Mapping) and not _is_table_list(v) for v in value.values()) or not value:
                lines += ["", f"[{'.'.join(sub)}]"]
            _toml_table(value, sub, lines)
        elif _is_table_list(value):
            for item in value:
                lines += ["", f"[[{'.'.join(sub)}]]"]
                _toml_table(item, sub, lines)
