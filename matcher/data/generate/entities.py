"""Entities of a generated instance as numpy columns; codes index the reference vocabularies, -1 means null."""

from __future__ import annotations

from dataclasses import dataclass

from matcher.data.generate.sampling import BoolArray, FloatArray, IntArray


@dataclass(frozen=True)
class _Candidates:
    nationality: IntArray
    track: IntArray
    level: IntArray
    prefecture: IntArray  # -1 = abroad


@dataclass(frozen=True)
class _Aptitudes:
    candidate: IntArray  # sorted; position 0 (main sector) first within a candidate
    position: IntArray
    sector: IntArray
    score: FloatArray
    skills_test: BoolArray


@dataclass(frozen=True)
class _Employers:
    prefecture: IntArray
    staff: IntArray
    excellent: BoolArray
    min_level: IntArray  # -1 = no requirement


@dataclass(frozen=True)
class _Slots:
    employer: IntArray
    sector: IntArray
    track: IntArray
    capacity: IntArray


@dataclass(frozen=True)
class _Preferences:
    candidate: IntArray
    employer: IntArray
    rank: IntArray
