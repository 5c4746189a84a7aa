"""What some params sections do beyond holding values: derived settings and lookups.

robqunn.params_types, generated from the schema, declares the sections' keys; the classes here are the
bases it names (``x-methods`` in params.schema.yaml) and hold the behaviour alone: the fields they read
are the dataclass's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from robqunn.noise import Noise, NoiseChannel
from robqunn.vocabulary import AttackName

if TYPE_CHECKING:
    from robqunn.params_types import AttackSteps, FgsmParams, MimParams, MimSteps, PgdParams, PgdSteps

SORTED = "sorted"  # marks a tuple type, Annotated[tuple[...], SORTED], that robqunn.config sorts

SortedFloats = Annotated[tuple[float, ...], SORTED]
"""Numbers in ascending order, however params.yaml lists them."""

EpsGrid = SortedFloats
"""L-infinity budgets of an attack, ascending, in [0, 1], 0 (the clean accuracy) included."""


class CircuitMethods:
    @property
    def n_qubits(self) -> int:
        """One qubit per pixel of a patch."""
        return self.kernel_size**2


class PgdMethods:
    @property
    def steps(self) -> PgdSteps:
        """These settings without the eps grid."""
        from robqunn.params_types import PgdSteps

        return PgdSteps(self.nb_iter, self.eps_iter_fraction, self.rand_init)


class MimMethods:
    @property
    def steps(self) -> MimSteps:
        """These settings without the eps grid."""
        from robqunn.params_types import MimSteps

        return MimSteps(self.nb_iter, self.eps_iter_fraction, self.decay_factor)


class AttackMethods:
    def of(self, attack: AttackName) -> FgsmParams | PgdParams | MimParams:
        """The hyper-parameters of one attack."""
        return getattr(self, AttackName(attack).value)

    @property
    def steps(self) -> AttackSteps:
        """The settings the soundness checks run at budgets of their own."""
        from robqunn.params_types import AttackSteps

        return AttackSteps(self.batch_size, self.pgd.steps, self.mim.steps)


class NoiseMethods:
    @property
    def settings(self) -> list[Noise]:
        """Every (channel, strength) of the section, channel by channel."""
        return [Noise(c, s) for c in NoiseChannel for s in getattr(self, c.value)]

    @property
    def has_versions(self) -> bool:
        """Whether the study has noisy or finite-shot versions of a circuit (then the noise figure is drawn)."""
        return bool(self.circuits) and bool(self.settings or self.shots)
