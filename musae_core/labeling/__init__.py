"""Automatic labels for SAE features, and their validation.

One module per concept: ``descriptors`` (music DSP), ``descriptor_labeler`` (significant
descriptor differences), ``vocabulary`` + ``clap`` + ``clap_tagger`` (zero-shot tags),
``clap_validation`` (label/audio alignment), ``llm_client`` + ``llm_labeler`` (a multimodal LLM
listens), ``taggers`` (user-provided Essentia models), ``clips`` (top and baseline audio),
``methods`` + ``jobs`` (resumable runs over a feature database), ``cli`` (``musae label``).
Kept import-light: heavy libraries load inside the modules that need them.
"""

from musae_core.labeling.results import LabelResult

__all__ = ["LabelResult"]
