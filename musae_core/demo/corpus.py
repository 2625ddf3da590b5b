"""Build the demo corpus: seeded factor samples -> MIDI -> FluidSynth -> FLAC + factor records
+ per-frame truth (truth.py).

Clip ``i`` is a pure function of (seed, i), so the corpus is reproducible, a killed build resumes
where it stopped, and workers can render clips in any order.
"""

from __future__ import annotations

import json
import random
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from pathlib import Path

import soundfile as sf

from musae_core.demo.composer import compose_notes, notes_to_midi
from musae_core.demo.corpus_spec import CorpusSpec, clip_name
from musae_core.demo.factors import sample_factors
from musae_core.demo.synth import find_fluidsynth, find_soundfont, render_midi
from musae_core.demo.truth import clip_truth, derive_corpus_truth, save_clip_truth, truth_path
from musae_core.errors import MusaeError
from musae_core.fileio import atomic_path, write_json_atomic
from musae_core.jobs import CancelToken, ProgressFn, check, no_progress


def render_clip(spec: CorpusSpec, index: int, soundfont: Path, folder: Path) -> dict:
    """Render clip ``index`` into ``folder``: audio, per-frame truth, then its factor record
    (each atomic; the record comes last, so its presence means the clip is complete)."""
    rng = random.Random(f"{spec.seed}:{index}")  # truth.derive_clip replays this stream
    factors = sample_factors(rng)
    notes = compose_notes(factors, spec.clip_seconds, rng)
    audio = render_midi(
        notes_to_midi(notes, factors), soundfont, spec.sample_rate, spec.clip_seconds
    )
    record = {"clip": clip_name(index), "file": f"{clip_name(index)}.flac", **factors.to_dict()}
    with atomic_path(folder / record["file"]) as tmp:
        sf.write(str(tmp), audio, spec.sample_rate, format="FLAC", subtype="PCM_16")
    save_clip_truth(
        truth_path(folder, clip_name(index)), clip_truth(notes, factors.bpm, spec.clip_seconds)
    )
    write_json_atomic(folder / f"{clip_name(index)}.json", record)
    return record


def _open_or_create(out: Path, spec: CorpusSpec) -> None:
    meta_path = out / "corpus.json"
    if meta_path.exists():
        existing = json.loads(meta_path.read_text())
        wanted = spec.to_dict()
        if {**existing, "n_clips": 0} != {**wanted, "n_clips": 0}:
            raise MusaeError(
                f"{out} holds a different corpus ({existing}).",
                "use another --out folder, or the same --seed/--clip-seconds/--sample-rate.",
            )
        if existing != wanted:  # clip i depends only on (seed, i): growing keeps every clip
            write_json_atomic(meta_path, wanted)
        return
    (out / "clips").mkdir(parents=True, exist_ok=True)
    write_json_atomic(meta_path, spec.to_dict())


def build_corpus(
    out: str | Path,
    spec: CorpusSpec,
    soundfont: str | Path | None = None,
    workers: int = 2,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> Path:
    """Render every missing clip, then write factors.jsonl and captions.json; returns ``out``."""
    progress = progress or no_progress
    out = Path(out)
    font = find_soundfont(soundfont)
    find_fluidsynth()
    out.mkdir(parents=True, exist_ok=True)
    _open_or_create(out, spec)
    clips = out / "clips"
    todo = [i for i in range(spec.n_clips) if not (clips / f"{clip_name(i)}.json").exists()]
    done = spec.n_clips - len(todo)
    progress(done, spec.n_clips)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        pending = set()
        for index in todo:
            check(cancel)
            pending.add(pool.submit(render_clip, spec, index, font, clips))
            if len(pending) >= 2 * workers:
                finished, pending = wait(pending, return_when=FIRST_EXCEPTION)
                for future in finished:
                    future.result()
                done += len(finished)
                progress(done, spec.n_clips)
        for future in pending:
            future.result()
    progress(spec.n_clips, spec.n_clips)
    derive_corpus_truth(out, cancel=cancel)  # clips rendered before truth was recorded
    _write_manifests(out, spec)
    return out


def _write_manifests(out: Path, spec: CorpusSpec) -> None:
    records = [
        json.loads((out / "clips" / f"{clip_name(i)}.json").read_text())
        for i in range(spec.n_clips)
    ]
    with atomic_path(out / "factors.jsonl") as tmp:
        tmp.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in records))
    write_json_atomic(out / "captions.json", {r["file"]: r["caption"] for r in records})


def load_factors(corpus: str | Path) -> list[dict]:
    """The factor record of every clip, in clip order."""
    path = Path(corpus) / "factors.jsonl"
    if not path.exists():
        raise MusaeError(f"{path} is missing.", "finish the build with `musae demo build-corpus`.")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
