"""What the stages record in MLflow beside their outputs: where the data came from, which run is
whose parent, and the study's verdicts.

An attack or checks run finds its model's training run by the sha256 of the model file
(:data:`MODEL_SHA256_TAG`), so the link holds whichever tool ran the jobs and in which order.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from robqunn.config import TrackingParams
from robqunn.io import file_digests, sha256_file
from robqunn.paths import eps_label
from robqunn.tracking import headline_metric_names, log_figure_to_run, log_to_run, stage_run, tag_runs
from robqunn.vocabulary import EXACT, WORST_CASE, ModelSpec

if TYPE_CHECKING:
    import pandas as pd

MODEL_SHA256_TAG = "robqunn.model_sha256"  # links an attack or checks run to the training run of its model


def data_provenance(data: str | Path) -> dict:
    """Which digits a run read: the file, its source (from the sidecar), its sha256 and its DVC md5."""
    sidecar = Path(data).with_suffix(".json")
    source = json.loads(sidecar.read_text()).get("source", "unknown") if sidecar.is_file() else "unknown"
    digests = file_digests(data, "sha256", "md5")
    return {"path": str(data), "source": source, "sha256": digests["sha256"], "dvc_md5": digests["md5"]}


def run_name(stage: str, model: str | None = None, seed: int | None = None) -> str:
    """A run's name in the MLflow UI: what it is, which model, which seed, e.g. ``attack pgd · cnn · seed 42``."""
    return " · ".join([stage] + ([model] if model else []) + ([f"seed {seed}"] if seed is not None else []))


def run_tags(stage: str, seed: int, model: str, **extra: Any) -> dict:
    """The tags that say which stage, seed and model a run belongs to; for a QuNN also its noise and shots
    (``none`` and ``exact`` for the noiseless circuit read out exactly), to filter runs by in the UI."""
    tags = {"robqunn.stage": stage, "robqunn.model": model, "robqunn.seed": seed}
    spec = ModelSpec.from_name(model)
    if spec.ansatz is not None:
        tags |= {"robqunn.noise": spec.noise.label if spec.noise else "none", "robqunn.shots": spec.shots or "exact"}
    return tags | {f"robqunn.{key}": value for key, value in extra.items()}


def train_tags(seed: int, model: str, facts: dict, provenance: dict) -> dict:
    """A training run's tags: its data's hashes and, for a QuNN, whether its entanglers act."""
    extra = {"data_dvc_md5": provenance["dvc_md5"], "data_sha256": provenance["sha256"]}
    if facts:
        extra["entanglers_visible"] = facts["entanglers_visible"]
    return run_tags("train", seed, model, **extra)


def training_run_of(model_file: str | Path) -> dict:
    """The tags of the training run that wrote ``model_file`` (the parent of its attack and checks runs)."""
    return {"robqunn.stage": "train", MODEL_SHA256_TAG: sha256_file(model_file)}


def study_metrics(frames: dict[str, pd.DataFrame]) -> dict:
    """Headline numbers for `dvc metrics show`: seeds, flags per check, claim verdicts."""
    checklist, claims = frames["checklist"], frames["claims"]
    flags = checklist[checklist["verdict"] == "FLAG"]
    return {
        "n_seeds": int(frames["results"]["seed"].nunique()),
        "flags": int(len(flags)),
        "flags_per_check": {
            check: int((flags["check"] == check).sum()) for check in sorted(checklist["check"].unique())
        },
        "claims": {verdict: int(n) for verdict, n in claims["verdict"].value_counts().sort_index().items()},
    }


def track_study(
    tracking: TrackingParams | None, frames: dict, written: list[Path], seeds: list[int], headline_eps: float
) -> None:
    """The study's MLflow run (verdicts as metrics and tags, every table and figure as artifacts); each
    model's training runs get the tag ``robqunn.soundness``: PASS, or FLAG and the flagged checks; each
    attack run its gaps to the exact robust accuracy (``attack_gap_eps_<eps>``, ``n_missed_eps_<eps>``)."""
    flagged = frames["checklist"][frames["checklist"]["verdict"] == "FLAG"]
    tags = {"robqunn.stage": "study", "robqunn.flags": len(flagged)}
    with stage_run(tracking, "study", {"seeds": seeds}, tags) as run:
        verdicts = frames["claims"]["verdict"].value_counts().to_dict()
        run.metrics({f"claims_{k.replace(' ', '_')}": v for k, v in verdicts.items()} | {"flags": len(flagged)})
        run.tags({f"robqunn.check.{r.model}.{_slug(r.check)}": r.verdict for r in frames["checklist"].itertuples()})
        for path in written:
            run.artifact(path)
        if run.active:
            _tag_soundness(tracking.experiment, frames["checklist"], flagged, seeds)
            _log_attack_gaps(tracking.experiment, frames["results"])
            _log_model_curves(tracking.experiment, frames["results"])
            _log_headline(tracking.experiment, frames["results"], headline_eps)


def _tag_soundness(experiment: str, checklist: pd.DataFrame, flagged: pd.DataFrame, seeds: list[int]) -> None:
    for model in sorted(checklist["model"].unique()):
        checks_flagged = flagged[flagged["model"] == model]["check"].tolist()
        value = "FLAG: " + "; ".join(checks_flagged) if checks_flagged else "PASS"
        match = {"robqunn.stage": "train", "robqunn.model": model}
        tag_runs(experiment, match, {"robqunn.soundness": value}, seeds)


def _log_attack_gaps(experiment: str, table: pd.DataFrame) -> None:
    """Each attack run's gaps; the worst case over the attacks has a gap but no run of its own."""
    rows = table.dropna(subset=["attack_gap"])
    rows = rows[rows["attack"] != WORST_CASE]
    for (seed, model, attack), group in rows.groupby(["seed", "source", "attack"]):
        metrics = {f"attack_gap_eps_{eps_label(r.eps)}": r.attack_gap for r in group.itertuples()}
        metrics |= {f"n_missed_eps_{eps_label(r.eps)}": r.n_missed for r in group.itertuples()}
        log_to_run(experiment, run_tags("attack", int(seed), model, attack=attack), metrics)


def _log_headline(experiment: str, table: pd.DataFrame, eps: float) -> None:
    """Each training run gets its model's exact robust accuracy and the attacks' worst case at ``eps`` (the
    study's headline eps, claims.low_eps) as metrics: columns of the runs table beside its clean accuracy."""
    names = headline_metric_names(eps)
    white = table[(table["kind"] == "white-box") & (table["source"] == table["target"])]
    white = white[np.isclose(white["eps"], eps)]
    for (seed, model), rows in white.groupby(["seed", "target"]):
        at = rows.set_index("attack")["accuracy"]
        metrics = {names["attacks"]: at[WORST_CASE]}
        if (
            ModelSpec.from_name(model).shots is None
        ):  # a model that samples has no exact figure (robqunn.stats.headline)
            metrics[names["exact"]] = at[EXACT]
        log_to_run(experiment, {"robqunn.stage": "train", "robqunn.model": model, "robqunn.seed": seed}, metrics)


MODEL_CURVES_ARTIFACT = "accuracy_vs_eps.png"  # a training run's robustness curves (plots.model_curves_figure)


def _log_model_curves(experiment: str, table: pd.DataFrame) -> None:
    """Each training run gets its model's accuracy-eps curves under every attack and the exact one."""
    import matplotlib.pyplot as plt

    from robqunn.plots import model_curves_figure

    white = table[table["kind"] == "white-box"]
    for (seed, model), rows in white.groupby(["seed", "target"]):
        figure = model_curves_figure(rows, model, int(seed))
        log_figure_to_run(
            experiment,
            {"robqunn.stage": "train", "robqunn.model": model, "robqunn.seed": seed},
            figure,
            MODEL_CURVES_ARTIFACT,
        )
        plt.close(figure)


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text.lower()).strip("_")
