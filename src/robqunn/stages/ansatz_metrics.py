"""Stage ansatz_metrics: expressibility, entangling capability and feature effect of each circuit."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from robqunn.config import (
    AnsatzMetricsParams,
    CircuitParams,
)
from robqunn.data import Dataset
from robqunn.io import atomic_path

if TYPE_CHECKING:
    import pandas as pd

from robqunn.stages.job import Job, qunn_specs


def run(
    settings: AnsatzMetricsParams, circuit: CircuitParams, job: Job, model_names: list[str], out: str | Path
) -> pd.DataFrame:
    """Expressibility, entangling capability and feature effect of every QuNN circuit of ``job.seed``, as CSV: the
    noiseless circuits' (the metrics of Sim et al. are defined on pure states; noisy and finite-shot models are
    versions of these circuits and are left out)."""
    import pandas as pd

    from robqunn import ansatz_metrics as metrics
    from robqunn.circuits import make_circuit_spec
    from robqunn.patches import extract_patches
    from robqunn.seeding import derived_seed

    images, _ = Dataset.load(job.data, job.seed).first_test_digits(settings.n_images, "ansatz_metrics.n_images")
    patches = extract_patches(images, circuit.kernel_size, circuit.stride)
    rows = []
    for spec in (spec for spec in qunn_specs(model_names) if not spec.variant_labels):
        circuit_spec = make_circuit_spec(spec.ansatz, spec.layout, circuit, job.seed)
        sampling_seed = derived_seed(job.seed, f"ansatz_metrics/{spec.name}")
        values = metrics.ansatz_metrics(circuit_spec, settings.n_samples, settings.n_bins, patches, sampling_seed)
        rows.append({"seed": job.seed, "model": spec.name} | values)
    frame = pd.DataFrame(rows)
    with atomic_path(out) as tmp:
        frame.to_csv(tmp, index=False)
    return frame
