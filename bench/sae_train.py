"""TopK SAE training speed and quality: musae against SAELens and dictionary_learning.

Every trainer sees the same activation tensors (one pool in device memory, batches handed out
in the same order), the same batch size, number of tokens, k, width, learning rate, warm-up /
final-decay schedule and AuxK dead window, one after the other in this process with fixed
torch threads. Each library otherwise keeps its own recipe (initialisation, normalisation, AuxK
form). Speed is steady-state tokens/s: the time between consecutive batch requests during
training, first steps excluded; wall time includes each library's setup. Quality is measured
by one shared function on a held-out slice none of them trained on: FVU, L0, dead fraction
and, for synthetic data, recovery of the ground-truth directions (mean max-cosine).

    scripts/bench_env.sh                                  # .venv-bench with the competitors
    nice -n 10 .venv-bench/bin/python bench/sae_train.py  # CPU: small sizes
    .venv-bench/bin/python bench/sae_train.py --device cuda --write-docs   # d=1024, 32k, k=100

Competitors that are not importable are skipped (and said so); musae always runs.
"""

from __future__ import annotations

import argparse
import datetime
import math
import os
import platform
import shlex
import sys
import time
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")  # the competitors draw progress bars of their own
os.environ.setdefault("WANDB_MODE", "disabled")

import torch
from sae_trainers import IMPORTS, RUNNERS, Feed, Setup, Trained

DOCS = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
SECTION = "## SAE training"
LATEST = "### Latest run"
TRAINERS = ("musae", "saelens", "dictionary_learning")
PACKAGES = {"musae": "musae", "saelens": "sae-lens", "dictionary_learning": "dictionary-learning"}


# --- data ---------------------------------------------------------------------------------------
@dataclass
class Activations:
    train: torch.Tensor  # (rows, d_in) pool, batches are cut from it in order, epoch after epoch
    holdout: torch.Tensor  # (rows, d_in), never trained on
    truth: torch.Tensor | None  # (features, d_in) unit ground-truth directions, synthetic only
    source: str


def synthetic(
    d_in: int, features: int, active: int, rows: int, holdout: int, seed: int
) -> Activations:
    """x = sum of ``active`` unit directions (Zipf-ish frequencies, exponential magnitudes) +
    a large shared offset + small isotropic noise: residual-stream-like, with a known answer."""
    # an offset seed: a trainer that seeds its decoder init with `seed` and draws the same shape
    # (musae does) would otherwise start exactly on the ground truth
    gen = torch.Generator().manual_seed(0x5EED + seed)
    truth = torch.randn(features, d_in, generator=gen)
    truth /= truth.norm(dim=1, keepdim=True)
    offset = torch.randn(d_in, generator=gen) * (3.0 / math.sqrt(d_in))
    probs = 1.0 / torch.arange(10, features + 10, dtype=torch.float64).pow(0.7)
    out = torch.empty(rows + holdout, d_in)
    chunk = 65536
    for start in range(0, rows + holdout, chunk):
        n = min(chunk, rows + holdout - start)
        idx = torch.multinomial(probs, n * active, replacement=True, generator=gen).view(n, active)
        mags = torch.empty(n, active).exponential_(1.0, generator=gen)
        x = torch.nn.functional.embedding_bag(idx, truth, per_sample_weights=mags, mode="sum")
        out[start : start + n] = x + offset + 0.05 * torch.randn(n, d_in, generator=gen)
    return Activations(out[:rows], out[rows:], truth, f"synthetic ({features} true, {active} on)")


def load_activations(path: str, rows: int, holdout: int, seed: int) -> Activations:
    """Real activations from a ``.pt`` tensor or ``.npy`` array of shape (rows, d_in)."""
    if path.endswith(".npy"):
        import numpy as np

        data = torch.from_numpy(np.load(path, mmap_mode="r")[: rows + holdout].copy())
    else:
        data = torch.load(path, map_location="cpu", weights_only=True)[: rows + holdout]
    data = data.float()
    data = data[torch.isfinite(data).all(1)]
    perm = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))
    data = data[perm]
    if len(data) < 2 * holdout:
        raise SystemExit(f"{path}: {len(data)} finite rows, need more than {2 * holdout}")
    return Activations(data[holdout:], data[:holdout], None, path)


# --- shared settings and results ------------------------------------------------------------------
@dataclass
class Result:
    name: str
    version: str = ""
    skipped: str = ""
    tokens_per_s: float = float("nan")
    wall_s: float = float("nan")
    metrics: dict = field(default_factory=dict)


def steady_rate(times: list[float], setup_fetches: int, batch_size: int, warmup: int) -> float:
    """Tokens/s from the gaps between consecutive training-batch requests (one step each)."""
    gaps = [b - a for a, b in zip(times[setup_fetches:-1], times[setup_fetches + 1 :], strict=True)]
    gaps = gaps[warmup:]
    return len(gaps) * batch_size / sum(gaps) if gaps else float("nan")


@torch.no_grad()
def evaluate(trained: Trained, data: Activations, batch_size: int) -> dict:
    """The one quality measure for every library, on the held-out rows in raw units."""
    x_all = data.holdout
    sse, l0, fired = 0.0, 0.0, None
    for start in range(0, len(x_all), batch_size):
        x = x_all[start : start + batch_size]
        codes = trained.encode(x)
        sse += (trained.decode(codes) - x).double().pow(2).sum().item()
        active = codes > 0
        l0 += active.sum().item()
        fired = active.any(0) if fired is None else fired | active.any(0)
    variance = (x_all.double() - x_all.double().mean(0)).pow(2).sum().item()
    metrics = {
        "fvu": sse / variance,
        "l0": l0 / len(x_all),
        "dead": 1.0 - fired.float().mean().item(),
    }
    if data.truth is not None:
        dirs = trained.directions.detach().float()
        dirs = dirs / dirs.norm(dim=1, keepdim=True).clamp_min(1e-12)
        cos = data.truth.to(dirs.device) @ dirs.T
        metrics["recovery"] = cos.max(dim=1).values.mean().item()
    return metrics


def importable(name: str) -> str:
    """'' when the library imports, else why not."""
    try:
        __import__(IMPORTS[name])
    except Exception as exc:  # a broken install raises more than ImportError
        return f"not importable ({type(exc).__name__}: {exc}); run scripts/bench_env.sh"
    return ""


def package_version(name: str) -> str:
    try:
        return version(PACKAGES[name])
    except PackageNotFoundError:
        return "?"


def run_one(name: str, setup: Setup, data: Activations, warmup: int) -> Result:
    result = Result(name, package_version(name))
    result.skipped = importable(name)
    if result.skipped:
        return result
    torch.manual_seed(setup.seed)
    feed = Feed(data.train, setup.batch_size)
    start = time.perf_counter()
    trained = RUNNERS[name](setup, feed)
    if data.train.is_cuda:
        torch.cuda.synchronize()
    result.wall_s = time.perf_counter() - start
    result.tokens_per_s = steady_rate(feed.times, trained.setup_fetches, setup.batch_size, warmup)
    result.metrics = evaluate(trained, data, setup.batch_size)
    return result


# --- report -------------------------------------------------------------------------------------
def table(results: list[Result]) -> str:
    base = next((r for r in results if r.name == "musae" and not r.skipped), None)
    truth = any("recovery" in r.metrics for r in results)
    head = ["trainer", "version", "tokens/s", "wall s", "FVU", "L0", "dead %"]
    head += ["recovery"] if truth else []
    head += ["musae speed ×", "musae FVU ×"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        if r.skipped:
            lines.append(f"| {r.name} | {r.version} | skipped |" + " |" * (len(head) - 3))
            continue
        m = r.metrics
        row = [
            r.name,
            r.version,
            f"{r.tokens_per_s:,.0f}",
            f"{r.wall_s:.1f}",
            f"{m['fvu']:.4f}",
            f"{m['l0']:.1f}",
            f"{100 * m['dead']:.1f}",
        ]
        row += [f"{m['recovery']:.3f}"] if truth else []
        if base is not None:
            row += [
                f"{base.tokens_per_s / r.tokens_per_s:.2f}",
                f"{base.metrics['fvu'] / max(m['fvu'], 1e-12):.2f}",
            ]
        else:
            row += ["-", "-"]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def machine(device: str) -> str:
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores visible, {torch.get_num_threads()} torch threads"


def report(results: list[Result], setup: Setup, data: Activations, args) -> str:
    command = "python bench/sae_train.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    skipped = [f"{r.name} ({r.skipped})" for r in results if r.skipped]
    lines = [
        f"Run {datetime.date.today().isoformat()} on {machine(setup.device)}, "
        f"torch {torch.__version__}.",
        f"Sizes: d_in={setup.d_in}, latents={setup.latents}, k={setup.k}, "
        f"{setup.steps * setup.batch_size:,} tokens ({setup.steps} steps of {setup.batch_size}), "
        f"lr={setup.lr:.3g} (warm-up {setup.warmup_steps}, final decay {setup.decay_steps} "
        f"steps), AuxK dead window {setup.dead_tokens:,} tokens; data: {data.source}, "
        f"pool {len(data.train):,} rows, held out {len(data.holdout):,}; "
        f"first {args.warmup_steps} steps excluded from tokens/s.",
        "",
        f"Command: `{command}`",
        "",
        table(results),
        "",
        "`musae speed ×` = musae tokens/s ÷ that trainer's (>1: musae faster); `musae FVU ×` = "
        "musae FVU ÷ that trainer's (<1: musae reconstructs better). FVU, L0, dead % (latents "
        "that never fire on the held-out rows) and recovery (mean over true directions of the "
        "best decoder cosine) come from one shared function, not the libraries' own logging.",
    ]
    if skipped:
        lines += ["", f"Skipped: {'; '.join(skipped)}."]
    return "\n".join(lines)


def write_docs(body: str, path: Path = DOCS) -> None:
    """Replace the '### Latest run' part of the '## SAE training' section (adding either when
    missing); the rest of that section and every other section stay as they are."""
    intro = (
        "`bench/sae_train.py` races musae's TopK trainer against SAELens and "
        "dictionary_learning on the same activations in one process (see its docstring for the "
        "fairness rules). Install the competitors with `scripts/bench_env.sh`; they live only "
        "in `.venv-bench`."
    )
    latest = f"{LATEST}\n\n{body}\n"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    if SECTION not in text:
        text = text.rstrip("\n") + f"\n\n{SECTION}\n\n{intro}\n\n{latest}"
    else:
        before, rest = text.split(SECTION, 1)
        own, sep, tail = rest.partition("\n## ")  # the section ends at the next '## '
        if LATEST in own:
            head, _, old = own.partition(LATEST)
            _, sub, after = old.partition("\n### ")
            own = head + latest + (("\n### " + after) if sub else "")
        else:
            own = own.rstrip("\n") + f"\n\n{latest}"
        text = before + SECTION + own + ("\n" + sep.lstrip("\n") + tail if sep else "")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


# --- main ---------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> list[Result]:
    gpu = torch.cuda.is_available()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda" if gpu else "cpu")
    parser.add_argument("--d-in", type=int, help="default 1024 on cuda, 64 on cpu")
    parser.add_argument("--latents", type=int, help="default 32768 on cuda, 2048 on cpu")
    parser.add_argument("--k", type=int, help="default 100 on cuda, 16 on cpu")
    parser.add_argument("--tokens", type=int, help="default 20M on cuda, 1M on cpu")
    parser.add_argument("--batch-size", type=int, default=4096)
    parser.add_argument("--pool-rows", type=int, default=1 << 20, help="rows held in memory")
    parser.add_argument("--holdout-rows", type=int, default=32768)
    parser.add_argument("--activations", help=".pt/.npy (rows, d_in) real activations")
    parser.add_argument("--true-features", type=int, help="synthetic: default = latents")
    parser.add_argument("--true-active", type=int, help="synthetic: default = k // 2")
    parser.add_argument("--lr", type=float, help="default 2e-4 / sqrt(latents / 2**14)")
    parser.add_argument("--warmup-steps", type=int, default=5, help="excluded from tokens/s")
    parser.add_argument("--trainers", default=",".join(TRAINERS))
    parser.add_argument("--threads", type=int, default=min(4, os.cpu_count() or 1))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--write-docs", action="store_true", help=f"update {DOCS.name}")
    args = parser.parse_args(argv)

    on_gpu = args.device.startswith("cuda")
    d_in = args.d_in or (1024 if on_gpu else 64)
    latents = args.latents or (32768 if on_gpu else 2048)
    k = args.k or (100 if on_gpu else 16)
    tokens = args.tokens or (20_000_000 if on_gpu else 1_000_000)
    names = [n.strip() for n in args.trainers.split(",") if n.strip()]
    unknown = set(names) - set(TRAINERS)
    if unknown:
        parser.error(f"unknown trainers {sorted(unknown)}; choose from {', '.join(TRAINERS)}")
    torch.set_num_threads(args.threads)

    steps = max(10, tokens // args.batch_size)
    pool_rows = max(args.batch_size, min(args.pool_rows, steps * args.batch_size))
    pool_rows -= pool_rows % args.batch_size
    if args.activations:
        data = load_activations(args.activations, pool_rows, args.holdout_rows, args.seed)
        d_in = data.train.shape[1]
    else:
        data = synthetic(
            d_in,
            args.true_features or latents,
            args.true_active or max(1, k // 2),
            pool_rows,
            args.holdout_rows,
            args.seed,
        )
    data.train, data.holdout = data.train.to(args.device), data.holdout.to(args.device)
    setup = Setup(
        d_in=d_in,
        latents=latents,
        k=k,
        steps=steps,
        batch_size=args.batch_size,
        lr=args.lr or 2e-4 / math.sqrt(latents / 2**14),
        warmup_steps=max(1, steps // 20),
        decay_steps=max(1, steps // 5),
        dead_tokens=max(steps * args.batch_size // 20, 4 * args.batch_size),
        seed=args.seed,
        device=args.device,
    )
    results = []
    for name in names:
        print(f"[sae_train] {name} ...", file=sys.stderr, flush=True)
        results.append(run_one(name, setup, data, args.warmup_steps))
        if results[-1].skipped:
            print(f"[sae_train] {name} skipped: {results[-1].skipped}", file=sys.stderr)
    body = report(results, setup, data, args)
    print(body)
    if args.write_docs:
        write_docs(body)
        print(f"[sae_train] wrote {DOCS}", file=sys.stderr)
    return results


if __name__ == "__main__":
    main()
