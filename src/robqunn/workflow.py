"""Helpers for the thin Snakemake scripts in workflow/scripts/."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path


def log_to(path: str | Path, threads: int = 1) -> None:
    """Send this job's logging, and any uncaught exception, to its Snakemake log file.

    Also, before TensorFlow is imported: silences its C++ start-up chatter and holds its thread pools
    to the job's ``threads``, so that N parallel jobs on N cores do not each start N threads.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ["TF_NUM_INTRAOP_THREADS"] = str(threads)
    os.environ["TF_NUM_INTEROP_THREADS"] = str(threads)
    quiet_tensorflow_retracing()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        filename=path, level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s", force=True
    )

    def log_exception(kind, value, traceback):
        logging.getLogger("robqunn").error("job failed", exc_info=(kind, value, traceback))
        sys.__excepthook__(kind, value, traceback)

    sys.excepthook = log_exception


def job_of(smk, model_file: str | None = None):
    """The :class:`robqunn.stages.Job` of a Snakemake job: its seed and model wildcards, its prepared
    digits (``input.data``), its ``params.tracking`` section (None when the rule has none)."""
    from robqunn.config import section_from_dict
    from robqunn.stages import Job

    tracking = getattr(smk.params, "tracking", None)
    return Job(
        seed=int(smk.wildcards.seed),
        data=Path(smk.input.data),
        tracking=None if tracking is None else section_from_dict("tracking", tracking),
        model=getattr(smk.wildcards, "model", None),
        model_file=None if model_file is None else Path(model_file),
    )


def quiet_tensorflow_retracing() -> None:
    """Hide TensorFlow's retracing warnings: cleverhans' compute_gradient is one tf.function that
    every (model, eps) retraces by design, so the warning says nothing actionable here."""
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
