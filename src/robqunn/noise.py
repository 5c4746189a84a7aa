"""The hardware vocabulary: noise channels and their strengths, and finite shots, as model names carry them
(``qunn-full-ent_rot-dep0.01-shots1000``; docs/noise.md), and the sampling draws a finite-shot model's attacks
and accuracies average over (EOT). The params that choose them are ``noise`` in params.yaml
(robqunn.config.NoiseParams); the layers that simulate them are robqunn.quanv's."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from robqunn.config import NoiseParams
    from robqunn.vocabulary import ModelSpec


class NoiseChannel(str, Enum):
    """A noise channel of the quanvolution circuit (params ``noise``; docs/noise.md), with the PennyLane
    channel it inserts and where: after every gate on each qubit the gate acts on, or before the readout."""

    DEPOLARIZING = "depolarizing"
    AMPLITUDE_DAMPING = "amplitude_damping"
    READOUT = "readout"

    @property
    def label(self) -> str:
        """The channel's tag in model names (``qunn-full-ent_rot-dep0.01``)."""
        return _CHANNEL_LABELS[self]


_CHANNEL_LABELS = {
    NoiseChannel.DEPOLARIZING: "dep",
    NoiseChannel.AMPLITUDE_DAMPING: "amp",
    NoiseChannel.READOUT: "flip",
}
SHOTS_LABEL = "shots"


@dataclass(frozen=True)
class Noise:
    """One noise channel at one strength (a probability, or the damping gamma), in (0, 1]."""

    channel: NoiseChannel
    strength: float

    @property
    def label(self) -> str:
        """``dep0.01``: positional, so that no exponent's minus sign splits a model name."""
        return self.channel.label + strength_label(self.strength)


def strength_label(strength: float) -> str:
    """A noise strength as it appears in model names: positional notation, shortest round-trip digits."""
    import numpy as np

    return np.format_float_positional(float(strength), trim="-")


def sampling_draws(spec: ModelSpec, noise: NoiseParams | None, key: str) -> int:
    """``noise.<key>`` (eot_draws: draws per attack gradient; eval_draws: draws an accuracy averages over) for a
    finite-shot model, 1 for a model that does not sample."""
    if not spec.shots:
        return 1
    if noise is None:
        raise ValueError(f"model {spec.name} samples its readout: its stage needs params key 'noise.{key}'")
    return getattr(noise, key)
