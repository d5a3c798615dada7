"""Benchmarks: seeded synthetic instances, matcher vs baselines, ratios in one run."""
