"""Eligibility edges equal a plain-loop oracle; pair limits behave as documented."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import matcher
from matcher import Instance
from matcher.data.policy import policy_from_dict
from matcher.eligibility.edges import Edges, build_edges, count_pairs
from tests.oracle import eligible_pairs
from tests.strategies import examples, instances


def _pair_rows(edges: Edges) -> list[tuple[str, tuple[str, str, str], int, int]]:
    """The edges as the oracle states pairs: (candidate id, slot key, score * 100, rank)."""
    slots = edges.slots
    return sorted(
        (
            edges.candidate_ids[int(c)],
            (slots["employer_id"][int(s)], slots["sector"][int(s)], slots["track"][int(s)]),
            round(float(sc) * 100),
            int(r),
        )
        for c, s, sc, r in zip(edges.cand, edges.slot, edges.score, edges.rank, strict=True)
    )


@settings(max_examples=examples(200), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(max_candidates=8, max_employers=4, fractional=True))
def test_edges_equal_oracle(inst: Instance) -> None:
    edges = build_edges(inst)
    want = sorted((p.cand, p.slot, p.score, p.rank) for p in eligible_pairs(inst))
    assert _pair_rows(edges) == want
    counts = count_pairs(inst)
    assert counts["listed_pairs"] + counts["unlisted_pairs"] == len(want)


def _wide(n_cand: int, n_emp: int) -> Instance:
    """Candidates without lists, all eligible at every employer."""
    return matcher.instance_from_frames(
        candidates=pl.DataFrame(
            {
                "candidate_id": [f"c{i:03d}" for i in range(n_cand)],
                "nationality": "VN",
                "japanese_level": "A2",
                "track": "esdp",
            }
        ),
        aptitudes=pl.DataFrame(
            {
                "candidate_id": [f"c{i:03d}" for i in range(n_cand)],
                "sector": "agriculture",
                "score": [float(i % 100) for i in range(n_cand)],
            }
        ),
        employers=pl.DataFrame(
            {"employer_id": [f"e{j:03d}" for j in range(n_emp)], "prefecture": "Iwate", "full_time_staff": 10}
        ),
        slots=pl.DataFrame(
            {
                "employer_id": [f"e{j:03d}" for j in range(n_emp)],
                "sector": "agriculture",
                "track": "esdp",
                "capacity": 1,
            }
        ),
    )


def test_too_many_pairs_is_refused_before_building() -> None:
    inst = _wide(50, 40)
    with pytest.raises(matcher.TooManyPairsError) as err:
        matcher.solve(inst, max_pairs=1999)
    msg = str(err.value)
    assert "2,000 eligible candidate-slot pairs" in msg
    assert "max_pairs_per_candidate" in msg and "preference lists" in msg
    assert matcher.solve(inst, max_pairs=2000).objective.matched == 40


def test_pair_limit_per_candidate_samples_distinct_slots() -> None:
    base = _wide(50, 40)
    policy = policy_from_dict({"limits": {"max_pairs_per_candidate": 5}})
    inst = Instance(**{**base.__dict__, "policy": policy})
    edges = build_edges(inst, seed=3)
    per = pl.DataFrame({"c": edges.cand, "s": edges.slot})
    assert per.height == 250
    assert per.group_by("c").agg(pl.col("s").n_unique().alias("n"))["n"].to_list() == [5] * 50
    # Seeded: same seed, same sample; another seed, another sample.
    again = build_edges(inst, seed=3)
    assert (again.slot == edges.slot).all()
    assert not (build_edges(inst, seed=4).slot == edges.slot).all()
    res = matcher.solve(inst, seed=3)
    assert res.success and res.objective.matched <= 40


def test_listed_candidates_keep_best_ranks_under_limit() -> None:
    base = _wide(2, 10)
    prefs = pl.DataFrame(
        {
            "candidate_id": ["c000"] * 10,
            "employer_id": [f"e{j:03d}" for j in range(10)],
            "rank": list(range(10, 0, -1)),
        }
    )
    policy = policy_from_dict({"limits": {"max_pairs_per_candidate": 3}})
    inst = matcher.instance_from_frames(
        candidates=base.candidates,
        aptitudes=base.aptitudes,
        employers=base.employers,
        slots=base.slots,
        preferences=prefs,
        policy=policy,
    )
    edges = build_edges(inst)
    listed = sorted(int(r) for c, r in zip(edges.cand, edges.rank, strict=True) if c == 0)
    assert listed == [1, 2, 3]


def test_long_preference_lists_equal_oracle() -> None:
    # 60 listed employers with slots in two sectors give runs of more than 32 pairs, the
    # ones the edge kernel sorts by argsort instead of insertion sort.
    rng = np.random.default_rng(5)
    cids, eids = [f"c{i}" for i in range(3)], [f"e{j:02d}" for j in range(60)]
    levels = ["none", "A1", "A2", "B1"]
    inst = matcher.instance_from_frames(
        candidates=pl.DataFrame(
            {"candidate_id": cids, "nationality": "VN", "japanese_level": ["A2", "B1", "A1"], "track": "esdp"}
        ),
        aptitudes=pl.DataFrame(
            {
                "candidate_id": [c for c in cids for _ in range(2)],
                "sector": ["agriculture", "nursing_care"] * 3,
                "score": rng.integers(40, 100, 6).astype(float),
            }
        ),
        employers=pl.DataFrame(
            {
                "employer_id": eids,
                "prefecture": "Iwate",
                "full_time_staff": 10,
                "min_japanese_level": [levels[j % 4] for j in range(60)],
            }
        ),
        slots=pl.DataFrame(
            {
                "employer_id": eids + eids[::2],
                "sector": ["agriculture"] * 60 + ["nursing_care"] * 30,
                "track": "esdp",
                "capacity": 1,
            }
        ),
        preferences=pl.DataFrame(
            {
                "candidate_id": [c for c in cids for _ in range(60)],
                "employer_id": [e for _ in cids for e in rng.permutation(eids).tolist()],
                "rank": list(range(1, 61)) * 3,
            }
        ),
    )
    edges = build_edges(inst)
    assert np.bincount(edges.cand).max() > 32
    assert _pair_rows(edges) == sorted((p.cand, p.slot, p.score, p.rank) for p in eligible_pairs(inst))
    key = edges.cand.astype(np.int64) * edges.slots.height + edges.slot
    assert (np.diff(key) > 0).all()  # sorted by (cand, slot), no pair twice


@settings(max_examples=examples(80), deadline=None)
@given(
    ids=st.lists(st.integers(0, 30), unique=True, max_size=12),
    values=st.lists(st.integers(0, 40), max_size=30),
    ids_sorted=st.booleans(),
    values_sorted=st.booleans(),
)
def test_index_of_is_the_row_of_each_id(
    ids: list[int], values: list[int], ids_sorted: bool, values_sorted: bool
) -> None:
    """Binary search over runs (both columns sorted) and the enum (otherwise) both give
    each value's row in the table, null where the id is not there."""
    from matcher.eligibility.edges import _index_of

    table_ids = sorted(ids) if ids_sorted else ids[::-1]
    col = sorted(values) if values_sorted else values
    table = pl.DataFrame({"x": [f"id{i:02d}" for i in table_ids]}, schema={"x": pl.String})
    frame = pl.DataFrame({"x": [f"id{v:02d}" for v in col]}, schema={"x": pl.String})
    got = _index_of("x", table, frame)
    assert got.dtype == pl.Int32
    assert got.to_list() == [table_ids.index(v) if v in table_ids else None for v in col]
