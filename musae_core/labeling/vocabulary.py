"""The music vocabulary for zero-shot tagging, loaded from ``resources/vocabulary/*.txt``.

Each file is a category (instruments, genres, moods...). Terms are wrapped in a category prompt
("the sound of a cello", "jazz music") because CLAP was trained on captions, not bare words.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from musae_core.errors import MusaeError

PROMPT_TEMPLATES = {
    "instruments": "the sound of {term}",
    "genres": "{term} music",
    "moods": "{term} music",
    "techniques": "music with {term}",
    "production": "music with a {term} sound",
}
DEFAULT_TEMPLATE = "music with {term}"
RESOURCES_ENV = "MUSAE_RESOURCES"


@dataclass(frozen=True)
class VocabularyTerm:
    """A tag, its category and the sentence given to the text encoder."""

    term: str
    category: str
    prompt: str


def resources_dir() -> Path:
    """``$MUSAE_RESOURCES`` if set, else the repository's ``resources/`` folder."""
    override = os.environ.get(RESOURCES_ENV)
    if override:
        return Path(override).expanduser()
    return Path(__file__).resolve().parents[2] / "resources"


def default_vocabulary_dir() -> Path:
    return resources_dir() / "vocabulary"


def parse_terms(text: str) -> list[str]:
    """Terms from a file's text: one a line, ``#`` comments and blank lines skipped."""
    terms = []
    for line in text.splitlines():
        term = line.split("#", 1)[0].strip()
        if term:
            terms.append(" ".join(term.split()))
    return terms


@dataclass(frozen=True)
class Vocabulary:
    """An ordered, de-duplicated list of terms across categories."""

    terms: tuple[VocabularyTerm, ...]

    def __len__(self) -> int:
        return len(self.terms)

    @property
    def categories(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(t.category for t in self.terms))

    def prompts(self) -> list[str]:
        return [t.prompt for t in self.terms]

    @classmethod
    def from_terms(cls, terms: dict[str, Sequence[str]]) -> Vocabulary:
        """Build from {category: [term, ...]}; a term seen twice keeps its first category."""
        seen: set[str] = set()
        items = []
        for category, words in terms.items():
            template = PROMPT_TEMPLATES.get(category, DEFAULT_TEMPLATE)
            for word in words:
                key = word.lower()
                if key in seen:
                    continue
                seen.add(key)
                items.append(VocabularyTerm(word, category, template.format(term=word)))
        if not items:
            raise MusaeError("The tagging vocabulary is empty.", "add terms to the .txt files.")
        return cls(tuple(items))


def load_vocabulary(folder: str | os.PathLike[str] | None = None) -> Vocabulary:
    """Load every ``*.txt`` in ``folder`` (default: the shipped music vocabulary)."""
    path = Path(folder) if folder is not None else default_vocabulary_dir()
    files = sorted(path.glob("*.txt")) if path.is_dir() else []
    if not files:
        raise MusaeError(
            f"No vocabulary files (*.txt) in {path}.",
            f"point --vocabulary at a folder of term lists, or set {RESOURCES_ENV} to the "
            "folder holding musae's resources/.",
        )
    terms: dict[str, Sequence[str]] = {}
    for file in files:
        try:
            terms[file.stem] = parse_terms(file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise MusaeError(f"Cannot read vocabulary file {file}: {exc}.", "fix it.") from exc
    return Vocabulary.from_terms(terms)
