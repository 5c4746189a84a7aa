"""The docs' numbers: the robustness statements of README.md and docs/, written from five-seed studies' tables.

A statement about robustness is a finding only if it holds across seeds: a QuNN's robust accuracy is a lottery of
its circuit's angles, and a sentence true on seed 42 can be false on seed 7. So the docs do not copy numbers by
hand. ``robqunn docs-numbers --from NAME=FOLDER`` keeps the per-seed white-box accuracies of a finished study (its
``results/study/results.csv`` at :data:`DOC_EPS`) as ``docs/numbers/NAME.csv``, and rewrites every marked block of
the docs from those files::

    <!-- numbers: BLOCK -->
    (written by `robqunn docs-numbers`)
    <!-- /numbers -->

A block gives a mean over seeds with its 95% t-interval (:mod:`robqunn.stats`, the study's own intervals) and the
seeds' range; a comparison, the difference paired by seed with its interval and on how many seeds it points each
way. A README sentence (which holds no number) picks its words from the same comparisons: "on every seed" only
where it holds on every seed. ``robqunn docs-numbers --check`` renders the blocks again and fails on any difference,
and a test runs it: a number edited by hand, or a block that no longer matches its table, fails the suite.

The studies (:data:`STUDIES`): ``noise``, the noise profile's run (the five-seed default study plus full-ent_rot
under each noise channel), and ``bias``, the bias profile's (the CNN with PyTorch's default bias, same seeds). A
model in both must have the same counts in both (:func:`check_shared_models`). With
the noise study the command also keeps the mechanism's statistics of each seed's noisy and noiseless readout
(``docs/numbers/noise_readout.csv``, :func:`robqunn.sweep.readout_statistics`), so that the docs check on every seed
the account that noise works by reshaping the readout.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from robqunn.config import load_params
from robqunn.errors import RobqunnError
from robqunn.io import atomic_path
from robqunn.noise import NoiseChannel
from robqunn.params_types import CircuitParams
from robqunn.stats import Interval, accuracy_interval, difference_interval
from robqunn.vocabulary import EXACT, WORST_CASE, Ansatz, AttackName, Layout, ModelSpec, TrainMethod

#: The studies the docs stand on, and the profile that runs each.
STUDIES = {"noise": "workflow/profiles/noise", "bias": "workflow/profiles/bias", "select": "workflow/profiles/select"}
#: The select study's tables: results/sweep/<name>.csv of its folder, kept as docs/numbers/select_<name>.csv.
SELECT_TABLES = ("selection_summary", "sweep", "selection")
NUMBERS_DIR = Path("docs") / "numbers"
#: The files whose blocks are rendered (relative to the repository's root).
DOCUMENTS = ("README.md", "docs/results.md", "docs/noise.md")
#: The budgets the docs quote: 0 (clean accuracy), the claims' low eps and twice it.
DOC_EPS = (0.0, 0.05, 0.1)
MAIN_EPS = 0.05
COLUMNS = ["seed", "model", "attack", "eps", "n_correct", "n_evaluated"]
READOUTS = "noise_readout"  # docs/numbers/<READOUTS>.csv: seed, model, cos_weight, black_slope
#: Every file of docs/numbers (its name without .csv) and the study it comes from.
FILES = {"noise": "noise", READOUTS: "noise", "bias": "bias"} | {f"select_{name}": "select" for name in SELECT_TABLES}
BLOCK = re.compile(r"(<!-- numbers: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /numbers -->)", re.S)
CHANNEL_WORDS = {
    NoiseChannel.DEPOLARIZING: "depolarizing",
    NoiseChannel.AMPLITUDE_DAMPING: "amplitude damping",
    NoiseChannel.READOUT: "readout flip",
}


def extract(results: pd.DataFrame, source: str | Path) -> pd.DataFrame:
    """The per-seed white-box rows of a study's results table (``source`` names it in errors) at :data:`DOC_EPS`."""
    missing = {"seed", "source", "target", "kind", "attack", "eps", "n_correct", "n_evaluated"} - set(results)
    if missing:
        raise RobqunnError(f"{source} is not a study's results table: it lacks the columns {sorted(missing)}")
    white = results[(results["kind"] == "white-box") & (results["source"] == results["target"])]
    white = white[np.isclose(white["eps"].to_numpy()[:, None], DOC_EPS).any(axis=1)]
    n_seeds = white["seed"].nunique()
    if n_seeds < 2:
        raise RobqunnError(
            f"{source} holds {n_seeds} seed(s): the docs' numbers need intervals over seeds; run the study with "
            f"the profiles of {sorted(STUDIES.values())}"
        )
    table = white.rename(columns={"target": "model"})[COLUMNS]
    return table.sort_values(COLUMNS[:4], kind="stable").reset_index(drop=True)


@dataclass(frozen=True)
class Point:
    """One accuracy over seeds: its interval and the per-seed values."""

    interval: Interval
    values: np.ndarray


@dataclass(frozen=True)
class Comparison:
    """Accuracy(a) - accuracy(b), paired by seed."""

    interval: Interval
    differences: np.ndarray

    @property
    def n_higher(self) -> int:
        return int((self.differences > 0).sum())

    @property
    def n_lower(self) -> int:
        return int((self.differences < 0).sum())

    @property
    def n_seeds(self) -> int:
        return len(self.differences)


class Numbers:
    """The docs' tables (:data:`FILES`): per study of the attacks, its per-seed white-box accuracies
    (:func:`extract`); the noise study's readouts; the select study's sweep tables."""

    def __init__(self, tables: dict[str, pd.DataFrame]):
        self.tables = tables

    @classmethod
    def read(cls, folder: Path) -> Numbers:
        tables = {}
        for name, study in FILES.items():
            path = folder / f"{name}.csv"
            if not path.exists():
                raise RobqunnError(
                    f"no {path}: run `snakemake --profile {STUDIES[study]}` in a study folder, then "
                    f"`robqunn docs-numbers --from {study}=<that folder>`"
                )
            tables[name] = pd.read_csv(path)
        return cls(tables)

    def rows(self, study: str, model: str, attack: str, eps: float) -> pd.DataFrame:
        table = self.tables[study]
        rows = table[(table["model"] == model) & (table["attack"] == attack) & np.isclose(table["eps"], eps)]
        if rows.empty:
            raise RobqunnError(f"docs/numbers/{study}.csv has no {attack} accuracy of {model} at eps {eps:g}")
        return rows.sort_values("seed")

    def point(self, study: str, model: str, attack: str, eps: float) -> Point:
        rows = self.rows(study, model, attack, eps)
        interval = accuracy_interval(rows["n_correct"].to_numpy(), rows["n_evaluated"].to_numpy())
        return Point(interval, (rows["n_correct"] / rows["n_evaluated"]).to_numpy())

    def compare(self, a: tuple[str, str], b: tuple[str, str], attack: str, eps: float) -> Comparison:
        """Model a of study a[0] against model b of study b[0], on the same seeds."""
        first, second = self.rows(*a, attack, eps), self.rows(*b, attack, eps)
        if list(first["seed"]) != list(second["seed"]):
            raise RobqunnError(f"{a[1]} ({a[0]}) and {b[1]} ({b[0]}) were run on other seeds; compare like with like")
        paired = first.merge(second, on="seed", suffixes=("_a", "_b"))
        differences = paired["n_correct_a"] / paired["n_evaluated_a"] - paired["n_correct_b"] / paired["n_evaluated_b"]
        return Comparison(difference_interval(first, second), differences.to_numpy())

    def models(self, study: str, noisy: bool = False) -> list[str]:
        """The study's standard-head models without shots: the CNN first, then the QuNNs by layout and ansatz; the
        noiseless ones, or (``noisy``) the noisy ones by channel and strength."""
        specs = [ModelSpec.from_name(name) for name in self.tables[study]["model"].unique()]
        chosen = [
            s for s in specs if s.shots is None and s.method is TrainMethod.STANDARD and (s.noise is not None) == noisy
        ]
        return [spec.name for spec in sorted(chosen, key=_model_order)]

    def seeds(self, study: str) -> list[int]:
        return sorted(int(seed) for seed in self.tables[study]["seed"].unique())


def _model_order(spec: ModelSpec) -> tuple:
    if spec.is_cnn:
        return (0,)
    noise = (list(NoiseChannel).index(spec.noise.channel), spec.noise.strength) if spec.noise else (-1, 0.0)
    return (1, list(Layout).index(spec.layout), list(Ansatz).index(spec.ansatz), noise)


def model_label(model: str) -> str:
    """A model as the docs' tables name it: "CNN", "full, `ent_rot`", "depolarizing 0.1"."""
    spec = ModelSpec.from_name(model)
    if spec.is_cnn:
        return "CNN"
    if spec.noise:
        return f"{CHANNEL_WORDS[spec.noise.channel]} {spec.noise.strength:g}"
    return f"{spec.ansatz.value}, `{spec.layout.value}`"


def accuracy_text(point: Point) -> str:
    interval = point.interval
    return f"{interval.mean:.3f} [{interval.low:.3f}, {interval.high:.3f}]"


def range_text(point: Point) -> str:
    return f"{point.values.min():.3f}–{point.values.max():.3f}"


def difference_text(comparison: Comparison) -> str:
    interval = comparison.interval
    return f"{interval.mean:+.3f} [{interval.low:+.3f}, {interval.high:+.3f}]"


def seeds_text(count: int, n_seeds: int) -> str:
    """ "every seed", "no seed" or "3 of 5 seeds"."""
    if count == n_seeds:
        return "every seed"
    return "no seed" if count == 0 else f"{count} of {n_seeds} seeds"


def verdict(comparison: Comparison) -> str:
    """Whether the 95% interval of the difference excludes 0, and which way."""
    if comparison.interval.low > 0:
        return "clearly higher"
    return "clearly lower" if comparison.interval.high < 0 else "not clear"


def markdown_table(header: list[str], rows: Iterable[list[str]]) -> str:
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(":--" if i == 0 else "--:" for i in range(len(header))) + "|",
    ]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows]) + "\n"


def _seeds_line(numbers: Numbers, study: str) -> str:
    seeds = numbers.seeds(study)
    return (
        f"Seeds {', '.join(map(str, seeds))} (`snakemake --profile {STUDIES[study]}`, `docs/numbers/{study}.csv`); "
        f"mean [95% t-interval over the {len(seeds)} seeds, clipped to [0, 1]], white-box, "
        f"{int(numbers.tables[study]['n_evaluated'].max()):,} digits per seed."
    )


def five_seed_whitebox(numbers: Numbers) -> str:
    """Clean accuracy and FGSM/PGD at eps 0.05 and 0.1, per model of the default study."""
    columns = [(EXACT, 0.0)] + [
        (attack, eps) for attack in (AttackName.FGSM.value, AttackName.PGD.value) for eps in DOC_EPS[1:]
    ]
    rows = [
        [model_label(model)] + [accuracy_text(numbers.point("noise", model, attack, eps)) for attack, eps in columns]
        for model in numbers.models("noise")
    ]
    header = ["model", "clean"] + [f"{attack.upper()} ε={eps:g}" for attack, eps in columns[1:]]
    return _seeds_line(numbers, "noise") + "\n\n" + markdown_table(header, rows)


def five_seed_exact(numbers: Numbers) -> str:
    """Exact robust accuracy (with the seeds' range) and the attacks' worst case, per model, at eps 0.05 and 0.1."""
    rows = []
    for model in numbers.models("noise"):
        row = [model_label(model)]
        for eps in DOC_EPS[1:]:
            exact = numbers.point("noise", model, EXACT, eps)
            worst = numbers.point("noise", model, WORST_CASE, eps)
            row += [f"**{accuracy_text(exact)}**", range_text(exact), accuracy_text(worst)]
        rows.append(row)
    header = ["model"] + [
        f"{name} ε={eps:g}" for eps in DOC_EPS[1:] for name in ("exact", "seeds' range", "attacks' worst case")
    ]
    return _seeds_line(numbers, "noise") + "\n\n" + markdown_table(header, rows)


def qunn_vs_cnn(numbers: Numbers, cnn: tuple[str, str] = ("noise", "cnn")) -> list[tuple[str, Comparison]]:
    """Every noiseless QuNN's exact robust accuracy at MAIN_EPS against a CNN, paired by seed."""
    return [
        (model, numbers.compare(("noise", model), cnn, EXACT, MAIN_EPS))
        for model in numbers.models("noise")
        if model != "cnn"
    ]


def _comparison_rows(comparisons: list[tuple[str, Comparison]]) -> list[list[str]]:
    return [
        [model_label(model), difference_text(c), seeds_text(c.n_higher, c.n_seeds), verdict(c)]
        for model, c in comparisons
    ]


def five_seed_qunn_vs_cnn(numbers: Numbers) -> str:
    comparisons = qunn_vs_cnn(numbers)
    cnn = numbers.point("noise", "cnn", EXACT, MAIN_EPS)
    clear = sum(c.interval.low > 0 for _, c in comparisons)
    everywhere = sum(c.n_higher == c.n_seeds for _, c in comparisons)
    header = ["QuNN", f"exact ε={MAIN_EPS:g}: QuNN − CNN", "seeds where the QuNN is higher", "95% interval"]
    return (
        f"The zero-bias CNN keeps {accuracy_text(cnn)} (seeds {range_text(cnn)}) at ε = {MAIN_EPS:g}. Against it, "
        f"paired by seed: {clear} of {len(comparisons)} QuNNs are clearly more robust (the interval above 0), "
        f"{everywhere} are more robust on every seed.\n\n" + markdown_table(header, _comparison_rows(comparisons))
    )


def bias_table(numbers: Numbers) -> str:
    """The CNN with PyTorch's default bias against the zero-bias CNN and every QuNN, exact, at MAIN_EPS."""
    torch_cnn = ("bias", "cnn")
    rows = []
    for eps in DOC_EPS[1:]:
        for label, (study, model) in (
            ("CNN, `torch_default` bias", torch_cnn),
            ("CNN, `zeros` bias", ("noise", "cnn")),
        ):
            point = numbers.point(study, model, EXACT, eps)
            rows.append([label, f"{eps:g}", accuracy_text(point), range_text(point)])
    comparisons = [
        (model, numbers.compare(torch_cnn, ("noise", model), EXACT, MAIN_EPS)) for model in numbers.models("noise")
    ]
    compare_rows = [
        [model_label(model), difference_text(c), seeds_text(c.n_higher, c.n_seeds), verdict(c)]
        for model, c in comparisons
    ]
    header = [
        "against",
        f"exact ε={MAIN_EPS:g}: `torch_default` CNN − it",
        "seeds where the CNN is higher",
        "95% interval",
    ]
    return (
        _seeds_line(numbers, "bias")
        + "\n\n"
        + markdown_table(["model", "ε", "exact robust accuracy", "seeds' range"], rows)
        + "\n"
        + markdown_table(header, compare_rows)
    )


def check_shared_models(numbers: Numbers) -> None:
    """A QuNN of the bias study (the bias is the CNN's, so its QuNN is the noise study's own) must have the same
    exact counts in both: one model, not two."""
    shared = (set(numbers.tables["bias"]["model"]) & set(numbers.tables["noise"]["model"])) - {"cnn"}
    for model in sorted(shared):
        for eps in DOC_EPS:
            a, b = numbers.rows("bias", model, EXACT, eps), numbers.rows("noise", model, EXACT, eps)
            if list(a["n_correct"]) != list(b["n_correct"]):
                raise RobqunnError(f"{model} differs between docs/numbers/bias.csv and noise.csv: not one model")


def noise_comparisons(numbers: Numbers) -> list[tuple[str, Comparison]]:
    """Each noisy model's exact robust accuracy at MAIN_EPS against its noiseless circuit's, paired by seed."""
    return [
        (model, numbers.compare(("noise", model), ("noise", ModelSpec.from_name(model).circuit_name), EXACT, MAIN_EPS))
        for model in numbers.models("noise", noisy=True)
    ]


def noise_table(numbers: Numbers) -> str:
    rows = []
    noisy = dict(noise_comparisons(numbers))
    circuits = sorted({ModelSpec.from_name(model).circuit_name for model in noisy})
    for model in [model for circuit in circuits for model in [circuit, *noisy]]:
        clean = numbers.point("noise", model, EXACT, 0.0)
        exact = numbers.point("noise", model, EXACT, MAIN_EPS)
        worst = numbers.point("noise", model, WORST_CASE, MAIN_EPS)
        gain = noisy.get(model)
        rows.append(
            [
                model_label(model) if model in noisy else f"noiseless ({model_label(model)})",
                accuracy_text(clean),
                f"**{accuracy_text(exact)}**",
                range_text(exact),
                accuracy_text(worst),
                difference_text(gain) if gain else "",
                seeds_text(gain.n_higher, gain.n_seeds) if gain else "",
            ]
        )
    header = [
        "model",
        "clean",
        f"exact ε={MAIN_EPS:g}",
        "seeds' range",
        "attacks' worst case",
        "exact − noiseless",
        "seeds where higher",
    ]
    return _seeds_line(numbers, "noise") + "\n\n" + markdown_table(header, rows)


def noise_findings(numbers: Numbers) -> str:
    """One sentence per channel and strength: direction, interval and seeds."""
    lines = []
    for model, c in noise_comparisons(numbers):
        direction = {"clearly higher": "raises", "clearly lower": "lowers", "not clear": "does not clearly change"}
        lines.append(
            f"- **{model_label(model)}** {direction[verdict(c)]} the exact robust accuracy at ε = {MAIN_EPS:g}: "
            f"{difference_text(c)} over the noiseless circuit, higher on {seeds_text(c.n_higher, c.n_seeds)}."
        )
    return "\n".join(lines) + "\n"


def readout_table(table: pd.DataFrame, circuit: CircuitParams) -> pd.DataFrame:
    """Per seed, the readout statistics of every noisy model of ``table`` and of its noiseless circuit."""
    from robqunn.circuits import make_circuit_spec
    from robqunn.sweep import readout_statistics

    specs = [ModelSpec.from_name(name) for name in table["model"].unique()]
    noisy = [spec for spec in specs if spec.noise is not None and spec.shots is None]
    models = sorted({ModelSpec.from_name(spec.circuit_name) for spec in noisy} | set(noisy), key=_model_order)
    rows = [
        {"seed": int(seed), "model": spec.name}
        | readout_statistics(make_circuit_spec(spec.ansatz, spec.layout, circuit, int(seed), spec.noise))
        for seed in sorted(table["seed"].unique())
        for spec in models
    ]
    return pd.DataFrame(rows)


def _mechanism_pairs(numbers: Numbers) -> tuple[list[list[str]], list[float], list[float]]:
    """The mechanism table's rows, and per (noisy model, seed) the change of the cos-only share and of exact
    robust accuracy."""
    readouts = numbers.tables[READOUTS].set_index(["seed", "model"])
    seeds = numbers.seeds("noise")
    comparisons = noise_comparisons(numbers)
    rows, share_changes, gains = [], [], []
    for circuit in sorted({ModelSpec.from_name(model).circuit_name for model, _ in comparisons}):
        shares = ", ".join(f"{readouts.at[(s, circuit), 'cos_weight']:.3f}" for s in seeds)
        rows.append([f"noiseless ({model_label(circuit)})", shares, ""])
    for model, comparison in comparisons:
        circuit = ModelSpec.from_name(model).circuit_name
        changes = [readouts.at[(s, model), "cos_weight"] - readouts.at[(s, circuit), "cos_weight"] for s in seeds]
        share_changes += changes
        gains += list(comparison.differences)
        rows.append(
            [
                model_label(model),
                ", ".join(f"{change:+.3f}" for change in changes),
                ", ".join(f"{gain:+.3f}" for gain in comparison.differences),
            ]
        )
    return rows, share_changes, gains


def mechanism_correlation(numbers: Numbers) -> float:
    """Spearman's rho of the cos-only share's change and the exact gain over the (noisy model, seed) pairs."""
    _, share_changes, gains = _mechanism_pairs(numbers)
    return float(stats.spearmanr(share_changes, gains).statistic)


def noise_mechanism(numbers: Numbers) -> str:
    """Does each seed's exact gain under noise follow the rise of its readout's flat (cos-only) weight?"""
    rows, _, gains = _mechanism_pairs(numbers)
    header = [
        "model",
        "cos-only share of the readout's weight (noiseless) or its change (noisy), seeds "
        + ", ".join(map(str, numbers.seeds("noise"))),
        f"exact ε={MAIN_EPS:g} − noiseless, same seeds",
    ]
    return markdown_table(header, rows) + (
        f"\nOver the {len(gains)} (seed, noisy model) pairs, the rise of the cos-only share and the rise of the exact "
        f"robust accuracy have Spearman ρ = {mechanism_correlation(numbers):.2f} "
        f"(`robqunn.sweep.readout_statistics`, `docs/numbers/{READOUTS}.csv`).\n"
    )


def circuit_choice(numbers: Numbers) -> str:
    """The select profile's table and agreement lines, as `robqunn select-table` prints them, and the gain in words."""
    from robqunn.sweep import selection_agreement, selection_markdown

    summary = numbers.tables["select_selection_summary"]
    agreement = selection_agreement(numbers.tables["select_sweep"], numbers.tables["select_selection"])
    gains = (summary["gain_low"] > 0).sum()
    return (
        selection_markdown(summary)
        + "\n"
        + agreement
        + f"\n\nThe gain's 95% interval lies above 0 in {gains} of the {len(summary)} (ε, circuit) rows.\n"
    )


def _of_them(count: int, total: int) -> str:
    """Words, not digits (the README holds no result number)."""
    if count == total:
        return "all of them"
    return "none of them" if count == 0 else "some of them (not all)"


SEED_WORDS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight", 9: "nine", 10: "ten"}


def readme_bias(numbers: Numbers) -> str:
    """The README's bias bullet: against how many QuNNs the CNN with PyTorch's default bias wins, in words."""
    comparisons = [c for _, c in qunn_vs_cnn(numbers, cnn=("bias", "cnn"))]
    total, seeds = len(comparisons), len(numbers.seeds("bias"))
    on_average = sum(c.interval.mean < 0 for c in comparisons)  # QuNN - CNN below 0: the CNN is more robust
    clearly = sum(c.interval.high < 0 for c in comparisons)
    every_seed = sum(c.n_lower == c.n_seeds for c in comparisons)
    return (
        "- **The baseline's bias decides \"QuNN vs CNN\"**: with PyTorch's default bias the CNN's mean exact robust "
        f"accuracy over {SEED_WORDS.get(seeds, seeds)} seeds is above the QuNNs' for {_of_them(on_average, total)}, "
        f"clearly (the paired difference's interval above zero) for {_of_them(clearly, total)}, and on every seed for "
        f"{_of_them(every_seed, total)}. [More](docs/results.md#the-cnns-bias).\n"
    )


def _channel_words(comparisons: list[Comparison]) -> str:
    clearly = sum(c.interval.low > 0 for c in comparisons)
    every_seed = sum(c.interval.low > 0 and c.n_higher == c.n_seeds for c in comparisons)
    if clearly == 0:
        return "not clearly"
    strengths = "at every strength studied" if clearly == len(comparisons) else "at some strengths (not all)"
    return f"clearly {strengths}" + (", on every seed" if every_seed == clearly else ", not on every seed")


def readme_noise(numbers: Numbers) -> str:
    """The README's noise bullet: per channel, whether noise clearly raised robustness, and whether the gains
    follow the readout's flat share (the mechanism), in words."""
    by_channel: dict[NoiseChannel, list[Comparison]] = {}
    for model, comparison in noise_comparisons(numbers):
        by_channel.setdefault(ModelSpec.from_name(model).noise.channel, []).append(comparison)
    parts = [f"{CHANNEL_WORDS[channel]} {_channel_words(comparisons)}" for channel, comparisons in by_channel.items()]
    seeds = len(numbers.seeds("noise"))
    follows = "follow" if mechanism_correlation(numbers) > 0.5 else "do not follow"
    return (
        f"- **Noise and robustness, over {SEED_WORDS.get(seeds, seeds)} seeds**: noise raised the exact robust "
        f"accuracy of full `ent_rot`: {'; '.join(parts)}. The noisy models are deterministic, and the gains {follows} "
        "the rise of the readout's terms that are flat at black pixels, seed by seed: noise reshapes the features, "
        "it adds no randomness. Finite shots did not raise robustness (seed 42 only).\n"
        "  [More](docs/noise.md#what-noise-and-shots-did-to-robustness).\n"
    )


RENDERERS: dict[str, Callable[[Numbers], str]] = {
    "five-seed-whitebox": five_seed_whitebox,
    "five-seed-exact": five_seed_exact,
    "five-seed-qunn-vs-cnn": five_seed_qunn_vs_cnn,
    "bias": bias_table,
    "noise-table": noise_table,
    "noise-findings": noise_findings,
    "noise-mechanism": noise_mechanism,
    "circuit-choice": circuit_choice,
    "readme-bias": readme_bias,
    "readme-noise": readme_noise,
}


def render(text: str, numbers: Numbers, source: str) -> str:
    """``text`` with every block rewritten; an unknown block name is an error naming ``source``."""

    def block(match: re.Match) -> str:
        name = match["name"]
        if name not in RENDERERS:
            raise RobqunnError(f"{source}: unknown numbers block {name!r}; known: {sorted(RENDERERS)}")
        return match.group(1) + RENDERERS[name](numbers) + match.group(4)

    return BLOCK.sub(block, text)


def keep_study(root: Path, study: str, folder: Path) -> list[Path]:
    """docs/numbers/<file>.csv of the study run in ``folder`` (all checked before anything is written): the
    per-seed table of its results (for the noise study also its readouts' statistics, from the circuit params of
    the folder's params.yaml), or the select study's sweep tables."""
    if study not in STUDIES:
        raise RobqunnError(f"--from {study}=...: the docs stand on the studies {sorted(STUDIES)}")
    frames = _select_tables(folder) if study == "select" else _attack_tables(study, folder)
    written = []
    for name, frame in frames.items():
        with atomic_path(root / NUMBERS_DIR / f"{name}.csv") as tmp:
            frame.to_csv(tmp, index=False, float_format="%.6g" if study != "select" else None)
        written.append(root / NUMBERS_DIR / f"{name}.csv")
    return written


def _attack_tables(study: str, folder: Path) -> dict[str, pd.DataFrame]:
    source = folder / "results" / "study" / "results.csv"
    if not source.exists():
        raise RobqunnError(f"no {source}: run `snakemake --profile {STUDIES[study]}` in {folder} first")
    table = extract(pd.read_csv(source), source)
    if study != "noise":
        return {study: table}
    return {study: table, READOUTS: readout_table(table, load_params(folder / "params.yaml").circuit)}


def _select_tables(folder: Path) -> dict[str, pd.DataFrame]:
    paths = {name: folder / "results" / "sweep" / f"{name}.csv" for name in SELECT_TABLES}
    missing = [str(path) for path in paths.values() if not path.exists()]
    if missing:
        raise RobqunnError(f"no {missing}: run `snakemake --profile {STUDIES['select']}` in {folder} first")
    tables = {f"select_{name}": pd.read_csv(path) for name, path in paths.items()}
    if tables["select_selection_summary"]["seeds"].min() < 2:
        raise RobqunnError(f"{paths['selection_summary']} holds one seed: the docs' numbers need intervals over seeds")
    return tables


def update_documents(root: Path, check: bool = False) -> list[Path]:
    """Render every block of :data:`DOCUMENTS` from docs/numbers; write the files that changed, or (``check``)
    only list them. All are rendered before any is written, so an error leaves every file as it was."""
    numbers = Numbers.read(root / NUMBERS_DIR)
    check_shared_models(numbers)
    rendered = {}
    for name in DOCUMENTS:
        path = root / name
        text = path.read_text(encoding="utf-8")
        rendered[path] = (text, render(text, numbers, name))
    stale = [path for path, (old, new) in rendered.items() if old != new]
    if not check:
        for path in stale:
            with atomic_path(path) as tmp:
                tmp.write_text(rendered[path][1], encoding="utf-8")
    return stale
