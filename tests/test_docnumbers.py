"""The docs' robustness numbers are written from five-seed tables (robqunn.docnumbers): the committed docs match
what docs/numbers gives, and the words a sentence picks follow the seeds. Synthetic tables below; no runs."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from robqunn import docnumbers
from robqunn.cli import main
from robqunn.errors import RobqunnError

ROOT = Path(__file__).resolve().parents[1]
SEEDS = [42, 1, 2, 3, 4]
N = 1000


def test_the_docs_say_what_their_tables_give():
    """No number of a block edited by hand, no block left behind by a new table: `robqunn docs-numbers --check`."""
    assert docnumbers.update_documents(ROOT, check=True) == [], "run `robqunn docs-numbers` and commit the docs"


def test_every_document_has_its_blocks_and_every_renderer_is_used():
    names = [m["name"] for doc in docnumbers.DOCUMENTS for m in docnumbers.BLOCK.finditer((ROOT / doc).read_text())]
    assert sorted(set(names)) == sorted(docnumbers.RENDERERS)


def _rows(model: str, attack: str, eps: float, correct: list[int]) -> list[dict]:
    return [
        dict(
            seed=seed, source=model, target=model, kind="white-box", attack=attack, eps=eps, n_correct=c, n_evaluated=N
        )
        for seed, c in zip(SEEDS, correct, strict=True)
    ]


def _study(accuracies: dict[str, list[int]]) -> pd.DataFrame:
    """Every model with the same counts at every attack and eps but its own exact and worst-case ones at 0.05."""
    rows = []
    for model, correct in accuracies.items():
        for attack in ("exact", "worst_case", "fgsm", "pgd", "mim"):
            for eps in docnumbers.DOC_EPS:
                counts = correct if attack in ("exact", "worst_case") and eps == 0.05 else [900] * len(SEEDS)
                rows += _rows(model, attack, eps, counts)
    return pd.DataFrame(rows)


def _numbers(dep: list[int], torch_cnn: list[int] | None = None) -> docnumbers.Numbers:
    noise = _study({"cnn": [100] * 5, "qunn-full-ent_rot": [200, 210, 190, 205, 195], "qunn-full-ent_rot-dep0.1": dep})
    bias = _study({"cnn": torch_cnn or [600] * 5})
    readouts = pd.DataFrame(
        [
            dict(seed=seed, model=model, cos_weight=w + 0.01 * seed, black_slope=1.0)
            for seed in SEEDS
            for model, w in (("qunn-full-ent_rot", 0.4), ("qunn-full-ent_rot-dep0.1", 0.6))
        ]
    )
    tables = {name: docnumbers.extract(frame, name) for name, frame in (("noise", noise), ("bias", bias))}
    return docnumbers.Numbers(tables | {docnumbers.READOUTS: readouts})


def test_a_sentence_says_every_seed_only_when_every_seed_agrees():
    everywhere = docnumbers.readme_noise(_numbers(dep=[600, 610, 590, 605, 595]))
    assert "depolarizing clearly at every strength studied, on every seed" in everywhere
    one_seed_lower = docnumbers.readme_noise(_numbers(dep=[600, 610, 590, 605, 150]))
    assert "depolarizing clearly at every strength studied, not on every seed" in one_seed_lower
    findings = docnumbers.noise_findings(_numbers(dep=[600, 610, 590, 605, 150]))
    assert "higher on 4 of 5 seeds" in findings


def test_the_interval_decides_clearly_and_the_seeds_decide_every_seed():
    numbers = _numbers(dep=[600] * 5, torch_cnn=[600, 600, 600, 150, 150])
    ((model, comparison),) = docnumbers.qunn_vs_cnn(numbers, cnn=("bias", "cnn"))
    assert model == "qunn-full-ent_rot" and comparison.n_lower == 3 and docnumbers.verdict(comparison) == "not clear"
    bullet = docnumbers.readme_bias(numbers)
    assert (
        "over five seeds is above the QuNNs' for all of them, "
        "clearly (the paired difference's interval above zero) for none of them" in bullet
    )
    assert "and on every seed for none of them" in bullet
    assert not re.search(r"\b0\.\d+\b|%", bullet), "the README holds no result number"


def test_the_tables_show_mean_interval_and_the_seeds_range():
    table = docnumbers.five_seed_exact(_numbers(dep=[600] * 5))
    assert "| CNN | **0.100 [0.100, 0.100]** | 0.100–0.100 |" in table
    assert "| full, `ent_rot` | **0.200 [0.190, 0.210]** | 0.190–0.210 |" in table
    assert "Seeds 1, 2, 3, 4, 42" in table


def test_the_mechanism_table_pairs_each_seeds_share_with_its_gain():
    text = docnumbers.noise_mechanism(_numbers(dep=[600, 610, 590, 605, 150]))
    assert "| noiseless (full, `ent_rot`) | 0.410, 0.420, 0.430, 0.440, 0.820 |" in text
    assert (
        "| depolarizing 0.1 | +0.200, +0.200, +0.200, +0.200, +0.200 | +0.400, +0.400, +0.400, -0.045, +0.400 |" in text
    )


def test_a_readout_flip_leaves_the_flat_share_and_depolarizing_raises_it():
    """The readout statistics the docs keep, from the circuits themselves: a bit flip scales every <Z_j> by 1 - 2p
    (the share is unchanged), depolarizing damps the multi-qubit sin terms more (the share rises)."""
    from robqunn.config import load_params

    models = ["qunn-full-ent_rot-flip0.05", "qunn-full-ent_rot-dep0.1"]
    table = pd.DataFrame({"seed": [42, 7], "model": models})
    readouts = docnumbers.readout_table(table, load_params(ROOT / "params.yaml").circuit).set_index(["seed", "model"])
    for seed in (42, 7):
        noiseless = readouts.at[(seed, "qunn-full-ent_rot"), "cos_weight"]
        assert readouts.at[(seed, models[0]), "cos_weight"] == pytest.approx(noiseless, abs=1e-12)
        assert readouts.at[(seed, models[1]), "cos_weight"] > noiseless


def test_only_white_box_rows_at_the_docs_eps_are_kept():
    table = _study({"cnn": [100] * 5})
    extra = [table.assign(eps=0.3), table.assign(kind="transfer", target="qunn-none-rot_ent")]
    kept = docnumbers.extract(pd.concat([table, *extra]), "results.csv")
    assert sorted(kept["eps"].unique()) == list(docnumbers.DOC_EPS) and set(kept["model"]) == {"cnn"}
    assert list(kept.columns) == docnumbers.COLUMNS


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (_study({"cnn": [100] * 5}).query("seed == 42"), r"results.csv holds 1 seed\(s\)"),
        (_study({"cnn": [100] * 5}).drop(columns="n_evaluated"), r"lacks the columns \['n_evaluated'\]"),
    ],
)
def test_a_table_that_cannot_give_intervals_is_refused(table, message):
    with pytest.raises(RobqunnError, match=message):
        docnumbers.extract(table, "results.csv")


def test_studies_that_disagree_on_a_shared_model_are_refused():
    numbers = _numbers(dep=[600] * 5)
    shared = _study({"cnn": [600] * 5, "qunn-full-ent_rot": [200, 210, 190, 205, 194]})
    numbers.tables["bias"] = docnumbers.extract(shared, "bias")
    with pytest.raises(RobqunnError, match="qunn-full-ent_rot differs between docs/numbers/bias.csv and noise.csv"):
        docnumbers.check_shared_models(numbers)


def _project(tmp_path: Path, bad: str = "") -> Path:
    numbers = _numbers(dep=[600] * 5)
    (tmp_path / docnumbers.NUMBERS_DIR).mkdir(parents=True)
    for name, table in numbers.tables.items():
        table.to_csv(tmp_path / docnumbers.NUMBERS_DIR / f"{name}.csv", index=False)
    for name in docnumbers.FILES:
        if name.startswith("select_"):
            shutil.copy(ROOT / docnumbers.NUMBERS_DIR / f"{name}.csv", tmp_path / docnumbers.NUMBERS_DIR)
    for i, doc in enumerate(docnumbers.DOCUMENTS):
        block = bad if i == len(docnumbers.DOCUMENTS) - 1 and bad else "noise-findings"
        (tmp_path / doc).parent.mkdir(exist_ok=True)
        (tmp_path / doc).write_text(f"# {doc}\n<!-- numbers: {block} -->\nold\n<!-- /numbers -->\ntail\n")
    return tmp_path


def _said(caplog) -> str:
    """What the command logged since the last call."""
    text = caplog.text
    caplog.clear()
    return text


def test_the_command_rewrites_the_blocks_and_then_checks_clean(tmp_path, caplog):
    root = _project(tmp_path)
    assert main(["docs-numbers", "--workdir", str(root), "--check"]) == 2
    assert "are not what docs/numbers gives" in _said(caplog)
    assert main(["docs-numbers", "--workdir", str(root)]) == 0
    text = (root / "README.md").read_text()
    assert "old" not in text and "**depolarizing 0.1** raises" in text and text.endswith("<!-- /numbers -->\ntail\n")
    assert main(["docs-numbers", "--workdir", str(root), "--check"]) == 0


def test_an_unknown_block_leaves_every_document_as_it_was(tmp_path, caplog):
    root = _project(tmp_path, bad="no-such-block")
    before = {doc: (root / doc).read_text() for doc in docnumbers.DOCUMENTS}
    assert main(["docs-numbers", "--workdir", str(root)]) == 2
    assert "docs/noise.md: unknown numbers block 'no-such-block'" in _said(caplog)
    assert {doc: (root / doc).read_text() for doc in docnumbers.DOCUMENTS} == before


def test_from_needs_a_known_study_with_intervals(tmp_path, caplog):
    root = _project(tmp_path)
    one_seed = tmp_path / "study" / "results" / "study"
    one_seed.mkdir(parents=True)
    _study({"cnn": [100] * 5}).query("seed == 42").to_csv(one_seed / "results.csv", index=False)
    assert main(["docs-numbers", "--workdir", str(root), "--from", f"noise={tmp_path / 'study'}"]) == 2
    assert "holds 1 seed(s): the docs' numbers need intervals over seeds" in _said(caplog)
    assert main(["docs-numbers", "--workdir", str(root), "--from", "sweep=x"]) == 2
    assert "the docs stand on the studies ['bias', 'noise', 'select']" in _said(caplog)
    assert main(["docs-numbers", "--workdir", str(root), "--from", "noise"]) == 2
    assert "--from takes STUDY=FOLDER" in _said(caplog)
    assert np.array_equal(pd.read_csv(root / docnumbers.NUMBERS_DIR / "noise.csv")["seed"].unique(), sorted(SEEDS))
