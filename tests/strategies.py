"""Hypothesis strategies: small random instances and policies (as validated Instances)."""

from __future__ import annotations

import os
from typing import Any

import polars as pl
from hypothesis import strategies as st

from matcher import Instance, instance_from_frames
from matcher.data.policy import policy_from_dict

#: The test tier: ``full`` (``make test``) or ``fast`` (``make test-fast``: about an eighth
#: of the examples of each property test, for a quick check while editing).
TIER = os.environ.get("MATCHER_TEST_TIER", "full")


def examples(n: int) -> int:
    """Examples for a property test that runs ``n`` in the full tier."""
    return n if TIER == "full" else max(5, n // 8)


SECTORS = ("agriculture", "food_service")
TRACKS = ("esdp", "ssw1")
LEVELS = ("none", "A1", "A2", "B1")
PREFS = ("Tokyo", "Iwate", "Osaka")


@st.composite
def policies(
    draw: st.DrawFn,
    regional: bool = False,
    diversity: bool = False,
    floors: bool = False,
    fair: bool = False,
    employer: bool = False,
) -> dict[str, Any]:
    """A random policy exercising rules, national and total caps, intake rules (with
    ``employer``: also an intake rule per employer, capping its total over sectors)."""
    pol: dict[str, Any] = {
        "name": "random",
        "track_groups": {"esdp": ["esdp"], "ssw": ["ssw1", "ssw2"]},
        "regions": {"metro": ["Tokyo", "Osaka"]},
    }
    if draw(st.booleans()):
        pol["rules"] = {
            "ssw1": {
                "min_japanese_level": draw(st.sampled_from(LEVELS)),
                "skills_test_required": draw(st.booleans()),
            },
            "esdp": {"min_score": draw(st.sampled_from([0, 30, 60]))},
        }
    sectors: dict[str, Any] = {}
    for s in SECTORS:
        caps = {}
        for g in ("esdp", "ssw"):
            if draw(st.booleans()):
                caps[g] = draw(st.integers(0, 3))
        sectors[s] = {"caps": caps}
    pol["sectors"] = sectors
    if draw(st.booleans()):
        pol["total_caps"] = {"esdp": draw(st.integers(0, 4))}
    intake = []
    if draw(st.booleans()):
        intake.append(
            {
                "group": "esdp",
                "tiers": [[5, 1], [20, 2]],
                "staff_per_worker_above": 10,
                "excellent_multiplier": 2.0,
                "bonus_multiplier": 1.5,
                "bonus_outside_region": "metro",
            }
        )
    if draw(st.booleans()):
        intake.append({"group": "ssw", "max_staff_ratio": draw(st.sampled_from([0.1, 0.5, 1.0]))})
    if employer:
        rule: dict[str, Any] = {"group": draw(st.sampled_from(["esdp", "ssw"])), "per": "employer"}
        if draw(st.booleans()):
            rule["tiers"] = [[10, 1], [20, 2]]
            rule["staff_per_worker_above"] = 10
        else:
            rule["max_staff_ratio"] = draw(st.sampled_from([0.05, 0.1, 0.2]))
        if draw(st.booleans()):
            rule["sectors"] = [draw(st.sampled_from(SECTORS))]
        intake.append(rule)
    pol["intake"] = intake
    if regional and draw(st.booleans()):
        rcs: list[dict[str, Any]] = [{"region": "metro", "cap": draw(st.integers(0, 4))}]
        if draw(st.booleans()):  # overlaps metro without nesting: not a tree
            rcs.append({"prefectures": ["Tokyo", "Iwate"], "cap": draw(st.integers(0, 3))})
        if draw(st.booleans()):
            rcs.append({"prefectures": [draw(st.sampled_from(PREFS))], "cap": draw(st.integers(0, 2))})
        pol["regional_caps"] = rcs
    if fair:
        pol["objective"] = draw(
            st.sampled_from(
                [
                    {"kind": "max_min_fill"},
                    {"kind": "max_min_fill", "fill_over": "sector"},
                    {"kind": "max_min_nationality_score"},
                ]
            )
        )
    if floors:
        fls = []
        for _ in range(draw(st.integers(1, 2))):
            fl: dict[str, Any] = {"penalty": draw(st.sampled_from([0, 0, 1, 3]))}
            where = draw(st.sampled_from(["prefectures", "outside_region"]))
            if where == "prefectures":
                fl["prefectures"] = draw(
                    st.lists(st.sampled_from(PREFS), min_size=1, max_size=2, unique=True)
                )
            else:
                fl["outside_region"] = "metro"
            if draw(st.booleans()):
                fl["per"] = "employer"
                fl["min_share"] = draw(st.sampled_from([0.3, 0.5, 1.0]))
            elif draw(st.booleans()):
                fl["min"] = draw(st.integers(0, 3))
            else:
                fl["min_share"] = draw(st.sampled_from([0.25, 0.5]))
            if draw(st.booleans()):
                fl["groups"] = [draw(st.sampled_from(["esdp", "ssw"]))]
            fls.append(fl)
        pol["floors"] = fls
    if diversity:
        div: dict[str, Any] = {"peer_support": draw(st.booleans())}
        if draw(st.booleans()):
            div["max_share"] = draw(st.sampled_from([0.34, 0.5, 0.67, 1.0]))
            div["exempt_up_to"] = draw(st.integers(0, 2))
        pol["diversity"] = div
    return pol


@st.composite
def instances(
    draw: st.DrawFn,
    max_candidates: int = 6,
    max_employers: int = 3,
    with_policy: bool = True,
    fractional: bool = False,
    regional: bool = False,
    diversity: bool = False,
    joint: bool = False,
    floors: bool = False,
    fair: bool = False,
    employer: bool = False,
) -> Instance:
    """A random small instance; scores are integers, or have one decimal when fractional."""
    nc = draw(st.integers(1, max_candidates))
    ne = draw(st.integers(1, max_employers))
    cids = [f"c{i}" for i in range(nc)]
    eids = [f"e{i}" for i in range(ne)]
    cand = {
        "candidate_id": cids,
        "nationality": [draw(st.sampled_from(["VN", "ID", "PH"])) for _ in cids]
        if diversity
        else ["VN"] * nc,
        "japanese_level": [draw(st.sampled_from(LEVELS)) for _ in cids],
        "track": [draw(st.sampled_from(TRACKS)) for _ in cids],
    }
    apt_rows = []
    score = (
        st.integers(0, 1000).map(lambda v: v / 10)
        if fractional
        else st.integers(0, 4).map(lambda v: 60.0 + 10 * v)
    )
    for c in cids:
        for s in draw(st.lists(st.sampled_from(SECTORS), min_size=0, max_size=2, unique=True)):
            apt_rows.append(
                {"candidate_id": c, "sector": s, "score": draw(score), "skills_test": draw(st.booleans())}
            )
    emp = {
        "employer_id": eids,
        "prefecture": [draw(st.sampled_from(PREFS)) for _ in eids],
        "full_time_staff": [draw(st.integers(0, 30)) for _ in eids],
        "excellent": [draw(st.booleans()) for _ in eids],
        "min_japanese_level": [draw(st.sampled_from([None, None, "A1", "A2"])) for _ in eids],
    }
    slot_rows = []
    for e in eids:
        for s in draw(st.lists(st.sampled_from(SECTORS), min_size=1, max_size=2, unique=True)):
            for t in draw(st.lists(st.sampled_from(TRACKS), min_size=1, max_size=2, unique=True)):
                slot_rows.append(
                    {"employer_id": e, "sector": s, "track": t, "capacity": draw(st.integers(0, 3))}
                )
    pref_rows = []
    for c in cids:
        if draw(st.booleans()):
            listed = draw(st.permutations(eids))[: draw(st.integers(1, ne))]
            pref_rows += [{"candidate_id": c, "employer_id": e, "rank": r + 1} for r, e in enumerate(listed)]
    policy = (
        policy_from_dict(
            draw(
                policies(regional=regional, diversity=diversity, floors=floors, fair=fair, employer=employer)
            )
        )
        if diversity or floors or fair or employer or (with_policy and draw(st.booleans()))
        else None
    )
    joint_rows = []
    if joint:
        # Consecutive pairs (and a trio at most) of a random order form the groups.
        order = draw(st.permutations(cids))
        size = draw(st.integers(0, len(order)))
        k = 0
        while k + 1 < size:
            width = 3 if k + 2 < size and draw(st.booleans()) else 2
            joint_rows += [{"group_id": f"g{k}", "candidate_id": c} for c in order[k : k + width]]
            k += width
    return instance_from_frames(
        joint=pl.DataFrame(joint_rows, schema={"group_id": pl.String, "candidate_id": pl.String}),
        candidates=pl.DataFrame(cand),
        aptitudes=pl.DataFrame(
            apt_rows,
            schema={
                "candidate_id": pl.String,
                "sector": pl.String,
                "score": pl.Float64,
                "skills_test": pl.Boolean,
            },
        ),
        employers=pl.DataFrame(
            emp,
            schema={
                "employer_id": pl.String,
                "prefecture": pl.String,
                "full_time_staff": pl.Int64,
                "excellent": pl.Boolean,
                "min_japanese_level": pl.String,
            },
        ),
        slots=pl.DataFrame(
            slot_rows,
            schema={"employer_id": pl.String, "sector": pl.String, "track": pl.String, "capacity": pl.Int64},
        ),
        preferences=pl.DataFrame(
            pref_rows, schema={"candidate_id": pl.String, "employer_id": pl.String, "rank": pl.Int64}
        ),
        policy=policy,
    )
