"""Transfer rounds (ESDP job changes): the round, its compiled kernel and its verifier."""
