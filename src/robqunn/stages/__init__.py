"""The pipeline's stages: one module per stage, each with a ``run`` function (docs/design.md, "Stages").

The Snakemake scripts, the `robqunn` CLI (which dvc.yaml runs) and the benchmark's one-process baseline call
these functions, so the pipeline has one implementation whichever tool drives it. A stage's module is named
after it (``robqunn.stages.attack``, the Snakemake rule ``attack``, the DVC stage ``attack``, the command
``robqunn attack``); ``job`` holds what they share (the job, the lineage of their outputs, loading a model).
``model_train`` and ``model_attacks`` run several stages in one process, ``evaluate_part`` and
``evaluate_parts`` the per_eps cut's evaluation. Each stage reads typed artifacts (robqunn.artifacts),
validates them before any long work and writes its outputs atomically.

Import the module of the stage you run (``from robqunn.stages import attack``; ``stages.attack`` imports it at
its first use): this package imports none of them, and each imports TensorFlow and PennyLane only inside the
functions that compute with them, so a workflow job pays only for what it runs.
"""


def __getattr__(name: str):
    """``robqunn.stages.<stage>``: the stage's module, imported at its first use (PEP 562)."""
    import importlib

    try:
        return importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"{__name__}.{name}":
            raise
        raise AttributeError(f"module {__name__!r} has no stage or attribute {name!r}") from None
