"""The demo model's caption tokenizer: one token per word of the corpus' caption vocabulary.

Why not the byte-level tokenizer of the tiny test models: a small T5 trained for half an hour
on a CPU must first learn to spell words out of bytes before the decoder can condition on
them; with one token per word, "flute" is one embedding from the first step, and the decoder
learns to follow prompts within minutes. Words outside the corpus vocabulary map to ``<unk>``,
so any prompt still encodes (offline, as a standard ``tokenizer.json``).
"""

from __future__ import annotations

from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

from musae_core.demo.factors import (
    DYNAMICS,
    INSTRUMENT_FAMILIES,
    MODES,
    NOTE_NAMES,
    REGISTER_BANDS,
    TEMPO_BANDS,
)

SPECIALS = ("<pad>", "</s>", "<unk>")
FILLER = ("melody", "register", "in", "with", "drums", "without", "music", "a", "and", "key")


def caption_vocabulary() -> list[str]:
    """Every lower-cased word (and punctuation mark) a corpus caption can contain."""
    words: set[str] = set(FILLER) | {",", "#"}
    for group in (INSTRUMENT_FAMILIES, MODES, TEMPO_BANDS, REGISTER_BANDS, DYNAMICS):
        for name in group:
            words.update(name.lower().split())
    words.update(n.lower().replace("#", "") for n in NOTE_NAMES)
    return sorted(words)


def demo_tokenizer() -> PreTrainedTokenizerFast:
    """Lower-cases, splits on whitespace and punctuation, one id per known word."""
    vocab = {tok: i for i, tok in enumerate([*SPECIALS, *caption_vocabulary()])}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    core.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()]
    )
    core.post_processor = processors.TemplateProcessing(
        single="$A </s>", special_tokens=[("</s>", vocab["</s>"])]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token="<pad>", eos_token="</s>", unk_token="<unk>"
    )
