"""Benchmarks: the quanvolution paths, the attack cost, the workflow's wall time.

Quanvolution, measured in one run on the same real digits.

Paths: PennyLane with one QNode call per patch (the PennyLane quanvolution demo's way), PennyLane
broadcast over all patches (autograd backpropagation for the gradient), and robqunn's fast layer
(TensorFlow); then the fast layer of ``bench.hardware_model``'s noisy circuit, read out exactly and
from its finite shots (sampling, straight-through gradient). Each is timed for the forward pass and
for forward + input gradient (a vector-Jacobian product with a fixed random cotangent, which is what
an attack step needs). Ratios are taken against measurements of this same run, never against stored
numbers.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from robqunn.config import Params, lookup

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Timing:
    """Seconds per image of one path, forward and forward + input gradient (None: not measured)."""

    path: str
    n_images: int
    forward: float
    forward_gradient: float | None


def best_seconds(fn: Callable[[], object], repeats: int) -> float:
    """Best wall time of ``repeats`` calls (after one warm-up call, which traces/compiles)."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


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


def bench_attack(params: Params, seed: int) -> list[Timing]:
    """PGD (params.attack.pgd) on the CNN and on ``params.bench.model``, on the same test digits.

    Untrained models cost what trained ones cost, so the benchmark builds them and needs no
    training; eps is the largest of the PGD grid.
    """
    from robqunn.attacks import craft
    from robqunn.config import CNN, AttackName, ModelSpec
    from robqunn.data import prepare_dataset
    from robqunn.models import build_model, logits_model

    dataset = prepare_dataset(params.data, seed)
    x, y = dataset.x_test[: params.bench.attack_images], dataset.y_test[: params.bench.attack_images]
    eps = max(params.attack.pgd.eps)
    timings = []
    for spec in (ModelSpec(CNN), params.bench.model):
        logits = logits_model(build_model(spec, params.circuit, seed))
        seconds = best_seconds(
            lambda f=logits: craft(f, x, y, AttackName.PGD, eps, params.attack.pgd, params.attack.batch_size, seed), 1
        )
        timings.append(Timing(f"PGD-{params.attack.pgd.nb_iter} on {spec.name}", len(x), seconds / len(x), None))
    return timings


def format_attack_timings(timings: list[Timing]) -> str:
    """Images/s of each PGD run and the QuNN/CNN cost ratio."""
    cnn, qunn = timings
    lines = [f"{'attack':40s} {'images':>7s} {'images/s':>12s}"]
    lines += [f"{t.path:40s} {t.n_images:7d} {1 / t.forward:12,.1f}" for t in timings]
    lines.append(f"\nQuNN attack cost / CNN attack cost: {qunn.forward / cnn.forward:.2f}x")
    return "\n".join(lines)


COLD_RUN_TARGET_S = {
    None: 180.0,
    "full": 900.0,
}  # cold run on 2 cores: default study 3 min, five seeds 15 min (scale: none)
NO_OP_TARGET_S = 2.0  # a re-run with nothing to do
PEAK_MEMORY_TARGET_MB = 1500.0  # the heaviest job, so that --cores 8 fits in 12 GB


@dataclass(frozen=True)
class RunTiming:
    """Wall time of one command of the workflow benchmark; a ``rerun`` (after a change of params) with the cost
    of the jobs it ran (:func:`rule_costs`), both compared with the cold run's."""

    what: str
    seconds: float
    steps: str
    target: float | None
    rerun: bool = False
    costs: tuple[RuleCost, ...] = ()


@dataclass(frozen=True)
class RuleCost:
    """What the jobs of one rule cost in a cold run (their logs' last lines: robqunn.runtime.exit_now)."""

    rule: str
    jobs: int
    cpu_seconds: float
    peak_rss_mb: float


def bench_workflow(
    project: Path, params_file: Path, cores: int, profile: str | None = None, baseline: bool = True
) -> tuple[list[RunTiming], list[RuleCost]]:
    """Time the Snakemake workflow of ``project`` on ``params_file`` (with ``profile``, a folder name under
    workflow/profiles, e.g. ``full``) in a fresh folder.

    Measured: a cold run (``snakemake --cores N`` from nothing), a re-run with nothing to do, with
    ``baseline``, as the baseline of the same run :func:`one_process_study` (every stage in one process, so it
    pays TensorFlow's import and the model loading once rather than once per job: their ratio is the price
    of the job granularity), then the reruns after each change of :data:`CHANGES`, one after another on the
    study the cold run left. Also each rule's CPU time and its heaviest job's peak memory in the cold run,
    as each job logged them (:func:`rule_costs`), and in each rerun. MLflow runs go to a store in the
    temporary folder.
    """
    import tempfile

    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    with tempfile.TemporaryDirectory(prefix="robqunn-bench-") as tmp:
        workflow, study = Path(tmp) / "workflow-run", Path(tmp) / "study-run"
        workflow.mkdir()
        study.mkdir()
        shutil.copy(project / "Snakefile", workflow)
        shutil.copytree(project / "workflow", workflow / "workflow")
        shutil.copy(params_file, workflow / "params.yaml")
        snakemake = [sys.executable, "-m", "snakemake", "--cores", str(cores)]
        if profile is not None:
            snakemake += ["--profile", f"workflow/profiles/{profile}"]
        name = f"snakemake --cores {cores}" + (f" --profile {profile}" if profile else "")
        timings = [
            _timed(f"{name}, cold", snakemake, workflow, env, COLD_RUN_TARGET_S.get(profile)),
            _timed(f"{name}, nothing to do", snakemake, workflow, env, NO_OP_TARGET_S),
        ]
        costs = rule_costs(workflow / "logs")
        baseline_timings = []
        if baseline:  # before the changes, which edit the params files
            params = _write_params(_merged_params(workflow, profile), study / "params.yaml")
            code = f"from robqunn.bench import one_process_study; one_process_study({str(params)!r})"
            command = [sys.executable, "-c", code]
            baseline_timings.append(_timed("every stage in one process (baseline)", command, study, env, None))
        for what, change in CHANGES.items():
            key, value = change(_merged_params(workflow, profile))
            _set_param(_params_files(workflow, profile)[-1], key, value)
            started = time.time()
            timing = _timed(f"{name}, {what}", snakemake, workflow, env, None)
            reran = tuple(rule_costs(workflow / "logs", since=started))
            timings.append(dataclasses.replace(timing, rerun=True, costs=reran))
        return timings + baseline_timings, costs


def _one_more_pgd_eps(params: dict) -> tuple[str, Any]:
    """attack.pgd.eps with one more eps, halfway between its last two."""
    grid = lookup(params, "attack.pgd.eps")
    return "attack.pgd.eps", sorted([*grid, round((grid[-2] + grid[-1]) / 2, 6)])


def _one_more_restart(params: dict) -> tuple[str, Any]:
    """checks.restarts plus one: a key that only the soundness checks read (robqunn.registry)."""
    return "checks.restarts", lookup(params, "checks.restarts") + 1


#: The changes whose reruns the workflow benchmark times, each a function of the params in force giving the dotted
#: key to change and its new value: one more PGD eps (the per-model job crafts that eps alone) and a key of the
#: soundness checks (it runs the checks alone), both without retraining (robqunn.stages.job.current_output).
CHANGES: dict[str, Callable[[dict], tuple[str, Any]]] = {
    "one more PGD eps": _one_more_pgd_eps,
    "a checks key changed": _one_more_restart,
}


def _params_files(workflow: Path, profile: str | None) -> list[Path]:
    """The params files a run of ``workflow`` reads, in order: params.yaml, then a profile's overlays."""
    import yaml

    if profile is None:
        return [workflow / "params.yaml"]
    settings = yaml.safe_load((workflow / "workflow" / "profiles" / profile / "config.yaml").read_text())
    return [workflow / name for name in settings.get("configfile", ["params.yaml"])]


def _merged_params(workflow: Path, profile: str | None) -> dict:
    """The params a run reads: its params files laid over each other as Snakemake does."""
    import yaml
    from snakemake.utils import update_config

    merged: dict = {}
    for path in _params_files(workflow, profile):
        update_config(merged, yaml.safe_load(path.read_text()))
    return merged


def _write_params(params: dict, path: Path) -> Path:
    """Write ``params`` as a params file at ``path``."""
    import yaml

    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path


def _set_param(path: Path, key: str, value: Any) -> None:
    """Set the dotted ``key`` to ``value`` in the params file ``path`` (the last a run reads: it overrides the
    others)."""
    import yaml

    params = yaml.safe_load(path.read_text()) or {}
    *sections, name = key.split(".")
    node = params
    for section in sections:
        node = node.setdefault(section, {})
    node[name] = value
    _write_params(params, path)


JOB_END = re.compile(r"job ends \(exit 0\): .*; cpu (?P<cpu>[\d.]+) s, peak memory (?P<mb>[\d.]+) MB")


def rule_costs(logs: Path, since: float | None = None) -> list[RuleCost]:
    """Per rule (attacks per attack): jobs, total CPU seconds and the largest peak memory, from the last
    line each job writes to its log (robqunn.runtime.exit_now: the kernel's accounting of the process)
    under ``logs`` (logs/<rule>/[seed/[attack/]]<job>.log); with ``since`` (a time.time()), only the logs
    written since then. Jobs without that line (failed, or not a robqunn job) are left out."""
    import pandas as pd

    rows = []
    for path in sorted(logs.rglob("*.log")):
        if since is not None and path.stat().st_mtime < since:
            continue
        found = JOB_END.search(path.read_text(errors="replace"))
        if found is None:
            continue
        parts = path.relative_to(logs).parts
        rule = parts[0].removesuffix(".log") + (f" {parts[2]}" if parts[0] == "attack" else "")
        rows.append({"rule": rule, "cpu": float(found["cpu"]), "rss": float(found["mb"])})
    if not rows:
        return []
    by_rule = pd.DataFrame(rows).groupby("rule", sort=True)
    table = by_rule.agg(jobs=("cpu", "size"), cpu=("cpu", "sum"), rss=("rss", "max"))
    return [RuleCost(rule, int(r.jobs), float(r.cpu), float(r.rss)) for rule, r in table.iterrows()]


def one_process_study(params_file: str | Path) -> None:
    """Every stage of the study in this process, in dvc.yaml's order, in the current folder: the
    workflow benchmark's baseline (the `robqunn` commands that dvc.yaml runs, without a process each)."""
    from robqunn import cli, dvcfile
    from robqunn.config import load_params

    seeds = load_params(params_file).study.seeds
    for stage in dvcfile.STAGES:
        for arguments in stage.arguments(seeds):
            if cli.main([*arguments, "--params", str(params_file)]) != 0:
                raise RuntimeError(f"robqunn {' '.join(arguments)} failed (its log says why)")


def _timed(what: str, command: list[str], cwd: Path, env: dict, target: float | None) -> RunTiming:
    start = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    output = result.stdout + result.stderr
    if result.returncode != 0:
        raise RuntimeError(f"benchmark command {' '.join(command)} failed in {cwd}:\n{output[-3000:]}")
    done = re.findall(r"(\d+ of \d+) steps", output)
    steps = done[-1] if done else ("nothing to be done" if "Nothing to be done" in output else "-")
    return RunTiming(what, seconds, steps, target)


def format_workflow_timings(timings: list[RunTiming], costs: list[RuleCost] = ()) -> str:
    """The timings, each against its target, each rerun after a change against the cold run, the cold run
    against the one-process baseline (when measured), and the cold run's CPU and peak memory per rule."""
    width = max([48] + [len(t.what) for t in timings])
    lines = [f"{'command':{width}s} {'seconds':>9s} {'target':>8s}  steps"]
    for t in timings:
        target = f"{t.target:8.0f}" if t.target is not None else f"{'-':>8s}"
        verdict = "" if t.target is None else ("  within target" if t.seconds <= t.target else "  OVER TARGET")
        lines.append(f"{t.what:{width}s} {t.seconds:9.1f} {target}  {t.steps}{verdict}")
    for rerun in (t for t in timings if t.rerun):
        lines += [""] + _rerun_lines(rerun, timings[0], costs)
    if len(timings) > 2 and not timings[-1].rerun:
        lines.append(f"\ncold workflow / one-process study: {timings[0].seconds / timings[-1].seconds:.2f}x")
    if costs:
        lines.append(f"\n{'rule (cold run)':22s} {'jobs':>5s} {'CPU s':>8s} {'CPU s/job':>10s} {'peak MB':>8s}")
        for c in costs:
            lines.append(
                f"{c.rule:22s} {c.jobs:5d} {c.cpu_seconds:8.1f} {c.cpu_seconds / c.jobs:10.2f} {c.peak_rss_mb:8.0f}"
            )
        total = sum(c.cpu_seconds for c in costs)
        heaviest = max(costs, key=lambda c: c.peak_rss_mb)
        verdict = "within target" if heaviest.peak_rss_mb <= PEAK_MEMORY_TARGET_MB else "OVER TARGET"
        lines.append(f"{'all jobs':22s} {sum(c.jobs for c in costs):5d} {total:8.1f}")
        target = PEAK_MEMORY_TARGET_MB
        lines.append(f"heaviest job: {heaviest.rule}, {heaviest.peak_rss_mb:.0f} MB (target {target:.0f}): {verdict}")
    return "\n".join(lines)


def _rerun_lines(rerun: RunTiming, cold: RunTiming, cold_costs: list[RuleCost]) -> list[str]:
    """A rerun against the cold run: its wall time, its jobs' CPU and each rule's CPU per job."""
    line = f"{rerun.what}: {rerun.seconds / cold.seconds:.2f}x the cold run's wall time"
    if not (rerun.costs and cold_costs):
        return [line]
    cpu, cold_cpu = (sum(c.cpu_seconds for c in costs) for costs in (rerun.costs, cold_costs))
    cold_per_job = {c.rule: c.cpu_seconds / c.jobs for c in cold_costs}
    rules = []
    for c in rerun.costs:
        per_job, before = c.cpu_seconds / c.jobs, cold_per_job.get(c.rule, 0.0)
        rules.append(f"  {c.rule:20s} {c.jobs:3d} jobs {per_job:8.2f} CPU s a job, cold run {before:.2f}")
    return [f"{line}; its jobs {cpu:.1f} CPU s, {cpu / cold_cpu:.2f}x the cold run's", *rules]


EXACT_TARGETS = {"cnn": 10.0, "qunn-full-rot_ent": 10.0, "qunn-full-ent_rot": 60.0}  # exact / PGD cost, at most
UNDECIDED_TARGET = 0.01  # fraction of (digit, eps) left undecided, at most
QUICK_HEAD_EPOCHS = 5  # the benchmark's heads: 5 epochs, batch 32, on the training split
QUICK_HEAD_BATCH = 32


@dataclass(frozen=True)
class ExactTiming:
    """PGD and exact verification of one model over the PGD eps grid, on the same digits.

    exact_accuracy holds (certified robust fraction, 1 - broken fraction) per eps; pgd_broken_certified
    counts digits that PGD breaks and exact verification certifies (it must be 0).
    """

    model: str
    method: str
    n_images: int
    eps: tuple[float, ...]
    pgd_seconds: float
    exact_seconds: float
    pgd_accuracy: tuple[float, ...]
    exact_accuracy: tuple[tuple[float, float], ...]
    undecided: float
    pgd_broken_certified: int
    target: float
    pgd_iterations: int
    budget: int
    tolerance: float


def bench_exact(params: Params, seed: int) -> list[ExactTiming]:
    """Exact verification (params.exact's budget and tolerance) against PGD (params.attack.pgd, its whole eps
    grid, 0 included) on the first params.bench.attack_images test digits, for the CNN and qunn-full under
    both layouts.

    Robustness needs real margins, so each model's head is trained quickly (QUICK_HEAD_EPOCHS epochs,
    batch QUICK_HEAD_BATCH, on the training split) rather than left at its random initialisation.
    """
    from robqunn.data import prepare_dataset

    dataset = prepare_dataset(params.data, seed)
    digits = (dataset.x_test[: params.bench.attack_images], dataset.y_test[: params.bench.attack_images])
    return [
        _time_exact(
            _quick_model(name, params, dataset, seed),
            digits,
            params,
            seed,
            (params.exact.budget, params.exact.tolerance),
        )
        for name in EXACT_TARGETS
    ]


def _quick_model(name: str, params: Params, dataset, seed: int):
    import dataclasses

    from robqunn.config import ModelSpec
    from robqunn.features import compute_features
    from robqunn.models import build_model
    from robqunn.train import train

    model = build_model(ModelSpec.from_name(name), params.circuit, seed)
    features = (compute_features(model, dataset.x_train), compute_features(model, dataset.x_test))
    settings = dataclasses.replace(params.train, epochs=QUICK_HEAD_EPOCHS, batch_size=QUICK_HEAD_BATCH)
    train(model, features, (dataset.y_train, dataset.y_test), settings, seed)
    return model


def _time_exact(model, digits: tuple, params: Params, seed: int, limits: tuple[int, float]) -> ExactTiming:
    """PGD over the grid, then exact verification over the grid, on the same digits."""
    from robqunn.exact import decompose

    broken, pgd_seconds = _timed_pgd(model, digits, params, seed)
    results, exact_seconds = _timed_exact(model, digits, params, limits)
    return ExactTiming(
        model=model.name,
        method=decompose(model).kind,
        n_images=len(digits[0]),
        eps=tuple(params.attack.pgd.eps),
        pgd_seconds=pgd_seconds,
        exact_seconds=exact_seconds,
        pgd_accuracy=tuple(1.0 - float(b.mean()) for b in broken),
        exact_accuracy=tuple((r.accuracy_lower, r.accuracy_upper) for r in results),
        undecided=float(np.mean([r.undecided.mean() for r in results])),
        pgd_broken_certified=int(sum(np.sum(r.robust & b) for r, b in zip(results, broken, strict=True))),
        target=EXACT_TARGETS[model.name],
        pgd_iterations=params.attack.pgd.nb_iter,
        budget=limits[0],
        tolerance=limits[1],
    )


def _timed_pgd(model, digits: tuple, params: Params, seed: int) -> tuple[list[np.ndarray], float]:
    """Which digits PGD breaks at each eps of its grid, and the seconds of crafting (after a warm-up call
    that traces the attack, so tracing is not counted)."""
    from robqunn.attacks import craft
    from robqunn.config import AttackName
    from robqunn.models import logits_model, predict

    (x, y), logits, pgd = digits, logits_model(model), params.attack.pgd

    def attack(eps):
        return craft(logits, x, y, AttackName.PGD, eps, pgd, params.attack.batch_size, seed)

    attack(max(pgd.eps))
    start = time.perf_counter()
    sets = [attack(eps) for eps in pgd.eps]
    seconds = time.perf_counter() - start
    return [np.argmax(predict(model, s), axis=1) != y for s in sets], seconds


def _timed_exact(model, digits: tuple, params: Params, limits: tuple[int, float]) -> tuple[list, float]:
    """Exact verification at each eps of PGD's grid (its Keras check of x_worst included) and its seconds."""
    from robqunn.exact import verify

    (x, y), start = digits, time.perf_counter()
    results = [verify(model, x, y, eps, *limits, batch_size=params.attack.batch_size) for eps in params.attack.pgd.eps]
    return results, time.perf_counter() - start


def format_exact_timings(timings: list[ExactTiming]) -> str:
    """Seconds of PGD and of exact verification per model, their ratio against its target, the undecided
    fraction, and the accuracies per eps (PGD's next to the exact interval)."""
    first = timings[0]
    lines = [
        f"PGD-{first.pgd_iterations} vs exact verification on {first.n_images} test digits, eps grid "
        f"{list(first.eps)} (0 included, for both); heads trained {QUICK_HEAD_EPOCHS} epochs (batch "
        f"{QUICK_HEAD_BATCH}) on the training split; budget {first.budget} splits per digit, tolerance "
        f"{first.tolerance:g}",
        "",
        f"{'model':20s} {'method':10s} {'PGD s':>8s} {'exact s':>8s} {'ratio':>7s} {'target':>7s} "
        f"{'undecided':>10s}  verdict",
    ]
    lines += [_exact_row(t) for t in timings]
    lines += ["", f"{'model':20s} {'eps':>5s} {'PGD acc':>8s} {'exact acc [lower, upper]':>26s}"]
    for t in timings:
        for eps, pgd, (lower, upper) in zip(t.eps, t.pgd_accuracy, t.exact_accuracy, strict=True):
            lines.append(f"{t.model:20s} {eps:5.2f} {pgd:8.3f} {f'[{lower:.3f}, {upper:.3f}]':>26s}")
    lines.append(
        f"\ndigits PGD breaks that exact verification certifies (must be 0): "
        f"{sum(t.pgd_broken_certified for t in timings)}"
    )
    return "\n".join(lines)


def _exact_row(t: ExactTiming) -> str:
    ratio = t.exact_seconds / t.pgd_seconds
    within = ratio <= t.target and t.undecided <= UNDECIDED_TARGET
    return (
        f"{t.model:20s} {t.method:10s} {t.pgd_seconds:8.1f} {t.exact_seconds:8.1f} {ratio:6.1f}x {t.target:6.0f}x "
        f"{t.undecided:10.2%}  {'within target' if within else 'OVER TARGET'}"
    )


STARTUP_TARGETS = {"tensorflow": 2.5, "no tensorflow": 1.0}  # CPU seconds a job pays before its work, at most

# What a job does besides its work: set up its log, import what its stage imports, open an MLflow run
# (a child of a parent found by tags: a SQLite store, as by default) and end it, then exit.
_JOB_FRAME = """
import sys
from robqunn.workflow import log_to
log_to("job.log", 1, tensorflow={tensorflow})
{imports}
from robqunn.config import TrackingParams
from robqunn.tracking import stage_run
settings = TrackingParams(enabled={tracked}, experiment="startup")
with stage_run(settings, "probe", {{"seed": 0}}, {{"robqunn.stage": "probe"}}, {{"robqunn.stage": "none"}}) as run:
    run.metrics({{"m": 1.0}})
{exit}
"""
_EXIT_NOW = "from robqunn.runtime import exit_now\nexit_now()"
_TF_JOB_IMPORTS = "import robqunn.stages.attack, robqunn.models, robqunn.attacks, robqunn.train"  # an attack job's
# prepare's and figures'
_NO_TF_JOB_IMPORTS = "import robqunn.stages.prepare, robqunn.stages.figures, robqunn.data, robqunn.plots, pandas"


def _frame(tensorflow: bool, imports: str, tracked: bool, exit: str = _EXIT_NOW) -> str:
    return _JOB_FRAME.format(tensorflow=tensorflow, imports=imports, tracked=tracked, exit=exit)


@dataclass(frozen=True)
class StartupTiming:
    """Median CPU seconds (user + system) of one kind of job process without its work."""

    what: str
    cpu_seconds: float
    target: float | None


def startup_probes() -> dict[str, tuple[str, float | None]]:
    """name -> (Python code, target CPU s): the job frames, and as the baseline of the same run a
    TensorFlow job as robqunn ran it before robqunn.runtime (plain import, interpreter teardown)."""
    plain = "import tensorflow, keras\n" + _TF_JOB_IMPORTS
    return {
        "python -c pass": ("pass", None),
        "TensorFlow job, plain import and teardown (baseline)": (_frame(False, plain, True, "sys.exit(0)"), None),
        "TensorFlow job (attack, train, exact...)": (
            _frame(True, _TF_JOB_IMPORTS, True),
            STARTUP_TARGETS["tensorflow"],
        ),
        "TensorFlow job, tracking off": (_frame(True, _TF_JOB_IMPORTS, False), None),
        "job without TensorFlow (prepare, figures)": (
            _frame(False, _NO_TF_JOB_IMPORTS, False),
            STARTUP_TARGETS["no tensorflow"],
        ),
        "job without TensorFlow, tracked (aggregate)": (_frame(False, _NO_TF_JOB_IMPORTS, True), None),
    }


def bench_startup(repeats: int) -> list[StartupTiming]:
    """The median CPU time of each :func:`startup_probes` process over ``repeats`` runs, each with its
    MLflow store (SQLite, created before the timing, as a study's store exists after its first job)."""
    import statistics
    import tempfile

    timings = []
    with tempfile.TemporaryDirectory(prefix="robqunn-startup-") as tmp:
        env = dict(os.environ, MLFLOW_TRACKING_URI=f"sqlite:///{Path(tmp) / 'mlflow.db'}")
        probes = startup_probes()
        _child_cpu_seconds(probes["job without TensorFlow, tracked (aggregate)"][0], Path(tmp), env)  # the store
        for what, (code, target) in probes.items():
            seconds = [_child_cpu_seconds(code, Path(tmp), env) for _ in range(repeats)]
            timings.append(StartupTiming(what, statistics.median(seconds), target))
    return timings


def _child_cpu_seconds(code: str, cwd: Path, env: dict) -> float:
    """User + system CPU seconds of one ``python -c code`` process (it must exit 0)."""
    process = subprocess.Popen([sys.executable, "-c", code], cwd=cwd, env=env, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(process.pid, 0)
    stderr = process.stderr.read()
    process.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"start-up probe failed:\n{code}\n{stderr[-3000:]}")
    return usage.ru_utime + usage.ru_stime


def format_startup_timings(timings: list[StartupTiming]) -> str:
    """Each probe against its target, and the TensorFlow job against the baseline."""
    lines = [f"{'job process, without its work':54s} {'CPU s':>7s} {'target':>7s}"]
    for t in timings:
        target = f"{t.target:7.1f}" if t.target is not None else f"{'-':>7s}"
        verdict = "" if t.target is None else ("  within target" if t.cpu_seconds <= t.target else "  OVER TARGET")
        lines.append(f"{t.what:54s} {t.cpu_seconds:7.2f} {target}{verdict}")
    baseline, job = timings[1], timings[2]
    lines.append(f"\nTensorFlow job start-up, baseline / now: {baseline.cpu_seconds / job.cpu_seconds:.2f}x")
    return "\n".join(lines)


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

    from robqunn.config import CNN, ModelSpec
    from robqunn.data import prepare_dataset

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
