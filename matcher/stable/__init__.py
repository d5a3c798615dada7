"""Stable matching: deferred acceptance (candidate- or employer-proposing, flexible or
naive caps), its compiled kernels, and the cutoffs it publishes."""
