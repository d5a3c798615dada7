"""The caps table: rows and counts against the assignments, the shadow prices against
re-solves with one seat more and one fewer, the one-more-placement flag, the dual
feasibility of the potentials they come from, and the file ``matcher solve --out`` writes."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import polars as pl
from hypothesis import given, settings
from typer.testing import CliRunner

import matcher
from matcher.cli import app
from matcher.eligibility.constraints import floor_units
from matcher.eligibility.edges import Edges, build_edges
from matcher.output.caps import CAPS_SCHEMA, KINDS, NOT_AVAILABLE, NOT_COMPUTED, SCORE_DUAL, caps_table
from matcher.solvers.core import solve_core
from matcher.solvers.core.duals import tree_duals
from matcher.status import Status
from tests.strategies import examples, instances

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "instances" / "tiny"
runner = CliRunner()


def _limits(edges: Edges) -> dict[str, np.ndarray]:
    caps = edges.caps
    return {
        "slot": edges.slots.get_column("capacity").to_numpy().astype(np.int64),
        "intake": caps.intake_cap.copy(),
        "national": caps.national_cap.copy(),
        "total": caps.total_cap.copy(),
    }


def _with_limit(edges: Edges, level: str, node: int, limit: int) -> Edges:
    """``edges`` with one cap of the tree set to ``limit`` (the same pairs and nodes)."""
    caps = edges.caps
    if level == "slot":
        cap = edges.slots.get_column("capacity").to_numpy().astype(np.int64)
        cap[node] = limit
        return replace(edges, slots=edges.slots.with_columns(pl.Series("capacity", cap, dtype=pl.Int64)))
    field = {"intake": "intake_cap", "national": "national_cap", "total": "total_cap"}[level]
    arr = getattr(caps, field).copy()
    arr[node] = limit
    return replace(edges, caps=replace(caps, **{field: arr}))


def _value(edges: Edges, chosen: np.ndarray, decimals: int) -> tuple[int, int]:
    """(placed, total score in units of 10**-decimals) of a solution."""
    score = np.rint(edges.score * 10**decimals).astype(np.int64)
    return len(chosen), int(score[chosen].sum())


def _direct_counts(res: matcher.MatchResult, table: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """Placements per cap counted from the assignments alone (group from the slot rows)."""
    slots = table.filter(pl.col("kind") == "slot").select("employer_id", "sector", "track", "group")
    placed = res.assignments.join(slots, on=["employer_id", "sector", "track"], how="left")
    return {
        "slot": placed.group_by("employer_id", "sector", "track").len(),
        "employer_intake": placed.group_by("employer_id", "sector", "group").len(),
        "national_sector": placed.group_by("sector", "group").len(),
        "track_group_total": placed.group_by("group").len(),
    }


def _check_counts(res: matcher.MatchResult) -> None:
    table = res.tables["caps"]
    assert table.columns == list(CAPS_SCHEMA)
    assert set(table.get_column("kind")) <= set(KINDS)
    for kind, counted in _direct_counts(res, table).items():
        rows = table.filter(pl.col("kind") == kind)
        keys = [c for c in counted.columns if c != "len"]
        joined = rows.join(counted, on=keys, how="left").with_columns(pl.col("len").fill_null(0))
        assert joined.get_column("used").to_list() == joined.get_column("len").to_list(), kind
    slack = table.get_column("limit") - table.get_column("used")
    tree = table.filter(pl.col("kind") != "floor")
    assert (tree.get_column("slack") == (tree.get_column("limit") - tree.get_column("used"))).all()
    assert (table.get_column("binds") == (table.get_column("slack") == 0)).all()
    assert (slack.filter(table.get_column("kind") != "floor") >= 0).all()


def _check_dual_feasible(edges: Edges, chosen: np.ndarray, pot: np.ndarray, decimals: int) -> None:
    """The score potentials are optimal duals for the chosen flow: no residual arc of
    negative reduced cost under costs ``-score`` (checked on every arc, pairs included)."""
    n_cand = int(edges.candidate_ids.len())
    slot0 = 2 + n_cand
    x = np.zeros(edges.n_pairs, dtype=bool)
    x[chosen] = True
    score = np.rint(edges.score * 10**decimals).astype(np.int64)
    red = -score + pot[2 + edges.cand.astype(np.int64)] - pot[slot0 + edges.slot.astype(np.int64)]
    assert (red[~x] >= 0).all() and (red[x] <= 0).all()
    with_pairs = edges.candidates_with_pairs()
    placed = np.zeros(n_cand, dtype=bool)
    placed[edges.cand[chosen]] = True
    red_src = pot[0] - pot[2 + with_pairs]
    assert (red_src[~placed[with_pairs]] >= 0).all() and (red_src[placed[with_pairs]] <= 0).all()


def _check_prices(inst: matcher.Instance) -> None:
    """Every binding tree cap against re-solves with one seat more and one fewer."""
    edges = build_edges(inst)
    decimals = matcher.solve(inst, backend="core").summary["score_decimals"]
    sol = solve_core(edges, score_decimals=decimals)
    assert sol.status is Status.OPTIMAL
    _check_dual_feasible(edges, sol.chosen, sol.score_potentials, decimals)
    duals = tree_duals(edges, sol, score_decimals=decimals)
    assert duals.price is not None
    placed, value = _value(edges, sol.chosen, decimals)
    unit = 10**decimals
    for level, limits in _limits(edges).items():
        for node in np.flatnonzero(limits >= 0):
            price = float(duals.price[level][node])
            one_more = bool(duals.one_more[level][node])
            if duals.flow[level][node] < limits[node]:
                assert price == 0 and not one_more, (level, node)
                continue
            up = solve_core(_with_limit(edges, level, node, int(limits[node]) + 1), score_decimals=decimals)
            up_placed, up_value = _value(edges, up.chosen, decimals)
            assert up_placed == placed + int(one_more), (level, node)
            if up_placed == placed:
                assert (up_value - value) / unit <= price + 1e-6, (level, node)
            if limits[node] >= 1:
                down = solve_core(
                    _with_limit(edges, level, node, int(limits[node]) - 1), score_decimals=decimals
                )
                down_placed, down_value = _value(edges, down.chosen, decimals)
                if down_placed == placed:
                    assert (value - down_value) / unit >= price - 1e-6, (level, node)


def test_tiny_table_and_summary() -> None:
    res = matcher.solve(TINY, backend="core")
    table = res.tables["caps"]
    # Tiny's policy has no intake, national or total caps: the three declared slots.
    assert table.select("kind", "employer_id", "limit", "used", "slack", "binds").rows() == [
        ("slot", "E1", 1, 1, 0, True),
        ("slot", "E2", 2, 2, 0, True),
        ("slot", "E3", 1, 1, 0, True),
    ]
    assert table.get_column("shadow_price_kind").to_list() == [SCORE_DUAL] * 3
    # C5 has no eligible pair: no seat anywhere places one more candidate.
    assert table.get_column("placements_per_seat").to_list() == [0, 0, 0]
    # One more seat at E1 lets C1 move from E2 (agriculture, 70) to E1 (food service, 90):
    # +20, which the price bounds from above.
    e1 = table.filter(pl.col("employer_id") == "E1").get_column("shadow_price").item()
    assert e1 >= 20
    slots = pl.read_csv(TINY / "slots.csv").with_columns(
        pl.when(pl.col("employer_id") == "E1").then(2).otherwise(pl.col("capacity")).alias("capacity")
    )
    frames = {name: pl.read_csv(TINY / f"{name}.csv") for name in ("candidates", "aptitudes", "employers")}
    more = matcher.instance_from_frames(
        **frames, slots=slots, preferences=pl.read_csv(TINY / "preferences.csv")
    )
    bigger = matcher.solve(more, backend="core")
    assert bigger.objective.matched == res.objective.matched
    assert bigger.objective.total_score - res.objective.total_score == 20
    section = res.summary["caps"]
    assert section["by_kind"] == {"slot": {"caps": 3, "binding": 3}}
    assert section["shadow_price_kind"] == SCORE_DUAL
    prices = [row["shadow_price"] for row in section["highest_shadow_prices"]]
    assert prices == sorted(prices, reverse=True) and len(prices) == 3
    _check_prices(matcher.load_instance(TINY))


def test_tiny_under_the_japan_policy_has_intake_national_and_total_caps() -> None:
    res = matcher.solve(TINY, policy=ROOT / "instances" / "policies" / "japan-2026.toml", backend="core")
    table = res.tables["caps"]
    kinds = set(table.get_column("kind"))
    assert {"slot", "employer_intake", "national_sector", "track_group_total"} <= kinds
    _check_counts(res)
    # A cap with room has no price and no placement to give.
    loose = table.filter(~pl.col("binds"))
    assert (loose.get_column("shadow_price") == 0).all()
    assert (loose.get_column("placements_per_seat") == 0).all()


def test_stable_method_has_use_but_no_prices() -> None:
    res = matcher.solve(TINY, method="stable")
    table = res.tables["caps"]
    _check_counts(res)
    assert table.get_column("shadow_price").null_count() == table.height
    assert table.get_column("placements_per_seat").null_count() == table.height
    assert set(table.get_column("shadow_price_kind")) == {NOT_AVAILABLE}


def test_caps_table_without_duals_has_null_prices() -> None:
    inst = matcher.load_instance(TINY)
    edges = build_edges(inst)
    table = caps_table(inst, edges, np.zeros(0, dtype=np.int64))
    assert table.get_column("used").to_list() == [0, 0, 0]
    assert table.get_column("shadow_price").null_count() == 3


@settings(max_examples=examples(60), deadline=None)
@given(inst=instances(max_candidates=6))
def test_counts_and_prices_on_random_instances(inst: matcher.Instance) -> None:
    res = matcher.solve(inst, backend="core")
    _check_counts(res)
    table = res.tables["caps"]
    loose = table.filter(~pl.col("binds"))
    assert (loose.get_column("shadow_price") == 0).all()
    _check_prices(inst)


def test_cli_writes_the_caps_table(tmp_path: Path) -> None:
    out = tmp_path / "res"
    res = runner.invoke(app, ["solve", str(TINY), "--out", str(out)])
    assert res.exit_code == 0, res.output
    marker = json.loads((out / ".matcher-output.json").read_text())
    assert "caps.csv" in marker["files"]
    caps = pl.read_csv(out / "caps.csv")
    assert caps.columns == list(CAPS_SCHEMA)
    assert caps.height == 3
    summary = json.loads((out / "summary.json").read_text())
    assert summary["caps"]["by_kind"]["slot"] == {"caps": 3, "binding": 3}
    assert runner.invoke(app, ["verify", str(TINY), str(out)]).exit_code == 0


@settings(max_examples=examples(40), deadline=None)
@given(inst=instances(regional=True, floors=True, employer=True))
def test_crossing_caps_and_floors_on_random_instances(inst: matcher.Instance) -> None:
    res = matcher.solve(inst)
    if not res.status.success:
        return
    table = res.tables["caps"]
    _check_counts(res)
    edges = build_edges(inst)
    placed = np.zeros(edges.n_pairs, dtype=bool)
    pairs = res.assignments.join(
        table.filter(pl.col("kind") == "slot").select("employer_id", "sector", "track", "group"),
        on=["employer_id", "sector", "track"],
    )
    assert pairs.height == res.objective.matched
    # The crossing caps counted from their pairs (not from the intake flows the table sums).
    slot_key = edges.slots.select("employer_id", "sector", "track").with_row_index("slot")
    chosen_slots = res.assignments.join(slot_key, on=["employer_id", "sector", "track"]).join(
        pl.DataFrame({"candidate_id": edges.candidate_ids}).with_row_index("cand"), on="candidate_id"
    )
    key = edges.cand.astype(np.int64) * (edges.slots.height + 1) + edges.slot
    want = chosen_slots.get_column("cand").to_numpy().astype(np.int64) * (edges.slots.height + 1)
    want += chosen_slots.get_column("slot").to_numpy().astype(np.int64)
    placed[np.isin(key, want)] = True
    ptr, ids = edges.regional_pairs()
    crossing = table.filter(pl.col("kind").is_in(["regional", "employer_total"]))
    counted = {
        label: int(placed[ids[ptr[k] : ptr[k + 1]]].sum())
        for k, label in enumerate(edges.caps.regional_labels)
    }
    assert dict(crossing.select("name", "used").iter_rows()) == counted
    assert crossing.height == len(edges.caps.regional_labels)
    floors = table.filter(pl.col("kind") == "floor")
    assert (floors.get_column("slack") == floors.get_column("used") - floors.get_column("limit")).all()
    assert floors.height == len(floor_units(inst, edges))
    assert (floors.get_column("binds") == (floors.get_column("slack") == 0)).all()
    # No backend prices these rows.
    assert crossing.get_column("shadow_price").null_count() == crossing.height
    assert floors.get_column("shadow_price").null_count() == floors.height
    assert set(crossing.get_column("shadow_price_kind")) <= {NOT_AVAILABLE, NOT_COMPUTED}
