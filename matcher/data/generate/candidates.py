"""Candidates (track, nationality, Japanese level, prefecture) and their aptitudes."""

from __future__ import annotations

import numpy as np

from matcher.data.generate.entities import _Aptitudes, _Candidates
from matcher.data.generate.mixes import (
    ABROAD_SHARE_BY_TRACK,
    APTITUDE_COUNT_PROBS,
    LEVEL_PROBS_BY_TRACK,
    NATIONALITY_SHARES,
    PREFECTURE_WEIGHTS,
    SECTOR_MIX,
    SKILLS_TEST_BY_TRACK,
    TRACK_SHARES,
    _allowed_sector_tracks,
)
from matcher.data.generate.sampling import _categorical, _choose, _log, _probabilities, _top_k, _vector
from matcher.data.reference import PREFECTURES, SECTORS, TRACKS


def _draw_candidates(rng: np.random.Generator, n: int) -> _Candidates:
    track = _choose(rng, _probabilities(TRACK_SHARES), n)
    nationality = _choose(rng, _probabilities(list(NATIONALITY_SHARES.values())), n)
    level_p = _probabilities([LEVEL_PROBS_BY_TRACK[t] for t in TRACKS])
    level = _categorical(rng, level_p, track)
    abroad = rng.random(n) < _vector(ABROAD_SHARE_BY_TRACK, TRACKS)[track]
    prefecture = _choose(rng, _probabilities(_vector(PREFECTURE_WEIGHTS, PREFECTURES)), n)
    prefecture[abroad] = -1
    return _Candidates(nationality, track, level, prefecture)


def _draw_aptitudes(rng: np.random.Generator, cand: _Candidates) -> _Aptitudes:
    n = len(cand.track)
    count = 1 + _choose(rng, _probabilities(APTITUDE_COUNT_PROBS), n)
    track_mix = _vector(SECTOR_MIX, SECTORS)[:, None] * _allowed_sector_tracks()
    row, position, sector = _top_k(rng, _log(track_mix.T)[cand.track], count)

    # Score: level effect + personal ability + noise, lower outside the main sector.
    ability = rng.normal(0.0, 9.0, size=n)
    noise = rng.normal(0.0, 6.0, size=len(row))
    raw = 38.0 + 8.0 * cand.level[row] + ability[row] + noise - 5.0 * position
    score = np.round(np.clip(raw, 0.0, 100.0), 1)
    pass_p = _vector(SKILLS_TEST_BY_TRACK, TRACKS)[cand.track[row]]
    skills_test = rng.random(len(row)) < np.where(position > 0, pass_p / 2, pass_p)
    return _Aptitudes(row, position, sector, score, skills_test)
