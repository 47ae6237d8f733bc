"""What changed in the specification between two readings of the feature files, as a product
review meeting wants it: scenarios added, removed, reworded, re-tiered, re-owned, or whose
revenue changed."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from enum import StrEnum

from ..report.impact import tier_name
from ..report.view import money
from .spec import Feature, Scenario

REWORDED_ABOVE = 0.6  # how alike two scenarios of one feature must read to be one, reworded


class ChangeKind(StrEnum):
    ADDED = "added"
    REMOVED = "removed"
    REWORDED = "reworded"
    RETIERED = "re-tiered"
    REOWNED = "re-owned"
    REVENUE = "revenue changed"


@dataclass(frozen=True)
class SpecChange:
    kind: ChangeKind
    scenario: str      # its name now (before, for a removed one)
    feature: str
    anchor: str        # its catalog entry ("" for a removed one)
    before: str = ""
    after: str = ""


def _scenarios(features: list[Feature]) -> dict[str, Scenario]:
    return {s.name: s for feature in features for s in feature.scenarios}


def _pairs(old: dict[str, Scenario], new: dict[str, Scenario]
           ) -> tuple[list[tuple[Scenario, Scenario]], list[Scenario], list[Scenario]]:
    """Scenarios matched by name, then the renamed ones by how alike they read within a feature;
    the rest added or removed."""
    pairs = [(old[name], new[name]) for name in new if name in old]
    gone = [s for name, s in old.items() if name not in new]
    came = [s for name, s in new.items() if name not in old]
    for before in list(gone):
        alike = [(difflib.SequenceMatcher(None, before.text, after.text).ratio(), n)
                 for n, after in enumerate(came) if after.feature == before.feature]
        if alike and (best := max(alike))[0] >= REWORDED_ABOVE:
            pairs.append((before, came.pop(best[1])))
            gone.remove(before)
    return pairs, came, gone


def spec_changes(old_features: list[Feature], new_features: list[Feature]) -> list[SpecChange]:
    """The changes from `old_features` to `new_features`, in the order of the new files."""
    pairs, added, removed = _pairs(_scenarios(old_features), _scenarios(new_features))
    changes = [SpecChange(ChangeKind.ADDED, s.name, s.feature, s.anchor, after=tier_name(s.tier))
               for s in added]
    for before, after in pairs:
        def change(kind: ChangeKind, was: str, now: str, s: Scenario = after) -> SpecChange:
            return SpecChange(kind, s.name, s.feature, s.anchor, was, now)
        if before.text != after.text:
            was, now = before.text.splitlines(), after.text.splitlines()
            changes.append(change(ChangeKind.REWORDED, "\n".join(x for x in was if x not in now),
                                  "\n".join(x for x in now if x not in was)))
        if before.tier != after.tier:  # a tier's revenue comes with it: told here, once
            changes.append(change(ChangeKind.RETIERED, _tier(before), _tier(after)))
        elif before.revenue != after.revenue:
            changes.append(change(ChangeKind.REVENUE, money(before.revenue or 0),
                                  money(after.revenue or 0)))
        if before.owner != after.owner:
            changes.append(change(ChangeKind.REOWNED, before.owner or "no owner",
                                  after.owner or "no owner"))
    changes += [SpecChange(ChangeKind.REMOVED, s.name, s.feature, "", before=tier_name(s.tier))
                for s in removed]
    order = {name: n for n, name in enumerate(_scenarios(new_features))}
    place = {ChangeKind.ADDED: 0, ChangeKind.REMOVED: 2}
    return sorted(changes, key=lambda c: (place.get(c.kind, 1), order.get(c.scenario, len(order))))

def _tier(s: Scenario) -> str:
    return f"{tier_name(s.tier)} ({money(s.revenue or 0)} MRR)"
