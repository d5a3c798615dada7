"""Transfer rounds: hand-checked cases, an independent oracle, the verifier, bad input, CLI.

The oracle below shares nothing with :mod:`matcher.transfer.round` or
:mod:`matcher.transfer.verify` but the lottery: plain Python loops over the raw tables
recompute eligibility, preferences, the ratio limits (and their per-program shares), the
programs' greedy choice, blocking pairs and, on tiny instances, every stable outcome by
brute force (the mechanism's must be the worker-optimal one).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import matcher
from matcher import InputError, Instance, instance_from_frames, transfer_round
from matcher.cli import app
from matcher.data.policy import policy_from_dict
from matcher.data.reference import JAPANESE_LEVELS
from matcher.eligibility.lottery import lottery_numbers
from matcher.transfer.verify import (
    KINDS,
    employer_wide_blocking_pairs,
    transfer_blocking_pairs,
    verify_transfer,
)
from tests.strategies import examples

REPO = Path(__file__).resolve().parents[2]
TT = REPO / "instances" / "transfer-tiny"
JAPAN = REPO / "instances" / "policies" / "japan-2026.toml"
SETTINGS = settings(max_examples=examples(80), deadline=None, suppress_health_check=[HealthCheck.too_slow])
runner = CliRunner()

EMP_SCHEMA = {
    "employer_id": pl.String,
    "prefecture": pl.String,
    "full_time_staff": pl.Int64,
    "excellent": pl.Boolean,
    "min_japanese_level": pl.String,
}
INC_SCHEMA = {
    "candidate_id": pl.String,
    "employer_id": pl.String,
    "sector": pl.String,
    "track": pl.String,
    "months_served": pl.Int64,
    "transferred_in": pl.Boolean,
}


# ---- building small instances ---------------------------------------------------------
def build(
    employers: dict[str, str | tuple[str, str | None]],
    slots: list[tuple[str, str, int] | tuple[str, str, int, str]],
    workers: list[dict[str, Any]],
    prefs: dict[str, list[str]],
    *,
    policy: dict[str, Any] | None = None,
    rankings: list[tuple[str, str, int]] = (),  # type: ignore[assignment]
) -> Instance:
    """Employers {id: prefecture or (prefecture, min level)}; slots (emp, sector, capacity[, track]);
    workers dicts with id, emp, sector and optional months, score, skills, level, tin, track."""
    emp_rows = []
    for e, v in employers.items():
        pref, lvl = (v, None) if isinstance(v, str) else v
        emp_rows.append(
            {
                "employer_id": e,
                "prefecture": pref,
                "full_time_staff": 10,
                "excellent": False,
                "min_japanese_level": lvl,
            }
        )
    slot_rows = [
        {"employer_id": s[0], "sector": s[1], "track": s[3] if len(s) > 3 else "esdp", "capacity": s[2]}  # type: ignore[misc]
        for s in slots
    ]
    cand, apt, inc = [], [], []
    for w in workers:
        track = w.get("track", "esdp")
        cand.append(
            {
                "candidate_id": w["id"],
                "nationality": "VN",
                "japanese_level": w.get("level", "A2"),
                "track": track,
            }
        )
        if w.get("score", 50) is not None:
            apt.append(
                {
                    "candidate_id": w["id"],
                    "sector": w["sector"],
                    "score": float(w.get("score", 50)),
                    "skills_test": w.get("skills", True),
                }
            )
        inc.append(
            {
                "candidate_id": w["id"],
                "employer_id": w["emp"],
                "sector": w["sector"],
                "track": track,
                "months_served": w.get("months", 36),
                "transferred_in": w.get("tin", False),
            }
        )
    pref_rows = [
        {"candidate_id": c, "employer_id": e, "rank": i + 1}
        for c, lst in prefs.items()
        for i, e in enumerate(lst)
    ]
    return instance_from_frames(
        candidates=pl.DataFrame(cand),
        aptitudes=pl.DataFrame(
            apt,
            schema={
                "candidate_id": pl.String,
                "sector": pl.String,
                "score": pl.Float64,
                "skills_test": pl.Boolean,
            },
        ),
        employers=pl.DataFrame(emp_rows, schema=EMP_SCHEMA),
        slots=pl.DataFrame(
            slot_rows,
            schema={"employer_id": pl.String, "sector": pl.String, "track": pl.String, "capacity": pl.Int64},
        ),
        preferences=pl.DataFrame(
            pref_rows, schema={"candidate_id": pl.String, "employer_id": pl.String, "rank": pl.Int64}
        ),
        employer_rankings=pl.DataFrame(
            [{"employer_id": e, "candidate_id": c, "rank": r} for e, c, r in rankings],
            schema={"employer_id": pl.String, "candidate_id": pl.String, "rank": pl.Int64},
        ),
        incumbents=pl.DataFrame(inc, schema=INC_SCHEMA),
        policy=policy_from_dict(policy) if policy is not None else None,
    )


def moved(res: matcher.TransferResult) -> dict[str, str]:
    return dict(res.moves.select("candidate_id", "to_employer").iter_rows())


def outcome(res: matcher.TransferResult) -> dict[str, tuple[str, str | None]]:
    return {c: (o, r) for c, o, r in res.outcomes.select("candidate_id", "outcome", "reason").iter_rows()}


# ---- the oracle -------------------------------------------------------------------------
class Oracle:
    """Plain-Python reading of the documented rules (docs/methods/transfer.md)."""

    def __init__(self, inst: Instance, seed: int) -> None:
        tp = inst.policy.transfer
        self.tp = tp
        lv = {x: i for i, x in enumerate(JAPANESE_LEVELS)}
        self.level = {
            r["candidate_id"]: lv[r["japanese_level"]] for r in inst.candidates.iter_rows(named=True)
        }
        self.apt = {(r["candidate_id"], r["sector"]): r for r in inst.aptitudes.iter_rows(named=True)}
        self.emp = {r["employer_id"]: r for r in inst.employers.iter_rows(named=True)}
        self.slots = {
            (r["employer_id"], r["sector"], r["track"]): r["capacity"]
            for r in inst.slots.iter_rows(named=True)
        }
        self.inc = {r["candidate_id"]: r for r in inst.incumbents.iter_rows(named=True)}
        self.prefs: dict[str, dict[str, int]] = {}
        for r in inst.preferences.iter_rows(named=True):
            self.prefs.setdefault(r["candidate_id"], {})[r["employer_id"]] = r["rank"]
        self.erank = {
            (r["employer_id"], r["candidate_id"]): r["rank"]
            for r in inst.employer_rankings.iter_rows(named=True)
        }
        self.r_max = max(self.erank.values(), default=0)
        ids = inst.candidates.get_column("candidate_id")
        self.lot = dict(zip(ids.to_list(), lottery_numbers(ids, seed).tolist(), strict=True))
        self.n = max(len(ids), 1)
        region = set(inst.policy.regions.get(tp.other_prefecture_region or "", []))
        # Limits per employer, then per-program shares (largest remainders).
        self.Q: dict[str, int | None] = {}
        self.X: dict[str, int | None] = {}
        for e, row in self.emp.items():
            ws = [c for c, r in self.inc.items() if r["employer_id"] == e and r["track"] in tp.tracks]
            n_w = len(ws)
            n_t = sum(1 for c in ws if self.inc[c]["transferred_in"])
            ts, xs = tp.share("transferee"), tp.share("other_prefecture")
            self.Q[e] = None if ts is None else max(0, int(Fraction(n_w) * ts) - n_t)
            self.X[e] = (
                None
                if xs is None or row["prefecture"] not in region
                else max(0, int(Fraction(n_w) * xs) - n_t)
            )
        self.progs = sorted(p for p in self.slots if p[2] in tp.tracks)
        self.inc_at = {
            p: [c for c, r in self.inc.items() if (r["employer_id"], r["sector"], r["track"]) == p]
            for p in self.progs
        }
        self.q: dict[tuple[str, str, str], int | None] = {}
        self.x: dict[tuple[str, str, str], int | None] = {}
        # A program's reach: open vacancies + incumbents free to move.
        self.reach = {p: self.slots[p] + sum(self.may_move(c) for c in self.inc_at[p]) for p in self.progs}
        by_seats = tp.limit_shares == "seats"
        for e in self.emp:
            mine = [p for p in self.progs if p[0] == e]
            wt = {p: self.reach[p] if by_seats else len(self.inc_at[p]) for p in mine}
            n_w = sum(wt.values())
            for lim, out in ((self.Q[e], self.q), (self.X[e], self.x)):
                if lim is None:
                    for p in mine:
                        out[p] = None
                    continue
                base = {p: (lim * wt[p] // n_w if n_w else 0) for p in mine}
                rem = {p: (lim * wt[p] % n_w if n_w else 0) for p in mine}
                short = lim - sum(base.values())
                for p in sorted(mine, key=lambda p: (-rem[p], p))[:short]:
                    if rem[p] > 0:
                        base[p] += 1
                if by_seats:
                    base = {p: min(b, self.reach[p]) for p, b in base.items()}
                out.update(base)
        for p in self.progs:
            if self.x[p] is not None and self.q[p] is not None:
                self.x[p] = min(self.x[p], self.q[p])  # type: ignore[type-var]

    def may_move(self, c: str) -> bool:
        r, tp = self.inc[c], self.tp
        apt = self.apt.get((c, r["sector"]))
        need = JAPANESE_LEVELS.index(tp.min_japanese_level) if tp.min_japanese_level else 0
        return (
            r["track"] in tp.tracks
            and r["months_served"] >= tp.sector_period_months.get(r["sector"], tp.period_months)
            and (not tp.skills_test_required or bool(apt and apt["skills_test"]))
            and self.level[c] >= need
        )

    def home(self, c: str) -> tuple[str, str, str]:
        r = self.inc[c]
        return (r["employer_id"], r["sector"], r["track"])

    def acceptable(self, c: str) -> list[tuple[str, str, str]]:
        """Programs the worker prefers to its current one, best first."""
        if not self.may_move(c):
            return []
        h = self.home(c)
        ranks = self.prefs.get(c, {})
        out = []
        for e, rk in sorted(ranks.items(), key=lambda kv: kv[1]):
            p = (e, h[1], h[2])
            if e == h[0] or p not in self.slots or (h[0] in ranks and rk >= ranks[h[0]]):
                continue
            if self.level[c] < JAPANESE_LEVELS.index(self.emp[e]["min_japanese_level"] or "none"):
                continue
            out.append(p)
        return out

    def key(self, c: str, e: str) -> int:
        if (e, c) in self.erank:
            return self.erank[(e, c)] * self.n + self.lot[c]
        apt = self.apt.get((c, self.inc[c]["sector"]))
        s = round((apt["score"] if apt else 0.0) * 100)
        return (self.r_max + 1 + 10_000 - s) * self.n + self.lot[c]

    def cross(self, c: str, p: tuple[str, str, str]) -> bool:
        return self.emp[self.inc[c]["employer_id"]]["prefecture"] != self.emp[p[0]]["prefecture"]

    def choice(self, p: tuple[str, str, str], people: list[str]) -> set[str]:
        """The program's greedy choice: its own incumbents first, then by priority under the caps."""
        cap = len(self.inc_at[p]) + self.slots[p]
        own = [c for c in people if self.home(c) == p]
        others = sorted((c for c in people if self.home(c) != p), key=lambda c: self.key(c, p[0]))
        chosen = set(own)
        t = xc = 0
        for c in others:
            cr = self.cross(c, p)
            if len(chosen) >= cap or (self.q[p] is not None and t >= self.q[p]):  # type: ignore[operator]
                continue
            if cr and self.x[p] is not None and xc >= self.x[p]:  # type: ignore[operator]
                continue
            chosen.add(c)
            t += 1
            xc += cr
        return chosen

    def final(self, moves: dict[str, tuple[str, str, str]]) -> dict[tuple[str, str, str], list[str]]:
        at: dict[tuple[str, str, str], list[str]] = {p: [] for p in self.progs}
        for c in self.inc:
            p = moves.get(c, self.home(c))
            at.setdefault(p, []).append(c)
        return at

    def feasible(self, moves: dict[str, tuple[str, str, str]]) -> bool:
        at = self.final(moves)
        return all(set(at[p]) == self.choice(p, at[p]) for p in self.progs)

    def blocking(self, moves: dict[str, tuple[str, str, str]]) -> list[tuple[str, tuple[str, str, str]]]:
        at = self.final(moves)
        out = []
        for c in self.inc:
            acc = self.acceptable(c)
            now = moves.get(c)
            better = acc if now is None else acc[: acc.index(now)]
            for p in better:
                if c in self.choice(p, [*at[p], c]):
                    out.append((c, p))
        return out


def as_moves(res: matcher.TransferResult) -> dict[str, tuple[str, str, str]]:
    return {
        c: (e, s, t)
        for c, e, s, t in res.moves.select("candidate_id", "to_employer", "sector", "track").iter_rows()
    }


# ---- hand-checked cases --------------------------------------------------------------
def test_transfer_tiny_chain_and_cycle() -> None:
    res = transfer_round(matcher.load_instance(TT))
    assert res.success and res.status.value == "optimal"
    assert moved(res) == {"W1": "A", "W2": "B", "W3": "C", "W4": "D", "W5": "C"}
    chains = res.chains.select(
        "chain_id", "step", "kind", "candidate_id", "from_employer", "to_employer"
    ).rows()
    assert chains == [
        (1, 1, "chain", "W1", "B", "A"),  # fills A's open vacancy
        (1, 2, "chain", "W2", "C", "B"),  # W1's old seat
        (1, 3, "chain", "W3", "D", "C"),  # W2's old seat; D's seat stays open
        (2, 1, "cycle", "W4", "C", "D"),  # two agriculture workers swap
        (2, 2, "cycle", "W5", "D", "C"),
    ]
    assert outcome(res)["W6"] == ("stayed", "no_better_option")
    assert outcome(res)["W7"] == ("stayed", "not_admitted")  # W2 (80) beats W7 (60) at B
    open_ = {(e, s): o for e, s, o in res.vacancies.select("employer_id", "sector", "open").iter_rows()}
    assert open_ == {
        ("A", "food_service"): 0,
        ("B", "food_service"): 0,
        ("C", "food_service"): 0,
        ("C", "agriculture"): 0,
        ("D", "food_service"): 1,
        ("D", "agriculture"): 0,
    }
    s = res.summary
    assert s["counts"]["moved"] == 5 and s["chains"] == {
        "chains": 1,
        "cycles": 1,
        "longest": 3,
        "mean_length": 2.5,
        "by_length": {"2": 1, "3": 1},
    }
    assert s["verified"] and s["blocking_pairs"] == 0


def test_transfer_tiny_japan_policy() -> None:
    res = transfer_round(matcher.load_instance(TT, policy=JAPAN))
    assert res.moves.height == 0
    o = outcome(res)
    assert o["W3"] == ("not_eligible", "period")  # 10 months, food service needs 24
    assert o["W5"] == ("not_eligible", "skills_test")
    assert o["W1"] == ("stayed", "not_admitted")  # every employer has < 3 ESDP workers: limit 0
    assert res.summary["limits"]["transferee_limit_total"] == 0


def _limit_instance(policy: dict[str, Any], *, r_pref: str, tin: bool = False) -> Instance:
    """R has 6 workers and 3 open vacancies; a1 (90) and a2 (80) work in Osaka, a3 (70) in Tokyo."""
    workers = [
        {"id": f"r{i}", "emp": "R", "sector": "food_service", "tin": tin and i == 1} for i in range(1, 7)
    ]
    workers += [
        {"id": "a1", "emp": "S1", "sector": "food_service", "score": 90},
        {"id": "a2", "emp": "S2", "sector": "food_service", "score": 80},
        {"id": "a3", "emp": "S3", "sector": "food_service", "score": 70},
    ]
    return build(
        {"R": r_pref, "S1": "Osaka", "S2": "Osaka", "S3": "Tokyo"},
        [
            ("R", "food_service", 3),
            ("S1", "food_service", 0),
            ("S2", "food_service", 0),
            ("S3", "food_service", 0),
        ],
        workers,
        {"a1": ["R"], "a2": ["R"], "a3": ["R"]},
        policy=policy,
    )


def test_one_third_limit_binds() -> None:
    pol = {"transfer": {"max_transferee_share": "1/3"}}
    res = transfer_round(_limit_instance(pol, r_pref="Iwate"))
    assert moved(res) == {"a1": "R", "a2": "R"}  # floor(6/3) = 2, by aptitude
    assert outcome(res)["a3"] == ("stayed", "not_admitted")
    assert res.summary["limits"]["employers_at_transferee_limit"] == 1
    # An earlier transferee counts against the limit: 2 - 1 = 1.
    res = transfer_round(_limit_instance(pol, r_pref="Iwate", tin=True))
    assert moved(res) == {"a1": "R"}
    # Without the limit all three fit in the 3 vacancies.
    assert len(moved(transfer_round(_limit_instance({}, r_pref="Iwate")))) == 3


def test_one_sixth_limit_binds_in_the_region() -> None:
    pol = {
        "regions": {"metro": ["Tokyo", "Osaka"]},
        "transfer": {
            "max_transferee_share": "1/3",
            "max_other_prefecture_share": "1/6",
            "other_prefecture_region": "metro",
        },
    }
    res = transfer_round(_limit_instance(pol, r_pref="Tokyo"))
    # Q = 2, X = floor(6/6) = 1: a1 (Osaka) takes the one cross-prefecture place, a2 (Osaka)
    # is refused although it outranks a3 (Tokyo, same prefecture as R).
    assert moved(res) == {"a1": "R", "a3": "R"}
    assert res.summary["limits"]["employers_at_other_prefecture_limit"] == 1
    # Outside the region only the 1/3 limit applies.
    assert moved(transfer_round(_limit_instance(pol, r_pref="Iwate"))) == {"a1": "R", "a2": "R"}
    # The earlier transferee counts against 1/6 too (its origin is unknown): X = 0.
    assert moved(transfer_round(_limit_instance(pol, r_pref="Tokyo", tin=True))) == {"a3": "R"}


JAPAN_LIMITS: dict[str, Any] = {
    "regions": {"metro": ["Tokyo", "Osaka"]},
    "transfer": {
        "period_months": 24,
        "max_transferee_share": "1/3",
        "max_other_prefecture_share": "1/6",
        "other_prefecture_region": "metro",
    },
}


def _with_shares(policy: dict[str, Any], rule: str) -> dict[str, Any]:
    return {**policy, "transfer": {**policy["transfer"], "limit_shares": rule}}


def _new_sector_instance(rule: str) -> Instance:
    """N (Tokyo) has 9 ESDP workers in food service, 1 an earlier transferee, none free to
    move yet, and opens agriculture with 3 vacancies. a1, a2 (Tokyo) and a3 (Osaka, best
    score) want to move there."""
    workers: list[dict[str, Any]] = [
        {"id": f"n{i}", "emp": "N", "sector": "food_service", "months": 6, "tin": i == 1}
        for i in range(1, 10)
    ]
    workers += [
        {"id": "a1", "emp": "S1", "sector": "agriculture", "score": 80},
        {"id": "a2", "emp": "S1", "sector": "agriculture", "score": 70},
        {"id": "a3", "emp": "S2", "sector": "agriculture", "score": 90},
    ]
    return build(
        {"N": "Tokyo", "S1": "Tokyo", "S2": "Osaka"},
        [
            ("N", "food_service", 0),
            ("N", "agriculture", 3),
            ("S1", "agriculture", 0),
            ("S2", "agriculture", 0),
        ],
        workers,
        {"a1": ["N"], "a2": ["N"], "a3": ["N"]},
        policy=_with_shares(JAPAN_LIMITS, rule),
    )


def test_a_new_program_receives_transferees() -> None:
    """The worked example: 9 workers, 1 earlier transferee, in Tokyo: Q = 3 - 1 = 2 and
    X = 1 - 1 = 0. The new sector has no incumbents but 3 vacancies: it can take both
    transferees the employer may receive, neither from another prefecture."""
    res = transfer_round(_new_sector_instance("seats"))
    assert moved(res) == {"a1": "N", "a2": "N"}
    assert outcome(res)["a3"] == ("stayed", "not_admitted")  # Osaka -> Tokyo: X = 0
    lim = res.summary["limits"]
    assert (lim["transferee_limit_total"], lim["transferees_received"]) == (2, 2)
    assert res.summary["blocking_pairs"] == 0
    # Split by incumbents, the new program's share is 0: no one can move there.
    assert moved(transfer_round(_new_sector_instance("incumbents"))) == {}


def _blocked_by_split_instance(rule: str) -> Instance:
    """R has food service (6 incumbents, 1 vacancy) and agriculture (3 incumbents, 2
    vacancies), none of them free to move: Q = floor(9 / 3) = 3. f1 wants food service,
    b1 and b2 agriculture."""
    workers: list[dict[str, Any]] = [
        {"id": f"r{i}", "emp": "R", "sector": "food_service", "months": 0} for i in range(6)
    ]
    workers += [{"id": f"s{i}", "emp": "R", "sector": "agriculture", "months": 0} for i in range(3)]
    workers += [
        {"id": "f1", "emp": "S", "sector": "food_service"},
        {"id": "b1", "emp": "S", "sector": "agriculture", "score": 80},
        {"id": "b2", "emp": "S", "sector": "agriculture", "score": 70},
    ]
    pol = {"transfer": {"period_months": 24, "max_transferee_share": "1/3", "limit_shares": rule}}
    return build(
        {"R": "Iwate", "S": "Iwate"},
        [
            ("R", "food_service", 1),
            ("R", "agriculture", 2),
            ("S", "food_service", 0),
            ("S", "agriculture", 0),
        ],
        workers,
        {"f1": ["R"], "b1": ["R"], "b2": ["R"]},
        policy=pol,
    )


def test_split_by_incumbents_blocked_a_move_the_rule_allows() -> None:
    """Split by incumbents R's 3 transferees are 2 for food service and 1 for agriculture,
    so b2 is refused although R may receive a third. The programs can take at most 1 and
    2 transferees, which fits the limit: every applicant moves and the limit holds."""
    old = transfer_round(_blocked_by_split_instance("incumbents"))
    assert moved(old) == {"f1": "R", "b1": "R"}
    assert outcome(old)["b2"] == ("stayed", "not_admitted")
    new = transfer_round(_blocked_by_split_instance("seats"))
    assert moved(new) == {"f1": "R", "b1": "R", "b2": "R"}
    assert new.summary["limits"]["employers_at_transferee_limit"] == 1  # R: 3 of 3
    assert verify_transfer(_blocked_by_split_instance("seats"), new.moves).ok
    # b2 -> R is a move the employer-wide rule allows and the incumbents split refused.
    blocked = employer_wide_blocking_pairs(_blocked_by_split_instance("incumbents"), old.moves, seed=0)
    assert blocked.select("candidate_id", "employer_id").rows() == [("b2", "R")]
    assert employer_wide_blocking_pairs(_blocked_by_split_instance("seats"), new.moves, seed=0).height == 0


Placed = list[tuple[str, tuple[str, str, str]]]


def exact_choice(o: Oracle, e: str, people: Placed) -> set[str]:
    """Employer e's choice with its limits applied employer-wide, never wastefully: its
    staying incumbents, then every applicant in priority order whose program has a seat
    and for whom Q_e (and X_e) has room."""
    at = dict(people)
    chosen = {c for c, p in at.items() if o.home(c) == p}
    used = {p: sum(1 for c in chosen if at[c] == p) for p in set(at.values())}
    t = x = 0
    for c in sorted((c for c in at if c not in chosen), key=lambda c: o.key(c, e)):
        p, cr = at[c], o.cross(c, at[c])
        if used[p] >= len(o.inc_at[p]) + o.slots[p]:
            continue
        if (o.Q[e] is not None and t >= o.Q[e]) or (cr and o.X[e] is not None and x >= o.X[e]):  # type: ignore[operator]
            continue
        chosen.add(c)
        used[p] += 1
        t += 1
        x += cr
    return chosen


def exact_blocking(o: Oracle, mv: dict[str, tuple[str, str, str]]) -> set[tuple[str, tuple[str, str, str]]]:
    """Pairs that block ``mv`` under :func:`exact_choice`."""
    by_emp: dict[str, Placed] = {}
    for c in o.inc:
        p = mv.get(c, o.home(c))
        by_emp.setdefault(p[0], []).append((c, p))
    out = set()
    for c in o.inc:
        acc = o.acceptable(c)
        for p in acc[: acc.index(mv[c])] if c in mv else acc:
            if c in exact_choice(o, p[0], [*by_emp.get(p[0], []), (c, p)]):
                out.add((c, p))
    return out


def test_employer_wide_limits_applied_without_waste_can_have_no_stable_outcome() -> None:
    """Why the limits are shared out before the round. E (Q_E = 1) has agriculture with
    its one seat held by u, and food service with 1 vacancy; F (Q_F = 1) has one vacancy in
    each. u (agriculture at E) wants F; t1 (agriculture, 90) wants E; t2 (food service, 80)
    wants E, then F. E ranks t1 over t2, F ranks t2 over u. If u stays, F would take u; if
    u goes, t1 takes u's seat and E's one transferee, t2 goes to F and F prefers t2 to u;
    so u comes back, t1 is out, E would take t2, ... No outcome is stable under the
    employer-wide choice, so no mechanism can be stable under it."""
    workers: list[dict[str, Any]] = [
        {"id": "u", "emp": "E", "sector": "agriculture", "score": 50},
        {"id": "t1", "emp": "G", "sector": "agriculture", "score": 90},
        {"id": "t2", "emp": "H", "sector": "food_service", "score": 80},
    ]
    workers += [{"id": f"e{i}", "emp": "E", "sector": "food_service", "months": 0} for i in range(2)]
    workers += [{"id": f"f{i}", "emp": "F", "sector": "agriculture", "months": 0} for i in range(3)]
    inst = build(
        dict.fromkeys("EFGH", "Iwate"),
        [
            ("E", "agriculture", 0),
            ("E", "food_service", 1),
            ("F", "agriculture", 1),
            ("F", "food_service", 1),
            ("G", "agriculture", 0),
            ("H", "food_service", 0),
        ],
        workers,
        {"u": ["F"], "t1": ["E"], "t2": ["E", "F"]},
        policy={"transfer": {"period_months": 12, "max_transferee_share": "1/3"}},
    )
    o = Oracle(inst, 0)
    assert (o.Q["E"], o.Q["F"]) == (1, 1)
    movers = ["u", "t1", "t2"]
    stable = []
    for combo in itertools.product(*([None, *o.acceptable(c)] for c in movers)):
        mv = {c: p for c, p in zip(movers, combo, strict=True) if p is not None}
        where = {c: mv.get(c, o.home(c)) for c in o.inc}
        by_emp: dict[str, Placed] = {}
        for c, p in where.items():
            by_emp.setdefault(p[0], []).append((c, p))
        if any(exact_choice(o, e, g) != {c for c, _ in g} for e, g in by_emp.items()):
            continue  # infeasible
        blocked = any(
            c in exact_choice(o, p[0], [*by_emp.get(p[0], []), (c, p)])
            for c in movers
            for p in o.acceptable(c)[: o.acceptable(c).index(mv[c]) if c in mv else None]
        )
        if not blocked:
            stable.append(mv)
    assert stable == []
    # The round shares the limits out and is stable under its own rule; the limits hold.
    res = transfer_round(inst)
    assert res.summary["blocking_pairs"] == 0 and verify_transfer(inst, res.moves).ok
    assert o.blocking(as_moves(res)) == []
    # Under the employer-wide choice t2 would block with F (F prefers t2 to u).
    ew = employer_wide_blocking_pairs(inst, res.moves, seed=0)
    assert ew.select("candidate_id", "employer_id").rows() == [("t2", "F")]


def test_period_and_tests_exclude_workers() -> None:
    pol = {
        "transfer": {
            "period_months": 24,
            "sector_period_months": {"agriculture": 12},
            "skills_test_required": True,
            "min_japanese_level": "A2",
        }
    }
    workers = [
        {"id": "ok", "emp": "A", "sector": "agriculture", "months": 12},
        {"id": "early", "emp": "A", "sector": "food_service", "months": 23},
        {"id": "noskill", "emp": "A", "sector": "agriculture", "skills": False},
        {"id": "noapt", "emp": "A", "sector": "agriculture", "score": None},
        {"id": "lowlang", "emp": "A", "sector": "agriculture", "level": "A1"},
        {"id": "all3", "emp": "A", "sector": "food_service", "months": 1, "skills": False, "level": "none"},
        {"id": "ssw", "emp": "A", "sector": "agriculture", "track": "ssw1"},
    ]
    inst = build(
        {"A": "Iwate", "B": "Iwate"},
        [
            ("A", "agriculture", 0),
            ("A", "food_service", 0),
            ("B", "agriculture", 9),
            ("B", "food_service", 9),
            ("A", "agriculture", 0, "ssw1"),
            ("B", "agriculture", 9, "ssw1"),
        ],
        workers,
        {w["id"]: ["B"] for w in workers},
        policy={**pol, "transfer": {**pol["transfer"], "tracks": ["esdp"]}},
    )
    res = transfer_round(inst)
    assert moved(res) == {"ok": "B"}
    o = outcome(res)
    assert o["early"] == ("not_eligible", "period")
    assert o["noskill"] == ("not_eligible", "skills_test")
    assert o["noapt"] == ("not_eligible", "skills_test")  # no aptitude row: no skills test
    assert o["lowlang"] == ("not_eligible", "language")
    assert o["all3"] == ("not_eligible", "period,skills_test,language")
    assert o["ssw"] == ("not_eligible", "track")
    assert res.summary["counts"]["not_eligible_by_reason"] == {
        "language": 2,
        "period": 2,
        "skills_test": 3,
        "track": 1,
    }


def test_preferences_employer_level_and_rankings() -> None:
    workers = [
        {"id": "w1", "emp": "A", "sector": "food_service", "score": 90, "level": "A1"},
        {"id": "w2", "emp": "A", "sector": "food_service", "score": 60},
        {"id": "w3", "emp": "B", "sector": "food_service", "score": 50},
    ]
    emps: dict[str, str | tuple[str, str | None]] = {"A": "Iwate", "B": ("Iwate", "A2"), "C": "Iwate"}
    slots: list[tuple[str, str, int] | tuple[str, str, int, str]] = [
        ("A", "food_service", 0),
        ("B", "food_service", 0),
        ("C", "food_service", 1),
    ]
    # w1 is below B's level; w2 ranks its current employer A above C: stays; w3 moves to C.
    res = transfer_round(build(emps, slots, workers, {"w1": ["B"], "w2": ["A", "C"], "w3": ["C"]}))
    assert moved(res) == {"w3": "C"}
    o = outcome(res)
    assert o["w1"] == ("stayed", "no_better_option") and o["w2"] == ("stayed", "no_better_option")
    # w2 (60) and w3 (50) both want C's single vacancy: aptitude decides, unless C ranks w3 first.
    prefs = {"w2": ["C"], "w3": ["C"]}
    assert moved(transfer_round(build(emps, slots, workers, prefs))) == {"w2": "C"}
    ranked = transfer_round(build(emps, slots, workers, prefs, rankings=[("C", "w3", 1)]))
    assert moved(ranked) == {"w3": "C"}


def test_returning_worker_reclaims_its_seat() -> None:
    """x is tentatively placed in y's seat at B; y fails at C and returns, displacing x."""
    workers = [
        {"id": "x", "emp": "A", "sector": "food_service", "score": 90},
        {"id": "y", "emp": "B", "sector": "food_service", "score": 10},
        {"id": "z", "emp": "D", "sector": "food_service", "score": 80},
    ]
    res = transfer_round(
        build(
            {"A": "Iwate", "B": "Iwate", "C": "Iwate", "D": "Iwate"},
            [
                ("A", "food_service", 0),
                ("B", "food_service", 0),
                ("C", "food_service", 1),
                ("D", "food_service", 0),
            ],
            workers,
            {"x": ["B"], "y": ["C"], "z": ["C"]},
        )
    )
    # x takes y's seat while y holds C's vacancy; z (80) displaces y (10) at C; y returns
    # to B with top priority there and x goes back to A.
    assert moved(res) == {"z": "C"}
    assert outcome(res)["x"] == ("stayed", "not_admitted")
    assert outcome(res)["y"] == ("stayed", "not_admitted")
    assert res.chains.select("kind", "candidate_id").rows() == [("chain", "z")]


def test_no_incumbents_is_an_input_error() -> None:
    with pytest.raises(InputError, match="no incumbents"):
        transfer_round(matcher.load_instance(REPO / "instances" / "tiny"))


# ---- the oracle on random instances ------------------------------------------------------
@st.composite
def transfer_instances(draw: st.DrawFn, max_workers: int = 7, limits: bool = False) -> Instance:
    """Random small rounds; ``limits``: everyone may move and both ratio limits are set."""
    ne = draw(st.integers(2, 4))
    eids = [f"E{i}" for i in range(ne)]
    emps: dict[str, str | tuple[str, str | None]] = {
        e: (
            draw(st.sampled_from(["Tokyo", "Osaka", "Iwate"])),
            draw(st.sampled_from([None, None, None, "A2"])),
        )
        for e in eids
    }
    slots: list[tuple[str, str, int] | tuple[str, str, int, str]] = []
    for e in eids:
        for s in draw(
            st.lists(st.sampled_from(["agriculture", "food_service"]), min_size=1, max_size=2, unique=True)
        ):
            slots.append((e, s, draw(st.integers(0, 3 if e == "E0" else 2))))
        if draw(st.integers(0, 4)) == 0:
            slots.append((e, "agriculture", draw(st.integers(0, 1)), "ssw1"))
    # Hub mode: many workers at E0 and E0 first in lists, so that E0's limits bind.
    hub = draw(st.booleans())
    hub_slots = [s for s in slots if s[0] == "E0" and len(s) == 3]
    nw = draw(st.integers(1, max_workers))
    workers = []
    for i in range(nw):
        slot = draw(st.sampled_from(hub_slots * 2 + slots if hub else slots))
        workers.append(
            {
                "id": f"w{i}",
                "emp": slot[0],
                "sector": slot[1],
                "track": slot[3] if len(slot) > 3 else "esdp",  # type: ignore[misc]
                "months": draw(st.sampled_from([0, 6, 12, 24])),
                "score": draw(st.sampled_from([50, 60, 70, None])),
                "skills": draw(st.booleans()),
                "level": draw(st.sampled_from(["none", "A1", "A2"])),
                "tin": draw(st.integers(0, 3)) == 0,
            }
        )
    prefs = {}
    for w in workers:
        if draw(st.integers(0, 5)) > 0:
            listed = draw(st.permutations(eids))[: draw(st.integers(1, ne))]
            if hub and w["emp"] != "E0":
                listed = ["E0", *(e for e in listed if e != "E0")]
            prefs[w["id"]] = listed
    rankings = []
    if draw(st.booleans()):
        e = draw(st.sampled_from(eids))
        ranked = draw(st.permutations([w["id"] for w in workers]))[: draw(st.integers(0, nw))]
        rankings = [(e, c, r + 1) for r, c in enumerate(ranked)]
    policy: dict[str, Any] = {"regions": {"metro": ["Tokyo", "Osaka"]}}
    if limits:
        policy["transfer"] = {
            "tracks": ["esdp", "ssw1"],
            "max_transferee_share": draw(st.sampled_from(["1/3", "1/2", "2/3", "1/1"])),
            "max_other_prefecture_share": draw(st.sampled_from(["1/6", "1/3", "1/2"])),
            "other_prefecture_region": "metro",
            "limit_shares": draw(st.sampled_from(["seats", "incumbents"])),
        }
    elif draw(st.integers(0, 3)) > 0:
        tr: dict[str, Any] = {
            "period_months": draw(st.sampled_from([0, 12])),
            "sector_period_months": {"agriculture": draw(st.sampled_from([0, 6]))},
            "skills_test_required": draw(st.booleans()),
            "min_japanese_level": draw(st.sampled_from(["none", "A1"])),
            "tracks": draw(st.sampled_from([["esdp"], ["esdp", "ssw1"]])),
        }
        share = draw(st.sampled_from([None, "1/3", "1/2", "1/2", "2/3", "1/1"]))
        if share is not None:
            tr["max_transferee_share"] = share
        other = draw(st.sampled_from([None, "1/6", "1/3", "1/2", "1/2"]))
        if other is not None:
            tr["max_other_prefecture_share"] = other
            tr["other_prefecture_region"] = "metro"
        tr["limit_shares"] = draw(st.sampled_from(["seats", "incumbents"]))
        policy["transfer"] = tr
    return build(emps, slots, workers, prefs, policy=policy, rankings=rankings)


@SETTINGS
@given(st.one_of(transfer_instances(), transfer_instances(max_workers=9, limits=True)), st.integers(0, 3))
def test_properties_against_the_oracle(inst: Instance, seed: int) -> None:
    res = transfer_round(inst, seed=seed)
    o = Oracle(inst, seed)
    mv = as_moves(res)
    # Only eligible workers move, within their sector and track, to a program they prefer.
    for c, p in mv.items():
        assert o.may_move(c) and p in o.acceptable(c), (c, p)
    # Capacities and per-program shares hold (the program's choice keeps everyone placed).
    assert o.feasible(mv)
    # Employer-wide ratio limits, counted as documented.
    for e in o.emp:
        got = [c for c, p in mv.items() if p[0] == e]
        if o.Q[e] is not None:
            assert len(got) <= o.Q[e]  # type: ignore[operator]
        if o.X[e] is not None:
            assert sum(o.cross(c, mv[c]) for c in got) <= o.X[e]  # type: ignore[operator]
    # "seats": where an employer's programs cannot reach its limits, the limits never
    # bind, so the round is the one without them (the limits apply exactly).
    if o.tp.limit_shares == "seats" and all(
        lim is None or sum(o.reach[p] for p in o.progs if p[0] == e) <= lim
        for e in o.emp
        for lim in (o.Q[e], o.X[e])
    ):
        free = dataclasses.replace(
            inst,
            policy=inst.policy.model_copy(
                update={
                    "transfer": o.tp.model_copy(
                        update={"max_transferee_share": None, "max_other_prefecture_share": None}
                    )
                }
            ),
        )
        assert as_moves(transfer_round(free, seed=seed, verify=False)) == mv
    # Stable among eligible workers, by the oracle and by the library's own checker.
    assert o.blocking(mv) == []
    assert transfer_blocking_pairs(inst, res.moves, seed=seed).height == 0
    assert verify_transfer(inst, res.moves).ok
    # The diagnostic of what the shares cost agrees with the oracle's employer-wide choice.
    ew = employer_wide_blocking_pairs(inst, res.moves, seed=seed)
    assert {(c, (e, s, t)) for c, e, s, t in ew.rows()} == exact_blocking(o, mv)
    # Outcomes: every incumbent once, consistent with the moves.
    assert res.outcomes.height == inst.incumbents.height
    for c, out, reason in res.outcomes.select("candidate_id", "outcome", "reason").iter_rows():
        if c in mv:
            assert out == "moved" and reason is None
        elif not o.may_move(c):
            assert out == "not_eligible" and reason
        else:
            assert out == "stayed"
            assert reason == ("not_admitted" if o.acceptable(c) else "no_better_option")
    check_chains(res, inst)


def check_chains(res: matcher.TransferResult, inst: Instance) -> None:
    """Every move in exactly one chain; each step fills the seat the previous one left."""
    ch = res.chains
    assert sorted(ch.get_column("candidate_id").to_list()) == sorted(
        res.moves.get_column("candidate_id").to_list()
    )
    slots = {
        (e, s, t): cap
        for e, s, t, cap in inst.slots.select("employer_id", "sector", "track", "capacity").iter_rows()
    }
    heads_into_vacancy: dict[tuple[str, str, str], int] = {}
    for (cid, kind), g in ch.group_by(["chain_id", "kind"], maintain_order=True):
        rows = g.sort("step").rows(named=True)
        assert [r["step"] for r in rows] == list(range(1, len(rows) + 1)), cid
        for a, b in itertools.pairwise(rows):
            assert b["to_employer"] == a["from_employer"]
            assert (b["sector"], b["track"]) == (a["sector"], a["track"])
        if kind == "cycle":
            assert rows[0]["to_employer"] == rows[-1]["from_employer"]
        else:
            p = (rows[0]["to_employer"], rows[0]["sector"], rows[0]["track"])
            heads_into_vacancy[p] = heads_into_vacancy.get(p, 0) + 1
    for p, n in heads_into_vacancy.items():
        assert n <= slots[p], "more chains start at a program than it had open vacancies"
    v = res.vacancies
    assert (v.get_column("open") >= 0).all()
    assert int(v.get_column("open").sum()) == int(
        (v.get_column("declared_vacancies") + v.get_column("departed") - v.get_column("arrived")).sum()
    )


@settings(max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(transfer_instances(max_workers=5), transfer_instances(max_workers=5, limits=True)),
    st.integers(0, 2),
)
def test_worker_optimal_among_all_stable_outcomes(inst: Instance, seed: int) -> None:
    """Brute force: the round's outcome is stable and every worker weakly prefers it to any
    other stable outcome (it is the worker-optimal one)."""
    o = Oracle(inst, seed)
    res = transfer_round(inst, seed=seed)
    mv = as_moves(res)
    workers = sorted(o.inc)
    options = [[None, *o.acceptable(c)] for c in workers]
    total = 1
    for opt in options:
        total *= len(opt)
    if total > 5000:
        return
    pos = {c: {p: i for i, p in enumerate(o.acceptable(c))} for c in workers}

    def rank(c: str, p: tuple[str, str, str] | None) -> int:
        return len(pos[c]) if p is None else pos[c][p]

    stable_found = 0
    for combo in itertools.product(*options):
        cand = {c: p for c, p in zip(workers, combo, strict=True) if p is not None}
        if not o.feasible(cand) or o.blocking(cand):
            continue
        stable_found += 1
        for c in workers:
            assert rank(c, mv.get(c)) <= rank(c, cand.get(c)), (c, mv, cand)
    assert stable_found >= 1  # the round's own outcome is among them


# ---- the verifier catches a planted violation of each kind ----------------------------------
def test_verifier_catches_each_kind() -> None:
    inst = matcher.load_instance(TT)
    good = transfer_round(inst).moves
    assert verify_transfer(inst, good).ok

    def row(c: str, f: str, t: str, s: str = "food_service", tr: str = "esdp") -> pl.DataFrame:
        return pl.DataFrame(
            {"candidate_id": [c], "from_employer": [f], "to_employer": [t], "sector": [s], "track": [tr]}
        )

    def caught(kind: str, moves: pl.DataFrame, instance: Instance = inst) -> None:
        check = verify_transfer(instance, moves)
        assert check.count(kind) >= 1, f"{kind} not caught:\n{check}"
        assert kind in str(check)

    def swap(c: str, **values: str) -> pl.DataFrame:
        return good.with_columns(
            [
                pl.when(pl.col("candidate_id") == c).then(pl.lit(v)).otherwise(pl.col(k)).alias(k)
                for k, v in values.items()
            ]
        )

    planted = {
        "unknown_worker": pl.concat([good, row("nobody", "A", "B")]),
        "moved_twice": pl.concat([good, row("W1", "B", "C")]),
        "wrong_origin": swap("W1", from_employer="C"),
        "program_changed": swap("W1", sector="agriculture"),
        "worse_off": pl.concat([good, row("W6", "A", "D")]),
        "capacity": pl.concat([good, row("W7", "A", "B")]),
    }
    for kind, moves in planted.items():
        caught(kind, moves)
    caught("not_eligible", good, matcher.load_instance(TT, policy=JAPAN))
    strict = instance_from_frames(
        candidates=inst.candidates,
        aptitudes=inst.aptitudes,
        employers=inst.employers.with_columns(pl.lit("B2").alias("min_japanese_level")),
        slots=inst.slots,
        preferences=inst.preferences,
        incumbents=inst.incumbents,
    )
    caught("employer_level", good, strict)
    limited = instance_from_frames(
        candidates=inst.candidates,
        aptitudes=inst.aptitudes,
        employers=inst.employers,
        slots=inst.slots,
        preferences=inst.preferences,
        incumbents=inst.incumbents,
        policy=policy_from_dict(
            {
                "regions": {"metro": ["Tokyo"]},
                "transfer": {
                    "max_transferee_share": "1/3",
                    "max_other_prefecture_share": "1/6",
                    "other_prefecture_region": "metro",
                },
            }
        ),
    )
    caught("transferee_limit", good, limited)
    caught("other_prefecture_limit", good, limited)
    covered = {*planted, "not_eligible", "employer_level", "transferee_limit", "other_prefecture_limit"}
    assert covered == set(KINDS)


def test_blocking_pair_checker_finds_instability() -> None:
    inst = matcher.load_instance(TT)
    # Nobody moves: W1 would take A's free seat, W4 and W5 would swap.
    empty = transfer_round(inst).moves.head(0)
    pairs = transfer_blocking_pairs(inst, empty, seed=0)
    assert ("W1", "A", "free_seat") in pairs.select("candidate_id", "employer_id", "reason").rows()
    assert Oracle(inst, 0).blocking({}) != []


# ---- bad input ----------------------------------------------------------------------
def _tt_frames() -> dict[str, pl.DataFrame]:
    return {p.stem: pl.read_csv(p, infer_schema=False) for p in TT.glob("*.csv")}


def test_bad_incumbents_all_reported(tmp_path: Path) -> None:
    frames = _tt_frames()
    inc = frames["incumbents"]
    bad = pl.DataFrame(
        {
            "candidate_id": ["ZZ", "W6", "W8", "W2", "W3", "W4"],
            "employer_id": ["A", "NOPE", "B", "B", "D", "C"],
            "sector": [
                "food_service",
                "food_service",
                "agriculture",
                "food_service",
                "food_service",
                "agriculture",
            ],
            "track": ["esdp"] * 6,
            "months_served": ["1", "2", "3", "-1", "1.5", "abc"],
            "transferred_in": ["false", "no", "maybe", "", "1", "0"],
        }
    )
    frames["incumbents"] = pl.concat([inc, bad])
    frames["candidates"] = pl.concat(
        [
            frames["candidates"],
            pl.DataFrame(
                {
                    "candidate_id": ["W8"],
                    "nationality": ["VN"],
                    "japanese_level": ["A1"],
                    "track": ["esdp"],
                    "prefecture": [None],
                }
            ),
        ],
        how="vertical_relaxed",
    )
    with pytest.raises(InputError) as info:
        instance_from_frames(**frames)  # type: ignore[arg-type]
    exc = info.value
    f = "incumbents (DataFrame)"
    expect = [
        (8, "candidate_id", "unknown candidate", "ZZ"),
        (9, "employer_id", "unknown employer", "W6"),
        (10, "sector", "employer did not declare this program", "W8"),
        (10, "transferred_in", "not a boolean", "W8"),
        (11, "months_served", "must be >= 0", "W2"),
        (12, "months_served", "not a whole number", "W3"),
        (13, "months_served", "not a number", "W4"),
        (11, "candidate_id", "duplicate incumbent", "W2"),
    ]
    for row, col, msg, ident in expect:
        hits = [
            p for p in exc.problems if p.file == f and p.row == row and p.column == col and msg in p.message
        ]
        assert hits, f"missing {row} {col} {msg}:\n{exc}"
        assert ident in str(hits[0])
    # The CLI: exit 2, every problem listed, nothing written.
    d = tmp_path / "inst"
    d.mkdir()
    for stem, frame in frames.items():
        frame.write_csv(d / f"{stem}.csv")
    out = tmp_path / "out"
    res = runner.invoke(app, ["transfer", str(d), "--out", str(out), "--quiet"])
    assert res.exit_code == 2, res.output
    assert "incumbents.csv, row 9, column employer_id" in res.output
    assert "not a boolean" in res.output and "duplicate incumbent" in res.output
    assert not out.exists()


def test_transfer_policy_errors() -> None:
    with pytest.raises(InputError) as info:
        policy_from_dict(
            {
                "sectors": {"agriculture": {}},
                "transfer": {
                    "tracks": ["esdp", "bogus"],
                    "sector_period_months": {"fishing": 12},
                    "max_other_prefecture_share": "1/6",
                },
            }
        )
    text = str(info.value)
    assert "transfer.tracks" in text and "transfer.sector_period_months.fishing" in text
    assert "transfer.other_prefecture_region" in text
    with pytest.raises(InputError, match=r"transfer\.max_transferee_share"):
        policy_from_dict({"transfer": {"max_transferee_share": "3/2"}})
    with pytest.raises(InputError, match=r"transfer\.other_prefecture_region"):
        policy_from_dict({"transfer": {"other_prefecture_region": "nowhere"}})
    with pytest.raises(InputError, match=r"transfer\.period"):
        policy_from_dict({"transfer": {"period": 3}})
    p = matcher.load_policy(JAPAN).transfer
    assert (p.period("agriculture"), p.period("nursing_care"), p.period("linen_supply")) == (12, 24, 12)
    assert str(p.share("transferee")) == "1/3" and str(p.share("other_prefecture")) == "1/6"
    assert p.tracks == ["esdp"] and p.skills_test_required and p.min_japanese_level == "A1"
    neutral = matcher.neutral_policy().transfer
    assert neutral.period("anything") == 0 and neutral.share("transferee") is None


# ---- CLI end to end ---------------------------------------------------------------------
def test_cli_transfer_end_to_end(tmp_path: Path) -> None:
    for fmt in ("csv", "parquet"):
        a, b = tmp_path / f"a-{fmt}", tmp_path / f"b-{fmt}"
        for out in (a, b):
            res = runner.invoke(app, ["transfer", str(TT), "--out", str(out), "--format", fmt, "--quiet"])
            assert res.exit_code == 0, res.output
            assert "moved" in res.output and "chains / cycles" in res.output
        names = sorted(p.name for p in a.iterdir())
        assert names == sorted(
            [f"{t}.{fmt}" for t in ("moves", "chains", "vacancies", "outcomes")]
            + ["summary.json", ".matcher-output.json"]
        )
        for name in names:
            if name != "summary.json":
                assert (a / name).read_bytes() == (b / name).read_bytes()
        sa, sb = (json.loads((d / "summary.json").read_text()) for d in (a, b))
        sa.pop("timings_s"), sb.pop("timings_s")
        assert sa == sb and sa["counts"]["moved"] == 5 and sa["verified"]
    moves = pl.read_csv(tmp_path / "a-csv" / "moves.csv")
    assert moves.columns == ["candidate_id", "from_employer", "to_employer", "sector", "track"]
    res = runner.invoke(app, ["transfer", str(TT), "--policy", str(JAPAN), "--seed", "3", "--quiet"])
    assert res.exit_code == 0 and "japan-2026" in res.output
    res = runner.invoke(app, ["transfer", str(REPO / "instances" / "tiny"), "--out", str(tmp_path / "x")])
    assert res.exit_code == 2 and "no incumbents" in res.output and not (tmp_path / "x").exists()
    res = runner.invoke(app, ["transfer", str(TT), "--format", "ods"])
    assert res.exit_code == 2
