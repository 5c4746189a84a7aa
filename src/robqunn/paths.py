"""Where the study's files live, relative to a working directory.

The same layout is spelled as wildcard patterns in workflow/rules/*.smk and as templated paths in
dvc.yaml; tests/test_dvc.py checks that the three agree for a given params.yaml.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from robqunn.config import AttackName, AttackParams


@dataclass(frozen=True)
class StudyFiles:
    """The files of a study rooted at ``root``."""

    root: Path = Path(".")

    def prepared(self, seed: int) -> Path:
        return self.root / "data" / "prepared" / f"seed{seed}.npz"

    def features(self, seed: int, model: str) -> Path:
        return self.root / "data" / "features" / f"seed{seed}" / f"{model}.npz"

    def model(self, seed: int, model: str) -> Path:
        return self.root / "models" / f"seed{seed}" / f"{model}.keras"

    def train_metrics(self, seed: int, model: str) -> Path:
        return self.root / "results" / "train" / f"seed{seed}" / f"{model}.json"

    def adversarial_dir(self, seed: int, model: str, attack: AttackName | str) -> Path:
        return self.root / "results" / "adversarial" / f"seed{seed}" / model / AttackName(attack).value

    def adversarial_sets(
        self, attack_params: AttackParams, seed: int, models: list[str], attacks: list[AttackName] | None = None
    ) -> list[Path]:
        """Every set the study crafts for ``models``: each attack (default: all) at each eps of its grid."""
        return [
            self.adversarial_dir(seed, model, attack) / f"eps{eps:g}.npz"
            for model in models
            for attack in attacks or list(AttackName)
            for eps in attack_params.of(attack).eps
        ]

    def table(self, seed: int) -> Path:
        """The results table (.csv; the .parquet beside it)."""
        return self.root / "results" / "tables" / f"seed{seed}" / "results.csv"

    def figures(self, seed: int) -> Path:
        return self.root / "results" / "figures" / f"seed{seed}"

    def circuits(self, seed: int) -> Path:
        return self.root / "results" / "circuits" / f"seed{seed}"

    def checks(self, seed: int, model: str) -> Path:
        return self.root / "results" / "checks" / f"seed{seed}" / f"{model}.json"

    def ansatz_metrics(self, seed: int) -> Path:
        return self.root / "results" / "ansatz" / f"seed{seed}.csv"

    def study(self) -> Path:
        """The study across seeds."""
        return self.root / "results" / "study"
