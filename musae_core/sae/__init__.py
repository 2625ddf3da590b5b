"""Sparse autoencoders: architectures, training, evaluation, SAELens-format I/O and steering."""

from musae_core.sae.architectures import REGISTRY, SparseAutoencoder, build_sae
from musae_core.sae.config import SAEConfig
from musae_core.sae.io import load_sae, save_sae
from musae_core.sae.steering import feature_intervention, parse_feature_steer

__all__ = [
    "REGISTRY",
    "SAEConfig",
    "SparseAutoencoder",
    "build_sae",
    "feature_intervention",
    "load_sae",
    "parse_feature_steer",
    "save_sae",
]
