"""Where the study's files live: every path spelled once, as a pattern.

The patterns hold the placeholders ``{seed}``, ``{model}``, ``{attack}`` and ``{eps}``. The Snakemake
rules use them as their wildcard patterns, ``robqunn.dvcfile`` fills them with DVC's template
variables to write dvc.yaml, and :class:`StudyFiles` fills them with values for the stages and the
CLI. The folders (``*_DIR``) are what a DVC stage over one seed writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from robqunn.config import AttackParams, ExactParams
from robqunn.vocabulary import EXACT, AttackName

PREPARED = "data/prepared/seed{seed}.npz"
PREPARED_SIDECAR = "data/prepared/seed{seed}.json"
FEATURES_DIR = "data/features/seed{seed}"
FEATURES = FEATURES_DIR + "/{model}.npz"
MODELS_DIR = "models/seed{seed}"
MODEL = MODELS_DIR + "/{model}.keras"
TRAIN_METRICS_DIR = "results/train/seed{seed}"
TRAIN_METRICS = TRAIN_METRICS_DIR + "/{model}.json"
ADVERSARIAL_DIR = "results/adversarial/seed{seed}"
ATTACK_DIR = ADVERSARIAL_DIR + "/{attack}"
ATTACK_MODEL_DIR = ATTACK_DIR + "/{model}"
ADVERSARIAL_NAME = "eps{eps}.npz"
ADVERSARIAL = ATTACK_MODEL_DIR + "/" + ADVERSARIAL_NAME
EXACT_DIR = "results/exact/seed{seed}"
EXACT_TABLE = EXACT_DIR + "/{model}.csv"
TABLES_DIR = "results/tables/seed{seed}"
TABLE = TABLES_DIR + "/results.csv"
TABLE_PARQUET = TABLES_DIR + "/results.parquet"
EVALUATION_PART = TABLES_DIR + "/parts/{attack}/{source}/{target}.parquet"  # workflow.jobs per_eps: one evaluation
SUMMARY_NAME = "summary.csv"
SUMMARY = TABLES_DIR + "/" + SUMMARY_NAME
SUMMARY_HTML_NAME = "summary.html"  # the same table, readable in the report (robqunn.report)
SUMMARY_HTML = TABLES_DIR + "/" + SUMMARY_HTML_NAME
WHITEBOX_CURVES_NAME = "whitebox_curves.csv"
WHITEBOX_CURVES = TABLES_DIR + "/" + WHITEBOX_CURVES_NAME
# Figures are named by their stem: each is written as .png and .svg.
FIGURES_DIR = "results/figures/seed{seed}"
WHITEBOX_FIGURE_STEM = "fig3_whitebox_{attack}"
TRANSFER_FIGURE_STEM = "fig3_transfer_{direction}"
EXAMPLES_FIGURE_STEM = "examples_{model}"
ATTACK_GAP_FIGURE_STEM = "attack_gap"
WHITEBOX_FIGURE = FIGURES_DIR + "/" + WHITEBOX_FIGURE_STEM + ".png"
TRANSFER_FIGURE = FIGURES_DIR + "/" + TRANSFER_FIGURE_STEM + ".png"
EXAMPLES_FIGURE = FIGURES_DIR + "/" + EXAMPLES_FIGURE_STEM + ".png"
ATTACK_GAP_FIGURE = FIGURES_DIR + "/" + ATTACK_GAP_FIGURE_STEM + ".png"
CIRCUITS_DIR = "results/circuits/seed{seed}"
CIRCUIT_FIGURE_NAME = "circuit_{circuit}.png"  # circuit: <ansatz>-<layout>
CIRCUIT_FIGURE = CIRCUITS_DIR + "/" + CIRCUIT_FIGURE_NAME
CHECKS_DIR = "results/checks/seed{seed}"
CHECKS = CHECKS_DIR + "/{model}.json"
RADII_DIR = "results/radii/seed{seed}"
RADII = RADII_DIR + "/{model}.json"
ANSATZ_METRICS_DIR = "results/ansatz"
ANSATZ_METRICS = ANSATZ_METRICS_DIR + "/seed{seed}.csv"
STUDY_DIR = "results/study"
STUDY_TABLES = ("headline", "results", "summary_ci", "checklist", "claims", "ansatz_metrics", "radii")  # <name>.csv
STUDY_TABLE_NAME = "{name}.csv"
STUDY_HTML_NAME = "{name}.html"  # the report's readable copy of a table (robqunn.report)
STUDY_REPORT_TABLES = ("headline", "claims", "checklist", "summary_ci", "ansatz_metrics", "radii")  # HTML, report order
STUDY_METRICS_NAME = "metrics.json"
STUDY_METRICS = STUDY_DIR + "/" + STUDY_METRICS_NAME
#: One small JSON per model with the headline numbers (robqunn.stats.headline): `dvc metrics show` lists them.
HEADLINE_DIR = STUDY_DIR + "/headline"
HEADLINE_METRICS = HEADLINE_DIR + "/{model}.json"
STUDY_FIGURES_DIR = STUDY_DIR + "/figures"
WHITEBOX_CI_STEM = "whitebox_ci"
TRANSFER_CI_STEM = "transfer_ci"
ROBUSTNESS_FIGURE_STEM = "robustness_vs_entanglement_{attack}"
NOISE_FIGURE_STEM = "robustness_vs_noise"
SWEEP_DIR = "results/sweep"
SWEEP_DRAW = SWEEP_DIR + "/draws/seed{seed}/draw{draw}.csv"
SWEEP_TABLES = ("sweep", "variance", "correlations")  # each <name>.csv in SWEEP_DIR
SELECTION_SUMMARY = "selection_summary"  # the circuit choice over seeds (robqunn.sweep.selection_summary)
SELECTION_TABLES = ("selection", SELECTION_SUMMARY)  # with sweep.n_validation > 0: the circuit choice
SWEEP_FIGURE_STEM = "robustness_vs_readout_eps{eps}"

TRANSFER_DIRECTIONS = ("cnn_to_qunn", "qunn_to_cnn")


def eps_label(eps: float) -> str:
    """An eps as it appears in file names (``eps0.05.npz``)."""
    return f"{eps:g}"


def _attack_name(attack: AttackName | str) -> str:
    return EXACT if attack == EXACT else AttackName(attack).value


def study_table(name: str) -> str:
    """One of the study's tables (:data:`STUDY_TABLES`) as a path."""
    return STUDY_DIR + "/" + STUDY_TABLE_NAME.format(name=name)


def study_html(name: str) -> str:
    """The HTML page of one of :data:`STUDY_REPORT_TABLES`, for the report."""
    return STUDY_DIR + "/" + STUDY_HTML_NAME.format(name=name)


def sweep_table(name: str) -> str:
    """One of the sweep's tables (:data:`SWEEP_TABLES`, :data:`SELECTION_TABLES`) as a path."""
    return f"{SWEEP_DIR}/{name}.csv"


def sweep_tables(n_validation: int) -> tuple[str, ...]:
    """The names of the sweep's tables: the circuit choice's too when validation digits are held out."""
    return SWEEP_TABLES + (SELECTION_TABLES if n_validation > 0 else ())


def study_figure(stem: str, **values: object) -> str:
    """One of the study's figures (a ``*_STEM`` above, filled in) as a .png path."""
    return f"{STUDY_FIGURES_DIR}/{stem.format(**values)}.png"


@dataclass(frozen=True)
class StudyFiles:
    """The files of a study rooted at ``root``: the patterns above, filled in."""

    root: Path = Path(".")

    def path(self, pattern: str, **values: object) -> Path:
        return self.root / pattern.format(**values)

    def prepared(self, seed: int) -> Path:
        return self.path(PREPARED, seed=seed)

    def features(self, seed: int, model: str) -> Path:
        return self.path(FEATURES, seed=seed, model=model)

    def model(self, seed: int, model: str) -> Path:
        return self.path(MODEL, seed=seed, model=model)

    def train_metrics(self, seed: int, model: str) -> Path:
        return self.path(TRAIN_METRICS, seed=seed, model=model)

    def adversarial_dir(self, seed: int, model: str, attack: AttackName | str) -> Path:
        """The folder of one (model, attack)'s sets, one ``eps<eps>.npz`` per eps (attack: one of
        AttackName, or ``exact`` for the worst-case sets of the exact verification)."""
        return self.path(ATTACK_MODEL_DIR, seed=seed, attack=_attack_name(attack), model=model)

    def adversarial(self, seed: int, model: str, attack: AttackName | str, eps: float) -> Path:
        return self.path(ADVERSARIAL, seed=seed, attack=_attack_name(attack), model=model, eps=eps_label(eps))

    def adversarial_sets(
        self, attack_params: AttackParams, seed: int, models: list[str], attacks: list[AttackName] | None = None
    ) -> list[Path]:
        """Every set the study crafts for ``models``: each attack (default: all) at each eps of its grid."""
        return [
            self.adversarial(seed, model, attack, eps)
            for model in models
            for attack in attacks or list(AttackName)
            for eps in attack_params.of(attack).eps
        ]

    def exact_sets(self, exact: ExactParams, seed: int, models: list[str]) -> list[Path]:
        """The worst-case sets of the exact verification of ``models``, one per eps of its grid."""
        return [self.adversarial(seed, model, EXACT, eps) for model in models for eps in exact.eps]

    def exact_table(self, seed: int, model: str) -> Path:
        return self.path(EXACT_TABLE, seed=seed, model=model)

    def table(self, seed: int) -> Path:
        return self.path(TABLE, seed=seed)

    def figures(self, seed: int) -> Path:
        return self.path(FIGURES_DIR, seed=seed)

    def circuits(self, seed: int) -> Path:
        return self.path(CIRCUITS_DIR, seed=seed)

    def checks(self, seed: int, model: str) -> Path:
        return self.path(CHECKS, seed=seed, model=model)

    def radii(self, seed: int, model: str) -> Path:
        return self.path(RADII, seed=seed, model=model)

    def ansatz_metrics(self, seed: int) -> Path:
        return self.path(ANSATZ_METRICS, seed=seed)

    def sweep_draw(self, seed: int, draw: int) -> Path:
        return self.path(SWEEP_DRAW, seed=seed, draw=draw)

    def sweep(self) -> Path:
        """The folder of the sweep's tables and figure."""
        return self.path(SWEEP_DIR)

    def study(self) -> Path:
        """The folder of the study across seeds."""
        return self.path(STUDY_DIR)
