rule checks:
    input:
        data="data/prepared/seed{seed}.npz",
        model="models/seed{seed}/{model}.keras",
    output:
        records="results/checks/seed{seed}/{model}.json",
    log:
        "logs/checks/seed{seed}/{model}.log",
    params:
        checks=config["checks"],
        pgd={key: value for key, value in config["attack"]["pgd"].items() if key != "eps"},
        batch_size=config["attack"]["batch_size"],
        tracking=config["tracking"],
    conda:
        "../envs/robqunn.yaml"
    script:
        "../scripts/checks.py"


rule ansatz_metrics:
    input:
        data="data/prepared/seed{seed}.npz",
    output:
        metrics="results/ansatz/seed{seed}.csv",
    log:
        "logs/ansatz_metrics/seed{seed}.log",
    params:
        ansatz_metrics=config["ansatz_metrics"],
        circuit=config["circuit"],
        models=MODELS,
    conda:
        "../envs/robqunn.yaml"
    script:
        "../scripts/ansatz_metrics.py"


rule aggregate:
    input:
        tables=expand("results/tables/seed{seed}/results.csv", seed=SEEDS),
        checks=expand("results/checks/seed{seed}/{model}.json", seed=SEEDS, model=MODELS),
        ansatz=expand("results/ansatz/seed{seed}.csv", seed=SEEDS),
    output:
        results="results/study/results.csv",
        summary=report("results/study/summary_ci.csv", caption="../report/summary_ci.rst", category="Study"),
        checklist=report("results/study/checklist.csv", caption="../report/checklist.rst", category="Study"),
        claims=report("results/study/claims.csv", caption="../report/claims.rst", category="Study"),
        ansatz=report("results/study/ansatz_metrics.csv", caption="../report/ansatz_metrics.rst", category="Study"),
        metrics="results/study/metrics.json",
        whitebox=report("results/study/figures/whitebox_ci.png", caption="../report/whitebox_ci.rst", category="Study"),
        transfer=report("results/study/figures/transfer_ci.png", caption="../report/transfer_ci.rst", category="Study"),
        robustness=report(
            expand("results/study/figures/robustness_vs_entanglement_{attack}.png", attack=ATTACKS),
            caption="../report/robustness_vs_entanglement.rst",
            category="Study",
        ),
    log:
        "logs/aggregate.log",
    params:
        claims=config["claims"],
        checks=config["checks"],
        tracking=config["tracking"],
    conda:
        "../envs/robqunn.yaml"
    script:
        "../scripts/aggregate.py"
