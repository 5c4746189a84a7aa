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


def run(settings: SweepParams, seed: int, draw_tables: list, out_dir: str | Path, tracking=None) -> dict:
    """The sweep across draws: the table of every draw, the variance of exact robust accuracy split between
    the angles and the circuits, the rank correlations with the readout statistics (robqunn.sweep), and one
    figure per eps; with tracking, an MLflow run holding them (the shares as metrics)."""
    from robqunn import plots
    from robqunn import sweep as sweeping

    table = sweeping.load_draws(draw_tables, settings)
    frames = {
        "sweep": table,
        "variance": sweeping.variance_table(table, settings.n_boot, seed),
        "correlations": sweeping.correlations(table, settings.n_boot, seed),
    }
    out_dir, written = Path(out_dir), []
    for name, frame in frames.items():
        written.append(out_dir / f"{name}.csv")
        with atomic_path(written[-1]) as tmp:
            frame.to_csv(tmp, index=False)
    for eps in settings.eps:
        written += plots.robustness_vs_readout_figure(
            table, eps, out_dir / paths.SWEEP_FIGURE_STEM.format(eps=eps_label(eps))
        )
    shares = {
        f"share_{r.source}_eps_{eps_label(r.eps)}".replace(" ", "_"): r.share for r in frames["variance"].itertuples()
    }
    with stage_run(
        tracking,
        provenance.run_name("sweep", seed=seed),
        {"seed": seed, "sweep": asdict(settings)},
        {"robqunn.stage": "sweep"},
    ) as run:
        run.metrics(shares)
        for path in written:
            run.artifact(path)
    return frames
