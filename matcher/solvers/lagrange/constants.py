"""Array types and tuned constants of the Lagrangian backend."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


#: Costs are scores in units of 1 / (10**decimals * COST_SCALE), so multipliers keep precision.
COST_SCALE = 16
#: A soft floor's missing placement costs its penalty times this many points of total score:
#: the top of the score scale, so one missing placement outweighs any one placement's score.
PLACEMENT_WORTH = 100


#: Soft floors' first multipliers, as a share of their worth (measured on the floors
#: benchmark at 10k, 15 s: gap 0.39% from 1/4, 0.42% from 1/2, 0.86% from 0).
SOFT_START = 0.25
#: Progress lines (bound, best value, gap) at most this often, besides the first and last.
LOG_EVERY_S = 5.0
#: Weight of the previous direction in the deflected subgradient (the usual 1.5).
DEFLECTION = 1.5
#: How many floors' shadow prices (the highest) the summary lists.
FLOOR_PRICES_SHOWN = 20
#: Rounds of the floor fill in a repair (each is one flow; it stops when one does not help).
FILL_ROUNDS = 3
#: The supply check (:func:`.floors.unsupplied_floors`) runs one flow per hard floor, for at most this many.
SUPPLY_CHECKS = 100
#: The subgradient's step factor halves after 3 iterations without a better bound; after
#: this many halvings (a step 1/4096 of the first) the bound has converged and the loop
#: stops, leaving the rest of the time to what runs next (the MIP in the ``lagrange``
#: backend, within its size).
STALL_HALVINGS = 12
