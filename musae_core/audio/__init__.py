"""Audio in and out: loading and resampling, WAV export with a reproducibility sidecar."""
