"""stagecheck: a behaviour-driven release gate for an AI agent platform.

The data flows one way: `run` (settings, target, recording clients, world) → `report` (result
model, probes, diagnosis, views, rendering) → `history` (store, what changed, the deploy loop).
Step modules use `stagecheck.steps`; behave's hooks use `stagecheck.fixtures`. See
docs/architecture.md.
"""

__all__: list[str] = []
