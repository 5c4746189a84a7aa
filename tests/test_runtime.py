"""A job process's start and end (robqunn.runtime): lean TensorFlow import, quiet console, an exit without
TensorFlow's teardown that loses nothing (files, logs, MLflow runs)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap

import pytest

START_UP_CHATTER = ("absl::InitializeLog", "oneDNN custom operations")


def run_python(code: str, cwd, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"} | (env_extra or {})
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def test_import_tensorflow_skips_keras_optional_imports_and_keeps_them_importable(tmp_path):
    """Keras loads without scikit-learn, matplotlib, pandas, SciPy; each imports normally afterwards;
    TensorFlow and Keras work."""
    result = run_python(
        """
        import sys
        from robqunn.runtime import HIDDEN_FROM_KERAS, import_tensorflow
        tf = import_tensorflow()
        print("loaded:", sorted(m for m in HIDDEN_FROM_KERAS if m in sys.modules))
        import keras, pandas, scipy.stats, sklearn, matplotlib
        print("importable:", pandas.__name__, scipy.stats.__name__, sklearn.__name__, matplotlib.__name__)
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
        print("shape:", tuple(model(tf.ones((1, 3))).shape))
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "loaded: []" in result.stdout
    assert "importable: pandas scipy.stats sklearn matplotlib" in result.stdout
    assert "shape: (1, 2)" in result.stdout


def test_tensorflow_start_up_chatter_goes_to_the_log_not_the_console(tmp_path):
    """TensorFlow's C++ start-up lines (written before it reads TF_CPP_MIN_LOG_LEVEL) never reach the
    console; a job's go to its log file. Control: a plain import at the same log level (what reaches the
    console without the redirection: the line about CPU features, logged at INFO, does not; the oneDNN and
    absl lines, where this CPU prints them, do)."""
    plain = run_python("import tensorflow", tmp_path, {"TF_CPP_MIN_LOG_LEVEL": "2"})
    chatty = [line for line in START_UP_CHATTER if line in plain.stderr]
    lean = run_python(
        """
        from robqunn.runtime import import_tensorflow
        import_tensorflow(chatter="job.log")
        import tensorflow as tf
        print(float(tf.reduce_sum(tf.ones(3))))
        """,
        tmp_path,
    )
    assert lean.returncode == 0, lean.stderr
    assert lean.stdout.strip() == "3.0"
    assert not [line for line in START_UP_CHATTER if line in lean.stderr], lean.stderr
    log = (tmp_path / "job.log").read_text()
    assert all(line in log for line in chatty), (chatty, log)


def test_import_failure_shows_what_tensorflow_printed(tmp_path):
    """When the import fails, what was written to the hidden stderr is shown, not lost."""
    result = run_python(
        """
        import os, sys
        sys.modules["tensorflow"] = None
        sys.modules.pop("keras", None)
        import builtins
        real_import = builtins.__import__
        def failing(name, *args, **kwargs):
            if name == "keras":
                os.write(2, b"native message before the failure\\n")
                raise ImportError("no keras here")
            return real_import(name, *args, **kwargs)
        builtins.__import__ = failing
        del sys.modules["tensorflow"]
        from robqunn.runtime import import_tensorflow
        import_tensorflow()
        """,
        tmp_path,
    )
    assert result.returncode != 0
    assert "native message before the failure" in result.stderr
    assert "no keras here" in result.stderr


def test_exit_now_keeps_files_logs_and_the_mlflow_run(tmp_path):
    """A job that ends with exit_now: its atomically written file, its log lines and its MLflow run
    (params, metrics, FINISHED status: exit_now ends a run left open) are all there, and the exit code
    is the one given."""
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    result = run_python(
        """
        import logging
        import mlflow
        from robqunn.io import atomic_path
        from robqunn.runtime import exit_now, import_tensorflow
        from robqunn.workflow import log_to
        log_to("job.log", 1, tensorflow=True)
        with atomic_path("out.txt") as tmp:
            tmp.write_text("written")
        logging.getLogger("robqunn").info("the work is done")
        mlflow.set_experiment("exit")
        mlflow.start_run(run_name="left open")
        mlflow.log_param("p", 1)
        mlflow.log_metric("m", 0.5)
        exit_now(3)
        """,
        tmp_path,
        {"MLFLOW_TRACKING_URI": store},
    )
    assert result.returncode == 3, result.stderr
    assert (tmp_path / "out.txt").read_text() == "written"
    log = (tmp_path / "job.log").read_text()
    assert "the work is done" in log
    assert "job ends (exit 3): tensorflow=yes pennylane=no mlflow=yes" in log  # what the job loaded
    cpu, peak = re.search(r"; cpu ([\d.]+) s, peak memory ([\d.]+) MB", log).groups()
    assert 1.0 < float(cpu) < 120.0 and 200.0 < float(peak) < 4000.0  # TensorFlow takes over a second and 200 MB
    from mlflow.tracking import MlflowClient

    runs = MlflowClient(store).search_runs([MlflowClient(store).get_experiment_by_name("exit").experiment_id])
    assert [(r.info.run_name, r.info.status, r.data.params, r.data.metrics) for r in runs] == [
        ("left open", "FINISHED", {"p": "1"}, {"m": 0.5})
    ]


@pytest.mark.parametrize("ending", ["exit_now", "os._exit"])
def test_exit_now_leaves_no_autograph_files_behind(tmp_path, ending):
    """TensorFlow writes each compiled function's converted source to the temporary folder and removes
    it at exit (an atexit handler): exit_now runs those handlers, so a study leaves nothing in /tmp.
    Control: a bare os._exit leaves the file, so the check can fail."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    job = tmp_path / "job.py"  # AutoGraph converts only functions whose source file it can read
    job.write_text(
        textwrap.dedent(
            f"""
            import os
            from robqunn.runtime import exit_now, import_tensorflow
            tf = import_tensorflow()

            @tf.function
            def count(x):
                for _ in tf.range(3):
                    x += 1.0
                return x

            assert float(count(tf.constant(0.0))) == 3.0
            print(sorted(os.listdir({str(scratch)!r})))
            {ending}(0)
            """
        )
    )
    env = os.environ | {"TMPDIR": str(scratch)}
    result = subprocess.run([sys.executable, str(job)], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "__autograph_generated_file" in result.stdout  # written while the job ran
    left = sorted(p.name for p in scratch.iterdir())
    if ending == "exit_now":
        assert left == []
    else:
        assert [name for name in left if name.startswith("__autograph_generated_file")], left


@pytest.mark.parametrize("command", ["validate", "prepare"])
def test_commands_without_tensorflow_do_not_import_it(tmp_path, command, tiny_params_file):
    """The CLI imports TensorFlow only for the commands that run it (cli.TENSORFLOW_COMMANDS)."""
    result = run_python(
        f"""
        import sys
        from robqunn.cli import main
        code = main(["{command}", "--params", r"{tiny_params_file}", "--workdir", "."])
        print("code", code, "tensorflow" in sys.modules, "pennylane" in sys.modules)
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-3:] == ["0", "False", "False"]
