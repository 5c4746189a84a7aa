"""`robqunn bench startup`: the CPU a job process pays besides its work, in fresh processes."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

STARTUP_TARGETS = {"tensorflow": 2.5, "no tensorflow": 1.0}  # CPU seconds a job pays before its work, at most

# What a job does besides its work: set up its log, import what its stage imports, open an MLflow run
# (a child of a parent found by tags: a SQLite store, as by default) and end it, then exit.
_JOB_FRAME = """
import sys
from robqunn.workflow import log_to
log_to("job.log", 1, tensorflow={tensorflow})
{imports}
from robqunn.config import TrackingParams
from robqunn.tracking import stage_run
settings = TrackingParams(enabled={tracked}, experiment="startup")
with stage_run(settings, "probe", {{"seed": 0}}, {{"robqunn.stage": "probe"}}, {{"robqunn.stage": "none"}}) as run:
    run.metrics({{"m": 1.0}})
{exit}
"""
_EXIT_NOW = "from robqunn.runtime import exit_now\nexit_now()"
_TF_JOB_IMPORTS = "import robqunn.stages.attack, robqunn.models, robqunn.attacks, robqunn.train"  # an attack job's
# prepare's and figures'
_NO_TF_JOB_IMPORTS = "import robqunn.stages.prepare, robqunn.stages.figures, robqunn.data, robqunn.plots, pandas"


def _frame(tensorflow: bool, imports: str, tracked: bool, exit: str = _EXIT_NOW) -> str:
    return _JOB_FRAME.format(tensorflow=tensorflow, imports=imports, tracked=tracked, exit=exit)


@dataclass(frozen=True)
class StartupTiming:
    """Median CPU seconds (user + system) of one kind of job process without its work."""

    what: str
    cpu_seconds: float
    target: float | None


def startup_probes() -> dict[str, tuple[str, float | None]]:
    """name -> (Python code, target CPU s): the job frames, and as the baseline of the same run a
    TensorFlow job as robqunn ran it before robqunn.runtime (plain import, interpreter teardown)."""
    plain = "import tensorflow, keras\n" + _TF_JOB_IMPORTS
    return {
        "python -c pass": ("pass", None),
        "TensorFlow job, plain import and teardown (baseline)": (_frame(False, plain, True, "sys.exit(0)"), None),
        "TensorFlow job (attack, train, exact...)": (
            _frame(True, _TF_JOB_IMPORTS, True),
            STARTUP_TARGETS["tensorflow"],
        ),
        "TensorFlow job, tracking off": (_frame(True, _TF_JOB_IMPORTS, False), None),
        "job without TensorFlow (prepare, figures)": (
            _frame(False, _NO_TF_JOB_IMPORTS, False),
            STARTUP_TARGETS["no tensorflow"],
        ),
        "job without TensorFlow, tracked (aggregate)": (_frame(False, _NO_TF_JOB_IMPORTS, True), None),
    }


def bench_startup(repeats: int) -> list[StartupTiming]:
    """The median CPU time of each :func:`startup_probes` process over ``repeats`` runs, each with its
    MLflow store (SQLite, created before the timing, as a study's store exists after its first job)."""
    import statistics
    import tempfile

    timings = []
    with tempfile.TemporaryDirectory(prefix="robqunn-startup-") as tmp:
        env = dict(os.environ, MLFLOW_TRACKING_URI=f"sqlite:///{Path(tmp) / 'mlflow.db'}")
        probes = startup_probes()
        _child_cpu_seconds(probes["job without TensorFlow, tracked (aggregate)"][0], Path(tmp), env)  # the store
        for what, (code, target) in probes.items():
            seconds = [_child_cpu_seconds(code, Path(tmp), env) for _ in range(repeats)]
            timings.append(StartupTiming(what, statistics.median(seconds), target))
    return timings


def _child_cpu_seconds(code: str, cwd: Path, env: dict) -> float:
    """User + system CPU seconds of one ``python -c code`` process (it must exit 0)."""
    process = subprocess.Popen([sys.executable, "-c", code], cwd=cwd, env=env, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(process.pid, 0)
    stderr = process.stderr.read()
    process.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"start-up probe failed:\n{code}\n{stderr[-3000:]}")
    return usage.ru_utime + usage.ru_stime


def format_startup_timings(timings: list[StartupTiming]) -> str:
    """Each probe against its target, and the TensorFlow job against the baseline."""
    lines = [f"{'job process, without its work':54s} {'CPU s':>7s} {'target':>7s}"]
    for t in timings:
        target = f"{t.target:7.1f}" if t.target is not None else f"{'-':>7s}"
        verdict = "" if t.target is None else ("  within target" if t.cpu_seconds <= t.target else "  OVER TARGET")
        lines.append(f"{t.what:54s} {t.cpu_seconds:7.2f} {target}{verdict}")
    baseline, job = timings[1], timings[2]
    lines.append(f"\nTensorFlow job start-up, baseline / now: {baseline.cpu_seconds / job.cpu_seconds:.2f}x")
    return "\n".join(lines)
