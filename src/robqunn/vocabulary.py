"""The study's vocabulary, spelled once: the ansaetze, layouts and attacks, the model-name grammar (with the
noise and shots of robqunn.noise), the classifiers' layer names, and what derives from them: the name regex
of Snakemake's wildcards, the params schema's choices and patterns (:func:`schema_nodes`, checked against
params.schema.yaml by the tests) and the figures' styles."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import Enum

from robqunn.noise import SHOTS_LABEL, Noise, NoiseChannel


class Ansatz(str, Enum):
    """Entanglement pattern of the quanvolution circuit (docs/design.md, "The quanvolution circuit")."""

    NONE = "none"
    FULL = "full"
    LINEAR = "linear"
    STAR = "star"
    RANDOM = "random"


class AttackName(str, Enum):
    """White-box L-infinity attacks (cleverhans)."""

    FGSM = "fgsm"
    PGD = "pgd"
    MIM = "mim"


EXACT = "exact"  # the attack name of the exact worst-case sets (robqunn.exact), beside the AttackName attacks
WORST_CASE = "worst_case"  # the attack name of the per-digit worst case over every attack run (RobustBench's rule)


class Layout(str, Enum):
    """Order of the rotation layer and the entanglers."""

    ROT_ENT = "rot_ent"
    ENT_ROT = "ent_rot"


CNN = "cnn"


class TrainMethod(str, Enum):
    """How the Dense head is trained (robqunn.robust): on the clean digits, on PGD examples crafted through the
    frozen layer (Madry et al. 2018), or on the exact worst-case margins over the eps-ball (certified training)."""

    STANDARD = "standard"
    PGD = "pgd"
    EXACT = "exact"

    @property
    def label(self) -> str:
        """The model name's tag of a robustly trained head ("pgdtrained"); none for standard training."""
        return "" if self is TrainMethod.STANDARD else f"{self.value}{TRAINED_LABEL}"


TRAINED_LABEL = "trained"


@dataclass(frozen=True)
class ModelSpec:
    """Which classifier: the CNN, or a QuNN with an ansatz, a layout and, optionally, noise and finite shots;
    either with a head trained by ``method``.

    ``shots`` None is the exact expectation; S > 0 reads every qubit from S measurement shots per patch.
    """

    kind: str
    ansatz: Ansatz | None = None
    layout: Layout | None = None
    noise: Noise | None = None
    shots: int | None = None
    method: TrainMethod = TrainMethod.STANDARD

    @property
    def name(self) -> str:
        """ "cnn[-<method>trained]" or "qunn-<ansatz>-<layout>[-<noise>][-shots<S>][-<method>trained]" (the
        wildcard used in file names); a standard head has no tag."""
        base = [CNN] if self.kind == CNN else [self.circuit_name, *self.hardware_labels]
        return "-".join(base + self.method_labels)

    @property
    def is_cnn(self) -> bool:
        return self.kind == CNN

    @property
    def cnn(self) -> ModelSpec:
        """The CNN whose head is trained as this model's: the classical baseline it is compared with."""
        return ModelSpec(CNN, method=self.method)

    @property
    def method_labels(self) -> list[str]:
        """The name's training-method tag (empty for a standard head)."""
        return [self.method.label] if self.method.label else []

    @property
    def variant_labels(self) -> list[str]:
        """The name's tags beside the circuit: noise, shots and a robust training method."""
        return self.hardware_labels + self.method_labels

    @property
    def circuit_name(self) -> str:
        """The noiseless, infinite-shot QuNN this model is a version of: "qunn-<ansatz>-<layout>"."""
        return f"qunn-{self.ansatz.value}-{self.layout.value}"

    @property
    def hardware_labels(self) -> list[str]:
        """The name's noise and shots tags (empty for the exact, noiseless model)."""
        labels = [self.noise.label] if self.noise else []
        return labels + ([f"{SHOTS_LABEL}{self.shots}"] if self.shots else [])

    @property
    def expectation(self) -> ModelSpec:
        """The same model read out exactly (shots None): what a finite-shot model samples from."""
        return dataclasses.replace(self, shots=None)

    @classmethod
    def from_name(cls, name: str) -> ModelSpec:
        """Parse :attr:`name`; raises ValueError naming the valid forms."""
        parts = str(name).split("-")
        try:
            if parts[0] == CNN:
                spec, tags = cls(CNN), parts[1:]
            elif 3 <= len(parts) <= 6 and parts[0] == "qunn":
                spec, tags = cls("qunn", Ansatz(parts[1]), Layout(parts[2])), parts[3:]
            else:
                raise ValueError
            for tag in tags:
                spec = _with_tag(spec, tag)
            if spec.name != name:  # each tag once, in the name's order
                raise ValueError
            return spec
        except ValueError:
            raise ValueError(
                f"model name must be 'cnn[-<method>trained]' or "
                f"'qunn-<ansatz>-<layout>[-<noise>][-shots<S>][-<method>trained]' with ansatz in "
                f"{[a.value for a in Ansatz]}, layout in {[l.value for l in Layout]}, noise one of "
                f"{[c.label + '<strength>' for c in NoiseChannel]} (e.g. dep0.01), S a positive integer and method "
                f"one of {[m.value for m in TrainMethod if m.label]}; got {name!r}"
            ) from None


def _with_tag(spec: ModelSpec, tag: str) -> ModelSpec:
    """``spec`` with one more name tag: a noise label (before any shots), ``shots<S>`` or ``<method>trained``
    (last); the CNN takes a method tag only."""
    method = next((m for m in TrainMethod if m.label and tag == m.label), None)
    if method is not None:
        return dataclasses.replace(spec, method=method)
    if spec.is_cnn:
        raise ValueError
    if tag.startswith(SHOTS_LABEL) and spec.shots is None:
        shots = int(tag.removeprefix(SHOTS_LABEL))
        if shots < 1:
            raise ValueError
        return dataclasses.replace(spec, shots=shots)
    channel = next((c for c in NoiseChannel if tag.startswith(c.label)), None)
    if channel is None or spec.noise is not None or spec.shots is not None:
        raise ValueError
    strength = float(tag.removeprefix(channel.label))
    if not 0 < strength <= 1:
        raise ValueError
    return dataclasses.replace(spec, noise=Noise(channel, strength))


#: The names of the classifiers' layers that robqunn looks up (robqunn.models builds them; robqunn.exact reads
#: them without importing TensorFlow).
FEATURES = "features"
LOGITS = "logits"

#: One colour per ansatz in every figure, by its name; the layout is the line style (rot_ent solid, ent_rot
#: dashed).
ANSATZ_COLOURS = {
    Ansatz.NONE.value: "C0",
    Ansatz.FULL.value: "C1",
    Ansatz.LINEAR.value: "C2",
    Ansatz.STAR.value: "C3",
    Ansatz.RANDOM.value: "C4",
}
LAYOUT_STYLES = {Layout.ROT_ENT.value: "-", Layout.ENT_ROT.value: "--"}
#: The marker of a robustly trained head's line (a standard head keeps its kind's style).
METHOD_MARKERS = {TrainMethod.PGD.value: "^", TrainMethod.EXACT.value: "s"}


def _choices(enum: type[Enum]) -> str:
    return "|".join(member.value for member in enum)


def model_name_regex() -> str:
    """The model names, as a regular expression (Snakemake's wildcard constraint)."""
    channels = "|".join(channel.label for channel in NoiseChannel)
    methods = "|".join(m.label for m in TrainMethod if m.label)
    return rf"({CNN}|{_QUNN}(-({channels})[0-9.]+)?(-{SHOTS_LABEL}[0-9]+)?)(-({methods}))?"


_CIRCUIT = f"({_choices(Ansatz)})-({_choices(Layout)})"
_QUNN = f"qunn-{_CIRCUIT}"
_FORMS = f"ansatz in {[a.value for a in Ansatz]} and layout in {[l.value for l in Layout]}"


def schema_nodes() -> dict[str, dict]:
    """The params schema's nodes that spell the vocabulary, by JSON pointer: robqunn.config validates with
    these, and a test checks that params.schema.yaml (which Snakemake reads) holds the same."""
    channels = "|".join(channel.label for channel in NoiseChannel)
    return {
        "/properties/study/properties/ansatze/items": {"enum": [a.value for a in Ansatz]},
        "/properties/study/properties/layouts/items": {"enum": [l.value for l in Layout]},
        "/properties/train/properties/methods/items": {"enum": [m.value for m in TrainMethod]},
        "/properties/noise/properties/circuits/items": {
            "type": "string",
            "pattern": f"^{_CIRCUIT}$",
            "x-expected": f"a circuit '<ansatz>-<layout>' with {_FORMS}",
        },
        "/properties/bench/properties/model": {
            "type": "string",
            "pattern": f"^{_QUNN}$",
            "x-type": "ModelSpec",
            "x-expected": f"a QuNN 'qunn-<ansatz>-<layout>' with {_FORMS} (the CNN has no circuit to time)",
        },
        "/properties/bench/properties/hardware_model": {
            "type": "string",
            "pattern": f"^{_QUNN}-({channels})[0-9.]+-{SHOTS_LABEL}[0-9]+$",
            "x-type": "ModelSpec",
            "x-expected": (
                "a noisy finite-shot QuNN 'qunn-<ansatz>-<layout>-<noise>-shots<S>', e.g. "
                "'qunn-full-ent_rot-dep0.01-shots1000'"
            ),
        },
    }
