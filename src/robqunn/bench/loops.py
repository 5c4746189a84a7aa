"""`robqunn bench loops`: the compiled hot loops (training, SPSA, the ansatz metrics' unitaries) against what
they replaced, with the same results."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from robqunn.config import Params

logger = logging.getLogger(__name__)


LOOP_TARGETS = {"training (fit only)": 1.5, "SPSA (checks.spsa)": 1.0}  # CPU seconds per model, at most


@dataclass(frozen=True)
class LoopTiming:
    """CPU seconds of one hot loop on one model, the way robqunn runs it and the way it ran before."""

    loop: str
    model: str
    before: float
    now: float
    same_result: bool
    target: float | None


def bench_loops(params: Params, seed: int) -> list[LoopTiming]:
    """The compiled hot loops against what they replaced, in one run, on the default params: the head's
    training (:func:`robqunn.train.train_head` vs Keras ``Model.fit``, :func:`keras_fit`), SPSA on
    ``checks.spsa.n_images`` digits (one compiled call per digit vs cleverhans' eager loop,
    :func:`spsa_eager`), the ansatz metrics' unitaries (one broadcast PennyLane call vs one per sample), each
    on the CNN and ``bench.model``. CPU seconds in this process, one TensorFlow thread as in a job."""
    import tensorflow as tf

    from robqunn.data import prepare_dataset
    from robqunn.vocabulary import CNN, ModelSpec

    try:
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # TensorFlow already ran in this process (a test): its threads stay, the output says so
        logger.warning("TensorFlow already initialised: timing with its current thread pools")
    dataset = prepare_dataset(params.data, seed)
    timings = []
    for spec in (ModelSpec(CNN), params.bench.model):
        timings.append(_training_timing(spec, dataset, params, seed))
        timings.append(_spsa_timing(spec, dataset, params, seed))
    timings.append(_unitaries_timing(params, seed))
    return timings


def _cpu(fn: Callable[[], object]) -> tuple[float, object]:
    start = time.process_time()
    result = fn()
    return time.process_time() - start, result


FIT_STEPS_PER_EXECUTION = 250  # what params.yaml's train.steps_per_execution was: speed only, same updates


def keras_fit(model, f_train: np.ndarray, y_train: np.ndarray, settings, seed: int) -> tuple[list, list]:
    """Train the head of ``model`` with Keras ``Model.fit`` on the seeded, reshuffled tf.data pipeline, as
    robqunn trained before its compiled loop (the reference :func:`robqunn.train.train_head` must equal);
    returns the per-epoch (loss, accuracy)."""
    import keras
    import tensorflow as tf

    from robqunn.models import head_model
    from robqunn.seeding import derived_seed

    tf.random.set_seed(derived_seed(seed, "training_global"))
    head = head_model(model)
    head.compile(
        optimizer=keras.optimizers.Adam(learning_rate=settings.learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=["accuracy"],
        steps_per_execution=FIT_STEPS_PER_EXECUTION,
    )
    batches = (
        tf.data.Dataset.from_tensor_slices((f_train, y_train))
        .shuffle(len(f_train), seed=derived_seed(seed, "training_order"), reshuffle_each_iteration=True)
        .batch(settings.batch_size)
    )
    history = head.fit(batches, epochs=settings.epochs, shuffle=False, verbose=0).history
    return history["loss"], history["accuracy"]


def _training_timing(spec, dataset, params: Params, seed: int) -> LoopTiming:
    from robqunn.features import compute_features
    from robqunn.models import build_model
    from robqunn.train import train_head

    f_train = compute_features(build_model(spec, params.circuit, seed), dataset.x_train)
    reference, compiled = build_model(spec, params.circuit, seed), build_model(spec, params.circuit, seed)
    before, _ = _cpu(lambda: keras_fit(reference, f_train, dataset.y_train, params.train, seed))
    now, _ = _cpu(lambda: train_head(compiled, f_train, dataset.y_train, params.train, seed))
    same = all(np.array_equal(a, b) for a, b in zip(reference.get_weights(), compiled.get_weights(), strict=True))
    return LoopTiming("training (fit only)", spec.name, before, now, same, LOOP_TARGETS["training (fit only)"])


def spsa_eager(logits_fn, x: np.ndarray, y: np.ndarray, eps: float, settings, seed: int) -> np.ndarray:
    """SPSA as cleverhans runs it: ``projected_optimization`` called eagerly, one digit at a time."""
    import tensorflow as tf
    from cleverhans.tf2.attacks.spsa import projected_optimization

    from robqunn.artifacts import PIXEL_MAX, PIXEL_MIN
    from robqunn.attacks import _SpsaAdam, spsa_loss

    loss_fn = spsa_loss(logits_fn)
    tf.random.set_seed(seed)
    examples = []
    for i in range(len(x)):
        optimizer = _SpsaAdam(settings.learning_rate, settings.delta, settings.spsa_samples)
        xi, yi = tf.constant(x[i : i + 1], tf.float32), tf.constant(y[i : i + 1], tf.int64)
        adv = projected_optimization(loss_fn, xi, yi, eps, settings.nb_iter, optimizer, PIXEL_MIN, PIXEL_MAX)
        examples.append(adv.numpy())
    return np.concatenate(examples)


def _spsa_timing(spec, dataset, params: Params, seed: int) -> LoopTiming:
    """SPSA's two ways draw different random numbers, so their examples differ; both must stay in the ball."""
    from robqunn.attacks import craft_spsa
    from robqunn.models import build_model, logits_model

    settings, eps = params.checks.spsa, params.checks.eps
    x, y = dataset.x_test[: settings.n_images], dataset.y_test[: settings.n_images]
    logits = logits_model(build_model(spec, params.circuit, seed))
    before, eager = _cpu(lambda: spsa_eager(logits, x, y, eps, settings, seed))
    now, compiled = _cpu(lambda: craft_spsa(logits, x, y, eps, settings, seed, spec.name))
    within = all(float(np.max(np.abs(a - x))) <= eps + 1e-6 for a in (eager, compiled))
    return LoopTiming("SPSA (checks.spsa)", spec.name, before, now, within, LOOP_TARGETS["SPSA (checks.spsa)"])


def _unitaries_timing(params: Params, seed: int) -> LoopTiming:
    """The ansatz metrics' sampled unitaries of ``bench.model``'s circuit (ansatz_metrics.n_samples draws)."""
    import dataclasses

    from robqunn.circuits import ansatz_unitaries, ansatz_unitary, make_circuit_spec

    spec = make_circuit_spec(params.bench.model.ansatz, params.bench.model.layout, params.circuit, seed)
    generator = np.random.default_rng(seed)
    n = params.ansatz_metrics.n_samples
    rotations = generator.uniform(0, 2 * np.pi, size=(n, *spec.rotation_weights.shape))
    randoms = generator.uniform(0, 2 * np.pi, size=(n, *spec.random_weights.shape))

    def one_at_a_time():
        replace = dataclasses.replace
        return np.stack(
            [
                ansatz_unitary(replace(spec, rotation_weights=r, random_weights=w))
                for r, w in zip(rotations, randoms, strict=True)
            ]
        )

    before, single = _cpu(one_at_a_time)
    now, batched = _cpu(lambda: ansatz_unitaries(spec, rotations, randoms))
    return LoopTiming(
        "ansatz metrics' unitaries",
        params.bench.model.name,
        before,
        now,
        bool(np.allclose(single, batched, atol=1e-12)),
        None,
    )


def format_loop_timings(timings: list[LoopTiming]) -> str:
    """Each loop before and now (CPU s), the speed-up, whether the result is the same, the target."""
    lines = [f"{'loop':28s} {'model':20s} {'before s':>9s} {'now s':>7s} {'speed-up':>9s}  same  target"]
    for t in timings:
        verdict = "" if t.target is None else (" within target" if t.now <= t.target else " OVER TARGET")
        target = "-" if t.target is None else f"{t.target:g} s"
        same = "yes" if t.same_result else "NO"
        speed_up = t.before / t.now
        lines.append(
            f"{t.loop:28s} {t.model:20s} {t.before:9.2f} {t.now:7.2f} {speed_up:8.1f}x  {same:4s}  {target}{verdict}"
        )
    import tensorflow as tf

    threads = tf.config.threading.get_intra_op_parallelism_threads() or "default"
    lines.append(f"TensorFlow intra-op threads: {threads}")
    lines.append("same: training bit-identical weights; SPSA both within the eps-ball (other random draws);")
    lines.append("      unitaries equal to 1e-12")
    return "\n".join(lines)
