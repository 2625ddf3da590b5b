"""Write the static site: ``DIR/index.html``, ``DIR/feature-N.html``, audio/ and img/.

The site is built in ``DIR.tmp`` and renamed into place at the end, so a cancelled or failed
export leaves no half-written folder and an existing ``DIR`` is replaced only when asked.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2

from musae_core import __version__
from musae_core.errors import MusaeError
from musae_core.jobs import CancelToken, ProgressFn, check
from musae_core.workstation.details import feature_details
from musae_core.workstation.pages import pictures, templates, words

if TYPE_CHECKING:
    from musae_core.features.db import FeatureDB
    from musae_core.features.records import FeatureRecord
    from musae_core.workstation.details import ClipView

PLAYS_IN_BROWSERS = {".opus", ".ogg", ".flac", ".wav", ".mp3"}
"""Snippet formats copied as-is: Chromium and Firefox play Ogg Opus and FLAC natively."""


@dataclass
class ExportReport:
    folder: Path
    pages: int
    audio_files: int
    clips_without_audio: int

    @property
    def index(self) -> Path:
        return self.folder / "index.html"

    def summary(self) -> str:
        return (
            f"wrote {self.pages} feature pages and {self.audio_files} audio files to "
            f"{self.folder} (open {self.index}); {self.clips_without_audio} clips had no audio"
        )


def page_name(feature: int) -> str:
    return f"feature-{feature}.html"


def _environment() -> jinja2.Environment:
    loader = jinja2.DictLoader(
        {
            "base.html": templates.BASE,
            "index.html": templates.INDEX,
            "feature.html": templates.FEATURE,
        }
    )
    return jinja2.Environment(loader=loader, autoescape=True, undefined=jinja2.StrictUndefined)


def _fraction(value: float) -> str:
    return f"{100 * value:.2g} %" if value < 0.01 else f"{100 * value:.1f} %"


def _clip_view(
    view: ClipView, folder: Path, feature: int, counts: dict[str, int]
) -> dict[str, Any]:
    from musae_core.features.snippets import snippet_span

    clip = view.clip
    entry = {
        "rank": clip.rank,
        "source": Path(str(clip.source_path)).name,
        "start": f"{clip.clip_start:.1f}",
        "mean": f"{clip.mean_activation:.3g}",
        "peak": f"{clip.peak_activation:.3g}",
        "audio": None,
        "spectrogram": None,
    }
    span = None
    snippet = clip.snippet_path
    window = (float(clip.best_window[0]), float(clip.best_window[1]))
    audio, spectrum = view.audio, view.spectrogram
    if (
        audio is not None
        and audio.size > 0
        and spectrum is not None
        and snippet is not None
        and Path(snippet).suffix in PLAYS_IN_BROWSERS
    ):
        target = folder / "audio" / Path(snippet).name
        if not target.exists():
            shutil.copyfile(snippet, target)
            counts["audio"] += 1
        image = folder / "img" / f"f{feature}-c{clip.rank}.png"
        image.write_bytes(pictures.spectrogram_png(spectrum.db))
        entry["audio"] = f"audio/{target.name}"
        entry["spectrogram"] = f"img/{image.name}"
        seconds = audio.shape[-1] / view.sample_rate
        span = snippet_span(window, clip.clip_seconds, seconds)
    else:
        counts["missing"] += 1
    entry["timeline"] = pictures.timeline_svg(
        [float(v) for v in clip.timeline], clip.frame_rate, window, span
    )
    return entry


def _feature_page(
    db: FeatureDB,
    feature: int,
    folder: Path,
    exported: set[int],
    counts: dict[str, int],
    clips: int,
) -> dict[str, Any]:
    details = feature_details(db, feature, max_clips=clips)
    record = details.record
    edges, hist_counts = record.histogram
    return {
        "id": feature,
        "label": record.best_label,
        "description": record.description,
        "frequency": _fraction(record.frequency),
        "clip_rate": _fraction(record.clip_rate),
        "max": f"{record.max_activation:.3g}",
        "labels": [words.label_sentence(label) for label in details.labels],  # shown first
        "histogram": pictures.histogram_svg(edges, hist_counts),
        "clips": [_clip_view(view, folder, feature, counts) for view in details.clips],
        "neighbours": [
            {
                "id": n,
                "cosine": f"{c:.2f}",
                "label": label,
                "page": page_name(n) if n in exported else None,
            }
            for n, c, label in details.neighbours
        ],
        "steering": words.steering_sentence(db.steering(feature)),
    }


def _index_row(page: dict[str, Any], record: FeatureRecord) -> dict[str, Any]:
    steers = record.steers
    return {
        "id": page["id"],
        "page": page_name(page["id"]),
        "label": page["label"],
        "score": "" if record.label_score is None else f"{record.label_score:.2f}",
        "frequency": page["frequency"],
        "steering": "not evaluated" if steers is None else ("steers" if steers else "no effect"),
    }


def _prepare(out: Path, overwrite: bool) -> Path:
    if out.exists() and not overwrite:
        raise MusaeError(f"{out} already exists.", "pass --overwrite or choose another --out.")
    if out.exists() and not out.is_dir():
        raise MusaeError(f"{out} is a file, not a folder.", "choose a folder for --out.")
    parent = out.parent
    if not parent.is_dir():
        raise MusaeError(
            f"Cannot write {out}: folder {parent} does not exist.",
            "create the folder or choose another --out.",
        )
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        (tmp / "audio").mkdir(parents=True)
        (tmp / "img").mkdir()
    except OSError as exc:
        raise MusaeError(f"Cannot write {out}: {exc}.", "choose a writable folder.") from exc
    return tmp


def _swap_in(tmp: Path, out: Path) -> None:
    old = out.with_name(out.name + ".old")
    if out.exists():
        shutil.rmtree(old, ignore_errors=True)
        out.rename(old)
    tmp.rename(out)
    shutil.rmtree(old, ignore_errors=True)


def export_feature_pages(
    db: FeatureDB,
    features: list[int],
    out: str | Path,
    overwrite: bool = False,
    clips: int = 10,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> ExportReport:
    """Export ``features`` of an open ``FeatureDB`` as a static site in folder ``out``."""
    out = Path(out)
    if clips < 0:
        raise MusaeError(f"--clips {clips} is negative.", "give 0 or more clips per feature.")
    tmp = _prepare(out, overwrite)
    env, counts, exported = _environment(), {"audio": 0, "missing": 0}, set(features)
    common = {"version": __version__, "db_name": db.path.name}
    rows = []
    try:
        for done, feature in enumerate(features):
            check(cancel)
            page = _feature_page(db, feature, tmp, exported, counts, clips)
            html = env.get_template("feature.html").render(f=page, **common)
            (tmp / page_name(feature)).write_text(html, encoding="utf-8")
            rows.append(_index_row(page, db.feature(feature)))
            if progress is not None:
                progress(done + 1, len(features) + 1)
        check(cancel)
        meta = db.meta()
        title = f"{meta.get('model_id', 'a model')} layer {meta.get('layer', '?')}"
        description = f"SAE: {Path(str(meta.get('sae_path', '?'))).name}; database {db.path.name}."
        index = env.get_template("index.html").render(
            features=rows, title=title, description=description, **common
        )
        (tmp / "index.html").write_text(index, encoding="utf-8")
        (tmp / "style.css").write_text(templates.STYLE, encoding="utf-8")
        _swap_in(tmp, out)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise MusaeError(
            f"Cannot write the feature pages to {out}: {exc}.",
            "check the folder is writable and the disk has space.",
        ) from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if progress is not None:
        progress(len(features) + 1, len(features) + 1)
    return ExportReport(out, len(features), counts["audio"], counts["missing"])
