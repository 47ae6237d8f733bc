"""Everything that knows behave: the runner plugin, the fixtures, opening the target, the
selection of shards and parts, the probes at the end of a run, and concluding it."""
