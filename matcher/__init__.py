"""matcher: employer-candidate training-match optimizer (ESDP / SSW, Japan).

>>> import matcher
>>> sorted(matcher.METHODS)
['optimal', 'stable']
"""

from __future__ import annotations

__version__ = "0.1.0"

from matcher import lottery
from matcher.errors import InputError, MatcherError, OutputError, Problem, TooManyPairsError
from matcher.io import instance_from_frames, load_instance
from matcher.model import Instance
from matcher.policy import Policy, load_policy, neutral_policy
from matcher.result import MatchResult, Objective
from matcher.solve import METHODS, OptionsError, VerificationError, check_options, solve
from matcher.solvers.status import Status
from matcher.transfer import TransferResult, transfer_round
from matcher.verify import Verification, verify_assignment

__all__ = [
    "METHODS",
    "InputError",
    "Instance",
    "MatchResult",
    "MatcherError",
    "Objective",
    "OptionsError",
    "OutputError",
    "Policy",
    "Problem",
    "Status",
    "TooManyPairsError",
    "TransferResult",
    "Verification",
    "VerificationError",
    "__version__",
    "check_options",
    "instance_from_frames",
    "load_instance",
    "load_policy",
    "lottery",
    "neutral_policy",
    "solve",
    "transfer_round",
    "verify_assignment",
]
