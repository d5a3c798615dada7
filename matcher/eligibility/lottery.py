"""The seeded lottery that breaks ties in stable matching (single tie-breaking).

Every candidate gets one number: its position in a random permutation (numpy PCG64 seeded
with ``seed``) of the candidates sorted by id. Lower is better. The same number breaks
ties at every employer, the usual choice in school choice and residency matches: it
avoids the extra instability that drawing per employer would create. The number depends
only on the set of candidate ids and the seed, never on row order.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import polars as pl


def lottery_numbers(candidate_ids: pl.Series, seed: int) -> npt.NDArray[np.int64]:
    """Lottery number per candidate, aligned with ``candidate_ids`` (any order).

    Examples
    --------
    >>> import polars as pl
    >>> a = lottery_numbers(pl.Series(["b", "a", "c"]), seed=1)
    >>> b = lottery_numbers(pl.Series(["a", "b", "c"]), seed=1)
    >>> sorted(a.tolist()) == [0, 1, 2] and bool(a[1] == b[0] and a[0] == b[1])
    True
    """
    order = candidate_ids.arg_sort().to_numpy()
    perm = np.random.default_rng(np.random.PCG64(seed)).permutation(len(order)).astype(np.int64)
    numbers = np.empty(len(order), dtype=np.int64)
    numbers[order] = perm
    return numbers
