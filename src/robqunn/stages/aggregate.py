"""Stage aggregate: the study across seeds (intervals, checklist, ansatz metrics, claims, figures)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from robqunn import paths, provenance
from robqunn.artifacts import (
    CertifiedRadii,
    ChecksRecord,
)
from robqunn.config import (
    ChecksParams,
    ClaimsParams,
    TrackingParams,
)
from robqunn.errors import DataError
from robqunn.io import atomic_path, save_json

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class StudyInputs:
    """What the study across seeds reads: each seed's results table, checks records, ansatz metrics and each
    model's certified radii."""

    tables: list[Path]
    check_records: list[Path]
    ansatz_tables: list[Path]
    radii: list[Path]


@dataclass(frozen=True)
class StudySettings:
    """What the study across seeds reads from params.yaml: the claims' and checks' sections, and train.robust.eps
    (where the robust-training claims are decided)."""

    claims: ClaimsParams
    checks: ChecksParams
    robust_eps: float


def run(
    settings: StudySettings, inputs: StudyInputs, out_dir: str | Path, tracking: TrackingParams | None = None
) -> dict[str, pd.DataFrame]:
    """The study across seeds: the table of every seed, its means with 95% intervals, the soundness
    checklist, the ansatz metrics against robustness and the claims table, with their figures.

    With ``tracking``, an MLflow run holding them as artifacts, and every model's training runs get
    the tag ``robqunn.soundness`` (PASS, or FLAG and the flagged checks).
    """
    from robqunn.report import write_html_tables

    frames = _study_frames(settings, inputs)
    out_dir, written = Path(out_dir), []
    for name, frame in frames.items():
        written.append(out_dir / paths.STUDY_TABLE_NAME.format(name=name))
        with atomic_path(written[-1]) as tmp:
            frame.to_csv(tmp, index=False)
    written += write_html_tables(frames, out_dir, paths.STUDY_HTML_NAME)
    written.append(out_dir / paths.STUDY_METRICS_NAME)
    save_json(written[-1], provenance.study_metrics(frames))
    written += _headline_metrics(frames["headline"], out_dir / Path(paths.HEADLINE_DIR).name)
    written += _study_figures(frames, out_dir / Path(paths.STUDY_FIGURES_DIR).name, settings.claims.low_eps)
    seeds = sorted(int(seed) for seed in frames["results"]["seed"].unique())
    provenance.track_study(tracking, frames, written, seeds, settings.claims.low_eps)
    return frames


def _checked_record(path: Path, settings: ChecksParams) -> ChecksRecord:
    """A checks record whose model and seed are those of its place (seed<seed>/<model>.json) and whose counts
    are of the digits the checks attack (checks.n_images; SPSA: checks.spsa.n_images, at most that many)."""
    record = ChecksRecord.load(path)
    if (f"seed{record.seed}", record.model) != (path.parent.name, path.stem):
        raise DataError(
            f"checks record {path} must be of its place's seed and model; it records seed "
            f"{record.seed}, model {record.model!r}"
        )
    evaluated = {record.large_eps["n_evaluated"], record.restarts["single"]["n_evaluated"]}
    evaluated |= {record.single_step[k]["n_evaluated"] for k in ("fgsm", "jittered_fgsm", "rfgsm")}
    spsa = {record.spsa[k]["n_evaluated"] for k in ("spsa", "pgd")}
    if (
        len(evaluated) != 1
        or evaluated.pop() > settings.n_images
        or len(spsa) != 1
        or spsa.pop() > settings.spsa.n_images
    ):
        raise DataError(
            f"checks record {path} must count one number of digits per attack set, at most checks.n_images "
            f"({settings.n_images}) and checks.spsa.n_images ({settings.spsa.n_images}) for SPSA: its counts "
            "were edited or made with other params (rerun its checks)"
        )
    return record


def _study_frames(settings: StudySettings, inputs: StudyInputs) -> dict:
    import pandas as pd

    from robqunn.ansatz_metrics import metrics_table
    from robqunn.checklist import checklist
    from robqunn.claims import claims_table
    from robqunn.evaluate import read_results_table, summary
    from robqunn.stats import headline, summarize

    table = pd.concat([read_results_table(path) for path in inputs.tables], ignore_index=True)
    records = [_checked_record(Path(path), settings.checks) for path in inputs.check_records]
    ansatz = pd.concat([pd.read_csv(path) for path in inputs.ansatz_tables])
    intervals = summarize(table)
    return {
        "headline": headline(intervals, settings.claims.low_eps),
        "results": table,
        "summary_ci": intervals,
        "checklist": checklist(table, records, settings.checks),
        "claims": claims_table(table, settings.claims, ansatz, settings.robust_eps),
        "ansatz_metrics": metrics_table(ansatz, summary(table)),
        "radii": _radii_table([_checked_radii(Path(path)) for path in inputs.radii]),
    }


def _headline_metrics(headline: pd.DataFrame, folder: Path) -> list[Path]:
    """One small JSON per model (``results/study/headline/<model>.json``): what `dvc metrics show` lists, one
    readable row per model."""
    import pandas as pd

    from robqunn.stats import HEADLINE_NUMBERS

    current = {f"{model}.json" for model in headline["model"]}
    for stale in folder.glob("*.json") if folder.is_dir() else ():  # a model no longer in the study
        if stale.name not in current:
            stale.unlink()
    written = []
    for row in headline.to_dict("records"):
        written.append(folder / f"{row['model']}.json")
        numbers = {name: row[name] for name in HEADLINE_NUMBERS if pd.notna(row[name])}  # a sampling model: no exact
        save_json(written[-1], {"eps": row["eps"]} | numbers | {"seeds": row["n_seeds"]})
    return written


def _checked_radii(path: Path) -> CertifiedRadii:
    """A radii record whose model and seed are those of its place (seed<seed>/<model>.json)."""
    record = CertifiedRadii.load(path)
    if (f"seed{record.seed}", record.model) != (path.parent.name, path.stem):
        raise DataError(
            f"certified radii {path} must be of its place's seed and model; it records seed {record.seed}, "
            f"model {record.model!r}"
        )
    return record


def _radii_table(records: list[CertifiedRadii]) -> pd.DataFrame:
    """One row per (seed, model): the median certified radius (its bracket), the fraction of digits bracketed to
    the resolution, the resolution and the digits."""
    import pandas as pd

    rows = [
        {"seed": r.seed, "model": r.model} | r.summary() | {"resolution": r.resolution, "n_digits": len(r.labels)}
        for r in records
    ]
    return pd.DataFrame(rows).sort_values(["model", "seed"]).reset_index(drop=True)


def _study_figures(frames: dict, out_dir: Path, low_eps: float) -> list[Path]:
    from robqunn import plots

    study = plots.study_models_only(frames["summary_ci"])
    written = plots.whitebox_ci_figure(study, out_dir / paths.WHITEBOX_CI_STEM)
    written += plots.transfer_ci_figure(study, out_dir / paths.TRANSFER_CI_STEM)
    written += plots.noise_figure(frames["summary_ci"], low_eps, out_dir / paths.NOISE_FIGURE_STEM)
    for attack_name in sorted(frames["ansatz_metrics"]["attack"].unique()):
        stem = out_dir / paths.ROBUSTNESS_FIGURE_STEM.format(attack=attack_name)
        written += plots.robustness_vs_entanglement_figure(frames["ansatz_metrics"], attack_name, stem)
    return written
