"""The shipped Japan policy encodes the programme facts of docs/domain.md; intake caps follow the staff-tier table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from matcher.data.policy import Policy, load_policy, neutral_policy, policy_from_dict
from matcher.data.reference import METRO_PREFECTURES, SECTORS, TRACKS

JAPAN_PATH = Path(__file__).resolve().parents[2] / "instances" / "policies" / "japan-2026.toml"


@pytest.fixture(scope="module")
def japan() -> Policy:
    return load_policy(JAPAN_PATH)


def _caps(
    policy: Policy,
    sector: str,
    group: str,
    staff: list[int],
    *,
    excellent: bool = False,
    prefecture: str = "Tokyo",
) -> list[int] | None:
    caps = policy.intake_caps(
        sector,
        group,
        full_time_staff=np.array(staff, dtype=np.int64),
        excellent=np.full(len(staff), excellent, dtype=bool),
        prefecture=[prefecture] * len(staff),
    )
    return None if caps is None else [int(c) for c in caps]


# ---- sectors, programs, national caps -----------------------------------------------
def test_japan_policy_loads(japan: Policy) -> None:
    assert japan.name == "japan-2026"
    assert japan.knows_sectors()
    assert len(japan.sectors) >= 16
    assert set(japan.sectors) == set(SECTORS)  # the 19 SSW sectors of January 2026
    assert japan.track_groups == {"esdp": ["esdp"], "ssw": ["ssw1", "ssw2"]}
    assert japan.group_of("ssw2") == "ssw" and japan.group_of("esdp") == "esdp"
    assert sorted(japan.regions["metro"]) == sorted(METRO_PREFECTURES)


def test_esdp_offered_in_17_sectors(japan: Policy) -> None:
    esdp = {s for s in japan.sectors if japan.allows(s, "esdp")}
    assert len(esdp) == 17
    assert set(japan.sectors) - esdp == {"automobile_transport", "aviation"}
    assert all(japan.allows(s, "ssw1") for s in japan.sectors)
    assert not japan.allows("nursing_care", "ssw2")  # nursing care has its own visa
    assert japan.allows("food_service", "ssw2") and japan.allows("fishery", "ssw2")
    assert not japan.allows("space_tourism", "ssw1")


@pytest.mark.parametrize(
    ("sector", "ssw", "esdp"),
    [
        ("nursing_care", 126_900, 33_800),
        ("building_cleaning", 32_200, 7_300),
        ("industrial_products_manufacturing", 199_500, 119_700),
        ("construction", 76_000, 123_500),
        ("accommodation", 14_800, 5_200),
        ("food_service", 50_000, 5_300),
        ("forestry", 900, 500),
        ("wood_industry", 4_500, 2_200),
        ("agriculture", 78_000, None),
        ("food_beverage_manufacturing", 139_000, None),
        ("automobile_transport", 24_500, None),
        ("shipbuilding", 36_000, None),
        ("automobile_maintenance", 10_000, None),
        ("aviation", 4_400, None),
        ("fishery", 17_000, None),
        ("railway", 3_800, None),
        ("linen_supply", None, None),
    ],
)
def test_national_caps(japan: Policy, sector: str, ssw: int | None, esdp: int | None) -> None:
    assert japan.national_cap(sector, "ssw") == ssw
    assert japan.national_cap(sector, "esdp") == esdp


def test_total_caps(japan: Policy) -> None:
    assert japan.total_caps == {"esdp": 426_200, "ssw": 805_700}
    assert sum(japan.national_cap(s, "ssw") or 0 for s in japan.sectors) <= 820_000


# ---- eligibility rules --------------------------------------------------------------
@pytest.mark.parametrize(
    ("sector", "track", "level", "skills"),
    [
        ("food_service", "esdp", "A1", False),
        ("agriculture", "esdp", "A1", False),
        ("nursing_care", "ssw1", "A2", True),
        ("construction", "ssw1", "A2", True),
        ("agriculture", "ssw2", "A2", True),
        ("food_service", "ssw2", "B1", True),  # JLPT N3
        ("fishery", "ssw2", "B1", True),  # JLPT N3
    ],
)
def test_language_and_skills_rules(japan: Policy, sector: str, track: str, level: str, skills: bool) -> None:
    rule = japan.rule(sector, track)
    assert rule.min_japanese_level == level
    assert bool(rule.skills_test_required) is skills


def test_policy_levels_accept_jlpt_names_and_are_normalized() -> None:
    p = policy_from_dict(
        {"rules": {"ssw1": {"min_japanese_level": "N4"}, "esdp": {"min_japanese_level": "a1"}}}
    )
    assert p.rule("food_service", "ssw1").min_japanese_level == "A2"
    assert p.rule("food_service", "esdp").min_japanese_level == "A1"


# ---- per-employer intake caps -------------------------------------------------------
STAFF = [0, 1, 2, 30, 31, 40, 41, 50, 51, 100, 101, 200, 201, 300, 301, 400]
#: The Technical Intern Training table: <=30 3, 31-40 4, 41-50 5, 51-100 6, 101-200 10,
#: 201-300 15, 301+ staff // 20; never more than full-time staff.
TABLE = [0, 1, 2, 3, 4, 4, 5, 5, 6, 6, 10, 10, 15, 15, 15, 20]


def test_intake_table_in_metro(japan: Policy) -> None:
    assert _caps(japan, "food_service", "esdp", STAFF, prefecture="Tokyo") == TABLE


def test_intake_excellent_doubles(japan: Policy) -> None:
    expected = [min(2 * t, s) for t, s in zip(TABLE, STAFF, strict=True)]
    assert expected == [0, 1, 2, 6, 8, 8, 10, 10, 12, 12, 20, 20, 30, 30, 30, 40]
    assert _caps(japan, "food_service", "esdp", STAFF, excellent=True, prefecture="Osaka") == expected


def test_intake_bonus_outside_metro(japan: Policy) -> None:
    # x1.5 rounded down: 3 -> 4, 5 -> 7, 15 -> 22; never above full-time staff.
    expected = [0, 1, 2, 4, 6, 6, 7, 7, 9, 9, 15, 15, 22, 22, 22, 30]
    assert _caps(japan, "agriculture", "esdp", STAFF, prefecture="Hokkaido") == expected
    # Excellent and outside metro: x3.
    expected_x3 = [0, 1, 2, 9, 12, 12, 15, 15, 18, 18, 30, 30, 45, 45, 45, 60]
    assert _caps(japan, "agriculture", "esdp", STAFF, excellent=True, prefecture="Ehime") == expected_x3


def test_intake_small_staff_never_exceeds_staff(japan: Policy) -> None:
    staff = [0, 1, 2, 3, 4, 5]
    assert _caps(japan, "wood_industry", "esdp", staff, excellent=True, prefecture="Iwate") == staff
    caps = _caps(japan, "wood_industry", "esdp", list(range(0, 1000, 7)), excellent=True, prefecture="Iwate")
    assert caps is not None and all(c <= s for c, s in zip(caps, range(0, 1000, 7), strict=True))


def test_intake_mixed_employers_vectorized(japan: Policy) -> None:
    caps = japan.intake_caps(
        "construction",
        "esdp",
        full_time_staff=np.array([30, 30, 30, 30, 350], dtype=np.int64),
        excellent=np.array([False, True, False, True, False]),
        prefecture=["Tokyo", "Tokyo", "Okinawa", "Okinawa", "Aichi"],
    )
    assert caps is not None and caps.tolist() == [3, 6, 4, 9, 17]


@pytest.mark.parametrize("sector", ["nursing_care", "construction"])
def test_ssw_cap_is_full_time_staff(japan: Policy, sector: str) -> None:
    staff = [0, 1, 30, 301, 5000]
    for excellent in (False, True):
        for pref in ("Tokyo", "Hokkaido"):
            assert _caps(japan, sector, "ssw", staff, excellent=excellent, prefecture=pref) == staff


@pytest.mark.parametrize("sector", ["food_service", "agriculture", "aviation"])
def test_no_ssw_intake_cap_elsewhere(japan: Policy, sector: str) -> None:
    assert _caps(japan, sector, "ssw", [10, 1000]) is None


def test_unknown_group_has_no_intake_cap(japan: Policy) -> None:
    assert _caps(japan, "food_service", "ssw1", [10]) is None


# ---- the neutral policy -------------------------------------------------------------
def test_neutral_policy_has_no_caps() -> None:
    p = neutral_policy()
    assert p.name == "neutral" and not p.knows_sectors()
    assert p.total_caps == {} and p.intake == [] and p.sectors == {}
    for sector in SECTORS:
        for track in TRACKS:
            assert p.allows(sector, track)
            assert p.national_cap(sector, p.group_of(track)) is None
            assert _caps(p, sector, p.group_of(track), [1, 100, 1000]) is None
            rule = p.rule(sector, track)
            assert (
                rule.min_japanese_level is None and not rule.skills_test_required and rule.min_score is None
            )


def test_policy_round_trips_through_summary_json(japan: Policy) -> None:
    # ``matcher verify`` rebuilds the policy from summary.json's model_dump.
    again = policy_from_dict(japan.model_dump(mode="json"))
    assert again == japan
    staff = np.array(STAFF, dtype=np.int64)
    for excellent in (False, True):
        ex = np.full(len(STAFF), excellent)
        a = japan.intake_caps(
            "forestry", "esdp", full_time_staff=staff, excellent=ex, prefecture=["Kochi"] * len(STAFF)
        )
        b = again.intake_caps(
            "forestry", "esdp", full_time_staff=staff, excellent=ex, prefecture=["Kochi"] * len(STAFF)
        )
        assert a is not None and b is not None and a.tolist() == b.tolist()
