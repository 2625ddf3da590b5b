"""Concept feature groups as the workstation shows them: per feature, per concept, in words.

The scorecard (``musae demo score --write-db``) stores, per concept, the few features that
together cover it (``musae_core.features.concept_groups``); the inspector lists a feature's
groups and the browser filters by concept, both from ``feature_concepts`` (one DB read, on a
worker), never from the database itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from musae_core.features.concept_groups import ConceptGroup, concept_groups
from musae_core.workstation.mixer import MixerState

if TYPE_CHECKING:
    from musae_core.features.db import FeatureDB

NO_GROUPS = "No concept groups: run `musae demo score --write-db` or a sweep with a truth table."


@dataclass
class FeatureConcepts:
    """The groups one feature belongs to, and every concept that has a group."""

    groups: list[tuple[str, ConceptGroup]] = field(default_factory=list)  # (name, group)
    concepts: dict[str, ConceptGroup] = field(default_factory=dict)  # name -> group, sorted
    labels: dict[int, str] = field(default_factory=dict)  # best label of each member shown

    @property
    def stored(self) -> bool:
        """Whether the database holds any group (else the inspector says how to make them)."""
        return bool(self.concepts)


def display_name(concept: str) -> str:
    """A truth column's name in words: "drums=false" -> "drums off", "pitch_class=C#" ->
    "pitch class C#" (a newcomer read "drums=false" and "register=high" as developer notation)."""
    key, sep, value = concept.partition("=")
    value = {"true": "on", "false": "off"}.get(value, value)
    return f"{key.replace('_', ' ')} {value}" if sep else concept.replace("_", " ")


def concept_names(groups: list[ConceptGroup]) -> dict[str, ConceptGroup]:
    """Groups by the name the app shows: the concept in words, plus its source when several
    scorecards wrote groups (two sources may both group ``drums=true``)."""
    several = len({g.source for g in groups}) > 1
    named = {display_name(g.concept) + (f" ({g.source})" if several else ""): g for g in groups}
    return dict(sorted(named.items()))


def feature_concepts(db: FeatureDB | None, feature: int | None = None) -> FeatureConcepts:
    """Every concept with a group, the groups holding ``feature`` and their members' labels.
    Empty for no database or one older than the ``concept_groups`` table."""
    if db is None:
        return FeatureConcepts()
    concepts = concept_names(concept_groups(db))
    mine = [(name, g) for name, g in concepts.items() if feature in g.features]
    members = sorted({j for _, g in mine for j in g.features})
    labels = {row.id: row.best_label or "" for row in db.query(ids=members)} if members else {}
    return FeatureConcepts(mine, concepts, labels)


def _num(value: float | None) -> str:
    return "?" if value is None else f"{value:.2f}"


def group_sentence(name: str, group: ConceptGroup) -> str:
    """'pitch_class=C#: 3 features together reach F1 0.82 of the layer's 0.91 (best single
    feature AUROC 0.66)': how far the group gets, against what the whole layer gets."""
    n = len(group.features)
    verb = "features together reach" if n != 1 else "feature reaches"
    text = f"{name}: {n} {verb} F1 {_num(group.group_f1)} of the layer's {_num(group.ceiling_f1)}"
    if group.best_auroc is not None:
        text += f" (best single feature AUROC {group.best_auroc:.2f})"
    return text


def with_group(mixer: MixerState, features: list[int], labels: dict[int, str]) -> MixerState:
    """``mixer`` with a strip for each member not yet in it, in group order (one new state, so
    adding a group is one undo step)."""
    for feature in features:
        mixer = mixer.add(int(feature), labels.get(int(feature), ""))
    return mixer
