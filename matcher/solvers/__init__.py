"""Solvers, one module each; only these modules import a solver library."""
