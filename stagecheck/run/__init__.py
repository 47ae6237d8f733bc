"""The state of one run that steps write and the report reads: the world of a scenario and
of the run, and the record of what the run saw."""
