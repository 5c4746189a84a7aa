"""The vocabulary is spelled once (robqunn.vocabulary, robqunn.noise): what derives from it agrees with it."""

from __future__ import annotations

import dataclasses
import functools
import re

import pytest
import yaml

from conftest import REPO
from robqunn.config import load_params, model_specs
from robqunn.noise import Noise, NoiseChannel
from robqunn.vocabulary import (
    ANSATZ_COLOURS,
    LAYOUT_STYLES,
    Ansatz,
    Layout,
    ModelSpec,
    TrainMethod,
    model_name_regex,
    schema_nodes,
)

SCHEMA = yaml.safe_load((REPO / "workflow" / "schemas" / "params.schema.yaml").read_text())


@pytest.mark.parametrize("pointer", sorted(schema_nodes()))
def test_the_schema_file_spells_the_vocabulary(pointer):
    """params.schema.yaml, which Snakemake reads, holds the vocabulary's choices and name patterns as
    robqunn.vocabulary spells them (robqunn.config validates with the vocabulary's)."""
    *parents, last = pointer.strip("/").split("/")
    found = functools.reduce(dict.__getitem__, parents, SCHEMA)[last]
    assert found == schema_nodes()[pointer], f"params.schema.yaml at {pointer} must be {schema_nodes()[pointer]}"


def test_every_ansatz_and_layout_has_a_style():
    assert list(ANSATZ_COLOURS) == [a.value for a in Ansatz]
    assert list(LAYOUT_STYLES) == [layout.value for layout in Layout]


def every_model() -> list[ModelSpec]:
    """Every circuit, the CNN, each circuit noisy and with shots, and each of them trained by every method."""
    params = load_params(REPO / "params.yaml")
    plain = model_specs(params.study)
    hardware = [
        ModelSpec("qunn", spec.ansatz, spec.layout, noise, shots)
        for spec in plain[1:]
        for noise in (None, *(Noise(channel, 0.05) for channel in NoiseChannel))
        for shots in (None, 64)
    ]
    models = plain + [ModelSpec("qunn", a, l) for a in Ansatz for l in Layout] + hardware
    return [dataclasses.replace(spec, method=method) for spec in models for method in TrainMethod]


def test_every_model_name_matches_the_wildcard_and_parses_back():
    pattern = re.compile(model_name_regex())
    for spec in every_model():
        assert pattern.fullmatch(spec.name), spec.name
        assert ModelSpec.from_name(spec.name) == spec


@pytest.mark.parametrize(
    "name",
    [
        "qunn-ring-ent_rot",
        "qunn-full",
        "cnn-dep0.1",
        "qunn-full-ent_rot-shots64-dep0.1",
        "cnn-standardtrained",
        "cnn-exacttrained-pgdtrained",
        "qunn-full-ent_rot-exacttrained-shots64",
        "cnn-fasttrained",
    ],
)
def test_a_name_outside_the_grammar_is_refused(name):
    with pytest.raises(ValueError, match=r"model name must be 'cnn\[-<method>trained\]' or 'qunn-<ansatz>-<layout>"):
        ModelSpec.from_name(name)


def test_a_robust_model_is_compared_with_the_cnn_trained_the_same_way():
    spec = ModelSpec.from_name("qunn-full-ent_rot-exacttrained")
    assert spec.method is TrainMethod.EXACT and spec.circuit_name == "qunn-full-ent_rot"
    assert spec.cnn.name == "cnn-exacttrained" and ModelSpec.from_name("qunn-none-rot_ent").cnn.name == "cnn"
