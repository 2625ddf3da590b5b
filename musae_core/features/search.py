"""What a search box entry matches among label texts, and how well.

Labels such as "no drums" or "without vocals" name the absence of a thing, so a search for
"drums" must not find them; words after a negation cue ("no", "not", "without", "non", ...)
carry a negative polarity and only match query words of the same polarity ("no drums" finds
"no drums" and "without drums"). Matches rank exact label > label starting with the query >
every word in the label > words found in the description.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

NEGATION_CUES = frozenset({"no", "not", "non", "without", "never", "lacking", "absent", "minus"})
CLAUSE_BREAKS = frozenset({"but", "with", "plus"})
FILLERS = frozenset({"and", "or"})
EXACT, PREFIX, WORDS, DESCRIPTION = 4, 3, 2, 1
QUALITY_NAMES = {
    EXACT: "exact label",
    PREFIX: "label starts with it",
    WORDS: "words in label",
    DESCRIPTION: "words in description",
}

_TOKEN = re.compile(r"\w+|[,;:.()/|!?]")


@lru_cache(maxsize=8192)  # label texts repeat: the browser filters thousands per keystroke
def polar_words(text: str) -> tuple[tuple[str, bool], ...]:
    """Lower-case words of ``text`` with a flag saying whether a negation cue governs them.

    A cue negates the words after it up to punctuation or a conjunction ("no drums, loud").
    """
    out: list[tuple[str, bool]] = []
    negated = False
    for token in _TOKEN.findall(text.lower()):
        if not token[0].isalnum() and token[0] != "_":
            negated = False
        elif token in NEGATION_CUES:
            negated = True
        elif token in CLAUSE_BREAKS:
            negated = False
        elif token not in FILLERS:
            out.append((token, negated))
    return tuple(out)


def content_words(text: str) -> list[str]:
    """The words a label must contain for ``text`` to match (cues and conjunctions dropped)."""
    return [word for word, _ in polar_words(text)]


def _covers(query: tuple[tuple[str, bool], ...], words: tuple[tuple[str, bool], ...]) -> bool:
    """Every query word is a prefix of some word of the same polarity."""
    return all(any(w.startswith(q) and n == neg for w, n in words) for q, neg in query)


def match_quality(query: str, label: str, description: str = "") -> int:
    """0 (no match) or EXACT / PREFIX / WORDS / DESCRIPTION for one label against ``query``."""
    wanted = polar_words(query)
    if not wanted:
        return 0
    words = polar_words(label)
    if words == wanted:
        return EXACT
    if words[: len(wanted) - 1] == wanted[:-1] and len(words) >= len(wanted):
        last_q, last_w = wanted[-1], words[len(wanted) - 1]
        if last_w[1] == last_q[1] and last_w[0].startswith(last_q[0]):
            return PREFIX
    if _covers(wanted, words):
        return WORDS
    if description and _covers(wanted, words + polar_words(description)):
        return DESCRIPTION
    return 0


@dataclass(frozen=True)
class SearchHit:
    """One feature found by a search: its best-matching label and how well it matched."""

    feature_id: int
    quality: int  # EXACT, PREFIX, WORDS or DESCRIPTION
    label: str  # the label text that matched ("" for an id match)
    is_best_label: bool  # the matched label is the feature's shown (best) label
    label_score: float

    @property
    def rank_key(self) -> float:
        """Higher is better: quality, then shown label, then the label's own score (0-1)."""
        score = min(max(self.label_score, 0.0), 1.0)
        return self.quality * 10.0 + (2.0 if self.is_best_label else 0.0) + score


def rank_hits(query: str, rows: list[tuple]) -> list[SearchHit]:
    """Best hit per feature from label rows (feature_id, text, description, score, best_label),
    best first (ties by feature id)."""
    best: dict[int, SearchHit] = {}
    for feature_id, text, description, score, best_label in rows:
        quality = match_quality(query, text, description or "")
        if not quality:
            continue
        hit = SearchHit(int(feature_id), quality, text, text == best_label, float(score or 0.0))
        if feature_id not in best or hit.rank_key > best[feature_id].rank_key:
            best[feature_id] = hit
    return sorted(best.values(), key=lambda h: (-h.rank_key, h.feature_id))
