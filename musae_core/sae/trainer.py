"""Train an SAE on residual activations: normalised inputs, unit-norm decoder, AuxK, Adam with
warm-up and final decay, width-scaled learning rate, checkpoints and resume.

The data arrive as an ``epoch -> iterator of (rows, d_in) batches`` factory, so the same loop
trains from an activation store, from synthetic data in tests, or straight from a model.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist

from musae_core.errors import Cancelled, MusaeError
from musae_core.fileio import atomic_path
from musae_core.jobs import CancelToken, ProgressFn, no_progress
from musae_core.sae.architectures import (
    SparseAutoencoder,
    TopKSAE,
    build_sae,
    matryoshka_widths,
)
from musae_core.sae.config import K_SPARSE, SAEConfig
from musae_core.sae.init import geometric_median
from musae_core.sae.io import save_sae
from musae_core.sae.train_ranks import (
    all_reduce_grads,
    broadcast_init,
    gather_statistics,
    rank_world,
)

log = logging.getLogger(__name__)
BatchFactory = Callable[[int], Iterator[torch.Tensor]]
CHECKPOINT = "checkpoint.pt"
CALIBRATION_BATCHES = 8  # batches that set inference parameters after training (SAE.calibrate)


@dataclass
class TrainSettings:
    """Hyper-parameters; ``lr=None`` means 2e-4 / sqrt(d_sae / 2**14) (Gao et al.)."""

    architecture: str = "topk"
    expansion: int = 32
    k: int | None = 32
    total_tokens: int = 1_000_000
    batch_size: int = 4096
    lr: float | None = None
    warmup_fraction: float = 0.05
    decay_fraction: float = 0.2
    aux_k: int | None = None
    aux_coefficient: float = 1 / 32
    dead_after_tokens: int | None = None
    l1_coefficient: float = 2.0  # relu; inputs are scaled to E||x||^2 = d_in
    l0_coefficient: float = 1e-3
    # matryoshka_batchtopk: nested prefix sizes, smallest first (None: d_sae / 16 ... / 1)
    matryoshka_widths: tuple[int, ...] | None = None
    seed: int = 0
    checkpoint_every: int = 200
    log_every: int = 20
    init_rows: int = 8192

    def learning_rate(self, d_sae: int) -> float:
        return self.lr if self.lr else 2e-4 / math.sqrt(d_sae / 2**14)

    def steps(self) -> int:
        return max(1, self.total_tokens // self.batch_size)


@dataclass
class TrainState:
    """Everything a resume needs besides the weights and optimiser."""

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    tokens: int = 0
    scale: float = 1.0
    skipped_rows: int = 0


def _stream(
    factory: BatchFactory, state: TrainState, world: tuple[int, int]
) -> Iterator[torch.Tensor]:
    """Endless batches, resuming at (epoch, batch) and giving each rank its share."""
    rank, size = world
    while True:
        for index, batch in enumerate(factory(state.epoch)):
            if index < state.batch_in_epoch or index % size != rank:
                continue
            state.batch_in_epoch = index + 1
            yield batch
        if state.batch_in_epoch == 0:
            per = f" for each of {size} processes" if size > 1 else ""
            raise MusaeError(
                f"The activation source yielded no full batch of rows{per}.",
                "lower --batch-size (or harvest more audio).",
            )
        state.epoch += 1
        state.batch_in_epoch = 0


def _clean(batch: torch.Tensor, state: TrainState, d_in: int) -> torch.Tensor:
    if batch.ndim != 2 or batch.shape[1] != d_in:
        raise MusaeError(
            f"Activation batch has shape {tuple(batch.shape)}, the SAE expects (*, {d_in}).",
            "train on a store harvested from the same model and layer.",
        )
    finite = torch.isfinite(batch).all(dim=1)
    if not bool(finite.all()):
        state.skipped_rows += int((~finite).sum())
        batch = batch[finite]
    return batch.float()


def _initialise(sae: SparseAutoencoder, sample: torch.Tensor, state: TrainState, seed: int) -> None:
    """Scale to unit mean squared norm per dimension; b_dec at the geometric median; tied W_enc."""
    state.scale = float(math.sqrt(sample.shape[1] / sample.pow(2).sum(1).mean().clamp_min(1e-12)))
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        sae.W_dec.data.copy_(torch.randn(sae.W_dec.shape, generator=generator))
        sae.normalize_decoder()
        sae.W_enc.data.copy_(sae.W_dec.data.T)
        sae.b_dec.data.copy_(geometric_median(sample * state.scale))
        sae.init_from_sample(sae.pre_acts(sample * state.scale))


def _aux_loss(sae, pre, x, x_hat, dead, aux_k) -> torch.Tensor:
    """AuxK: reconstruct the residual error with the top dead latents (revives them).

    Only the dead columns are searched, so the cost scales with the number of dead latents.
    """
    dead_ids = dead.nonzero().squeeze(1)
    if dead_ids.numel() == 0:
        return pre.new_zeros(())
    error = (x - x_hat).detach()
    values, local = torch.topk(pre[:, dead_ids], min(aux_k, dead_ids.numel()), dim=-1)
    recon = torch.nn.functional.embedding_bag(
        dead_ids[local], sae.W_dec, per_sample_weights=torch.relu(values), mode="sum"
    )
    scale = error.pow(2).sum(-1).mean().clamp_min(1e-12)
    return (recon - error).pow(2).sum(-1).mean() / scale


@dataclass
class _Codes:
    """A batch's codes: k-sparse (values, indices) for TopK, else dense (rows, d_sae)."""

    values: torch.Tensor | None = None
    indices: torch.Tensor | None = None
    dense: torch.Tensor | None = None

    def l0(self) -> float:
        active = self.dense if self.dense is not None else self.values
        assert active is not None  # built with values+indices or with dense
        return (active > 0).sum(-1).float().mean().item()


def _forward(sae: SparseAutoencoder, pre: torch.Tensor) -> tuple[torch.Tensor, _Codes]:
    """Reconstruction and codes; TopK never builds dense codes (decoder reads k rows only)."""
    if type(sae) is TopKSAE:
        values, indices = sae.topk(pre)
        return sae.decode_sparse(values, indices), _Codes(values=values, indices=indices)
    f = sae.training_codes(pre)
    return sae.decode(f), _Codes(dense=f)


@torch.no_grad()
def _update_statistics(sae, codes: _Codes, since_fired, fire_counts, rows: int, world) -> None:
    """Firing counts, steps since each latent fired (dead mask) and max activations."""
    since_fired += rows
    if codes.dense is None:
        assert codes.values is not None and codes.indices is not None  # k-sparse codes
        live = codes.values > 0
        fired = codes.indices[live]
        fire_counts += torch.bincount(fired, minlength=fire_counts.numel()).to(fire_counts.dtype)
        since_fired[fired] = 0
        sae.max_activation.scatter_reduce_(
            0, codes.indices.flatten(), codes.values.detach().flatten(), "amax"
        )
    else:
        active = codes.dense > 0
        since_fired[active.any(0)] = 0
        fire_counts += active.sum(0)
        torch.maximum(sae.max_activation, codes.dense.max(0).values, out=sae.max_activation)
        sae.on_step_end(codes.dense.detach())
    if world[1] > 1:  # one dead mask for all ranks, so AuxK agrees everywhere
        dist.all_reduce(since_fired, op=dist.ReduceOp.MIN)


def _lr_factor(step: int, settings: TrainSettings, total: int) -> float:
    warmup = max(1, int(total * settings.warmup_fraction))
    decay_start = int(total * (1 - settings.decay_fraction))
    if step < warmup:
        return (step + 1) / warmup
    if step >= decay_start and total > decay_start:
        return max(0.0, (total - step) / (total - decay_start))
    return 1.0


def train_sae(
    factory: BatchFactory,
    d_in: int,
    settings: TrainSettings,
    out: str | os.PathLike[str],
    model_id: str = "",
    layer: int = 0,
    device: str | torch.device = "cpu",
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
    on_metrics: Callable[[dict], None] | None = None,
) -> SparseAutoencoder:
    """Train (or resume) an SAE into ``out``; a cancel leaves a checkpoint to resume from, a
    failure before anything was written removes the ``out`` folder it created."""
    out = Path(out)
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    try:
        return _train(
            factory, d_in, settings, out, model_id, layer, device, progress, cancel, on_metrics
        )
    except BaseException:
        if created and not any(out.iterdir()):
            out.rmdir()
        raise


def _train(
    factory, d_in, settings, out: Path, model_id, layer, device, progress, cancel, on_metrics
) -> SparseAutoencoder:
    progress = progress or no_progress
    device = torch.device(device)
    d_sae = d_in * settings.expansion
    k = settings.k if settings.architecture in K_SPARSE else None
    extra = {"l1_coefficient": settings.l1_coefficient, "l0_coefficient": settings.l0_coefficient}
    if settings.architecture == "matryoshka_batchtopk":
        wanted = {"matryoshka_widths": list(settings.matryoshka_widths or [])}
        extra["matryoshka_widths"] = matryoshka_widths(SAEConfig("relu", d_in, d_sae, extra=wanted))
    cfg = SAEConfig(
        settings.architecture,
        d_in,
        d_sae,
        k=k,
        model_id=model_id,
        layer=layer,
        normalization="unit mean squared norm per dimension",
        extra=extra,
    )
    sae = build_sae(cfg).to(device)
    optimiser = torch.optim.Adam(
        sae.parameters(), lr=settings.learning_rate(d_sae), betas=(0.9, 0.999), eps=6.25e-10
    )
    state, since_fired, fire_counts = TrainState(), torch.zeros(d_sae, device=device), None
    world = rank_world()
    checkpoint = out / CHECKPOINT
    if checkpoint.exists():
        state, since_fired, fire_counts = _restore(checkpoint, sae, optimiser, settings, device)
        log.info("resuming %s at step %d", out, state.step)
    stream = _stream(factory, state, world)
    if state.step == 0:
        sample = torch.cat(
            [_clean(next(stream), state, d_in) for _ in range(_init_batches(settings))]
        )
        _initialise(sae, sample[: settings.init_rows].to(device), state, settings.seed)
        state.scale = broadcast_init(sae, state.scale, world)
        state.epoch, state.batch_in_epoch = 0, 0
        stream = _stream(factory, state, world)
    fire_counts = fire_counts if fire_counts is not None else torch.zeros(d_sae, device=device)
    aux_k = settings.aux_k or max(1, min(512, d_sae // 2))
    dead_after = settings.dead_after_tokens or max(
        settings.total_tokens // 20, 4 * settings.batch_size
    )
    total = max(1, settings.steps() // world[1])  # --tokens is global; batches are per rank
    progress(state.step, total)
    try:
        while state.step < total:
            if cancel is not None and cancel.cancelled:
                raise Cancelled("training cancelled")
            x = _clean(next(stream), state, d_in).to(device) * state.scale
            if x.shape[0] == 0:
                continue
            for group in optimiser.param_groups:
                group["lr"] = settings.learning_rate(d_sae) * _lr_factor(
                    state.step, settings, total
                )
            pre = sae.pre_acts(x)
            x_hat, codes = _forward(sae, pre)
            mse = (x_hat - x).pow(2).sum(-1).mean()
            loss = mse
            if codes.dense is not None:
                loss = loss + sae.sparsity_loss(codes.dense, pre)
                loss = loss + sae.extra_reconstruction_loss(x, codes.dense)
            if k is not None:
                loss = loss + settings.aux_coefficient * _aux_loss(
                    sae, pre, x, x_hat, since_fired > dead_after, aux_k
                )
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            all_reduce_grads(sae, world)
            sae.remove_parallel_grad()
            torch.nn.utils.clip_grad_norm_(sae.parameters(), 1.0)
            optimiser.step()
            sae.normalize_decoder()
            _update_statistics(sae, codes, since_fired, fire_counts, x.shape[0], world)
            state.step += 1
            state.tokens += x.shape[0] * world[1]
            if state.step % settings.log_every == 0 or state.step == total:
                metrics = _metrics(x, x_hat, codes, since_fired, dead_after, state)
                if on_metrics is not None:
                    on_metrics(metrics)
            if state.step % settings.checkpoint_every == 0 and world[0] == 0:
                _save_checkpoint(
                    checkpoint, sae, optimiser, settings, state, since_fired, fire_counts
                )
            progress(state.step, total)
    except (Cancelled, KeyboardInterrupt):
        if world[0] == 0:
            _save_checkpoint(checkpoint, sae, optimiser, settings, state, since_fired, fire_counts)
        raise
    if state.skipped_rows:
        log.warning("skipped %d activation rows with NaN/inf values", state.skipped_rows)
    if type(sae).calibrate is not SparseAutoencoder.calibrate:
        # inference parameters from the final weights (BatchTopK's threshold); these rows are
        # not training rows, so their skipped ones are not counted
        skipped = state.skipped_rows
        with torch.no_grad():
            batches = [
                _clean(next(stream), state, d_in).to(device) * state.scale
                for _ in range(CALIBRATION_BATCHES)
            ]
            sae.calibrate([sae.pre_acts(x) for x in batches if len(x)])
        state.skipped_rows = skipped
    gather_statistics(sae, fire_counts, world)
    final = _finalise(sae, cfg, state)
    if world[0] == 0:
        save_sae(final, out, frequency=fire_counts / max(1, state.tokens))
        checkpoint.unlink(missing_ok=True)
    if world[1] > 1:  # every rank returns once the SAE is on disk, and all leave the group together
        dist.barrier()
    return final


def _init_batches(settings: TrainSettings) -> int:
    return max(1, math.ceil(settings.init_rows / settings.batch_size))


def _finalise(sae: SparseAutoencoder, cfg: SAEConfig, state: TrainState) -> SparseAutoencoder:
    """A copy folded back to raw activation units, with the training facts in its cfg."""
    final = build_sae(cfg.replace(training_tokens=state.tokens))
    final.load_state_dict(sae.state_dict())
    final.fold_scale(state.scale)
    final.cfg.extra["skipped_nonfinite_rows"] = state.skipped_rows
    return final.eval()


def _metrics(x, x_hat, codes: _Codes, since_fired, dead_after, state) -> dict:
    with torch.no_grad():
        fvu = ((x - x_hat).pow(2).sum() / (x - x.mean(0)).pow(2).sum().clamp_min(1e-12)).item()
        return {
            "step": state.step,
            "tokens": state.tokens,
            "fvu": fvu,
            "l0": codes.l0(),
            "dead_fraction": (since_fired > dead_after).float().mean().item(),
            "skipped_rows": state.skipped_rows,
        }


def _save_checkpoint(path, sae, optimiser, settings, state, since_fired, fire_counts) -> None:
    payload = {
        "sae": sae.state_dict(),
        "optimiser": optimiser.state_dict(),
        "settings": json.dumps(dataclasses.asdict(settings), sort_keys=True),
        "state": json.dumps(dataclasses.asdict(state)),
        "since_fired": since_fired.cpu(),
        "fire_counts": fire_counts.cpu(),
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def _restore(path: Path, sae, optimiser, settings: TrainSettings, device):
    try:
        payload = torch.load(path, map_location=device, weights_only=True)
        saved = json.loads(payload["settings"])
        state = TrainState(**json.loads(payload["state"]))
    except Exception as exc:  # torch raises many types for truncated files
        raise MusaeError(
            f"Checkpoint {path} is truncated or corrupt ({type(exc).__name__}).",
            "delete it to start training from scratch.",
        ) from exc
    if saved != dataclasses.asdict(settings):
        changed = sorted(
            key for key in saved if saved[key] != dataclasses.asdict(settings).get(key)
        )
        raise MusaeError(
            f"Checkpoint {path} was made with other settings ({', '.join(changed)}).",
            "use the same settings to resume, or another --out folder to start afresh.",
        )
    sae.load_state_dict(payload["sae"])
    optimiser.load_state_dict(payload["optimiser"])
    return state, payload["since_fired"].to(device), payload["fire_counts"].to(device)
