"""Small pictures for the pages: inline SVG for histograms and timelines, PNG spectrograms.

SVG needs no dependency and stays sharp; a spectrogram is a pixel grid, so it is written as a
small PNG (stdlib zlib, a few KB) rather than thousands of SVG rectangles.
"""

from __future__ import annotations

import struct
import zlib
from html import escape

import numpy as np

ACCENT = "#4fc3f7"
WINDOW = "rgba(255, 202, 40, 0.25)"


def _points(values: np.ndarray, width: float, height: float, top: float) -> str:
    n = max(len(values) - 1, 1)
    peak = float(values.max()) if values.size and values.max() > 0 else 1.0
    return " ".join(
        f"{i * width / n:.1f},{top + height - float(v) / peak * height:.1f}"
        for i, v in enumerate(values)
    )


def histogram_svg(
    edges: list[float], counts: list[int], width: int = 360, height: int = 110
) -> str:
    """Bars of an activation histogram with the x range written under it."""
    if not counts:
        return '<p class="muted">No activations recorded.</p>'
    counts_arr = np.asarray(counts, dtype=np.float64)
    peak = max(float(counts_arr.max()), 1.0)
    plot_h, bar_w = height - 18, width / len(counts_arr)
    bars = "".join(
        f'<rect x="{i * bar_w:.1f}" y="{plot_h - c / peak * plot_h:.1f}" '
        f'width="{max(bar_w - 1, 0.5):.1f}" height="{c / peak * plot_h:.1f}"/>'
        for i, c in enumerate(counts_arr)
    )
    low, high = float(edges[0]), float(edges[-1])
    return (
        f'<svg class="hist" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="activation histogram"><g fill="{ACCENT}">{bars}</g>'
        f'<text x="0" y="{height - 3}">{low:.3g}</text>'
        f'<text x="{width}" y="{height - 3}" text-anchor="end">{high:.3g}</text></svg>'
    )


def timeline_svg(
    timeline: list[float],
    frame_rate: float,
    window: tuple[float, float] = (0.0, 0.0),
    span: tuple[float, float] | None = None,
    width: int = 360,
    height: int = 48,
) -> str:
    """The feature's activation over the clip; the best window shaded, ``span`` = the snippet."""
    values = np.maximum(np.asarray(timeline, dtype=np.float64), 0.0)
    if values.size == 0:
        return '<p class="muted">No timeline recorded.</p>'
    seconds = len(values) / frame_rate
    shade = ""
    for (start, end), colour in ((window, WINDOW), (span or (0.0, 0.0), "rgba(255,255,255,0.08)")):
        if end > start and end - start < seconds - 1e-6:  # a whole-clip shade says nothing
            x0, x1 = start / seconds * width, end / seconds * width
            shade += (
                f'<rect x="{x0:.1f}" y="0" width="{x1 - x0:.1f}" height="{height}" '
                f'fill="{colour}"/>'
            )
    title = escape(f"activation over {seconds:.1f} s, peak {values.max():.3g}")
    return (
        f'<svg class="timeline" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{title}"><title>{title}</title>{shade}'
        f'<polyline fill="none" stroke="{ACCENT}" stroke-width="1.5" '
        f'points="{_points(values, width, height - 4, 2)}"/></svg>'
    )


def _png(rgb: np.ndarray) -> bytes:
    """An 8-bit RGB PNG of an (height, width, 3) uint8 array."""
    height, width, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[row].tobytes() for row in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


# a dark-to-bright ramp (navy -> teal -> yellow) like the app's spectrogram view
_RAMP = np.array([[10, 12, 30], [30, 60, 120], [30, 150, 160], [120, 210, 110], [250, 240, 90]])


def spectrogram_png(db: np.ndarray, floor_db: float = -80.0) -> bytes:
    """(frames, bins) dB -> a PNG with time left to right and low frequencies at the bottom."""
    level = np.clip(1.0 - np.asarray(db, dtype=np.float64).T[::-1] / floor_db, 0.0, 1.0)
    position = level * (len(_RAMP) - 1)
    low = np.floor(position).astype(int).clip(0, len(_RAMP) - 2)
    frac = (position - low)[..., None]
    rgb = _RAMP[low] * (1 - frac) + _RAMP[low + 1] * frac
    return _png(np.ascontiguousarray(rgb.round().astype(np.uint8)))
