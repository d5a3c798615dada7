"""matcher: employer-candidate training-match optimizer (ESDP / SSW, Japan).

>>> import matcher
>>> sorted(matcher.METHODS)
['optimal', 'stable']
"""

from __future__ import annotations

from matcher._version import __version__
from matcher.data.load import instance_from_frames, load_instance
from matcher.data.model import Instance
from matcher.data.policy import Policy, load_policy, neutral_policy
from matcher.eligibility import lottery
from matcher.errors import (
    InputError,
    MatcherError,
    OutputError,
    Problem,
    TooManyPairsError,
    VerificationError,
)
from matcher.output.result import MatchResult, Objective
from matcher.solve import METHODS, OptionsError, check_options, solve
from matcher.status import Status
from matcher.transfer.round import TransferResult, transfer_round
from matcher.verification.assignment import Verification, verify_assignment

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
