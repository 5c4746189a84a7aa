"""Tests of the `robqunn` command."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import REPO, TINY_CHANGES, write_params
from robqunn.cli import main

STAGES = ("prepare", "features", "train", "attack", "exact", "evaluate", "figures", "circuits", "checks")
STAGES += ("ansatz_metrics", "aggregate")


class TestCommands:
    """Each subcommand runs from the command line and prints what a user needs."""

    def test_help(self):
        """`robqunn --help` lists one subcommand per stage and the tools, without importing TensorFlow."""
        code = "import sys; from robqunn.cli import main\ntry: main(['--help'])\nexcept SystemExit: pass\n"
        out = subprocess.run(
            [sys.executable, "-c", code + "print('tensorflow' in sys.modules)"], capture_output=True, text=True
        )
        assert out.returncode == 0 and out.stdout.rstrip().endswith("False")
        listed = {line.split()[0] for line in out.stdout.splitlines() if line.startswith("    ") and line.split()}
        assert set(STAGES) | {"ansatz", "bench", "dvc-yaml"} <= listed and "study" not in listed

    def test_no_abbreviations(self, tiny_params_file, capsys):
        """An abbreviated option is refused instead of being taken for another (argparse's prefix matching)."""
        with pytest.raises(SystemExit):
            main(["prepare", "--param", str(tiny_params_file)])
        assert "unrecognized arguments: --param" in capsys.readouterr().err

    def test_one_model_and_attack(self, tiny_params_file, tmp_path, capsys):
        """--model, --attack and --eps narrow a command to one model, one attack, a few budgets."""
        common = ["--params", str(tiny_params_file), "--workdir", str(tmp_path), "--model", "cnn"]
        assert main(["prepare", *common[:4]]) == 0
        assert main(["features", *common]) == 0 and main(["train", *common]) == 0
        assert main(["attack", *common, "--attack", "pgd", "--eps", "0", "0.2"]) == 0
        written = sorted(p.relative_to(tmp_path).as_posix() for p in (tmp_path / "results").rglob("*.npz"))
        assert written == [
            "results/adversarial/seed42/pgd/cnn/eps0.2.npz",
            "results/adversarial/seed42/pgd/cnn/eps0.npz",
        ]
        assert not (tmp_path / "models" / "seed42" / "qunn-full-ent_rot.keras").exists()

    @pytest.mark.parametrize("command", ["attack", "exact"])
    @pytest.mark.parametrize("bad", ["2", "-0.1", "nan", "inf", "x"])
    def test_a_bad_eps_is_refused_before_any_work(self, tiny_params_file, tmp_path, capsys, command, bad):
        """`--eps 2` (or -0.1, nan, inf, x) is a usage error naming --eps; nothing is written."""
        common = ["--params", str(tiny_params_file), "--workdir", str(tmp_path), "--model", "cnn"]
        with pytest.raises(SystemExit) as exit_info:
            main([command, *common, "--eps", "0", bad])
        assert exit_info.value.code == 2
        assert f"argument --eps: must be a finite number in [0, 1] (pixels are in [0, 1]); got '{bad}'" in (
            capsys.readouterr().err
        )
        assert not (tmp_path / "results").exists()

    @pytest.mark.parametrize("bad", ["-1", "4294967296", "1.5", "1 || touch x"])
    def test_a_bad_seed_is_refused_before_any_work(self, tiny_params_file, tmp_path, capsys, bad):
        with pytest.raises(SystemExit) as exit_info:
            main(["prepare", "--params", str(tiny_params_file), "--workdir", str(tmp_path), "--seed", bad])
        assert exit_info.value.code == 2
        assert f"argument --seed: must be an integer in [0, 4294967295] (a numpy seed); got '{bad}'" in (
            capsys.readouterr().err
        )
        assert not (tmp_path / "data").exists()

    @pytest.mark.parametrize("command", ["attack", "exact"])
    def test_a_repeated_eps_is_refused(self, tiny_params_file, tmp_path, caplog, command):
        common = ["--params", str(tiny_params_file), "--workdir", str(tmp_path), "--model", "cnn"]
        assert main([command, *common, "--eps", "0", "0.0", "0.1"]) == 2
        assert "--eps must not repeat a budget; got [0.0, 0.0, 0.1] (repeated: [0.0])" in caplog.text
        assert not (tmp_path / "results").exists()

    def test_dvc_yaml_check(self, tmp_path, caplog):
        """`robqunn dvc-yaml --check` passes on the repository and fails on a stale file, naming it."""
        params = ["--params", str(REPO / "params.yaml")]
        assert main(["dvc-yaml", "--check", *params, "--workdir", str(REPO)]) == 0
        (tmp_path / "dvc.yaml").write_text("stages: {}\n")
        assert main(["dvc-yaml", "--check", *params, "--workdir", str(tmp_path)]) == 2
        assert "dvc.yaml must be what `robqunn dvc-yaml` writes" in caplog.text
        assert main(["dvc-yaml", *params, "--workdir", str(tmp_path)]) == 0
        assert main(["dvc-yaml", "--check", *params, "--workdir", str(tmp_path)]) == 0
        (tmp_path / ".dvc" / "plots" / "accuracy_vs_eps.json").write_text("{}")  # the plot template drifts
        assert main(["dvc-yaml", "--check", *params, "--workdir", str(tmp_path)]) == 2

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
        assert "TensorFlow conditional binomials" in out and "x TensorFlow's speed" in out

    def test_bench_attack(self, tiny_params_file, capsys):
        """`robqunn bench attack` prints PGD speed on the CNN and a QuNN, and their ratio."""
        assert main(["bench", "attack", "--params", str(tiny_params_file)]) == 0
        out = capsys.readouterr().out
        nb_iter = TINY_CHANGES[("attack", "pgd")]["nb_iter"]
        assert f"PGD-{nb_iter} on cnn" in out and f"PGD-{nb_iter} on qunn-full-ent_rot" in out
        assert "QuNN attack cost" in out

    def test_bench_loops_tiny(self, tiny_params_file, capsys):
        """`robqunn bench loops` times each compiled loop against what it replaced, with the same results."""
        assert main(["bench", "loops", "--params", str(tiny_params_file)]) == 0
        rows = [
            line for line in capsys.readouterr().out.splitlines() if line.startswith(("training", "SPSA", "ansatz"))
        ]
        assert [row.split()[0] for row in rows] == ["training", "SPSA", "training", "SPSA", "ansatz"]
        assert all("  yes  " in row for row in rows), rows

    def test_workflow_timings_against_targets(self):
        """The workflow benchmark's table flags a run over its target and gives the baseline ratio."""
        from robqunn.bench.workflow import RunTiming, format_workflow_timings

        timings = [
            RunTiming("cold", 700.0, "60 of 60", 600.0),
            RunTiming("nothing to do", 2.0, "nothing to be done", 10.0),
            RunTiming("one process", 350.0, "-", None),
        ]
        lines = format_workflow_timings(timings).splitlines()
        assert lines[1].endswith("OVER TARGET") and lines[2].endswith("within target")
        assert lines[-1].endswith("2.00x")

    def test_exact_timings_against_targets(self):
        """The exact benchmark's radii table compares the radii with one verification at one nonzero eps (the
        grid's seconds over its nonzero budgets) and flags a model over the target."""
        from robqunn.bench.exact import RADII_TARGET, ExactTiming, format_exact_timings

        def timing(model: str, radii_seconds: float) -> ExactTiming:
            return ExactTiming(
                model, "relu", 50, (0.0, 0.1, 0.2), 1.0, 4.0, (0.9, 0.5, 0.1), ((0.9, 0.9), (0.5, 0.6), (0.1, 0.1)),
                0.0, 0, 10.0, 10, 2000, 1e-4, radii_seconds, (0.05, 0.052), 0.98,
            )  # fmt: skip

        text = format_exact_timings([timing("cnn", 2.0 * RADII_TARGET - 1), timing("qunn", 2.0 * RADII_TARGET + 1)])
        rows = text.split("certified radius of each digit")[1].splitlines()[2:]
        assert rows[0].split()[:4] == ["cnn", "2.0", f"{2 * RADII_TARGET - 1:.1f}", f"{RADII_TARGET - 0.5:.1f}x"]
        assert rows[0].endswith("within target") and rows[1].endswith("OVER TARGET")
        assert "[0.0500, 0.0520]" in rows[0] and "98.0%" in rows[0]

    def test_rule_costs_from_the_jobs_logs(self, tmp_path):
        """Per rule (attacks per attack): jobs, summed CPU seconds, the largest peak memory, from the line
        each job's log ends with; a job that did not end (no such line) is left out. The heaviest job is
        judged against the memory target."""
        from robqunn.bench.workflow import (
            PEAK_MEMORY_TARGET_MB,
            RuleCost,
            RunTiming,
            format_workflow_timings,
            rule_costs,
        )

        records = {
            "model_train/seed1/cnn.log": (3.0, 900.0),
            "model_train/seed1/qunn-full-rot_ent.log": (4.5, 950.0),
            "attack/seed1/pgd/cnn.log": (2.0, 700.0),
            "attack/seed1/fgsm/cnn.log": (1.0, 1600.0),
            "aggregate.log": (5.0, 300.0),
        }
        for name, (cpu, mb) in records.items():
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            end = f"robqunn.runtime DEBUG job ends (exit 0): tensorflow=yes; cpu {cpu:.2f} s, peak memory {mb:.0f} MB"
            (tmp_path / name).write_text(f"2026-11-26 robqunn INFO working\n2026-11-26 {end}\n")
        (tmp_path / "model_train" / "seed1" / "failed.log").write_text("robqunn ERROR job failed\n")
        costs = rule_costs(tmp_path)
        assert costs == [
            RuleCost("aggregate", 1, 5.0, 300.0),
            RuleCost("attack fgsm", 1, 1.0, 1600.0),
            RuleCost("attack pgd", 1, 2.0, 700.0),
            RuleCost("model_train", 2, 7.5, 950.0),
        ]
        timings = [RunTiming("cold", 1.0, "5 of 5", 2.0), RunTiming("no-op", 1.0, "-", 2.0)]
        text = format_workflow_timings(timings, costs)
        assert f"heaviest job: attack fgsm, 1600 MB (target {PEAK_MEMORY_TARGET_MB:.0f}): OVER TARGET" in text
        assert "one-process" not in text  # no baseline measured

    def test_startup_timings_against_targets(self):
        """The start-up table judges each probe with a target and gives the baseline ratio."""
        from robqunn.bench.startup import StartupTiming, format_startup_timings

        timings = [
            StartupTiming("python", 0.01, None),
            StartupTiming("baseline", 6.0, None),
            StartupTiming("tf job", 3.0, 2.5),
            StartupTiming("no tf job", 0.5, 1.0),
        ]
        lines = format_startup_timings(timings).splitlines()
        assert lines[3].endswith("OVER TARGET") and lines[4].endswith("within target")
        assert lines[-1].endswith("2.00x")


class TestErrors:
    """Bad input ends with exit status 2 and a message naming the problem."""

    def test_bad_params_key(self, tmp_path, caplog):
        """An invalid ansatz in params.yaml is named with the valid choices."""
        bad = write_params(tmp_path / "params.yaml", {("study", "ansatze"): ["full", "ring"]})
        assert main(["prepare", "--params", str(bad), "--workdir", str(tmp_path)]) == 2
        assert "study.ansatze" in caplog.text and "'ring'" in caplog.text
        assert not (tmp_path / "data").exists()

    def test_missing_params_file(self, tmp_path, caplog):
        """A missing params file is named."""
        assert main(["prepare", "--params", str(tmp_path / "nope.yaml")]) == 2
        assert "nope.yaml" in caplog.text


@pytest.mark.slow
class TestSlowRuns:
    """The workflow benchmark on the tiny params (the default study runs in tests/test_workflow.py)."""

    def test_bench_workflow_tiny(self, tiny_params_file, capsys, monkeypatch):
        """`robqunn bench workflow` runs the tiny study cold, again (nothing to do), and in one process."""
        monkeypatch.chdir(REPO)
        assert main(["bench", "workflow", "--params", str(tiny_params_file)]) == 0
        out = capsys.readouterr().out
        assert "28 of 28" in out and "nothing to be done" in out and "every stage in one process" in out
        assert "heaviest job:" in out and "model_train " in out  # the per-rule table from the jobs' logs

    def test_bench_startup(self, capsys):
        """`robqunn bench startup` measures every probe; a job without TensorFlow stays within 1 CPU s."""
        assert main(["bench", "startup"]) == 0
        out = capsys.readouterr().out
        assert "TensorFlow job, plain import and teardown (baseline)" in out
        assert "job without TensorFlow (prepare, figures)" in out.split("within target")[0].splitlines()[-1]
