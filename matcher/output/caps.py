"""The caps table: every capacity and cap, how much of it is used, whether it binds, and
what one more seat in it is worth.

A programme office's first question of a match is which cap to move. The table answers it
with one row per capacity or cap the instance has (a slot's declared capacity, an
employer's intake cap, an employer's cap across sectors, a national sector cap, a track
group's total cap, a regional cap, a floor), its use, its slack, and -- at a welfare
optimum of the core backend -- its *shadow price*: the LP dual of the cap's constraint
in the score level of the solve, an upper bound on the total score one more seat in the
cap would gain (:mod:`matcher.solvers.core.duals` says why). Beside it,
``placements_per_seat`` says whether one more seat would place one more candidate, which
the lexicographic objective (most placed first) values above any score.

Written beside the assignments as ``caps``, with a short ``caps`` section of
``summary.json`` (counts per kind, the highest prices). Vectorized: per-cap counts are
bincounts over the placed pairs and the tree; Python loops only run over the crossing
caps and floors of the policy, which are few.
"""

from __future__ import annotations

import logging
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import polars as pl

from matcher.data.model import Instance
from matcher.eligibility.constraints import floor_units
from matcher.eligibility.edges import Edges
from matcher.solvers.core.duals import TreeDuals, tree_duals
from matcher.solvers.core.solution import CoreSolution
from matcher.status import Status

log = logging.getLogger("matcher")

#: The kinds of row, in the table's order.
KINDS: Final[tuple[str, ...]] = (
    "slot",
    "employer_intake",
    "employer_total",
    "national_sector",
    "track_group_total",
    "regional",
    "floor",
)
#: ``shadow_price_kind`` of a core welfare optimum's tree caps.
SCORE_DUAL: Final[str] = "score dual (bound on the gain of one more seat)"
#: ``shadow_price_kind`` of the Lagrangian backend's rows (its multipliers are not mapped to rows).
NOT_COMPUTED: Final[str] = "not computed for this backend"
#: ``shadow_price_kind`` of every other method, backend and row.
NOT_AVAILABLE: Final[str] = "not available for this method/backend"
#: ``shadow_price_kind`` of a core solve without score-level potentials (a warm start by
#: shortest paths keeps only the combined certificate, whose minimum-cut shift is not a price).
NO_SCORE_POTENTIALS: Final[str] = "not available: this solve kept no score-level potentials"

CAPS_SCHEMA: Final[dict[str, type[pl.DataType]]] = {
    "kind": pl.String,
    "employer_id": pl.String,
    "sector": pl.String,
    "track": pl.String,
    "group": pl.String,
    "name": pl.String,
    "limit": pl.Int64,
    "used": pl.Int64,
    "slack": pl.Int64,
    "binds": pl.Boolean,
    "shadow_price": pl.Float64,
    "shadow_price_kind": pl.String,
    "placements_per_seat": pl.Int64,
}
#: Prices are rounded to this many decimals (scores have at most a few).
_DECIMALS: Final[int] = 6
#: How many of the highest shadow prices ``summary.json`` lists.
TOP: Final[int] = 10
#: The key columns a row may have.
_KEYS: Final[tuple[str, ...]] = ("employer_id", "sector", "track", "group", "name")

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


def _rows(
    kind: str,
    keys: pl.DataFrame,
    limit: I64,
    used: I64,
    *,
    price: F64 | None = None,
    price_kind: str = NOT_AVAILABLE,
    one_more: npt.NDArray[np.bool_] | None = None,
    floor: bool = False,
) -> pl.DataFrame:
    """One kind's rows: its keys (missing key columns null), limit, use and price."""
    n = keys.height
    slack = (used - limit) if floor else (limit - used)
    frame = keys.with_columns(
        pl.lit(kind).alias("kind"),
        *[pl.lit(None, pl.String).alias(k) for k in _KEYS if k not in keys.columns],
        pl.Series("limit", limit, dtype=pl.Int64),
        pl.Series("used", used, dtype=pl.Int64),
        pl.Series("slack", slack, dtype=pl.Int64),
        pl.Series("binds", slack == 0, dtype=pl.Boolean),
        pl.Series("shadow_price", np.full(n, np.nan) if price is None else price, dtype=pl.Float64),
        pl.lit(price_kind if price is not None else _unpriced(price_kind)).alias("shadow_price_kind"),
        pl.Series("placements_per_seat", one_more, dtype=pl.Int64)
        if one_more is not None
        else pl.lit(None, pl.Int64).alias("placements_per_seat"),
    )
    return frame.with_columns(pl.col("shadow_price").fill_nan(None).round(_DECIMALS)).select(
        [pl.col(c).cast(t) for c, t in CAPS_SCHEMA.items()]
    )


def _unpriced(price_kind: str) -> str:
    """The kind of a row without a price: the scored kind means this row is outside the tree."""
    return NOT_AVAILABLE if price_kind == SCORE_DUAL else price_kind


def caps_table(
    instance: Instance,
    edges: Edges,
    chosen: npt.NDArray[np.integer],
    *,
    duals: TreeDuals | None = None,
    price_kind: str = NOT_AVAILABLE,
) -> pl.DataFrame:
    """Every capacity and cap of the instance, its use, slack and shadow price.

    Parameters
    ----------
    instance : Instance
        The instance solved (its policy names the regional caps and floors).
    edges : Edges
        Its eligible pairs and cap structure, the numbering of ``chosen``.
    chosen : numpy.ndarray of int
        The placed pairs (indices into the edge arrays).
    duals : TreeDuals, optional
        The score duals and one-more-seat flags of the tree caps
        (:func:`matcher.solvers.core.duals.tree_duals`); without them, prices and flags are null.
    price_kind : str
        ``shadow_price_kind`` of the tree caps when ``duals`` has prices; rows without a
        price get :data:`NOT_AVAILABLE` (or ``price_kind`` itself when it says why none
        was computed).

    Returns
    -------
    polars.DataFrame
        Columns of :data:`CAPS_SCHEMA`, rows by kind (:data:`KINDS` order), then in the
        order of the cap structure. Unlimited caps have no row. ``slack`` is
        ``limit - used`` (for a floor, ``used - limit``, the floor's minimum being its
        limit); ``binds`` is ``slack == 0``. ``shadow_price`` is in score points;
        ``placements_per_seat`` is 1 when one more seat in the cap would place one more
        candidate, else 0 (null where not computed).
    """
    caps = edges.caps
    placed: I64 = np.asarray(chosen, dtype=np.int64)
    flow = [np.bincount(edges.slot[placed], minlength=edges.slots.height).astype(np.int64)]
    for parent, size in (
        (caps.slot_intake, len(caps.intake_cap)),
        (caps.intake_national, len(caps.national_cap)),
        (caps.national_total, len(caps.total_cap)),
    ):
        flow.append(np.bincount(parent, weights=flow[-1], minlength=size).astype(np.int64))
    limits = [
        edges.slots.get_column("capacity").to_numpy().astype(np.int64),
        caps.intake_cap,
        caps.national_cap,
        caps.total_cap,
    ]
    keys = [
        edges.slots.select("employer_id", "sector", "track", "group"),
        caps.intakes.select("employer_id", "sector", "group"),
        caps.nationals.select("sector", "group"),
        caps.totals.select("group"),
    ]
    tree_kinds = ("slot", "employer_intake", "national_sector", "track_group_total")
    levels = ("slot", "intake", "national", "total")
    parts: dict[str, pl.DataFrame] = {}
    for k, kind in enumerate(tree_kinds):
        has = np.flatnonzero(limits[k] >= 0)
        price = None if duals is None or duals.price is None else duals.price[levels[k]][has]
        one_more = None if duals is None else duals.one_more[levels[k]][has]
        parts[kind] = _rows(
            kind,
            keys[k][has],
            limits[k][has],
            flow[k][has],
            price=price,
            price_kind=price_kind,
            one_more=one_more,
        )
    parts.update(_crossing_rows(edges, flow[1], price_kind))
    parts["floor"] = _floor_rows(instance, edges, placed, price_kind)
    return pl.concat([parts[kind] for kind in KINDS])


def _crossing_rows(edges: Edges, intake_flow: I64, price_kind: str) -> dict[str, pl.DataFrame]:
    """The regional caps and the employer caps across sectors (the caps that cross the tree)."""
    caps = edges.caps
    n_cross = caps.regional_cap.size
    counts = np.diff(caps.intake_regional_ptr)
    used = np.bincount(
        caps.intake_regional, weights=np.repeat(intake_flow, counts), minlength=n_cross
    ).astype(np.int64)
    n_regional = n_cross - caps.employer_caps
    labels = pl.Series("name", caps.regional_labels, dtype=pl.String)
    regional = _rows(
        "regional",
        pl.DataFrame([labels[:n_regional]]),
        caps.regional_cap[:n_regional],
        used[:n_regional],
        price_kind=price_kind,
    )
    # An employer cap counts intake nodes of one employer and one track group.
    members = caps.regional_members()[n_regional:] if caps.employer_caps else []
    first = np.array([m[0] for m in members], dtype=np.int64)
    owner = caps.intakes.select("employer_id", "group")[first]
    employer = _rows(
        "employer_total",
        owner.with_columns(labels[n_regional:]),
        caps.regional_cap[n_regional:],
        used[n_regional:],
        price_kind=price_kind,
    )
    return {"regional": regional, "employer_total": employer}


def _floor_rows(instance: Instance, edges: Edges, chosen: I64, price_kind: str) -> pl.DataFrame:
    """The floors (per region, or per employer), their minimum as the limit."""
    units = floor_units(instance, edges)
    placed = np.zeros(edges.n_pairs, dtype=bool)
    placed[chosen] = True
    names = [instance.policy.floor_name(k) for k in range(len(instance.policy.floors))]
    employer: list[str | None] = []
    for unit in units:  # one per floor and employer, not per pair
        base = next((n for n in names if unit.label.startswith(f"{n}/")), None)
        employer.append(unit.label[len(base) + 1 :] if base is not None and unit.label not in names else None)
    keys = pl.DataFrame(
        {"employer_id": employer, "name": [u.label for u in units]},
        schema={"employer_id": pl.String, "name": pl.String},
    )
    return _rows(
        "floor",
        keys,
        np.array([u.required for u in units], dtype=np.int64),
        np.array([int(placed[u.edges].sum()) for u in units], dtype=np.int64),
        price_kind=price_kind,
        floor=True,
    )


def caps_summary(table: pl.DataFrame) -> dict[str, Any]:
    """The caps' section of ``summary.json``.

    Returns
    -------
    dict
        ``by_kind``: per kind present, ``{"caps", "binding"}`` (row counts);
        ``shadow_price_kind``: what the tree caps' prices are; ``highest_shadow_prices``:
        up to :data:`TOP` rows with a positive price, highest first (ties by table
        order), each with its kind, the keys that apply and the price.
    """
    counts = (
        table.group_by("kind", maintain_order=True)
        .agg(pl.len().alias("caps"), pl.col("binds").sum().alias("binding"))
        .iter_rows(named=True)
    )
    top = (
        table.with_row_index("_order")
        .filter(pl.col("shadow_price") > 0)
        .sort(pl.col("shadow_price"), "_order", descending=[True, False])
        .head(TOP)
    )
    highest = [
        {k: v for k, v in row.items() if v is not None}
        for row in top.select("kind", *_KEYS, "shadow_price").iter_rows(named=True)
    ]
    kinds = table.filter(pl.col("kind") == "slot").get_column("shadow_price_kind").unique().to_list()
    return {
        "by_kind": {r["kind"]: {"caps": r["caps"], "binding": int(r["binding"])} for r in counts},
        "shadow_price_kind": kinds[0] if kinds else NOT_AVAILABLE,
        "highest_shadow_prices": highest,
    }


def add_caps(
    instance: Instance,
    edges: Edges,
    tables: dict[str, pl.DataFrame],
    summary: dict[str, Any],
    chosen: npt.NDArray[np.integer],
    *,
    solution: CoreSolution | None = None,
    backend: str | None = None,
    score_decimals: int = 2,
) -> None:
    """Put the caps table into a result's ``tables`` (``caps``) and ``summary`` (``caps``).

    Prices come from ``solution``, a core welfare optimum over the cap tree alone (no
    crossing caps, no floors: those change the problem the potentials are dual to), when
    it kept its score-level potentials; the Lagrangian backend's multipliers are not
    mapped to rows (:data:`NOT_COMPUTED`); every other backend and the stable method get
    none (:data:`NOT_AVAILABLE`). Use, slack and binding are given for every method.
    """
    duals: TreeDuals | None = None
    price_kind = NOT_COMPUTED if backend == "lagrange" else NOT_AVAILABLE
    tree_only = edges.caps.regional_cap.size == 0 and not instance.policy.floors
    if solution is not None and solution.status is Status.OPTIMAL and tree_only:
        duals = tree_duals(edges, solution, score_decimals=score_decimals)
        price_kind = SCORE_DUAL if duals.price is not None else NO_SCORE_POTENTIALS
    table = caps_table(instance, edges, chosen, duals=duals, price_kind=price_kind)
    tables["caps"] = table
    summary["caps"] = section = caps_summary(table)
    log.info(
        "caps: %d caps, %d binding, %d with a positive shadow price",
        table.height,
        sum(v["binding"] for v in section["by_kind"].values()),
        int((table.get_column("shadow_price") > 0).sum()),
    )
