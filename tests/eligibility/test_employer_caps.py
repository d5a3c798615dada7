"""Employer caps across sectors (intake rules with ``per = "employer"``).

They fold into the intake cap of an employer with one sector in scope and are crossing
caps (like regional caps) otherwise; every backend that keeps regional caps keeps them,
and the verifier and the stability checker count them from the policy on their own.
Random instances with employer caps (against brute force, CP-SAT against the MIP, the
Lagrangian's bound) are in ``tests/test_optimal.py``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
import pytest

import matcher
from matcher.data.policy import policy_from_dict
from matcher.eligibility.edges import build_edges
from matcher.errors import InputError
from matcher.solvers.lagrange import choose_layout
from tests.helpers import employer_caps_instance as _instance
from tests.helpers import objective_key as _key


def _policy(**rule: Any) -> dict[str, Any]:
    return {"name": "per-employer", "intake": [{"name": "staff", "group": "esdp", "per": "employer", **rule}]}


def test_policy_field_and_its_allowed_values() -> None:
    pol = policy_from_dict(_policy(max_staff_ratio=0.1))
    assert [r.per for r in pol.intake] == ["employer"] and "employer caps" in pol.crossing_rules
    with pytest.raises(InputError, match="per") as err:
        policy_from_dict(_policy(max_staff_ratio=0.1, per="site"))
    assert "'sector' or 'employer'" in str(err.value)


def test_fold_into_the_intake_cap_or_cross() -> None:
    """A (one sector): its intake cap becomes 2; B (two sectors, room 6): one crossing cap
    of 2; C (room 2 below its cap of 20): no cap at all."""
    edges = build_edges(_instance(_policy(max_staff_ratio=0.1)))
    caps = edges.caps
    intakes = caps.intakes.with_columns(pl.Series("i", np.arange(len(caps.intake_cap))))
    a_node = intakes.filter(pl.col("employer_id") == "A")
    assert a_node["cap"].to_list() == [2]
    assert (
        caps.regional_cap.tolist() == [2] and caps.regional_labels == ["staff/B"] and caps.employer_caps == 1
    )
    assert choose_layout(edges)[0].name == "employer caps in the flow"  # disjoint: they nest
    (members,) = caps.regional_members()
    assert sorted(intakes["employer_id"].gather(members).to_list()) == ["B", "B"]
    ptr, pairs = edges.regional_pairs()
    assert (caps.slot_intake[edges.slot[pairs]] >= 0).all() and ptr.tolist() == [0, pairs.size]
    assert set(edges.slots["employer_id"].gather(edges.slot[pairs]).to_list()) == {"B"}


def test_backends_keep_the_employer_cap() -> None:
    inst = _instance(_policy(max_staff_ratio=0.1))
    results = {b: matcher.solve(inst, backend=b) for b in ("mip", "cpsat", "lagrange")}
    results["default"] = matcher.solve(inst)
    for res in results.values():  # each verified against the policy by the solve itself
        at = res.assignments.group_by("employer_id").len()
        assert dict(at.iter_rows()) == {"A": 2, "B": 2, "C": 2}
        assert _key(res) == _key(results["mip"])
    assert results["default"].status is matcher.Status.OPTIMAL
    with pytest.raises(matcher.MatcherError, match="employer caps"):
        matcher.solve(inst, backend="core")
    # Where every employer cap folds (a rule for agriculture only), the core keeps it.
    folded = _instance(_policy(max_staff_ratio=0.1, sectors=["agriculture"]))
    res = matcher.solve(folded, backend="core")
    at = res.assignments.filter(pl.col("sector") == "agriculture").group_by("employer_id").len()
    assert dict(at.iter_rows()) == {"A": 2, "B": 2, "C": 1}


def test_stable_matching_and_its_checker_count_employer_caps() -> None:
    inst = _instance(_policy(max_staff_ratio=0.1))
    for caps in ("naive", "flexible"):
        res = matcher.solve(inst, method="stable", caps=caps)  # verified
        assert res.assignments.filter(pl.col("employer_id") == "B").height <= 2
        from matcher.verification.stability import blocking_pairs

        pairs = blocking_pairs(inst, res.assignments, seed=0)
        forbidden = pairs.filter(pl.col("cap_forbidden"))
        assert set(forbidden["cap"].to_list()) <= {"employer staff"}
        # A and B are full under the rule (A through its folded intake cap); C is not.
        assert set(forbidden["employer_id"].to_list()) <= {"A", "B"}
