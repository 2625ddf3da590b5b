"""The default training budget follows the store: passes over its rows, capped."""

from __future__ import annotations

from musae_core.sae.budget import TOKEN_CAP, plan_budget


def test_a_small_store_gets_passes_not_ten_million_rows():
    plan = plan_budget(1_000, 4096, None)
    assert (plan.batch_size, plan.tokens) == (1_000, 10_000)  # was 10,000,000: 10,000 passes
    assert "1,000 rows" in plan.warnings[0] and "10 passes over 1,000 rows" in plan.notes[0]


def test_a_large_store_is_capped_and_an_explicit_budget_wins():
    plan = plan_budget(50_000_000, 4096, None)
    assert plan.tokens == TOKEN_CAP and "capped" in plan.notes[0] and not plan.warnings
    assert plan_budget(50_000, 4096, 123_456).tokens == 123_456
    assert plan_budget(None, 4096, None).tokens == TOKEN_CAP  # live training: size unknown


def test_each_process_gets_a_batch():
    plan = plan_budget(1_000, 4096, None, world_size=2)
    assert plan.batch_size == 500 and "2 processes" in plan.warnings[0]
