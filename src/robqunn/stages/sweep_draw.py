"""Stage sweep_draw: one draw of the sweep's rotation angles, each circuit trained and verified exactly."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from robqunn import provenance
from robqunn.config import (
    SweepParams,
)
from robqunn.data import Dataset
from robqunn.io import atomic_path
from robqunn.paths import eps_label
from robqunn.tracking import stage_run

if TYPE_CHECKING:
    import pandas as pd

from robqunn.stages.job import Job


def run(settings: SweepParams, recipe, job: Job, draw: int, out: str | Path) -> pd.DataFrame:
    """One draw of the sweep's rotation angles (robqunn.sweep.sweep_draw) on ``job.data``, the digits of
    ``job.seed``, as CSV; with tracking, an MLflow run per draw with each circuit's robust accuracy.

    Args:
        recipe: a :class:`robqunn.sweep.Recipe`, the study's circuit, training and exact settings.
    """
    from robqunn import sweep as sweeping

    angles_seed = sweeping.angles_seed(job.seed, draw)
    run_params = {"seed": job.seed, "draw": draw, "angles_seed": angles_seed, "sweep": asdict(settings)}
    run_params |= {"circuit": asdict(recipe.circuit), "train": asdict(recipe.training), "exact": asdict(recipe.exact)}
    tags = {"robqunn.stage": "sweep_draw", "robqunn.seed": job.seed, "robqunn.draw": draw}
    with stage_run(job.tracking, provenance.run_name(f"sweep draw {draw}", seed=job.seed), run_params, tags) as run:
        table = sweeping.sweep_draw(settings, recipe, Dataset.load(job.data, job.seed), job.seed, draw)
        with atomic_path(out) as tmp:
            table.to_csv(tmp, index=False)
        run.metrics(
            {f"robust_accuracy_{r.model}_eps_{eps_label(r.eps)}": r.robust_accuracy_upper for r in table.itertuples()}
        )
        run.artifact(out)
    return table
