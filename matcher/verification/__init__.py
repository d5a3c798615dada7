"""Independent checks of results: assignments (eligibility, capacities, caps, objective)
and stability (blocking pairs). They share no data structure with the solvers."""
