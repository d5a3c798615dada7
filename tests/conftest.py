"""Shared fixtures: the tiny instance as frames, writing instances as CSV or Parquet."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

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
