"""The sweep's table and its choice of the best cell, with training seeds taken into account.

A cell is one set-up (layer, expansion, k, architecture) trained with one seed. On the demo, the
shipped set-up trained with three seeds gave 56-67 % of carried concepts at k <= 5 on 96 fresh
held-out clips and 11-33 % single-feature AUROC >= 0.95 (docs/demo_sweep.md): one seed's
concept scores move by whole concepts, so a set-up is judged by its mean over its seeds, and of
the chosen set-up's seeds the one with the lowest held-out FVU is pointed at (a criterion the
concept scores did not pick). With one seed per set-up this is the plain per-cell rule.
"""

from __future__ import annotations

import json
from pathlib import Path
from statistics import mean

from musae_core.fileio import write_json_atomic

METRICS = "metrics.json"


def cell_done(out: Path, cell: dict) -> bool:
    """A cell is finished once its metrics are written (they are written last)."""
    return (out / "cells" / cell["name"] / METRICS).exists()


def setup_of(cell: dict) -> str:
    """The set-up a cell belongs to (its name without the seed; older cells: the name)."""
    return str(cell.get("setup") or cell["name"])


def _by_setup(results: list[dict]) -> dict[str, list[dict]]:
    groups: dict[str, list[dict]] = {}
    for r in results:
        groups.setdefault(setup_of(r), []).append(r)
    return groups


def _concept_rank(cells: list[dict]) -> tuple:
    return (
        mean(c["concepts"]["n_split_k_le_5"] for c in cells),
        mean(c["concepts"]["tracking_features"] for c in cells),
        -mean(c["fvu"] for c in cells),
    )


def best_cell(results: list[dict], fvu_bound: float) -> tuple[str | None, str]:
    """The best cell's name and the rule that chose it (see the module docstring)."""
    if not results:
        return None, "no finished cells"
    groups = _by_setup(results)
    seeds = max(len(cells) for cells in groups.values())
    if all("concepts" in r for r in results):
        met = {s: c for s, c in groups.items() if mean(r["fvu"] for r in c) <= fvu_bound}
        within = met or groups
        setup = max(within, key=lambda s: _concept_rank(within[s]))
        rule = (
            f"held-out FVU <= {fvu_bound:g}, then most carried concepts reaching 90 % of the "
            "full probe with k <= 5 latents, then most tracking features, then lowest FVU"
        )
        if not met:
            rule += " (no cell met the FVU bound: all cells compared)"
    elif all("delta_loss" in r for r in results):
        setup = min(groups, key=lambda s: mean(r["delta_loss"] for r in groups[s]))
        rule = "lowest delta-loss"
    else:
        setup = min(groups, key=lambda s: mean(r["fvu"] for r in groups[s]))
        rule = "lowest held-out FVU"
    if seeds > 1:
        rule += (
            f"; each set-up by its mean over its seeds (up to {seeds}), then its seed with the "
            "lowest held-out FVU"
        )
    return min(groups[setup], key=lambda r: r["fvu"])["name"], rule


def write_table(out: Path, cells: list[dict], spec: dict, fvu_bound: float) -> dict:
    """OUT/sweep.json and OUT/sweep.md from every finished cell in OUT (earlier grids run into
    the same folder included, so a sweep can be refined in steps)."""
    finished = sorted((out / "cells").glob(f"*/{METRICS}"), key=lambda p: p.stat().st_mtime)
    results = [json.loads(path.read_text()) for path in finished]
    best, rule = best_cell(results, fvu_bound)
    table = {
        "spec": spec,
        "best": best,
        "rule": rule,
        "cells": results,
        "unfinished": [c["name"] for c in cells if not cell_done(out, c)],
    }
    write_json_atomic(out / "sweep.json", table)
    (out / "sweep.md").write_text(table_markdown(table))
    return table


def _fmt(value, pattern: str = "{:.3f}") -> str:
    return "-" if value is None else pattern.format(value)


def _span(values: list, pattern: str) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    low, high = pattern.format(min(values)), pattern.format(max(values))
    return low if low == high else f"{low}-{high}"


def seed_spread_markdown(results: list[dict]) -> list[str]:
    """Per set-up trained with more than one seed: the range of each score over its seeds."""
    groups = {s: c for s, c in _by_setup(results).items() if len(c) > 1}
    if not groups:
        return []
    lines = [
        "",
        "Seed spread (set-ups trained with several seeds; min-max over the seeds):",
        "",
        "| set-up | seeds | FVU | delta-loss | AUROC>=0.95 | 90 % with k<=5 | tracking |",
        "|---|---|---|---|---|---|---|",
    ]
    for setup, cells in groups.items():
        concepts = [c.get("concepts", {}) for c in cells]
        lines.append(
            f"| {setup} | {', '.join(str(c.get('seed', 0)) for c in cells)} | "
            f"{_span([c['fvu'] for c in cells], '{:.3f}')} | "
            f"{_span([c.get('delta_loss') for c in cells], '{:.3f}')} | "
            f"{_span([x.get('single_auroc_0.95') for x in concepts], '{:.2f}')} | "
            f"{_span([x.get('n_split_k_le_5') for x in concepts], '{}')} | "
            f"{_span([x.get('tracking_features') for x in concepts], '{}')} |"
        )
    return lines


def table_markdown(table: dict) -> str:
    head = (
        "| cell | layer | arch | x | k | seed | FVU | L0 | dead % | delta-loss | carried | "
        "AUROC>=0.95 | 90 % with k<=5 | tracking | train s |"
    )
    lines = [head, "|" + "---|" * 15]
    for r in table["cells"]:
        c = r.get("concepts", {})
        mark = " **(best)**" if r["name"] == table["best"] else ""
        lines.append(
            f"| {r['name']}{mark} | {r['layer']} | {r['arch']} | {r['expansion']} | "
            f"{r['k'] or '-'} | {r.get('seed', 0)} | {r['fvu']:.3f} | {r['l0']:.1f} | "
            f"{100 * r['dead_fraction']:.1f} | {_fmt(r.get('delta_loss'))} | "
            f"{c.get('carried', '-')} | {_fmt(c.get('single_auroc_0.95'), '{:.2f}')} | "
            f"{c.get('n_split_k_le_5', '-')} | {c.get('tracking_features', '-')} | "
            f"{r['train_seconds']:.0f} |"
        )
    lines += seed_spread_markdown(table["cells"])
    lines += ["", f"Best cell: **{table['best']}** ({table['rule']})."]
    if table["unfinished"]:
        lines.append(f"Unfinished: {', '.join(table['unfinished'])} (rerun to resume).")
    return "\n".join(lines) + "\n"
