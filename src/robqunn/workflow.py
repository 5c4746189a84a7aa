"""Helpers for the thin Snakemake scripts in workflow/scripts/."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from robqunn.runtime import import_tensorflow, tensorflow_environment


def log_to(path: str | Path, threads: int = 1, tensorflow: bool = False, rule: str | None = None) -> None:
    """Send this job's logging, and any uncaught exception, to its Snakemake log file.

    Also sets TensorFlow's environment for the job's ``threads`` (robqunn.runtime), and with
    ``tensorflow`` imports it leanly, its C++ start-up messages going to the log file, not the console.
    With ``rule``, the job's MLflow runs say they come from that Snakemake rule (robqunn.tracking.RunSource).
    """
    if rule is not None:
        from robqunn.tracking import set_run_source

        set_run_source("snakemake", f"snakemake rule {rule}")
    tensorflow_environment(threads)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        filename=path, level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s", force=True
    )

    def log_exception(kind, value, traceback):
        logging.getLogger("robqunn").error("job failed", exc_info=(kind, value, traceback))
        sys.__excepthook__(kind, value, traceback)

    sys.excepthook = log_exception
    logging.getLogger("robqunn.runtime").setLevel(logging.DEBUG)  # the job's end, with what it loaded
    if tensorflow:
        import_tensorflow(chatter=path)


def job_of(smk, model_file: str | None = None):
    """The :class:`robqunn.stages.Job` of a Snakemake job: its seed and model wildcards, its prepared
    digits (``input.data``), its ``params.tracking`` and ``params.noise`` sections (None when the rule has none)."""
    from robqunn.config import section_from_dict
    from robqunn.stages import Job

    tracking, noise = getattr(smk.params, "tracking", None), getattr(smk.params, "noise", None)
    return Job(
        seed=int(smk.wildcards.seed),
        data=Path(smk.input.data),
        tracking=None if tracking is None else section_from_dict("tracking", tracking),
        model=getattr(smk.wildcards, "model", None),
        model_file=None if model_file is None else Path(model_file),
        noise=None if noise is None else section_from_dict("noise", noise),
    )
