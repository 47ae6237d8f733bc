"""The proofs (proofs.toml): which stand-in fault makes each Then step fail. The catalog shows
them and the detection tests run them, so both read this one file."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

PROOFS = Path(__file__).with_name("proofs.toml")

Table = dict[str, dict[str, str]]  # fault -> {scenario: the step at which it must fail}


@dataclass(frozen=True)
class Proofs:
    p1: Table              # run with the whole P1 gate
    tiers: Table           # run with the P2-P6 tiers of their scenarios
    load: Table            # run with the load tier
    degrades: dict[str, set[str]] = field(default_factory=dict)
    elsewhere: dict[str, str] = field(default_factory=dict)  # fault -> the test proving it

    def tables(self) -> dict[str, Table]:
        return {"p1": self.p1, "tiers": self.tiers, "load": self.load}

    def proving(self, scenario: str, step: str) -> list[str]:
        """The faults that make this scenario fail at this step, sorted."""
        return sorted({fault for table in self.tables().values()
                       for fault, row in table.items() if row.get(scenario) == step})

    def proven_steps(self) -> set[tuple[str, str]]:
        return {(scenario, step) for table in self.tables().values()
                for row in table.values() for scenario, step in row.items()}


def load_proofs(path: Path = PROOFS) -> Proofs:
    with path.open("rb") as handle:
        data = tomllib.load(handle)
    return Proofs(p1=data.get("p1", {}), tiers=data.get("tiers", {}), load=data.get("load", {}),
                  degrades={fault: set(names) for fault, names in data.get("degrades", {}).items()},
                  elsewhere=dict(data.get("elsewhere", {})))
