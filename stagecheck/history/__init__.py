"""Across runs: the history database and what changed since earlier runs."""
