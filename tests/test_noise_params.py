"""params ``noise``: the noisy and finite-shot models it adds, their names, and bad input (one clear error
naming the key, before any job runs)."""

from __future__ import annotations

import re

import pytest
from tests.test_config import with_value

from robqunn.config import model_specs, params_from_dict
from robqunn.errors import ParamsError
from robqunn.noise import Noise, NoiseChannel
from robqunn.vocabulary import ModelSpec


def noise_params(**changes):
    """The repository's params with the noise section changed as given."""
    raw = with_value("noise.circuits", ["full-ent_rot"])
    raw["noise"].update(changes)
    return params_from_dict(raw)


class TestModels:
    """Each circuit of noise.circuits gets one model per channel strength and, for the noiseless circuit and
    each noisy one, one per shot count; the study's own models come first, unchanged."""

    def test_default_params_add_no_model(self):
        params = params_from_dict(with_value("noise.circuits", []))
        assert [s.name for s in model_specs(params.study, params.noise)] == [s.name for s in model_specs(params.study)]

    def test_grid(self):
        params = noise_params(depolarizing=[0.01, 0.1], readout=[0.02], shots=[100, 1000])
        names = [s.name for s in model_specs(params.study, params.noise)][len(model_specs(params.study)) :]
        assert names == [
            "qunn-full-ent_rot-dep0.01",
            "qunn-full-ent_rot-dep0.1",
            "qunn-full-ent_rot-flip0.02",
            "qunn-full-ent_rot-shots100",
            "qunn-full-ent_rot-shots1000",
            "qunn-full-ent_rot-dep0.01-shots100",
            "qunn-full-ent_rot-dep0.01-shots1000",
            "qunn-full-ent_rot-dep0.1-shots100",
            "qunn-full-ent_rot-dep0.1-shots1000",
            "qunn-full-ent_rot-flip0.02-shots100",
            "qunn-full-ent_rot-flip0.02-shots1000",
        ]

    @pytest.mark.parametrize(
        "name",
        [
            "qunn-full-ent_rot-dep0.01",
            "qunn-random-rot_ent-amp0.5",
            "qunn-none-ent_rot-flip1",
            "qunn-star-rot_ent-shots1",
        ]
        + ["qunn-linear-ent_rot-dep0.00001-shots1000"],
    )
    def test_names_round_trip(self, name):
        """A name parses to the spec that prints it (strengths in positional notation: no exponent's minus)."""
        assert ModelSpec.from_name(name).name == name

    def test_spec_fields(self):
        spec = ModelSpec.from_name("qunn-full-ent_rot-amp0.05-shots1000")
        assert spec.noise == Noise(NoiseChannel.AMPLITUDE_DAMPING, 0.05) and spec.shots == 1000
        assert spec.expectation.name == "qunn-full-ent_rot-amp0.05" and spec.circuit_name == "qunn-full-ent_rot"

    @pytest.mark.parametrize(
        "name",
        ["qunn-full-ent_rot-dep0", "qunn-full-ent_rot-dep1.5", "qunn-full-ent_rot-shots0", "qunn-full-ent_rot-shots-3"]
        + ["qunn-full-ent_rot-shots10-dep0.1", "qunn-full-ent_rot-dep0.10", "qunn-full-ent_rot-dep0.1-amp0.1"]
        + ["qunn-full-ent_rot-noise0.1", "qunn-full-ent_rot-shots1.5", "cnn-dep0.1"],
    )
    def test_bad_names(self, name):
        """Strength outside (0, 1], shots < 1 or not whole, two channels, shots before noise, a non-canonical
        number or an unknown channel: refused, naming the valid forms."""
        with pytest.raises(ValueError, match=re.escape(repr(name))):
            ModelSpec.from_name(name)


class TestBadInput:
    """Every bad noise value stops validation with the key, the expectation and the value."""

    def test_unknown_channel(self):
        with pytest.raises(ParamsError, match=r"section 'noise' must be among \[.*got unknown \['noise.dephasing'\]"):
            noise_params(dephasing=[0.1])

    @pytest.mark.parametrize("channel", [c.value for c in NoiseChannel])
    @pytest.mark.parametrize("value", [0, -0.1, 1.5])
    def test_probability_outside_range(self, channel, value):
        with pytest.raises(ParamsError, match=rf"'noise\.{channel}' must be a probability in \(0, 1\].*got {value}"):
            noise_params(**{channel: [value]})

    @pytest.mark.parametrize("value", [0, -5])
    def test_shots_not_positive(self, value):
        with pytest.raises(ParamsError, match=rf"'noise\.shots' must be a whole number of shots >= 1.*got {value}"):
            noise_params(shots=[value])

    @pytest.mark.parametrize("value, shown", [(100.5, "100.5"), ("1000", "'1000'"), (None, "None")])
    def test_shots_not_integer(self, value, shown):
        with pytest.raises(ParamsError, match=rf"'noise\.shots' must be .*got {re.escape(shown)}"):
            noise_params(shots=[value])

    @pytest.mark.parametrize("key", ["eot_draws", "eval_draws"])
    def test_draws_at_least_one(self, key):
        with pytest.raises(ParamsError, match=rf"'noise\.{key}' must be .*got 0"):
            noise_params(**{key: 0})

    def test_circuit_not_in_study(self):
        raw = with_value("noise.circuits", ["full-ent_rot"])
        raw["study"]["ansatze"] = ["none"]
        with pytest.raises(ParamsError, match=r"'noise\.circuits' must list circuits of the study.*'full-ent_rot'"):
            params_from_dict(raw)

    def test_malformed_circuit(self):
        with pytest.raises(ParamsError, match=r"'noise\.circuits' must be a circuit '<ansatz>-<layout>'"):
            noise_params(circuits=["qunn-full-ent_rot"])

    def test_random_ansatz_takes_every_channel(self):
        """Every channel is defined on the random ansatz too (after its gates are decomposed, tests/test_noise.py)."""
        raw = with_value("noise.circuits", ["random-ent_rot"])
        raw["noise"].update(depolarizing=[0.01], amplitude_damping=[0.01], readout=[0.01])
        params = params_from_dict(raw)
        assert {s.noise.channel for s in model_specs(params.study, params.noise) if s.noise} == set(NoiseChannel)
