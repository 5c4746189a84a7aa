"""The attack-soundness checklist (robqunn.checklist): each FLAG raised on a synthetic table built to fail it.
The extra attacks that feed it are tested in test_extra_attacks.py."""

from __future__ import annotations

import pandas as pd
import pytest

from robqunn import checklist
from robqunn.artifacts import ChecksRecord
from robqunn.config import AutoAttackParams, ChecksParams, SpsaParams

N = 1000


def row(source, target, attack, eps, accuracy, seed=42):
    kind = "white-box" if source == target else "transfer"
    correct = round(accuracy * N)
    return {"seed": seed, "source": source, "target": target, "kind": kind, "attack": attack, "eps": eps} | {
        "n_correct": correct,
        "n_evaluated": N,
        "accuracy": correct / N,
    }


def sound_table(model="m", fgsm=0.5, pgd=0.2, mim=0.3, transfer=0.8, missed=0.0):
    """White-box FGSM/PGD/MIM at eps 0 and 0.1 on ``model`` (each missing ``missed`` of the digits that exact
    verification breaks), and a transfer set from 'other'."""
    rows = []
    for attack, accuracy in (("fgsm", fgsm), ("pgd", pgd), ("mim", mim)):
        rows += [row(model, model, attack, 0.0, 0.9), row(model, model, attack, 0.1, accuracy)]
        rows[-2]["n_missed"], rows[-1]["n_missed"] = 0, round(missed * N)
        rows += [row("other", model, attack, 0.1, transfer)]
    return pd.DataFrame(rows).astype({"n_missed": "Int64"})


def record(model="m", large=0.0, single=0.2, restarts=0.2, spsa=0.5, pgd=0.5, n=200, **variants):
    """A checks record of a sound model; ``variants`` override the zero-gradient fractions (clean,
    jittered) and the accuracies of the attack variants (jittered_fgsm, rfgsm, mim_random_start, margin)."""

    def counts(accuracy):
        return {"n_correct": round(accuracy * n), "n_evaluated": n}

    def fractions(mean):
        return {"mean": mean, "sd": 0.01 if mean else 0.0, "n_digits": n}

    get = {"clean": 0.0, "jittered": 0.0, "jittered_fgsm": 0.5, "rfgsm": 0.5, "mim_random_start": 0.3, "margin": 0.2}
    get |= {"autoattack": single}
    get |= variants
    return ChecksRecord(
        model=model,
        seed=42,
        large_eps={"eps": 0.5} | counts(large),
        restarts={"eps": 0.1, "restarts": 5, "single": counts(single), "all": counts(restarts)},
        spsa={"eps": 0.1, "spsa": counts(spsa), "pgd": counts(pgd)},
        zero_gradients={"jitter": 1e-3, "clean": fractions(get["clean"]), "jittered": fractions(get["jittered"])},
        single_step={
            "eps": 0.1,
            "alpha": 0.05,
            "fgsm": counts(0.5),
            "jittered_fgsm": counts(get["jittered_fgsm"]),
            "rfgsm": counts(get["rfgsm"]),
        },
        momentum={"eps": 0.1, "mim": counts(0.3), "mim_random_start": counts(get["mim_random_start"])},
        loss={"eps": 0.1, "cross_entropy": counts(single), "margin": counts(get["margin"])},
        autoattack={"eps": 0.1, "autoattack": counts(get["autoattack"]), "pgd": counts(single), "certified": 0},
    )


SPSA = SpsaParams(n_images=3, nb_iter=5, spsa_samples=16, learning_rate=0.01, delta=0.01)
AUTOATTACK = AutoAttackParams(max_iter=5, restarts=1, square_queries=20)
CHECKS = ChecksParams(200, 0.1, 0.5, 0.1, 5, 1e-3, 0.01, 0.5, 0.05, SPSA, AUTOATTACK)


def verdicts(table, records, params=CHECKS):
    frame = checklist.checklist(table, records, params)
    return dict(zip(frame["check"], frame["verdict"], strict=True))


def test_sound_model_passes_every_check():
    assert set(verdicts(sound_table(), [record()]).values()) == {checklist.PASS}


@pytest.mark.parametrize(
    "table, rec, failing",
    [
        (sound_table(pgd=0.7), record(), checklist.ITERATIVE),
        (sound_table(transfer=0.1), record(), checklist.TRANSFER),
        (sound_table(), record(large=0.6), checklist.LARGE_EPS),
        (sound_table(), record(single=0.5, restarts=0.2, margin=0.5), checklist.RESTARTS),
        (sound_table(), record(spsa=0.1, pgd=0.6), checklist.SPSA),
        (sound_table(), record(clean=0.7), checklist.ZERO_CLEAN),
        (sound_table(), record(jittered=0.05), checklist.ZERO_JITTERED),
        (sound_table(), record(jittered_fgsm=0.2), checklist.JITTERED_FGSM),
        (sound_table(), record(rfgsm=0.3), checklist.RFGSM),
        (sound_table(), record(mim_random_start=0.1), checklist.MIM_RANDOM_START),
        (sound_table(), record(margin=0.05), checklist.MARGIN_LOSS),
        (sound_table(), record(autoattack=0.05), checklist.AUTOATTACK),
    ],
    ids=[
        "pgd-weaker-than-fgsm",
        "transfer-stronger",
        "large-eps-robust",
        "restarts-stronger",
        "spsa-stronger",
        "zero-gradients",
        "zero-gradients-jittered",
        "jittered-fgsm-stronger",
        "rfgsm-stronger",
        "mim-random-start-stronger",
        "margin-loss-stronger",
        "autoattack-stronger",
    ],
)
def test_each_failure_is_flagged_alone(table, rec, failing):
    """The check built to fail is FLAGged, with its numbers in the evidence, its cause and what to trust
    instead; the others pass and name no cause."""
    frame = checklist.checklist(table, [rec], CHECKS)
    flagged = frame[frame["verdict"] == checklist.FLAG]
    assert flagged["check"].tolist() == [failing]
    assert "[" in flagged["evidence"].iloc[0]  # the interval is in the evidence
    assert flagged["ci_low"].iloc[0] > 0  # a difference (or, at large eps, the accuracy) clearly above 0
    assert flagged["cause"].iloc[0] and "exact" in flagged["trust_instead"].iloc[0]
    assert (frame.loc[frame["verdict"] != checklist.FLAG, ["cause", "trust_instead"]] == "").all().all()


class TestAttackGap:
    """An attack that misses more of the digits exact verification breaks than the tolerance is weak."""

    def test_a_clear_gap_flags_every_attack_that_has_it(self):
        frame = checklist.checklist(sound_table(missed=0.2), [record()], CHECKS).set_index("check")
        for attack in ("fgsm", "pgd", "mim"):
            line = frame.loc[checklist.attack_gap_check(attack)]
            assert line["verdict"] == checklist.FLAG and line["ci_low"] > CHECKS.attack_gap_tolerance
            assert "eps 0.1" in line["evidence"] and "weak" in line["cause"]

    def test_a_gap_within_tolerance_passes(self):
        """0.06 missed of 1,000 digits: its interval reaches below the 0.05 tolerance."""
        frame = checklist.checklist(sound_table(missed=0.06), [record()], CHECKS).set_index("check")
        assert frame.loc[checklist.attack_gap_check("pgd"), "verdict"] == checklist.PASS

    def test_without_exact_rows_the_check_is_not_run(self):
        table = sound_table().assign(n_missed=pd.NA).astype({"n_missed": "Int64"})
        frame = checklist.checklist(table, [record()], CHECKS).set_index("check")
        assert frame.loc[checklist.attack_gap_check("fgsm"), "verdict"] == checklist.NOT_RUN


def test_difference_within_noise_is_not_flagged():
    """PGD 0.01 above FGSM on 1,000 digits is within the interval: PASS."""
    assert (
        verdicts(sound_table(fgsm=0.50, pgd=0.51, mim=0.50), [record()])["iterative attacks at least as strong as FGSM"]
        == checklist.PASS
    )


def test_missing_extra_attacks_are_reported_not_run():
    checks = verdicts(sound_table(), [])
    assert checks["PGD restarts not stronger than one run"] == checklist.NOT_RUN
    assert checks["iterative attacks at least as strong as FGSM"] == checklist.PASS


def test_seeds_pool_into_a_t_interval():
    """With three seeds the evidence names the t-interval over seeds."""
    table = pd.concat([sound_table().assign(seed=s) for s in (1, 2, 3)], ignore_index=True)
    pgd = (table["attack"] == "pgd") & (table["eps"] == 0.1) & (table["kind"] == "white-box")
    table.loc[pgd, "n_correct"] = [180, 200, 220]
    frame = checklist.checklist(table, [], CHECKS)
    evidence = frame.set_index("check").loc[checklist.ITERATIVE, "evidence"]
    assert "t over 3 seeds" in evidence
