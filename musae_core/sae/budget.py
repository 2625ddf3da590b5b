"""How much to train on a store: a batch size that fits it and a token budget sized to it.

A fixed default (10M rows) trains a 1,000-row store for 10,000 passes and a small store with
fewer rows than one batch not at all; both are derived from the store's row count instead.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_PASSES = 10.0
"""Passes over the store when ``--tokens`` is not given."""
TOKEN_CAP = 10_000_000
"""Upper bound of the derived budget (the old fixed default), so huge stores stay bounded."""


@dataclass(frozen=True)
class TrainBudget:
    """The batch size and total rows to train on, and why (lines for the user)."""

    batch_size: int
    tokens: int
    notes: tuple[str, ...]
    warnings: tuple[str, ...] = ()


def plan_budget(
    rows: int | None,
    batch_size: int,
    tokens: int | None,
    passes: float = DEFAULT_PASSES,
    cap: int = TOKEN_CAP,
    world_size: int = 1,
) -> TrainBudget:
    """Budget for a store of ``rows`` rows (None: unknown, e.g. live training).

    A store with fewer rows than ``world_size`` batches trains with a smaller batch (a
    warning says so) rather than failing for want of a full batch.
    """
    warnings: list[str] = []
    if rows is not None and rows < batch_size * world_size:
        smaller = max(1, rows // world_size)
        warnings.append(
            f"the store has {rows:,} rows, fewer than one batch of --batch-size {batch_size:,}"
            + (f" per process ({world_size} processes)" if world_size > 1 else "")
            + f"; training with batches of {smaller:,} rows (harvest more audio for a "
            "larger batch)"
        )
        batch_size = smaller
    if tokens is not None:
        note = f"{tokens:,} rows (--tokens)"
        if rows:
            note += f", {tokens / rows:.3g} passes over the store's {rows:,} rows"
        return TrainBudget(batch_size, tokens, (f"training budget: {note}",), tuple(warnings))
    if rows is None:
        note = f"{cap:,} rows (the default for live training; set --tokens to change it)"
        return TrainBudget(batch_size, cap, (f"training budget: {note}",), tuple(warnings))
    derived = max(batch_size * world_size, round(rows * passes))
    budget = min(derived, cap)
    reason = (
        f"{passes:g} passes over {rows:,} rows"
        if budget == derived
        else f"capped at {cap:,}; {budget / rows:.3g} passes over {rows:,} rows"
    )
    note = f"training budget: {budget:,} rows ({reason}; set --tokens or --passes to change it)"
    return TrainBudget(batch_size, budget, (note,), tuple(warnings))
