"""Music models behind one interface: load by id, generate, encode, teacher-force, hook.

``load_model('tiny' | folder | 'facebook/musicgen-small')`` returns a ``MusicModel``.
"""

from musae_core.models.base import CfgBranch, GenerationRequest, MusicModel, Take
from musae_core.models.hf_quiet import quiet_musicgen_config_check
from musae_core.models.loading import download_model, load_model

quiet_musicgen_config_check()  # before any MusicGen config is built, loaded or converted

__all__ = ["CfgBranch", "GenerationRequest", "MusicModel", "Take", "download_model", "load_model"]
