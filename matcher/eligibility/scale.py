"""The scale scores are optimized at: never a rounding of the user's numbers.

Every backend works on integer scores in units of ``10**-d``. ``d`` is the policy's
``score_decimals``, or more when a score has more: the fewest decimals that hold every
aptitude score exactly, found in one vectorized pass; a score that needs more than
:data:`MAX_SCORE_DECIMALS` is refused with the candidates and sectors named.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import polars as pl

from matcher.data.model import Instance
from matcher.errors import InputError, Problem

F64 = npt.NDArray[np.float64]

#: The most decimals a score may have: scores in [0, 100] become integers up to 10**8,
#: which every backend holds exactly (64-bit costs, float64 objectives below 2**53).
MAX_SCORE_DECIMALS: Final[int] = 6
#: A score has d decimals when ``score * 10**d`` is within this fraction of its own size
#: of an integer: parsing a decimal into a float and scaling it err by about 1e-16, while
#: a real further digit (at most 12 significant digits in all) lies farther off.
SCORE_TOLERANCE: Final[float] = 1e-12
#: Examples of over-precise scores an error lists.
SCORE_EXAMPLES: Final[int] = 5
#: Decimals counted for those examples (beyond: "more than").
REPORTED_DECIMALS: Final[int] = 10


def score_decimals_needed(
    score: F64, *, least: int = 0, most: int = MAX_SCORE_DECIMALS
) -> npt.NDArray[np.int8]:
    """Per score, the fewest decimals ``d`` in ``[least, most]`` with ``score * 10**d`` an
    integer (within :data:`SCORE_TOLERANCE`); ``most + 1`` where there is none (NaN too).

    Vectorized: one pass over all scores, then one over those still undecided per ``d``
    (nearly always the first pass decides all).

    Examples
    --------
    >>> score_decimals_needed(np.array([80.0, 80.5, 80.25, 0.1 + 0.2, 80.1234567]), least=2).tolist()
    [2, 2, 2, 2, 7]
    """
    need = np.full(score.shape, most + 1, dtype=np.int8)
    todo: npt.NDArray[np.intp] | None = None  # None: every score (no index array while all pass)
    for d in range(least, most + 1):
        part = score if todo is None else score[todo]
        ok = _integral(part * 10**d)
        if todo is None:
            if bool(ok.all()):
                need[:] = d
                return need
            todo = np.arange(score.size)
        need[todo[ok]] = d
        todo = todo[~ok]
        if todo.size == 0:
            break
    return need


def _integral(y: F64) -> npt.NDArray[np.bool_]:
    """Which of ``y`` are integers within :data:`SCORE_TOLERANCE` of their size (``y`` is
    overwritten: in place, 3M scores take about 0.02 s)."""
    err = np.rint(y)
    err -= y
    np.abs(err, out=err)
    np.abs(y, out=y)
    np.maximum(y, 1.0, out=y)
    y *= SCORE_TOLERANCE
    return err <= y


@dataclass(frozen=True)
class ScoreScale:
    """The integer scale every backend optimizes the scores at: ``10**decimals`` units per
    point. ``decimals`` is the policy's ``score_decimals``, or more when a score has more
    (``source`` says which), so each score is used exactly as given."""

    decimals: int
    policy_decimals: int
    #: Per aptitude row (the instance's aptitude table order): the decimals its score needs.
    needed: npt.NDArray[np.int8] = field(repr=False, compare=False)

    @property
    def source(self) -> str:
        """``"policy"`` when the policy's decimals hold every score, else ``"data"``."""
        return "policy" if self.decimals == self.policy_decimals else "data"

    def refusal(self, instance: Instance, allowed: int, why: str = "") -> InputError:
        """The error for the aptitude rows whose scores need more than ``allowed`` decimals:
        examples (candidate, sector, score) and how many more there are. The validated
        table is sorted by candidate and sector, so examples are named by candidate and
        sector, not by a row number that may not be the file's.
        """
        rows = np.flatnonzero(self.needed > allowed)
        shown = rows[:SCORE_EXAMPLES]
        examples = instance.aptitudes[shown.tolist()].select("candidate_id", "sector", "score")
        exact = score_decimals_needed(
            examples.get_column("score").cast(pl.Float64).to_numpy(),
            least=allowed + 1,
            most=REPORTED_DECIMALS,
        )
        problems = []
        for d, (cand, sector, score) in zip(exact.tolist(), examples.iter_rows(), strict=True):
            has = f"{d} decimals" if d <= REPORTED_DECIMALS else f"more than {REPORTED_DECIMALS} decimals"
            problems.append(
                Problem(
                    file="aptitudes",
                    message=f"score {score!r} (sector {sector}) has {has}; at most {allowed} are supported"
                    f"{why}: round the scores in the file to {allowed} decimals",
                    column="score",
                    id=str(cand),
                )
            )
        if rows.size > shown.size:
            problems.append(
                Problem(
                    file="aptitudes",
                    message=f"{rows.size - shown.size:,} more rows have scores with more than {allowed} decimals",
                    column="score",
                )
            )
        return InputError(problems)

    def as_summary(self) -> dict[str, Any]:
        """The summary's record of the scale: the decimals used and where they came from."""
        return {"score_decimals": self.decimals, "score_decimals_from": self.source}


def score_scale(instance: Instance) -> ScoreScale:
    """The scale the scores are optimized at (see :class:`ScoreScale`), from every aptitude
    score at once.

    Raises
    ------
    InputError
        When a score has more than :data:`MAX_SCORE_DECIMALS` decimals (rounding it would
        change the user's number), listing example rows.
    """
    least = instance.policy.objective.score_decimals
    score = instance.aptitudes.get_column("score").cast(pl.Float64).to_numpy()
    needed = score_decimals_needed(score, least=least, most=max(least, MAX_SCORE_DECIMALS))
    decimals = int(needed.max(initial=least))
    scale = ScoreScale(decimals, least, needed)
    if decimals > MAX_SCORE_DECIMALS:
        raise scale.refusal(instance, MAX_SCORE_DECIMALS)
    return scale
