"""Synthetic matching instances: candidates, aptitudes, employers, slots, preferences.

Modelling choices (numbers are realistic defaults from docs/domain.md, not legal facts):

* **Candidates.** Track mix esdp 45% / ssw1 50% / ssw2 5%. Nationality follows the June 2025
  SSW i mix (Vietnam 43.9%, Indonesia 20.8%, ...; "other" is split over a few countries).
  The Japanese level depends on the track (esdp mostly A1, ssw1 mostly A2/B1, ssw2 mostly
  B1+). Most ESDP candidates are still abroad (null prefecture); SSW candidates often live
  in Japan, distributed like foreign workers (Aichi ~7.8%, the Kanto and Kansai metros
  ~6-7% each, long tail elsewhere).
* **Aptitudes.** 1-3 distinct sectors per candidate (mostly 1), drawn without replacement
  from the national SSW sector mix (stock of holders by sector), excluding sectors that
  the candidate's track cannot use (no ESDP in automobile transport or aviation, no SSW ii
  in nursing care). Scores grow with the Japanese level plus a personal ability term and
  noise; skills tests are mostly passed by SSW candidates, rarely by ESDP ones.
* **Employers.** Located like the foreign workforce; full-time staff is log-normal
  (median ~10, a few hundred-plus); ~10% are "excellent"; a minority demand A2 or B1.
* **Slots.** 1-3 sectors per employer (mostly 1), drawn from the national mix reweighted by
  prefecture (agriculture in Hokkaido/Ibaraki, shipbuilding in Hiroshima/Ehime/Kagawa,
  manufacturing in Aichi, ...), and 1-2 policy-allowed tracks per sector. An employer's
  demand follows the Technical Intern Training intake table (doubled when excellent) with
  log-normal noise and is split over its slots; every slot gets one place (when the total
  allows it) and the rest is shared in proportion to demand so that the total is exactly
  ``round(0.8 * candidates)``: at least a fifth of the candidates cannot be placed.
  Capacities are the employers' wishes; legal intake caps are left to the policy layer.
* **Preferences.** A random ``unlisted_share`` of candidates lists nothing. Every other
  candidate ranks up to ``list_length`` distinct employers having a slot for the candidate's
  track in one of its aptitude sectors. Each list is a weighted sample without replacement:
  the candidate first picks one of its sectors (favouring its main one), then, if it lives
  in Japan, with probability 0.3 an employer of its own prefecture, otherwise any employer
  of that sector and track; employers weigh more in metro prefectures and with more
  capacity. Lists ignore employers' minimum Japanese levels (eligibility is the solver's
  job). Large pools are sampled by repeated draws with replacement, keeping first
  occurrences (which is exactly successive sampling without replacement); small pools are
  enumerated and sampled with Efraimidis-Spirakis keys for the *same* weights.

Ids are ``C`` + the number zero-padded to the width of ``candidates`` and ``E`` + at least
six digits. Everything is vectorized with numpy (one ``numpy.random.Generator`` seeded
with ``seed``; loops run only over rounds, list positions or fixed-size blocks) and turned
into polars frames at the end, so the output depends only on the arguments.
"""

from __future__ import annotations

from matcher.data.generate.candidates import _draw_aptitudes as _draw_aptitudes
from matcher.data.generate.candidates import _draw_candidates as _draw_candidates
from matcher.data.generate.contested import generate_contested as generate_contested
from matcher.data.generate.employers import _draw_employers as _draw_employers
from matcher.data.generate.employers import _draw_slots as _draw_slots
from matcher.data.generate.employers import _round_to_total as _round_to_total
from matcher.data.generate.entities import _Aptitudes as _Aptitudes
from matcher.data.generate.entities import _Candidates as _Candidates
from matcher.data.generate.entities import _Employers as _Employers
from matcher.data.generate.entities import _Preferences as _Preferences
from matcher.data.generate.entities import _Slots as _Slots
from matcher.data.generate.instance import generate_instance as generate_instance
from matcher.data.generate.mixes import ABROAD_SHARE_BY_TRACK as ABROAD_SHARE_BY_TRACK
from matcher.data.generate.mixes import APTITUDE_COUNT_PROBS as APTITUDE_COUNT_PROBS
from matcher.data.generate.mixes import CAPACITY_PER_CANDIDATE as CAPACITY_PER_CANDIDATE
from matcher.data.generate.mixes import EMPLOYER_SECTOR_COUNT_PROBS as EMPLOYER_SECTOR_COUNT_PROBS
from matcher.data.generate.mixes import EXCELLENT_SHARE as EXCELLENT_SHARE
from matcher.data.generate.mixes import FORBIDDEN_SECTOR_TRACKS as FORBIDDEN_SECTOR_TRACKS
from matcher.data.generate.mixes import INTAKE_STAFF_BOUNDS as INTAKE_STAFF_BOUNDS
from matcher.data.generate.mixes import INTAKE_VALUES as INTAKE_VALUES
from matcher.data.generate.mixes import LEVEL_PROBS_BY_TRACK as LEVEL_PROBS_BY_TRACK
from matcher.data.generate.mixes import METRO_WEIGHT as METRO_WEIGHT
from matcher.data.generate.mixes import MIN_LEVEL_CHOICES as MIN_LEVEL_CHOICES
from matcher.data.generate.mixes import MIN_LEVEL_PROBS as MIN_LEVEL_PROBS
from matcher.data.generate.mixes import NATIONALITY_SHARES as NATIONALITY_SHARES
from matcher.data.generate.mixes import OWN_PREFECTURE_PULL as OWN_PREFECTURE_PULL
from matcher.data.generate.mixes import PREFECTURE_WEIGHTS as PREFECTURE_WEIGHTS
from matcher.data.generate.mixes import REGIONAL_SECTOR_FACTORS as REGIONAL_SECTOR_FACTORS
from matcher.data.generate.mixes import SECTOR_MIX as SECTOR_MIX
from matcher.data.generate.mixes import SECTOR_PICK_WEIGHTS as SECTOR_PICK_WEIGHTS
from matcher.data.generate.mixes import SKILLS_TEST_BY_TRACK as SKILLS_TEST_BY_TRACK
from matcher.data.generate.mixes import TRACK_SHARES as TRACK_SHARES
from matcher.data.generate.mixes import TRACKS_PER_SECTOR_PROBS as TRACKS_PER_SECTOR_PROBS
from matcher.data.generate.preferences import _draw_employers_for as _draw_employers_for
from matcher.data.generate.preferences import _draw_preferences as _draw_preferences
from matcher.data.generate.preferences import _pool_probabilities as _pool_probabilities
from matcher.data.generate.preferences import _sample_by_draws as _sample_by_draws
from matcher.data.generate.preferences import _sample_by_enumeration as _sample_by_enumeration
from matcher.data.generate.sampling import BoolArray as BoolArray
from matcher.data.generate.sampling import FloatArray as FloatArray
from matcher.data.generate.sampling import IntArray as IntArray
from matcher.data.generate.slot_index import _Choice as _Choice
from matcher.data.generate.slot_index import _SlotIndex as _SlotIndex

__all__ = ["generate_contested", "generate_instance"]
