rule figures:
    input:
        table="results/tables/seed{seed}/results.csv",
        data="data/prepared/seed{seed}.npz",
        examples=get_pgd_sets,
    output:
        whitebox=report(
            expand("results/figures/seed{{seed}}/fig3_whitebox_{attack}.png", attack=ATTACKS),
            caption="../report/whitebox.rst",
            category="Fig. 3a-c: white-box",
        ),
        transfer=report(
            expand("results/figures/seed{{seed}}/fig3_transfer_{direction}.png", direction=TRANSFER_DIRECTIONS),
            caption="../report/transfer.rst",
            category="Fig. 3d-e: transfer",
        ),
        examples=report(
            expand("results/figures/seed{{seed}}/examples_{model}.png", model=MODELS),
            caption="../report/examples.rst",
            category="Adversarial examples",
        ),
        summary=report("results/tables/seed{seed}/summary.csv", caption="../report/summary.rst", category="Summary"),
        curves="results/tables/seed{seed}/whitebox_curves.csv",
    log:
        "logs/figures/seed{seed}.log",
    conda:
        "../envs/robqunn.yaml"
    script:
        "../scripts/figures.py"


rule circuit_diagrams:
    output:
        diagrams=report(
            expand("results/circuits/seed{{seed}}/circuit_{qunn}.png", qunn=QUNN_CIRCUITS),
            caption="../report/circuits.rst",
            category="Circuits",
        ),
    log:
        "logs/circuit_diagrams/seed{seed}.log",
    params:
        circuit=config["circuit"],
        models=MODELS,
    conda:
        "../envs/robqunn.yaml"
    script:
        "../scripts/circuits.py"
