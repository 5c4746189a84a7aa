"""Tests of robqunn.artifacts: every kind saves and loads itself, and a malformed file is refused by name."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from robqunn.artifacts import AdversarialSet, ChecksRecord, FeatureMaps, TrainMetrics
from robqunn.data import Dataset
from robqunn.errors import DataError

QUNN = "qunn-full-ent_rot"
CIRCUIT = {"ansatz": "full", "layout": "ent_rot", "n_entanglers": 3, "entanglers_visible": True, "readout_terms": 4}


def feature_maps(model: str = "cnn", seed: int = 3) -> FeatureMaps:
    rng = np.random.default_rng(0)
    f_train, f_test = (rng.normal(size=(n, 13, 13, 4)).astype(np.float32) for n in (6, 3))
    return FeatureMaps(model, seed, f_train, f_test)


LINEAGE = {"inputs": {"model": "ab" * 32, "data": "cd" * 32}, "params_sha256": "ef" * 32, "code_sha256": "01" * 32}
EXACT_ROW = {"robust_accuracy_lower": 0.4, "robust_accuracy_upper": 0.6, "undecided": 1, "n_evaluated": 5}


def adversarial_set() -> AdversarialSet:
    x_adv = np.random.default_rng(1).uniform(size=(5, 28, 28)).astype(np.float32)
    settings = {"nb_iter": 10, "rand_init": True}
    return AdversarialSet(
        x_adv, np.arange(5), np.arange(5)[::-1], "cnn", "pgd", 0.1, 3, settings, model_sha256="ab" * 32, lineage=LINEAGE
    )


def exact_set() -> AdversarialSet:
    """The worst cases of an exact verification: a set that holds its row of the exact table."""
    return dataclasses.replace(adversarial_set(), attack="exact", exact_row=EXACT_ROW)


def train_metrics(circuit: dict | None = None) -> TrainMetrics:
    return TrainMetrics(
        model=QUNN,
        seed=3,
        data_sha256="ab" * 32,
        train_accuracy=0.9,
        test_accuracy=0.85,
        end_to_end_test_accuracy=0.85,
        loss_per_epoch=[1.5, 0.7],
        accuracy_per_epoch=[0.6, 0.9],
        circuit=CIRCUIT if circuit is None else circuit,
    )


def checks_record(n_correct: int = 2) -> ChecksRecord:
    def counts(correct: int) -> dict:
        return {"n_correct": correct, "n_evaluated": 5}

    return ChecksRecord(
        model=QUNN,
        seed=3,
        large_eps={"eps": 0.5} | counts(n_correct),
        restarts={"eps": 0.1, "restarts": 5, "single": counts(3), "all": counts(2)},
        spsa={"eps": 0.1, "spsa": counts(4), "pgd": counts(3)},
        zero_gradients={
            "jitter": 1e-3,
            "clean": {"mean": 0.7, "sd": 0.1, "n_digits": 5},
            "jittered": {"mean": 0.0, "sd": 0.0, "n_digits": 5},
        },
        single_step={"eps": 0.1, "alpha": 0.05, "fgsm": counts(4), "jittered_fgsm": counts(2), "rfgsm": counts(3)},
        momentum={"eps": 0.1, "mim": counts(4), "mim_random_start": counts(2)},
        loss={"eps": 0.1, "cross_entropy": counts(3), "margin": counts(3)},
        lineage=LINEAGE,
    )


# kind -> (file name, a valid artifact, how to load the file)
KINDS: dict[str, tuple[str, Callable[[], object], Callable[[Path], object]]] = {
    "feature maps": ("cnn.npz", feature_maps, lambda path: FeatureMaps.load(path, "cnn", 3)),
    "adversarial set": ("eps0.1.npz", adversarial_set, AdversarialSet.load),
    "training metrics": ("qunn.json", train_metrics, TrainMetrics.load),
    "checks record": ("checks.json", checks_record, ChecksRecord.load),
}
LOADERS = {kind: (Path(name).suffix, load) for kind, (name, _, load) in KINDS.items()}
LOADERS["dataset"] = (".npz", Dataset.load)


def assert_same(loaded: object, saved: object) -> None:
    """Equal field by field; arrays equal in values and dtype, everything else with ==."""
    assert type(loaded) is type(saved)
    for field in dataclasses.fields(saved):
        got, want = getattr(loaded, field.name), getattr(saved, field.name)
        if isinstance(want, np.ndarray):
            np.testing.assert_array_equal(got, want)
            assert got.dtype == want.dtype
        else:
            assert got == want and type(got) is type(want), field.name


def saved(tmp_path: Path, kind: str) -> Path:
    """A valid file of ``kind`` in tmp_path."""
    name, make, _ = KINDS[kind]
    make().save(tmp_path / name)
    return tmp_path / name


def rewrite_npz(path: Path, change: Callable[[dict], object]) -> None:
    """Apply ``change`` to the arrays of ``path`` in place (np.savez: it can write what robqunn never would)."""
    with np.load(path) as npz:
        arrays = dict(npz)
    change(arrays)
    np.savez(path, **arrays)


def assert_refused(tmp_path: Path, kind: str, change: Callable[[dict], object], problem: str) -> None:
    """A valid file of ``kind``, changed by ``change``, is refused on load with ``problem`` in the message."""
    path = saved(tmp_path, kind)
    (rewrite_npz if path.suffix == ".npz" else rewrite_json)(path, change)
    with pytest.raises(DataError, match=problem):
        KINDS[kind][2](path)


def rewrite_json(path: Path, change: Callable[[dict], object]) -> None:
    """Apply ``change`` to the JSON object of ``path`` in place."""
    payload = json.loads(path.read_text())
    change(payload)
    path.write_text(json.dumps(payload))


class TestRoundTrip:
    """What save writes, load returns unchanged."""

    @pytest.mark.parametrize("kind", KINDS)
    def test_round_trip(self, tmp_path: Path, kind: str) -> None:
        """Every field comes back equal, with its dtype or Python type (0-d arrays as scalars and str)."""
        _, make, load = KINDS[kind]
        assert_same(load(saved(tmp_path, kind)), make())

    def test_cnn_metrics_have_no_circuit(self, tmp_path: Path) -> None:
        """The CNN's metrics (no circuit facts) round-trip with an empty circuit."""
        train_metrics({}).save(tmp_path / "cnn.json")
        assert TrainMetrics.load(tmp_path / "cnn.json") == train_metrics({})

    def test_metrics_file_is_flat_and_sorted(self, tmp_path: Path) -> None:
        """The metrics JSON holds the circuit facts at the top level, keys sorted, as stages.train wrote it."""
        path = saved(tmp_path, "training metrics")
        payload = dataclasses.asdict(train_metrics())
        expected = {key: value for key, value in payload.items() if key != "circuit"} | CIRCUIT
        assert path.read_text() == json.dumps(expected, indent=2, sort_keys=True) + "\n"
        assert train_metrics().as_dict() == expected

    def test_checks_file_is_the_record(self, tmp_path: Path) -> None:
        """The checks JSON is as_dict(): model, seed and the nested records of each extra attack."""
        path = saved(tmp_path, "checks record")
        assert json.loads(path.read_text()) == checks_record().as_dict()
        assert sorted(checks_record().as_dict()) == sorted(
            [
                "model",
                "seed",
                "large_eps",
                "restarts",
                "spsa",
                "zero_gradients",
                "single_step",
                "momentum",
                "loss",
                "eot",
                "lineage",
                "autoattack",
            ]
        )

    def test_exact_set_round_trip(self, tmp_path: Path) -> None:
        """An exact set comes back with its row of the exact table."""
        exact_set().save(tmp_path / "eps0.1.npz")
        assert_same(AdversarialSet.load(tmp_path / "eps0.1.npz"), exact_set())

    def test_lineage_not_recorded(self, tmp_path: Path) -> None:
        """An output made outside the stages records no lineage (null), and loads so."""
        for artifact, name in ((adversarial_set(), "eps0.1.npz"), (checks_record(), "checks.json")):
            dataclasses.replace(artifact, lineage=None).save(tmp_path / name)
            assert type(artifact).load(tmp_path / name).lineage is None

    def test_extra_npz_keys_are_ignored(self, tmp_path: Path) -> None:
        """An array that a kind does not know (a later version's) does not stop the load."""
        path = saved(tmp_path, "adversarial set")
        rewrite_npz(path, lambda arrays: arrays.update(crafted_on=np.array("gpu")))
        assert_same(AdversarialSet.load(path), adversarial_set())


class TestRefusals:
    """A malformed file raises DataError naming the file and the problem."""

    @pytest.mark.parametrize("kind", LOADERS)
    def test_missing_file(self, tmp_path: Path, kind: str) -> None:
        """A file that is not there is named, with the kind it should have been."""
        suffix, load = LOADERS[kind]
        with pytest.raises(DataError, match=rf"{kind} file must exist; got .*absent\{suffix}"):
            load(tmp_path / f"absent{suffix}")

    @pytest.mark.parametrize("kind", LOADERS)
    def test_garbage_file(self, tmp_path: Path, kind: str) -> None:
        """Bytes that are neither a zip archive nor JSON are refused, not crashed on."""
        suffix, load = LOADERS[kind]
        (tmp_path / f"junk{suffix}").write_bytes(b"not a zip at all \x00\xff")
        problem = r"must be a readable \.npz" if suffix == ".npz" else "must be readable JSON"
        with pytest.raises(DataError, match=rf"junk\{suffix} {problem}"):
            load(tmp_path / f"junk{suffix}")

    @pytest.mark.parametrize("kind", [kind for kind, (suffix, _) in LOADERS.items() if suffix == ".npz"])
    def test_single_npy_array(self, tmp_path: Path, kind: str) -> None:
        """A .npy array saved under an .npz name is refused."""
        with open(tmp_path / "one.npz", "wb") as f:
            np.save(f, np.zeros(3))
        with pytest.raises(DataError, match=r"one\.npz must be a \.npz archive; got a single \.npy array"):
            LOADERS[kind][1](tmp_path / "one.npz")

    @pytest.mark.parametrize("kind", [kind for kind, (suffix, _) in LOADERS.items() if suffix == ".json"])
    def test_json_not_an_object(self, tmp_path: Path, kind: str) -> None:
        """A JSON list where an object belongs is refused."""
        (tmp_path / "list.json").write_text("[1, 2]")
        with pytest.raises(DataError, match=r"list\.json must hold a JSON object; got list"):
            LOADERS[kind][1](tmp_path / "list.json")

    @pytest.mark.parametrize(
        "change, problem",
        [
            (lambda a: a.pop("y"), r"eps0\.1\.npz must hold arrays .*\(missing \['y'\]\)"),
            (
                lambda a: a.update(x_adv=a["x_adv"].astype(np.float64)),
                r"x_adv of adversarial set file .*eps0\.1\.npz must be a float32 array; got float64",
            ),
            (lambda a: a.update(eps=np.array("0.1")), r"eps of .*eps0\.1\.npz must be a float array; got <U3"),
            (lambda a: a.update(y=a["y"][:, None]), r"y of .*eps0\.1\.npz must have 1 dimensions; got shape \(5, 1\)"),
            (
                lambda a: a.update(x_adv=a["x_adv"][:, :27, :27]),
                r"x_adv of .*eps0\.1\.npz must have shape \(N, 28, 28\); got \(5, 27, 27\)",
            ),
            (
                lambda a: a.update(y=a["y"][:4]),
                r"y of .*eps0\.1\.npz must have shape \(5,\), one per image; got \(4,\)",
            ),
            (lambda a: a.update(y=a["y"] + 6), r"y of .*eps0\.1\.npz must be within \[0, 9\]; got values from 6 to 10"),
            (lambda a: a.update(x_adv=a["x_adv"] + 1), r"x_adv of .*eps0\.1\.npz must be within \[0\.0, 1\.0\]"),
            (lambda a: a.update(x_adv=np.full_like(a["x_adv"], np.nan)), r"x_adv of .*eps0\.1\.npz must be finite"),
            (lambda a: a.update(attack=np.array("cw")), r"attack of .*eps0\.1\.npz must be one of .*; got 'cw'"),
            (lambda a: a.update(eps=np.array(1.5)), r"eps of .*eps0\.1\.npz must be within \[0, 1\].*; got 1\.5"),
            (lambda a: a.update(settings=np.array("{nb_iter")), r"settings of .*eps0\.1\.npz must be JSON text"),
            (lambda a: a.update(settings=np.array([{}])), r"eps0\.1\.npz must be a readable \.npz"),
            (lambda a: a.update(predicted=a["predicted"][:3]), r"predicted of .*eps0\.1\.npz must have shape \(5,\)"),
            (lambda a: a.update(predicted=a["predicted"] + 10), r"predicted of .*eps0\.1\.npz must be within"),
            (lambda a: a.pop("lineage"), r"eps0\.1\.npz must hold arrays .*\(missing \['lineage'\]\)"),
            (
                lambda a: a.update(lineage=np.array("[1]")),
                r"lineage of .*eps0\.1\.npz must be a JSON object; got \[1\]",
            ),
            (
                lambda a: a.update(lineage=np.array('{"inputs": {"model": "ab"}}')),
                r"eps0\.1\.npz must hold the key 'lineage\.inputs\.data'",
            ),
            (
                lambda a: a.update(exact_row=np.array(json.dumps(EXACT_ROW))),
                r"exact_row of .*eps0\.1\.npz must be the exact table's row in an exact set and null in an attack's",
            ),
        ],
        ids=[
            "missing-key",
            "wrong-dtype",
            "wrong-scalar-kind",
            "wrong-ndim",
            "wrong-shape",
            "mismatched-n",
            "labels-out-of-range",
            "pixels-above-1",
            "pixels-not-finite",
            "unknown-attack",
            "eps-above-1",
            "settings-not-json",
            "pickled-object",
            "predictions-not-one-per-digit",
            "predictions-not-classes",
            "no-lineage",
            "lineage-not-an-object",
            "lineage-without-an-input",
            "exact-row-in-an-attack-set",
        ],
    )
    def test_adversarial_set(self, tmp_path: Path, change: Callable, problem: str) -> None:
        """Each malformed adversarial set is refused with the file and the problem."""
        assert_refused(tmp_path, "adversarial set", change, problem)

    @pytest.mark.parametrize(
        "change, problem",
        [
            (lambda a: a.update(exact_row=np.array("null")), r"must be the exact table's row in an exact set"),
            (
                lambda a: a.update(exact_row=np.array(json.dumps(EXACT_ROW | {"undecided": 0.5}))),
                r"exact_row\.undecided of .*eps0\.1\.npz must be an integer; got 0\.5",
            ),
        ],
        ids=["no-row", "row-of-wrong-type"],
    )
    def test_exact_set(self, tmp_path: Path, change: Callable, problem: str) -> None:
        """An exact set without its row of the exact table, or with a malformed one, is refused."""
        exact_set().save(tmp_path / "eps0.1.npz")
        rewrite_npz(tmp_path / "eps0.1.npz", change)
        with pytest.raises(DataError, match=problem):
            AdversarialSet.load(tmp_path / "eps0.1.npz")

    @pytest.mark.parametrize(
        "change, problem",
        [
            (lambda a: a.pop("seed"), r"cnn\.npz must hold arrays .*\(missing \['seed'\]\)"),
            (
                lambda a: a.update(f_train=a["f_train"].astype(np.float16)),
                r"f_train of feature maps file .*cnn\.npz must be a float32 array; got float16",
            ),
            (lambda a: a.update(f_test=a["f_test"][..., 0]), r"f_test of .*cnn\.npz must have 4 dimensions"),
            (
                lambda a: a.update(f_test=a["f_test"][:, :12]),
                r"f_test of .*cnn\.npz must have the map shape \(13, 13, 4\) of f_train; got \(12, 13, 4\)",
            ),
            (lambda a: a.update(f_train=np.full_like(a["f_train"], np.inf)), r"f_train of .*cnn\.npz must be finite"),
            (
                lambda a: a.update(model=np.array(QUNN)),
                rf"cnn\.npz must be for model 'cnn', seed 3; got model '{QUNN}', seed 3",
            ),
            (
                lambda a: a.update(seed=np.array(4)),
                r"cnn\.npz must be for model 'cnn', seed 3; got model 'cnn', seed 4",
            ),
        ],
        ids=["missing-key", "wrong-dtype", "wrong-ndim", "mismatched-maps", "not-finite", "other-model", "other-seed"],
    )
    def test_feature_maps(self, tmp_path: Path, change: Callable, problem: str) -> None:
        """Each malformed or foreign feature file is refused with the file and the problem."""
        assert_refused(tmp_path, "feature maps", change, problem)

    @pytest.mark.parametrize(
        "change, problem",
        [
            (lambda p: p.pop("test_accuracy"), r"qunn\.json must hold the key 'test_accuracy'"),
            (lambda p: p.update(seed="3"), r"seed of training metrics file .*qunn\.json must be an integer; got '3'"),
            (lambda p: p.update(train_accuracy=True), r"train_accuracy of .*qunn\.json must be a number; got True"),
            (
                lambda p: p.update(loss_per_epoch=[0.5, "x"]),
                r"loss_per_epoch of .*qunn\.json must be a list of numbers",
            ),
            (
                lambda p: p.pop("layout"),
                r"circuit facts of .*qunn\.json must be all of .* \(a QuNN\) or none \(the CNN\); got \['ansatz', ",
            ),
            (lambda p: p.update(colour="red"), r"circuit facts of .*qunn\.json must be all of .*'colour'"),
            (lambda p: p.update(n_entanglers=1.5), r"n_entanglers of .*qunn\.json must be an integer; got 1\.5"),
        ],
        ids=[
            "missing-key",
            "wrong-type",
            "bool-as-number",
            "list-with-text",
            "partial-circuit",
            "unknown-key",
            "circuit-type",
        ],
    )
    def test_train_metrics(self, tmp_path: Path, change: Callable, problem: str) -> None:
        """Each malformed metrics file is refused with the file and the problem."""
        assert_refused(tmp_path, "training metrics", change, problem)

    @pytest.mark.parametrize(
        "change, problem",
        [
            (
                lambda p: p["restarts"]["single"].pop("n_correct"),
                r"checks\.json must hold the key 'restarts\.single\.n_correct'",
            ),
            (lambda p: p.update(spsa=3), r"spsa of checks record file .*checks\.json must be a JSON object; got 3"),
            (  # a number, not only an integer: a model that samples scores each digit by its fraction of draws
                lambda p: p["large_eps"].update(n_correct="3"),
                r"large_eps\.n_correct of .*checks\.json must be a number; got '3'",
            ),
            (
                lambda p: p["spsa"]["pgd"].update(n_correct=6),
                r"spsa\.pgd of .*checks\.json must count 0 <= n_correct <= n_evaluated; got 6 correct of 5",
            ),
            (
                lambda p: p["large_eps"].update(n_correct=-1),
                r"large_eps of .*checks\.json must count 0 <= n_correct <= n_evaluated; got -1 correct of 5",
            ),
            (lambda p: p.pop("lineage"), r"checks\.json must hold the key 'lineage' \(null: not recorded\)"),
            (
                lambda p: p["lineage"].pop("code_sha256"),
                r"checks\.json must hold the key 'lineage\.code_sha256'",
            ),
        ],
        ids=[
            "missing-nested-key",
            "nested-not-object",
            "count-not-number",
            "more-correct-than-evaluated",
            "negative",
            "no-lineage",
            "lineage-without-code",
        ],
    )
    def test_checks_record(self, tmp_path: Path, change: Callable, problem: str) -> None:
        """Each malformed checks record is refused with the file and the problem."""
        assert_refused(tmp_path, "checks record", change, problem)

    @pytest.mark.parametrize(
        "artifact, name, problem",
        [
            (
                dataclasses.replace(adversarial_set(), eps=0.6, x_adv=adversarial_set().x_adv + 1),
                "eps0.6.npz",
                r"x_adv of adversarial set to save as .*eps0\.6\.npz must be within \[0\.0, 1\.0\]",
            ),
            (
                dataclasses.replace(feature_maps(), f_test=feature_maps().f_test.astype(np.float64)),
                "cnn.npz",
                r"f_test of feature maps to save as .*cnn\.npz must be a float32 array; got float64",
            ),
            (train_metrics({"ansatz": "full"}), "qunn.json", r"circuit facts of .*qunn\.json must be all of"),
            (checks_record(n_correct=6), "checks.json", r"large_eps of .*checks\.json must count 0 <= n_correct"),
        ],
        ids=["adversarial-set", "feature-maps", "train-metrics", "checks-record"],
    )
    def test_nothing_malformed_is_written(self, tmp_path: Path, artifact, name: str, problem: str) -> None:
        """save refuses a malformed artifact, naming the destination, and leaves no file behind."""
        with pytest.raises(DataError, match=problem):
            artifact.save(tmp_path / name)
        assert list(tmp_path.iterdir()) == []
