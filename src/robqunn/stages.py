"""One function per pipeline stage: prepare data, compute feature maps, train a model.

The `robqunn` CLI, the Snakemake scripts and dvc.yaml all run these functions, so the pipeline has
one implementation whichever tool drives it. Each stage validates its inputs before any long work
and writes its outputs atomically. TensorFlow and PennyLane are imported inside the stages that
use them, so that a workflow job pays only for what it runs.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from robqunn.config import (
    AnsatzMetricsParams,
    AttackName,
    AttackParams,
    ChecksParams,
    CircuitParams,
    ClaimsParams,
    DataParams,
    FgsmParams,
    MimParams,
    ModelSpec,
    Params,
    PgdParams,
    TrackingParams,
    TrainParams,
    model_specs,
)
from robqunn.data import load_dataset, prepare_dataset, save_dataset
from robqunn.errors import DataError
from robqunn.io import atomic_path, file_digests, save_json, save_npz, sha256_file
from robqunn.paths import StudyFiles
from robqunn.tracking import stage_run

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger(__name__)


def prepare(data: DataParams, seed: int, out: str | Path) -> dict:
    """Prepare the digits of the ``data`` section for ``seed``; returns the sidecar (with the sha256)."""
    dataset = prepare_dataset(data, seed)
    metadata = {
        "source": data.source.value,
        "idx_dir": str(data.idx_dir) if data.idx_dir else None,
        "seed": seed,
    }
    sidecar = save_dataset(dataset, out, metadata)
    logger.info("prepared %d train / %d test digits -> %s", len(dataset.y_train), len(dataset.y_test), out)
    return sidecar


def features(circuit: CircuitParams, seed: int, model_name: str, data: str | Path, out: str | Path) -> None:
    """Compute the frozen feature maps of ``model_name`` on the prepared digits."""
    from robqunn.features import compute_features, save_features
    from robqunn.models import build_model

    spec = ModelSpec.from_name(model_name)
    dataset = load_dataset(data)
    model = build_model(spec, circuit, seed)
    f_train, f_test = compute_features(model, dataset.x_train), compute_features(model, dataset.x_test)
    save_features(out, model_name, seed, f_train, f_test)
    logger.info("feature maps %s of %s -> %s", f_train.shape[1:], model_name, out)


def train(
    circuit: CircuitParams,
    training_params: TrainParams,
    seed: int,
    model_name: str,
    data: str | Path,
    feature_maps: str | Path,
    model_out: str | Path,
    metrics_out: str | Path,
    tracking: TrackingParams | None = None,
) -> dict:
    """Train ``model_name`` on its feature maps; save the end-to-end model and its metrics.

    Before training, the feature file is checked against the model: its provenance must match, and
    the end-to-end model must reproduce the stored features of a few training digits. With
    ``tracking`` enabled the training is an MLflow run (params, per-epoch history, the model file),
    the parent of the model's attack runs.
    """
    from robqunn import train as training
    from robqunn.features import load_features
    from robqunn.models import build_model, save_model

    spec = ModelSpec.from_name(model_name)
    dataset = load_dataset(data)
    f_train, f_test = load_features(feature_maps, model_name, seed)
    model = build_model(spec, circuit, seed)
    _check_features_match(model, dataset.x_train, f_train, feature_maps)
    facts = circuit_facts(circuit, spec, seed)
    provenance = data_provenance(data)
    run_params = {"model": model_name, "seed": seed, "data": provenance, "circuit": asdict(circuit)}
    run_params |= {"train": asdict(training_params)} | facts
    with stage_run(
        tracking, f"train {model_name} seed{seed}", run_params, _train_tags(model_name, seed, facts, provenance)
    ) as run:
        labels = (dataset.y_train, dataset.y_test)
        result = training.train(model, (f_train, f_test), labels, training_params, seed)
        metrics = {
            "model": model_name,
            "seed": seed,
            "data_sha256": provenance["sha256"],
            "train_accuracy": result.train_accuracy,
            "test_accuracy": result.test_accuracy,
            "end_to_end_test_accuracy": training.accuracy(model, dataset.x_test, dataset.y_test),
            "loss_per_epoch": result.loss,
            "accuracy_per_epoch": result.accuracy,
            "train_seconds": result.seconds,
            **facts,
        }
        save_model(model, model_out)
        save_json(metrics_out, metrics)
        run.metrics(
            {k: metrics[k] for k in ("train_accuracy", "test_accuracy", "end_to_end_test_accuracy", "train_seconds")}
        )
        run.history("loss", result.loss)
        run.history("accuracy", result.accuracy)
        run.tags({MODEL_SHA256_TAG: sha256_file(model_out)})
        run.artifact(model_out)
        run.artifact(metrics_out)
    logger.info("%s (seed %d): test accuracy %.4f", model_name, seed, result.test_accuracy)
    return metrics


MODEL_SHA256_TAG = "robqunn.model_sha256"  # links an attack run to the training run of its model
EXAMPLE_DIGITS = 8  # digits per row of the adversarial-example grids


def data_provenance(data: str | Path) -> dict:
    """Which digits a run read: the file, its source (from the sidecar), its sha256 and its DVC md5."""
    sidecar = Path(data).with_suffix(".json")
    source = json.loads(sidecar.read_text()).get("source", "unknown") if sidecar.is_file() else "unknown"
    digests = file_digests(data, "sha256", "md5")
    return {"path": str(data), "source": source, "sha256": digests["sha256"], "dvc_md5": digests["md5"]}


def _train_tags(model_name: str, seed: int, facts: dict, provenance: dict) -> dict:
    tags = {"robqunn.stage": "train", "robqunn.model": model_name, "robqunn.seed": seed}
    tags |= {"robqunn.data_dvc_md5": provenance["dvc_md5"], "robqunn.data_sha256": provenance["sha256"]}
    if facts:
        tags["robqunn.entanglers_visible"] = facts["entanglers_visible"]
    return tags


FEATURE_CHECK_IMAGES = 8
FEATURE_CHECK_ATOL = 1e-5


def _check_features_match(model, images, stored, path) -> None:
    from robqunn.features import compute_features

    fresh = compute_features(model, images[:FEATURE_CHECK_IMAGES])
    error = float(abs(fresh - stored[:FEATURE_CHECK_IMAGES]).max())
    if error > FEATURE_CHECK_ATOL:
        raise DataError(
            f"feature file {path} must match the model built from params (max |difference| <= "
            f"{FEATURE_CHECK_ATOL}); got {error:.3g}: recompute the features"
        )


def circuit_facts(circuit_params: CircuitParams, spec: ModelSpec, seed: int) -> dict:
    """What a reader must know about a QuNN's circuit: do its entanglers reach the readout at all?"""
    if spec.ansatz is None:
        return {}
    from robqunn.circuits import count_entanglers, entanglers_visible, make_circuit_spec, readout_polynomial

    circuit = make_circuit_spec(spec.ansatz, spec.layout, circuit_params, seed)
    visible = entanglers_visible(circuit)
    n_entanglers = count_entanglers(circuit)
    if n_entanglers and not visible:
        logger.warning(
            "%s: its %d entanglers do not change the readout (they commute with it); its features equal "
            "those of the same circuit without entanglers",
            spec.name,
            n_entanglers,
        )
    return {
        "ansatz": spec.ansatz.value,
        "layout": spec.layout.value,
        "n_entanglers": n_entanglers,
        "entanglers_visible": visible,
        "readout_terms": len(readout_polynomial(circuit)[0]),
    }


def attack(
    settings: FgsmParams | PgdParams | MimParams,
    n_images: int,
    batch_size: int,
    attack_name: str,
    seed: int,
    model_name: str,
    model_path: str | Path,
    data: str | Path,
    out_dir: str | Path,
    eps_values: tuple[float, ...] | None = None,
    tracking: TrackingParams | None = None,
) -> list[Path]:
    """Craft the adversarial sets of one (model, attack) on the first test digits, one file per eps.

    Each set is checked against the threat model before it is written, as ``eps{eps}.npz`` in
    ``out_dir``; the file records the source model, the attack, eps, the seed and the attack's
    hyper-parameters. The model is loaded once for the whole eps grid (the grid of ``settings``
    unless ``eps_values`` is given). With ``tracking`` enabled this is an MLflow run, a child of the
    training run that wrote ``model_path``: the white-box accuracy per eps is logged both as
    ``accuracy_eps_<eps>`` and as the history ``accuracy`` with step = round(1000 * eps), so the
    MLflow UI draws the accuracy-vs-eps curve.

    Args:
        settings: the attack's hyper-parameters (AttackParams.of(attack_name)).
        n_images: the first n test digits are attacked.
        batch_size: digits per attack call (memory only).
    """
    from robqunn.attacks import craft
    from robqunn.models import load_model, logits_model
    from robqunn.train import accuracy

    name = AttackName(attack_name)
    ModelSpec.from_name(model_name)
    dataset = load_dataset(data)
    x, y = dataset.x_test[:n_images], dataset.y_test[:n_images]
    model = load_model(model_path)
    logits = logits_model(model)
    grid = settings.eps if eps_values is None else eps_values
    run_params = {"model": model_name, "seed": seed, "attack": name.value, "n_images": len(y), "batch_size": batch_size}
    run_params |= {"data": data_provenance(data), name.value: asdict(settings) | {"eps": list(grid)}}
    tags = {"robqunn.stage": "attack", "robqunn.model": model_name, "robqunn.seed": seed, "robqunn.attack": name.value}
    parent = {"robqunn.stage": "train", MODEL_SHA256_TAG: sha256_file(model_path)}
    written, examples = [], {}
    with stage_run(tracking, f"{name.value} {model_name} seed{seed}", run_params, tags, parent) as run:
        for eps in grid:
            started = time.perf_counter()
            run_seed = attack_seed(seed, model_name, name, eps)
            x_adv = craft(logits, x, y, name, eps, settings, batch_size, run_seed, model_name)
            written.append(Path(out_dir) / f"eps{eps:g}.npz")
            save_npz(
                written[-1],
                x_adv=x_adv,
                y=y,
                source=np.array(model_name),
                attack=np.array(name.value),
                eps=np.array(eps),
                seed=np.array(seed),
                settings=np.array(json.dumps(asdict(settings))),
            )
            seconds = time.perf_counter() - started
            if run.active:
                score = accuracy(model, x_adv, y)
                run.metrics({f"accuracy_eps_{eps:g}": score, f"seconds_eps_{eps:g}": seconds})
                run.metrics({"accuracy": score}, step=round(1000 * eps))
                examples[eps] = x_adv[:EXAMPLE_DIGITS]
            logger.info("%s %s eps %g: %d adversarial digits -> %s", model_name, name.value, eps, len(y), written[-1])
        if run.active:
            _log_examples(run, x[:EXAMPLE_DIGITS], examples, f"{name.value} on {model_name}")
    return written


def _log_examples(run, clean: np.ndarray, examples: dict[float, np.ndarray], title: str) -> None:
    """The run's adversarial digits per eps as a figure artifact."""
    import tempfile

    from robqunn import plots

    with tempfile.TemporaryDirectory() as folder:
        for path in plots.examples_figure(clean, examples, title, Path(folder) / "examples"):
            run.artifact(path)


def attack_seed(seed: int, model_name: str, attack_name: AttackName, eps: float) -> int:
    """The seed of one attack run's random start, derived from the study seed."""
    from robqunn.seeding import derived_seed

    return derived_seed(seed, f"attack/{model_name}/{attack_name.value}/{eps!r}")


def evaluate(
    attack_params: AttackParams,
    models: dict[str, str | Path],
    adversarial_sets: list[str | Path],
    table_csv: str | Path,
    table_parquet: str | Path,
) -> pd.DataFrame:
    """Evaluate every adversarial set on its source (white-box) and its transfer targets.

    Args:
        models: model name -> .keras file, for every model that may be a target.
    """
    from robqunn.evaluate import evaluate_set, load_adversarial, results_table, save_table, transfer_targets
    from robqunn.models import load_model, predict

    loaded = {name: load_model(path) for name, path in models.items()}
    rows = []
    for path in adversarial_sets:
        adversarial = load_adversarial(path)
        names = transfer_targets(str(adversarial["source"]), list(loaded), attack_params.transfer_between_qunns)
        rows += evaluate_set(adversarial, {n: loaded[n] for n in names}, predict)
    table = results_table(rows)
    save_table(table, table_csv, table_parquet)
    return table


def report(table_csv: str | Path, example_sets: list[str | Path], data: str | Path, out_dir: str | Path) -> list[Path]:
    """Figures (Fig. 3a-e, example grids) in ``out_dir``; beside ``table_csv``, the summary table
    (``summary.csv``) and the white-box curves in long form (``whitebox_curves.csv``, for `dvc plots`).

    Args:
        example_sets: adversarial sets to show as digit grids (one grid per source model).
    """
    import pandas as pd

    from robqunn import plots
    from robqunn.evaluate import load_adversarial, summary, whitebox_curves

    out_dir = Path(out_dir)
    table = pd.read_csv(table_csv)
    written = []
    for attack_name in sorted(table["attack"].unique()):
        written += plots.whitebox_figure(table, attack_name, out_dir / f"fig3_whitebox_{attack_name}")
    for direction in ("cnn_to_qunn", "qunn_to_cnn"):
        written += plots.transfer_figure(table, direction, out_dir / f"fig3_transfer_{direction}")
    x_clean = load_dataset(data).x_test[:EXAMPLE_DIGITS]
    examples = [load_adversarial(p) for p in example_sets]
    for source in sorted({str(a["source"]) for a in examples}):
        sets = {float(a["eps"]): a["x_adv"][:EXAMPLE_DIGITS] for a in examples if str(a["source"]) == source}
        attacks = "/".join(sorted({str(a["attack"]) for a in examples}))
        written += plots.examples_figure(x_clean, sets, f"{attacks} on {source}", out_dir / f"examples_{source}")
    tables = {"summary.csv": summary(table), "whitebox_curves.csv": whitebox_curves(table)}
    for name, frame in tables.items():
        with atomic_path(Path(table_csv).parent / name) as tmp:
            frame.to_csv(tmp, index=False)
    return written + [Path(table_csv).parent / name for name in tables]


def checks(
    settings: ChecksParams,
    pgd: PgdParams,
    batch_size: int,
    seed: int,
    model_name: str,
    model_path: str | Path,
    data: str | Path,
    out: str | Path,
    tracking: TrackingParams | None = None,
) -> dict:
    """The extra attacks of the soundness checks on one model (robqunn.soundness.extra_attacks),
    written as JSON; with ``tracking``, an MLflow run, a child of the model's training run."""
    from robqunn.models import load_model, logits_model
    from robqunn.soundness import extra_attacks

    ModelSpec.from_name(model_name)
    dataset = load_dataset(data)
    model = load_model(model_path)
    run_params = {"model": model_name, "seed": seed, "checks": asdict(settings), "pgd": asdict(pgd)}
    tags = {"robqunn.stage": "checks", "robqunn.model": model_name, "robqunn.seed": seed}
    parent = {"robqunn.stage": "train", MODEL_SHA256_TAG: sha256_file(model_path)}
    with stage_run(tracking, f"checks {model_name} seed{seed}", run_params, tags, parent) as run:
        x, y = dataset.x_test, dataset.y_test
        records = extra_attacks(logits_model(model), model, x, y, settings, pgd, batch_size, seed, model_name)
        save_json(out, records)
        run.metrics(_check_accuracies(records))
        run.artifact(out)
    logger.info("%s (seed %d): extra attacks of the soundness checks -> %s", model_name, seed, out)
    return records


def _check_accuracies(records: dict) -> dict:
    def accuracy(counts: dict) -> float:
        return counts["n_correct"] / counts["n_evaluated"]

    return {
        "accuracy_large_eps": accuracy(records["large_eps"]),
        "accuracy_pgd_one_run": accuracy(records["restarts"]["single"]),
        "accuracy_pgd_restarts": accuracy(records["restarts"]["all"]),
        "accuracy_spsa": accuracy(records["spsa"]["spsa"]),
        "accuracy_pgd_on_spsa_digits": accuracy(records["spsa"]["pgd"]),
    }


def ansatz_metrics(
    settings: AnsatzMetricsParams,
    circuit: CircuitParams,
    seed: int,
    model_names: list[str],
    data: str | Path,
    out: str | Path,
) -> pd.DataFrame:
    """Expressibility, entangling capability and feature effect of every QuNN circuit of ``seed``, as CSV."""
    import pandas as pd

    from robqunn import ansatz_metrics as metrics
    from robqunn.circuits import make_circuit_spec
    from robqunn.quanv import extract_patches
    from robqunn.seeding import derived_seed

    images = load_dataset(data).x_test[: settings.n_images]
    patches = extract_patches(images, circuit.kernel_size, circuit.stride)
    rows = []
    for spec in map(ModelSpec.from_name, model_names):
        if spec.ansatz is None:
            continue
        circuit_spec = make_circuit_spec(spec.ansatz, spec.layout, circuit, seed)
        sampling_seed = derived_seed(seed, f"ansatz_metrics/{spec.name}")
        values = metrics.ansatz_metrics(circuit_spec, settings.n_samples, settings.n_bins, patches, sampling_seed)
        rows.append({"seed": seed, "model": spec.name} | values)
    frame = pd.DataFrame(rows)
    with atomic_path(out) as tmp:
        frame.to_csv(tmp, index=False)
    return frame


def aggregate(
    claims_params: ClaimsParams,
    checks_params: ChecksParams,
    tables: list[str | Path],
    check_records: list[str | Path],
    ansatz_tables: list[str | Path],
    out_dir: str | Path,
    tracking: TrackingParams | None = None,
) -> dict[str, pd.DataFrame]:
    """The study across seeds: the table of every seed, its means with 95% intervals, the soundness
    checklist, the ansatz metrics against robustness and the claims table, with their figures.

    With ``tracking``, an MLflow run holding them as artifacts, and every model's training runs get
    the tag ``robqunn.soundness`` (PASS, or FLAG and the flagged checks).
    """
    import pandas as pd

    from robqunn import plots
    from robqunn.ansatz_metrics import metrics_table
    from robqunn.claims import claims_table
    from robqunn.evaluate import summary
    from robqunn.soundness import checklist
    from robqunn.stats import summarize

    out_dir = Path(out_dir)
    table = pd.concat([pd.read_csv(path) for path in tables], ignore_index=True)
    records = [json.loads(Path(path).read_text()) for path in check_records]
    auc = summary(table)
    frames = {
        "results": table,
        "summary_ci": summarize(table),
        "checklist": checklist(table, records, checks_params.large_eps_max_accuracy),
        "claims": claims_table(table, claims_params),
        "ansatz_metrics": metrics_table(pd.concat([pd.read_csv(p) for p in ansatz_tables]), auc),
    }
    written = []
    for name, frame in frames.items():
        written.append(out_dir / f"{name}.csv")
        with atomic_path(written[-1]) as tmp:
            frame.to_csv(tmp, index=False)
    metrics = _study_metrics(frames)
    save_json(out_dir / "metrics.json", metrics)
    written.append(out_dir / "metrics.json")
    written += plots.whitebox_ci_figure(frames["summary_ci"], out_dir / "figures" / "whitebox_ci")
    written += plots.transfer_ci_figure(frames["summary_ci"], out_dir / "figures" / "transfer_ci")
    for attack_name in sorted(frames["ansatz_metrics"]["attack"].unique()):
        stem = out_dir / "figures" / f"robustness_vs_entanglement_{attack_name}"
        written += plots.robustness_vs_entanglement_figure(frames["ansatz_metrics"], attack_name, stem)
    _track_study(tracking, frames, written, sorted(int(seed) for seed in table["seed"].unique()))
    return frames


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text.lower()).strip("_")


def _study_metrics(frames: dict) -> dict:
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


def _track_study(tracking: TrackingParams | None, frames: dict, written: list[Path], seeds: list[int]) -> None:
    from robqunn.tracking import tag_runs

    flagged = frames["checklist"][frames["checklist"]["verdict"] == "FLAG"]
    tags = {"robqunn.stage": "study", "robqunn.flags": len(flagged)}
    params = {"seeds": seeds}
    with stage_run(tracking, "study", params, tags) as run:
        verdicts = frames["claims"]["verdict"].value_counts().to_dict()
        run.metrics({f"claims_{k.replace(' ', '_')}": v for k, v in verdicts.items()} | {"flags": len(flagged)})
        run.tags({f"robqunn.check.{r.model}.{_slug(r.check)}": r.verdict for r in frames["checklist"].itertuples()})
        for path in written:
            run.artifact(path)
        if run.active:
            for model in sorted(frames["checklist"]["model"].unique()):
                checks_flagged = flagged[flagged["model"] == model]["check"].tolist()
                value = "FLAG: " + "; ".join(checks_flagged) if checks_flagged else "PASS"
                match = {"robqunn.stage": "train", "robqunn.model": model}
                tag_runs(tracking.experiment, match, {"robqunn.soundness": value}, seeds)


def circuit_diagrams(circuit: CircuitParams, seed: int, model_names: list[str], out_dir: str | Path) -> list[Path]:
    """A qml.draw_mpl diagram of each QuNN's circuit (``circuit_<ansatz>-<layout>.png``) for ``seed``."""
    from robqunn.circuits import draw_figure, make_circuit_spec

    written = []
    for spec in map(ModelSpec.from_name, model_names):
        if spec.ansatz is None:
            continue
        written.append(Path(out_dir) / f"circuit_{spec.ansatz.value}-{spec.layout.value}.png")
        with atomic_path(written[-1]) as tmp:
            draw_figure(make_circuit_spec(spec.ansatz, spec.layout, circuit, seed), tmp)
    return written


def study(params: Params, workdir: str | Path = ".") -> list[dict]:
    """Every stage for every seed and model of ``params``, in ``workdir``; returns the training metrics."""
    files = StudyFiles(Path(workdir))
    names = [spec.name for spec in model_specs(params.study)]
    metrics = []
    for seed in params.study.seeds:
        data = files.prepared(seed)
        prepare(params.data, seed, data)
        for name in names:
            metrics.append(_study_model(params, files, seed, name))
            for attack_name in AttackName:
                settings = params.attack.of(attack_name)
                stage_args = (settings, params.attack.n_images, params.attack.batch_size, attack_name.value, seed)
                out_dir = files.adversarial_dir(seed, name, attack_name)
                attack(*stage_args, name, files.model(seed, name), data, out_dir, tracking=params.tracking)
        models = {name: files.model(seed, name) for name in names}
        table = files.table(seed)
        evaluate(
            params.attack,
            models,
            files.adversarial_sets(params.attack, seed, names),
            table,
            table.with_suffix(".parquet"),
        )
        examples = files.adversarial_sets(params.attack, seed, names, [AttackName.PGD])
        report(table, examples, data, files.figures(seed))
        circuit_diagrams(params.circuit, seed, names, files.circuits(seed))
        for name in names:
            checks_args = (
                params.checks,
                params.attack.pgd,
                params.attack.batch_size,
                seed,
                name,
                files.model(seed, name),
            )
            checks(*checks_args, data, files.checks(seed, name), params.tracking)
        ansatz_metrics(params.ansatz_metrics, params.circuit, seed, names, data, files.ansatz_metrics(seed))
    seeds = params.study.seeds
    aggregate(
        params.claims,
        params.checks,
        [files.table(seed) for seed in seeds],
        [files.checks(seed, name) for seed in seeds for name in names],
        [files.ansatz_metrics(seed) for seed in seeds],
        files.study(),
        params.tracking,
    )
    return metrics


def _study_model(params: Params, files: StudyFiles, seed: int, name: str) -> dict:
    data, feature_maps = files.prepared(seed), files.features(seed, name)
    features(params.circuit, seed, name, data, feature_maps)
    model_out, metrics_out = files.model(seed, name), files.train_metrics(seed, name)
    return train(params.circuit, params.train, seed, name, data, feature_maps, model_out, metrics_out, params.tracking)
