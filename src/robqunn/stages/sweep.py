"""Stage sweep: the sweep across draws."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from robqunn import paths, provenance
from robqunn.config import (
    SweepParams,
)
from robqunn.io import atomic_path
from robqunn.paths import eps_label
from robqunn.tracking import stage_run


def run(settings: SweepParams, seeds: tuple[int, ...], draw_tables: list, out_dir: str | Path, tracking=None) -> dict:
    """The sweep across draws of every seed: the table of every draw, the variance of exact robust accuracy split
    between the angles and the circuits and the rank correlations with the readout statistics per seed
    (robqunn.sweep), one figure per eps; with validation digits, the circuit choice (per seed, and its test
    numbers over the seeds); with tracking, an MLflow run holding them (the shares and the chosen circuits'
    test accuracy as metrics)."""
    from robqunn import plots
    from robqunn import sweep as sweeping

    table = sweeping.load_draws(draw_tables, settings, seeds)
    frames = {
        "sweep": table,
        "variance": sweeping.variance_table(table, settings.n_boot),
        "correlations": sweeping.correlations(table, settings.n_boot),
    }
    if settings.n_validation > 0:
        frames["selection"] = sweeping.selection_table(table)
        frames[paths.SELECTION_SUMMARY] = sweeping.selection_summary(frames["selection"])
    out_dir, written = Path(out_dir), []
    for name in paths.sweep_tables(settings.n_validation):  # the names the Snakemake rule expects, declared once
        written.append(out_dir / Path(paths.sweep_table(name)).name)
        with atomic_path(written[-1]) as tmp:
            frames[name].to_csv(tmp, index=False)
    for eps in settings.eps:
        written += plots.robustness_vs_readout_figure(
            table, eps, out_dir / paths.SWEEP_FIGURE_STEM.format(eps=eps_label(eps))
        )
    with stage_run(
        tracking,
        provenance.run_name("sweep"),
        {"seeds": list(seeds), "sweep": asdict(settings)},
        {"robqunn.stage": "sweep"},
    ) as run:
        run.metrics(_metrics(frames))
        for path in written:
            run.artifact(path)
    return frames


def _metrics(frames: dict) -> dict[str, float]:
    """The variance shares per seed and eps, and the chosen circuits' mean test accuracy per eps."""
    metrics = {
        f"share_{r.source}_seed{r.seed}_eps_{eps_label(r.eps)}".replace(" ", "_"): r.share
        for r in frames["variance"].itertuples()
    }
    if paths.SELECTION_SUMMARY in frames:
        metrics |= {
            f"chosen_test_{r.model}_eps_{eps_label(r.eps)}": r.test_mean
            for r in frames[paths.SELECTION_SUMMARY].itertuples()
        }
    return metrics
