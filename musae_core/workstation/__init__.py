"""The headless workstation the desktop app drives: project, mixer, undo, renders, takes.

No Qt here (a test enforces it): everything a GUI needs is callable from scripts and tests.
"""

from musae_core.workstation.analysis import Spectrogram, spectrogram, waveform_peaks
from musae_core.workstation.details import ClipView, FeatureDetails, feature_details
from musae_core.workstation.history import History
from musae_core.workstation.master import MasterSettings
from musae_core.workstation.mixer import Channel, MixerState, default_envelope
from musae_core.workstation.project import Project
from musae_core.workstation.session import Session, StreamChunk
from musae_core.workstation.settings import Settings, llm_api_key
from musae_core.workstation.takes import TakeRecord, loudness_db, matched_gains

__all__ = [
    "Channel",
    "ClipView",
    "FeatureDetails",
    "History",
    "MasterSettings",
    "MixerState",
    "Project",
    "Session",
    "Settings",
    "Spectrogram",
    "StreamChunk",
    "TakeRecord",
    "default_envelope",
    "feature_details",
    "llm_api_key",
    "loudness_db",
    "matched_gains",
    "spectrogram",
    "waveform_peaks",
]
