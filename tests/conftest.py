"""Shared fixtures: the tiny instance as frames, writing instances as CSV or Parquet; the
hypothesis profile of the test tier; the compiled kernels built before any test runs."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl
import pytest
from hypothesis import settings

from tests.strategies import TIER, examples

settings.register_profile("full", deadline=None)
settings.register_profile("fast", deadline=None, max_examples=examples(100))
settings.load_profile(TIER)

REPO = Path(__file__).resolve().parents[1]
TINY_DIR = REPO / "instances" / "tiny"
JAPAN_POLICY = REPO / "instances" / "policies" / "japan-2026.toml"
TABLE_STEMS = ("candidates", "aptitudes", "employers", "slots", "preferences")

WriteInstance = Callable[..., Path]


@pytest.fixture
def tiny_dir() -> Path:
    """The shipped tiny instance (read only: copy it before changing anything)."""
    return TINY_DIR


@pytest.fixture
def japan_policy_path() -> Path:
    return JAPAN_POLICY


@pytest.fixture
def tiny_frames() -> dict[str, pl.DataFrame]:
    """The tiny instance's tables as all-text frames (exactly as the CSV files hold them)."""
    return {stem: pl.read_csv(TINY_DIR / f"{stem}.csv", infer_schema=False) for stem in TABLE_STEMS}


@pytest.fixture
def write_instance(tmp_path: Path) -> WriteInstance:
    """``write_instance(frames, fmt="csv", name="inst")`` writes one file per frame.

    A frame given as ``None`` is left out; ``bytes`` are written verbatim to
    ``<stem>.<fmt>`` (for garbled files). Returns the instance directory.
    """

    def write(frames: dict[str, pl.DataFrame | bytes | None], fmt: str = "csv", name: str = "inst") -> Path:
        directory = tmp_path / name
        directory.mkdir()
        for stem, frame in frames.items():
            path = directory / f"{stem}.{fmt}"
            if frame is None:
                continue
            if isinstance(frame, bytes):
                path.write_bytes(frame)
            elif fmt == "csv":
                frame.write_csv(path)
            else:
                frame.write_parquet(path)
        return directory

    return write


@pytest.fixture(scope="session", autouse=True)
def compiled_kernels() -> Iterator[None]:
    """Build the numba kernels (or load them from numba's cache) once, before the first
    test, so that no test's time includes compiling them."""
    import matcher

    start = time.perf_counter()
    tiny = matcher.load_instance(TINY_DIR)
    matcher.solve(tiny)
    matcher.solve(tiny, method="stable")
    matcher.solve(tiny, method="stable", proposing="employer")
    matcher.transfer_round(matcher.load_instance(REPO / "instances" / "transfer-tiny"))
    logging.getLogger("matcher").debug("kernels ready in %.1f s", time.perf_counter() - start)
    yield
