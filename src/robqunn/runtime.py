"""The life of one job process: a lean, quiet start of TensorFlow and an exit without its teardown.

Every Snakemake job and DVC stage is a fresh process, so what a process pays before and after its work
is paid hundreds of times by a study (docs/performance.md, "Start-up of a job"). Two costs are not ours
and are avoidable:

* Keras 3 imports scikit-learn, matplotlib, pandas and SciPy at import time, only for optional helpers
  (scikit-learn wrappers, image galleries, DataFrame inputs) that robqunn never uses: about 1.5 CPU s.
  :func:`import_tensorflow` hides them from Keras while it loads; they import normally afterwards, and
  those helpers are then unavailable in that process.
* The interpreter's teardown of TensorFlow at exit takes 1-2 s. :func:`exit_now` ends a job whose
  outputs are written and closed, its logs flushed and its MLflow run ended, without it.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

logger = logging.getLogger(__name__)

#: Modules Keras imports eagerly but only for helpers robqunn does not use.
HIDDEN_FROM_KERAS = ("sklearn", "matplotlib", "pandas", "scipy")


def tensorflow_environment(threads: int | None = None) -> None:
    """Set TensorFlow's environment before it loads: its C++ code logs errors only, and
    (with ``threads``) its thread pools held to the job's threads, so N jobs share N cores."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if threads is not None:
        os.environ["TF_NUM_INTRAOP_THREADS"] = str(threads)
        os.environ["TF_NUM_INTEROP_THREADS"] = str(threads)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)


def import_tensorflow(chatter: str | Path | None = None) -> ModuleType:
    """Import TensorFlow and Keras without Keras' optional heavy imports, and with the C++ start-up
    messages written before TensorFlow reads its log level (``All log messages before
    absl::InitializeLog()``, ``oneDNN custom operations are on``) sent to the file ``chatter`` (a job's
    log) instead of the console. Without ``chatter`` they are dropped unless the import fails, when they
    are printed. Returns the ``tensorflow`` module; a no-op when it is already imported."""
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    tensorflow_environment()
    with hidden_modules(HIDDEN_FROM_KERAS), _stderr_to(chatter):
        import keras  # noqa: F401
        import tensorflow
    return tensorflow


@contextlib.contextmanager
def hidden_modules(names: tuple[str, ...]) -> Iterator[None]:
    """Within the block, importing one of ``names`` (not imported yet) raises ImportError, which the
    libraries that import them optionally catch; afterwards they import normally."""
    hidden = [name for name in names if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # what Python's import system reads as "cannot be imported"
    try:
        yield
    finally:
        for name in hidden:
            if sys.modules.get(name, False) is None:
                del sys.modules[name]


@contextlib.contextmanager
def _stderr_to(path: str | Path | None) -> Iterator[None]:
    """Send file descriptor 2 (where C++ code writes) to ``path``, or to a temporary file that is
    printed only if the block raises."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(path, "ab") if path is not None else tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            if path is None:
                sink.seek(0)
                sys.stderr.write(sink.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def exit_now(code: int = 0) -> None:
    """End this process at once, skipping the interpreter's teardown (TensorFlow's takes 1-2 s).

    Only for a job whose work is done: what the interpreter would still do at exit is done here first
    (an MLflow run still open is ended, asynchronous MLflow logging flushed, the ``atexit`` handlers
    run, among them TensorFlow's removal of the ``__autograph_generated_file*.py`` it writes to the
    temporary folder for each compiled function, and the log handlers and standard streams flushed).
    Files must already be closed; robqunn writes every output through :func:`robqunn.io.atomic_path`,
    which closes and renames it before returning. What is skipped is the interpreter's teardown of
    its modules, which is where TensorFlow's time goes.
    """
    cpu_seconds, peak_mb = process_usage()
    logger.debug(
        "job ends (exit %d): %s; cpu %.2f s, peak memory %.0f MB", code, loaded_libraries(), cpu_seconds, peak_mb
    )
    mlflow = sys.modules.get("mlflow")
    if mlflow is not None:
        mlflow.flush_async_logging()
        while mlflow.active_run() is not None:
            mlflow.end_run()
    atexit._run_exitfuncs()  # what Python runs at a normal exit, before the teardown (logging.shutdown among them)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


#: The heavy libraries whose start-up a job pays only if it uses them (docs/performance.md).
HEAVY_LIBRARIES = ("tensorflow", "pennylane", "mlflow", "matplotlib", "pandas")


def loaded_libraries() -> str:
    """Which :data:`HEAVY_LIBRARIES` this process imported, e.g. ``tensorflow=yes pennylane=no ...``."""
    return " ".join(f"{name}={'yes' if name in sys.modules else 'no'}" for name in HEAVY_LIBRARIES)


def process_usage() -> tuple[float, float]:
    """This process's CPU seconds (user + system, with its finished children) and its peak resident
    memory in MB, from the kernel's accounting: exact, where a sampling monitor such as Snakemake's
    ``benchmark:`` (every 0.5 s for 15 s, then every 30 s) misses what a job does after its first 15 s."""
    import resource

    usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    cpu = sum(u.ru_utime + u.ru_stime for u in usage)
    return cpu, max(u.ru_maxrss for u in usage) / 1024  # ru_maxrss is in KB on Linux
