"""Job evaluate_part (workflow.jobs per_eps): the sets of one (source, attack) on one target."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from robqunn.config import NoiseParams
from robqunn.io import atomic_path
from robqunn.stages.evaluate import evaluated_rows


@dataclass(frozen=True)
class Part:
    """One part of a seed's evaluation: the sets it is given, evaluated on ``target``, as rows in ``out``."""

    target: str
    out: str | Path


def run(
    part: Part,
    models: dict[str, str | Path],
    adversarial_sets: list,
    data: str | Path,
    noise: NoiseParams | None = None,
) -> None:
    """``workflow.jobs: per_eps``: the sets of one (source, attack) evaluated on ``part.target``, as rows (their
    per-digit results included) in the Parquet file ``part.out``; robqunn.stages.evaluate_parts merges a seed's.
    ``models`` holds the source's and the target's files (the source's checks each set's origin)."""
    import pandas as pd

    rows = evaluated_rows(models, adversarial_sets, (data, noise), lambda source, names: [part.target])
    with atomic_path(part.out) as tmp:
        pd.DataFrame(rows).to_parquet(tmp, index=False)
