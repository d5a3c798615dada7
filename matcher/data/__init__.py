"""The data contract: reference facts, the policy schema, the instance model, reading and
validating instances, and synthetic instances."""
