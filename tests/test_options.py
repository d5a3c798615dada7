"""One check of the solve options, shared by the library and the command line: every
problem at once, allowed values listed; ``solve`` also takes an instance directory."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

import matcher
from matcher.solve import BACKENDS, METHODS, OptionsError, check_options
from matcher.stable.mechanism import CAP_MODES, PROPOSING


def problems_of(**options: object) -> dict[str, list[str]]:
    """The messages of check_options(**options), by option."""
    with pytest.raises(OptionsError) as err:
        check_options(**options)  # type: ignore[arg-type]
    out: dict[str, list[str]] = {}
    for p in err.value.problems:
        out.setdefault(p.file, []).append(p.message)
    assert err.value.count == sum(len(v) for v in out.values())
    assert str(err.value).startswith(f"{err.value.count} problem")
    return out


def test_good_options_pass() -> None:
    check_options()
    check_options(method="stable", proposing="employer", caps="naive", seed=2**40, compare_optimal=False)
    check_options(method="optimal", backend="core", warm_start="some/dir", time_limit=0.5, max_pairs=10)
    check_options(backend=None, warm_start=Path("some/dir"))


def test_every_problem_is_listed_together() -> None:
    found = problems_of(
        method="fastest",
        backend="gurobi",
        proposing="both",
        caps="loose",
        time_limit=0,
        max_pairs=-3,
        seed=-1,
        compare_optimal="yes",
        warm_start="earlier/out",
    )
    assert set(found) == {
        "method",
        "backend",
        "proposing",
        "caps",
        "time_limit",
        "max_pairs",
        "seed",
        "compare_optimal",
        "warm_start",
    }
    assert found["method"] == [f"method must be one of {', '.join(METHODS)}, got 'fastest'"]
    assert found["backend"] == [f"backend must be one of {', '.join(BACKENDS)}, got 'gurobi'"]
    assert found["proposing"] == [f"proposing must be one of {', '.join(PROPOSING)}, got 'both'"]
    assert found["caps"] == [f"caps must be one of {', '.join(CAP_MODES)}, got 'loose'"]
    assert found["warm_start"] == [
        "warm_start needs method 'optimal' with the core backend (the only one that keeps a state), "
        "got method 'fastest' and backend 'gurobi'"
    ]


def test_allowed_values_are_listed() -> None:
    found = problems_of(backend="fast")
    assert "must be one of ortools, core, cpsat, mip, lagrange" in found["backend"][0]


def test_flexible_caps_need_candidates_proposing() -> None:
    found = problems_of(method="stable", proposing="employer", caps="flexible")
    assert list(found) == ["caps"]
    assert (
        "caps 'flexible' needs proposing 'candidate' (flexible DA is candidate-proposing)" in found["caps"][0]
    )
    check_options(method="stable", proposing="employer")  # the default caps then are naive


@pytest.mark.parametrize("bad", [0, -1, 0.0, math.nan, math.inf, -math.inf, "60", True, None])
def test_time_limit_must_be_a_positive_finite_number(bad: object) -> None:
    found = problems_of(time_limit=bad)
    assert list(found) == ["time_limit"]
    assert "finite number of seconds above 0" in found["time_limit"][0]


@pytest.mark.parametrize("bad", [0, -5, 2.5, "100", True])
def test_max_pairs_must_be_a_positive_whole_number(bad: object) -> None:
    assert list(problems_of(max_pairs=bad)) == ["max_pairs"]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("bad", [-1, -(2**40), 1.5, "7", None, False])
def test_seed_must_be_a_whole_number_of_at_least_0_for_every_method(method: str, bad: object) -> None:
    found = problems_of(method=method, seed=bad)
    assert list(found) == ["seed"]
    assert "at least 0" in found["seed"][0]


@pytest.mark.parametrize(
    ("method", "backend"),
    [("stable", None), ("optimal", "ortools"), ("optimal", "cpsat"), ("stable", "core")],
)
def test_warm_start_needs_the_core(method: str, backend: str | None) -> None:
    found = problems_of(method=method, backend=backend, warm_start="earlier/out")
    assert list(found) == ["warm_start"]
    assert found["warm_start"][0].startswith("warm_start needs method 'optimal' with the core backend")


def test_command_line_names() -> None:
    with pytest.raises(OptionsError) as err:
        check_options(method="stable", proposing="employer", caps="flexible", time_limit=-1, cli=True)
    text = str(err.value)
    assert text.splitlines() == [
        "2 problems in the options:",
        "  - --caps flexible needs --proposing candidate (flexible DA is candidate-proposing); "
        "with --proposing employer use --caps naive",
        "  - --time-limit must be a finite number of seconds above 0, got -1",
    ]
    with pytest.raises(
        OptionsError, match="--backend must be one of ortools, core, cpsat, mip, lagrange, got 'x'"
    ):
        check_options(backend="x", cli=True)
    with pytest.raises(OptionsError, match="--warm-start needs --method optimal with the core backend"):
        check_options(method="stable", warm_start="out", cli=True)


def test_options_error_is_an_input_error_and_a_value_error() -> None:
    assert issubclass(OptionsError, matcher.InputError)
    assert issubclass(OptionsError, ValueError)
    assert matcher.OptionsError is OptionsError
    assert matcher.check_options is check_options


def test_solve_checks_the_options_before_loading(tmp_path: Path) -> None:
    # The directory does not exist: the options are reported, not the missing instance.
    with pytest.raises(ValueError, match="time_limit must be a finite number") as err:
        matcher.solve(tmp_path / "nowhere", time_limit=0, seed=-1)
    assert isinstance(err.value, OptionsError)
    assert {p.file for p in err.value.problems} == {"time_limit", "seed"}


@pytest.mark.parametrize("method", METHODS)
def test_negative_seed_is_refused_not_a_traceback(tiny_dir: Path, method: str) -> None:
    inst = matcher.load_instance(tiny_dir)
    with pytest.raises(OptionsError, match="seed must be a whole number of at least 0"):
        matcher.solve(inst, method=method, seed=-1)


def test_solve_takes_an_instance_directory(tiny_dir: Path, japan_policy_path: Path) -> None:
    for where in (tiny_dir, str(tiny_dir)):
        res = matcher.solve(where)
        assert (res.status.value, res.objective.matched, res.objective.total_score) == ("optimal", 4, 330.0)
    japan = matcher.solve(tiny_dir, policy=japan_policy_path)
    assert (japan.objective.matched, japan.objective.total_score) == (3, 235.0)
    same = matcher.solve(matcher.load_instance(tiny_dir, policy=japan_policy_path))
    assert same.objective == japan.objective


def test_warm_start_of_another_type_is_a_type_error(tiny_dir: Path) -> None:
    check_options(warm_start=42)  # what it holds is read by solve
    with pytest.raises(TypeError, match="warm_start must be a CoreSolution or a path"):
        matcher.solve(tiny_dir, warm_start=42)  # type: ignore[arg-type]


def test_policy_goes_with_a_directory_only(tiny_dir: Path, japan_policy_path: Path) -> None:
    inst = matcher.load_instance(tiny_dir)
    with pytest.raises(TypeError, match="policy= goes with an instance directory"):
        matcher.solve(inst, policy=japan_policy_path)
    with pytest.raises(TypeError, match="instance must be an Instance or a directory"):
        matcher.solve(42)  # type: ignore[arg-type]
