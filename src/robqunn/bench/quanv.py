"""`robqunn bench quanv`: the quanvolution paths, measured in one run on the same real digits.

Paths: PennyLane with one QNode call per patch (the PennyLane quanvolution demo's way), PennyLane
broadcast over all patches (autograd backpropagation for the gradient), and robqunn's fast layer
(TensorFlow); then the fast layer of ``bench.hardware_model``'s noisy circuit, read out exactly and
from its finite shots (sampling, straight-through gradient). Each is timed for the forward pass and
for forward + input gradient (a vector-Jacobian product with a fixed random cotangent, which is what
an attack step needs). Then the exact multinomial samplers alone, on that layer's outcome probabilities
for the same digits: the layer's (NumPy, a generator per digit, on every core) against TensorFlow's
conditional binomials, the layer's sampler before (one seed per call, so its draws hung on the batching).
"""

from __future__ import annotations

import numpy as np

from robqunn.bench import Timing, best_seconds
from robqunn.config import Params


def bench_quanv(params: Params, seed: int) -> list[Timing]:
    """Time the three paths on the first test digits of ``params.data`` for the circuit of
    ``params.bench.model``, then the fast layers of ``params.bench.hardware_model`` (its noisy circuit
    read out exactly, and from its shots when it has any) on the same digits."""
    from robqunn.circuits import make_circuit_spec
    from robqunn.data import prepare_dataset
    from robqunn.quanv import quanvolution_layer

    spec, hardware = params.bench.model, params.bench.hardware_model
    circuit = make_circuit_spec(spec.ansatz, spec.layout, params.circuit, seed)
    noisy = make_circuit_spec(hardware.ansatz, hardware.layout, params.circuit, seed, hardware.noise)
    images = prepare_dataset(params.data, seed).x_test[: params.bench.n_images]
    k, s, repeats = params.circuit.kernel_size, params.circuit.stride, params.bench.repeats
    per_patch = images[: params.bench.n_images_per_patch]
    timings = [
        _time_pennylane(per_patch, circuit, k, s, broadcast=False, repeats=1),
        _time_pennylane(images, circuit, k, s, broadcast=True, repeats=repeats),
        _time_fast(images, quanvolution_layer(circuit, k, s), "robqunn fast layer (TensorFlow)", repeats),
        _time_fast(images, quanvolution_layer(noisy, k, s), f"fast, noisy: {hardware.expectation.name}", repeats),
    ]
    if hardware.shots is not None:
        layer = quanvolution_layer(noisy, k, s, shots=hardware.shots, seed=seed)
        timings.append(_time_fast(images, layer, f"fast, sampled: {hardware.name}", repeats))
    return timings


def bench_samplers(params: Params, seed: int) -> list[Timing]:
    """Time the exact samplers alone (forward: seconds per image) on the outcome probabilities of
    ``params.bench.hardware_model``'s shot layer for the first test digits; the TensorFlow one first."""
    import tensorflow as tf

    from robqunn.circuits import make_circuit_spec
    from robqunn.data import prepare_dataset
    from robqunn.quanv import multinomial_counts, quanvolution_layer, sampling_workers

    hardware = params.bench.hardware_model
    if hardware.shots is None:
        return []
    noisy = make_circuit_spec(hardware.ansatz, hardware.layout, params.circuit, seed, hardware.noise)
    layer = quanvolution_layer(noisy, params.circuit.kernel_size, params.circuit.stride, shots=hardware.shots)
    images = prepare_dataset(params.data, seed).x_test[: params.bench.n_images]
    layer(images[:1])
    probabilities = layer.outcome_probabilities(images)
    n, shots, repeats = len(images), hardware.shots, params.bench.repeats
    flat = tf.constant(probabilities.reshape(-1, probabilities.shape[-1]), tf.float32)
    tensorflow = tf.function(lambda: tensorflow_counts(shots, flat, tf.constant([seed, 0], tf.int64)))
    keys = np.stack([np.full(n, seed), np.arange(n), np.zeros(n, int)], axis=1)
    return [
        Timing(
            "TensorFlow conditional binomials, float32, one seed a call",
            n,
            best_seconds(lambda: tensorflow().numpy(), repeats) / n,
            None,
        ),
        Timing(
            f"NumPy multinomial, float64, one generator a digit ({sampling_workers()} cores)",
            n,
            best_seconds(lambda: multinomial_counts(shots, probabilities, keys), repeats) / n,
            None,
        ),
    ]


def tensorflow_counts(shots: int, probabilities, seed):
    """Exact multinomial counts (P, m) from TensorFlow's stateless binomials, the layer's sampler before NumPy's:
    n_b ~ Binomial(shots - n_0 - ... - n_{b-1}, p_b / (p_b + ... + p_{m-1})), the last outcome taking the rest."""
    import tensorflow as tf

    m = probabilities.shape[-1]
    tails = tf.math.cumsum(probabilities, axis=1, reverse=True)
    conditional = tf.clip_by_value(tf.math.divide_no_nan(probabilities, tails), 0.0, 1.0)
    seeds = tf.random.experimental.stateless_split(seed, m - 1)
    remaining = tf.fill(tf.shape(probabilities)[:1], tf.constant(shots, probabilities.dtype))
    counts = []
    for b in range(m - 1):
        count = tf.random.stateless_binomial(
            tf.shape(remaining), seeds[b], remaining, conditional[:, b], output_dtype=probabilities.dtype
        )
        counts.append(count)
        remaining -= count
    return tf.stack([*counts, remaining], axis=1)


def format_samplers(timings: list[Timing]) -> str:
    """The samplers' images/s and the layer's sampler against TensorFlow's (same probabilities, same run)."""
    if not timings:
        return "no sampler timed: bench.hardware_model has no shots"
    lines = [f"{'exact sampler alone, shots of bench.hardware_model':58s} {'images':>7s} {'img/s':>15s}"]
    lines += [f"{t.path:58s} {t.n_images:7d} {1 / t.forward:15,.1f}" for t in timings]
    tensorflow, *others = timings
    lines += [f"{t.path}: {tensorflow.forward / t.forward:.2f}x TensorFlow's speed" for t in others]
    return "\n".join(lines)


def _time_pennylane(images, circuit, k, s, broadcast: bool, repeats: int) -> Timing:
    import pennylane as qml
    from pennylane import numpy as pnp

    from robqunn.circuits import make_qnode
    from robqunn.patches import extract_patches
    from robqunn.quanv import pennylane_quanvolution

    n = len(images)
    forward = best_seconds(lambda: pennylane_quanvolution(images, circuit, k, s, broadcast), repeats) / n
    if not broadcast:
        return Timing("PennyLane, one QNode call per patch", n, forward, None)
    patches = extract_patches(images.astype(np.float64), k, s).reshape(-1, k * k)
    cotangent = np.random.default_rng(0).normal(size=patches.shape)
    qnode = make_qnode(circuit)
    vjp = qml.grad(lambda x: pnp.sum(pnp.stack(qnode(x), axis=-1) * cotangent))
    gradient = best_seconds(lambda: vjp(pnp.array(patches, requires_grad=True)), repeats) / n
    return Timing("PennyLane, broadcast over all patches", n, forward, gradient)


def _time_fast(images, layer, path: str, repeats: int) -> Timing:
    import tensorflow as tf

    x = tf.constant(images)
    cotangent = tf.constant(np.random.default_rng(0).normal(size=layer.compute_output_shape(x.shape)), tf.float32)

    @tf.function
    def forward(x):
        return layer(x)

    @tf.function
    def forward_gradient(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(layer(x) * cotangent)
        return loss, tape.gradient(loss, x)  # the loss too: else a shot layer's sampling is pruned away

    n = len(images)
    return Timing(
        path,
        n,
        best_seconds(lambda: forward(x).numpy(), repeats) / n,
        best_seconds(lambda: forward_gradient(x)[1].numpy(), repeats) / n,
    )


def format_timings(timings: list[Timing]) -> str:
    """A table of images/s and the ratios the issue asks for (fast path vs the PennyLane paths; the noisy
    and sampled fast layers vs the exact one)."""
    per_patch, broadcast, fast, *hardware = timings
    lines = [f"{'path':58s} {'images':>7s} {'forward img/s':>15s} {'fwd+grad img/s':>15s}"]
    for t in timings:
        grad = f"{1 / t.forward_gradient:15,.1f}" if t.forward_gradient else f"{'-':>15s}"
        lines.append(f"{t.path:58s} {t.n_images:7d} {1 / t.forward:15,.1f} {grad}")
    lines += [
        "",
        f"fast forward vs PennyLane broadcast forward:   {broadcast.forward / fast.forward:12,.0f}x faster",
        f"fast forward vs PennyLane per-patch forward:   {per_patch.forward / fast.forward:12,.0f}x faster",
        f"fast fwd+grad vs PennyLane broadcast fwd+grad: "
        f"{broadcast.forward_gradient / fast.forward_gradient:12,.0f}x faster",
        f"fast fwd+grad cost / fast forward cost:        {fast.forward_gradient / fast.forward:12.2f}x",
    ]
    for t in hardware:
        lines += [
            f"{t.path}: cost / fast layer cost, forward {t.forward / fast.forward:.2f}x, "
            f"fwd+grad {t.forward_gradient / fast.forward_gradient:.2f}x",
        ]
    return "\n".join(lines)
