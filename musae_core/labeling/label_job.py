"""Run a labelling method over many features of a feature database, resumably.

The loop is the only place labels are written. Per feature: skip it when the method's job is
already done, read its top clips, label, store every new label (an identical source+text label
is never added twice, so a crash between storing and marking done cannot duplicate), validate
unvalidated labels with CLAP when a validator is given, then mark the job done. A failing
feature is recorded with ``record_error`` and the job goes on; cancelling stops between steps
and a re-run picks up exactly the features (and labels) still missing.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from musae_core.errors import Cancelled, MusaeError
from musae_core.features.feature_store import FeatureStore
from musae_core.jobs import CancelToken, ProgressFn, check
from musae_core.labeling.clip_audio import (
    BaselineClip,
    baseline_evidence,
    baseline_for,
    sample_baseline,
)
from musae_core.labeling.llm_client import LLMJobStopped
from musae_core.labeling.methods import ClapValidator, FeatureMethod

log = logging.getLogger(__name__)
VALIDATE_JOB = "label:validate"


@dataclass
class JobSummary:
    """What a run did; ``stopped`` says why it ended early (empty when it finished)."""

    job: str
    selected: int = 0
    skipped: int = 0
    done: int = 0
    failed: int = 0
    labels_added: int = 0
    validated: int = 0
    stopped: str = ""
    errors: list[tuple[int, str]] = field(default_factory=list)
    never_fired: list[int] = field(default_factory=list)
    """Features skipped because they never fired over the analysed data (nothing to label)."""


class _NeverFired(Exception):
    """A dead feature: it has no top clips because it never fired, not because of an error."""


def all_feature_ids(db: FeatureStore) -> list[int]:
    """Every feature id in the database, in its own order."""
    return [row.id for row in db.query()]


def parse_feature_list(text: str) -> list[int]:
    """'1,2,5' or '3-7,9' -> ids."""
    ids: list[int] = []
    try:
        for part in filter(None, (p.strip() for p in text.split(","))):
            if "-" in part:
                first, last = (int(x) for x in part.split("-", 1))
                ids.extend(range(first, last + 1))
            else:
                ids.append(int(part))
    except ValueError as exc:
        raise MusaeError(
            f"Bad feature list {text!r}.", "use e.g. --features 1,2,5 or 10-20."
        ) from exc
    return list(dict.fromkeys(ids))


def _safe_message(exc: BaseException, secret: str) -> str:
    text = exc.one_line() if isinstance(exc, MusaeError) else f"{type(exc).__name__}: {exc}"
    return text.replace(secret, "***") if secret else text


def _num(value: float | None) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def run_label_job(
    db: FeatureStore,
    method: FeatureMethod | None,
    feature_ids: Sequence[int],
    validator: ClapValidator | None = None,
    *,
    baseline_size: int = 64,
    seed: int = 0,
    max_top_clips: int = 10,
    limit: int | None = None,
    secret: str = "",
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> JobSummary:
    """Label (``method``) and/or validate (``validator``) ``feature_ids``; see module doc.

    ``secret`` (an API key) is scrubbed from every recorded error message.
    """
    if method is None and validator is None:
        raise MusaeError("Nothing to run: no labelling method and no validator.", "pick one.")
    job = method.job if method is not None else VALIDATE_JOB
    secret = secret or getattr(method, "secret", "")
    summary = JobSummary(job=job, selected=len(feature_ids))
    needs_pool = validator is not None or (method is not None and method.needs_baseline)
    pool: list[BaselineClip] = []
    if needs_pool:
        pool = sample_baseline(db, all_feature_ids(db), baseline_size, seed)
    total = len(feature_ids)
    for index, feature_id in enumerate(feature_ids):
        if limit is not None and summary.done + summary.failed >= limit:
            summary.stopped = f"limit of {limit} features reached"
            break
        try:
            check(cancel)
            if method is not None and db.done(feature_id, job):
                summary.skipped += 1
                continue
            added, validated = _one_feature(
                db, method, validator, feature_id, pool, seed, max_top_clips, cancel
            )
            summary.labels_added += added
            summary.validated += validated
            if method is not None:
                db.mark_done(feature_id, job)
            summary.done += 1
        except _NeverFired:
            summary.never_fired.append(feature_id)
        except Cancelled:
            summary.stopped = "cancelled"
            break
        except LLMJobStopped as exc:  # budget spent or endpoint dead: not the feature's fault
            summary.stopped = exc.problem.rstrip(".")
            break
        except Exception as exc:  # one bad feature must not end a job over thousands
            message = _safe_message(exc, secret)
            log.warning("feature %s failed: %s", feature_id, message)
            db.record_error(feature_id, job, message)
            summary.failed += 1
            summary.errors.append((feature_id, message))
        finally:
            if progress is not None:
                progress(index + 1, total)
    return summary


def _one_feature(
    db: FeatureStore,
    method: FeatureMethod | None,
    validator: ClapValidator | None,
    feature_id: int,
    pool: Sequence[BaselineClip],
    seed: int,
    max_top_clips: int,
    cancel: CancelToken | None,
) -> tuple[int, int]:
    top = list(db.top_clips(feature_id))[:max_top_clips]
    if not top:
        _explain_missing_top_clips(db, feature_id)
    baseline = baseline_for(pool, feature_id, top)
    context = {"baseline": baseline_evidence(pool, len(baseline), seed)}
    added = 0
    if method is not None:
        results = method.label(feature_id, top, baseline if method.needs_baseline else [], cancel)
        existing = {(r.source, r.text) for r in db.labels(feature_id)}
        for result in results:
            if (result.source, result.text) in existing:
                continue
            evidence = {**result.evidence, "job": method.job}
            if method.needs_baseline:
                evidence.update(context)
            db.add_label(
                feature_id,
                result.source,
                result.text,
                float(result.score),
                evidence,
                description=result.description,
            )
            existing.add((result.source, result.text))
            added += 1
    validated = 0
    if validator is not None:
        pending = [r for r in db.labels(feature_id) if r.clap_score is None]
        if pending and baseline:
            texts = [r.text for r in pending]
            checks = validator.validate(texts, top, baseline, cancel)
            for row, alignment in zip(pending, checks, strict=True):
                db.set_label_validation(row.id, _num(alignment.clap_score), _num(alignment.auroc))
                validated += 1
        elif pending:
            raise MusaeError(
                f"No baseline clips left to validate feature {feature_id} against.",
                "the database needs top clips of other features.",
            )
    return added, validated


def _explain_missing_top_clips(db: FeatureStore, feature_id: int) -> None:
    """Why a feature has no top clips: it never fired (skip it) or its clips are missing."""
    record = db.feature(feature_id)
    if not (record.max_activation > 0 or record.frequency > 0):
        raise _NeverFired(feature_id)
    raise MusaeError(
        f"Feature {feature_id} fired but has no top clips in the database.",
        "re-run `musae analyze` to rebuild the feature database.",
    )
