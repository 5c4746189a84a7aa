"""The `robqunn` command: the pipeline's stages by hand, the circuits, the benchmark.

Every knob comes from the params file (--params, default params.yaml); the options here only say
which seed, model and files a command works on. Heavy libraries are imported by the subcommand that
needs them, so `robqunn --help` answers at once.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from robqunn.config import Ansatz, AttackName, Layout, Params, load_params, model_specs
from robqunn.errors import RobqunnError
from robqunn.paths import StudyFiles
from robqunn.workflow import quiet_tensorflow_retracing

logger = logging.getLogger("robqunn")


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    quiet_tensorflow_retracing()
    try:
        params = load_params(args.params)
        seed = params.study.seeds[0] if args.seed is None else args.seed
        args.run(args, params, seed)
    except (RobqunnError, ValueError, FileNotFoundError) as error:
        logger.error("%s", error)
        return 2
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="robqunn", description=__doc__.splitlines()[0])
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--params", type=Path, default=Path("params.yaml"), help="params file (default: %(default)s)")
    common.add_argument(
        "--seed", type=int, default=None, help="study seed (default: the first of params 'study.seeds')"
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str) -> argparse.ArgumentParser:
        return subparsers.add_parser(name, parents=[common], help=help)

    study = command("study", help="prepare data, compute feature maps and train every model, every seed")
    study.add_argument("--workdir", type=Path, default=Path("."), help="where data/, models/, results/ go")
    study.set_defaults(run=_study)

    prepare = command("prepare", help="prepare the digits (seeded stratified split) with a sha256")
    prepare.add_argument("--out", type=Path, required=True, help="output .npz (a .json sidecar is written beside)")
    prepare.set_defaults(run=lambda a, p, s: _stages().prepare(p.data, s, a.out))

    features = command("features", help="feature maps of a model's frozen layer")
    _model_data_args(features)
    features.add_argument("--out", type=Path, required=True, help="output .npz")
    features.set_defaults(run=lambda a, p, s: _stages().features(p.circuit, s, a.model, a.data, a.out))

    train = command("train", help="train a model's Dense head; save the end-to-end .keras model")
    _model_data_args(train)
    train.add_argument("--features", type=Path, required=True, help="feature maps from `robqunn features`")
    train.add_argument("--out", type=Path, required=True, help="output .keras model")
    train.add_argument("--metrics", type=Path, required=True, help="output metrics .json")
    train.set_defaults(run=_train)

    attack = command("attack", help="craft the adversarial sets of one model and attack (one file per eps)")
    _model_data_args(attack)
    attack.add_argument("--model-file", type=Path, required=True, help="trained .keras model")
    attack.add_argument("--attack", choices=[a.value for a in AttackName], required=True)
    attack.add_argument("--eps", type=float, nargs="+", default=None, help="L-inf budgets (default: the params grid)")
    attack.add_argument("--out-dir", type=Path, required=True, help="folder for eps<eps>.npz files")
    attack.set_defaults(run=_attack)

    evaluate = command("evaluate", help="evaluate adversarial sets white-box and by transfer: the results table")
    evaluate.add_argument(
        "--models", type=Path, nargs="+", help=".keras files named <model>.keras (default: the study's, in --workdir)"
    )
    evaluate.add_argument("--sets", type=Path, nargs="+", help="adversarial sets (.npz) (default: the study's)")
    evaluate.add_argument("--workdir", type=Path, default=Path("."), help="the study's folder (default: %(default)s)")
    evaluate.add_argument("--out", type=Path, required=True, help="output table .csv (a .parquet is written beside)")
    evaluate.set_defaults(run=_evaluate)

    plot = command("plot", help="Fig. 3a-e, adversarial-example grids and the summary table")
    plot.add_argument("--table", type=Path, required=True, help="results table .csv from `robqunn evaluate`")
    plot.add_argument(
        "--examples", type=Path, nargs="*", help="adversarial sets to show as digits (default: the study's PGD sets)"
    )
    plot.add_argument("--workdir", type=Path, default=Path("."), help="the study's folder (default: %(default)s)")
    plot.add_argument("--data", type=Path, required=True, help="prepared digits (for the clean row)")
    plot.add_argument("--out-dir", type=Path, required=True)
    plot.set_defaults(run=_plot)

    circuits = command("circuits", help="a diagram of every QuNN circuit of the study (circuit_<ansatz>-<layout>.png)")
    circuits.add_argument("--out-dir", type=Path, required=True)
    circuits.set_defaults(run=_circuits)

    checks = command("checks", help="the extra attacks of the soundness checks on one model (JSON)")
    _model_data_args(checks)
    checks.add_argument("--model-file", type=Path, required=True, help="trained .keras model")
    checks.add_argument("--out", type=Path, required=True, help="output .json")
    checks.set_defaults(run=_checks)

    metrics = command("ansatz-metrics", help="expressibility, entangling capability, feature effect of every QuNN")
    metrics.add_argument("--data", type=Path, required=True, help="prepared digits (for the feature effect)")
    metrics.add_argument("--out", type=Path, required=True, help="output .csv")
    metrics.set_defaults(
        run=lambda a, p, s: _stages().ansatz_metrics(p.ansatz_metrics, p.circuit, s, _model_names(p), a.data, a.out)
    )

    aggregate = command(
        "aggregate", help="the study across seeds: intervals, soundness checklist, ansatz metrics, claims"
    )
    aggregate.add_argument("--workdir", type=Path, default=Path("."), help="the study's folder (default: %(default)s)")
    aggregate.add_argument("--out-dir", type=Path, required=True)
    aggregate.set_defaults(run=_aggregate)

    ansatz = command("ansatz", help="show an ansatz: diagram, entanglers, readout polynomial")
    ansatz.add_argument("--ansatz", choices=[a.value for a in Ansatz], required=True)
    ansatz.add_argument("--layout", choices=[l.value for l in Layout], default=Layout.ROT_ENT.value)
    ansatz.add_argument("--figure", type=Path, default=None, help="also save a qml.draw_mpl diagram here")
    ansatz.set_defaults(run=_ansatz)

    bench = command("bench", help="benchmarks")
    bench.add_argument(
        "target",
        choices=["quanv", "attack", "workflow"],
        help="quanv: PennyLane vs the fast quanvolution layer; attack: PGD on the CNN vs on a QuNN; "
        "workflow: a cold and a no-op Snakemake run of the study in a temporary folder vs `robqunn study`",
    )
    bench.add_argument("--cores", type=int, default=2, help="cores for `bench workflow` (default: %(default)s)")
    bench.set_defaults(run=_bench)
    return parser


def _model_data_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="'cnn' or 'qunn-<ansatz>-<layout>'")
    parser.add_argument("--data", type=Path, required=True, help="prepared digits from `robqunn prepare`")


def _stages():
    from robqunn import stages

    return stages


def _study(args: argparse.Namespace, params: Params, seed: int) -> None:
    metrics = _stages().study(params, args.workdir)
    print(f"{'seed':>5s}  {'model':24s} {'test accuracy':>13s}  entanglers visible")
    for m in metrics:
        print(f"{m['seed']:5d}  {m['model']:24s} {m['test_accuracy']:13.4f}  {m.get('entanglers_visible', '-')}")


def _train(args: argparse.Namespace, params: Params, seed: int) -> None:
    metrics = _stages().train(
        params.circuit,
        params.train,
        seed,
        args.model,
        args.data,
        args.features,
        args.out,
        args.metrics,
        params.tracking,
    )
    print(f"{metrics['model']}: test accuracy {metrics['test_accuracy']:.4f}")


def _attack(args: argparse.Namespace, params: Params, seed: int) -> None:
    eps = None if args.eps is None else tuple(args.eps)
    a = params.attack
    stage_args = (a.of(args.attack), a.n_images, a.batch_size, args.attack, seed, args.model, args.model_file)
    for path in _stages().attack(*stage_args, args.data, args.out_dir, eps, params.tracking):
        print(path)


def _evaluate(args: argparse.Namespace, params: Params, seed: int) -> None:
    files, names = StudyFiles(args.workdir), _model_names(params)
    model_files = args.models or [files.model(seed, name) for name in names]
    sets = args.sets or files.adversarial_sets(params.attack, seed, names)
    models = {path.stem: path for path in model_files}
    table = _stages().evaluate(params.attack, models, sets, args.out, args.out.with_suffix(".parquet"))
    print(table.to_string(index=False))


def _plot(args: argparse.Namespace, params: Params, seed: int) -> None:
    examples = args.examples
    if examples is None:
        examples = StudyFiles(args.workdir).adversarial_sets(
            params.attack, seed, _model_names(params), [AttackName.PGD]
        )
    _stages().report(args.table, examples, args.data, args.out_dir)


def _circuits(args: argparse.Namespace, params: Params, seed: int) -> None:
    for path in _stages().circuit_diagrams(params.circuit, seed, _model_names(params), args.out_dir):
        print(path)


def _checks(args: argparse.Namespace, params: Params, seed: int) -> None:
    a = params.attack
    stage_args = (params.checks, a.pgd, a.batch_size, seed, args.model, args.model_file, args.data, args.out)
    _stages().checks(*stage_args, params.tracking)
    print(args.out)


def _aggregate(args: argparse.Namespace, params: Params, seed: int) -> None:
    files, names, seeds = StudyFiles(args.workdir), _model_names(params), params.study.seeds
    tables = [files.table(s) for s in seeds]
    checks = [files.checks(s, name) for s in seeds for name in names]
    ansatz = [files.ansatz_metrics(s) for s in seeds]
    frames = _stages().aggregate(params.claims, params.checks, tables, checks, ansatz, args.out_dir, params.tracking)
    print(frames["claims"][["claim", "layout", "attack", "verdict"]].to_string(index=False))


def _model_names(params: Params) -> list[str]:
    return [spec.name for spec in model_specs(params.study)]


def _ansatz(args: argparse.Namespace, params: Params, seed: int) -> None:
    from robqunn import circuits

    spec = circuits.make_circuit_spec(Ansatz(args.ansatz), Layout(args.layout), params.circuit, seed)
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


def _bench(args: argparse.Namespace, params: Params, seed: int) -> None:
    from robqunn import bench

    if args.target == "quanv":
        print(bench.format_timings(bench.bench_quanv(params, seed)))
    elif args.target == "attack":
        print(bench.format_attack_timings(bench.bench_attack(params, seed)))
    else:
        print(bench.format_workflow_timings(bench.bench_workflow(Path("."), args.params, args.cores)))


if __name__ == "__main__":
    sys.exit(main())
