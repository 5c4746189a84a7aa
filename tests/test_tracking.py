"""MLflow tracking: params, tags, metric histories, artifacts, failures, parent runs, concurrency."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from robqunn import tracking
from robqunn.config import TrackingParams

REPO = Path(__file__).resolve().parents[1]
EXPERIMENT = "robqunn-test"


@pytest.fixture(scope="session")
def empty_db(tmp_path_factory):
    """An empty, migrated MLflow database, made once (migrations take seconds) and copied per test."""
    db = tmp_path_factory.mktemp("template") / "mlflow.db"
    tracking.prepare_store(f"sqlite:///{db}")
    assert db.is_file()
    return db


@pytest.fixture
def store(tmp_path, monkeypatch, empty_db):
    """A fresh SQLite store in tmp_path, named by MLFLOW_TRACKING_URI; the current directory is tmp_path."""
    (tmp_path / "store").mkdir()
    shutil.copy(empty_db, tmp_path / "store" / "mlflow.db")
    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)
    return uri


def client(uri):
    from mlflow.tracking import MlflowClient

    return MlflowClient(uri)


def runs_of(uri, experiment=EXPERIMENT):
    c = client(uri)
    exp = c.get_experiment_by_name(experiment)
    assert exp is not None, f"experiment {experiment} missing"
    return c.search_runs([exp.experiment_id], max_results=1000)


def test_run_logs_params_tags_history_and_artifact(store, tmp_path):
    """A run records flattened params, tags, a per-epoch history with steps 0..n-1 and an artifact."""
    import mlflow

    figure = tmp_path / "fig.txt"
    figure.write_text("a figure")
    params = {"model": "cnn", "seed": 42, "train": {"epochs": 3, "opt": {"lr": 0.01}}}
    with tracking.tracked_run(
        "train-cnn", experiment=EXPERIMENT, params=params, tags={"robqunn.stage": "train"}
    ) as run:
        tracking.log_history("loss", [0.9, 0.5, 0.25])
        tracking.log_metrics({"test_accuracy": 0.875})
        mlflow.log_artifact(str(figure))
        run_id = run.info.run_id
    c = client(store)
    got = c.get_run(run_id)
    assert got.info.status == "FINISHED"
    assert got.info.run_name == "train-cnn"
    assert got.data.params == {"model": "cnn", "seed": "42", "train.epochs": "3", "train.opt.lr": "0.01"}
    assert got.data.tags["robqunn.stage"] == "train"
    assert got.data.tags[tracking.GIT_COMMIT_TAG] == "unknown"  # tmp_path is not a git checkout
    assert got.data.metrics["test_accuracy"] == pytest.approx(0.875)
    history = sorted(c.get_metric_history(run_id, "loss"), key=lambda m: m.step)
    assert [m.step for m in history] == [0, 1, 2]
    assert [m.value for m in history] == pytest.approx([0.9, 0.5, 0.25])
    assert [a.path for a in c.list_artifacts(run_id)] == ["fig.txt"]
    assert (tmp_path / "store" / "mlruns").is_dir()  # artifacts live next to the database


def test_exception_marks_run_failed_and_propagates(store):
    """An exception in the block ends the run FAILED with an error tag, and still propagates."""
    with pytest.raises(ValueError, match="boom"):
        with tracking.tracked_run("bad", experiment=EXPERIMENT, params={"a": 1}, tags={}):
            raise ValueError("boom")
    import mlflow

    assert mlflow.active_run() is None
    (run,) = runs_of(store)
    assert run.info.status == "FAILED"
    assert run.data.tags["error"] == "ValueError: boom"


def test_attack_run_is_child_of_matching_train_run(store):
    """An attack run with parent_tags is the child of the latest finished training run with those tags."""
    train_tags = {"robqunn.stage": "train", "robqunn.model": "cnn", "robqunn.seed": "42"}
    with tracking.tracked_run("train-old", experiment=EXPERIMENT, params={}, tags=train_tags):
        pass
    time.sleep(0.01)
    with tracking.tracked_run("train-cnn", experiment=EXPERIMENT, params={}, tags=train_tags) as train:
        pass
    other = {**train_tags, "robqunn.seed": "7"}
    with tracking.tracked_run("train-other", experiment=EXPERIMENT, params={}, tags=other):
        pass
    with tracking.tracked_run(
        "attack", experiment=EXPERIMENT, params={"eps": 0.1}, tags={"robqunn.stage": "attack"}, parent_tags=train_tags
    ) as attack:
        pass
    got = client(store).get_run(attack.info.run_id)
    assert got.data.tags["mlflow.parentRunId"] == train.info.run_id
    assert tracking.PARENT_MISSING_TAG not in got.data.tags


def test_tag_runs_marks_the_latest_training_run_of_each_seed(store):
    """A verdict decided later lands on the latest finished run per seed, not on older or other runs."""
    runs = {}
    for name, seed in (("old-42", 42), ("new-42", 42), ("new-7", 7), ("other-model", 42)):
        model = "qunn" if name == "other-model" else "cnn"
        tags = {"robqunn.stage": "train", "robqunn.model": model, "robqunn.seed": seed}
        with tracking.tracked_run(name, experiment=EXPERIMENT, params={}, tags=tags) as run:
            runs[name] = run.info.run_id
        time.sleep(0.01)
    match = {"robqunn.stage": "train", "robqunn.model": "cnn"}
    assert tracking.tag_runs(EXPERIMENT, match, {"robqunn.soundness": "FLAG: x"}, [42, 7, 9]) == 2
    c = client(store)
    tagged = {name for name, run_id in runs.items() if "robqunn.soundness" in c.get_run(run_id).data.tags}
    assert tagged == {"new-42", "new-7"}


def test_stage_run_disabled_logs_nothing(store):
    """With tracking off a stage's calls are no-ops and no experiment is created."""
    off = TrackingParams(enabled=False, experiment=EXPERIMENT)
    with tracking.stage_run(off, "r", {"a": 1}, {}) as run:
        run.metrics({"m": 1.0})
        run.tags({"t": "x"})
        run.history("loss", [1.0])
    assert client(store).get_experiment_by_name(EXPERIMENT) is None


def test_attack_run_without_parent_is_top_level(store):
    """Without a matching finished run the attack run is top-level and tagged robqunn.parent_missing."""
    with pytest.raises(RuntimeError):
        with tracking.tracked_run("train-failed", experiment=EXPERIMENT, params={}, tags={"robqunn.model": "cnn"}):
            raise RuntimeError("training crashed")
    with tracking.tracked_run(
        "attack", experiment=EXPERIMENT, params={}, tags={}, parent_tags={"robqunn.model": "cnn"}
    ) as attack:
        pass
    got = client(store).get_run(attack.info.run_id)
    assert got.info.status == "FINISHED"
    assert got.data.tags[tracking.PARENT_MISSING_TAG] == "true"
    assert "mlflow.parentRunId" not in got.data.tags


def test_default_store_is_sqlite_in_current_directory(tmp_path, monkeypatch):
    """With no MLFLOW_TRACKING_URI, runs go to ./mlflow.db (artifacts in ./mlruns) of the current directory."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    assert tracking.tracking_uri() == "sqlite:///mlflow.db"
    with tracking.tracked_run("r", experiment=EXPERIMENT, params={"x": 1}, tags={}):
        tracking.log_metrics({"m": 1.0})
    assert (tmp_path / "mlflow.db").is_file()
    (run,) = runs_of(f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert run.data.metrics == {"m": 1.0}
    assert run.info.artifact_uri.startswith((tmp_path / "mlruns").as_uri())


def test_env_var_overrides_default(monkeypatch):
    """MLFLOW_TRACKING_URI, when set, is the tracking URI."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert tracking.tracking_uri() == "http://127.0.0.1:5000"


def test_flatten_nested_params():
    """Nested dicts become dotted keys and every value a string."""
    from robqunn.vocabulary import AttackName

    flat = tracking.flatten({"a": {"b": {"c": 1}, "d": [1, 2]}, "e": AttackName.PGD, "f": None})
    assert flat == {"a.b.c": "1", "a.d": "[1, 2]", "e": "pgd", "f": "None"}


def test_run_start_is_quiet_about_git(store, tmp_path):
    """A job's run start skips MLflow's GitPython lookup without its three "Failed to import Git"
    warnings on the console (robqunn tags the commit itself), in a fresh process where GitPython is not
    loaded yet, as in a job."""
    code = textwrap.dedent(
        """
        import sys
        from robqunn import tracking
        with tracking.tracked_run("quiet", experiment="robqunn-test", params={}, tags={}):
            pass
        print("git loaded:", "git" in sys.modules)
        """
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "git loaded: False" in result.stdout
    assert "Git" not in result.stderr, result.stderr
    assert [r.info.run_name for r in runs_of(store)] == ["quiet"]


def test_git_commit(tmp_path):
    """git_commit is the checked-out hash in a git repository and "unknown" outside one."""
    commit = tracking.git_commit(REPO)
    assert len(commit) == 40 and all(c in "0123456789abcdef" for c in commit)
    assert tracking.git_commit(tmp_path) == "unknown"


WORKER = textwrap.dedent(
    """
    import sys
    from robqunn import tracking

    worker = int(sys.argv[1])
    for i in range(3):
        params = {"worker": worker, "index": i, "train": {"epochs": 4}}
        with tracking.tracked_run(f"w{worker}-r{i}", experiment="concurrent", params=params, tags={"w": worker}):
            tracking.log_history("loss", [1.0, 0.5, 0.25, 0.125])
            tracking.log_metrics({"accuracy": worker + i / 10, "seconds": 1.0})
    """
)


def test_concurrent_processes_keep_every_run(tmp_path):
    """4 processes (twice the cores) logging 3 runs each at once into one fresh store: all 12 runs are there,
    FINISHED, with metrics."""
    n_workers, n_runs = 4, 3
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(w)],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for w in range(n_workers)
    ]
    outputs = [p.communicate(timeout=180)[0] for p in procs]
    for proc, out in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, out[-3000:]
    runs = runs_of(uri, "concurrent")
    assert len(runs) == n_workers * n_runs
    assert sorted(r.info.run_name for r in runs) == sorted(
        f"w{w}-r{i}" for w in range(n_workers) for i in range(n_runs)
    )
    c = client(uri)
    for run in runs:
        assert run.info.status == "FINISHED"
        w, i = int(run.data.params["worker"]), int(run.data.params["index"])
        assert run.data.params["train.epochs"] == "4"
        assert run.data.metrics["accuracy"] == pytest.approx(w + i / 10)
        assert run.data.metrics["seconds"] == 1.0
        assert [m.step for m in sorted(c.get_metric_history(run.info.run_id, "loss"), key=lambda m: m.step)] == [
            0,
            1,
            2,
            3,
        ]


class TestOneRunPerJob:
    """A killed job's run does not stay RUNNING, and a rerun replaces the job's run instead of adding one."""

    def job_runs(self, uri, name):
        return [r for r in runs_of(uri) if r.data.tags.get(tracking.JOB_TAG, "").endswith(f"::{name}")]

    def test_a_run_left_running_is_killed_and_replaced(self, store, tmp_path):
        """A run of the job left RUNNING (its process was SIGKILLed) is ended KILLED and deleted when the job
        reruns; afterwards the job has exactly one (active) run, FINISHED."""
        c = client(store)
        with tracking.tracked_run("train cnn seed42", experiment=EXPERIMENT, params={}, tags={}) as first:
            pass
        job = c.get_run(first.info.run_id).data.tags[tracking.JOB_TAG]
        assert job == f"{tmp_path.resolve()}::python::train cnn seed42"  # study, origin, run name
        stale = c.create_run(first.info.experiment_id, tags={tracking.JOB_TAG: job}, run_name="train cnn seed42")
        with tracking.tracked_run("train cnn seed42", experiment=EXPERIMENT, params={}, tags={}) as rerun:
            pass
        assert c.get_run(stale.info.run_id).info.status == "KILLED"
        assert c.get_run(stale.info.run_id).info.lifecycle_stage == "deleted"
        assert c.get_run(first.info.run_id).info.lifecycle_stage == "deleted"
        (only,) = self.job_runs(store, "train cnn seed42")
        assert only.info.run_id == rerun.info.run_id and only.info.status == "FINISHED"

    def test_a_manual_command_never_replaces_the_pipelines_run(self, store, monkeypatch):
        """The same run name from Snakemake and from the command line: two jobs, both runs kept, each
        tagged with its origin and source; the command line's name says so."""
        monkeypatch.setattr(tracking, "_run_source", None)
        tracking.set_run_source("snakemake", "snakemake rule model_train")
        with tracking.tracked_run("train · cnn · seed 42", experiment=EXPERIMENT, params={}, tags={}) as pipeline:
            pass
        tracking.set_run_source("cli", "robqunn train")
        with tracking.tracked_run("train · cnn · seed 42", experiment=EXPERIMENT, params={}, tags={}) as manual:
            pass
        runs = {r.info.run_id: r for r in runs_of(store)}
        assert set(runs) == {pipeline.info.run_id, manual.info.run_id}
        kept = runs[pipeline.info.run_id]
        assert kept.info.run_name == "train · cnn · seed 42" and kept.info.lifecycle_stage == "active"
        assert kept.data.tags["mlflow.source.name"] == "snakemake rule model_train"
        assert kept.data.tags["mlflow.source.type"] == "JOB" and kept.data.tags["robqunn.origin"] == "snakemake"
        by_hand = runs[manual.info.run_id]
        assert by_hand.info.run_name == "train · cnn · seed 42 · cli"
        assert (by_hand.data.tags["robqunn.origin"], by_hand.data.tags["mlflow.source.type"]) == ("cli", "LOCAL")

    def test_dvc_stages_say_so(self, store, monkeypatch):
        """Under `dvc repro` (DVC sets DVC_STAGE for its commands, which run the CLI) the run is DVC's."""
        monkeypatch.setattr(tracking, "_run_source", None)
        tracking.set_run_source("cli", "robqunn train")
        monkeypatch.setenv("DVC_STAGE", "train@42")
        with tracking.tracked_run("train · cnn · seed 42", experiment=EXPERIMENT, params={}, tags={}) as run:
            pass
        tags = client(store).get_run(run.info.run_id).data.tags
        assert (tags["robqunn.origin"], tags["mlflow.source.name"]) == ("dvc", "dvc stage train@42")
        assert client(store).get_run(run.info.run_id).info.run_name == "train · cnn · seed 42"

    def test_other_jobs_and_other_studies_are_left_alone(self, store, tmp_path, monkeypatch):
        with tracking.tracked_run("train cnn seed42", experiment=EXPERIMENT, params={}, tags={}):
            pass
        with tracking.tracked_run("train cnn seed1", experiment=EXPERIMENT, params={}, tags={}):
            pass
        other_study = tmp_path / "other"
        other_study.mkdir()
        monkeypatch.chdir(other_study)
        with tracking.tracked_run("train cnn seed42", experiment=EXPERIMENT, params={}, tags={}):
            pass
        assert len(runs_of(store)) == 3  # no run deleted: different jobs, or the same name in another study

    def test_a_failed_rerun_keeps_the_last_good_run(self, store):
        with tracking.tracked_run("train cnn seed42", experiment=EXPERIMENT, params={}, tags={}) as good:
            pass
        with (
            pytest.raises(RuntimeError),
            tracking.tracked_run("train cnn seed42", experiment=EXPERIMENT, params={}, tags={}),
        ):
            raise RuntimeError("boom")
        statuses = sorted(r.info.status for r in self.job_runs(store, "train cnn seed42"))
        assert statuses == ["FAILED", "FINISHED"]
        assert client(store).get_run(good.info.run_id).info.lifecycle_stage == "active"


def test_study_level_tags_stay_in_their_study(store, tmp_path, monkeypatch):
    """Two studies in one store, each with a training run of cnn seed 42: tagging the soundness verdict of
    one study tags its own run only (runs are matched within the study's folder, tag robqunn.study)."""
    match = {"robqunn.stage": "train", "robqunn.model": "cnn", "robqunn.seed": 42}
    ids = {}
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        monkeypatch.chdir(tmp_path / name)
        with tracking.tracked_run("train cnn seed42", experiment=EXPERIMENT, params={}, tags=match) as run:
            ids[name] = run.info.run_id
    assert tracking.tag_runs(EXPERIMENT, match, {"robqunn.soundness": "FLAG"}, [42]) == 1
    c = client(store)
    assert c.get_run(ids["b"]).data.tags["robqunn.soundness"] == "FLAG"
    assert "robqunn.soundness" not in c.get_run(ids["a"]).data.tags


@pytest.mark.parametrize("name", ["..", "."])
def test_a_name_that_leaves_mlruns_is_refused_by_the_store_too(tmp_path, name):
    """Past params validation (a direct call), an experiment named '..' or '.' gets no artifact folder outside
    mlruns/ beside a local store; an ordinary name gets mlruns/<name>."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with pytest.raises(tracking.TrackingError, match="would put its artifacts outside"):
        tracking._artifact_location(uri, name)
    assert tracking._artifact_location(uri, "robqunn") == (tmp_path.resolve() / "mlruns" / "robqunn").as_uri()
