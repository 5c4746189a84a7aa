"""Tests of the `robqunn` command."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from conftest import REPO, TINY_CHANGES, write_params
from robqunn.cli import main


class TestCommands:
    """Each subcommand runs from the command line and prints what a user needs."""

    def test_help(self):
        """`robqunn --help` lists the subcommands, without importing TensorFlow."""
        out = subprocess.run(
            [sys.executable, "-c", "import sys; from robqunn.cli import main; main(['--help'])"],
            capture_output=True,
            text=True,
        )
        assert out.returncode == 0
        for command in ("study", "prepare", "features", "train", "ansatz", "bench"):
            assert command in out.stdout

    def test_study_tiny(self, tiny_params_file, tmp_path, capsys):
        """`robqunn study` prepares, computes features and trains every model of the params."""
        assert main(["study", "--params", str(tiny_params_file), "--workdir", str(tmp_path)]) == 0
        out = capsys.readouterr().out
        for name in ("cnn", "qunn-full-ent_rot", "qunn-random-ent_rot"):
            assert name in out
            assert (tmp_path / "models" / "seed42" / f"{name}.keras").is_file()
            assert (tmp_path / "data" / "features" / "seed42" / f"{name}.npz").is_file()
        assert (tmp_path / "data" / "prepared" / "seed42.json").is_file()
        table = pd.read_parquet(tmp_path / "results" / "tables" / "seed42" / "results.parquet")
        # 3 models x 3 attacks x 2 eps white-box, plus CNN -> 2 QuNNs and 2 QuNNs -> CNN transfer.
        assert len(table) == 3 * 3 * 2 + 4 * 3 * 2
        assert set(table["kind"]) == {"white-box", "transfer"}
        clean = table[table["eps"] == 0]
        assert (clean.groupby("target")["accuracy"].nunique() == 1).all()  # eps 0: clean accuracy, any attack
        figures = tmp_path / "results" / "figures" / "seed42"
        for stem in ("fig3_whitebox_pgd", "fig3_transfer_cnn_to_qunn", "fig3_transfer_qunn_to_cnn", "examples_cnn"):
            assert (figures / f"{stem}.png").is_file() and (figures / f"{stem}.svg").is_file()
        summary = tmp_path / "results" / "tables" / "seed42" / "summary.csv"
        assert set(pd.read_csv(summary)["model"]) == {"cnn", "qunn-full-ent_rot", "qunn-random-ent_rot"}
        checklist = pd.read_csv(tmp_path / "results" / "study" / "checklist.csv")
        assert set(checklist["model"]) == {"cnn", "qunn-full-ent_rot", "qunn-random-ent_rot"}
        assert (tmp_path / "results" / "study" / "figures" / "whitebox_ci.png").is_file()

    def test_stage_commands(self, tiny_params_file, tmp_path, capsys):
        """prepare, features and train chained by hand, as a workflow would."""
        common = ["--params", str(tiny_params_file)]
        data, features = tmp_path / "d.npz", tmp_path / "f.npz"
        assert main(["prepare", *common, "--out", str(data)]) == 0
        assert main(["features", *common, "--model", "cnn", "--data", str(data), "--out", str(features)]) == 0
        args = ["--model", "cnn", "--data", str(data), "--features", str(features)]
        outputs = ["--out", str(tmp_path / "m.keras"), "--metrics", str(tmp_path / "m.json")]
        assert main(["train", *common, *args, *outputs]) == 0
        assert "cnn: test accuracy" in capsys.readouterr().out
        attack = ["--model", "cnn", "--model-file", str(tmp_path / "m.keras"), "--data", str(data)]
        assert (
            main(["attack", *common, *attack, "--attack", "pgd", "--eps", "0", "0.2", "--out-dir", str(tmp_path)]) == 0
        )
        sets = [tmp_path / "eps0.npz", tmp_path / "eps0.2.npz"]
        (tmp_path / "m.keras").rename(tmp_path / "cnn.keras")
        table = tmp_path / "table.csv"
        models = ["--models", str(tmp_path / "cnn.keras")]
        assert main(["evaluate", *common, *models, "--sets", *map(str, sets), "--out", str(table)]) == 0
        assert len(pd.read_csv(table)) == 2 and (tmp_path / "table.parquet").is_file()
        plot = ["--table", str(table), "--examples", str(sets[1]), "--data", str(data), "--out-dir", str(tmp_path)]
        assert main(["plot", *common, *plot]) == 0
        assert (tmp_path / "fig3_whitebox_pgd.png").is_file() and (tmp_path / "examples_cnn.png").is_file()

    @pytest.mark.parametrize("layout, visible", [("rot_ent", False), ("ent_rot", True)])
    def test_ansatz(self, layout, visible, tmp_path, capsys):
        """`robqunn ansatz` shows the diagram, whether the entanglers act, and the readout polynomial."""
        figure = tmp_path / "full.png"
        params = str(REPO / "params.yaml")
        assert (
            main(["ansatz", "--params", params, "--ansatz", "full", "--layout", layout, "--figure", str(figure)]) == 0
        )
        out = capsys.readouterr().out
        assert f"entanglers change the readout: {visible}" in out
        assert "IsingZZ" in out and "<Z_3> =" in out and figure.is_file()

    def test_bench_quanv(self, tiny_params_file, capsys):
        """`robqunn bench quanv` prints the three paths and the ratios."""
        assert main(["bench", "quanv", "--params", str(tiny_params_file)]) == 0
        out = capsys.readouterr().out
        assert "one QNode call per patch" in out and "broadcast" in out and "fast layer" in out
        assert "fast fwd+grad cost / fast forward cost" in out

    def test_bench_attack(self, tiny_params_file, capsys):
        """`robqunn bench attack` prints PGD speed on the CNN and a QuNN, and their ratio."""
        assert main(["bench", "attack", "--params", str(tiny_params_file)]) == 0
        out = capsys.readouterr().out
        nb_iter = TINY_CHANGES[("attack", "pgd")]["nb_iter"]
        assert f"PGD-{nb_iter} on cnn" in out and f"PGD-{nb_iter} on qunn-full-ent_rot" in out
        assert "QuNN attack cost" in out

    def test_workflow_timings_against_targets(self):
        """The workflow benchmark's table flags a run over its target and gives the baseline ratio."""
        from robqunn.bench import RunTiming, format_workflow_timings

        timings = [
            RunTiming("cold", 700.0, "60 of 60", 600.0),
            RunTiming("nothing to do", 2.0, "nothing to be done", 10.0),
            RunTiming("one process", 350.0, "-", None),
        ]
        lines = format_workflow_timings(timings).splitlines()
        assert lines[1].endswith("OVER TARGET") and lines[2].endswith("within target")
        assert lines[-1].endswith("2.00x")


class TestErrors:
    """Bad input ends with exit status 2 and a message naming the problem."""

    def test_bad_params_key(self, tmp_path, caplog):
        """An invalid ansatz in params.yaml is named with the valid choices."""
        bad = write_params(tmp_path / "params.yaml", {("study", "ansatze"): ["full", "ring"]})
        assert main(["study", "--params", str(bad), "--workdir", str(tmp_path)]) == 2
        assert "study.ansatze" in caplog.text and "'ring'" in caplog.text
        assert not (tmp_path / "data").exists()

    def test_missing_params_file(self, tmp_path, caplog):
        """A missing params file is named."""
        assert main(["study", "--params", str(tmp_path / "nope.yaml")]) == 2
        assert "nope.yaml" in caplog.text


@pytest.mark.slow
class TestSlowRuns:
    """The whole default study from the command line (about four minutes); the workflow benchmark."""

    def test_default_study(self, tmp_path, capsys):
        """Every model of the default params trains; CNN >= 0.85 and every QuNN >= 0.80."""
        assert main(["study", "--params", str(REPO / "params.yaml"), "--workdir", str(tmp_path)]) == 0
        rows = [line.split() for line in capsys.readouterr().out.splitlines()[1:]]
        assert len(rows) == 11
        for _, model, acc, _ in rows:
            assert float(acc) >= (0.85 if model == "cnn" else 0.80)

    def test_bench_workflow_tiny(self, tiny_params_file, capsys, monkeypatch):
        """`robqunn bench workflow` runs the tiny study cold (25 jobs), again (nothing to do), and in one process."""
        monkeypatch.chdir(REPO)
        assert main(["bench", "workflow", "--params", str(tiny_params_file)]) == 0
        out = capsys.readouterr().out
        assert "25 of 25" in out and "nothing to be done" in out and "one-process study" in out
