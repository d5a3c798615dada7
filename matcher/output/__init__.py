"""What a run produces: the result object, its report tables and summary, and the files
of an output directory (written atomically, never over what matcher did not write)."""
