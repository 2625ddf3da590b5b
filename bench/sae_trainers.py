"""The three SAE trainers of ``bench/sae_train.py`` behind one signature, and the shared feed.

Each adapter takes the same ``Setup`` and ``Feed`` and returns a ``Trained`` (encode, decode,
decoder directions), so the race itself (``sae_train.py``) holds no library-specific code.
Libraries are imported inside their adapter: one that is missing skips only its own run.
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch


@dataclass
class Setup:
    d_in: int
    latents: int
    k: int
    steps: int
    batch_size: int
    lr: float
    warmup_steps: int
    decay_steps: int
    dead_tokens: int
    seed: int
    device: str


@dataclass
class Trained:
    encode: Callable[[torch.Tensor], torch.Tensor]  # raw activations -> dense codes
    decode: Callable[[torch.Tensor], torch.Tensor]  # dense codes -> raw activations
    directions: torch.Tensor  # (latents, d_in) decoder directions
    setup_fetches: int  # batches the library pulled before its first training step


class Feed:
    """Hands out pool batches (fresh copies: one library divides its batch in place), cycling
    epochs, and stamps the time of every request (after a device sync) for the speed figure."""

    def __init__(self, pool: torch.Tensor, batch_size: int) -> None:
        self.pool, self.batch_size = pool, batch_size
        self.per_epoch = len(pool) // batch_size
        self.times: list[float] = []

    def _stamp(self) -> None:
        if self.pool.is_cuda:
            torch.cuda.synchronize(self.pool.device)
        self.times.append(time.perf_counter())

    def epoch(self) -> Iterator[torch.Tensor]:
        for i in range(self.per_epoch):
            self._stamp()
            yield self.pool[i * self.batch_size : (i + 1) * self.batch_size].clone()

    def forever(self) -> Iterator[torch.Tensor]:
        while True:
            yield from self.epoch()

    def __iter__(self) -> Iterator[torch.Tensor]:  # a fresh endless pass each time it's iterated
        return self.forever()


def run_musae(setup: Setup, feed: Feed) -> Trained:
    from musae_core.sae.trainer import TrainSettings, _init_batches, train_sae

    if setup.latents % setup.d_in:
        raise SystemExit("musae takes an integer expansion: --latents must be a multiple of --d-in")
    steps = setup.steps
    settings = TrainSettings(
        architecture="topk",
        expansion=setup.latents // setup.d_in,
        k=setup.k,
        total_tokens=steps * setup.batch_size,
        batch_size=setup.batch_size,
        lr=setup.lr,
        warmup_fraction=setup.warmup_steps / steps,
        decay_fraction=setup.decay_steps / steps,
        dead_after_tokens=setup.dead_tokens,
        seed=setup.seed,
        checkpoint_every=10**9,  # nobody checkpoints in this race
        log_every=10**9,
    )
    with tempfile.TemporaryDirectory() as out:
        sae = train_sae(lambda epoch: feed.epoch(), setup.d_in, settings, out, device=setup.device)
    return Trained(sae.encode, sae.decode, sae.W_dec, _init_batches(settings))


def run_saelens(setup: Setup, feed: Feed) -> Trained:
    from sae_lens import TopKTrainingSAE, TopKTrainingSAEConfig
    from sae_lens.config import LoggingConfig, SAETrainerConfig
    from sae_lens.training.sae_trainer import SAETrainer

    norm_batches = 2
    cfg = TopKTrainingSAEConfig(
        d_in=setup.d_in,
        d_sae=setup.latents,
        k=setup.k,
        device=setup.device,
        normalize_activations="expected_average_only_in",
    )
    sae = TopKTrainingSAE(cfg)
    trainer_cfg = SAETrainerConfig(
        total_training_samples=setup.steps * setup.batch_size,
        train_batch_size_samples=setup.batch_size,
        lr=setup.lr,
        lr_end=setup.lr,  # 'constant' main phase; the decay runs from lr to 0
        lr_warm_up_steps=setup.warmup_steps,
        lr_decay_steps=setup.decay_steps,
        device=setup.device,
        dead_feature_window=max(1, setup.dead_tokens // setup.batch_size),
        n_checkpoints=0,
        save_final_checkpoint=False,
        logger=LoggingConfig(log_to_wandb=False),
        n_batches_for_norm_estimate=norm_batches,
    )
    sae = SAETrainer(cfg=trainer_cfg, sae=sae, data_provider=feed.forever()).fit().eval()
    return Trained(sae.encode, sae.decode, sae.W_dec, norm_batches)


def run_dictionary_learning(setup: Setup, feed: Feed) -> Trained:
    from dictionary_learning.trainers.top_k import TopKTrainer
    from dictionary_learning.training import trainSAE

    made: list[TopKTrainer] = []

    class Trainer(TopKTrainer):  # trainSAE returns nothing: keep a handle on the trainer
        def __init__(self, **kwargs) -> None:
            super().__init__(**kwargs)
            self.dead_feature_threshold = setup.dead_tokens  # hard-coded 10M tokens otherwise
            made.append(self)

    config = {
        "trainer": Trainer,
        "steps": setup.steps,
        "activation_dim": setup.d_in,
        "dict_size": setup.latents,
        "k": setup.k,
        "layer": 0,
        "lm_name": "bench",
        "lr": setup.lr,
        "warmup_steps": setup.warmup_steps,
        "decay_start": setup.steps - setup.decay_steps,
        "seed": setup.seed,
        "device": setup.device,
    }
    with contextlib.redirect_stdout(sys.stderr):  # it prints its norm factor
        trainSAE(feed, [config], steps=setup.steps, normalize_activations=True, device=setup.device)
    ae = made[0].ae.eval()
    # get_norm_factor(data, steps=100) pulls 102 batches before training starts
    return Trained(ae.encode, ae.decode, ae.decoder.weight.T, 102)


RUNNERS = {
    "musae": run_musae,
    "saelens": run_saelens,
    "dictionary_learning": run_dictionary_learning,
}
IMPORTS = {
    "musae": "musae_core",
    "saelens": "sae_lens",
    "dictionary_learning": "dictionary_learning",
}
