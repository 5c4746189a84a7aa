"""The MLflow UI on the tiny study, in a real browser (headless Chromium): it opens on the runs."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO, needs
from robqunn import tracking, ui


def _browser_or_skip() -> None:
    needs(None if ui.browser() else "no Chromium on PATH (apt-get install chromium; .ci/run installs it)")


@pytest.fixture(scope="module")
def tiny_ui(tiny_workflow):
    """`mlflow ui` on the tiny study's store, stopped by its process at the end."""
    _browser_or_skip()
    store = f"sqlite:///{tiny_workflow / 'mlflow.db'}"
    server = ui.start_ui(store, log=tiny_workflow / "logs" / "mlflow-ui.log")
    yield server, store
    server.stop()
    assert server.process.poll() is not None


def _text(dom: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", dom))


def test_the_runs_page_lists_training_and_attack_runs(tiny_ui, tmp_path):
    """The address robqunn prints (the model-training view, runs by name) shows the runs table with the
    study's training, attack, exact and checks runs by name, and the Source column says which rule ran them."""
    from mlflow.tracking import MlflowClient

    server, store = tiny_ui
    experiment = MlflowClient(store).get_experiment_by_name("robqunn").experiment_id
    screenshot = tmp_path / "runs.png"
    text = _text(ui.render(tracking.ui_url(server.base, experiment), screenshot=screenshot))
    names = ("train · cnn · seed 42", "attack pgd · qunn-full-ent_rot · seed 42", "exact · cnn · seed 42")
    for name in names + ("checks · qunn-random-ent_rot · seed 42", "study"):
        assert name in text, text[:2000]
    assert "snakemake rule model_attacks" in text
    assert screenshot.stat().st_size > 20_000  # a drawn page, not a blank one


def test_the_saved_view_shows_the_headline_per_training_run(tiny_ui, tiny_workflow):
    """The view `robqunn ui` opens (tracking.ui_view_state, set on the experiment): the training runs' clean
    accuracy, exact robust accuracy and the attacks' worst case at claims.low_eps as columns, the values the
    study logged on each training run, and the soundness verdict."""
    import time

    import pandas as pd
    from mlflow.tracking import MlflowClient

    from robqunn.config import load_params

    server, store = tiny_ui
    client = MlflowClient(store)
    experiment = client.get_experiment_by_name("robqunn").experiment_id
    eps = load_params(tiny_workflow / "params.yaml").claims.low_eps
    client.set_experiment_tag(experiment, tracking.UI_VIEW_TAG, tracking.ui_view_state(eps, int(time.time() * 1000)))
    text = _text(ui.render(tracking.ui_url(server.base, experiment, view=True)))
    names = tracking.headline_metric_names(eps)
    for column in ("test_accuracy", names["exact"], names["attacks"], "robqunn.soundness"):
        assert column in text, text[:2000]
    first_attack = re.search(r"attack \w+ · ", text)
    assert first_attack and text.index("train · ") < first_attack.start(), "the training runs come first"
    headline = pd.read_csv(tiny_workflow / "results" / "study" / "headline.csv").set_index("model")
    cnn = client.search_runs([experiment], "tags.`robqunn.stage` = 'train' and tags.`robqunn.model` = 'cnn'")[0]
    assert cnn.data.metrics[names["exact"]] == pytest.approx(headline.loc["cnn", "exact"], abs=5e-4)  # one seed


def test_without_the_view_the_ui_opens_on_traces(tiny_ui):
    """Control: the experiment's bare address opens MLflow 3's GenAI overview, without the runs, which
    is why robqunn's links name the view."""
    from mlflow.tracking import MlflowClient

    server, store = tiny_ui
    experiment = MlflowClient(store).get_experiment_by_name("robqunn").experiment_id
    text = _text(ui.render(f"{server.base}/#/experiments/{experiment}"))
    assert "Traces" in text
    assert "train · cnn · seed 42" not in text


def test_robqunn_ui_screenshot(tiny_workflow, tmp_path):
    """`robqunn ui --screenshot` starts the UI on the study's store, saves the runs page and stops."""
    _browser_or_skip()
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}  # the study's mlflow.db
    picture = tmp_path / "runs.png"
    port = str(ui.free_port())
    result = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "robqunn"), "ui", "--port", port, "--screenshot", str(picture)],
        cwd=tiny_workflow,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"127.0.0.1:{port}/#/experiments/" in result.stdout and "workflowType=machine_learning" in result.stdout
    assert f"viewStateShareKey={tracking.UI_VIEW}" in result.stdout  # the saved view, set on the experiment
    assert picture.stat().st_size > 20_000


@pytest.fixture
def study_store(tmp_path):
    """A study folder whose default store (mlflow.db) has the experiment `robqunn`, and a TMPDIR of its own."""
    from mlflow.tracking import MlflowClient

    folder, temporary = tmp_path / "study", tmp_path / "tmp"
    folder.mkdir(), temporary.mkdir()
    shutil.copy(REPO / "params.yaml", folder)
    MlflowClient(f"sqlite:///{folder / 'mlflow.db'}").create_experiment("robqunn")
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"} | {"TMPDIR": str(temporary)}
    return folder, env


def _processes_with(text: str) -> list[str]:
    """The command lines of live processes that contain ``text``, read whole from /proc: `ps` cuts its `args`
    column to the terminal's width (COLUMNS), which dropped the `--port` of a long command line in CI."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            line = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # the process ended while we looked
            continue
        if text in line:
            found.append(f"{cmdline.parent.name} {line}")
    return found


@pytest.mark.e2e  # drives the MLflow UI server
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_robqunn_ui_stops_its_server_when_killed(study_store, signum):
    """`kill <pid>` (SIGTERM) or a closed terminal (SIGHUP) on `robqunn ui` stops the `mlflow ui` server and every
    process of its group, as Ctrl-C does; no file of it stays in TMPDIR, and the store's lock lies beside it."""
    folder, env = study_store
    port = ui.free_port()
    command = [os.path.join(os.path.dirname(sys.executable), "robqunn"), "ui", "--port", str(port)]
    process = subprocess.Popen(command, cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()  # printed once the server answers
        assert f"127.0.0.1:{port}/" in line, process.stderr.read()[-3000:] if process.poll() is not None else line
        assert _processes_with(f"--port {port}")
        process.send_signal(signum)
        assert process.wait(timeout=60) == 128 + signum
    finally:
        process.kill()
    deadline = time.monotonic() + 10
    while _processes_with(f"--port {port}") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _processes_with(f"--port {port}") == []
    assert list(Path(env["TMPDIR"]).iterdir()) == []
    assert (folder / "mlflow.db.lock").exists()


@pytest.mark.e2e  # drives the MLflow UI server
def test_a_port_another_process_holds_is_refused(tmp_path):
    """The UI refuses a port something else listens on, instead of announcing that process's page as its own."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        with pytest.raises(ui.UiError, match=rf"port {port} on 127.0.0.1 is held by another process"):
            ui.start_ui(f"sqlite:///{tmp_path / 'mlflow.db'}", port)
