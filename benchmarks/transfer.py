"""Transfer-round benchmark: synthetic ESDP workforces of 10k / 100k / 1M incumbents.

Each employer (one per 20 incumbents, 35% in the metro prefectures) runs one or two ESDP
programs; each program has 0-2 open vacancies. Workers have served 0-36 months, 85% passed
the skills test, Japanese levels none / A1 / A2 / B1; 70% list 5 employers of their
sector (metro-leaning, their current employer listed third half of the time). Runs under
the Japan policy (periods, tests, 1/3 and 1/6 limits) and the neutral policy; the round
is verified and its blocking pairs counted every time (included in the total). Under the
Japan policy it also counts the pairs the shares of the limits refuse although the
employer-wide limits would allow them (``refused``), and reruns the round with the limits
shared in proportion to incumbents (``limit_shares = "incumbents"``) to count its moves
and refusals.

    python -m benchmarks.transfer --quick    # 10k only
    python -m benchmarks.transfer            # 10k, 100k, 1M; writes results/transfer.{json,md}
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

import matcher
from matcher.data.policy import Policy
from matcher.data.reference import PREFECTURES
from matcher.transfer.verify import employer_wide_blocking_pairs

RESULTS = Path(__file__).parent / "results"
JAPAN = Path(__file__).parents[1] / "instances" / "policies" / "japan-2026.toml"
SECTORS = (
    "nursing_care",
    "building_cleaning",
    "industrial_products_manufacturing",
    "construction",
    "food_beverage_manufacturing",
    "food_service",
    "agriculture",
    "accommodation",
)
METRO = ("Saitama", "Chiba", "Tokyo", "Kanagawa", "Aichi", "Kyoto", "Osaka", "Hyogo")


def transfer_frames(n: int, seed: int) -> dict[str, pl.DataFrame]:
    """The tables of a synthetic round with ``n`` incumbents (vectorized)."""
    rng = np.random.default_rng(seed)
    m = max(4, n // 20)
    eids = np.array([f"e{i:07d}" for i in range(m)])
    others = [p for p in PREFECTURES if p not in METRO]
    metro = rng.random(m) < 0.35
    pref = np.where(metro, rng.choice(METRO, m), rng.choice(others, m))
    # Programs: every employer one sector, 30% a second one.
    s1 = rng.integers(0, len(SECTORS), m)
    two = rng.random(m) < 0.3
    s2 = (s1 + 1 + rng.integers(0, len(SECTORS) - 1, m)) % len(SECTORS)
    p_emp = np.concatenate([np.arange(m), np.flatnonzero(two)])
    p_sec = np.concatenate([s1, s2[two]])
    n_p = len(p_emp)
    cap = rng.integers(0, 3, n_p)
    # Incumbents spread over programs.
    w_prog = rng.integers(0, n_p, n)
    cids = np.array([f"w{i:08d}" for i in range(n)])
    w_sec = p_sec[w_prog]
    incumbents = pl.DataFrame(
        {
            "candidate_id": cids,
            "employer_id": eids[p_emp[w_prog]],
            "sector": np.array(SECTORS)[w_sec],
            "track": np.full(n, "esdp"),
            "months_served": rng.integers(0, 37, n),
            "transferred_in": rng.random(n) < 0.05,
        }
    )
    candidates = pl.DataFrame(
        {
            "candidate_id": cids,
            "nationality": np.full(n, "VN"),
            "japanese_level": rng.choice(np.array(["none", "A1", "A2", "B1"]), n, p=[0.05, 0.45, 0.4, 0.1]),
            "track": np.full(n, "esdp"),
        }
    )
    aptitudes = pl.DataFrame(
        {
            "candidate_id": cids,
            "sector": np.array(SECTORS)[w_sec],
            "score": np.round(rng.uniform(30, 100, n), 1),
            "skills_test": rng.random(n) < 0.85,
        }
    )
    employers = pl.DataFrame(
        {
            "employer_id": eids,
            "prefecture": pref,
            "full_time_staff": rng.integers(5, 300, m),
        }
    )
    slots = pl.DataFrame(
        {
            "employer_id": eids[p_emp],
            "sector": np.array(SECTORS)[p_sec],
            "track": np.full(n_p, "esdp"),
            "capacity": cap,
        }
    )
    # Preferences: 5 programs of the worker's sector, metro-leaning, sampled per sector.
    k = 5
    listing = np.flatnonzero(rng.random(n) < 0.7)
    weight = np.where(metro[p_emp], 2.0, 1.0)
    chosen = np.empty((len(listing), k), dtype=np.int64)
    for s in range(len(SECTORS)):
        progs = np.flatnonzero(p_sec == s)
        who = np.flatnonzero(w_sec[listing] == s)
        if len(progs) == 0 or len(who) == 0:
            continue
        w = weight[progs] / weight[progs].sum()
        chosen[who] = progs[rng.choice(len(progs), size=(len(who), k), p=w)]
    # Half the listers rank their current employer third.
    cur = rng.random(len(listing)) < 0.5
    chosen[cur, 2] = w_prog[listing[cur]]
    pairs = pl.DataFrame(
        {
            "candidate_id": np.repeat(cids[listing], k),
            "employer_id": eids[p_emp[chosen.ravel()]],
        }
    ).unique(maintain_order=True)  # drop repeated draws
    preferences = pairs.with_columns(pl.int_range(1, pl.len() + 1).over("candidate_id").alias("rank"))
    return {
        "candidates": candidates,
        "aptitudes": aptitudes,
        "employers": employers,
        "slots": slots,
        "preferences": preferences,
        "incumbents": incumbents,
    }


def _shares(policy: Policy, rule: str) -> Policy:
    return policy.model_copy(update={"transfer": policy.transfer.model_copy(update={"limit_shares": rule})})


def run(n: int, seed: int, policy: str | None) -> dict[str, Any]:
    start = time.perf_counter()
    frames = transfer_frames(n, seed)
    gen = time.perf_counter() - start
    start = time.perf_counter()
    inst = matcher.instance_from_frames(**frames, policy=policy)  # type: ignore[arg-type]
    load = time.perf_counter() - start
    start = time.perf_counter()
    res = matcher.transfer_round(inst, seed=seed)
    total = time.perf_counter() - start
    s = res.summary
    # What the shares cost: pairs the employer-wide choice without waste would take, under
    # the default shares and under shares in proportion to incumbents.
    limited = s["limits"]["employers_with_transferee_limit"] > 0
    refused = employer_wide_blocking_pairs(inst, res.moves, seed=seed).height if limited else 0
    moved_inc, refused_inc, round_inc = s["counts"]["moved"], refused, total
    if limited:
        other = dataclasses.replace(inst, policy=_shares(inst.policy, "incumbents"))
        start = time.perf_counter()
        res_inc = matcher.transfer_round(other, seed=seed)
        round_inc = time.perf_counter() - start
        moved_inc = res_inc.summary["counts"]["moved"]
        refused_inc = employer_wide_blocking_pairs(other, res_inc.moves, seed=seed).height
    return {
        "incumbents": n,
        "policy": inst.policy.name,
        "preference_rows": frames["preferences"].height,
        "acceptable_moves": s["counts"]["acceptable_moves"],
        "eligible": s["counts"]["eligible"],
        "moved": s["counts"]["moved"],
        "chains": s["chains"]["chains"],
        "cycles": s["chains"]["cycles"],
        "longest_chain": s["chains"]["longest"],
        "blocking_pairs": s["blocking_pairs"],
        "refused_by_shares": refused,
        "moved_incumbent_shares": moved_inc,
        "refused_by_incumbent_shares": refused_inc,
        "round_incumbent_shares_s": round(round_inc, 3),
        "generate_s": round(gen, 3),
        "validate_s": round(load, 3),
        "round_s": round(total, 3),
        "timings_s": s["timings_s"],
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="10k only")
    args = parser.parse_args()
    matcher.transfer_round(matcher.load_instance("instances/transfer-tiny"))  # compile the kernels
    sizes = [10_000] if args.quick else [10_000, 100_000, 1_000_000]
    rows = []
    for n in sizes:
        for policy in (str(JAPAN), None):
            row = run(n, 1, policy)
            rows.append(row)
            print(json.dumps(row), flush=True)
            if row["blocking_pairs"]:
                raise SystemExit(f"blocking pairs found: {row}")
    if not args.quick:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "transfer.json").write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
        head = (
            "| incumbents | policy | pref rows | eligible | acceptable moves | moved | refused | "
            "moved (incumbent shares) | refused (incumbent shares) | chains | cycles | longest | "
            "edges s | DA s | report s | verify s | round s | validate s |"
        )
        lines = [head, "|" + "---|" * 18]
        for r in rows:
            t = r["timings_s"]
            lines.append(
                f"| {r['incumbents']:,} | {r['policy']} | {r['preference_rows']:,} | {r['eligible']:,} | "
                f"{r['acceptable_moves']:,} | {r['moved']:,} | {r['refused_by_shares']:,} | "
                f"{r['moved_incumbent_shares']:,} | {r['refused_by_incumbent_shares']:,} | "
                f"{r['chains']:,} | {r['cycles']:,} | "
                f"{r['longest_chain']} | {t['edges']} | {t['solve']} | {t['report']} | {t['verify']} | "
                f"{r['round_s']} | {r['validate_s']} |"
            )
        (RESULTS / "transfer.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
