"""Stage figures: Fig. 3a-e, the attack gaps, example grids and the summary of one seed."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from robqunn import paths
from robqunn.artifacts import (
    AdversarialSet,
)
from robqunn.data import Dataset
from robqunn.io import atomic_path
from robqunn.vocabulary import WORST_CASE, AttackName

EXAMPLE_DIGITS = 8  # digits per row of the adversarial-example grids


def run(table_csv: str | Path, example_sets: list[str | Path], data: str | Path, out_dir: str | Path) -> list[Path]:
    """Fig. 3a-e (with the exact robust accuracy), the attack gaps and the example grids in ``out_dir``;
    beside ``table_csv``, the summary table (``summary.csv``) and the white-box curves in long form
    (``whitebox_curves.csv``, for `dvc plots`).

    Args:
        example_sets: adversarial sets to show as digit grids (one grid per source model).
    """

    from robqunn import plots
    from robqunn.evaluate import read_results_table, summary, whitebox_curves
    from robqunn.report import SUMMARY_CAPTION, html_table

    out_dir, table = Path(out_dir), read_results_table(table_csv)
    figure_table, written = plots.study_models_only(table), []
    for attack_name in [attack.value for attack in AttackName] + [WORST_CASE]:
        stem = out_dir / paths.WHITEBOX_FIGURE_STEM.format(attack=attack_name)
        written += plots.whitebox_figure(figure_table, attack_name, stem)
    written += plots.attack_gap_figure(figure_table, out_dir / paths.ATTACK_GAP_FIGURE_STEM)
    for direction in paths.TRANSFER_DIRECTIONS:
        stem = out_dir / paths.TRANSFER_FIGURE_STEM.format(direction=direction)
        written += plots.transfer_figure(figure_table, direction, stem)
    written += _example_grids(example_sets, Dataset.load(data).x_test[:EXAMPLE_DIGITS], out_dir)
    tables = {paths.SUMMARY_NAME: summary(table), paths.WHITEBOX_CURVES_NAME: whitebox_curves(table)}
    for name, frame in tables.items():
        with atomic_path(Path(table_csv).parent / name) as tmp:
            frame.to_csv(tmp, index=False)
    page = Path(table_csv).parent / paths.SUMMARY_HTML_NAME
    with atomic_path(page) as tmp:
        tmp.write_text(html_table(tables[paths.SUMMARY_NAME], "summary", f"summary: {SUMMARY_CAPTION}"))
    return written + [Path(table_csv).parent / name for name in tables] + [page]


def _example_grids(example_sets: list[str | Path], x_clean, out_dir: Path) -> list[Path]:
    """One grid per source model: its first digits at each eps of the sets, with the classes it predicts
    (the eps-0 set holds the clean digits; without one, the clean row has no predictions to show)."""
    from robqunn import plots

    examples = [AdversarialSet.load(Path(p)) for p in example_sets]
    attacks = "/".join(sorted({a.attack for a in examples}))
    written = []
    for source in sorted({a.source for a in examples}):
        rows = {a.eps: (a.x_adv[:EXAMPLE_DIGITS], a.predicted[:EXAMPLE_DIGITS]) for a in examples if a.source == source}
        labels = next(a.y[:EXAMPLE_DIGITS] for a in examples if a.source == source)
        if 0.0 not in rows:
            rows[0.0] = (x_clean[:EXAMPLE_DIGITS], np.full(len(labels), -1))
        stem = out_dir / paths.EXAMPLES_FIGURE_STEM.format(model=source)
        written += plots.examples_figure(labels, rows, f"{attacks} on {source}", stem)
    return written
