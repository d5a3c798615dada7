"""Tests for :mod:`matcher.data.generate`: schema, determinism, referential integrity, policy."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
import pytest

import matcher.data.generate as gen
import matcher.data.generate.preferences as gen_preferences
from matcher.data.generate import generate_instance
from matcher.data.reference import JAPANESE_LEVELS, PREFECTURES, SECTORS, TRACKS

Tables = dict[str, pl.DataFrame]

SCHEMAS: dict[str, dict[str, Any]] = {
    "candidates": {
        "candidate_id": pl.String,
        "nationality": pl.String,
        "japanese_level": pl.String,
        "track": pl.String,
        "prefecture": pl.String,
    },
    "aptitudes": {
        "candidate_id": pl.String,
        "sector": pl.String,
        "score": pl.Float64,
        "skills_test": pl.Boolean,
    },
    "employers": {
        "employer_id": pl.String,
        "prefecture": pl.String,
        "full_time_staff": pl.Int64,
        "excellent": pl.Boolean,
        "min_japanese_level": pl.String,
    },
    "slots": {"employer_id": pl.String, "sector": pl.String, "track": pl.String, "capacity": pl.Int64},
    "preferences": {"candidate_id": pl.String, "employer_id": pl.String, "rank": pl.Int64},
}
SORT_KEYS = {
    "candidates": ["candidate_id"],
    "aptitudes": ["candidate_id", "sector"],
    "employers": ["employer_id"],
    "slots": ["employer_id", "sector", "track"],
    "preferences": ["candidate_id", "rank"],
}
N_CANDIDATES, N_EMPLOYERS, LIST_LENGTH, UNLISTED = 4000, 400, 12, 0.25


@pytest.fixture(scope="module")
def tables() -> Tables:
    """Mid-size instance: both list samplers (draws and enumeration) are exercised."""
    return generate_instance(
        candidates=N_CANDIDATES,
        employers=N_EMPLOYERS,
        seed=11,
        unlisted_share=UNLISTED,
        list_length=LIST_LENGTH,
    )


def pool_sizes(t: Tables) -> pl.DataFrame:
    """Per candidate: number of distinct employers with a slot for its track and sectors."""
    eligible = (
        t["aptitudes"]
        .join(t["candidates"].select("candidate_id", "track"), on="candidate_id")
        .join(t["slots"], on=["sector", "track"])
        .select("candidate_id", "employer_id")
        .unique()
    )
    counts = eligible.group_by("candidate_id").agg(pool=pl.len().cast(pl.Int64))
    return (
        t["candidates"]
        .select("candidate_id")
        .join(counts, on="candidate_id", how="left")
        .with_columns(pl.col("pool").fill_null(0))
    )


# ---------------------------------------------------------------------------------- schema


def test_schema_and_sorting(tables: Tables) -> None:
    assert list(tables) == list(SCHEMAS)
    for name, frame in tables.items():
        assert dict(frame.schema) == SCHEMAS[name], name
        assert frame.equals(frame.sort(SORT_KEYS[name])), f"{name} not sorted"


def test_ids(tables: Tables) -> None:
    cands, emps = tables["candidates"], tables["employers"]
    assert cands.height == N_CANDIDATES and emps.height == N_EMPLOYERS
    assert cands["candidate_id"].is_unique().all() and emps["employer_id"].is_unique().all()
    assert cands["candidate_id"][0] == "C0001" and cands["candidate_id"][-1] == "C4000"
    assert emps["employer_id"][0] == "E000001" and emps["employer_id"][-1] == "E000400"
    assert tables["slots"].select("employer_id", "sector", "track").is_unique().all()
    assert tables["preferences"].select("candidate_id", "employer_id").is_unique().all()


def test_vocabularies(tables: Tables) -> None:
    c, a, e, s = (tables[k] for k in ("candidates", "aptitudes", "employers", "slots"))
    assert set(c["japanese_level"]) <= set(JAPANESE_LEVELS)
    assert set(c["track"]) == set(TRACKS)
    assert set(c["nationality"]) <= set(gen.NATIONALITY_SHARES)
    assert set(c["prefecture"].drop_nulls()) <= set(PREFECTURES)
    assert set(e["prefecture"]) <= set(PREFECTURES)
    assert set(a["sector"]) | set(s["sector"]) <= set(SECTORS)
    assert set(s["track"]) <= set(TRACKS)
    assert set(e["min_japanese_level"].drop_nulls()) <= {"A2", "B1"}
    assert e["prefecture"].null_count() == 0


def test_module_tables_match_reference() -> None:
    assert set(gen.PREFECTURE_WEIGHTS) == set(PREFECTURES)
    assert set(gen.SECTOR_MIX) == set(SECTORS)
    assert set(gen.LEVEL_PROBS_BY_TRACK) == set(TRACKS) == set(gen.ABROAD_SHARE_BY_TRACK)
    assert all(len(p) == len(JAPANESE_LEVELS) for p in gen.LEVEL_PROBS_BY_TRACK.values())
    assert {p for f in gen.REGIONAL_SECTOR_FACTORS.values() for p in f} <= set(PREFECTURES)
    assert set(gen.REGIONAL_SECTOR_FACTORS) <= set(SECTORS)
    assert sum(gen.NATIONALITY_SHARES.values()) == pytest.approx(100.0)
    assert sum(gen.PREFECTURE_WEIGHTS.values()) == pytest.approx(100.0)


# ------------------------------------------------------------------------------ determinism


def test_deterministic() -> None:
    kwargs: dict[str, Any] = {"candidates": 1500, "employers": 120, "seed": 5, "unlisted_share": 0.1}
    first, second = generate_instance(**kwargs), generate_instance(**kwargs)
    for name in SCHEMAS:
        assert first[name].equals(second[name]), name
    other = generate_instance(**{**kwargs, "seed": 6})
    assert not first["candidates"].equals(other["candidates"])
    assert not first["preferences"].equals(other["preferences"])


# ------------------------------------------------------------------------------- content


def test_aptitudes(tables: Tables) -> None:
    a = tables["aptitudes"]
    per_candidate = a.group_by("candidate_id").agg(n=pl.len(), sectors=pl.col("sector").n_unique())
    assert per_candidate.height == N_CANDIDATES  # everyone has at least one
    assert per_candidate["n"].is_between(1, 3).all()
    assert (per_candidate["n"] == per_candidate["sectors"]).all()
    assert (per_candidate["n"] == 1).mean() > 0.5  # type: ignore[operator]
    assert a["score"].is_between(0.0, 100.0).all()
    assert (a["score"] == a["score"].round(1)).all()


def test_candidate_realism(tables: Tables) -> None:
    c = tables["candidates"].join(
        tables["aptitudes"].group_by("candidate_id").agg(pl.col("score").max(), pl.col("skills_test").any()),
        on="candidate_id",
    )
    by_track = c.group_by("track").agg(
        share=pl.len() / c.height,
        abroad=pl.col("prefecture").is_null().mean(),
        a1=(pl.col("japanese_level") == "A1").mean(),
        b1_plus=pl.col("japanese_level").is_in(["B1", "B2", "C1"]).mean(),
        skills=pl.col("skills_test").mean(),
    )
    row = {r["track"]: r for r in by_track.iter_rows(named=True)}
    assert row["esdp"]["share"] == pytest.approx(0.45, abs=0.04)
    assert row["ssw1"]["share"] == pytest.approx(0.50, abs=0.04)
    assert row["esdp"]["abroad"] > 0.8 and row["ssw1"]["abroad"] < 0.6
    assert row["esdp"]["a1"] > 0.7 and row["ssw2"]["b1_plus"] > 0.8
    assert row["esdp"]["skills"] < 0.3 and row["ssw1"]["skills"] > 0.7
    assert c.filter(pl.col("nationality") == "VN").height / c.height == pytest.approx(0.439, abs=0.04)
    mean_score = c.group_by("japanese_level").agg(pl.col("score").mean())
    scores = dict(mean_score.iter_rows())
    assert scores["A1"] < scores["A2"] < scores["B1"]


def test_employers_and_slots(tables: Tables) -> None:
    e, s = tables["employers"], tables["slots"]
    assert (e["full_time_staff"] >= 0).all()
    assert (e["full_time_staff"] <= 30).mean() > 0.6  # type: ignore[operator]
    assert e["excellent"].mean() == pytest.approx(0.10, abs=0.05)
    assert e["min_japanese_level"].null_count() > e.height / 2
    assert set(s["employer_id"]) == set(e["employer_id"])
    sectors = s.group_by("employer_id").agg(pl.col("sector").n_unique())["sector"]
    assert sectors.is_between(1, 3).all() and (sectors == 1).mean() > 0.5  # type: ignore[operator]
    tracks = s.group_by("employer_id", "sector").len()["len"]
    assert tracks.is_between(1, 2).all()
    assert (s["capacity"] >= 0).all()
    assert s["capacity"].sum() == round(0.8 * N_CANDIDATES)


def test_policy_constraints() -> None:
    # Large enough that forbidden pairs would appear if they were not excluded.
    t = generate_instance(candidates=20_000, employers=4000, seed=2, list_length=3)
    s = t["slots"]
    forbidden = s.filter(
        ((pl.col("sector") == "nursing_care") & (pl.col("track") == "ssw2"))
        | ((pl.col("track") == "esdp") & pl.col("sector").is_in(["automobile_transport", "aviation"]))
    )
    assert forbidden.height == 0
    assert s.filter(pl.col("sector") == "aviation").height > 0
    # Regional specialisation: shipbuilding is far more common in Ehime than in Tokyo.
    by_pref = s.join(t["employers"], on="employer_id")

    def share(pref: str, sector: str) -> float:
        local = by_pref.filter(pl.col("prefecture") == pref)
        return local.filter(pl.col("sector") == sector).height / local.height

    assert share("Ehime", "shipbuilding") > 5 * share("Tokyo", "shipbuilding")
    assert share("Hokkaido", "agriculture") > 5 * share("Osaka", "agriculture")


# --------------------------------------------------------------------------- preferences


def test_preferences_reference_matching_slots(tables: Tables) -> None:
    p = tables["preferences"]
    assert set(p["employer_id"]) <= set(tables["employers"]["employer_id"])
    eligible = (
        tables["aptitudes"]
        .join(tables["candidates"].select("candidate_id", "track"), on="candidate_id")
        .join(tables["slots"].select("employer_id", "sector", "track"), on=["sector", "track"])
        .select("candidate_id", "employer_id")
        .unique()
    )
    assert p.join(eligible, on=["candidate_id", "employer_id"], how="anti").height == 0


def test_ranks_are_one_to_k(tables: Tables) -> None:
    ranks = (
        tables["preferences"]
        .group_by("candidate_id")
        .agg(k=pl.len(), lo=pl.col("rank").min(), hi=pl.col("rank").max(), distinct=pl.col("rank").n_unique())
    )
    assert (ranks["lo"] == 1).all()
    assert (ranks["hi"] == ranks["k"]).all() and (ranks["distinct"] == ranks["k"]).all()
    assert (ranks["k"] <= LIST_LENGTH).all()


def test_list_lengths_and_unlisted_share(tables: Tables) -> None:
    lengths = tables["preferences"].group_by("candidate_id").agg(k=pl.len().cast(pl.Int64))
    df = (
        pool_sizes(tables).join(lengths, on="candidate_id", how="left").with_columns(pl.col("k").fill_null(0))
    )
    listed = df.filter(pl.col("k") > 0)
    # A listing candidate lists min(list_length, pool) employers: fewer only if fewer exist.
    assert (listed["k"] == listed["pool"].clip(upper_bound=LIST_LENGTH)).all()
    assert 0 < listed.filter(pl.col("pool") < LIST_LENGTH).height < listed.height
    with_pool = df.filter(pl.col("pool") > 0)
    unlisted = with_pool.filter(pl.col("k") == 0).height
    assert unlisted <= round(UNLISTED * N_CANDIDATES)
    assert unlisted / with_pool.height == pytest.approx(UNLISTED, abs=0.04)


@pytest.mark.parametrize(("share", "expected"), [(0.0, 0), (1.0, None)])
def test_unlisted_extremes(share: float, expected: int | None) -> None:
    t = generate_instance(candidates=300, employers=60, seed=1, unlisted_share=share)
    if expected is None:
        assert t["preferences"].height == 0
    else:
        df = pool_sizes(t).join(
            t["preferences"].group_by("candidate_id").len(), on="candidate_id", how="left"
        )
        assert df.filter((pl.col("pool") > 0) & pl.col("len").is_null()).height == expected


def test_preferences_lean_to_metro_and_home(tables: Tables) -> None:
    from matcher.data.reference import METRO_PREFECTURES

    p = tables["preferences"].join(tables["employers"].select("employer_id", "prefecture"), on="employer_id")
    metro_in_lists = p["prefecture"].is_in(METRO_PREFECTURES).mean()
    metro_employers = tables["employers"]["prefecture"].is_in(METRO_PREFECTURES).mean()
    assert metro_in_lists > metro_employers  # type: ignore[operator]
    home = p.join(
        tables["candidates"].select("candidate_id", home=pl.col("prefecture")), on="candidate_id"
    ).filter(pl.col("home").is_not_null())
    home_share = (home["prefecture"] == home["home"]).mean()
    # Without the pull, a listed employer would be at home about as often as employers are.
    employer_share = tables["employers"]["prefecture"].value_counts(normalize=True)
    baseline = home.join(employer_share, left_on="home", right_on="prefecture")["proportion"].mean()
    assert home_share > 2 * baseline  # type: ignore[operator]


def test_draws_match_enumeration_probabilities() -> None:
    """Draw sampler and enumeration sampler use the same single-draw probabilities."""
    rng = np.random.default_rng(0)
    cand = gen._draw_candidates(rng, 2000)
    apt = gen._draw_aptitudes(rng, cand)
    emp = gen._draw_employers(rng, 300)
    slots = gen._draw_slots(rng, emp, total_capacity=1600)
    index = gen._SlotIndex.build(emp, slots)
    captured: list[gen._Choice] = []

    def capture(*args: Any) -> Any:
        captured.append(args[2])
        return np.zeros(0, dtype=np.int64)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(gen_preferences, "_sample_by_draws", capture)
        gen._draw_preferences(rng, cand, apt, emp, slots, np.zeros(2000, dtype=bool), 5)
    choice = captured[0]
    resident_multi = np.flatnonzero(((choice.pick > 0).sum(axis=1) >= 2) & (choice.own.max(axis=1) > 0))
    who = resident_multi[:1]
    _, drawn = gen._draw_employers_for(rng, index, choice, who, 40_000)
    _, employer, probability = gen._pool_probabilities(index, choice, who)
    assert probability.sum() == pytest.approx(1.0)
    frequency = np.bincount(drawn, minlength=300)[employer] / len(drawn)
    assert set(drawn) <= set(employer)
    np.testing.assert_allclose(frequency, probability, atol=0.01)


# --------------------------------------------------------------------------------- inputs


def test_smallest_instance() -> None:
    t = generate_instance(candidates=1, employers=1, seed=0, list_length=1)
    assert t["candidates"]["candidate_id"].to_list() == ["C1"]
    assert t["employers"]["employer_id"].to_list() == ["E000001"]
    assert t["slots"]["capacity"].sum() == 1
    assert t["preferences"].height <= 1


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"candidates": 0}, "candidates"),
        ({"employers": 0}, "employers"),
        ({"unlisted_share": -0.1}, "unlisted_share"),
        ({"unlisted_share": 1.5}, "unlisted_share"),
        ({"unlisted_share": float("nan")}, "unlisted_share"),
        ({"list_length": 0}, "list_length"),
        ({"seed": -1}, "seed"),
    ],
)
def test_bad_arguments_raise_value_error(kwargs: dict[str, Any], name: str) -> None:
    base: dict[str, Any] = {"candidates": 10, "employers": 5, "seed": 0}
    with pytest.raises(ValueError, match=name):
        generate_instance(**{**base, **kwargs})


@pytest.mark.parametrize(
    ("kwargs", "name"), [({"candidates": 2.5}, "candidates"), ({"list_length": True}, "list_length")]
)
def test_bad_argument_types_raise_type_error(kwargs: dict[str, Any], name: str) -> None:
    base: dict[str, Any] = {"candidates": 10, "employers": 5, "seed": 0}
    with pytest.raises(TypeError, match=name):
        generate_instance(**{**base, **kwargs})
