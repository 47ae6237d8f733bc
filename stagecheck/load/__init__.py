"""The load tier: Locust run headless as a subprocess (plan, deadline, statistics read back),
and its users, which run in Locust's own process."""
