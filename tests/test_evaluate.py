"""Tests of robqunn.evaluate: transfer pairs, the tidy table, the summary."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from robqunn.artifacts import AdversarialSet
from robqunn.errors import DataError
from robqunn.evaluate import (
    COLUMNS,
    attack_gaps,
    evaluate_set,
    results_table,
    save_table,
    summary,
    transfer_targets,
    worst_case,
)

MODELS = ["cnn", "qunn-full-ent_rot", "qunn-none-rot_ent"]


def row(source, target, attack, eps, correct, n=100, seed=42):
    kind = "white-box" if source == target else "transfer"
    values = [seed, source, target, kind, attack, eps, correct, n, correct / n, np.nan, pd.NA]
    return dict(zip(COLUMNS, values, strict=True))


def evaluated(attack: str, correct: list[bool], source="cnn", target="cnn", eps=0.1) -> dict:
    """A row as evaluate_set returns it, with its digits' correctness."""
    digits = np.array(correct)
    labels = np.arange(len(digits)) % 10
    return row(source, target, attack, eps, int(digits.sum()), n=len(digits)) | {"correct": digits, "labels": labels}


class TestTransferTargets:
    """Who evaluates whose examples."""

    def test_cnn_to_every_qunn(self):
        """CNN examples go to the CNN itself and every QuNN."""
        assert transfer_targets("cnn", MODELS, False) == MODELS

    def test_qunn_to_cnn(self):
        """QuNN examples go to the QuNN itself and the CNN only..."""
        assert transfer_targets("qunn-full-ent_rot", MODELS, False) == ["qunn-full-ent_rot", "cnn"]

    def test_qunn_to_qunn_when_asked(self):
        """...and to the other QuNNs when transfer_between_qunns is on."""
        assert transfer_targets("qunn-full-ent_rot", MODELS, True) == ["qunn-full-ent_rot", "cnn", "qunn-none-rot_ent"]


class TestTable:
    """One row per (seed, source, target, attack, eps), with counts."""

    def test_evaluate_set_counts(self):
        """Accuracy is n_correct / n_evaluated of the argmax predictions."""
        x_adv, y = np.zeros((4, 28, 28), np.float32), np.array([0, 1, 2, 3])
        adversarial = AdversarialSet(x_adv, y, y.copy(), "cnn", "pgd", 0.1, 7, {}, model_sha256="ab" * 32)
        predictions = {"cnn": np.eye(10)[[0, 1, 5, 5]], "qunn-full-ent_rot": np.eye(10)[[0, 1, 2, 3]]}
        rows = evaluate_set(
            adversarial,
            {n: n for n in predictions},
            lambda name, model, adv: np.argmax(predictions[model], axis=1) == adv.y,
        )
        assert [(r["target"], r["kind"], r["n_correct"], r["accuracy"]) for r in rows] == [
            ("cnn", "white-box", 2, 0.5),
            ("qunn-full-ent_rot", "transfer", 4, 1.0),
        ]
        assert {(r["seed"], r["source"], r["attack"], r["eps"], r["n_evaluated"]) for r in rows} == {
            (7, "cnn", "pgd", 0.1, 4)
        }

    def test_repeats_refused(self):
        """A repeated (seed, source, target, attack, eps) is an error."""
        with pytest.raises(DataError, match="one row per"):
            results_table([row("cnn", "cnn", "pgd", 0.1, 50), row("cnn", "cnn", "pgd", 0.1, 40)])

    def test_csv_and_parquet_agree(self, tmp_path):
        """Both files hold the same table."""
        table = results_table([row("cnn", "cnn", "pgd", 0.0, 90), row("cnn", "cnn", "pgd", 0.1, 50)])
        save_table(table, tmp_path / "t.csv", tmp_path / "t.parquet")
        from_csv = pd.read_csv(tmp_path / "t.csv", dtype={"n_missed": "Int64"})
        pd.testing.assert_frame_equal(from_csv, pd.read_parquet(tmp_path / "t.parquet"))


class TestWorstCase:
    """A digit counts as robust only if it survives every attack run on it (RobustBench's rule)."""

    def test_survivors_of_every_attack(self):
        """The worst case keeps the digits every attack left standing, is <= each attack digit by digit and
        >= the exact robust accuracy, and gets its own gap to the exact row."""
        attacks = [evaluated("fgsm", [True, True, False, True]), evaluated("pgd", [True, False, True, True])]
        exact = evaluated("exact", [True, False, False, False])
        (worst,) = worst_case(attacks + [exact])
        assert worst["attack"] == "worst_case" and worst["correct"].tolist() == [True, False, False, True]
        assert all((worst["correct"] <= row["correct"]).all() for row in attacks)
        assert worst["accuracy"] == 0.5 >= exact["accuracy"]
        table = results_table(attack_gaps(attacks + [exact, worst])).set_index("attack")
        assert table.loc["worst_case", "attack_gap"] == pytest.approx(0.25) and table.loc["worst_case", "n_missed"] == 1

    def test_one_row_per_model_and_eps(self):
        """Other eps, other models and transfer rows make their own worst cases, or none (transfer)."""
        rows = [evaluated("pgd", [True], eps=0.1), evaluated("pgd", [False], eps=0.2)]
        rows += [evaluated("fgsm", [True], source="qunn-full-ent_rot", target="qunn-full-ent_rot")]
        rows += [evaluated("pgd", [False], target="qunn-full-ent_rot")]
        assert sorted((r["source"], r["eps"], r["accuracy"]) for r in worst_case(rows)) == [
            ("cnn", 0.1, 1.0),
            ("cnn", 0.2, 0.0),
            ("qunn-full-ent_rot", 0.1, 1.0),
        ]


class TestAttackGaps:
    """Each white-box attack row beside its model's exact robust accuracy."""

    def test_gap_and_missed_digits(self):
        """Gap = attack accuracy - exact accuracy; missed = digits standing under the attack, broken by exact."""
        rows = attack_gaps(
            [evaluated("pgd", [True, True, False, True]), evaluated("exact", [True, False, False, False])]
        )
        table = results_table(rows).set_index("attack")
        assert table.loc["pgd", "attack_gap"] == pytest.approx(0.5) and table.loc["pgd", "n_missed"] == 2
        assert pd.isna(table.loc["exact", "attack_gap"]) and pd.isna(table.loc["exact", "n_missed"])

    def test_other_digits_refused(self):
        """An attack set and an exact set of different digits cannot be compared digit by digit."""
        rows = [evaluated("pgd", [True, False]), evaluated("exact", [False, False]) | {"labels": np.array([3, 4])}]
        with pytest.raises(DataError, match="must hold the same digits"):
            attack_gaps(rows)

    @pytest.mark.parametrize(
        "other",
        [
            {"eps": 0.2},
            {"source": "qunn-full-ent_rot", "target": "qunn-full-ent_rot"},
            {"target": "qunn-full-ent_rot"},
        ],
        ids=["other-eps", "other-model", "transfer"],
    )
    def test_no_gap_without_its_exact_row(self, other):
        """Rows of another eps, another model, or transfer get no gap."""
        rows = attack_gaps([evaluated("pgd", [True, False], **other), evaluated("exact", [False, False])])
        assert all(pd.isna(r["attack_gap"]) for r in rows)


class TestSummary:
    """Clean accuracy, area under the curve, relative gain over the CNN."""

    def test_numbers(self):
        """AUC is the trapezoid mean accuracy; gain is acc_qunn - acc_cnn at each eps (absolute)."""
        rows = [row("cnn", "cnn", "fgsm", e, c) for e, c in [(0.0, 90), (0.1, 40), (0.2, 10)]]
        rows += [
            row("qunn-full-ent_rot", "qunn-full-ent_rot", "fgsm", e, c) for e, c in [(0.0, 80), (0.1, 60), (0.2, 20)]
        ]
        rows += [row("cnn", "qunn-full-ent_rot", "fgsm", 0.1, 70)]  # transfer rows are not in the summary
        s = summary(results_table(rows)).set_index("model")
        assert s.loc["cnn", "clean_accuracy"] == 0.9
        np.testing.assert_allclose(s.loc["cnn", "auc"], (0.9 + 0.4) / 4 + (0.4 + 0.1) / 4)
        np.testing.assert_allclose(s.loc["qunn-full-ent_rot", "gain_vs_cnn@0.1"], 0.6 - 0.4)
        np.testing.assert_allclose(s.loc["qunn-full-ent_rot", "gain_vs_cnn@0.2"], 0.2 - 0.1)
        assert np.isnan(s.loc["cnn", "gain_vs_cnn@0.1"])


class TestReadResultsTable:
    """A results table is checked when a later stage reads it (figures, aggregate): an edited count or
    accuracy stops the stage, naming the file, the column and the row."""

    ROW = {"seed": 42, "source": "cnn", "target": "cnn", "kind": "white-box", "attack": "pgd", "eps": 0.1}

    def write(self, path, **changes):
        from robqunn.evaluate import COLUMNS

        row = self.ROW | {"n_correct": 30, "n_evaluated": 100, "accuracy": 0.3, "attack_gap": 0.0, "n_missed": 0}
        pd.DataFrame([row | changes], columns=COLUMNS).to_csv(path, index=False)
        return path

    def test_a_valid_table_reads(self, tmp_path):
        from robqunn.evaluate import read_results_table

        assert read_results_table(self.write(tmp_path / "results.csv"))["accuracy"].tolist() == [0.3]

    @pytest.mark.parametrize(
        "changes, column",
        [
            ({"accuracy": 1.3, "n_correct": 130}, "n_correct"),
            ({"accuracy": 1.3}, "accuracy"),
            ({"accuracy": 0.5}, "accuracy"),
            ({"n_evaluated": 0}, "n_evaluated"),
            ({"n_correct": -1, "accuracy": -0.01}, "n_correct"),
        ],
    )
    def test_an_impossible_row_is_refused(self, tmp_path, changes, column):
        from robqunn.evaluate import read_results_table

        with pytest.raises(DataError, match=rf"results\.csv must have 0 <= n_correct .* column '{column}' of row 0"):
            read_results_table(self.write(tmp_path / "results.csv", **changes))

    def test_missing_columns_are_named(self, tmp_path):
        from robqunn.evaluate import read_results_table

        path = tmp_path / "results.csv"
        pd.DataFrame([self.ROW]).to_csv(path, index=False)
        with pytest.raises(DataError, match=r"results\.csv must have the columns"):
            read_results_table(path)
