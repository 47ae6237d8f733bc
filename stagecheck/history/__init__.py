"""Across runs: the run history database, what changed since earlier runs, the deploy loop."""
