"""The `robqunn` command: each stage of the study by hand (what dvc.yaml runs), the circuits, the benchmarks.

Every knob comes from the params file (--params, default params.yaml); the options only say which
seed, models and attacks a command works on. The files are where the study keeps them
(robqunn.paths) under --workdir. The whole study is `snakemake --cores N` or `dvc repro`. Heavy
libraries are imported by the subcommand that needs them, so `robqunn --help` answers at once.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import math
import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

from robqunn.config import Params, load_params, model_names, params_in_force
from robqunn.errors import RobqunnError
from robqunn.paths import SELECTION_SUMMARY, StudyFiles
from robqunn.runtime import exit_now, import_tensorflow, tensorflow_environment
from robqunn.tracking import check_tracking, set_run_source
from robqunn.vocabulary import EXACT, Ansatz, AttackName, Layout

logger = logging.getLogger("robqunn")

#: The commands that run TensorFlow: it is imported (robqunn.runtime.import_tensorflow) before they start.
TENSORFLOW_COMMANDS = frozenset(
    {"features", "train", "attack", "exact", "radius", "evaluate", "checks", "sweep_draw", "bench"}
)


@dataclass(frozen=True)
class Context:
    """What every command works with: the validated params, the seed and the study's files."""

    params: Params
    seed: int
    files: StudyFiles
    args: argparse.Namespace

    @property
    def models(self) -> list[str]:
        """The models named by --model, else every model of the study (the CNN, then the QuNNs)."""
        return getattr(self.args, "model", None) or model_names(self.params)

    def job(self, model: str | None = None):
        from robqunn.stages.job import Job

        model_file = self.files.model(self.seed, model) if model else None
        data = self.files.prepared(self.seed)
        return Job(self.seed, data, self.params.tracking, model, model_file, self.params.noise)


EPILOG = """\
The whole study: `snakemake --cores N` (or `dvc repro`); a one-minute try: `snakemake --profile
workflow/profiles/tiny`. What a run shows, in results/study/ (and `snakemake --report report.html`):
  claims.csv     each claim of the paper decided with 95% intervals: supported, not supported, inconclusive
  checklist.csv  the attack-soundness checks per model: a FLAG names its cause and what to trust instead
                 (on the default study the CNN is FLAGged: its zero-bias ReLU gives exactly-zero gradients,
                 so FGSM/MIM overstate its robustness; trust the exact robust accuracy and PGD)
  results.csv    white-box, transfer, worst-case and exact accuracy per (seed, model, attack, eps)
Every run is in MLflow: `robqunn ui` opens the study's runs.
"""


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    set_run_source("cli", f"robqunn {args.command}")
    tensorflow_environment()
    try:
        params = load_params(args.params)
        logger.info(params_in_force([args.params], yaml.safe_load(Path(args.params).read_text())))
        logger.info(check_tracking(params.tracking))  # a tracking server that is down: stop before any work
        seed = args.seed if args.seed is not None else _dvc_matrix_seed(params)
        seed = params.study.seeds[0] if seed is None else seed
        if args.tensorflow:
            import_tensorflow()
        args.run(Context(params, seed, StudyFiles(args.workdir), args))
    except (RobqunnError, ValueError, FileNotFoundError) as error:
        logger.error("%s", error)
        return 2
    return 0


def _dvc_matrix_seed(params: Params) -> int | None:
    """Under `dvc repro`, the seed of the stage's matrix item (DVC_STAGE, e.g. ``train@42``): dvc.yaml's
    commands carry no params value (robqunn.dvcfile)."""
    from robqunn.dvcfile import matrix_seed

    stage = os.environ.get("DVC_STAGE")
    return None if stage is None else matrix_seed(stage, params.study.seeds)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="robqunn",
        description=__doc__.splitlines()[0],
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = _common_options()

    def command(name: str, run, help: str, models: bool = False) -> argparse.ArgumentParser:
        sub = subparsers.add_parser(name, parents=[common], help=help, allow_abbrev=False)
        if models:
            sub.add_argument(
                "--model", action="append", help="'cnn' or 'qunn-<ansatz>-<layout>' (repeatable; default: all)"
            )
        sub.set_defaults(run=run, tensorflow=name in TENSORFLOW_COMMANDS)
        return sub

    command("validate", _validate, "validate the params file and say which keys differ from params.yaml")
    command("prepare", _prepare, "prepare the digits of a seed (seeded stratified split) with a sha256 sidecar")
    command("features", _features, "feature maps of each model's frozen layer", models=True)
    command("train", _train, "train each model's Dense head; save the end-to-end .keras model", models=True)
    attack = command("attack", _attack, "craft adversarial sets, one file per (model, attack, eps)", models=True)
    attack.add_argument("--attack", action="append", choices=[a.value for a in AttackName], help="default: all")
    attack.add_argument("--eps", type=_eps, nargs="+", default=None, help="L-inf budgets (default: the params grid)")
    exact = command("exact", _exact, "exact robust accuracy of each model, and its worst-case sets", models=True)
    exact.add_argument("--eps", type=_eps, nargs="+", default=None, help="L-inf budgets (default: the params grid)")
    command("radius", _radius, "the certified radius of each attacked digit, per model", models=True)
    command(
        "evaluate",
        _evaluate,
        "evaluate every adversarial set white-box and by transfer: the results table",
    )
    command("figures", _figures, "Fig. 3a-e, adversarial-example grids and the summary table of a seed")
    command("circuits", _circuits, "a diagram of every QuNN circuit of the study")
    command("checks", _checks, "the extra attacks of the soundness checks on each model", models=True)
    command("ansatz_metrics", _ansatz_metrics, "expressibility, entangling capability, feature effect per QuNN")
    command("aggregate", _aggregate, "the study across seeds: intervals, soundness checklist, ansatz metrics, claims")
    draws = command("sweep_draw", _sweep_draw, "draws of the rotation angles: each circuit trained and verified")
    draws.add_argument("--draw", type=int, action="append", help="draw index (repeatable; default: every draw)")
    command("sweep", _sweep, "the sweep across draws: variance of robust accuracy, angles vs circuits; figure")
    _tool_commands(command)
    return parser


MAX_SEED = 2**32 - 1  # numpy's seeds, as params.schema.yaml bounds study.seeds


def _seed(text: str) -> int:
    """A study seed as strictly as params.yaml takes one: an integer in [0, 2**32)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be an integer in [0, {MAX_SEED}] (a numpy seed); got {text!r}")
    return value


def _eps(text: str) -> float:
    """An L-inf budget as strictly as params.yaml takes one: a finite number in [0, 1]."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0.0 <= value <= 1.0:  # NaN fails too
        raise argparse.ArgumentTypeError(f"must be a finite number in [0, 1] (pixels are in [0, 1]); got {text!r}")
    return value


def _eps_grid(ctx: Context) -> tuple[float, ...] | None:
    """--eps as a grid, refused with repeats (one file per eps: a repeat would be crafted twice)."""
    if ctx.args.eps is None:
        return None
    repeated = sorted({eps for eps in ctx.args.eps if ctx.args.eps.count(eps) > 1})
    if repeated:
        raise RobqunnError(f"--eps must not repeat a budget; got {ctx.args.eps} (repeated: {repeated})")
    return tuple(sorted(ctx.args.eps))


def _common_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    common.add_argument("--params", type=Path, default=Path("params.yaml"), help="params file (default: %(default)s)")
    common.add_argument("--seed", type=_seed, default=None, help="study seed (default: the first of 'study.seeds')")
    common.add_argument("--workdir", type=Path, default=Path("."), help="the study's folder (default: %(default)s)")
    return common


def _tool_commands(command) -> None:
    ansatz = command("ansatz", _ansatz, "show an ansatz: diagram, entanglers, readout polynomial")
    ansatz.add_argument("--ansatz", choices=[a.value for a in Ansatz], required=True)
    ansatz.add_argument("--layout", choices=[l.value for l in Layout], default=Layout.ROT_ENT.value)
    ansatz.add_argument("--figure", type=Path, default=None, help="also save a qml.draw_mpl diagram here")
    bench = command("bench", _bench, "benchmarks")
    bench.add_argument(
        "target",
        choices=["quanv", "attack", "exact", "robust", "loops", "startup", "workflow"],
        help="quanv: PennyLane vs the fast quanvolution layer; attack: PGD on the CNN vs on a QuNN; "
        "exact: exact verification vs PGD; robust: pgd and exact training of the head vs standard; "
        "loops: the compiled training/SPSA/unitaries vs what they replaced; "
        "startup: CPU a job pays besides its work; "
        "workflow: a cold and a no-op Snakemake run of the study vs every stage in one process, and the reruns "
        "after one more PGD eps and after a checks key changed",
    )
    bench.add_argument("--cores", type=int, default=2, help="cores for `bench workflow` (default: %(default)s)")
    bench.add_argument("--profile", default=None, help="`bench workflow` with workflow/profiles/PROFILE, e.g. full")
    bench.add_argument("--no-baseline", action="store_true", help="`bench workflow` without the one-process baseline")
    robust = command(
        "robust-table", _robust_table, "exact robust accuracy per layer and training method over seeds, and its claims"
    )
    robust.add_argument("--eps", type=_eps, nargs="+", default=[0.05, 0.1, 0.2], help="columns (default: %(default)s)")
    command(
        "select-table", _select_table, "the circuit choice's test numbers over seeds (the select profile), as Markdown"
    )
    plots = command("plots", _plots, "`dvc plots show` that renders offline (Vega inline, not from a CDN)")
    plots.add_argument("--out", default="dvc_plots", help="folder of the page, under --workdir (default: %(default)s)")
    slurm = command("local-slurm", _local_slurm, "a one-node SLURM cluster here (Debian's packages, as root)")
    slurm.add_argument(
        "--folder", type=Path, default=Path(".slurm"), help="its config and state (default: %(default)s)"
    )
    ui = command("ui", _ui, "the MLflow UI on the study's runs (its store: MLFLOW_TRACKING_URI or mlflow.db)")
    ui.add_argument("--port", type=int, default=5000, help="port on 127.0.0.1 (default: %(default)s)")
    ui.add_argument("--screenshot", type=Path, default=None, help="save a PNG of the runs page there and stop")
    dvc = command("dvc-yaml", _dvc_yaml, "write dvc.yaml from the stages and robqunn.paths (in --workdir)")
    dvc.add_argument("--check", action="store_true", help="only check that dvc.yaml is current (exit 2 if not)")
    docs = command(
        "docs-numbers", _docs_numbers, "write the docs' robustness numbers from five-seed studies (docs/numbers)"
    )
    docs.add_argument(
        "--from",
        dest="studies",
        action="append",
        default=[],
        metavar="STUDY=FOLDER",
        help="first keep the per-seed table of the study run in FOLDER as docs/numbers/STUDY.csv (repeatable)",
    )
    docs.add_argument("--check", action="store_true", help="only check that the docs are current (exit 2 if not)")
    command(
        "dvc-commit",
        _dvc_commit,
        "record the study Snakemake built in dvc.lock (in --workdir): `dvc status` clean, nothing to reproduce",
    )


def _plots(ctx: Context) -> None:
    from robqunn.report import show_plots

    print(show_plots(ctx.files.root, ctx.args.out))


def _local_slurm(ctx: Context) -> None:
    """Start the cluster, say how to use it, and stop it (its jobs, its daemons by their pids, its configuration)
    on Ctrl-C, SIGTERM or SIGHUP, or when a daemon ends."""
    from robqunn.localslurm import start_local_slurm

    with _signals_exit():
        try:
            cluster = start_local_slurm(ctx.args.folder)  # stops what it started if a signal lands meanwhile
            try:
                print(
                    f"SLURM is up ({cluster.conf}): snakemake --profile workflow/profiles/slurm  (Ctrl-C stops it)",
                    flush=True,
                )
                cluster.processes[0].wait()
            finally:
                cluster.stop()
        except KeyboardInterrupt:
            pass


@contextlib.contextmanager
def _signals_exit() -> Iterator[None]:
    """Inside, SIGTERM (`kill <pid>`) and SIGHUP (a closed terminal) end the command as Ctrl-C does, through its
    ``finally`` blocks, with the exit status 128 + the signal's number; the handlers are restored after. SIGINT
    raises KeyboardInterrupt even when the command was started with SIGINT ignored (a shell's background job),
    so that `kill -INT` stops it too."""
    previous = {signum: signal.signal(signum, _exit_on_signal) for signum in (signal.SIGTERM, signal.SIGHUP)}
    previous[signal.SIGINT] = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _ui(ctx: Context) -> None:
    from mlflow.tracking import MlflowClient

    from robqunn import tracking, ui

    uri, name = tracking.prepare_store(), ctx.params.tracking.experiment
    experiment = MlflowClient(uri).get_experiment_by_name(name)
    if experiment is None:
        raise ui.UiError(f"the store {uri} has no experiment {name!r} (tracking.experiment): run the study first")
    server = None
    with _signals_exit():
        try:
            MlflowClient(uri).set_experiment_tag(
                experiment.experiment_id,
                tracking.UI_VIEW_TAG,
                tracking.ui_view_state(ctx.params.claims.low_eps, _now_ms()),
            )
            server = ui.start_ui(uri, ctx.args.port)
            url = tracking.ui_url(server.base, experiment.experiment_id, view=True)
            if ctx.args.screenshot is not None:
                ui.render(url, screenshot=ctx.args.screenshot)
                print(f"{ctx.args.screenshot}: {url}")
                return
            print(f"MLflow UI on the runs of {name!r}: {url}  (Ctrl-C stops it)", flush=True)
            server.process.wait()
        except KeyboardInterrupt:
            pass
        finally:
            if server is not None:
                server.stop()


def _now_ms() -> int:
    import time

    return int(time.time() * 1000)


def _exit_on_signal(signum: int, _frame) -> None:
    raise SystemExit(128 + signum)


def _stage(name: str):
    """The module of stage ``name`` (robqunn.stages), imported when its command runs."""
    import importlib

    return importlib.import_module(f"robqunn.stages.{name}")


def _validate(ctx: Context) -> None:
    print(f"{ctx.args.params}: valid")


def _prepare(ctx: Context) -> None:
    _stage("prepare").run(ctx.params.data, ctx.seed, ctx.files.prepared(ctx.seed))


def _features(ctx: Context) -> None:
    for model in ctx.models:
        _stage("features").run(ctx.params.circuit, ctx.job(model), ctx.files.features(ctx.seed, model))


def _train(ctx: Context) -> None:
    for model in ctx.models:
        features, metrics = ctx.files.features(ctx.seed, model), ctx.files.train_metrics(ctx.seed, model)
        result = _stage("train").run(ctx.params.circuit, ctx.params.train, ctx.job(model), features, metrics)
        print(f"{model}: test accuracy {result.test_accuracy:.4f}")


def _attack(ctx: Context) -> None:
    stage, eps = _stage("attack"), _eps_grid(ctx)
    for name in ctx.args.attack or [a.value for a in AttackName]:
        for model in ctx.models:
            out_dir = ctx.files.adversarial_dir(ctx.seed, model, name)
            for path in stage.run(stage.AttackJob.of(ctx.params.attack, name), ctx.job(model), out_dir, eps):
                print(path)


def _exact(ctx: Context) -> None:
    settings, eps = ctx.params.exact, _eps_grid(ctx)
    if eps is not None:
        settings = dataclasses.replace(settings, eps=eps)
    for model in ctx.models:
        out, sets = ctx.files.exact_table(ctx.seed, model), ctx.files.adversarial_dir(ctx.seed, model, EXACT)
        table = _stage("exact").run(settings, ctx.params.attack.n_images, ctx.job(model), out, sets)
        print(table.to_string(index=False))


def _radius(ctx: Context) -> None:
    for model in ctx.models:
        out = ctx.files.radii(ctx.seed, model)
        record = _stage("radius").run(ctx.params.exact, ctx.params.attack.n_images, ctx.job(model), out)
        low, high, decided = record.summary().values()
        print(f"{model}: median certified radius in [{low:.4f}, {high:.4f}], {decided:.1%} of digits decided -> {out}")


def _evaluate(ctx: Context) -> None:
    models = {name: ctx.files.model(ctx.seed, name) for name in ctx.models}
    sets = ctx.files.adversarial_sets(ctx.params.attack, ctx.seed, ctx.models)
    sets += ctx.files.exact_sets(ctx.params.exact, ctx.seed, ctx.models)
    settings = _stage("evaluate").EvaluateSettings(ctx.params.attack, ctx.params.noise)
    table = _stage("evaluate").run(settings, models, sets, ctx.files.prepared(ctx.seed), ctx.files.table(ctx.seed))
    print(table.to_string(index=False))


def _figures(ctx: Context) -> None:
    examples = ctx.files.adversarial_sets(ctx.params.attack, ctx.seed, ctx.models, [AttackName.PGD])
    table, data = ctx.files.table(ctx.seed), ctx.files.prepared(ctx.seed)
    for path in _stage("figures").run(table, examples, data, ctx.files.figures(ctx.seed)):
        print(path)


def _circuits(ctx: Context) -> None:
    for path in _stage("circuits").run(ctx.params.circuit, ctx.seed, ctx.models, ctx.files.circuits(ctx.seed)):
        print(path)


def _checks(ctx: Context) -> None:
    params = ctx.params
    for model in ctx.models:
        out = ctx.files.checks(ctx.seed, model)
        _stage("checks").run(params.checks, params.attack.steps, params.exact, ctx.job(model), out)
        print(out)


def _ansatz_metrics(ctx: Context) -> None:
    out = ctx.files.ansatz_metrics(ctx.seed)
    print(_stage("ansatz_metrics").run(ctx.params.ansatz_metrics, ctx.params.circuit, ctx.job(), ctx.models, out))


def _aggregate(ctx: Context) -> None:
    files, seeds, stage = ctx.files, ctx.params.study.seeds, _stage("aggregate")
    inputs = stage.StudyInputs(
        tables=[files.table(seed) for seed in seeds],
        check_records=[files.checks(seed, model) for seed in seeds for model in ctx.models],
        ansatz_tables=[files.ansatz_metrics(seed) for seed in seeds],
        radii=[files.radii(seed, model) for seed in seeds for model in ctx.models],
    )
    settings = stage.StudySettings(ctx.params.claims, ctx.params.checks, ctx.params.train.robust.eps)
    frames = stage.run(settings, inputs, files.study(), ctx.params.tracking)
    print(frames["claims"][["claim", "layout", "attack", "verdict"]].to_string(index=False))


def _robust_table(ctx: Context) -> None:
    from robqunn.robust_results import claims_markdown, read_exact_tables, robust_markdown, robust_summary

    tables = read_exact_tables(ctx.args.workdir, list(ctx.params.study.seeds), ctx.models)
    print(robust_markdown(robust_summary(tables), tuple(ctx.args.eps)))
    print(f"\nClaims at eps_train = {ctx.params.train.robust.eps:g} (train.robust.eps):\n")
    print(claims_markdown(tables, ctx.params.train.robust.eps))


def _select_table(ctx: Context) -> None:
    import pandas as pd

    from robqunn.sweep import selection_agreement, selection_markdown

    folder = ctx.files.sweep()
    path = folder / f"{SELECTION_SUMMARY}.csv"
    if not path.exists():
        raise RobqunnError(f"no {path}: run the sweep with params 'sweep.n_validation' > 0 (profile select) first")
    print(selection_markdown(pd.read_csv(path)))
    tables = {name: pd.read_csv(folder / f"{name}.csv") for name in ("sweep", "selection")}
    print("\n" + selection_agreement(tables["sweep"], tables["selection"]))


def _sweep_draw(ctx: Context) -> None:
    from robqunn.sweep import Recipe

    params, stage = ctx.params, _stage("sweep_draw")
    recipe = Recipe(params.circuit, params.train, params.exact)
    draws = ctx.args.draw or list(range(params.sweep.n_draws))
    outside = [draw for draw in draws if not 0 <= draw < params.sweep.n_draws]
    if outside:
        raise RobqunnError(f"--draw must be in [0, {params.sweep.n_draws}) (params 'sweep.n_draws'); got {outside}")
    for draw in draws:
        out = ctx.files.sweep_draw(ctx.seed, draw)
        stage.run(params.sweep, recipe, ctx.job(), draw, out)
        print(out)


def _sweep(ctx: Context) -> None:
    seeds, n_draws = ctx.params.study.seeds, ctx.params.sweep.n_draws
    draws = [ctx.files.sweep_draw(seed, draw) for seed in seeds for draw in range(n_draws)]
    frames = _stage("sweep").run(ctx.params.sweep, seeds, draws, ctx.files.sweep(), ctx.params.tracking)
    print(frames["variance"].to_string(index=False))
    if SELECTION_SUMMARY in frames:
        print(frames[SELECTION_SUMMARY].to_string(index=False))


def _ansatz(ctx: Context) -> None:
    from robqunn import circuits

    args = ctx.args
    spec = circuits.make_circuit_spec(Ansatz(args.ansatz), Layout(args.layout), ctx.params.circuit, ctx.seed)
    strings, coefficients = circuits.readout_polynomial(spec)
    print(circuits.draw_text(spec))
    print(f"\nentanglers (multi-qubit gates): {circuits.count_entanglers(spec)}")
    print(f"entanglers change the readout: {circuits.entanglers_visible(spec)}")
    print("readout <Z_j> = sum_s c[s, j] * prod_k f(x_k), f_I = 1, f_Z = cos(pi x), f_X = sin(pi x):")
    for j in range(spec.n_qubits):
        terms = [f"{c[j]:+.4f} {s}" for s, c in zip(strings, coefficients, strict=True) if abs(c[j]) > 1e-12]
        print(f"  <Z_{j}> = " + " ".join(terms))
    if args.figure:
        circuits.draw_figure(spec, args.figure)
        print(f"\ndiagram saved to {args.figure}")


def _bench(ctx: Context) -> None:
    from robqunn.bench import attack, exact, loops, quanv, robust, startup, workflow

    if ctx.args.target == "quanv":
        print(quanv.format_timings(quanv.bench_quanv(ctx.params, ctx.seed)))
        print()
        print(quanv.format_samplers(quanv.bench_samplers(ctx.params, ctx.seed)))
    elif ctx.args.target == "attack":
        print(attack.format_attack_timings(attack.bench_attack(ctx.params, ctx.seed)))
    elif ctx.args.target == "exact":
        print(exact.format_exact_timings(exact.bench_exact(ctx.params, ctx.seed)))
    elif ctx.args.target == "robust":
        print(robust.format_robust_timings(robust.bench_robust(ctx.params, ctx.seed)))
    elif ctx.args.target == "loops":
        print(loops.format_loop_timings(loops.bench_loops(ctx.params, ctx.seed)))
    elif ctx.args.target == "startup":
        print(startup.format_startup_timings(startup.bench_startup(ctx.params.bench.repeats)))
    else:
        timings, costs = workflow.bench_workflow(
            Path("."), ctx.args.params, ctx.args.cores, ctx.args.profile, not ctx.args.no_baseline
        )
        print(workflow.format_workflow_timings(timings, costs))


def _dvc_yaml(ctx: Context) -> None:
    from robqunn import dvcfile

    path = ctx.files.root / dvcfile.DVC_YAML
    if not ctx.args.check:
        print(dvcfile.write(path))
    elif not dvcfile.is_current(path):
        raise RobqunnError(f"{path} must be what `robqunn dvc-yaml` writes; it differs: run `robqunn dvc-yaml`")


def _docs_numbers(ctx: Context) -> None:
    from robqunn import docnumbers

    root = ctx.files.root
    for study, folder in (_study_folder(given) for given in ctx.args.studies):
        print(*docnumbers.keep_study(root, study, folder), sep="\n")
    stale = docnumbers.update_documents(root, check=ctx.args.check)
    if ctx.args.check and stale:
        names = ", ".join(str(path) for path in stale)
        raise RobqunnError(f"the numbers in {names} are not what docs/numbers gives: run `robqunn docs-numbers`")
    for path in [] if ctx.args.check else stale:
        print(f"{path}: numbers rewritten")


def _study_folder(given: str) -> tuple[str, Path]:
    study, sep, folder = given.partition("=")
    if not sep or not folder:
        raise RobqunnError(f"--from takes STUDY=FOLDER (e.g. noise=../study); got {given!r}")
    return study, Path(folder)


def _dvc_commit(ctx: Context) -> None:
    from robqunn import dvcfile

    path = ctx.files.root / dvcfile.DVC_YAML
    if not dvcfile.is_current(path):
        raise RobqunnError(f"{path} must be what `robqunn dvc-yaml` writes; it differs: run `robqunn dvc-yaml`")
    dvcfile.commit(ctx.files.root)
    print(f"{ctx.files.root / 'dvc.lock'}: records the study's outputs")


def entry_point() -> None:
    """The installed `robqunn` command: :func:`main`, then an exit without TensorFlow's teardown
    (robqunn.runtime.exit_now) once the command's outputs are written."""
    exit_now(main())


if __name__ == "__main__":
    entry_point()
