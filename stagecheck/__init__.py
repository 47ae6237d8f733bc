"""stagecheck: a behaviour-driven release gate for an AI agent platform.

The data flows one way: `client` → `config` → `platform` (and `load`) → `run` → `report` →
`history` and `outputs` → `gate` (everything that knows behave) → `cli` and `service`. Step
modules use `stagecheck.steps`; behave's hooks use `stagecheck.gate.fixtures`. See
docs/architecture.md.
"""

__all__: list[str] = []
