"""One function per pipeline stage, the same name everywhere (docs/design.md, "Stages").

The Snakemake scripts, the `robqunn` CLI (which dvc.yaml runs) and the benchmark's one-process
baseline all call these functions, so the pipeline has one implementation whichever tool drives it.
Each stage reads typed artifacts (robqunn.artifacts), validates them before any long work and
writes its outputs atomically. TensorFlow and PennyLane are imported inside the stages that use
them, so that a workflow job pays only for what it runs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from robqunn import paths, provenance, registry
from robqunn.artifacts import (
    EXACT_ROW_SCHEMA,
    AdversarialSet,
    ChecksRecord,
    FeatureMaps,
    TrainMetrics,
    check_threat_model,
)
from robqunn.config import (
    EXACT,
    WORST_CASE,
    AnsatzMetricsParams,
    AttackName,
    AttackParams,
    AttackSteps,
    ChecksParams,
    CircuitParams,
    ClaimsParams,
    DataParams,
    ExactParams,
    FgsmParams,
    MimParams,
    ModelSpec,
    NoiseParams,
    PgdParams,
    SweepParams,
    TrackingParams,
    TrainParams,
)
from robqunn.data import Dataset, prepare_dataset
from robqunn.errors import DataError
from robqunn.io import atomic_path, save_json, sha256_file, sha256_json, sha256_tree
from robqunn.paths import eps_label
from robqunn.tracking import stage_run

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger(__name__)

EXAMPLE_DIGITS = 8  # digits per row of the adversarial-example grids
ATTACK_TABLE_ARTIFACT = "accuracy_vs_eps.json"  # an attack run's accuracy-eps curve, as a table
EXACT_TABLE_ARTIFACT = "robust_accuracy_vs_eps.json"  # an exact run's, as a table the UI shows
FEATURE_CHECK_ATOL = 1e-5  # stored features must match the model's, as the fast layer matches PennyLane


@dataclass(frozen=True)
class Job:
    """What a stage of one seed needs: the seed, the prepared digits, where to track and, for the
    stages of one model, the model's name and its ``.keras`` file (written by train, read by attack
    and checks), and the ``noise`` section's sampling draws (needed for a finite-shot model)."""

    seed: int
    data: Path
    tracking: TrackingParams | None = None
    model: str | None = None
    model_file: Path | None = None
    noise: NoiseParams | None = None

    def __post_init__(self) -> None:
        if self.model is not None:
            ModelSpec.from_name(self.model)

    @property
    def spec(self) -> ModelSpec:
        return ModelSpec.from_name(self.model)

    @property
    def eot_draws(self) -> int:
        """Sampling draws per attack gradient (robqunn.attacks.eot): noise.eot_draws for a finite-shot model, else 1."""
        return sampling_draws(self.model, self.noise, "eot_draws")

    @property
    def eval_draws(self) -> int:
        """Sampling draws a finite-shot model's accuracy averages over (noise.eval_draws), else 1."""
        return sampling_draws(self.model, self.noise, "eval_draws")


def sampling_draws(model: str, noise: NoiseParams | None, key: str) -> int:
    """``noise.<key>`` (eot_draws or eval_draws) for a finite-shot model, 1 for a model that does not sample."""
    if not ModelSpec.from_name(model).shots:
        return 1
    if noise is None:
        raise ValueError(f"model {model} samples its readout: its stage needs params key 'noise.{key}'")
    return getattr(noise, key)


@dataclass(frozen=True)
class AttackJob:
    """One attack as the attack stage runs it: its hyper-parameters and how many digits, in what batches."""

    name: AttackName
    settings: FgsmParams | PgdParams | MimParams
    n_images: int
    batch_size: int

    @classmethod
    def of(cls, attack_params: AttackParams, name: AttackName | str) -> AttackJob:
        name = AttackName(name)
        return cls(name, attack_params.of(name), attack_params.n_images, attack_params.batch_size)


@dataclass(frozen=True)
class StudyInputs:
    """What the study across seeds reads: each seed's results table, checks records and ansatz metrics."""

    tables: list[Path]
    check_records: list[Path]
    ansatz_tables: list[Path]


def prepare(data: DataParams, seed: int, out: str | Path) -> dict:
    """Prepare the digits of the ``data`` section for ``seed``; returns the sidecar (with the sha256)."""
    dataset = prepare_dataset(data, seed)
    metadata = {"source": data.source.value, "idx_dir": str(data.idx_dir) if data.idx_dir else None, "seed": seed}
    sidecar = dataset.save(out, metadata)
    logger.info("prepared %d train / %d test digits -> %s", len(dataset.y_train), len(dataset.y_test), out)
    return sidecar


def features(circuit: CircuitParams, job: Job, out: str | Path) -> None:
    """Compute the frozen feature maps of ``job.model`` on the prepared digits."""
    from robqunn.features import compute_features
    from robqunn.models import build_model

    dataset = Dataset.load(job.data, job.seed)
    model = build_model(job.spec, circuit, job.seed)
    maps = FeatureMaps(
        job.model, job.seed, compute_features(model, dataset.x_train), compute_features(model, dataset.x_test)
    )
    maps.save(out)
    logger.info("feature maps %s of %s -> %s", maps.f_train.shape[1:], job.model, out)


def train(circuit: CircuitParams, training: TrainParams, job: Job, feature_maps: str | Path, metrics_out: str | Path):
    """Train ``job.model`` on its feature maps; save the end-to-end model (``job.model_file``) and its metrics.

    The feature file must be for this model and seed and must equal the features of the model built
    from params. With tracking enabled the training is an MLflow run (params, per-epoch history, the
    model file), the parent of the model's attack and checks runs.

    Returns:
        The :class:`robqunn.artifacts.TrainMetrics` written.
    """
    from robqunn import train as training_loop
    from robqunn.models import build_model
    from robqunn.seeding import derived_seed

    dataset = Dataset.load(job.data, job.seed)
    maps = FeatureMaps.load(feature_maps, job.model, job.seed)
    model = build_model(job.spec, circuit, job.seed)
    _check_features_match(model, dataset, maps, feature_maps)
    facts = _circuit_facts(circuit, job.spec, job.seed)
    source = provenance.data_provenance(job.data)
    run_params = {"model": job.model, "seed": job.seed, "data": source, "circuit": asdict(circuit)}
    run_params |= {"train": asdict(training)} | facts
    tags = provenance.train_tags(job.seed, job.model, facts, source)
    with stage_run(job.tracking, provenance.run_name("train", job.model, job.seed), run_params, tags) as run:
        result = training_loop.train(
            model, (maps.f_train, maps.f_test), (dataset.y_train, dataset.y_test), training, job.seed
        )
        score = _correct(
            model, (dataset.x_test, dataset.y_test), job.eval_draws, derived_seed(job.seed, "train accuracy")
        )
        metrics = _train_metrics(job, source, result, float(np.mean(score)), facts)
        _save_trained(model, metrics, job, metrics_out)
        _log_training(run, metrics, result.seconds, job.model_file, metrics_out)
    logger.info("%s (seed %d): test accuracy %.4f (%.1f s)", job.model, job.seed, metrics.test_accuracy, result.seconds)
    return metrics


def _circuit_facts(circuit: CircuitParams, spec: ModelSpec, seed: int) -> dict:
    """robqunn.circuits.circuit_facts for a QuNN; {} for the CNN, without importing PennyLane (1.2 s)."""
    if spec.ansatz is None:
        return {}
    from robqunn.circuits import circuit_facts

    return circuit_facts(circuit, spec, seed)


def _train_metrics(job: Job, source: dict, result, end_to_end_accuracy: float, facts: dict):

    return TrainMetrics(
        model=job.model,
        seed=job.seed,
        data_sha256=source["sha256"],
        train_accuracy=result.train_accuracy,
        test_accuracy=result.test_accuracy,
        end_to_end_test_accuracy=end_to_end_accuracy,
        loss_per_epoch=result.loss,
        accuracy_per_epoch=result.accuracy,
        circuit=facts,
    )


def _save_trained(model, metrics, job: Job, metrics_out: str | Path) -> None:
    """The model, with its lineage (name, seed, the digits' sha256: robqunn.models.load_model checks it),
    and its metrics."""
    from robqunn.models import save_model

    save_model(model, job.model_file, {"model": job.model, "seed": job.seed, "data_sha256": sha256_file(job.data)})
    metrics.save(metrics_out)


def _log_training(run, metrics, seconds: float, model_file: Path, metrics_out: str | Path) -> None:
    keys = ("train_accuracy", "test_accuracy", "end_to_end_test_accuracy")
    run.metrics({key: getattr(metrics, key) for key in keys} | {"train_seconds": seconds})
    run.history("loss", metrics.loss_per_epoch)
    run.history("accuracy", metrics.accuracy_per_epoch)
    run.tags(provenance.training_run_of(model_file))
    run.artifact(model_file)
    run.artifact(metrics_out)


def _check_features_match(model, dataset: Dataset, maps: FeatureMaps, path) -> None:
    """Every stored feature map, train and test, must equal the model's own on the prepared digits: a stale,
    edited or truncated file cannot train the wrong head (recomputing is cheap with the fast layer)."""
    from robqunn.features import compute_features

    for split, images, stored in (("train", dataset.x_train, maps.f_train), ("test", dataset.x_test, maps.f_test)):
        fresh = compute_features(model, images)
        if fresh.shape != stored.shape:
            raise DataError(
                f"feature file {path} must hold {split} features of shape {fresh.shape} for the prepared digits; "
                f"got {stored.shape}: recompute the features"
            )
        difference = np.abs(fresh - stored).max(axis=tuple(range(1, fresh.ndim)))
        wrong = np.flatnonzero(difference > FEATURE_CHECK_ATOL)
        if len(wrong):
            raise DataError(
                f"feature file {path} must match the model built from params (max |difference| <= "
                f"{FEATURE_CHECK_ATOL}); {len(wrong)} {split} rows differ, the first row {wrong[0]} by "
                f"{difference[wrong[0]]:.3g}: recompute the features"
            )


# --- what an output is made from: a stage keeps the outputs that are current -----------------------------------

T = TypeVar("T")


@functools.cache
def code_sha256() -> str:
    """sha256 of robqunn's source. A kept output must be what this code would write: DVC reruns a stage when the
    package changes (its outs persist, dvc.yaml), and that rerun must not keep what older code wrote."""
    return sha256_tree(Path(__file__).parent)


@dataclass(frozen=True)
class Sources:
    """What the outputs of one stage call are made from, each output adding its eps: the sha256 of the model
    file and of the prepared digits (``inputs``), and ``params``: the values of the keys the stage reads for
    them (robqunn.registry, without an eps grid) with the stage, seed, model and attack, from which their
    random draws derive (:func:`attack_seed`)."""

    inputs: dict[str, str]
    params: dict[str, Any]

    @classmethod
    def of(cls, job: Job, stage: str, sections: dict, attack: AttackName | str | None = None) -> Sources:
        """The sources of ``stage`` (its name in robqunn.registry.STAGES) for ``job``'s model (and ``attack``);
        ``sections``: the params the stage was given, nested as in params.yaml, where its keys are looked up."""
        keys = registry.STAGES[stage].keys_read([job.model], attack, eps=True)
        names = {"stage": stage, "seed": job.seed, "model": job.model}
        names |= {} if attack is None else {"attack": AttackName(attack).value}
        inputs = {"model": sha256_file(job.model_file), "data": sha256_file(job.data)}
        return cls(inputs, names | registry.values(sections, keys))

    def lineage(self, eps: float | None = None) -> dict:
        """The lineage an output records (robqunn.artifacts): of the output at ``eps``, or of the stage's one."""
        params = self.params if eps is None else self.params | {"eps": eps}
        return {"inputs": self.inputs, "params_sha256": sha256_json(params), "code_sha256": code_sha256()}


def current_output(load: Callable[[Path], T], path: Path, lineage: dict) -> T | None:
    """The artifact at ``path`` if it is current: it loads and records ``lineage``, so it is what computing it
    now would write, byte for byte. None if it must be computed: missing, unreadable, or made from something
    else (another model file or digits, other params, other code)."""
    if not path.is_file():
        return None
    try:
        artifact = load(path)
    except DataError as exc:
        logger.warning("unreadable, computed again: %s (%s)", path, exc)
        return None
    if artifact.lineage != lineage:
        logger.info("stale, computed again: %s", path)
        return None
    logger.info("current, kept: %s", path)
    return artifact


def attack(
    attack_job: AttackJob, job: Job, out_dir: str | Path, eps_values: tuple[float, ...] | None = None
) -> list[Path]:
    """Craft the adversarial sets of one (model, attack) on the first test digits, one file per eps.

    Each set is checked against the threat model before it is written, as ``eps<eps>.npz`` in
    ``out_dir``, recording the source model, the attack, eps, the seed, the attack's hyper-parameters
    and its lineage. A set that is current (:func:`current_output`) is kept, not crafted again, so one
    more eps in the grid (the attack's settings' grid unless ``eps_values`` is given) costs that eps
    alone; the model is loaded once, when the first eps needs it. With tracking enabled this is an
    MLflow run, a child of the training run that wrote ``job.model_file``: the white-box accuracy per
    eps, kept sets included, as the metric ``accuracy_eps_<eps>`` (a column of the UI's runs table)
    and, with each set's path and sha256, as the table artifact ``accuracy_vs_eps.json`` (the sets
    themselves are DVC's, 3 MB each; their path and hash are also the tag ``adversarial_set.eps_<eps>``).
    The curve's figure is the training run's, drawn once the study is evaluated
    (robqunn.provenance.track_study): a figure here cost a second.
    """
    dataset = Dataset.load(job.data, job.seed)
    x, y = dataset.x_test[: attack_job.n_images], dataset.y_test[: attack_job.n_images]
    grid = attack_job.settings.eps if eps_values is None else eps_values
    name = attack_job.name.value
    run_params = {"model": job.model, "seed": job.seed, "attack": name, "n_images": len(y)}
    run_params |= {"batch_size": attack_job.batch_size, "data": provenance.data_provenance(job.data)}
    run_params[name] = asdict(attack_job.settings) | {"eps": list(grid)}
    tags = provenance.run_tags("attack", job.seed, job.model, attack=name)
    parent = provenance.training_run_of(job.model_file)
    run_name = provenance.run_name(f"attack {name}", job.model, job.seed)
    if eps_values is not None:  # a part of the grid (workflow.jobs per_eps, `robqunn attack --eps`): its own run
        run_name += " · eps " + ", ".join(eps_label(eps) for eps in grid)
    sections = {"attack": {"n_images": attack_job.n_images, "batch_size": attack_job.batch_size}, "noise": _draws(job)}
    sections["attack"][name] = asdict(attack_job.settings)
    crafting = _Crafting(attack_job, job, _model_loader(job), (x, y), Sources.of(job, "attack", sections, name))
    with stage_run(job.tracking, run_name, run_params, tags, parent) as run:
        done = [_attack_one_eps(crafting, eps, Path(out_dir), run) for eps in grid]
        if run.active:
            run.table([row for _, row in done], ATTACK_TABLE_ARTIFACT)
            run.metrics({"seconds": sum(row["seconds"] for _, row in done)})
    return [path for path, _ in done]


def _draws(job: Job) -> dict[str, int]:
    """The ``noise`` keys of ``job``'s model that the attacks and checks read (robqunn.registry.sampling_keys)."""
    return {"eot_draws": job.eot_draws, "eval_draws": job.eval_draws}


def _model_loader(job: Job) -> Callable[[], Any]:
    """``job``'s model, loaded at the first call: a stage whose outputs are all current never loads it."""
    from robqunn.models import load_model

    return functools.cache(lambda: load_model(job.model_file, job.model, job.seed, job.data))


def _classes(model, x: np.ndarray, seed: int | None = None) -> np.ndarray:
    """The classes ``model`` predicts for ``x``, int64 (what a set records as ``predicted``); a finite-shot
    model's one sampling draw seeded by ``seed``."""
    from robqunn.models import predict
    from robqunn.quanv import reseed

    if seed is not None:
        reseed(model, seed)
    return np.argmax(predict(model, x), axis=1).astype(np.int64)


def _correct(model, digits: tuple[np.ndarray, np.ndarray], draws: int, seed: int) -> np.ndarray:
    """Per digit: correct or not, or a finite-shot model's fraction of ``draws`` seeded draws that are."""
    from robqunn.evaluate import correct_over_draws
    from robqunn.models import predict

    return correct_over_draws(model, digits, predict, draws, seed)


@dataclass(frozen=True)
class _Crafting:
    """What crafting each set of one (model, attack) needs: the model (loaded at its first call), the digits
    and what the sets are made from."""

    attack_job: AttackJob
    job: Job
    model: Callable[[], Any]
    digits: tuple[np.ndarray, np.ndarray]
    sources: Sources


def _attack_one_eps(crafting: _Crafting, eps: float, out_dir: Path, run) -> tuple:
    """The set of one eps: kept if current, else crafted, checked and saved; log its white-box accuracy.
    Returns the set's path and, tracked, its row of the run's table."""
    from robqunn.seeding import derived_seed

    job, started = crafting.job, time.perf_counter()
    seed = attack_seed(job.seed, job.model, crafting.attack_job.name, eps)
    path = out_dir / paths.ADVERSARIAL_NAME.format(eps=eps_label(eps))
    lineage = crafting.sources.lineage(eps)
    adversarial = current_output(AdversarialSet.load, path, lineage) or _craft(crafting, eps, seed, lineage, path)
    row = None
    if run.active:
        x_adv, y = adversarial.x_adv, adversarial.y
        correct = None
        if job.spec.shots:  # a model that samples: the mean over its draws
            correct = _correct(crafting.model(), (x_adv, y), job.eval_draws, derived_seed(seed, "score"))
        score = float(np.mean(adversarial.predicted == y if correct is None else correct))
        seconds, digest = time.perf_counter() - started, sha256_file(path)
        run.metrics({f"accuracy_eps_{eps_label(eps)}": score})
        run.tags({f"adversarial_set.eps_{eps_label(eps)}": f"{path} sha256:{digest}"})
        row = {"eps": eps, "accuracy": score, "n_digits": len(y), "set": str(path), "set_sha256": digest}
        row["seconds"] = round(seconds, 3)
    return path, row


def _craft(crafting: _Crafting, eps: float, seed: int, lineage: dict, path: Path) -> AdversarialSet:
    """Craft the set of one eps, check it against the threat model and save it (atomically)."""
    from robqunn.attacks import craft
    from robqunn.models import logits_model
    from robqunn.quanv import reseed
    from robqunn.seeding import derived_seed

    attack_job, job, model = crafting.attack_job, crafting.job, crafting.model()
    (x, y), name = crafting.digits, attack_job.name
    reseed(model, seed)
    x_adv = craft(
        logits_model(model), x, y, name, eps, attack_job.settings, attack_job.batch_size, seed, job.model, job.eot_draws
    )
    # without the eps grid: a set depends on its own eps alone, so one more eps in the grid leaves it current
    settings = {key: value for key, value in asdict(attack_job.settings).items() if key != "eps"}
    settings |= {"eot_draws": job.eot_draws} if job.spec.shots else {}
    predicted = _classes(model, x_adv, derived_seed(seed, "predicted"))
    model_sha256 = crafting.sources.inputs["model"]
    adversarial = AdversarialSet(
        x_adv, y, predicted, job.model, name.value, eps, job.seed, settings, model_sha256, lineage=lineage
    )
    adversarial.save(path)
    logger.info("%s %s eps %g: %d adversarial digits -> %s", job.model, name.value, eps, len(y), path)
    return adversarial


def model_train(
    circuit: CircuitParams, training: TrainParams, job: Job, feature_maps: str | Path, metrics_out: str | Path
) -> None:
    """:func:`features` then :func:`train` of ``job.model`` in this process (``workflow.jobs: per_model``):
    the same files and MLflow run as the two per-stage jobs, paying TensorFlow's start-up once."""
    features(circuit, job, feature_maps)
    train(circuit, training, job, feature_maps, metrics_out)


@dataclass(frozen=True)
class ModelAttacksSettings:
    """What :func:`model_attacks` reads from params.yaml."""

    attacks: list[AttackJob]
    exact: ExactParams
    n_images: int  # the attacks' and exact verification's test digits (attack.n_images)
    checks: ChecksParams
    steps: AttackSteps


@dataclass(frozen=True)
class ModelAttacksOutputs:
    """Where :func:`model_attacks` writes (robqunn.paths)."""

    attack_dirs: dict[AttackName, Path]
    exact_table: str | Path
    exact_dir: str | Path
    checks: str | Path


def model_attacks(settings: ModelAttacksSettings, job: Job, out: ModelAttacksOutputs) -> None:
    """Every attack of ``job.model`` (:func:`attack`), its exact verification (:func:`exact`) and its
    soundness checks (:func:`checks`) in this process (``workflow.jobs: per_model``): the same files and
    MLflow runs as the five per-stage jobs, paying TensorFlow's and MLflow's start-up once.

    Each stage keeps the outputs that are current (:func:`current_output`; the rule flags them ``update``, so
    Snakemake leaves them in place), so a job rerun for one more PGD eps crafts that eps alone, and one rerun
    for a checks key runs the checks alone."""
    for attack_job in settings.attacks:
        attack(attack_job, job, out.attack_dirs[attack_job.name])
    exact(settings.exact, settings.n_images, job, out.exact_table, out.exact_dir)
    checks(settings.checks, settings.steps, job, out.checks)


def attack_seed(seed: int, model_name: str, attack_name: AttackName, eps: float) -> int:
    """The seed of one attack run's random start, derived from the study seed."""
    from robqunn.seeding import derived_seed

    return derived_seed(seed, f"attack/{model_name}/{attack_name.value}/{eps!r}")


def exact(settings: ExactParams, n_images: int, job: Job, table_out: str | Path, sets_dir: str | Path) -> pd.DataFrame:
    """Exact robust accuracy of ``job.model`` on its first ``n_images`` test digits (the attacks' digits),
    over the eps grid of ``settings`` (robqunn.exact), as a table with one row per eps; the worst-case
    examples are written as adversarial sets of attack ``exact`` in ``sets_dir``, one per eps, so that
    they are evaluated white-box and transferred like any attack. Each set holds its row of the table:
    an eps whose set is current (:func:`current_output`) is not verified again, its row read from the set.

    A model the decomposition does not cover is refused before any work. With tracking enabled this is
    an MLflow run, a child of the model's training run, with ``exact_accuracy_eps_<eps>`` (the upper
    bound: equal to the lower one when every digit is decided) and the undecided count per eps.
    """
    from robqunn.exact import check_eps

    for eps in settings.eps:
        check_eps(eps)
    dataset = Dataset.load(job.data, job.seed)
    digits = dataset.x_test[:n_images], dataset.y_test[:n_images]
    sources = Sources.of(job, "exact", {"attack": {"n_images": n_images}, "exact": asdict(settings)})
    sets = {eps: Path(sets_dir) / paths.ADVERSARIAL_NAME.format(eps=eps_label(eps)) for eps in settings.eps}
    kept = {eps: current_output(AdversarialSet.load, path, sources.lineage(eps)) for eps, path in sets.items()}
    run_params = {"model": job.model, "seed": job.seed, "n_images": len(digits[1]), "exact": asdict(settings)}
    with _verified_model(job, any(found is None for found in kept.values())) as model:
        verifying = _Verifying(settings, job, model, digits, sources)
        return _exact_grid(verifying, sets, kept, table_out, run_params)


@contextlib.contextmanager
def _verified_model(job: Job, needed: bool) -> Iterator[Any]:
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
    predicted = _classes(verifying.model, result.x_worst)
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


@dataclass(frozen=True)
class EvaluateSettings:
    """What :func:`evaluate` reads from params.yaml: the attack section (whether QuNNs transfer to each other)
    and the noise section (the draws a finite-shot target's accuracy averages over)."""

    attack: AttackParams
    noise: NoiseParams | None = None


def evaluate(
    settings: EvaluateSettings,
    models: dict[str, str | Path],
    adversarial_sets: list[str | Path],
    data: str | Path,
    table_csv: str | Path,
) -> pd.DataFrame:
    """Evaluate every adversarial set on its source (white-box) and its transfer targets; add the worst case
    over the attacks per (model, eps) (robqunn.evaluate.worst_case) and, beside each white-box attack row,
    its gap to the exact robust accuracy (robqunn.evaluate.attack_gaps). The table is written as ``table_csv``
    and beside it as Parquet.

    Every set is verified as it is read, before its rows are computed (:func:`_verified_set`): crafted on
    the model file it is evaluated as, on the prepared test digits ``data``, within its eps-ball and [0, 1],
    at the path its fields say. A set that fails stops the stage with nothing written.

    A finite-shot target scores each digit by the fraction of ``noise.eval_draws`` sampling draws that
    classify it correctly, the draws seeded per (set, target) (robqunn.evaluate.correct_over_draws).

    Args:
        models: model name -> .keras file, for every model that may be a target.
    """
    from robqunn.evaluate import transfer_targets

    rows = _evaluated_rows(
        models,
        adversarial_sets,
        (data, settings.noise),
        lambda source, names: transfer_targets(source, names, settings.attack.transfer_between_qunns),
    )
    return _save_results(rows, table_csv)


def _evaluated_rows(models: dict[str, str | Path], adversarial_sets: list, inputs: tuple, targets_of) -> list[dict]:
    """The rows (robqunn.evaluate.evaluate_set, per-digit results included) of every set, each verified
    (:func:`_verified_set`), on the models ``targets_of(source, model names)`` names; ``inputs`` is the
    prepared digits' file and the noise section (its eval_draws for finite-shot targets)."""
    from robqunn.evaluate import evaluate_set
    from robqunn.models import CompiledPredict, load_model

    data, noise = inputs
    dataset = Dataset.load(data)
    score = _DrawScorer(CompiledPredict(), noise)
    hashes = {name: sha256_file(path) for name, path in models.items()}
    loaded = {name: load_model(path, name, dataset.seed, data) for name, path in models.items()}
    rows = []
    for path in adversarial_sets:  # one set in memory at a time: all of them take about 1 GB
        adversarial = _verified_set(Path(path), hashes, dataset, models)
        names = targets_of(adversarial.source, list(loaded))
        new = evaluate_set(adversarial, {n: loaded[n] for n in names}, score)
        _check_predicted(adversarial, new, Path(path))
        rows += new
    return rows


def _check_predicted(adversarial: AdversarialSet, rows: list[dict], path: Path) -> None:
    """The classes a set records its source predicted agree with its white-box evaluation: a digit is right
    exactly where the recorded class is its label (a finite-shot source's one draw: not comparable; a part of
    the per_eps cut that evaluates the set on another target only: nothing to compare)."""
    own = [row for row in rows if row["target"] == adversarial.source]
    correct = np.asarray(own[0]["correct"]) if own else None
    if (
        correct is not None
        and correct.dtype == bool
        and not np.array_equal(correct, adversarial.predicted == adversarial.y)
    ):
        raise DataError(
            f"adversarial set {path} must record the classes its source {adversarial.source} predicts; "
            f"{int(np.sum(correct != (adversarial.predicted == adversarial.y)))} digits disagree: rerun its attack"
        )


@dataclass(frozen=True)
class _DrawScorer:
    """Scores a set on a target: per digit correct, or a finite-shot target's fraction over its eval draws,
    seeded by the set and the target so that any job cut gives the same draws."""

    predict: object
    noise: NoiseParams | None

    def __call__(self, target: str, model, adversarial: AdversarialSet) -> np.ndarray:
        from robqunn.evaluate import correct_over_draws
        from robqunn.seeding import derived_seed

        where = f"evaluate/{adversarial.source}/{adversarial.attack}/{adversarial.eps!r}/{target}"
        if adversarial.eps == 0:  # every attack's eps-0 set is the clean digits: one clean accuracy, as without shots
            where = f"evaluate/clean/{target}"
        draws = sampling_draws(target, self.noise, "eval_draws")
        digits = (adversarial.x_adv, adversarial.y)
        return correct_over_draws(model, digits, self.predict, draws, derived_seed(adversarial.seed, where))


def _save_results(rows: list[dict], table_csv: str | Path) -> pd.DataFrame:
    """The seed's table from every evaluated row: with the worst case over the attacks and the attack gaps."""
    from robqunn.evaluate import attack_gaps, results_table, save_table, worst_case

    table = results_table(attack_gaps(rows + worst_case(rows)))
    save_table(table, table_csv, Path(table_csv).with_suffix(".parquet"))
    return table


def evaluate_part(
    source: str,
    target: str,
    models: dict[str, str | Path],
    adversarial_sets: list,
    data: str | Path,
    out: str | Path,
    noise: NoiseParams | None = None,
) -> None:
    """``workflow.jobs: per_eps``: the sets of one (source, attack) evaluated on one target, as rows (their
    per-digit results included) in the Parquet file ``out``; :func:`evaluate_parts` merges a seed's.
    ``models`` holds the source's and the target's files (the source's checks each set's origin)."""
    import pandas as pd

    rows = _evaluated_rows(
        models, adversarial_sets, (data, noise), lambda found, names: [target] if found == source else []
    )
    with atomic_path(out) as tmp:
        pd.DataFrame(rows).to_parquet(tmp, index=False)


def evaluate_parts(parts: list[str | Path], table_csv: str | Path) -> pd.DataFrame:
    """``workflow.jobs: per_eps``: the seed's table from its :func:`evaluate_part` files, the same as
    :func:`evaluate` writes (the worst case and the attack gaps need every part, so they are computed here)."""
    import pandas as pd

    rows = [row for part in parts for row in pd.read_parquet(part).to_dict("records")]
    return _save_results(rows, table_csv)


def _verified_set(path: Path, hashes: dict[str, str], dataset: Dataset, models: dict) -> AdversarialSet:
    """An adversarial set, checked against what it claims: its place (attack/model/eps<eps>.npz), its seed
    (the prepared digits'), the model file that crafted it, and its eps-ball around the clean test digits
    with their labels."""
    adversarial = AdversarialSet.load(path)
    clean = dataset.x_test, dataset.y_test
    if adversarial.seed != dataset.seed:
        raise DataError(
            f"adversarial set {path} must be of seed {dataset.seed}, the seed of the digits it is evaluated on; "
            f"it records seed {adversarial.seed}"
        )
    expected = (adversarial.attack, adversarial.source, paths.ADVERSARIAL_NAME.format(eps=eps_label(adversarial.eps)))
    if (path.parent.parent.name, path.parent.name, path.name) != expected:
        raise DataError(
            f"adversarial set {path} must lie at {'/'.join(expected)} (its attack, source and eps fields); "
            f"got {'/'.join((path.parent.parent.name, path.parent.name, path.name))}"
        )
    if adversarial.source not in hashes or hashes[adversarial.source] != adversarial.model_sha256:
        raise DataError(
            f"adversarial set {path} must be crafted on the model file it is evaluated as, "
            f"{models.get(adversarial.source)} (sha256 {hashes.get(adversarial.source)}); "
            f"it records sha256 {adversarial.model_sha256}: rerun its attack"
        )
    x_clean, y_clean = (part[: len(adversarial.y)] for part in clean)
    if len(adversarial.y) > len(y_clean) or not np.array_equal(adversarial.y, y_clean):
        raise DataError(
            f"adversarial set {path} must hold the first {len(adversarial.y)} prepared test digits with their "
            f"labels; its labels differ (or it holds more digits than the {len(clean[1])} prepared)"
        )
    check_threat_model(x_clean, adversarial.x_adv, adversarial.eps, str(path))
    return adversarial


def figures(table_csv: str | Path, example_sets: list[str | Path], data: str | Path, out_dir: str | Path) -> list[Path]:
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


def circuits(circuit: CircuitParams, seed: int, model_names: list[str], out_dir: str | Path) -> list[Path]:
    """A qml.draw_mpl diagram of each QuNN's circuit (``circuit_<ansatz>-<layout>.png``) for ``seed``."""
    from robqunn.circuits import draw_figure, make_circuit_spec

    written = []
    for spec in _qunns(model_names):
        name = paths.CIRCUIT_FIGURE_NAME.format(circuit=spec.name.removeprefix("qunn-"))
        written.append(Path(out_dir) / name)
        with atomic_path(written[-1]) as tmp:
            draw_figure(make_circuit_spec(spec.ansatz, spec.layout, circuit, seed), tmp)
    return written


def _qunns(model_names: list[str]) -> list[ModelSpec]:
    return [spec for spec in map(ModelSpec.from_name, model_names) if spec.ansatz is not None]


def checks(settings: ChecksParams, steps: AttackSteps, job: Job, out: str | Path):
    """The extra attacks of the soundness checks on one model (robqunn.soundness.extra_attacks), saved as a
    :class:`robqunn.artifacts.ChecksRecord`, or the record kept if current (:func:`current_output`); with
    tracking, an MLflow run, a child of the model's training run.

    PGD and MIM run with the steps of ``steps`` at the checks' own budgets (``settings.eps``,
    ``settings.large_eps``), ``steps.batch_size`` digits per call.
    """
    sections = {"checks": asdict(settings), "attack": asdict(steps), "noise": _draws(job)}
    lineage = Sources.of(job, "checks", sections).lineage()
    run_params = {"model": job.model, "seed": job.seed, "checks": asdict(settings), "attack": asdict(steps)}
    tags = provenance.run_tags("checks", job.seed, job.model)
    parent = provenance.training_run_of(job.model_file)
    with stage_run(job.tracking, provenance.run_name("checks", job.model, job.seed), run_params, tags, parent) as run:
        record = current_output(ChecksRecord.load, Path(out), lineage)
        if record is None:
            record = _extra_attacks(settings, steps, job, lineage, out)
        run.metrics(_check_accuracies(record))
        run.artifact(out)
    return record


def _extra_attacks(settings: ChecksParams, steps: AttackSteps, job: Job, lineage: dict, out: str | Path):
    """Run the checks' extra attacks on ``job``'s model and save their record with its lineage."""
    from robqunn.models import load_model, logits_model
    from robqunn.soundness import Target, extra_attacks

    dataset = Dataset.load(job.data, job.seed)
    model = load_model(job.model_file, job.model, job.seed, job.data)
    draws = (job.eot_draws, job.eval_draws)
    target = Target(logits_model(model), model, job.seed, job.model, steps.batch_size, draws)
    record = extra_attacks(target, dataset.x_test, dataset.y_test, settings, steps)
    record = dataclasses.replace(record, lineage=lineage)
    record.save(out)
    logger.info("%s (seed %d): extra attacks of the soundness checks -> %s", job.model, job.seed, out)
    return record


def _check_accuracies(record) -> dict:
    counts = {
        "large_eps": record.large_eps,
        "pgd_one_run": record.restarts["single"],
        "pgd_restarts": record.restarts["all"],
        "spsa": record.spsa["spsa"],
        "pgd_on_spsa_digits": record.spsa["pgd"],
        "fgsm": record.single_step["fgsm"],
        "jittered_fgsm": record.single_step["jittered_fgsm"],
        "rfgsm": record.single_step["rfgsm"],
        "mim": record.momentum["mim"],
        "mim_random_start": record.momentum["mim_random_start"],
        "pgd_margin_loss": record.loss["margin"],
    }
    if record.eot is not None:
        counts |= {f"pgd_{key}": record.eot[key] for key in ("one_sample", "eot", "eot_4x")}
    zeros = {f"zero_gradient_fraction_{where}": record.zero_gradients[where]["mean"] for where in ("clean", "jittered")}
    return {f"accuracy_{name}": c["n_correct"] / c["n_evaluated"] for name, c in counts.items()} | zeros


def ansatz_metrics(
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

    images = Dataset.load(job.data, job.seed).x_test[: settings.n_images]
    patches = extract_patches(images, circuit.kernel_size, circuit.stride)
    rows = []
    for spec in (spec for spec in _qunns(model_names) if not spec.hardware_labels):
        circuit_spec = make_circuit_spec(spec.ansatz, spec.layout, circuit, job.seed)
        sampling_seed = derived_seed(job.seed, f"ansatz_metrics/{spec.name}")
        values = metrics.ansatz_metrics(circuit_spec, settings.n_samples, settings.n_bins, patches, sampling_seed)
        rows.append({"seed": job.seed, "model": spec.name} | values)
    frame = pd.DataFrame(rows)
    with atomic_path(out) as tmp:
        frame.to_csv(tmp, index=False)
    return frame


def sweep_draw(settings: SweepParams, recipe, job: Job, draw: int, out: str | Path) -> pd.DataFrame:
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


def sweep(settings: SweepParams, seed: int, draw_tables: list, out_dir: str | Path, tracking=None) -> dict:
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


def aggregate(
    claims_params: ClaimsParams,
    checks_params: ChecksParams,
    inputs: StudyInputs,
    out_dir: str | Path,
    tracking: TrackingParams | None = None,
) -> dict[str, pd.DataFrame]:
    """The study across seeds: the table of every seed, its means with 95% intervals, the soundness
    checklist, the ansatz metrics against robustness and the claims table, with their figures.

    With ``tracking``, an MLflow run holding them as artifacts, and every model's training runs get
    the tag ``robqunn.soundness`` (PASS, or FLAG and the flagged checks).
    """
    from robqunn.report import write_html_tables

    frames = _study_frames(claims_params, checks_params, inputs)
    out_dir, written = Path(out_dir), []
    for name, frame in frames.items():
        written.append(out_dir / paths.STUDY_TABLE_NAME.format(name=name))
        with atomic_path(written[-1]) as tmp:
            frame.to_csv(tmp, index=False)
    written += write_html_tables(frames, out_dir, paths.STUDY_HTML_NAME)
    written.append(out_dir / paths.STUDY_METRICS_NAME)
    save_json(written[-1], provenance.study_metrics(frames))
    written += _study_figures(frames, out_dir / Path(paths.STUDY_FIGURES_DIR).name, claims_params.low_eps)
    seeds = sorted(int(seed) for seed in frames["results"]["seed"].unique())
    provenance.track_study(tracking, frames, written, seeds)
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


def _study_frames(claims_params: ClaimsParams, checks_params: ChecksParams, inputs: StudyInputs) -> dict:
    import pandas as pd

    from robqunn.ansatz_metrics import metrics_table
    from robqunn.claims import claims_table
    from robqunn.evaluate import read_results_table, summary
    from robqunn.soundness import checklist
    from robqunn.stats import summarize

    table = pd.concat([read_results_table(path) for path in inputs.tables], ignore_index=True)
    records = [_checked_record(Path(path), checks_params) for path in inputs.check_records]
    ansatz = pd.concat([pd.read_csv(path) for path in inputs.ansatz_tables])
    return {
        "results": table,
        "summary_ci": summarize(table),
        "checklist": checklist(table, records, checks_params),
        "claims": claims_table(table, claims_params, ansatz),
        "ansatz_metrics": metrics_table(ansatz, summary(table)),
    }


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
