"""The label-method registry for clip classifiers loaded from a file (``musae label --method
NAME --classifier FILE``), such as the demo's factor classifier.

Entries name their loader by a string, so the engine imports the code behind one (for the demo's,
``musae_core.demo``) only when a label job picks it; this module itself imports nothing heavy, so
the CLI can list the methods without loading torch.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from musae_core.errors import MusaeError

if TYPE_CHECKING:
    from musae_core.labeling.methods import TaggerMethod


@dataclass(frozen=True)
class FileClassifier:
    """How to load one kind of classifier file and what its labels are called."""

    loader: str  # "module:Class.method", called with the file's path; returns a tagger
    source: str  # the labels' origin in the database
    needs: str  # what the file is, for the error when none is given
    fix: str


FILE_CLASSIFIERS: dict[str, FileClassifier] = {
    "classifier": FileClassifier(
        "musae_core.demo.factor_tagger:FactorTagger.load",
        source="classifier",
        needs="a factor classifier .npz",
        fix="use resources/demo/factor_classifier.npz or train one: musae demo features.",
    ),
}


def file_classifier_method(name: str, path: str | None, top_k: int) -> TaggerMethod:
    """The label method of ``FILE_CLASSIFIERS[name]`` with the classifier in ``path``."""
    from musae_core.labeling.methods import TaggerMethod

    entry = FILE_CLASSIFIERS[name]
    if not path:
        raise MusaeError(f"--method {name} needs --classifier ({entry.needs}).", entry.fix)
    module_name, _, attribute = entry.loader.partition(":")
    load: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        load = getattr(load, part)
    return TaggerMethod(load(path), top_k=top_k, source=entry.source)
