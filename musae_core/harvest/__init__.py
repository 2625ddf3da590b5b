"""Harvest residual activations (teacher-forced audio or own generations) into a sharded store.

``harvest_audio`` / ``harvest_generations`` write the store; ``ActivationStore.open`` reads it.
Layout and read API: docs/architecture.md.
"""

from musae_core.harvest.collection import SourceFile, list_audio_files, load_captions, read_prompts
from musae_core.harvest.config import GenerationSettings, HarvestConfig, HarvestReport
from musae_core.harvest.generations import harvest_generations
from musae_core.harvest.harvester import harvest_audio
from musae_core.harvest.store import ActivationStore

__all__ = [
    "ActivationStore",
    "GenerationSettings",
    "HarvestConfig",
    "HarvestReport",
    "SourceFile",
    "harvest_audio",
    "harvest_generations",
    "list_audio_files",
    "load_captions",
    "read_prompts",
]
