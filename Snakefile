# robqunn: adversarial robustness of quanvolutional neural networks (see README.md and docs/design.md).
# This file is the table of contents; the rules live in workflow/rules/ by stage.
from snakemake.utils import min_version, validate

from robqunn.config import load_params

min_version("8.10")
# Snakemake's own YAML errors name no line: read params.yaml through robqunn first, whose errors do.
load_params("params.yaml")


configfile: "params.yaml"


report: "workflow/report/workflow.rst"


validate(config, "workflow/schemas/params.schema.yaml")


include: "workflow/rules/common.smk"
include: "workflow/rules/prepare.smk"
include: "workflow/rules/model.smk"
include: "workflow/rules/attack.smk"
include: "workflow/rules/exact.smk"
include: "workflow/rules/checks.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/circuits.smk"
include: "workflow/rules/ansatz_metrics.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/sweep.smk"


rule all:
    input:
        get_final_output(),


onsuccess:
    logger.info(record_for_dvc())
