"""Stage exact: exact robust accuracy of one model per eps, its worst cases as adversarial sets."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from robqunn import paths, provenance
from robqunn.artifacts import (
    EXACT_ROW_SCHEMA,
    AdversarialSet,
    check_threat_model,
)
from robqunn.config import ExactParams
from robqunn.data import Dataset
from robqunn.io import atomic_path
from robqunn.paths import eps_label
from robqunn.tracking import stage_run
from robqunn.vocabulary import EXACT

if TYPE_CHECKING:
    import pandas as pd

from robqunn.stages.job import Job, Sources, current_output, predicted_classes

logger = logging.getLogger(__name__)


EXACT_TABLE_ARTIFACT = "robust_accuracy_vs_eps.json"  # an exact run's, as a table the UI shows


def run(settings: ExactParams, n_images: int, job: Job, table_out: str | Path, sets_dir: str | Path) -> pd.DataFrame:
    """Exact robust accuracy of ``job.model`` on its first ``n_images`` test digits (the attacks' digits),
    over the eps grid of ``settings`` (robqunn.exact), as a table with one row per eps; the worst-case
    examples are written as adversarial sets of attack ``exact`` in ``sets_dir``, one per eps, so that
    they are evaluated white-box and transferred like any attack. Each set holds its row of the table:
    an eps whose set is current (robqunn.stages.job.current_output) is not verified again, its row read from
    the set.

    A model the decomposition does not cover is refused before any work. With tracking enabled this is
    an MLflow run, a child of the model's training run, with ``exact_accuracy_eps_<eps>`` (the upper
    bound: equal to the lower one when every digit is decided) and the undecided count per eps.
    """
    from robqunn.exact import check_eps

    for eps in settings.eps:
        check_eps(eps)
    dataset = Dataset.load(job.data, job.seed)
    digits = dataset.first_test_digits(n_images, "attack.n_images")
    sources = Sources.of(job, "exact", {"attack": {"n_images": n_images}, "exact": asdict(settings)})
    sets = {eps: Path(sets_dir) / paths.ADVERSARIAL_NAME.format(eps=eps_label(eps)) for eps in settings.eps}
    kept = {eps: current_output(AdversarialSet.load, path, sources.lineage(eps)) for eps, path in sets.items()}
    run_params = {"model": job.model, "seed": job.seed, "n_images": len(digits[1]), "exact": asdict(settings)}
    with verified_model(job, any(found is None for found in kept.values())) as model:
        verifying = _Verifying(settings, job, model, digits, sources)
        return _exact_grid(verifying, sets, kept, table_out, run_params)


@contextlib.contextmanager
def verified_model(job: Job, needed: bool) -> Iterator[Any]:
    """``job``'s model, checked to be one the decomposition covers, its finite-shot layers (if any) reading out
    the exact expectation (the exact worst case of what it samples from); None when no eps needs verifying."""
    if not needed:
        yield None
        return
    from robqunn.exact import decompose
    from robqunn.models import load_model
    from robqunn.quanv import expectation_only

    model = load_model(job.model_file, job.model, job.seed, job.data)
    decompose(model)
    with expectation_only(model):
        yield model


@dataclass(frozen=True)
class _Verifying:
    """What verifying one eps of a model needs: the exact section, the job, its model, its digits (x, y) and
    what the sets are made from."""

    settings: ExactParams
    job: Job
    model: Any
    digits: tuple[np.ndarray, np.ndarray]
    sources: Sources


def _exact_grid(verifying: _Verifying, sets: dict, kept: dict, table_out: str | Path, run_params: dict) -> pd.DataFrame:
    """The table of every eps of ``sets`` (eps -> path): the row of a ``kept`` set, else verified; tracked."""
    import pandas as pd

    job = verifying.job
    tags = provenance.run_tags("exact", job.seed, job.model)
    parent = provenance.training_run_of(job.model_file)
    with stage_run(job.tracking, provenance.run_name("exact", job.model, job.seed), run_params, tags, parent) as run:
        rows = []
        for eps, path in sets.items():
            found = kept[eps]
            rows.append(_exact_one_eps(verifying, eps, path) if found is None else _exact_row(eps, found.exact_row))
            _log_exact_row(run, rows[-1])
        table = pd.DataFrame(rows)
        with atomic_path(table_out) as tmp:
            table.to_csv(tmp, index=False)
        run.artifact(table_out)
        run.table(rows, EXACT_TABLE_ARTIFACT)
    return table


def _exact_row(eps: float, values: dict) -> dict:
    """A row of the exact table: eps, then the values of an exact set's ``exact_row`` in the table's order."""
    return {"eps": eps} | {key: values[key] for key in EXACT_ROW_SCHEMA}


def _exact_one_eps(verifying: _Verifying, eps: float, path: Path) -> dict:
    """Verify every digit at one eps, save the worst cases with their row as a set; return the table's row."""
    from robqunn.exact import verify

    settings, job, (x, y) = verifying.settings, verifying.job, verifying.digits
    result = verify(verifying.model, x, y, eps, settings.budget, settings.tolerance, settings.batch_size)
    check_threat_model(x, result.x_worst, eps, f"model {job.model!r}, exact worst cases, eps {eps}")
    values = {"robust_accuracy_lower": result.accuracy_lower, "robust_accuracy_upper": result.accuracy_upper}
    values |= {"undecided": int(result.undecided.sum()), "n_evaluated": len(y)}
    predicted = predicted_classes(verifying.model, result.x_worst)
    # budget and tolerance: the grid and the batch size (memory only) would make a set depend on more than it does
    recorded = {"budget": settings.budget, "tolerance": settings.tolerance}
    model_sha256, lineage = verifying.sources.inputs["model"], verifying.sources.lineage(eps)
    AdversarialSet(
        result.x_worst, y, predicted, job.model, EXACT, eps, job.seed, recorded, model_sha256, lineage, values
    ).save(path)
    row = _exact_row(eps, values)
    logger.info(
        "%s exact eps %g: robust accuracy in [%.4f, %.4f], %d undecided -> %s",
        job.model,
        eps,
        row["robust_accuracy_lower"],
        row["robust_accuracy_upper"],
        row["undecided"],
        path,
    )
    return row


def _log_exact_row(run, row: dict) -> None:
    label = eps_label(row["eps"])
    run.metrics({f"exact_accuracy_eps_{label}": row["robust_accuracy_upper"]})
    run.metrics(
        {f"exact_accuracy_lower_eps_{label}": row["robust_accuracy_lower"], f"undecided_eps_{label}": row["undecided"]}
    )
