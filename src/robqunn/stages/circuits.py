"""Stage circuits: a diagram of each QuNN circuit of one seed."""

from __future__ import annotations

from pathlib import Path

from robqunn import paths
from robqunn.config import (
    CircuitParams,
)
from robqunn.io import atomic_path
from robqunn.stages.job import qunn_specs


def run(circuit: CircuitParams, seed: int, model_names: list[str], out_dir: str | Path) -> list[Path]:
    """A qml.draw_mpl diagram of each QuNN's circuit (``circuit_<ansatz>-<layout>.png``) for ``seed``."""
    from robqunn.circuits import draw_figure, make_circuit_spec

    written = []
    for spec in (spec for spec in qunn_specs(model_names) if not spec.method.label):  # a robust head: same circuit
        name = paths.CIRCUIT_FIGURE_NAME.format(circuit=spec.name.removeprefix("qunn-"))
        written.append(Path(out_dir) / name)
        with atomic_path(written[-1]) as tmp:
            draw_figure(make_circuit_spec(spec.ansatz, spec.layout, circuit, seed), tmp)
    return written
