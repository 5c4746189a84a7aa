"""Tests of robqunn.sweep: the readout statistics in closed form, the draw table, the Snakemake profile."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from conftest import TINY_CHANGES, snakemake, workflow_copy
from robqunn import sweep
from robqunn.circuits import make_circuit_spec
from robqunn.config import SweepParams
from robqunn.errors import DataError
from robqunn.vocabulary import Ansatz, Layout


def spec_with_rotations(params, theta: float):
    """Ansatz none with every Rot(phi, theta, omega) = Rot(0, theta, 0): <Z_j> = cos(pi x_j + theta)."""
    spec = make_circuit_spec(Ansatz.NONE, Layout.ROT_ENT, params.circuit, 42)
    weights = np.zeros_like(spec.rotation_weights)
    weights[:, 1] = theta
    return dataclasses.replace(spec, rotation_weights=weights)


class TestReadoutStatistics:
    """cos(pi x + theta) = cos(theta) cos(pi x) - sin(theta) sin(pi x): both statistics in closed form."""

    @pytest.mark.parametrize("theta", [0.0, np.pi / 2, np.pi / 3, 1.0])
    def test_single_qubit_readout(self, params, theta):
        stats = sweep.readout_statistics(spec_with_rotations(params, theta))
        assert stats["cos_weight"] == pytest.approx(np.cos(theta) ** 2, abs=1e-9)
        assert stats["black_slope"] == pytest.approx(np.pi * abs(np.sin(theta)), abs=1e-9)

    @pytest.mark.parametrize("ansatz", list(Ansatz))
    @pytest.mark.parametrize("layout", list(Layout))
    def test_black_slope_is_the_layers_gradient(self, params, ansatz, layout):
        """black_slope equals the mean norm of the quanvolution layer's Jacobian rows at an all-black patch
        (TensorFlow autodiff of the fast layer), for every circuit."""
        import tensorflow as tf

        from robqunn.quanv import quanvolution_layer

        spec = make_circuit_spec(ansatz, layout, params.circuit, 5)
        black = tf.zeros((1, 28, 28))
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(black)
            features = quanvolution_layer(spec, 2, 2)(black)[0, 0, 0]
            readouts = [features[j] for j in range(spec.n_qubits)]
        jacobian = np.stack([tape.gradient(f, black).numpy()[0, :2, :2].ravel() for f in readouts])
        expected = np.linalg.norm(jacobian, axis=1).mean()
        assert sweep.readout_statistics(spec)["black_slope"] == pytest.approx(expected, rel=1e-5, abs=1e-6)

    def test_entangled_circuit_in_range(self, params):
        spec = make_circuit_spec(Ansatz.FULL, Layout.ENT_ROT, params.circuit, 7)
        stats = sweep.readout_statistics(spec)
        assert 0 <= stats["cos_weight"] <= 1 and stats["black_slope"] >= 0


def test_angles_seed_differs_by_draw_not_by_call():
    seeds = [sweep.angles_seed(42, draw) for draw in range(5)]
    assert len(set(seeds)) == 5 and seeds == [sweep.angles_seed(42, draw) for draw in range(5)]


def tiny_settings() -> SweepParams:
    return SweepParams(False, 2, (Ansatz.NONE,), (Layout.ENT_ROT,), (0.1,), 20, 10, 0)


class TestComplete:
    def table(self) -> pd.DataFrame:
        rows = [{"seed": s, "draw": d, "model": "qunn-none-ent_rot", "eps": 0.1} for s in (42, 7) for d in range(2)]
        return pd.DataFrame(rows)

    def test_complete_passes(self):
        sweep.check_complete(self.table(), tiny_settings(), (42, 7))

    @pytest.mark.parametrize("change", ["missing", "repeated", "unexpected"])
    def test_incomplete_is_named(self, change):
        table = self.table()
        if change == "missing":
            table = table.iloc[1:]
        elif change == "repeated":
            table = pd.concat([table, table.iloc[:1]])
        else:
            table = pd.concat(
                [table, pd.DataFrame([{"seed": 42, "draw": 5, "model": "qunn-none-ent_rot", "eps": 0.1}])]
            )
        with pytest.raises(
            DataError, match="every \\(seed, draw, model, eps\\) of params 'sweep' and 'study.seeds' once"
        ):
            sweep.check_complete(table, tiny_settings(), (42, 7))


class TestSelection:
    """Circuit choice on validation digits (robqunn.sweep.selection_table, selection_summary) on a made-up sweep:
    two seeds, three draws, two circuits."""

    A, B = "qunn-none-ent_rot", "qunn-random-ent_rot"
    VALIDATION = {(42, A): [0.2, 0.5, 0.5], (42, B): [0.6, 0.1, 0.3], (7, A): [0.1, 0.2, 0.3], (7, B): [0.3, 0, 0]}
    TEST = {(42, A): [0.1, 0.4, 0.9], (42, B): [0.3, 0.2, 0.1], (7, A): [0.2, 0.3, 0.5], (7, B): [0.6, 0, 0]}

    def table(self) -> pd.DataFrame:
        rows = [
            {"seed": seed, "draw": draw, "model": model, "eps": 0.1, "validation_lower": validation[draw]}
            | {"robust_accuracy_lower": self.TEST[seed, model][draw], "robust_accuracy_upper": 1.0}
            | {"test_accuracy": 0.9, "n_evaluated": 100, "n_validation": 50}
            for (seed, model), validation in self.VALIDATION.items()
            for draw in range(3)
        ]
        return pd.DataFrame(rows)

    def chosen(self, selection: pd.DataFrame) -> dict:
        return {(r.seed, r.model): (r.chosen_model, r.chosen_draw, r.test) for r in selection.itertuples()}

    def test_the_draw_best_on_validation_ties_to_the_lowest(self):
        selection = sweep.selection_table(self.table())
        assert list(selection.columns) == sweep.SELECTION_COLUMNS
        assert self.chosen(selection) == {
            (42, self.A): (self.A, 1, 0.4),  # draws 1 and 2 tie on validation: the lower draw, whatever its test
            (42, self.B): (self.B, 0, 0.3),
            (42, "any"): (self.B, 0, 0.3),
            (7, self.A): (self.A, 2, 0.5),
            (7, self.B): (self.B, 0, 0.6),
            (7, "any"): (self.B, 0, 0.6),  # ties with A's draw 2 on validation: the lower draw
        }
        row = selection.set_index(["seed", "model"]).loc[(42, self.A)]
        assert row["draws_mean"] == pytest.approx(1.4 / 3) and row["draws_best"] == 0.9 and row["n_candidates"] == 3

    def test_the_choice_never_reads_the_test_digits(self):
        table = self.table()
        shuffled = table.assign(
            robust_accuracy_lower=np.random.default_rng(0).permutation(table["robust_accuracy_lower"])
        )
        columns = ["seed", "model", "chosen_model", "chosen_draw", "validation"]
        pd.testing.assert_frame_equal(sweep.selection_table(table)[columns], sweep.selection_table(shuffled)[columns])

    def test_summary_over_seeds(self):
        summary = sweep.selection_summary(sweep.selection_table(self.table())).set_index("model")
        a = summary.loc[self.A]
        assert a["seeds"] == 2 and a["test_mean"] == pytest.approx(0.45) and (a["min"], a["max"]) == (0.4, 0.5)
        assert a["gain"] == pytest.approx(((0.4 - 1.4 / 3) + (0.5 - 1.0 / 3)) / 2)
        assert a["ci_low"] <= a["test_mean"] <= a["ci_high"] and a["gain_low"] <= a["gain"] <= a["gain_high"]
        assert summary.loc["any", "test_mean"] == pytest.approx(0.45)

    def test_select_table_renders_the_summary(self, tiny_params_file, tmp_path, capsys, caplog):
        """`robqunn select-table` prints the summary as Markdown, one row per (eps, circuit), and the agreement
        line per eps below it; without the summary it names the missing file and what makes it."""
        from robqunn.cli import main

        common = ["--params", str(tiny_params_file), "--workdir", str(tmp_path)]
        assert main(["select-table", *common]) != 0
        assert "run the sweep with params 'sweep.n_validation' > 0" in caplog.text
        folder = tmp_path / "results" / "sweep"
        folder.mkdir(parents=True)
        selection = sweep.selection_table(self.table())
        frames = {
            "sweep": self.table(),
            "selection": selection,
            "selection_summary": sweep.selection_summary(selection),
        }
        for name, frame in frames.items():
            frame.to_csv(folder / f"{name}.csv", index=False)
        assert main(["select-table", *common]) == 0
        out = capsys.readouterr().out.splitlines()
        rows = [line for line in out if line.startswith("| 0.1 |")]
        assert len(rows) == 3 and rows[0].startswith("| 0.1 | none-ent_rot | 2 | 0.450 [")
        assert out[-1] == sweep.selection_agreement(frames["sweep"], selection)

    def test_agreement_of_the_validation_and_test_digits(self):
        """Below the table: how often the chosen draw is the test's best (4 of the 6 cells here), the largest
        shortfall (`any` on seed 42: 0.9 - 0.3), and which circuit the choice among all took."""
        table = self.table()
        line = sweep.selection_agreement(table, sweep.selection_table(table))
        r = np.corrcoef(table["validation_lower"], table["robust_accuracy_lower"])[0, 1]
        assert line == (
            f"- ε = 0.1: validation vs test correlation {r:.3f} over 12 (seed, draw, circuit); the chosen draw is the "
            "test's best in 4 of 6 (seed, circuit) cells, at most 0.600 below it; `any` took random-ent_rot 2"
        )

    def test_without_validation_digits_nothing_is_chosen(self):
        table = self.table().assign(validation_lower=np.nan)
        with pytest.raises(DataError, match="'sweep.n_validation' must be above 0"):
            sweep.selection_table(table)


def test_sweep_draw_rows(params, digits):
    """One draw on 300 training digits, 40 held out: a row per circuit and eps, exact bounds in order on the test
    and the validation digits, seeded; circuits with one readout polynomial share one training."""
    small = dataclasses.replace(digits, x_train=digits.x_train[:300], y_train=digits.y_train[:300])
    recipe = sweep.Recipe(params.circuit, dataclasses.replace(params.train, epochs=1), params.exact)
    settings = dataclasses.replace(tiny_settings(), ansatze=(Ansatz.NONE, Ansatz.RANDOM), eps=(0.05, 0.1))
    settings = dataclasses.replace(settings, layouts=(Layout.ROT_ENT, Layout.ENT_ROT), n_validation=40)
    table = sweep.sweep_draw(settings, recipe, small, 42, 0)
    assert list(table.columns) == sweep.COLUMNS and len(table) == 8
    assert (table["n_validation"] == 40).all() and (table["validation_lower"] <= table["validation_upper"]).all()
    # ansatz none has no entanglers: its two layouts are one circuit, trained once, with equal results
    none = table[table["ansatz"] == "none"].drop(columns=["model", "layout"])
    pd.testing.assert_frame_equal(none.iloc[:2].reset_index(drop=True), none.iloc[2:].reset_index(drop=True))
    assert (table["robust_accuracy_lower"] <= table["robust_accuracy_upper"]).all()
    by_eps = table.pivot(index="model", columns="eps", values="robust_accuracy_upper")
    assert (by_eps[0.1] <= by_eps[0.05]).all()  # a larger ball breaks at least as many digits
    pd.testing.assert_frame_equal(table, sweep.sweep_draw(settings, recipe, small, 42, 0))


@pytest.mark.usefixtures("tiny_workflow")  # run after the study's tiny run: the two share the 2 cores
def test_sweep_profile_runs_on_tiny_params(tmp_path):
    """`snakemake --profile workflow/profiles/sweep` builds the sweep (3 draws) and not the study: the
    variance table, the correlations, a figure per eps, and an MLflow run per draw."""
    folder = workflow_copy(tmp_path, TINY_CHANGES)
    result = snakemake(folder, "--profile", "workflow/profiles/sweep", "--cores", "2")
    assert result.returncode == 0, result.stderr[-3000:]
    out = folder / "results" / "sweep"
    table = pd.read_csv(out / "sweep.csv")
    assert sorted(table["draw"].unique()) == [0, 1, 2] and set(table["ansatz"]) == {"none", "random"}
    variance = pd.read_csv(out / "variance.csv")
    assert np.isclose(variance["share"].sum(), 1.0) and (variance["share_low"] <= variance["share_high"]).all()
    assert len(pd.read_csv(out / "correlations.csv")) == 2  # two statistics, one layout, one eps
    assert (out / "robustness_vs_readout_eps0.02.png").stat().st_size > 1000
    assert not (folder / "results" / "tables").exists()  # the study did not run
    selection = pd.read_csv(out / "selection.csv")  # tiny params hold 30 training digits out to choose on
    assert (selection["n_validation"] == 30).all() and set(selection["model"]) == set(table["model"]) | {"any"}
    assert (selection["test"] <= selection["draws_best"]).all()
    assert set(pd.read_csv(out / "selection_summary.csv")["model"]) == set(selection["model"])
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{folder / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["robqunn"], filter_string="tags.`robqunn.stage` = 'sweep_draw'")
    assert sorted(runs["params.draw"].astype(int)) == [0, 1, 2]
