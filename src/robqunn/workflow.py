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


def params_of(smk):
    """The validated :class:`robqunn.config.Params` of a Snakemake job: the whole merged config (params.yaml
    and a profile's overrides). A job's rerun triggers are its ``params:``, the keys its stages read
    (robqunn.registry); its sections come from here, so ``tracking`` and memory-only settings never rerun it."""
    from robqunn.config import params_from_dict

    return params_from_dict(smk.config)


def job_of(smk, params, model_file: str | None = None):
    """The :class:`robqunn.stages.job.Job` of a Snakemake job: its seed and model wildcards, its prepared
    digits (``input.data``), the ``tracking`` and ``noise`` sections of ``params``."""
    from robqunn.stages.job import Job

    return Job(
        seed=int(smk.wildcards.seed),
        data=Path(smk.input.data),
        tracking=params.tracking,
        model=getattr(smk.wildcards, "model", None),
        model_file=None if model_file is None else Path(model_file),
        noise=params.noise,
    )
