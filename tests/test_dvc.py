"""Tests of the DVC pipeline: dvc.yaml is generated from robqunn.paths, describes the Snakemake workflow's
outputs, reproduces its results, and reruns what a change of the package affects."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import (
    REPO,
    TINY_CHANGES,
    TINY_TWO_MODELS,
    assert_same_on_shared_models,
    dvc_init,
    git,
    model_names,
    needs,
    snakemake,
    workflow_copy,
    write_params,
)
from robqunn import dvcfile, paths, registry, stages, ui
from robqunn.errors import ParamsError

#: The models of the study DVC reproduces (``repro``): the tiny study's CNN and one QuNN, to keep it short.
REPRO_MODELS = model_names(TINY_TWO_MODELS)
STAGE_NAMES = [stage.name for stage in dvcfile.STAGES]


def snakemake_outputs(folder: Path) -> set[str]:
    """Every file the Snakemake DAG would write (`snakemake --summary`), logs excluded."""
    result = snakemake(folder, "--summary")
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith("output_file")
    return {line.split("\t")[0] for line in lines[1:]}


def dvc_outputs(folder: Path) -> set[str]:
    """Every out (files and folders, metrics and plots included) of the stages of dvc.yaml."""
    from dvc.repo import Repo

    with Repo(str(folder)) as repo:
        return {out.def_path for stage in repo.index.stages for out in stage.outs}


ROBQUNN = os.path.join(os.path.dirname(sys.executable), "robqunn")  # the installed command of this venv


def dvc_project(folder: Path, changes: dict) -> Path:
    """dvc.yaml, the package sources it depends on and the params, in a fresh git + DVC project."""
    return dvc_init(workflow_copy(folder, changes))


def dvc(folder: Path, *args: str):
    """`dvc` in ``folder``, with `robqunn` on PATH and MLflow's default store (mlflow.db there)."""
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")])
    return subprocess.run(
        [sys.executable, "-m", "dvc", *args], cwd=folder, capture_output=True, text=True, timeout=900, env=env
    )


def changed_stages(folder: Path) -> set[str]:
    """The stages `dvc status` reports as changed, without their matrix items (``train@42`` -> ``train``)."""
    status = dvc(folder, "status")
    assert status.returncode == 0, status.stderr
    return {name.split("@")[0] for name in re.findall(r"^(\S+):\s*$", status.stdout, flags=re.M)}


@pytest.fixture(scope="module")
def repro(tmp_path_factory):
    """`dvc repro` of the tiny study's CNN and one QuNN in a fresh project (about a minute on 2 cores)."""
    folder = dvc_project(tmp_path_factory.mktemp("dvc"), TINY_TWO_MODELS)
    result = dvc(folder, "repro")
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    return folder


class TestGenerated:
    """dvc.yaml is written from robqunn.paths and the stage list, and names its stages as everything else does."""

    def test_committed_file_is_current(self):
        """The repository's dvc.yaml and its plot template are exactly what `robqunn dvc-yaml` writes."""
        assert dvcfile.is_current(REPO / "dvc.yaml")

    def test_the_plots_draw_each_model_as_the_figures_do(self):
        """DVC's curves take the figures' colours: the CNN black, each ansatz its matplotlib colour (C0-C4), and a
        dash per layout and a point shape per training method (so no two study models look alike)."""
        import json

        from matplotlib.colors import to_hex

        from robqunn.vocabulary import ANSATZ_COLOURS, METHOD_MARKERS

        encoding = json.loads((REPO / dvcfile.PLOTS_TEMPLATE).read_text())["spec"]["encoding"]
        colours = dict(zip(encoding["color"]["scale"]["domain"], encoding["color"]["scale"]["range"], strict=True))
        assert colours == {"cnn": "#000000"} | {a: to_hex(c) for a, c in ANSATZ_COLOURS.items()}
        assert len(set(colours.values())) == len(colours)
        shapes = encoding["shape"]["scale"]
        assert shapes["domain"] == ["standard", *METHOD_MARKERS] and len(set(shapes["range"])) == len(shapes["range"])
        dashes = encoding["strokeDash"]["scale"]["range"]
        assert dashes[0] != dashes[1]  # rot_ent, ent_rot

    def test_one_name_per_stage(self):
        """DVC stages, stage functions, Snakemake rules and workflow scripts share one name per stage; features
        and training run as one Snakemake job (model_train), whichever the cut."""
        rules = set(
            re.findall(
                r"^\s*rule (\w+):", "".join(p.read_text() for p in (REPO / "workflow" / "rules").glob("*.smk")), re.M
            )
        )
        scripts = {path.stem for path in (REPO / "workflow" / "scripts").glob("*.py")}
        assert all(callable(getattr(stages, name).run) for name in STAGE_NAMES + list(dvcfile.SNAKEMAKE_ONLY))
        inside_model_train = set(registry.COMPOSITE_JOBS["model_train"])  # no rule of their own
        assert rules == set(STAGE_NAMES) - inside_model_train | set(dvcfile.SNAKEMAKE_ONLY) == scripts
        assert set(registry.STAGES) == set(STAGE_NAMES) | {"sweep_draw", "sweep"}
        assert set(registry.COMPOSITE_JOBS) <= set(dvcfile.SNAKEMAKE_ONLY)

    def test_every_stage_depends_on_the_package(self):
        """Each stage lists the package among its dependencies, so a code change is a change of the stage."""
        pipeline = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
        assert list(pipeline) == STAGE_NAMES
        assert all(dvcfile.PACKAGE in stage["deps"] for stage in pipeline.values())

    def test_commands_carry_no_params_value(self):
        """A command holds no value of params.yaml: the seed comes from the stage's name (DVC_STAGE), the attack
        from dvc.yaml's own list; every other knob is read from params.yaml by the command."""
        for stage in yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"].values():
            assert set(re.findall(r"\$\{([^}]*)\}", stage["cmd"])) <= {"item.attack"}
            if "attack" in stage.get("matrix", {}):
                assert stage["matrix"]["attack"] == ["fgsm", "pgd", "mim"]

    def test_params_are_the_registry_keys(self):
        """Each stage's params are its registry keys for any model and its grid (robqunn.registry)."""
        pipeline = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
        for name, stage in pipeline.items():
            declared = set(registry.STAGES[name].all_keys()) - ({"study.seeds"} if "matrix" in stage else set())
            if name == "attack":
                declared = {key for key in declared if key.split(".")[1] not in ("fgsm", "pgd", "mim")}
                declared.add("attack.${item.attack}")
            assert set(stage["params"]) == declared, name
            assert not {key for key in stage["params"] if key.startswith("tracking")}, name

    @pytest.mark.parametrize(
        "address, seed", [("prepare@42", 42), ("attack@7-fgsm", 7), ("aggregate", None), ("dvc.yaml:train@7", 7)]
    )
    def test_matrix_seed_from_the_stage_name(self, address, seed):
        assert dvcfile.matrix_seed(address, (42, 7)) == seed

    @pytest.mark.parametrize("address", ["prepare@43", "prepare@$(touch PWNED)", "attack@`id`-fgsm", "train@-1"])
    def test_a_seed_not_of_the_study_is_refused(self, address):
        with pytest.raises(ParamsError, match="params key 'study.seeds'"):
            dvcfile.matrix_seed(address, (42, 7))


class TestOutputs:
    """dvc.yaml describes the Snakemake workflow's outputs."""

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


class TestRepro:
    """`dvc repro` reproduces the Snakemake results and reruns what a change affects."""

    def test_repro_gives_the_snakemake_results(self, repro, tiny_workflow):
        """The same tiny params give, through DVC's `robqunn <stage>` commands, the files Snakemake's jobs wrote:
        every per-model file byte for byte, the tables row for row on the models both hold."""
        assert_same_on_shared_models(repro / "results", tiny_workflow / "results", REPRO_MODELS)

    def test_every_stage_command_writes_the_study(self, repro):
        """Each stage's command wrote its files: the models, the results table (white-box per model, attack or
        exact or worst case, and eps; transfer both ways), the figures and each model's checks."""
        for name in REPRO_MODELS:
            assert (repro / "models" / "seed42" / f"{name}.keras").is_file()
        table = pd.read_parquet(repro / "results" / "tables" / "seed42" / "results.parquet")
        assert len(table) == 2 * 5 * 2 + 2 * 4 * 2  # 2 models x 5 x 2 eps white-box; cnn <-> qunn, 4 attacks
        clean = table[table["eps"] == 0]
        assert (clean.groupby("target")["accuracy"].nunique() == 1).all()  # eps 0: clean accuracy, any attack
        figures = repro / "results" / "figures" / "seed42"
        for stem in ("fig3_whitebox_pgd", "fig3_transfer_cnn_to_qunn", "fig3_transfer_qunn_to_cnn", "examples_cnn"):
            assert (figures / f"{stem}.png").is_file() and (figures / f"{stem}.svg").is_file()
        checklist = pd.read_csv(repro / "results" / "study" / "checklist.csv")
        assert set(checklist["model"]) == set(REPRO_MODELS)

    def test_status_clean_metrics_plots_params(self, repro):
        """After repro: status is clean, metrics and plots show, and a changed knob shows in params diff."""
        status = dvc(repro, "status")
        assert status.returncode == 0 and "up to date" in status.stdout, status.stdout
        metrics = dvc(repro, "metrics", "show")  # the headline: one row per model, in a terminal's width
        assert metrics.returncode == 0, metrics.stderr
        rows = {line.split()[0]: line for line in metrics.stdout.splitlines() if "headline/" in line}
        assert sorted(rows) == sorted(f"results/study/headline/{model}.json" for model in REPRO_MODELS)
        header = next(line for line in metrics.stdout.splitlines() if line.startswith("Path"))
        assert header.split() == ["Path", "attacks", "clean", "eps", "exact", "seeds"]
        assert max(map(len, metrics.stdout.splitlines())) <= 100
        plots = dvc(repro, "plots", "show", "-o", "dvc_plots")
        assert plots.returncode == 0, plots.stderr
        html = (repro / "dvc_plots" / "index.html").read_text()
        assert "whitebox_curves.csv" in html and "qunn-full-ent_rot" in html
        assert 'src="https://cdn.jsdelivr.net' in html  # DVC's own page needs the network: hence robqunn plots
        changed = tmp_copy(repro, "epochs")
        write_params(changed / "params.yaml", TINY_TWO_MODELS | {("train", "epochs"): 2})
        diff = dvc(changed, "params", "diff")
        assert diff.returncode == 0 and "train.epochs" in diff.stdout, diff.stdout
        assert changed_stages(changed) == {"train"}

    def test_editing_a_module_marks_the_stages_changed(self, repro):
        """An edit of a core module (the quanvolution layer) makes `dvc status` report the stages changed."""
        changed = tmp_copy(repro, "edit")
        with open(changed / "src" / "robqunn" / "quanv.py", "a") as module:
            module.write("\n# an edit\n")
        assert set(STAGE_NAMES) == changed_stages(changed)

    def test_repro_logs_every_job_to_mlflow(self, repro):
        """Training, attack, exact and checks log one run per model (and attack), and the study one."""
        from mlflow.tracking import MlflowClient

        client = MlflowClient(f"sqlite:///{repro / 'mlflow.db'}")
        experiment = client.get_experiment_by_name("robqunn")
        runs = client.search_runs([experiment.experiment_id], max_results=1000)
        assert len(runs) == len(REPRO_MODELS) * (1 + 3 + 1 + 1 + 1) + 1  # train, 3 attacks, exact, radius, checks


class TestOneState:
    """Snakemake and DVC agree on what is current, and a job is one MLflow run whichever of them ran it."""

    def test_after_snakemake_dvc_has_nothing_to_do(self, tiny_workflow, tmp_path):
        """The tiny study's Snakemake run recorded dvc.lock: `dvc status` is clean, `dvc repro` runs nothing."""
        assert "dvc.lock records the study's outputs" in (tiny_workflow / "console.txt").read_text()
        copy = tmp_path / "study"
        shutil.copytree(tiny_workflow, copy, symlinks=True)
        status = dvc(copy, "status")
        assert status.returncode == 0 and "up to date" in status.stdout, status.stdout
        result = dvc(copy, "repro")
        assert result.returncode == 0 and "Running stage" not in result.stdout, result.stdout

    def test_after_dvc_snakemake_has_nothing_to_do(self, repro):
        """On the study `dvc repro` built, `snakemake -n` plans no job."""
        plan = snakemake(repro, "-n")
        assert plan.returncode == 0 and "Nothing to be done" in plan.stdout + plan.stderr, plan.stdout[-3000:]

    def test_a_job_rerun_by_the_other_runner_replaces_its_run(self, repro):
        """Snakemake rerunning a job DVC ran (the study's aggregation) leaves one run of it, tagged with the
        runner that ran it last; dvc.lock records the rerun, so DVC still has nothing to do. In the project
        itself: a copy would be another study (robqunn.tracking.study_id), with runs of its own."""
        from mlflow.tracking import MlflowClient

        result = snakemake(repro, "--cores", "2", "--forcerun", "aggregate")
        assert result.returncode == 0, result.stderr[-3000:]
        client = MlflowClient(f"sqlite:///{repro / 'mlflow.db'}")
        experiment = client.get_experiment_by_name("robqunn")
        runs = client.search_runs([experiment.experiment_id], max_results=1000)
        names = [run.info.run_name for run in runs]
        assert (
            len(names) == len(set(names)) == len(REPRO_MODELS) * (1 + 3 + 1 + 1 + 1) + 1
        )  # train, 3 attacks, exact, radius, checks
        (study,) = [run for run in runs if run.info.run_name == "study"]
        assert study.data.tags["robqunn.origin"] == "snakemake"
        assert "up to date" in dvc(repro, "status").stdout


class TestParamsNeverReachAShell:
    """No value of params.yaml is part of a DVC command (robqunn.dvcfile): shell code in a seed never runs."""

    @pytest.mark.parametrize("seed", ["1 || touch PWNED #", "$(touch PWNED)", "`touch PWNED`", "1; touch PWNED"])
    def test_injected_seed_never_runs(self, repro, seed):
        """After a valid run, a 'seed' holding shell code, and `dvc repro -s prepare` (a normal way to rerun one
        step): the command fails naming the key, and the code never runs."""
        changed = tmp_copy(repro, "injected")
        try:
            raw = yaml.safe_load((changed / "params.yaml").read_text())
            raw["study"]["seeds"] = [seed]
            (changed / "params.yaml").write_text(yaml.safe_dump(raw))
            result = dvc(changed, "repro", "-s", "prepare")
            assert result.returncode != 0
            assert "params key 'study.seeds" in result.stdout + result.stderr
            assert not (changed / "PWNED").exists()
        finally:
            shutil.rmtree(changed)

    def test_shell_code_in_every_key_never_runs(self, repro):
        """Shell code ($(...), backticks, ';', a newline, both quotes) in every string-, list- and null-valued key
        at once, then `dvc repro -s` on each stage: each fails, and none of the code ran."""
        changed = tmp_copy(repro, "injected-everywhere")
        try:
            raw = yaml.safe_load((changed / "params.yaml").read_text())
            planted = _plant(raw, iter(range(10**6)))
            assert planted > 20, planted  # the keys reached: every section's strings and lists
            (changed / "params.yaml").write_text(yaml.safe_dump(raw))
            for stage in STAGE_NAMES:
                result = dvc(changed, "repro", "-s", stage)
                assert result.returncode != 0, (stage, result.stdout[-2000:])
                assert not list(changed.glob("PWNED*")) and not list(changed.parent.glob("PWNED*")), stage
        finally:
            shutil.rmtree(changed)

    def test_a_fresh_project_plans_every_stage(self, tmp_path):
        """On a fresh project, `dvc status` names every stage, and `dvc repro --dry` gets past the first one (DVC
        3's dry run then stops at the first dependency no stage has written yet: upstream issue 9021; after
        `dvc pull` it runs clean, TestRemote)."""
        folder = dvc_project(tmp_path, TINY_CHANGES)
        status = dvc(folder, "status")
        assert status.returncode == 0 and changed_stages(folder) == set(STAGE_NAMES), status.stdout
        dry = dvc(folder, "repro", "--dry")
        assert "Running stage 'prepare@42'" in dry.stdout and "params_valid" not in dry.stdout + dry.stderr


SHELL_CODE = (
    "$(touch PWNED{n})",
    "`touch PWNED{n}`",
    "x; touch PWNED{n}",
    "x\ntouch PWNED{n}",
    "x' ; touch PWNED{n} '",
    'x" ; touch PWNED{n} "',
)


def _plant(section: dict, numbers) -> int:
    """Replace, in place, every string, list or null leaf of ``section`` by shell code that would create a file
    PWNED<n> (a list gets every form); returns how many leaves were replaced."""
    planted = 0
    for key, value in section.items():
        if isinstance(value, dict):
            planted += _plant(value, numbers)
        elif isinstance(value, (str, list)) or value is None:
            forms = [form.format(n=next(numbers)) for form in SHELL_CODE]
            section[key] = forms if isinstance(value, list) else forms[planted % len(forms)]
            planted += 1
    return planted


def tmp_copy(folder: Path, name: str) -> Path:
    """A copy of the reproduced project beside it (modification times kept), to change without touching it."""
    copy = folder.parent / f"{folder.name}-{name}"
    shutil.copytree(folder, copy, symlinks=True)
    return copy


def test_robqunn_plots_render_offline(repro):
    """`robqunn plots` writes DVC's plots page with Vega inline: no script from the network, and headless
    Chromium with every host unreachable draws the curves (a Vega canvas); DVC's own page does not."""
    result = subprocess.run([ROBQUNN, "plots", "--out", "offline_plots"], cwd=repro, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    page = repro / "offline_plots" / "index.html"
    html = page.read_text()
    assert "qunn-full-ent_rot" in html and not re.search(r"<script[^>]+src=", html)
    needs(None if ui.browser() else "no Chromium on PATH (apt-get install chromium; .ci/run installs it)")
    assert 'class="marks"' in ui.render(page.as_uri(), offline=True)
    cdn = dvc(repro, "plots", "show", "-o", "cdn_plots")
    assert cdn.returncode == 0, cdn.stderr
    assert 'class="marks"' not in ui.render((repro / "cdn_plots" / "index.html").as_uri(), offline=True)


class TestRemote:
    """A local-directory DVC remote standing in for a lab's shared storage (docs/cluster.md, "DVC")."""

    @pytest.fixture(scope="class")
    @classmethod
    def pushed(cls, repro, tmp_path_factory):
        """The reproduced project with dvc.lock committed and every output pushed to a fresh remote."""
        project = tmp_copy(repro, "pushed")
        remote = tmp_path_factory.mktemp("remote")
        for command in (
            ("remote", "add", "-d", "storage", str(remote)),
            ("remote", "modify", "storage", "verify", "true"),
        ):
            assert dvc(project, *command).returncode == 0
        git(project, "add", "-A")  # dvc.lock, .dvc/config, the metrics (kept in git) and DVC's .gitignore files
        git(project, "commit", "-qm", "results")
        push = dvc(project, "push")
        assert push.returncode == 0, push.stderr[-3000:]
        return project, remote

    def clone(self, project: Path, where: Path) -> Path:
        """A fresh clone of the project's git repository: code, params, dvc.yaml, dvc.lock; no data."""
        git(where.parent, "clone", "-q", str(project), str(where))
        return where

    def test_a_fresh_clone_pulls_and_has_nothing_to_reproduce(self, pushed, tmp_path):
        """`dvc pull` in a fresh clone brings every output; then `dvc repro` runs nothing, `dvc status` and
        `dvc status -c` are clean, and the study's table is the original's byte for byte."""
        project, _ = pushed
        fresh = self.clone(project, tmp_path / "fresh")
        assert not (fresh / paths.TABLE.format(seed=42)).exists()
        pull = dvc(fresh, "pull")
        assert pull.returncode == 0, pull.stderr[-3000:]
        table = paths.TABLE.format(seed=42)
        assert (fresh / table).read_bytes() == (project / table).read_bytes()
        dry = dvc(fresh, "repro", "--dry")
        assert dry.returncode == 0 and "Running stage" not in dry.stdout, dry.stdout[-3000:]
        repro = dvc(fresh, "repro")
        assert repro.returncode == 0 and "Running stage" not in repro.stdout, repro.stdout[-3000:]
        status = dvc(fresh, "status")
        assert status.returncode == 0 and "up to date" in status.stdout, status.stdout
        cloud = dvc(fresh, "status", "-c")
        assert cloud.returncode == 0 and "in sync" in cloud.stdout, cloud.stdout

    def test_a_corrupted_object_in_the_remote_is_reported(self, pushed, tmp_path):
        """One object of the remote altered: `dvc pull` (the remote set to `verify`) fails and names the output
        it could not check out; the corrupted file does not land in the workspace, the intact ones do."""
        project, remote = pushed
        corrupted_remote = tmp_path / "remote"
        shutil.copytree(remote, corrupted_remote)
        table_md5 = _lock_md5(project, paths.TABLE.format(seed=42))
        obj = corrupted_remote / "files" / "md5" / table_md5[:2] / table_md5[2:]
        assert obj.is_file()
        obj.write_bytes(obj.read_bytes().replace(b"0.", b"9.", 1))
        fresh = self.clone(project, tmp_path / "fresh")
        assert dvc(fresh, "remote", "modify", "storage", "url", str(corrupted_remote)).returncode == 0
        pull = dvc(fresh, "pull")
        assert pull.returncode != 0
        message = pull.stdout + pull.stderr
        assert "checkout failed" in message.lower() and paths.TABLE.format(seed=42) in message, message[-3000:]
        assert not (fresh / paths.TABLE.format(seed=42)).exists()  # rejected, not checked out as if good
        assert (fresh / paths.PREPARED.format(seed=42)).is_file()  # the intact objects did arrive


def _lock_md5(project: Path, path: str) -> str:
    """The md5 that dvc.lock records for the output ``path``."""
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    for stage in lock["stages"].values():
        for out in stage.get("outs", []):
            if out["path"] == path:
                return out["md5"]
    raise AssertionError(f"{path} is not an output in dvc.lock")
