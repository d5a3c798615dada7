"""The public entry point: argument checks, then each table drawn in a fixed order from one generator."""

from __future__ import annotations

import numpy as np
import polars as pl

from matcher.data.generate.candidates import _draw_aptitudes, _draw_candidates
from matcher.data.generate.employers import _draw_employers, _draw_slots
from matcher.data.generate.frames import (
    _aptitudes_frame,
    _candidates_frame,
    _employers_frame,
    _ids,
    _preferences_frame,
    _slots_frame,
)
from matcher.data.generate.mixes import CAPACITY_PER_CANDIDATE
from matcher.data.generate.preferences import _draw_preferences
from matcher.data.generate.sampling import _check_counts

__all__ = ["generate_instance"]


def generate_instance(
    *,
    candidates: int,
    employers: int,
    seed: int,
    unlisted_share: float = 0.0,
    list_length: int = 20,
) -> dict[str, pl.DataFrame]:
    """Generate a reproducible synthetic matching instance.

    Parameters
    ----------
    candidates : int
        Number of candidates (>= 1).
    employers : int
        Number of employers (>= 1).
    seed : int
        Seed of the random generator (>= 0); equal arguments give equal tables.
    unlisted_share : float, default 0.0
        Share of candidates, chosen at random, that submit no preference list (they accept
        any eligible employer). Between 0 and 1.
    list_length : int, default 20
        Maximum length of a preference list (>= 1).

    Returns
    -------
    dict[str, polars.DataFrame]
        Tables keyed ``"candidates"``, ``"aptitudes"``, ``"employers"``, ``"slots"`` and
        ``"preferences"``, sorted by their key columns (``candidate_id``/``employer_id``,
        then ``sector`` and ``track``; preferences by ``candidate_id`` then ``rank``).

    Raises
    ------
    ValueError
        If an argument is out of range (the message names it).
    TypeError
        If an argument has the wrong type.

    Examples
    --------
    >>> tables = generate_instance(candidates=200, employers=30, seed=7, unlisted_share=0.1)
    >>> sorted(tables)
    ['aptitudes', 'candidates', 'employers', 'preferences', 'slots']
    >>> tables["candidates"].columns
    ['candidate_id', 'nationality', 'japanese_level', 'track', 'prefecture']
    >>> tables["candidates"]["candidate_id"][0], tables["employers"]["employer_id"][0]
    ('C001', 'E000001')
    >>> int(tables["slots"]["capacity"].sum())
    160
    >>> tables["preferences"].columns
    ['candidate_id', 'employer_id', 'rank']
    """
    _validate(candidates, employers, seed, unlisted_share, list_length)
    rng = np.random.default_rng(seed)

    cand = _draw_candidates(rng, candidates)
    apt = _draw_aptitudes(rng, cand)
    emp = _draw_employers(rng, employers)
    slots = _draw_slots(rng, emp, total_capacity=round(CAPACITY_PER_CANDIDATE * candidates))
    unlisted = np.zeros(candidates, dtype=np.bool_)
    unlisted[rng.permutation(candidates)[: round(unlisted_share * candidates)]] = True
    prefs = _draw_preferences(rng, cand, apt, emp, slots, unlisted, list_length)

    cand_ids = _ids("C", candidates, len(str(candidates)))
    emp_ids = _ids("E", employers, max(6, len(str(employers))))
    return {
        "candidates": _candidates_frame(cand, cand_ids),
        "aptitudes": _aptitudes_frame(apt, cand_ids),
        "employers": _employers_frame(emp, emp_ids),
        "slots": _slots_frame(slots, emp_ids),
        "preferences": _preferences_frame(prefs, cand_ids, emp_ids),
    }


def _validate(candidates: int, employers: int, seed: int, unlisted_share: float, list_length: int) -> None:
    _check_counts(
        candidates=(candidates, 1), employers=(employers, 1), seed=(seed, 0), list_length=(list_length, 1)
    )
    if isinstance(unlisted_share, bool) or not isinstance(unlisted_share, int | float):
        raise TypeError(f"unlisted_share must be a float, got {type(unlisted_share).__name__}")
    if not 0.0 <= unlisted_share <= 1.0:  # also rejects NaN
        raise ValueError(f"unlisted_share must be between 0 and 1, got {unlisted_share}")
